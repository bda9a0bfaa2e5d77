"""Matrix products: matmul (1-D, 2-D, batched), the dense layer's z = x·Wᵀ + b, dot, outer,
tensordot and einsum, and the triangle and diagonal views of a matrix (tril, triu, diagonal)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from chainrule.errors import ShapeError
from chainrule.ops.base import Function, common, lift, operands, run
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
    takes_out = True

    @staticmethod
    def forward(x, w, b=None, out=None):
        z = np.matmul(x, w.T, out=None if out is None else out[0])
        if b is not None:
            z += b
        return (z,)

    @staticmethod
    def backward(g, inputs, outputs, needs, out=(None, None, None)):
        x, w = inputs[0], inputs[1]
        gx = np.matmul(g, w, out=out[0]) if needs[0] else None
        if x.ndim == 1:  # one sample: ∂E/∂W is the outer product g·xᵀ, ∂E/∂b is g
            gw = np.multiply.outer(g, x, out=out[1]) if needs[1] else None
            gb = g
            if len(out) == 3 and out[2] is not None:
                np.copyto(out[2], g)
                gb = out[2]
        else:
            gw = np.matmul(g.T, x, out=out[1]) if needs[1] else None
            gb = (np.add.reduce(g, axis=0, out=out[2]) if len(needs) == 3 and needs[2]
                  else None)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb if needs[2] else None)


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x·Wᵀ + b, as one op (see `Linear`).

    x: (batch, in) or (in,);  weight W: (out, in);  bias b: (out,);  z: (batch, out) or (out,).
    """
    if isinstance(weight, Tensor):  # the usual case, checked cheaply: x an array or tensor
        x_data = x.data if isinstance(x, Tensor) else x  # of W's dtype that fits W, and b
        wd = weight.data                                  # (if any) a tensor that fits W
        if type(x_data) is np.ndarray and x_data.dtype is wd.dtype and wd.ndim == 2 \
                and 1 <= x_data.ndim <= 2 and x_data.shape[-1] == wd.shape[1] and (
                    bias is None or (isinstance(bias, Tensor) and bias.data.dtype is wd.dtype
                                     and bias.data.shape == wd.shape[:1])):
            if not isinstance(x, Tensor):
                x = Tensor._constant(x_data)
            return run(LinearOp, (x, weight) if bias is None else (x, weight, bias))
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


class DotOp(Function):
    """out = Σ_i a_i·b_i of two vectors;  ∂E/∂a = g·b, ∂E/∂b = g·a."""

    name = "dot"

    @staticmethod
    def forward(a, b):
        return (np.asarray(np.dot(a, b)),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        return (g * b if needs[0] else None), (g * a if needs[1] else None)


def dot(a: Any, b: Any) -> Tensor:
    """np.dot for 1-D and 2-D operands: the inner product of two vectors (`DotOp`), and the
    matrix product otherwise (`matmul`). Scalars and operands of 3 or more dimensions are
    refused; use * or matmul for them."""
    a, b = operands("dot", a, b)
    sa, sb = a.data.shape, b.data.shape
    if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
        raise ShapeError(f"dot: operands must be vectors or matrices (1-D or 2-D), got shapes {sa} "
                         f"and {sb}; use * for scalars and matmul for batched products")
    if len(sa) == len(sb) == 1:
        if sa != sb:
            raise ShapeError(f"dot: vectors of shapes {sa} and {sb} must have the same length")
        return run(DotOp, (a, b))
    if sa[-1] != sb[0]:
        raise ShapeError(f"dot: shapes {sa} and {sb} do not line up: the last dimension of the "
                         f"first ({sa[-1]}) must equal the first dimension of the second ({sb[0]})")
    return run(MatmulOp, (a, b))


class OuterOp(Function):
    """out_ij = a_i·b_j;  ∂E/∂a = g·b, ∂E/∂b = gᵀ·a."""

    name = "outer"

    @staticmethod
    def forward(a, b):
        return (np.multiply.outer(a, b),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        return (g @ b if needs[0] else None), (a @ g if needs[1] else None)


def outer(a: Any, b: Any) -> Tensor:
    """out_ij = a_i·b_j of two vectors (see `OuterOp`)."""
    a, b = operands("outer", a, b)
    if a.data.ndim != 1 or b.data.ndim != 1:
        raise ShapeError(f"outer: operands must be vectors (1-D), got shapes {a.data.shape} and "
                         f"{b.data.shape}; reshape them with .reshape(-1)")
    return run(OuterOp, (a, b))


def _placed(raw: np.ndarray, order: list[int]) -> np.ndarray:
    """Axes of `raw` that stand for input axes `order`, moved into the input's own order."""
    return np.transpose(raw, np.argsort(order))


class TensordotOp(Function):
    """out = Σ over the paired axes of a·b (np.tensordot);  ∂E/∂a is g contracted with b over
    b's free axes, ∂E/∂b is a contracted with g over a's free axes, each put back in order.

    `axes` is a pair of equal-length tuples of non-negative axes, a's and b's, paired in order.
    """

    name = "tensordot"

    @staticmethod
    def forward(a, b, axes):
        return (np.asarray(np.tensordot(a, b, axes)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes):
        a, b = inputs
        ax_a, ax_b = axes
        free_a = [i for i in range(a.ndim) if i not in ax_a]
        free_b = [j for j in range(b.ndim) if j not in ax_b]
        ga = gb = None
        if needs[0]:
            raw = np.tensordot(g, b, (list(range(len(free_a), g.ndim)), free_b))
            ga = _placed(raw, free_a + [ax_a[ax_b.index(j)] for j in sorted(ax_b)])
        if needs[1]:
            raw = np.tensordot(a, g, (free_a, list(range(len(free_a)))))
            gb = _placed(raw, [ax_b[ax_a.index(i)] for i in sorted(ax_a)] + free_b)
        return ga, gb


def _tensordot_axes(axes: Any, sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple:
    where = f"shapes {sa} and {sb}"
    if isinstance(axes, int | np.integer):
        n = int(axes)
        if not 0 <= n <= min(len(sa), len(sb)):
            raise ShapeError(f"tensordot: axes={n} must be between 0 and "
                             f"{min(len(sa), len(sb))} for {where}")
        pairs = (list(range(len(sa) - n, len(sa))), list(range(n)))
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise ShapeError(f"tensordot: axes must be an int or a pair (axes of a, axes of b), "
                             f"got {axes!r}") from None
        first = [first] if isinstance(first, int | np.integer) else list(first)
        second = [second] if isinstance(second, int | np.integer) else list(second)
        if len(first) != len(second):
            raise ShapeError(f"tensordot: axes {axes!r} pair {len(first)} axes of a with "
                             f"{len(second)} of b; name as many of each")
        pairs = (first, second)
    normalized = []
    for which, listed, shape in (("a", pairs[0], sa), ("b", pairs[1], sb)):
        try:
            found = tuple(normalize_axis_index(int(i), len(shape)) for i in listed)
        except np.exceptions.AxisError:
            raise ShapeError(f"tensordot: axes {list(listed)} of {which} are out of range for "
                             f"shape {shape}") from None
        if len(set(found)) != len(found):
            raise ShapeError(f"tensordot: axes {list(listed)} of {which} name the same axis twice "
                             f"(shape {shape})")
        normalized.append(found)
    for i, j in zip(*normalized, strict=True):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: axis {i} of a (size {sa[i]}) and axis {j} of b (size "
                             f"{sb[j]}) are summed together and must have the same size "
                             f"({where})")
    return tuple(normalized)


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """np.tensordot: sum a·b over paired axes (see `TensordotOp`). axes=n pairs a's last n axes
    with b's first n; axes=(axes of a, axes of b) pairs them in order."""
    a, b = operands("tensordot", a, b)
    return run(TensordotOp, (a, b), axes=_tensordot_axes(axes, a.data.shape, b.data.shape))


class EinsumOp(Function):
    """out = np.einsum(subscripts, *operands), `subscripts` always explicit ('ij,jk->ik').

    ∂E/∂operand k is einsum of g (indexed by the output's letters) with the other operands,
    producing operand k's letters: the output's subscripts swapped in for operand k's. Letters
    of operand k found nowhere else are broadcast; a letter repeated in operand k ('ii->i', a
    diagonal) gets the gradient on that diagonal only, zeros elsewhere.
    """

    name = "einsum"

    @staticmethod
    def forward(*operands, subscripts):
        return (np.asarray(np.einsum(subscripts, *operands)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, subscripts):
        terms, out = subscripts.split("->")
        terms = terms.split(",")
        grads = []
        for k, x in enumerate(inputs):
            if not needs[k]:
                grads.append(None)
                continue
            others = [t for i, t in enumerate(terms) if i != k]
            unique = "".join(dict.fromkeys(terms[k]))
            seen = set(out).union(*others)
            present = "".join(c for c in unique if c in seen)
            part = np.einsum(",".join([out, *others]) + "->" + present, g,
                             *[v for i, v in enumerate(inputs) if i != k])
            sizes = {c: n for c, n in zip(terms[k], x.shape, strict=True)}
            part = np.expand_dims(part, [i for i, c in enumerate(unique) if c not in seen])
            part = np.broadcast_to(part, [sizes[c] for c in unique])
            if unique == terms[k]:
                grads.append(part)
                continue
            grid = np.indices(part.shape, sparse=True)  # a repeated letter: onto its diagonal
            full = np.zeros(x.shape, dtype=np.result_type(g, x))
            full[tuple(grid[unique.index(c)] for c in terms[k])] = part
            grads.append(full)
        return tuple(grads)


def _einsum_subscripts(subscripts: Any, shapes: list[tuple[int, ...]]) -> str:
    if not isinstance(subscripts, str):
        raise ShapeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got "
                         f"{type(subscripts).__name__}")
    text = subscripts.replace(" ", "")
    if "." in text:
        raise ShapeError(f"einsum: '{subscripts}': ellipsis (...) is not supported; name every "
                         "axis with a letter")
    if text.count("->") > 1 or not all(c.isascii() and (c.isalpha() or c in ",->")
                                       for c in text):
        raise ShapeError(f"einsum: '{subscripts}' is not of the form 'ij,jk->ik' (letters a-z "
                         "and A-Z, one per axis, operands separated by commas)")
    left, arrow, out = text.partition("->")
    terms = left.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: '{subscripts}' names {len(terms)} operand"
                         f"{'s' * (len(terms) != 1)} but {len(shapes)} were given")
    sizes: dict[str, int] = {}
    for k, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
        if len(term) != len(shape):
            raise ShapeError(f"einsum: operand {k} has shape {shape} ({len(shape)} axes) but "
                             f"its subscripts '{term}' name {len(term)}")
        for c, n in zip(term, shape, strict=True):
            if sizes.setdefault(c, n) != n:
                raise ShapeError(f"einsum: index '{c}' has size {sizes[c]} in one place and {n} "
                                 f"in another (operand {k}, shape {shape}); every axis it names "
                                 "must have the same size")
    if not arrow:  # implicit form: the letters that appear once, in alphabetical order
        counts = "".join(terms)
        out = "".join(sorted(c for c in sizes if counts.count(c) == 1))
    for c in out:
        if c not in sizes:
            raise ShapeError(f"einsum: output index '{c}' in '{subscripts}' appears in no "
                             "operand")
    if len(set(out)) != len(out):
        raise ShapeError(f"einsum: output '{out}' in '{subscripts}' names an index twice")
    return f"{','.join(terms)}->{out}"


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as np.einsum (see `EinsumOp`): 'ij,jk->ik' is a matrix product,
    'ii->i' a diagonal, 'ij->' a total. Letters name axes; ellipsis is not supported."""
    if not operands:
        raise ShapeError("einsum: needs at least one operand after the subscripts")
    parents = common("einsum", operands)
    spec = _einsum_subscripts(subscripts, [p.data.shape for p in parents])
    return run(EinsumOp, parents, subscripts=spec)


def _matrix_axes(op: str, x: Tensor) -> None:
    if x.data.ndim < 2:
        raise ShapeError(f"{op}: needs a matrix (at least 2 dimensions), got shape "
                         f"{x.data.shape}")


class TrilOp(Function):
    """out = x with the entries above diagonal k set to 0 (last two axes);  ∂E/∂x = tril(g, k)."""

    name = "tril"

    @staticmethod
    def forward(x, k):
        return (np.tril(x, k),)

    @staticmethod
    def backward(g, inputs, outputs, needs, k):
        return (np.tril(g, k),)


class TriuOp(Function):
    """out = x with the entries below diagonal k set to 0 (last two axes);  ∂E/∂x = triu(g, k)."""

    name = "triu"

    @staticmethod
    def forward(x, k):
        return (np.triu(x, k),)

    @staticmethod
    def backward(g, inputs, outputs, needs, k):
        return (np.triu(g, k),)


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of x's last two axes, on and below diagonal k (see `TrilOp`)."""
    x = lift(x)
    _matrix_axes("tril", x)
    return run(TrilOp, (x,), k=int(k))


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of x's last two axes, on and above diagonal k (see `TriuOp`)."""
    x = lift(x)
    _matrix_axes("triu", x)
    return run(TriuOp, (x,), k=int(k))


class DiagonalOp(Function):
    """out = the diagonal `offset` of the axes (axis1, axis2), as np.diagonal (its last axis);
    ∂E/∂x is g written back onto that diagonal, zeros elsewhere."""

    name = "diagonal"

    @staticmethod
    def forward(x, offset, axis1, axis2):
        return (np.diagonal(x, offset, axis1, axis2).copy(),)

    @staticmethod
    def backward(g, inputs, outputs, needs, offset, axis1, axis2):
        gx = np.zeros(inputs[0].shape, dtype=g.dtype)
        planes = np.moveaxis(gx, (axis1, axis2), (-2, -1))  # a view: writes land in gx
        n = g.shape[-1]
        planes[..., np.arange(n) + max(-offset, 0), np.arange(n) + max(offset, 0)] = g
        return (gx,)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal `offset` of x's axes (axis1, axis2), as np.diagonal (see `DiagonalOp`)."""
    x = lift(x)
    _matrix_axes("diagonal", x)
    shape = x.data.shape
    try:
        a1, a2 = (normalize_axis_index(int(a), len(shape)) for a in (axis1, axis2))
    except np.exceptions.AxisError:
        raise ShapeError(f"diagonal: axes ({axis1}, {axis2}) are out of range for a tensor of "
                         f"shape {shape} (valid axes: {-len(shape)} to {len(shape) - 1})") from None
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 name the same axis ({axis1}, {axis2}) "
                         f"(shape {shape})")
    return run(DiagonalOp, (x,), offset=int(offset), axis1=a1, axis2=a2)
