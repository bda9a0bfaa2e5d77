"""fit(sample_weight=...): the weighted mean of the per-sample losses (Note [sample weights])."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.tensor import Tensor
from chainrule.train import _weighted_loss, fit

LOSSES = ["half_sse", "mse", "bce_logits", "cross_entropy"]


def _data(loss: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    if loss == "cross_entropy":
        return X, rng.integers(0, 2, size=7)
    y = rng.normal(size=(7, 2))
    return X, (y > 0).astype(float) if loss == "bce_logits" else y


def _train(loss, X, y, **kwargs):
    model = nn.mlp([3, 4, 2], "tanh", rng=1, dtype=np.float64)
    history = fit(model, loss, optim.SGD(model.parameters(), lr=0.1), X, y, progress=False,
                  **kwargs)
    return model.state_dict(), history


def _assert_same(a, b, exact=False):
    assert a.keys() == b.keys()
    for key in a:
        if exact:
            np.testing.assert_array_equal(a[key], b[key])
        else:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", LOSSES)
def test_weights_of_one_are_no_weights(loss):
    X, y = _data(loss)
    plain, h0 = _train(loss, X, y, epochs=3, batch_size=3)
    weighted, h1 = _train(loss, X, y, epochs=3, batch_size=3, sample_weight=np.ones(7))
    _assert_same(plain, weighted, exact=True)
    assert h0.step_losses == h1.step_losses


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_the_weighted_path_with_equal_weights_agrees_with_the_plain_loss(loss, reduction):
    _, y = _data(loss)
    loss_fn = nn.get_loss(loss, reduction)
    output = Tensor(np.random.default_rng(2).normal(size=(7, 2)), requires_grad=True)
    plain = loss_fn(output, y)
    plain.backward()
    g_plain, output.grad = output.grad.copy(), None
    E = _weighted_loss(nn.get_loss(loss, "none"), reduction, output, y, np.ones(7))
    E.backward()
    assert float(E.data) == pytest.approx(float(plain.data), rel=1e-14)
    np.testing.assert_allclose(output.grad, g_plain, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("loss", LOSSES)
def test_weight_two_is_a_duplicated_sample(loss):
    X, y = _data(loss)
    w = np.ones(7)
    w[2] = 2
    weighted, h1 = _train(loss, X, y, epochs=1, sample_weight=w)
    twice = np.r_[np.arange(7), 2]
    duplicated, h0 = _train(loss, X[twice], y[twice], epochs=1)
    _assert_same(weighted, duplicated)
    assert h1.step_losses[0] == pytest.approx(h0.step_losses[0], rel=1e-13)
    assert h1.final["loss"] == pytest.approx(h0.final["loss"], rel=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_weight_zero_is_a_dropped_sample(loss):
    X, y = _data(loss)
    w = np.ones(7)
    w[[0, 5]] = 0
    weighted, h1 = _train(loss, X, y, epochs=2, sample_weight=w)
    kept = [1, 2, 3, 4, 6]
    dropped, h0 = _train(loss, X[kept], y[kept], epochs=2)
    _assert_same(weighted, dropped)
    np.testing.assert_allclose(h1.step_losses, h0.step_losses, rtol=1e-13)


def test_weights_are_shuffled_with_their_samples():
    # Weights 0/1 select samples: every batch's loss must be the mean over its selected ones,
    # so the weighted run matches an unweighted one whose dropped samples' targets are garbage
    # only if the weights follow their samples through the shuffle.
    X, y = _data("half_sse")
    w = np.array([1, 0, 1, 1, 0, 1, 1.0])
    _, h = _train("half_sse", X, y, epochs=2, batch_size=2, sample_weight=w)
    y_bad = y.copy()
    y_bad[w == 0] = 1e6
    _, h_bad = _train("half_sse", X, y_bad, epochs=2, batch_size=2, sample_weight=w)
    assert h.step_losses == h_bad.step_losses
    assert max(h.step_losses) < 100


def test_a_batch_of_zero_weights_has_zero_loss():
    X, y = _data("mse")
    w = np.r_[0.0, 0.0, np.ones(5)]
    _, h = _train("mse", X, y, epochs=1, batch_size=2, shuffle=False, sample_weight=w)
    assert h.step_losses[0] == 0.0
    assert all(np.isfinite(h.step_losses))


@pytest.mark.parametrize(("weights", "error", "message"), [
    (np.ones(6), ShapeError, "fit: sample_weight must have shape (7,), one weight per training "
                             "sample, got shape (6,)"),
    (np.ones((7, 1)), ShapeError, "fit: sample_weight must have shape (7,), one weight per "
                                  "training sample, got shape (7, 1)"),
    (np.r_[np.ones(6), np.nan], DataError, "fit: sample_weight must be finite, got nan for "
                                           "sample 6"),
    (np.r_[1.0, -0.5, np.ones(5)], DataError, "fit: sample_weight must be non-negative, got "
                                              "-0.5 for sample 1"),
    (np.zeros(7), DataError, "fit: sample_weight is all zero; at least one sample needs a "
                             "positive weight"),
    (["a"] * 7, DataError, "fit: sample_weight contains strings (dtype <U1); convert them to "
                           "numbers"),
])
def test_bad_weights_are_refused(weights, error, message):
    X, y = _data("mse")
    with pytest.raises(error) as info:
        _train("mse", X, y, epochs=1, sample_weight=weights)
    assert str(info.value) == message


def test_traced_steps_refuse_weights():
    X, y = _data("mse")
    with pytest.raises(ConfigError) as info:
        _train("mse", X, y, epochs=1, trace=True, sample_weight=np.ones(7))
    assert str(info.value) == ("fit: sample_weight does not work with trace=True (a traced "
                               "step takes no weights); drop one of them")


def test_a_loss_without_a_weighted_form_is_refused():
    X, y = _data("mse")
    with pytest.raises(ConfigError, match="fit: sample_weight needs one of chainrule's losses"):
        _train(nn.MSELoss("none"), X, y, epochs=1, sample_weight=np.ones(7))
