"""`chainrule export MODEL OUT.onnx`: a model file as an ONNX file (the optional [onnx] extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated

import typer

from chainrule.cli.core import command


@command("export")
def export(
    model: Annotated[Path, typer.Argument(help="A model file written by chainrule train.")],
    out: Annotated[Path, typer.Argument(help="The ONNX file to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists "
                                                                "(otherwise refused).")] = False,
) -> None:
    """Write a trained model, standardisation included, as an ONNX file.

    The graph takes the raw features (a batch of rows, in the model's dtype) and gives the
    network's outputs and, for a classifier, the class probabilities. Run it with onnxruntime
    or any ONNX runtime; see docs/onnx.md.
    """
    from chainrule import onnx  # imports onnx only when it exports

    if importlib.util.find_spec("onnx") is None:
        print(f"error: chainrule export needs onnx: {onnx.INSTALL}", file=sys.stderr)
        raise typer.Exit(1)
    proto = onnx.export(model, out, overwrite=overwrite)
    print(f"wrote {out} (ONNX opset {onnx.OPSET}): {onnx.signature(proto)}")
