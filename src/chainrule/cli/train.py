"""`chainrule train`: train an MLP on a bundled dataset or a CSV, from options or a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule.cli import options
from chainrule.cli.core import command

Option = typer.Option


def _sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    from chainrule.errors import ConfigError

    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers like 64,32, got {text!r}") \
            from None


@command("train")
def train(
    config: options.Config = None,
    dataset: Annotated[str | None, Option(help=f"Bundled dataset: {options.DATASET_NAMES}; "
                                               "or give --csv.")] = None,
    csv: options.Csv = None,
    target: options.Target = None,
    hidden: Annotated[str | None, options.config_option(
        "hidden", "Hidden layer sizes, e.g. 64,32.")] = None,
    activation: options.Activation = None,
    loss: options.Loss = None,
    optimizer: options.Optimizer = None,
    lr: options.Lr = None,
    momentum: options.Momentum = None,
    weight_decay: options.WeightDecay = None,
    epochs: options.Epochs = None,
    batch_size: options.BatchSize = None,
    val_split: options.ValSplit = None,
    early_stopping: options.EarlyStopping = None,
    seed: options.Seed = None,
    dtype: options.DType = None,
    trace: Annotated[bool | None, options.config_option(
        "trace", "Replay a traced step (faster on small networks; the same weights) or build "
                 "the graph every step.", "--trace/--eager", shown="eager")] = None,
    init: Annotated[str | None, options.config_option(
        "init", "How the weights start: default (U(±1/√fan_in)), xavier_uniform, "
                "xavier_normal, kaiming_uniform or kaiming_normal (biases 0).", "--init")] = None,
    grad_clip: Annotated[float | None, options.config_option(
        "grad_clip", "Clip each update's gradients to this total norm (the remedy for "
                     "exploding gradients).", "--grad-clip", shown="none")] = None,
    animate: Annotated[bool | None, options.config_option(
        "animate", "Also write training.gif: the decision boundary and the loss epoch by epoch "
                   "(data with 2 features; at most 60 epochs drawn, evenly spaced, and the "
                   "last).", "--animate/--no-animate")] = None,
    out: Annotated[Path | None, Option(help=options.with_default(
        "Output folder.", "runs/DATASET, or runs/NAME for NAME.csv; with --resume the "
                          "checkpoint's folder"))] = None,
    resume: Annotated[Path | None, Option(
        help="Continue training from this checkpoint (the checkpoint.safetensors train writes "
             "to --out); the settings not given are the checkpoint's.")] = None,
    force: Annotated[bool, Option("--force", help="With --resume: continue even if the "
                                                  "settings given differ from the "
                                                  "checkpoint's.")] = False,
    overwrite: Annotated[bool, Option("--overwrite", help="Replace a previous run in "
                                                          "--out (otherwise refused).")] = False,
    header: Annotated[bool | None, Option("--header/--no-header", help=options.with_default(
        "Whether the CSV's first line names the columns.",
        "it does if any of its fields is not a number"))] = None,
    network: Annotated[str | None, options.config_option(
        "network", "mlp, or worked-example: the notes' fixed 2-2-2 sigmoid network (the "
                   "default with --dataset worked-example).")] = None,
    quiet: options.Quiet = False,
) -> None:
    """Train a network, then write model, history (JSON and CSV), loss plot and report.html
    to --out.

    report.html is one self-contained page: the configuration, loss and accuracy curves,
    gradient norms per layer, the confusion matrix and, for 2-feature data, the decision
    boundary at a few epochs. Ctrl-C, or a run that diverges, still writes the model (its last
    complete, finite weights), the history so far, its plot and its report; run.json says how
    the run ended.
    """
    import sys

    from chainrule import runs
    from chainrule.runs import config as cfg

    options = {"dataset": dataset, "csv": csv, "target": target, "hidden": _sizes(hidden),
               "activation": activation, "loss": loss, "optimizer": optimizer, "lr": lr,
               "momentum": momentum, "weight_decay": weight_decay, "epochs": epochs,
               "batch_size": batch_size, "val_split": val_split,
               "early_stopping": early_stopping, "seed": seed, "dtype": dtype, "trace": trace,
               "init": init, "grad_clip": grad_clip, "network": network, "header": header,
               "animate": animate}
    values, flags, source = cfg.gather(config, options)
    checkpoint = None
    if resume is not None:
        settings, checkpoint = runs.resume_settings(resume, values, force=force, source=source,
                                                    flags=flags)
        out = out or resume.parent
    else:
        settings = cfg.make_config(values, source, flags=flags)
    out = out or Path("runs") / (settings.dataset or Path(settings.csv or "csv").stem)
    try:
        result = runs.train(settings, out, progress=False if quiet else "auto",
                            resume=checkpoint, overwrite=overwrite)
    except runs.RunInterrupted as stop:
        print(f"\n{stop}; {_wrote(stop.result)}", file=sys.stderr)
        if stop.checkpoint:
            print(f"resume with: chainrule train --resume {stop.checkpoint}", file=sys.stderr)
        raise typer.Exit(130) from None
    if not quiet:
        _print_summary(result)
    if result.status == "diverged":
        print(f"error: {result.error}; {_wrote(result)}", file=sys.stderr)
        raise typer.Exit(1)


def _wrote(result: Any) -> str:
    return f"wrote {', '.join(str(path) for path in result.written) or 'nothing'}"


def _print_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str, wherever the user's strings appear (the CSV's name, the paths written):
    # printed as they are, never read as rich markup.
    history = result.history
    table = Table(title=Text(f"chainrule train: {result.prepared.dataset.name}"),
                  title_justify="left")
    table.add_column("metric")
    table.add_column("final model", justify="right")
    table.add_column("best epoch", justify="right")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        column = history[key]
        if key in result.final:
            best = "" if not column else min(column) if key.endswith("loss") else max(column)
            table.add_row(key, f"{result.final[key]:.4f}", f"{best:.4f}" if column else "")
    console = Console()
    console.print(table)
    console.print(Text(f"{result.epochs} epochs, {result.steps} steps, {result.status}"
                       + (f": {history.stop_reason}" if history.stop_reason else "")))
    console.print(Text(_wrote(result)))
