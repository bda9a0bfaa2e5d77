"""`chainrule explain --out`: the format follows the file's extension unless --format is given;
and its text, piped to a file, has no trailing spaces."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.cli.explain import output_format

runner = CliRunner()


@pytest.mark.parametrize(("name", "fmt"), [
    ("step.html", "html"), ("step.HTM", "html"), ("step.md", "markdown"),
    ("step.markdown", "markdown"), ("step.json", "json"), ("step.txt", "text"),
    ("step", "text"), ("step.out", "text"),
])
def test_the_extension_of_out_picks_the_format(tmp_path, name, fmt):
    out = tmp_path / name
    result = runner.invoke(app, ["explain", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote the explanation ({fmt}) to {out}" in result.output
    text = out.read_text(encoding="utf-8")
    if fmt == "html":
        assert text.startswith("<!doctype html>")
    elif fmt == "json":
        assert json.loads(text)["network"]["sizes"] == [2, 2, 2]
    elif fmt == "markdown":
        assert text.startswith("# ")
    else:
        assert not text.startswith(("<", "{", "# ")) and "0.291027774" in text


def test_format_wins_for_an_extension_that_names_none(tmp_path):
    out = tmp_path / "step.out"
    result = runner.invoke(app, ["explain", "-o", str(out), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["network"]["sizes"] == [2, 2, 2]


def test_a_format_that_contradicts_the_extension_is_an_error(tmp_path):
    out = tmp_path / "step.html"
    result = runner.invoke(app, ["explain", "--out", str(out), "--format", "json"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --format json contradicts --out")
    assert "step.html" in lines[0] and ".html means html" in lines[0]
    assert not out.exists()


def test_output_format():
    assert output_format(None, None) == "text"
    assert output_format("json", None) == "json"
    assert output_format("markdown", None) == "markdown"


def test_text_piped_to_a_file_has_no_trailing_spaces(tmp_path):
    path = tmp_path / "explain.txt"
    with path.open("w", encoding="utf-8") as file:  # not a terminal
        result = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--steps", "3"],
                                stdout=file, stderr=subprocess.PIPE, text=True, timeout=120,
                                check=False)
    assert result.returncode == 0, result.stderr
    text = path.read_text(encoding="utf-8")
    assert "0.291027774" in text and "\x1b[" not in text
    lines = text.splitlines()
    assert len(lines) > 50 and any(set(line.strip()) == {"─"} or "──" in line for line in lines)
    assert [line for line in lines if line != line.rstrip()] == []


def test_text_to_a_pipe_has_no_trailing_spaces():
    result = runner.invoke(app, ["explain"])  # the runner's output is not a terminal either
    assert result.exit_code == 0
    assert "0.291027774" in result.output
    assert [line for line in result.output.splitlines() if line != line.rstrip()] == []


# --- output limits ----------------------------------------------------------------------------
def test_chains_past_max_chains_are_a_table_with_the_way_to_see_them():
    from chainrule import nn
    from chainrule.explain import explain, render_text

    model = nn.mlp([8, 8, 2], "tanh", rng=0, dtype="float64")  # 64 + 16 weights
    ex = explain(model, [0.5] * 8, [0.1, 0.9])
    text = render_text(ex, width=100)
    joined = " ".join(line.strip() for line in text.splitlines())
    assert ("The chain-rule products of the first 50 of the 80 weights are written out (output "
            "layer first), with the biases of each layer whose weights all are; the other 38 "
            "parameters are listed in a table under their layer, with their gradient. "
            "--max-chains 80 (max_chains=80) writes out every one.") in joined
    # the output layer (w65..w80, b_o1, b_o2) and w1..w34 in full; w35.., b_h1.. as a table
    for param in ("w65", "w80", "b_o2", "w1", "w34"):
        assert f"∂E/∂{param} = ∂E/∂out_" in text, param
    for param in ("w35", "w64", "b_h1"):
        assert f"∂E/∂{param} =" not in text, param
    rows = [line.split() for line in text.splitlines()]
    assert ["w35", "δ_h5", "×", "i3", f"{ex.gradient('w35').grad:.9g}"] in rows
    assert ["b_h8", "δ_h8", f"{ex.gradient('b_h8').grad:.9g}"] in rows
    assert "∂E/∂b_h" not in text
    every = render_text(explain(model, [0.5] * 8, [0.1, 0.9], max_chains=80), width=100)
    assert "∂E/∂w64 = ∂E/∂out_h8" in every and "--max-chains" not in every
    assert every.count("∂E/∂b_h") == 8
