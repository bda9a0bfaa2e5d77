"""Initializers: fill a parameter's values in place and return it.

Each random initializer takes `rng`: a `numpy.random.Generator`, an int seed, or None for fresh
OS entropy (`np.random.default_rng()`). Pass a seed — or one Generator shared by all layers —
for reproducible weights. Values are drawn in float64 and then cast to the parameter's dtype,
so one seed gives the same numbers (up to rounding) in float32 and float64.

Fan-in and fan-out: a weight of shape (out, in) has fan_in = in (inputs feeding each unit) and
fan_out = out. (For more than two dimensions the trailing ones count into both, as in PyTorch.)

    xavier (Glorot & Bengio, 2010)   Var(w) = gain² · 2 / (fan_in + fan_out)
    kaiming (He et al., 2015)        Var(w) = gain² / fan        (fan = fan_in or fan_out)

A uniform(−a, a) has variance a²/3, which gives the bounds
    xavier_uniform_  a = gain · √(6 / (fan_in + fan_out))
    kaiming_uniform_ a = gain · √(3 / fan)

>>> from chainrule.nn import Linear, init
>>> w = init.xavier_uniform_(Linear(2, 2).weight, rng=0)   # in place; returns the parameter
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.tensor import Tensor
from chainrule.validate import is_int

__all__ = [
    "as_generator", "calculate_gain", "constant_", "fans", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "set_values_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]

RNG = np.random.Generator | int | None

_NONLINEARITIES = ("linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu")


def as_generator(rng: RNG) -> np.random.Generator:
    """A Generator from `rng`: returned as is, seeded from an int, or fresh (None)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ConfigError(
        f"rng must be a numpy.random.Generator, a non-negative int seed or None, got {rng!r}"
    )


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance steady through `nonlinearity`.

    linear/identity/sigmoid: 1;  tanh: 5/3;  relu: √2;
    leaky_relu with negative slope α (`param`, default 0.01): √(2 / (1 + α²)).
    """
    if nonlinearity in ("linear", "identity", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    raise ConfigError(
        f"calculate_gain: unknown nonlinearity {nonlinearity!r}; valid names are "
        f"{', '.join(_NONLINEARITIES)}"
    )


def fans(param: Tensor, op: str = "fans") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, ...)."""
    shape = param.data.shape
    if len(shape) < 2:
        raise ShapeError(
            f"{op}: needs a weight with at least 2 dimensions (out, in), got shape {shape}; "
            "fan_in and fan_out are undefined for a bias: use zeros_, constant_ or uniform_"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _check_tensor(op: str, param: Any) -> None:
    if not isinstance(param, Tensor):
        raise TypeError(f"{op}: expected a Parameter (or Tensor), got {type(param).__name__}")


def _fill(param: Tensor, values: Any) -> Tensor:
    """Write `values` into `param.data` in place (cast to its dtype) and return `param`."""
    param.data[...] = np.asarray(values).astype(param.data.dtype, copy=False)
    return param


_CHUNK = 1 << 16  # values drawn at a time: 512 KiB of float64


def _fill_drawn(param: Tensor, draw: Callable[[int], np.ndarray]) -> Tensor:
    """Fill `param` with `draw(n)` (n float64 draws) a chunk at a time, in order: the very
    numbers one draw of them all gives, without a float64 copy of a float32 weight (32 MiB for a
    2048×2048 layer)."""
    flat = param.data.reshape(-1)
    if not np.shares_memory(flat, param.data):  # not contiguous: draw them all at once
        return _fill(param, draw(param.data.size).reshape(param.data.shape))
    for start in range(0, flat.size, _CHUNK):
        flat[start:start + _CHUNK] = draw(min(_CHUNK, flat.size - start))
    return param


# --- constants and explicit values -----------------------------------------------------------
def zeros_(param: Tensor) -> Tensor:
    """Fill with 0."""
    _check_tensor("zeros_", param)
    return _fill(param, 0.0)


def ones_(param: Tensor) -> Tensor:
    """Fill with 1."""
    _check_tensor("ones_", param)
    return _fill(param, 1.0)


def constant_(param: Tensor, value: float) -> Tensor:
    """Fill with `value`."""
    _check_tensor("constant_", param)
    return _fill(param, value)


def set_values_(param: Tensor, values: Any) -> Tensor:
    """Load explicit values (e.g. from the notes' worked example), which must have param's shape.

    >>> from chainrule.nn import Linear
    >>> hidden = Linear(2, 2)
    >>> set_values_(hidden.weight, [[0.15, 0.20], [0.25, 0.30]]).numpy()  # row j: into unit j
    array([[0.15, 0.2 ],
           [0.25, 0.3 ]], dtype=float32)
    """
    _check_tensor("set_values_", param)
    array = np.asarray(values.data if isinstance(values, Tensor) else values)
    if array.dtype.kind not in "fiu":
        raise ConfigError(f"set_values_: values must be real numbers, got dtype {array.dtype}")
    if array.shape != param.data.shape:
        raise ShapeError(
            f"set_values_: expected values of shape {param.data.shape} for this parameter, got "
            f"shape {array.shape}; a Linear weight is (out_features, in_features), row j "
            "holding the weights into unit j"
        )
    return _fill(param, array)


# --- plain random ----------------------------------------------------------------------------
def uniform_(param: Tensor, low: float = 0.0, high: float = 1.0, *, rng: RNG = None) -> Tensor:
    """Fill with draws from uniform(low, high)."""
    _check_tensor("uniform_", param)
    if not low <= high:
        raise ConfigError(f"uniform_: low ({low}) must not exceed high ({high})")
    generator = as_generator(rng)
    return _fill_drawn(param, lambda n: generator.uniform(low, high, size=n))


def normal_(param: Tensor, mean: float = 0.0, std: float = 1.0, *, rng: RNG = None) -> Tensor:
    """Fill with draws from normal(mean, std²)."""
    _check_tensor("normal_", param)
    if not std >= 0:
        raise ConfigError(f"normal_: std must be non-negative, got {std}")
    generator = as_generator(rng)
    return _fill_drawn(param, lambda n: generator.normal(mean, std, size=n))


# --- variance-scaling ------------------------------------------------------------------------
def xavier_uniform_(param: Tensor, gain: float = 1.0, *, rng: RNG = None) -> Tensor:
    """Glorot uniform: U(−a, a) with a = gain · √(6 / (fan_in + fan_out))."""
    _check_tensor("xavier_uniform_", param)
    fan_in, fan_out = fans(param, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound, rng=rng)


def xavier_normal_(param: Tensor, gain: float = 1.0, *, rng: RNG = None) -> Tensor:
    """Glorot normal: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    _check_tensor("xavier_normal_", param)
    fan_in, fan_out = fans(param, "xavier_normal_")
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def _kaiming_std(op: str, param: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    if nonlinearity not in _NONLINEARITIES:
        raise ConfigError(
            f"{op}: unknown nonlinearity {nonlinearity!r}; valid names are "
            f"{', '.join(_NONLINEARITIES)}"
        )
    fan_in, fan_out = fans(param, op)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(param: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "relu", *, rng: RNG = None) -> Tensor:
    """He uniform: U(−b, b) with b = gain · √(3 / fan).

    gain = calculate_gain(nonlinearity, a): √2 for relu, √(2 / (1 + a²)) for leaky_relu with
    negative slope `a`.  mode: "fan_in" keeps the forward variance, "fan_out" the backward one.
    """
    _check_tensor("kaiming_uniform_", param)
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", param, a, mode, nonlinearity)
    return uniform_(param, -bound, bound, rng=rng)


def kaiming_normal_(param: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "relu", *, rng: RNG = None) -> Tensor:
    """He normal: N(0, std²) with std = gain / √fan (gain as in `kaiming_uniform_`)."""
    _check_tensor("kaiming_normal_", param)
    std = _kaiming_std("kaiming_normal_", param, a, mode, nonlinearity)
    return normal_(param, 0.0, std, rng=rng)


def _gain_of(activation: str) -> tuple[str, float | None]:
    """The nonlinearity (and leaky_relu's slope) whose gain a layer followed by `activation`
    gets; activations without a standard gain (softplus, softmax) count as linear."""
    if activation == "leaky_relu":
        return "leaky_relu", 0.01
    return (activation if activation in _NONLINEARITIES else "linear"), None


def _scheme(weights: Callable[..., Tensor]) -> Callable[[Any, str, np.random.Generator], None]:
    def initialise(linear: Any, activation: str, rng: np.random.Generator) -> None:
        nonlinearity, slope = _gain_of(activation)
        if weights in (kaiming_uniform_, kaiming_normal_):
            weights(linear.weight, slope or 0.0, nonlinearity=nonlinearity
                    if nonlinearity in ("relu", "leaky_relu") else "linear", rng=rng)
        else:
            weights(linear.weight, calculate_gain(nonlinearity, slope), rng=rng)
        if linear.bias is not None:
            zeros_(linear.bias)

    return initialise


def _default(linear: Any, activation: str, rng: np.random.Generator) -> None:
    """Linear's own: weights and biases from U(−1/√fan_in, 1/√fan_in), already drawn."""


INITIALIZERS: dict[str, Callable[[Any, str, np.random.Generator], None]] = {
    "default": _default,
    "xavier_uniform": _scheme(xavier_uniform_),
    "xavier_normal": _scheme(xavier_normal_),
    "kaiming_uniform": _scheme(kaiming_uniform_),
    "kaiming_normal": _scheme(kaiming_normal_),
}
"""The schemes `nn.mlp(..., init=)` and `chainrule train --init` name: each sets a Linear layer's
weights for the activation that follows it (its gain, `calculate_gain`) and its biases to 0;
"default" keeps Linear's own U(±1/√fan_in) for both."""
