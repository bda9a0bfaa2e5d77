"""Reductions: sum, mean, max and logsumexp over axes, and how their gradients spread back.

Each op's `axes` attribute is a sorted tuple of non-negative axes (`normalize_axis`), so a
reduced gradient gets its reduced axes back by `np.expand_dims(g, axes)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops.base import Function, floating, lift, normalize_axis, run
from chainrule.tensor import Tensor

Axis = int | tuple[int, ...] | None


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to the input."""
    return g if keepdims else np.expand_dims(g, axes)


def _reduction(op: type[Function], x: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = lift(x)
    return run(op, (x,), axes=normalize_axis(op.name, axis, x.data.shape), keepdims=keepdims)


class SumOp(Function):
    """out = Σ x over `axes`;  ∂out/∂x_i = 1, so every x_i receives the gradient of its sum."""

    name = "sum"

    @staticmethod
    def forward(x, axes, keepdims):
        return (np.asarray(x.sum(axis=axes, keepdims=keepdims)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        return (np.broadcast_to(_expand(g, axes, keepdims), inputs[0].shape),)


class MeanOp(Function):
    """out = (1/n) Σ x over `axes`;  ∂out/∂x_i = 1/n."""

    name = "mean"

    @staticmethod
    def forward(x, axes, keepdims):
        return (np.asarray(x.mean(axis=axes, keepdims=keepdims,
                                  dtype=x.dtype if x.dtype.kind == "f" else None)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x = inputs[0]
        n = int(np.prod([x.shape[a] for a in axes]))
        return (np.broadcast_to(_expand(g, axes, keepdims) / n, x.shape),)


class MaxOp(Function):
    """out = max x over `axes`;  the gradient goes to the maximal element (split evenly on ties)."""

    name = "max"

    @staticmethod
    def forward(x, axes, keepdims):
        kept = x.max(axis=axes, keepdims=True)
        return (np.asarray(kept if keepdims else np.squeeze(kept, axis=axes)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x = inputs[0]
        winners = x == _expand(outputs[0], axes, keepdims)
        share = winners / winners.sum(axis=axes, keepdims=True)
        return ((_expand(g, axes, keepdims) * share).astype(x.dtype, copy=False),)


class LogsumexpOp(Function):
    """out = ln Σ e^x over `axes`;  ∂out/∂x = softmax(x) = e^(x − out).

    Shifted by the max, so it cannot overflow. A row of only −∞ gives −∞ (the sum is 0) and a
    row holding +∞ gives +∞, as in PyTorch; their gradients are 0 for the −∞ row and, for a +∞
    row, 1/k on each of its k infinite entries and 0 elsewhere (softmax's limit), where a plain
    formula would give nan.
    """

    name = "logsumexp"

    @staticmethod
    def forward(x, axes, keepdims):
        peak = x.max(axis=axes, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, np.zeros((), x.dtype))  # ±∞ rows: no shift
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = peak + np.log(np.exp(x - peak).sum(axis=axes, keepdims=True))
        kept = np.where(np.isposinf(x).any(axis=axes, keepdims=True), np.inf, kept) \
            .astype(x.dtype, copy=False)
        return (np.asarray(kept if keepdims else np.squeeze(kept, axis=axes)),)

    @staticmethod
    def backward(g, inputs, outputs, needs, axes, keepdims):
        x, out = inputs[0], _expand(outputs[0], axes, keepdims)
        finite = np.isfinite(out)
        with np.errstate(invalid="ignore"):
            weights = np.exp(x - np.where(finite, out, 0))
        weights = np.where(finite, weights, 0)
        infinite = np.isposinf(x) & np.isposinf(out)  # a +∞ row: its infinite entries share
        if infinite.any():
            count = np.maximum(infinite.sum(axis=axes, keepdims=True), 1)
            weights = np.where(infinite, 1 / count, weights)
        return ((_expand(g, axes, keepdims) * weights).astype(x.dtype, copy=False),)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = Σ x over `axis` (see `SumOp`)."""
    return _reduction(SumOp, x, axis, keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = (1/n) Σ x over `axis` (see `MeanOp`); integer tensors average in the default dtype."""
    return _reduction(MeanOp, floating(x), axis, keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = max x over `axis` (see `MaxOp`)."""
    return _reduction(MaxOp, x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """out = ln Σ e^x over `axis` (see `LogsumexpOp`)."""
    return _reduction(LogsumexpOp, floating(x), axis, keepdims)
