"""Each output format: terminal text, Markdown, self-contained HTML, JSON, and the DOT graph."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from typing import ClassVar

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.explain import explain, render, render_text
from chainrule.explain.graph import to_dot, to_svg
from chainrule.explain.render_json import to_json_data


@pytest.fixture(scope="module")
def ex():
    return explain(steps=3)


@pytest.fixture(scope="module")
def deep():
    model = nn.mlp([3, 3, 2, 2], "tanh", None, rng=5, dtype="float64")
    return explain(model, [0.2, 0.5, 0.9], 1, "cross_entropy", 0.4, steps=40)


# --- text -----------------------------------------------------------------------------------
def test_text_shows_every_step_with_the_notes_numbers(ex):
    text = render_text(ex)
    for expected in (
        "net_h1 = w1·i1 + w2·i2 + b_h1 = 0.15 × 0.05 + 0.2 × 0.1 + 0.35 = 0.3775",
        "out_h1 = σ(net_h1) = 1 / (1 + e^(−0.3775)) = 0.593269992",
        "E_total = E_o1 + E_o2 = 0.274811083 + 0.0235600256 = 0.298371109",
        "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5",
        "= 0.74136507 × 0.186815602 × 0.593269992 = 0.0821670406",
        "∂E/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1",
        "∂E_o1/∂out_h1 = δ_o1 × w5 = 0.138498562 × 0.4 = 0.0553994247",
        "computed once; reused by w5, w6, b_o1, δ_h1, δ_h2",
        "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648",
        "w1⁺ = 0.15 − 0.5 × 0.000438567734 = 0.149780716",
        "E_total = 0.291027774",
        "0.291027924",
        "b_h1 = 0.35   fixed",
    ):
        assert expected in text, expected
    assert "\x1b[" not in text  # plain unless asked


@pytest.mark.parametrize("width", [80, 100])
def test_text_fits_the_terminal(ex, deep, width):
    for explanation in (ex, deep):
        lines = render_text(explanation, width=width).splitlines()
        assert max(len(line) for line in lines) <= width


def test_text_in_colour_and_on_a_console(ex):
    from io import StringIO

    from rich.console import Console

    assert "\x1b[" in render_text(ex, color=True)
    buffer = StringIO()
    assert render_text(ex, console=Console(file=buffer, width=90)) is None
    assert "0.291027774" in buffer.getvalue()


def test_text_of_several_steps_keeps_to_the_width(deep):
    text = render_text(deep, width=80)
    assert "5. Several steps (40)" in text and "more columns" in text
    assert re.search(r"^\s+40\s+0\.\d+", text, re.MULTILINE)


# --- Markdown -------------------------------------------------------------------------------
def test_markdown_has_headings_equations_and_tables(ex):
    md = render(ex, "markdown")
    lines = md.splitlines()
    assert lines[0] == "# chainrule explain: one training step, every chain-rule step"
    for heading in ("## 1. Forward pass", "## 2. Backward pass",
                    "## 3. Check from first principles", "## 4. Update",
                    "## 5. Several steps (3)"):
        assert heading in lines
    assert md.count("```text") == md.count("```") // 2
    assert "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5" in lines
    assert any(line.strip().startswith("= 0.74136507 × 0.186815602 × 0.593269992 = "
                                       "0.0821670406") for line in lines)
    assert "| param | backprop ∂E/∂w | central difference | difference |" in lines
    assert any(line.startswith("| w5 | 0.0821670406 | 0.0821670406 |") for line in lines)
    assert "| 1 | 0.291027774 | 0.1497807 |" in md
    assert "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648" in md


# --- HTML -----------------------------------------------------------------------------------
class _Tags(HTMLParser):
    VOID: ClassVar = {"meta", "br", "hr", "img", "input", "link", "circle", "line"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_well_formed(ex):
    page = render(ex, "html")
    assert page.startswith("<!doctype html>")
    assert not re.search(r"https?://|//cdn|@import|url\(", page)
    parser = _Tags()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == []
    tags = {tag for tag, _ in parser.tags}
    assert not tags & {"script", "link", "img", "iframe", "object"}
    assert all("src" not in attrs and "href" not in attrs for _, attrs in parser.tags)
    assert "svg" in tags and "style" in tags


def test_html_contains_the_numbers_with_subscripts(ex):
    page = render(ex, "html")
    for number in ("0.593269992", "0.75136507", "0.298371109", "0.35891648", "0.149780716",
                   "0.291027774", "0.291027924"):
        assert number in page
    assert "net<sub>h1</sub>" in page and "δ<sub>o1</sub>" in page
    assert "update_biases=True" in page  # notes are not subscripted


# --- JSON -----------------------------------------------------------------------------------
def test_json_round_trips_every_value(ex, deep):
    for explanation in (ex, deep):
        data = json.loads(render(explanation, "json"))
        assert data == to_json_data(explanation)
        assert data["format"] == "chainrule-explain" and data["version"] == 1
        assert {k: v for k, v in data.items() if k not in ("format", "version")} == \
            explanation.to_dict()
        for g, d in zip(explanation.gradients, data["gradients"], strict=True):
            assert d["grad"] == g.grad and d["param"] == g.param
            assert [f["value"] for f in d["factors"]] == [f.value for f in g.factors]
    data = json.loads(render(ex, "json"))
    assert data["error_after"] == ex.error_after
    assert data["forward"][0][0]["name"] == "h1"
    assert data["deltas"][0][0]["used_by"] == ["w5", "w6", "b_o1", "δ_h1", "δ_h2"]


def test_json_writes_null_for_numbers_that_are_not_finite():
    model = nn.mlp([1, 1], "identity", "identity", rng=0, dtype="float64")
    ex = explain(model, [1e3], [0.0], "mse", lr=10.0, steps=40)
    data = json.loads(render(ex, "json"))
    assert data["steps"][-1]["error"] is None
    assert not np.isfinite(ex.steps[-1].error)


def test_unknown_format_is_refused(ex):
    with pytest.raises(ConfigError, match="unknown format 'pdf'"):
        render(ex, "pdf")


# --- the graph ------------------------------------------------------------------------------
def test_dot_lists_every_tensor_with_value_and_gradient(ex):
    dot = to_dot(ex)
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph step {" and lines[-1] == "}"
    node = re.compile(r'^  (n\d+) \[label="(.*)", fillcolor="#[0-9a-f]{6}"\];$')
    edge = re.compile(r"^  (n\d+) -> (n\d+);$")
    nodes = {m.group(1): m.group(2) for line in lines if (m := node.match(line))}
    edges = [(m.group(1), m.group(2)) for line in lines if (m := edge.match(line))]
    assert len(nodes) == len(ex.graph.nodes) == 11  # i, W1, b1, net, out, W2, b2, net, out, t, E
    assert len(edges) == len(ex.graph.edges) == 10
    assert all(a in nodes and b in nodes for a, b in edges)
    labels = " ".join(nodes.values())
    assert "net[h] = linear(i, W1, b1)" in labels
    assert "E = half_squared_error(out[o], t)" in labels
    assert "w5 = 0.4    ∂E/∂w5 = 0.0821670406" in labels
    assert "out_h1 = 0.593269992    ∂E/∂out_h1 = 0.0363503064" in labels
    assert dot.count("{") == dot.count("}") and dot.count('"') % 2 == 0


def test_dot_for_a_deeper_network_has_every_layer(deep):
    labels = [n.title for n in deep.graph.nodes]
    assert labels.count("W1") == labels.count("W2") == labels.count("W3") == 1
    assert "net[h1]" in labels and "out[h2]" in labels and "net[o]" in labels


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_when_graphviz_is_installed(ex):
    svg = to_svg(to_dot(ex))
    assert svg is not None and "<svg" in svg and "0.0821670406" in svg


def test_svg_is_none_without_graphviz(ex, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert to_svg(to_dot(ex)) is None
