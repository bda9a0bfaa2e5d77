"""The optimizer's update alone — optimizer.step() on fixed gradients — against PyTorch's
torch.optim and a hand-written in-place NumPy update, and the whole training step of the small
networks (where the update's Python overhead counts).

    python benchmarks/optim_bench.py [--quick] [--rounds N]

Cases: the parameter shapes of the 1024-2048-2048-10 MLP (float32), of 2-16-16-1 (float32) and
of 2-2-2 (float64), each with SGD and Adam. Every measurement runs in a fresh process (one per
contender per round), the contenders' order rotated from round to round; each round gives a
ratio to the NumPy update, and the table prints the median ratio over the rounds. "step" rows
time chainrule's whole step (zero_grad, forward, loss, backward, update) on the small networks
and compare it with the same step without the update, so that the update's share shows.

To compare two versions of chainrule, run the script once with each on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys

import numpy as np
from _timing import fresh_runs, measure

CASES = {
    "1024-2048-2048-10 f32": ([1024, 2048, 2048, 10], "float32", 256),
    "2-16-16-1 f32": ([2, 16, 16, 1], "float32", 8),
    "2-2-2 f64": ([2, 2, 2], "float64", 1),
}
RULES = ("sgd", "adam")
LR = {"sgd": 0.01, "adam": 1e-3}
CONTENDERS = ("numpy", "chainrule", "torch")


def shapes(sizes):
    out = []
    for a, b in itertools.pairwise(sizes):
        out += [(b, a), (b,)]
    return out


def arrays(case, seed=0):
    sizes, dtype, _ = CASES[case]
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s).astype(dtype) for s in shapes(sizes)]
    gs = [(0.01 * rng.standard_normal(s)).astype(dtype) for s in shapes(sizes)]
    return ws, gs


def numpy_update(ws, gs, rule):
    """A careful user's in-place update: whole-array passes through out= and preallocated
    scratch arrays."""
    lr = LR[rule]
    scratch = [np.empty_like(w) for w in ws]
    if rule == "sgd":
        def step():
            for w, g, s in zip(ws, gs, scratch, strict=True):
                np.multiply(g, lr, out=s)
                w -= s
        return step
    ms = [np.zeros_like(w) for w in ws]
    vs = [np.zeros_like(w) for w in ws]
    t = [0]

    def step():
        t[0] += 1
        c2 = math.sqrt(1.0 - 0.999 ** t[0])
        size = lr / (1.0 - 0.9 ** t[0])
        for w, g, m, v, s in zip(ws, gs, ms, vs, scratch, strict=True):
            m *= 0.9
            np.multiply(g, 0.1, out=s)
            m += s
            v *= 0.999
            np.multiply(g, g, out=s)
            s *= 0.001
            v += s
            np.sqrt(v, out=s)
            s /= c2
            s += 1e-8
            np.divide(m, s, out=s)
            s *= size
            w -= s
    return step


def chainrule_update(ws, gs, rule):
    from chainrule import nn, optim

    params = [nn.Parameter(w) for w in ws]
    for p, g in zip(params, gs, strict=True):
        p.grad = g
    opt = optim.SGD(params, lr=LR[rule]) if rule == "sgd" else optim.Adam(params, lr=LR[rule])
    return opt.step


def torch_update(ws, gs, rule):
    import torch

    params = [torch.tensor(w, requires_grad=True) for w in ws]
    for p, g in zip(params, gs, strict=True):
        p.grad = torch.tensor(g)
    opt = (torch.optim.SGD(params, lr=LR[rule]) if rule == "sgd"
           else torch.optim.Adam(params, lr=LR[rule]))
    return opt.step


def chainrule_step(case, rule, update):
    """chainrule's whole training step on the case's network; without the update if not
    `update`."""
    from chainrule import nn, optim

    sizes, dtype, batch = CASES[case]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.uniform(0, 1, (batch, sizes[-1])).astype(dtype)
    model = nn.mlp(sizes, "tanh", output_activation="sigmoid", rng=0, dtype=dtype)
    opt = (optim.SGD(model.parameters(), lr=LR[rule]) if rule == "sgd"
           else optim.Adam(model.parameters(), lr=LR[rule]))
    loss_fn = nn.get_loss("mse")

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        if update:
            opt.step()
    return step


def child(contender, case, rule, min_seconds):
    if contender in ("step", "step-no-update"):
        fn = chainrule_step(case, rule, contender == "step")
    else:
        ws, gs = arrays(case)
        fn = {"numpy": numpy_update, "chainrule": chainrule_update,
              "torch": torch_update}[contender](ws, gs, rule)
    print(measure({contender: fn}, rounds=5, min_seconds=min_seconds)[contender])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter timings")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--min-seconds", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    min_seconds = args.min_seconds or (0.05 if args.quick else 0.2)
    if args.child:
        child(*args.child, min_seconds)
        return
    rounds = args.rounds or (3 if args.quick else 5)
    print(f"optimizer.step() as a ratio to the in-place NumPy update (median of {rounds} rounds, "
          "each contender in a fresh process)")
    header = f"{'case':<32}{'rule':<6}" + "".join(f"{c:>12}" for c in CONTENDERS)
    print(header + f"{'cr/torch':>10}{'numpy µs':>11}")
    print("-" * (len(header) + 21))
    for case in args.cases:
        for rule in RULES:
            ratios: dict[str, list[float]] = {c: [] for c in CONTENDERS}
            vs_torch, base = [], []
            for r in range(rounds):
                order = CONTENDERS[r % 3:] + CONTENDERS[:r % 3]
                t = {c: float(fresh_runs(__file__, ["--child", c, case, rule, "--min-seconds",
                                                    str(min_seconds)], 1)[0][0])
                     for c in order}
                for c in CONTENDERS:
                    ratios[c].append(t[c] / t["numpy"])
                vs_torch.append(t["chainrule"] / t["torch"])
                base.append(t["numpy"])
            cells = "".join(f"{statistics.median(ratios[c]):>12.2f}" for c in CONTENDERS)
            print(f"{case:<32}{rule:<6}{cells}{statistics.median(vs_torch):>10.2f}"
                  f"{statistics.median(base) * 1e6:>11.1f}", flush=True)
    print("\nchainrule's whole step on the small networks (median of rounds, fresh processes)")
    print(f"{'case':<32}{'rule':<6}{'step µs':>10}{'no-update µs':>14}{'update share':>14}")
    for case in args.cases:
        if case.startswith("1024"):
            continue
        for rule in RULES:
            full, bare = [], []
            for r in range(rounds):
                order = ("step", "step-no-update") if r % 2 == 0 else ("step-no-update", "step")
                t = {c: float(fresh_runs(__file__, ["--child", c, case, rule, "--min-seconds",
                                                    str(min_seconds)], 1)[0][0])
                     for c in order}
                full.append(t["step"])
                bare.append(t["step-no-update"])
            f, b = statistics.median(full), statistics.median(bare)
            print(f"{case:<32}{rule:<6}{f * 1e6:>10.1f}{b * 1e6:>14.1f}{(f - b) / f:>14.0%}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
