"""Training configuration: a TOML file and/or command-line options, validated by pydantic.

Unknown keys are refused and every bad field is reported at once, in one `ConfigError`.
Types are strict: a number is not read from a string or a bool (`lr = true` is refused), and an
integer field does not take 2.0; a float field takes an integer.

    # train.toml
    dataset = "digits"
    hidden = [64]
    activation = "relu"
    optimizer = "adam"
    lr = 0.003
    epochs = 40
    batch_size = 32
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chainrule import nn, optim
from chainrule.configfile import load_toml
from chainrule.data import DATASETS
from chainrule.errors import ConfigError
from chainrule.io import config_differences

ACTIVATIONS = tuple(nn.HIDDEN_ACTIVATIONS)
LOSSES = ("auto", *nn.LOSSES)
OPTIMIZERS = tuple(optim.OPTIMIZERS)
INITIALIZERS = tuple(nn.init.INITIALIZERS)


NETWORKS = ("mlp", "worked-example")

WORKED_EXAMPLE_DEFAULTS: dict[str, Any] = {
    "network": "worked-example", "hidden": [2], "activation": "sigmoid", "loss": "half_sse",
    "optimizer": "sgd", "lr": 0.5, "batch_size": None, "val_split": 0.0, "standardize": False,
    "dtype": "float64",
}
"""With `dataset = "worked-example"` the run is the notes' own unless said otherwise: their
2-2-2 sigmoid network with w1..w8 and fixed biases, full-batch SGD at η = 0.5, raw inputs."""

RESULT_NEUTRAL_KEYS = ("epochs", "trace", "animate")
"""Keys a resumed run may change freely: the epoch count is a target (a larger one continues),
a traced step gives the same weights as an eager one, and `animate` only adds an output."""


class TrainConfig(BaseModel):
    """Everything `chainrule train` needs; the same fields as its command-line options.

    header: whether the CSV's first line is a header; None (the default) decides by the rule
    of `chainrule.data.load_csv`: a header if any of its fields is not a number.
    network: "mlp" (hidden layers of `activation`, a linear output, random initial weights
    from `seed`) or "worked-example" (the notes' 2-2-2 sigmoid network with their weights and
    fixed biases; `hidden` and `activation` do not apply).
    animate: also write training.gif, the decision boundary and the loss epoch by epoch (an
    output only; data with two features).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: str | None = None
    csv: str | None = None
    target: str | None = None
    header: bool | None = None
    network: Literal[NETWORKS] = "mlp"  # type: ignore[valid-type]
    hidden: list[int] = Field(default_factory=lambda: [32])
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    loss: Literal[LOSSES] = "auto"  # type: ignore[valid-type]
    optimizer: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    lr: float = 0.01
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    epochs: int = Field(20, ge=1)
    batch_size: int | None = Field(32, ge=1)
    val_split: float = Field(0.2, ge=0.0, lt=1.0)
    early_stopping: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    standardize: bool = True
    trace: bool = False
    init: Literal[tuple(INITIALIZERS)] = "default"  # type: ignore[valid-type]
    grad_clip: float | None = None  # the largest total gradient norm of an update (fit's)
    animate: bool = False

    @model_validator(mode="before")
    @classmethod
    def _dataset_defaults(cls, values: Any) -> Any:
        """The worked example's own defaults (WORKED_EXAMPLE_DEFAULTS) under what was given."""
        if isinstance(values, dict) and values.get("dataset") == "worked-example":
            return WORKED_EXAMPLE_DEFAULTS | values
        return values

    @field_validator("lr", "grad_clip")
    @classmethod
    def _positive_finite(cls, value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"must be a positive finite number, got {value}")
        return value

    @field_validator("hidden")
    @classmethod
    def _positive_sizes(cls, value: list[int]) -> list[int]:
        if any(size < 1 for size in value):
            raise ValueError(f"layer sizes must be positive, got {value}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str | None) -> str | None:
        if value is not None and value not in DATASETS:
            raise ValueError(f"unknown dataset {value!r}; choose one of {', '.join(DATASETS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> TrainConfig:
        """One data source, and no setting that would be silently ignored."""
        name = _namer(info)
        if (info.context or {}).get("arrays"):
            if self.dataset is not None or self.csv is not None:
                raise ValueError("the data come as arrays, so neither dataset nor csv applies")
        elif (self.dataset is None) == (self.csv is None):
            raise ValueError(f"give exactly one of {name('dataset')} or {name('csv')}")
        if (self.target is not None or self.header is not None) and self.csv is None:
            key = "target" if self.target is not None else "header"
            raise ValueError(f"{name(key)} describes a CSV file; the bundled dataset "
                             f"{self.dataset!r} has its own columns")
        if self.momentum and self.optimizer in ("adam", "adamw"):
            raise ValueError(f"{name('momentum')} does nothing with {self.optimizer} (its "
                             f"moments are fixed by the betas); use {name('optimizer')} sgd or "
                             "rmsprop, or leave momentum out")
        if self.early_stopping is not None and self.val_split == 0:
            raise ValueError(f"{name('early_stopping')} watches the validation loss, but "
                             f"{name('val_split')} is 0: hold out data (e.g. "
                             f"{name('val_split')} 0.2) or leave early stopping out")
        if self.network == "worked-example":
            for key in ("hidden", "activation"):
                if getattr(self, key) != WORKED_EXAMPLE_DEFAULTS[key]:
                    raise ValueError(
                        f"{name(key)} does not apply to the notes' fixed 2-2-2 sigmoid network; "
                        f"set {name('network')} mlp to train an MLP of your own")
            if self.dataset != "worked-example":
                raise ValueError(f"{name('network')} worked-example fits the worked-example "
                                 "dataset only (2 inputs, 2 targets)")
        return self

    def math_differences(self, other: TrainConfig) -> list[str]:
        """The settings that differ from `other` and change what training computes."""
        return [key for key in config_differences(self.model_dump(), other.model_dump())
                if key not in RESULT_NEUTRAL_KEYS]


def _namer(info: ValidationInfo) -> Callable[[str], str]:
    """How a setting is named in messages: as the flag typed (--batch-size) for those given
    on the command line (validation context "flags"), else as the key (batch_size)."""
    flags = (info.context or {}).get("flags", ())
    return lambda key: option_flag(key) if key in flags else key


def option_flag(key: str) -> str:
    """The command-line flag of a setting: batch_size → --batch-size."""
    return "--" + key.replace("_", "-")


def gather(config: str | Path | None, options: Mapping[str, Any]
           ) -> tuple[dict[str, Any], set[str], str]:
    """The settings of a TOML file (if any) with the command-line `options` that were given
    (those not None) laid over them: (values, the keys to name as flags, the source to name).

    Keys the file sets and no option overrides are named as keys of the file in messages;
    every other setting as its flag.
    """
    values: dict[str, Any] = load_toml(config) if config else {}
    given = {key: value for key, value in options.items() if value is not None}
    flags = (set(TrainConfig.model_fields) - set(values)) | set(given)
    return values | given, flags, str(config) if config else "options"


def make_config(values: dict[str, Any], source: str = "config", *,
                flags: Iterable[str] = (), arrays: bool = False) -> TrainConfig:
    """Validate `values` into a TrainConfig, reporting every problem in one ConfigError.

    flags: the keys given as command-line options, named in messages as the user typed them
    (--batch-size); the others are named as keys of the configuration (batch_size).
    arrays: the data will be handed to `prepare` as arrays (the scikit-learn estimators), so
    the config names no dataset or CSV file.
    """
    flags = set(flags)
    try:
        return TrainConfig.model_validate(values, context={"flags": flags, "arrays": arrays})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            loc = list(item["loc"])
            if loc and loc[0] in flags:
                loc[0] = option_flag(str(loc[0]))
            where = ".".join(str(part) if str(part).isidentifier() or isinstance(part, int)
                             or str(part).startswith("--") else repr(part) for part in loc)
            message = " ".join(item["msg"].removeprefix("Value error, ").split())
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{where}: {message}" if where else message)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{source}: {count}: " + "; ".join(problems)) from None
