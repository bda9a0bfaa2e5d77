"""chainrule: train neural networks by backpropagation and see every chain-rule step."""

from chainrule import data, functional, io, nn
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
from chainrule.explain import explain
from chainrule.io import load, load_checkpoint, save_model
from chainrule.ops.elementwise import where
from chainrule.ops.shape import concatenate, stack
from chainrule.tensor import Tensor, get_default_dtype, set_default_dtype, tensor
from chainrule.version import __version__ as __version__

__all__ = [
    "ChainruleError", "ConfigError", "DTypeError", "DataError", "DivergenceError",
    "GradcheckReport", "GraphError", "ModelFileError", "ShapeError", "Tensor", "concatenate",
    "data", "explain", "functional", "get_default_dtype", "gradcheck", "io",
    "is_grad_enabled", "jacobian", "load", "load_checkpoint", "nn", "no_grad", "save_model",
    "set_default_dtype", "stack", "tensor", "where",
]
