"""Reductions (sum, mean, max, logsumexp, min, prod, var, std, norm) over axes, the running
sum cumsum, and how their gradients spread back.

Each op's `axes` attribute is a sorted tuple of non-negative axes (`normalize_axis`), so a
reduced gradient gets its reduced axes back as axes of size 1 (`_expand`, what
`np.expand_dims(g, axes)` does) and is broadcast from there (`_broadcast`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.ops.base import Function, floating, lift, normalize_axis, run
from chainrule.tensor import Tensor

Axis = int | tuple[int, ...] | None


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to the input:
    np.expand_dims(g, axes) for sorted non-negative axes, without its Python overhead."""
    if keepdims:
        return g
    shape = list(g.shape)
    for a in axes:  # in increasing order, each 1 lands where its axis was
        shape.insert(a, 1)
    return g.reshape(shape)


def _broadcast(g: Any, shape: tuple[int, ...]) -> np.ndarray:
    """`g`, with the input's number of axes (size 1 where reduced), broadcast to `shape`: the
    read-only view np.broadcast_to(g, shape) returns, made at a third of its cost when g is a
    C-contiguous array (the usual case)."""
    if type(g) is np.ndarray and g.flags.c_contiguous:
        strides = (0,) * len(shape) if g.size == 1 else \
            tuple(0 if n == 1 else s for n, s in zip(g.shape, g.strides, strict=True))
        view = np.ndarray(shape, g.dtype, g, 0, strides)
        view.flags.writeable = False
        return view
    return np.broadcast_to(g, shape)


def _reduction(op: type[Function], x: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = lift(x)
    return run(op, (x,), axes=normalize_axis(op.name, axis, x.data.shape), keepdims=keepdims)


class SumOp(Function):
    """out = Σ x over `axes`;  ∂out/∂x_i = 1, so every x_i receives the gradient of its sum."""

    name = "sum"

    @staticmethod
    def forward(x, axes, keepdims):
        return (np.asarray(x.sum(axis=axes, keepdims=keepdims)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        return (_broadcast(_expand(g, axes, keepdims), inputs[0].shape),)


class MeanOp(Function):
    """out = (1/n) Σ x over `axes`;  ∂out/∂x_i = 1/n."""

    name = "mean"

    @staticmethod
    def forward(x, axes, keepdims):
        if x.dtype.kind != "f":
            return (np.asarray(x.mean(axis=axes, keepdims=keepdims)),)
        if x.size and not keepdims and len(axes) == x.ndim:  # a loss's mean, of every element
            # np.mean's own steps without its Python wrapper (the same bits): the sum in x's
            # dtype, divided by the count in float64 (NumPy's promotion of a float by an
            # intp) and rounded back to x's dtype
            total = np.add.reduce(x, axis=axes, dtype=x.dtype)
            return (np.asarray(float(total) / x.size, dtype=x.dtype),)
        return (np.asarray(x.mean(axis=axes, keepdims=keepdims, dtype=x.dtype)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x = inputs[0]
        n = math.prod([x.shape[a] for a in axes])
        return (_broadcast(_expand(g, axes, keepdims) / n, x.shape),)


class MaxOp(Function):
    """out = max x over `axes`;  the gradient goes to the maximal element (split evenly on ties)."""

    name = "max"

    @staticmethod
    def forward(x, axes, keepdims):
        kept = x.max(axis=axes, keepdims=True)
        return (np.asarray(kept if keepdims else np.squeeze(kept, axis=axes)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x = inputs[0]
        winners = x == _expand(outputs[0], axes, keepdims)
        share = winners / winners.sum(axis=axes, keepdims=True)
        return ((_expand(g, axes, keepdims) * share).astype(x.dtype, copy=False),)


class LogsumexpOp(Function):
    """out = ln Σ e^x over `axes`;  ∂out/∂x = softmax(x) = e^(x − out).

    Shifted by the max, so it cannot overflow. A row of only −∞ gives −∞ (the sum is 0) and a
    row holding +∞ gives +∞, as in PyTorch; their gradients are 0 for the −∞ row and, for a +∞
    row, 1/k on each of its k infinite entries and 0 elsewhere (softmax's limit), where a plain
    formula would give nan.
    """

    name = "logsumexp"

    @staticmethod
    def forward(x, axes, keepdims):
        peak = x.max(axis=axes, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, np.zeros((), x.dtype))  # ±∞ rows: no shift
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = peak + np.log(np.exp(x - peak).sum(axis=axes, keepdims=True))
        kept = np.where(np.isposinf(x).any(axis=axes, keepdims=True), np.inf, kept) \
            .astype(x.dtype, copy=False)
        return (np.asarray(kept if keepdims else np.squeeze(kept, axis=axes)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x, out = inputs[0], _expand(outputs[0], axes, keepdims)
        finite = np.isfinite(out)
        with np.errstate(invalid="ignore"):
            weights = np.exp(x - np.where(finite, out, 0))
        weights = np.where(finite, weights, 0)
        infinite = np.isposinf(x) & np.isposinf(out)  # a +∞ row: its infinite entries share
        if infinite.any():
            count = np.maximum(infinite.sum(axis=axes, keepdims=True), 1)
            weights = np.where(infinite, 1 / count, weights)
        return ((_expand(g, axes, keepdims) * weights).astype(x.dtype, copy=False),)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = Σ x over `axis` (see `SumOp`)."""
    return _reduction(SumOp, x, axis, keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = (1/n) Σ x over `axis` (see `MeanOp`); integer tensors average in the default dtype."""
    return _reduction(MeanOp, floating(x), axis, keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = max x over `axis` (see `MaxOp`)."""
    return _reduction(MaxOp, x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = ln Σ e^x over `axis` (see `LogsumexpOp`)."""
    return _reduction(LogsumexpOp, floating(x), axis, keepdims)


class MinOp(Function):
    """out = min x over `axes`;  the gradient goes to the minimal element (split evenly on ties)."""

    name = "min"

    @staticmethod
    def forward(x, axes, keepdims):
        kept = x.min(axis=axes, keepdims=True)
        return (np.asarray(kept if keepdims else np.squeeze(kept, axis=axes)),)

    backward = staticmethod(MaxOp.backward)  # winners are the entries equal to out, as for max


def _products_of_the_others(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """For each x_i, the product of the other entries of its reduced block, without dividing:
    (product of the entries before it) · (product of those after it), in one pass each way."""
    k = len(axes)
    if x.size == 0:
        return np.zeros_like(x)
    last = tuple(range(x.ndim - k, x.ndim))
    moved = np.moveaxis(x, axes, last)
    flat = moved.reshape((*moved.shape[:x.ndim - k], -1))
    ones = np.ones((*flat.shape[:-1], 1), x.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((before * after).reshape(moved.shape), last, axes)


class ProdOp(Function):
    """out = Π x over `axes`;  ∂out/∂x_i = Π_{j≠i} x_j.

    The product of the others is built from prefix and suffix products, never as out / x_i, so
    it is exact where x holds zeros: one zero in a block leaves that entry the only nonzero
    gradient, two or more give the whole block gradient 0 (as in PyTorch).
    """

    name = "prod"

    @staticmethod
    def forward(x, axes, keepdims):
        return (np.asarray(x.prod(axis=axes, keepdims=keepdims)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x = inputs[0]
        others = _products_of_the_others(x, axes)
        return ((_expand(g, axes, keepdims) * others).astype(x.dtype, copy=False),)


def _count(shape: tuple[int, ...], axes: tuple[int, ...], ddof: int) -> int:
    """The divisor of a variance, n − ddof (0 when ddof ≥ n: the result is then inf or nan)."""
    n = int(np.prod([shape[a] for a in axes]))
    return n - ddof if n > ddof else 0


class VarOp(Function):
    """out = Σ (x − x̄)² / (n − ddof) over `axes`;  ∂out/∂x_i = 2 (x_i − x̄) / (n − ddof).

    (The x̄ term drops out of the gradient: Σ (x_j − x̄) = 0.) ddof = 1 is the unbiased estimate.
    """

    name = "var"
    keeps = ("centered",)

    @staticmethod
    def forward(x, axes, keepdims, ddof):
        centered = x - x.mean(axis=axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (centered * centered).sum(axis=axes, keepdims=keepdims) \
                / x.dtype.type(_count(x.shape, axes, ddof))
        return np.asarray(out), centered

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims, ddof):
        x, centered = inputs[0], outputs[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = _expand(g, axes, keepdims) * (2 / x.dtype.type(_count(x.shape, axes, ddof)))
        return ((scale * centered).astype(x.dtype, copy=False),)


class StdOp(Function):
    """out = √var(x) over `axes`;  ∂out/∂x_i = (x_i − x̄) / ((n − ddof) · out).

    Where out = 0 (a constant block) the gradient is 0, as in PyTorch: the true derivative is
    undefined there (|x| at 0), and 0 is the subgradient that keeps training finite.
    """

    name = "std"
    keeps = ("centered",)

    @staticmethod
    def forward(x, axes, keepdims, ddof):
        var, centered = VarOp.forward(x, axes, keepdims, ddof)
        return np.sqrt(var), centered

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims, ddof):
        x, out, centered = inputs[0], _expand(outputs[0], axes, keepdims), outputs[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = _expand(g, axes, keepdims) / (x.dtype.type(_count(x.shape, axes, ddof)) * out)
        scale = np.where(out == 0, np.zeros((), x.dtype), scale)
        return ((scale * centered).astype(x.dtype, copy=False),)


class NormOp(Function):
    """out = ‖x‖_ord over `axes`, for ord 1 (Σ |x|), 2 (√Σ x²) or inf (max |x|).

    ∂out/∂x = sign(x) for ord 1;  x / out for ord 2, with 0 where out = 0 (as
    torch.linalg.vector_norm);  for ord inf, sign(x) on the entries of largest |x|, split evenly
    on ties (as max), and 0 elsewhere.
    """

    name = "norm"

    @staticmethod
    def forward(x, axes, keepdims, ord):
        if ord == 1:
            out = np.abs(x).sum(axis=axes, keepdims=keepdims)
        elif ord == 2:
            out = np.sqrt((x * x).sum(axis=axes, keepdims=keepdims))
        else:
            out = MaxOp.forward(np.abs(x), axes, keepdims)[0]
        return (np.asarray(out),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims, ord):
        x, g = inputs[0], _expand(g, axes, keepdims)
        if ord == 1:
            grad = g * np.sign(x)
        elif ord == 2:
            out = _expand(outputs[0], axes, keepdims)
            with np.errstate(divide="ignore", invalid="ignore"):
                grad = np.where(out == 0, np.zeros((), x.dtype), g / out) * x
        else:
            winners = np.abs(x) == _expand(outputs[0], axes, keepdims)
            grad = g * np.sign(x) * (winners / winners.sum(axis=axes, keepdims=True))
        return (grad.astype(x.dtype, copy=False),)


class CumsumOp(Function):
    """out_i = Σ_{j≤i} x_j along `axis` (the flattened x for None);  each x_j feeds every out_i
    with i ≥ j, so its gradient is the reversed cumulative sum Σ_{i≥j} g_i."""

    name = "cumsum"

    @staticmethod
    def forward(x, axis):
        return (np.cumsum(x, axis=axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        along = 0 if axis is None else axis
        reversed_sum = np.flip(np.cumsum(np.flip(g, along), axis=along), along)
        return (reversed_sum.reshape(inputs[0].shape),)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = min x over `axis` (see `MinOp`)."""
    return _reduction(MinOp, x, axis, keepdims)


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = Π x over `axis` (see `ProdOp`); exact gradients where x holds zeros."""
    return _reduction(ProdOp, x, axis, keepdims)


def _spread(op: type[Function], x: Any, axis: Axis, ddof: Any, keepdims: bool) -> Tensor:
    if isinstance(ddof, bool) or not isinstance(ddof, int | np.integer) or ddof < 0:
        raise ConfigError(f"{op.name}: ddof must be a non-negative int (0: population, 1: "
                          f"sample estimate), got {ddof!r}")
    x = floating(x)
    return run(op, (x,), axes=normalize_axis(op.name, axis, x.data.shape), keepdims=keepdims,
               ddof=int(ddof))


def var(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """out = Σ (x − x̄)² / (n − ddof) over `axis` (see `VarOp`); ddof=1 as torch.var's default."""
    return _spread(VarOp, x, axis, ddof, keepdims)


def std(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """out = √var(x) over `axis` (see `StdOp`); gradient 0 where the std is 0, as in PyTorch."""
    return _spread(StdOp, x, axis, ddof, keepdims)


def norm(x: Any, ord: float = 2, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = the vector ord-norm of x over `axis` (all of x for None), ord 1, 2 or inf; the
    gradient at 0 is 0 (see `NormOp`), as torch.linalg.vector_norm."""
    if isinstance(ord, bool) or ord not in (1, 2, np.inf):
        raise ConfigError(f"norm: ord must be 1, 2 or inf (vector norms), got {ord!r}")
    x = floating(x)
    return run(NormOp, (x,), axes=normalize_axis("norm", axis, x.data.shape), keepdims=keepdims,
               ord=float(ord))


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """out = the running sum of x along `axis`, or of the flattened x for None (see `CumsumOp`)."""
    x = lift(x)
    if axis is not None:
        if not isinstance(axis, int | np.integer):
            raise ShapeError(f"cumsum: axis must be one int or None, got {axis!r}")
        (axis,) = normalize_axis("cumsum", axis, x.data.shape)
    return run(CumsumOp, (x,), axis=axis)
