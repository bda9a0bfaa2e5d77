"""`chainrule predict MODEL DATA.csv`: the model's predictions for the rows of a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from chainrule.cli import command
from chainrule.errors import DataError


def read_features(path: Path, feature_names: list[str]) -> np.ndarray:
    """The feature columns of a CSV file, matched by header name (other columns are ignored).

    A file without the named columns is read by position when it has exactly the model's
    number of columns.
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows (a header row and at least one row needed)")
    header = [cell.strip() for cell in rows[0]]
    if all(name in header for name in feature_names):
        columns = [header.index(name) for name in feature_names]
    elif len(header) == len(feature_names):
        columns = list(range(len(header)))
    else:
        missing = [name for name in feature_names if name not in header]
        raise DataError(
            f"{path} does not have the model's {len(feature_names)} features: missing "
            f"columns {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    X = np.empty((len(rows) - 1, len(columns)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DataError(f"{path}, line {i + 2}: {len(row)} columns, the header has "
                            f"{len(header)}")
        for j, column in enumerate(columns):
            try:
                X[i, j] = float(row[column])
            except ValueError:
                raise DataError(f"{path}, line {i + 2}, column {header[column]!r}: "
                                f"{row[column]!r} is not a number") from None
    return X


@command("predict")
def predict(
    model: Annotated[Path, typer.Argument(help="A model file written by chainrule train.")],
    data: Annotated[Path, typer.Argument(help="CSV file with the model's feature columns.")],
    out: Annotated[Path | None, typer.Option(help="Write the predictions to this CSV.")] = None,
) -> None:
    """Print (or write) the model's prediction for every row of DATA."""
    from chainrule import io
    from chainrule.train import predict as run_model

    network = io.load(model)
    info: dict[str, Any] = io.load_metadata(model).get("user", {})
    feature_names = info.get("feature_names") or [f"x{i}" for i in range(_n_inputs(network))]
    X = read_features(data, feature_names)
    mean = np.asarray(info.get("mean", np.zeros(X.shape[1])))
    std = np.asarray(info.get("std", np.ones(X.shape[1])))
    outputs = run_model(network, (X - mean) / std)
    header, rows = _rows(outputs, info)
    if out is not None:
        text = "\n".join([",".join(header)] + [",".join(map(str, row)) for row in rows]) + "\n"
        io.atomic_write_bytes(out, text.encode())
        print(f"wrote {len(rows)} predictions to {out}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)


def _n_inputs(network: Any) -> int:
    from chainrule import nn

    return next(m for m in network.modules() if isinstance(m, nn.Linear)).in_features


def _rows(outputs: np.ndarray, info: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Class and probability for classifiers, output values for regression."""
    if info.get("loss") == "cross_entropy":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        names = info.get("target_names") or [str(k) for k in range(outputs.shape[1])]
        best = probabilities.argmax(axis=1)
        return (["row", "prediction", "probability"],
                [[i, names[k], f"{probabilities[i, k]:.4f}"] for i, k in enumerate(best)])
    names = info.get("target_names") or [f"y{k}" for k in range(outputs.shape[1])]
    return (["row", *names],
            [[i, *(f"{v:.6g}" for v in row)] for i, row in enumerate(outputs)])
