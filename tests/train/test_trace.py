"""Traced steps replay the eager step exactly, and refuse what they cannot replay."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.trace import TracedStep, TraceError
from chainrule.train import fit


@pytest.mark.parametrize(("activation", "loss", "rule"), [
    ("sigmoid", "half_sse", "sgd"), ("tanh", "cross_entropy", "adam"),
    ("relu", "cross_entropy", "sgd"), ("leaky_relu", "mse", "adam"),
    ("softplus", "bce_logits", "sgd"),
])
def test_traced_training_gives_the_same_weights_as_eager(activation, loss, rule):
    ds = cr.data.load("moons", n_samples=70)
    y = ds.y if loss == "cross_entropy" else np.eye(2)[ds.y]
    results = []
    for trace in (False, True):
        model = nn.mlp([2, 6, 5, 2], activation, rng=4, dtype="float64")
        opt = optim.SGD(model.parameters(), lr=0.1) if rule == "sgd" else \
            optim.Adam(model.parameters(), lr=0.01)
        history = fit(model, loss, opt, ds.X, y, epochs=3, batch_size=16, seed=1,
                      progress=False, trace=trace)  # 70 = 4·16 + 6: two batch shapes
        results.append((model.state_dict(), history))
    (eager, eager_history), (traced, traced_history) = results
    for key in eager:
        np.testing.assert_array_equal(traced[key], eager[key])
    assert traced_history.step_losses == eager_history.step_losses
    assert traced_history.epochs[-1].get("accuracy") == eager_history.epochs[-1].get("accuracy")


def test_worked_example_traced_step_matches_the_notes():
    from chainrule.examples import INPUTS, TARGETS, worked_example_model

    model = worked_example_model()
    step = TracedStep(model, nn.HalfSquaredError(), optim.SGD(model.parameters(), lr=0.5),
                      INPUTS, TARGETS)
    assert step(INPUTS, TARGETS) == pytest.approx(0.298371109, abs=1e-9)
    assert step(INPUTS, TARGETS) == pytest.approx(0.291027774, abs=1e-9)
    assert model[2].weight.data[0, 0] != 0.40


def test_a_batch_of_another_shape_is_refused():
    model = nn.mlp([2, 3, 2], "relu", rng=0)
    step = TracedStep(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]))
    with pytest.raises(cr.ShapeError, match=r"recorded for batches of shapes \(4, 2\) and "
                                            r"\(4,\), got \(3, 2\) and \(3,\)"):
        step(np.zeros((3, 2), np.float32), np.array([0, 1, 0]))


class Swish(cr.Function):
    """A user's own op: out = x·σ(x), ∂out/∂x = σ(x)·(1 + x·(1 − σ(x)))."""

    keeps = ("sigma",)

    @staticmethod
    def forward(x):
        sigma = 1 / (1 + np.exp(-x))
        return x * sigma, sigma

    @staticmethod
    def backward(g, inputs, outputs, needs):
        (x,), (_, sigma) = inputs, outputs
        return g * sigma * (1 + x * (1 - sigma))


def test_every_op_is_traced_composed_ops_and_a_users_own_included(traced_equals_eager):
    class Mixed(nn.Module):
        def forward(self, x):
            h = Swish.apply(x) * 2.0 + x.sum(axis=1, keepdims=True)  # a user's op, mul, sum
            return cr.where(h > 0, h, h / 4) - F.logsumexp(h, axis=1, keepdims=True)

    data = np.random.default_rng(0).standard_normal((5, 3, 2))
    targets = np.random.default_rng(1).standard_normal((5, 3, 2))
    traced_equals_eager(lambda: nn.Sequential(nn.Linear(2, 2, rng=0, dtype="float64"), Mixed()),
                        lambda params: optim.Adam(params, lr=0.05), data, targets)


def test_an_array_made_outside_the_graph_cannot_be_traced():
    class Frozen(nn.Module):
        def forward(self, x):
            return x * cr.tensor(x.data > 0)  # the mask is made from .data: outside the graph

    model = nn.Sequential(nn.Linear(2, 2, rng=0), Frozen())
    with pytest.raises(TraceError, match=r"the step uses an array of shape \(3, 2\) that is "
                                         r"neither a parameter nor the batch"):
        TracedStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                   np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))


def test_ops_on_the_batch_alone_are_replayed_on_each_new_batch(traced_equals_eager):
    class Prepare(nn.Module):  # no parameter: recorded only because a trace records everything
        def forward(self, x):
            return cr.where(x > 0, x * 2.0, x / 2.0)

    data = np.random.default_rng(2).standard_normal((4, 5, 2))
    targets = np.random.default_rng(3).standard_normal((4, 5, 1))
    traced_equals_eager(lambda: nn.Sequential(Prepare(), nn.Linear(2, 1, rng=0, dtype="float64")),
                        lambda params: optim.SGD(params, lr=0.1), data, targets)


def test_the_replay_is_readable_code_calling_each_ops_forward_and_backward():
    from chainrule.examples import INPUTS, TARGETS, worked_example_model

    model = worked_example_model()
    step = TracedStep(model, nn.HalfSquaredError(), optim.SGD(model.parameters(), lr=0.5),
                      INPUTS, TARGETS)
    lines = step.source.splitlines()
    assert lines[0] == "def forward_backward(x, y):"
    calls = [line.split("=", 1)[1].split("(")[0].strip() for line in lines[1:]
             if "_forward(" in line or "_backward(" in line]
    assert calls == ["linear_forward", "sigmoid_forward", "linear_forward", "sigmoid_forward",
                     "half_squared_error_forward", "half_squared_error_backward",
                     "sigmoid_backward", "linear_backward", "sigmoid_backward",
                     "linear_backward"]


class Scale(cr.Function):
    """A user's op out = a·s whose backward gives s no gradient (None) although it needs one,
    and returns a's gradient at the result's (broadcast) shape."""

    @staticmethod
    def forward(a, s):
        return a * s

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return g * inputs[1], None


def test_a_users_op_returning_none_and_broadcast_gradients_trains_alike_traced(
        traced_equals_eager):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.shift = nn.Parameter(np.full((1, 2), 0.5))  # broadcast over the batch
            self.scale = nn.Parameter(np.full(2, 1.5))  # gets no gradient from Scale

        def forward(self, x):
            return Scale.apply(x + self.shift, self.scale)

    data = np.random.default_rng(2).standard_normal((3, 4, 2))
    targets = np.random.default_rng(3).standard_normal((3, 4, 2))
    traced_equals_eager(lambda: nn.Sequential(nn.Linear(2, 2, rng=0, dtype="float64"),
                                              Scaled()),
                        lambda params: optim.SGD(params, lr=0.1), data, targets)
    model = nn.Sequential(nn.Linear(2, 2, rng=0, dtype="float64"), Scaled())
    step = TracedStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), data[0],
                      targets[0])
    step.forward_backward(data[1], targets[1])
    assert model[1].scale.grad is None and model[1].shift.grad.shape == (1, 2)


def test_parameters_that_meet_one_gradient_get_gradients_of_their_own():
    class TwoBiases(nn.Module):  # the add's backward hands one array to both biases
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(np.zeros(2))
            self.b = nn.Parameter(np.zeros(2))

        def forward(self, x):
            return x + (self.a + self.b)

    model = TwoBiases()
    step = TracedStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                      np.ones((3, 2)), np.zeros((3, 2)))
    step.forward_backward(np.ones((3, 2)), np.zeros((3, 2)))
    np.testing.assert_array_equal(model.a.grad, model.b.grad)
    assert not np.shares_memory(model.a.grad, model.b.grad)


def test_a_replay_writes_into_the_traces_own_arrays_but_never_into_what_it_returned():
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((8, 3)), rng.integers(0, 2, 8)) for _ in range(3)]
    eager_model, model = (nn.mlp([3, 5, 4, 2], "tanh", rng=2, dtype="float64")
                          for _ in range(2))
    eager_opt, opt = (optim.Adam(m.parameters(), lr=0.05) for m in (eager_model, model))
    step = TracedStep(model, nn.CrossEntropyLoss(), opt, *batches[0])
    assert "linear_forward(v" in step.source and ", out=b" in step.source
    assert "tanh_backward(" in step.source and ", out=c" in step.source
    grads, predictions = [], []
    for x, y in batches:
        step(x, y)
        eager_opt.zero_grad()
        nn.CrossEntropyLoss()(eager_model(x), y).backward()
        eager_opt.step()
        for p, q in zip(model.parameters(), eager_model.parameters(), strict=True):
            np.testing.assert_array_equal(p.grad, q.grad)
            np.testing.assert_array_equal(p.data, q.data)
        grads.append([p.grad for p in model.parameters()])
        predictions.append((step.prediction, step.prediction.copy()))
    # the gradients are the trace's arrays, written anew by each replay (as PyTorch's .grad)
    assert all(a is b for a, b in zip(grads[1], grads[2], strict=True))
    # the model's outputs it returned stay as they were
    assert predictions[0][0] is not predictions[1][0]
    for kept, copy in predictions:
        np.testing.assert_array_equal(kept, copy)
