"""chainrule: train neural networks by backpropagation and see every chain-rule step."""

from chainrule import data, functional, nn
from chainrule.autograd import is_grad_enabled, no_grad
from chainrule.check import GradcheckReport, gradcheck, jacobian
from chainrule.errors import (
    ChainruleError,
    ConfigError,
    DataError,
    DivergenceError,
    DTypeError,
    GraphError,
    ModelFileError,
    ShapeError,
)
from chainrule.ops.elementwise import where
from chainrule.ops.shape import concatenate, stack
from chainrule.tensor import Tensor, get_default_dtype, set_default_dtype, tensor

__version__ = "0.1.0"

__all__ = [
    "ChainruleError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "DivergenceError",
    "GradcheckReport",
    "GraphError",
    "ModelFileError",
    "ShapeError",
    "Tensor",
    "concatenate",
    "data",
    "functional",
    "get_default_dtype",
    "gradcheck",
    "is_grad_enabled",
    "jacobian",
    "nn",
    "no_grad",
    "set_default_dtype",
    "stack",
    "tensor",
    "where",
]
