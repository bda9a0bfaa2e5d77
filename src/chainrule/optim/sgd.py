"""SGD: stochastic gradient descent, W ← W − η·∂E/∂W, with optional momentum and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from chainrule.errors import ConfigError
from chainrule.optim.optimizer import Optimizer, Parameter
from chainrule.validate import boolean, nonnegative_finite, unit_interval


class SGD(Optimizer):
    """Gradient descent: step every weight against its gradient.

    With g = ∂E/∂W (+ λ·W when weight_decay λ > 0, Note [weight decay]) and learning rate η:

        momentum μ = 0:   W ← W − η·g                       (the notes' rule)
        momentum μ > 0:   b ← g                 on the first step,
                          b ← μ·b + g           after that;
                          W ← W − η·b           (heavy ball), or
                          W ← W − η·(g + μ·b)   (nesterov=True: look ahead along b)

    This is PyTorch's published formulation (without dampening): b is a running sum of past
    gradients, decayed by μ each step, so η is not rescaled by 1/(1 − μ).

    params: iterable of parameters (`.data` updated in place, `.grad` read), or of groups
    (Note [parameter groups] in optimizer.py).
    lr: η > 0.  momentum: μ in [0, 1).  nesterov: needs μ > 0.  weight_decay: λ ≥ 0.

    >>> import chainrule as cr
    >>> w5 = cr.tensor(np.array([0.40]), requires_grad=True)
    >>> w5.grad = np.array([0.082167041])     # ∂E/∂w5 in the worked example
    >>> SGD([w5], lr=0.5).step()              # 0.40 − 0.5·0.082167041
    >>> w5.data
    array([0.35891648])
    """

    _state_names = ("momentum_buffer",)
    _elementwise = True
    _packed = False  # two to five passes: packing costs what it saves

    def _buffers(self, group: dict) -> tuple[str, ...]:
        return self._state_names if group["momentum"] != 0.0 else ()

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, scratch: np.ndarray,
                group: dict) -> None:
        lr, momentum = group["lr"], group["momentum"]
        if momentum == 0.0:
            # W ← W − η·g
            np.multiply(g, lr, out=scratch)
            w -= scratch
            return

        # b ← g on the first step, b ← μ·b + g after that
        b = state.get("momentum_buffer")
        if b is None:
            b = state["momentum_buffer"] = np.array(g, dtype=w.dtype)
        else:
            b *= momentum
            b += g

        if group["nesterov"]:
            # W ← W − η·(g + μ·b)
            np.multiply(b, momentum, out=scratch)
            scratch += g
        else:
            # W ← W − η·b
            np.copyto(scratch, b)
        scratch *= lr
        w -= scratch

    def _l2_weight_decay(self, group: dict) -> float:
        return group["weight_decay"]

    def _check(self, owner: str, hyper: dict) -> dict:
        momentum = unit_interval(owner, "momentum", hyper["momentum"])
        nesterov = boolean(owner, "nesterov", hyper["nesterov"])
        weight_decay = nonnegative_finite(owner, "weight_decay", hyper["weight_decay"])
        if nesterov and momentum == 0.0:
            raise ConfigError(
                f"{owner}: nesterov=True needs momentum > 0 (Nesterov looks ahead along the "
                "momentum buffer), got momentum=0.0; pass e.g. momentum=0.9"
            )
        return {"momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
