"""Ops that move values without changing them: their VJPs move the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.ops.base import lift, operands, result
from chainrule.tensor import Tensor


def reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """out = x with a new shape;  the gradient is reshaped back."""
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.data.shape} ({x.data.size} values) "
            f"into shape {tuple(shape)}"
        ) from None
    return result(out, (x,), lambda g: (g.reshape(x.data.shape),), "reshape")


def transpose(x: Tensor, axes: tuple[int, ...] | None = None) -> Tensor:
    """out = x with its axes permuted (reversed by default);  the gradient is permuted back."""
    try:
        out = x.data.transpose(axes)
    except ValueError:
        raise ShapeError(
            f"transpose: axes {axes} are not a permutation of the {x.data.ndim} axes of a "
            f"tensor of shape {x.data.shape}"
        ) from None
    inverse = None if axes is None else tuple(np.argsort([a % x.data.ndim for a in axes]))
    return result(out, (x,), lambda g: (g.transpose(inverse),), "transpose")


def _is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element, so it can scatter by =."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | slice | type(None)) or p is Ellipsis for p in parts)


def getitem(x: Tensor, index: Any) -> Tensor:
    """out = x[index];  the gradient is scattered back, summed where an element was picked twice."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    try:
        out = x.data[index]
    except IndexError as error:
        raise ShapeError(f"getitem: index {index!r} does not fit shape {x.data.shape}: {error}") \
            from None

    def vjp(g: np.ndarray) -> tuple:
        full = np.zeros(x.data.shape, dtype=g.dtype)
        if _is_basic(index):
            full[index] = g
        else:
            np.add.at(full, index, g)
        return (full,)

    return result(np.asarray(out), (x,), vjp, "getitem")


def _common(op: str, tensors: Sequence[Any]) -> list[Tensor]:
    if len(tensors) == 0:
        raise ShapeError(f"{op}: needs at least one tensor")
    lifted = [lift(t) for t in tensors]
    first = lifted[0]
    return [first] + [operands(op, first, t)[1] for t in lifted[1:]]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """out = the tensors joined along an existing axis;  each gets its slice of the gradient."""
    parts = _common("concatenate", tensors)
    try:
        out = np.concatenate([t.data for t in parts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(t.data.shape) for t in parts)
        raise ShapeError(f"concatenate: cannot join shapes {shapes} along axis {axis}: {error}") \
            from None
    bounds = np.cumsum([t.data.shape[axis] for t in parts])[:-1]

    def vjp(g: np.ndarray) -> tuple:
        return tuple(np.split(g, bounds, axis=axis))

    return result(out, tuple(parts), vjp, "concatenate")


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """out = the tensors stacked along a new axis;  each gets its slice of the gradient."""
    parts = _common("stack", tensors)
    try:
        out = np.stack([t.data for t in parts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(t.data.shape) for t in parts)
        raise ShapeError(f"stack: cannot stack shapes {shapes} along axis {axis}: {error}") \
            from None

    def vjp(g: np.ndarray) -> tuple:
        return tuple(np.moveaxis(g, axis, 0))

    return result(out, tuple(parts), vjp, "stack")
