"""Mistakes and interruptions at the command line: one line on stderr, exit 2 (or 130 for Ctrl-C).

Also: random configurations through the validation `chainrule train --config` uses give only
ConfigError, and the binary losses train two-class data.
"""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.errors import ConfigError
from chainrule.runs import config as cfg
from chainrule.runs import plots, preparation
from chainrule.runs import run as experiment

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "Usage" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# --- usage errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (("train", "--epochs", "abc"), "error: Invalid value for '--epochs'"),
    (("train", "--foo"), "error: No such option: --foo"),
    (("train", "--out"), "error: Option '--out' requires an argument."),
    (("predict",), "error: Missing argument 'model'."),
    (("predict", "m.safetensors"), "error: Missing argument 'data'."),
    (("explain", "--foo"), "error: No such option: --foo"),
    (("sweep", "--lr"), "error: Option '--lr' requires an argument."),
    (("diagnose", "--epochs", "x"), "error: Invalid value for '--epochs'"),
    (("demo", "--steps", "x"), "error: Invalid value for '--steps'"),
])
def test_a_usage_error_is_one_line_naming_the_commands_help(args, message):
    line = _one_line(run(*args))
    assert line.startswith(message), line
    assert line.endswith(f"(see chainrule {args[0]} --help)"), line


@pytest.mark.parametrize("args", [("nope",), ("--foo",)])
def test_a_usage_error_of_the_group_is_one_line_too(args):
    assert _one_line(run(*args)).endswith("(see chainrule --help)")


# --- config values ----------------------------------------------------------------------------
def test_a_folder_as_config_file_says_so(tmp_path):
    line = _one_line(run("train", "--config", tmp_path))
    assert line == f"error: config file {tmp_path} is a folder; give the path of a TOML file"


def test_a_negative_seed_is_a_config_error(tmp_path):
    line = _one_line(run("train", "--dataset", "iris", "--seed", "-1", "--out", tmp_path / "o"))
    assert line == "error: options: 1 problem: --seed: Input should be greater than or equal to 0"


@pytest.mark.parametrize(("toml", "problem"), [
    ("seed = -5", "seed: Input should be greater than or equal to 0"),
    ("lr = true", "lr: Input should be a valid number"),
    ("epochs = true", "epochs: Input should be a valid integer"),
    ("batch_size = false", "batch_size: Input should be a valid integer"),
    ("hidden = [8, true]", "hidden.1: Input should be a valid integer"),
    ('lr = "0.1"', "lr: Input should be a valid number"),
])
def test_a_toml_value_of_the_wrong_type_is_refused(tmp_path, toml, problem):
    path = tmp_path / "c.toml"
    path.write_text(f'dataset = "xor"\n{toml}\n')
    line = _one_line(run("train", "--config", path, "--out", tmp_path / "o"))
    assert line == f"error: {path}: 1 problem: {problem}"


def test_an_integer_is_a_valid_learning_rate():
    assert cfg.make_config({"dataset": "xor", "lr": 1}).lr == 1.0


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats()
    | st.text(max_size=10) | st.sampled_from(["xor", "iris", "a.csv", "relu", "adam", "auto"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=3),
    max_leaves=10,
)
_KEYS = st.sampled_from(list(cfg.TrainConfig.model_fields)) | st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(_KEYS, _ANY, max_size=8))
def test_random_configs_give_only_config_errors(values):
    try:
        config = cfg.make_config(values)
    except ConfigError as error:
        assert str(error).startswith("config: ") and "\n" not in str(error).strip()
    else:
        assert (config.dataset is None) != (config.csv is None)
        assert config.lr > 0 and math.isfinite(config.lr) and config.seed >= 0


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80) | st.lists(
    st.tuples(_KEYS, _ANY).map(lambda kv: f"{json.dumps(kv[0])} = {json.dumps(kv[1])}"),
    max_size=5).map("\n".join))
def test_random_toml_files_give_only_config_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "c.toml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        cfg.make_config(cfg.load_toml(path), source=str(path))


# --- the data and the output folder ---------------------------------------------------------
def test_too_few_samples_of_a_class_is_explained_without_internals(tmp_path):
    csv = tmp_path / "good.csv"
    csv.write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n11,12,1\n")
    line = _one_line(run("train", "--csv", csv, "--target", "a", "--out", tmp_path / "o"))
    assert line.startswith("error: 'good' has only one sample of class '1', too few to hold out "
                           "validation data"), line
    assert "--val-split 0" in line and "stratify" not in line


@pytest.mark.parametrize("name", ["history.json", "model.safetensors", "checkpoint.safetensors",
                                  "loss.png"])
def test_an_obstacle_in_the_output_folder_is_found_before_training(tmp_path, monkeypatch, name):
    (tmp_path / "out" / name).mkdir(parents=True)
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: pytest.fail("training started"))
    line = _one_line(run("train", "--dataset", "xor", "--out", tmp_path / "out", "--quiet"))
    assert line == (f"error: cannot write {tmp_path / 'out' / name}: a folder or other non-file "
                    "is in the way; remove it or choose another output folder")


# --- Ctrl-C ----------------------------------------------------------------------------------
def test_ctrl_c_before_training_is_one_line_and_exit_130(tmp_path, monkeypatch):
    def interrupt(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(preparation, "load_dataset", interrupt)
    result = run("train", "--dataset", "iris", "--out", tmp_path / "o", "--quiet")
    assert _one_line(result, 130) == "interrupted (Ctrl-C)"


def test_ctrl_c_while_the_outputs_are_written_says_what_was_written(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_history", interrupt)
    out = tmp_path / "o"
    result = run("train", "--dataset", "xor", "--epochs", "2", "--out", out, "--quiet")
    line = _one_line(result, 130)
    checkpoint = out / "checkpoint.safetensors"
    assert line == (f"interrupted while writing the outputs to {out} (written: "
                    "model.safetensors, history.json, history.csv, config.json); training had "
                    f"finished and {checkpoint} is complete: chainrule train --resume "
                    f"{checkpoint} writes them again")
    assert not (out / "loss.png").exists()

    monkeypatch.undo()
    assert run("train", "--resume", checkpoint, "--quiet").exit_code == 0
    assert (out / "loss.png").is_file()


# --- binary cross-entropy on two classes -------------------------------------------------------
@pytest.mark.parametrize("loss", ["bce_logits", "bce"])
def test_the_binary_losses_learn_xor_and_predict_classes(tmp_path, loss):
    out = tmp_path / loss
    result = run("train", "--dataset", "xor", "--loss", loss, "--hidden", "8", "--activation",
                 "tanh", "--lr", "0.05", "--epochs", "300", "--batch-size", "4",
                 "--val-split", "0", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())
    assert history["epochs"][-1]["accuracy"] == 1.0
    csv = tmp_path / "xor.csv"
    csv.write_text("x1,x2\n0,0\n0,1\n1,0\n1,1\n")
    predictions = tmp_path / "p.csv"
    assert run("predict", out / "model.safetensors", csv, "--out", predictions).exit_code == 0
    rows = [line.split(",") for line in predictions.read_text().splitlines()]
    assert rows[0] == ["row", "prediction", "probability"]
    assert [row[1] for row in rows[1:]] == ["0", "1", "1", "0"]
    assert all(0.5 < float(row[2]) <= 1 for row in rows[1:])


def test_the_binary_losses_need_two_classes(tmp_path):
    line = _one_line(run("train", "--dataset", "iris", "--loss", "bce_logits", "--out",
                         tmp_path / "o"))
    assert line == ("error: loss 'bce_logits' fits two classes (one output unit) but 'iris' "
                    "has 3; use cross_entropy")


def test_a_csv_of_zeros_and_ones_trains_with_bce(tmp_path):
    csv = tmp_path / "ok.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    result = run("train", "--csv", csv, "--target", "y", "--loss", "bce", "--epochs", "3",
                 "--out", tmp_path / "o", "--quiet")
    assert result.exit_code == 0, result.output
