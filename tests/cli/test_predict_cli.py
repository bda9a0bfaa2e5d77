"""`chainrule predict`: what it reads, what it refuses, and what it writes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import chainrule as cr
from chainrule.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """A folder where `chainrule train` wrote an iris model and checkpoint."""
    out = tmp_path_factory.mktemp("iris")
    result = run("train", "--dataset", "iris", "--hidden", "8", "--epochs", "5", "--out", out,
                 "--quiet")
    assert result.exit_code == 0, result.output
    return out


def _error(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    return result.output.strip()


def _csv(tmp_path, content, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


FLOWERS = ("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
           "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")


def test_a_checkpoint_is_refused_naming_the_model_file(iris, tmp_path):
    line = _error(run("predict", iris / "checkpoint.safetensors", _csv(tmp_path, FLOWERS)))
    assert line == (f"error: {iris / 'checkpoint.safetensors'} is a training checkpoint, which "
                    "does not record the feature names and standardization that predict and "
                    "export need; use the model file chainrule train wrote beside it: "
                    f"{iris / 'model.safetensors'}")


def test_a_file_that_is_not_utf8_is_refused(iris, tmp_path):
    data = _csv(tmp_path, b"a,b,c,d\n5.1,3.5,1.4,\xff\n", "bin.csv")
    assert _error(run("predict", iris / "model.safetensors", data)).startswith(
        f"error: {data} is not a UTF-8 text file")


def test_nan_is_refused_naming_the_file_line_and_column(iris, tmp_path):
    data = _csv(tmp_path, FLOWERS + "\n5.0,nan,1.0,0.1\n", "nan.csv")
    assert _error(run("predict", iris / "model.safetensors", data)) == (
        f"error: {data}, line 5, column 'sepal width (cm)': 'nan' is not a finite number (NaN "
        "and inf are refused)")


def test_out_holds_full_precision_probabilities(iris, tmp_path):
    predictions = tmp_path / "p.csv"
    data = _csv(tmp_path, FLOWERS)
    assert run("predict", iris / "model.safetensors", data, "--out", predictions).exit_code == 0
    model = cr.load(iris / "model.safetensors")
    info = cr.io.load_metadata(iris / "model.safetensors")["user"]
    X = (np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]) - info["mean"]) / info["std"]
    logits = cr.train.predict(model, X)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = (shifted / shifted.sum(axis=1, keepdims=True)).max(axis=1)
    written = [row.split(",")[2] for row in predictions.read_text().splitlines()[1:]]
    assert [np.float32(text) for text in written] == list(expected)
    assert any(len(text) > 6 for text in written)  # not rounded to 4 decimals


def test_regression_outputs_are_written_in_full(tmp_path):
    out = tmp_path / "we"
    assert run("train", "--dataset", "worked-example", "--hidden", "2", "--epochs", "3",
               "--dtype", "float64", "--out", out, "--quiet").exit_code == 0
    predictions = tmp_path / "p.csv"
    data = _csv(tmp_path, "i1,i2\n0.05,0.10\n")
    assert run("predict", out / "model.safetensors", data, "--out", predictions).exit_code == 0
    header, row = predictions.read_text().splitlines()
    assert header == "row,o1,o2"
    expected = cr.train.predict(cr.load(out / "model.safetensors"), [[0.05, 0.10]])[0]
    assert [float(text) for text in row.split(",")[1:]] == list(expected)


@pytest.mark.parametrize(("metadata", "message"), [
    ({"mean": "x"}, "its metadata 'mean' must be a list of 2 finite numbers, got x"),
    ({"std": [1.0, 0.0]}, "its metadata 'std' must be a list of 2 positive numbers"),
    ({"feature_names": ["a"]}, "its metadata 'feature_names' must be a list of 2 names"),
    ({"loss": "cross_entropy", "target_names": ["a"]},
     "its metadata 'target_names' must be a list of 3 names"),
])
def test_metadata_predict_cannot_use_is_refused(tmp_path, metadata, message):
    path = tmp_path / "m.safetensors"
    cr.save_model(cr.nn.mlp([2, 3], rng=0), path, metadata=metadata)
    line = _error(run("predict", path, _csv(tmp_path, "a,b\n1,2\n")))
    assert line.startswith(f"error: {path}: {message}")


def test_a_model_saved_without_metadata_predicts_raw_outputs(tmp_path):
    path = tmp_path / "m.safetensors"
    cr.save_model(cr.nn.mlp([2, 1], rng=0), path)
    result = run("predict", path, _csv(tmp_path, "1,2\n"), "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "row,y0"
