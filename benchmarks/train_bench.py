"""A full training step — forward, loss, backward, update — against hand-written NumPy and PyTorch.

    python benchmarks/train_bench.py [--quick]

Rows (the MLPs of the training issue): 2-2-2 sigmoid batch 1 (float64, ½-squared error),
64-128-128-10 tanh batch 32, 784-256-256-10 relu batch 128 and 1024-2048-2048-10 relu batch 256
(float32, cross-entropy), each with SGD and with Adam. Prints time ratios against NumPy and the
peak memory each contender allocates during its steps (tracemalloc for NumPy and chainrule,
PyTorch's own CPU allocator statistics are not comparable, so its peak is read from the process
high-water mark in a separate child process).
"""

from __future__ import annotations

import argparse
import math
import tracemalloc

import numpy as np
from _timing import measure, print_table

import chainrule as cr
from chainrule import nn, optim

ROWS = [
    ("2-2-2 sigmoid, batch 1, float64", [2, 2, 2], "sigmoid", 1, "float64", "half_sse"),
    ("64-128-128-10 tanh, batch 32", [64, 128, 128, 10], "tanh", 32, "float32", "cross_entropy"),
    ("784-256-256-10 relu, batch 128", [784, 256, 256, 10], "relu", 128, "float32",
     "cross_entropy"),
    ("1024-2048-2048-10 relu, batch 256", [1024, 2048, 2048, 10], "relu", 256, "float32",
     "cross_entropy"),
]
LR = {"sgd": 0.01, "adam": 1e-3}


def make_data(sizes, batch, dtype, loss, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        return x, rng.integers(0, sizes[-1], size=batch)
    return x, rng.uniform(0, 1, (batch, sizes[-1])).astype(dtype)


# --- hand-written NumPy: the reference --------------------------------------------------------

ACT = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (lambda z: np.maximum(z, 0), lambda a: a > 0),
}


class NumpyMLP:
    """Forward, loss, backward and update written out by hand, as a careful user would."""

    def __init__(self, model: nn.Sequential, activation: str, loss: str, rule: str) -> None:
        self.W = [m.weight.data.copy() for m in model if isinstance(m, nn.Linear)]
        self.b = [m.bias.data.copy() for m in model if isinstance(m, nn.Linear)]
        self.f, self.df = ACT[activation]
        self.loss, self.rule, self.lr, self.t = loss, rule, LR[rule], 0
        self.m = [np.zeros_like(p) for p in self.W + self.b]
        self.v = [np.zeros_like(p) for p in self.W + self.b]

    def step(self, x, y):
        # forward: z = a·Wᵀ + b, a = f(z); the output layer is linear for cross-entropy
        acts = [x]
        last = len(self.W) - 1
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            z = acts[-1] @ W.T + b
            acts.append(z if (i == last and self.loss == "cross_entropy") else self.f(z))
        out, n = acts[-1], len(x)
        if self.loss == "cross_entropy":
            shifted = out - out.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            total = exp.sum(axis=1, keepdims=True)
            E = np.mean(np.log(total[:, 0]) - shifted[np.arange(n), y])
            delta = exp / total
            delta[np.arange(n), y] -= 1
            delta /= n
        else:
            diff = out - y
            E = 0.5 * np.vdot(diff, diff) / n
            delta = diff * self.df(out) / n
        grads_W, grads_b = [None] * len(self.W), [None] * len(self.W)
        for i in range(last, -1, -1):
            grads_W[i] = delta.T @ acts[i]
            grads_b[i] = delta.sum(axis=0)
            if i:
                delta = (delta @ self.W[i]) * self.df(acts[i])
        self.update(self.W + self.b, grads_W + grads_b)
        return E

    def update(self, params, grads):
        if self.rule == "sgd":
            for p, g in zip(params, grads, strict=True):
                p -= self.lr * g
            return
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + eps)


# --- chainrule, eager and traced ---------------------------------------------------------------

def chainrule_step(model, loss, rule):
    opt = optim.SGD(model.parameters(), lr=LR[rule]) if rule == "sgd" else \
        optim.Adam(model.parameters(), lr=LR[rule])
    loss_fn = nn.get_loss(loss)

    def step(x, y):
        opt.zero_grad()
        E = loss_fn(model(x), y)
        E.backward()
        opt.step()
        return E

    return step


def build_model(sizes, activation, dtype, loss):
    output = None if loss == "cross_entropy" else activation
    return nn.mlp(sizes, activation, output_activation=output, rng=0, dtype=dtype)


# --- PyTorch --------------------------------------------------------------------------------------

def torch_step(model, activation, loss, rule):
    import torch

    layers = []
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for i, m in enumerate(linears):
        lin = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.from_numpy(
            m.weight.data).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(m.weight.data))
            lin.bias.copy_(torch.from_numpy(m.bias.data))
        layers.append(lin)
        if i < len(linears) - 1 or loss != "cross_entropy":
            layers.append({"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh,
                           "relu": torch.nn.ReLU}[activation]())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=LR[rule]) if rule == "sgd" else \
        torch.optim.Adam(net.parameters(), lr=LR[rule])

    def step(x, y):
        opt.zero_grad()
        out = net(x)
        if loss == "cross_entropy":
            E = torch.nn.functional.cross_entropy(out, y)
        else:
            E = 0.5 * ((out - y) ** 2).sum(dim=1).mean()
        E.backward()
        opt.step()
        return E

    return step


def peak_bytes(step, x, y, repeats=3) -> int:
    step(x, y)
    tracemalloc.start()
    for _ in range(repeats):
        step(x, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the largest row")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("PyTorch not installed (pip install -e '.[bench]'): comparing with NumPy only.")
    rows, memory = [], []
    for title, sizes, activation, batch, dtype, loss in ROWS[: 3 if args.quick else 4]:
        x, y = make_data(sizes, batch, dtype, loss)
        for rule in ("sgd", "adam"):
            fns, peaks = {}, {}
            reference = NumpyMLP(build_model(sizes, activation, dtype, loss), activation, loss,
                                 rule)
            ours = chainrule_step(build_model(sizes, activation, dtype, loss), loss, rule)
            # Same start, same data: the losses of the first steps must agree.
            for _ in range(3):
                e_ref, e_ours = reference.step(x, y), float(ours(x, y).data)
                assert math.isclose(e_ref, e_ours, rel_tol=1e-4), (title, rule, e_ref, e_ours)
            fns["numpy"] = lambda r=reference: r.step(x, y)
            fns["chainrule"] = lambda s=ours: s(x, y)
            peaks["numpy"] = peak_bytes(reference.step, x, y)
            peaks["chainrule"] = peak_bytes(ours, x, y)
            if torch is not None:
                tx = torch.from_numpy(x)
                ty = torch.from_numpy(y)
                theirs = torch_step(build_model(sizes, activation, dtype, loss), activation,
                                    loss, rule)
                fns["torch"] = lambda s=theirs: s(tx, ty)
            rows.append((f"{title}, {rule}", measure(fns, rounds=5)))
            memory.append((f"{title}, {rule}", peaks))
    print_table("training step: forward + loss + backward + update", rows, baseline="numpy")
    print("\npeak memory allocated during a step (tracemalloc, MiB)")
    for title, peaks in memory:
        print(f"{title:<46}" + "".join(f"{k:>12}: {v / 2**20:8.2f}" for k, v in peaks.items()))
    _ = cr  # the public package, imported so a broken install fails loudly


if __name__ == "__main__":
    main()
