"""From a `TrainConfig` to a trained model: data, network, optimizer, training, outputs.

This is what `chainrule train` (and the sweep) run; each step is a small function so a program
can use one without the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule import nn, optim
from chainrule.runs.config import TrainConfig
from chainrule.errors import ConfigError
from chainrule.train import EarlyStopping, History, fit

OUTPUT_FILES = ("model.safetensors", "history.json", "history.csv", "config.json", "loss.png")
CHECKPOINT_FILE = "checkpoint.safetensors"
BINARY_LOSSES = ("bce", "bce_logits")  # one output unit: the probability of the second class


class OutputsInterrupted(KeyboardInterrupt):
    """Ctrl-C while the outputs were written, after training had finished."""

    def __init__(self, out: Path, written: list[str]) -> None:
        checkpoint = out / CHECKPOINT_FILE
        super().__init__(
            f"interrupted while writing the outputs to {out} (written: "
            f"{', '.join(written) or 'none'}); training had finished and {checkpoint} is "
            f"complete: chainrule train --resume {checkpoint} writes them again"
        )


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
        """The network's output units: 1 for two classes under bce or bce_logits."""
        if self.loss in BINARY_LOSSES and self.dataset.task == "classification":
            return 1
        return self.dataset.n_outputs


def load_dataset(config: TrainConfig) -> datasets.Dataset:
    if config.dataset is not None:
        return datasets.load(config.dataset, seed=config.seed)
    return datasets.load_csv(config.csv, target=config.target)  # type: ignore[arg-type]


def choose_loss(name: str, ds: datasets.Dataset) -> str:
    """The loss for `ds`: "auto" is cross_entropy for classes and half_sse otherwise.

    bce and bce_logits fit two classes (one output unit for the probability of the second
    class; bce puts a sigmoid after it) or regression targets between 0 and 1.
    """
    classification = ds.task == "classification"
    if name == "auto":
        return "cross_entropy" if classification else "half_sse"
    if classification and name in BINARY_LOSSES and ds.n_classes != 2:
        raise ConfigError(f"loss {name!r} fits two classes (one output unit) but {ds.name!r} "
                          f"has {ds.n_classes}; use cross_entropy")
    if classification and name not in (*BINARY_LOSSES, "cross_entropy"):
        raise ConfigError(f"loss {name!r} does not fit the classification data of "
                          f"{ds.name!r}; use cross_entropy (or bce_logits for two classes)")
    if not classification and name == "cross_entropy":
        raise ConfigError(f"loss 'cross_entropy' does not fit the regression data of "
                          f"{ds.name!r}; use half_sse or mse")
    if not classification and name in BINARY_LOSSES and not np.all((ds.y >= 0) & (ds.y <= 1)):
        raise ConfigError(f"loss {name!r} needs targets between 0 and 1, but those of "
                          f"{ds.name!r} range from {ds.y.min():g} to {ds.y.max():g}; use "
                          "half_sse or mse")
    return name


def _check_classes_can_split(ds: datasets.Dataset) -> None:
    """A validation split keeps the class mix, so every class needs two samples."""
    labels, counts = np.unique(ds.y, return_counts=True)
    if counts.min() < 2:
        name = ds.target_names[int(labels[counts.argmin()])]
        raise ConfigError(
            f"{ds.name!r} has only one sample of class {name!r}, too few to hold out "
            "validation data with the same mix of classes (each class needs 2); use more "
            "data, or train without validation: --val-split 0 (val_split = 0)"
        )


def prepare(config: TrainConfig) -> Prepared:
    """Load the data, pick the loss, split off validation data and standardize the features.

    Under bce or bce_logits two classes become one float column of 0s and 1s.
    """
    ds = load_dataset(config)
    loss = choose_loss(config.loss, ds)
    X, y = ds.X, ds.y
    if config.val_split > 0 and ds.n_samples >= 5:
        classification = ds.task == "classification"
        if classification:
            _check_classes_can_split(ds)
        X, y, X_val, y_val = datasets.train_val_split(
            X, y, config.val_split, seed=config.seed, stratify=classification)
    else:
        X_val = y_val = None
    if loss in BINARY_LOSSES and ds.task == "classification":  # labels 0, 1 → a float column
        y = y.reshape(-1, 1).astype(np.float64)
        if y_val is not None:
            y_val = y_val.reshape(-1, 1).astype(np.float64)
    mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    if config.standardize and len(X) > 1:
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std == 0] = 1.0
    standardize = (lambda A: (A - mean) / std)  # noqa: E731
    return Prepared(standardize(X), y, None if X_val is None else standardize(X_val), y_val,
                    ds, loss, mean, std)


def build_model(config: TrainConfig, n_in: int, n_out: int) -> nn.Sequential:
    """An MLP n_in → hidden… → n_out with the configured activation; the output layer is
    linear, or a sigmoid under the bce loss (which takes probabilities)."""
    return nn.mlp([n_in, *config.hidden, n_out], config.activation,
                  "sigmoid" if config.loss == "bce" else None, rng=config.seed,
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


def check_output_folder(out: Path, files: Iterable[str] = ()) -> None:
    """Create the output folder and make sure it is writable — before any training — and that
    none of the `files` to be written there is blocked by a folder or a device of that name."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output folder {out}: {error.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"output folder {out} is not writable")
    for name in files:
        path = out / name
        if path.exists() and not path.is_file():
            raise ConfigError(f"cannot write {path}: a folder or other non-file is in the way; "
                              "remove it or choose another output folder")


@dataclass
class RunResult:
    model: nn.Sequential
    history: History
    prepared: Prepared
    out: Path


def run(config: TrainConfig, out: Path, *, progress: bool | str = "auto",
        resume: Any = None) -> RunResult:
    """Train as configured and write the model, history and loss plot to `out`."""
    check_output_folder(out, (*OUTPUT_FILES, CHECKPOINT_FILE))
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
    """Write the OUTPUT_FILES to `out`, in that order, each atomically.

    Ctrl-C midway raises OutputsInterrupted, which names the files already written.
    """
    from chainrule import io
    from chainrule.runs.plots import plot_history

    def text(data: str) -> Callable[[Path], None]:
        return lambda path: io.atomic_write_bytes(path, data.encode())

    writers: dict[str, Callable[[Path], None]] = {
        "model.safetensors": lambda path: io.save_model(
            model, path, metadata=model_metadata(config, prepared)),
        "history.json": text(json.dumps(history.to_dict(), indent=1)),
        "history.csv": text(history_csv(history)),
        "config.json": text(json.dumps(config.model_dump(), indent=1)),
        "loss.png": lambda path: plot_history(
            history, path, title=f"{prepared.dataset.name}: loss per epoch"),
    }
    written: list[str] = []
    try:
        for name in OUTPUT_FILES:
            writers[name](out / name)
            written.append(name)
    except KeyboardInterrupt:
        raise OutputsInterrupted(out, written) from None


def history_csv(history: History) -> str:
    columns = list(dict.fromkeys(key for row in history.epochs for key in row))
    lines = [",".join(columns)]
    lines += [",".join(repr(row.get(c, "")) for c in columns) for row in history.epochs]
    return "\n".join(lines) + "\n"
