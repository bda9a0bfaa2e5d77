"""The layer notation (Note [two notations]): the same step written as z⁽ᴸ⁾, a⁽ᴸ⁾, w⁽ᴸ⁾ⱼₖ, C₀, y.

The notes' layer-indexed chain of single neurons: z⁽ᴸ⁾ = w⁽ᴸ⁾a⁽ᴸ⁻¹⁾ + b⁽ᴸ⁾, a⁽ᴸ⁾ = σ(z⁽ᴸ⁾),
C₀ = (a⁽ᴸ⁾ − y)², ∂C₀/∂w⁽ᴸ⁾ = ∂z⁽ᴸ⁾/∂w⁽ᴸ⁾ · ∂a⁽ᴸ⁾/∂z⁽ᴸ⁾ · ∂C₀/∂a⁽ᴸ⁾. Only the symbols differ
from the unit notation: every number is the same, and the names that identify things (w5, h1)
are the unit notation's in both.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule import nn
from chainrule.cli import app
from chainrule.errors import ConfigError
from chainrule.examples import worked_example_model
from chainrule.explain import explain
from chainrule.explain.config import make_config
from chainrule.explain.notation import Naming
from chainrule.nn.init import set_values_

UNIT_SYMBOLS = ("net_", "out_", "δ_", "t_o", "E_total", "E_o", "∂E/", "b_h", "b_o", "Σ_o",
                "E[", "∂E[", "Σ_k")
#: a batch of four samples for the 2-2-2 worked example's network
BATCH_X = [[0.05, 0.10], [0.2, 0.3], [0.9, 0.1], [0.5, 0.5]]
BATCH_T = [[0.01, 0.99], [0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]


@pytest.fixture(scope="module")
def worked():
    return explain(notation="layer", steps=2)


def _chain(loss="mse"):
    """A chain of single neurons with round numbers: x = 1, w⁽¹⁾ = 0.5, b⁽¹⁾ = 0.1,
    w⁽²⁾ = -0.3, b⁽²⁾ = 0.2, y = 0.25."""
    first, second = nn.Linear(1, 1, dtype="float64"), nn.Linear(1, 1, dtype="float64")
    for layer, (w, b) in ((first, (0.5, 0.1)), (second, (-0.3, 0.2))):
        set_values_(layer.weight, [[w]])
        set_values_(layer.bias, [b])
    model = nn.Sequential(first, nn.Sigmoid(), second, nn.Sigmoid())
    return model, [1.0], [0.25], loss


def _lines(text):
    return [line.strip() for line in text.splitlines()]


# --- the worked example -----------------------------------------------------------------------
def test_the_worked_example_in_layer_notation(worked):
    text = worked.render("text")
    lines = _lines(text)
    for expected in (
        "z⁽¹⁾₁ = w⁽¹⁾₁₁·a⁽⁰⁾₁ + w⁽¹⁾₁₂·a⁽⁰⁾₂ + b⁽¹⁾₁ = 0.15 × 0.05 + 0.2 × 0.1 + 0.35 = 0.3775",
        "a⁽¹⁾₁ = σ(z⁽¹⁾₁) = 1 / (1 + e^(−0.3775)) = 0.593269992",
        "C₀ = ½(a⁽²⁾₁ − y₁)² + ½(a⁽²⁾₂ − y₂)²",
        "δ⁽²⁾₁ = ∂C₀/∂z⁽²⁾₁ = ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁",
        "∂C₀/∂a⁽²⁾₁ = a⁽²⁾₁ − y₁ = 0.75136507 − 0.01 = 0.74136507",
        "∂C₀/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁",
        "= 0.593269992 × 0.186815602 × 0.74136507 = 0.0821670406",
        "= a⁽¹⁾₁ · δ⁽²⁾₁ (δ⁽²⁾₁ reused)",
        "∂C₀/∂a⁽¹⁾₁ = w⁽²⁾₁₁ · δ⁽²⁾₁ + w⁽²⁾₂₁ · δ⁽²⁾₂   a⁽¹⁾₁ feeds a⁽²⁾₁, a⁽²⁾₂: one term "
        "per path",
        "w⁽²⁾₁₁ · δ⁽²⁾₁ = 0.4 × 0.138498562 = 0.0553994247   δ⁽²⁾₁ reused",
        "w⁽²⁾₁₁⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648   ↓ lowered: positive slope",
        "w⁽¹⁾₁₁⁺ = 0.15 − 0.5 × 0.000438567734 = 0.149780716   ↓ lowered: positive slope",
        "b⁽¹⁾₁ = 0.35   fixed",
        "C₀ = 0.291027774   before: 0.298371109, change -0.00734333507",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    assert "= ½(0.75136507 − 0.01)² + ½(0.772928465 − 0.99)²" in text
    assert "0.274811083 + 0.0235600256 = 0.298371109" in text
    assert "  sample   a⁽⁰⁾₁ = 0.05, a⁽⁰⁾₂ = 0.1; targets y₁ = 0.01, y₂ = 0.99" in text
    assert "(w5 of the unit notation is w⁽²⁾₁₁)" in text.replace("\n  ", " ")
    # the names that identify things stay: the notes' ∂E/∂w5 and the step they print
    assert round(worked.gradient("w5").grad, 9) == 0.082167041
    assert (round(worked.error, 9), round(worked.error_after, 9)) == (0.298371109, 0.291027774)


def test_the_half_is_the_engines_and_said_so(worked):
    text = " ".join(worked.render("text").split())
    assert "error C₀ = ½ Σⱼ (a⁽²⁾ⱼ − yⱼ)²" in text
    assert ("The notes' C₀ = Σⱼ (a⁽ᴸ⁾ⱼ − yⱼ)² has no ½, so their ∂C₀/∂a⁽²⁾ is twice the one "
            "below") in text
    mse = explain(*_chain("mse"), notation="layer").render("text")
    assert "has no ½" not in mse  # mse on one output is the notes' C₀ itself


def _strings(value, key=""):
    """The string values of a JSON tree, but for the names that identify things."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return [value] if isinstance(value, str) and key not in ("param", "unit", "name", "via") \
        else []


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json", "dot"])
def test_no_unit_symbol_is_left_in_any_format(worked, fmt):
    ex = explain(nn.mlp([3, 3, 2, 2], "relu", None, rng=5, dtype="float64"), [0.2, 0.5, 0.9],
                 1, "cross_entropy", 0.4, notation="layer", steps=3, sequential=True)
    # batches: every table, sum and note of one, some chains and samples left out
    batch = explain(worked_example_model(), BATCH_X, BATCH_T, notation="layer", sample=1,
                    max_chains=3, max_samples=2, steps=2)
    classes = explain(nn.mlp([2, 3, 2], "tanh", None, rng=1, dtype="float64"), BATCH_X[:3],
                      [1, 0, 1], "cross_entropy", notation="layer", sample=2)
    for explanation in (worked, ex, batch, classes):
        text = explanation.render(fmt)
        if fmt == "json":
            data = json.loads(text)
            del data["symbols"]  # name → symbol, the names included
            text = "\n".join(_strings(data))
        leaked = [s for s in UNIT_SYMBOLS if s in text]
        assert leaked == [], leaked


def test_a_batch_in_the_layer_notation_marks_each_sample_with_k():
    unit = explain(worked_example_model(), BATCH_X, BATCH_T, sample=1)
    ex = explain(worked_example_model(), BATCH_X, BATCH_T, sample=1, notation="layer")
    lines = _lines(ex.render("text"))
    g = ex.gradient("w5")
    for expected in (
        "error    C = (1/4) Σₖ C₀[k] over the samples k, each C₀[k] = ½ Σⱼ (a⁽²⁾ⱼ − yⱼ)²",
        "C₀[1] = ½(a⁽²⁾₁ − y₁)² + ½(a⁽²⁾₂ − y₂)²",
        "C = (1/4) Σₖ C₀[k]",
        "∂C₀[1]/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁",
        "∂C/∂w⁽²⁾₁₁ = (1/4) Σₖ ∂C₀[k]/∂w⁽²⁾₁₁",
        "= (1/4) Σₖ a⁽¹⁾₁[k] · δ⁽²⁾₁[k]",
        "δ = ∂C₀/∂z is computed once",
        "C = " + f"{ex.error_after:.9g}",
    ):
        assert any(expected in line for line in lines), expected
    assert "δ⁽²⁾₁[k]" in ex.render("markdown")  # the δ table's header
    # the same numbers as the unit notation's: only the symbols differ
    assert g.terms == unit.gradient("w5").terms and g.grad == unit.gradient("w5").grad
    focus = ex.render("text", focus="w5")
    assert "∂C₀[1]/∂w⁽²⁾₁₁" in focus and "∂C/∂w⁽²⁾₁₁ = (1/4) Σₖ ∂C₀[k]/∂w⁽²⁾₁₁" in focus
    assert json.loads(ex.render("json"))["symbols"]["error"] == "C"


# --- a chain of single neurons ----------------------------------------------------------------
def test_a_chain_of_single_neurons_reads_like_the_notes():
    model, x, y, loss = _chain("mse")
    ex = explain(model, x, y, loss, 0.5, notation="layer")
    lines = _lines(ex.render("text"))
    # the forward pass, by hand: z⁽¹⁾ = 0.5·1 + 0.1, a⁽¹⁾ = σ(z⁽¹⁾), z⁽²⁾ = −0.3·a⁽¹⁾ + 0.2
    a1 = 1 / (1 + math.exp(-0.6))
    z2 = -0.3 * a1 + 0.2
    a2 = 1 / (1 + math.exp(-z2))
    dC_da2, da2_dz2 = 2 * (a2 - 0.25), a2 * (1 - a2)
    for expected in (
        "error    C₀ = (a⁽²⁾ − y)²",
        "z⁽¹⁾ = w⁽¹⁾·a⁽⁰⁾ + b⁽¹⁾ = 0.5 × 1 + 0.1 = 0.6",
        f"a⁽¹⁾ = σ(z⁽¹⁾) = 1 / (1 + e^(−0.6)) = {a1:.9g}",
        f"z⁽²⁾ = w⁽²⁾·a⁽¹⁾ + b⁽²⁾ = (-0.3) × {a1:.9g} + 0.2 = {z2:.9g}",
        f"C₀ = (a⁽²⁾ − y)² = ({a2:.9g} − 0.25)² = {(a2 - 0.25) ** 2:.9g}",
        f"∂C₀/∂a⁽²⁾ = 2(a⁽²⁾ − y) = 2 × ({a2:.9g} − 0.25) = {dC_da2:.9g}",
        "δ⁽²⁾ = ∂C₀/∂z⁽²⁾ = ∂a⁽²⁾/∂z⁽²⁾ · ∂C₀/∂a⁽²⁾",
        "∂C₀/∂w⁽²⁾ = ∂z⁽²⁾/∂w⁽²⁾ · ∂a⁽²⁾/∂z⁽²⁾ · ∂C₀/∂a⁽²⁾",
        f"= {a1:.9g} × {da2_dz2:.9g} × {dC_da2:.9g} = {a1 * da2_dz2 * dC_da2:.9g}",
        "∂C₀/∂w⁽¹⁾ = ∂z⁽¹⁾/∂w⁽¹⁾ · ∂a⁽¹⁾/∂z⁽¹⁾ · ∂C₀/∂a⁽¹⁾",
        "∂C₀/∂a⁽¹⁾ = w⁽²⁾ · δ⁽²⁾   a⁽¹⁾ feeds a⁽²⁾: one term per path",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    assert ex.gradient("w2").grad == pytest.approx(a1 * da2_dz2 * dC_da2, rel=1e-12)
    # single neurons need no unit index: the only subscript is C₀'s
    text = ex.render("text")
    assert re.findall("[₀-₉ⱼₖ]", text.replace("C₀", "")) == []


def test_a_layer_fed_by_one_weight_is_not_a_range():
    chain = explain(*_chain(), notation="unit").render("text")
    prose = " ".join(chain.split())
    assert "w1 feeds the hidden layer; w2 feeds the output." in prose
    assert re.findall(r"w\d+\.\.w\d+", prose) == []
    deeper = explain(nn.mlp([1, 1, 1, 1], "tanh", "identity", rng=1, dtype="float64"), [0.5],
                     [0.1], "mse", 0.1).render("markdown")
    assert "w1 feeds hidden layer 1; w2 feeds hidden layer 2; w3 feeds the output." in deeper
    worked = " ".join(explain().render("text").split())
    assert "w1..w4 feed the hidden layer; w5..w8 feed the outputs." in worked


# --- the numbers are the notation's only constant ---------------------------------------------
def _numbers_only(value):
    """Every number of a to_dict() tree, the strings left out (they are the symbols)."""
    if isinstance(value, dict):
        return {k: _numbers_only(v) for k, v in value.items() if not isinstance(v, str)}
    if isinstance(value, list):
        return [_numbers_only(v) for v in value if not isinstance(v, str)]
    return value


_NUMBER = re.compile(r"(?<![\w.⁽])-?\d+(?:\.\d+)?(?:e[-+]\d+)?(?![\w])")


def _printed_numbers(text):
    """The numbers printed after the notation's legend (symbols' digits excluded)."""
    return set(_NUMBER.findall(text[text.index("1. Forward pass"):]))


NETWORKS = [
    ("worked", lambda n: explain(notation=n, steps=3, update_biases=True)),
    ("worked-sequential", lambda n: explain(notation=n, sequential=True)),
    ("chain", lambda n: explain(*_chain("half_sse"), notation=n)),
    ("deep-ce", lambda n: explain(nn.mlp([3, 3, 2, 2], "tanh", None, rng=5, dtype="float64"),
                                  [0.2, 0.5, 0.9], 1, "cross_entropy", 0.4, notation=n)),
    ("wide-relu", lambda n: explain(nn.mlp([2, 4, 3], "relu", "identity", rng=3,
                                           dtype="float64"), [0.3, -0.8], [0.1, 0.7, 0.2],
                                    "mse", 0.1, notation=n)),
    ("bce", lambda n: explain(nn.mlp([2, 2, 1], "leaky_relu", "sigmoid", rng=2,
                                     dtype="float64"), [0.4, 0.9], [1.0], "bce", 0.3,
                              notation=n)),
]


@pytest.mark.parametrize("make", [m for _, m in NETWORKS], ids=[n for n, _ in NETWORKS])
def test_every_number_is_the_same_in_both_notations(make):
    unit, layer = make("unit"), make("layer")
    assert _numbers_only(unit.to_dict()) == _numbers_only(layer.to_dict())
    for fmt in ("text", "markdown"):
        printed = _printed_numbers(unit.render(fmt))
        assert len(printed) > 20 and printed == _printed_numbers(layer.render(fmt)), fmt
    assert unit.network.notation == "unit" and layer.network.notation == "layer"


# --- deeper and wider networks ----------------------------------------------------------------
def test_a_deeper_network_uses_the_notes_indices():
    ex = explain(nn.mlp([3, 3, 2, 2], "tanh", None, rng=5, dtype="float64"), [0.2, 0.5, 0.9],
                 1, "cross_entropy", 0.4, notation="layer")
    lines = _lines(ex.render("text"))
    for expected in (
        "error    C₀ = −ln(pₖ), p = softmax(z⁽³⁾), k = the target class",
        "z⁽²⁾₁ = w⁽²⁾₁₁·a⁽¹⁾₁ + w⁽²⁾₁₂·a⁽¹⁾₂ + w⁽²⁾₁₃·a⁽¹⁾₃ + b⁽²⁾₁",
        "p₂ = e^z⁽³⁾₂ / Σⱼ e^z⁽³⁾ⱼ",
        "C₀ = −ln(p₂) = −ln(",
        "δ⁽³⁾₁ = ∂C₀/∂z⁽³⁾₁ = p₁ − y₁",
        "∂C₀/∂w⁽³⁾₁₂ = ∂z⁽³⁾₁/∂w⁽³⁾₁₂ · ∂C₀/∂z⁽³⁾₁",
        "∂C₀/∂a⁽²⁾₁ = w⁽³⁾₁₁ · δ⁽³⁾₁ + w⁽³⁾₂₁ · δ⁽³⁾₂",
        "∂a⁽²⁾₁/∂z⁽²⁾₁ = 1 − a⁽²⁾₁²",
        "∂C₀/∂w⁽¹⁾₂₃ = ∂z⁽¹⁾₂/∂w⁽¹⁾₂₃ · ∂a⁽¹⁾₂/∂z⁽¹⁾₂ · ∂C₀/∂a⁽¹⁾₂",
        "Hidden layer 2 (a⁽²⁾₁, a⁽²⁾₂): error terms δ",
        "Output layer 3: ∂C₀/∂w for each weight and bias",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    # w⁽ᴸ⁾ⱼₖ: from unit k of layer L−1 into unit j of layer L, row j and column k of the weight
    g = ex.gradient("w6")  # the unit notation's sixth weight: layer 1, row 2 (j = 2), col 3
    assert (g.layer, g.unit, g.source) == (1, "h1_2", "a⁽⁰⁾₃")
    assert Naming.of(ex.network).symbol("w6") == "w⁽¹⁾₂₃"


def test_indices_are_separated_once_a_layer_has_ten_units():
    naming = Naming((1, 10, 1), "layer")
    assert naming.symbol("w10") == "w⁽¹⁾₁₀,₁"  # into unit 10 of layer 1, from input 1
    assert naming.symbol("w20") == "w⁽²⁾₁,₁₀"
    assert (naming.out("h10"), naming.delta("o1"), naming.target("o1")) == \
        ("a⁽¹⁾₁₀", "δ⁽²⁾₁", "y₁")
    assert Naming((2, 2), "layer").symbol("w3") == "w⁽¹⁾₂₁"
    assert Naming((1, 1), "layer").symbol("b_o1") == "b⁽¹⁾"


def test_focus_in_layer_notation_takes_the_unit_names(worked):
    text = worked.render("markdown", focus="w1")
    assert text.startswith("# chainrule explain: ∂C₀/∂w⁽¹⁾₁₁, one training step")
    assert "## ∂C₀/∂w⁽¹⁾₁₁: w⁽¹⁾₁₁ reads a⁽⁰⁾₁ and feeds a⁽¹⁾₁" in text
    assert "(C₀(w⁽¹⁾₁₁ + h) − C₀(w⁽¹⁾₁₁ − h)) / 2h" in text
    with pytest.raises(ConfigError, match=r"^explain: no parameter named 'w99'; known: w1, "):
        worked.render("text", focus="w99")


# --- each renderer ----------------------------------------------------------------------------
def test_markdown_and_html_write_the_same_symbols(worked):
    chain = "∂C₀/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁"
    markdown = worked.render("markdown")
    assert chain in markdown and "| step | C₀ | w⁽¹⁾₁₁ |" in markdown
    page = worked.render("html")
    body = page[page.index("<body>"):]
    assert "<sub>" not in body  # the layer notation's sub- and superscripts are Unicode
    assert '<span class="lhs"><span class="sym">∂C₀/∂w⁽²⁾₁₁</span></span>' in body
    assert chain.split(" = ")[1] in re.sub(r"<[^>]+>", "", body)
    assert ">w⁽²⁾₁₁ = 0.4</text>" in body and ">a⁽¹⁾₁</text>" in body  # the drawing
    assert "<th class=num>C₀</th><th class=num>w⁽¹⁾₁₁</th>" in body


def test_json_says_which_notation_and_every_symbol(worked):
    data = json.loads(worked.render("json"))
    assert data["network"]["notation"] == "layer"
    symbols = data["symbols"]
    assert (symbols["notation"], symbols["error"]) == ("layer", "C₀")
    assert symbols["params"]["w5"] == "w⁽²⁾₁₁" and symbols["params"]["b_h2"] == "b⁽¹⁾₂"
    assert symbols["units"]["o1"] == {"net": "z⁽²⁾₁", "out": "a⁽²⁾₁", "delta": "δ⁽²⁾₁",
                                      "target": "y₁"}
    assert symbols["units"]["i2"] == {"out": "a⁽⁰⁾₂"}
    w5 = next(g for g in data["gradients"] if g["param"] == "w5")
    assert [f["symbol"] for f in w5["factors"]] == ["∂C₀/∂a⁽²⁾₁", "∂a⁽²⁾₁/∂z⁽²⁾₁",
                                                    "∂z⁽²⁾₁/∂w⁽²⁾₁₁"]
    assert w5["grad"] == worked.gradient("w5").grad
    unit = json.loads(explain().render("json"))
    assert unit["symbols"]["params"]["w5"] == "w5" and unit["network"]["notation"] == "unit"


def test_the_graph_names_its_tensors_in_the_notation(worked):
    dot = worked.to_dot()
    assert "∂C₀/∂w⁽²⁾₁₁ = 0.0821670406" in dot
    assert 'label="z⁽¹⁾ = linear(a⁽⁰⁾, W⁽¹⁾, b⁽¹⁾)\\lz⁽¹⁾₁ = 0.3775' in dot
    assert "C₀ = 0.298371109    ∂C₀/∂C₀ = 1" in dot and "y₂ = 0.99" in dot
    assert "∂E/" not in dot and "net_" not in dot


# --- choosing it -----------------------------------------------------------------------------
def test_a_bad_notation_is_refused():
    with pytest.raises(ConfigError) as caught:
        explain(notation="tensor")
    assert str(caught.value) == "explain: notation must be one of unit, layer, got 'tensor'"


def test_the_command_line_option_and_the_config_key(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["explain", "--notation", "layer", "--focus", "w5"])
    assert result.exit_code == 0, result.output
    assert "∂C₀/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁" in result.output
    bad = runner.invoke(app, ["explain", "--notation", "tensor"])
    assert bad.exit_code == 2
    assert bad.output.strip() == \
        "error: explain: 1 problem: notation: Input should be 'unit' or 'layer'"
    path = tmp_path / "net.toml"
    path.write_text('notation = "layer"\n', encoding="utf-8")
    result = runner.invoke(app, ["explain", "--config", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["network"]["notation"] == "layer"
    assert make_config({}).notation == "unit"
    overridden = runner.invoke(app, ["explain", "--config", str(path), "--notation", "unit"])
    assert "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5" in overridden.output


def test_the_unit_notation_is_the_default():
    default, unit = explain(), explain(notation="unit")
    assert default.render("text") == unit.render("text")
    assert np.isclose(default.gradient("w5").grad, 0.0821670406)
