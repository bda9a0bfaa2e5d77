"""Tensor constructors and manual_seed."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_manual_seed_makes_randn_and_rand_repeat():
    cr.manual_seed(0)
    a, u = cr.randn(3, 2), cr.rand((4,))
    cr.manual_seed(0)
    np.testing.assert_array_equal(cr.randn(3, 2).numpy(), a.numpy())
    np.testing.assert_array_equal(cr.rand(4).numpy(), u.numpy())
    expected = np.random.default_rng(0).standard_normal((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(a.numpy(), expected)
    assert a.dtype == np.float32 and u.dtype == np.float32
    assert ((0 <= u.numpy()) & (u.numpy() < 1)).all()
    assert cr.randn(2, dtype="float64").dtype == np.float64


def test_constructors_give_shapes_dtypes_and_gradients():
    assert cr.zeros(2, 3).shape == (2, 3) and not cr.zeros(2).numpy().any()
    assert cr.ones((2, 2), dtype="float64").numpy().sum() == 4.0
    assert cr.full((2,), 0.5).tolist() == [0.5, 0.5] and cr.full(3, 1.0).shape == (3,)
    assert cr.arange(4).tolist() == [0, 1, 2, 3] and cr.arange(4).dtype.kind == "i"
    assert cr.arange(0, 1, 0.5).tolist() == [0.0, 0.5] and cr.arange(0, 1, 0.5).dtype == np.float32
    np.testing.assert_array_equal(cr.eye(2, 3).numpy(), np.eye(2, 3))
    w = cr.randn(2, 2, requires_grad=True)
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, 2 * w.numpy())


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: cr.zeros(-1), cr.ShapeError, r"^zeros: a shape is non-negative ints"),
    (lambda: cr.randn(2.5), cr.ShapeError, r"^randn: a shape is non-negative ints"),
    (lambda: cr.rand(2, dtype="int64"), cr.DTypeError, r"^rand: draws floats; dtype must be "
                                                       r"float32 or float64, got int64$"),
    (lambda: cr.arange(0, 3, 0), cr.ShapeError, r"^arange: step must not be 0$"),
    (lambda: cr.manual_seed(-1), cr.DTypeError, r"^manual_seed: the seed must be a "
                                                r"non-negative int, got -1$"),
])
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()
