"""Ops that move values without changing them: their VJPs move the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.ops.base import Function, common, lift, run
from chainrule.tensor import Tensor


class ReshapeOp(Function):
    """out = x with a new shape;  the gradient is reshaped back."""

    name = "reshape"

    @staticmethod
    def forward(x, shape):
        return (x.reshape(shape),)

    @staticmethod
    def backward(g, inputs, outputs, needs, shape):
        return (g.reshape(inputs[0].shape),)


def reshape(x: Any, shape: tuple[int, ...]) -> Tensor:
    """out = x with a new shape (see `ReshapeOp`)."""
    x = lift(x)
    try:
        return run(ReshapeOp, (x,), shape=tuple(shape))
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.data.shape} ({x.data.size} values) "
            f"into shape {tuple(shape)}"
        ) from None


class TransposeOp(Function):
    """out = x with its axes permuted (reversed for axes=None);  the gradient is permuted back."""

    name = "transpose"

    @staticmethod
    def forward(x, axes):
        return (x.transpose(axes),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes):
        return (g.transpose(None if axes is None else np.argsort(axes)),)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    """out = x with its axes permuted, reversed by default (see `TransposeOp`)."""
    x = lift(x)
    ndim = x.data.ndim
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        if sorted(a % ndim if -ndim <= a < ndim else a for a in axes) != list(range(ndim)):
            raise ShapeError(
                f"transpose: axes {axes} are not a permutation of the {ndim} axes of a "
                f"tensor of shape {x.data.shape}"
            )
        axes = tuple(a % ndim for a in axes)
    return run(TransposeOp, (x,), axes=axes)


def _is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element, so it can scatter by =."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | slice | type(None)) or p is Ellipsis for p in parts)


class GetitemOp(Function):
    """out = x[index];  the gradient is scattered back, summed where an element was picked twice.

    A fancy index that repeats elements scatters with np.add.at; basic indexing (ints, slices)
    cannot repeat one, so it scatters by assignment.
    """

    name = "getitem"

    @staticmethod
    def forward(x, index):
        return (np.asarray(x[index]),)

    @staticmethod
    def backward(g, inputs, outputs, needs, index):
        full = np.zeros(inputs[0].shape, dtype=g.dtype)
        if _is_basic(index):
            full[index] = g
        else:
            np.add.at(full, index, g)
        return (full,)


def getitem(x: Any, index: Any) -> Tensor:
    """out = x[index] (see `GetitemOp`)."""
    x = lift(x)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    try:
        return run(GetitemOp, (x,), index=index)
    except IndexError as error:
        raise ShapeError(f"getitem: index {index!r} does not fit shape {x.data.shape}: {error}") \
            from None


def _parts(op: str, tensors: Sequence[Any]) -> tuple[Tensor, ...]:
    if len(tensors) == 0:
        raise ShapeError(f"{op}: needs at least one tensor")
    return common(op, tensors)


def _join_error(op: str, parts: tuple[Tensor, ...], axis: int, error: Exception) -> ShapeError:
    shapes = ", ".join(str(t.data.shape) for t in parts)
    verb = "join" if op == "concatenate" else "stack"
    return ShapeError(f"{op}: cannot {verb} shapes {shapes} along axis {axis}: {error}")


class ConcatenateOp(Function):
    """out = the tensors joined along an existing axis;  each gets its slice of the gradient."""

    name = "concatenate"

    @staticmethod
    def forward(*parts, axis):
        return (np.concatenate(parts, axis=axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        bounds = np.cumsum([p.shape[axis] for p in inputs])[:-1]
        return tuple(np.split(g, bounds, axis=axis))


class StackOp(Function):
    """out = the tensors stacked along a new axis;  each gets its slice of the gradient."""

    name = "stack"

    @staticmethod
    def forward(*parts, axis):
        return (np.stack(parts, axis=axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        return tuple(np.moveaxis(g, axis, 0))


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """out = the tensors joined along an existing axis (see `ConcatenateOp`)."""
    parts = _parts("concatenate", tensors)
    try:
        return run(ConcatenateOp, parts, axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        raise _join_error("concatenate", parts, axis, error) from None


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """out = the tensors stacked along a new axis (see `StackOp`)."""
    parts = _parts("stack", tensors)
    try:
        return run(StackOp, parts, axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        raise _join_error("stack", parts, axis, error) from None
