"""Losses: the error E between a prediction y and a target t, and ∂E/∂y.

Targets are usually data, but every loss with real-valued targets also passes a gradient to t
(for soft targets or distillation); integer class labels have none. Prediction and target must
have the same shape — no broadcasting, because (n, 1) against (n,) silently builds an (n, n)
error in NumPy.

Note [why the ½]
    The notes' E = ½ Σ (t − y)² has ∂E/∂y = −(t − y) = y − t: the ½ cancels the 2 that the
    power rule brings down, so the error term of an output unit is just "output minus target".
    `mse` is the mean of (y − t)² without the ½, as most libraries define it; its gradient is
    twice as large per element (before the mean), which matters when comparing learning rates.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.ops.activation import SigmoidOp, softmax_parts
from chainrule.ops.base import Function, floating, lift, operands, run
from chainrule.tensor import Tensor

Reduction = Literal["mean", "sum", "none"]


def _pair(op: str, y: Any, t: Any) -> tuple[Tensor, Tensor]:
    y, t = operands(op, y, t)
    if y.data.shape != t.data.shape:
        raise ShapeError(
            f"{op}: prediction of shape {y.data.shape} and target of shape {t.data.shape} "
            f"differ; give the target the prediction's shape, e.g. t.reshape{y.data.shape}"
        )
    return y, t


def _reduction(op: str, reduction: str, items: tuple[int, ...]) -> float:
    """The factor ∂E/∂item that the batch reduction implies (checking the reduction's name).

    items: the shape of the per-item errors (per sample, or per element for mse and bce).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ConfigError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return 1.0 / max(math.prod(items), 1) if reduction == "mean" else 1.0


def _reduce(per_item: np.ndarray, reduction: str, scale: float) -> np.ndarray:
    return per_item if reduction == "none" else per_item.sum() * scale


def _factor(g: np.ndarray, reduction: str, scale: float) -> np.ndarray:
    """∂E/∂item: the incoming gradient times the reduction's factor (broadcasts to the items)."""
    return g if reduction == "none" else g * scale


def _pair_grads(gy: np.ndarray, needs: tuple) -> tuple:
    """(∂E/∂y, ∂E/∂t) for losses of a difference y − t: ∂E/∂t = −∂E/∂y."""
    return (gy if needs[0] else None, -gy if needs[1] else None)


class HalfSquaredErrorOp(Function):
    """The notes' error E = ½ Σ_o (t_o − y_o)² per sample;  ∂E/∂y_o = y_o − t_o, ∂E/∂t = −∂E/∂y.

    outputs: (E, diff = y − t).  For "mean" and "sum" the per-sample sum is one dot product,
    Σ over samples of ½ Σ_o diff² = ½·(diff · diff).
    """

    name = "half_squared_error"
    keeps = ("diff",)

    @staticmethod
    def forward(y, t, reduction, scale):
        diff = y - t
        if reduction == "none":
            return 0.5 * (diff * diff).sum(axis=-1), diff
        return 0.5 * scale * np.vdot(diff, diff), diff

    @staticmethod
    def backward(g, inputs, outputs, needs, reduction, scale):
        factor = g[..., None] if reduction == "none" else g * scale
        return _pair_grads(outputs[1] * factor, needs)


def half_squared_error(y: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """The notes' error: E = ½ Σ_o (t_o − y_o)² per sample, then reduced over the samples.

    y, t: (outputs,) for one sample or (samples, outputs).  reduction: "mean" (default) averages
    the per-sample errors over the batch, "sum" adds them, "none" returns one per sample.
    ∂E/∂y_o = y_o − t_o (times 1/samples for "mean"; Note [why the ½]).
    """
    y, t = _pair("half_squared_error", y, t)
    scale = _reduction("half_squared_error", reduction, y.data.shape[:-1])
    return run(HalfSquaredErrorOp, (y, t), reduction=reduction,
                         scale=scale)


class MeanSquaredErrorOp(Function):
    """E = (y − t)² per element;  ∂E/∂y = 2(y − t), ∂E/∂t = −∂E/∂y.  outputs: (E, diff)."""

    name = "mse"
    keeps = ("diff",)

    @staticmethod
    def forward(y, t, reduction, scale):
        diff = y - t
        if reduction == "none":
            return diff * diff, diff
        return scale * np.vdot(diff, diff), diff

    @staticmethod
    def backward(g, inputs, outputs, needs, reduction, scale):
        return _pair_grads(outputs[1] * (2 * _factor(g, reduction, scale)), needs)


def mse(y: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """Mean squared error: E = (1/N) Σ (y − t)² over all N elements (no ½);  ∂E/∂y = 2(y − t)/N."""
    y, t = _pair("mse", y, t)
    scale = _reduction("mse", reduction, y.data.shape)
    return run(MeanSquaredErrorOp, (y, t), reduction=reduction, scale=scale)


def _check_binary_targets(op: str, t: np.ndarray) -> None:
    if t.size and (np.nanmin(t) < 0 or np.nanmax(t) > 1):
        raise DataError(f"{op}: targets must lie in [0, 1], got values from {t.min()} to {t.max()}")


class BinaryCrossEntropyOp(Function):
    """E = −[t·ln p + (1 − t)·ln(1 − p)] per element, for probabilities p.

    ∂E/∂p = (p − t) / (p·(1 − p)),  ∂E/∂t = ln(1 − p) − ln p.  Logs are floored at −100 so
    p = 0 or 1 stays finite.  outputs: (E, ln p, ln(1 − p)).
    """

    name = "binary_cross_entropy"
    keeps = ("log_p", "log_q")

    @staticmethod
    def forward(p, t, reduction, scale):
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100)
            log_q = np.maximum(np.log1p(-p), -100)
        return _reduce(-(t * log_p + (1 - t) * log_q), reduction, scale), log_p, log_q

    @staticmethod
    def backward(g, inputs, outputs, needs, reduction, scale):
        (p, t), (_, log_p, log_q) = inputs, outputs
        factor = _factor(g, reduction, scale)
        gp = gt = None
        if needs[0]:
            gp = factor * (p - t) / np.clip(p * (1 - p), np.finfo(p.dtype).tiny, None)
        if needs[1]:
            gt = factor * (log_q - log_p)
        return gp, gt


def binary_cross_entropy(p: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy of probabilities p (e.g. sigmoid outputs); see `BinaryCrossEntropy`.

    Prefer `binary_cross_entropy_with_logits`, which is exact for any logit.
    """
    p, t = _pair("binary_cross_entropy", p, t)
    _check_binary_targets("binary_cross_entropy", t.data)
    scale = _reduction("binary_cross_entropy", reduction, p.data.shape)
    return run(BinaryCrossEntropyOp, (p, t),
                         reduction=reduction, scale=scale)


class BinaryCrossEntropyWithLogitsOp(Function):
    """E = −[t·ln σ(z) + (1 − t)·ln(1 − σ(z))] per element, for logits z.

    ∂E/∂z = σ(z) − t,  ∂E/∂t = −z.  Computed as max(z, 0) − t·z + ln(1 + e^(−|z|)), finite
    for any z.
    """

    name = "binary_cross_entropy_with_logits"

    @staticmethod
    def forward(z, t, reduction, scale):
        per_item = np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))
        return (_reduce(per_item, reduction, scale),)

    @staticmethod
    def backward(g, inputs, outputs, needs, reduction, scale):
        (z, t), factor = inputs, _factor(g, reduction, scale)
        sigma = SigmoidOp.forward(z)[0]
        return (factor * (sigma - t) if needs[0] else None, -factor * z if needs[1] else None)


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy on logits z; see `BinaryCrossEntropyWithLogits`."""
    z, t = _pair("binary_cross_entropy_with_logits", z, t)
    _check_binary_targets("binary_cross_entropy_with_logits", t.data)
    scale = _reduction("binary_cross_entropy_with_logits", reduction, z.data.shape)
    return run(BinaryCrossEntropyWithLogitsOp, (z, t), reduction=reduction, scale=scale)


class CrossEntropyOp(Function):
    """E = −ln softmax(z)[label] per sample;  ∂E/∂z = softmax(z) − onehot(label).

    Uses a max-shifted log-softmax, finite for any logits.  outputs: (E, softmax(z)).
    """

    name = "cross_entropy"
    keeps = ("probabilities",)

    @staticmethod
    def forward(z, labels, reduction, scale):
        picked = (labels,) if z.ndim == 1 else (np.arange(len(labels)), labels)
        shifted, probabilities, total = softmax_parts(z)
        per_sample = -(shifted[picked] - np.log(total[..., 0]))  # −log_softmax(z)[label]
        probabilities /= total  # softmax(z)
        return _reduce(per_sample, reduction, scale), probabilities

    @staticmethod
    def backward(g, inputs, outputs, needs, reduction, scale):
        z, labels = inputs
        picked = (labels,) if z.ndim == 1 else (np.arange(len(labels)), labels)
        grad = outputs[1].copy()  # softmax(z)
        grad[picked] -= 1  # − onehot(label)
        grad *= g[..., None] if reduction == "none" else g * scale
        return grad, None


def cross_entropy(logits: Tensor, labels: Any, reduction: Reduction = "mean") -> Tensor:
    """E = −ln softmax(z)[label] per sample, for logits z (samples, classes) and integer labels.

    ∂E/∂z = softmax(z) − onehot(label) (see `CrossEntropy`).
    """
    z = lift(logits)
    labels = np.asarray(lift(labels).data)
    if z.data.ndim not in (1, 2):
        raise ShapeError(
            f"cross_entropy: logits must be (classes,) or (samples, classes), got {z.data.shape}"
        )
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and \
                np.array_equal(labels, np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise DataError(
                f"cross_entropy: labels must be integer class indices, got dtype {labels.dtype}"
            )
    if labels.shape != z.data.shape[:-1]:
        raise ShapeError(
            f"cross_entropy: logits of shape {z.data.shape} need labels of shape "
            f"{z.data.shape[:-1]}, got {labels.shape}"
        )
    classes = z.data.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)].flat[0]
        raise DataError(
            f"cross_entropy: label {bad} is out of range for {classes} classes "
            f"(labels must be 0..{classes - 1})"
        )
    z = floating(z)
    scale = _reduction("cross_entropy", reduction, labels.shape)
    return run(CrossEntropyOp, (z, Tensor._constant(labels)),
                         reduction=reduction, scale=scale)
