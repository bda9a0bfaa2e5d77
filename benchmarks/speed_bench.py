"""A full training step (forward, loss, backward, update) against hand NumPy, PyTorch and JAX.

    python benchmarks/speed_bench.py [--quick] [--only ROW] [--json FILE]

Rows: 2-2-2 sigmoid batch 1 float64 (the notes' network, x=[0.05, 0.10], t=[0.01, 0.99]) and
2-16-16-1 relu batch 16 float64, both ½-squared error; 64-128-128-10 tanh batch 32,
784-256-256-10 relu batch 128 and 1024-2048-2048-10 relu batch 256, float32 cross-entropy.
Each with SGD (lr 0.01) and Adam (lr 1e-3). One unit = one training step on a fixed batch.

Contenders, each in its own fresh process: chainrule eager (nn.mlp, a loss module,
zero_grad/backward/step), chainrule traced (trace.TracedStep), chainrule eager with the loss
composed from primitives, hand-written NumPy (preallocated buffers, out=, in-place updates),
PyTorch eager and JAX (jax.jit of the whole step, Adam by hand). A round launches every
contender once, in an order rotated from round to round; each child times many steps and
prints its median µs/step, its peak memory (rise of VmHWM from after the imports over build +
3 steps) and its time to first step (process launch → first step done, imports included).
The parent quotes, per contender, the median over rounds of the ratio to NumPy *in the same
round*, and the spread (min–max) of those ratios. Lower is faster.

Main table: chainrule time / best(JAX jit, hand NumPy), as in the speed issue, with targets.
Threads: NumPy's BLAS uses its default; PyTorch gets torch.set_num_threads(<cores this process
may use>) which is what OpenBLAS/MKL use by default; XLA keeps its default. Contenders whose
library is missing are skipped with a note. --quick (2 rounds, no PyTorch, three smallest rows)
is for CI (under two minutes); the full run takes about 12 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROWS = [
    # name, sizes, activation, batch, dtype, loss
    ("2-2-2 sigmoid b1 f64", [2, 2, 2], "sigmoid", 1, "float64", "half_sse"),
    ("2-16-16-1 relu b16 f64", [2, 16, 16, 1], "relu", 16, "float64", "half_sse"),
    ("64-128-128-10 tanh b32", [64, 128, 128, 10], "tanh", 32, "float32", "cross_entropy"),
    ("784-256-256-10 relu b128", [784, 256, 256, 10], "relu", 128, "float32", "cross_entropy"),
    ("1024-2048-2048-10 relu b256", [1024, 2048, 2048, 10], "relu", 256, "float32",
     "cross_entropy"),
]
EAGER_TARGET = [2.0, 1.5, 1.10, 1.05, 1.05]
TRACED_TARGET, COMPOSED_TARGET = 1.0, 1.15
LR = {"sgd": 0.01, "adam": 1e-3}
B1, B2, EPS = 0.9, 0.999, 1e-8
CONTENDERS = ("eager", "traced", "composed", "numpy", "torch", "jax")


def make_data(row):
    _name, sizes, _act, batch, dtype, loss = row
    if sizes == [2, 2, 2]:
        return np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        return x, rng.integers(0, sizes[-1], size=batch)
    return x, rng.uniform(0, 1, (batch, sizes[-1])).astype(dtype)


def build_model(row):
    from chainrule import nn

    _name, sizes, act, _batch, dtype, loss = row
    output = None if loss == "cross_entropy" else act
    return nn.mlp(sizes, act, output_activation=output, rng=0, dtype=dtype)


def weights(model):
    from chainrule import nn

    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.data for m in linears], [m.bias.data for m in linears]


# --- hand-written NumPy: the honest floor ------------------------------------------------------

class NumpyMLP:
    """Forward, loss, backward and update by hand, in preallocated buffers (out=, in place)."""

    def __init__(self, Ws, bs, activation, loss, rule, batch):
        self.W = [w.copy() for w in Ws]
        self.b = [b.copy() for b in bs]
        self.act, self.loss, self.rule, self.lr, self.t = activation, loss, rule, LR[rule], 0
        dt = self.W[0].dtype
        self.a = [np.empty((batch, w.shape[0]), dt) for w in self.W]   # layer outputs
        self.d = [np.empty_like(a) for a in self.a]                     # ∂E/∂(layer output)
        self.tmp = [np.empty_like(a) for a in self.a]
        self.mask = [np.empty(a.shape, bool) for a in self.a]
        self.params = self.W + self.b
        self.grads = [np.empty_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.ptmp = [np.empty_like(p) for p in self.params]
        self.rows = np.arange(batch)
        self.mx = np.empty((batch, 1), dt)
        self.tot = np.empty((batch, 1), dt)

    def _f(self, z):
        if self.act == "sigmoid":
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1
            np.reciprocal(z, out=z)
        elif self.act == "tanh":
            np.tanh(z, out=z)
        else:
            np.maximum(z, 0, out=z)

    def _df(self, d, a, i):  # d *= f'(z), written with the output a = f(z)
        if self.act == "relu":
            np.greater(a, 0, out=self.mask[i])
            np.multiply(d, self.mask[i], out=d)
            return
        t = self.tmp[i]
        if self.act == "sigmoid":
            np.subtract(1, a, out=t)
            t *= a
        else:
            np.multiply(a, a, out=t)
            np.subtract(1, t, out=t)
        d *= t

    def step(self, x, y):
        last, n = len(self.W) - 1, len(x)
        prev = x
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            np.matmul(prev, W.T, out=self.a[i])
            self.a[i] += b
            if not (i == last and self.loss == "cross_entropy"):
                self._f(self.a[i])
            prev = self.a[i]
        out, d = self.a[last], self.d[last]
        if self.loss == "cross_entropy":
            np.max(out, axis=1, keepdims=True, out=self.mx)
            np.subtract(out, self.mx, out=d)
            picked = d[self.rows, y]
            np.exp(d, out=d)
            np.sum(d, axis=1, keepdims=True, out=self.tot)
            E = float(np.mean(np.log(self.tot[:, 0]) - picked))
            d /= self.tot
            d[self.rows, y] -= 1
        else:
            np.subtract(out, y, out=d)
            E = 0.5 * float(np.vdot(d, d)) / n
            self._df(d, out, last)
        d *= 1 / n
        gW, gb = self.grads[: last + 1], self.grads[last + 1:]
        for i in range(last, -1, -1):
            np.matmul(self.d[i].T, x if i == 0 else self.a[i - 1], out=gW[i])
            np.sum(self.d[i], axis=0, out=gb[i])
            if i:
                np.matmul(self.d[i], self.W[i], out=self.d[i - 1])
                self._df(self.d[i - 1], self.a[i - 1], i - 1)
        self.update()
        return E

    def update(self):
        if self.rule == "sgd":
            for p, g in zip(self.params, self.grads, strict=True):
                g *= self.lr
                p -= g
            return
        self.t += 1
        c1, c2 = 1 - B1**self.t, 1 - B2**self.t
        for p, g, m, v, t in zip(self.params, self.grads, self.m, self.v, self.ptmp,
                                 strict=True):
            m *= B1
            np.multiply(g, 1 - B1, out=t)
            m += t
            v *= B2
            np.multiply(g, g, out=t)
            t *= 1 - B2
            v += t
            np.divide(v, c2, out=t)
            np.sqrt(t, out=t)
            t += EPS
            np.divide(m, t, out=t)
            t *= self.lr / c1
            p -= t


# --- chainrule ---------------------------------------------------------------------------------

def make_optimizer(model, rule):
    from chainrule import optim

    if rule == "sgd":
        return optim.SGD(model.parameters(), lr=LR[rule])
    return optim.Adam(model.parameters(), lr=LR[rule])


def composed_loss(loss):
    """The loss as a user writes it from primitives (same definition as the fused module)."""
    import chainrule.functional as F

    if loss == "cross_entropy":
        def ce(h, y):
            return -F.log_softmax(h, 1)[np.arange(len(y)), y].mean()
        return ce

    def half_sse(out, t):  # ½·Σ over outputs, mean over the batch: loss.half_squared_error
        return 0.5 * ((out - t) ** 2).sum() / len(t)
    return half_sse


def chainrule_step(model, loss_fn, rule):
    opt = make_optimizer(model, rule)

    def step(x, y):
        opt.zero_grad()
        E = loss_fn(model(x), y)
        E.backward()
        opt.step()
        return E

    return step


# --- PyTorch and JAX ---------------------------------------------------------------------------

def torch_step(row, Ws, bs, rule):
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    _name, _sizes, act, _batch, _dtype, loss = row
    layers = []
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(Ws) - 1 or loss != "cross_entropy":
            layers.append({"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh,
                           "relu": torch.nn.ReLU}[act]())
    net = torch.nn.Sequential(*layers)
    opt = (torch.optim.SGD(net.parameters(), lr=LR[rule]) if rule == "sgd" else
           torch.optim.Adam(net.parameters(), lr=LR[rule], betas=(B1, B2), eps=EPS))
    x, y = (torch.from_numpy(a) for a in make_data(row))

    def step():
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


def jax_step(row, Ws, bs, rule):
    import jax

    if Ws[0].dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    _name, _sizes, act, _batch, _dtype, loss = row
    f = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}[act]

    def loss_of(params, x, y):
        h = x
        for i, (W, b) in enumerate(params):
            h = h @ W.T + b
            if i < len(params) - 1 or loss != "cross_entropy":
                h = f(h)
        if loss == "cross_entropy":
            return -jnp.mean(jax.nn.log_softmax(h, axis=1)[jnp.arange(len(y)), y])
        return 0.5 * jnp.sum((h - y) ** 2) / len(y)

    def train(params, state, x, y):
        E, g = jax.value_and_grad(loss_of)(params, x, y)
        if rule == "sgd":
            return jax.tree_util.tree_map(lambda p, g: p - LR["sgd"] * g, params, g), state, E
        t, m, v = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
        c1, c2 = 1 - B1**t, 1 - B2**t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - LR["adam"] * (m / c1) / (jnp.sqrt(v / c2) + EPS), params, m, v)
        return params, (t, m, v), E

    train = jax.jit(train)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(Ws, bs, strict=True)]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    box = [params, (jnp.asarray(0, Ws[0].dtype), zeros, zeros)]
    x, y = (jnp.asarray(a) for a in make_data(row))

    def step():
        box[0], box[1], E = train(box[0], box[1], x, y)
        return E.block_until_ready()

    return step


def make_step(contender, row, rule):
    """A zero-argument function that runs one training step of `contender` on `row`."""
    from chainrule import nn
    from chainrule.trace import TracedStep

    x, y = make_data(row)
    model = build_model(row)
    loss = row[5]
    if contender == "numpy":
        ref = NumpyMLP(*weights(model), row[2], loss, rule, row[3])
        return lambda: ref.step(x, y)
    if contender in ("eager", "composed"):
        fn = nn.get_loss(loss) if contender == "eager" else composed_loss(loss)
        ours = chainrule_step(model, fn, rule)
        return lambda: ours(x, y)
    if contender == "traced":
        traced = TracedStep(model, nn.get_loss(loss), make_optimizer(model, rule), x, y)
        return lambda: traced(x, y)
    return (torch_step if contender == "torch" else jax_step)(row, *weights(model), rule)


def check_numpy_reference(row, rule, steps=2):
    """The hand NumPy step computes chainrule's math: losses and weights after `steps` agree.

    Returns the largest relative difference of the weights (float tolerance of the dtype).
    """
    from chainrule import nn

    x, y = make_data(row)
    model = build_model(row)
    ref = NumpyMLP(*weights(model), row[2], row[5], rule, row[3])
    ours = chainrule_step(model, nn.get_loss(row[5]), rule)
    worst = 0.0
    for _ in range(steps):
        e_ref, e_ours = ref.step(x, y), float(ours(x, y).data)
        worst = max(worst, abs(e_ref - e_ours) / max(abs(e_ours), 1e-30))
    Ws, bs = weights(model)
    for a, b in zip(ref.W + ref.b, Ws + bs, strict=True):
        worst = max(worst, float(np.max(np.abs(a - b) / (np.abs(b) + 1e-3))))
    return worst


# --- child process -----------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(contender, row_index, rule, seconds, launched):
    import chainrule  # noqa: F401  (every contender's model starts from chainrule's init)

    if contender in ("torch", "jax"):
        __import__(contender)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    step = make_step(contender, ROWS[row_index], rule)
    step()
    first = time.time() - launched
    for _ in range(2):
        step()
    peak = (_status_kib("VmHWM") - before) * 1024
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 10 or n < 3:
        step()
        n += 1
    per = n  # steps per chunk: ~1/10 of the budget
    chunks = []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(per):
            step()
        chunks.append((time.perf_counter() - t0) / per)
    print(json.dumps({"us": statistics.median(chunks) * 1e6, "first_s": first, "peak": peak}))


def available(name):
    try:
        __import__(name)
        return True
    except Exception:  # missing, or a broken install
        return False


def run_child(contender, index, rule, seconds):
    done = subprocess.run([sys.executable, __file__, "--child", contender, str(index), rule,
                           str(seconds), repr(time.time())], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        print(f"  {contender} {ROWS[index][0]} {rule} failed: {done.stderr.strip()[-300:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mark(value, target):
    return f"{value:5.2f}{'✓' if value <= target else '✗'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds, no PyTorch, the three smallest rows")
    parser.add_argument("--only", help="only rows whose name contains this (or a row number)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--rounds", type=int, help="rounds of fresh processes")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        c, i, r, s, t = args.child
        child(c, int(i), r, float(s), float(t))
        return
    contenders = [c for c in CONTENDERS if c not in ("torch", "jax") or available(c)]
    for lib in ("torch", "jax"):
        if lib not in contenders:
            print(f"{lib} not installed (pip install -e '.[bench]'): skipped.")
    indices = list(range(3 if args.quick else len(ROWS)))
    if args.only:
        indices = ([int(args.only)] if args.only.isdigit() else
                   [i for i in range(len(ROWS)) if args.only in ROWS[i][0]])
    if args.quick and "torch" in contenders:  # its import alone takes seconds per process
        contenders.remove("torch")
        print("--quick: PyTorch skipped (not in the main table; run without --quick).")
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = 0.05 if args.quick else 0.3
    for i in indices:  # the reference must compute the same math before it is timed
        for rule in LR:
            worst = check_numpy_reference(ROWS[i], rule)
            tol = 1e-9 if ROWS[i][4] == "float64" else 2e-3
            assert worst < tol, (ROWS[i][0], rule, worst)
    results = {}
    for i in indices:
        for rule in LR:
            key = (i, rule)
            results[key] = {c: [] for c in contenders}
            for r in range(rounds):
                order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]
                for c in order:
                    results[key][c].append(run_child(c, i, rule, seconds))
    report(results, indices, contenders, rounds, args.json)


def _ratios(samples, num, den):
    """Per-round ratios num/den (den may be a tuple: the best of those contenders)."""
    out = []
    for r in range(len(samples[num])):
        a = samples[num][r]
        dens = [samples[d][r] for d in (den if isinstance(den, tuple) else (den,))
                if d in samples and samples[d][r]]
        if a and dens:
            out.append(a["us"] / min(d["us"] for d in dens))
    return out


def _med(xs):
    return statistics.median(xs) if xs else float("nan")


def report(results, indices, contenders, rounds, json_path):
    best = ("jax", "numpy")
    print(f"\nchainrule time / best(JAX jit, hand NumPy), median of {rounds} rounds of fresh "
          "processes; ✓ = target met (eager: per row, traced ≤ 1.0)")
    head = f"{'row':<30}{'eager SGD':>11}{'traced SGD':>12}{'eager Adam':>12}{'traced Adam':>13}"
    print(head + f"{'eager target':>14}\n" + "-" * (len(head) + 14))
    out = {"rows": {}}
    for i in indices:
        cells = []
        for rule in LR:
            s = results[(i, rule)]
            cells.append(_mark(_med(_ratios(s, "eager", best)), EAGER_TARGET[i]))
            cells.append(_mark(_med(_ratios(s, "traced", best)), TRACED_TARGET))
        print(f"{ROWS[i][0]:<30}{cells[0]:>11}{cells[1]:>12}{cells[2]:>12}{cells[3]:>13}"
              f"{EAGER_TARGET[i]:>14.2f}")
    print("\nratio to hand NumPy per contender: median [min–max over rounds]; NumPy µs/step")
    print(f"{'row, rule':<36}" + "".join(f"{c:>18}" for c in contenders if c != "numpy")
          + f"{'numpy µs':>11}{'composed/fused':>16}")
    for i in indices:
        for rule in LR:
            s = results[(i, rule)]
            row = {"numpy_us": _med([x["us"] for x in s["numpy"] if x])}
            line = f"{ROWS[i][0] + ', ' + rule:<36}"
            for c in contenders:
                if c == "numpy":
                    continue
                rs = _ratios(s, c, "numpy")
                row[c] = {"median": _med(rs), "min": min(rs, default=None),
                          "max": max(rs, default=None)}
                line += (f"{_med(rs):>8.2f} [{min(rs):.2f}–{max(rs):.2f}]" if rs
                         else f"{'n/a':>18}")
            comp = _med(_ratios(s, "composed", "eager"))
            row["composed_over_fused"] = comp
            print(line + f"{row['numpy_us']:>11.1f}{_mark(comp, COMPOSED_TARGET):>16}")
            row["peak_MiB"] = {c: _med([x["peak"] / 2**20 for x in s[c] if x]) for c in contenders}
            row["first_step_s"] = {c: _med([x["first_s"] for x in s[c] if x]) for c in contenders}
            out["rows"][f"{ROWS[i][0]}, {rule}"] = row
    for what, unit, fmt in (("peak_MiB", "peak memory (rise of VmHWM after imports, MiB)",
                             "{:>10.1f}"),
                            ("first_step_s", "time to first step (launch → first step, s)",
                             "{:>10.2f}")):
        print(f"\n{unit}, median over rounds")
        print(f"{'row, rule':<36}" + "".join(f"{c:>10}" for c in contenders))
        for name, row in out["rows"].items():
            print(f"{name:<36}" + "".join(fmt.format(row[what][c]) for c in contenders))
    if json_path:
        tmp = Path(json_path + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, json_path)


if __name__ == "__main__":
    main()
