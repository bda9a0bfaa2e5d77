"""Ops at the edges of their domains: far tails, zero bases, bad axes, integer inputs."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.ops.elementwise import PowOp
from chainrule.ops.reduce import MeanOp, SumOp


def _sigmoid_reference(v: float) -> float:
    """σ(v) in Python floats, written so that neither side cancels."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


# --- sigmoid and the ops built on it ----------------------------------------------------------

@pytest.mark.parametrize(("dtype", "limit", "rtol"), [
    ("float64", 80.0, 4e-16 * 4),  # a few units in the last place
    ("float32", 30.0, 6e-8 * 4),
])
def test_sigmoid_has_full_relative_precision_on_both_sides(dtype, limit, rtol):
    x = np.linspace(-limit, limit, 4001).astype(dtype)
    reference = np.array([_sigmoid_reference(v) for v in x.astype(float)])
    out = F.sigmoid(cr.tensor(x)).data
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, reference, rtol=rtol, atol=0)


def test_sigmoid_far_negative_values():
    # ½·tanh(x/2) + ½ gave 5.96e-08 and 0.0 here in float32, and 0 at −40 in float64.
    assert F.sigmoid(cr.tensor(np.float32(-17))).item() == pytest.approx(4.1399377e-08, rel=1e-6)
    assert F.sigmoid(cr.tensor(np.float32(-20))).item() == pytest.approx(2.0611537e-09, rel=1e-6)
    assert F.sigmoid(cr.tensor(-40.0, dtype="float64")).item() == \
        pytest.approx(4.248354255291589e-18, rel=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e^(−net) overflows below −88: silently σ = 0
        assert F.sigmoid(cr.tensor(np.float32(-1e4))).item() == 0.0
        assert F.sigmoid(cr.tensor(-1e4, dtype="float64")).item() == 0.0


def test_sigmoid_derivative_far_from_zero_matches_the_reference():
    x = cr.tensor(np.linspace(-80, 80, 321), requires_grad=True, dtype="float64")
    x.sigmoid().sum().backward()
    reference = np.array([_sigmoid_reference(v) * _sigmoid_reference(-v) for v in x.data])
    negative = x.data <= 0
    # out·(1 − out) is exact to rounding where out ≤ ½; where out → 1, 1 − out keeps an
    # absolute error of about one unit in the last place of 1.
    np.testing.assert_allclose(x.grad[negative], reference[negative], rtol=1e-14, atol=0)
    np.testing.assert_allclose(x.grad[~negative], reference[~negative], rtol=1e-14, atol=2.3e-16)


@pytest.mark.parametrize("op", [
    F.sigmoid,
    F.softplus,
    lambda z: F.binary_cross_entropy_with_logits(z, np.zeros(z.shape), reduction="sum"),
    lambda z: F.binary_cross_entropy_with_logits(z, np.full(z.shape, 0.25), reduction="none"),
], ids=["sigmoid", "softplus", "bce_with_logits", "bce_with_logits_soft_targets"])
@pytest.mark.parametrize("z", [-6.0, -12.5, -20.0, -30.0, -40.0, -60.0])
def test_gradients_in_the_far_negative_tail_have_full_relative_precision(op, z):
    # One element at a time: its central difference is then exact to ~1e-10 relative however
    # tiny the value, so the check can demand relative precision with no absolute slack.
    cr.gradcheck(op, np.array([z]), atol=0, rtol=1e-6)


@pytest.mark.parametrize("op", [F.sigmoid, F.softplus], ids=["sigmoid", "softplus"])
def test_gradients_in_the_far_positive_tail(op):
    cr.gradcheck(op, np.linspace(6.0, 40.0, 18), atol=1e-9, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_on_a_far_negative_sigmoid_still_learns(dtype):
    z = cr.tensor(np.array([-20.0], dtype=dtype), requires_grad=True)
    E = F.binary_cross_entropy(z.sigmoid(), np.ones(1, dtype=dtype))
    E.backward()
    # E = −ln σ(−20) = 20 + ln(1 + e^(−20)); ∂E/∂z = σ(z) − 1 ≈ −1 (not E = 100 and 0).
    assert E.item() == pytest.approx(20.0, rel=1e-6)
    assert z.grad[0] == pytest.approx(-1.0, rel=1e-5)


# --- pow at zero and negative bases -----------------------------------------------------------

def _quiet_backward(fn, x: np.ndarray) -> np.ndarray:
    t = cr.tensor(x, requires_grad=True, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(t).sum().backward()
    return t.grad


def test_pow_zero_exponent_has_zero_gradient_even_at_zero():
    np.testing.assert_array_equal(_quiet_backward(lambda x: x**0, np.array([0.0, 1.0, -2.0])),
                                  [0.0, 0.0, 0.0])
    exponents = cr.tensor(np.array([0.0, 2.0, 0.0]), dtype="float64")
    np.testing.assert_array_equal(
        _quiet_backward(lambda x: x**exponents, np.array([0.0, 0.0, -3.0])), [0.0, 0.0, 0.0])


@pytest.mark.parametrize(("p", "expected"), [(1, 1.0), (2, 0.0), (3, 0.0), (0.5, math.inf)])
def test_pow_gradient_at_zero_base_is_the_limit(p, expected):
    # As in PyTorch: d/dx x^p at x = 0 is p·0^(p−1): 1, 0, 0 and +∞ (never p·out/x = 0/0).
    assert _quiet_backward(lambda x: x**p, np.array([0.0]))[0] == expected


@pytest.mark.parametrize("p", [0, 1, 2, 3, 4, -1, -2])
def test_pow_integer_exponents_at_negative_and_zero_bases(p):
    bases = np.array([-2.0, -1.0, -0.5, 0.5, 1.5]) if p < 0 else \
        np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.5])
    cr.gradcheck(lambda x: x**p, bases, atol=1e-7, rtol=1e-6)
    cr.gradcheck(lambda x: x ** cr.tensor(float(p), dtype="float64"), bases, atol=1e-7, rtol=1e-6)


def test_a_whole_power_has_the_general_formulas_gradient_bit_for_bit():
    # x², x³ skip the general path's errstate and b = 0 check, not its arithmetic
    rng = np.random.default_rng(3)
    for dtype in ("float32", "float64"):
        a = rng.standard_normal((4, 5)).astype(dtype)
        g = rng.standard_normal((4, 5)).astype(dtype)
        for p in (1.0, 2.0, 3.0, 4.0):
            b = np.array(p, dtype=dtype)
            (ga, _) = PowOp.backward(g, (a, b), (a**b,), (True, False))
            assert ga.dtype == a.dtype
            np.testing.assert_array_equal(ga, g * (b * a ** (b - 1)), strict=True)


# --- reductions: NumPy's results, without NumPy's Python wrappers -----------------------------

def _all_axes(ndim: int):
    return [axes for r in range(ndim + 1) for axes in itertools.combinations(range(ndim), r)]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_mean_is_numpys_mean_bit_for_bit(dtype):
    rng = np.random.default_rng(4)
    for shape in [(), (1,), (7,), (3, 5), (4, 1, 6), (33, 257), (100_000,)]:
        x = (rng.standard_normal(shape) * 100).astype(dtype)
        for axes in _all_axes(x.ndim):
            for keepdims in (False, True):
                ours = F.mean(cr.tensor(x), axis=axes, keepdims=keepdims).data
                theirs = np.asarray(x.mean(axis=axes, keepdims=keepdims, dtype=x.dtype))
                assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
                assert ours.tobytes() == theirs.tobytes(), (shape, axes, keepdims)


def test_sum_and_mean_spread_their_gradient_as_read_only_broadcasts():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    for axes in _all_axes(3):
        for keepdims in (False, True):
            kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            g = rng.standard_normal(kept if keepdims else
                                    tuple(n for i, n in enumerate(x.shape) if i not in axes))
            # C-contiguous (a view made by hand), Fortran-ordered (np.broadcast_to's), a scalar
            for grad in (g, np.asfortranarray(g), g[()] if g.ndim == 0 else g):
                wide = np.broadcast_to(np.reshape(grad, kept), x.shape)
                count = math.prod(x.shape[a] for a in axes)
                for op, expected in ((SumOp, wide), (MeanOp, wide / count)):
                    (out,) = op.backward(grad, (x,), None, (True,), axes=axes,
                                         keepdims=keepdims)
                    assert out.shape == x.shape and not out.flags.writeable
                    np.testing.assert_array_equal(out, expected, strict=True)


# --- axes -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda x: F.softmax(x, axis=2),
     r"softmax: axis 2 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: F.log_softmax(x, axis=-2),
     r"log_softmax: axis -2 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: F.logsumexp(x, axis=1),
     r"logsumexp: axis 1 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: x.sum(axis=(0, -1)),
     r"sum: axis \(0, -1\) names the same axis twice \(shape \(3,\)\)"),
    (lambda x: F.softmax(x.sum()),
     r"softmax: axis -1 is out of range for a tensor of shape \(\) \(it has no axes; use "
     r"axis=None\)"),
    (lambda x: x.min(axis=1),
     r"min: axis 1 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: F.prod(x, axis=-2),
     r"prod: axis -2 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: x.var(axis=(0, 0)),
     r"var: axis \(0, 0\) names the same axis twice \(shape \(3,\)\)"),
    (lambda x: F.std(x, axis=3),
     r"std: axis 3 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: x.norm(2, axis=(-1, 0)),
     r"norm: axis \(-1, 0\) names the same axis twice \(shape \(3,\)\)"),
    (lambda x: x.cumsum(axis=-2),
     r"cumsum: axis -2 is out of range for a tensor of shape \(3,\) \(valid axes: -1 to 0\)"),
    (lambda x: x.sum().cumsum(axis=0),
     r"cumsum: axis 0 is out of range for a tensor of shape \(\) \(it has no axes; use "
     r"axis=None\)"),
    (lambda x: F.cumsum(x, axis=(0,)), r"cumsum: axis must be one int or None, got \(0,\)"),
])
def test_bad_axes_are_shape_errors_naming_the_op(call, message):
    with pytest.raises(cr.ShapeError, match=message):
        call(cr.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize(("call", "message"), [
    (lambda x: x.var(ddof=-1), r"var: ddof must be a non-negative int \(0: population, 1: "
                               r"sample estimate\), got -1"),
    (lambda x: F.std(x, ddof=0.5), r"std: ddof must be a non-negative int .*, got 0\.5"),
    (lambda x: x.norm(3), r"norm: ord must be 1, 2 or inf \(vector norms\), got 3"),
    (lambda x: F.norm(x, "fro"), r"norm: ord must be 1, 2 or inf \(vector norms\), got 'fro'"),
])
def test_bad_ddof_and_ord_are_config_errors(call, message):
    with pytest.raises(cr.ConfigError, match=message):
        call(cr.tensor([1.0, 2.0, 3.0]))


def test_prod_gradient_through_zeros_matches_finite_differences():
    x = np.array([[0.0, 2.0, -1.5], [0.0, 0.0, 3.0], [1.0, 0.5, 2.0]])
    for axis in (None, 0, -1, (0, 1)):
        cr.gradcheck(lambda a, axis=axis: a.prod(axis=axis), x, atol=1e-7, rtol=1e-5)


def test_reductions_of_scalars_and_integers():
    s = cr.tensor(3.0, dtype="float64", requires_grad=True)
    assert s.var().item() == 0.0 and s.prod().item() == 3.0 and s.norm().item() == 3.0
    np.testing.assert_array_equal(s.cumsum().data, [3.0])
    s.std().backward()  # std 0: gradient 0, as in PyTorch
    assert s.grad == 0.0
    ints = cr.tensor(np.array([1, 2, 4]))
    assert ints.var().dtype == cr.get_default_dtype() and ints.var().item() == pytest.approx(14 / 9)
    assert ints.norm(1).item() == 7.0 and ints.prod().item() == 8 and ints.min().item() == 1
    np.testing.assert_array_equal(ints.cumsum().data, [1, 3, 7])


def test_softmax_over_several_axes():
    x = np.arange(6.0).reshape(2, 3)
    out = F.softmax(cr.tensor(x, dtype="float64"), axis=(0, 1)).data
    np.testing.assert_allclose(out, np.exp(x) / np.exp(x).sum(), rtol=1e-15)
    cr.gradcheck(lambda a: F.log_softmax(a, axis=(0, 1)), x)


# --- integer inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("op", [F.sigmoid, F.tanh, F.softplus, F.leaky_relu, F.softmax,
                                F.log_softmax], ids=lambda f: f.__name__)
def test_float_activations_of_integer_tensors_take_the_default_dtype(op):
    assert op(cr.tensor(np.array([1, -2, 3]))).dtype == np.float32
    cr.set_default_dtype("float64")
    try:
        assert op(cr.tensor(np.array([1, -2, 3]))).dtype == np.float64
    finally:
        cr.set_default_dtype("float32")


def test_leaky_relu_of_an_integer_tensor():
    out = F.leaky_relu(cr.tensor(np.array([1, -2, 3])), 0.5)
    assert out.dtype == np.float32 and out.tolist() == [1.0, -1.0, 3.0]


# --- the newer elementwise ops: numbers, arrays and integers in -------------------------------

def test_elementwise_functions_accept_numbers_and_arrays():
    assert F.sin(0.4).dtype == np.float32  # a number: the default dtype
    assert F.sin(0.4).item() == pytest.approx(math.sin(0.4), rel=1e-7)
    assert F.cos(np.array([0.0, math.pi])).tolist() == [1.0, -1.0]  # an array keeps float64
    assert F.log2(np.array([8.0])).tolist() == [3.0]
    assert F.log10(100.0).item() == pytest.approx(2.0)
    assert F.log1p(np.array([1e-20])).item() == 1e-20  # ln(1 + x) would give 0
    assert F.expm1(np.array([1e-20])).item() == 1e-20
    assert F.square(np.array([-3.0, 2.0])).tolist() == [9.0, 4.0]
    assert F.round(np.array([0.5, 1.5, 2.5, -0.5, 1.26])).tolist() == [0.0, 2.0, 2.0, -0.0, 1.0]
    assert F.round(np.array([1.26, 15.0]), 1).tolist() == [1.3, 15.0]
    assert F.floor(-1.5).item() == -2.0 and F.ceil(-1.5).item() == -1.0
    big = F.maximum(np.ones(3), 2.0)
    assert big.dtype == np.float64 and big.tolist() == [2.0, 2.0, 2.0]
    assert F.minimum(np.array([[1.0], [3.0]]), np.array([2.0, 0.0])).tolist() == [[1.0, 0.0],
                                                                                [2.0, 0.0]]
    assert F.logaddexp(0.0, 0.0).item() == pytest.approx(math.log(2.0))
    assert F.logaddexp(np.array([1000.0]), 1000.0).item() == pytest.approx(1000.0 + math.log(2))
    x = cr.tensor(np.array([0.3, -1.2]), requires_grad=True)
    for y in (x.sin(), x.tan(), x.expm1(), x.square(), x.sign(), x.round(), x.maximum(0.0),
              x.minimum(np.zeros(2)), x.logaddexp(1.0)):
        assert y.dtype == np.float64 and y.requires_grad and y.shape == (2,)


def test_step_ops_have_zero_gradient_and_keep_integer_dtypes():
    x = cr.tensor(np.array([-1.7, 0.2, 2.5]), requires_grad=True)
    (x.sign() + x.floor() + x.ceil() + x.round()).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))
    labels = np.array([-2, 0, 3])
    for out in (F.sign(labels), F.floor(labels), F.ceil(labels), F.round(labels),
                F.square(labels), F.maximum(labels, labels), F.minimum(labels, labels)):
        assert out.dtype == labels.dtype
    assert F.sin(labels).dtype == np.float32 and F.logaddexp(labels, labels).dtype == np.float32
    mask = np.array([True, False])
    assert F.sign(mask).tolist() == [True, False] and F.floor(mask).dtype == bool


def test_elementwise_binary_ops_name_themselves_in_shape_errors():
    for op in (F.maximum, F.minimum, F.logaddexp):
        with pytest.raises(cr.ShapeError, match=rf"{op.__name__}: shapes \(2,\) and \(3,\) "
                                                "cannot be broadcast"):
            op(np.ones(2), np.ones(3))


# --- shape ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: x.squeeze(0), cr.ShapeError,
     r"squeeze: axis 0 of a tensor of shape \(2, 1, 3\) has size 2; only axes of size 1 can be "
     r"squeezed"),
    (lambda x: x.expand_dims(5), cr.ShapeError,
     r"expand_dims: axis 5 does not fit a tensor of shape \(2, 1, 3\) growing to 4 axes "
     r"\(valid axes: -4 to 3, each named once\)"),
    (lambda x: x.swapaxes(0, -4), cr.ShapeError,
     r"swapaxes: axis -4 is out of range for a tensor of shape \(2, 1, 3\) \(valid axes: -3 to "
     r"2\)"),
    (lambda x: x.moveaxis([0, -3], [1, 2]), cr.ShapeError,
     r"moveaxis: axis \(0, -3\) names the same axis twice \(shape \(2, 1, 3\)\)"),
    (lambda x: x.moveaxis([0, 1], 2), cr.ShapeError,
     r"moveaxis: source \[0, 1\] and destination 2 must name as many axes each"),
    (lambda x: x.flip(3), cr.ShapeError, r"flip: axis 3 is out of range"),
    (lambda x: x.roll((1, 2), 0), cr.ShapeError,
     r"roll: shift \(1, 2\) and axis 0 must have the same length \(shape \(2, 1, 3\)\)"),
    (lambda x: x.repeat([1, 2], axis=-1), cr.ShapeError,
     r"repeat: 2 repeats for 3 elements along axis 2 of a tensor of shape \(2, 1, 3\) "
     r"\(give one count, or one per element\)"),
    (lambda x: x.repeat(-1), cr.ShapeError,
     r"repeat: repeats must be a non-negative int or a 1-D sequence of them, got -1"),
    (lambda x: x.tile((2, 1.5)), cr.ShapeError,
     r"tile: reps must be non-negative ints, got \(2, 1.5\) \(shape \(2, 1, 3\)\)"),
    (lambda x: x.split(2, axis=-1), cr.ShapeError,
     r"split: cannot cut axis 2 of size 3 \(shape \(2, 1, 3\)\) into 2 equal pieces; give a "
     r"divisor of 3 or a list of indices"),
    (lambda x: F.pad(x, ((1, 1), (2, 2))), cr.ShapeError,
     r"pad: pad_width \(\(1, 1\), \(2, 2\)\) does not fit a tensor of shape \(2, 1, 3\)"),
    (lambda x: F.pad(x, -1), cr.ShapeError, r"pad: pad_width -1 does not fit"),
    (lambda x: F.pad(x, 1, mode="reflect"), cr.ConfigError,
     r"pad: only mode='constant' is supported, got mode='reflect'"),
])
def test_bad_shape_op_arguments_name_the_op_and_shape(call, error, message):
    with pytest.raises(error, match=message):
        call(cr.tensor(np.zeros((2, 1, 3))))


def test_shape_ops_accept_arrays_and_keep_numpy_values():
    x = np.arange(6.0).reshape(2, 3)
    assert F.squeeze(x[None]).shape == (2, 3)
    np.testing.assert_array_equal(F.flatten(x).data, x.flatten())
    np.testing.assert_array_equal(F.repeat(x, [2, 0, 1], axis=1).data,
                                  np.repeat(x, [2, 0, 1], axis=1))
    np.testing.assert_array_equal(F.pad(x, 1, constant_values=-1.0).data,
                                  np.pad(x, 1, constant_values=-1.0))
    assert F.flatten(cr.tensor(3.0)).shape == (1,)
    assert [p.shape for p in cr.tensor(x).split([1], axis=-1)] == [(2, 1), (2, 2)]


# --- linear algebra and order: bad shapes and subscripts name the op and the shapes -----------
V3, V4, M23, M34 = np.ones(3), np.ones(4), np.ones((2, 3)), np.ones((3, 4))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.dot(V3, V4), r"dot: vectors of shapes \(3,\) and \(4,\) must have the same length"),
    (lambda: F.dot(M34, M23), r"dot: shapes \(3, 4\) and \(2, 3\) do not line up: the last "
                              r"dimension of the first \(4\) must equal the first dimension of "
                              r"the second \(2\)"),
    (lambda: F.dot(np.float64(2), V3), r"dot: operands must be vectors or matrices \(1-D or "
                                       r"2-D\), got shapes \(\) and \(3,\)"),
    (lambda: F.outer(M23, V3), r"outer: operands must be vectors \(1-D\), got shapes \(2, 3\) "
                               r"and \(3,\)"),
    (lambda: F.tensordot(M23, M34, 2), r"tensordot: axis 0 of a \(size 2\) and axis 0 of b "
                                       r"\(size 3\) are summed together"),
    (lambda: F.tensordot(M23, M34, 3), r"tensordot: axes=3 must be between 0 and 2"),
    (lambda: F.tensordot(M23, M34, ([1], [0, 1])), r"tensordot: axes .* pair 1 axes of a with "
                                                   r"2 of b"),
    (lambda: F.tensordot(M23, M34, ([5], [0])), r"tensordot: axes \[5\] of a are out of range "
                                                r"for shape \(2, 3\)"),
    (lambda: F.tensordot(M23, M34, ([1, -1], [0, 1])), r"tensordot: axes \[1, -1\] of a name "
                                                       r"the same axis twice"),
    (lambda: F.einsum("ij,jk->ik", M23, M23), r"einsum: index 'j' has size 3 in one place and 2 "
                                              r"in another \(operand 1, shape \(2, 3\)\)"),
    (lambda: F.einsum("ij->i", V3), r"einsum: operand 0 has shape \(3,\) \(1 axes\) but its "
                                    r"subscripts 'ij' name 2"),
    (lambda: F.einsum("ij,jk->ik", M23), r"einsum: 'ij,jk->ik' names 2 operands but 1 were "
                                         r"given"),
    (lambda: F.einsum("ij->k", M23), r"einsum: output index 'k' in 'ij->k' appears in no "
                                     r"operand"),
    (lambda: F.einsum("ij->ii", M23), r"einsum: output 'ii' in 'ij->ii' names an index twice"),
    (lambda: F.einsum("...j->j", M23), r"einsum: '...j->j': ellipsis \(...\) is not supported"),
    (lambda: F.einsum("i1->i", M23), r"einsum: 'i1->i' is not of the form 'ij,jk->ik'"),
    (lambda: F.einsum("ij"), r"einsum: needs at least one operand"),
    (lambda: F.tril(V3), r"tril: needs a matrix \(at least 2 dimensions\), got shape \(3,\)"),
    (lambda: F.triu(V3), r"triu: needs a matrix \(at least 2 dimensions\), got shape \(3,\)"),
    (lambda: F.diagonal(M23, 0, 0, -2), r"diagonal: axis1 and axis2 name the same axis "
                                        r"\(0, -2\) \(shape \(2, 3\)\)"),
    (lambda: F.diagonal(M23, 0, 0, 2), r"diagonal: axes \(0, 2\) are out of range for a tensor "
                                       r"of shape \(2, 3\) \(valid axes: -2 to 1\)"),
    (lambda: F.argmax(np.ones((0, 2))), r"argmax: tensor of shape \(0, 2\) has no values along "
                                        r"axis None to choose from"),
    (lambda: F.argmin(M23, axis=2), r"argmin: axis 2 is out of range for a tensor of shape "
                                    r"\(2, 3\)"),
    (lambda: F.argsort(M23, axis=None), r"argsort: axis must be one int, got None"),
    (lambda: F.sort(M23, axis=(0, 1)), r"sort: axis must be one int, got \(0, 1\)"),
    (lambda: F.sort(np.float64(1.0)), r"sort: axis -1 is out of range for a tensor of shape "
                                      r"\(\)"),
])
def test_linalg_and_order_ops_refuse_bad_shapes_exactly(call, message):
    with pytest.raises(cr.ShapeError, match=message):
        call()


def test_order_ops_give_integer_tensors_without_gradient_and_sort_is_stable():
    x = cr.tensor(np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 0.0]]), requires_grad=True)
    assert x.argmax().item() == 0 and x.argmin().item() == 3
    assert x.argmax(axis=1).tolist() == [0, 1] and F.argmin(x, axis=0).tolist() == [1, 0, 1]
    assert x.argsort().tolist() == [[1, 0, 2], [0, 2, 1]]
    for out in (x.argmax(), x.argmin(axis=-1), x.argsort(axis=0)):
        assert out.dtype.kind == "i" and not out.requires_grad
    s = x.sort()
    assert s.tolist() == [[1.0, 3.0, 3.0], [0.0, 0.0, 2.0]]
    s.backward(np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]]))
    np.testing.assert_array_equal(x.grad, [[20.0, 10.0, 30.0], [40.0, 60.0, 50.0]])
    assert F.argmax(np.zeros((0, 2)), axis=1).shape == (0,)


def test_dot_of_matrices_is_matmul_and_ops_take_arrays_and_numbers():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(F.dot(a, b).data, a @ b)
    np.testing.assert_array_equal(cr.tensor(a).dot(b[:, 0]).data, a @ b[:, 0])
    assert F.dot([1.0, 2.0], cr.tensor(np.array([3.0, 4.0]))).item() == 11.0
    assert F.einsum("i,i->", cr.tensor(np.ones(2)), [2, 3]).dtype == np.float64
    with pytest.raises(cr.DTypeError, match="dot: cannot combine float32 and float64"):
        F.dot(np.ones(2, np.float32), np.ones(2))
