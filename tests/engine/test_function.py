"""A user's own op (cr.Function) in eager and traced steps and under gradcheck; the functional
gradient (cr.grad, cr.value_and_grad); backward(inputs=); what gradcheck leaves behind."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim


class Sin(cr.Function):
    """The README's example: out = sin x, ∂out/∂x = cos x."""

    @staticmethod
    def forward(x):
        return np.sin(x)

    @staticmethod
    def backward(g, inputs, outputs, needs):
        (x,) = inputs
        return g * np.cos(x)


class SinOffByOnePercent(Sin):
    @staticmethod
    def backward(g, inputs, outputs, needs):
        return g * np.cos(inputs[0]) * 1.01


class Hypot(cr.Function):
    """Two inputs, a kept array and an attribute: out = scale·√(a² + b²)."""

    keeps = ("radius",)

    @staticmethod
    def forward(a, b, scale):
        radius = np.sqrt(a * a + b * b)
        return scale * radius, radius

    @staticmethod
    def backward(g, inputs, outputs, needs, scale):
        (a, b), radius = inputs, outputs[1]
        return (g * scale * a / radius if needs[0] else None,
                g * scale * b / radius if needs[1] else None)


def test_a_users_op_runs_eagerly_with_its_name_and_gradient():
    x = cr.tensor(np.array([0.0, 0.5, 2.0]), requires_grad=True)
    y = Sin.apply(x)
    assert y.op == "sin" and y.parents == (x,)
    np.testing.assert_array_equal(y.numpy(), np.sin(x.numpy()))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.cos(x.numpy()))


def test_gradcheck_passes_a_users_op_and_catches_a_planted_one_percent_error():
    x = np.array([0.3, -1.2, 2.0])
    assert cr.gradcheck(Sin.apply, x).passed
    assert cr.gradcheck(lambda a, b: Hypot.apply(a, b, scale=1.5),
                        np.array([1.0, -2.0]), np.array([[0.5], [3.0]])).passed  # broadcast
    with pytest.raises(cr.check.GradcheckError, match="FAILED") as caught:
        cr.gradcheck(SinOffByOnePercent.apply, x)
    assert caught.value.report.inputs[0].max_rel_error == pytest.approx(0.01, rel=1e-4)


def test_a_users_op_takes_arrays_and_numbers_and_applies_the_dtype_policy():
    y = Hypot.apply(3.0, np.array([4.0]), scale=2.0)
    assert y.dtype == np.float64 and y.item() == 10.0
    with pytest.raises(cr.DTypeError, match=r"hypot: cannot combine float32 and float64"):
        Hypot.apply(cr.tensor([1.0]), np.array([1.0]), scale=1.0)


def test_a_forward_that_returns_no_array_or_the_wrong_count_is_named():
    class Listy(cr.Function):
        @staticmethod
        def forward(x):
            return [1.0, 2.0]

    class Counted(cr.Function):
        keeps = ("one", "two")

        @staticmethod
        def forward(x):
            return x, x

    with pytest.raises(cr.DTypeError, match=r"^listy: forward must return a NumPy array"):
        Listy.apply(np.ones(2))
    with pytest.raises(TypeError, match=r"^counted: forward returned 2 arrays but keeps names 2"):
        Counted.apply(np.ones(2))


def test_a_users_op_in_a_traced_training_step_equals_the_eager_one(traced_equals_eager):
    class SinLayer(nn.Module):
        def forward(self, x):
            return Hypot.apply(Sin.apply(x), x, scale=0.5)

    rng = np.random.default_rng(3)
    traced_equals_eager(lambda: nn.Sequential(nn.Linear(3, 2, rng=1, dtype="float64"), SinLayer()),
                        lambda params: optim.SGD(params, lr=0.1),
                        rng.standard_normal((4, 6, 3)), rng.standard_normal((4, 6, 2)))


def test_grad_and_value_and_grad_touch_no_grad_anywhere():
    model = nn.Linear(2, 1, rng=0, dtype="float64")
    model.weight.grad = np.full((1, 2), 7.0)
    w = cr.tensor(np.array([[0.5], [-1.0]]), requires_grad=True)
    w.grad = np.ones((2, 1))
    x = np.array([[0.05, 0.10], [1.0, -2.0]])

    def f(w, x):
        return (F.tanh(x @ w) ** 2).sum() + model(x).sum()

    value, dw = cr.value_and_grad(f)(w, x)
    expected = x.T @ (2 * np.tanh(x @ w.numpy()) * (1 - np.tanh(x @ w.numpy()) ** 2))
    np.testing.assert_allclose(dw, expected, rtol=1e-12)
    assert value.requires_grad is False and value.item() == pytest.approx(
        float((np.tanh(x @ w.numpy()) ** 2).sum() + model(x).numpy().sum()))
    np.testing.assert_array_equal(cr.grad(f)(w, x), dw)
    dw2, dx = cr.grad(f, argnums=(0, 1))(w.numpy(), x)
    np.testing.assert_array_equal(dw2, dw)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(w.grad, np.ones((2, 1)))  # untouched
    np.testing.assert_array_equal(model.weight.grad, np.full((1, 2), 7.0))
    assert cr.grad(lambda a, b: F.sum(a * 2), argnums=1)(np.ones(2), np.ones(3)).tolist() \
        == [0.0, 0.0, 0.0]  # an unused argument gets zeros


def test_grad_refuses_what_it_cannot_differentiate():
    with pytest.raises(cr.GraphError, match=r"^grad: fn must return a tensor of one value"):
        cr.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(cr.GraphError, match=r"^grad: argument 0 is int64"):
        cr.grad(lambda x: x.sum())(np.arange(3))
    with pytest.raises(cr.GraphError, match=r"^grad: argnums names argument 2, but fn was "
                                            r"called with 1 positional argument$"):
        cr.grad(lambda x: x.sum(), argnums=2)(np.ones(3))


def test_grad_works_inside_no_grad():
    with cr.no_grad():
        assert cr.grad(lambda x: (x * x).sum())(np.array([3.0])).tolist() == [6.0]


def test_backward_inputs_accumulates_into_those_tensors_only():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    h = a * b
    (h * h).sum().backward(inputs=[a, h])
    np.testing.assert_array_equal(a.grad, 2 * (a.numpy() * b.numpy()) * b.numpy())
    np.testing.assert_array_equal(h.grad, 2 * h.numpy())  # an intermediate, asked for
    assert b.grad is None
    with pytest.raises(cr.GraphError, match=r"every tensor in inputs= must be a Tensor that "
                                            r"requires grad"):
        (a * 2).sum().backward(inputs=[np.ones(2)])


def test_gradcheck_leaves_the_inputs_grad_as_it_found_it():
    x = cr.tensor(np.array([0.2, 0.7]), requires_grad=True)
    x.grad = np.array([5.0, 6.0])
    assert cr.gradcheck(lambda t: t.sigmoid(), x).passed
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])
    y = cr.tensor(np.array([0.2]), requires_grad=True)
    cr.gradcheck(lambda t: t.exp(), y)
    assert y.grad is None


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: F.sum(np.ones(3)), 3.0),
    (lambda: F.exp(0.4), np.exp(np.float32(0.4))),
    (lambda: F.mean([1, 2, 3]), 2.0),
    (lambda: F.sigmoid(0.0), 0.5),
    (lambda: F.log(np.e), 1.0),
    (lambda: F.max(np.array([1.0, 5.0])), 5.0),
    (lambda: F.logsumexp(np.zeros(2)), np.log(2.0)),
    (lambda: F.min([3.0, -1.0, 2.0]), -1.0),
    (lambda: F.prod(np.array([2.0, 0.5, -3.0])), -3.0),
    (lambda: F.var([1.0, 2.0, 3.0], ddof=1), 1.0),
    (lambda: F.std(np.array([1.0, 3.0])), 1.0),
    (lambda: F.norm([3.0, -4.0]), 5.0),
    (lambda: F.norm(-2.0, 1), 2.0),
    (lambda: F.cumsum(np.arange(4.0))[-1], 6.0),
    (lambda: F.softmax(np.zeros(4)).sum(), 1.0),
    (lambda: F.relu(-2.0), 0.0),
    (lambda: F.abs(-2), 2),
    (lambda: F.reshape(np.arange(6.0), (2, 3)).sum(), 15.0),
    (lambda: F.transpose(np.ones((2, 3))).shape[0], 3),
    (lambda: F.matmul(np.ones((2, 2)), np.ones(2)).sum(), 4.0),
])
def test_functional_ops_accept_numpy_arrays_and_python_numbers(call, expected):
    result = call()
    value = result.item() if isinstance(result, cr.Tensor) else result
    assert value == pytest.approx(expected, rel=1e-6)


def test_logsumexp_of_infinite_rows_is_infinite_with_finite_gradients():
    x = cr.tensor(np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.inf, np.inf], [0.0, -np.inf],
                            [1.0, 2.0]]), requires_grad=True)
    out = F.logsumexp(x, axis=1)
    np.testing.assert_array_equal(out.numpy()[:4], [-np.inf, np.inf, np.inf, 0.0])
    assert out.numpy()[4] == pytest.approx(np.log(np.e + np.e**2))
    out.backward(np.ones(5))
    np.testing.assert_array_equal(x.grad[:4], [[0, 0], [1, 0], [0.5, 0.5], [1, 0]])
    np.testing.assert_allclose(x.grad[4], np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum())


# --- ops that take out= (Note [replay buffers] in trace.py) ----------------------------------

def _takes_out_cases():
    from chainrule.ops.activation import ReLUOp, SigmoidOp, TanhOp
    from chainrule.ops.linalg import LinearOp

    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    net = rng.standard_normal((4, 2))
    net[0, 0] = 0.0  # ReLU's kink
    return [
        (LinearOp, (x, w, b), (True, True, True)),
        (LinearOp, (x[0], w, b), (True, True, True)),  # one sample: outer product, g for b
        (LinearOp, (x, w), (False, True)),
        *[(op, (a,), (True,)) for op in (SigmoidOp, TanhOp, ReLUOp)
          for a in (net, np.array(0.3), net.astype(np.float32))],
    ]


@pytest.mark.parametrize(("op", "inputs", "needs"), _takes_out_cases(),
                         ids=lambda v: getattr(v, "name", None))
def test_an_op_that_takes_out_writes_the_same_bits_into_the_arrays_it_is_given(op, inputs,
                                                                                needs):
    assert op.takes_out
    outputs = op.forward(*inputs)
    buffers = tuple(np.full_like(a, np.nan) for a in outputs)
    written = op.forward(*inputs, out=buffers)
    assert all(a is b for a, b in zip(written, buffers, strict=True))
    assert [a.tobytes() for a in written] == [np.asarray(a).tobytes() for a in outputs]
    g = np.random.default_rng(6).standard_normal(np.shape(outputs[0])).astype(outputs[0].dtype)
    grads = op.backward(g, inputs, outputs, needs)
    buffers = tuple(None if a is None else np.full_like(a, np.nan) for a in grads)
    written = op.backward(g, inputs, outputs, needs, out=buffers)
    for got, want, buffer in zip(written, grads, buffers, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            assert got is buffer and got.tobytes() == np.asarray(want).tobytes()
