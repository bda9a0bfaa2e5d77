"""The run layer as a user meets it: nothing lost, nothing overwritten, nothing misread.

Each test is one defect of the run layer, reproduced as a new user would meet it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.errors import ConfigError, DataError
from chainrule.runs import RunInterrupted, TrainedModel, make_config, train
from chainrule.runs.folder import LOCK_FILE
from chainrule.train import Callback

runner = CliRunner()
IRIS_ROW = ("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
            "5.1,3.5,1.4,0.2\n")


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


class CtrlC(Callback):
    """Presses Ctrl-C after the given number of updates."""

    def __init__(self, step: int) -> None:
        self.at = step

    def on_step_end(self, state, loss):
        if state.step == self.at:
            raise KeyboardInterrupt


# --- defect 3: Ctrl-C leaves a usable model --------------------------------------------------

def test_ctrl_c_writes_the_model_history_and_plot_and_predict_uses_them(tmp_path):
    out = tmp_path / "iris"
    config = make_config({"dataset": "iris", "hidden": [8], "epochs": 50, "batch_size": 16})
    with pytest.raises(RunInterrupted) as stop:
        train(config, out, callbacks=[CtrlC(8 * 3 + 2)])  # 8 updates an epoch: in epoch 4
    assert stop.value.result.status == "interrupted"
    for name in ("model.safetensors", "checkpoint.safetensors", "history.json", "loss.png",
                 "run.json", "config.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "run.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs"] == 3
    assert summary["steps"] == 26
    data = tmp_path / "flowers.csv"
    data.write_text(IRIS_ROW)
    predicted = run("predict", out / "model.safetensors", data)
    assert predicted.exit_code == 0, predicted.output
    assert "setosa" in predicted.output or "versicolor" in predicted.output


def test_resume_to_more_epochs_continues_without_force(tmp_path):
    out = tmp_path / "moons"
    common = ("--dataset", "moons", "--hidden", "8", "--quiet", "--out", out)
    assert run("train", *common, "--epochs", "2").exit_code == 0
    resumed = run("train", "--resume", out / "checkpoint.safetensors", "--epochs", "5",
                  "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 5


# --- defect 4: no silent overwrites ----------------------------------------------------------

def test_a_folder_holding_a_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "xor"
    assert run("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet"
               ).exit_code == 0
    before = (out / "model.safetensors").read_bytes()
    again = run("train", "--dataset", "xor", "--epochs", "3", "--lr", "0.1", "--out", out)
    assert again.exit_code == 2
    assert _last_line(again) == (
        f"error: {out} holds a previous run (model.safetensors, history.json, history.csv, "
        "config.json, loss.png, report.html, run.json, checkpoint.safetensors); choose another "
        "--out folder, or pass --overwrite to replace it")
    assert (out / "model.safetensors").read_bytes() == before
    replaced = run("train", "--dataset", "xor", "--epochs", "3", "--out", out, "--overwrite",
                   "--quiet")
    assert replaced.exit_code == 0, replaced.output
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 3


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    result = run("train", "--dataset", "xor", "--epochs", "1", "--out", out)
    assert result.exit_code == 2
    assert f"another chainrule run (process {os.getpid()}) is writing to {out}" in result.output
    assert not (out / "model.safetensors").exists()


def test_a_stale_lock_is_taken_over_and_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "stale"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename}))
    result = run("train", "--dataset", "xor", "--epochs", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()
    assert not (out / LOCK_FILE).exists()


def test_predict_refuses_to_write_over_its_input(tmp_path):
    out = tmp_path / "iris"
    assert run("train", "--dataset", "iris", "--epochs", "1", "--out", out, "--quiet"
               ).exit_code == 0
    data = tmp_path / "rows.csv"
    data.write_text(IRIS_ROW)
    result = run("predict", out / "model.safetensors", data, "--out", data)
    assert result.exit_code == 2
    assert "is the input file" in result.output
    assert data.read_text() == IRIS_ROW


# --- defect 5: a diverged run saves what it has; a failed start leaves nothing ----------------

def test_a_diverged_run_writes_its_last_finite_model_and_exits_non_zero(tmp_path):
    out = tmp_path / "boom"
    result = run("train", "--dataset", "moons", "--optimizer", "sgd", "--lr", "1e6",
                 "--epochs", "5", "--out", out, "--quiet")
    assert result.exit_code == 1
    assert "error: training diverged" in result.output
    assert "model.safetensors" in result.output
    summary = json.loads((out / "run.json").read_text())
    assert summary["status"] == "diverged" and "diverged" in summary["error"]
    model = TrainedModel.load(out / "model.safetensors")
    assert all(np.isfinite(p.data).all() for p in model.network.parameters())
    assert (out / "loss.png").is_file() and (out / "history.json").is_file()


@pytest.mark.parametrize("args", [("--csv", "no-such-file.csv"), ("--dataset", "digitz")])
def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, args):
    out = tmp_path / "deep" / "new"
    result = run("train", *args, "--out", out)
    assert result.exit_code == 2
    assert not (tmp_path / "deep").exists()


# --- defect 6: the worked-example dataset trains the notes' network --------------------------

def test_the_worked_example_dataset_trains_the_notes_network():
    config = make_config({"dataset": "worked-example", "epochs": 10_000, "trace": True})
    assert (config.network, config.optimizer, config.lr, config.standardize) == (
        "worked-example", "sgd", 0.5, False)
    result = train(config)
    assert result.history.step_losses[0] == pytest.approx(0.298371109, abs=1e-9)
    assert result.history.step_losses[1] == pytest.approx(0.291027774, abs=1e-9)
    assert result.final["loss"] == pytest.approx(3.510187783e-05, abs=1e-14)
    hidden, output = result.model[0], result.model[2]
    np.testing.assert_array_equal(hidden.bias.data, [0.35, 0.35])  # biases fixed
    np.testing.assert_array_equal(output.bias.data, [0.60, 0.60])


def test_the_worked_example_network_refuses_settings_it_ignores():
    with pytest.raises(ConfigError, match=r"--hidden does not apply to the notes' fixed"):
        make_config({"dataset": "worked-example", "hidden": [32]}, "options", flags={"hidden"})
    mlp = make_config({"dataset": "worked-example", "network": "mlp", "hidden": [4]})
    assert train(mlp).model[0].weight.shape == (4, 2)


# --- defect 7: options that do nothing, the flags typed, one class ---------------------------

def test_momentum_with_adam_is_refused_naming_the_flag():
    result = run("train", "--dataset", "xor", "--momentum", "0.9")
    assert result.exit_code == 2
    assert _last_line(result).startswith("error: options: 1 problem: --momentum does nothing "
                                         "with adam")


def test_messages_name_the_flag_typed():
    result = run("train", "--dataset", "xor", "--batch-size", "0")
    assert _last_line(result) == ("error: options: 1 problem: --batch-size: Input should be "
                                  "greater than or equal to 1")


def test_a_key_from_a_config_file_is_named_as_a_key(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('dataset = "xor"\nbatch_size = 0\n')
    result = run("train", "--config", toml)
    assert _last_line(result) == (f"error: {toml}: 1 problem: batch_size: Input should be "
                                  "greater than or equal to 1")


def test_early_stopping_without_validation_data_is_refused():
    with pytest.raises(ConfigError, match="early_stopping watches the validation loss"):
        make_config({"dataset": "iris", "early_stopping": 3, "val_split": 0.0})


def test_a_single_class_is_refused_with_the_count(tmp_path):
    data = tmp_path / "one.csv"
    data.write_text("a,b,label\n" + "".join(f"{i},{i * 2},yes\n" for i in range(10)))
    with pytest.raises(DataError, match=r"the training labels hold 1 class \('yes'\); a "
                                        "classifier needs at least 2"):
        train(make_config({"csv": str(data), "target": "label"}))


# --- defect 11: a value too large to standardise ---------------------------------------------

def test_a_value_that_overflows_standardisation_names_its_row_and_column(tmp_path):
    data = tmp_path / "huge.csv"
    rows = [f"{i},{i % 3},{i % 2}" for i in range(10)]
    rows[6] = "6,1e308,0"
    rows[7] = "7,-1e308,1"
    data.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"value 1e\+308 in data row 7 \(X\[6, 1\]\), "
                                        "column 'b' is too large to standardise"):
        train(make_config({"csv": str(data), "target": "label", "val_split": 0.0}))


# --- defect 2: CSV files are never misread --------------------------------------------------

def test_a_headerless_csv_trains_and_predicts_every_row(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    rows = "".join(f"{a},{b},{int(a + b > 0)}\n" for a, b in X.tolist())
    data = tmp_path / "plain.csv"
    data.write_text(rows)
    out = tmp_path / "plain"
    trained = run("train", "--csv", data, "--epochs", "2", "--out", out, "--quiet")
    assert trained.exit_code == 0, trained.output
    model = TrainedModel.load(out / "model.safetensors")
    assert model.feature_names == ["x0", "x1"]
    features = tmp_path / "features.csv"
    features.write_text("".join(f"{a},{b}\n" for a, b in X.tolist()))
    predicted = run("predict", out / "model.safetensors", features, "--out", tmp_path / "p.csv")
    assert predicted.exit_code == 0, predicted.output
    assert "wrote 200 predictions" in predicted.output
    assert "taken by position as x0, x1" in predicted.output


def test_predict_refuses_columns_named_otherwise(tmp_path):
    data = tmp_path / "abc.csv"
    data.write_text("a,b,c\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    out = tmp_path / "abc"
    assert run("train", "--csv", data, "--epochs", "1", "--out", out, "--quiet").exit_code == 0
    other = tmp_path / "other.csv"
    other.write_text("a,label\n1,2\n")
    result = run("predict", out / "model.safetensors", other)
    assert result.exit_code == 2
    assert "missing column b" in result.output and "unexpected column label" in result.output
