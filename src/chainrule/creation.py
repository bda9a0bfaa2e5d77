"""Tensor constructors, and the one random generator they draw from (`manual_seed`).

    cr.manual_seed(0)
    w = cr.randn(3, 2, requires_grad=True)     # the same numbers after every manual_seed(0)
    cr.zeros(3), cr.ones((2, 2)), cr.full((2,), 0.5), cr.arange(4), cr.eye(3), cr.rand(2)

Shapes are given as separate ints or one tuple; dtype defaults to the default float dtype
(float32 unless `set_default_dtype` says otherwise). `randn` and `rand` draw directly in that
dtype from chainrule's generator (tensor.py's `generator`, which `manual_seed` reseeds; fresh OS
entropy until then), as does Dropout. Layers' weights take their own `rng` (nn/init.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import DTypeError, ShapeError
from chainrule.tensor import Tensor, generator, get_default_dtype, manual_seed


def _shape(op: str, shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    if not all(isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 0
               for n in shape):
        raise ShapeError(f"{op}: a shape is non-negative ints, as {op}(2, 3) or {op}((2, 3)); "
                         f"got {shape!r}")
    return tuple(int(n) for n in shape)


def _float(op: str, dtype: Any) -> np.dtype:
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise DTypeError(f"{op}: draws floats; dtype must be float32 or float64, got {dtype}")
    return dtype


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    data = np.zeros(_shape("zeros", shape), dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    data = np.ones(_shape("ones", shape), dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def full(shape: Any, value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of one value: full((2, 3), 0.5)."""
    shape = _shape("full", (shape,))
    data = np.full(shape, value, dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), as np.arange: integers when start, stop and step
    are ints (labels, indices), the default float dtype otherwise."""
    if step == 0:
        raise ShapeError("arange: step must not be 0")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start, step=step)
    if dtype is not None:
        values = values.astype(dtype)
    elif values.dtype.kind == "f":
        values = values.astype(get_default_dtype())
    return Tensor(values, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n × m identity matrix (n × n by default)."""
    rows, cols = _shape("eye", (n, n if m is None else m))
    data = np.eye(rows, cols, dtype=dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from chainrule's generator (see `manual_seed`)."""
    data = generator().standard_normal(_shape("randn", shape), dtype=_float("randn", dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from chainrule's generator (see `manual_seed`)."""
    data = generator().random(_shape("rand", shape), dtype=_float("rand", dtype))
    return Tensor(data, requires_grad=requires_grad)


__all__ = ["arange", "eye", "full", "manual_seed", "ones", "rand", "randn", "zeros"]
