"""Parameter groups: per-group hyperparameters, schedules per group, state dicts, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from chainrule import io
from chainrule.errors import ConfigError
from chainrule.nn import mlp
from chainrule.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
)


@dataclass(eq=False)
class Param:
    data: np.ndarray
    grad: np.ndarray | None = None
    requires_grad: bool = True


def _params(seed, n=4):
    rng = np.random.default_rng(seed)
    return [Param(rng.normal(size=(3, 2))) for _ in range(n)]


def _feed(params, step, seed, steps=5):
    """Give `params` the same pseudo-random gradients before each of `steps` calls of step()."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in params:
            p.grad = rng.normal(size=p.data.shape)
        step()


KINDS = [
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"lr": 0.03, "weight_decay": 0.1}),
    (Adam, {"lr": 0.01}, {"lr": 0.002, "betas": (0.8, 0.99), "eps": 1e-6}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.1}, {"weight_decay": 0.0}),
    (RMSprop, {"lr": 0.01, "momentum": 0.5}, {"lr": 0.05, "alpha": 0.9, "momentum": 0.0}),
]


@pytest.mark.parametrize(("kind", "defaults", "override"), KINDS,
                         ids=[k.__name__ for k, _, _ in KINDS])
def test_groups_step_like_separate_optimizers(kind, defaults, override):
    grouped, a, b = _params(0), _params(0)[:2], _params(0)[2:]
    opt = kind([{"params": grouped[:2]}, {"params": grouped[2:], **override}], **defaults)
    first, second = kind(a, **defaults), kind(b, **{**defaults, **override})

    _feed(grouped, opt.step, seed=1)
    _feed(a + b, lambda: (first.step(), second.step()), seed=1)

    for p, q in zip(grouped, a + b, strict=True):
        assert p.data.tobytes() == q.data.tobytes()


def test_param_groups_hold_params_and_every_hyperparameter():
    params = _params(0)
    opt = SGD([{"params": params[:2], "lr": 0.1}, {"params": iter(params[2:])}], lr=0.01,
              momentum=0.9)
    assert [g["params"] for g in opt.param_groups] == [params[:2], params[2:]]
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == [
        {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
        {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    ]
    assert opt.params == params and opt.lr == 0.1 and opt.momentum == 0.9
    adam = Adam([{"params": params[0], "betas": (0.5, 0.6)}], lr=0.1)
    assert adam.param_groups[0]["betas"] == (0.5, 0.6) and adam.param_groups[0]["params"] == \
        [params[0]]


def test_a_plain_iterable_is_one_group_with_the_same_state_dict():
    p = _params(0)
    opt = Adam(p, lr=0.01)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["params"] == p
    _feed(p, opt.step, seed=2)
    assert set(opt.state_dict()) == {"optimizer", "num_params", "hyper", "state"}
    assert opt.state_dict()["hyper"] == {"lr": 0.01, "step_count": 5, "beta1": 0.9,
                                         "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}


@pytest.mark.parametrize(("make", "args"), [
    (StepLR, {"step_size": 2, "gamma": 0.5}),
    (ExponentialLR, {"gamma": 0.9}),
    (CosineAnnealingLR, {"T_max": 4, "eta_min": 0.001}),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR"])
def test_schedules_scale_each_group_from_its_own_lr(make, args):
    params = _params(0)
    opt = SGD([{"params": params[:2], "lr": 0.1}, {"params": params[2:]}], lr=0.02)
    alone = [SGD(params[:2], lr=0.1), SGD(params[2:], lr=0.02)]
    schedule, references = make(opt, **args), [make(o, **args) for o in alone]
    for _ in range(6):
        schedule.step()
        for r in references:
            r.step()
        assert [g["lr"] for g in opt.param_groups] == [o.lr for o in alone]
    assert schedule.last_lr == alone[0].lr and schedule.base_lrs == [0.1, 0.02]


def test_plateau_lowers_every_group():
    params = _params(0)
    opt = SGD([{"params": params[:2], "lr": 0.1}, {"params": params[2:]}], lr=0.002)
    schedule = ReduceLROnPlateau(opt, factor=0.5, patience=0, min_lr=0.001)
    schedule.step(1.0)
    schedule.step(2.0)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.001]
    schedule.step(3.0)
    assert [g["lr"] for g in opt.param_groups] == [0.025, 0.001]


def test_schedule_state_dict_round_trips_base_lrs():
    params = _params(0)
    opt = SGD([{"params": params[:2], "lr": 0.1}, {"params": params[2:]}], lr=0.02)
    schedule = ExponentialLR(opt, gamma=0.5)
    schedule.step()
    state = json.loads(json.dumps(schedule.state_dict()))
    assert state["base_lrs"] == [0.1, 0.02]
    other = ExponentialLR(SGD([{"params": params[:2], "lr": 1.0}, {"params": params[2:]}],
                              lr=1.0), gamma=0.5)
    other.load_state_dict(state)
    assert other.base_lrs == [0.1, 0.02] and other.epoch == 1
    with pytest.raises(ConfigError) as info:
        other.load_state_dict({**state, "base_lrs": [0.1]})
    assert str(info.value) == ("ExponentialLR.load_state_dict: base_lrs must list 2 learning "
                               "rates, one per parameter group, got [0.1]")


def _grouped_adam(params, lr=0.01):
    return Adam([{"params": params[:1], "lr": 0.1, "betas": (0.5, 0.9)},
                 {"params": params[1:], "weight_decay": 0.01}], lr=lr)


def test_state_dict_round_trips_groups():
    params = _params(0)
    opt = _grouped_adam(params)
    _feed(params, opt.step, seed=3)
    state = opt.state_dict()
    layout = json.loads(json.dumps({k: v for k, v in state.items() if k != "state"}))
    assert layout["groups"] == [
        {"params": [0], "lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 1e-8,
         "weight_decay": 0.0},
        {"params": [1, 2, 3], "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
         "weight_decay": 0.01},
    ]
    copies = [Param(p.data.copy()) for p in params]
    restored = _grouped_adam(copies, lr=0.5)
    restored.param_groups[0]["lr"] = 7.0
    restored.load_state_dict({**layout, "state": state["state"]})
    assert [{k: v for k, v in g.items() if k != "params"} for g in restored.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    _feed(params, opt.step, seed=4)
    _feed(copies, restored.step, seed=4)
    assert all(p.data.tobytes() == q.data.tobytes() for p, q in zip(params, copies, strict=True))


def test_state_dict_groups_must_match():
    params = _params(0)
    state = _grouped_adam(params).state_dict()
    with pytest.raises(ConfigError) as info:
        Adam(params, lr=0.01).load_state_dict(state)
    assert str(info.value).startswith("Adam.load_state_dict: expected the dict returned by "
                                      "state_dict(), with keys ['hyper', 'num_params', ")
    moved = Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.01)
    with pytest.raises(ConfigError) as info:
        moved.load_state_dict(state)
    assert str(info.value) == ("Adam.load_state_dict: parameter group 0: it holds parameters "
                               "[0], this optimizer's group [0, 1]")
    bad = {**state, "groups": [state["groups"][0], {**state["groups"][1], "eps": -1.0}]}
    with pytest.raises(ConfigError) as info:
        _grouped_adam(params).load_state_dict(bad)
    assert str(info.value) == ("Adam.load_state_dict: parameter group 1: eps must be a "
                               "positive finite number, got -1.0")


def test_checkpoints_keep_groups_and_one_group_checkpoints_load(tmp_path):
    model = mlp([3, 4, 2], rng=0)
    layers = list(model.parameters())
    opt = SGD([{"params": layers[:2], "lr": 0.1}, {"params": layers[2:]}], lr=0.01,
              momentum=0.9)
    _feed(layers, opt.step, seed=5, steps=2)
    io.save_checkpoint(tmp_path / "g.crc", model=model, optimizer=opt, epoch=1, step=2,
                       config={}, rng_state={})
    saved = io.load_checkpoint(tmp_path / "g.crc").optimizer_state
    assert saved["groups"] == opt.state_dict()["groups"]
    fresh = SGD([{"params": layers[:2], "lr": 1.0}, {"params": layers[2:]}], lr=1.0,
                momentum=0.9)
    fresh.load_state_dict(saved)
    assert [g["lr"] for g in fresh.param_groups] == [0.1, 0.01]

    single = SGD(model.parameters(), lr=0.05)
    io.save_checkpoint(tmp_path / "one.crc", model=model, optimizer=single, epoch=0, step=0,
                       config={}, rng_state={})
    state = io.load_checkpoint(tmp_path / "one.crc").optimizer_state
    assert "groups" not in state
    SGD(model.parameters(), lr=1.0).load_state_dict(state)


P = _params(9, n=2)
GROUP_ERRORS = [
    (lambda: SGD([{"params": P}, {"params": [P[1]]}], lr=0.1),
     "SGD: parameter group 1: its parameter 0 is also in parameter group 0; each parameter "
     "belongs to one group"),
    (lambda: Adam([{"params": P, "momentum": 0.9}]),
     "Adam: parameter group 0: unknown hyperparameters ['momentum']; Adam takes ['betas', "
     "'eps', 'lr', 'weight_decay']"),
    (lambda: SGD([{"params": P[:1]}, {"lr": 0.1}], lr=0.1),
     "SGD: parameter group 1: a parameter group needs a 'params' entry, got keys ['lr']"),
    (lambda: SGD([{"params": P[:1]}, {"params": P[1:], "lr": -1.0}], lr=0.1),
     "SGD: parameter group 1: lr must be a positive finite number, got -1.0"),
    (lambda: SGD([{"params": P, "nesterov": True}], lr=0.1),
     "SGD: parameter group 0: nesterov=True needs momentum > 0 (Nesterov looks ahead along the "
     "momentum buffer), got momentum=0.0; pass e.g. momentum=0.9"),
    (lambda: Adam([{"params": P, "betas": 0.9}]),
     "Adam: parameter group 0: betas must be a pair (beta1, beta2), got 0.9"),
    (lambda: RMSprop([{"params": P[:1]}, {"params": P[1:], "alpha": 1.0}]),
     "RMSprop: parameter group 1: alpha must be a number in [0, 1), got 1.0"),
    (lambda: SGD([{"params": []}], lr=0.1),
     "SGD: parameter group 0: got no parameters to optimize; pass model.parameters() (a "
     "generator that was already used up is empty)"),
    (lambda: SGD([{"params": P[:1]}, P[1]], lr=0.1),
     "SGD: parameter group 1 must be a dict with 'params', got Param; pass either parameters "
     "or groups"),
]


@pytest.mark.parametrize(("make", "message"), GROUP_ERRORS, ids=[m for _, m in GROUP_ERRORS])
def test_group_errors(make, message):
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value) == message
