"""Each output format: terminal text, Markdown, self-contained HTML, JSON, the graph (DOT, SVG)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import ClassVar
from xml.etree import ElementTree

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.examples import INPUTS, TARGETS, worked_example_model
from chainrule.explain import explain, render, render_text
from chainrule.explain.config import build_network, make_config
from chainrule.explain.graph import to_dot, to_svg
from chainrule.explain.render_html import PAGE_COLUMNS


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


@pytest.mark.parametrize("width", [80, 200])
def test_text_of_several_steps_shows_every_parameter(ex, deep, width):
    for explanation in (ex, deep):
        text = render_text(explanation, width=width)
        steps = text[text.index("5. Several steps"):]
        headers = [line.split() for line in steps.splitlines()
                   if line.split()[:1] == ["step"]]
        # the weights are cut into tables that fit, each repeating the step column
        shown = [name for header in headers for name in header[1:]]
        assert shown == ["E_total", *explanation.steps[0].params]
        assert "more columns" not in text
        assert max(len(line) for line in text.splitlines()) <= width
        # every table has a row for each step shown, down to the last
        last = re.findall(rf"^\s+{explanation.steps[-1].step}\s+-?\d", steps, re.MULTILINE)
        assert len(last) == len(headers)


@pytest.mark.parametrize(("loss", "formula"), [
    ("bce", "E = −(1/2) Σ_o [t_o·ln(out_o) + (1 − t_o)·ln(1 − out_o)]"),
    ("cross_entropy", "E = −ln(p_k), p = softmax(net_o), k = the target class"),
])
def test_text_header_shows_the_whole_error_formula(loss, formula):
    # rich reads "[...]" in a plain string as markup and drops it; the header must not
    model, x, target = build_network(make_config(
        {"sizes": [3, 3, 2], "activation": "relu", "loss": loss, "seed": 1}))
    ex = explain(model, x, target, loss, 0.5)
    for text in (render_text(ex), render_text(ex, color=True)):
        header = text[:text.index("Notation")]
        assert f"error    {formula}" in re.sub(r"\x1b\[[0-9;]*m", "", header)
    if loss == "cross_entropy":
        assert f"target class {target} (o{target + 1}), one-hot" in render_text(ex)


def test_relu_slope_reads_as_a_true_equation():
    model, x, target = build_network(make_config(
        {"sizes": [3, 3, 2], "activation": "relu", "loss": "bce", "seed": 1}))
    ex = explain(model, x, target, "bce", 0.5)
    dead = "∂out_h1/∂net_h1 = 1 if net_h1 > 0, else 0 = 0   (net_h1 = -0.5978 ≤ 0)"
    live = "∂out_h2/∂net_h2 = 1 if net_h2 > 0, else 0 = 1   (net_h2 = 0.5743 > 0)"
    for text in (render_text(ex), render(ex, "markdown")):
        assert dead in text and live in text
        assert "else 0 = net" not in text
    page = render(ex, "html")
    assert '<span class="step">= <span class="res">0</span></span>' \
        '<span class="cond">(net<sub>h1</sub> = -0.5978 ≤ 0)</span>' in page
    assert ex.delta("h1").dout_dnet.note == "(net_h1 = -0.5978 ≤ 0)"


def test_notation_mentions_hidden_units_only_when_there_are_some():
    model, x, target = build_network(make_config({"sizes": [2, 2], "seed": 1}))
    text = render_text(explain(model, x, target))
    notation = text[text.index("Notation"):text.index("1. Forward pass")]
    assert "hidden" not in notation and "b_h1" not in notation
    assert "Inputs i, outputs o. Each unit" in notation
    notation = render(explain(), "markdown").split("## Notation")[1].split("##")[0]
    assert "Inputs i, hidden units h, outputs o." in notation and "(b_h1, b_o1, ...)" in notation


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


def test_html_steps_tables_fit_the_page(ex):
    page = render(explain(steps=3, update_biases=True), "html")
    steps = page[page.index("5. Several steps"):]
    tables = re.findall(r"<thead><tr>(.*?)</tr></thead>", steps)
    headers = [re.sub(r"</?sub>", "_", h).replace("__", "_").rstrip("_")
               for h in re.findall(r"<th[^>]*>(.*?)</th>", "".join(tables))]
    assert len(tables) > 1 and headers.count("step") == len(tables)
    params = [h for h in headers if h != "step"]
    assert params == ["E_total", *[f"w{i}" for i in range(1, 9)],
                      "b_h1", "b_h2", "b_o1", "b_o2"]
    for table in re.findall(r"<table>.*?</table>", steps):
        rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
                for row in re.findall(r"<tr>(.*?)</tr>", table)]
        widths = [max(len(re.sub(r"<[^>]+>", "", cell)) for cell in column) + 3
                  for column in zip(*rows, strict=True)]
        assert sum(widths) <= PAGE_COLUMNS  # characters, with about 3 of padding a cell


def test_html_contains_the_numbers_with_subscripts(ex):
    page = render(ex, "html")
    for number in ("0.593269992", "0.75136507", "0.298371109", "0.35891648", "0.149780716",
                   "0.291027774", "0.291027924"):
        assert number in page
    assert "net<sub>h1</sub>" in page and "δ<sub>o1</sub>" in page
    assert "update_biases=True" in page  # notes are not subscripted


# --- JSON -----------------------------------------------------------------------------------
def test_json_holds_the_notes_numbers_and_the_engines_gradients(ex):
    data = json.loads(render(ex, "json"))
    assert data["format"] == "chainrule-explain" and data["version"] == 1
    assert data["network"]["sizes"] == [2, 2, 2]
    # the notes' published numbers, to the digits they print
    h1, o1 = data["forward"][0][0], data["forward"][1][0]
    assert h1["name"] == "h1" and h1["net"] == pytest.approx(0.3775, abs=1e-15)
    assert round(h1["out"], 9) == 0.593269992 and round(o1["out"], 8) == 0.75136507
    assert round(data["error"], 9) == 0.298371109
    assert round(data["error_after"], 9) == 0.291027774
    assert round(data["error_after_other"], 9) == 0.291027924
    grads = {g["param"]: g for g in data["gradients"]}
    assert [round(f["value"], 9) for f in grads["w5"]["factors"]] == \
        [0.74136507, 0.186815602, 0.593269992]
    assert round(grads["w5"]["grad"], 9) == 0.082167041
    updates = {u["param"]: u for u in data["updates"]}
    assert round(updates["w5"]["after"], 8) == 0.35891648
    assert round(updates["w1"]["after"], 9) == 0.149780716
    assert data["deltas"][0][0]["used_by"] == ["w5", "w6", "b_o1", "δ_h1", "δ_h2"]
    assert [round(row["error"], 9) for row in data["steps"][:2]] == [0.298371109, 0.291027774]
    # every gradient is the engine's, from a plain forward and backward pass on the model
    model = worked_example_model(train_biases=True)
    nn.HalfSquaredError()(model(INPUTS), TARGETS).backward()
    engine = dict(zip([f"w{i}" for i in range(1, 9)] + ["b_h1", "b_h2", "b_o1", "b_o2"],
                      np.concatenate([model[0].weight.grad.ravel(), model[2].weight.grad.ravel(),
                                      model[0].bias.grad, model[2].bias.grad]), strict=True))
    assert set(grads) == set(engine)
    for name, grad in engine.items():
        assert grads[name]["grad"] == pytest.approx(grad, abs=1e-16), name
        assert grads[name]["numeric"] == pytest.approx(grad, abs=1e-9), name


def test_json_writes_null_for_numbers_that_are_not_finite():
    model = nn.mlp([1, 1], "identity", "identity", rng=0, dtype="float64")
    ex = explain(model, [1e3], [0.0], "mse", lr=10.0, steps=40)
    data = json.loads(render(ex, "json"))
    assert data["steps"][-1]["error"] is None
    assert not np.isfinite(ex.steps[-1].error)
    assert any(note.startswith("Diverged: after step ") for note in ex.notes)


def test_overflow_is_reported_not_warned():
    # pytest turns RuntimeWarning into an error: an overflow in the update must not warn
    ex = explain(lr=1e300, steps=5)
    assert len(ex.steps) == 6 and "Several steps (5)" in render_text(ex)
    model = nn.mlp([2, 3, 2], "relu", "identity", rng=3, dtype="float64")
    ex = explain(model, [0.5, 0.9], [0.1, 0.2], "mse", lr=1e30, steps=30, sequential=True)
    assert any(note.startswith("Diverged") for note in ex.notes)
    for fmt in ("text", "markdown", "html", "json"):
        render(ex, fmt)


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


def test_svg_is_chainrules_own_drawing_of_the_same_graph(ex):
    """No Graphviz: the SVG holds a box per tensor and an arrow per edge, with every label."""
    svg = to_svg(ex)
    assert svg == ex.render("svg") and "<script" not in svg and "href" not in svg
    root = ElementTree.fromstring(svg)
    groups = root.iter("{http://www.w3.org/2000/svg}g")
    classes = [g.get("class", "").split()[0] for g in groups]
    assert classes.count("node") == len(ex.graph.nodes) == 11
    assert classes.count("edge") == len(ex.graph.edges) == 10
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "net[h] = linear(i, W1, b1)" in texts
    assert "w5 = 0.4    ∂E/∂w5 = 0.0821670406" in texts
    assert texts[0] == f"{ex.network.description}: E = 0.298371109"
