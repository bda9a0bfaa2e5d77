"""Adam and AdamW: steps scaled by running averages of the gradient and of its square."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer, Parameter, state_buffer
from chainrule.validate import nonnegative_finite, positive_finite, unit_interval


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): a per-weight step size from gradient statistics.

    With g = ∂E/∂W (+ λ·W when weight_decay λ > 0: L2, Note [weight decay]), learning rate η,
    and t the number of steps this parameter has taken (this one included):

        m ← β1·m + (1 − β1)·g          running mean of the gradient
        v ← β2·v + (1 − β2)·g²         running mean of its square (elementwise)
        m̂ = m / (1 − β1ᵗ)              corrected for starting at m = v = 0
        v̂ = v / (1 − β2ᵗ)
        W ← W − η·m̂ / (√v̂ + ε)

    On the first step m̂ = g and v̂ = g², so every weight moves by about η against the sign of
    its gradient, whatever the gradient's size.

    params: iterable of parameters, or of groups (Note [parameter groups] in optimizer.py).
    lr: η > 0.  betas: (β1, β2), each in [0, 1).
    eps: ε > 0.  weight_decay: λ ≥ 0, added to the gradient (see AdamW for the decoupled form).

    >>> import chainrule as cr
    >>> w = cr.tensor(np.array([0.40, 0.45]), requires_grad=True)
    >>> w.grad = np.array([0.082167041, -0.02])
    >>> Adam([w], lr=0.1).step()              # each weight moves by η·g/(|g| + ε) ≈ ±0.1
    >>> w.data
    array([0.30000001, 0.54999995])
    """

    _state_names = ("step", "exp_avg", "exp_avg_sq")
    _counter_names = ("step",)
    _elementwise = True
    #: AdamW sets this: weight decay shrinks W directly instead of joining the gradient.
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, scratch: np.ndarray,
                group: dict) -> None:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        m = state_buffer(state, "exp_avg", w)
        v = state_buffer(state, "exp_avg_sq", w)
        t = int(state["step"])  # this step included: step() counts it before the rule runs

        # AdamW only: W ← W − η·λ·W
        if self._decoupled_weight_decay and weight_decay != 0.0:
            w *= 1.0 - lr * weight_decay

        # m ← β1·m + (1 − β1)·g
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=scratch)
        m += scratch

        # v ← β2·v + (1 − β2)·g²
        v *= beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - beta2
        v += scratch

        # W ← W − η·m̂ / (√v̂ + ε), computed as W − (η / (1 − β1ᵗ))·m / (√v / √(1 − β2ᵗ) + ε)
        np.sqrt(v, out=scratch)
        scratch /= math.sqrt(1.0 - beta2**t)
        scratch += group["eps"]
        np.divide(m, scratch, out=scratch)
        scratch *= lr / (1.0 - beta1**t)
        w -= scratch

    def _l2_weight_decay(self, group: dict) -> float:
        return 0.0 if self._decoupled_weight_decay else group["weight_decay"]

    def _check(self, owner: str, hyper: dict) -> dict:
        try:
            beta1, beta2 = hyper["betas"]
        except (TypeError, ValueError):
            raise ConfigError(
                f"{owner}: betas must be a pair (beta1, beta2), got {hyper['betas']!r}"
            ) from None
        return {
            "betas": (unit_interval(owner, "betas[0]", beta1),
                      unit_interval(owner, "betas[1]", beta2)),
            "eps": positive_finite(owner, "eps", hyper["eps"]),
            "weight_decay": nonnegative_finite(owner, "weight_decay", hyper["weight_decay"]),
        }

    def _to_json(self, group: Mapping[str, Any]) -> dict[str, Any]:
        beta1, beta2 = group["betas"]
        return {"beta1": beta1, "beta2": beta2, "eps": group["eps"],
                "weight_decay": group["weight_decay"]}

    def _from_json(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return {"betas": (hyper["beta1"], hyper["beta2"]), "eps": hyper["eps"],
                "weight_decay": hyper["weight_decay"]}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), Note [weight decay].

    The same rule as Adam with g = ∂E/∂W (no L2 term), and before it, each step,

        W ← W − η·λ·W

    so every weight shrinks by the same fraction η·λ, however large its gradients are.

    params, lr, betas, eps: as for Adam.  weight_decay: λ ≥ 0 (default 1e-2).

    >>> import chainrule as cr
    >>> w = cr.tensor(np.array([0.40, 0.45]), requires_grad=True)
    >>> w.grad = np.array([0.082167041, -0.02])
    >>> AdamW([w], lr=0.1, weight_decay=0.5).step()   # W·(1 − 0.05), then Adam's ±0.1
    >>> w.data
    array([0.28000001, 0.52749995])
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)
