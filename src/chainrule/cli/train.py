"""`chainrule train`: train an MLP on a bundled dataset or a CSV, from options or a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
    config: Annotated[Path | None, Option(help="TOML file with the settings below.")] = None,
    dataset: Annotated[str | None, Option(help="Bundled dataset: xor, worked-example, spirals, "
                                               "moons, iris, digits.")] = None,
    csv: Annotated[str | None, Option(help="CSV file with a header row.")] = None,
    target: Annotated[str | None, Option(help="Target column of the CSV (default: last).")] = None,
    hidden: Annotated[str | None, Option(help="Hidden layer sizes, e.g. 64,32.")] = None,
    activation: Annotated[str | None, Option(help="sigmoid, tanh, relu, leaky_relu, softplus, "
                                                  "identity.")] = None,
    loss: Annotated[str | None, Option(help="auto, half_sse, mse, bce, bce_logits, "
                                            "cross_entropy.")] = None,
    optimizer: Annotated[str | None, Option(help="sgd, adam, adamw, rmsprop.")] = None,
    lr: Annotated[float | None, Option(help="Learning rate η.")] = None,
    momentum: Annotated[float | None, Option()] = None,
    weight_decay: Annotated[float | None, Option()] = None,
    epochs: Annotated[int | None, Option()] = None,
    batch_size: Annotated[int | None, Option()] = None,
    val_split: Annotated[float | None, Option(help="Fraction held out for validation.")] = None,
    early_stopping: Annotated[int | None, Option(help="Patience in epochs.")] = None,
    seed: Annotated[int | None, Option()] = None,
    dtype: Annotated[str | None, Option(help="float32 or float64.")] = None,
    trace: Annotated[bool | None, Option("--trace/--eager", help="Replay a traced step "
                                         "(faster on small networks) or build the graph "
                                         "every step (the default).")] = None,
    out: Annotated[Path | None, Option(help="Output folder (default runs/NAME).")] = None,
    resume: Annotated[Path | None, Option(help="Continue from this checkpoint.")] = None,
    force: Annotated[bool, Option(help="Resume even if the settings differ.")] = False,
    quiet: Annotated[bool, Option(help="No progress bar or table.")] = False,
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
