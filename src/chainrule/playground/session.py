"""One user's playground session: the page's settings → a run's pieces, epochs, frames, steps
written out as the chain rule.

Plain Python on chainrule, no web framework, so every behaviour is tested without a server;
server.py gives each WebSocket a `Session` of its own and calls it from a worker thread.

    session = Session(Settings(dataset="worked-example", lr=0.5))
    session.current["loss"]                  # 0.298371109...
    session.train_epoch()                    # one epoch = one full-batch update here
    session.frame()["loss"]                  # 0.291027774...
    session.explain("w5")["text"]            # ∂E/∂w5 as explain writes it
    session.explain("w5", notation="layer")  # … as ∂C₀/∂w⁽²⁾₁₁

A run is built the way `chainrule train` builds one (TrainConfig → `prepare` → `build_model` /
`build_optimizer`) and trained by `fit` itself, one epoch per call, so the playground has no
training loop of its own.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from chainrule import nn, optim
from chainrule.errors import ConfigError, DataError
from chainrule.explain import Explanation, explain
from chainrule.explain.notation import Naming
from chainrule.runs.config import TrainConfig, make_config
from chainrule.runs.model import probabilities
from chainrule.runs.plane import Plane, unit_planes
from chainrule.runs.preparation import Prepared, prepare
from chainrule.runs.run import build_model, build_optimizer
from chainrule.train import Callback, TrainState, evaluate, fit

DATASETS = ("xor", "moons", "spirals", "circles", "worked-example", "csv")
"""What the page offers: the generated two-feature sets, the notes' example, an upload."""
ACTIVATIONS = tuple(nn.HIDDEN_ACTIVATIONS)  # all element-wise, so all written out by explain
LOSSES = ("auto", "cross_entropy", "bce", "half_sse", "mse")  # those explain writes out
OPTIMIZERS = tuple(optim.OPTIMIZERS)
MAX_LAYERS, MAX_WIDTH, MAX_OUTPUTS = 4, 8, 2
MAX_WEIGHTS = 2 * MAX_WIDTH + (MAX_LAYERS - 1) * MAX_WIDTH**2 + MAX_WIDTH * MAX_OUTPUTS
"""The most weights a playground network has (2 inputs, 4 × 8 hidden, 2 outputs): explain's
limit, so that every network the page can build can be written out."""
RESOLUTION = 50  # the decision boundary's grid; unit squares use every second point
MAX_POINTS = 1000  # data points sent to the page for drawing


class Settings(BaseModel):
    """What the page sends to configure a session; unknown keys and wrong types are refused.

    dataset "csv" trains on an uploaded file: `upload` is the id that POST /upload returned.
    hidden: 0 to 4 layers of 1 to 8 units (ignored by the worked example's fixed network).
    batch_size: None trains on the whole training set at once (full-batch descent).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    dataset: Literal[DATASETS] = "spirals"  # type: ignore[valid-type]
    upload: str | None = None
    hidden: list[int] = [6, 6]
    activation: Literal[ACTIVATIONS] = "tanh"  # type: ignore[valid-type]
    loss: Literal[LOSSES] = "auto"  # type: ignore[valid-type]
    optimizer: Literal[OPTIMIZERS] = "sgd"  # type: ignore[valid-type]
    lr: float = 0.1
    batch_size: int | None = 10
    seed: int = 0

    @field_validator("hidden")
    @classmethod
    def _small_network(cls, value: list[int]) -> list[int]:
        if len(value) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} hidden layers, got {len(value)}")
        if any(not 1 <= width <= MAX_WIDTH for width in value):
            raise ValueError(f"each hidden layer needs 1 to {MAX_WIDTH} units, got {value}")
        return value

    @field_validator("lr")
    @classmethod
    def _learning_rate(cls, value: float) -> float:
        if not math.isfinite(value) or not 0 < value <= 10:
            raise ValueError(f"must be a number above 0 and at most 10, got {value}")
        return value

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 10_000:
            raise ValueError(f"must be 1 to 10000 (or empty for the whole set), got {value}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int) -> int:
        if not 0 <= value < 2**31:
            raise ValueError(f"must be 0 to {2**31 - 1}, got {value}")
        return value


def problems(error: ValidationError, source: str) -> str:
    """A pydantic error as one line: 'settings: lr: Input should be a valid number'."""
    found = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = " ".join(item["msg"].removeprefix("Value error, ").split())
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        found.append(f"{where}: {message}" if where else message)
    return f"{source}: " + "; ".join(found)


def parse_settings(values: Any) -> Settings:
    """The page's settings, validated, or a ConfigError naming each bad one."""
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(problems(error, "settings")) from None


def train_config(settings: Settings, uploads: Mapping[str, Path]) -> TrainConfig:
    """The TrainConfig of these settings: the run `chainrule train` would make of them,
    in float64 (small networks, and the 9 digits the page shows mean something)."""
    values: dict[str, Any] = {"loss": settings.loss, "optimizer": settings.optimizer,
                              "lr": settings.lr, "seed": settings.seed, "dtype": "float64",
                              "epochs": 1}
    if settings.dataset == "worked-example":
        values["dataset"] = "worked-example"
        if settings.loss == "auto":
            del values["loss"]  # the notes' half_sse
        return make_config(values, "settings")
    if settings.dataset == "csv":
        if settings.upload is None or settings.upload not in uploads:
            raise ConfigError("settings: dataset csv needs a file: upload one first (the "
                              "server forgets uploads when it stops)")
        values["csv"] = str(uploads[settings.upload])
    else:
        values["dataset"] = settings.dataset
    values |= {"hidden": list(settings.hidden), "activation": settings.activation,
               "batch_size": settings.batch_size}
    return make_config(values, "settings")


def check_plane_data(prepared: Prepared, what: str) -> None:
    """The page draws the input plane and two classes (or one output): say so clearly."""
    ds = prepared.dataset
    if ds.n_features != 2:
        raise DataError(f"{what} has {ds.n_features} feature columns; the playground draws the "
                        "input plane, so it needs exactly 2 features and one target column "
                        "(the last)")
    if ds.task == "classification" and (ds.n_classes or 0) > MAX_OUTPUTS:
        raise DataError(f"{what} has {ds.n_classes} classes; the playground draws 2 (train "
                        "more with chainrule train)")
    if ds.task == "regression" and ds.n_outputs > MAX_OUTPUTS:
        raise DataError(f"{what} has {ds.n_outputs} targets; the playground draws at most 2")


def explain_parameter(ex: Explanation, param: str) -> str:
    """The text of `param`'s derivation, as `chainrule explain --focus` writes it: the
    forward values of its unit, the δ's it reuses, its chain-rule product, check and update."""
    return ex.render("text", focus=param)


class Stopped(Exception):
    """The session was cancelled (its tab closed) in the middle of an epoch."""


class _Cancel(Callback):
    """Stops `fit` after the step in progress once `event` is set."""

    def __init__(self, event: threading.Event | None) -> None:
        self.event = event

    def on_step_end(self, state: TrainState, loss: float) -> None:
        if self.event is not None and self.event.is_set():
            raise Stopped


def _u8(values: np.ndarray, low: float, high: float) -> str:
    """Values scaled from [low, high] to bytes 0..255, base64: a grid in a few kB."""
    span = high - low if high > low else 1.0
    scaled = np.clip(np.rint((values - low) / span * 255), 0, 255).astype(np.uint8)
    return base64.b64encode(scaled.tobytes()).decode("ascii")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class Session:
    """A network being trained on one page: built from `settings`, trained epoch by epoch.

    uploads: upload id → file, the CSVs this server holds. Raises ConfigError or DataError
    (with a message for the page) when the settings or the data do not make a run.
    """

    def __init__(self, settings: Settings, uploads: Mapping[str, Path] | None = None) -> None:
        self.settings = settings
        self.config = train_config(settings, uploads or {})
        self.prepared = prepare(self.config)
        what = "the uploaded CSV" if settings.dataset == "csv" else repr(settings.dataset)
        check_plane_data(self.prepared, what)
        self.plane = Plane.around(self.prepared.dataset.X, RESOLUTION)
        self.reset()

    # --- the run -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh initial weights from the seed (the notes' own for the worked example)."""
        self.model = build_model(self.config, self.prepared)
        self.optimizer = build_optimizer(self.config, self.model.parameters())
        self.naming = Naming((2, *(layer.out_features for layer in self._linears())))
        self.epoch = 0
        self.steps = 0
        self.loss_before: float | None = None
        self.current = self._measure()

    @property
    def batch_size(self) -> int | None:
        n = len(self.prepared.X_train)
        size = self.config.batch_size
        return None if size is None or size >= n else size

    def train_epoch(self, cancel: threading.Event | None = None) -> None:
        """One epoch of `fit` (one update when the batch is the whole set). The shuffle seed
        changes every epoch, as it would inside one long `fit`. Raises `Stopped` once `cancel`
        is set (after the step in progress) and DivergenceError as `fit` does."""
        p = self.prepared
        before = self.current["loss"]
        history = fit(self.model, p.loss, self.optimizer, p.X_train, p.y_train, epochs=1,
                      batch_size=self.batch_size, seed=self.config.seed * 1_000_003 + self.epoch,
                      progress=False, callbacks=[_Cancel(cancel)])  # _measure validates
        self.epoch += 1
        self.steps += len(history.step_losses)
        self.loss_before = before
        self.current = self._measure()

    def train_for(self, seconds: float, cancel: threading.Event | None = None,
                  most: int | None = None) -> int:
        """Epochs until `seconds` have passed (at least one, at most `most`): what one frame
        shows. Returns how many."""
        start, done = time.monotonic(), 0
        while True:
            self.train_epoch(cancel)
            done += 1
            if (time.monotonic() - start >= seconds or done == most
                    or (cancel is not None and cancel.is_set())):
                return done

    def _measure(self) -> dict[str, float | None]:
        """Loss (and accuracy) of the current weights, on training and validation data: not
        an epoch's mean, so a step of the worked example shows the notes' E_total."""
        p = self.prepared
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train = evaluate(self.model, p.loss, p.X_train, p.y_train)
            val = {} if p.X_val is None else evaluate(self.model, p.loss, p.X_val, p.y_val)
        return {"loss": train["loss"], "accuracy": train.get("accuracy"),
                "val_loss": val.get("loss"), "val_accuracy": val.get("accuracy")}

    def _linears(self) -> list[nn.Linear]:
        return [m for m in self.model.children() if isinstance(m, nn.Linear)]

    # --- what the page draws -----------------------------------------------------------------
    def network(self) -> dict[str, Any]:
        """The network's shape and names, sent once per configuration: units per layer (i1,
        h1, o1...), the weights' names row by row (w1, w2, ...) and the biases' (b_h1...)."""
        naming, sizes = self.naming, self.naming.sizes
        return {
            "sizes": list(sizes),
            "units": [naming.units(k) for k in range(len(sizes))],
            "weights": [[naming.weight(k, row, col) for row in range(sizes[k])
                         for col in range(sizes[k - 1])] for k in range(1, len(sizes))],
            "biases": [[naming.bias(k, row) for row in range(sizes[k])]
                       for k in range(1, len(sizes))],
            "activation": "sigmoid" if self.config.network == "worked-example"
            else self.config.activation,
            "loss": self.prepared.loss, "optimizer": self.config.optimizer,
            "lr": self.config.lr, "batch_size": self.batch_size,
            "task": self.prepared.dataset.task,
            "n_train": len(self.prepared.X_train),
        }

    def points(self) -> dict[str, Any]:
        """The data in its own units, for drawing over the plane: training points first."""
        p = self.prepared
        parts = [(p.X_train, p.y_train, "train")]
        if p.X_val is not None:
            parts.append((p.X_val, p.y_val, "val"))
        xs, ys, labels, split = [], [], [], []
        for X, y, name in parts:
            raw = X * p.std + p.mean
            label = (y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y).astype(np.float64)
            xs += raw[:, 0].tolist()
            ys += raw[:, 1].tolist()
            labels += label.tolist()
            split += [name] * len(X)
        keep = slice(None, MAX_POINTS)
        return {"x": xs[keep], "y": ys[keep], "label": labels[keep], "split": split[keep],
                "extent": list(self.plane.extent)}

    def frame(self) -> dict[str, Any]:
        """Everything the page redraws: epoch, losses, the boundary, each unit's square and
        every weight. Grids are bytes 0..255 in base64, rows from the bottom of the plane."""
        layers = unit_planes(self.model, self.prepared, self.plane)
        outputs = layers[-1].reshape(-1, layers[-1].shape[-1])
        p = probabilities(self.prepared.loss, self.prepared.dataset.task, outputs)
        if p is not None:  # the probability of the second class
            boundary = {"kind": "probability", "low": 0.0, "high": 1.0,
                        "data": _u8(p[:, 1], 0.0, 1.0)}
        else:  # regression: the first output over the plane
            first = outputs[:, 0]
            low, high = float(np.nanmin(first)), float(np.nanmax(first))
            boundary = {"kind": "output", "low": low, "high": high,
                        "data": _u8(first, low, high)}
        boundary["size"] = RESOLUTION
        units = []
        for grid in layers:
            small = grid[::2, ::2]
            squares = []
            for j in range(small.shape[-1]):
                values = small[..., j]
                scale = float(np.nanmax(np.abs(values))) if values.size else 0.0
                scale = scale if math.isfinite(scale) and scale > 0 else 1.0
                squares.append({"scale": scale, "data": _u8(values, -scale, scale)})
            units.append(squares)
        weights = [{"w": layer.weight.data.ravel().tolist(),
                    "b": [] if layer.bias is None else layer.bias.data.tolist()}
                   for layer in self._linears()]
        return {"type": "frame", "epoch": self.epoch, "steps": self.steps,
                **{key: _finite(value) for key, value in self.current.items()},
                "loss_before": _finite(self.loss_before), "boundary": boundary,
                "unit_size": len(layers[0][::2]), "units": units, "weights": weights}

    # --- one step, written out -------------------------------------------------------------
    def explain(self, param: str, sample: int = 0, notation: str = "unit") -> dict[str, Any]:
        """∂E/∂param for one training sample at the current weights, as explain writes it in
        `notation` ("unit" or "layer"), with the update w⁺ = w − η·∂E/∂w and what the
        session's optimizer does instead. `param` is the unit notation's name (w5, b_h1) in
        either notation; "symbol" and "error_symbol" say how the text writes it and E."""
        network = self.network()
        names = [name for layer in network["weights"] + network["biases"] for name in layer]
        if param not in names:
            raise ConfigError(f"explain: no parameter {param!r} in this network; it has "
                              f"{', '.join(names)}")
        n = len(self.prepared.X_train)
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < n:
            raise ConfigError(f"explain: sample must be a training sample number from 0 to "
                              f"{n - 1}, got {sample!r}")
        p = self.prepared
        ex = explain(self.model, p.X_train[sample], p.y_train[sample], loss=p.loss,
                     lr=self.config.lr, max_weights=MAX_WEIGHTS, notation=notation)
        gradient, update, naming = ex.gradient(param), ex.update(param), Naming.of(ex.network)
        return {"type": "explanation", "param": param, "sample": sample,
                "notation": notation, "symbol": naming.symbol(param),
                "error_symbol": naming.error,
                "text": explain_parameter(ex, param), "grad": gradient.grad,
                "delta": gradient.delta, "before": update.before, "after": update.after,
                "direction": update.direction, "lr": self.config.lr, "error": ex.error,
                "error_after": ex.error_after, "notes": self._notes(naming)}

    def _notes(self, naming: Naming) -> list[str]:
        """What differs between the step written out and the step training takes."""
        notes = []
        name = optim.DISPLAY_NAMES[self.config.optimizer]
        E = naming.error
        if self.config.optimizer != "sgd":
            notes.append(f"The update written out is the plain gradient step w⁺ = w − η·∂{E}/∂w. "
                         f"This session trains with {name}, whose own step differs: it scales "
                         "each parameter's step by running averages of its gradients.")
        if self.batch_size is not None or len(self.prepared.X_train) > 1:
            batch = self.batch_size or len(self.prepared.X_train)
            notes.append(f"Training averages ∂{E}/∂w over a batch of {batch} samples; this is "
                         "the derivative for the one sample chosen.")
        if self.config.standardize and self.prepared.dataset.n_samples > 1:
            inputs = ", ".join(map(naming.out, naming.units(0)))
            notes.append(f"{inputs} are the sample as the network sees it: each feature "
                         "standardised, (x − mean) / std of the training data.")
        return notes


__all__ = ["Session", "Settings", "Stopped", "explain_parameter",
           "parse_settings"]
