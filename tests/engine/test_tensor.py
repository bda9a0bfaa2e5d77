"""Tensor creation, the dtype policy, operators and the errors a user meets."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F


def test_python_data_takes_the_default_dtype_and_arrays_keep_theirs():
    assert cr.tensor([1, 2, 3]).dtype == np.float32
    assert cr.tensor(0.5).dtype == np.float32
    assert cr.tensor(np.array([1.0])).dtype == np.float64
    assert cr.tensor(np.array([1, 2])).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_
    cr.set_default_dtype("float64")
    try:
        assert cr.tensor([1.0]).dtype == np.float64
    finally:
        cr.set_default_dtype("float32")
    with pytest.raises(cr.DTypeError, match="expected a floating dtype, got int32"):
        cr.set_default_dtype("int32")


def test_python_numbers_adopt_the_tensor_dtype():
    x = cr.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for y in (x + 1.5, 2.0 * x, x / 3, 1 - x, x**2, 2.0**x):
        assert y.dtype == np.float32
    y = x * 3
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float32_meeting_float64_is_an_error():
    a = cr.tensor(np.ones((2, 3), dtype=np.float32))
    b = cr.tensor(np.ones(3, dtype=np.float64))
    with pytest.raises(cr.DTypeError, match=r"add: cannot combine float32 and float64 tensors "
                                            r"\(shapes \(2, 3\) and \(3,\)\)"):
        a + b
    assert (a + b.astype("float32")).dtype == np.float32


def test_integer_and_bool_tensors_are_cast_to_the_float_side():
    x = cr.tensor(np.ones(2, dtype=np.float32))
    assert (x * cr.tensor(np.array([1, 2]))).dtype == np.float32
    assert (x * (x > 0)).dtype == np.float32


def test_integers_cannot_require_grad_and_strings_are_refused():
    with pytest.raises(cr.DTypeError, match="requires_grad=True needs a floating dtype, got int64"):
        cr.tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(cr.DTypeError, match="cannot hold <U1 data"):
        cr.tensor(["a", "b"])
    with pytest.raises(cr.DTypeError, match="cannot hold complex128"):
        cr.tensor(np.array([1 + 2j]))


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(cr.ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not line "
                                            r"up: the last dimension of the first \(3\) must "
                                            r"equal the second-to-last dimension of the second "
                                            r"\(4\)"):
        cr.tensor(np.zeros((2, 3))) @ cr.tensor(np.zeros((4, 5)))


def test_broadcast_error_names_the_op_and_shapes():
    with pytest.raises(cr.ShapeError, match=r"mul: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        cr.tensor(np.zeros((2, 3))) * cr.tensor(np.zeros(4))


def test_linear_and_loss_shape_errors():
    with pytest.raises(cr.ShapeError, match=r"linear: input of shape \(5, 4\) does not fit weight "
                                            r"of shape \(2, 3\)"):
        F.linear(np.zeros((5, 4)), cr.tensor(np.zeros((2, 3))))
    with pytest.raises(cr.ShapeError, match=r"prediction of shape \(4, 1\) and target of shape "
                                            r"\(4,\) differ"):
        F.mse(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(cr.DataError, match=r"label 3 is out of range for 3 classes"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(cr.DataError, match="labels must be integer class indices"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_comparisons_give_boolean_tensors_without_grad():
    x = cr.tensor(np.array([1.0, -1.0]), requires_grad=True)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad
    assert mask.tolist() == [True, False]
    assert (x == x).tolist() == [True, True]
    assert len({x, mask}) == 2  # tensors hash by identity


def test_numpy_on_the_left_defers_to_tensor():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, cr.Tensor)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


def test_stability_at_extreme_inputs_without_warnings():
    big = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    for dtype in ("float32", "float64"):
        x = cr.tensor(big.astype(dtype), requires_grad=True)
        s = F.sigmoid(x)
        assert np.all(np.isfinite(s.data)) and s.data[0] == 0 and s.data[-1] == 1
        sp = F.softplus(x)
        assert np.all(np.isfinite(sp.data)) and sp.data[-1] == pytest.approx(1e4)
        ls = F.log_softmax(x)
        assert np.all(np.isfinite(ls.data))
        assert F.logsumexp(x).item() == pytest.approx(1e4)
        (s.sum() + sp.sum() + ls.sum()).backward()
        assert np.all(np.isfinite(x.grad))


def test_methods_and_repr():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], name="x")
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and len(x) == 2
    assert x.T.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert x.reshape(4).shape == (4,) and x.reshape((1, 4)).shape == (1, 4)
    assert x.sum(axis=0).tolist() == [4.0, 6.0] and x.max().item() == 4.0
    assert x.mean(axis=1, keepdims=True).shape == (2, 1)
    assert x[1, 0].item() == 3.0
    assert "name='x'" in repr(x) and "dtype=float32" in repr(x)
    assert "op=add" in repr(x + 1)
    assert float(cr.tensor(2.5)) == 2.5
