"""Neural-network building blocks: Module and Parameter, layers, initializers, losses and
gradient clipping (`nn.utils.clip_grad_norm_`, `nn.utils.clip_grad_value_`).

>>> import chainrule.nn as nn
>>> model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Sigmoid(), nn.Linear(2, 2, rng=1),
...                       nn.Sigmoid())
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from chainrule.nn import init, utils
from chainrule.nn.layers import (
    ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    BatchNorm1d,
    Dropout,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    check_parameter_memory,
    mlp,
)
from chainrule.nn.losses import (
    LOSS_ALIASES,
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HalfSquaredError,
    MSELoss,
    get_loss,
)
from chainrule.nn.module import LoadResult, Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "HIDDEN_ACTIVATIONS",
    "LOSSES",
    "LOSS_ALIASES",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "HalfSquaredError",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LoadResult",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "check_parameter_memory",
    "get_loss",
    "init",
    "mlp",
    "utils",
]
