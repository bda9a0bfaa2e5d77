"""The notebooks of examples/: stored without outputs, and every cell runs in a real kernel.

The first tests need nothing but the json module. The others execute each notebook with
nbclient and an ipykernel kernel (the [notebooks] extra; they skip without it): the kernel is
this interpreter (a kernel spec of its own, written for the test, so that no other Python's
"python3" kernel can stand in), and its working directory a temporary folder, so nothing is
written into the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
EXPECTED = {"worked_example.ipynb", "vanishing_gradients.ipynb", "digits.ipynb"}
KERNEL = "chainrule-notebook-test"


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_three_notebooks_are_there():
    assert {path.name for path in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_notebook_is_stored_as_nbformat_4_without_outputs(path):
    nb = _read(path)
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["cells"], "a notebook without cells"
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code")
        assert "".join(cell["source"]).strip(), f"cell {cell['id']} is empty"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {cell['id']} has stored outputs"
            assert cell["execution_count"] is None, f"cell {cell['id']} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_notebook_is_stored_as_nbformat_writes_it(path):
    """Opening and saving a notebook in Jupyter changes nothing: the file is in nbformat's
    own layout (one-space indent, sorted keys, a final newline)."""
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(_read(path), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- executing them -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernel spec named KERNEL that starts this interpreter, found first on JUPYTER_PATH;
    Jupyter's and IPython's own folders in the temporary folder too, so that no configuration
    of this machine's user enters and nothing is left in their home."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "chainrule tests", "language": "python"}), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(folder))
        for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            patch.setenv(variable, str(folder / variable.lower()))
        # as in any Jupyter kernel (ipykernel sets it unless the environment names a backend)
        patch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        yield KERNEL


def _execute(path: Path, kernel: str, workdir: Path) -> dict:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    check = nbformat.v4.new_code_cell("import sys, chainrule\nprint(sys.executable)\n"
                                      "print(chainrule.__file__)")
    check["id"] = "test-check"
    nb.cells.append(check)
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=120,
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    import chainrule

    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert printed.split("\n")[:2] == [sys.executable, chainrule.__file__]
    return nb


def _outputs(nb: dict, cell_id: str) -> list[dict]:
    return next(cell for cell in nb.cells if cell.get("id") == cell_id).outputs


def _html(outputs: list[dict]) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


def _text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs)


@pytest.fixture
def run(kernel, tmp_path):
    def execute(name: str) -> dict:
        nb = _execute(ROOT / "examples" / name, kernel, tmp_path)
        assert list(tmp_path.iterdir()) == []  # the notebooks write no files
        return nb

    return execute


def test_the_worked_example_notebook_runs(run):
    nb = run("worked_example.ipynb")
    summary = _html(_outputs(nb, "worked-example-02"))
    assert "chainrule-model" in summary and ">12<" in summary and ">8<" in summary
    explanation = _outputs(nb, "worked-example-04")
    assert "0.0821670406" in _html(explanation)  # ∂E/∂w5, as the explanation writes it
    assert "text/markdown" in explanation[0]["data"]
    assert "E = 0.298371109" in _text(_outputs(nb, "worked-example-06"))
    chain = _text(_outputs(nb, "worked-example-10"))
    assert "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5 = 0.082167041" in chain
    assert "the central difference gives 0.082167041" in chain
    assert "∂E/∂w5 = 0.082167041, ∂E/∂w1 = 0.000438568" in \
        _text(_outputs(nb, "worked-example-14"))
    drawing = _outputs(nb, "worked-example-14-draw")[0]["data"]["image/svg+xml"]
    assert ">W1<" in drawing and ">W2<" in drawing  # the weights, by the names given
    assert "grad min 0.000438567734" in drawing  # ∂E/∂w1 is W1's smallest gradient
    assert "value = 0.298371109" in drawing  # E, the output
    step = _outputs(nb, "worked-example-14-step-svg")[0]["data"]["image/svg+xml"]
    assert "w5 = 0.4    ∂E/∂w5 = 0.0821670406" in step
    assert "E before the step 0.298371109, after it 0.291027774" in \
        _text(_outputs(nb, "worked-example-16"))
    history = _html(_outputs(nb, "worked-example-18"))
    assert "chainrule-history" in history and "<polyline" in history
    sweep = _html(_outputs(nb, "worked-example-20"))
    assert "chainrule sweep" in sweep and "<svg" in sweep  # the loss curves, inline
    assert sweep.count("η=") >= 6


def test_the_vanishing_gradients_notebook_runs(run):
    nb = run("vanishing_gradients.ipynb")
    printed = _text(_outputs(nb, "vanishing-gradients-03"))
    assert printed.startswith("layer   sigmoid      relu\n")
    assert "sigmoid: first/last = 2.5e-08" in printed
    assert "vanishing gradients" in _html(_outputs(nb, "vanishing-gradients-05"))
    # the learner's own plot shows after chainrule has drawn the report's (runs/plots.pyplot)
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb, "vanishing-gradients-07"))
    assert "warnings: none" in _text(_outputs(nb, "vanishing-gradients-09"))
    assert "chainrule-history" in _html(_outputs(nb, "vanishing-gradients-11"))


def test_the_digits_notebook_runs(run):
    nb = run("digits.ipynb")
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb, "digits-03"))
    history = _html(_outputs(nb, "digits-07"))
    assert "validation loss" in history and "val_accuracy" in history
    accuracy = float(_text(_outputs(nb, "digits-09")).split("\n")[0].split()[-1])
    assert accuracy > 0.9
