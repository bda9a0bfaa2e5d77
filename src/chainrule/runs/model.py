"""What a trained model file means: what a run stores beside the weights, and the one reader that
turns a file and new data back into predictions.

`chainrule train` stores, in the file's "user" metadata (Note [the metadata of a chainrule
file] in io.py): the run's config, the task, the loss, the feature and target names, and the
mean and standard deviation that standardised each feature. `TrainedModel.load` reads them back,
checked, and `TrainedModel.predict` applies the same standardisation, runs the network and
turns its outputs into what the loss means: class probabilities for classifiers (softmax for
cross_entropy, a sigmoid for bce_logits), the outputs themselves for regression.

    trained = TrainedModel.load("runs/iris/model.safetensors")
    table = trained.predict_csv("new_irises.csv")    # columns matched by name
    table.header, table.rows[0]                       # ['row', 'prediction', 'probability'], ...
"""

from __future__ import annotations

import csv
import io as text_io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import io, nn
from chainrule.errors import ConfigError, ModelFileError
from chainrule.runs.preparation import BINARY_LOSSES, Prepared

if TYPE_CHECKING:
    from chainrule.runs.config import TrainConfig


def model_metadata(config: TrainConfig, prepared: Prepared) -> dict[str, Any]:
    """What prediction needs besides the weights: preprocessing and names."""
    ds = prepared.dataset
    return {"config": config.model_dump(), "task": ds.task, "loss": prepared.loss,
            "feature_names": list(ds.feature_names), "target_names": list(ds.target_names),
            "mean": prepared.mean.tolist(), "std": prepared.std.tolist()}


def probability_rule(loss: str | None, task: str | None) -> str | None:
    """How a network's raw outputs become class probabilities under `loss`: "softmax" (over
    the outputs, for cross_entropy), "sigmoid" (bce_logits: the first output is the logit of
    the second class, so the columns are [1 − σ, σ]), "binary" (bce: the first output is that
    probability already, the columns are [1 − p, p]), or None (regression: no probabilities).
    `probabilities` computes it in NumPy, `chainrule.onnx` as ONNX nodes."""
    if loss == "cross_entropy":
        return "softmax"
    if loss in BINARY_LOSSES and task == "classification":
        return "sigmoid" if loss == "bce_logits" else "binary"
    return None


def probabilities(loss: str, task: str, outputs: np.ndarray) -> np.ndarray | None:
    """Class probabilities (one column per class) from a network's raw outputs under `loss`,
    or None for regression (see `probability_rule`)."""
    from chainrule.ops.activation import SigmoidOp, softmax_array

    rule = probability_rule(loss, task)
    if rule == "softmax":
        return softmax_array(outputs, axis=1)
    if rule is None:
        return None
    p = SigmoidOp.forward(outputs)[0] if rule == "sigmoid" else outputs
    return np.column_stack([1 - p[:, 0], p[:, 0]])


@dataclass
class Predictions:
    """A table of predictions: its header and rows (NumPy scalars keep full precision), and how
    the input columns were matched to the model's features ("name" or "position")."""

    header: list[str]
    rows: list[list[Any]]
    matched: str = "name"
    ignored: tuple[str, ...] = ()

    def to_csv(self) -> str:
        buffer = text_io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([self.header, *self.rows])
        return buffer.getvalue()


@dataclass
class TrainedModel:
    """A model file with what its run stored beside the weights, checked.

    path: the file it was read from (None for one made in memory by `from_run`).
    info: the stored metadata itself, as `save` writes it again.
    """

    path: Path | None
    network: nn.Sequential
    task: str | None
    loss: str | None
    feature_names: list[str]
    target_names: list[str] | None
    mean: np.ndarray
    std: np.ndarray
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_run(cls, config: TrainConfig, prepared: Prepared, network: nn.Sequential
                 ) -> TrainedModel:
        """The model a run trained, with what its file stores (model_metadata)."""
        info = model_metadata(config, prepared)
        return cls(None, network, info=info, **_checked_info(None, info, network))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file: the weights and the metadata, atomically."""
        io.save_model(self.network, path, metadata=self.info)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainedModel:
        """Read a model file written by a run (or by `save_model`, which gets raw inputs and
        generic names). A checkpoint is refused: it does not record the preprocessing."""
        path = Path(path)
        network = io.load(path)
        metadata = io.load_metadata(path)
        info = metadata.get("user") or {}
        if metadata["format"] == io.CHECKPOINT_FORMAT and not info:
            raise ModelFileError(
                f"{path} is a training checkpoint, which does not record the feature names and "
                "standardization that predict and export need; use the model file chainrule "
                f"train wrote beside it: {path.parent / 'model.safetensors'}")
        return cls(path, network, info=info, **_checked_info(path, info, network))

    def standardized(self, X: np.ndarray) -> np.ndarray:
        """Rows of raw features as the network takes them: standardised, in float64."""
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.std

    def outputs(self, X: np.ndarray, network: nn.Module | None = None) -> np.ndarray:
        """The network's raw outputs for rows of features in the model's order (or those of
        `network`, a part of it: the layers before a final sigmoid)."""
        from chainrule.train import predict

        return predict(self.network if network is None else network, self.standardized(X))

    def probabilities(self, outputs: np.ndarray) -> np.ndarray | None:
        """Class probabilities from raw outputs, or None for a regression model."""
        return probabilities(self.loss, self.task, outputs)

    def predict(self, X: np.ndarray) -> Predictions:
        """Class and probability for classifiers, output values for regression, per row."""
        outputs = self.outputs(X)
        probabilities = self.probabilities(outputs)
        if probabilities is None:
            names = self.target_names or [f"y{k}" for k in range(outputs.shape[1])]
            return Predictions(["row", *names], [[i, *row] for i, row in enumerate(outputs)])
        names = self.target_names or [str(k) for k in range(probabilities.shape[1])]
        best = probabilities.argmax(axis=1)
        return Predictions(["row", "prediction", "probability"],
                           [[i, names[k], probabilities[i, k]] for i, k in enumerate(best)])

    def predict_csv(self, path: str | os.PathLike[str], *, header: bool | str = "auto"
                    ) -> Predictions:
        """Predictions for the rows of a CSV file, its columns matched to the model's features
        by name (by position only for a headerless file of the right width)."""
        from chainrule.data import read_features

        features = read_features(path, self.feature_names, header=header)
        predictions = self.predict(features.X)
        predictions.matched, predictions.ignored = features.matched, tuple(features.ignored)
        return predictions


def write_predictions(predictions: Predictions, out: str | os.PathLike[str], *,
                      inputs: tuple[str | os.PathLike[str], ...] = ()) -> None:
    """Write the predictions as CSV, atomically; never over one of the `inputs` (the data or
    the model the predictions come from)."""
    out = Path(out)
    for source in inputs:
        if out.exists() and os.path.samefile(out, source):
            raise ConfigError(f"--out {out} is the input file {source}; writing the "
                              "predictions there would destroy it: choose another file")
    io.atomic_write_bytes(out, predictions.to_csv().encode())


def _checked_info(path: Path | None, info: dict[str, Any], network: nn.Module) -> dict[str, Any]:
    """The stored fields, each checked against the network (a file's metadata is data from
    outside: the checksum only says who wrote it last, not that it is sensible)."""
    linears = [m for m in network.modules() if isinstance(m, nn.Linear)]
    n_in, n_out = (linears[0].in_features, linears[-1].out_features) if linears else (0, 0)
    task = info.get("task")
    n_targets = 2 if task == "classification" and info.get("loss") in BINARY_LOSSES else n_out

    def numbers(value: Any, positive: bool = False) -> bool:
        return isinstance(value, list) and len(value) == n_in and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and (v > 0 or not positive) for v in value)

    def strings(value: Any, n: int) -> bool:
        return isinstance(value, list) and len(value) == n and all(
            isinstance(v, str) for v in value)

    fields = {  # key: (default, check, what the check wants)
        "feature_names": ([f"x{i}" for i in range(n_in)], lambda v: strings(v, n_in),
                          f"a list of {n_in} names"),
        "mean": ([0.0] * n_in, numbers, f"a list of {n_in} finite numbers"),
        "std": ([1.0] * n_in, lambda v: numbers(v, positive=True),
                f"a list of {n_in} positive numbers"),
        "target_names": (None, lambda v: v is None or strings(v, n_targets),
                         f"a list of {n_targets} names"),
        "loss": (None, lambda v: v is None or isinstance(v, str), "a loss name"),
        "task": (None, lambda v: v in (None, "classification", "regression"),
                 "classification or regression"),
    }
    checked: dict[str, Any] = {}
    for key, (default, check, wanted) in fields.items():
        value = info.get(key, default)
        if not check(value):
            raise ModelFileError(f"{path}: its metadata {key!r} must be {wanted}, got "
                                 f"{str(value)[:80]}")
        checked[key] = value
    checked["mean"] = np.asarray(checked["mean"], dtype=np.float64)
    checked["std"] = np.asarray(checked["std"], dtype=np.float64)
    return checked
