"""Elementwise arithmetic: each op's value and its local derivative, side by side.

For out = f(a, b) the VJP multiplies the incoming ∂E/∂out by the local derivatives
∂out/∂a and ∂out/∂b, elementwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.base import broadcast_error, float_dtype_of, lift, operands, result
from chainrule.tensor import Tensor


def add(a: Any, b: Any) -> Tensor:
    """out = a + b;  ∂out/∂a = 1, ∂out/∂b = 1."""
    a, b = operands("add", a, b)
    try:
        out = a.data + b.data
    except ValueError:
        raise broadcast_error("add", a, b) from None
    return result(out, (a, b), lambda g: (g, g), "add")


def sub(a: Any, b: Any) -> Tensor:
    """out = a − b;  ∂out/∂a = 1, ∂out/∂b = −1."""
    a, b = operands("sub", a, b)
    try:
        out = a.data - b.data
    except ValueError:
        raise broadcast_error("sub", a, b) from None
    return result(out, (a, b), lambda g: (g, -g if b.requires_grad else None), "sub")


def mul(a: Any, b: Any) -> Tensor:
    """out = a·b;  ∂out/∂a = b, ∂out/∂b = a."""
    a, b = operands("mul", a, b)
    try:
        out = a.data * b.data
    except ValueError:
        raise broadcast_error("mul", a, b) from None

    def vjp(g: np.ndarray) -> tuple:
        return (g * b.data if a.requires_grad else None,
                g * a.data if b.requires_grad else None)

    return result(out, (a, b), vjp, "mul")


def div(a: Any, b: Any) -> Tensor:
    """out = a / b;  ∂out/∂a = 1/b, ∂out/∂b = −a/b² = −out/b."""
    a, b = operands("div", a, b)
    try:
        out = a.data / b.data
    except ValueError:
        raise broadcast_error("div", a, b) from None

    def vjp(g: np.ndarray) -> tuple:
        ga = g / b.data
        return (ga if a.requires_grad else None,
                -ga * out if b.requires_grad else None)

    return result(out, (a, b), vjp, "div")


def pow(a: Any, b: Any) -> Tensor:
    """out = aᵇ;  ∂out/∂a = b·aᵇ⁻¹ (0 where b = 0),  ∂out/∂b = aᵇ·ln a (defined for a > 0).

    ∂out/∂a is computed as b·aᵇ⁻¹, never as b·out/a, so a = 0 gives the limits: 1 for b = 1,
    0 for b = 2, ∞ for b = ½; and b = 0 (out = 1 for every a) gives 0 even at a = 0, where
    aᵇ⁻¹ = ∞ (as PyTorch does). ∂out/∂b is set to 0 where a ≤ 0.
    """
    a, b = operands("pow", a, b)
    try:
        out = a.data ** b.data
    except ValueError:
        raise broadcast_error("pow", a, b) from None

    def vjp(g: np.ndarray) -> tuple:
        ga = gb = None
        if a.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** (b − 1) for b < 1
                slope = b.data * a.data ** (b.data - 1)
            constant = b.data == 0
            if np.any(constant):
                slope = np.where(constant, np.zeros((), slope.dtype), slope)
            ga = g * slope
        if b.requires_grad:
            positive = a.data > 0
            gb = g * out * np.log(np.where(positive, a.data, 1)) * positive
        return ga, gb

    return result(out, (a, b), vjp, "pow")


def neg(a: Tensor) -> Tensor:
    """out = −a;  ∂out/∂a = −1."""
    return result(-a.data, (a,), lambda g: (-g,), "neg")


def exp(a: Tensor) -> Tensor:
    """out = eᵃ;  ∂out/∂a = eᵃ = out (memoized)."""
    out = np.exp(a.data.astype(float_dtype_of(a), copy=False))
    return result(out, (a,), lambda g: (g * out,), "exp")


def log(a: Tensor) -> Tensor:
    """out = ln a;  ∂out/∂a = 1/a."""
    out = np.log(a.data.astype(float_dtype_of(a), copy=False))
    return result(out, (a,), lambda g: (g / a.data,), "log")


def sqrt(a: Tensor) -> Tensor:
    """out = √a;  ∂out/∂a = 1/(2√a) = 0.5/out."""
    out = np.sqrt(a.data.astype(float_dtype_of(a), copy=False))
    return result(out, (a,), lambda g: (g * 0.5 / out,), "sqrt")


def abs(a: Tensor) -> Tensor:
    """out = |a|;  ∂out/∂a = sign(a) (0 at a = 0)."""
    return result(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),), "abs")


def clip(a: Tensor, low: float | None = None, high: float | None = None) -> Tensor:
    """out = min(max(a, low), high);  ∂out/∂a = 1 where low ≤ a ≤ high, else 0."""
    out = np.clip(a.data, low, high)

    def vjp(g: np.ndarray) -> tuple:
        inside = np.ones(a.data.shape, dtype=bool)
        if low is not None:
            inside &= a.data >= low
        if high is not None:
            inside &= a.data <= high
        return (g * inside,)

    return result(out, (a,), vjp, "clip")


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """out = a where condition else b;  ∂out/∂a = condition, ∂out/∂b = not condition."""
    cond = lift(condition).data.astype(bool, copy=False)
    a, b = operands("where", a, b)
    try:
        out = np.where(cond, a.data, b.data)
    except ValueError:
        raise broadcast_error("where", lift(condition), a, b) from None

    def vjp(g: np.ndarray) -> tuple:
        zero = np.zeros((), dtype=g.dtype)
        return (np.where(cond, g, zero) if a.requires_grad else None,
                np.where(cond, zero, g) if b.requires_grad else None)

    return result(out, (a, b), vjp, "where")


def astype(a: Tensor, dtype: Any) -> Tensor:
    """out = a in another dtype;  the gradient is cast back to a's dtype."""
    out = a.data.astype(dtype)
    if out.dtype.kind != "f":
        return Tensor(out)  # integers carry no gradient
    return result(out, (a,), lambda g: (g.astype(a.data.dtype),), "astype")


def compare(ufunc: np.ufunc, a: Any, b: Any) -> Tensor:
    """A comparison: a boolean tensor with no gradient."""
    a, b = operands(ufunc.__name__, a, b)
    try:
        return Tensor(ufunc(a.data, b.data))
    except ValueError:
        raise broadcast_error(ufunc.__name__, a, b) from None
