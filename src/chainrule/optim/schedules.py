"""Learning-rate schedules: set the optimizer's learning rate η once per epoch.

With several parameter groups, each group's η follows the schedule from its own η₀ (as in
PyTorch); `base_lr` and `last_lr` are the first group's.

Call the schedule's `step()` after the epoch's `optimizer.step()` calls (ReduceLROnPlateau:
`step(metric)` with the epoch's validation loss). Before any `step()` the optimizer keeps the
learning rate it was built with, η₀ (`base_lr`); after e calls it has η_e:

    StepLR:             η_e = η₀·γ^⌊e / step_size⌋
    ExponentialLR:      η_e = η₀·γ^e
    CosineAnnealingLR:  η_e = η_min + (η₀ − η_min)·(1 + cos(π·min(e, T_max) / T_max)) / 2
    ReduceLROnPlateau:  η ← max(factor·η, min_lr) once the metric has not improved for more than
                        `patience` epochs in a row

The first three are closed forms of e, so a schedule restored from its state dict continues
exactly; they overwrite any lr set by hand in between. `state_dict()` returns JSON-able data.

    >>> opt = SGD(model.parameters(), lr=0.1)
    >>> schedule = StepLR(opt, step_size=30, gamma=0.1)
    >>> for epoch in range(100):
    ...     train_one_epoch(model, opt)
    ...     schedule.step()                   # η: 0.1 for 30 epochs, then 0.01, 0.001, ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chainrule.errors import ConfigError, DataError
from chainrule.optim.optimizer import Optimizer
from chainrule.validate import (
    is_real,
    nonnegative_finite,
    nonnegative_int,
    open_unit_interval,
    positive_finite,
    positive_int,
)


class LRScheduler:
    """Base class of the schedules: the optimizer, η₀, the epoch count e, last_lr, state dicts.

    A subclass names its settings with `_hyper()` (current values) and `_configure(**hyper)`
    (validate, then set); an epoch-based one defines the closed form `lr_at(epoch)`.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(
                f"{name}: optimizer must be a chainrule optimizer (e.g. optim.SGD), "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        groups = optimizer.param_groups
        #: η₀ of each parameter group: every group follows the schedule from its own η₀.
        self.base_lrs: list[float] = [
            positive_finite(name, "the optimizer's lr" if len(groups) == 1 else
                            f"parameter group {k}'s lr", group["lr"])
            for k, group in enumerate(groups)
        ]
        self.epoch: int = 0
        self._last_lr: float = self.base_lr

    @property
    def base_lr(self) -> float:
        """η₀ of the first parameter group (of the only one, usually)."""
        return self.base_lrs[0]

    @property
    def last_lr(self) -> float:
        """The learning rate this schedule set last (the optimizer's lr before any step)."""
        return self._last_lr

    def step(self) -> None:
        """Count one epoch and set each parameter group's lr to its η_e."""
        self.epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self._lr(base_lr, self.epoch)
        self._last_lr = self.optimizer.lr

    def lr_at(self, epoch: int) -> float:
        """η after `epoch` calls of step() (of the first parameter group)."""
        return self._lr(self.base_lr, epoch)

    def _lr(self, base_lr: float, epoch: int) -> float:
        """η after `epoch` calls of step() for a group that started at η₀ = base_lr."""
        raise NotImplementedError(f"{type(self).__name__} does not define lr_at")

    def _hyper(self) -> dict[str, Any]:
        return {}

    def _configure(self, **hyper: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({hyper}; epoch={self.epoch}, last_lr={self.last_lr!r})"

    # --- saving and loading --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: {"scheduler", "hyper": {...}, "base_lr", "epoch", "last_lr", ...},
        and "base_lrs" (every group's η₀) where the optimizer has several parameter groups."""
        state = {
            "scheduler": type(self).__name__,
            "hyper": self._hyper(),
            "base_lr": self.base_lr,
            "epoch": self.epoch,
            "last_lr": self.last_lr,
            **self._progress(),
        }
        if len(self.base_lrs) > 1:
            state["base_lrs"] = list(self.base_lrs)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned, after checking all of it.

        The optimizer's lr is not touched: restore it with the optimizer's own state dict.
        """
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        expected = {"scheduler", "hyper", "base_lr", "epoch", "last_lr", *self._progress()}
        if len(self.base_lrs) > 1:
            expected.add("base_lrs")
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ConfigError(
                f"{where}: expected the dict returned by state_dict(), with keys "
                f"{sorted(expected)}, got {got}"
            )
        if state_dict["scheduler"] != name:
            raise ConfigError(
                f"{where}: the state dict is from {state_dict['scheduler']}, not {name}"
            )
        hyper = dict(state_dict["hyper"])
        if set(hyper) != set(self._hyper()):
            raise ConfigError(
                f"{where}: settings {sorted(hyper)} do not match {name}'s {sorted(self._hyper())}"
            )
        base_lr = positive_finite(where, "base_lr", state_dict["base_lr"])
        base_lrs = [base_lr]
        if len(self.base_lrs) > 1:
            saved = state_dict["base_lrs"]
            if not isinstance(saved, list) or len(saved) != len(self.base_lrs):
                raise ConfigError(f"{where}: base_lrs must list {len(self.base_lrs)} learning "
                                  f"rates, one per parameter group, got {saved!r}")
            base_lrs = [positive_finite(where, f"base_lrs[{k}]", lr)
                        for k, lr in enumerate(saved)]
            if base_lrs[0] != base_lr:
                raise ConfigError(f"{where}: base_lr {base_lr!r} is not base_lrs[0] "
                                  f"{base_lrs[0]!r}")
        epoch = nonnegative_int(where, "epoch", state_dict["epoch"])
        last_lr = nonnegative_finite(where, "last_lr", state_dict["last_lr"])
        progress = self._check_progress(where, state_dict)
        self._configure(**hyper)  # validates all before setting any
        self.base_lrs, self.epoch, self._last_lr = base_lrs, epoch, last_lr
        for key, value in progress.items():
            setattr(self, key, value)

    def _progress(self) -> dict[str, Any]:
        """State beyond the epoch count (ReduceLROnPlateau's best metric and bad epochs)."""
        return {}

    def _check_progress(self, where: str, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        return {}


class StepLR(LRScheduler):
    """Multiply the learning rate by γ every `step_size` epochs: η_e = η₀·γ^⌊e / step_size⌋.

    optimizer: the optimizer whose lr to set.  step_size: epochs per decay, an integer ≥ 1.
    gamma: γ > 0 (< 1 decays).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self._configure(step_size=step_size, gamma=gamma)

    def _lr(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)

    def _hyper(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _configure(self, step_size: int, gamma: float) -> None:
        name = type(self).__name__
        step_size = positive_int(name, "step_size", step_size)
        self.gamma = positive_finite(name, "gamma", gamma)
        self.step_size = step_size


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by γ every epoch: η_e = η₀·γ^e.

    optimizer: the optimizer whose lr to set.  gamma: γ > 0 (< 1 decays).
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self._configure(gamma=gamma)

    def _lr(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch

    def _hyper(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def _configure(self, gamma: float) -> None:
        self.gamma = positive_finite(type(self).__name__, "gamma", gamma)


class CosineAnnealingLR(LRScheduler):
    """Lower the learning rate from η₀ to η_min along half a cosine over T_max epochs.

        η_e = η_min + (η₀ − η_min)·(1 + cos(π·e / T_max)) / 2     for e ≤ T_max
        η_e = η_min                                                for e > T_max

    (PyTorch's version lets the rate climb back along the cosine after T_max; this one holds.)

    optimizer: the optimizer whose lr to set.  T_max: epochs to anneal over, an integer ≥ 1.
    eta_min: η_min ≥ 0, the final learning rate.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self._configure(T_max=T_max, eta_min=eta_min)

    def _lr(self, base_lr: float, epoch: int) -> float:
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2

    def _hyper(self) -> dict[str, Any]:
        return {"T_max": self.T_max, "eta_min": self.eta_min}

    def _configure(self, T_max: int, eta_min: float) -> None:
        name = type(self).__name__
        T_max = positive_int(name, "T_max", T_max)
        self.eta_min = nonnegative_finite(name, "eta_min", eta_min)
        self.T_max = T_max


class ReduceLROnPlateau(LRScheduler):
    """Lower the learning rate when a metric (e.g. the validation loss) stops improving.

    Each `step(metric)`:
        improved = metric < best − threshold·|best|      (mode "min")
                   metric > best + threshold·|best|      (mode "max")
        improved: best ← metric, bad ← 0;   else: bad ← bad + 1
        bad > patience:  η ← max(factor·η, min_lr),  bad ← 0

    The first finite metric always improves; NaN or ±inf never does. The threshold is relative,
    as in PyTorch's default threshold_mode="rel", but measured on |best| so that it also works
    for negative metrics. It reads the optimizer's current lr, so it composes with manual changes.

    optimizer: the optimizer whose lr to lower.  mode: "min" or "max".
    factor: in (0, 1).  patience: bad epochs tolerated, an integer ≥ 0.  threshold: ≥ 0.
    min_lr: ≥ 0, the lowest rate it sets.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(optimizer)
        self._configure(
            mode=mode, factor=factor, patience=patience, threshold=threshold, min_lr=min_lr
        )
        self.best: float | None = None
        self.num_bad_epochs: int = 0

    def step(self, metric: float) -> None:  # type: ignore[override]
        """Record one epoch's metric; lower the optimizer's lr after too many bad epochs."""
        try:
            value = float(metric)
        except (TypeError, ValueError):
            raise DataError(
                f"ReduceLROnPlateau.step: metric must be a number (e.g. the validation loss), "
                f"got {metric!r}"
            ) from None
        self.epoch += 1
        if self._improves(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                lowered = max(group["lr"] * self.factor, self.min_lr)
                if lowered < group["lr"]:
                    group["lr"] = lowered
            self.num_bad_epochs = 0
        self._last_lr = self.optimizer.lr

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        margin = self.threshold * abs(self.best)
        if self.mode == "min":
            return value < self.best - margin
        return value > self.best + margin

    def _lr(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError("ReduceLROnPlateau's lr depends on the metrics, not the epoch")

    def _hyper(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "min_lr": self.min_lr,
        }

    def _configure(
        self, mode: str, factor: float, patience: int, threshold: float, min_lr: float
    ) -> None:
        name = type(self).__name__
        if mode not in ("min", "max"):
            raise ConfigError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        factor = open_unit_interval(name, "factor", factor)
        patience = nonnegative_int(name, "patience", patience)
        threshold = nonnegative_finite(name, "threshold", threshold)
        min_lr = nonnegative_finite(name, "min_lr", min_lr)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.min_lr = threshold, min_lr

    def _progress(self) -> dict[str, Any]:
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs}

    def _check_progress(self, where: str, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        best = state_dict["best"]
        if best is not None:
            if not (is_real(best) and math.isfinite(best)):
                raise ConfigError(f"{where}: best must be a finite number or None, got {best!r}")
            best = float(best)
        bad = nonnegative_int(where, "num_bad_epochs", state_dict["num_bad_epochs"])
        return {"best": best, "num_bad_epochs": bad}
