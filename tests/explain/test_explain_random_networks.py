"""Random networks of several shapes, activations and losses: every printed ∂E/∂w is the
engine's gradient (to 1e-12), and every printed chain of factors multiplies out to it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError, ShapeError
from chainrule.explain import explain
from chainrule.explain.notation import Naming

SHAPES = [(2, 1), (3, 2), (2, 3, 2), (3, 4, 3, 2), (4, 2, 3), (1, 2, 2, 2, 1)]
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]
LOSSES = ["half_sse", "mse", "bce", "cross_entropy"]


def _network(sizes, activation, loss, seed):
    """A float64 mlp, one sample and its target for `loss`; inputs away from relu's kink."""
    rng = np.random.default_rng(seed)
    output = {"bce": "sigmoid", "cross_entropy": None}.get(loss, activation)
    if loss == "cross_entropy" and sizes[-1] < 2:
        sizes = (*sizes[:-1], 2)
    model = nn.mlp(list(sizes), activation, output, rng=rng, dtype="float64")
    x = rng.uniform(0.2, 1.0, sizes[0])
    if loss == "cross_entropy":
        target = int(rng.integers(sizes[-1]))
    else:
        target = rng.uniform(0.05, 0.95, sizes[-1])
    return model, x, target


def _engine_gradients(model, x, target, loss):
    """∂E/∂param from a plain forward and backward on the model, named as explain names them."""
    for p in model.parameters():
        p.requires_grad = True
        p.grad = None
    E = nn.get_loss(loss)(model(x[None, :]), np.array([target]) if loss == "cross_entropy"
                          else target[None, :])
    E.backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    naming = Naming((linears[0].in_features, *(m.out_features for m in linears)))
    grads = {}
    for k, layer in enumerate(linears, start=1):
        for (j, c), g in np.ndenumerate(layer.weight.grad):
            grads[naming.weight(k, j, c)] = g
        for j, g in enumerate(layer.bias.grad):
            grads[naming.bias(k, j)] = g
    return E.item(), grads


CASES = [(s, a, loss, seed) for seed, (s, a, loss) in
         enumerate(itertools.product(SHAPES, ACTIVATIONS, LOSSES))]


@pytest.mark.parametrize(("sizes", "activation", "loss", "seed"), CASES,
                         ids=[f"{'-'.join(map(str, s))}-{a}-{loss}" for s, a, loss, _ in CASES])
def test_every_printed_gradient_is_the_engines(sizes, activation, loss, seed):
    model, x, target = _network(sizes, activation, loss, seed)
    ex = explain(model, x, target, loss, lr=0.3)
    error, grads = _engine_gradients(model, x, target, loss)

    assert ex.error == pytest.approx(error, abs=1e-12)
    assert {g.param for g in ex.gradients} == set(grads)
    for g in ex.gradients:
        assert abs(g.grad - grads[g.param]) <= 1e-12, g.param
        assert abs(g.product - grads[g.param]) <= 1e-12, g.param
        assert g.product == pytest.approx(np.prod([f.value for f in g.factors]), abs=0)
        assert abs(g.difference) < 1e-6 * max(1.0, abs(g.grad)), g.param
    assert ex.max_product_error < 1e-12
    for layer in ex.deltas:
        for d in layer:
            assert abs(d.product - d.value) <= 1e-12
            if d.paths:
                assert abs(sum(p.value for p in d.paths) - d.dE_dout.value) <= 1e-12
    # the update is w − η·∂E/∂w for every parameter that learns (all weights here)
    for u in ex.updates:
        if u.learns:
            assert u.after == pytest.approx(u.before - 0.3 * grads[u.param], abs=1e-15)


def test_output_errors_add_up_to_the_engines_error():
    for loss in ("half_sse", "mse", "bce"):
        model, x, target = _network((3, 2, 3), "tanh", loss, 7)
        ex = explain(model, x, target, loss)
        assert sum(e.error for e in ex.errors) == pytest.approx(ex.error, abs=1e-14)


def test_cross_entropy_probabilities_and_fused_delta():
    model, x, _ = _network((3, 3, 3), "sigmoid", "cross_entropy", 3)
    ex = explain(model, x, 2, "cross_entropy")
    probs = [e.probability for e in ex.errors]
    assert sum(probs) == pytest.approx(1.0)
    assert ex.error == pytest.approx(-np.log(probs[2]))
    for d, p, (_, t) in zip(ex.deltas[0], probs, ex.network.targets, strict=True):
        assert d.fused is not None and d.dE_dout is None
        assert d.value == pytest.approx(p - t, abs=1e-15)
    one_hot = explain(model, x, [0.0, 0.0, 1.0], "cross_entropy")
    assert one_hot.gradients == ex.gradients


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_sequential_variant_for_a_deeper_network_matches_a_hand_written_version():
    model = nn.mlp([2, 3, 3, 2], "sigmoid", "sigmoid", rng=4, dtype="float64")
    x, t, lr = np.array([0.3, 0.7]), np.array([0.2, 0.9]), 0.8
    ex = explain(model, x, t, "half_sse", lr, sequential=True, update_biases=True)

    Ws = [m.weight.data.copy() for m in model if isinstance(m, nn.Linear)]
    bs = [m.bias.data.copy() for m in model if isinstance(m, nn.Linear)]
    outs = [x]
    for W, b in zip(Ws, bs, strict=True):
        outs.append(_sigmoid(W @ outs[-1] + b))
    delta = (outs[-1] - t) * outs[-1] * (1 - outs[-1])
    for k in range(len(Ws) - 1, -1, -1):  # update layer k, then back-propagate through it
        Ws[k] -= lr * np.outer(delta, outs[k])
        bs[k] -= lr * delta
        if k:
            delta = (Ws[k].T @ delta) * outs[k] * (1 - outs[k])
    y = x
    for W, b in zip(Ws, bs, strict=True):
        y = _sigmoid(W @ y + b)
    assert ex.error_after == pytest.approx(0.5 * np.sum((t - y) ** 2), abs=1e-14)
    assert ex.update("w1").after == pytest.approx(Ws[0][0, 0], abs=1e-15)


def test_a_float32_model_is_explained_in_float64():
    model = nn.mlp([2, 2, 2], "sigmoid", "sigmoid", rng=0)  # float32
    ex = explain(model, [0.05, 0.1], [0.01, 0.99])
    assert model[0].weight.dtype == np.float32
    assert ex.max_check_difference < 1e-8


def test_frozen_weights_are_not_updated():
    model = nn.mlp([2, 2, 1], "tanh", "identity", rng=1, dtype="float64")
    model[0].weight.requires_grad = False
    ex = explain(model, [0.5, 0.2], [0.3])
    assert ex.update("w1").direction == "fixed" and ex.update("w5").learns
    assert ex.gradient("w1").grad != 0  # its gradient is still shown


@pytest.mark.parametrize(("model", "loss", "message"), [
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax()), "cross_entropy",
     "cross_entropy applies softmax"),
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax()), "half_sse", "Softmax is not supported"),
    (nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Tanh()), "half_sse",
     "at most one activation"),
    (nn.Sequential(nn.Sigmoid(), nn.Linear(2, 2)), "half_sse", "module 0 .Sigmoid"),
    (nn.HalfSquaredError(), "half_sse", "Sequential"),
])
def test_unsupported_networks_are_refused(model, loss, message):
    with pytest.raises(ConfigError, match=message):
        explain(model, [0.1, 0.2], [0.0, 1.0], loss)


def test_too_big_a_network_is_refused_unless_allowed():
    model = nn.mlp([8, 8, 2], "tanh", rng=0, dtype="float64")
    x, t = np.full(8, 0.5), np.array([0.1, 0.9])
    with pytest.raises(ConfigError) as caught:
        explain(model, x, t, max_weights=79)
    assert str(caught.value) == (
        "explain: this network has 80 weights; explain computes at most 79 (raise it with "
        "--max-weights / max_weights; how many are written out is --max-chains / max_chains)")
    assert len(explain(model, x, t).gradients) == 80 + 10  # no longer refused at 50


def test_bad_samples_and_settings_are_refused():
    model = nn.mlp([2, 2, 2], "sigmoid", "sigmoid", rng=0, dtype="float64")
    with pytest.raises(ShapeError, match="one sample of 2 inputs"):
        explain(model, np.ones((3, 3)), [0.1, 0.2])
    with pytest.raises(ShapeError, match="one value per output"):
        explain(model, [0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ConfigError, match=r"lr must be.*steps must be"):
        explain(model, [0.1, 0.2], [0.1, 0.2], lr=-1, steps=0)
    with pytest.raises(ConfigError, match="class"):
        explain(model, [0.1, 0.2], 5, "cross_entropy")
    with pytest.raises(ConfigError, match="Sigmoid"):
        explain(nn.mlp([2, 2], "tanh", "tanh", rng=0), [0.1, 0.2], [0, 1], "bce")
    with pytest.raises(ConfigError, match="unknown loss"):
        explain(model, [0.1, 0.2], [0.1, 0.2], "hinge")
    with pytest.raises(ConfigError, match="give the sample"):
        explain(model)


def test_notes_explain_a_dead_relu_layer_and_an_overshooting_step():
    model = nn.Sequential(nn.Linear(2, 2, dtype="float64"), nn.ReLU(),
                          nn.Linear(2, 1, dtype="float64"))
    nn.init.set_values_(model[0].weight, [[-1.0, -1.0], [-2.0, -0.5]])
    nn.init.constant_(model[0].bias, -0.1)
    ex = explain(model, [0.3, 0.4], [1.0])
    assert all(g.grad == 0 for g in ex.gradients if g.layer == 1)
    assert any("Every unit of the hidden layer has ∂out/∂net = 0" in n for n in ex.notes)

    big = nn.mlp([3, 1], "identity", "identity", rng=0, dtype="float64")
    ex = explain(big, [1.0, 2.0, 3.0], [0.1], "mse", lr=0.5)
    assert ex.error_after > ex.error
    assert any(n.startswith("The error rose") for n in ex.notes)
    assert not any(n.startswith("The error rose") for n in explain().notes)
    assert "1 output (identity)" in ex.network.description
