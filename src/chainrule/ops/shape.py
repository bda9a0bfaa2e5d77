"""Ops that move values without changing them: their VJPs move the gradient back the same way."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.ops.base import Function, common, lift, normalize_axis, run
from chainrule.tensor import Tensor


class ReshapeOp(Function):
    """out = x with a new shape;  the gradient is reshaped back (also for the ops below that
    only change a shape: flatten, squeeze, expand_dims)."""

    name = "reshape"

    @staticmethod
    def forward(x, shape):
        return (x.reshape(shape),)

    @staticmethod
    def backward(g, inputs, outputs, needs, **attrs):
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


class SqueezeOp(ReshapeOp):
    """out = x without the given axes of size 1;  the gradient is reshaped back."""

    name = "squeeze"

    @staticmethod
    def forward(x, axis):
        return (np.squeeze(x, axis),)


def squeeze(x: Any, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """out = x without its axes of size 1, or only those named by `axis` (see `SqueezeOp`).

    As in NumPy, naming an axis whose size is not 1 is an error (PyTorch skips it silently).
    """
    x = lift(x)
    shape = x.data.shape
    if axis is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        axes = normalize_axis("squeeze", axis, shape)
        wide = [a for a in axes if shape[a] != 1]
        if wide:
            raise ShapeError(f"squeeze: axis {wide[0]} of a tensor of shape {shape} has size "
                             f"{shape[wide[0]]}; only axes of size 1 can be squeezed")
    return run(SqueezeOp, (x,), axis=axes)


class ExpandDimsOp(ReshapeOp):
    """out = x with new axes of size 1 at the given positions;  the gradient is reshaped back."""

    name = "expand_dims"

    @staticmethod
    def forward(x, axis):
        return (np.expand_dims(x, axis),)


def expand_dims(x: Any, axis: int | tuple[int, ...]) -> Tensor:
    """out = x with axes of size 1 inserted at `axis`, positions in the result, as in NumPy
    (PyTorch's unsqueeze; see `ExpandDimsOp`)."""
    x = lift(x)
    count = 1 if isinstance(axis, int | np.integer) else len(tuple(axis))
    ndim = x.data.ndim + count
    try:
        axes = normalize_axis("expand_dims", axis, (1,) * ndim)
    except ShapeError:
        raise ShapeError(f"expand_dims: axis {axis} does not fit a tensor of shape "
                         f"{x.data.shape} growing to {ndim} axes (valid axes: {-ndim} to "
                         f"{ndim - 1}, each named once)") from None
    return run(ExpandDimsOp, (x,), axis=axes)


class FlattenOp(ReshapeOp):
    """out = x as a 1-D tensor (row-major order);  the gradient is reshaped back."""

    name = "flatten"


def flatten(x: Any) -> Tensor:
    """out = x as a 1-D tensor, as NumPy's ndarray.flatten and torch.flatten(x) with its default
    start_dim=0 (a scalar becomes shape (1,); see `FlattenOp`)."""
    x = lift(x)
    return run(FlattenOp, (x,), shape=(x.data.size,))


def _ordered(op: str, axes: tuple[int, ...], x: Tensor) -> tuple[int, ...]:
    """`axes` made non-negative in their own order (normalize_axis sorts them), each once."""
    normalize_axis(op, axes, x.data.shape)
    return tuple(normalize_axis(op, a, x.data.shape)[0] for a in axes)


class SwapaxesOp(TransposeOp):
    """out = x with two axes exchanged (a permutation);  the gradient is permuted back."""

    name = "swapaxes"


class MoveaxisOp(TransposeOp):
    """out = x with axes moved to new positions (a permutation);  the gradient is permuted back."""

    name = "moveaxis"


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """out = x with axes `axis1` and `axis2` exchanged (see `SwapaxesOp`)."""
    x = lift(x)
    a, b = (normalize_axis("swapaxes", axis, x.data.shape)[0] for axis in (axis1, axis2))
    axes = list(range(x.data.ndim))
    axes[a], axes[b] = b, a
    return run(SwapaxesOp, (x,), axes=tuple(axes))


def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """out = x with the axes `source` moved to the positions `destination`, the other axes
    keeping their order, as np.moveaxis and torch.movedim (see `MoveaxisOp`)."""
    x = lift(x)
    src = (source,) if isinstance(source, int | np.integer) else tuple(source)
    dst = (destination,) if isinstance(destination, int | np.integer) else tuple(destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must name "
                         f"as many axes each (shape {x.data.shape})")
    src, dst = _ordered("moveaxis", src, x), _ordered("moveaxis", dst, x)
    order = [a for a in range(x.data.ndim) if a not in src]
    for d, a in sorted(zip(dst, src, strict=True)):
        order.insert(d, a)
    return run(MoveaxisOp, (x,), axes=tuple(order))


class FlipOp(Function):
    """out = x reversed along the given axes;  the gradient is reversed back."""

    name = "flip"

    @staticmethod
    def forward(x, axis):
        return (np.flip(x, axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        return (np.flip(g, axis),)


def flip(x: Any, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """out = x reversed along `axis` (every axis for None; see `FlipOp`)."""
    x = lift(x)
    return run(FlipOp, (x,), axis=normalize_axis("flip", axis, x.data.shape))


class RollOp(Function):
    """out = x shifted cyclically along axes (the flattened x for axis=None);  the gradient is
    shifted back by −shift."""

    name = "roll"

    @staticmethod
    def forward(x, shift, axis):
        return (np.roll(x, shift, axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, shift, axis):
        return (np.roll(g, tuple(-s for s in shift), axis),)


def roll(x: Any, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Tensor:
    """out = x with its elements shifted cyclically by `shift` along `axis`, as np.roll and
    torch.roll; axis=None rolls the flattened tensor and restores its shape (see `RollOp`)."""
    x = lift(x)
    shifts = (shift,) if isinstance(shift, int | np.integer) else tuple(shift)
    if not all(isinstance(s, int | np.integer) for s in shifts):
        raise ShapeError(f"roll: shift must be an int or a sequence of ints, got {shift!r}")
    shifts = tuple(int(s) for s in shifts)
    if axis is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll: with axis=None, shift must be one int, got {shift!r}")
        return run(RollOp, (x,), shift=shifts, axis=None)
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    axes = tuple(normalize_axis("roll", a, x.data.shape)[0] for a in axes)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ShapeError(f"roll: shift {shift!r} and axis {axis!r} must have the same length "
                         f"(shape {x.data.shape})")
    return run(RollOp, (x,), shift=shifts, axis=axes)


class RepeatOp(Function):
    """out = each element of x repeated along an axis (of the flattened x for axis=None), as
    np.repeat;  the gradient of each element is the sum of the gradients of its copies."""

    name = "repeat"

    @staticmethod
    def forward(x, repeats, axis):
        return (np.repeat(x, repeats, axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, repeats, axis):
        x = inputs[0]
        n = x.size if axis is None else x.shape[axis]
        source = np.repeat(np.arange(n), repeats)  # which element each copy came from
        moved = g if axis is None else np.moveaxis(g, axis, 0)
        full = np.zeros((n, *moved.shape[1:]), dtype=g.dtype)
        np.add.at(full, source, moved)
        return (full.reshape(x.shape) if axis is None else np.moveaxis(full, 0, axis),)


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """out = each element of x repeated `repeats` times along `axis`, as np.repeat and
    torch.repeat_interleave (not torch's Tensor.repeat, which is `tile`); axis=None repeats
    the flattened tensor. `repeats` is one count or one per element (see `RepeatOp`)."""
    x = lift(x)
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any():
        raise ShapeError(f"repeat: repeats must be a non-negative int or a 1-D sequence of them, "
                         f"got {repeats!r}")
    if axis is not None:
        axis = normalize_axis("repeat", axis, x.data.shape)[0]
    n = x.data.size if axis is None else x.data.shape[axis]
    if counts.ndim == 1 and counts.size not in (1, n):
        where = "the flattened tensor" if axis is None else f"axis {axis}"
        raise ShapeError(f"repeat: {counts.size} repeats for {n} elements along {where} of a "
                         f"tensor of shape {x.data.shape} (give one count, or one per element)")
    return run(RepeatOp, (x,), repeats=counts.tolist(), axis=axis)


class TileOp(Function):
    """out = x laid out reps times along each axis, as np.tile;  the gradient of each element
    is the sum over its copies."""

    name = "tile"

    @staticmethod
    def forward(x, reps):
        return (np.tile(x, reps),)

    @staticmethod
    def backward(g, inputs, outputs, needs, reps):
        x = inputs[0]
        ndim = max(x.ndim, len(reps))
        shape = (1,) * (ndim - x.ndim) + x.shape
        reps = (1,) * (ndim - len(reps)) + tuple(reps)
        blocks = g.reshape([n for pair in zip(reps, shape, strict=True) for n in pair])
        return (blocks.sum(axis=tuple(range(0, 2 * ndim, 2))).reshape(x.shape),)


def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """out = x repeated as a block `reps` times along each axis, as np.tile and torch.tile
    (torch's Tensor.repeat); fewer reps than axes are padded with 1s in front, more reps
    than axes add leading axes (see `TileOp`)."""
    x = lift(x)
    reps_t = (reps,) if isinstance(reps, int | np.integer) else tuple(reps)
    if not all(isinstance(r, int | np.integer) and r >= 0 for r in reps_t):
        raise ShapeError(f"tile: reps must be non-negative ints, got {reps!r} (shape "
                         f"{x.data.shape})")
    return run(TileOp, (x,), reps=tuple(int(r) for r in reps_t))


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """The pieces of x along `axis`, as np.split: an int k cuts it into k equal pieces (their
    size must divide the axis), a sequence of indices cuts before each of them. Each piece is a
    slice of x (`GetitemOp`), so each gets its part of the gradient."""
    x = lift(x)
    axis = normalize_axis("split", axis, x.data.shape)[0]
    n = x.data.shape[axis]
    if isinstance(indices_or_sections, int | np.integer):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ShapeError(f"split: cannot cut axis {axis} of size {n} (shape {x.data.shape}) "
                             f"into {k} equal pieces; give a divisor of {n} or a list of "
                             "indices")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        cuts = list(indices_or_sections)
        if not all(isinstance(i, int | np.integer) for i in cuts):
            raise ShapeError(f"split: indices must be ints, got {indices_or_sections!r}")
        bounds = [0, *(int(i) for i in cuts), n]
    lead = (slice(None),) * axis
    return [run(GetitemOp, (x,), index=(*lead, slice(start, stop)))
            for start, stop in itertools.pairwise(bounds)]


class PadOp(Function):
    """out = x with constant values added before and after each axis;  the gradient is the
    slice of g where x sits."""

    name = "pad"

    @staticmethod
    def forward(x, pad_width, constant_values):
        # a scalar has no axes to pad: () would read as a float array to np.pad
        return (np.pad(x, pad_width or 0, mode="constant", constant_values=constant_values),)

    @staticmethod
    def backward(g, inputs, outputs, needs, pad_width, constant_values):
        return (g[tuple(slice(before, before + n)
                        for (before, _), n in zip(pad_width, inputs[0].shape, strict=True))],)


def pad(x: Any, pad_width: int | Sequence[int] | Sequence[Sequence[int]],
        constant_values: float = 0, mode: str = "constant") -> Tensor:
    """out = x padded with `constant_values`, as np.pad in constant mode: pad_width is
    ((before, after), ...) per axis, one (before, after) for every axis, or one int
    (see `PadOp`). Other modes are refused."""
    x = lift(x)
    if mode != "constant":
        raise ConfigError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    ndim = x.data.ndim
    if not isinstance(constant_values, int | float | np.integer | np.floating):
        raise ConfigError(f"pad: constant_values must be one number, got {constant_values!r}")
    try:
        widths = np.asarray(pad_width)
        if widths.dtype.kind not in "iu" or (widths < 0).any():
            raise ValueError
        widths = np.broadcast_to(widths, (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape "
                         f"{x.data.shape}: give non-negative ints, ((before, after),) * {ndim}, "
                         "one (before, after) or one int") from None
    return run(PadOp, (x,), pad_width=tuple((int(b), int(a)) for b, a in widths),
               constant_values=constant_values)
