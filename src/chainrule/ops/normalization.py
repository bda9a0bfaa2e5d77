"""Batch normalization: each feature centred and scaled by statistics of the batch.

    x̂ = (x − μ) / √(σ² + eps)      per feature (axis 1), over the batch (and a length axis)

While training, μ and σ² are the batch's own, so every sample's x̂ depends on every other
sample's x, and the backward pass has to say so. Let n be the number of values per feature,
inv = 1/√(σ² + eps) and g = ∂E/∂x̂. Then

    ∂E/∂x = inv · (g − mean(g) − x̂ · mean(g · x̂))          (means over the batch, per feature)

the gradient through x̂ directly, minus what flows back through μ (the mean of g) and through σ²
(the projection on x̂). In eval mode μ and σ² are the running statistics, constants, and the
gradient is g · inv. The affine part (·weight + bias) is ordinary ops on top (nn.BatchNorm1d).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.ops.base import Function, floating, run
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor


class BatchNormOp(Function):
    """x̂ = (x − μ)/√(σ² + eps) per feature (the module's docstring has the backward).

    x: (batch, features) or (batch, features, length). training: μ and σ² (ddof 0) are the
    batch's, and the running statistics (when given) are updated in place: running ←
    (1 − momentum)·running + momentum·batch, the variance's unbiased (×n/(n − 1)), as PyTorch
    does. `start` keeps them as they were before, for `rewind` (a traced step's check). eval: μ
    and σ² are the running statistics. Keeps inv = 1/√(σ² + eps), shaped to broadcast against x.
    """

    name = "batch_norm"
    keeps = ("inv_std",)

    @staticmethod
    def forward(x, running_mean, running_var, momentum, eps, training, start):
        axes, shape = _axes(x)
        if training:
            mu, var = x.mean(axis=axes), x.var(axis=axes)
            if running_mean is not None:
                n = x.size // x.shape[1]
                running_mean *= 1 - momentum
                running_mean += momentum * mu
                running_var *= 1 - momentum
                running_var += momentum * n / (n - 1) * var
        else:
            mu, var = running_mean, running_var
        inv = (1 / np.sqrt(var + eps)).reshape(shape)
        return (x - mu.reshape(shape)) * inv, inv

    @staticmethod
    def backward(g, inputs, outputs, needs, running_mean, running_var, momentum, eps, training,
                 start):
        out, inv = outputs
        if not training:
            return (g * inv,)
        axes, _ = _axes(g)
        centred = g - g.mean(axis=axes, keepdims=True)
        return ((centred - out * (g * out).mean(axis=axes, keepdims=True)) * inv,)

    @staticmethod
    def rewind(running_mean, running_var, momentum, eps, training, start):
        if start is not None:
            running_mean[...], running_var[...] = start


def _axes(x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes statistics are taken over, and the shape that broadcasts them against x."""
    return ((0,), (-1,)) if x.ndim == 2 else ((0, 2), (-1, 1))


def batch_norm(x: Any, running_mean: np.ndarray | None = None,
               running_var: np.ndarray | None = None, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """x̂ · weight + bias, with x̂ of `BatchNormOp` (PyTorch's F.batch_norm, argument for
    argument). x: (batch, features) or (batch, features, length). running_mean, running_var:
    NumPy arrays (features,) of x's dtype, updated in place while training; None while training
    normalizes by the batch alone, and eval mode (training=False) needs them. weight, bias:
    (features,) tensors or None.
    """
    x = floating(x)
    shape, dtype = x.data.shape, x.data.dtype
    if len(shape) not in (2, 3):
        raise ShapeError(f"batch_norm: expected inputs of shape (batch, features) or (batch, "
                         f"features, length), got {shape}")
    if training and x.data.size // shape[1] < 2:
        raise ShapeError(f"batch_norm: a batch of shape {shape} has one value per feature; "
                         "training needs two or more to take statistics over (use a larger "
                         "batch, or eval mode for single samples)")
    if (running_mean is None) != (running_var is None) or (running_mean is None
                                                           and not training):
        raise ConfigError("batch_norm: pass both running_mean and running_var (eval mode, "
                          "training=False, normalizes by them), or neither while training")
    for which, array in (("running_mean", running_mean), ("running_var", running_var)):
        if array is None:
            continue
        if type(array) is not np.ndarray or array.shape != shape[1:2]:
            got = f"shape {array.shape}" if type(array) is np.ndarray else type(array).__name__
            raise ShapeError(f"batch_norm: {which} must be a NumPy array of shape "
                             f"({shape[1]},) for inputs of shape {shape}, got {got}")
        if array.dtype != dtype:
            raise DTypeError(f"batch_norm: {which} is {array.dtype} but the input is {dtype}; "
                             "chainrule never mixes float precisions silently: convert one "
                             "of them")
    start = (running_mean.copy(), running_var.copy()) if training and running_mean is not None \
        else None
    out = run(BatchNormOp, (x,), running_mean=running_mean, running_var=running_var,
              momentum=float(momentum), eps=float(eps), training=bool(training), start=start)
    along = (-1,) if len(shape) == 2 else (-1, 1)  # weight and bias broadcast along axis 1
    if weight is not None:
        out = out * reshape(weight, along)
    if bias is not None:
        out = out + reshape(bias, along)
    return out

