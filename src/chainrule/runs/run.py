"""The one function that trains a configured run: `train(config)`.

`chainrule train`, every sweep trial, `chainrule diagnose`, `chainrule demo` and a Python
user all train through it, so a configuration means the same run everywhere:

    from chainrule.runs import TrainConfig, train
    result = train(TrainConfig(dataset="digits", hidden=[64], lr=3e-3, epochs=40),
                   out="runs/digits")        # without `out`: nothing is written
    result.status, result.final["val_accuracy"]

The steps, each a small function a program can use alone: `prepare` (preparation.py: data,
loss, validation split, standardisation), `build_model`, `build_optimizer`, then `fit`, then
the run folder's one writer (folder.py). How a run ends is its `status`, never lost: "finished",
"early-stopped" and "diverged" come back as a `RunResult` (a diverged run keeps its last
finite weights and its history up to the failure, and writes them); Ctrl-C writes what there
is and raises `RunInterrupted`, which carries the result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn, optim
from chainrule.errors import ConfigError, DivergenceError
from chainrule.runs.config import TrainConfig
from chainrule.runs.folder import RunFolder
from chainrule.runs.monitor import (
    Boundary,
    BoundarySnapshots,
    GradientMonitor,
    GradientNorms,
    animation_epochs,
    light_monitor,
)
from chainrule.runs.preparation import Prepared, prepare
from chainrule.train import Callback, EarlyStopping, History, TrainingInterrupted, evaluate, fit


class RunInterrupted(TrainingInterrupted):
    """Ctrl-C stopped a run; what there was has been written, and `result` holds it."""

    def __init__(self, stop: TrainingInterrupted, result: RunResult) -> None:
        super().__init__(stop.state, stop.checkpoint)
        self.args = stop.args
        self.result = result


def build_model(config: TrainConfig, prepared: Prepared) -> nn.Sequential:
    """The configured network for `prepared`'s data.

    network "mlp": n_in → hidden… → n_out with the configured activation; the output layer
    is linear, or a sigmoid under the bce loss (which takes probabilities).
    network "worked-example": the notes' 2-2-2 sigmoid network with w1..w8 and fixed biases.
    """
    if config.network == "worked-example":
        from chainrule.examples import worked_example_model

        return worked_example_model(dtype=config.dtype)
    return nn.mlp([prepared.dataset.n_features, *config.hidden, prepared.n_outputs],
                  config.activation, "sigmoid" if config.loss == "bce" else None,
                  rng=config.seed, dtype=config.dtype, init=config.init)


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


@dataclass
class RunResult:
    """A run as it ended.

    status: "finished", "early-stopped", "diverged" or "interrupted".
    model: the trained network (the last finite weights after a divergence; None only when a
        Ctrl-C in the middle of an update left no whole model).
    final: the model's metrics as it ends: "loss" (and "accuracy") on the training data, and
        "val_loss"/"val_accuracy" on the validation data — the loss after the last update,
        not the mean over the last epoch that the history records.
    written: the files written, if the run had a folder.
    gradient_norms: each Linear layer's ‖∂E/∂W‖ over training, every k-th update (monitor.py;
        the caller's GradientMonitor's when it passed one, else a light one's).
    boundaries: for two-feature data, the network over the input plane after a few epochs
        (the first, about ⅓ and ⅔ of the way, the last; up to ANIMATION_FRAMES with
        `animate`), for the report's decision boundaries and training.gif.
    optimizer: the optimizer as training left it (its state continues a run: partial_fit).
    """

    config: TrainConfig
    prepared: Prepared
    model: nn.Sequential | None
    history: History
    status: str = "finished"
    error: str | None = None
    final: dict[str, float] = field(default_factory=dict)
    folder: Path | None = None
    written: list[Path] = field(default_factory=list)
    gradient_norms: GradientNorms | None = None
    boundaries: list[Boundary] = field(default_factory=list)
    optimizer: optim.Optimizer | None = None

    @property
    def epochs(self) -> int:
        return len(self.history.epochs)

    @property
    def steps(self) -> int:
        return len(self.history.step_losses)

    def summary(self) -> dict[str, Any]:
        """How the run ended, as run.json records it."""
        return {"status": self.status, "error": self.error, "epochs": self.epochs,
                "steps": self.steps, "stop_reason": self.history.stop_reason,
                "final": {key: value if math.isfinite(value) else None
                          for key, value in self.final.items()}}


def train(config: TrainConfig, out: str | os.PathLike[str] | None = None, *,
          prepared: Prepared | None = None, callbacks: Sequence[Callback] = (),
          progress: bool | str = False, resume: Any = None,
          overwrite: bool = False) -> RunResult:
    """Train the configured run; with `out`, write its folder (folder.py) as it ends.

    prepared: the run's data, when the caller has prepared it already (diagnose hands a sample
        of it to its monitor); by default `prepare(config)`.
    callbacks: more `fit` callbacks (early stopping comes from the config).
    resume: a `chainrule.io.Checkpoint` to continue from (see resume.py); it continues in its
        own folder. overwrite: replace a previous run in `out` (otherwise refused).

    The data are read and checked before the folder is touched, so a bad CSV or a typo leaves
    nothing behind. Returns the `RunResult` also when the run diverged (status "diverged",
    its files written); Ctrl-C raises `RunInterrupted` after writing what there is.
    """
    prepared = prepare(config) if prepared is None else prepared
    check_animation(config, prepared)
    if out is None:
        return _train(config, prepared, None, callbacks, progress, resume)
    with RunFolder.open(out, overwrite=overwrite, resume=resume is not None) as folder:
        return _train(config, prepared, folder, callbacks, progress, resume)


def check_animation(config: TrainConfig, prepared: Prepared) -> None:
    """`animate` draws the input plane, so it needs data with exactly two features."""
    n = prepared.dataset.n_features
    if config.animate and n != 2:
        raise ConfigError(f"--animate draws the decision boundary over the plane of two input "
                          f"features, but {prepared.dataset.name!r} has {n} feature"
                          f"{'' if n == 1 else 's'}; train without --animate (animate = false)")


def _recorders(config: TrainConfig, prepared: Prepared, callbacks: Sequence[Callback],
               batch_size: int) -> tuple[GradientMonitor, BoundarySnapshots | None, list]:
    """The callbacks that gather what the report needs (monitor.py), ahead of the caller's: a
    light gradient monitor unless the caller brings one, and boundary snapshots for
    two-feature data."""
    monitor = next((c for c in callbacks if isinstance(c, GradientMonitor)), None)
    extra: list[Callback] = []
    if monitor is None:
        updates = config.epochs * math.ceil(len(prepared.X_train) / batch_size)
        monitor = light_monitor(updates)
        extra.append(monitor)
    snapshots = None
    if prepared.dataset.n_features == 2:
        snapshots = BoundarySnapshots(prepared, config.epochs,
                                      animation_epochs if config.animate else None)
        extra.append(snapshots)
    return monitor, snapshots, extra


def _train(config: TrainConfig, prepared: Prepared, folder: RunFolder | None,
           callbacks: Sequence[Callback], progress: bool | str, resume: Any) -> RunResult:
    model = build_model(config, prepared)
    optimizer = build_optimizer(config, model.parameters())
    validation = None if prepared.X_val is None else (prepared.X_val, prepared.y_val)
    n_train = len(prepared.X_train)
    batch_size = n_train if config.batch_size is None else min(config.batch_size, n_train)
    monitor, snapshots, recorders = _recorders(config, prepared, callbacks, batch_size)
    callbacks = [*recorders, *callbacks]
    if config.early_stopping is not None and validation is not None:
        callbacks.append(EarlyStopping(patience=config.early_stopping))

    def recorded(result: RunResult) -> RunResult:
        result.gradient_norms = monitor.gradient_norms() if monitor.layers else None
        result.boundaries = [] if snapshots is None else list(snapshots.boundaries)
        result.optimizer = optimizer
        return result

    try:
        history = fit(model, prepared.loss, optimizer, prepared.X_train, prepared.y_train,
                      epochs=config.epochs,
                      batch_size=None if config.batch_size is None else batch_size,
                      seed=config.seed, validation_data=validation, callbacks=callbacks,
                      progress=progress, resume=resume,
                      checkpoint=None if folder is None else str(folder.checkpoint),
                      checkpoint_config=config.model_dump(), trace=config.trace,
                      grad_clip=config.grad_clip)
        status = "early-stopped" if history.stop_reason else "finished"
        result = recorded(RunResult(config, prepared, model, history, status))
    except DivergenceError as error:
        result = recorded(RunResult(config, prepared, model,
                                    error.history,  # type: ignore[attr-defined]
                                    "diverged", str(error)))
    except TrainingInterrupted as stop:
        result = recorded(RunResult(config, prepared, _whole_model(stop, model),
                                    stop.state.history, "interrupted", str(stop)))
        _finish(result, folder)
        raise RunInterrupted(stop, result) from None
    _finish(result, folder)
    return result


def _whole_model(stop: TrainingInterrupted, model: nn.Sequential) -> nn.Sequential | None:
    """The model after the last complete update: the live one, or — after a Ctrl-C in the
    middle of an update — the last checkpoint's, if one was saved."""
    if stop.state.consistent:
        return model
    if stop.checkpoint is not None:
        from chainrule import io

        return io.load(stop.checkpoint)
    return None


def _finish(result: RunResult, folder: RunFolder | None) -> None:
    """Measure the final model and write the run's files."""
    if result.model is not None:
        prepared = result.prepared
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result.final = evaluate(result.model, prepared.loss, prepared.X_train,
                                    prepared.y_train)
            if prepared.X_val is not None:
                result.final |= {f"val_{key}": value for key, value in evaluate(
                    result.model, prepared.loss, prepared.X_val, prepared.y_val).items()}
    if folder is not None:
        result.folder = folder.path
        result.written = folder.write(result)
