"""Elementwise arithmetic: each op's value and its local derivative, side by side.

For out = f(a, b) the VJP multiplies the incoming ∂E/∂out by the local derivatives
∂out/∂a and ∂out/∂b, elementwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.base import Function, broadcast_error, floating, lift, operands, run
from chainrule.tensor import Tensor


def _binary(op: type[Function], a: Any, b: Any) -> Tensor:
    """Lift a pair of operands, check they broadcast, and run `op` on them."""
    a, b = operands(op.name, a, b)
    try:
        return run(op, (a, b))
    except ValueError:
        raise broadcast_error(op.name, a, b) from None


class AddOp(Function):
    """out = a + b;  ∂out/∂a = 1, ∂out/∂b = 1."""

    name = "add"

    @staticmethod
    def forward(a, b):
        return (a + b,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return g, g


class SubOp(Function):
    """out = a − b;  ∂out/∂a = 1, ∂out/∂b = −1."""

    name = "sub"

    @staticmethod
    def forward(a, b):
        return (a - b,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return g, -g if needs[1] else None


class MulOp(Function):
    """out = a·b;  ∂out/∂a = b, ∂out/∂b = a."""

    name = "mul"

    @staticmethod
    def forward(a, b):
        return (a * b,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        return g * b if needs[0] else None, g * a if needs[1] else None


class DivOp(Function):
    """out = a / b;  ∂out/∂a = 1/b, ∂out/∂b = −a/b² = −out/b."""

    name = "div"

    @staticmethod
    def forward(a, b):
        return (a / b,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        ga = g / inputs[1]
        return ga if needs[0] else None, -ga * outputs[0] if needs[1] else None


class PowOp(Function):
    """out = aᵇ;  ∂out/∂a = b·aᵇ⁻¹ (0 where b = 0),  ∂out/∂b = aᵇ·ln a (defined for a > 0).

    ∂out/∂a is computed as b·aᵇ⁻¹, never as b·out/a, so a = 0 gives the limits: 1 for b = 1,
    0 for b = 2, ∞ for b = ½; and b = 0 (out = 1 for every a) gives 0 even at a = 0, where
    aᵇ⁻¹ = ∞ (as PyTorch does). ∂out/∂b is set to 0 where a ≤ 0.
    """

    name = "pow"

    @staticmethod
    def forward(a, b):
        return (a**b,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        (a, b), out = inputs, outputs[0]
        ga = gb = None
        if needs[0]:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** (b − 1) for b < 1
                slope = b * a ** (b - 1)
            constant = b == 0
            if np.any(constant):
                slope = np.where(constant, np.zeros((), slope.dtype), slope)
            ga = g * slope
        if needs[1]:
            positive = a > 0
            gb = g * out * np.log(np.where(positive, a, 1)) * positive
        return ga, gb


def add(a: Any, b: Any) -> Tensor:
    """out = a + b (see `AddOp`)."""
    return _binary(AddOp, a, b)


def sub(a: Any, b: Any) -> Tensor:
    """out = a − b (see `SubOp`)."""
    return _binary(SubOp, a, b)


def mul(a: Any, b: Any) -> Tensor:
    """out = a·b (see `MulOp`)."""
    return _binary(MulOp, a, b)


def div(a: Any, b: Any) -> Tensor:
    """out = a / b (see `DivOp`)."""
    return _binary(DivOp, a, b)


def pow(a: Any, b: Any) -> Tensor:
    """out = aᵇ (see `PowOp`)."""
    return _binary(PowOp, a, b)


class NegOp(Function):
    """out = −a;  ∂out/∂a = −1."""

    name = "neg"

    @staticmethod
    def forward(a):
        return (-a,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (-g,)


class ExpOp(Function):
    """out = eᵃ;  ∂out/∂a = eᵃ = out (memoized)."""

    name = "exp"

    @staticmethod
    def forward(a):
        return (np.exp(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * outputs[0],)


class LogOp(Function):
    """out = ln a;  ∂out/∂a = 1/a."""

    name = "log"

    @staticmethod
    def forward(a):
        return (np.log(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g / inputs[0],)


class SqrtOp(Function):
    """out = √a;  ∂out/∂a = 1/(2√a) = 0.5/out."""

    name = "sqrt"

    @staticmethod
    def forward(a):
        return (np.sqrt(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * 0.5 / outputs[0],)


class AbsOp(Function):
    """out = |a|;  ∂out/∂a = sign(a) (0 at a = 0)."""

    name = "abs"

    @staticmethod
    def forward(a):
        return (np.abs(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * np.sign(inputs[0]),)


def neg(a: Any) -> Tensor:
    """out = −a."""
    return run(NegOp, (lift(a),))


def exp(a: Any) -> Tensor:
    """out = eᵃ (see `ExpOp`)."""
    return run(ExpOp, (floating(a),))


def log(a: Any) -> Tensor:
    """out = ln a (see `LogOp`)."""
    return run(LogOp, (floating(a),))


def sqrt(a: Any) -> Tensor:
    """out = √a (see `SqrtOp`)."""
    return run(SqrtOp, (floating(a),))


def abs(a: Any) -> Tensor:
    """out = |a| (see `AbsOp`)."""
    return run(AbsOp, (lift(a),))


class ClipOp(Function):
    """out = min(max(a, low), high);  ∂out/∂a = 1 where low ≤ a ≤ high, else 0."""

    name = "clip"

    @staticmethod
    def forward(a, low, high):
        return (np.clip(a, low, high),)

    @staticmethod
    def backward(g, inputs, outputs, needs, low, high):
        a = inputs[0]
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        return (g * inside,)


def clip(a: Any, low: float | None = None, high: float | None = None) -> Tensor:
    """out = min(max(a, low), high) (see `ClipOp`)."""
    return run(ClipOp, (lift(a),), low=low, high=high)


class WhereOp(Function):
    """out = a where condition else b;  ∂out/∂a = condition, ∂out/∂b = not condition.

    The condition is an input (a boolean tensor without gradient), so a traced step recomputes
    it from each batch rather than keeping the first one's.
    """

    name = "where"

    @staticmethod
    def forward(condition, a, b):
        return (np.where(condition, a, b),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        condition, zero = inputs[0], np.zeros((), dtype=g.dtype)
        return (None, np.where(condition, g, zero) if needs[1] else None,
                np.where(condition, zero, g) if needs[2] else None)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """out = a where condition else b (see `WhereOp`)."""
    cond = lift(condition)
    if cond.data.dtype != bool:
        cond = Tensor._constant(cond.data.astype(bool))
    a, b = operands("where", a, b)
    try:
        return run(WhereOp, (cond, a, b))
    except ValueError:
        raise broadcast_error("where", cond, a, b) from None


class AstypeOp(Function):
    """out = a in another dtype;  the gradient is cast back to a's dtype."""

    name = "astype"

    @staticmethod
    def forward(a, dtype):
        return (a.astype(dtype),)

    @staticmethod
    def backward(g, inputs, outputs, needs, dtype):
        return (g.astype(inputs[0].dtype),)


def astype(a: Any, dtype: Any) -> Tensor:
    """out = a in another dtype (see `AstypeOp`); an integer result carries no gradient."""
    a, dtype = lift(a), np.dtype(dtype)
    if dtype.kind != "f":
        return Tensor(a.data.astype(dtype))
    return run(AstypeOp, (a,), dtype=dtype)


class CompareOp(Function):
    """out = ufunc(a, b) for a comparison ufunc (np.less, np.equal, ...): booleans, no gradient.

    Recorded like any op (while a traced step records, or when an input requires grad), so a
    traced step recomputes a mask from each batch.
    """

    name = "compare"
    differentiable = False

    @staticmethod
    def forward(a, b, ufunc):
        return (ufunc(a, b),)

    @staticmethod
    def backward(g, inputs, outputs, needs, ufunc):
        return None, None


def compare(ufunc: np.ufunc, a: Any, b: Any) -> Tensor:
    """A comparison (see `CompareOp`)."""
    a, b = operands(ufunc.__name__, a, b)
    try:
        return run(CompareOp, (a, b), ufunc=ufunc)
    except ValueError:
        raise broadcast_error(ufunc.__name__, a, b) from None
