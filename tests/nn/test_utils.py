"""Gradient clipping: hand-computed numbers, PyTorch parity, bad arguments, and fit(grad_clip=)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError
from chainrule.tensor import Tensor
from chainrule.train import Callback, fit


def _param(grad, dtype=np.float64) -> Tensor:
    grad = np.asarray(grad, dtype=dtype)
    p = Tensor(np.zeros(grad.shape, dtype=dtype), requires_grad=True)
    p.grad = grad.copy()
    return p


# --- clip_grad_norm_ by hand -----------------------------------------------------------------

def test_norm_3_4_clipped_to_1_is_0_6_0_8_and_returns_5():
    p = _param([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(p, max_norm=1.0) == 5.0
    # coefficient 1 / (5 + 1e-6)
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(p.grad, np.array([3.0, 4.0]) * (1.0 / (5.0 + 1e-6)))


def test_norm_is_over_all_gradients_as_if_concatenated_and_skips_missing_ones():
    a, b, frozen = _param([[1.0, 2.0]]), _param([2.0]), _param([100.0])
    frozen.grad = None
    total = nn.utils.clip_grad_norm_([a, frozen, b], max_norm=1.5)
    assert total == 3.0  # sqrt(1 + 4 + 4)
    np.testing.assert_allclose(a.grad, [[0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [1.0], rtol=1e-6)
    assert frozen.grad is None


def test_norm_below_max_norm_leaves_gradients_alone():
    p = _param([3.0, 4.0])
    before = p.grad
    assert nn.utils.clip_grad_norm_(iter([p]), max_norm=10.0) == 5.0
    assert p.grad is before  # in place
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])


@pytest.mark.parametrize(("norm_type", "expected"), [(1, 7.0), (math.inf, 4.0), (3, 91 ** (1 / 3)),
                                                      (0.5, (math.sqrt(3) + 2) ** 2)])
def test_other_norms(norm_type, expected):
    p = _param([3.0, -4.0])
    assert nn.utils.clip_grad_norm_(p, 1.0, norm_type) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(p.grad, np.array([3.0, -4.0]) / (expected + 1e-6), rtol=1e-14)


def test_norm_is_computed_in_float64_without_overflow():
    p = _param([3e30, 4e30], dtype=np.float32)  # squares overflow float32
    assert nn.utils.clip_grad_norm_(p, 1.0) == pytest.approx(5e30, rel=1e-7)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-6)
    q = _param([3e200, 4e200])  # squares overflow float64
    assert nn.utils.clip_grad_norm_(q, 1.0) == pytest.approx(5e200, rel=1e-15)
    np.testing.assert_allclose(q.grad, [0.6, 0.8], rtol=1e-12)


def test_no_gradients_give_norm_zero():
    p = _param([1.0])
    p.grad = None
    assert nn.utils.clip_grad_norm_([p], 1.0) == 0.0
    assert nn.utils.clip_grad_norm_([], 1.0) == 0.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_norm_is_returned_and_gradients_are_left_unchanged(bad):
    a, b = _param([3.0, bad]), _param([1.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert math.isnan(total) if math.isnan(bad) else total == math.inf
    np.testing.assert_array_equal(a.grad, [3.0, bad])
    np.testing.assert_array_equal(b.grad, [1.0])


def test_a_gradient_array_shared_by_two_parameters_is_scaled_once():
    a, b = _param([3.0]), _param([4.0])
    shared = np.array([3.0, 4.0])
    a.grad, b.grad = shared[:1], shared[1:]  # views of one array, as a traced step may hand out
    nn.utils.clip_grad_norm_([a, b], 1.0)
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [0.6, 0.8], rtol=1e-6)
    c, same = _param([0.0, 0.0]), _param([0.0, 0.0])
    c.grad = same.grad = np.array([3.0, 4.0])  # one array for two parameters: norm √50
    nn.utils.clip_grad_norm_([c, same], 1.0)
    np.testing.assert_allclose(c.grad, [0.3 * math.sqrt(2), 0.4 * math.sqrt(2)], rtol=1e-6)
    np.testing.assert_array_equal(same.grad, c.grad)


# --- clip_grad_value_ ------------------------------------------------------------------------

def test_clip_grad_value_clamps_in_place_and_skips_missing_gradients():
    a, b = _param([-3.0, 0.25, 2.0]), _param([1.0])
    b.grad = None
    before = a.grad
    assert nn.utils.clip_grad_value_([a, b], 0.5) is None
    assert a.grad is before
    np.testing.assert_array_equal(a.grad, [-0.5, 0.25, 0.5])
    assert b.grad is None
    read_only = _param([7.0])
    read_only.grad.flags.writeable = False
    nn.utils.clip_grad_value_(read_only, 1)
    np.testing.assert_array_equal(read_only.grad, [1.0])


# --- bad arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, True, "1"])
def test_bad_max_norm(value):
    shown = repr(value)
    with pytest.raises(ConfigError) as caught:
        nn.utils.clip_grad_norm_(_param([1.0]), value)
    assert str(caught.value) == ("clip_grad_norm_: max_norm must be a positive finite number, "
                                 f"got {shown}")


@pytest.mark.parametrize("value", [0, -2.0, math.nan, False, None])
def test_bad_norm_type(value):
    with pytest.raises(ConfigError) as caught:
        nn.utils.clip_grad_norm_(_param([1.0]), 1.0, value)
    assert str(caught.value) == ("clip_grad_norm_: norm_type must be a positive number (or "
                                 f"math.inf), got {value!r}")


@pytest.mark.parametrize("value", [0, -0.5, math.inf, math.nan])
def test_bad_clip_value(value):
    with pytest.raises(ConfigError) as caught:
        nn.utils.clip_grad_value_(_param([1.0]), value)
    assert str(caught.value) == ("clip_grad_value_: clip_value must be a positive finite "
                                 f"number, got {value!r}")


def test_bad_parameters():
    with pytest.raises(TypeError, match=r"^clip_grad_norm_: parameters must be a Tensor or an "
                                        r"iterable of Tensors, got float$"):
        nn.utils.clip_grad_norm_(1.0, 1.0)
    with pytest.raises(TypeError, match=r"^clip_grad_value_: parameters must be Tensors, got a "
                                        r"ndarray$"):
        nn.utils.clip_grad_value_([np.zeros(2)], 1.0)


def test_bad_arguments_change_nothing():
    p = _param([3.0, 4.0])
    with pytest.raises(ConfigError):
        nn.utils.clip_grad_norm_(p, -1.0)
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])


# --- parity with PyTorch ---------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=()) * 5]
    ours = [_param(g) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads, strict=True):
        t.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(float(expected), rel=1e-12)
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_matches_torch_in_float32():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32) * 10
    p = _param(g, dtype=np.float32)
    t = torch.zeros(g.shape, requires_grad=True)
    t.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(p, 2.0)
    assert total == pytest.approx(float(torch.nn.utils.clip_grad_norm_(t, 2.0)), rel=1e-6)
    np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(2).normal(size=(4, 4))
    p = _param(g)
    t = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    nn.utils.clip_grad_value_(p, 0.3)
    torch.nn.utils.clip_grad_value_(t, 0.3)
    np.testing.assert_array_equal(p.grad, t.grad.numpy())


# --- fit(grad_clip=) -------------------------------------------------------------------------

class _Steps(Callback):
    """The weights after every update, as one flat vector each."""

    def __init__(self) -> None:
        self.weights: list[np.ndarray] = []

    def on_train_begin(self, state):
        self.weights = [self._flat(state.model)]

    def on_step_end(self, state, loss):
        self.weights.append(self._flat(state.model))

    @staticmethod
    def _flat(model) -> np.ndarray:
        return np.concatenate([p.data.ravel() for p in model.parameters()])


def _regression(grad_clip, trace=False, lr=0.5) -> list[np.ndarray]:
    """Linear regression by SGD; the weights after every update."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)) * 4
    y = X @ np.array([1.0, -2.0, 0.5]) + 1
    model = nn.mlp([3, 1], rng=0)
    steps = _Steps()
    fit(model, "mse", optim.SGD(model.parameters(), lr=lr), X, y, epochs=5, batch_size=16,
        callbacks=[steps], progress=False, grad_clip=grad_clip, trace=trace)
    return steps.weights


def test_grad_clip_keeps_a_diverging_learning_rate_bounded():
    with pytest.raises(cr.DivergenceError):
        _regression(None)  # lr 0.5 on inputs of scale 4: every step overshoots more
    weights = _regression(1.0)
    moves = np.linalg.norm(np.diff(weights, axis=0), axis=1)
    assert len(moves) == 20
    assert np.all(moves <= 0.5 * 1.0 * (1 + 1e-6))  # each SGD step moves ≤ lr·grad_clip
    assert np.all(np.isfinite(weights))


def test_grad_clip_changes_the_result_only_when_the_norm_exceeds_it():
    clipped = _regression(1.0, lr=0.01)
    free = _regression(None, lr=0.01)
    loose = _regression(1e6, lr=0.01)
    assert not np.array_equal(clipped[-1], free[-1])
    np.testing.assert_array_equal(loose[-1], free[-1])


def test_grad_clip_is_identical_traced_and_eager():
    eager, traced = _regression(1.0), _regression(1.0, trace=True)
    np.testing.assert_array_equal(np.array(eager), np.array(traced))


@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, "1"])
def test_fit_refuses_a_bad_grad_clip(value):
    model = nn.mlp([3, 1], rng=0)
    with pytest.raises(ConfigError) as caught:
        fit(model, "mse", optim.SGD(model.parameters(), lr=0.1), np.ones((4, 3)), np.ones(4),
            progress=False, grad_clip=value)
    assert str(caught.value) == f"fit: grad_clip must be a positive finite number, got {value!r}"
