"""Checkpoints: optimizer, schedule, random state and progress, saved and restored bit for bit."""

import json
import math

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
    assert list(restored["state"]) == list(saved["state"])
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
        callbacks={"EarlyStopping": state})
    loaded = io.load_checkpoint(tmp_path / "c.crc").callbacks["EarlyStopping"]
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


@pytest.mark.parametrize("change, fragment", [
    (lambda t, m: t.update({"other.x": np.zeros(1)}), "unexpected tensor 'other.x'"),
    (lambda t, m: t.update({"optim.99.exp_avg": np.zeros(1)}), "index below 4"),
    (lambda t, m: t.update({"optim.x": np.zeros(1)}), "'optim.<parameter index>.<name>'"),
    (lambda t, m: t.pop("model.2.bias"), "tensors missing from the file: 2.bias"),
    (lambda t, m: m.update(epoch="-1"), "'epoch' must be a non-negative decimal integer"),
    (lambda t, m: m.update(step="1e3"), "'step' must be a non-negative decimal integer"),
    (lambda t, m: m.update(config="[1, 2]"), "'config' metadata must be a JSON dict"),
    (lambda t, m: m.update(history='"x"'), "'history' metadata must be a JSON dict or null"),
    (lambda t, m: m.update(optimizer='{"optimizer": "Adam"}'), "'optimizer' metadata must be"),
    (lambda t, m: m.pop("rng_state"), "has no 'rng_state' entry"),
    (lambda t, m: m.update(rng_state=json.dumps({"shuffle": {
        "bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0,
        "uinteger": 0}})), "holds a random generator state that NumPy refuses"),
    (lambda t, m: m.update(rng_state=json.dumps({"bit_generator": "PCG64", "state": {
        "state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0})), "NumPy refuses"),
    (lambda t, m: m.update(rng_state='{"g": {"bit_generator": "os.system"}}'),
     "unknown bit generator 'os.system'"),
    (lambda t, m: m.update(history='{"epochs": 3}'), "'history' metadata has a malformed epochs"),
    (lambda t, m: m.update(history='{"epochs": [{"loss": "x"}], "step_losses": [true]}'),
     "malformed epochs, step_losses"),
    (lambda t, m: m.update(history='{"stop_reason": 1, "partial": []}'),
     "malformed stop_reason, partial"),
    (lambda t, m: m.update(callbacks='{"EarlyStopping": 3}'),
     "'callbacks' metadata must map names to dicts"),
    (lambda t, m: t.update({"callback.EarlyStopping.best_weights.0.weight": np.zeros(1)}),
     "'callback.<callback>.<entry>.<name>' of a saved callback"),
])
def test_a_checkpoint_that_lies_is_refused(tmp_path, change, fragment):
    path = _damaged(tmp_path, change)
    with pytest.raises(ModelFileError) as info:
        io.load_checkpoint(path)
    assert fragment in str(info.value)


def test_optimizer_state_from_a_file_is_still_checked_by_the_optimizer(tmp_path):
    path = _damaged(tmp_path, lambda t, m: t.update({"optim.0.exp_avg": np.zeros((2, 2))}))
    ckpt = io.load_checkpoint(path)
    opt = optim.Adam(ckpt.model.parameters(), lr=0.05)
    before = json.dumps(opt.state_dict(), default=str)
    with pytest.raises(ConfigError, match="has shape"):
        opt.load_state_dict(ckpt.optimizer_state)
    assert json.dumps(opt.state_dict(), default=str) == before


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
