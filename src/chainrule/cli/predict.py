"""`chainrule predict MODEL DATA.csv`: the model's predictions for the rows of a CSV file."""

from __future__ import annotations

import csv
import io as text_io
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from chainrule.cli.core import command
from chainrule.ops.activation import Sigmoid


@command("predict")
def predict(
    model: Annotated[Path, typer.Argument(help="A model file written by chainrule train.")],
    data: Annotated[Path, typer.Argument(help="CSV file with the model's feature columns.")],
    out: Annotated[Path | None, typer.Option(
        help="Write the predictions to this CSV file, in full precision.  [default: print a "
             "table]")] = None,
) -> None:
    """Print (or write) the model's prediction for every row of DATA.

    Classifiers give the most likely class and its probability, other models their outputs.
    The table rounds the numbers; a file written with --out holds them in full precision.
    """
    from chainrule import io
    from chainrule.data import load_features
    from chainrule.train import predict as run_model

    network = io.load(model)
    info = _training_info(model, io.load_metadata(model), network)
    X = load_features(data, info["feature_names"])
    outputs = run_model(network, (X - info["mean"]) / info["std"])
    header, rows = _rows(outputs, info)
    if out is not None:
        buffer = text_io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
        io.atomic_write_bytes(out, buffer.getvalue().encode())
        print(f"wrote {len(rows)} predictions to {out}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    style = ".4f" if header[-1] == "probability" else ".6g"
    for row in rows:
        table.add_row(*(format(cell, style) if isinstance(cell, np.floating) else str(cell)
                        for cell in row))
    Console().print(table)


def _training_info(path: Path, metadata: dict[str, Any], network: Any) -> dict[str, Any]:
    """What `chainrule train` stored beside the weights (Note [the metadata of a chainrule
    file], "user"), checked; a model saved without it gets raw inputs and generic names."""
    from chainrule import nn
    from chainrule.errors import ModelFileError
    from chainrule.runs.run import BINARY_LOSSES

    info = metadata.get("user") or {}
    if metadata["format"] == "chainrule-checkpoint" and not info:
        raise ModelFileError(
            f"{path} is a training checkpoint, which does not record the feature names and "
            "standardization that predict needs; use the model file chainrule train wrote "
            f"beside it: {path.parent / 'model.safetensors'}")
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
    }
    checked = {"task": task}
    for key, (default, check, wanted) in fields.items():
        value = info.get(key, default)
        if not check(value):
            raise ModelFileError(f"{path}: its metadata {key!r} must be {wanted}, got "
                                 f"{str(value)[:80]}")
        checked[key] = value
    return checked


def _rows(outputs: np.ndarray, info: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Class and probability for classifiers, output values for regression.

    Numbers stay NumPy scalars of the model's dtype, whose str() is the shortest text that
    reads back to the same value: full precision, without float32 noise digits.
    """
    loss, names = info["loss"], info["target_names"]
    if loss == "bce_logits":
        outputs = Sigmoid.forward(outputs)[0]
    if loss == "cross_entropy":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    elif loss in ("bce", "bce_logits") and info["task"] == "classification":
        probabilities = np.column_stack([1 - outputs[:, 0], outputs[:, 0]])
    else:
        names = names or [f"y{k}" for k in range(outputs.shape[1])]
        return ["row", *names], [[i, *row] for i, row in enumerate(outputs)]
    names = names or [str(k) for k in range(probabilities.shape[1])]
    best = probabilities.argmax(axis=1)
    return (["row", "prediction", "probability"],
            [[i, names[k], probabilities[i, k]] for i, k in enumerate(best)])
