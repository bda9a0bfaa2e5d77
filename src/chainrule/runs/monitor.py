"""What `train()` records while it trains: gradient norms, activation statistics, boundaries.

Callbacks of `fit`, gathered here below `run.py` so that the one training function can attach
them (diagnostics.py and the run report read what they record):

    GradientMonitor     each Linear layer's ‖∂E/∂W‖ after every k-th update, and (with a
                        sample) saturated or dead units per epoch; `train()` always attaches a
                        light one (`light_monitor`: at most about `GRADIENT_ROWS` rows)
    BoundarySnapshots   for two-feature data, the network over the input plane
                        (`plane.class_plane`) at chosen epochs: the report's decision
                        boundaries and the frames of `train --animate`

    result = train(TrainConfig(dataset="moons", epochs=30))
    result.gradient_norms.layers        # ['layer 1 (2→32)', 'layer 2 (32→2)']
    [b.epoch for b in result.boundaries]  # [1, 10, 20, 30]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.errors import ConfigError
from chainrule.runs.plane import Plane, class_plane
from chainrule.runs.preparation import Prepared
from chainrule.tensor import Tensor
from chainrule.train import Callback, TrainState

GRADIENT_ROWS = 300
"""The light monitor of `train()` records about this many updates at most, evenly spaced."""

ANIMATION_FRAMES = 60
"""`train --animate` draws at most this many epochs, evenly spaced, the first and last among
them (plus the last epoch trained, if training stopped early)."""

SATURATED_LOW, SATURATED_HIGH = 0.01, 0.99
"""A sigmoid output below 0.01 or above 0.99 (a tanh output with |out| > 0.99) is saturated."""



# --- gradient norms and activation statistics ------------------------------------------------

@dataclass(frozen=True)
class ActivationStats:
    """How one activation layer behaved on the sample batch.

    layer: the module's name in the model ("1"); follows: the name of the Linear layer that
    feeds it ("0"); kind: "sigmoid", "tanh" or "relu"; units: its width; saturated: the
    fraction of (sample, unit) outputs in the flat parts of a sigmoid or tanh (None for ReLU);
    dead: the fraction of ReLU units that output 0 for every sample (None for sigmoid/tanh).
    """

    layer: str
    follows: str | None
    kind: str
    units: int
    saturated: float | None = None
    dead: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "follows": self.follows, "kind": self.kind,
                "units": self.units, "saturated": self.saturated, "dead": self.dead}


def activation_stats(model: nn.Module, X: np.ndarray) -> list[ActivationStats]:
    """Run X through a Sequential model layer by layer (no graph) and measure each activation.

    Sigmoid: saturated = fraction of outputs < 0.01 or > 0.99; Tanh: |out| > 0.99; ReLU: dead =
    fraction of units whose output is 0 for every row of X. Other layers are skipped.
    """
    if not isinstance(model, nn.Sequential):
        return []
    stats = []
    dtype = next(iter(model.parameters())).data.dtype
    linear = None
    with no_grad():
        x: Any = Tensor._constant(np.asarray(X, dtype=dtype))
        for name, module in model.named_children():
            x = module(x)
            if isinstance(module, nn.Linear):
                linear = name
            out = x.data if isinstance(x, Tensor) else np.asarray(x)
            if out.ndim != 2:
                continue
            units = int(out.shape[1])
            if isinstance(module, nn.Sigmoid):
                saturated = np.mean((out < SATURATED_LOW) | (out > SATURATED_HIGH))
                stats.append(ActivationStats(name, linear, "sigmoid", units,
                                             saturated=float(saturated)))
            elif isinstance(module, nn.Tanh):
                saturated = np.mean(np.abs(out) > SATURATED_HIGH)
                stats.append(ActivationStats(name, linear, "tanh", units,
                                             saturated=float(saturated)))
            elif isinstance(module, nn.ReLU):
                dead = np.mean(np.all(out <= 0, axis=0))
                stats.append(ActivationStats(name, linear, "relu", units, dead=float(dead)))
    return stats


class GradientMonitor(Callback):
    """Record per-layer gradient norms during `fit`, and activation statistics per epoch.

    sample: rows of training data for the activation statistics (None: no statistics).
    every: record the gradient norms after every `every`-th update.

    After training: `layers` (the Linear layers' names, input side first), `steps` (the update
    after which each row was recorded), `norms[name]` (‖∂E/∂W‖₂ of that layer's weight at each
    recorded step), `weight_norms[name]` (‖W‖₂ just before that update), `lrs` (η of each
    recorded update), `updates` (how many updates training made) and `activations` ([(epoch,
    [ActivationStats, ...]), ...], epoch 0 being the initial weights).

    >>> monitor = GradientMonitor(X_train[:256])
    >>> fit(model, "cross_entropy", optimizer, X_train, y_train, callbacks=[monitor])
    >>> monitor.norms[monitor.layers[0]][-1]
    """

    def __init__(self, sample: Any = None, *, every: int = 1) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ConfigError(f"GradientMonitor: every must be a positive integer, got {every!r}")
        self.sample = None if sample is None else np.asarray(sample)
        self.every = every
        self.layers: list[str] = []
        self.shapes: dict[str, tuple[int, int]] = {}
        self.steps: list[int] = []
        self.norms: dict[str, list[float]] = {}
        self.weight_norms: dict[str, list[float]] = {}
        self.lrs: list[float] = []
        self.updates = 0
        self.activations: list[tuple[int, list[ActivationStats]]] = []
        self._modules: list[nn.Linear] = []
        self._before: list[float] = []  # each layer's ‖W‖ before the next recorded update

    def on_train_begin(self, state: TrainState) -> None:
        named = [(name, m) for name, m in state.model.named_modules()
                 if isinstance(m, nn.Linear)]
        self.layers = [name for name, _ in named]
        self._modules = [m for _, m in named]
        self.shapes = {name: (m.in_features, m.out_features) for name, m in named}
        self.norms = {name: [] for name in self.layers}
        self.weight_norms = {name: [] for name in self.layers}
        if not self.layers:
            raise ConfigError("GradientMonitor: the model has no Linear layers to watch")
        self._before = self._weight_norms()
        self._record_activations(state, state.epoch)

    def on_step_end(self, state: TrainState, loss: float) -> None:
        self.updates = state.step
        if state.step % self.every == 0:
            self.steps.append(state.step)
            self.lrs.append(float(state.optimizer.lr))
            for name, module, before in zip(self.layers, self._modules, self._before,
                                            strict=True):
                grad = module.weight.grad
                self.norms[name].append(0.0 if grad is None else float(np.linalg.norm(grad)))
                self.weight_norms[name].append(before)
        if (state.step + 1) % self.every == 0:  # the next update is recorded: keep ‖W‖ before it
            self._before = self._weight_norms()

    def _weight_norms(self) -> list[float]:
        return [float(np.linalg.norm(module.weight.data)) for module in self._modules]

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        self._record_activations(state, int(logs["epoch"]))

    def _record_activations(self, state: TrainState, epoch: int) -> None:
        if self.sample is not None and len(self.sample):
            self.activations.append((epoch, activation_stats(state.model, self.sample)))

    def label(self, name: str) -> str:
        """ "layer 3 (32→32)": Linear layers counted from the input, with their sizes."""
        n_in, n_out = self.shapes[name]
        return f"layer {self.layers.index(name) + 1} ({n_in}→{n_out})"

    def gradient_norms(self) -> GradientNorms:
        """What was recorded, as plain data keyed by the layers' labels."""
        labels = [self.label(name) for name in self.layers]
        return GradientNorms(labels, list(self.steps),
                             {self.label(name): list(self.norms[name]) for name in self.layers},
                             self.every, self.updates)


@dataclass(frozen=True)
class GradientNorms:
    """Each Linear layer's weight-gradient norm over training (`RunResult.gradient_norms`).

    layers: "layer 1 (2→32)", ... input side first; steps: the update after which each row was
    recorded (every `every`-th of `updates`); norms[layer]: ‖∂E/∂W‖₂ at those steps.
    """

    layers: list[str]
    steps: list[int]
    norms: dict[str, list[float]]
    every: int = 1
    updates: int = 0


def light_monitor(updates: int) -> GradientMonitor:
    """The monitor `train()` attaches: no activation sample, every k-th of `updates` updates
    so that at most about GRADIENT_ROWS rows are kept."""
    return GradientMonitor(every=max(1, math.ceil(updates / GRADIENT_ROWS)))


# --- the network over the input plane --------------------------------------------------------

@dataclass(frozen=True)
class Boundary:
    """The network over `plane` after `epoch`: `values` (len(ys), len(xs), k) are class
    probabilities for a classifier, the raw outputs for regression (`plane.class_plane`)."""

    epoch: int
    plane: Plane
    values: np.ndarray = field(repr=False)


def snapshot_epochs(first: int, last: int, count: int) -> list[int]:
    """At most `count` epochs from `first` to `last` (1-based, both included), evenly spaced.

    >>> snapshot_epochs(1, 30, 4)
    [1, 10, 20, 30]
    >>> snapshot_epochs(1, 3, 4)
    [1, 2, 3]
    """
    if last < first:
        return []
    if count <= 1 or last == first:
        return [last]
    span = last - first
    return sorted({first + round(i * span / (count - 1)) for i in range(count)})


class BoundarySnapshots(Callback):
    """Record the network over the input plane of two-feature data after chosen epochs.

    epochs(first, last) gives the epochs to record for a fit that trains epochs first..last
    (resumed runs start later); the last epoch trained is recorded too when training ends
    before `last` (early stopping, divergence, Ctrl-C), with the weights it ended with.
    After training, `boundaries` holds one `Boundary` per recorded epoch, in order.
    """

    def __init__(self, prepared: Prepared, epochs: int,
                 choose: Any = None, *, resolution: int = 50) -> None:
        self.prepared = prepared
        self.epochs = epochs
        self.choose = choose or (lambda first, last: snapshot_epochs(first, last, 4))
        self.plane = Plane.around(prepared.dataset.X, resolution)
        self.boundaries: list[Boundary] = []
        self._wanted: set[int] = set()

    def on_train_begin(self, state: TrainState) -> None:
        self.boundaries = []
        self._wanted = set(self.choose(state.epoch + 1, self.epochs))

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        epoch = int(logs["epoch"])
        if epoch in self._wanted:
            self._record(state.model, epoch)

    def on_train_end(self, state: TrainState) -> None:
        done = len(state.history.epochs)
        recorded = self.boundaries[-1].epoch if self.boundaries else 0
        if done and recorded != done and state.consistent and _finite(state.model):
            self._record(state.model, done)

    def _record(self, model: nn.Module, epoch: int) -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            values = class_plane(model, self.prepared, self.plane)
        self.boundaries.append(Boundary(epoch, self.plane, values))


def _finite(model: nn.Module) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


def animation_epochs(first: int, last: int) -> list[int]:
    """The epochs `train --animate` draws: ANIMATION_FRAMES at most, evenly spaced."""
    return snapshot_epochs(first, last, ANIMATION_FRAMES)


def report_epochs(epochs: Iterable[int], count: int = 4) -> list[int]:
    """The `count` epochs of those recorded that the report shows: the first, about a third
    and two thirds of the way, and the last."""
    recorded = sorted(set(epochs))
    if len(recorded) <= count:
        return recorded
    picks = snapshot_epochs(0, len(recorded) - 1, count)
    return [recorded[i] for i in picks]
