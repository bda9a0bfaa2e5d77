"""Gradient clipping, as torch.nn.utils: call it after backward() and before optimizer.step().

    E.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # or clip_grad_value_(..., 0.5)
    optimizer.step()

clip_grad_norm_ rescales all gradients together, so the update keeps its direction and only
its length is capped; clip_grad_value_ clamps each entry on its own, which can turn it.
Both change `.grad` in place and skip parameters without one (frozen, or unused by the loss).

Note [non-finite norm]
    With a NaN or infinite gradient the total norm is NaN or inf. PyTorch (by default,
    error_if_nonfinite=False) scales anyway, by max_norm/inf = 0 or by NaN, which turns every
    gradient into 0 or NaN and hides which one went bad. Here the gradients are left as they
    are and the non-finite norm is returned: the caller sees it, and `fit` then stops with a
    DivergenceError naming the first parameter whose gradient is not finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from chainrule.errors import ConfigError
from chainrule.tensor import Tensor
from chainrule.validate import is_real, positive_finite, show

__all__ = ["clip_grad_norm_", "clip_grad_value_"]

EPS = 1e-6
"""Added to the total norm before dividing, as PyTorch does: the clipped norm is just below
max_norm, and a zero norm never divides."""


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0) -> float:
    """Scale the gradients in place so their total norm is at most `max_norm`; return the total
    norm before clipping.

    The total norm is the `norm_type`-norm of all gradients as if concatenated into one vector
    (norm_type=math.inf: the largest absolute entry), computed in float64 and without overflow
    for any finite gradients. Where it exceeds max_norm (precisely, as PyTorch: where
    max_norm / (total + 1e-6) < 1), every gradient is multiplied by that factor. Parameters
    without a .grad are skipped; with none at all the norm is 0.0. A non-finite norm is
    returned and the gradients are left unchanged (Note [non-finite norm]).

    >>> w = Tensor([0.0, 0.0], requires_grad=True)
    >>> w.grad = np.array([3.0, 4.0])
    >>> clip_grad_norm_(w, max_norm=1.0)
    5.0
    >>> w.grad.round(6).tolist()
    [0.6, 0.8]
    """
    owner = "clip_grad_norm_"
    max_norm = positive_finite(owner, "max_norm", max_norm)
    if not (is_real(norm_type) and norm_type > 0):  # NaN fails the comparison too
        raise ConfigError(f"{owner}: norm_type must be a positive number (or math.inf), got "
                          f"{show(norm_type)}")
    norm_type = float(norm_type)
    params = _with_grads(owner, parameters)
    total = _norm([_norm(np.abs(p.grad, dtype=np.float64), norm_type) for p in params],
                  norm_type)
    coefficient = max_norm / (total + EPS)
    if math.isfinite(total) and coefficient < 1:
        _scale(params, coefficient)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry in place to [-clip_value, clip_value].

    Parameters without a .grad are skipped. NaN entries stay NaN (Note [non-finite norm]).

    >>> w = Tensor([0.0, 0.0, 0.0], requires_grad=True)
    >>> w.grad = np.array([-3.0, 0.25, 2.0])
    >>> clip_grad_value_(w, 0.5)
    >>> w.grad.tolist()
    [-0.5, 0.25, 0.5]
    """
    owner = "clip_grad_value_"
    clip_value = positive_finite(owner, "clip_value", clip_value)
    params = _with_grads(owner, parameters)
    for p in params:
        g = p.grad
        if g.flags.writeable:  # clamping twice is clamping once: shared arrays are fine
            np.clip(g, -clip_value, clip_value, out=g)
        else:
            p.grad = np.clip(g, -clip_value, clip_value)


def _with_grads(owner: str, parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The tensors among `parameters` (one Tensor or an iterable of them) that have a .grad."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    elif not isinstance(parameters, Iterable):
        raise TypeError(f"{owner}: parameters must be a Tensor or an iterable of Tensors, got "
                        f"{type(parameters).__name__}")
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: parameters must be Tensors, got a {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def _norm(values: Iterable[float] | np.ndarray, norm_type: float) -> float:
    """The norm_type-norm of non-negative float64 values, scaled by the largest so that no
    power overflows: m·(Σ (v/m)^p)^(1/p). NaN in, NaN out; inf in, inf out."""
    a = np.asarray(values, dtype=np.float64)
    m = float(a.max(initial=0.0))
    if norm_type == math.inf or m == 0 or not math.isfinite(m):  # max() propagates NaN
        return m
    if norm_type == 1:
        return float(a.sum())
    return m * float(np.sum((a / m) ** norm_type)) ** (1 / norm_type)


def _scale(params: list[Tensor], coefficient: float) -> None:
    """Multiply each .grad by `coefficient`: in place, except a gradient that is read-only or
    shares memory with an earlier one (a traced step can hand one array to two parameters),
    which gets a scaled copy, made before anything is scaled in place."""
    owned: list[np.ndarray] = []
    copies: list[tuple[Tensor, np.ndarray]] = []
    for p in params:
        g = p.grad
        if g.flags.writeable and not any(np.may_share_memory(g, o) for o in owned):
            owned.append(g)
        else:
            copies.append((p, np.asarray(g * coefficient)))
    for g in owned:
        g *= coefficient
    for p, scaled in copies:
        p.grad = scaled
