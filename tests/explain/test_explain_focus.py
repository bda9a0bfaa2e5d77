"""One parameter's derivation (`focus`): what the playground shows when a weight is clicked,
and `chainrule explain --focus`. The same document pieces as the whole explanation."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import chainrule as cr
from chainrule import nn
from chainrule.cli import app
from chainrule.errors import ConfigError


@pytest.fixture(scope="module")
def worked():
    return cr.explain()


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_an_output_weight_shows_its_delta_product_check_and_update(worked):
    text = worked.render("text", focus="w5")
    assert "∂E/∂w5: w5 reads out_h1 and feeds o1" in text
    assert "δ_o1 = 0.74136507 × 0.186815602 = 0.138498562" in text
    assert "= 0.74136507 × 0.186815602 × 0.593269992 = 0.0821670406" in text
    assert "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648   ↓ lowered: positive slope" in text
    assert "E_total = 0.291027774" in text
    # nothing of the other parameters' derivations
    assert "∂E/∂w6 =" not in text and "δ_h1 =" not in text and "w1⁺" not in text


def test_a_hidden_weight_lists_the_deltas_it_is_built_from(worked):
    text = worked.render("text", focus="w1")
    assert "∂E/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1" in text
    assert "δ_o1 = 0.138498562   reused by w5, w6, b_o1, δ_h1, δ_h2" in text
    assert "δ_o2 = -0.0380982365   reused by w7, w8, b_o2, δ_h1, δ_h2" in text
    assert "= 0.0363503064 × 0.241300709 × 0.05 = 0.000438567734" in text
    assert "w1⁺ = 0.15 − 0.5 × 0.000438567734 = 0.149780716" in text


def test_every_focused_equation_is_a_line_of_the_whole_explanation(worked):
    whole = set(lines(worked.render("text")))
    for param in ("w1", "w8", "b_h2"):
        focused = lines(worked.render("text", focus=param))
        equations = [line for line in focused if line.startswith(("net_", "out_", "δ_", "∂E"))
                     and "reused by" not in line and "─" not in line]
        assert equations and all(line in whole for line in equations), param


def test_a_deep_network_reaches_every_delta_above_and_only_those():
    model = nn.mlp([2, 2, 2, 1], "tanh", rng=1, dtype="float64")
    ex = cr.explain(model, [0.3, -0.2], [0.5], "half_sse", 0.1)
    text = ex.render("text", focus="w1")
    for unit in ("h2_1", "h2_2", "o1"):
        assert f"δ_{unit} = " in text
    assert "feeds h1_1" in text
    np.testing.assert_equal(ex.gradient("w1").grad, ex.gradient("w1").product)


@pytest.mark.parametrize("format", ["markdown", "html"])
def test_other_formats_focus_too(worked, format):
    out = worked.render(format, focus="w5")
    assert "0.0821670406" in out and "0.35891648" in out and "0.149780716" not in out


def test_an_unknown_parameter_is_named_with_the_known_ones(worked):
    with pytest.raises(ConfigError, match=r"^explain: no parameter named 'w9'; known: w1, w2, "
                                          r"w3, w4, w5, w6, w7, w8, b_h1, b_h2, b_o1, b_o2$"):
        worked.render("text", focus="w9")


def test_the_command_line_focuses_and_refuses_json():
    runner = CliRunner()
    result = runner.invoke(app, ["explain", "--focus", "w5"])
    assert result.exit_code == 0, result.output
    assert "0.0821670406" in result.output and "∂E/∂w6 =" not in result.output
    result = runner.invoke(app, ["explain", "--focus", "w5", "--format", "json"])
    assert result.exit_code == 2
    assert "--focus: the json format holds every parameter" in result.output
