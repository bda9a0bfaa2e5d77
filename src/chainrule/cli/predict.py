"""`chainrule predict MODEL DATA.csv`: the model's predictions for the rows of a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from chainrule.cli.core import command


@command("predict")
def predict(
    model: Annotated[Path, typer.Argument(help="A model file written by chainrule train.")],
    data: Annotated[Path, typer.Argument(help="CSV file with the model's feature columns.")],
    out: Annotated[Path | None, typer.Option(
        help="Write the predictions to this CSV file, in full precision.  [default: print a "
             "table]")] = None,
    header: Annotated[bool | None, typer.Option(
        "--header/--no-header", help="Whether DATA's first line names the columns.  [default: "
        "it does if any of its fields is not a number]")] = None,
) -> None:
    """Print (or write) the model's prediction for every row of DATA.

    Columns are matched to the model's features by name; a file without a header row is read
    by position if it has exactly the model's number of columns. Classifiers give the most
    likely class and its probability, other models their outputs. The table rounds the
    numbers; a file written with --out holds them in full precision.
    """
    import sys

    from chainrule.runs.model import TrainedModel, write_predictions

    trained = TrainedModel.load(model)
    predictions = trained.predict_csv(data, header="auto" if header is None else header)
    if predictions.matched == "position":
        print(f"{data} has no header row: its {len(trained.feature_names)} columns are taken "
              f"by position as {', '.join(trained.feature_names)}", file=sys.stderr)
    if predictions.ignored:
        print(f"ignored columns the model does not use: {', '.join(predictions.ignored)}",
              file=sys.stderr)
    if out is not None:
        write_predictions(predictions, out, inputs=(data, model))
        print(f"wrote {len(predictions.rows)} predictions to {out}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: class labels and column names are the user's, printed as they are (a
    # str would be read as rich markup, "[bold]" and "[/]", and emoji codes).
    table = Table()
    for name in predictions.header:
        table.add_column(Text(name))
    style = ".4f" if predictions.header[-1] == "probability" else ".6g"
    for row in predictions.rows:
        table.add_row(*(Text(format(cell, style) if isinstance(cell, np.floating) else str(cell))
                        for cell in row))
    Console().print(table)
