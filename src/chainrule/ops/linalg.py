"""Matrix products: matmul (1-D, 2-D, batched) and the dense layer's z = x·Wᵀ + b."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.ops.base import Function, operands, run
from chainrule.tensor import Tensor


def _swap(m: np.ndarray) -> np.ndarray:
    return m.swapaxes(-1, -2)


class MatmulOp(Function):
    """out = a @ b;  ∂E/∂a = g @ bᵀ, ∂E/∂b = aᵀ @ g (batch axes broadcast as in NumPy).

    A 1-D operand is treated as a row (left) or column (right) vector, as NumPy does.
    """

    name = "matmul"

    @staticmethod
    def forward(a, b):
        return (np.asarray(a @ b),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        # Promote 1-D operands to matrices, so the two 2-D rules cover every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if needs[0]:
            ga = g @ _swap(b2)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if needs[1]:
            gb = _swap(a2) @ g
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """out = a @ b (see `MatmulOp`)."""
    a, b = operands("matmul", a, b)
    if a.data.ndim == 0 or b.data.ndim == 0:
        raise ShapeError(
            f"matmul: operands must have at least one dimension, got shapes {a.data.shape} and "
            f"{b.data.shape}; use * to multiply by a scalar"
        )
    try:
        return run(MatmulOp, (a, b))
    except ValueError:
        raise ShapeError(
            f"matmul: shapes {a.data.shape} and {b.data.shape} do not line up: the last "
            f"dimension of the first ({a.data.shape[-1]}) must equal the "
            f"{'only' if b.data.ndim == 1 else 'second-to-last'} dimension of the second "
            f"({b.data.shape[0] if b.data.ndim == 1 else b.data.shape[-2]})"
        ) from None


class LinearOp(Function):
    """z = x·Wᵀ + b, a dense layer's net input (the notes' net = Σ w·x + b).

    ∂E/∂x = g·W,  ∂E/∂W = gᵀ·x,  ∂E/∂b = Σ over the batch of g.
    """

    name = "linear"

    @staticmethod
    def forward(x, w, b=None):
        z = x @ w.T
        if b is not None:
            z += b
        return (z,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        x, w = inputs[0], inputs[1]
        gx = g @ w if needs[0] else None
        if x.ndim == 1:  # one sample: ∂E/∂W is the outer product g·xᵀ, ∂E/∂b is g
            gw = np.multiply.outer(g, x) if needs[1] else None
            gb = g
        else:
            gw = g.T @ x if needs[1] else None
            gb = g.sum(axis=0) if len(needs) == 3 and needs[2] else None
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb if needs[2] else None)


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x·Wᵀ + b, as one op (see `Linear`).

    x: (batch, in) or (in,);  weight W: (out, in);  bias b: (out,);  z: (batch, out) or (out,).
    """
    x, weight = operands("linear", x, weight)
    xd, wd = x.data, weight.data
    if wd.ndim != 2 or xd.ndim > 2 or xd.shape[-1:] != wd.shape[1:]:
        raise ShapeError(
            f"linear: input of shape {xd.shape} does not fit weight of shape {wd.shape}: the "
            f"input needs {wd.shape[-1] if wd.ndim else '?'} features in its last dimension, "
            "shaped (batch, features) or (features,)"
        )
    parents: tuple[Tensor, ...] = (x, weight)
    if bias is not None:
        x, bias = operands("linear", x, bias)
        if bias.data.shape != wd.shape[:1]:
            raise ShapeError(
                f"linear: bias of shape {bias.data.shape} does not fit weight of shape "
                f"{wd.shape}; it must have shape ({wd.shape[0]},)"
            )
        parents = (x, weight, bias)
    return run(LinearOp, parents)
