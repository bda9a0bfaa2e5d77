"""`chainrule explain` as a user runs it, through typer's test runner."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.explain import explain

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["explain", *(str(a) for a in args)])


def test_no_options_explains_the_worked_example():
    result = run()
    assert result.exit_code == 0, result.output
    for number in ("0.593269992", "0.75136507", "0.298371109", "0.35891648", "0.149780716",
                   "0.291027774", "0.74136507 × 0.186815602 × 0.593269992"):
        assert number in result.output, number


def test_sequential_and_several_steps():
    result = run("--sequential", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "E_total = 0.291027924" in result.output
    assert "5. Several steps (3)" in result.output


def test_a_network_from_options():
    result = run("--sizes", "3,2,2", "--activation", "tanh", "--loss", "mse",
                 "--inputs", "0.1,0.2,0.3", "--targets", "0.5,-0.5", "--lr", "0.1",
                 "--seed", "3", "--update-biases")
    assert result.exit_code == 0, result.output
    assert "3 inputs → 2 hidden (tanh) → 2 outputs (tanh); mean squared error" in result.output
    assert "i3 = 0.3" in result.output and "biases updated" in result.output


@pytest.mark.parametrize("fmt", ["markdown", "html", "json", "text"])
def test_each_format_to_a_file(tmp_path, fmt):
    out = tmp_path / f"step.{fmt}"
    result = run("--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote the explanation ({fmt}) to {out}" in result.output
    text = out.read_text(encoding="utf-8")
    assert "0.291027774" in text
    assert "\x1b[" not in text
    if fmt == "json":
        assert json.loads(text)["error_after"] == pytest.approx(0.291027774, abs=5e-10)
    if fmt == "html":
        assert text.startswith("<!doctype html>") and "https://" not in text


def test_json_to_stdout_is_pure_json():
    result = runner.invoke(app, ["explain", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["network"]["sizes"] == [2, 2, 2]


def test_graph_file(tmp_path):
    path = tmp_path / "step.dot"
    result = run("--graph", path, "--format", "markdown", "--out", tmp_path / "step.md")
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8").startswith("digraph step {")
    assert f"wrote the graph to {path}" in " ".join(result.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.dot", "step.md"]


def test_svg_graph_is_drawn_without_graphviz(tmp_path, monkeypatch):
    """chainrule draws the SVG itself: no `dot` program on the PATH, and none is looked for."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(shutil, "which", lambda name: pytest.fail(f"looked for {name}"))
    path = tmp_path / "step.SVG"
    result = run("--graph", path, "--format", "markdown", "--out", tmp_path / "step.md")
    assert result.exit_code == 0, result.output
    svg = path.read_text(encoding="utf-8")
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert "∂E/∂w5 = 0.0821670406" in svg
    assert svg == explain().render("svg")


def test_toml_config(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('sizes = [2, 3, 1]\nactivation = "relu"\noutput_activation = "identity"\n'
                    'seed = 4\nlr = 0.2\n', encoding="utf-8")
    result = run("--config", path, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "2 inputs → 3 hidden (relu) → 1 output (identity)" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--sizes", "2,x"], "--sizes: expected comma-separated whole numbers"),
    (["--sizes", "10,10,10", "--max-weights", "100"], "200 weights; explain computes at most "
                                                      "max_weights = 100"),
    (["--format", "pdf"], "--format: expected one of text, markdown, html, json, xlsx, got"),
    (["--loss", "hinge", "--lr", "-1"], "2 problems"),
    (["--inputs", "1,2,3"], "inputs: expected 2 values"),
    (["--config", "missing.toml"], "does not exist"),
    (["--config", "."], "config file . is a folder"),
    (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
    (["--loss", "cross_entropy", "--targets", "7"], "targets: for cross_entropy"),
])
def test_user_mistakes_exit_2_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_bad_toml_reports_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('lr = "fast"\nsizez = [2, 2]\n', encoding="utf-8")
    result = run("--config", path)
    assert result.exit_code == 2
    assert "2 problems: lr: Input should be a valid number; sizez: unknown key" in result.output


def test_a_negative_seed_in_a_config_file_is_a_user_error(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text("sizes = [3, 3, 2]\nseed = -5\n", encoding="utf-8")
    result = run("--config", path)
    assert result.exit_code == 2
    assert result.output.strip() == \
        f"error: {path}: 1 problem: seed: Input should be greater than or equal to 0"


@pytest.mark.parametrize("name", ["g.png", "g.txt", "graph"])
def test_graph_only_in_dot_or_svg(tmp_path, name):
    result = run("--graph", tmp_path / name)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --graph: ")
    assert ".dot or .gv" in lines[0] and ".svg" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("graph", "out"), [("same.dot", "same.dot"), ("g.svg", "g.svg")])
def test_graph_and_out_must_be_different_files(tmp_path, monkeypatch, graph, out):
    monkeypatch.chdir(tmp_path)
    result = run("--graph", graph, "--out", f"./{out}", "--format", "markdown")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is also where --graph writes" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_huge_learning_rate_does_not_leak_a_warning():
    # pytest turns RuntimeWarning into an error, so a leaked overflow warning fails here
    result = run("--lr", "1e300", "--steps", "5")
    assert result.exit_code == 0, result.output
    assert "5. Several steps (5)" in result.output and "Warning" not in result.output
