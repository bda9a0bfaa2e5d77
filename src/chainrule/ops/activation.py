"""Activations, each with its textbook derivative computed from what the forward kept.

Teaching ops stay whole: an explanation can say ∂out/∂net = out·(1 − out) for a sigmoid unit
because sigmoid is one op whose VJP uses its saved output, not five primitive steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.base import Function, floating, lift, normalize_axis, run
from chainrule.tensor import Tensor


class SigmoidOp(Function):
    """out = σ(net) = 1 / (1 + e^(−net));  ∂out/∂net = out·(1 − out).

    Computed just as written, in place: for net < 0, e^(−net) is large and 1/(1 + e^(−net)) keeps
    full relative precision (σ(−20) = 2.06e-9 in float32), unlike ½·tanh(net/2) + ½, which
    cancels to 0 there. Below net ≈ −88 (float32) or −709 (float64), e^(−net) overflows to ∞
    and out = 1/∞ = 0, the true value then being under the smallest normal float; that
    overflow is expected, so it does not warn.
    """

    name = "sigmoid"
    takes_out = True

    @staticmethod
    def forward(net, out=None):
        # an array even for 0-d input, so that the in-place steps below work
        s = np.empty_like(net) if out is None else out[0]
        np.negative(net, out=s)
        with np.errstate(over="ignore"):
            np.exp(s, out=s)
        s += 1
        np.reciprocal(s, out=s)
        return (s,)

    @staticmethod
    def backward(g, inputs, outputs, needs, out=(None,)):
        s = outputs[0]
        d = np.subtract(1, s, out=out[0])  # g·(out·(1 − out)), the products in that order
        d *= s
        d *= g
        return (d,)


def sigmoid(x: Tensor) -> Tensor:
    """out = σ(net);  ∂out/∂net = out·(1 − out) (see `Sigmoid`)."""
    return run(SigmoidOp, (floating(x),))


class TanhOp(Function):
    """out = tanh(net);  ∂out/∂net = 1 − out²."""

    name = "tanh"
    takes_out = True

    @staticmethod
    def forward(net, out=None):
        return (np.tanh(net, out=None if out is None else out[0]),)

    @staticmethod
    def backward(g, inputs, outputs, needs, out=(None,)):
        s = outputs[0]
        d = np.multiply(s, s, out=out[0])  # g·(1 − out²)
        d = np.subtract(1, d, out=out[0])
        d *= g
        return (d,)


def tanh(x: Tensor) -> Tensor:
    """out = tanh(net);  ∂out/∂net = 1 − out²."""
    return run(TanhOp, (floating(x),))


class ReLUOp(Function):
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""

    name = "relu"
    takes_out = True

    @staticmethod
    def forward(net, out=None):
        return (np.maximum(net, 0, out=None if out is None else out[0]),)

    @staticmethod
    def backward(g, inputs, outputs, needs, out=(None,)):
        return (np.multiply(g, outputs[0] > 0, out=out[0]),)


def relu(x: Any) -> Tensor:
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""
    return run(ReLUOp, (lift(x),))


class LeakyReLUOp(Function):
    """out = net where net > 0, else α·net;  ∂out/∂net = 1 or α."""

    name = "leaky_relu"

    @staticmethod
    def forward(net, negative_slope):
        return (np.where(net > 0, net, net * negative_slope),)

    @staticmethod
    def backward(g, inputs, outputs, needs, negative_slope):
        return (np.where(inputs[0] > 0, g, g * negative_slope),)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """out = net where net > 0, else α·net;  ∂out/∂net = 1 or α."""
    return run(LeakyReLUOp, (floating(x),), negative_slope=negative_slope)


class SoftplusOp(Function):
    """out = ln(1 + e^net);  ∂out/∂net = σ(net).

    Computed as max(net, 0) + ln(1 + e^(−|net|)), finite for any |net|.
    """

    name = "softplus"

    @staticmethod
    def forward(net):
        return (np.maximum(net, 0) + np.log1p(np.exp(-np.abs(net))),)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return (g * SigmoidOp.forward(inputs[0])[0],)


def softplus(x: Tensor) -> Tensor:
    """out = ln(1 + e^net);  ∂out/∂net = σ(net)."""
    return run(SoftplusOp, (floating(x),))


def softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax of a NumPy array along `axis`: e^(z_i) / Σ_j e^(z_j), as a new array.

    The one softmax on arrays that the library computes (the `softmax` op, the cross-entropy,
    explain's probabilities and predictions all call it). The max is subtracted first (it
    cancels), so large inputs cannot overflow.
    """
    _, out, total = softmax_parts(z, axis)
    out /= total
    return out


def log_softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """ln softmax(z) along `axis`: z_i − ln Σ_j e^(z_j), shifted by the max, finite for any
    finite input."""
    shifted, _, total = softmax_parts(z, axis)
    return shifted - np.log(total)


def softmax_parts(z: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What softmax and log-softmax share: z shifted by its max along `axis`, e^shifted (a new
    array) and its sum along `axis` (kept as an axis of length 1); the cross-entropy uses
    both from one pass."""
    shifted = z - z.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return shifted, exp, exp.sum(axis=axis, keepdims=True)


class SoftmaxOp(Function):
    """out_i = e^(x_i) / Σ_j e^(x_j) along `axis`;  ∂E/∂x = out·(g − Σ_j g_j·out_j).

    The max is subtracted first (it cancels), so large inputs cannot overflow.
    """

    name = "softmax"

    @staticmethod
    def forward(x, axis):
        return (softmax_array(x, axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        out = outputs[0]
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)


class LogSoftmaxOp(Function):
    """out_i = x_i − ln Σ_j e^(x_j) along `axis`;  ∂E/∂x = g − softmax(x)·Σ_j g_j.

    Shifted by the max before the exponential, so it is finite for any finite input.
    """

    name = "log_softmax"

    @staticmethod
    def forward(x, axis):
        return (log_softmax_array(x, axis),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axis):
        return (g - np.exp(outputs[0]) * g.sum(axis=axis, keepdims=True),)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """out_i = e^(x_i) / Σ_j e^(x_j) along `axis` (see `SoftmaxOp`)."""
    x = floating(x)
    return run(SoftmaxOp, (x,), axis=normalize_axis("softmax", axis, x.data.shape))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """out_i = x_i − ln Σ_j e^(x_j) along `axis` (see `LogSoftmaxOp`)."""
    x = floating(x)
    return run(LogSoftmaxOp, (x,), axis=normalize_axis("log_softmax", axis, x.data.shape))
