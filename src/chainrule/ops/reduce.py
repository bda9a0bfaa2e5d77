"""Reductions: sum, mean, max and logsumexp over axes, and how their gradients spread back."""

from __future__ import annotations

import numpy as np

from chainrule.ops.base import float_dtype_of, normalize_axis, result
from chainrule.tensor import Tensor

Axis = int | tuple[int, ...] | None


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to the input."""
    return g if keepdims else np.expand_dims(g, axes)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = Σ x over `axis`;  ∂out/∂x_i = 1, so every x_i receives the gradient of its sum."""
    axes = normalize_axis("sum", axis, x.data.shape)
    out = x.data.sum(axis=axes, keepdims=keepdims)

    def vjp(g: np.ndarray) -> tuple:
        return (np.broadcast_to(_expand(g, axes, keepdims), x.data.shape),)

    return result(np.asarray(out), (x,), vjp, "sum")


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = (1/n) Σ x over `axis`;  ∂out/∂x_i = 1/n."""
    axes = normalize_axis("mean", axis, x.data.shape)
    n = int(np.prod([x.data.shape[a] for a in axes]))
    out = x.data.mean(axis=axes, keepdims=keepdims, dtype=float_dtype_of(x))

    def vjp(g: np.ndarray) -> tuple:
        return (np.broadcast_to(_expand(g, axes, keepdims) / n, x.data.shape),)

    return result(np.asarray(out), (x,), vjp, "mean")


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = max x over `axis`;  the gradient goes to the maximal element (split evenly on ties)."""
    axes = normalize_axis("max", axis, x.data.shape)
    kept = x.data.max(axis=axes, keepdims=True)
    out = kept if keepdims else np.squeeze(kept, axis=axes)

    def vjp(g: np.ndarray) -> tuple:
        winners = x.data == kept
        share = winners / winners.sum(axis=axes, keepdims=True)
        return ((_expand(g, axes, keepdims) * share).astype(x.data.dtype, copy=False),)

    return result(np.asarray(out), (x,), vjp, "max")


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = ln Σ e^x over `axis`;  ∂out/∂x = softmax(x).  Shifted by the max: cannot overflow."""
    axes = normalize_axis("logsumexp", axis, x.data.shape)
    data = x.data.astype(float_dtype_of(x), copy=False)
    peak = data.max(axis=axes, keepdims=True)
    exps = np.exp(data - peak)
    total = exps.sum(axis=axes, keepdims=True)
    kept = peak + np.log(total)
    out = kept if keepdims else np.squeeze(kept, axis=axes)

    def vjp(g: np.ndarray) -> tuple:
        return (_expand(g, axes, keepdims) * (exps / total),)

    return result(np.asarray(out), (x,), vjp, "logsumexp")
