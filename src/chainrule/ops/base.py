"""The one shape of an op: `Function`, its forward and backward on arrays, side by side.

Every op, chainrule's own and a user's, is a `Function` subclass:

    class SigmoidOp(Function):
        name = "sigmoid"              # what graphs, explanations and errors call it
        keeps = ()                    # what forward returns after the result, for backward

        @staticmethod
        def forward(net):             # the parents' arrays (and attributes as keywords)
            return (1 / (1 + np.exp(-net)),)

        @staticmethod
        def backward(g, inputs, outputs, needs):
            out = outputs[0]          # the notes' memoization: σ'(net) = out·(1 − out)
            return (g * out * (1 - out),)

forward(*inputs, **attrs) returns the result, or the tuple (result, *kept) where `keeps` names
the kept arrays (softmax probabilities, y − t); backward(g, inputs, outputs, needs, **attrs)
maps g = ∂E/∂result to (∂E/∂input, ...) in the inputs' order (a bare array for one input), None
where needs[i] is False. `Op.apply(*tensors, **attrs)` runs it and returns a Tensor that
remembers (the op, its inputs, its outputs, its attributes); that record is all the backward
executor (autograd.py) and a traced step (trace.py) need, so eager and traced steps call the
very same two functions and cannot disagree.

A VJP returns gradients of the output's broadcast shape; the engine sums them back to each
input's shape (Note [broadcasting] in autograd.py), so VJPs stay plain same-shape math.

An op that sets `takes_out = True` also accepts `out=` in forward and backward: a tuple with
an array (or None) for each array it returns — (result, *kept) for forward, one gradient per
input for backward — which it writes into and returns instead of allocating. Its math is
written once, with `out=` arguments that are None in eager mode; a traced step passes arrays
of its own, reused on every replay (Note [replay buffers] in trace.py).
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import Any, ClassVar

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from chainrule.errors import DTypeError, ShapeError
from chainrule.tensor import Tensor, get_default_dtype


class Function:
    """A differentiable op: forward and backward on arrays (see the module's docstring).

    Subclass it for an op of your own and call `YourOp.apply(x, ...)`; check it with
    `cr.gradcheck(YourOp.apply, x)`. forward and backward are static methods of arrays:
    they never see a Tensor, so they are also what a traced step replays.
    """

    name: ClassVar[str] = ""  # set from the class name when a subclass leaves it out
    keeps: ClassVar[tuple[str, ...]] = ()  # names of the arrays forward returns after the result
    differentiable: ClassVar[bool] = True  # False: a result without gradient (comparisons)
    takes_out: ClassVar[bool] = False  # True: forward and backward accept out= (see above)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    @staticmethod
    def forward(*inputs: np.ndarray, **attrs: Any) -> Any:
        raise NotImplementedError("a Function needs a static forward(*inputs, **attrs)")

    @staticmethod
    def backward(g: np.ndarray, inputs: tuple, outputs: tuple, needs: tuple,
                 **attrs: Any) -> Any:
        raise NotImplementedError("a Function needs a static backward(g, inputs, outputs, "
                                  "needs, **attrs)")

    @staticmethod
    def rewind(**attrs: Any) -> None:
        """Undo what forward changed besides its result, from what the attributes kept of the
        state before it ran: Dropout's generator, BatchNorm's running statistics. A traced step
        calls it after replaying its recorded step, so that recording leaves no trace. Most
        ops change nothing, and this does nothing."""

    @classmethod
    def apply(cls, *inputs: Any, **attrs: Any) -> Tensor:
        """Run the op on tensors (arrays and numbers are lifted as operators lift them)."""
        parents = common(cls.name, inputs)
        outputs = cls.forward(*[p.data for p in parents], **attrs)
        if type(outputs) is not tuple:
            outputs = (outputs,)
        if len(outputs) != 1 + len(cls.keeps):
            raise TypeError(
                f"{cls.name}: forward returned {len(outputs)} arrays but keeps names "
                f"{len(cls.keeps)}: return the result alone, or (result, *kept) with one name "
                "per kept array in keeps")
        result = outputs[0]
        if not isinstance(result, np.ndarray | np.generic) or result.dtype.kind not in "biuf":
            raise DTypeError(f"{cls.name}: forward must return a NumPy array of numbers as its "
                             f"result, got {type(result).__name__}")
        return Tensor._from_op(cls, parents, outputs, attrs)


def run(op: type[Function], parents: tuple[Tensor, ...], **attrs: Any) -> Tensor:
    """Run `op` forward on tensors its wrapper already lifted and checked (the library's ops)."""
    return Tensor._from_op(op, parents, op.forward(*map(_data, parents), **attrs), attrs)


_data = attrgetter("data")


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


def common(op: str, values: Any) -> tuple[Tensor, ...]:
    """Lift several operands at once with the dtype policy of `operands`: numbers take the
    dtype of the first floating tensor or array among them."""
    like = next((v for v in values if isinstance(v, Tensor | np.ndarray)
                 and np.asarray(v).dtype.kind == "f"), None)
    if like is not None and not isinstance(like, Tensor):
        like = Tensor._constant(like)
    lifted = [lift(v, like) for v in values]
    if like is None:
        return tuple(lifted)
    return tuple(operands(op, like, t)[1] for t in lifted)


def broadcast_error(op: str, *tensors: Tensor) -> ShapeError:
    shapes = " and ".join(str(t.data.shape) for t in tensors)
    return ShapeError(
        f"{op}: shapes {shapes} cannot be broadcast together (NumPy rules: trailing dimensions "
        "must be equal or 1)"
    )


def floating(value: Any) -> Tensor:
    """`value` as a tensor of a floating dtype: itself, or a float copy of an integer tensor
    (which has no gradient to lose) in the default dtype."""
    x = value if isinstance(value, Tensor) else lift(value)
    if x.data.dtype.kind == "f":
        return x
    return Tensor._constant(x.data.astype(get_default_dtype()))


def normalize_axis(op: str, axis: int | tuple[int, ...] | None,
                   shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axis argument as a sorted tuple of non-negative axes (all axes for None).

    An axis outside −ndim..ndim−1, or one named twice, is a ShapeError naming `op` and `shape`.
    """
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the usual case, one axis in range
        return (axis % ndim,)
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
