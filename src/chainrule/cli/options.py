"""Options shared by `chainrule train`, `diagnose` and `sweep`: the fields of the run
configuration (chainrule.runs.config.TrainConfig) as command-line options.

Their Python default is None, so that a value from a --config file is kept unless the option is
given; the help shows instead the default the run itself takes, read off TrainConfig.

    def train(lr: options.Lr = None, epochs: options.Epochs = None, ...): ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule.data import DATASETS
from chainrule.runs.config import ACTIVATIONS, LOSSES, OPTIMIZERS, TrainConfig


def run_default(name: str, model: Any = TrainConfig) -> str:
    """The default of field `name` of `model` (TrainConfig unless given) as an option would take
    it: 32, 64,32, 0.01."""
    value = model.model_fields[name].get_default(call_default_factory=True)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def with_default(help: str, default: str) -> str:
    """`help` followed by `[default: ...]`, as click writes the default of any other option."""
    return f"{help}  [default: {default}]"


def config_option(name: str, help: str, *param_decls: str, shown: str | None = None,
                  model: Any = TrainConfig, **kwargs: Any) -> Any:
    """A typer.Option for field `name` of TrainConfig (or `model`): `help` and the field's
    default (or `shown`, for a default that reads better in words)."""
    default = shown if shown is not None else run_default(name, model)
    return typer.Option(*param_decls, help=with_default(help, default), **kwargs)


def _names(values: Any) -> str:
    return ", ".join(values)


DATASET_NAMES = _names(DATASETS)


def dataset_option(default: str) -> Any:
    """--dataset, with what the command trains when neither it nor --csv is given."""
    return typer.Option(help=with_default(f"Bundled dataset: {DATASET_NAMES}.", default))


Config = Annotated[Path | None, typer.Option(
    help="TOML file with the run's settings, the same names as these options (see "
         "examples/train.toml); an option given as well overrides the file.")]
Csv = Annotated[str | None, typer.Option(
    help="CSV file with a header row, instead of --dataset.")]
Target = Annotated[str | None, config_option(
    "target", "Target column of the CSV.", shown="the last column")]
Activation = Annotated[str | None, config_option(
    "activation", f"Hidden activation: {_names(ACTIVATIONS)}.")]
Loss = Annotated[str | None, config_option(
    "loss", f"Loss: {_names(LOSSES)}; auto is cross_entropy for classes, half_sse otherwise.")]
Optimizer = Annotated[str | None, config_option(
    "optimizer", f"Optimizer: {_names(OPTIMIZERS)}.")]
Lr = Annotated[float | None, config_option("lr", "Learning rate η.")]
Momentum = Annotated[float | None, config_option(
    "momentum", "Momentum μ of sgd and rmsprop, in [0, 1); 0 is none.")]
WeightDecay = Annotated[float | None, config_option(
    "weight_decay", "Weight decay λ ≥ 0: an L2 term in the gradient (adamw: decoupled, W shrinks "
                    "by η·λ each step).")]
Epochs = Annotated[int | None, config_option("epochs", "Passes over the training data.")]
BatchSize = Annotated[int | None, config_option("batch_size", "Samples per update.")]
ValSplit = Annotated[float | None, config_option(
    "val_split", "Fraction of the data held out for validation, in [0, 1).")]
EarlyStopping = Annotated[int | None, config_option(
    "early_stopping", "Stop when the validation loss has not improved for this many epochs.",
    shown="off")]
Seed = Annotated[int | None, config_option(
    "seed", "Seed of the initial weights, the validation split and the shuffling.")]
DType = Annotated[str | None, config_option("dtype", "Floating-point type: float32 or float64.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar or table.")]

__all__ = [
    "DATASET_NAMES", "Activation", "BatchSize", "Config", "Csv", "DType", "EarlyStopping",
    "Epochs", "Loss", "Lr", "Momentum", "Optimizer", "Quiet", "Seed", "Target", "ValSplit",
    "WeightDecay", "config_option", "dataset_option", "run_default", "with_default",
]
