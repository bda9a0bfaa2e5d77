"""Forward + backward through a 2-layer sigmoid MLP: chainrule vs hand-written NumPy vs PyTorch.

    python benchmarks/engine_bench.py

Measures the engine's bookkeeping (graph building, the backward walk, gradient accumulation)
on a tiny network, where it dominates, and on a wide one, where BLAS does. "chainrule" is eager
mode (a new graph every call); "traced" replays the same ops from a trace (trace.py).
Each contender computes the same thing: z1 = x·W1ᵀ + b1, h = σ(z1), z2 = h·W2ᵀ + b2, y = σ(z2),
E = mean over the batch of ½ Σ (t − y)², then ∂E/∂W1, ∂E/∂b1, ∂E/∂W2, ∂E/∂b2.
"""

from __future__ import annotations

import numpy as np
from _timing import measure, print_table

import chainrule as cr
import chainrule.functional as F


def make_case(width: int, batch: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((batch, width)).astype(dtype),
        "t": rng.uniform(0, 1, (batch, width)).astype(dtype),
        "W1": (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype),
        "b1": np.zeros(width, dtype),
        "W2": (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype),
        "b2": np.zeros(width, dtype),
    }


def numpy_step(c):
    """The same forward and backward written out by hand (the notes' δ rules)."""
    x, t, W1, b1, W2, b2 = c["x"], c["t"], c["W1"], c["b1"], c["W2"], c["b2"]
    h = 1 / (1 + np.exp(-(x @ W1.T + b1)))
    y = 1 / (1 + np.exp(-(h @ W2.T + b2)))
    n = x.shape[0]
    delta2 = (y - t) * (y * (1 - y)) / n  # δ_o = ∂E/∂net_o
    dW2, db2 = delta2.T @ h, delta2.sum(axis=0)
    delta1 = (delta2 @ W2) * (h * (1 - h))  # δ_h = Σ_o δ_o·w_ho · out_h(1 − out_h)
    dW1, db1 = delta1.T @ x, delta1.sum(axis=0)
    return dW1, db1, dW2, db2


def chainrule_step_fn(c):
    x, t = c["x"], c["t"]
    params = [cr.tensor(c[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params

    def step():
        for p in params:
            p.grad = None
        y = F.sigmoid(F.linear(F.sigmoid(F.linear(x, W1, b1)), W2, b2))
        F.half_squared_error(y, t).backward()
        return W1.grad

    return step


def traced_step_fn(c):
    """The same forward and backward replayed from a trace (chainrule.trace), no update."""
    from chainrule import nn, optim
    from chainrule.trace import TracedStep

    width = c["x"].shape[1]
    model = nn.Sequential(nn.Linear(width, width), nn.Sigmoid(), nn.Linear(width, width),
                          nn.Sigmoid())
    for name, key in (("0.weight", "W1"), ("0.bias", "b1"), ("2.weight", "W2"), ("2.bias", "b2")):
        dict(model.named_parameters())[name].data = c[key].copy()
    traced = TracedStep(model, nn.HalfSquaredError(), optim.SGD(model.parameters(), lr=0.1),
                        c["x"], c["t"])

    def step():
        traced.forward_backward(c["x"], c["t"])
        return model[0].weight.grad

    return step


def torch_step_fn(c):
    import torch

    x, t = torch.from_numpy(c["x"]), torch.from_numpy(c["t"])
    params = [torch.tensor(c[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params
    lin = torch.nn.functional.linear

    def step():
        for p in params:
            p.grad = None
        y = torch.sigmoid(lin(torch.sigmoid(lin(x, W1, b1)), W2, b2))
        (0.5 * ((t - y) ** 2).sum(dim=1).mean()).backward()
        return W1.grad

    return step


def main() -> None:
    try:
        import torch

        torch.set_num_threads(2)
        has_torch = True
    except ImportError:
        has_torch = False
        print("PyTorch not installed (pip install -e '.[bench]'): comparing with NumPy only.")
    rows = []
    for width, batch, dtype in [(2, 1, "float64"), (256, 128, "float32")]:
        case = make_case(width, batch, dtype)
        # The three must agree before their speed means anything.
        ours, reference = chainrule_step_fn(case)(), numpy_step(case)[0]
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)
        fns = {"numpy": lambda c=case: numpy_step(c), "chainrule": chainrule_step_fn(case),
               "traced": traced_step_fn(case)}
        np.testing.assert_allclose(fns["traced"](), reference, rtol=1e-4, atol=1e-6)
        if has_torch:
            fns["torch"] = torch_step_fn(case)
        rows.append((f"2-layer sigmoid, width {width}, batch {batch}, {dtype}", measure(fns)))
    print_table("forward + backward", rows, baseline="numpy")


if __name__ == "__main__":
    main()
