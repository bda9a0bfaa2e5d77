"""The training loop: the notes' numbers, real datasets, determinism, divergence, bad data."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.examples import INPUTS, LEARNING_RATE, TARGETS, worked_example_model
from chainrule.train import Callback, EarlyStopping, History, evaluate, fit, predict


def test_one_sgd_step_on_the_worked_example_matches_the_notes():
    model = worked_example_model()
    fit(model, "half_sse", optim.SGD(model.parameters(), lr=LEARNING_RATE), INPUTS, TARGETS,
        epochs=1, progress=False)
    # w⁺ = w − η·∂E/∂w with ∂E/∂w5 = 0.082167041 → w5⁺ = 0.40 − 0.5·0.082167041 = 0.35891648
    np.testing.assert_allclose(model[2].weight.data.ravel(),
                               [0.35891648, 0.40866619, 0.51130127, 0.56137012], atol=5e-9)
    np.testing.assert_allclose(model[0].weight.data.ravel(),
                               [0.14978072, 0.19956143, 0.24975114, 0.29950229], atol=5e-9)
    np.testing.assert_array_equal(model[0].bias.data, [0.35, 0.35])  # frozen, as in the notes
    E = evaluate(model, "half_sse", INPUTS, TARGETS)["loss"]
    assert E == pytest.approx(0.291027774, abs=1e-9)


def test_worked_example_error_after_10000_steps():
    model = worked_example_model()
    history = fit(model, "half_sse", optim.SGD(model.parameters(), lr=LEARNING_RATE), INPUTS,
                  TARGETS, epochs=10_000, progress=False)
    assert history.step_losses[0] == pytest.approx(0.298371109, abs=1e-9)
    assert evaluate(model, "half_sse", INPUTS, TARGETS)["loss"] == pytest.approx(3.5102e-05,
                                                                                 rel=1e-3)


def test_xor_is_solved():
    ds = cr.data.load("xor")
    model = nn.mlp([2, 8, 2], "tanh", rng=1)
    fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), ds.X, ds.y,
        epochs=300, progress=False)
    assert predict(model, ds.X).argmax(axis=1).tolist() == ds.y.tolist()


def test_digits_reach_97_percent_on_a_held_out_fifth():
    ds = cr.data.load("digits")
    X_train, y_train, X_val, y_val = cr.data.train_val_split(ds.X / 16.0, ds.y, 0.2, seed=0)
    model = nn.mlp([64, 64, 10], "relu", rng=0)
    history = fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=3e-3), X_train,
                  y_train, epochs=40, batch_size=32, validation_data=(X_val, y_val),
                  progress=False)
    assert history.final["val_accuracy"] >= 0.97
    assert evaluate(model, "cross_entropy", X_val, y_val)["accuracy"] == \
        history.final["val_accuracy"]


def _train_spirals(seed: int) -> dict[str, np.ndarray]:
    ds = cr.data.load("spirals", n_samples=200)
    model = nn.mlp([2, 16, 2], "tanh", rng=3)
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1, momentum=0.9), ds.X,
        ds.y, epochs=5, batch_size=16, seed=seed, progress=False)
    return model.state_dict()


def test_same_seed_gives_bit_identical_weights():
    first, second, other = _train_spirals(7), _train_spirals(7), _train_spirals(8)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_history_records_epochs_and_steps():
    ds = cr.data.load("iris")
    model = nn.mlp([4, 8, 3], "relu", rng=0)
    history = fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.01), ds.X[:120],
                  ds.y[:120], epochs=3, batch_size=50, validation_data=(ds.X[120:], ds.y[120:]),
                  progress=False)
    assert history["epoch"] == [1, 2, 3]
    assert len(history.step_losses) == 3 * 3  # ceil(120 / 50) steps per epoch
    assert set(history.final) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    # The epoch loss is the sample-weighted mean of its step losses (50, 50 and 20 samples).
    first = history.step_losses[:3]
    assert history.epochs[0]["loss"] == pytest.approx((50 * first[0] + 50 * first[1]
                                                       + 20 * first[2]) / 120, rel=1e-6)


def test_divergence_stops_at_once_and_keeps_the_last_finite_weights():
    ds = cr.data.load("moons", n_samples=64)
    model = nn.mlp([2, 32, 2], "relu", rng=0)
    seen: list[dict[str, np.ndarray]] = []

    class Snapshot(Callback):
        def on_step_end(self, state, loss):
            seen.append(state.model.state_dict())

    with pytest.raises(cr.DivergenceError, match=r"training diverged at epoch \d+, step \d+: "
                                                 r"the (loss|gradient of [\w.]+) is not finite "
                                                 r"\(loss .*, learning rate 1e\+06\)") as caught:
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=1e6), ds.X, ds.y,
            epochs=50, batch_size=8, callbacks=[Snapshot()], progress=False)
    error = caught.value
    assert error.step == len(seen) + 1
    final = model.state_dict()
    assert all(np.all(np.isfinite(v)) for v in final.values())
    for key in final:  # the weights are those after the last finite step
        np.testing.assert_array_equal(final[key], seen[-1][key])
    assert len(error.history.step_losses) == len(seen)


def test_early_stopping_restores_the_best_weights():
    ds = cr.data.load("moons", n_samples=200, noise=0.3)
    X_train, y_train, X_val, y_val = cr.data.train_val_split(ds.X, ds.y, 0.5, seed=1)
    model = nn.mlp([2, 64, 2], "relu", rng=0)
    stopper = EarlyStopping(patience=3)
    history = fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), X_train,
                  y_train, epochs=500, batch_size=10, validation_data=(X_val, y_val),
                  callbacks=[stopper], progress=False)
    assert history.stop_reason.startswith("early stopping: val_loss did not improve for 3")
    assert len(history.epochs) < 500
    best = min(history["val_loss"])
    assert evaluate(model, "cross_entropy", X_val, y_val)["loss"] == pytest.approx(best,
                                                                                  rel=1e-5)


def _moons_with_early_stopping(stopper: EarlyStopping, rng: int, epochs: int = 200,
                               lr: float = 0.05):
    ds = cr.data.load("moons", n_samples=200, noise=0.3)
    X_train, y_train, X_val, y_val = cr.data.train_val_split(ds.X, ds.y, 0.5, seed=1)
    model = nn.mlp([2, 32, 2], "relu", rng=rng)
    history = fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=lr), X_train,
                  y_train, epochs=epochs, batch_size=10, validation_data=(X_val, y_val),
                  callbacks=[stopper], progress=False)
    return model, history, (X_val, y_val)


def test_one_early_stopping_instance_can_serve_two_fits():
    stopper = EarlyStopping(patience=3)
    first, _, _ = _moons_with_early_stopping(stopper, rng=0)
    second, history, _ = _moons_with_early_stopping(stopper, rng=1)
    reference, expected, _ = _moons_with_early_stopping(EarlyStopping(patience=3), rng=1)
    # The second run starts afresh: same epochs and weights as with a new instance, and none of
    # the first model's weights (it used to stop after 1 epoch and load the first model's).
    assert history["val_loss"] == expected["val_loss"] and len(history.epochs) > 1
    assert history.stop_reason == expected.stop_reason
    for key, value in second.state_dict().items():
        np.testing.assert_array_equal(value, reference.state_dict()[key])
        assert not np.array_equal(value, first.state_dict()[key])


def test_restore_best_also_when_the_epoch_limit_comes_first():
    stopper = EarlyStopping(patience=1000)
    model, history, val = _moons_with_early_stopping(stopper, rng=0, epochs=25, lr=0.1)
    assert history.stop_reason is None and len(history.epochs) == 25
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    assert best_epoch < 25  # else restoring would change nothing and the test proves nothing
    assert history.restored_epoch == best_epoch
    assert evaluate(model, "cross_entropy", *val)["loss"] == pytest.approx(
        min(history["val_loss"]), rel=1e-6)
    assert History.from_dict(history.to_dict()).restored_epoch == best_epoch


def test_early_stopping_says_which_epoch_it_restored():
    _, history, _ = _moons_with_early_stopping(EarlyStopping(patience=3), rng=0)
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    assert history.restored_epoch == best_epoch
    assert history.stop_reason.endswith(f"; restored the weights of epoch {best_epoch}")
    _, history, _ = _moons_with_early_stopping(EarlyStopping(patience=3, restore_best=False),
                                               rng=0)
    assert history.restored_epoch is None and "restored" not in history.stop_reason


@pytest.mark.parametrize("trace", [False, True])
def test_an_update_that_overflows_is_undone(trace):
    model = nn.mlp([2, 2, 1], "tanh", rng=0)
    before = model.state_dict()
    # Finite loss and gradients, but W − η·g with η = 1e38 overflows float32.
    with pytest.raises(cr.DivergenceError, match=r"training diverged at epoch 1, step 1: the "
                                                 r"updated [\w.]+ is not finite \(loss [\d.]+, "
                                                 r"learning rate 1e\+38\); the model keeps its "
                                                 r"last finite weights") as caught:
        fit(model, "mse", optim.SGD(model.parameters(), lr=1e38), [[1, 2], [3, 4]], [1, 2],
            epochs=5, progress=False, trace=trace)
    assert caught.value.step == 1 and caught.value.history.step_losses == []
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_the_guard_against_overflowing_updates_allocates_nothing_per_step():
    import tracemalloc

    from chainrule.train import TrainState, _guarded_step

    model = nn.Linear(500, 500, rng=0)  # 1 MB of float32 weights
    opt = optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    state = TrainState(model, opt, History(), np.random.default_rng(0))
    _guarded_step(state, 0.0)  # the first step allocates the buffers (and the optimizer's)
    tracemalloc.start()
    try:
        _guarded_step(state, 0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < model.weight.data.nbytes // 4


def test_scheduler_steps_once_per_epoch():
    ds = cr.data.load("xor")
    model = nn.mlp([2, 4, 2], "tanh", rng=0)
    opt = optim.SGD(model.parameters(), lr=1.0)
    history = fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=3,
                  scheduler=optim.StepLR(opt, step_size=1, gamma=0.5), progress=False)
    assert history["lr"] == [1.0, 0.5, 0.25]


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.zeros((0, 2)), np.zeros(0, dtype=int), "training data: .*empty"),
    (np.array([[0.0, np.nan]]), np.array([0]), "training data: X contains NaN at row 0"),
    (np.zeros((3, 3)), np.array([0, 1, 0]), "training data: .*3 columns.*2"),
    (np.zeros((3, 2)), np.array([0, 1]), "training data: X has 3 rows but y has 2"),
    (np.zeros((3, 2)), np.array([0, 1, 2]), "training data: .*label 2.*2 classes"),
    (np.zeros((3, 2)), np.array([0, -1, 1]), "training data: .*-1"),
    (np.zeros(3), np.array([0, 1, 0]), "training data: .*2-D"),
    ([[0.0, 1.0], [1.0]], [0, 1], "training data: X .*row 0 has 2 values but row 1 has 1"),
    ([["a", "b"]], [0], "training data: X contains strings"),
])
def test_bad_data_is_refused_before_training(X, y, message):
    model = nn.mlp([2, 3, 2], "relu", rng=0)
    before = model.state_dict()
    with pytest.raises(cr.DataError, match=message):
        fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1,
            progress=False)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_bad_settings_are_refused():
    model = nn.mlp([2, 3, 2], "relu", rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(cr.ConfigError, match="batch_size 5 is larger than the 4 training samples"):
        fit(model, "cross_entropy", opt, X, y, batch_size=5, progress=False)
    with pytest.raises(cr.ConfigError, match="epochs must be a positive integer, got 0"):
        fit(model, "cross_entropy", opt, X, y, epochs=0, progress=False)
    with pytest.raises(cr.ConfigError, match="epochs must be a positive integer, got True"):
        fit(model, "cross_entropy", opt, X, y, epochs=True, progress=False)
    with pytest.raises(cr.ConfigError, match="batch_size must be a positive integer, got True"):
        fit(model, "cross_entropy", opt, X, y, batch_size=True, progress=False)
    for every in ("5", None, -1, float("nan")):
        with pytest.raises(cr.ConfigError, match="checkpoint_every must be a non-negative"):
            fit(model, "cross_entropy", opt, X, y, checkpoint_every=every, progress=False)
    with pytest.raises(cr.DataError, match="targets have 1 columns but the model has 2 outputs"):
        fit(model, "mse", opt, X, y.astype(float), progress=False)


def test_regression_targets_and_integer_inputs():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(64, 3))  # integers are cast to the model's dtype
    y = (X @ np.array([0.5, -1.0, 2.0]))[:, None] / 10
    model = nn.mlp([3, 1], "identity", rng=0)
    fit(model, "mse", optim.SGD(model.parameters(), lr=0.05), X, y, epochs=300, batch_size=16,
        progress=False)
    assert evaluate(model, "mse", X, y)["loss"] < 1e-3
    with pytest.raises(cr.DataError, match="X has 4 columns but the model expects 3 features"):
        predict(model, np.zeros((2, 4)))


def test_ctrl_c_mid_epoch_then_resume_is_bit_identical(tmp_path):
    from chainrule import io
    from chainrule.train import TrainingInterrupted

    ds = cr.data.load("spirals", n_samples=120)

    def setup():
        model = nn.mlp([2, 12, 2], "tanh", rng=5)
        opt = optim.Adam(model.parameters(), lr=0.01)
        return model, opt, optim.StepLR(opt, step_size=2, gamma=0.5)

    model, opt, schedule = setup()
    fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=5, batch_size=16, seed=3,
        scheduler=schedule, progress=False)
    expected = model.state_dict()

    class CtrlC(Callback):  # presses Ctrl-C in the middle of epoch 3
        def on_step_end(self, state, loss):
            if state.step == 2 * 8 + 3:
                raise KeyboardInterrupt

    checkpoint = tmp_path / "checkpoint.safetensors"
    model, opt, schedule = setup()
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 3, step 19; checkpoint"):
        fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=5, batch_size=16, seed=3,
            scheduler=schedule, callbacks=[CtrlC()], progress=False, checkpoint=str(checkpoint))
    model, opt, schedule = setup()  # a fresh process would start from scratch like this
    history = fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=5, batch_size=16, seed=3,
                  scheduler=schedule, progress=False, resume=io.load_checkpoint(checkpoint))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, expected[key])
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert len(history.step_losses) == 5 * 8


def test_resuming_with_another_optimizer_is_refused_and_changes_nothing(tmp_path):
    from chainrule import io

    ds = cr.data.load("xor")
    model = nn.mlp([2, 4, 2], "tanh", rng=0)
    checkpoint = tmp_path / "checkpoint.safetensors"
    fit(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), ds.X, ds.y, epochs=2,
        progress=False, checkpoint=str(checkpoint))
    other = nn.mlp([2, 4, 2], "tanh", rng=1)
    before = other.state_dict()
    with pytest.raises(cr.ConfigError, match="SGD"):
        fit(other, "cross_entropy", optim.Adam(other.parameters()), ds.X, ds.y, epochs=4,
            progress=False, resume=io.load_checkpoint(checkpoint))
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def _spirals_run(batch_size=16, checkpoint=None, resume=None, callbacks=(), opt_cls=None,
                 **kwargs):
    ds = cr.data.load("spirals", n_samples=120)
    model = nn.mlp([2, 12, 2], "tanh", rng=5)
    opt = (opt_cls or optim.Adam)(model.parameters(), lr=0.01)
    history = fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=4, batch_size=batch_size,
                  seed=3, progress=False, checkpoint=checkpoint, resume=resume,
                  callbacks=callbacks, **kwargs)
    return model, opt, history


def test_a_ctrl_c_in_the_middle_of_an_update_keeps_the_last_complete_checkpoint(tmp_path):
    from chainrule import io
    from chainrule.train import TrainingInterrupted

    class InterruptedAdam(optim.Adam):  # the second Ctrl-C lands inside step 20's update
        armed = True

        def step(self):
            super().step()
            if self.armed and self.step_count == 20:
                raise KeyboardInterrupt

    path = tmp_path / "checkpoint.safetensors"
    with pytest.raises(TrainingInterrupted,
                       match=r"at epoch 3, step 19 in the middle of an update, which is not "
                             r"saved; .*checkpoint.safetensors holds the last complete"):
        _spirals_run(checkpoint=str(path), opt_cls=InterruptedAdam, checkpoint_every=0)
    saved = io.load_checkpoint(path)
    assert (saved.epoch, saved.step) == (2, 16)  # the end of epoch 2, not half of step 20
    InterruptedAdam.armed = False
    model, _, _ = _spirals_run(resume=saved, opt_cls=InterruptedAdam)
    expected, _, _ = _spirals_run()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, expected.state_dict()[key])


def test_an_interrupted_update_before_any_checkpoint_offers_none(tmp_path):
    from chainrule.train import TrainingInterrupted

    class InterruptedAdam(optim.Adam):
        def step(self):
            super().step()
            raise KeyboardInterrupt

    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(b"an earlier run's checkpoint, not this one's")
    with pytest.raises(TrainingInterrupted, match="before any checkpoint was saved") as caught:
        _spirals_run(checkpoint=str(path), opt_cls=InterruptedAdam)
    assert caught.value.checkpoint is None


def test_checkpoints_are_written_at_most_every_checkpoint_every_seconds_and_at_the_end(
        tmp_path, monkeypatch):
    from chainrule import train

    saves = []
    monkeypatch.setattr(train, "_save_checkpoint",
                        lambda path, state, *args: saves.append(state.epoch))
    _spirals_run(checkpoint=str(tmp_path / "c.safetensors"), checkpoint_every=3600)
    assert saves == [4]  # only the final state
    saves.clear()
    _spirals_run(checkpoint=str(tmp_path / "c.safetensors"), checkpoint_every=0)
    assert saves == [1, 2, 3, 4]  # after every epoch; the end's is the last one, not again


@pytest.mark.parametrize("change, message", [
    (lambda c: {"rng_state": np.random.MT19937(0).state},
     "resume: the checkpoint's rng_state is not the state of a PCG64 generator"),
    (lambda c: {"rng_state": {"shuffle": c.rng_state}}, "is not the state of a PCG64"),
    (lambda c: {"history": {**c.history, "partial": {"loss_sum": 1.0, "count": 160}}},
     "saved 160 samples into epoch 5, but the training data has 120"),
])
def test_resume_refuses_what_fit_cannot_continue_before_changing_anything(tmp_path, change,
                                                                         message):
    """A checkpoint saved from Python may hold any generator state; fit shuffles with PCG64."""
    import dataclasses

    from chainrule import io
    from chainrule.errors import ConfigError

    path = tmp_path / "c.safetensors"
    _spirals_run(checkpoint=str(path))
    checkpoint = io.load_checkpoint(path)
    model = nn.mlp([2, 12, 2], "tanh", rng=5)
    opt = optim.Adam(model.parameters(), lr=0.01)
    before, opt_before = model.state_dict(), opt.state_dict()
    ds = cr.data.load("spirals", n_samples=120)
    with pytest.raises(ConfigError, match=message):
        fit(model, "cross_entropy", opt, ds.X, ds.y, epochs=6, batch_size=16,
            resume=dataclasses.replace(checkpoint, **change(checkpoint)))
    assert all(np.array_equal(model.state_dict()[k], v) for k, v in before.items())
    assert opt.state_dict()["hyper"] == opt_before["hyper"]


def test_resuming_with_another_batch_size(tmp_path):
    from chainrule import io
    from chainrule.train import TrainingInterrupted

    class CtrlC(Callback):
        def __init__(self, at):
            self.at = at

        def on_step_end(self, state, loss):
            if state.step == self.at:
                raise KeyboardInterrupt

    path = tmp_path / "checkpoint.safetensors"
    with pytest.raises(TrainingInterrupted):
        _spirals_run(checkpoint=str(path), callbacks=[CtrlC(8)])  # the end of epoch 1
    model, _, history = _spirals_run(batch_size=32, resume=io.load_checkpoint(path))
    assert history["epoch"] == [1, 2, 3, 4] and len(history.step_losses) == 8 + 3 * 4

    with pytest.raises(TrainingInterrupted):
        _spirals_run(checkpoint=str(path), callbacks=[CtrlC(11)])  # 48 samples into epoch 2
    before = model.state_dict()
    with pytest.raises(cr.ConfigError,
                       match=r"saved 48 samples into epoch 2, which is not a whole number of "
                             r"batches of 32; resume with the batch size it was saved with"):
        fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.01),
            *_spirals_xy(), epochs=4, batch_size=32, progress=False,
            resume=io.load_checkpoint(path))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def _spirals_xy():
    ds = cr.data.load("spirals", n_samples=120)
    return ds.X, ds.y


def _early_stopping_run(checkpoint=None, resume=None, extra=()):
    ds = cr.data.load("spirals", n_samples=200)
    X, y, X_val, y_val = cr.data.train_val_split(ds.X, ds.y, 0.25, seed=0)
    model = nn.mlp([2, 16, 2], "tanh", rng=1)
    stopper = EarlyStopping(patience=3)
    history = fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), X, y,
                  epochs=60, batch_size=30, seed=2, validation_data=(X_val, y_val),
                  callbacks=[stopper, *extra], progress=False, checkpoint=checkpoint,
                  checkpoint_every=0, resume=resume)
    return model, history


def test_resuming_with_early_stopping_is_bit_identical(tmp_path):
    from chainrule import io
    from chainrule.train import TrainingInterrupted

    expected, full = _early_stopping_run()
    assert full.stop_reason is not None and full.restored_epoch < len(full.epochs)

    class CtrlC(Callback):  # interrupted after a best epoch, while patience is counting
        def on_epoch_end(self, state, logs):
            if state.epoch == full.restored_epoch + 1:
                raise KeyboardInterrupt

    path = tmp_path / "checkpoint.safetensors"
    with pytest.raises(TrainingInterrupted):
        _early_stopping_run(str(path), extra=[CtrlC()])
    saved = io.load_checkpoint(path)
    assert saved.callbacks["EarlyStopping"]["best_epoch"] == full.restored_epoch
    model, history = _early_stopping_run(str(path), resume=saved)
    assert history.to_dict() | {"epochs": None} == full.to_dict() | {"epochs": None}
    assert [e["loss"] for e in history.epochs] == [e["loss"] for e in full.epochs]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, expected.state_dict()[key])

    # The finished run's checkpoint: resuming it trains no more and ends on the same weights.
    model, again = _early_stopping_run(resume=io.load_checkpoint(path))
    assert len(again.epochs) == len(full.epochs) and again.restored_epoch == full.restored_epoch
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, expected.state_dict()[key])


def test_a_callback_state_that_does_not_fit_leaves_the_model_as_it_was(tmp_path):
    from chainrule import io

    path = tmp_path / "checkpoint.safetensors"
    _early_stopping_run(str(path))
    saved = io.load_checkpoint(path)
    saved.callbacks["EarlyStopping"]["waited"] = -1
    model = nn.mlp([2, 16, 2], "tanh", rng=1)
    before = model.state_dict()
    with pytest.raises(cr.ConfigError, match=r"EarlyStopping\.load_state_dict: not a state"):
        fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.05), *_spirals_xy(),
            epochs=60, batch_size=30, callbacks=[EarlyStopping(patience=3)], progress=False,
            resume=saved)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
