"""Order: argmax, argmin and argsort (integer indices, no gradient) and sort (differentiable).

sort only moves values, so its gradient moves back: ∂E/∂x at the position a value came from is
∂E/∂out at the position it went to (the argsort permutation, undone by np.put_along_axis).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.ops.base import Function, lift, normalize_axis, run
from chainrule.tensor import Tensor


def _one_axis(op: str, x: Tensor, axis: int | None, choosing: bool = False) -> int | None:
    """`axis` as one non-negative axis; ShapeError when it is not one int in range. `choosing`
    (argmax, argmin): None (all values) is allowed too, and there must be values to choose from."""
    if not isinstance(axis, int | np.integer) and not (choosing and axis is None):
        raise ShapeError(f"{op}: axis must be one int{' or None' * choosing}, got {axis!r}")
    found = None if axis is None else normalize_axis(op, axis, x.data.shape)[0]
    if choosing and (x.data.size if found is None else x.data.shape[found]) == 0:
        raise ShapeError(f"{op}: tensor of shape {x.data.shape} has no values along axis "
                         f"{axis} to choose from")
    return found


def _indices(op: str, fn: Any, x: Any, axis: int | None) -> Tensor:
    x = lift(x)
    return Tensor(np.asarray(fn(x.data, axis=_one_axis(op, x, axis, choosing=True))))


def argmax(x: Any, axis: int | None = None) -> Tensor:
    """Index of the largest value (of the flattened tensor when axis is None; first on ties),
    an integer tensor without gradient."""
    return _indices("argmax", np.argmax, x, axis)


def argmin(x: Any, axis: int | None = None) -> Tensor:
    """Index of the smallest value (of the flattened tensor when axis is None; first on ties),
    an integer tensor without gradient."""
    return _indices("argmin", np.argmin, x, axis)


def argsort(x: Any, axis: int = -1) -> Tensor:
    """The indices that sort x along `axis` (ascending, stable), an integer tensor without
    gradient."""
    x = lift(x)
    return Tensor(np.argsort(x.data, axis=_one_axis("argsort", x, axis), kind="stable"))


class SortOp(Function):
    """out = x sorted along `axis` (ascending, stable);  ∂E/∂x = g put back where each value
    came from."""

    name = "sort"
    keeps = ("order",)

    @staticmethod
    def forward(x, axis):
        order = np.argsort(x, axis=axis, kind="stable")
        return np.take_along_axis(x, order, axis=axis), order

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        gx = np.zeros(inputs[0].shape, dtype=g.dtype)
        np.put_along_axis(gx, outputs[1], g, axis=axis)
        return (gx,)


def sort(x: Any, axis: int = -1) -> Tensor:
    """x sorted along `axis`, ascending (see `SortOp`); the indices are `argsort(x, axis)`."""
    x = lift(x)
    return run(SortOp, (x,), axis=_one_axis("sort", x, axis))
