"""Activations, each with its textbook derivative computed from what the forward kept.

Teaching ops stay whole: an explanation can say ∂out/∂net = out·(1 − out) for a sigmoid unit
because sigmoid is one op whose VJP uses its saved output, not five primitive steps.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops.base import Kernel, float_dtype_of, kernel_result, normalize_axis, result
from chainrule.tensor import Tensor


def _floating(x: Tensor) -> Tensor:
    """x itself, or a float copy of an integer tensor (which has no gradient to lose)."""
    if x.data.dtype.kind == "f":
        return x
    return Tensor._constant(x.data.astype(float_dtype_of(x)))


class Sigmoid(Kernel):
    """out = σ(net) = 1 / (1 + e^(−net));  ∂out/∂net = out·(1 − out).

    Computed just as written, in place: for net < 0, e^(−net) is large and 1/(1 + e^(−net)) keeps
    full relative precision (σ(−20) = 2.06e-9 in float32), unlike ½·tanh(net/2) + ½, which
    cancels to 0 there. Below net ≈ −88 (float32) or −709 (float64), e^(−net) overflows to ∞
    and out = 1/∞ = 0, the true value then being under the smallest normal float; that
    overflow is expected, so it does not warn.
    """

    @staticmethod
    def forward(net):
        out = np.empty_like(net)  # an array even for 0-d input, so the in-place steps below work
        np.negative(net, out=out)
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
        return (out,)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        out = outputs[0]
        return (g * (out * (1 - out)),)


def sigmoid(x: Tensor) -> Tensor:
    """out = σ(net);  ∂out/∂net = out·(1 − out) (see `Sigmoid`)."""
    return kernel_result(Sigmoid, (_floating(x),), "sigmoid")


class Tanh(Kernel):
    """out = tanh(net);  ∂out/∂net = 1 − out²."""

    @staticmethod
    def forward(net):
        return (np.tanh(net),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        out = outputs[0]
        return (g * (1 - out * out),)


def tanh(x: Tensor) -> Tensor:
    """out = tanh(net);  ∂out/∂net = 1 − out²."""
    return kernel_result(Tanh, (_floating(x),), "tanh")


class ReLU(Kernel):
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""

    @staticmethod
    def forward(net):
        return (np.maximum(net, 0),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * (outputs[0] > 0),)


def relu(x: Tensor) -> Tensor:
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""
    return kernel_result(ReLU, (x,), "relu")


class LeakyReLU(Kernel):
    """out = net where net > 0, else α·net;  ∂out/∂net = 1 or α."""

    @staticmethod
    def forward(net, negative_slope):
        return (np.where(net > 0, net, net * negative_slope),)

    @staticmethod
    def backward(g, inputs, outputs, needs, negative_slope):
        return (np.where(inputs[0] > 0, g, g * negative_slope),)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """out = net where net > 0, else α·net;  ∂out/∂net = 1 or α."""
    return kernel_result(LeakyReLU, (_floating(x),), "leaky_relu", negative_slope=negative_slope)


class Softplus(Kernel):
    """out = ln(1 + e^net);  ∂out/∂net = σ(net).

    Computed as max(net, 0) + ln(1 + e^(−|net|)), finite for any |net|.
    """

    @staticmethod
    def forward(net):
        return (np.maximum(net, 0) + np.log1p(np.exp(-np.abs(net))),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * Sigmoid.forward(inputs[0])[0],)


def softplus(x: Tensor) -> Tensor:
    """out = ln(1 + e^net);  ∂out/∂net = σ(net)."""
    return kernel_result(Softplus, (_floating(x),), "softplus")


def softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax of a NumPy array along `axis`: e^(z_i) / Σ_j e^(z_j), as a new array.

    The one softmax on arrays that the library computes (the `softmax` op, the cross-entropy,
    explain's probabilities and predictions all call it). The max is subtracted first (it
    cancels), so large inputs cannot overflow.
    """
    out = np.exp(z - z.max(axis=axis, keepdims=True))
    out /= out.sum(axis=axis, keepdims=True)
    return out


def log_softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """ln softmax(z) along `axis`: z_i − ln Σ_j e^(z_j), shifted by the max, finite for any
    finite input."""
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """out_i = e^(x_i) / Σ_j e^(x_j) along `axis`;  ∂E/∂x = out·(g − Σ_j g_j·out_j).

    The max is subtracted first (it cancels), so large inputs cannot overflow.
    """
    axis = normalize_axis("softmax", axis, x.data.shape)
    out = softmax_array(x.data.astype(float_dtype_of(x), copy=False), axis)

    def vjp(g: np.ndarray) -> tuple:
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return result(out, (x,), vjp, "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """out_i = x_i − ln Σ_j e^(x_j) along `axis`;  ∂E/∂x = g − softmax(x)·Σ_j g_j.

    Shifted by the max before the exponential, so it is finite for any finite input.
    """
    axis = normalize_axis("log_softmax", axis, x.data.shape)
    data = x.data.astype(float_dtype_of(x), copy=False)
    out = log_softmax_array(data, axis)

    def vjp(g: np.ndarray) -> tuple:
        return (g - softmax_array(data, axis) * g.sum(axis=axis, keepdims=True),)

    return result(out, (x,), vjp, "log_softmax")
