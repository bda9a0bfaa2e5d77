"""Optimizers and learning-rate schedules: the update step after backward().

    W ← W − η·(a step built from ∂E/∂W)

`Optimizer` holds the plumbing (parameters, state, zero_grad, state dicts); each rule lives in
its own module and is written once: `SGD` (plain, momentum, Nesterov), `Adam` and `AdamW`,
`RMSprop`. `schedules` sets the learning rate η per epoch.
"""

from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)
from chainrule.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
]
