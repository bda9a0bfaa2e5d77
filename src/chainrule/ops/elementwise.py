"""Elementwise arithmetic: each op's value and its local derivative, side by side.

For out = f(a, b) the VJP multiplies the incoming ∂E/∂out by the local derivatives
∂out/∂a and ∂out/∂b, elementwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.ops.base import Function, broadcast_error, floating, lift, operands, run
from chainrule.tensor import Tensor, generator


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
            if b.ndim == 0 and (e := float(b)) >= 1 and e.is_integer():  # x², x³: nothing to
                slope = b * a ** (b - 1)                               # ignore, no b = 0
            else:
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


# --- more elementwise math: trigonometry, logarithms, rounding, pairwise max/min -------------
class SinOp(Function):
    """out = sin a;  ∂out/∂a = cos a."""

    name = "sin"

    @staticmethod
    def forward(a):
        return (np.sin(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * np.cos(inputs[0]),)


class CosOp(Function):
    """out = cos a;  ∂out/∂a = −sin a."""

    name = "cos"

    @staticmethod
    def forward(a):
        return (np.cos(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (-g * np.sin(inputs[0]),)


class TanOp(Function):
    """out = tan a;  ∂out/∂a = 1/cos² a = 1 + out² (memoized)."""

    name = "tan"

    @staticmethod
    def forward(a):
        return (np.tan(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        out = outputs[0]
        return (g * (1 + out * out),)


class Log1pOp(Function):
    """out = ln(1 + a), accurate for small a;  ∂out/∂a = 1/(1 + a)."""

    name = "log1p"

    @staticmethod
    def forward(a):
        return (np.log1p(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g / (1 + inputs[0]),)


class Expm1Op(Function):
    """out = eᵃ − 1, accurate for small a;  ∂out/∂a = eᵃ.

    eᵃ is recomputed rather than taken as out + 1, which rounds to 0 for a ≲ −37.
    """

    name = "expm1"

    @staticmethod
    def forward(a):
        return (np.expm1(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * np.exp(inputs[0]),)


class Log2Op(Function):
    """out = log₂ a;  ∂out/∂a = 1/(a·ln 2)."""

    name = "log2"

    @staticmethod
    def forward(a):
        return (np.log2(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g / (inputs[0] * math.log(2)),)


class Log10Op(Function):
    """out = log₁₀ a;  ∂out/∂a = 1/(a·ln 10)."""

    name = "log10"

    @staticmethod
    def forward(a):
        return (np.log10(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g / (inputs[0] * math.log(10)),)


class SquareOp(Function):
    """out = a²;  ∂out/∂a = 2a."""

    name = "square"

    @staticmethod
    def forward(a):
        return (np.square(a),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * 2 * inputs[0],)


class _StepOp(Function):
    """A piecewise-constant op: its derivative is 0 wherever it exists (and undefined at the
    jumps), so the gradient is 0 everywhere, as in PyTorch. Nothing flows back through it.
    An integer input comes out in its own dtype, and a boolean one unchanged."""

    @staticmethod
    def backward(g, inputs, outputs, needs, **attrs):
        return (np.zeros_like(g),)


class SignOp(_StepOp):
    """out = sign a (−1, 0 or 1);  zero gradient (see `_StepOp`)."""

    name = "sign"

    @staticmethod
    def forward(a):
        return (a.copy() if a.dtype.kind == "b" else np.sign(a),)


class FloorOp(_StepOp):
    """out = ⌊a⌋, the largest integer ≤ a;  zero gradient (see `_StepOp`)."""

    name = "floor"

    @staticmethod
    def forward(a):
        return (np.floor(a) if a.dtype.kind == "f" else a.copy(),)


class CeilOp(_StepOp):
    """out = ⌈a⌉, the smallest integer ≥ a;  zero gradient (see `_StepOp`)."""

    name = "ceil"

    @staticmethod
    def forward(a):
        return (np.ceil(a) if a.dtype.kind == "f" else a.copy(),)


class RoundOp(_StepOp):
    """out = a rounded to `decimals` places, halves to even (as NumPy and PyTorch round);
    zero gradient (see `_StepOp`)."""

    name = "round"

    @staticmethod
    def forward(a, decimals):
        return (a.copy() if a.dtype.kind == "b" else np.round(a, decimals),)


class MaximumOp(Function):
    """out = max(a, b) elementwise;  ∂out/∂a = 1 where a > b, ∂out/∂b = 1 where b > a.

    On a tie (a = b) each side gets half the gradient, as torch.maximum does: the average of
    the two one-sided derivatives, so the two gradients still add up to g.
    """

    name = "maximum"

    @staticmethod
    def forward(a, b):
        return (np.maximum(a, b),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        return _share(g, a < b, b < a, a == b, needs)


class MinimumOp(Function):
    """out = min(a, b) elementwise;  ∂out/∂a = 1 where a < b, ∂out/∂b = 1 where b < a.

    On a tie (a = b) each side gets half the gradient, as torch.minimum does (see `MaximumOp`).
    """

    name = "minimum"

    @staticmethod
    def forward(a, b):
        return (np.minimum(a, b),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        a, b = inputs
        return _share(g, a > b, b > a, a == b, needs)


def _share(g: np.ndarray, a_loses: np.ndarray, b_loses: np.ndarray, tie: np.ndarray,
           needs: tuple) -> tuple[np.ndarray | None, np.ndarray | None]:
    """g split between the two inputs of a maximum or minimum: all of it to the one chosen, half
    to each on a tie. As in PyTorch, a NaN on either side (no loser, no tie) passes g to both."""
    zero = np.zeros((), dtype=g.dtype)
    shared = np.where(tie, g / 2, g)
    return (np.where(a_loses, zero, shared) if needs[0] else None,
            np.where(b_loses, zero, shared) if needs[1] else None)


class LogaddexpOp(Function):
    """out = ln(eᵃ + eᵇ), computed stably as max(a, b) + ln(1 + r) with r = e^−|a−b| ≤ 1, which
    never overflows;  ∂out/∂a = σ(a − b), ∂out/∂b = σ(b − a).

    Both sigmoids come from the kept ratio r: 1/(1 + r) for the larger input and r/(1 + r) for
    the smaller, with no exponential of a large number and no cancellation. Where a = b (two
    equal infinities included, where a − b is undefined) r = 1: out = a + ln 2 and each side
    gets half the gradient (PyTorch gives NaN at equal infinities).
    """

    name = "logaddexp"
    keeps = ("ratio",)

    @staticmethod
    def forward(a, b):
        with np.errstate(invalid="ignore"):  # ∞ − ∞ where both are the same infinity
            gap = np.where(a == b, np.zeros((), a.dtype), np.abs(a - b))
        ratio = np.exp(-gap)
        return np.maximum(a, b) + np.log1p(ratio), ratio

    @staticmethod
    def backward(g, inputs, outputs, needs):
        (a, b), ratio = inputs, outputs[1]
        share = g / (1 + ratio)  # the larger input's part; the smaller one's is share·r
        a_larger = a >= b
        return (np.where(a_larger, share, share * ratio) if needs[0] else None,
                np.where(a_larger, share * ratio, share) if needs[1] else None)


def sin(a: Any) -> Tensor:
    """out = sin a (see `SinOp`)."""
    return run(SinOp, (floating(a),))


def cos(a: Any) -> Tensor:
    """out = cos a (see `CosOp`)."""
    return run(CosOp, (floating(a),))


def tan(a: Any) -> Tensor:
    """out = tan a (see `TanOp`)."""
    return run(TanOp, (floating(a),))


def log1p(a: Any) -> Tensor:
    """out = ln(1 + a) (see `Log1pOp`)."""
    return run(Log1pOp, (floating(a),))


def expm1(a: Any) -> Tensor:
    """out = eᵃ − 1 (see `Expm1Op`)."""
    return run(Expm1Op, (floating(a),))


def log2(a: Any) -> Tensor:
    """out = log₂ a (see `Log2Op`)."""
    return run(Log2Op, (floating(a),))


def log10(a: Any) -> Tensor:
    """out = log₁₀ a (see `Log10Op`)."""
    return run(Log10Op, (floating(a),))


def square(a: Any) -> Tensor:
    """out = a² (see `SquareOp`)."""
    return run(SquareOp, (lift(a),))


def sign(a: Any) -> Tensor:
    """out = sign a; its gradient is zero everywhere (see `SignOp`)."""
    return run(SignOp, (lift(a),))


def floor(a: Any) -> Tensor:
    """out = ⌊a⌋; its gradient is zero everywhere (see `FloorOp`)."""
    return run(FloorOp, (lift(a),))


def ceil(a: Any) -> Tensor:
    """out = ⌈a⌉; its gradient is zero everywhere (see `CeilOp`)."""
    return run(CeilOp, (lift(a),))


def round(a: Any, decimals: int = 0) -> Tensor:
    """out = a rounded to `decimals` places, halves to even; its gradient is zero everywhere
    (see `RoundOp`)."""
    return run(RoundOp, (lift(a),), decimals=decimals)


def maximum(a: Any, b: Any) -> Tensor:
    """out = max(a, b) elementwise, broadcasting; a tie splits the gradient in half (see
    `MaximumOp`)."""
    return _binary(MaximumOp, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """out = min(a, b) elementwise, broadcasting; a tie splits the gradient in half (see
    `MinimumOp`)."""
    return _binary(MinimumOp, a, b)


def logaddexp(a: Any, b: Any) -> Tensor:
    """out = ln(eᵃ + eᵇ) elementwise, broadcasting, without overflow (see `LogaddexpOp`)."""
    a, b = operands("logaddexp", a, b)
    a, b = floating(a), floating(b)
    try:
        return run(LogaddexpOp, (a, b))
    except ValueError:
        raise broadcast_error("logaddexp", a, b) from None


class DropoutOp(Function):
    """out = a·mask/(1 − p), each mask element 1 with probability 1 − p;  ∂out/∂a = mask/(1 − p).

    The mask is drawn from the generator `rng` in the attributes and kept for backward. `state`
    is the generator's state before the draw, so that a traced step can check its replay
    against the eager step it was recorded from with the very same mask (trace.py).
    """

    name = "dropout"
    keeps = ("scaled_mask",)

    @staticmethod
    def forward(a, p, rng, state):
        scaled = (rng.random(a.shape) >= p).astype(a.dtype)
        scaled /= 1 - p
        return a * scaled, scaled

    @staticmethod
    def backward(g, inputs, outputs, needs, p, rng, state):
        return (g * outputs[1],)

    @staticmethod
    def rewind(p, rng, state):
        rng.bit_generator.state = state


def dropout(a: Any, p: float = 0.5, rng: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 − p) (see `DropoutOp`),
    so the expected output is the input. rng: a numpy Generator; None draws from chainrule's
    generator (`cr.manual_seed`)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
        raise ConfigError(f"dropout: p must be a probability in [0, 1), got {p!r}")
    if rng is None:
        rng = generator()
    return run(DropoutOp, (floating(a),), p=float(p), rng=rng,
               state=rng.bit_generator.state)
