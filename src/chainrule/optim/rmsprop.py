"""RMSprop: divide each step by a running root-mean-square of recent gradients."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainrule.optim.optimizer import Optimizer, Parameter, state_buffer
from chainrule.validate import nonnegative_finite, positive_finite, unit_interval


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes, 2012), in PyTorch's published (uncentered) form.

    With g = ∂E/∂W (+ λ·W when weight_decay λ > 0: L2, Note [weight decay]) and learning rate η:

        v ← α·v + (1 − α)·g²                  running mean of the squared gradient, v₀ = 0
        momentum μ = 0:  W ← W − η·g / (√v + ε)
        momentum μ > 0:  b ← μ·b + g / (√v + ε)     b₀ = 0
                         W ← W − η·b

    Unlike Adam, v is not bias-corrected: the first steps are larger, by up to 1/√(1 − α).

    params: iterable of parameters, or of groups (Note [parameter groups] in optimizer.py).
    lr: η > 0.  alpha: α in [0, 1).  eps: ε > 0.
    momentum: μ in [0, 1).  weight_decay: λ ≥ 0.

    >>> import chainrule as cr
    >>> w = cr.tensor(np.array([0.40]), requires_grad=True)
    >>> w.grad = np.array([0.1])
    >>> RMSprop([w], lr=0.01).step()      # v = 0.01·0.1², W − 0.01·0.1/(√v + ε) ≈ 0.3
    >>> w.data
    array([0.3000001])
    """

    _state_names = ("square_avg", "momentum_buffer")
    _elementwise = True

    def _buffers(self, group: dict) -> tuple[str, ...]:
        return self._state_names if group["momentum"] > 0.0 else ("square_avg",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, alpha=alpha, eps=eps, momentum=momentum,
                         weight_decay=weight_decay)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, scratch: np.ndarray,
                group: dict) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        v = state_buffer(state, "square_avg", w)

        # v ← α·v + (1 − α)·g²
        v *= alpha
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - alpha
        v += scratch

        # scratch ← g / (√v + ε)
        np.sqrt(v, out=scratch)
        scratch += group["eps"]
        np.divide(g, scratch, out=scratch)

        if momentum > 0.0:
            # b ← μ·b + g / (√v + ε);  W ← W − η·b
            b = state_buffer(state, "momentum_buffer", w)
            b *= momentum
            b += scratch
            np.copyto(scratch, b)
        # W ← W − η·scratch
        scratch *= group["lr"]
        w -= scratch

    def _l2_weight_decay(self, group: dict) -> float:
        return group["weight_decay"]

    def _check(self, owner: str, hyper: dict) -> dict:
        return {
            "alpha": unit_interval(owner, "alpha", hyper["alpha"]),
            "eps": positive_finite(owner, "eps", hyper["eps"]),
            "momentum": unit_interval(owner, "momentum", hyper["momentum"]),
            "weight_decay": nonnegative_finite(owner, "weight_decay", hyper["weight_decay"]),
        }
