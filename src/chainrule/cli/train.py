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
    out: Annotated[Path | None, Option(help=options.with_default(
        "Output folder.", "runs/DATASET, or runs/NAME for NAME.csv; with --resume the "
                          "checkpoint's folder"))] = None,
    resume: Annotated[Path | None, Option(
        help="Continue training from this checkpoint (the checkpoint.safetensors train writes "
             "to --out); the settings not given are the checkpoint's.")] = None,
    force: Annotated[bool, Option("--force", help="With --resume: continue even if the "
                                                  "settings given differ from the "
                                                  "checkpoint's.")] = False,
    quiet: options.Quiet = False,
) -> None:
    """Train a network, then write model, history (JSON and CSV) and loss plot to --out."""
    from chainrule import io
    from chainrule.errors import ConfigError
    from chainrule.runs import config as cfg
    from chainrule.runs import run as experiment
    from chainrule.train import TrainingInterrupted

    given = {"dataset": dataset, "csv": csv, "target": target, "hidden": _sizes(hidden),
             "activation": activation, "loss": loss, "optimizer": optimizer, "lr": lr,
             "momentum": momentum, "weight_decay": weight_decay, "epochs": epochs,
             "batch_size": batch_size, "val_split": val_split,
             "early_stopping": early_stopping, "seed": seed, "dtype": dtype, "trace": trace}
    values: dict[str, Any] = cfg.load_toml(config) if config else {}
    values |= {key: value for key, value in given.items() if value is not None}
    checkpoint = None
    if resume is not None:
        checkpoint = io.load_checkpoint(resume)
        saved = dict(checkpoint.config)
        values = saved | {key: value for key, value in values.items()}
        differences = [key for key in io.config_differences(
            saved, cfg.make_config(values).model_dump()) if key != "trace"]  # same results
        if differences and not force:
            raise ConfigError(
                f"{resume} was trained with other settings ({', '.join(differences)} differ); "
                "resume with the same settings, or pass --force to continue anyway"
            )
        out = out or resume.parent
    settings = cfg.make_config(values, source=str(config) if config else "options")
    if checkpoint is not None:  # the settings given now apply from here on (they differ only
        # under --force)
        _use_hyperparameters(checkpoint, settings)
    out = out or Path("runs") / (settings.dataset or Path(settings.csv or "csv").stem)
    try:
        result = experiment.run(settings, out, progress=False if quiet else "auto",
                                resume=checkpoint)
    except TrainingInterrupted as stop:
        import sys

        print(f"\n{stop}", file=sys.stderr)
        if stop.checkpoint:
            print(f"resume with: chainrule train --resume {stop.checkpoint}", file=sys.stderr)
        raise typer.Exit(130) from None
    if not quiet:
        _print_summary(result)


def _use_hyperparameters(checkpoint: Any, settings: Any) -> None:
    """Give the checkpoint's optimizer state the hyperparameters of `settings` (lr, momentum,
    weight decay), keeping its step count and moments; the same settings change nothing."""
    from chainrule.runs import run as experiment

    model = checkpoint.model
    hyper = experiment.build_optimizer(settings, model.parameters()).state_dict()["hyper"]
    saved = checkpoint.optimizer_state["hyper"]
    if hyper.keys() == saved.keys():  # another optimizer: fit names both
        saved.update({key: value for key, value in hyper.items() if key != "step_count"})


def _print_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    history = result.history
    table = Table(title=f"chainrule train: {result.prepared.dataset.name}", title_justify="left")
    table.add_column("metric")
    table.add_column("final", justify="right")
    table.add_column("best", justify="right")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        column = history[key]
        if column:
            best = min(column) if key.endswith("loss") else max(column)
            table.add_row(key, f"{column[-1]:.4f}", f"{best:.4f}")
    console = Console()
    console.print(table)
    epochs = len(history.epochs)
    console.print(f"{epochs} epochs, {len(history.step_losses)} steps"
                  + (f"; {history.stop_reason}" if history.stop_reason else ""))
    console.print(f"wrote {', '.join(str(result.out / name) for name in _written(result.out))}")


def _written(out: Path) -> list[str]:
    from chainrule.runs.run import OUTPUT_FILES

    return [name for name in OUTPUT_FILES if (out / name).exists()]
