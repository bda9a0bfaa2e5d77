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
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chainrule import nn, optim
from chainrule.data import DATASETS
from chainrule.errors import ConfigError

ACTIVATIONS = tuple(nn.HIDDEN_ACTIVATIONS)
LOSSES = ("auto", *nn.LOSSES)
OPTIMIZERS = tuple(optim.OPTIMIZERS)


class TrainConfig(BaseModel):
    """Everything `chainrule train` needs; the same fields as its command-line options."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: str | None = None
    csv: str | None = None
    target: str | None = None
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

    @field_validator("lr")
    @classmethod
    def _positive_finite(cls, value: float) -> float:
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
    def _one_source(self) -> TrainConfig:
        if (self.dataset is None) == (self.csv is None):
            raise ValueError("give exactly one of dataset or csv")
        return self


def load_toml(path: str | Path) -> dict[str, Any]:
    """The table in a TOML file (a clear ConfigError for a missing or malformed file)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give the path of a TOML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def make_config(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate `values` into a TrainConfig, reporting every problem in one ConfigError."""
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) if str(part).isidentifier() or isinstance(part, int)
                             else repr(part) for part in item["loc"]) or "config"
            message = " ".join(item["msg"].removeprefix("Value error, ").split())
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{where}: {message}")
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{source}: {count}: " + "; ".join(problems)) from None
