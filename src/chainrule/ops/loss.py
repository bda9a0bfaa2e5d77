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

from typing import Any, Literal

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.ops.base import float_dtype_of, lift, operands, result
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


def _reduce(op: str, per_item: np.ndarray, reduction: str) -> tuple[np.ndarray, float]:
    """Apply the batch reduction; also return the scale ∂E/∂item that it implies."""
    if reduction == "mean":
        n = per_item.size or 1
        return np.asarray(per_item.sum() / n, dtype=per_item.dtype), 1.0 / n
    if reduction == "sum":
        return np.asarray(per_item.sum(), dtype=per_item.dtype), 1.0
    if reduction == "none":
        return per_item, 1.0
    raise ConfigError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _per_item(g: np.ndarray, scale: float, reduction: str) -> np.ndarray:
    """∂E/∂item: the incoming gradient times the reduction's factor (broadcasts to the items)."""
    return g if reduction == "none" else g * scale


def half_squared_error(y: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """The notes' error: E = ½ Σ_o (t_o − y_o)² per sample, then reduced over the samples.

    y, t: (outputs,) for one sample or (samples, outputs).  reduction: "mean" (default) averages
    the per-sample errors over the batch, "sum" adds them, "none" returns one per sample.
    ∂E/∂y_o = y_o − t_o (times 1/samples for "mean"; Note [why the ½]).
    """
    y, t = _pair("half_squared_error", y, t)
    diff = y.data - t.data
    if reduction == "none":
        out, scale = 0.5 * (diff * diff).sum(axis=-1), 1.0
    else:
        # Σ over samples of ½ Σ_o diff² is ½·(diff · diff); one call instead of four.
        total, scale = np.vdot(diff, diff), 1.0
        if reduction == "mean":
            scale = 1.0 / (diff.size // diff.shape[-1] if diff.ndim else 1)
        elif reduction != "sum":
            _reduce("half_squared_error", diff, reduction)  # raises the reduction error
        out = np.asarray(0.5 * scale * total, dtype=diff.dtype)

    def vjp(g: np.ndarray) -> tuple:
        gy = diff * (g[..., None] if reduction == "none" else g * scale)
        return (gy if y.requires_grad else None, -gy if t.requires_grad else None)

    return result(out, (y, t), vjp, "half_squared_error")


def mse(y: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """Mean squared error: E = (1/N) Σ (y − t)² over all N elements (no ½);  ∂E/∂y = 2(y − t)/N."""
    y, t = _pair("mse", y, t)
    diff = y.data - t.data
    out, scale = _reduce("mse", diff * diff, reduction)

    def vjp(g: np.ndarray) -> tuple:
        gy = diff * (2 * _per_item(g, scale, reduction))
        return (gy if y.requires_grad else None, -gy if t.requires_grad else None)

    return result(out, (y, t), vjp, "mse")


def _check_binary_targets(op: str, t: np.ndarray) -> None:
    if t.size and (np.nanmin(t) < 0 or np.nanmax(t) > 1):
        raise DataError(f"{op}: targets must lie in [0, 1], got values from {t.min()} to {t.max()}")


def binary_cross_entropy(p: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """E = −[t·ln p + (1 − t)·ln(1 − p)] per element, for probabilities p (e.g. sigmoid outputs).

    ∂E/∂p = (p − t) / (p·(1 − p)),  ∂E/∂t = ln(1 − p) − ln p.  Logs are floored at −100 so
    p = 0 or 1 stays finite; prefer `binary_cross_entropy_with_logits`, exact for any logit.
    """
    p, t = _pair("binary_cross_entropy", p, t)
    _check_binary_targets("binary_cross_entropy", t.data)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p.data), -100)
        log_q = np.maximum(np.log1p(-p.data), -100)
    per_item = -(t.data * log_p + (1 - t.data) * log_q)
    out, scale = _reduce("binary_cross_entropy", per_item, reduction)

    def vjp(g: np.ndarray) -> tuple:
        tiny = np.finfo(p.data.dtype).tiny
        safe = np.clip(p.data * (1 - p.data), tiny, None)
        gE = _per_item(g, scale, reduction)
        return (gE * (p.data - t.data) / safe if p.requires_grad else None,
                gE * (log_q - log_p) if t.requires_grad else None)

    return result(out, (p, t), vjp, "binary_cross_entropy")


def binary_cross_entropy_with_logits(z: Any, t: Any, reduction: Reduction = "mean") -> Tensor:
    """E = −[t·ln σ(z) + (1 − t)·ln(1 − σ(z))] per element, for logits z.

    ∂E/∂z = σ(z) − t,  ∂E/∂t = −z.

    Computed as max(z, 0) − t·z + ln(1 + e^(−|z|)), finite for any z.
    """
    z, t = _pair("binary_cross_entropy_with_logits", z, t)
    _check_binary_targets("binary_cross_entropy_with_logits", t.data)
    data = z.data
    per_item = np.maximum(data, 0) - t.data * data + np.log1p(np.exp(-np.abs(data)))
    out, scale = _reduce("binary_cross_entropy_with_logits", per_item, reduction)

    def vjp(g: np.ndarray) -> tuple:
        gE = _per_item(g, scale, reduction)
        sigma = 0.5 * np.tanh(0.5 * data) + 0.5
        return (gE * (sigma - t.data) if z.requires_grad else None,
                -gE * data if t.requires_grad else None)

    return result(out, (z, t), vjp, "binary_cross_entropy_with_logits")


def cross_entropy(logits: Tensor, labels: Any, reduction: Reduction = "mean") -> Tensor:
    """E = −ln softmax(z)[label] per sample, for logits z (samples, classes) and integer labels.

    ∂E/∂z = softmax(z) − onehot(label).  Uses a max-shifted log-softmax, finite for any logits.
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
    data = z.data.astype(float_dtype_of(z), copy=False)
    shifted = data - data.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    totals = exps.sum(axis=-1, keepdims=True)
    picked = (labels,) if data.ndim == 1 else (np.arange(len(labels)), labels)
    out, scale = _reduce("cross_entropy", np.log(totals[..., 0]) - shifted[picked], reduction)

    def vjp(g: np.ndarray) -> tuple:
        grad = exps / totals  # softmax(z)
        grad[picked] -= 1  # − onehot(label)
        grad *= g[..., None] if reduction == "none" else g * scale
        return (grad,)

    return result(out, (z,), vjp, "cross_entropy")
