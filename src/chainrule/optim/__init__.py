"""Optimizers and learning-rate schedules: the update step after backward().

    W ← W − η·(a step built from ∂E/∂W)

`Optimizer` holds the plumbing (parameters, state, zero_grad, state dicts); each rule lives in
its own module and is written once: `SGD` (plain, momentum, Nesterov), `Adam` and `AdamW`,
`RMSprop`. `schedules` sets the learning rate η per epoch. `OPTIMIZERS` holds them by name
("sgd", "adam", "adamw", "rmsprop"), `DISPLAY_NAMES` how reports print each name.
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

#: Every optimizer by name: the one table of optimizer names (the CLI's and the config's choices
#: are derived from it). name → class.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW,
                                          "rmsprop": RMSprop}
#: name → how reports print it: the class name ("sgd" → "SGD"), as in the state dict.
DISPLAY_NAMES: dict[str, str] = {name: cls.__name__ for name, cls in OPTIMIZERS.items()}

__all__ = [
    "DISPLAY_NAMES",
    "OPTIMIZERS",
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
