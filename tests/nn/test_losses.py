"""Loss modules: values against NumPy formulas, gradients against finite differences, get_loss."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.check import gradcheck
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HalfSquaredError,
    MSELoss,
    get_loss,
)

REDUCTIONS = ["mean", "sum", "none"]


def _uniform(shape, low, high, seed):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _reduce(per_item, reduction):
    return {"mean": per_item.mean(), "sum": per_item.sum(), "none": per_item}[reduction]


# --- values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_half_squared_error_sums_over_outputs_then_reduces_over_samples(reduction):
    y, t = _uniform((4, 3), -1, 1, 0), _uniform((4, 3), -1, 1, 1)
    per_sample = 0.5 * ((t - y) ** 2).sum(axis=1)
    out = HalfSquaredError(reduction)(cr.tensor(y), cr.tensor(t))
    np.testing.assert_allclose(out.numpy(), _reduce(per_sample, reduction), rtol=1e-12)


def test_half_squared_error_mean_is_not_half_the_mse():
    y, t = _uniform((4, 3), -1, 1, 0), _uniform((4, 3), -1, 1, 1)
    half_sse = HalfSquaredError()(cr.tensor(y), cr.tensor(t)).item()
    mse = MSELoss()(cr.tensor(y), cr.tensor(t)).item()
    assert half_sse == pytest.approx(0.5 * mse * 3, rel=1e-12)  # 3 outputs per sample


def test_half_squared_error_of_one_sample_is_the_notes_e_total():
    out = HalfSquaredError()(cr.tensor(np.array([0.75136507, 0.772928465])),
                             cr.tensor(np.array([0.01, 0.99])))
    assert out.item() == pytest.approx(0.5 * (0.01 - 0.75136507) ** 2
                                       + 0.5 * (0.99 - 0.772928465) ** 2, rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_averages_over_every_element(reduction):
    y, t = _uniform((4, 3), -1, 1, 2), _uniform((4, 3), -1, 1, 3)
    out = MSELoss(reduction)(cr.tensor(y), cr.tensor(t))
    np.testing.assert_allclose(out.numpy(), _reduce((y - t) ** 2, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropies(reduction):
    z = _uniform((5, 2), -3, 3, 4)
    t = _uniform((5, 2), 0, 1, 5)
    p = 1 / (1 + np.exp(-z))
    per_item = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    expected = _reduce(per_item, reduction)
    np.testing.assert_allclose(BCELoss(reduction)(cr.tensor(p), cr.tensor(t)).numpy(),
                               expected, rtol=1e-10)
    np.testing.assert_allclose(BCEWithLogitsLoss(reduction)(cr.tensor(z), cr.tensor(t)).numpy(),
                               expected, rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_of_logits_and_integer_labels(reduction):
    z = _uniform((6, 4), -3, 3, 6)
    labels = np.array([0, 3, 1, 1, 2, 0])
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    per_sample = -log_probs[np.arange(6), labels]
    out = CrossEntropyLoss(reduction)(cr.tensor(z), labels)
    np.testing.assert_allclose(out.numpy(), _reduce(per_sample, reduction), rtol=1e-12)


def test_losses_refuse_mismatched_shapes():
    with pytest.raises(ShapeError, match=r"prediction of shape \(4, 1\) and target of shape "
                                         r"\(4,\) differ"):
        HalfSquaredError()(cr.tensor(np.zeros((4, 1))), cr.tensor(np.zeros(4)))


# --- gradients against finite differences ----------------------------------------------------
def _check(loss, *inputs):
    report = gradcheck(loss, *inputs, atol=1e-7, rtol=1e-6)
    assert report.passed


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss_class", [HalfSquaredError, MSELoss])
def test_squared_error_gradients_reach_prediction_and_target(loss_class, reduction):
    y = cr.tensor(_uniform((4, 3), -1, 1, 7), requires_grad=True)
    t = cr.tensor(_uniform((4, 3), -1, 1, 8), requires_grad=True)
    _check(loss_class(reduction), y, t)
    assert len(gradcheck(loss_class(reduction), y, t).inputs) == 2


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_gradients(reduction):
    p = cr.tensor(_uniform((4, 3), 0.1, 0.9, 9), requires_grad=True)
    t = cr.tensor(_uniform((4, 3), 0, 1, 10))
    _check(BCELoss(reduction), p, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_gradients(reduction):
    z = cr.tensor(_uniform((4, 3), -4, 4, 11), requires_grad=True)
    t = cr.tensor(_uniform((4, 3), 0, 1, 12))
    _check(BCEWithLogitsLoss(reduction), z, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradients(reduction):
    z = cr.tensor(_uniform((5, 4), -3, 3, 13), requires_grad=True)
    labels = np.array([3, 0, 2, 2, 1])
    _check(lambda z: CrossEntropyLoss(reduction)(z, labels), z)


# --- construction and lookup -----------------------------------------------------------------
def test_losses_have_no_parameters_and_print_their_reduction():
    loss = HalfSquaredError()
    assert list(loss.parameters()) == []
    assert repr(loss) == "HalfSquaredError(reduction='mean')"
    assert repr(CrossEntropyLoss("sum")) == "CrossEntropyLoss(reduction='sum')"


def test_bad_reduction_is_refused_when_the_loss_is_built():
    with pytest.raises(ConfigError, match="MSELoss: reduction must be one of mean, sum, none, "
                                          "got 'avg'"):
        MSELoss("avg")


@pytest.mark.parametrize(("name", "loss_class"), [
    ("half_sse", HalfSquaredError), ("sse", HalfSquaredError), ("mse", MSELoss),
    ("bce", BCELoss), ("bce_logits", BCEWithLogitsLoss), ("cross_entropy", CrossEntropyLoss),
    (" MSE ", MSELoss),
])
def test_get_loss_by_name(name, loss_class):
    loss = get_loss(name)
    assert type(loss) is loss_class and loss.reduction == "mean"


def test_get_loss_passes_the_reduction():
    assert get_loss("sse", reduction="sum").reduction == "sum"


def test_get_loss_lists_the_valid_names():
    with pytest.raises(ConfigError) as caught:
        get_loss("hinge")
    assert str(caught.value) == ("get_loss: unknown loss 'hinge'; valid names are half_sse, "
                                 "sse, mse, bce, bce_logits, cross_entropy")
