"""Loss modules: the error E between a prediction and a target, as a Module.

Each is a thin wrapper over one op in `chainrule.ops.loss` (see its Note [why the ½]), called as
`loss_fn(prediction, target)`. `reduction` says how the per-sample (or per-element) errors are
combined: "mean" (the default), "sum", or "none" (one error per sample, or per element).

>>> import chainrule as cr
>>> E = HalfSquaredError()(cr.tensor([[0.75136507, 0.77292847]]), cr.tensor([[0.01, 0.99]]))
>>> round(E.item(), 6)   # the notes' E_total = E_o1 + E_o2
0.298371
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError
from chainrule.nn.module import Module
from chainrule.ops import loss
from chainrule.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """A loss with a reduction, checked when the loss is built rather than at its first call."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(
                f"{type(self).__name__}: reduction must be one of {', '.join(_REDUCTIONS)}, "
                f"got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class HalfSquaredError(_Loss):
    """The notes' error: E = ½ Σ_o (t_o − y_o)², summed over the outputs of each sample.

    The per-sample errors are then reduced over the batch: "mean" averages them (so E is the
    average over samples of ½·Σ_o, NOT ½ times the mean over all elements), "sum" adds them,
    "none" returns one per sample. For a single sample, "mean" and "sum" both give the notes'
    E_total = E_o1 + E_o2.  ∂E/∂y_o = y_o − t_o (divided by the batch size for "mean").

    prediction, target: (outputs,) or (samples, outputs), the same shape.
    """

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return loss.half_squared_error(prediction, target, self.reduction)


class MSELoss(_Loss):
    """Mean squared error: E = (1/N) Σ (y − t)² over all N elements (no ½);  ∂E/∂y = 2(y − t)/N.

    "mean" averages over every element (samples × outputs), as in PyTorch; "none" returns the
    squared error of each element.
    """

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return loss.mse(prediction, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p (e.g. sigmoid outputs) against targets in [0, 1].

    E = −[t·ln p + (1 − t)·ln(1 − p)] per element;  ∂E/∂p = (p − t) / (p·(1 − p)).
    Prefer `BCEWithLogitsLoss` on the raw net input, which is exact for any logit.
    """

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return loss.binary_cross_entropy(prediction, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits z (a sigmoid is applied inside);  ∂E/∂z = σ(z) − t."""

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return loss.binary_cross_entropy_with_logits(prediction, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (samples, classes) against integer class labels (samples,).

    E = −ln softmax(z)[label] per sample;  ∂E/∂z = softmax(z) − onehot(label).
    """

    def forward(self, prediction: Any, target: Any) -> Tensor:
        return loss.cross_entropy(prediction, target, self.reduction)


#: Every loss by name: the one table of loss names (the CLI's and the config's choices and
#: explain's table are derived from it).
LOSSES: dict[str, type[_Loss]] = {
    "half_sse": HalfSquaredError,
    "mse": MSELoss,
    "bce": BCELoss,
    "bce_logits": BCEWithLogitsLoss,
    "cross_entropy": CrossEntropyLoss,
}
#: Other names that `get_loss` (and explain) accept: alias → name in LOSSES.
LOSS_ALIASES: dict[str, str] = {"sse": "half_sse"}


def _accepted_names() -> list[str]:
    """The names in LOSSES, each followed by its aliases: half_sse, sse, mse, ..."""
    return [spelling for name in LOSSES
            for spelling in (name, *(a for a, n in LOSS_ALIASES.items() if n == name))]


def get_loss(name: str, reduction: str = "mean") -> _Loss:
    """The loss module called `name`: half_sse (alias sse), mse, bce, bce_logits, cross_entropy.

    >>> get_loss("half_sse")
    HalfSquaredError(reduction='mean')
    """
    key = name.strip().lower() if isinstance(name, str) else name
    key = LOSS_ALIASES.get(key, key) if isinstance(key, str) else key
    if key not in LOSSES:
        raise ConfigError(
            f"get_loss: unknown loss {name!r}; valid names are {', '.join(_accepted_names())}"
        )
    return LOSSES[key](reduction)
