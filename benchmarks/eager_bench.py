"""Eager training steps on tiny networks, where Python bookkeeping dominates, against NumPy.

    python benchmarks/eager_bench.py [--rounds N]

Rows: 2-2-2 sigmoid batch 1 float64 (½-squared error), 2-16-16-1 relu batch 16 float64
(½-squared error), 64-128-128-10 tanh batch 32 float32 (cross-entropy), each a whole SGD step
(zero_grad, forward, loss, backward, step) as a user writes it, as a ratio to train_bench's
hand-written NumPy step. The last table compares the cross-entropy written from primitives,
`-F.log_softmax(h, 1)[np.arange(B), y].mean()`, with the fused nn.CrossEntropyLoss (a ratio
to the fused step; the 2-2-2 and 2-16 rows then take integer labels).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
from train_bench import NumpyMLP, build_model, chainrule_step, make_data

import chainrule.functional as F
from chainrule import nn, optim

ROWS = [
    ("2-2-2 sigmoid, batch 1, float64", [2, 2, 2], "sigmoid", 1, "float64", "half_sse"),
    ("2-16-16-1 relu, batch 16, float64", [2, 16, 16, 1], "relu", 16, "float64", "half_sse"),
    ("64-128-128-10 tanh, batch 32, f32", [64, 128, 128, 10], "tanh", 32, "float32",
     "cross_entropy"),
]
CE_ROWS = [
    ("2-2-2 sigmoid, batch 1, float64", [2, 2, 2], "sigmoid", 1, "float64"),
    ("2-16-16-2 relu, batch 16, float64", [2, 16, 16, 2], "relu", 16, "float64"),
    ("64-128-128-10 tanh, batch 32, f32", [64, 128, 128, 10], "tanh", 32, "float32"),
]


def ratios(fns, baseline, rounds=15, chunk=0.02):
    """Per contender, the median over rounds of its time per call / the baseline's in the same
    round, and the baseline's median seconds per call. Each round runs every contender for
    about `chunk` seconds, back to back, so that a busy machine slows both sides of a ratio
    alike (a median of ratios, not a ratio of medians)."""
    clock = time.perf_counter
    counts = {}
    for name, fn in fns.items():
        fn()
        start, n = clock(), 0
        while clock() - start < 0.01:
            fn()
            n += 1
        counts[name] = max(1, int(n * chunk / 0.01))
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            for _ in range(counts[name]):
                fn()
            samples[name].append((clock() - start) / counts[name])
    base = samples[baseline]
    return ({name: statistics.median(t / b for t, b in zip(times, base, strict=True))
             for name, times in samples.items()}, statistics.median(base))


def show(title, rows, baseline):
    names = list(rows[0][1][0])
    print(f"\n{title}  (median over rounds of time / {baseline}; lower is faster)")
    print(f"{'case':<40}" + "".join(f"{n:>12}" for n in names) + f"{baseline + ' µs':>14}")
    for case, (ratio, base) in rows:
        print(f"{case:<40}" + "".join(f"{ratio[n]:>12.2f}" for n in names) + f"{base * 1e6:>14.1f}")


def primitive_ce_step(model, batch):
    opt = optim.SGD(model.parameters(), lr=0.01)
    rows = np.arange(batch)

    def step(x, y):
        opt.zero_grad()
        E = -F.log_softmax(model(x), 1)[rows, y].mean()
        E.backward()
        opt.step()
        return E

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    table = []
    for title, sizes, activation, batch, dtype, loss in ROWS:
        x, y = make_data(sizes, batch, dtype, loss)
        ref = NumpyMLP(build_model(sizes, activation, dtype, loss), activation, loss, "sgd")
        ours = chainrule_step(build_model(sizes, activation, dtype, loss), loss, "sgd")
        for _ in range(3):  # same start, same data: the losses must agree
            e_ref, e_ours = ref.step(x, y), float(ours(x, y).data)
            assert math.isclose(e_ref, e_ours, rel_tol=1e-4), (title, e_ref, e_ours)
        table.append((title, ratios({"numpy": lambda r=ref, x=x, y=y: r.step(x, y),
                                     "chainrule": lambda o=ours, x=x, y=y: o(x, y)},
                                    "numpy", rounds=args.rounds)))
    show("eager SGD step vs hand-written NumPy", table, "numpy")

    table = []
    for title, sizes, activation, batch, dtype in CE_ROWS:
        x, y = make_data(sizes, batch, dtype, "cross_entropy")
        fused = chainrule_step(build_model(sizes, activation, dtype, "cross_entropy"),
                               "cross_entropy", "sgd")
        prim = primitive_ce_step(build_model(sizes, activation, dtype, "cross_entropy"), batch)
        for _ in range(3):
            e_f, e_p = float(fused(x, y).data), float(prim(x, y).data)
            assert math.isclose(e_f, e_p, rel_tol=1e-4), (title, e_f, e_p)
        table.append((title, ratios({"fused": lambda f=fused, x=x, y=y: f(x, y),
                                     "primitives": lambda p=prim, x=x, y=y: p(x, y)},
                                    "fused", rounds=args.rounds)))
    show("cross-entropy from primitives vs nn.CrossEntropyLoss (eager SGD step)", table,
         "fused")
    _ = nn


if __name__ == "__main__":
    main()
