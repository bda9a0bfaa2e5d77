"""Activations, each with its textbook derivative computed from what the forward kept.

Teaching ops stay whole: an explanation can say ∂out/∂net = out·(1 − out) for a sigmoid unit
because sigmoid is one op whose VJP uses its saved output, not five primitive steps.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.base import float_dtype_of, result
from chainrule.tensor import Tensor


def sigmoid(x: Tensor) -> Tensor:
    """out = σ(net) = 1 / (1 + e^(−net));  ∂out/∂net = out·(1 − out).

    Computed as ½·tanh(net/2) + ½, the same function written without exp, so it neither
    overflows nor warns for any |net| (e.g. 1e4).
    """
    out = np.multiply(x.data, 0.5, dtype=float_dtype_of(x))
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # a 0-d input gives a NumPy scalar; the steps below work in place
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return result(out, (x,), lambda g: (g * (out * (1 - out)),), "sigmoid")


def tanh(x: Tensor) -> Tensor:
    """out = tanh(net);  ∂out/∂net = 1 − out²."""
    out = np.tanh(x.data.astype(float_dtype_of(x), copy=False))
    return result(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def relu(x: Tensor) -> Tensor:
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""
    out = np.maximum(x.data, 0)
    return result(out, (x,), lambda g: (g * (out > 0),), "relu")


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """out = net where net > 0, else α·net;  ∂out/∂net = 1 or α."""
    positive = x.data > 0
    out = np.where(positive, x.data, x.data * negative_slope)

    def vjp(g: np.ndarray) -> tuple:
        return (np.where(positive, g, g * negative_slope),)

    return result(out, (x,), vjp, "leaky_relu")


def softplus(x: Tensor) -> Tensor:
    """out = ln(1 + e^net);  ∂out/∂net = σ(net).

    Computed as max(net, 0) + ln(1 + e^(−|net|)), finite for any |net|.
    """
    data = x.data.astype(float_dtype_of(x), copy=False)
    out = np.maximum(data, 0) + np.log1p(np.exp(-np.abs(data)))

    def vjp(g: np.ndarray) -> tuple:
        return (g * (0.5 * np.tanh(0.5 * data) + 0.5),)

    return result(out, (x,), vjp, "softplus")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """out_i = e^(x_i) / Σ_j e^(x_j) along `axis`;  ∂E/∂x = out·(g − Σ_j g_j·out_j).

    The max is subtracted first (it cancels), so large inputs cannot overflow.
    """
    data = x.data.astype(float_dtype_of(x), copy=False)
    out = np.exp(data - data.max(axis=axis, keepdims=True))
    out /= out.sum(axis=axis, keepdims=True)

    def vjp(g: np.ndarray) -> tuple:
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return result(out, (x,), vjp, "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """out_i = x_i − ln Σ_j e^(x_j) along `axis`;  ∂E/∂x = g − softmax(x)·Σ_j g_j.

    Shifted by the max before the exponential, so it is finite for any finite input.
    """
    data = x.data.astype(float_dtype_of(x), copy=False)
    shifted = data - data.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def vjp(g: np.ndarray) -> tuple:
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return result(out, (x,), vjp, "log_softmax")
