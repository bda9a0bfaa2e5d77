"""From a `TrainConfig` to a trained model: data, network, optimizer, training, outputs.

This is what `chainrule train` (and the sweep) run; each step is a small function so a program
can use one without the others.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule import nn, optim
from chainrule.config import TrainConfig
from chainrule.errors import ConfigError
from chainrule.train import EarlyStopping, History, fit

OUTPUT_FILES = ("model.safetensors", "history.json", "history.csv", "loss.png", "config.json")
CHECKPOINT_FILE = "checkpoint.safetensors"


@dataclass
class Prepared:
    """The data of a run, split and (optionally) standardized, with what predict needs."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    dataset: datasets.Dataset
    loss: str
    mean: np.ndarray
    std: np.ndarray

    @property
    def n_outputs(self) -> int:
        return self.dataset.n_outputs


def load_dataset(config: TrainConfig) -> datasets.Dataset:
    if config.dataset is not None:
        return datasets.load(config.dataset, seed=config.seed)
    return datasets.load_csv(config.csv, target=config.target)  # type: ignore[arg-type]


def prepare(config: TrainConfig) -> Prepared:
    """Load the data, pick the loss, split off validation data and standardize the features."""
    ds = load_dataset(config)
    loss = config.loss
    if loss == "auto":
        loss = "cross_entropy" if ds.task == "classification" else "half_sse"
    if (loss == "cross_entropy") != (ds.task == "classification"):
        raise ConfigError(
            f"loss {loss!r} does not fit the {ds.task} data of {ds.name!r}; use "
            f"{'cross_entropy' if ds.task == 'classification' else 'half_sse or mse'}"
        )
    X, y = ds.X, ds.y
    if config.val_split > 0 and ds.n_samples >= 5:
        X, y, X_val, y_val = datasets.train_val_split(
            X, y, config.val_split, seed=config.seed, stratify=ds.task == "classification")
    else:
        X_val = y_val = None
    mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    if config.standardize and len(X) > 1:
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std == 0] = 1.0
    standardize = (lambda A: (A - mean) / std)  # noqa: E731
    return Prepared(standardize(X), y, None if X_val is None else standardize(X_val), y_val,
                    ds, loss, mean, std)


def build_model(config: TrainConfig, n_in: int, n_out: int) -> nn.Sequential:
    """An MLP n_in → hidden… → n_out with the configured activation (output layer linear)."""
    return nn.mlp([n_in, *config.hidden, n_out], config.activation, rng=config.seed,
                  dtype=config.dtype)


def build_optimizer(config: TrainConfig, params: Any) -> optim.Optimizer:
    name = config.optimizer
    if name == "sgd":
        return optim.SGD(params, lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return optim.RMSprop(params, lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay)


def check_output_folder(out: Path) -> None:
    """Create the output folder and make sure it is writable — before any training."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output folder {out}: {error.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"output folder {out} is not writable")


@dataclass
class RunResult:
    model: nn.Sequential
    history: History
    prepared: Prepared
    out: Path


def run(config: TrainConfig, out: Path, *, progress: bool | str = "auto",
        resume: Any = None) -> RunResult:
    """Train as configured and write the model, history and loss plot to `out`."""
    check_output_folder(out)
    prepared = prepare(config)
    model = build_model(config, prepared.dataset.n_features, prepared.n_outputs)
    optimizer = build_optimizer(config, model.parameters())
    validation = None if prepared.X_val is None else (prepared.X_val, prepared.y_val)
    callbacks = []
    if config.early_stopping is not None and validation is not None:
        callbacks.append(EarlyStopping(patience=config.early_stopping))
    history = fit(model, prepared.loss, optimizer, prepared.X_train, prepared.y_train,
                  epochs=config.epochs, batch_size=_batch_size(config, prepared),
                  seed=config.seed, validation_data=validation, callbacks=callbacks,
                  progress=progress, resume=resume, checkpoint=str(out / CHECKPOINT_FILE),
                  checkpoint_config=config.model_dump(), trace=config.trace)
    write_outputs(out, config, model, history, prepared)
    return RunResult(model, history, prepared, out)


def _batch_size(config: TrainConfig, prepared: Prepared) -> int | None:
    """The configured batch size, capped at the number of training samples for tiny data."""
    if config.batch_size is None:
        return None
    return min(config.batch_size, len(prepared.X_train))


def model_metadata(config: TrainConfig, prepared: Prepared) -> dict[str, Any]:
    """What `chainrule predict` needs besides the weights: preprocessing and names."""
    ds = prepared.dataset
    return {"config": config.model_dump(), "task": ds.task, "loss": prepared.loss,
            "feature_names": list(ds.feature_names), "target_names": list(ds.target_names),
            "mean": prepared.mean.tolist(), "std": prepared.std.tolist()}


def write_outputs(out: Path, config: TrainConfig, model: nn.Module, history: History,
                  prepared: Prepared) -> None:
    from chainrule import io
    from chainrule.plots import plot_history

    io.save_model(model, out / "model.safetensors", metadata=model_metadata(config, prepared))
    io.atomic_write_bytes(out / "history.json",
                          json.dumps(history.to_dict(), indent=1).encode())
    io.atomic_write_bytes(out / "history.csv", history_csv(history).encode())
    io.atomic_write_bytes(out / "config.json",
                          json.dumps(config.model_dump(), indent=1).encode())
    plot_history(history, out / "loss.png", title=f"{prepared.dataset.name}: loss per epoch")


def history_csv(history: History) -> str:
    columns = list(dict.fromkeys(key for row in history.epochs for key in row))
    lines = [",".join(columns)]
    lines += [",".join(repr(row.get(c, "")) for c in columns) for row in history.epochs]
    return "\n".join(lines) + "\n"
