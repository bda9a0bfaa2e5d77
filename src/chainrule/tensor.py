"""Tensor: an array that remembers the op that made it, so the chain rule can run backwards.

Operators and methods are one-line calls into `chainrule.ops`; the math lives there.

Note [dtypes]
    Python numbers and lists become the default float dtype (float32; see `set_default_dtype`);
    NumPy arrays keep their dtype. Floating dtypes never mix silently: an op that meets float32
    and float64 raises `DTypeError` (convert one side with `.astype`) instead of promoting, so a
    float64 array can never quietly slow down or change a float32 network. Integer and boolean
    tensors hold labels, masks and indices; combined with a float tensor they are cast to its
    dtype. Only floating tensors can require a gradient.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import DTypeError

_default_dtype = np.dtype(np.float32)
_creation_order = itertools.count()  # every tensor is numbered after the tensors it came from


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype Python numbers and lists become (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DTypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    return _default_dtype


_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator `randn` and `rand` draw from; returns it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DTypeError(f"manual_seed: the seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The generator `randn` and `rand` draw from (reseeded by `manual_seed`)."""
    return _generator


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        array = np.asarray(data, dtype=dtype)
    elif isinstance(data, np.ndarray | np.generic):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        if array.dtype.kind in "iuf":
            array = array.astype(_default_dtype)
    if array.dtype.kind not in "biuf":
        raise DTypeError(
            f"tensor: cannot hold {array.dtype} data (shape {array.shape}); chainrule works on "
            "real numbers: convert strings with float(...) and drop complex parts first"
        )
    return array


class Tensor:
    """An n-dimensional array that can carry gradients.

    data: the NumPy array of values.  grad: ∂E/∂self after `E.backward()` (a NumPy array of the
    same shape, summed over backward calls until reset), or None.  requires_grad: whether ops on
    this tensor are recorded for backward.  name: an optional label used by explanations.
    """

    __slots__ = ("_attrs", "_fn", "_outputs", "_parents", "_retains_grad", "_seq", "data",
                 "grad", "name", "requires_grad")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__ instead of NumPy's
    __hash__ = object.__hash__  # == builds a boolean tensor, so hash by identity

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(
                f"tensor: requires_grad=True needs a floating dtype, got {self.data.dtype}; "
                f"gradients of integers are not defined: pass dtype={_default_dtype.name}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.name = name
        self._parents: tuple[Tensor, ...] = ()
        self._fn: Any = None  # the Function that made it (ops/base.py), None for a leaf
        self._outputs: tuple | None = None  # its forward's outputs, kept for backward
        self._attrs: dict = {}
        self._retains_grad = False
        self._seq = next(_creation_order)

    @classmethod
    def _from_op(cls, fn: Any, parents: tuple[Tensor, ...], outputs: tuple,
                 attrs: dict) -> Tensor:
        """The result of running the Function `fn` on `parents` (fast path: no validation).

        outputs: what fn.forward returned, (result, *kept). The op is recorded for backward
        when gradients are being recorded and some parent requires one, and for a traced step
        while it records (autograd.tracing) whatever the parents.
        """
        out = object.__new__(cls)
        data = outputs[0] if type(outputs) is tuple else outputs  # a user's bare result
        out.data = data if type(data) is np.ndarray else np.asarray(data)  # 0-d results
        out.grad = None
        out.name = None
        out._retains_grad = False
        out._fn = fn
        out._seq = next(_creation_order)
        out.requires_grad = False
        out._parents = ()
        out._outputs = None
        out._attrs = attrs
        mode = autograd._GradMode
        if mode.enabled and parents:
            for parent in parents:
                if parent.requires_grad:
                    out.requires_grad = fn.differentiable
                    break
            else:
                if not mode.tracing:
                    return out
            out._parents = parents
            out._outputs = outputs if type(outputs) is tuple else (out.data,)
        return out

    @classmethod
    def _constant(cls, data: np.ndarray) -> Tensor:
        """A tensor around an array that needs no gradient (fast path for op operands)."""
        if data.dtype.kind not in "biuf":
            _as_array(data)  # raises the usual dtype error
        out = object.__new__(cls)
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad = out.name = out._fn = out._outputs = None
        out.requires_grad = out._retains_grad = False
        out._parents = ()
        out._attrs = {}
        out._seq = next(_creation_order)
        return out

    # --- inspection -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._outputs is None

    @property
    def op(self) -> str:
        """The name of the op that made this tensor ('' for one made by tensor())."""
        return "" if self._fn is None else self._fn.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from, in order (empty for a leaf or freed graph)."""
        return self._parents

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float | int | bool:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=8, separator=", ", prefix="tensor(")
        extras = [f"dtype={self.data.dtype}"]
        if self._fn is not None:
            extras.append(f"op={self._fn.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    # --- autograd ---------------------------------------------------------------------------
    def backward(self, grad: Any = None, *, retain_graph: bool = False,
                 inputs: Sequence[Tensor] | None = None) -> None:
        """Run the chain rule from this tensor back to every leaf (see `autograd.backward`);
        inputs: only these tensors' .grad receive gradients."""
        autograd.backward(self, grad, retain_graph=retain_graph, inputs=inputs)

    def retain_grad(self) -> Tensor:
        """Keep ∂E/∂self in `.grad` for this intermediate tensor too (leaves always keep it)."""
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor._constant(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            raise DTypeError(f"requires_grad_: needs a floating dtype, got {self.data.dtype}")
        self.requires_grad = flag
        return self

    # --- operators: one-line calls into ops --------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return elementwise.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return elementwise.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return elementwise.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return elementwise.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return elementwise.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return elementwise.pow(other, self)

    def __neg__(self) -> Tensor:
        return elementwise.neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return linalg.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return shape_ops.getitem(self, index)

    def __lt__(self, other: Any) -> Tensor:
        return elementwise.compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return elementwise.compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return elementwise.compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return elementwise.compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return elementwise.compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return elementwise.compare(np.not_equal, self, other)

    # --- methods ----------------------------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.min(self, axis, keepdims)

    def prod(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.prod(self, axis, keepdims)

    def var(self, axis: int | tuple[int, ...] | None = None, ddof: int = 0,
            keepdims: bool = False) -> Tensor:
        return reduce.var(self, axis, ddof, keepdims)

    def std(self, axis: int | tuple[int, ...] | None = None, ddof: int = 0,
            keepdims: bool = False) -> Tensor:
        return reduce.std(self, axis, ddof, keepdims)

    def norm(self, ord: float = 2, axis: int | tuple[int, ...] | None = None,
             keepdims: bool = False) -> Tensor:
        return reduce.norm(self, ord, axis, keepdims)

    def cumsum(self, axis: int | None = None) -> Tensor:
        return reduce.cumsum(self, axis)

    def exp(self) -> Tensor:
        return elementwise.exp(self)

    def log(self) -> Tensor:
        return elementwise.log(self)

    def sqrt(self) -> Tensor:
        return elementwise.sqrt(self)

    def abs(self) -> Tensor:
        return elementwise.abs(self)

    def sin(self) -> Tensor:
        return elementwise.sin(self)

    def cos(self) -> Tensor:
        return elementwise.cos(self)

    def tan(self) -> Tensor:
        return elementwise.tan(self)

    def log1p(self) -> Tensor:
        return elementwise.log1p(self)

    def expm1(self) -> Tensor:
        return elementwise.expm1(self)

    def log2(self) -> Tensor:
        return elementwise.log2(self)

    def log10(self) -> Tensor:
        return elementwise.log10(self)

    def square(self) -> Tensor:
        return elementwise.square(self)

    def sign(self) -> Tensor:
        return elementwise.sign(self)

    def floor(self) -> Tensor:
        return elementwise.floor(self)

    def ceil(self) -> Tensor:
        return elementwise.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return elementwise.round(self, decimals)

    def maximum(self, other: Any) -> Tensor:
        return elementwise.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return elementwise.minimum(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        return elementwise.logaddexp(self, other)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        return elementwise.clip(self, low, high)

    def astype(self, dtype: Any) -> Tensor:
        return elementwise.astype(self, dtype)

    def tanh(self) -> Tensor:
        return activation.tanh(self)

    def sigmoid(self) -> Tensor:
        return activation.sigmoid(self)

    def relu(self) -> Tensor:
        return activation.relu(self)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])  # type: ignore[assignment]
        return shape_ops.reshape(self, shape)  # type: ignore[arg-type]

    def transpose(self, *axes: int) -> Tensor:
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return shape_ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        return shape_ops.transpose(self, None)

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        return shape_ops.squeeze(self, axis)

    def expand_dims(self, axis: int | tuple[int, ...]) -> Tensor:
        return shape_ops.expand_dims(self, axis)

    def flatten(self) -> Tensor:
        """This tensor as 1-D, as ndarray.flatten (torch.flatten with start_dim=0)."""
        return shape_ops.flatten(self)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return shape_ops.swapaxes(self, axis1, axis2)

    def moveaxis(self, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
        return shape_ops.moveaxis(self, source, destination)

    def flip(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        return shape_ops.flip(self, axis)

    def roll(self, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Tensor:
        return shape_ops.roll(self, shift, axis)

    def repeat(self, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
        """Each element repeated, as ndarray.repeat (torch's repeat_interleave; torch's
        Tensor.repeat is `tile`)."""
        return shape_ops.repeat(self, repeats, axis)

    def tile(self, reps: int | Sequence[int]) -> Tensor:
        return shape_ops.tile(self, reps)

    def split(self, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
        """The pieces along `axis`, as np.split (see chainrule.functional.split)."""
        return shape_ops.split(self, indices_or_sections, axis)

    def argmax(self, axis: int | None = None) -> Tensor:
        return sort.argmax(self, axis)

    def argmin(self, axis: int | None = None) -> Tensor:
        return sort.argmin(self, axis)

    def argsort(self, axis: int = -1) -> Tensor:
        return sort.argsort(self, axis)

    def sort(self, axis: int = -1) -> Tensor:
        return sort.sort(self, axis)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return linalg.diagonal(self, offset, axis1, axis2)

    def dot(self, other: Any) -> Tensor:
        return linalg.dot(self, other)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           name: str | None = None) -> Tensor:
    """Make a tensor: `cr.tensor([[0.05, 0.10]], requires_grad=True)`.

    NumPy arrays keep their dtype; Python numbers and lists become the default dtype (float32).
    A Tensor passed in is copied by reference to its data, without its graph.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


# The ops import Tensor from this module, so they are imported after it is defined.
from chainrule.ops import activation, elementwise, linalg, reduce, sort  # noqa: E402
from chainrule.ops import shape as shape_ops  # noqa: E402
