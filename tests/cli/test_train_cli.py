"""`chainrule train`, `predict` and `demo` as a user runs them, through typer's test runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_demo_prints_the_notes_numbers():
    result = run("demo", "--steps", "100", "--no-explain", "--no-sweep")
    assert result.exit_code == 0, result.output
    assert "E_total = 0.298371109" in result.output
    assert "step      1: E_total = 0.291027774" in result.output


def test_train_writes_its_outputs_and_predict_reads_the_model(tmp_path):
    out = tmp_path / "iris"
    result = run("train", "--dataset", "iris", "--hidden", "8", "--epochs", "30", "--lr", "0.05",
                 "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    for name in ("model.safetensors", "history.json", "history.csv", "loss.png", "config.json",
                 "checkpoint.safetensors"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert len(history["epochs"]) == 30
    assert history["epochs"][-1]["val_accuracy"] > 0.8
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,loss,accuracy")
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    csv = tmp_path / "flowers.csv"
    csv.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
                   "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    predictions = tmp_path / "predictions.csv"
    result = run("predict", out / "model.safetensors", csv, "--out", predictions)
    assert result.exit_code == 0, result.output
    rows = predictions.read_text().splitlines()
    assert rows[0] == "row,prediction,probability"
    assert rows[1].split(",")[1] == "setosa" and rows[2].split(",")[1] == "virginica"


def test_train_from_a_toml_config(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text('dataset = "xor"\nhidden = [8]\nactivation = "tanh"\nlr = 0.05\n'
                      "epochs = 200\nval_split = 0.0\nbatch_size = 4\n")
    result = run("train", "--config", config, "--out", tmp_path / "xor")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "1.0000" in result.output


def test_every_bad_config_field_is_reported_at_once(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('dataset = "digits"\nlr = -1\nepochs = 0\ncolour = "blue"\n')
    result = run("train", "--config", config, "--out", tmp_path / "x")
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in result.output
    assert line.startswith(f"error: {config}: 3 problems:")
    assert "lr: must be a positive finite number, got -1.0" in line
    assert "epochs:" in line and "colour: unknown key" in line


@pytest.mark.parametrize(("args", "message"), [
    (("--dataset", "nope"), "unknown dataset 'nope'"),
    (("--csv", "missing.csv"), "missing.csv"),
    (("--dataset", "iris", "--hidden", "8,x"), "--hidden must be comma-separated integers"),
    (("--dataset", "iris", "--lr", "nan"), "lr: must be a positive finite number, got nan"),
    (("--dataset", "iris", "--loss", "mse"), "loss 'mse' does not fit the classification data"),
])
def test_user_mistakes_exit_2_with_one_line(tmp_path, args, message):
    result = run("train", *args, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unwritable_output_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("train", "--dataset", "xor", "--out", blocker, "--quiet")
    assert result.exit_code == 2
    assert "exists and is not a folder" in result.output


def test_predict_with_the_wrong_columns(tmp_path):
    out = tmp_path / "iris"
    trained = run("train", "--dataset", "iris", "--epochs", "2", "--out", out, "--quiet")
    assert trained.exit_code == 0
    csv = tmp_path / "wrong.csv"
    csv.write_text("a,b\n1,2\n")
    result = run("predict", out / "model.safetensors", csv)
    assert result.exit_code == 2
    assert "does not have the model's 4 features" in result.output


def test_resume_gives_bit_identical_weights(tmp_path):
    from chainrule import io

    full, part = tmp_path / "full", tmp_path / "part"
    common = ("--dataset", "moons", "--hidden", "8", "--batch-size", "16", "--quiet")
    assert run("train", *common, "--epochs", "6", "--out", full).exit_code == 0
    # Train 3 epochs; the epoch count is a target, so resuming to 6 simply continues.
    assert run("train", *common, "--epochs", "3", "--out", part).exit_code == 0
    checkpoint = part / "checkpoint.safetensors"
    resumed = run("train", "--resume", checkpoint, "--epochs", "6", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    refused = run("train", "--resume", checkpoint, "--lr", "0.5", "--quiet")
    assert refused.exit_code == 2
    assert "trained with other settings (lr differ)" in refused.output
    a = io.load(full / "model.safetensors").state_dict()
    b = io.load(part / "model.safetensors").state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_resume_with_force_trains_on_with_the_new_settings(tmp_path):
    import json

    part = tmp_path / "part"
    common = ("--dataset", "moons", "--hidden", "8", "--batch-size", "16", "--quiet")
    assert run("train", *common, "--epochs", "2", "--lr", "0.01", "--out", part).exit_code == 0
    resumed = run("train", "--resume", part / "checkpoint.safetensors", "--epochs", "4",
                  "--lr", "0.05", "--force", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    history = json.loads((part / "history.json").read_text())
    assert [epoch["lr"] for epoch in history["epochs"]] == [0.01, 0.01, 0.05, 0.05]


def test_grad_clip_is_a_train_option_stored_with_the_run_and_checked(tmp_path):
    runs = {}
    for clip in (None, "0.01"):
        out = tmp_path / f"clip-{clip}"
        extra = () if clip is None else ("--grad-clip", clip)
        result = run("train", "--dataset", "xor", "--hidden", "4", "--epochs", "3", "--lr", "0.5",
                     "--optimizer", "sgd", "--out", out, "--quiet", *extra)
        assert result.exit_code == 0, result.output
        runs[clip] = json.loads((out / "history.json").read_text())["epochs"][-1]["loss"]
        assert json.loads((out / "config.json").read_text())["grad_clip"] == \
            (None if clip is None else 0.01)
    assert runs[None] != runs["0.01"]  # clipping to 0.01 changes the steps
    result = run("train", "--dataset", "xor", "--grad-clip", "0", "--out", tmp_path / "bad")
    assert result.exit_code == 2
    assert result.output == ("error: options: 1 problem: --grad-clip: must be a positive finite "
                             "number, got 0.0\n")
