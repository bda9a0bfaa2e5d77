"""`chainrule sweep`: train one network once per setting and compare the loss curves.

With no options it is the notes' sweep: the worked example with η = 0.1, 0.2, 0.5, 0.8, 1, 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule.cli import options
from chainrule.cli.core import command
from chainrule.cli.options import with_default

Option = typer.Option


# --- parsing comma-separated lists (shared with `chainrule diagnose`) ------------------------

def _items(text: str, option: str, convert: Callable[[str], Any], expected: str) -> list[Any]:
    """ "0.1, 0.5,1" → [convert("0.1"), ...]; an empty item ("0.1,,0.5", "0.1,") is refused."""
    from chainrule.errors import ConfigError

    parts = text.replace(" ", "").split(",")
    if "" in parts:
        raise ConfigError(f"{option} has an empty item in {text!r}; separate the values with "
                          "single commas")
    try:
        return [convert(part) for part in parts]
    except ValueError:
        raise ConfigError(f"{option} must be {expected}, got {text!r}") from None


def float_list(text: str | None, option: str) -> list[float] | None:
    """ "0.1,0.5,1" → [0.1, 0.5, 1.0]."""
    if text is None:
        return None
    return _items(text, option, float, "comma-separated numbers like 0.1,0.5,1")


def hidden_list(text: str | None, option: str = "--hidden") -> list[int | list[int]] | None:
    """ "8,16" → widths [8, 16]; "64x32,32x16" → layer lists [[64, 32], [32, 16]]."""
    def sizes(part: str) -> int | list[int]:
        layers = [int(n) for n in part.lower().split("x")]
        return layers if "x" in part.lower() else layers[0]

    if text is None:
        return None
    return _items(text, option, sizes, "widths like 8,16 or layer lists like 64x32,32x16")


def batch_list(text: str | None) -> list[int | None] | None:
    """ "16,32,full" → [16, 32, None] (None: the whole training set per update)."""
    if text is None:
        return None
    return _items(text, "--batch-size", lambda part: None if part.lower() == "full" else int(part),
                  "sizes like 16,32 (or full)")


# --- the command -----------------------------------------------------------------------------

@command("sweep")
def sweep(
    lr: Annotated[str | None, Option(help=with_default(
        "Learning rates to sweep, e.g. 0.1,0.5,1.", "0.1,0.2,0.5,0.8,1,2 when nothing else is "
                                                   "swept, else the base's"))] = None,
    optimizer: Annotated[str | None, Option(help=with_default(
        "Optimizers to sweep, e.g. sgd,adam.", "the base's"))] = None,
    batch_size: Annotated[str | None, Option(help=with_default(
        "Batch sizes to sweep, e.g. 16,64,full.", "the base's"))] = None,
    hidden: Annotated[str | None, Option(help=with_default(
        "Hidden widths to sweep, e.g. 8,16 (or layer lists 64x32,32x16).", "the base's"))]
    = None,
    config: Annotated[Path | None, Option(
        help="TOML file with the base settings, as train's --config (see "
             "examples/train.toml).")] = None,
    dataset: Annotated[str | None, options.dataset_option(
        "the notes' worked-example network")] = None,
    csv: options.Csv = None,
    target: options.Target = None,
    activation: options.Activation = None,
    loss: options.Loss = None,
    momentum: options.Momentum = None,
    weight_decay: options.WeightDecay = None,
    epochs: Annotated[int | None, options.config_option(
        "epochs", "Epochs per trial (dataset or CSV).")] = None,
    val_split: options.ValSplit = None,
    seed: Annotated[int | None, options.config_option(
        "seed", "Seed of the initial weights, split and shuffling, the same for every "
                "trial.")] = None,
    dtype: options.DType = None,
    steps: Annotated[int, Option(help="Updates per trial of the worked example.", min=1)]
    = 10_000,
    target_loss: Annotated[float | None, Option(help=with_default(
        "Count the updates each run needs to reach this loss.",
        "none; 0.001 for the worked example"))] = None,
    choose: Annotated[str, Option(help="Rule for the best setting: auto (val_loss when every "
                                       "run has validation data, else final_loss), "
                                       "final_loss, best_loss, val_loss, steps_to_target.")]
    = "auto",
    log_scale: Annotated[bool, Option("--log-scale/--linear",
                                      help="Logarithmic or linear loss axis.")] = True,
    workers: Annotated[int | None, Option(help=with_default(
        "Local worker processes; 1 runs in this process.", "one per core"), min=1)] = None,
    scheduler: Annotated[str | None, Option(help=with_default(
        "Dask scheduler to run the trials on, tcp://HOST:PORT; needs chainrule[dask].",
        "$DASK_SCHEDULER_ADDRESS if set"))] = None,
    out: Annotated[Path, Option(help="Output folder.")] = Path("runs/sweep"),
    quiet: options.Quiet = False,
) -> None:
    """Train one network once per setting, from the same weights; plot, tabulate, pick the best.

    With no options: the notes' worked example at η = 0.1, 0.2, 0.5, 0.8, 1 and 2.

    The best: without --choose (or with --choose auto) the lowest final validation loss when
    every run has validation data, otherwise the lowest final training loss.

    Writes loss.png/.svg, results.csv, best.json, sweep.json and report.html to --out.
    """
    from chainrule.errors import ConfigError
    from chainrule.runs import sweep as sweeps
    from chainrule.runs.folder import check_output_folder

    grids = {"lr": float_list(lr, "--lr"),
             "optimizer": None if optimizer is None else _items(optimizer, "--optimizer", str,
                                                                "names like sgd,adam"),
             "batch_size": batch_list(batch_size), "hidden": hidden_list(hidden)}
    base_options = {"dataset": dataset, "csv": csv, "target": target, "activation": activation,
                    "loss": loss, "momentum": momentum, "weight_decay": weight_decay,
                    "epochs": epochs, "val_split": val_split, "seed": seed, "dtype": dtype}
    if choose not in sweeps.RULES:
        raise ConfigError(f"--choose must be one of {', '.join(sweeps.RULES)}, got {choose!r}")
    if scheduler is None and workers is None:
        scheduler = os.environ.get(sweeps.DASK_ADDRESS_VARIABLE) or None
    if scheduler is not None and workers is not None:
        raise ConfigError("give --workers (local processes) or --scheduler (a Dask cluster), "
                          "not both")
    if config is None and dataset is None and csv is None:
        given = [f"--{key.replace('_', '-')}" for key, value in base_options.items()
                 if value is not None]
        if given:
            raise ConfigError(f"{given[0]} needs --dataset, --csv or --config; without them "
                              "the sweep trains the notes' fixed worked-example network")
        trials = sweeps.grid(lr=grids["lr"], optimizer=grids["optimizer"],
                             batch_size=grids["batch_size"], hidden=grids["hidden"],
                             steps=steps, target_loss=target_loss)
    else:
        base = _base_config(config, base_options)
        from chainrule.runs.preparation import load_dataset

        load_dataset(base)  # a missing or broken file is reported now, not once per trial
        if all(values is None for values in grids.values()):
            grids["lr"] = list(sweeps.WORKED_EXAMPLE_LRS)
        trials = sweeps.grid(base, target_loss=target_loss, **grids)
    check_output_folder(out, sweeps.OUTPUT_FILES)
    # "auto" (the default): the validation loss when every run has validation data, else the
    # final training loss (the lowest training loss can be the worst overfit).
    rule = choose
    try:
        result = _run(trials, workers, scheduler, rule, quiet)
    except sweeps.SweepInterrupted as stop:  # like `chainrule train`: say what is kept, exit 130
        line = _interrupted_line(stop.result)
        written = _write(stop.result, out, log_scale, line)
        print(f"{line}; wrote {_paths(written)}", file=sys.stderr)
        raise typer.Exit(130) from None
    written = _write(result, out, log_scale, None)
    if not quiet:
        from rich.console import Console
        from rich.text import Text

        console = Console()
        sweeps.print_table(result, console)
        console.print(Text(f"wrote {_paths(written)}"))
    failed = [r.label for r in result.results if r.status == "failed"]
    if failed:  # a diverged run is a result; a failed one is not
        print(f"{len(failed)} of {len(result.results)} trials failed: {_labels(failed)} (their "
              f"errors are in {out / 'results.csv'})", file=sys.stderr)
        raise typer.Exit(1)


def _write(result: Any, out: Path, log_scale: bool, stopped: str | None) -> list[Path]:
    """The outputs, written; Ctrl-C while they are written names those complete, exit 130."""
    from chainrule.runs import sweep as sweeps

    written: list[Path] = []
    try:
        sweeps.write_outputs(result, out, log_scale=log_scale, written=written)
    except KeyboardInterrupt:
        why = stopped or "interrupted (Ctrl-C)"
        print(f"{why}; while writing the outputs: wrote only {_paths(written) or 'nothing'}",
              file=sys.stderr)
        raise typer.Exit(130) from None
    return sorted(written, key=lambda path: sweeps.OUTPUT_FILES.index(path.name))


def _interrupted_line(result: Any) -> str:
    """ "sweep interrupted (Ctrl-C): 2 of 6 trials finished (η=0.1, η=0.2; best η=0.2), 4
    interrupted (η=0.5, ...)"."""
    finished = [r for r in result.results if r.status != "interrupted"]
    stopped = [r.label for r in result.results if r.status == "interrupted"]
    done = _labels([r.label + (f" {r.status}" if r.status != "ok" else "") for r in finished])
    line = f"sweep interrupted (Ctrl-C): {len(finished)} of {len(result.results)} trials finished"
    if finished:
        best = f"; best {result.best.label}" if result.best is not None else "; none qualified"
        line += f" ({done}{best})"
    return line + f", {len(stopped)} interrupted ({_labels(stopped)})" if stopped else line


def _labels(labels: list[str], most: int = 8) -> str:
    shown = ", ".join(labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


def _paths(paths: list[Path]) -> str:
    return ", ".join(str(path) for path in paths)


def _base_config(config: Path | None, options: dict[str, Any]) -> Any:
    from chainrule.runs import config as cfg

    values: dict[str, Any] = cfg.load_toml(config) if config else {}
    values |= {key: value for key, value in options.items() if value is not None}
    return cfg.make_config(values, source=str(config) if config else "options")


def _run(trials: list[Any], workers: int | None, scheduler: str | None, rule: str,
         quiet: bool) -> Any:
    """Run the trials with a rich progress bar (on stderr) counting finished trials.

    A Dask scheduler is connected to first, so that an unreachable one is the only line printed.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from chainrule.runs import sweep as sweeps

    where = (f"on the Dask cluster at {scheduler}" if scheduler else
             "in this process" if workers == 1 or len(trials) == 1 else
             f"on {min(workers or sweeps.available_cores(), len(trials))} local processes")
    console = Console(stderr=True)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(sweeps.dask_executor(scheduler)) if scheduler else None
        if quiet or not console.is_terminal:
            if not quiet:
                print(f"running {len(trials)} trials {where}", file=sys.stderr)
            return sweeps.run_sweep(trials, cluster, workers, rule=rule)
        with Progress(TextColumn(f"{len(trials)} trials {where}", markup=False), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[last]}", markup=False),
                      console=console, transient=True) as bar:
            task = bar.add_task("sweep", total=len(trials), last="")

            def finished(index: int, result: Any) -> None:
                bar.update(task, advance=1, last=f"{result.label}: {result.status}")

            return sweeps.run_sweep(trials, cluster, workers, rule=rule, on_result=finished)
