"""A full training step — forward, loss, backward, update — against hand-written NumPy and PyTorch.

    python benchmarks/train_bench.py [--quick]

Rows (the MLPs of the training issue): 2-2-2 sigmoid batch 1 (float64, ½-squared error),
64-128-128-10 tanh batch 32, 784-256-256-10 relu batch 128 and 1024-2048-2048-10 relu batch 256
(float32, cross-entropy), each with SGD and with Adam. Prints time ratios against NumPy, and the
peak memory each contender needs: measured in a child process per contender as the rise of
the resident-set high-water mark (VmHWM) from just after the imports to the end of three steps
(data, model, optimizer state, activations, gradients), the same way for all three (Linux).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from _timing import measure, print_table

import chainrule as cr
from chainrule import nn, optim
from chainrule.trace import TracedStep

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


# --- chainrule, eager (the default) and traced (trace.py) ---------------------------------

def make_optimizer(model, rule):
    if rule == "sgd":
        return optim.SGD(model.parameters(), lr=LR[rule])
    return optim.Adam(model.parameters(), lr=LR[rule])


def chainrule_step(model, loss, rule):
    opt = make_optimizer(model, rule)
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


def make_step(contender, row, rule):
    """A zero-argument function that runs one training step of `contender` on `row`."""
    _title, sizes, activation, batch, dtype, loss = row
    x, y = make_data(sizes, batch, dtype, loss)
    model = build_model(sizes, activation, dtype, loss)
    if contender == "numpy":
        reference = NumpyMLP(model, activation, loss, rule)
        return lambda: reference.step(x, y)
    if contender == "chainrule":
        ours = chainrule_step(model, loss, rule)
        return lambda: ours(x, y)
    if contender == "traced":
        traced = TracedStep(model, nn.get_loss(loss), make_optimizer(model, rule), x, y)
        return lambda: traced(x, y)
    import torch

    torch.set_num_threads(2)
    theirs = torch_step(model, activation, loss, rule)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    return lambda: theirs(tx, ty)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_peak(contender: str, row_index: int, rule: str) -> None:
    """In a child process: print the peak memory of building and training (3 steps) a row.

    Measured from after the imports, so it counts data, model, optimizer state, activations
    and gradients, but not the libraries themselves.
    """
    if contender == "torch":
        import torch  # noqa: F401  (imported before the baseline, like numpy and chainrule)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    step = make_step(contender, ROWS[row_index], rule)
    for _ in range(3):
        step()
    print((_status_kib("VmHWM") - before) * 1024)


def peak_bytes(contender: str, row_index: int, rule: str) -> int | None:
    done = subprocess.run([sys.executable, __file__, "--peak", contender, str(row_index), rule],
                          capture_output=True, text=True, check=False)
    return int(done.stdout.strip()) if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the largest row")
    parser.add_argument("--peak", nargs=3, metavar=("CONTENDER", "ROW", "RULE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:
        child_peak(args.peak[0], int(args.peak[1]), args.peak[2])
        return
    try:
        import torch

        torch.set_num_threads(2)
        contenders = ("numpy", "chainrule", "traced", "torch")
    except ImportError:
        contenders = ("numpy", "chainrule", "traced")
        print("PyTorch not installed (pip install -e '.[bench]'): comparing with NumPy only.")
    rows, memory = [], []
    for index, row in enumerate(ROWS[: 3 if args.quick else 4]):
        title, sizes, activation, batch, dtype, loss = row
        x, y = make_data(sizes, batch, dtype, loss)
        for rule in ("sgd", "adam"):
            # Same start, same data: the losses of the first steps must agree.
            reference = NumpyMLP(build_model(sizes, activation, dtype, loss), activation, loss,
                                 rule)
            ours = chainrule_step(build_model(sizes, activation, dtype, loss), loss, rule)
            for _ in range(3):
                e_ref, e_ours = reference.step(x, y), float(ours(x, y).data)
                assert math.isclose(e_ref, e_ours, rel_tol=1e-4), (title, rule, e_ref, e_ours)
            fns = {name: make_step(name, row, rule) for name in contenders}
            rows.append((f"{title}, {rule}", measure(fns, rounds=5)))
            memory.append((f"{title}, {rule}",
                           {name: peak_bytes(name, index, rule) for name in contenders}))
    print_table("training step: forward + loss + backward + update", rows, baseline="numpy")
    print("\npeak memory: data + model + 3 steps (rise of the RSS high-water mark, MiB)")
    for title, peaks in memory:
        cells = "".join(f"{name:>12}: " + ("   n/a" if value is None else f"{value / 2**20:6.1f}")
                        for name, value in peaks.items())
        print(f"{title:<46}{cells}")
    _ = cr  # the public package, imported so a broken install fails loudly


if __name__ == "__main__":
    main()
