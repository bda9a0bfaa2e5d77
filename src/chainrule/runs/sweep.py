"""Sweeps: train the same network from the same initial weights once per setting, compare curves.

The notes end by training their worked example with η = 0.1, 0.2, 0.5, 0.8, 1 and 2, plotting the
loss of each run and choosing the best. This module does that for any network `chainrule train`
accepts, over a grid of learning rates, optimizers, batch sizes and hidden widths:

    trials = grid()                                   # the notes' sweep: six η, 10,000 steps
    result = run_sweep(trials)                        # a local process pool (or any Executor)
    write_outputs(result, Path("runs/sweep"))         # loss.png/.svg, results.csv, report.html
    print_table(result)

    trials = grid(TrainConfig(dataset="digits", hidden=[64]), lr=[1e-3, 3e-3, 1e-2],
                  optimizer=["sgd", "adam"])

A `Trial` is plain data and `run_trial` a top-level function, so trials travel to any
`concurrent.futures.Executor`: in this process (`workers=1`), a local process pool (the default),
or a Dask cluster (`scheduler="tcp://host:8786"`, with the `dask` extra).

Note [same initial weights]
    Every trial builds its network afresh from the same seed: the worked example from the
    notes' w1..w8, a configured MLP with `nn.mlp(..., rng=config.seed)`. Trials that share an
    architecture therefore start from identical weights and see the same data split and the
    same shuffling, so the only difference between their curves is the setting swept. (Trials
    over hidden widths necessarily start from different weights; each is still reproducible.)

Note [results identical on any executor]
    `run_trial` depends only on its `Trial`: no global state, clock or random source enters the
    losses. `run_sweep` puts the results back in the trials' order whatever order they finish
    in. So a sweep gives equal `TrialResult`s in-process, in a process pool and on a Dask
    cluster (only `seconds`, the wall time, differs, and it is left out of comparisons and of
    the CSV), and the plot of equal results is byte-for-byte the same file.

Note [BLAS threads in worker processes]
    Each pool worker runs NumPy, whose BLAS starts its own threads; k workers × all cores each
    would oversubscribe the machine. OpenBLAS, MKL and OpenMP read their thread counts from the
    environment once, when the library loads, so setting the variables inside a worker that
    has already imported NumPy is too late, and a forked worker inherits its parent's loaded
    BLAS. The pool therefore uses the "spawn" start method (a fresh interpreter per worker) and
    sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ... = max(1, cores // workers) in this process's
    environment while the pool starts and runs; each worker inherits them before its NumPy
    loads. The previous values are restored when the pool shuts down.

Note [Ctrl-C during a sweep]
    Ctrl-C stops the whole sweep at once, like `chainrule train`: `run_sweep` raises
    `SweepInterrupted` carrying a `SweepResult` of the trials that finished, the others marked
    "interrupted", so the partial results can still be written. In this process, `fit` lets
    the running trial finish its current update, and that trial keeps its curve so far. A
    terminal sends SIGINT to every process of its group, pool workers included, and a worker
    would die of it with a traceback of its own; so the pool's workers start with SIGINT
    blocked (a spawned process inherits the signal mask of the thread that starts it), and
    this process, on its KeyboardInterrupt, cancels the trials not started and terminates the
    workers. On any other executor (a Dask cluster) the trials not started are cancelled and
    the running ones are not waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import itertools
import json
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.errors import ChainruleError, ConfigError
from chainrule.optim import DISPLAY_NAMES

WORKED_EXAMPLE_LRS: tuple[float, ...] = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
"""The notes' learning rates for the worked example."""

WORKED_EXAMPLE_STEPS = 10_000
WORKED_EXAMPLE_TARGET = 1e-3
"""The default target loss of the worked-example sweep: every η of the notes reaches it."""

GRID_KEYS = ("optimizer", "batch_size", "hidden", "lr")
"""The settings a grid varies, in the order they nest (the learning rate varies fastest)."""

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

DASK_ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
"""The environment variable Dask itself reads for the scheduler's address."""

PLOT_POINTS = 2000  # at most this many points per curve are drawn (every one is in sweep.json)

OUTPUT_FILES = ("loss.png", "loss.svg", "results.csv", "best.json", "sweep.json", "report.html")


class SchedulerError(ChainruleError, ConnectionError):
    """The Dask scheduler named by --scheduler cannot be reached."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; `result` holds every trial, those that did not finish marked
    "interrupted" (Note [Ctrl-C during a sweep])."""

    def __init__(self, result: SweepResult) -> None:
        finished = sum(r.status != "interrupted" for r in result.results)
        super().__init__(f"sweep interrupted (Ctrl-C): {finished} of {len(result.results)} "
                         "trials finished")
        self.result = result


class _Stopped(KeyboardInterrupt):
    """Ctrl-C while trials ran: the results so far (None where a trial did not finish)."""

    def __init__(self, results: list[TrialResult | None]) -> None:
        super().__init__()
        self.results = results


# --- what a trial is -------------------------------------------------------------------------

@dataclass(frozen=True)
class Trial:
    """One run of a sweep, as plain data (so it can be sent to another process or machine).

    label: how the run is named in the table and the legend, e.g. "η=0.5".
    params: the swept settings of this run, e.g. {"lr": 0.5}.
    config: the full `TrainConfig` fields of the run (`config.model_dump()`), or None for the
        notes' worked example (the 2-2-2 sigmoid network with w1..w8, one sample, ½·Σ(t − y)²,
        full-batch updates; only "lr" and "optimizer" can vary).
    steps: updates of the worked example (ignored with a config, which trains `epochs`).
    target_loss: for `steps_to_target` in the results, or None.
    """

    label: str
    params: dict[str, Any]
    config: dict[str, Any] | None = None
    steps: int = WORKED_EXAMPLE_STEPS
    target_loss: float | None = None


@dataclass(frozen=True)
class TrialResult:
    """What one trial did, as plain data.

    status: "ok", "diverged" (a NaN or infinity stopped training: the curve ends at the last
        finite loss), "failed" (it raised something else: `error` says what) or "interrupted"
        (Ctrl-C stopped the sweep before it finished: Note [Ctrl-C during a sweep]).
    unit: what one point of the curve is: "step" (the worked example: the loss before each
        update) or "epoch" (a configured run: the mean training loss over the epoch).
    loss: the loss function's name ("half_sse", "cross_entropy", ...).
    x, losses: the curve (x counts units from 1; a diverged or interrupted configured run ends
        with one extra point inside its last epoch: the last finite mini-batch loss).
    val_losses: the validation loss per epoch (configured runs with validation data).
    final_loss: the training loss of the final model, after its last update (what `chainrule
        train` and the demo report; for a run that did not finish, the last finite loss of the
        curve); best_loss: the curve's lowest; val_loss: the final model's validation loss
        (None where there is none).
    steps: optimizer updates done.  steps_to_target: the updates done when the recorded loss
        first fell to `target_loss` or below (None if never, or without a target).
    seconds: wall time (not compared: Note [results identical on any executor]).
    """

    label: str
    params: dict[str, Any]
    status: str
    unit: str
    loss: str
    x: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    final_loss: float | None = None
    best_loss: float | None = None
    val_loss: float | None = None
    steps: int = 0
    steps_to_target: int | None = None
    target_loss: float | None = None
    error: str = ""
    seconds: float = field(default=0.0, compare=False)

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "params": self.params, "status": self.status,
            "unit": self.unit, "loss": self.loss,
            # x is left out when it is just 1, 2, 3, ... (every worked-example step)
            **({} if self.x == list(range(1, len(self.x) + 1)) else {"x": self.x}),
            "losses": self.losses,
            "val_losses": [_finite_or_none(v) for v in self.val_losses],
            "final_loss": self.final_loss, "best_loss": self.best_loss,
            "val_loss": _finite_or_none(self.val_loss), "steps": self.steps,
            "steps_to_target": self.steps_to_target, "target_loss": self.target_loss,
            "error": self.error, "seconds": self.seconds,
        }


RULES = {
    "auto": "val_loss when every run that finished has validation data, else final_loss",
    "final_loss": "lowest final training loss among the runs that neither diverged nor failed",
    "best_loss": "lowest training loss reached at any point, among the runs that neither "
                 "diverged nor failed",
    "val_loss": "lowest final validation loss among the runs that neither diverged nor failed",
    "steps_to_target": "fewest updates to reach the target loss (ties: lower final loss), among "
                       "the runs that neither diverged nor failed",
}
"""The rules `choose_best` knows, each as it is printed beside the chosen setting ("auto" is
printed as the rule it resolved to: `resolve_rule`)."""


def resolve_rule(rule: str, results: Sequence[TrialResult]) -> str:
    """The rule that "auto" stands for with these results (any other rule is itself).

    "auto" is "val_loss" when every run that finished ("ok") has validation data, otherwise
    "final_loss": the lowest training loss can belong to the run that overfits most, so with
    validation data the validation loss chooses. Runs that diverged, failed or were
    interrupted do not decide it (they never qualify anyway).
    """
    if rule != "auto":
        return rule
    finished = [r for r in results if r.status == "ok"]
    every = bool(finished) and all(r.val_loss is not None for r in finished)
    return "val_loss" if every else "final_loss"


@dataclass
class SweepResult:
    """Every trial's result in the trials' order, and the best one by `rule` (None if none).

    auto: `rule` is what "auto" resolved to (`resolve_rule`); rule_text then says why.
    """

    results: list[TrialResult]
    rule: str
    best: TrialResult | None
    title: str
    auto: bool = False

    @property
    def rule_text(self) -> str:
        text = RULES[self.rule]
        if not self.auto or self.rule == "auto":
            return text
        if self.rule == "val_loss":
            return f"{text} (auto: every run has validation data)"
        finished = [r for r in self.results if r.status == "ok"]
        none = all(r.val_loss is None for r in finished)
        return f"{text} (auto: {'no' if none else 'not every'} run has validation data)"

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rule": self.rule, "auto": self.auto,
                "rule_text": self.rule_text,
                "best": None if self.best is None else self.best.label,
                "trials": [r.to_dict() for r in self.results]}

    def _repr_html_(self) -> str:
        """In a notebook: the table and the curves of report.html (`sweep_report`)."""
        from chainrule.runs.plots import figure_svg
        from chainrule.runs.report import sweep_report

        return sweep_report(self, figure_svg(sweep_figure(self), close=True), notebook=True)


# --- building trials -------------------------------------------------------------------------

def grid(
    base: Any = None,
    *,
    lr: Sequence[float] | None = None,
    optimizer: Sequence[str] | None = None,
    batch_size: Sequence[int | None] | None = None,
    hidden: Sequence[int | Sequence[int]] | None = None,
    steps: int = WORKED_EXAMPLE_STEPS,
    target_loss: float | None = None,
) -> list[Trial]:
    """One `Trial` per combination of the given settings (the learning rate varies fastest).

    base: a `TrainConfig` (or a dict of its fields) that every trial starts from, or None for
        the notes' worked example. Settings not given keep the base's value; with no base and
        no `lr`, the notes' six learning rates are swept.
    hidden: widths (an int sets every hidden layer of the base to that width) or whole layer
        lists such as [64, 32].  batch_size: None means the whole training set.
    steps: updates per worked-example trial.  target_loss: see `TrialResult.steps_to_target`;
        the worked example defaults to `WORKED_EXAMPLE_TARGET`.

    Every combination is validated here, before anything runs (ConfigError naming it).

    >>> [t.label for t in grid()]
    ['η=0.1', 'η=0.2', 'η=0.5', 'η=0.8', 'η=1', 'η=2']
    >>> iris = TrainConfig(dataset="iris")
    >>> [t.label for t in grid(iris, lr=[0.01, 0.1], optimizer=["sgd", "adam"])]
    ['sgd, η=0.01', 'sgd, η=0.1', 'adam, η=0.01', 'adam, η=0.1']
    """
    if target_loss is not None and not (math.isfinite(target_loss) and target_loss >= 0):
        raise ConfigError(f"sweep: the target loss must be a finite number ≥ 0, got {target_loss}")
    values = {"optimizer": optimizer, "batch_size": batch_size, "hidden": hidden, "lr": lr}
    for key, options in values.items():
        _check_options(key, options)
    for value in lr or ():
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"sweep: learning rates must be positive finite numbers, got "
                              f"{value!r}")
    if base is None:
        return _worked_example_trials(values, steps, target_loss)
    return _config_trials(base, values, target_loss)


def _check_options(key: str, options: Sequence[Any] | None) -> None:
    if options is None:
        return
    if isinstance(options, str | bytes) or not isinstance(options, Sequence):
        raise ConfigError(f"sweep: {key} must be a list of values, got {options!r}")
    if len(options) == 0:
        raise ConfigError(f"sweep: the list of {key} values is empty")
    seen = [_plain(v) for v in options]
    repeated = [v for i, v in enumerate(seen) if v in seen[:i]]
    if repeated:
        raise ConfigError(f"sweep: {key} value {repeated[0]!r} is listed twice")


def _plain(value: Any) -> Any:
    """Settings as JSON-like Python values (tuples become lists, NumPy scalars numbers)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _combinations(values: Mapping[str, Sequence[Any] | None]) -> Iterator[dict[str, Any]]:
    """Every combination of the given (non-None) settings, nested in GRID_KEYS order."""
    keys = [key for key in GRID_KEYS if values.get(key) is not None]
    for combo in itertools.product(*(values[key] for key in keys)):
        yield {key: _plain(value) for key, value in zip(keys, combo, strict=True)}


def _worked_example_trials(values: dict[str, Any], steps: int,
                           target_loss: float | None) -> list[Trial]:
    from chainrule.runs.config import OPTIMIZERS

    for key in ("batch_size", "hidden"):
        if values[key] is not None:
            raise ConfigError(
                f"sweep: {key} cannot vary for the notes' worked example (a fixed 2-2-2 network "
                "trained on one sample); sweep a dataset or CSV to vary it"
            )
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"sweep: steps must be a positive integer, got {steps!r}")
    for name in values["optimizer"] or ():
        if name not in OPTIMIZERS:
            raise ConfigError(f"sweep: unknown optimizer {name!r}; choose from "
                              f"{', '.join(OPTIMIZERS)}")
    if values["lr"] is None:
        values = values | {"lr": list(WORKED_EXAMPLE_LRS)}
    target = WORKED_EXAMPLE_TARGET if target_loss is None else target_loss
    return [Trial(_label(params, values), params, None, steps, target)
            for params in _combinations(values)]


def _config_trials(base: Any, values: dict[str, Any], target_loss: float | None) -> list[Trial]:
    from chainrule.runs.config import TrainConfig, make_config

    fields = base.model_dump() if isinstance(base, TrainConfig) else dict(base)
    make_config(fields, source="sweep base settings")
    trials = []
    for params in _combinations(values):
        settings = dict(fields)
        for key, value in params.items():
            if key == "hidden" and isinstance(value, int):
                value = [value] * max(len(fields.get("hidden") or [32]), 1)
            settings[key] = value
        config = make_config(settings, source=f"sweep setting {_label(params) or 'base'}")
        trials.append(Trial(_label(params, values) or _base_label(config), params,
                            config.model_dump(), target_loss=target_loss))
    return trials


def _label(params: Mapping[str, Any], grid: Mapping[str, Any] | None = None) -> str:
    """A short name for a setting: "η=0.5", "adam, batch 32, η=0.01", "hidden 64×32".

    Given the grid, only the settings with more than one value are named (the others are the
    same for every trial and go into the sweep's title).
    """
    varying = [key for key in GRID_KEYS
               if grid is not None and grid.get(key) is not None and len(grid[key]) > 1]
    parts = []
    for key in GRID_KEYS:
        if key not in params or (varying and key not in varying):
            continue
        value = params[key]
        if key == "lr":
            parts.append(f"η={value:g}")
        elif key == "optimizer":
            parts.append(str(value))
        elif key == "batch_size":
            parts.append("full batch" if value is None else f"batch {value}")
        else:
            parts.append(f"hidden {_hidden_text(value)}")
    return ", ".join(parts)


def _hidden_text(value: Any) -> str:
    return "×".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _base_label(config: Any) -> str:
    return f"{config.optimizer}, η={config.lr:g}"


# --- running one trial -----------------------------------------------------------------------

def run_trial(trial: Trial) -> TrialResult:
    """Train one trial and return its curve and summary; never raises for a failed run.

    The trial is trained by the one run function (runs/run.py), without files. A run that
    diverges (NaN or infinity) returns status "diverged" with the losses up to the failure;
    Ctrl-C during training returns status "interrupted" with the losses so far; any other
    exception returns status "failed" with "ErrorType: message".
    """
    from chainrule.runs.run import RunInterrupted, train

    started = time.perf_counter()
    try:
        result = train(trial_config(trial))
    except RunInterrupted as stop:
        result = stop.result
    except Exception as error:  # a trial's failure must not stop the sweep
        return _unfinished(trial, "failed", _error_text(error), time.perf_counter() - started)
    return _summarize(trial, result, time.perf_counter() - started)


def trial_config(trial: Trial) -> Any:
    """The TrainConfig a trial trains: its own, or the notes' worked example (their network,
    one sample, one full-batch update per step) with the swept optimizer and η, replaying a
    traced step (the same weights as eager mode, bit for bit, with less overhead)."""
    from chainrule.runs.config import TrainConfig

    if trial.config is not None:
        return TrainConfig(**trial.config)
    return TrainConfig(dataset="worked-example", lr=trial.params["lr"], epochs=trial.steps,
                       optimizer=trial.params.get("optimizer", "sgd"), trace=True)


_STATUS = {"finished": "ok", "early-stopped": "ok", "diverged": "diverged",
           "interrupted": "interrupted"}


def _summarize(trial: Trial, run: Any, seconds: float) -> TrialResult:
    """A trial's result from its `RunResult`: the curve (per step for the worked example, per
    epoch otherwise), the final model's losses, and the updates needed to reach the target."""
    history, status = run.history, _STATUS[run.status]
    if trial.config is None:  # one sample: an epoch is exactly one update
        curve = list(history.step_losses)
        x = [float(i) for i in range(1, len(curve) + 1)]
        reached, reached_at = curve, list(range(len(curve)))  # the loss at step k: k − 1 updates
    else:
        curve = history["loss"]
        x = [float(e) for e in range(1, len(curve) + 1)]
        n_train = len(run.prepared.X_train)
        steps_per_epoch = math.ceil(n_train / min(run.config.batch_size or n_train, n_train))
        reached, reached_at = curve, [(e + 1) * steps_per_epoch for e in range(len(curve))]
        partial = history.step_losses[len(curve) * steps_per_epoch:]
        if status != "ok" and partial:
            # Draw the run up to the point it stopped: its last finite mini-batch loss.
            x.append(len(curve) + len(partial) / steps_per_epoch)
            curve = [*curve, partial[-1]]
    # Only finite points make the curve (an epoch's mean can overflow before the run stops).
    points = [(float(at), float(v)) for at, v in zip(x, curve, strict=True) if math.isfinite(v)]
    x, losses = [p[0] for p in points], [p[1] for p in points]
    val_losses = [float(v) for v in history["val_loss"]]
    steps_to_target = None
    if trial.target_loss is not None:
        steps_to_target = next((int(at) for value, at in zip(reached, reached_at, strict=True)
                                if value <= trial.target_loss), None)
    final = run.final if status == "ok" else {}  # the model after its last update
    final_loss = final.get("loss", losses[-1] if losses else None)
    return TrialResult(
        label=trial.label, params=dict(trial.params), status=status,
        unit="step" if trial.config is None else "epoch", loss=run.prepared.loss, x=x,
        losses=losses, val_losses=val_losses, final_loss=final_loss,
        best_loss=min(losses) if losses else None,
        val_loss=final.get("val_loss", val_losses[-1] if val_losses else None),
        steps=run.steps, steps_to_target=steps_to_target, target_loss=trial.target_loss,
        error=(run.error or "").splitlines()[0] if run.error else "", seconds=seconds,
    )


# --- executors -------------------------------------------------------------------------------

def available_cores() -> int:
    """The CPU cores this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:  # a container's limit (cgroup v2): "max 100000" or "200000 100000" (= 2 cores)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


@contextlib.contextmanager
def _blas_threads_in_children(threads: int) -> Iterator[None]:
    """Set the BLAS thread variables for processes started inside the block, then restore them.

    This process's own BLAS has loaded already and is not affected
    (Note [BLAS threads in worker processes]).
    """
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def local_pool(workers: int | None = None) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """A process pool of `workers` (default: one per core), BLAS threads shared among them.

    Workers are started with "spawn" and inherit OMP_NUM_THREADS etc. = max(1, cores //
    workers) (Note [BLAS threads in worker processes]). As with any spawn pool, a script that
    uses it must guard its top level with `if __name__ == "__main__":`.
    """
    cores = available_cores()
    workers = cores if workers is None else workers
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"sweep: workers must be a positive integer, got {workers!r}")
    with _blas_threads_in_children(max(1, cores // workers)):
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=_SpawnWithoutCtrlC())
        try:
            yield pool
        except BaseException:  # Ctrl-C (Note [Ctrl-C during a sweep]) or an error: stop now
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class _SpawnProcessWithoutCtrlC(multiprocessing.context.SpawnProcess):
    """A spawned process that never receives SIGINT: it starts with SIGINT blocked, a signal
    mask it inherits from the thread that starts it (Note [Ctrl-C during a sweep])."""

    def start(self) -> None:
        if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups, no SIGINT
            return super().start()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _SpawnWithoutCtrlC(multiprocessing.context.SpawnContext):
    Process = _SpawnProcessWithoutCtrlC


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes (what Python 3.14's `terminate_workers` does)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


@contextlib.contextmanager
def dask_executor(address: str, *, timeout: float = 5.0) -> Iterator[concurrent.futures.Executor]:
    """A `concurrent.futures.Executor` running on the Dask cluster whose scheduler is `address`.

    Needs the `dask` extra (pip install "chainrule[dask]"). Anything at `address` that does not
    complete Dask's handshake within `timeout` seconds (nothing listening, or a server that is
    not a Dask scheduler) raises SchedulerError naming the address (Note [reaching a Dask
    scheduler]). Every worker needs chainrule installed (and any CSV file at the same path).
    """
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            f"running a sweep on the Dask scheduler {address} needs the dask extra: "
            'pip install "chainrule[dask]"'
        ) from None
    _check_scheduler(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as error:  # whatever went wrong, the user needs the address and the reason
        raise _unreachable(address, _first_line(error)) from None
    try:
        # pure=False: a trial always runs, even if an equal one ran on this cluster before.
        yield client.get_executor(pure=False)
    finally:
        client.close()


def _check_scheduler(address: str, timeout: float) -> None:
    """Raise SchedulerError unless a Dask scheduler answers at `address` within `timeout` s.

    Note [reaching a Dask scheduler]
        `Client(address, timeout=...)` bounds only the TCP connection: a port that accepts and
        never answers (any other server, e.g. an HTTP one) leaves it waiting for Dask's
        handshake forever, and a Client that fails half-built (a malformed address, a worker's
        address) blocks for 2 × timeout when it is collected, with a traceback. So the address
        is tried first under one deadline: distributed's own `connect` (the handshake
        included), then the "identity" request every Dask server answers, which must say
        "Scheduler". This runs in a thread with its own event loop, so it works even where
        the caller runs one (Jupyter). Only then is the Client made.
    """
    from distributed.comm import connect

    async def identify() -> str:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity"})
            return str((await comm.read()).get("type"))
        finally:
            await comm.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            kind = thread.submit(asyncio.run, asyncio.wait_for(identify(), timeout)).result()
    except (ValueError, TypeError) as error:  # raised while parsing, before any connection
        raise SchedulerError(
            f"{address!r} is not a Dask scheduler address ({_first_line(error)}); give one like "
            "tcp://HOST:8786"
        ) from None
    except TimeoutError:
        raise _unreachable(address, f"nothing there answered as a Dask scheduler within "
                                    f"{timeout:g} s") from None
    except Exception as error:
        raise _unreachable(address, _first_line(error)) from None
    if kind != "Scheduler":
        raise _unreachable(address, f"a Dask {kind} answered there, not the scheduler")


def _unreachable(address: str, reason: str) -> SchedulerError:
    return SchedulerError(f"cannot reach the Dask scheduler at {address} ({reason}); check the "
                          "address and that `dask scheduler` is running there")


# --- running many trials ---------------------------------------------------------------------

def run_sweep(
    trials: Sequence[Trial],
    executor: concurrent.futures.Executor | None = None,
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    rule: str = "auto",
    title: str | None = None,
    on_result: Callable[[int, TrialResult], None] | None = None,
) -> SweepResult:
    """Run every trial and choose the best by `rule` (see `choose_best`; the default "auto" is
    the validation loss when every run that finished has validation data, else the final
    training loss).

    Where the trials run: `executor` (any concurrent.futures.Executor, left open), or the Dask
    cluster at `scheduler`, or — with neither — `workers` processes of a local pool (default:
    one per core, at most one per trial; `workers=1` runs in this process, one after another).
    Results come back in the trials' order whichever executor ran them, so they are identical
    (Note [results identical on any executor]). A trial whose execution itself fails (a worker
    killed, a trial that cannot be sent) is recorded as failed; the others go on: in the local
    pool, the trials a dead worker's pool could not finish run again in a fresh one (Note [a
    worker that dies]). Ctrl-C
    raises `SweepInterrupted` with the results so far (Note [Ctrl-C during a sweep]).

    on_result(index, result) is called as each trial finishes (in completion order).
    """
    trials = list(trials)
    if not trials:
        raise ConfigError("sweep: there are no trials to run")
    if rule not in RULES:
        raise ConfigError(f"sweep: unknown rule {rule!r}; choose from {', '.join(RULES)}")
    if sum(x is not None for x in (executor, scheduler, workers)) > 1:
        raise ConfigError("sweep: give at most one of executor, scheduler and workers")
    title = title or _title(trials)
    try:
        if executor is not None:
            results = _run_on(executor, trials, on_result)
        elif scheduler is not None:
            with dask_executor(scheduler) as cluster:
                results = _run_on(cluster, trials, on_result)
        else:
            workers = min(available_cores() if workers is None else workers, len(trials))
            if workers == 1:
                results = _run_here(trials, on_result)
            else:
                results = _run_in_pools(workers, trials, on_result)
    except _Stopped as stop:
        unfinished = "interrupted (Ctrl-C) before it finished"
        partial = [r or _unfinished(trial, "interrupted", unfinished)
                   for r, trial in zip(stop.results, trials, strict=True)]
        raise SweepInterrupted(_sweep_result(partial, rule, title)) from None
    return _sweep_result(results, rule, title)


def _sweep_result(results: list[TrialResult], rule: str, title: str) -> SweepResult:
    chosen = resolve_rule(rule, results)
    return SweepResult(results, chosen, choose_best(results, chosen), title, auto=rule == "auto")


def _run_here(trials: list[Trial],
              on_result: Callable[[int, TrialResult], None] | None) -> list[TrialResult]:
    """Every trial in this process, one after another; Ctrl-C stops after the current update."""
    results: list[TrialResult | None] = [None] * len(trials)
    try:
        for index, trial in enumerate(trials):
            results[index] = result = run_trial(trial)
            if on_result is not None:
                on_result(index, result)
            if result.status == "interrupted":  # fit stopped the trial on Ctrl-C
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise _Stopped(results) from None
    return results  # type: ignore[return-value]


def _run_on(executor: concurrent.futures.Executor, trials: list[Trial],
            on_result: Callable[[int, TrialResult], None] | None) -> list[TrialResult]:
    futures = {executor.submit(run_trial, trial): index for index, trial in enumerate(trials)}
    results: list[TrialResult | None] = [None] * len(trials)
    try:
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as error:  # the executor could not run the trial at all
                message = str(error).splitlines()[0] if str(error) else ""
                result = _unfinished(trials[index], "failed",
                                     f"{type(error).__name__}: {message}".rstrip(": "))
            results[index] = result
            if on_result is not None:
                on_result(index, result)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()  # those not started; a local pool's workers are stopped on exit
        raise _Stopped(results) from None
    return results  # type: ignore[return-value]


def _run_in_pools(workers: int, trials: list[Trial],
                  on_result: Callable[[int, TrialResult], None] | None) -> list[TrialResult]:
    """Every trial on a local pool of `workers`; after a worker dies, the rest on a fresh pool.

    Note [a worker that dies]
        A worker process that dies (killed, out of memory, a crash in native code) breaks a
        ProcessPoolExecutor: every trial it had not finished, running or waiting, fails with
        BrokenProcessPool. Only the trial that was running in the dead worker is to blame, so
        each worker notes, in a file named by its pid, the trial it starts. When a pool
        breaks, the workers it terminated itself exit with -SIGTERM; a worker that exited
        otherwise (-SIGKILL, -SIGSEGV, an exit code) died by itself, and the trial its file
        names is recorded as failed. Every other unfinished trial runs again in a fresh pool.
        If no dead worker can be matched to a trial, every trial that was running gets a
        strike and runs again alone, in a pool of its own: if that pool breaks too, the trial
        is recorded as failed. Each break fails or strikes at least one trial, so the sweep
        ends.
    """
    import tempfile

    results: list[TrialResult | None] = [None] * len(trials)
    strikes = [0] * len(trials)

    def record(index: int, result: TrialResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    try:
        with tempfile.TemporaryDirectory(prefix="chainrule-sweep-") as folder:
            while todo := [i for i, r in enumerate(results) if r is None]:
                batch = [i for i in todo if strikes[i]][:1] or todo  # a suspect runs alone
                with local_pool(min(workers, len(batch))) as pool:
                    processes = _pool_round(pool, folder, trials, batch, record)
                if processes is None:
                    continue  # (only when every trial finished)
                notes = {}
                for note in Path(folder).iterdir():
                    notes[int(note.name)] = int(note.read_text())
                    note.unlink()
                running = {index: pid for pid, index in notes.items() if results[index] is None}
                died = {pid: process.exitcode for pid, process in processes.items()
                        if process.exitcode not in (None, 0, -signal.SIGTERM)}
                culprits = [index for index, pid in running.items() if pid in died]
                for index in culprits:
                    record(index, _unfinished(trials[index], "failed", _died(died[running[index]])))
                if culprits:
                    continue
                for index in running or batch:
                    strikes[index] += 1
                    if strikes[index] == 2:
                        record(index, _unfinished(
                            trials[index], "failed", "BrokenProcessPool: a worker process died "
                            "while this trial ran, twice (the second time alone in its pool)"))
    except KeyboardInterrupt:
        raise _Stopped(results) from None
    return results  # type: ignore[return-value]


def _pool_round(pool: concurrent.futures.ProcessPoolExecutor, folder: str, trials: list[Trial],
                todo: list[int],
                record: Callable[[int, TrialResult], None]) -> dict[int, Any] | None:
    """Run trials `todo` on `pool`, recording each that finishes. If a worker dies and breaks
    the pool: the pool's worker processes by pid (Note [a worker that dies]), else None."""
    from concurrent.futures.process import BrokenProcessPool

    broken = None

    def workers() -> dict[int, Any]:
        return dict(getattr(pool, "_processes", None) or {})

    futures = {}
    for index in todo:
        try:
            # run_trial is looked up now, not in the worker: a test can stand in its own
            futures[pool.submit(_in_worker, run_trial, folder, index, trials[index])] = index
        except BrokenProcessPool:
            broken = workers()
            break
    try:
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                if broken is None:
                    broken = workers()
                continue
            except Exception as error:  # the pool could not run the trial at all
                result = _unfinished(trials[index], "failed", _error_text(error))
            record(index, result)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()  # those not started; local_pool stops the workers
        raise
    return broken


def _in_worker(run: Callable[[Trial], TrialResult], folder: str, index: int,
               trial: Trial) -> TrialResult:
    """In a pool worker: note which trial this process runs (Note [a worker that dies]), run it."""
    Path(folder, str(os.getpid())).write_text(str(index))
    return run(trial)


def _died(exitcode: int) -> str:
    try:
        how = (f"killed by {signal.Signals(-exitcode).name}" if exitcode < 0
               else f"exit code {exitcode}")
    except ValueError:  # a signal without a name here
        how = f"killed by signal {-exitcode}"
    return f"BrokenProcessPool: the worker process running this trial died ({how})"


def _error_text(error: BaseException) -> str:
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}".rstrip(": ")


def _unfinished(trial: Trial, status: str, error: str, seconds: float = 0.0) -> TrialResult:
    """The result of a trial that has nothing to show: it failed to run, or never finished."""
    return TrialResult(trial.label, dict(trial.params), status,
                       "step" if trial.config is None else "epoch",
                       "half_sse" if trial.config is None else "",
                       target_loss=trial.target_loss, error=error, seconds=seconds)


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _title(trials: Sequence[Trial]) -> str:
    """What the trials share: the network and data, and every setting that does not vary."""
    first = trials[0]
    config = first.config
    varied = {key for key in GRID_KEYS
              if len({json.dumps(t.params.get(key, t.config and t.config.get(key)))
                      for t in trials}) > 1}
    if config is None:
        parts = ["the notes' worked example (2-2-2 sigmoid network, one sample)"]
        settings = {"optimizer": first.params.get("optimizer", "sgd"), "lr": first.params["lr"]}
    else:
        source = config.get("dataset") or Path(config.get("csv") or "csv").stem
        layers = "" if "hidden" in varied else f"hidden {_hidden_text(config['hidden'])} "
        parts = [source, layers + config["activation"]]
        settings = config
    if "optimizer" not in varied:
        parts.append(DISPLAY_NAMES[settings["optimizer"]])
    if config is not None and "batch_size" not in varied:
        parts.append("full batch" if config["batch_size"] is None
                     else f"batch {config['batch_size']}")
    if "lr" not in varied:
        parts.append(f"η={settings['lr']:g}")
    return ", ".join(parts)


# --- choosing the best -----------------------------------------------------------------------

def choose_best(results: Sequence[TrialResult], rule: str = "final_loss") -> TrialResult | None:
    """The best result by `rule` (one of `RULES`), or None when no run qualifies.

    Runs that diverged, failed or were interrupted never qualify. "auto" is "val_loss" when
    every run that finished has validation data, else "final_loss" (`resolve_rule`).
    "final_loss" (the default here) picks the lowest final training loss; "best_loss" the
    lowest loss reached at any point; "val_loss" the lowest final validation loss (runs without
    validation data do not qualify); "steps_to_target" the fewest updates to reach the target
    loss, ties broken by the lower final loss. Equal scores go to the earlier trial, so the
    choice is deterministic.
    """
    if rule not in RULES:
        raise ConfigError(f"sweep: unknown rule {rule!r}; choose from {', '.join(RULES)}")
    rule = resolve_rule(rule, results)

    def score(r: TrialResult) -> tuple[float, ...] | None:
        if r.status != "ok" or r.final_loss is None or not math.isfinite(r.final_loss):
            return None
        if rule == "final_loss":
            return (r.final_loss,)
        if rule == "best_loss":
            return (r.best_loss,)  # type: ignore[return-value]
        if rule == "val_loss":
            ok = r.val_loss is not None and math.isfinite(r.val_loss)
            return (r.val_loss,) if ok else None  # type: ignore[return-value]
        return None if r.steps_to_target is None else (r.steps_to_target, r.final_loss)

    scored = [(s, i) for i, r in enumerate(results) if (s := score(r)) is not None]
    return results[min(scored)[1]] if scored else None


# --- outputs ---------------------------------------------------------------------------------

def results_csv(result: SweepResult) -> str:
    """The results table as CSV: one row per trial, in the trials' order."""
    keys = [key for key in GRID_KEYS if any(key in r.params for r in result.results)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", *keys, "status", "diverged", "final_loss", "best_loss", "val_loss",
                     "target_loss", "steps_to_target", "steps", "best", "error"])
    for r in result.results:
        params = [_csv_param(key, r.params.get(key, "")) for key in keys]
        writer.writerow([r.label, *params, r.status, "yes" if r.diverged else "no",
                         _number(r.final_loss), _number(r.best_loss), _number(r.val_loss),
                         _number(r.target_loss), _number(r.steps_to_target), r.steps,
                         "yes" if r is result.best else "no", r.error])
    return buffer.getvalue()


def _csv_param(key: str, value: Any) -> str:
    if key == "batch_size" and value is None:
        return "full"
    if key == "hidden":
        return _hidden_text(value).replace("×", "x")
    return str(value)


def _number(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def write_outputs(result: SweepResult, out_dir: Path, *, log_scale: bool = True,
                  written: list[Path] | None = None) -> list[Path]:
    """Write loss.png and loss.svg (the curves), results.csv, best.json, sweep.json and
    report.html (the table and the curves on one self-contained page: report.py).

    results.csv is written first, so it exists even if plotting fails. Every file is written
    atomically; the plots are byte-for-byte reproducible (fixed metadata). Each file is
    appended to `written` as soon as it is complete, so a caller interrupted by Ctrl-C can say
    which are.
    """
    from chainrule.io import atomic_write_bytes

    written = [] if written is None else written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "results.csv", results_csv(result).encode())
    written.append(out_dir / "results.csv")
    best = None
    if result.best is not None:
        b = result.best
        best = {"label": b.label, "params": b.params, "final_loss": b.final_loss,
                "best_loss": b.best_loss, "val_loss": _finite_or_none(b.val_loss),
                "steps_to_target": b.steps_to_target}
    summary = {"rule": result.rule, "auto": result.auto, "rule_text": result.rule_text,
               "best": best}
    atomic_write_bytes(out_dir / "best.json", (json.dumps(summary, indent=1) + "\n").encode())
    written.append(out_dir / "best.json")
    atomic_write_bytes(out_dir / "sweep.json",
                       (json.dumps(result.to_dict(), allow_nan=False) + "\n").encode())
    written.append(out_dir / "sweep.json")
    from chainrule.runs.report import sweep_report

    plot_sweep(result, [out_dir / "loss.png", out_dir / "loss.svg"], log_scale=log_scale,
               written=written)
    svg = (out_dir / "loss.svg").read_text(encoding="utf-8")
    atomic_write_bytes(out_dir / "report.html", sweep_report(result, svg).encode())
    written.append(out_dir / "report.html")
    return [out_dir / name for name in OUTPUT_FILES]


COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
LINESTYLES = ("-", "--", "-.", ":")


def plot_sweep(result: SweepResult, paths: Sequence[Path], *, log_scale: bool = True,
               written: list[Path] | None = None) -> None:
    """One labelled loss curve per trial; ✕ where a run diverged, ★ on the best; PNG/SVG by suffix.

    The y axis is logarithmic when `log_scale`. A loss of exactly 0, which a log axis cannot
    show, is drawn at a floor a decade below the lowest positive loss, marked by a dashed line
    the legend names. A diverged run whose losses soar past the others is clipped at the top of
    the axes, its ✕ on the edge. The best run's ★ is always drawn: if its last point lies
    outside the axes, the ★ sits on the edge with the value it reached.
    """
    from chainrule.runs.plots import save_figures

    save_figures(sweep_figure(result, log_scale=log_scale), paths, written)


def sweep_figure(result: SweepResult, *, log_scale: bool = True) -> Any:
    """The figure of `plot_sweep` (open; the caller saves and closes it)."""
    from chainrule.runs.plots import plain, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 5.2))
    curves = [r for r in result.results if r.losses]
    log = log_scale and any(v > 0 for r in curves for v in r.losses)
    floor = None  # where a loss of 0 is drawn on a log axis
    if log and any(v <= 0 for r in curves for v in r.losses):
        floor = min(v for r in curves for v in r.losses if v > 0) / 10
    top = _clip_top([r for r in curves if r.status == "ok"], curves, log)
    star = None
    for index, r in enumerate(result.results):
        colour = COLOURS[index % len(COLOURS)]
        style = LINESTYLES[(index // len(COLOURS)) % len(LINESTYLES)]
        is_best = r is result.best
        label = _legend_label(r, is_best)
        if not r.losses:  # failed (or diverged at its first step): a legend entry only
            ax.plot([], [], color=colour, linestyle=style, label=label)
            continue
        x, y = _thin(r.x, r.losses, PLOT_POINTS)
        if floor is not None:
            y = [max(v, floor) for v in y]
        ax.plot(x, y, color=colour, linestyle=style, linewidth=2.6 if is_best else 1.4,
                label=label, zorder=4 if is_best else 3)
        end = y[-1]
        if top is not None and end > top:  # off the chart: mark it just inside the top edge
            end = top / 1.6 if log else top * 0.97
            ax.annotate(f"{y[-1]:.2g} ↑", (x[-1], end), xytext=(9, -4),
                        textcoords="offset points", fontsize=8, color=colour)
        if r.status == "diverged":
            ax.plot([x[-1]], [end], marker="X", markersize=11, color=colour,
                    markeredgecolor="black", linestyle="none", zorder=6, clip_on=False)
        if is_best:
            star = (x[-1], end, r.losses[-1], colour)
    target = next((r.target_loss for r in result.results if r.target_loss), None)
    if target is not None and curves:
        ax.axhline(target, color="#555555", linestyle=":", linewidth=1.0,
                   label=f"target loss {target:g}", zorder=2)
    if floor is not None:
        ax.axhline(floor, color="#999999", linestyle=(0, (4, 3)), linewidth=0.8, zorder=2,
                   label=f"loss 0, drawn at {floor:.2g} (log axis)")
    if log:
        ax.set_yscale("log")
    if top is not None or floor is not None:
        if floor is not None:
            bottom = floor / 2
        elif log:
            bottom = min(v for r in curves if r.status == "ok" for v in r.losses if v > 0) / 2
        else:
            bottom = min(0.0, min(v for r in curves if r.status == "ok" for v in r.losses))
        ax.set_ylim(bottom, top if top is not None else ax.get_ylim()[1])
    if star is not None:
        _draw_star(ax, *star, log=log)
    unit = curves[0].unit if curves else "step"
    if unit == "epoch":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss = curves[0].loss if curves else "half_sse"
    ax.set_xlabel("update step (full batch)" if unit == "step" else "epoch")
    ax.set_ylabel(_loss_axis_label(loss, unit) + (" (log scale)" if log else ""))
    best = ("no run qualified as best" if result.best is None
            else f"best: {result.best.label} — {result.rule_text}")
    import textwrap

    stopped = sum(r.status == "interrupted" for r in result.results)
    if stopped:
        best = (f"sweep interrupted (Ctrl-C): {len(result.results) - stopped} of "
                f"{len(result.results)} trials finished; {best}")
    heading = "\n".join(textwrap.wrap(f"Loss per {unit}: {result.title}", 100)
                        + textwrap.wrap(best, 100))
    ax.set_title(plain(heading), fontsize=10)  # the title names the CSV file
    ax.grid(True, which="major", alpha=0.35)
    ax.legend(loc="best", fontsize=9, framealpha=0.9)  # placed by the data: reproducible
    fig.tight_layout()
    return fig


def _draw_star(ax: Any, x: float, y: float, value: float, colour: str, *, log: bool) -> None:
    """The best run's ★ at (x, y), or on the edge of the axes (with its value) if y is off them."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high)  # the ★ must not move the axes
    if not low <= y <= high:
        edge = high if y > high else low
        inside = (edge / 1.6 if y > high else edge * 1.6) if log else \
            edge - 0.03 * (high - low) if y > high else edge + 0.03 * (high - low)
        ax.annotate(f"{value:.2g} {'↑' if y > high else '↓'}", (x, inside), xytext=(9, -4),
                    textcoords="offset points", fontsize=8, color=colour)
        y = inside
    ax.plot([x], [y], marker="*", markersize=18, color=colour, markeredgecolor="black",
            linestyle="none", zorder=6, clip_on=False)


def _loss_axis_label(loss: str, unit: str) -> str:
    names = {"half_sse": "E = ½·Σ(t − y)²", "mse": "mean squared error",
             "cross_entropy": "cross-entropy", "bce": "binary cross-entropy",
             "bce_logits": "binary cross-entropy"}
    name = names.get(loss, loss or "loss")
    return name if unit == "step" else f"training loss, {name}"


def _legend_label(r: TrialResult, is_best: bool) -> str:
    if r.status == "failed":
        return f"{r.label}: failed ({r.error.split(':')[0]})"
    if r.status == "diverged":
        return f"{r.label}: diverged at update {r.steps + 1}"
    if r.status == "interrupted":
        return f"{r.label}: interrupted" + (f" after {r.steps:,} updates" if r.steps else "")
    text = f"{r.label}: final {r.final_loss:.3g}"
    if r.val_loss is not None and math.isfinite(r.val_loss):
        text += f", val {r.val_loss:.3g}"
    return text + "  (best)" if is_best else text


def _thin(x: list[float], y: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most `limit` evenly spaced points of a curve, always keeping the first and last."""
    n = len(y)
    if n <= limit:
        return x, y
    picks = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [x[i] for i in picks], [y[i] for i in picks]


def _clip_top(ok: list[TrialResult], curves: list[TrialResult], log: bool) -> float | None:
    """A top for the y axis when a diverged run soars far above the runs that trained."""
    if not ok:
        return None
    highest = max(max(r.losses) for r in ok)
    top = highest * (100.0 if log else 3.0)
    if highest <= 0 or max(max(r.losses) for r in curves) <= top:
        return None
    return top


def print_table(result: SweepResult, console: Any = None) -> None:
    """Print the results as a rich table, then the best setting and the rule that chose it."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str, wherever a user's string can appear (the CSV's name in the title, the
    # labels, the errors): printed as it is, never read as rich markup or emoji codes.
    console = console or Console()
    results = result.results
    has_val = any(r.val_loss is not None for r in results)
    target = next((r.target_loss for r in results if r.target_loss is not None), None)
    table = Table(title=Text(f"chainrule sweep: {result.title}"), title_justify="left")
    table.add_column("setting")
    table.add_column("final loss", justify="right")
    table.add_column("best loss", justify="right")
    if has_val:
        table.add_column("val loss", justify="right")
    if target is not None:
        table.add_column(f"updates to {target:g}", justify="right")
    table.add_column("diverged")
    table.add_column("seconds", justify="right")
    for r in results:
        cells: list[str | Text] = [Text(r.label + ("  ★" if r is result.best else "")),
                                   _cell(r.final_loss), _cell(r.best_loss)]
        if has_val:
            cells.append(_cell(r.val_loss))
        if target is not None:
            cells.append("—" if r.steps_to_target is None else f"{r.steps_to_target:,}")
        status = {"ok": "no", "diverged": "[red]yes[/red]", "failed": "[red]failed[/red]",
                  "interrupted": "[yellow]interrupted[/yellow]"}
        cells += [status[r.status], f"{r.seconds:.2f}"]
        table.add_row(*cells, style="bold" if r is result.best else None)
    console.print(table)
    if result.best is None:
        console.print(f"no best setting: no run qualified ({result.rule_text})")
    else:
        console.print(Text.assemble("best: ", (result.best.label, "bold"),
                                    f" — {result.rule_text}"))
    for r in results:
        if r.status == "failed":
            console.print(Text.assemble((f"{r.label} failed:", "red"), " ", r.error))


def _cell(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


# --- the notes' sweep, for `chainrule demo` --------------------------------------------------

def worked_example_sweep(out_dir: Path, executor: concurrent.futures.Executor | None = None, *,
                         steps: int = WORKED_EXAMPLE_STEPS, workers: int | None = None,
                         log_scale: bool = True, console: Any = None) -> SweepResult:
    """The notes' sweep: the worked example with η = 0.1, 0.2, 0.5, 0.8, 1, 2, written to out_dir.

    Trains 6 × `steps` full-batch updates (a few seconds), writes loss.png/.svg, results.csv,
    best.json and sweep.json, and returns the result. With a rich `console`, also prints the
    table, the best setting and the files written.
    """
    result = run_sweep(grid(steps=steps), executor, None if executor is not None else workers)
    written = write_outputs(result, Path(out_dir), log_scale=log_scale)
    if console is not None:
        print_table(result, console)
        from rich.text import Text

        console.print(Text(f"wrote {', '.join(str(path) for path in written)}"))
    return result
