"""`chainrule export` on the command line: what it writes and prints, what it refuses, the extra
it needs; that neither `import chainrule` nor the commands import onnx; docs/onnx.md's snippet."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule.cli import core
from chainrule.cli import export as command

runner = CliRunner()


def run(*args):
    return runner.invoke(core.load_commands(), [str(a) for a in args])


def _error(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    return result.output.strip()


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """A folder where `chainrule train` wrote an iris model and checkpoint."""
    pytest.importorskip("onnx")
    out = tmp_path_factory.mktemp("iris")
    result = run("train", "--dataset", "iris", "--hidden", "8", "--epochs", "3", "--out", out,
                 "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_it_writes_the_model_with_its_standardisation_and_says_what(iris, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from chainrule.runs import TrainedModel

    out = tmp_path / "iris.onnx"
    result = run("export", iris / "model.safetensors", out)
    assert result.exit_code == 0, result.output
    assert result.output == (f"wrote {out} (ONNX opset 13): features float32 [batch, 4] → "
                             "outputs float32 [batch, 3], probabilities float32 [batch, 3]\n")
    flowers = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"features": flowers.astype(np.float32)})
    trained = TrainedModel.load(iris / "model.safetensors")
    np.testing.assert_allclose(probabilities, trained.probabilities(trained.outputs(flowers)),
                               rtol=1e-6, atol=1e-6)


def test_an_existing_file_is_replaced_only_with_overwrite(iris, tmp_path):
    out = tmp_path / "iris.onnx"
    out.write_bytes(b"previous")
    assert _error(run("export", iris / "model.safetensors", out)) == (
        f"error: {out} exists; choose another file, or pass --overwrite to replace it")
    assert out.read_bytes() == b"previous"
    assert run("export", iris / "model.safetensors", out, "--overwrite").exit_code == 0
    assert out.read_bytes()[:8] != b"previous"


def test_the_model_file_itself_is_never_written_over(iris):
    model = iris / "model.safetensors"
    before = model.read_bytes()
    assert _error(run("export", model, model, "--overwrite")) == (
        f"error: {model} is the model file being exported; writing the ONNX model there would "
        "destroy it: choose another file")
    assert model.read_bytes() == before


def test_a_checkpoint_or_a_missing_file_is_refused(iris, tmp_path):
    line = _error(run("export", iris / "checkpoint.safetensors", tmp_path / "x.onnx"))
    assert line.startswith(f"error: {iris / 'checkpoint.safetensors'} is a training checkpoint")
    assert line.endswith(f"use the model file chainrule train wrote beside it: "
                         f"{iris / 'model.safetensors'}")
    assert _error(run("export", tmp_path / "none.safetensors", tmp_path / "x.onnx")) == (
        f"error: cannot read {tmp_path / 'none.safetensors'}: No such file or directory")
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_it_says_what_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(command.importlib.util, "find_spec",
                        lambda name: None if name == "onnx" else real(name))
    result = run("export", tmp_path / "model.safetensors", tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: chainrule export needs onnx: "
                                     "pip install 'chainrule[onnx]'")


def test_without_onnx_the_python_function_says_what_to_install(monkeypatch, tmp_path):
    from chainrule import nn
    from chainrule import onnx as cr_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    with pytest.raises(ModuleNotFoundError) as error:
        cr_onnx.export(nn.Linear(2, 2), tmp_path / "m.onnx")
    assert str(error.value) == "chainrule.onnx.export needs onnx: pip install 'chainrule[onnx]'"
    assert error.value.name == "onnx" and list(tmp_path.iterdir()) == []


def test_chainrule_and_its_commands_do_not_import_onnx():
    code = ("import sys, chainrule as cr, chainrule.cli.core as c; c.load_commands(); "
            "cr.onnx.OPSET; print(sorted(m for m in ('onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_snippet_in_docs_onnx_md_runs(iris, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    docs = Path(__file__).resolve().parents[2] / "docs" / "onnx.md"
    (snippet,) = re.findall(r"```python\n(.*?)```", docs.read_text(encoding="utf-8"), flags=re.S)
    monkeypatch.chdir(tmp_path)
    assert run("export", iris / "model.safetensors", "iris.onnx").exit_code == 0
    exec(compile(snippet, str(docs), "exec"), {})
    classes = ast.literal_eval(capsys.readouterr().out)
    assert len(classes) == 2 and set(classes) <= {"setosa", "versicolor", "virginica"}
