"""`chainrule diagnose`: train with per-layer gradient norms and activation statistics recorded,
plot them and warn about vanishing or exploding gradients.

    chainrule diagnose --dataset spirals --depth 10 --hidden 32 --activation sigmoid
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule.cli import options
from chainrule.cli.core import command
from chainrule.cli.sweep import hidden_list

Option = typer.Option


@command("diagnose")
def diagnose(
    config: options.Config = None,
    dataset: Annotated[str | None, options.dataset_option("spirals")] = None,
    csv: options.Csv = None,
    target: options.Target = None,
    hidden: Annotated[str | None, options.config_option(
        "hidden", "Hidden layer sizes, e.g. 64,32; with --depth one width for every layer.")]
    = None,
    depth: Annotated[int | None, Option(help=options.with_default(
        "Number of hidden layers, all --hidden wide (32 if --hidden is not given).",
        "the layers of --hidden"))] = None,
    activation: options.Activation = None,
    loss: options.Loss = None,
    optimizer: options.Optimizer = None,
    lr: options.Lr = None,
    momentum: options.Momentum = None,
    weight_decay: options.WeightDecay = None,
    epochs: options.Epochs = None,
    batch_size: options.BatchSize = None,
    val_split: options.ValSplit = None,
    seed: options.Seed = None,
    dtype: options.DType = None,
    every: Annotated[int, Option(help="Record the gradient norms every N updates.")] = 1,
    out: Annotated[Path, Option(help="Output folder.")] = Path("runs/diagnose"),
    quiet: Annotated[bool, Option("--quiet", help="Print only the warnings.")] = False,
) -> None:
    """Train while recording each layer's gradient norm; warn if gradients vanish or explode.

    Also measures the saturated sigmoid/tanh units and the dead ReLU units of every layer.

    Writes gradients.png/.svg, gradients.csv, activations.csv, diagnostics.json and report.html
    to --out.
    """
    from chainrule import nn
    from chainrule.errors import ConfigError
    from chainrule.runs import config as cfg
    from chainrule.runs import diagnostics
    from chainrule.runs.folder import check_output_folder

    sizes = hidden_list(hidden)
    if sizes is not None and any(isinstance(size, list) for size in sizes):
        raise ConfigError(f"--hidden takes sizes like 64,32 here, got {hidden!r}")
    if depth is not None:
        if depth < 1:
            raise ConfigError(f"--depth must be at least 1, got {depth}")
        if sizes is not None and len(sizes) != 1:
            raise ConfigError(f"--depth {depth} needs one width in --hidden (e.g. --hidden 32), "
                              f"got {hidden!r}")
        width = sizes[0] if sizes else 32
        # Before the list of widths is built (--depth 1000000000 would fill memory with it):
        # the weights between the hidden layers, a lower bound on the network's.
        nn.check_parameter_memory(f"--depth {depth} hidden layers of {width} units",
                                  (depth - 1) * width * (width + 1), dtype or "float32")
        sizes = [width] * depth
    given = {"dataset": dataset, "csv": csv, "target": target, "hidden": sizes,
             "activation": activation, "loss": loss, "optimizer": optimizer, "lr": lr,
             "momentum": momentum, "weight_decay": weight_decay, "epochs": epochs,
             "batch_size": batch_size, "val_split": val_split, "seed": seed, "dtype": dtype}
    values: dict[str, Any] = cfg.load_toml(config) if config else {}
    values |= {key: value for key, value in given.items() if value is not None}
    if values.get("dataset") is None and values.get("csv") is None:
        values["dataset"] = "spirals"
    settings = cfg.make_config(values, source=str(config) if config else "options")
    check_output_folder(out, diagnostics.OUTPUT_FILES)
    report = diagnostics.diagnose(settings, every=every, progress=False if quiet else "auto")
    written = diagnostics.write_outputs(report, out)
    from rich.console import Console
    from rich.text import Text

    console = Console()
    if quiet:
        for warning in report.warnings:
            console.print(Text(f"warning: {warning}"))
        return
    diagnostics.print_report(report, console)
    console.print(Text(f"wrote {', '.join(str(path) for path in written)}"))
