"""A step on a batch of samples: E = r·Σ_k E[k] (r = 1/n for a mean, 1 for a sum), and every
∂E/∂w is the engine's gradient of the batch's loss and the same reduction of the samples' own
∂E[k]/∂w (Note [batches] in explain/build.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule import nn, optim
from chainrule.cli import app
from chainrule.errors import ConfigError, ShapeError
from chainrule.examples import worked_example_model
from chainrule.explain import explain, render_text
from chainrule.explain.config import build_network, make_config
from chainrule.explain.network import layers_of
from chainrule.explain.notation import Naming

X = np.array([[0.05, 0.10], [0.2, 0.3], [0.9, 0.1], [0.5, 0.5]])
T = np.array([[0.01, 0.99], [0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])


def _engine(model, x, target, loss):
    """E and every ∂E/∂param of `loss` (a module) on the whole batch, by explain's names."""
    for p in model.parameters():
        p.requires_grad = True
        p.grad = None
    E = loss(model(x), target)
    E.backward()
    linears = [layer.linear for layer in layers_of(model, "half_sse")]
    naming = Naming((linears[0].in_features, *(m.out_features for m in linears)))
    grads = {}
    for k, layer in enumerate(linears, start=1):
        for (j, c), g in np.ndenumerate(layer.weight.grad):
            grads[naming.weight(k, j, c)] = g
        for j, g in enumerate(layer.bias.grad):
            grads[naming.bias(k, j)] = g
    return E.item(), grads


def _check_batch(ex, model, x, target, loss, one_sample_target):
    error, grads = _engine(model, x, target, loss)
    n = len(x)
    r = 1 / n if loss.reduction == "mean" else 1.0
    assert ex.network.samples == n and ex.batch_size == n and len(ex.samples) == n
    assert ex.error == pytest.approx(error, abs=1e-12)
    assert ex.error == pytest.approx(r * math.fsum(s.error for s in ex.samples), abs=1e-12)
    assert {g.param for g in ex.gradients} == set(grads)
    for g in ex.gradients:
        assert abs(g.grad - grads[g.param]) <= 1e-12, g.param
        assert len(g.terms) == n
        assert abs(r * math.fsum(g.terms) - grads[g.param]) <= 1e-12, g.param
        assert abs(g.product - grads[g.param]) <= 1e-12, g.param
        assert abs(g.difference) < 1e-6 * max(1.0, abs(g.grad)), g.param
    assert ex.max_product_error < 1e-12
    # each sample's δ's and ∂E[k]/∂w are its own one-sample explanation's
    for k, sample in enumerate(ex.samples):
        alone = explain(model, x[k], one_sample_target(k), loss, lr=ex.network.lr)
        assert sample.error == alone.error
        assert [d.value for layer in sample.deltas for d in layer] == \
            [d.value for layer in alone.deltas for d in layer]
        assert [u.out for layer in sample.forward for u in layer] == \
            [u.out for layer in alone.forward for u in layer]
        assert [g.terms[k] for g in ex.gradients] == [g.grad for g in alone.gradients]
    for u in ex.updates:
        if u.learns:
            assert u.after == pytest.approx(u.before - ex.network.lr * grads[u.param],
                                            abs=1e-15)


def test_four_samples_of_the_worked_example_match_the_engine():
    model = worked_example_model()
    ex = explain(model, X, T, "half_sse", 0.5)
    _check_batch(ex, worked_example_model(), X, T, nn.HalfSquaredError(), lambda k: T[k])
    # sample 0 is the notes' own sample: its numbers are the notes'
    assert round(ex.sample(0).error, 9) == 0.298371109
    assert round(ex.gradient("w5").terms[0], 8) == 0.08216704
    assert ex.unit("o1").out == ex.sample(0).unit("o1").out  # the shown sample's fields


def test_the_batch_step_is_the_engines_sgd_step_and_steps_follow_it():
    ex = explain(worked_example_model(), X, T, "half_sse", 0.5, steps=3)
    model = worked_example_model()
    sgd = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    errors = []
    for _ in range(3):
        sgd.zero_grad()
        E = nn.HalfSquaredError()(model(X), T)
        errors.append(E.item())
        E.backward()
        sgd.step()
    assert [row.error for row in ex.steps[:3]] == errors
    assert ex.steps[1].error == ex.error_after
    assert ex.steps[-1].params["w1"] == model[0].weight.data[0, 0]


def test_a_deeper_network_with_a_summed_loss():
    model = nn.mlp([2, 3, 3, 2], "tanh", "sigmoid", rng=3, dtype="float64")
    loss = nn.MSELoss(reduction="sum")
    ex = explain(model, X, T, loss, 0.3, update_biases=True)
    _check_batch(ex, model, X, T, loss, lambda k: T[k])
    assert ex.network.reduction == "sum"


def test_a_mean_squared_error_averages_every_element():
    model = nn.mlp([2, 3, 2], "sigmoid", "identity", rng=1, dtype="float64")
    ex = explain(model, X, T, "mse", 0.2)
    _check_batch(ex, model, X, T, nn.MSELoss(), lambda k: T[k])


def test_cross_entropy_with_class_indices_or_one_hot_rows():
    model = nn.mlp([2, 4, 3], "relu", None, rng=2, dtype="float64")
    classes = np.array([0, 2, 1, 2])
    ex = explain(model, X, classes, "cross_entropy", 0.4, sample=2)
    _check_batch(ex, model, X, classes, nn.CrossEntropyLoss(), lambda k: int(classes[k]))
    assert [s.target_class for s in ex.samples] == [0, 2, 1, 2]
    assert ex.shown == 2 and ex.network.target_class == 1
    assert ex.network.inputs == (("i1", 0.9), ("i2", 0.1))
    one_hot = explain(model, X, np.eye(3)[classes], "cross_entropy", 0.4, sample=2)
    assert one_hot.gradients == ex.gradients


def test_one_output_takes_a_target_per_sample():
    model = nn.mlp([2, 2, 1], "tanh", "identity", rng=0, dtype="float64")
    y = np.array([0.1, 0.4, 0.3, 0.9])
    assert explain(model, X, y).gradients == explain(model, X, y[:, None]).gradients


@pytest.mark.parametrize(("x", "target", "options", "error", "message"), [
    (X, T[:3], {}, ShapeError,
     "explain: the targets of 4 samples must be shape (4, 2), one per sample; got shape (3, 2)"),
    (X, [0, 1], {"loss": "cross_entropy"}, ShapeError,
     "explain: the targets of 4 samples must be 4 class indices or 4 one-hot rows of 2, one "
     "per sample; got shape (2,)"),
    (X, [0, 1, 5, 0], {"loss": "cross_entropy"}, ConfigError,
     "explain: the class for cross_entropy must be an integer from 0 to 1, got 5"),
    (np.ones((2, 3)), T[:2], {}, ShapeError,
     r"explain: x must be one sample of 2 inputs, shape (2,) or (1, 2), or several, shape "
     r"(samples, 2); got shape (2, 3)"),
    (X, T, {"sample": 4}, ConfigError,
     "explain: sample must be a sample number from 0 to 3, got 4"),
    (X, T, {"sequential": True}, ConfigError,
     "explain: the sequential variant is written out for one sample; give one sample, or the "
     "simultaneous update for these 4"),
])
def test_bad_batches_are_refused(x, target, options, error, message):
    with pytest.raises(error) as raised:
        explain(worked_example_model(), x, target, **options)
    assert str(raised.value) == message


# --- the documents ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def batch():
    return explain(worked_example_model(), X, T, sample=1)


def test_text_writes_one_sample_in_full_and_every_sample_in_tables(batch):
    text = render_text(batch, width=100)
    for expected in (
        "sample   4 samples; sample 1 in full: i1 = 0.2, i2 = 0.3; targets t_o1 = 0.5, t_o2 = 0.5",
        "E = (1/4) Σ_k E[k] over the samples k, each E[k] = ½ Σ_o (t_o − out_o)²",
        "net_h1 = w1·i1 + w2·i2 + b_h1 = 0.15 × 0.2 + 0.2 × 0.3 + 0.35 = 0.44",
        "E[1] = E_o1 + E_o2 = 0.0323659478 + 0.0382166634 = 0.0705826112",
        "Every sample (4)",
        "(1/4) × (0.298371109 + 0.0705826112 + 0.155749401 + 0.241997386) = 0.191675127",
        "Output layer (o1, o2): error terms δ of sample 1",
        "∂E[1]/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5",
        "∂E/∂w5 = (1/4) Σ_k ∂E[k]/∂w5",
        "= (1/4) Σ_k δ_o1[k] × out_h1[k]",
        "w5⁺ = 0.4 − 0.5 × 0.0395999309 = 0.380200035",
        "which --sequential writes out for one sample",
    ):
        assert expected in text, expected
    assert "δ_h1[k]" in text and "0.00877135469" in text  # sample 0's δ_h1 in the table
    assert max(len(line) for line in text.splitlines()) <= 100


def test_markdown_html_and_json_show_the_batch(batch):
    markdown = batch.render("markdown")
    assert "### Every sample (4)" in markdown and "| 1 (in full) | 0.2 | 0.3 |" in markdown
    page = batch.render("html")
    assert "Every sample (4)" in page and "for sample 1 of 4" in page
    assert "∂E[1]/∂w5" in page and "δ<sub>o1</sub>[k]" in page
    data = json.loads(batch.render("json"))
    assert data["shown"] == 1 and data["network"]["samples"] == 4
    assert [s["error"] for s in data["samples"]] == [s.error for s in batch.samples]
    assert data["samples"][3]["deltas"][0][0]["value"] == batch.sample(3).delta("o1").value
    assert data["gradients"][4]["terms"] == list(batch.gradient("w5").terms)
    dot = batch.to_dot()
    assert "i1[3] = 0.5" in dot and "out_o2[0] = 0.772928465" in dot


def test_focus_on_a_batch_shows_the_samples_chain_and_the_reduction(batch):
    text = render_text(batch, focus="w1")
    assert "∂E[1]/∂w1 = ∂E/∂out_h1 × ∂out_h1/∂net_h1 × ∂net_h1/∂w1" in text
    assert "∂E/∂w1 = (1/4) Σ_k ∂E[k]/∂w1" in text


def test_a_big_batch_lists_the_first_samples_and_says_how_to_see_more():
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, (12, 2)), rng.uniform(0, 1, (12, 2))
    ex = explain(worked_example_model(), x, t, sample=11, max_samples=3)
    text = render_text(ex, width=100)
    note = ("The tables list 4 of the 12 samples (0 to 2 and 11); every sum runs over all 12, "
            "and the JSON holds every sample's numbers. --max-samples 12 (max_samples=12) "
            "lists every one.")
    assert note in " ".join(line.strip() for line in text.splitlines())
    assert "+ … (9 more))" in text
    assert " 11 (in full)" in text and "\n   3 " not in text
    assert len(json.loads(ex.render("json"))["samples"]) == 12
    everything = render_text(explain(worked_example_model(), x, t, max_samples=12))
    assert "The tables list" not in everything and "more)" not in everything


# --- the command line and the config file --------------------------------------------------
runner = CliRunner()


def test_the_command_line_takes_several_samples():
    result = runner.invoke(app, ["explain", "--inputs", "0.05,0.10;0.2,0.3;0.9,0.1;0.5,0.5",
                                 "--targets", "0.01,0.99;0.5,0.5;0.2,0.8;0.9,0.1",
                                 "--sample", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["shown"] == 1 and len(data["samples"]) == 4
    assert data["error"] == explain(worked_example_model(), X, T).error
    result = runner.invoke(app, ["explain", "--loss", "cross_entropy", "--inputs",
                                 "0.1,0.2;0.3,0.4", "--targets", "1;0"])
    assert result.exit_code == 0, result.output
    assert "Every sample (2)" in result.output and "E = (1/2) Σ_k E[k]" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--inputs", "0.1,x;0.2,0.3"], "error: --inputs: expected comma-separated numbers for "
                                    "each sample, the samples separated by ';' "
                                    "(0.05,0.10;0.2,0.3), got '0.1,x;0.2,0.3'"),
    (["--inputs", "0.1,0.2;0.3", "--targets", "0,1;1,0"],
     "error: explain: 1 problem: inputs: expected 2 values (sizes[0]) for each sample, got 1 "
     "or 2"),
    (["--inputs", "0.1,0.2;0.3,0.4", "--targets", "0,1"],
     "error: explain: 1 problem: targets: 2 samples of inputs need as many targets, one list "
     "per sample; got 1"),
    (["--inputs", "0.1,0.2;0.3,0.4", "--sample", "2"],
     "error: explain: 1 problem: sample: expected a sample number from 0 to 1, got 2"),
])
def test_bad_samples_on_the_command_line(args, message):
    result = runner.invoke(app, ["explain", *args])
    assert result.exit_code == 2
    assert result.output.strip() == message


def test_a_config_file_lists_one_list_per_sample():
    config = make_config({"inputs": [[0.05, 0.10], [0.2, 0.3]],
                          "targets": [[0.01, 0.99], [0.5, 0.5]], "sample": 1})
    model, x, target = build_network(config)
    assert x.shape == (2, 2) and target.shape == (2, 2)
    ex = explain(model, x, target, sample=config.sample)
    assert ex.error == explain(worked_example_model(), X[:2], T[:2]).error and ex.shown == 1
    drawn = build_network(make_config({"sizes": [3, 2, 3], "loss": "cross_entropy",
                                       "targets": [[2], [0, 1, 0], [1]]}))
    assert drawn[1].shape == (3, 3) and drawn[2].tolist() == [2, 1, 1]
