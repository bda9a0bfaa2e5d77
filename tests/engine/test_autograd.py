"""The backward walk: accumulation, reuse, order, freeing, no_grad, detach, deep chains."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F


def leaf(values, dtype="float64"):
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_worked_example_forward_and_gradients():
    # The notes' 2-2-2 network: net_h1 = w1·i1 + w2·i2 + b1 = 0.15·0.05 + 0.20·0.10 + 0.35
    # = 0.3775, out_h1 = σ(0.3775) = 0.593269992; out_o1 = 0.75136507; E_total = 0.298371109.
    x = np.array([[0.05, 0.10]])
    w1 = leaf([[0.15, 0.20], [0.25, 0.30]])
    w2 = leaf([[0.40, 0.45], [0.50, 0.55]])
    h = F.sigmoid(F.linear(x, w1, np.array([0.35, 0.35])))
    o = F.sigmoid(F.linear(h, w2, np.array([0.60, 0.60])))
    E = F.half_squared_error(o, np.array([[0.01, 0.99]]))
    assert h.data[0, 0] == pytest.approx(0.593269992, abs=1e-9)
    assert o.data[0, 0] == pytest.approx(0.75136507, abs=1e-8)
    assert E.item() == pytest.approx(0.298371109, abs=1e-9)
    E.backward()
    # ∂E/∂w5 = (out_o1 − t_o1)·out_o1(1 − out_o1)·out_h1 = 0.74136507·0.18681560·0.59326999
    assert w2.grad[0, 0] == pytest.approx(0.082167041, abs=1e-9)
    assert w1.grad[0, 0] == pytest.approx(0.000438568, abs=1e-9)
    np.testing.assert_allclose(w2.data - 0.5 * w2.grad,
                               [[0.35891648, 0.40866619], [0.51130127, 0.56137012]], atol=1e-8)
    np.testing.assert_allclose(w1.data - 0.5 * w1.grad,
                               [[0.14978072, 0.19956143], [0.24975114, 0.29950229]], atol=1e-8)


def test_gradients_sum_where_a_tensor_is_reused():
    # b = a + a; c = b + b = 4a, so ∂c/∂a = 4 (the overwrite bug would give 2 or 1).
    a = leaf([3.0])
    b = a + a
    c = b + b
    c.sum().backward()
    assert a.grad.tolist() == [4.0]
    # x·x: the product rule through a shared input gives 2x.
    x = leaf([1.5, -2.0])
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0, -4.0]


def test_grad_accumulates_across_backward_calls_until_reset():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.zero_grad()
    assert x.grad is None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_leaf_grads_never_share_memory():
    # add hands the same gradient array to both parents; each leaf must own its .grad.
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad[0] = 100.0
    assert b.grad.tolist() == [1.0, 1.0]
    # A broadcast (read-only) gradient is materialised before it reaches a leaf.
    c = leaf([[1.0, 2.0]])
    c.sum().backward()
    c.grad *= 2
    assert c.grad.tolist() == [[2.0, 2.0]]


def test_explicit_output_gradient_is_not_modified():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    seed = np.array([1.0, 0.5, 0.0])
    y.backward(seed)
    x.grad += 1  # must not write through to the caller's array
    assert seed.tolist() == [1.0, 0.5, 0.0]
    assert x.grad.tolist() == [3.0, 2.0, 1.0]


def test_broadcast_gradients_are_summed_to_each_input_shape():
    x = leaf(np.ones((4, 3)))
    b = leaf([1.0, 2.0, 3.0])
    s = leaf(2.0)
    ((x + b) * s).sum().backward()
    assert b.grad.shape == (3,) and b.grad.tolist() == [8.0, 8.0, 8.0]
    assert s.grad.shape == () and s.grad == pytest.approx(4 * (1 + 2 + 3) + 12)


def test_graph_is_freed_after_backward_unless_retained():
    x = leaf([1.0, 2.0])
    y = (x.sigmoid() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * (lambda s: s * (1 - s))(1 / (1 + np.exp(-x.data))))
    with pytest.raises(cr.GraphError, match="already freed by an earlier backward"):
        y.backward()


def test_backward_into_a_freed_graph_adds_no_gradient_anywhere():
    x, y = leaf([1.0, 2.0]), leaf([5.0, 6.0])
    h = x * 2.0
    h.sum().backward()  # frees h's part of the graph
    E = (y * 3.0 + h).sum()  # y's branch is fresh; h's is freed
    with pytest.raises(cr.GraphError, match="already freed by an earlier backward"):
        E.backward()
    assert x.grad.tolist() == [2.0, 2.0]  # from the first backward only
    assert y.grad is None  # not [3, 3]: the failed walk accumulated nothing
    (y * 3.0).sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]


def test_deep_chain_of_100000_ops_runs_without_recursion():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_backward_visits_in_a_stable_order():
    seen: list[str] = []
    a, b = leaf([1.0]), leaf([2.0])
    out = ((a * b).sigmoid() + a.tanh()).sum()
    cr.autograd.backward(out, recorder=lambda node, g, grads: seen.append(node.op))
    # Reverse of a depth-first post-order that visits parents in their recorded order.
    assert seen == ["sum", "add", "tanh", "sigmoid", "mul"]
    first = list(seen)
    seen.clear()
    out = ((a * b).sigmoid() + a.tanh()).sum()
    cr.autograd.backward(out, recorder=lambda node, g, grads: seen.append(node.op))
    assert seen == first


def test_no_grad_builds_no_graph_and_detach_cuts_it():
    x = leaf([1.0, 2.0])
    with cr.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert cr.is_grad_enabled()
    z = (x.detach() * 2 + x).sum()
    z.backward()
    assert x.grad.tolist() == [1.0, 1.0]

    @cr.no_grad()
    def predict(t):
        return t * 3

    assert not predict(x).requires_grad


def test_retain_grad_keeps_intermediate_gradients():
    x = leaf([0.5])
    net = (x * 2).retain_grad()
    out = net.sigmoid()
    out.sum().backward()
    s = out.data[0]
    assert net.grad.tolist() == pytest.approx([s * (1 - s)])


def test_non_scalar_backward_needs_an_output_gradient():
    y = leaf([[1.0, 2.0]]) * 2
    with pytest.raises(cr.GraphError, match=r"the output has shape \(1, 2\), not a single value"):
        y.backward()
    with pytest.raises(cr.ShapeError, match=r"gradient has shape \(3,\) but the output has shape"):
        y.backward(np.ones(3))


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(cr.GraphError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_no_grad_is_per_thread():
    import threading

    x = leaf([1.0])
    seen = []
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        with cr.no_grad():
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=other_thread)
    worker.start()
    entered.wait(5)
    seen.append((x * 2).requires_grad)  # this thread still records a graph
    release.set()
    worker.join()
    assert seen == [True]


def test_one_no_grad_instance_can_be_entered_twice():
    guard = cr.no_grad()
    with guard:
        with guard:
            assert not cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()  # restored to what it was before the outer `with`


def test_grad_of_a_zero_d_leaf_stays_an_array_across_accumulation():
    x = cr.tensor(np.float64(2.0), requires_grad=True)
    (x * 3).backward()
    (x * 3).backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad == 6.0
    x.grad += 1.0  # the user's to change in place
    assert x.grad == 7.0


class Broken(cr.Function):
    """Doubles its input; its backward returns whatever the test planted in `wrong`."""

    wrong = None

    @staticmethod
    def forward(x):
        return x * 2

    @staticmethod
    def backward(g, inputs, outputs, needs):
        return Broken.wrong


@pytest.mark.parametrize("wrong, problem", [
    (np.ones((2, 2)), r"returned a gradient of shape \(2, 2\) for an input of shape \(3,\) "
                      r"\(the result has shape \(3,\)\)"),
    (np.ones(3, dtype=np.float32), r"returned a float32 gradient for a float64 input of shape "
                                   r"\(3,\); return it in the input's dtype"),
    (2.0, r"returned a float as a gradient, not a NumPy array"),
    ((np.ones(3), np.ones(3)), r"returned 2 gradients for 1 inputs"),
])
def test_a_vjp_returning_a_wrong_gradient_is_reported_naming_the_op(wrong, problem):
    Broken.wrong = wrong
    x = leaf([1.0, 2.0, 3.0])
    y = Broken.apply(x)
    with pytest.raises(cr.GraphError, match=r"^backward: op 'broken' \(test_autograd\.Broken"
                                            r"\.backward\) " + problem):
        y.sum().backward()
    assert x.grad is None


def test_transpose_with_negative_axes_permutes_the_gradient_back():
    x = leaf(np.arange(24.0).reshape(2, 3, 4))
    weights = np.arange(24.0).reshape(2, 4, 3)
    (x.transpose(0, -1, -2) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.transpose(0, 2, 1))


def test_one_no_grad_instance_shared_by_two_threads():
    import threading

    guard = cr.no_grad()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        with guard:
            entered.set()
            release.wait(5)
        seen["other after"] = cr.is_grad_enabled()

    with cr.no_grad():
        with guard:
            worker = threading.Thread(target=other_thread)
            worker.start()
            entered.wait(5)
        seen["main after"] = cr.is_grad_enabled()  # still inside the outer no_grad()
    release.set()
    worker.join()
    assert seen == {"main after": False, "other after": True}
