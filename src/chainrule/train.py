"""fit(): the training loop — forward, loss, backward, update — with history and callbacks.

    for each epoch:
        for each mini-batch (shuffled with the seed):
            E = loss(model(x), t)          # 1. forward pass, 2. loss
            E.backward()                   # 3. backward pass: ∂E/∂W for every parameter
            clip_grad_norm_(W, grad_clip)  #    (only with grad_clip: cap the gradients' norm)
            optimizer.step()               # 4. update: W ← W − η·∂E/∂W (or a better rule)
        evaluate on the validation data; callbacks (early stopping, checkpoints); log

Same seed, same data, same settings → bit-identical weights: the only randomness in the loop
is the shuffling, drawn from one `np.random.Generator` seeded by `seed`.

Note [sample weights]
    With `fit(..., sample_weight=w)` each batch's loss is the weighted mean of its samples'
    losses, E = Σ_k w_k·E_k / Σ_k w_k (for a loss with reduction="sum": Σ_k w_k·E_k), built
    from chainrule ops on the loss's reduction="none" output, so the gradients follow. For the
    per-element losses (mse, bce, bce_logits) a sample's loss E_k is first the mean (with "sum":
    the sum) of its own elements; that is the same as weighting each element by its sample's
    weight. The weights are shuffled with their samples (the same permutation, drawn the same
    way, so the batch order is that of an unweighted run). A batch whose weights are all zero
    has loss 0 and zero gradients (the optimizer still steps). Weights all equal to 1 are no
    weights: fit then uses the loss as it is, bit-identical to a run without them (the weighted
    path agrees with it to the last bits, its sums being in another order). The History's loss
    is the weighted one: per step, and per epoch Σ w·E / Σ w over all samples; accuracy and
    the validation metrics are unweighted. Traced steps (trace=True) do not take weights.

Note [divergence]
    Before each update the loss and every gradient are checked; after it, every parameter. A NaN
    or an infinity stops training at once with a `DivergenceError` naming the epoch, step, what
    is not finite, the loss and the learning rate, and the model keeps its last finite weights:
      - a non-finite loss or gradient is caught before the update, which then does not happen;
      - an update that itself overflows (finite gradients, but W − η·g is not finite, e.g. with a
        huge learning rate) is undone: `fit` copies the parameters into buffers of their own
        before each step (allocated once, reused every step, so the steady-state step still
        allocates nothing) and copies them back. Only the weights are rolled back; the
        optimizer's state (momentum, moving averages, step count) keeps that last update.
    Each check is one sum per array (a sum of finite values is finite unless it overflows,
    which is divergence too). The copy and the sums are a few passes over the weights per
    step, about what an SGD step itself costs: small beside the forward and backward passes of
    any but the smallest networks.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.errors import ConfigError, DataError, DivergenceError, ShapeError
from chainrule.optim import Optimizer
from chainrule.optim.schedules import LRScheduler, ReduceLROnPlateau
from chainrule.tensor import Tensor
from chainrule.trace import TracedStep
from chainrule.validate import is_positive_int, is_real, positive_finite


@dataclass
class History:
    """What happened during training: one row per epoch and the loss of every step.

    epochs: dicts with "epoch" (1-based), "loss" (mean training loss over the epoch),
    "accuracy" (classifiers), "val_loss" / "val_accuracy" (with validation data), "lr" and
    "seconds".  step_losses: the training loss of each mini-batch, in order (the curve a
    learning-rate sweep plots).  stop_reason: why training ended early, if it did.
    restored_epoch: the epoch whose weights the model was given back when training ended
    (`EarlyStopping(restore_best=True)`), if any; the final epoch's row still shows where
    training stopped.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    restored_epoch: int | None = None

    def __getitem__(self, key: str) -> list[float]:
        """One column over the epochs, e.g. history["val_loss"]."""
        return [row[key] for row in self.epochs if key in row]

    @property
    def final(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "step_losses": self.step_losses,
                "stop_reason": self.stop_reason, "restored_epoch": self.restored_epoch}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(list(d.get("epochs", [])), list(d.get("step_losses", [])),
                   d.get("stop_reason"), d.get("restored_epoch"))

    def _repr_html_(self) -> str:
        """In a notebook: the loss curve and a table of the epochs (the first and last
        `HTML_ROWS` // 2 of a long run)."""
        from chainrule.display import Html, escape, fragment, line_chart, table

        keys = [k for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                            "seconds") if any(k in row for row in self.epochs)]
        shown: list[dict[str, float] | None] = list(self.epochs)
        if len(shown) > HTML_ROWS:
            shown = [*shown[:HTML_ROWS // 2], None, *shown[-(HTML_ROWS // 2):]]
        gap = [Html("…")] * len(keys)
        rows = [gap if row is None else [_history_cell(k, row.get(k)) for k in keys]
                for row in shown]
        epochs, updates = len(self.epochs), len(self.step_losses)
        parts = [f"<p><b>History</b>: {epochs:,} epoch{'' if epochs == 1 else 's'}, "
                 f"{updates:,} update{'' if updates == 1 else 's'}</p>"]
        if len(self.epochs) >= 2:
            series = [(label, [row["epoch"] for row in self.epochs if key in row],
                       [row[key] for row in self.epochs if key in row])
                      for label, key in (("training loss", "loss"),
                                         ("validation loss", "val_loss"))]
            parts.append(line_chart([s for s in series if s[1]], x_label="epoch",
                                    y_label="loss"))
        elif len(self.step_losses) >= 2:
            parts.append(line_chart([("training loss", range(1, len(self.step_losses) + 1),
                                      self.step_losses)], x_label="update", y_label="loss"))
        if rows:
            parts.append(table(keys, rows))
        if self.stop_reason:
            parts.append(f'<p class="note">stopped early: {escape(self.stop_reason)}</p>')
        if self.restored_epoch is not None:
            parts.append(f'<p class="note">the model has the weights of epoch '
                         f"{self.restored_epoch} (the best)</p>")
        return fragment("\n".join(parts), "chainrule-history")


HTML_ROWS = 10
"""At most this many epochs are rows of a History's table in a notebook."""


def _history_cell(key: str, value: float | None) -> Any:
    if value is None:
        return ""
    if key == "epoch":
        return int(value)
    return float(f"{value:.3g}") if key in ("lr", "seconds") else float(value)


class TrainingInterrupted(Exception):
    """Ctrl-C during `fit`: carries where training stopped and the checkpoint to resume from.

    checkpoint: the checkpoint file, None when there is none. A Ctrl-C in the middle of an
    update (the second one interrupts at once) saves nothing: the file, if there is one, holds
    the last complete state, and resuming from it repeats the steps since.
    """

    def __init__(self, state: TrainState, checkpoint: str | None) -> None:
        where = f"epoch {state.epoch + 1}, step {state.step}"
        if checkpoint is None:
            note = ""
        elif state.consistent:
            note = f"; checkpoint saved to {checkpoint}"
        elif state.checkpoint_saved:
            note = (f" in the middle of an update, which is not saved; {checkpoint} holds the "
                    "last complete checkpoint")
        else:
            note, checkpoint = " in the middle of an update, before any checkpoint was saved", None
        super().__init__(f"training interrupted at {where}{note}")
        self.state = state
        self.checkpoint = checkpoint


@dataclass
class TrainState:
    """The loop's state, handed to callbacks. `stop = True` ends training after this epoch."""

    model: nn.Module
    optimizer: Optimizer
    history: History
    rng: np.random.Generator
    epoch: int = 0  # 0-based index of the epoch in progress
    step: int = 0  # number of updates done so far, over all epochs
    epoch_rng_state: dict | None = None  # the generator's state when this epoch began
    partial: dict[str, float] = field(default_factory=dict)  # this epoch's running sums
    epoch_started: float = 0.0
    traces: dict | None = None  # traced steps by batch shape, when fit(trace=True)
    grad_clip: float | None = None  # the maximum gradient norm, when fit(grad_clip=...)
    weights: tuple | None = None  # (sample weights, the loss per sample), when they matter
    backup: list | None = None  # (name, parameter, its weights before the step), for each one
    stop: bool = False
    finished: bool = False  # the loop ended normally (epoch limit or stop), not by an error
    consistent: bool = True  # False while an update or an epoch's end is half done
    resumed: bool = False  # continued from a checkpoint (callbacks got their saved state)
    checkpoint_saved: bool = False  # this fit has written a checkpoint


class Callback:
    """Hooks into `fit`. Override what you need; set `state.stop = True` to end training.

    on_train_end runs however training ends; `state.finished` is False when an error
    (divergence, Ctrl-C) ended it. One callback may serve several `fit` calls, so a callback
    with state resets it in on_train_begin, unless `state.resumed`: then `load_state_dict` has
    just given it the state that `state_dict` saved in the checkpoint (None if none was saved).
    """

    def state_dict(self) -> dict[str, Any] | None:
        """What a checkpoint keeps of this callback: JSON values and dicts of arrays, or None."""
        return None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Take back what `state_dict` returned; check everything before changing anything."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState, loss: float) -> None: ...

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    With restore_best (the default) the model gets back the weights of its best epoch when
    training ends normally, whether patience ran out or the epoch limit came first;
    `History.restored_epoch` says which epoch that was. Each `fit` starts afresh, so one
    instance can serve several runs; a resumed one continues from the checkpoint's state.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        if patience < 1:
            raise ConfigError(f"EarlyStopping: patience must be at least 1, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.restore_best = restore_best
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf
        self.best_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None
        self.waited = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state is None:
            self._reset()
            return
        weights = state.get("best_weights")
        valid = (
            set(state) == {"best", "best_epoch", "waited", "best_weights"}
            and isinstance(state["best"], int | float)
            and all(isinstance(state[k], int) and state[k] >= 0 for k in ("best_epoch", "waited"))
            and (weights is None or (isinstance(weights, dict)
                                     and all(isinstance(a, np.ndarray) for a in weights.values())))
        )
        if not valid:
            raise ConfigError(f"EarlyStopping.load_state_dict: not a state that state_dict() "
                              f"returned: {state!r:.200}")
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self.waited, self.best_weights = state["waited"], weights

    def on_train_begin(self, state: TrainState) -> None:
        if not state.resumed:
            self._reset()

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ConfigError(
                f"EarlyStopping: no '{self.monitor}' to monitor; available: {', '.join(logs)} "
                "(val_loss needs validation data or a validation split)"
            )
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, int(logs["epoch"]), 0
            if self.restore_best:
                self.best_weights = state.model.state_dict()
            return
        self.waited += 1
        if self.waited >= self.patience:
            state.stop = True
            state.history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {self.best:.6g} at epoch {self.best_epoch})"
            )

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best and self.best_weights is not None and state.finished:
            state.model.load_state_dict(self.best_weights)
            state.history.restored_epoch = self.best_epoch
            if state.history.stop_reason is not None:
                state.history.stop_reason += f"; restored the weights of epoch {self.best_epoch}"
        self.best_weights = None  # a copy of the model: not kept once training is over


class ProgressBar(Callback):
    """A rich progress bar over the steps of all epochs, showing the current loss."""

    def __init__(self, epochs: int, steps_per_epoch: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(), transient=True,
        )
        self.task = self.progress.add_task("train", total=epochs * steps_per_epoch,
                                           epoch=1, epochs=epochs, loss="-")

    def on_train_begin(self, state: TrainState) -> None:
        self.progress.start()
        self.progress.update(self.task, completed=state.step)

    def on_step_end(self, state: TrainState, loss: float) -> None:
        self.progress.update(self.task, advance=1, epoch=state.epoch + 1, loss=f"{loss:.5g}")

    def on_train_end(self, state: TrainState) -> None:
        self.progress.stop()


# --- the loop --------------------------------------------------------------------------------

def fit(
    model: nn.Module,
    loss: nn.Module | str,
    optimizer: Optimizer,
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    validation_data: tuple[Any, Any] | None = None,
    scheduler: LRScheduler | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | str = "auto",
    resume: Any = None,
    checkpoint: str | None = None,
    checkpoint_config: dict | None = None,
    checkpoint_every: float = 5.0,
    trace: bool = False,
    grad_clip: float | None = None,
    sample_weight: Any = None,
) -> History:
    """Train `model` on (X, y) by mini-batch backpropagation and return its `History`.

    loss: a loss module or name ("half_sse", "mse", "bce", "bce_logits", "cross_entropy").
    batch_size: samples per update (None: the whole training set, i.e. full-batch descent).
    seed: seeds the shuffling; the same seed and settings give bit-identical weights.
    validation_data: (X_val, y_val), evaluated after every epoch (val_loss, val_accuracy).
    scheduler: steps once per epoch (ReduceLROnPlateau with val_loss, or loss without it).
    progress: a rich progress bar; "auto" shows it only when output is a terminal.
    resume: a `chainrule.io.Checkpoint` to continue from (weights, optimizer, schedule,
        shuffling and history), so the result is bit-identical to an uninterrupted run.
    checkpoint: a path; a checkpoint is written there at the end of an epoch when at least
        `checkpoint_every` seconds have passed since the last one, when training ends, and on
        Ctrl-C, which then raises `TrainingInterrupted`. checkpoint_config is stored in it for
        --resume. The checkpoint's optimizer state, hyperparameters included (the lr as
        scheduled, momentum, betas), replaces the optimizer's, as `load_state_dict` does.
    trace: replay a traced step (trace.py) instead of building the graph every step: the same
        ops (their forward functions, then the backward schedule) in the same order, so the
        same weights, with less overhead on small networks.
    grad_clip: a maximum gradient norm: after each backward pass (eager or traced) and the
        divergence check, `nn.utils.clip_grad_norm_(parameters, grad_clip)` scales the
        trainable parameters' gradients together so their total 2-norm is at most grad_clip,
        then the optimizer steps. None (the default): no clipping.
    sample_weight: one non-negative finite weight per training sample (not all zero): each
        batch's loss becomes the weighted mean Σ w·E / Σ w of its samples' losses (Note
        [sample weights]). None (the default): every sample counts the same.

    >>> history = fit(model, "cross_entropy", SGD(model.parameters(), lr=0.1), X, y,
    ...               epochs=20, batch_size=32, validation_data=(X_val, y_val))
    """
    loss_fn = nn.get_loss(loss) if isinstance(loss, str) else loss
    X, y = _checked_data(model, loss_fn, X, y, "training")
    if validation_data is not None:
        validation_data = _checked_data(model, loss_fn, *validation_data, "validation")
    n = len(X)
    batch_size = _checked_batch_size(batch_size, n)
    if not is_positive_int(epochs):
        raise ConfigError(f"fit: epochs must be a positive integer, got {epochs!r}")
    if not is_real(checkpoint_every) or not 0 <= checkpoint_every < math.inf:
        raise ConfigError("fit: checkpoint_every must be a non-negative number of seconds, got "
                          f"{checkpoint_every!r}")
    if grad_clip is not None:
        grad_clip = positive_finite("fit", "grad_clip", grad_clip)
    weights = _checked_weights(sample_weight, n, loss_fn, trace, X.dtype)
    steps_per_epoch = math.ceil(n / batch_size)

    state = TrainState(model, optimizer, History(), np.random.default_rng(seed),
                       traces={} if trace else None, grad_clip=grad_clip, weights=weights)
    callbacks = list(callbacks)
    if resume is not None:
        _restore(state, resume, scheduler, batch_size, n, callbacks)
    if _show_progress(progress):
        callbacks.insert(0, ProgressBar(epochs, steps_per_epoch))

    for callback in callbacks:
        callback.on_train_begin(state)
    model.train()
    try:
        # Overflow shows up as a non-finite loss or gradient, which stops training with a
        # clear error (Note [divergence]); NumPy's warnings about it would only add noise.
        with _ctrl_c_between_steps() as ctrl_c, np.errstate(over="ignore", invalid="ignore",
                                                            divide="ignore"):
            last_save, saved_epoch = time.monotonic(), None
            while state.epoch < epochs and not state.stop:
                _run_epoch(state, loss_fn, X, y, batch_size, shuffle, ctrl_c, callbacks)
                _end_of_epoch(state, loss_fn, validation_data, scheduler, callbacks)
                if checkpoint is not None and time.monotonic() - last_save >= checkpoint_every:
                    _save_checkpoint(checkpoint, state, scheduler, checkpoint_config, callbacks,
                                     resume)
                    last_save, saved_epoch = time.monotonic(), state.epoch
            if checkpoint is not None and saved_epoch != state.epoch:  # not saved just now
                _save_checkpoint(checkpoint, state, scheduler, checkpoint_config, callbacks,
                                 resume)
        state.finished = True
    except KeyboardInterrupt:
        # A second Ctrl-C can land in the middle of an update: such a state is not saved, and
        # the checkpoint file keeps the last complete one, if any.
        if checkpoint is not None and state.consistent:
            _save_checkpoint(checkpoint, state, scheduler, checkpoint_config, callbacks, resume)
        raise TrainingInterrupted(state, checkpoint) from None
    finally:
        for callback in callbacks:
            callback.on_train_end(state)
    return state.history


@contextmanager
def _ctrl_c_between_steps() -> Iterator[dict[str, bool]]:
    """Let Ctrl-C finish the current step first, so a checkpoint never holds half an update.

    The first Ctrl-C sets a flag that the loop checks after each step; a second one interrupts
    at once. (Signal handlers can only be set from the main thread; elsewhere this does nothing.)
    """
    flag = {"pressed": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def on_ctrl_c(signum: int, frame: Any) -> None:
        if flag["pressed"]:
            raise KeyboardInterrupt
        flag["pressed"] = True

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_epoch(state: TrainState, loss_fn: nn.Module, X: np.ndarray, y: np.ndarray,
               batch_size: int, shuffle: bool, ctrl_c: dict[str, bool],
               callbacks: list[Callback]) -> None:
    """The updates of one epoch; when resuming mid-epoch, the batches already done are skipped."""
    state.epoch_started = time.perf_counter()
    if state.epoch_rng_state is None:
        state.epoch_rng_state = state.rng.bit_generator.state
    done = math.ceil(state.partial.get("count", 0) / batch_size)  # batches (see _restore)
    if state.weights is None:
        order = datasets.batches(X, y, batch_size, shuffle=shuffle, rng=state.rng)
        steps = ((xb, yb, None) for xb, yb in order)
    else:  # the same permutation, drawn the same way, picks the weights with their samples
        order = datasets.batches(X, np.arange(len(X)), batch_size, shuffle=shuffle,
                                 rng=state.rng)
        steps = ((xb, y[rows], state.weights[0][rows]) for xb, rows in order)
    for xb, yb, wb in islice(steps, done, None):
        _train_step(state, loss_fn, xb, yb, wb, callbacks)
        if ctrl_c["pressed"]:
            raise KeyboardInterrupt


def _train_step(state: TrainState, loss_fn: nn.Module, xb: np.ndarray, yb: np.ndarray,
                wb: np.ndarray | None, callbacks: list[Callback]) -> None:
    """One update: forward, loss, backward, check, clip, step, check (Note [divergence])."""
    value, output = _forward_backward(state, loss_fn, xb, yb, wb)
    bad = None if math.isfinite(value) else "the loss"
    if bad is None:
        bad = _first_non_finite_gradient(state)
    if bad is not None:
        raise _divergence(state, value, bad)
    if state.grad_clip is not None:
        nn.utils.clip_grad_norm_([p for _, p, _ in _trainable(state)], state.grad_clip)
    state.consistent = False
    _guarded_step(state, value)
    state.step += 1
    state.history.step_losses.append(value)
    partial = state.partial
    weight = len(xb) if wb is None else float(wb.sum())
    partial["loss_sum"] = partial.get("loss_sum", 0.0) + value * weight
    partial["count"] = partial.get("count", 0) + len(xb)
    if wb is not None:
        partial["weight"] = partial.get("weight", 0.0) + weight
    correct = _correct(loss_fn, output, yb)
    if correct is not None:
        partial["correct"] = partial.get("correct", 0) + correct
    state.consistent = True
    for callback in callbacks:
        callback.on_step_end(state, value)


def _guarded_step(state: TrainState, loss: float) -> None:
    """optimizer.step(), undone if it leaves a parameter non-finite (Note [divergence])."""
    guarded = _trainable(state)
    for _, p, saved in guarded:
        np.copyto(saved, p.data)
    state.optimizer.step()
    for name, p, _ in guarded:
        if not math.isfinite(p.data.sum()):
            for _, q, saved in guarded:
                np.copyto(q.data, saved)
            raise _divergence(state, loss, f"the updated {name}")


def _forward_backward(state: TrainState, loss_fn: nn.Module, xb: np.ndarray,
                      yb: np.ndarray, wb: np.ndarray | None) -> tuple[float, np.ndarray]:
    """Fill every parameter's .grad with ∂E/∂W; return E and the model's output.

    Eagerly (a new graph each step), or by replaying a traced step for this batch shape.
    With sample weights wb, E is the weighted mean of the per-sample losses.
    """
    if state.traces is None:
        state.optimizer.zero_grad()
        output = state.model(Tensor._constant(xb))
        if wb is None:
            E = loss_fn(output, yb)
        else:
            E = _weighted_loss(state.weights[1], loss_fn.reduction, output, yb, wb)
        E.backward()
        return float(E.data), output.data
    traced = state.traces.get((xb.shape, yb.shape))
    if traced is None:
        traced = TracedStep(state.model, loss_fn, state.optimizer, xb, yb)
        state.traces[(xb.shape, yb.shape)] = traced
    return traced.forward_backward(xb, yb), traced.prediction


def _end_of_epoch(state: TrainState, loss_fn: nn.Module, validation_data: Any,
                  scheduler: LRScheduler | None, callbacks: list[Callback]) -> dict[str, float]:
    """Log the epoch (training and validation metrics), step the schedule, run callbacks."""
    state.consistent = False
    partial = state.partial
    logs: dict[str, float] = {
        "epoch": state.epoch + 1,
        "loss": partial["loss_sum"] / partial.get("weight", partial["count"])}
    if "correct" in partial:
        logs["accuracy"] = partial["correct"] / partial["count"]
    if validation_data is not None:
        for key, value in evaluate(state.model, loss_fn, *validation_data).items():
            logs[f"val_{key}"] = value
    logs["lr"] = state.optimizer.lr
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(logs.get("val_loss", logs["loss"]))
    elif scheduler is not None:
        scheduler.step()
    logs["seconds"] = time.perf_counter() - state.epoch_started
    state.history.epochs.append(logs)
    state.epoch += 1
    state.partial = {}
    state.epoch_rng_state = None
    for callback in callbacks:
        callback.on_epoch_end(state, logs)
    state.consistent = True
    return logs


def _trainable(state: TrainState) -> list[tuple[str, Any, np.ndarray]]:
    """(name, parameter, a buffer for its weights) of each trainable parameter, once per fit."""
    if state.backup is None:
        state.backup = [(name, p, np.empty_like(p.data))
                        for name, p in state.model.named_parameters() if p.requires_grad]
    return state.backup


def _first_non_finite_gradient(state: TrainState) -> str | None:
    for name, p, _ in _trainable(state):
        # The sum of a finite gradient is finite unless it overflows, which is divergence too.
        if p.grad is not None and not math.isfinite(p.grad.sum()):
            return f"the gradient of {name}"
    return None


def _divergence(state: TrainState, loss: float, what: str) -> DivergenceError:
    error = DivergenceError(
        f"training diverged at epoch {state.epoch + 1}, step {state.step + 1}: {what} is "
        f"not finite (loss {loss:.6g}, learning rate {state.optimizer.lr:g}); the model keeps "
        "its last finite weights. Try a smaller learning rate."
    )
    error.history = state.history  # type: ignore[attr-defined]
    error.epoch, error.step, error.loss = state.epoch + 1, state.step + 1, loss  # type: ignore[attr-defined]
    return error


# --- evaluation ------------------------------------------------------------------------------

def predict(model: nn.Module, X: Any, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs for X, computed without building a graph, in eval mode.

    X is checked first (2-D, the model's number of features, finite) and cast to the model's
    dtype, so integer inputs work.
    """
    X = datasets.numeric_array(X.data if isinstance(X, Tensor) else X, "X")
    datasets.validate(X, n_features=_model_sizes(model)[0])
    X = X.astype(_parameter_dtype(model), copy=False)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [model(Tensor._constant(X[i:i + batch_size])).data
                     for i in range(0, max(len(X), 1), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.empty((0,))


def evaluate(model: nn.Module, loss: nn.Module | str, X: Any, y: Any) -> dict[str, float]:
    """The loss (and accuracy, for classifiers) of the model on (X, y)."""
    loss_fn = nn.get_loss(loss) if isinstance(loss, str) else loss
    X, y = _checked_data(model, loss_fn, X, y, "evaluation")
    output = predict(model, X)
    with no_grad():
        value = float(loss_fn(Tensor._constant(output), y).data)
    result = {"loss": value}
    correct = _correct(loss_fn, output, y)
    if correct is not None:
        result["accuracy"] = correct / len(output)
    return result


def _correct(loss_fn: nn.Module, output: np.ndarray, y: np.ndarray) -> int | None:
    """How many predictions are right, for classification losses; None otherwise."""
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        return int(np.sum(output.argmax(axis=-1) == y))
    if isinstance(loss_fn, nn.BCELoss | nn.BCEWithLogitsLoss):
        threshold = 0.5 if isinstance(loss_fn, nn.BCELoss) else 0.0
        return int(np.sum(np.all((output > threshold) == (y > 0.5), axis=-1)))
    return None


# --- checks before training ------------------------------------------------------------------

def _checked_data(model: nn.Module, loss_fn: nn.Module, X: Any, y: Any,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate (X, y) against the model and loss before any training (clear DataErrors)."""
    try:
        X = datasets.numeric_array(X.data if isinstance(X, Tensor) else X, "X")
        y = datasets.numeric_array(y.data if isinstance(y, Tensor) else y, "y")
    except DataError as error:
        raise DataError(f"{what} data: {error}") from None
    dtype = _parameter_dtype(model)
    n_in, n_out = _model_sizes(model)
    classification = isinstance(loss_fn, nn.CrossEntropyLoss)
    try:
        datasets.validate(X, y if classification or y.ndim != 1 else y.reshape(-1, 1),
                          n_features=n_in, n_classes=n_out if classification else None,
                          task="classification" if classification else "regression")
    except DataError as error:
        raise DataError(f"{what} data: {error}") from None
    if not classification:
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if n_out is not None and y.shape[1] != n_out:
            raise DataError(
                f"{what} data: the targets have {y.shape[1]} columns but the model has "
                f"{n_out} outputs"
            )
        y = y.astype(dtype)
    else:
        y = y.astype(np.int64)
    return X.astype(dtype), y


def _weighted_loss(per_sample: nn.Module, reduction: str, output: Tensor, yb: np.ndarray,
                   wb: np.ndarray) -> Tensor:
    """Σ_k w_k·E_k / Σ_k w_k over the batch ("sum": Σ_k w_k·E_k), as chainrule ops
    (Note [sample weights]); per_sample is the loss with reduction="none"."""
    E = per_sample(output, yb)
    if E.data.ndim == 2:  # mse, bce, bce_logits: per element; a sample's loss is its row's
        E = E.mean(axis=1) if reduction == "mean" else E.sum(axis=1)
    total = (E * Tensor._constant(wb)).sum()
    if reduction == "sum":
        return total
    denominator = float(wb.sum())
    return total / (denominator if denominator > 0 else 1.0)  # all zero: E = 0, no gradient


def _checked_weights(sample_weight: Any, n: int, loss_fn: nn.Module, trace: bool,
                     dtype: np.dtype) -> tuple[np.ndarray, nn.Module] | None:
    """The sample weights (cast to the data's dtype) and the loss per sample, or None when
    there are no weights or they are all 1 (Note [sample weights])."""
    if sample_weight is None:
        return None
    try:
        w = datasets.numeric_array(sample_weight, "sample_weight")
    except DataError as error:
        raise DataError(f"fit: {error}") from None
    if w.shape != (n,):
        raise ShapeError(f"fit: sample_weight must have shape ({n},), one weight per training "
                         f"sample, got shape {w.shape}")
    w = w.astype(dtype)
    if not np.all(np.isfinite(w)):
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise DataError(f"fit: sample_weight must be finite, got {w[bad]} for sample {bad}")
    if np.any(w < 0):
        bad = int(np.flatnonzero(w < 0)[0])
        raise DataError(f"fit: sample_weight must be non-negative, got {w[bad]} for sample {bad}")
    if not np.any(w > 0):
        raise DataError("fit: sample_weight is all zero; at least one sample needs a positive "
                        "weight")
    if trace:
        raise ConfigError("fit: sample_weight does not work with trace=True (a traced step "
                          "takes no weights); drop one of them")
    kind = type(loss_fn)
    if kind not in nn.LOSSES.values() or loss_fn.reduction not in ("mean", "sum"):
        raise ConfigError(
            f"fit: sample_weight needs one of chainrule's losses ({', '.join(nn.LOSSES)}) with "
            f"reduction 'mean' or 'sum', got {loss_fn!r}"
        )
    if np.all(w == 1):
        return None
    return w, kind("none")


def _checked_batch_size(batch_size: int | None, n: int) -> int:
    if batch_size is None:
        return n
    if not is_positive_int(batch_size):
        raise ConfigError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
    if batch_size > n:
        raise ConfigError(
            f"fit: batch_size {batch_size} is larger than the {n} training samples; use at "
            f"most {n} (or batch_size=None for full-batch training)"
        )
    return int(batch_size)


def _model_sizes(model: nn.Module) -> tuple[int | None, int | None]:
    """Input features of the first Linear layer and outputs of the last one (None if unknown)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        return None, None
    return linears[0].in_features, linears[-1].out_features


def _parameter_dtype(model: nn.Module) -> np.dtype:
    for p in model.parameters():
        return p.data.dtype
    from chainrule.tensor import get_default_dtype

    return get_default_dtype()


def _show_progress(progress: bool | str) -> bool:
    if progress == "auto":
        from rich.console import Console

        return Console(stderr=True).is_terminal
    return bool(progress)


# --- checkpoints -----------------------------------------------------------------------------

def _callback_names(callbacks: list[Callback]) -> list[str]:
    """A name for each callback in checkpoints: its class, numbered from the second of a kind."""
    names: list[str] = []
    for callback in callbacks:
        name = type(callback).__name__
        count = sum(n.split("#")[0] == name for n in names)
        names.append(f"{name}#{count + 1}" if count else name)
    return names


def _save_checkpoint(path: str, state: TrainState, scheduler: LRScheduler | None,
                     config: dict | None, callbacks: list[Callback], resume: Any) -> None:
    """Save the loop's state to `path`; the checkpoint there becomes the previous one
    (io.previous_path) when it is known to be whole: this fit wrote it, or resumed from it."""
    from chainrule import io

    rng_state = state.epoch_rng_state or state.rng.bit_generator.state
    history = state.history.to_dict() | {"partial": state.partial}
    states = {name: callback.state_dict()
              for name, callback in zip(_callback_names(callbacks), callbacks, strict=True)}
    io.save_checkpoint(path, model=state.model, optimizer=state.optimizer, epoch=state.epoch,
                       step=state.step, config=config or {}, rng_state=rng_state,
                       scheduler_state=scheduler.state_dict() if scheduler else None,
                       history=history,
                       callbacks={name: s for name, s in states.items() if s is not None},
                       keep_previous=_whole(path, state, resume))
    state.checkpoint_saved = True


def _whole(path: str, state: TrainState, resume: Any) -> bool:
    """Whether the checkpoint at `path` is known to be whole: this fit wrote it, or resumed
    from it (a damaged one, which a resume from the previous one leaves, is not kept)."""
    source = getattr(resume, "path", None)
    try:
        return state.checkpoint_saved or (source is not None and os.path.samefile(source, path))
    except OSError:
        return False


def _restore(state: TrainState, checkpoint: Any, scheduler: LRScheduler | None,
             batch_size: int, n: int, callbacks: list[Callback]) -> None:
    """Put the loop back where the checkpoint left it (weights, optimizer, schedule, shuffling,
    the callbacks' states). A run that had stopped early stays stopped.

    All or nothing: if any part does not fit, the model and the optimizer stay as they were.
    """
    history = dict(checkpoint.history or {})
    partial = dict(history.pop("partial", {}) or {})
    done = partial.get("count", 0)  # samples of this epoch already trained on
    if done > n:
        raise ConfigError(f"resume: the checkpoint was saved {done} samples into epoch "
                          f"{checkpoint.epoch + 1}, but the training data has {n}; resume "
                          "with the data it was trained on")
    if done % batch_size and done != n:
        raise ConfigError(
            f"resume: the checkpoint was saved {done} samples into epoch "
            f"{checkpoint.epoch + 1}, which is not a whole number of batches of {batch_size}; "
            "resume with the batch size it was saved with"
        )
    kind = type(state.rng.bit_generator).__name__
    if not (isinstance(checkpoint.rng_state, dict)
            and checkpoint.rng_state.get("bit_generator") == kind):
        raise ConfigError(f"resume: the checkpoint's rng_state is not the state of a {kind} "
                          "generator, which fit shuffles with; resume from a checkpoint fit "
                          "wrote")
    model_before, optimizer_before = state.model.state_dict(), state.optimizer.state_dict()
    scheduler_before = scheduler.state_dict() if scheduler is not None else None
    try:
        state.model.load_state_dict(checkpoint.model.state_dict())
        state.optimizer.load_state_dict(checkpoint.optimizer_state)
        if scheduler is not None and checkpoint.scheduler_state is not None:
            scheduler.load_state_dict(checkpoint.scheduler_state)
        state.rng.bit_generator.state = checkpoint.rng_state
        saved = getattr(checkpoint, "callbacks", {})
        for name, callback in zip(_callback_names(callbacks), callbacks, strict=True):
            callback.load_state_dict(saved.get(name))
    except Exception:
        state.model.load_state_dict(model_before)
        state.optimizer.load_state_dict(optimizer_before)
        if scheduler is not None:
            scheduler.load_state_dict(scheduler_before)
        raise
    state.epoch_rng_state = checkpoint.rng_state
    state.epoch, state.step = checkpoint.epoch, checkpoint.step
    state.partial = partial
    state.history = History.from_dict(history)
    state.resumed = True
    state.stop = state.history.stop_reason is not None
