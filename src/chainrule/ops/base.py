"""The shape of an op.

An op is a function that
  1. takes tensors (and plain numbers, lifted by `lift`),
  2. computes its value with NumPy, keeping what its backward step will need (the notes'
     memoization: sigmoid keeps its output, because σ'(net) = out·(1 − out)),
  3. returns `result(value, parents, vjp, name)`, where `vjp(g)` maps ∂E/∂out to a tuple
     (∂E/∂parent, ...) in the parents' order, or None for a parent that needs no gradient.

A VJP returns gradients of the output's broadcast shape; the engine sums them back to each
parent's shape (Note [broadcasting] in autograd.py), so VJPs stay plain same-shape math.

The ops a training step of an MLP is made of (linear, the activations, the losses) are written
as a `Kernel`: forward and backward as plain functions of arrays. Eager mode calls them through
the graph; a traced step (trace.py) replays the very same functions without building one, so
the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from chainrule.errors import DTypeError, ShapeError
from chainrule.tensor import Tensor, get_default_dtype

VJP = Callable[[np.ndarray], tuple]

result = Tensor._from_op


class Kernel:
    """An op's math on arrays, forward and backward side by side.

    forward(*inputs, **attrs) -> outputs: the result first, then anything the backward step
        needs besides the inputs (e.g. softmax probabilities); `inputs` are the parents' arrays.
    backward(g, inputs, outputs, needs, **attrs) -> grads: ∂E/∂inputs[i] for each input, of
        that input's shape, or None where needs[i] is False; g = ∂E/∂result.
    """

    @staticmethod
    def forward(*inputs: np.ndarray, **attrs: Any) -> tuple:
        raise NotImplementedError

    @staticmethod
    def backward(g: np.ndarray, inputs: tuple, outputs: tuple, needs: tuple,
                 **attrs: Any) -> tuple:
        raise NotImplementedError


def kernel_result(kernel: type[Kernel], parents: tuple[Tensor, ...], op: str,
                  **attrs: Any) -> Tensor:
    """Run `kernel` forward on the parents' arrays; return its result with the VJP attached."""
    inputs = tuple([p.data for p in parents])
    outputs = kernel.forward(*inputs, **attrs)
    backward = kernel.backward

    def vjp(g: np.ndarray) -> tuple:
        return backward(g, inputs, outputs, [p.requires_grad for p in parents], **attrs)

    return result(outputs[0], parents, vjp, op, (kernel, attrs))


def lift(value: Any, like: Tensor | None = None) -> Tensor:
    """`value` as a Tensor; a plain number takes the dtype of the tensor it meets."""
    if isinstance(value, Tensor):
        return value
    if type(value) is np.ndarray:
        return Tensor._constant(value)
    if like is not None and like.data.dtype.kind == "f" and not isinstance(value, np.ndarray):
        return Tensor._constant(np.asarray(value, dtype=like.data.dtype))
    return Tensor(value)


def operands(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Lift a pair of operands and apply the dtype policy (Note [dtypes] in tensor.py)."""
    if not isinstance(a, Tensor):
        a = lift(a, b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = lift(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da is db or da == db:
        return a, b
    a_float, b_float = da.kind == "f", db.kind == "f"
    if a_float and b_float:
        raise DTypeError(
            f"{op}: cannot combine {da} and {db} tensors (shapes {a.data.shape} and "
            f"{b.data.shape}); chainrule never mixes float precisions silently: convert one "
            f"with .astype('{da}') or .astype('{db}')"
        )
    if a_float:
        return a, Tensor(b.data.astype(da))
    if b_float:
        return Tensor(a.data.astype(db)), b
    return a, b


def broadcast_error(op: str, *tensors: Tensor) -> ShapeError:
    shapes = " and ".join(str(t.data.shape) for t in tensors)
    return ShapeError(
        f"{op}: shapes {shapes} cannot be broadcast together (NumPy rules: trailing dimensions "
        "must be equal or 1)"
    )


def float_dtype_of(t: Tensor) -> np.dtype:
    """The dtype a math op computes in: the tensor's own if floating, else the default."""
    return t.data.dtype if t.data.dtype.kind == "f" else get_default_dtype()


def normalize_axis(op: str, axis: int | tuple[int, ...] | None,
                   shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axis argument as a sorted tuple of non-negative axes (all axes for None).

    An axis outside −ndim..ndim−1, or one named twice, is a ShapeError naming `op` and `shape`.
    """
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    try:
        normalized = tuple(sorted(normalize_axis_index(a, ndim) for a in axes))
    except np.exceptions.AxisError:
        valid = f"valid axes: {-ndim} to {ndim - 1}" if ndim else "it has no axes; use axis=None"
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of shape {shape} "
                         f"({valid})") from None
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: axis {axis} names the same axis twice (shape {shape})")
    return normalized
