"""`chainrule sweep` and `chainrule diagnose` from the command line."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from chainrule.cli import app


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_sweep_of_the_worked_example_writes_every_file(tmp_path):
    result = run("sweep", "--steps", "300", "--workers", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for name in ("loss.png", "loss.svg", "results.csv", "best.json", "sweep.json"):
        assert (tmp_path / name).is_file(), name
    assert "η=0.1" in result.output and "η=2  ★" in result.output
    assert "best: η=2 — lowest final training loss" in result.output
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8")))
    assert [row["lr"] for row in rows] == ["0.1", "0.2", "0.5", "0.8", "1.0", "2.0"]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["best"]["label"] == "η=2" and best["rule"] == "final_loss"


def test_sweep_of_a_dataset_records_the_diverged_run(tmp_path):
    result = run("sweep", "--dataset", "iris", "--hidden", "8", "--optimizer", "sgd",
                 "--batch-size", "16", "--lr", "0.1,30", "--epochs", "5", "--workers", "1",
                 "--choose", "val_loss", "--linear", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8")))
    assert [(row["label"], row["status"], row["diverged"]) for row in rows] == [
        ("η=0.1", "ok", "no"), ("η=30", "diverged", "yes")]  # only what varies is named
    assert [(row["optimizer"], row["batch_size"], row["hidden"]) for row in rows] == \
        [("sgd", "16", "8")] * 2
    assert rows[0]["val_loss"] and rows[0]["best"] == "yes"
    assert "lowest final validation loss" in result.output
    assert "iris, hidden 8 relu, SGD, batch 16" in result.output  # what every trial shares


@pytest.mark.parametrize(("args", "message"), [
    (["--hidden", "8"], "cannot vary for the notes' worked example"),
    (["--epochs", "5"], "--epochs needs --dataset, --csv or --config"),
    (["--lr", "0.1,fast"], "--lr must be comma-separated numbers"),
    (["--dataset", "iris", "--batch-size", "16,big"], "--batch-size must be sizes"),
    (["--choose", "fastest"], "--choose must be one of"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--csv", "no/such/file.csv"], "no/such/file.csv"),
    (["--lr", "0.1,,0.2"], "--lr has an empty item in '0.1,,0.2'"),
    (["--dataset", "iris", "--optimizer", "sgd,"], "--optimizer has an empty item"),
    (["--workers", "-3"], "Invalid value for '--workers'"),  # before "running 6 trials on -3"
])
def test_sweep_user_errors_exit_2_with_one_line(args, message, tmp_path):
    result = run("sweep", *args, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_sweep_help_shows_the_dask_extra_literally():
    result = CliRunner().invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    assert "needs chainrule[dask]." in result.output  # not read as rich markup


def test_sweep_title_names_the_shared_learning_rate(tmp_path):
    result = run("sweep", "--optimizer", "sgd,adam", "--lr", "0.5", "--steps", "20",
                 "--workers", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "sweep.json").read_text())["title"] == \
        "the notes' worked example (2-2-2 sigmoid network, one sample), η=0.5"


def test_diagnose_warns_on_a_deep_sigmoid_stack(tmp_path):
    result = run("diagnose", "--dataset", "spirals", "--depth", "10", "--hidden", "32",
                 "--activation", "sigmoid", "--epochs", "5", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: vanishing gradients" in result.output
    for name in ("gradients.png", "gradients.svg", "gradients.csv", "activations.csv",
                 "diagnostics.json"):
        assert (tmp_path / name).is_file(), name
    header = (tmp_path / "gradients.csv").read_text().splitlines()[0]
    assert header.startswith("step,layer 1 (2→32)") and header.endswith("layer 11 (32→2)")


def test_diagnose_is_quiet_about_the_same_depth_with_relu(tmp_path):
    result = run("diagnose", "--dataset", "spirals", "--depth", "10", "--hidden", "32",
                 "--activation", "relu", "--epochs", "5", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output and "no warnings" in result.output


def test_diagnose_depth_needs_one_width(tmp_path):
    result = run("diagnose", "--depth", "3", "--hidden", "8,16", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "--depth 3 needs one width" in result.output


def test_diagnose_says_when_nothing_was_recorded(tmp_path):
    result = run("diagnose", "--every", "1000000", "--epochs", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: nothing recorded: training made 10 updates" in " ".join(result.output.split())
    assert "no warnings" not in result.output


@pytest.mark.parametrize(("command", "blocked"), [("sweep", "results.csv"),
                                                  ("diagnose", "gradients.csv")])
def test_a_folder_in_the_way_of_an_output_is_refused_before_any_training(tmp_path, command,
                                                                         blocked):
    (tmp_path / blocked).mkdir()
    result = run(command, "--epochs", "1", "--out", str(tmp_path)) if command == "diagnose" \
        else run(command, "--steps", "5", "--workers", "1", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert f"cannot write {tmp_path / blocked}: a folder or other non-file is in the way" \
        in result.output
    assert not (tmp_path / "loss.png").exists() and not (tmp_path / "gradients.png").exists()
