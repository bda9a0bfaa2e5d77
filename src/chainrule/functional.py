"""The public stateless API: every differentiable op, by name.

>>> import chainrule.functional as F
>>> F.sigmoid(F.linear(x, w, b))
"""

from chainrule.ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh
from chainrule.ops.elementwise import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    half_squared_error,
    mse,
)
from chainrule.ops.reduce import logsumexp, max, mean, sum
from chainrule.ops.shape import concatenate, getitem, reshape, stack, transpose

__all__ = [
    "abs", "add", "astype", "binary_cross_entropy", "binary_cross_entropy_with_logits", "clip",
    "concatenate", "cross_entropy", "div", "exp", "getitem", "half_squared_error", "leaky_relu",
    "linear", "log", "log_softmax", "logsumexp", "matmul", "max", "mean", "mse", "mul", "neg",
    "pow", "relu", "reshape", "sigmoid", "softmax", "softplus", "sqrt", "stack", "sub", "sum",
    "tanh", "transpose", "where",
]
