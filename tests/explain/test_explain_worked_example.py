"""The notes' worked example, explained: every published number, to the printed digits.

The notes (2-2-2 sigmoid network, i = 0.05, 0.10; t = 0.01, 0.99; w1..w8 = 0.15 .. 0.55;
b1 = 0.35, b2 = 0.60; η = 0.5; E = ½ Σ (t − y)²; biases not updated) print:
    net_h1 = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775,  out_h1 = σ(0.3775) = 0.593269992
    out_o1 = 0.75136507,  E_total = 0.274811083 + 0.023560026 = 0.298371109
    ∂E/∂w5 = 0.74136507 × 0.186815602 × 0.593269992 = 0.082167041,  w5⁺ = 0.35891648
    ∂E/∂out_h1 = 0.055399425 + (−0.019049119) = 0.036350306,  w1⁺ = 0.149780716
    E after the step: 0.291027774 (simultaneous); 0.291027924 in the widely copied write-up,
    whose script updated w5..w8 before computing the hidden gradients (the sequential variant).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.examples import INPUTS, LEARNING_RATE, TARGETS, worked_example_model
from chainrule.explain import explain


@pytest.fixture(scope="module")
def ex():
    return explain()


def test_forward_pass_matches_the_notes(ex):
    assert ex.unit("h1").net == pytest.approx(0.3775, abs=1e-15)
    assert round(ex.unit("h1").out, 9) == 0.593269992
    assert round(ex.unit("h2").out, 9) == 0.596884378
    assert round(ex.unit("o1").net, 9) == 1.105905967
    assert round(ex.unit("o1").out, 8) == 0.75136507
    assert round(ex.unit("o2").out, 9) == 0.772928465
    assert [round(e.error, 9) for e in ex.errors] == [0.274811083, 0.023560026]
    assert round(ex.error, 9) == 0.298371109


def test_output_weight_chain_matches_the_issue(ex):
    g = ex.gradient("w5")
    assert [f.symbol for f in g.factors] == ["∂E/∂out_o1", "∂out_o1/∂net_o1", "∂net_o1/∂w5"]
    assert [round(f.value, 8) for f in g.factors] == [0.74136507, 0.18681560, 0.59326999]
    assert round(g.grad, 8) == 0.08216704
    assert g.factors[1].formula == "out_o1(1 − out_o1)"
    assert g.factors[2].formula == "out_h1"


def test_hidden_weight_sums_every_path(ex):
    delta = ex.delta("h1")
    assert [p.symbol for p in delta.paths] == ["∂E_o1/∂out_h1", "∂E_o2/∂out_h1"]
    assert [(p.delta, p.weight) for p in delta.paths] == [("δ_o1", "w5"), ("δ_o2", "w7")]
    assert [round(p.value, 9) for p in delta.paths] == [0.055399425, -0.019049118]
    assert round(delta.dE_dout.value, 9) == 0.036350306
    assert round(delta.dout_dnet.value, 9) == 0.241300709
    assert round(ex.gradient("w1").grad, 12) == 0.000438567734


def test_error_terms_are_computed_once_and_marked_where_reused(ex):
    assert ex.delta("o1").used_by == ("w5", "w6", "b_o1", "δ_h1", "δ_h2")
    assert ex.delta("h2").used_by == ("w3", "w4", "b_h2")
    assert {g.delta for g in ex.gradients if g.unit == "o2"} == {"δ_o2"}
    assert ex.delta("o1").value == ex.gradient("b_o1").grad  # δ is ∂E/∂b for one sample


def test_update_matches_the_notes(ex):
    assert round(ex.update("w5").after, 8) == 0.35891648
    assert round(ex.update("w6").after, 9) == 0.408666186
    assert round(ex.update("w7").after, 9) == 0.511301270
    assert round(ex.update("w8").after, 9) == 0.561370121
    assert round(ex.update("w1").after, 9) == 0.149780716
    assert round(ex.update("w2").after, 8) == 0.19956143
    assert round(ex.update("w3").after, 8) == 0.24975114
    assert round(ex.update("w4").after, 8) == 0.29950229
    assert round(ex.error_after, 9) == 0.291027774
    assert ex.update("w5").direction == "down" and ex.update("w7").direction == "up"
    assert all(ex.update(b).direction == "fixed" and ex.update(b).after == ex.update(b).before
               for b in ("b_h1", "b_h2", "b_o1", "b_o2"))


def test_the_step_is_the_engines_sgd_step(ex):
    model = worked_example_model()
    loss = nn.HalfSquaredError()(model(INPUTS), TARGETS)
    loss.backward()
    optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE).step()
    with cr.no_grad():
        after = nn.HalfSquaredError()(model(INPUTS), TARGETS).item()
    assert ex.error_after == after
    assert ex.update("w5").after == model[2].weight.data[0, 0]


def test_sequential_variant_reproduces_the_widely_copied_figure():
    seq = explain(sequential=True)
    assert round(seq.error_after, 9) == 0.291027924
    assert round(seq.error_after_other, 9) == 0.291027774
    assert round(explain().error_after_other, 9) == 0.291027924
    # the output layer is updated as usual; the hidden layer uses w5⁺..w8⁺
    assert seq.update("w5").after == explain().update("w5").after
    h1 = seq.sequential_deltas[0][0]
    assert [p.weight_value for p in h1.paths] == [seq.update("w5").after,
                                                  seq.update("w7").after]
    assert seq.update("w1").grad == pytest.approx(h1.value * 0.05, rel=1e-15)
    assert seq.update("w1").true_grad == explain().gradient("w1").grad
    assert any("0.291027924" in note and "0.291027774" in note for note in seq.notes)


def test_simultaneous_output_says_why_the_write_up_differs(ex):
    note = " ".join(ex.notes)
    assert "0.291027924" in note and "0.291027774" in note and "--sequential" in note
    assert "kept fixed, as in the notes" in note


@pytest.mark.parametrize("change", [
    {"lr": 0.4},                                    # the notes' network, another η
    {"x": [0.05, 0.2]},                             # another sample
    {"update_biases": True},                        # the biases learn too
])
def test_remarks_about_the_notes_only_for_the_notes_step(change):
    args = {"x": INPUTS, "lr": LEARNING_RATE, **change}
    ex = explain(worked_example_model(), args.pop("x"), TARGETS, "half_sse", **args)
    note = " ".join(ex.notes)
    assert "0.291027924" not in note and "0.291027774" not in note
    assert "as in the notes" not in note and "write-up" not in note
    assert f"would give E = {ex.error_after_other:.9g} instead" in note


def test_the_notes_network_in_float32_is_still_the_notes_example():
    model = worked_example_model()
    for p in model.parameters():
        p.data = p.data.astype("float32")
    ex = explain(model, INPUTS.astype("float32"), TARGETS.astype("float32"), "half_sse",
                 lr=LEARNING_RATE)
    assert "kept fixed, as in the notes" in " ".join(ex.notes)


def test_remarks_for_another_network_are_about_that_network():
    model = nn.mlp([3, 4, 2], "tanh", None, rng=2, dtype="float64")
    for sequential in (False, True):
        ex = explain(model, [0.47, 0.69, 0.11], 1, "cross_entropy", update_biases=False,
                     sequential=sequential)
        note = " ".join(ex.notes)
        assert "0.29102" not in note and "notes" not in note and "write-up" not in note
        assert "are kept fixed; their gradients are shown but not applied" in note
        assert f"{ex.error_after_other:.9g}" in note


def test_update_biases_option_matches_training_the_biases_too():
    ex = explain(update_biases=True)
    model = worked_example_model(train_biases=True)
    nn.HalfSquaredError()(model(INPUTS), TARGETS).backward()
    optim.SGD(model.parameters(), lr=LEARNING_RATE).step()
    assert ex.update("b_o1").after == model[2].bias.data[0]
    assert ex.update("b_h2").direction == "down"
    with cr.no_grad():
        assert ex.error_after == nn.HalfSquaredError()(model(INPUTS), TARGETS).item()


def test_frozen_biases_still_show_their_gradient(ex):
    assert round(ex.gradient("b_o1").grad, 9) == 0.138498562
    assert ex.gradient("b_o1").factors[-1].formula == "1"


def test_numeric_check_agrees(ex):
    assert ex.max_check_difference < 1e-9
    assert ex.max_product_error < 1e-15


def test_explain_does_not_change_the_model():
    model = worked_example_model()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    explain(model, INPUTS, TARGETS, "half_sse", 0.5, steps=3)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(p.grad is None for p in model.parameters())


def test_public_api_and_defaults(ex):
    assert cr.explain().error == ex.error
    explicit = cr.explain(worked_example_model(), INPUTS[0], TARGETS[0], nn.HalfSquaredError(),
                          LEARNING_RATE)
    assert explicit.to_dict() == ex.to_dict()
    assert "E_after=0.291027774" in repr(ex)


def test_several_steps_table():
    ex = explain(steps=4)
    assert [row.step for row in ex.steps] == [0, 1, 2, 3, 4]
    assert ex.steps[0].error == ex.error and ex.steps[1].error == ex.error_after
    assert list(ex.steps[0].params) == [f"w{i}" for i in range(1, 9)]
    assert ex.steps[1].params["w5"] == ex.update("w5").after
    errors = [row.error for row in ex.steps]
    assert errors == sorted(errors, reverse=True)
    model = worked_example_model()
    sgd = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(4):
        sgd.zero_grad()
        nn.HalfSquaredError()(model(INPUTS), TARGETS).backward()
        sgd.step()
    assert ex.steps[-1].params["w1"] == model[0].weight.data[0, 0]
