"""The network to explain, from a TOML file and/or command-line options, validated by pydantic.

Unknown keys and wrong types are refused, and every problem is reported at once in one
ConfigError. Every key is optional; with none, it is the notes' worked example.

    # net.toml: a 3-3-2 tanh network with explicit weights
    sizes = [3, 3, 2]
    activation = "tanh"              # hidden layers: sigmoid tanh relu leaky_relu softplus identity
    output_activation = "sigmoid"    # default: softmax for cross_entropy, sigmoid for bce, else
                                     # the hidden activation
    loss = "half_sse"                # half_sse (the notes' ½ Σ (t − out)²), mse, bce,
                                     # cross_entropy
    lr = 0.5
    inputs = [0.05, 0.10, 0.20]      # several samples: [[0.05, 0.10, 0.20], [0.3, 0.2, 0.1]]
    targets = [0.01, 0.99]           # cross_entropy: [class] or a one-hot list; several
                                     # samples: one list per sample, [[0.01, 0.99], [1, 0]]
    sample = 0                       # the sample of several written out in full
    update_biases = false
    sequential = false
    steps = 1
    notation = "unit"                # or "layer": z⁽ᴸ⁾, a⁽ᴸ⁾, C₀ (Note [two notations])

    [[layers]]                       # one table per Linear layer, inputs first
    weight = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]   # row j: weights into unit j
    bias = 0.35                      # one number for every unit, or one per unit

    [[layers]]
    weight = [[0.4, 0.45, 0.5], [0.5, 0.55, 0.6]]
    bias = [0.6, 0.6]

Note [default values]
    Without `seed`, whatever the worked example can supply is the worked example's: its
    weights for a 2-2-2 network, its inputs for 2 inputs, its targets for 2 outputs. Whatever
    is still missing is drawn from `seed` (default 0): weights uniformly from ±1/√(inputs of
    the layer), as nn.Linear does, inputs from [0, 1), targets from [0.01, 0.99] (a class for
    cross-entropy) — all rounded to 2 decimals, so that the arithmetic stays easy to follow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chainrule import nn
from chainrule.configfile import load_toml
from chainrule.errors import ConfigError
from chainrule.explain.build import LOSSES, MAX_CHAINS, MAX_SAMPLES, MAX_WEIGHTS
from chainrule.explain.notation import NOTATIONS
from chainrule.nn.init import set_values_

HIDDEN = tuple(nn.HIDDEN_ACTIVATIONS)
OUTPUT = (*HIDDEN, "softmax")  # softmax: only with cross_entropy, which applies it itself


class LayerSpec(BaseModel):
    """One Linear layer's values: weight (out × in, row j into unit j) and bias."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    weight: list[list[float]]
    bias: float | list[float] = 0.0


class ExplainConfig(BaseModel):
    """Everything `chainrule explain` needs; the same names as its command-line options."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sizes: list[int] = Field(default_factory=lambda: [2, 2, 2])
    activation: Literal[HIDDEN] = "sigmoid"  # type: ignore[valid-type]
    output_activation: Literal[OUTPUT] | None = None  # type: ignore[valid-type]
    negative_slope: float = Field(0.01, allow_inf_nan=False)
    loss: Literal[LOSSES] = "half_sse"  # type: ignore[valid-type]
    lr: float = Field(0.5, gt=0, allow_inf_nan=False)
    inputs: list[float] | list[list[float]] | None = None
    targets: list[float] | list[list[float]] | None = None
    sample: int = Field(0, ge=0)
    layers: list[LayerSpec] | None = None
    seed: int | None = Field(None, ge=0)
    update_biases: bool = False
    sequential: bool = False
    steps: int = Field(1, ge=1, le=100_000)
    max_weights: int = Field(MAX_WEIGHTS, ge=1)
    max_chains: int = Field(MAX_CHAINS, ge=1)
    max_samples: int = Field(MAX_SAMPLES, ge=1)
    notation: Literal[NOTATIONS] = "unit"  # type: ignore[valid-type]

    @property
    def output(self) -> str:
        """The output activation, with its default filled in."""
        if self.output_activation is not None:
            return self.output_activation
        return {"cross_entropy": "softmax", "bce": "sigmoid"}.get(self.loss, self.activation)

    def problems(self) -> list[str]:
        """What does not fit together (each field on its own was valid)."""
        return (_shape_problems(self) + _loss_problems(self) + _value_problems(self)
                + _layer_problems(self))


def _shape_problems(c: ExplainConfig) -> list[str]:
    if len(c.sizes) < 2 or any(n < 1 for n in c.sizes):
        return [f"sizes: needs at least 2 positive layer sizes (inputs, ..., outputs), got "
                f"{c.sizes}"]
    weights = sum(a * b for a, b in zip(c.sizes, c.sizes[1:], strict=False))
    if weights > c.max_weights:
        return [f"sizes: {c.sizes} has {weights} weights; explain computes at most "
                f"max_weights = {c.max_weights} (raise it with --max-weights; how many are "
                f"written out is --max-chains)"]
    return []


def _rows(values: list[float] | list[list[float]] | None) -> list[list[float]] | None:
    """Samples as rows: one sample [a, b] is [[a, b]]; several [[a, b], [c, d]] stay so."""
    if values is None or (values and isinstance(values[0], list)):
        return values  # type: ignore[return-value]
    return [values]  # type: ignore[list-item]


def _samples_of(c: ExplainConfig) -> int | None:
    """How many samples inputs and targets give (the larger), None when neither is given."""
    counts = [len(rows) for rows in (_rows(c.inputs), _rows(c.targets)) if rows is not None]
    return max(counts) if counts else None


def _loss_problems(c: ExplainConfig) -> list[str]:
    problems = []
    if c.output == "softmax" and c.loss != "cross_entropy":
        problems.append("output_activation: softmax goes with loss = cross_entropy")
    if c.loss == "cross_entropy" and c.output != "softmax":
        problems.append("output_activation: cross_entropy applies softmax to the outputs, "
                        "so leave output_activation out or set it to softmax")
    if c.loss == "cross_entropy" and len(c.sizes) >= 2 and c.sizes[-1] < 2:
        problems.append("sizes: cross_entropy needs at least 2 outputs (classes)")
    if c.loss == "bce" and c.output != "sigmoid":
        problems.append("output_activation: bce needs probabilities, so a sigmoid output")
    return problems


def _value_problems(c: ExplainConfig) -> list[str]:
    problems: list[str] = []
    if len(c.sizes) < 2:
        return problems
    inputs, targets = _rows(c.inputs), _rows(c.targets)
    if inputs is not None:
        lengths = sorted({len(row) for row in inputs})
        if lengths != [c.sizes[0]]:
            each = " for each sample" if len(inputs) > 1 else ""
            problems.append(f"inputs: expected {c.sizes[0]} values (sizes[0]){each}, got "
                            f"{' or '.join(str(n) for n in lengths) or 'none'}")
        if not all(math.isfinite(v) for row in inputs for v in row):
            problems.append("inputs: values must be finite")
    if targets is not None:
        problems += _target_problems(c, targets)
    if inputs is not None and targets is not None and len(targets) != len(inputs):
        problems.append(f"targets: {len(inputs)} sample{'s' * (len(inputs) > 1)} of inputs "
                        f"need as many targets, one list per sample; got {len(targets)}")
    n = _samples_of(c) or 1
    if c.sample >= n:
        problems.append(f"sample: expected a sample number from 0 to {n - 1}, got {c.sample}")
    return problems


def _target_problems(c: ExplainConfig, targets: list[list[float]]) -> list[str]:
    """Each sample's targets, as one sample's would be checked."""
    outputs = c.sizes[-1]
    for t in targets:
        if c.loss == "cross_entropy":
            one_hot = len(t) == outputs and sorted(t) == [0.0] * (outputs - 1) + [1.0]
            is_class = len(t) == 1 and math.isfinite(t[0]) and t[0] == int(t[0]) \
                and 0 <= t[0] < outputs
            if not (one_hot or is_class):
                return [f"targets: for cross_entropy give [class] with a class from 0 to "
                        f"{outputs - 1}, or a one-hot list of {outputs} values"]
        elif len(t) != outputs:
            return [f"targets: expected {outputs} values (one per output), got {len(t)}"]
        elif not all(math.isfinite(v) for v in t):
            return ["targets: values must be finite"]
        elif c.loss == "bce" and not all(0 <= v <= 1 for v in t):
            return ["targets: bce targets must lie in [0, 1]"]
    return []


def _layer_problems(c: ExplainConfig) -> list[str]:
    if c.layers is None:
        return []
    problems = []
    if c.seed is not None:
        problems.append("seed: give either layers (explicit weights) or seed, not both")
    if len(c.sizes) < 2:
        return problems
    if len(c.layers) != len(c.sizes) - 1:
        return [*problems, f"layers: sizes {c.sizes} has {len(c.sizes) - 1} layers, got "
                           f"{len(c.layers)} [[layers]] tables"]
    for k, layer in enumerate(c.layers):
        rows, cols = c.sizes[k + 1], c.sizes[k]
        shape = (len(layer.weight), *{len(row) for row in layer.weight})
        if shape != (rows, cols):
            problems.append(f"layers.{k}.weight: expected {rows} rows of {cols} (row j holds "
                            f"the weights into unit j), got {_describe_rows(layer.weight)}")
        elif not all(math.isfinite(v) for row in layer.weight for v in row):
            problems.append(f"layers.{k}.weight: values must be finite")
        if isinstance(layer.bias, list) and len(layer.bias) != rows:
            problems.append(f"layers.{k}.bias: expected one number or {rows} values, got "
                            f"{len(layer.bias)}")
    return problems


def _describe_rows(rows: list[list[float]]) -> str:
    lengths = sorted({len(r) for r in rows})
    return f"{len(rows)} rows of {' or '.join(str(n) for n in lengths) or 0}"


# --- reading and building -------------------------------------------------------------------
def make_config(values: dict[str, Any], source: str = "explain") -> ExplainConfig:
    """Validate `values`, reporting every problem in one ConfigError (one line)."""
    problems = []
    try:
        config = ExplainConfig(**values)
    except ValidationError as error:
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{where}: {message}" if where else message)
    else:
        problems = config.problems()
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{source}: {count}: " + "; ".join(problems))
    return config


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None
                ) -> ExplainConfig:
    """The config in the TOML file `path` (if any), with `overrides` on top, validated."""
    values = load_toml(path) if path is not None else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_config(values, str(path) if path is not None else "explain")


def build_network(c: ExplainConfig) -> tuple[nn.Sequential, np.ndarray, Any]:
    """The model, the input and the target that a config describes (Note [default values])."""
    from chainrule.examples import (
        HIDDEN_BIAS,
        HIDDEN_WEIGHTS,
        INPUTS,
        OUTPUT_BIAS,
        OUTPUT_WEIGHTS,
        TARGETS,
    )

    rng = np.random.default_rng(0 if c.seed is None else c.seed)
    notes = c.seed is None
    layers = c.layers
    if layers is None and notes and c.sizes == [2, 2, 2]:
        layers = [LayerSpec(weight=HIDDEN_WEIGHTS, bias=HIDDEN_BIAS),
                  LayerSpec(weight=OUTPUT_WEIGHTS, bias=OUTPUT_BIAS)]
    modules: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(c.sizes, c.sizes[1:], strict=False)):
        linear = nn.Linear(n_in, n_out, dtype="float64", rng=0)
        if layers is not None:
            set_values_(linear.weight, layers[k].weight)
            set_values_(linear.bias, np.broadcast_to(np.asarray(layers[k].bias, float),
                                                     (n_out,)))
        else:
            bound = 1 / math.sqrt(n_in)
            set_values_(linear.weight, np.round(rng.uniform(-bound, bound, (n_out, n_in)), 2))
            set_values_(linear.bias, np.round(rng.uniform(-bound, bound, n_out), 2))
        modules.append(linear)
        act = c.activation if k < len(c.sizes) - 2 else c.output
        if act == "leaky_relu":
            modules.append(nn.LeakyReLU(c.negative_slope))
        elif act not in ("identity", "softmax"):  # no module: a linear unit; inside the loss
            modules.append(nn.HIDDEN_ACTIVATIONS[act]())
    inputs, targets, n = _rows(c.inputs), _rows(c.targets), _samples_of(c) or 1
    if inputs is not None:
        x = np.array(inputs, dtype=np.float64)
    elif notes and c.sizes[0] == 2 and n == 1:
        x = INPUTS.astype(np.float64)
    else:
        x = np.round(rng.uniform(0, 1, (n, c.sizes[0])), 2)
    outputs = c.sizes[-1]
    if targets is not None:
        if n == 1:
            t = targets[0]
            target: Any = (np.array(t) if len(t) > 1 or c.loss != "cross_entropy"
                           else int(t[0]))
        elif c.loss == "cross_entropy":  # a class per sample, from [class] or a one-hot list
            target = np.array([int(t[0]) if len(t) == 1 else int(np.argmax(t))
                               for t in targets])
        else:
            target = np.array(targets)
    elif c.loss == "cross_entropy":
        target = int(rng.integers(outputs)) if n == 1 else rng.integers(outputs, size=n)
    elif notes and outputs == 2 and n == 1:
        target = TARGETS[0].astype(np.float64)
    else:
        target = np.round(rng.uniform(0.01, 0.99, (n, outputs)), 2)
        target = target[0] if n == 1 else target
    x = x[0] if n == 1 else x
    return nn.Sequential(*modules), x, target
