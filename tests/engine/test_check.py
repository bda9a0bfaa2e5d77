"""gradcheck and jacobian, including a test that the checker itself catches a wrong VJP."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.check import GradcheckError


def sigmoid_off_by(fraction):
    """A sigmoid whose VJP is wrong by `fraction` (a planted bug for the checker to find)."""

    class Bad(cr.Function):
        @staticmethod
        def forward(x):
            return 1 / (1 + np.exp(-x))

        @staticmethod
        def backward(g, inputs, outputs, needs):
            out = outputs[0]
            return g * out * (1 - out) * (1 + fraction)

    return Bad.apply


def test_gradcheck_passes_a_correct_op_and_reports():
    report = cr.gradcheck(lambda x: x.sigmoid(), np.array([0.5, -1.0, 2.0]))
    assert report.passed
    assert report.inputs[0].max_abs_error < 1e-9
    assert "passed" in str(report)


def test_gradcheck_catches_a_vjp_off_by_a_tenth_of_a_percent():
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match="FAILED") as caught:
        cr.gradcheck(sigmoid_off_by(1e-3), x, atol=1e-8, rtol=1e-5)
    assert not caught.value.report.passed
    assert "<-- mismatch" in str(caught.value)
    report = cr.gradcheck(sigmoid_off_by(1e-3), x, atol=1e-8, rtol=1e-5, raise_on_failure=False)
    assert report.inputs[0].max_rel_error == pytest.approx(1e-3, rel=1e-3)


def test_gradcheck_warns_on_float32():
    x = cr.tensor(np.array([0.3], dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="input 0 is float32"):
        cr.gradcheck(lambda t: t * 2, x, eps=1e-2, atol=1e-2, raise_on_failure=False)


def test_gradcheck_skips_inputs_without_grad():
    fixed = cr.tensor(np.array([2.0]))
    report = cr.gradcheck(lambda a, b: a * b, np.array([3.0]), fixed)
    assert [c.index for c in report.inputs] == [0]


def test_jacobian_of_a_linear_map_is_its_matrix():
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    J = cr.jacobian(lambda x: cr.tensor(A) @ x, np.array([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(J, A)


def test_jacobian_of_softmax():
    x = np.array([0.2, -0.4, 1.0])
    s = np.exp(x) / np.exp(x).sum()
    J = cr.jacobian(lambda t: cr.functional.softmax(t), x)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), atol=1e-15)


def test_gradcheck_perturbs_non_contiguous_inputs():
    x = cr.tensor(np.arange(1.0, 7.0).reshape(2, 3).T, requires_grad=True)  # a transposed view
    assert cr.gradcheck(lambda t: t * t, x).passed
