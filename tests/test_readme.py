"""The README's Python examples run as written, and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


EXTRAS = "from chainrule.sklearn import"  # the block that needs the [sklearn,onnx] extras


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = [block for block in python_blocks() if EXTRAS not in block]
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The engine tour: ∂E/∂w1 of the worked example's first hidden weight.
    assert namespace["E"].item() == pytest.approx(0.298371109, abs=1e-9)
    assert namespace["W2"].grad[0, 0] == pytest.approx(0.082167041, abs=1e-9)
    assert namespace["W1"].grad[0, 0] == pytest.approx(0.000438568, abs=1e-9)
    # A user's op and the functional gradient: the same ∂E/∂w1, no .grad changed.
    assert (namespace["theta"].grad == np.cos(namespace["theta"].numpy())).all()
    assert namespace["dE_dW1"][0, 0] == pytest.approx(0.000438568, abs=1e-9)
    # The training tour: digits, held-out accuracy.
    assert namespace["history"].final["val_accuracy"] >= 0.97
    # The run layer: a finished run, and its model predicts a setosa.
    assert namespace["result"].status == "finished"
    assert namespace["iris"].predict_csv("new_irises.csv").rows[0][1] == "setosa"
    # Files: the saved model loads back with the same weights.
    loaded = namespace["model"].state_dict()
    for key, value in namespace["cr"].load("model.safetensors").state_dict().items():
        assert (value == loaded[key]).all()


def test_the_readme_extras_example_runs(tmp_path, monkeypatch):
    """scikit-learn's grid search over chainrule's classifier, saved and exported to ONNX."""
    pytest.importorskip("sklearn")
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    [block] = [block for block in python_blocks() if EXTRAS in block]
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    assert namespace["search"].best_params_ == {"lr": 3e-2}
    assert namespace["best"].score(namespace["iris"].X, namespace["iris"].y) > 0.9
    assert (tmp_path / "iris.safetensors").exists() and (tmp_path / "iris.onnx").exists()
    assert abs(namespace["onnx_proba"] - namespace["best"].predict_proba(
        namespace["iris"].X[:5])).max() < 1e-6
