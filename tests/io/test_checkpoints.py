"""Checkpoints: optimizer, schedule, random state and progress, saved and restored bit for bit."""

import json
import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import io, optim
from chainrule.errors import ConfigError, ModelFileError
from chainrule.nn import MSELoss, mlp

CONFIG = {"model": {"sizes": [3, 8, 2], "activation": "tanh"}, "lr": 0.05, "epochs": 6,
          "batch_size": 4, "seed": 7}


def _data():
    rng = np.random.default_rng(123)
    x = rng.normal(size=(20, 3))
    return x, np.tanh(x @ rng.normal(size=(3, 2)))


OPTIMIZERS = {
    "sgd-nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: optim.Adam(p, lr=0.05),
    "adamw": lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5),
}
SCHEDULES = {
    "step": lambda o: optim.StepLR(o, step_size=2, gamma=0.5),
    "cosine": lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    "plateau": lambda o: optim.ReduceLROnPlateau(o, patience=0, factor=0.5),
}


class Run:
    """A small training run written the way fit() does it: shuffle, minibatches, schedule."""

    def __init__(self, opt_name, schedule_name, dtype=np.float64):
        self.model = mlp([3, 8, 2], "tanh", rng=CONFIG["seed"], dtype=dtype)
        self.model[0].bias.requires_grad_(False)
        self.opt = OPTIMIZERS[opt_name](self.model.parameters())
        self.schedule = SCHEDULES[schedule_name](self.opt)
        self.rng = np.random.default_rng(CONFIG["seed"])
        self.epoch, self.history = 0, {"loss": []}
        self.x, self.t = (a.astype(dtype) for a in _data())

    def train_until(self, epochs):
        for epoch in range(self.epoch, epochs):
            self.epoch = epoch
            order = self.rng.permutation(len(self.x))
            for start in range(0, len(order), CONFIG["batch_size"]):
                rows = order[start:start + CONFIG["batch_size"]]
                self.opt.zero_grad()
                loss = MSELoss()(self.model(self.x[rows]), cr.tensor(self.t[rows]))
                loss.backward()
                self.opt.step()
            self.history["loss"].append(loss.item())
            if isinstance(self.schedule, optim.ReduceLROnPlateau):
                self.schedule.step(loss.item())
            else:
                self.schedule.step()
        self.epoch = epochs

    def save(self, path):
        io.save_checkpoint(path, model=self.model, optimizer=self.opt, epoch=self.epoch,
                           step=self.opt.step_count, config=CONFIG,
                           rng_state={"shuffle": self.rng.bit_generator.state},
                           scheduler_state=self.schedule.state_dict(), history=self.history)

    @classmethod
    def resume(cls, path, opt_name, schedule_name):
        """Rebuild a run from a checkpoint alone, as `chainrule train --resume` will."""
        ckpt = io.load_checkpoint(path)
        assert io.config_differences(ckpt.config, CONFIG) == []
        run = cls.__new__(cls)
        run.model = ckpt.model
        run.opt = OPTIMIZERS[opt_name](run.model.parameters())
        run.schedule = SCHEDULES[schedule_name](run.opt)
        run.opt.load_state_dict(ckpt.optimizer_state)
        run.schedule.load_state_dict(ckpt.scheduler_state)
        run.rng = np.random.default_rng()
        run.rng.bit_generator.state = ckpt.rng_state["shuffle"]
        run.epoch, run.history = ckpt.epoch, ckpt.history
        dtype = run.model[0].weight.dtype
        run.x, run.t = (a.astype(dtype) for a in _data())
        return run


def _weights_bytes(model):
    return {name: array.tobytes() for name, array in model.state_dict().items()}


@pytest.mark.parametrize("opt_name, schedule_name", [
    ("sgd-nesterov", "step"), ("adam", "cosine"), ("adamw", "plateau"), ("rmsprop", "step"),
])
def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, opt_name,
                                                                   schedule_name):
    whole = Run(opt_name, schedule_name)
    whole.train_until(CONFIG["epochs"])

    first = Run(opt_name, schedule_name)
    first.train_until(3)
    first.save(tmp_path / "ckpt.crc")
    del first
    second = Run.resume(tmp_path / "ckpt.crc", opt_name, schedule_name)
    second.train_until(CONFIG["epochs"])

    assert _weights_bytes(second.model) == _weights_bytes(whole.model)
    assert second.opt.lr == whole.opt.lr and second.opt.step_count == whole.opt.step_count
    assert second.history == whole.history
    assert [p.requires_grad for p in second.model.parameters()] == [True, False, True, True]


def test_optimizer_state_round_trips_bit_for_bit(tmp_path):
    run = Run("adam", "step", dtype=np.float32)
    run.train_until(2)
    run.save(tmp_path / "ckpt.crc")
    ckpt = io.load_checkpoint(tmp_path / "ckpt.crc")
    saved, restored = run.opt.state_dict(), ckpt.optimizer_state
    assert {k: v for k, v in restored.items() if k != "state"} == \
        {k: v for k, v in saved.items() if k != "state"}
    assert sorted(restored["state"]) == sorted(saved["state"])
    for key, array in saved["state"].items():
        assert restored["state"][key].dtype == array.dtype, key
        assert restored["state"][key].shape == array.shape, key
        assert restored["state"][key].tobytes() == array.tobytes(), key
    assert ckpt.epoch == 2 and ckpt.step == run.opt.step_count == 10
    assert ckpt.config == CONFIG
    assert ckpt.scheduler_state == run.schedule.state_dict()
    assert _weights_bytes(ckpt.model) == _weights_bytes(run.model)


def test_random_state_restores_the_same_draws(tmp_path):
    generator = np.random.default_rng(2**63 + 12345)
    generator.normal(size=17)  # move it somewhere arbitrary
    io.save_checkpoint(tmp_path / "c.crc", model=mlp([2, 2], rng=0),
                       optimizer=optim.SGD(mlp([2, 2], rng=0).parameters(), lr=0.1), epoch=0,
                       step=0, config={}, rng_state={"g": generator.bit_generator.state})
    restored = np.random.Generator(np.random.PCG64())
    restored.bit_generator.state = io.load_checkpoint(tmp_path / "c.crc").rng_state["g"]
    assert restored.normal(size=50).tobytes() == generator.normal(size=50).tobytes()
    assert restored.integers(0, 2**62, size=5).tolist() == \
        generator.integers(0, 2**62, size=5).tolist()


def test_history_with_nan_and_no_scheduler(tmp_path):
    model = mlp([2, 2], rng=0)
    io.save_checkpoint(tmp_path / "c.crc", model=model, optimizer=optim.SGD(
        model.parameters(), lr=0.1), epoch=1, step=3, config={"lr": 0.1},
        rng_state={}, history={"loss": [0.5, math.nan, math.inf]})
    ckpt = io.load_checkpoint(tmp_path / "c.crc")
    assert ckpt.scheduler_state is None and ckpt.optimizer_state["state"] == {}
    assert ckpt.history["loss"][0] == 0.5 and math.isnan(ckpt.history["loss"][1])
    assert ckpt.history["loss"][2] == math.inf


def test_load_returns_a_checkpoints_model_and_metadata_describes_it(tmp_path):
    run = Run("adam", "step")
    run.train_until(1)
    run.save(tmp_path / "ckpt.crc")
    assert _weights_bytes(io.load(tmp_path / "ckpt.crc")) == _weights_bytes(run.model)
    meta = io.load_metadata(tmp_path / "ckpt.crc")
    assert meta["format"] == "chainrule-checkpoint"
    assert meta["epoch"] == 1 and meta["step"] == 5 and meta["config"] == CONFIG
    assert meta["optimizer"]["optimizer"] == "Adam"
    assert "optim.0.exp_avg" in meta["tensors"] and "model.0.weight" in meta["tensors"]
    assert meta["user"] == {}


def test_callback_states_round_trip_with_their_arrays(tmp_path):
    model = mlp([2, 2], rng=0)
    state = {"best": math.inf, "waited": 2, "best_weights": model.state_dict(), "empty": {}}
    io.save_checkpoint(tmp_path / "c.crc", model=model, optimizer=optim.SGD(
        model.parameters(), lr=0.1), epoch=0, step=0, config={}, rng_state={},
        callbacks={"MyCallback": state})
    loaded = io.load_checkpoint(tmp_path / "c.crc").callbacks["MyCallback"]
    assert loaded.keys() == state.keys() and loaded["best"] == math.inf
    assert loaded["waited"] == 2 and loaded["empty"] == {}
    for name, array in state["best_weights"].items():
        np.testing.assert_array_equal(loaded["best_weights"][name], array)


def test_a_checkpoint_carries_user_metadata(tmp_path):
    model = mlp([2, 2], rng=0)
    io.save_checkpoint(tmp_path / "c.crc", model=model, optimizer=optim.SGD(
        model.parameters(), lr=0.1), epoch=0, step=0, config={}, rng_state={},
        metadata={"feature_names": ["a", "b"], "mean": np.zeros(2)})
    assert io.load_metadata(tmp_path / "c.crc")["user"] == {"feature_names": ["a", "b"],
                                                           "mean": [0.0, 0.0]}


# --- bad input on save ---------------------------------------------------------------------------
@pytest.mark.parametrize("changes, fragment", [
    ({"epoch": -1}, "epoch must be a non-negative int"),
    ({"step": 1.5}, "step must be a non-negative int"),
    ({"config": {"path": object()}}, "config must be JSON-able"),
    ({"rng_state": {"g": {1, 2}}}, "rng_state must be JSON-able"),
    ({"callbacks": {"Early.Stopping": {"waited": 1}}}, "no dots in names"),
])
def test_save_checkpoint_refuses_bad_arguments(tmp_path, changes, fragment):
    model = mlp([2, 2], rng=0)
    arguments = {"model": model, "optimizer": optim.SGD(model.parameters(), lr=0.1),
                 "epoch": 0, "step": 0, "config": {}, "rng_state": {}, **changes}
    with pytest.raises(ConfigError, match=fragment):
        io.save_checkpoint(tmp_path / "c.crc", **arguments)
    assert not (tmp_path / "c.crc").exists()


# --- checkpoints that lie ------------------------------------------------------------------------
def _damaged(tmp_path, change):
    run = Run("adam", "step")
    run.train_until(1)
    run.save(tmp_path / "ckpt.crc")
    tensors, metadata = io.load_state(tmp_path / "ckpt.crc")
    change(tensors, metadata)
    io.save_state(tmp_path / "ckpt.crc", tensors, metadata)
    return tmp_path / "ckpt.crc"


def _json(key, change):
    """Change the JSON metadata entry `key` in place (the file is re-signed afterwards)."""
    def edit(tensors, metadata):
        value = json.loads(metadata[key])
        changed = change(value)
        metadata[key] = json.dumps(value if changed is None else changed)
    return edit


MT19937 = {"bit_generator": "MT19937", "state": {"key": [5] * 624, "pos": 624}}
STEP_LR = {"scheduler": "StepLR", "hyper": {"step_size": 2, "gamma": 0.5}, "base_lr": 0.05,
           "epoch": 1, "last_lr": 0.05}


@pytest.mark.parametrize("change, fragment", [
    (lambda t, m: t.update({"other.x": np.zeros(1)}), "unexpected tensor 'other.x'"),
    (lambda t, m: t.update({"optim.99.exp_avg": np.zeros(1)}), "index below 4"),
    (lambda t, m: t.update({"optim.x": np.zeros(1)}), "'optim.<parameter index>.<name>'"),
    (lambda t, m: t.pop("model.2.bias"), "tensors missing from the file: 2.bias"),
    (lambda t, m: m.update(epoch="-1"), "epoch: Input should be greater than or equal to 0"),
    (lambda t, m: m.update(step="1e3"), "step: Input should be a valid integer"),
    (lambda t, m: m.update(config="[1, 2]"), "config: Input should be a valid dictionary"),
    (lambda t, m: m.update(history='"x"'), "history: Input should be a valid dictionary"),
    (lambda t, m: m.update(optimizer='{"optimizer": "Adam"}'),
     "optimizer.num_params: Field required"),
    (lambda t, m: m.pop("rng_state"), "rng_state: Field required"),
    (lambda t, m: m.update(user="[]"), "user: Input should be a valid dictionary"),
    # a history with negative counts
    (_json("history", lambda h: h.update(partial={"loss_sum": 1.0, "count": -3})),
     "history.partial.count: Input should be greater than or equal to 0"),
    (_json("history", lambda h: h.update(partial={"count": 8})),
     "a partial epoch has loss_sum and count"),
    (_json("history", lambda h: h.update(partial={"loss_sum": 1.0, "count": 4, "correct": 5})),
     "correct ≤ count"),
    (_json("history", lambda h: h.update(restored_epoch=-1)),
     "history.restored_epoch: Input should be greater than or equal to 0"),
    (_json("history", lambda h: h.update(epochs=[{"epoch": 0, "loss": 0.5}])),
     "history.epochs[0].epoch: Input should be greater than or equal to 1"),
    (lambda t, m: m.update(history='{"epochs": 3}'), "history.epochs: Input should be a valid "
                                                     "list"),
    (lambda t, m: m.update(history='{"epochs": [{"epoch": 1, "loss": "x"}]}'),
     "history.epochs[0].loss: Input should be a valid number"),
    (lambda t, m: m.update(history='{"step_losses": [true]}'), "history.step_losses[0]"),
    (lambda t, m: m.update(history='{"stop_reason": 1}'), "history.stop_reason"),
    # an optimizer step count below 0, or settings its optimizer refuses
    (_json("optimizer", lambda o: o["hyper"].update(step_count=-1)),
     "optimizer.hyper.step_count: Input should be greater than or equal to 0"),
    (_json("optimizer", lambda o: o["hyper"].update(lr=None)), "optimizer.hyper.lr"),
    (_json("optimizer", lambda o: o["hyper"].update(beta1=2.0)),
     "its optimizer state does not load: Adam: betas[0] must be a number in [0, 1)"),
    (_json("optimizer", lambda o: o.update(optimizer="os.system")),
     "optimizer.optimizer: String should match pattern"),
    (lambda t, m: t.update({"optim.0.step": np.array(-5)}),
     "Adam.load_state_dict: state '0.step' counts steps, so it cannot be -5"),
    (lambda t, m: t.update({"optim.0.exp_avg": np.zeros((2, 2))}),
     "Adam.load_state_dict: state '0.exp_avg' has shape (2, 2)"),
    # a generator state of the wrong kind or size
    (lambda t, m: m.update(rng_state=json.dumps({"shuffle": {
        "bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0,
        "uinteger": 0}})), "rng_state.by name.shuffle.PCG64.state.state: Input should be a "
                           "valid integer"),
    (lambda t, m: m.update(rng_state=json.dumps({"bit_generator": "PCG64", "state": {
        "state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0})), "greater than or equal to 0"),
    (_json("rng_state", lambda r: r["shuffle"].update(has_uint32=5)),
     "has_uint32: Input should be less than or equal to 1"),
    (lambda t, m: m.update(rng_state='{"g": {"bit_generator": "os.system"}}'),
     "Input tag 'os.system' found using 'bit_generator' does not match"),
    (lambda t, m: m.update(rng_state=json.dumps({**MT19937, "state": {"key": [1, 2, 3],
                                                                      "pos": 0}})),
     "MT19937.state.key: List should have at least 624 items"),
    (lambda t, m: m.update(rng_state=json.dumps({**MT19937, "bit_generator": "PCG64"})),
     "PCG64.state.state: Field required"),
    # a schedule state with a null field
    (lambda t, m: m.update(scheduler_state=json.dumps({**STEP_LR, "base_lr": None})),
     "scheduler_state.base_lr: Input should be a valid number"),
    (lambda t, m: m.update(scheduler_state=json.dumps(
        {**STEP_LR, "hyper": {"step_size": None, "gamma": 0.5}})),
     "scheduler_state.hyper.step_size"),
    (lambda t, m: m.update(scheduler_state=json.dumps({**STEP_LR, "extra": 1})),
     "scheduler_state.extra: Extra inputs are not permitted"),
    # callbacks
    (lambda t, m: m.update(callbacks='{"EarlyStopping": 3}'),
     "callbacks.EarlyStopping: Input should be a valid dictionary"),
    (lambda t, m: m.update(callbacks='{"EarlyStopping": {"best": 1.0, "best_epoch": 1, '
                                     '"waited": -1}}'), "callbacks: EarlyStopping: waited"),
    (lambda t, m: m.update(callbacks='{"EarlyStopping": {"best": null, "best_epoch": 1, '
                                     '"waited": 0}}'), "callbacks: EarlyStopping: best"),
    (lambda t, m: m.update(callbacks='{"Early.Stopping": {}}'),
     "a callback is named by its class"),
    (lambda t, m: t.update({"callback.EarlyStopping.best_weights.0.weight": np.zeros(1)}),
     "'callback.<callback>.<entry>.<name>' of a saved callback"),
])
def test_a_checkpoint_that_lies_is_refused(tmp_path, change, fragment):
    path = _damaged(tmp_path, change)
    with pytest.raises(ModelFileError) as info:
        io.load_checkpoint(path)
    assert fragment in str(info.value)


def test_optimizer_state_from_a_file_is_tried_on_a_fresh_optimizer(tmp_path):
    """Only a state its optimizer takes loads; the optimizer itself still checks it too."""
    path = _damaged(tmp_path, lambda t, m: t.update({"optim.0.exp_avg": np.zeros((2, 2))}))
    with pytest.raises(ModelFileError, match="its optimizer state does not load"):
        io.load_checkpoint(path)
    ckpt = io.load_checkpoint(_damaged(tmp_path, lambda t, m: None))
    opt = optim.Adam(ckpt.model.parameters(), lr=0.05)
    before = json.dumps(opt.state_dict(), default=str)
    with pytest.raises(ConfigError, match="has shape"):
        opt.load_state_dict({**ckpt.optimizer_state,
                             "state": {**ckpt.optimizer_state["state"],
                                       "0.exp_avg": np.zeros((2, 2))}})
    assert json.dumps(opt.state_dict(), default=str) == before


def test_early_stopping_best_weights_must_fit_the_model(tmp_path):
    model = mlp([2, 3, 2], rng=0)
    weights = {**model.state_dict(), "0.weight": np.zeros((4, 4), np.float32)}
    io.save_checkpoint(tmp_path / "c.crc", model=model, optimizer=optim.SGD(
        model.parameters(), lr=0.1), epoch=0, step=0, config={}, rng_state={},
        callbacks={"EarlyStopping": {"best": 0.5, "best_epoch": 1, "waited": 0,
                                     "best_weights": weights}})
    with pytest.raises(ModelFileError, match=re.escape(
            "does not match EarlyStopping's best weights: tensor '0.weight' has shape (4, 4)")):
        io.load_checkpoint(tmp_path / "c.crc")


def test_save_checkpoint_refuses_what_load_checkpoint_would(tmp_path):
    model = mlp([2, 2], rng=0)
    arguments = {"model": model, "optimizer": optim.SGD(model.parameters(), lr=0.1),
                 "epoch": 0, "step": 0, "config": {}, "rng_state": {}}
    for changes, fragment in [
        ({"history": {"partial": {"count": -1, "loss_sum": 0.0}}}, "history.partial.count"),
        ({"rng_state": {"bit_generator": "PCG64"}}, "rng_state.generator.PCG64.state"),
        ({"scheduler_state": {"scheduler": "StepLR"}}, "scheduler_state.hyper"),
        ({"callbacks": {"EarlyStopping": {"best": 1.0}}}, "EarlyStopping: best_epoch"),
        ({"metadata": {"note": "\ud800"}}, "strings of valid Unicode"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            io.save_checkpoint(tmp_path / "c.crc", **{**arguments, **changes})
    assert not (tmp_path / "c.crc").exists()


# --- config differences -------------------------------------------------------------------
def test_config_differences_names_the_changed_keys_dotted():
    old = {"lr": 0.1, "model": {"sizes": [2, 2], "activation": "tanh"}, "seed": 1,
           "loss": math.nan}
    new = {"lr": 0.2, "model": {"sizes": [2, 3], "activation": "tanh"}, "epochs": 5,
           "loss": math.nan}
    assert io.config_differences(old, new) == ["epochs", "lr", "model.sizes", "seed"]
    assert io.config_differences(old, old) == []
    assert io.config_differences({"a": {"b": 1}}, {"a": 1}) == ["a"]
    assert io.config_differences({"a": 1}, {"a": 1.0}) == []
