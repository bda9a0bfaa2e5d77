"""Gradient diagnostics: vanishing in a deep sigmoid stack, not with ReLU; exploding; units."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.runs import diagnostics
from chainrule.runs.config import TrainConfig
from chainrule.train import fit

DEEP = {"dataset": "spirals", "hidden": [32] * 10, "epochs": 10}


@pytest.fixture(scope="module")
def sigmoid_report() -> diagnostics.DiagnosticReport:
    return diagnostics.diagnose(TrainConfig(activation="sigmoid", **DEEP))


@pytest.fixture(scope="module")
def relu_report() -> diagnostics.DiagnosticReport:
    return diagnostics.diagnose(TrainConfig(activation="relu", **DEEP))


def test_a_deep_sigmoid_stack_has_vanishing_gradients(sigmoid_report):
    report = sigmoid_report
    assert report.vanishing and not report.exploding
    assert report.ratio < 1e-6  # measured: about 1e-9 (each layer shrinks δ ~7×)
    assert len(report.warnings) == 1  # vanishing only
    assert report.warnings[0].startswith("vanishing gradients: the first layer's gradient is")
    # the norms fall layer by layer from the output towards the input
    medians = [np.median(report.norms[name]) for name in report.layers]
    assert medians == sorted(medians)
    assert len(report.layers) == 11 and report.label(report.layers[0]) == "layer 1 (2→32)"


def test_the_same_depth_with_relu_does_not_warn(relu_report):
    assert relu_report.warnings == []
    assert relu_report.ratio > 1e-2  # measured: about 0.1


def test_norms_are_recorded_at_every_step_and_activations_every_epoch(sigmoid_report):
    report = sigmoid_report
    assert report.steps == list(range(1, len(report.history.step_losses) + 1))
    assert all(len(report.norms[name]) == len(report.steps) for name in report.layers)
    assert [epoch for epoch, _ in report.activations] == list(range(11))  # 0 = initial weights
    stats = report.activations[-1][1]
    assert len(stats) == 10 and {s.kind for s in stats} == {"sigmoid"}
    assert all(0 <= s.saturated <= 1 and s.dead is None for s in stats)


def test_a_huge_learning_rate_is_reported_as_divergence_and_explosion():
    report = diagnostics.diagnose(TrainConfig(dataset="spirals", hidden=[32] * 3,
                                              activation="relu", optimizer="sgd", lr=50.0,
                                              epochs=5))
    assert report.diverged is not None and "learning rate 50" in report.diverged
    assert report.exploding
    assert report.warnings[0].startswith("diverged: training diverged at epoch 1")
    explosion = next(w for w in report.warnings if w.startswith("exploding gradients: at step"))
    assert "one gradient step, η·‖∂E/∂W‖ = " in explosion
    assert "is larger than the layer's weights" in explosion


@pytest.mark.parametrize("settings", [
    # Healthy runs that the old rule ("a jump above 1000 × the layer's median") called
    # exploding: a first layer leaving a plateau goes from a tiny median to 0.08 … 3.4.
    {"dataset": "spirals", "hidden": [32] * 7, "activation": "sigmoid"},
    {"dataset": "spirals", "hidden": [32] * 8, "activation": "sigmoid"},
    {"dataset": "digits", "hidden": [32] * 8, "activation": "sigmoid"},
    {"dataset": "spirals", "hidden": [32] * 10, "activation": "tanh"},
], ids=["sigmoid-7", "sigmoid-8", "digits-sigmoid-8", "tanh-10"])
def test_a_network_leaving_a_plateau_is_not_exploding(settings):
    report = diagnostics.diagnose(TrainConfig(**settings))
    assert not report.exploding, report.warnings


def _monitor_with(norms: dict[str, list[float]], *, lr: float = 0.1,
                  weight: float = 5.0) -> diagnostics.GradientMonitor:
    monitor = diagnostics.GradientMonitor()
    monitor.layers = list(norms)
    monitor.shapes = {name: (4, 4) for name in norms}
    monitor.norms = norms
    monitor.steps = list(range(1, len(next(iter(norms.values()))) + 1))
    monitor.weight_norms = {name: [weight] * len(monitor.steps) for name in norms}
    monitor.lrs = [lr] * len(monitor.steps)
    monitor.updates = len(monitor.steps)
    return monitor


def test_check_thresholds():
    steady = [1.0] * 10
    ratio, warnings = diagnostics.check(_monitor_with({"0": [1e-5] * 10, "2": steady}))
    assert ratio == pytest.approx(1e-5) and warnings[0].startswith("vanishing")
    ratio, warnings = diagnostics.check(_monitor_with({"0": [1e-3] * 10, "2": steady}))
    assert warnings == []  # 1e-3 is above the 1e-4 threshold
    # η·‖g‖ = 0.1 × 60 = 6 > ‖W‖ = 5: the step would be larger than the weights
    spike = [1.0] * 9 + [60.0]
    _, warnings = diagnostics.check(_monitor_with({"0": spike, "2": steady}))
    assert warnings == ["exploding gradients: at step 10 the gradient of layer 1 (4→4) has norm "
                        "60: one gradient step, η·‖∂E/∂W‖ = 6, is larger than the layer's "
                        "weights, ‖W‖ = 5 (warning above 1 × ‖W‖); lower the learning rate or "
                        "clip the gradients (--grad-clip, grad_clip=)"]
    _, warnings = diagnostics.check(_monitor_with({"0": spike, "2": steady}, lr=0.01))
    assert warnings == []  # the same norms at η = 0.01: a step of 0.6, against ‖W‖ = 5
    jump = [1e-3] * 9 + [5.0]  # 5000 × its median, but a step of 0.5: not exploding
    _, warnings = diagnostics.check(_monitor_with({"0": jump, "2": steady}))
    assert warnings == []
    growing = list(np.geomspace(1e-5, 1.0, 10))  # a ReLU stack finding its scale: fine
    _, warnings = diagnostics.check(_monitor_with({"0": growing, "2": steady}))
    assert warnings == []
    overflow = [1.0] * 4 + [float("inf")] * 6
    _, warnings = diagnostics.check(_monitor_with({"0": steady, "2": overflow}))
    assert warnings == ["exploding gradients: at step 5 the gradient of layer 2 (4→4) has norm "
                        "inf; lower the learning rate or clip the gradients (--grad-clip, "
                        "grad_clip=)"]


def test_the_monitor_records_the_weights_before_each_update_and_the_learning_rate():
    X = np.random.default_rng(2).normal(size=(12, 2))
    model = nn.mlp([2, 4, 2], "tanh", rng=0)
    before = float(np.linalg.norm(model[0].weight.data))
    monitor = diagnostics.GradientMonitor(every=2)
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.3), X,
        (X[:, 0] > 0).astype(np.int64), epochs=4, batch_size=None, progress=False,
        callbacks=[monitor])
    assert monitor.steps == [2, 4] and monitor.lrs == [0.3, 0.3] and monitor.updates == 4
    first = monitor.weight_norms[monitor.layers[0]]
    assert first[0] != before and first[0] > 0  # ‖W‖ after update 1, before update 2
    assert first[-1] != float(np.linalg.norm(model[0].weight.data))  # before the last update


def test_nothing_recorded_is_said_not_passed_as_healthy():
    report = diagnostics.diagnose(TrainConfig(dataset="spirals", hidden=[8], epochs=1),
                                  every=1_000_000)
    assert report.steps == [] and report.ratio is None
    assert report.warnings[0].startswith("nothing recorded: training made 10 updates and the "
                                         "gradient norms are recorded every 1000000 updates")


def test_activation_statistics_find_saturated_and_dead_units():
    X = np.abs(np.random.default_rng(0).normal(size=(64, 3))) + 0.1  # positive inputs
    big = nn.Linear(3, 5, rng=0)
    big.weight.data[:] = 1000.0  # every net is huge: σ(net) rounds to 1
    dead = nn.Linear(3, 4, rng=0)
    dead.bias.data[:] = -1000.0  # net < 0 for every input: ReLU is 0
    model = nn.Sequential(big, nn.Sigmoid(), nn.Linear(5, 3, rng=1), nn.Tanh(), dead, nn.ReLU())
    sig, tanh, relu = diagnostics.activation_stats(model, X)
    assert (sig.kind, sig.follows, sig.units, sig.saturated) == ("sigmoid", "0", 5, 1.0)
    assert tanh.kind == "tanh" and 0 <= tanh.saturated < 1
    assert (relu.kind, relu.follows, relu.dead, relu.saturated) == ("relu", "4", 1.0, None)


def test_the_monitor_works_as_a_plain_callback():
    ds_X = np.random.default_rng(1).normal(size=(40, 2))
    ds_y = (ds_X[:, 0] > 0).astype(np.int64)
    model = nn.mlp([2, 8, 8, 2], "tanh", rng=0)
    monitor = diagnostics.GradientMonitor(ds_X[:16], every=3)
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), ds_X, ds_y, epochs=3,
        batch_size=10, progress=False, callbacks=[monitor])
    assert monitor.steps == [3, 6, 9, 12]
    assert monitor.layers == ["0", "2", "4"]
    assert all(v > 0 for name in monitor.layers for v in monitor.norms[name])
    assert len(monitor.activations) == 4


def test_outputs_are_written_and_reproducible(sigmoid_report, tmp_path):
    again = diagnostics.diagnose(TrainConfig(activation="sigmoid", **DEEP))
    assert again.norms == sigmoid_report.norms
    diagnostics.write_outputs(sigmoid_report, tmp_path / "a")
    diagnostics.write_outputs(again, tmp_path / "b")
    for name in ("gradients.png", "gradients.svg", "gradients.csv", "activations.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    saved = json.loads((tmp_path / "a" / "diagnostics.json").read_text())
    assert saved["warnings"] == sigmoid_report.warnings
    assert len(saved["grad_norms"]["layer 1 (2→32)"]) == len(sigmoid_report.steps)
    lines = (tmp_path / "a" / "activations.csv").read_text().splitlines()
    assert lines[0] == "epoch,module,activation,units,saturated,dead"
    assert len(lines) == 1 + 11 * 10
