"""chainrule: train neural networks by backpropagation and see every chain-rule step.

The public names load when first used (PEP 562), so `import chainrule` itself is cheap: the
`chainrule` command starts without NumPy until a command needs it, and a Ctrl-C while it starts
is handled (chainrule.cli.main). `chainrule.tensor` and `chainrule.explain` are the functions,
as `from chainrule import tensor, explain` gives them, although submodules of those names exist.
"""

import importlib
import sys
import types

from chainrule.version import __version__ as __version__

# the public submodules, and every other public name with the module it comes from
_MODULES = ("data", "functional", "io", "nn", "onnx")
_SOURCES = {
    "enable_grad": "chainrule.autograd",
    "grad": "chainrule.functional",
    "is_grad_enabled": "chainrule.autograd",
    "no_grad": "chainrule.autograd",
    "value_and_grad": "chainrule.functional",
    "Function": "chainrule.ops.base",
    "Drawing": "chainrule.draw",
    "draw": "chainrule.draw",
    "GradcheckReport": "chainrule.check",
    "gradcheck": "chainrule.check",
    "jacobian": "chainrule.check",
    "arange": "chainrule.creation",
    "eye": "chainrule.creation",
    "full": "chainrule.creation",
    "manual_seed": "chainrule.creation",
    "ones": "chainrule.creation",
    "rand": "chainrule.creation",
    "randn": "chainrule.creation",
    "zeros": "chainrule.creation",
    "ChainruleError": "chainrule.errors",
    "ConfigError": "chainrule.errors",
    "DataError": "chainrule.errors",
    "DivergenceError": "chainrule.errors",
    "DTypeError": "chainrule.errors",
    "GraphError": "chainrule.errors",
    "ModelFileError": "chainrule.errors",
    "ShapeError": "chainrule.errors",
    "explain": "chainrule.explain",
    "load": "chainrule.io",
    "load_checkpoint": "chainrule.io",
    "save_model": "chainrule.io",
    "where": "chainrule.ops.elementwise",
    "concatenate": "chainrule.ops.shape",
    "stack": "chainrule.ops.shape",
    "Tensor": "chainrule.tensor",
    "get_default_dtype": "chainrule.tensor",
    "set_default_dtype": "chainrule.tensor",
    "tensor": "chainrule.tensor",
}
# functions named as the submodule they live in
_SHADOWED = frozenset(name for name, source in _SOURCES.items() if source == f"{__name__}.{name}")

__all__ = sorted([*_MODULES, *_SOURCES])


def __getattr__(name: str) -> object:
    if name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _SOURCES:
        value = getattr(importlib.import_module(_SOURCES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package, keeping `tensor` and `explain` the functions: importing a submodule sets it
    as an attribute of its package, which would otherwise hide the function of the same name
    whenever the submodule (chainrule.tensor, chainrule.explain) loaded before it was asked for."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the submodule is in sys.modules; the name loads the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
