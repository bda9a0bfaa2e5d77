"""A run's checkpoints on disk: the previous one kept beside the newest, offered when the
newest is damaged, and what killed saves left in the run folder removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule import io, optim
from chainrule.cli import app
from chainrule.nn import mlp
from chainrule.runs.folder import CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, holds_run
from chainrule.train import fit

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _damage(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))


def _two_checkpoints(tmp_path):
    """A run trained for 2 epochs, then resumed to 4: checkpoint.safetensors holds epoch 4,
    checkpoint.prev.safetensors epoch 2."""
    out = tmp_path / "xor"
    assert run("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet"
               ).exit_code == 0
    resumed = run("train", "--resume", out / CHECKPOINT_FILE, "--epochs", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    return out


def test_fit_keeps_the_checkpoint_it_replaces(tmp_path):
    model = mlp([2, 3, 1], rng=0)
    x = np.random.default_rng(0).normal(size=(8, 2))
    path = tmp_path / "run.ckpt"
    fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), x, x[:, :1], epochs=3,
        checkpoint=str(path), checkpoint_every=0)  # saved after each epoch
    assert io.load_checkpoint(path).epoch == 3
    assert io.previous_path(path) == tmp_path / "run.prev.ckpt"
    assert io.load_checkpoint(tmp_path / "run.prev.ckpt").epoch == 2


def test_a_resume_keeps_the_checkpoint_it_resumed_from(tmp_path):
    out = _two_checkpoints(tmp_path)
    assert io.load_checkpoint(out / CHECKPOINT_FILE).epoch == 4
    assert io.load_checkpoint(out / PREVIOUS_CHECKPOINT_FILE).epoch == 2
    assert PREVIOUS_CHECKPOINT_FILE in holds_run(out)


def test_a_damaged_checkpoint_names_the_previous_one_and_changes_nothing(tmp_path):
    out = _two_checkpoints(tmp_path)
    _damage(out / CHECKPOINT_FILE)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run("train", "--resume", out / CHECKPOINT_FILE, "--epochs", "6")
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(f"error: {out / CHECKPOINT_FILE} is corrupt: the checksum")
    assert message.endswith(
        f"The previous checkpoint {out / PREVIOUS_CHECKPOINT_FILE} loads (epoch 2, step 2): "
        f"resume from it with chainrule train --resume {out / PREVIOUS_CHECKPOINT_FILE}")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    # resuming from the previous one replaces the damaged one and keeps the previous one
    again = run("train", "--resume", out / PREVIOUS_CHECKPOINT_FILE, "--epochs", "6", "--quiet")
    assert again.exit_code == 0, again.output
    assert io.load_checkpoint(out / CHECKPOINT_FILE).epoch == 6
    assert io.load_checkpoint(out / PREVIOUS_CHECKPOINT_FILE).epoch == 2
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 6


def test_a_missing_checkpoint_names_the_previous_one(tmp_path):
    out = _two_checkpoints(tmp_path)
    (out / CHECKPOINT_FILE).unlink()
    result = run("train", "--resume", out / CHECKPOINT_FILE)
    assert result.exit_code == 2
    assert "No such file" in result.output
    assert f"resume from it with chainrule train --resume {out / PREVIOUS_CHECKPOINT_FILE}" \
        in result.output


def test_no_offer_when_the_previous_checkpoint_is_damaged_too(tmp_path):
    out = _two_checkpoints(tmp_path)
    _damage(out / CHECKPOINT_FILE)
    _damage(out / PREVIOUS_CHECKPOINT_FILE)
    result = run("train", "--resume", out / CHECKPOINT_FILE)
    assert result.exit_code == 2
    assert "is corrupt" in result.output and "previous checkpoint" not in result.output


def test_overwrite_removes_the_previous_checkpoint_too(tmp_path):
    out = _two_checkpoints(tmp_path)
    result = run("train", "--dataset", "xor", "--epochs", "1", "--out", out, "--overwrite",
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert not (out / PREVIOUS_CHECKPOINT_FILE).exists()


def test_a_run_removes_what_killed_saves_left_in_its_folder(tmp_path):
    out = tmp_path / "xor"
    out.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = [out / f".{name}.{io._HOST}-{gone.pid}.a1b2c3d4.tmp"
             for name in ("model.safetensors", CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE,
                          "report.html")]
    old = out / f".{CHECKPOINT_FILE}.zz9_abcd.tmp"  # chainrule 0.1's, a day old
    kept = [out / f".notes.txt.{io._HOST}-{gone.pid}.a1b2c3d4.tmp",  # not the run's file
            out / f".model.safetensors.{io._HOST}-{os.getppid()}.a1b2c3d4.tmp"]  # alive
    for path in (*stale, old, *kept):
        path.write_bytes(b"half a file")
    os.utime(old, (time.time() - io.STALE_SECONDS - 60,) * 2)
    result = run("train", "--dataset", "xor", "--epochs", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert [p for p in (*stale, old) if p.exists()] == []
    assert all(p.exists() for p in kept)


def _edited(key, change):
    def edit(metadata):
        value = json.loads(metadata[key])
        change(value)
        metadata[key] = json.dumps(value)
    return edit


@pytest.mark.parametrize("edit, fragment", [
    (_edited("history", lambda h: h.update(partial={"loss_sum": 1.0, "count": -4})),
     "history.partial.count: Input should be greater than or equal to 0"),
    (_edited("optimizer", lambda o: o["hyper"].update(step_count=-1)),
     "optimizer.hyper.step_count"),
    (_edited("rng_state", lambda r: r["state"].update(inc=None)),
     "rng_state.generator.PCG64.state.inc"),
    (lambda m: m.update(rng_state=json.dumps({"bit_generator": "MT19937",
                                              "state": {"key": [1, 2, 3], "pos": 0}})),
     "MT19937.state.key: List should have at least 624 items"),
    (lambda m: m.update(scheduler_state=json.dumps({
        "scheduler": "StepLR", "hyper": {"step_size": None, "gamma": 0.5}, "base_lr": 0.1,
        "epoch": 1, "last_lr": 0.1})), "scheduler_state.hyper.step_size"),
    (lambda m: m.update(user="[1, 2]"), "user: Input should be a valid dictionary"),
])
def test_train_resume_refuses_a_hostile_checkpoint_before_changing_anything(tmp_path, edit,
                                                                            fragment):
    """Re-signed with a valid checksum, each of these crashed `train --resume` with a
    ValueError, TypeError or IndexError; now load_checkpoint refuses them, in one line."""
    out = tmp_path / "xor"
    assert run("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet"
               ).exit_code == 0
    tensors, metadata = io.load_state(out / CHECKPOINT_FILE)
    edit(metadata)
    io.save_state(out / CHECKPOINT_FILE, tensors, metadata)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run("train", "--resume", out / CHECKPOINT_FILE, "--epochs", "4")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "its metadata is not what chainrule writes" in result.output
    assert fragment in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
