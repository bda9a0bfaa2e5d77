"""The exceptions chainrule raises: each names the op or layer, the shapes or values, and the fix.

Every error a user can cause derives from `ChainruleError`, so the CLI can turn them into a
one-line message (exit code 2) and programs can catch them all at once. Each also derives from
the built-in exception a Python user would expect (ValueError, TypeError, RuntimeError).
"""


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Shapes that do not fit an op or a layer, e.g. matmul of (2, 3) and (4, 5)."""


class DTypeError(ChainruleError, TypeError):
    """A dtype an op does not accept, e.g. float32 meeting float64, or grad on integers."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the autograd graph, e.g. backward through a freed graph."""


class DataError(ChainruleError, ValueError):
    """Data that cannot be used: NaN/inf, empty, wrong number of columns, labels out of range."""


class ConfigError(ChainruleError, ValueError):
    """An invalid hyperparameter or configuration value."""


class DivergenceError(ChainruleError, ArithmeticError):
    """Training produced a NaN or infinite loss or gradient."""


class ModelFileError(ChainruleError, ValueError):
    """A model or checkpoint file that is missing, corrupt, hostile or from a newer format."""
