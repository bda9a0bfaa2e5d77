"""Learning-rate schedules: the lr sequences against hand values, state dicts, validation."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from chainrule.errors import ConfigError, DataError
from chainrule.optim import (
    SGD,
    CosineAnnealingLR,
    ExponentialLR,
    ReduceLROnPlateau,
    StepLR,
)

TOL = 1e-12


@dataclass(eq=False)
class Param:
    data: np.ndarray
    grad: np.ndarray | None = None
    requires_grad: bool = True


def make_optimizer(lr=1.0):
    return SGD([Param(np.zeros(2))], lr=lr)


def lrs_after_steps(schedule, n, metrics=None):
    """The optimizer's lr after each of n schedule steps; checks last_lr agrees."""
    lrs = []
    for k in range(n):
        if metrics is None:
            schedule.step()
        else:
            schedule.step(metrics[k])
        assert schedule.last_lr == schedule.optimizer.lr
        lrs.append(schedule.optimizer.lr)
    return lrs


def test_step_lr():
    # η₀ = 1, step_size = 2, γ = 0.5: η_e = 0.5^⌊e/2⌋
    #   e = 1: 0.5⁰ = 1;  e = 2: 0.5¹;  e = 3: 0.5¹;  e = 4: 0.5² = 0.25;  e = 5: 0.25
    schedule = StepLR(make_optimizer(1.0), step_size=2, gamma=0.5)
    assert schedule.last_lr == 1.0
    np.testing.assert_allclose(lrs_after_steps(schedule, 5), [1.0, 0.5, 0.5, 0.25, 0.25], TOL)


def test_step_lr_default_gamma():
    # η₀ = 0.1, step_size = 1, γ = 0.1: 0.01, 0.001
    schedule = StepLR(make_optimizer(0.1), step_size=1)
    np.testing.assert_allclose(lrs_after_steps(schedule, 2), [0.01, 0.001], rtol=TOL)


def test_exponential_lr():
    # η₀ = 0.1, γ = 0.9: 0.1·0.9 = 0.09, 0.1·0.81 = 0.081, 0.1·0.729 = 0.0729
    schedule = ExponentialLR(make_optimizer(0.1), gamma=0.9)
    np.testing.assert_allclose(lrs_after_steps(schedule, 3), [0.09, 0.081, 0.0729], rtol=TOL)


def test_cosine_annealing_lr():
    # η₀ = 1, η_min = 0, T_max = 4: η_e = (1 + cos(π·e/4))/2
    #   e = 1: (1 + √2/2)/2 = 0.853553390593273...;  e = 2: (1 + 0)/2 = 0.5
    #   e = 3: (1 − √2/2)/2 = 0.146446609406726...;  e = 4: (1 − 1)/2 = 0;  e = 5: held at 0
    schedule = CosineAnnealingLR(make_optimizer(1.0), T_max=4)
    half_root2 = math.sqrt(2) / 2
    expected = [(1 + half_root2) / 2, 0.5, (1 - half_root2) / 2, 0.0, 0.0]
    np.testing.assert_allclose(lrs_after_steps(schedule, 5), expected, rtol=TOL, atol=TOL)


def test_cosine_annealing_lr_with_eta_min():
    # η₀ = 0.5, η_min = 0.1, T_max = 2: η_e = 0.1 + 0.4·(1 + cos(π·e/2))/2
    #   e = 1: 0.1 + 0.4·0.5 = 0.3;  e = 2: 0.1 + 0 = 0.1;  e = 3: 0.1
    schedule = CosineAnnealingLR(make_optimizer(0.5), T_max=2, eta_min=0.1)
    np.testing.assert_allclose(lrs_after_steps(schedule, 3), [0.3, 0.1, 0.1], rtol=TOL, atol=TOL)


def test_reduce_lr_on_plateau_min():
    # η₀ = 1, factor = 0.5, patience = 1, threshold = 0.1 (relative):
    #   e = 1: 1.0  first metric: best = 1.0, bad = 0                            η = 1
    #   e = 2: 0.95 not < 1.0 − 0.1·1.0 = 0.9: bad = 1 (not > patience)          η = 1
    #   e = 3: 0.8  < 0.9: best = 0.8, bad = 0                                   η = 1
    #   e = 4: 0.8  not < 0.8 − 0.08 = 0.72: bad = 1                            η = 1
    #   e = 5: 0.75 not < 0.72: bad = 2 > 1: η = 0.5, bad = 0                    η = 0.5
    #   e = 6: 0.5  < 0.72: best = 0.5, bad = 0                                  η = 0.5
    schedule = ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1, threshold=0.1)
    metrics = [1.0, 0.95, 0.8, 0.8, 0.75, 0.5]
    assert lrs_after_steps(schedule, 6, metrics) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    assert schedule.best == 0.5 and schedule.num_bad_epochs == 0 and schedule.epoch == 6


def test_reduce_lr_on_plateau_max_and_min_lr():
    # mode "max", η₀ = 1, factor = 0.1, patience = 0, threshold = 0, min_lr = 0.05:
    #   e = 1: 0.5 first: best = 0.5                          η = 1
    #   e = 2: 0.5 not > 0.5: bad = 1 > 0: η = 0.1            η = 0.1
    #   e = 3: 0.4 not better: η = max(0.01, 0.05) = 0.05     η = 0.05
    #   e = 4: 0.3 not better: max(0.005, 0.05) = 0.05        η = 0.05
    #   e = 5: 0.6 > 0.5: best = 0.6                          η = 0.05
    schedule = ReduceLROnPlateau(
        make_optimizer(1.0), mode="max", patience=0, threshold=0.0, min_lr=0.05
    )
    lrs = lrs_after_steps(schedule, 5, [0.5, 0.5, 0.4, 0.3, 0.6])
    np.testing.assert_allclose(lrs, [1.0, 0.1, 0.05, 0.05, 0.05], rtol=TOL)
    assert schedule.best == 0.6


def test_reduce_lr_on_plateau_negative_metric_and_nan():
    # The threshold is relative to |best|, so it works for a negative metric:
    #   mode "min", threshold = 0.1: best = −10; −10.5 is not < −10 − 1 = −11 (bad 1);
    #   −11.5 < −11 (improves). NaN never improves (bad 1), then patience 1 is exceeded (bad 2).
    schedule = ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1, threshold=0.1)
    schedule.step(-10.0)
    schedule.step(-10.5)
    assert (schedule.best, schedule.num_bad_epochs) == (-10.0, 1)
    schedule.step(-11.5)
    assert (schedule.best, schedule.num_bad_epochs) == (-11.5, 0)
    schedule.step(float("nan"))
    schedule.step(np.float32("inf"))
    assert schedule.last_lr == 0.5 and schedule.best == -11.5


def test_reduce_lr_on_plateau_never_raises_lr():
    opt = make_optimizer(0.01)
    schedule = ReduceLROnPlateau(opt, patience=0, min_lr=0.1)  # min_lr above the lr
    schedule.step(1.0)
    schedule.step(1.0)
    assert opt.lr == 0.01


def test_reduce_lr_on_plateau_bad_metric():
    schedule = ReduceLROnPlateau(make_optimizer())
    with pytest.raises(DataError) as info:
        schedule.step("low")
    assert str(info.value) == (
        "ReduceLROnPlateau.step: metric must be a number (e.g. the validation loss), got 'low'"
    )


# --- state dicts -----------------------------------------------------------------------------

SCHEDULES = {
    "step": lambda opt: StepLR(opt, step_size=2, gamma=0.5),
    "exponential": lambda opt: ExponentialLR(opt, gamma=0.9),
    "cosine": lambda opt: CosineAnnealingLR(opt, T_max=5, eta_min=0.01),
    "plateau": lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=1),
}
METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.8, 0.8, 0.8, 0.7]


def advance(schedule, metrics):
    for metric in metrics:
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.step(metric)
        else:
            schedule.step()


@pytest.mark.parametrize("make", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_state_dict_round_trip(make):
    opt_a = make_optimizer(1.0)
    schedule_a = make(opt_a)
    advance(schedule_a, METRICS[:4])
    saved = schedule_a.state_dict()
    assert json.loads(json.dumps(saved, allow_nan=False)) == saved

    opt_b = make_optimizer(1.0)
    schedule_b = make(opt_b)
    opt_b.load_state_dict(opt_a.state_dict())  # the optimizer restores lr itself
    schedule_b.load_state_dict(saved)
    assert schedule_b.state_dict() == saved
    assert schedule_b.last_lr == schedule_a.last_lr
    for metric in METRICS[4:]:
        advance(schedule_a, [metric])
        advance(schedule_b, [metric])
        assert opt_b.lr == opt_a.lr


def test_state_dict_layout():
    schedule = StepLR(make_optimizer(0.5), step_size=3)
    schedule.step()
    assert schedule.state_dict() == {
        "scheduler": "StepLR",
        "hyper": {"step_size": 3, "gamma": 0.1},
        "base_lr": 0.5,
        "epoch": 1,
        "last_lr": 0.5,
    }
    plateau = ReduceLROnPlateau(make_optimizer(0.5))
    saved = plateau.state_dict()
    assert saved["best"] is None and saved["num_bad_epochs"] == 0


def test_load_state_dict_errors():
    schedule = StepLR(make_optimizer(), step_size=2)
    other = ExponentialLR(make_optimizer(), gamma=0.5).state_dict()
    with pytest.raises(ConfigError) as info:
        schedule.load_state_dict({**other})
    assert str(info.value) == (
        "StepLR.load_state_dict: the state dict is from ExponentialLR, not StepLR"
    )
    saved = schedule.state_dict()
    with pytest.raises(ConfigError, match="step_size must be a positive integer, got 0"):
        schedule.load_state_dict({**saved, "hyper": {"step_size": 0, "gamma": 0.1}})
    with pytest.raises(ConfigError, match=r"expected the dict returned by state_dict\(\)"):
        schedule.load_state_dict({**saved, "extra": 1})
    assert schedule.state_dict() == saved  # nothing changed


# --- validation ------------------------------------------------------------------------------

INVALID = [
    (lambda o: StepLR(o, step_size=0), "StepLR: step_size must be a positive integer, got 0"),
    (lambda o: StepLR(o, step_size=1.5), "StepLR: step_size must be a positive integer, got 1.5"),
    (lambda o: StepLR(o, step_size=True), "StepLR: step_size must be a positive integer, got True"),
    (
        lambda o: StepLR(o, step_size=2, gamma=0.0),
        "StepLR: gamma must be a positive finite number, got 0.0",
    ),
    (
        lambda o: ExponentialLR(o, gamma=math.nan),
        "ExponentialLR: gamma must be a positive finite number, got nan",
    ),
    (
        lambda o: CosineAnnealingLR(o, T_max=0),
        "CosineAnnealingLR: T_max must be a positive integer, got 0",
    ),
    (
        lambda o: CosineAnnealingLR(o, T_max=10, eta_min=-0.1),
        "CosineAnnealingLR: eta_min must be a non-negative finite number, got -0.1",
    ),
    (
        lambda o: ReduceLROnPlateau(o, mode="mean"),
        "ReduceLROnPlateau: mode must be 'min' or 'max', got 'mean'",
    ),
    (
        lambda o: ReduceLROnPlateau(o, factor=1.0),
        "ReduceLROnPlateau: factor must be a number in (0, 1), got 1.0",
    ),
    (
        lambda o: ReduceLROnPlateau(o, factor=0),
        "ReduceLROnPlateau: factor must be a number in (0, 1), got 0",
    ),
    (
        lambda o: ReduceLROnPlateau(o, patience=-1),
        "ReduceLROnPlateau: patience must be a non-negative integer, got -1",
    ),
    (
        lambda o: ReduceLROnPlateau(o, threshold=-1e-4),
        "ReduceLROnPlateau: threshold must be a non-negative finite number, got -0.0001",
    ),
    (
        lambda o: ReduceLROnPlateau(o, min_lr=math.inf),
        "ReduceLROnPlateau: min_lr must be a non-negative finite number, got inf",
    ),
    (
        lambda o: StepLR(object(), step_size=1),
        "StepLR: optimizer must be a chainrule optimizer (e.g. optim.SGD), got object",
    ),
]


@pytest.mark.parametrize(("make", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_arguments(make, message):
    with pytest.raises(ConfigError) as info:
        make(make_optimizer())
    assert str(info.value) == message
