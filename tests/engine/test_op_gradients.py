"""One table of ops drives every gradient check: each op against central differences, float64.

Each row: the op as a function of tensors, how many inputs it takes, a domain that keeps inputs
away from kinks and poles (relu at 0, log at 0, ...), and whether the inputs broadcast.
Shapes are drawn by hypothesis, broadcasting included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F


@dataclass(frozen=True)
class OpCase:
    name: str
    fn: Callable[..., cr.Tensor]
    arity: int = 1
    low: float = -2.0
    high: float = 2.0
    broadcast: bool = False  # draw mutually broadcastable shapes for the inputs
    away_from_zero: bool = False  # keep |x| ≥ 0.2 (kinks of abs, relu, ...)
    min_dims: int = 0


def _probabilities_and_targets(p, t):
    return F.binary_cross_entropy(p, t.clip(0, 1))


OPS = [
    OpCase("add", lambda a, b: a + b, 2, broadcast=True),
    OpCase("sub", lambda a, b: a - b, 2, broadcast=True),
    OpCase("mul", lambda a, b: a * b, 2, broadcast=True),
    OpCase("div", lambda a, b: a / b, 2, 0.5, 2.0, broadcast=True),
    OpCase("pow", lambda a, b: a**b, 2, 0.5, 2.0, broadcast=True),
    OpCase("pow_scalar", lambda a: a**3),
    OpCase("rpow_scalar", lambda a: 2.0**a),
    OpCase("neg", lambda a: -a),
    OpCase("radd_rsub_rmul_rdiv", lambda a: (1.5 - a) * 2.0 + 3.0 / (a + 3.0), 1, -1.0, 1.0),
    OpCase("exp", lambda a: a.exp()),
    OpCase("log", lambda a: a.log(), 1, 0.2, 3.0),
    OpCase("sqrt", lambda a: a.sqrt(), 1, 0.2, 3.0),
    OpCase("abs", lambda a: a.abs(), away_from_zero=True),
    OpCase("tanh", lambda a: a.tanh()),
    OpCase("sigmoid", lambda a: a.sigmoid(), 1, -20.0, 20.0),  # the tails: test_op_edge_cases
    OpCase("relu", lambda a: a.relu(), away_from_zero=True),
    OpCase("leaky_relu", lambda a: F.leaky_relu(a, 0.1), away_from_zero=True),
    OpCase("softplus", F.softplus, 1, -20.0, 20.0),
    OpCase("softmax", lambda a: F.softmax(a, axis=-1), min_dims=1),
    OpCase("log_softmax", lambda a: F.log_softmax(a, axis=-1), min_dims=1),
    OpCase("logsumexp_all", lambda a: F.logsumexp(a)),
    OpCase("logsumexp_axis", lambda a: F.logsumexp(a, axis=-1, keepdims=True), min_dims=1),
    OpCase("sum_all", lambda a: a.sum()),
    OpCase("sum_axis", lambda a: a.sum(axis=0), min_dims=1),
    OpCase("sum_keepdims", lambda a: a.sum(axis=-1, keepdims=True), min_dims=1),
    OpCase("mean_all", lambda a: a.mean()),
    OpCase("mean_axis", lambda a: a.mean(axis=-1), min_dims=1),
    OpCase("max_all", lambda a: a.max()),
    OpCase("max_axis", lambda a: a.max(axis=0, keepdims=True), min_dims=1),
    OpCase("min_all", lambda a: a.min()),
    OpCase("min_axis", lambda a: a.min(axis=-1), min_dims=1),
    OpCase("min_keepdims", lambda a: F.min(a, axis=(0, -1), keepdims=True), min_dims=2),
    OpCase("prod_all", lambda a: a.prod()),
    OpCase("prod_axis", lambda a: a.prod(axis=-1), min_dims=1),
    OpCase("prod_keepdims", lambda a: F.prod(a, axis=(0, -1), keepdims=True), min_dims=2),
    OpCase("var_all", lambda a: a.var()),
    OpCase("var_axis", lambda a: a.var(axis=-1, keepdims=True), min_dims=1),
    # ddof=1 over blocks of at least two entries (a block of one has no sample variance)
    OpCase("var_ddof", lambda a: F.var(cr.stack([a, a.sin()], -1), ddof=1)),
    OpCase("std_all", lambda a: a.std()),
    OpCase("std_axis", lambda a: a.std(axis=-1), min_dims=1),
    OpCase("std_ddof_keepdims", lambda a: cr.stack([a, a.sin()], -1).std(axis=-1, ddof=1,
                                                                       keepdims=True)),
    OpCase("norm2_all", lambda a: a.norm()),
    OpCase("norm2_axis", lambda a: F.norm(a, 2, axis=-1, keepdims=True), min_dims=1),
    OpCase("norm1_axis", lambda a: a.norm(1, axis=(0, -1)), min_dims=2, away_from_zero=True),
    OpCase("norm_inf_axis", lambda a: a.norm(np.inf, axis=-1), min_dims=1, away_from_zero=True),
    OpCase("cumsum_axis", lambda a: a.cumsum(axis=-1), min_dims=1),
    OpCase("cumsum_axis0", lambda a: F.cumsum(a, axis=0), min_dims=1),
    OpCase("cumsum_flat", lambda a: a.cumsum()),
    OpCase("reshape", lambda a: a.reshape(-1)),
    OpCase("transpose", lambda a: a.T),
    OpCase("transpose_axes", lambda a: a.transpose(*reversed(range(a.ndim)))),
    OpCase("getitem_slice", lambda a: a[..., ::2], min_dims=1),
    OpCase("getitem_int_array", lambda a: a[np.array([0, 0, -1])], min_dims=1),
    OpCase("getitem_bool_mask", lambda a: a[a.data > 0], min_dims=1),
    OpCase("concatenate", lambda a, b: cr.concatenate([a, b, a], axis=0), 2, min_dims=1),
    OpCase("stack", lambda a, b: cr.stack([a, b], axis=-1), 2),
    OpCase("where", lambda a, b: cr.where(a.data > b.data, a, b), 2, broadcast=True),
    OpCase("clip", lambda a: a.clip(-1.0, 1.0), 1, -3.0, 3.0),
    OpCase("astype", lambda a: a.astype("float64") * 2.0),
    OpCase("half_squared_error", lambda y, t: F.half_squared_error(y, t), 2, min_dims=1),
    OpCase("half_squared_error_sum", lambda y, t: F.half_squared_error(y, t, "sum"), 2, min_dims=1),
    OpCase("mse", lambda y, t: F.mse(y, t), 2),
    OpCase("mse_none", lambda y, t: F.mse(y, t, reduction="none"), 2),
    OpCase("binary_cross_entropy", _probabilities_and_targets, 2, 0.1, 0.9),
    OpCase("bce_with_logits", lambda z, t: F.binary_cross_entropy_with_logits(z, t.clip(0, 1)), 2),
    OpCase("sin", lambda a: a.sin()),
    OpCase("cos", lambda a: a.cos()),
    OpCase("tan", lambda a: a.tan(), 1, -1.2, 1.2),  # poles at ±π/2
    OpCase("log1p", lambda a: a.log1p(), 1, -0.5, 3.0),
    OpCase("expm1", lambda a: a.expm1()),
    OpCase("log2", lambda a: a.log2(), 1, 0.2, 3.0),
    OpCase("log10", lambda a: a.log10(), 1, 0.2, 3.0),
    OpCase("square", lambda a: a.square()),
    # the step ops pass no gradient: times a, the gradient is the step's value alone (a plain
    # pass-through would add a); draws within eps of a jump have probability ~1e-6
    OpCase("sign", lambda a: a.sign() * a, away_from_zero=True),
    OpCase("floor", lambda a: a.floor() * a),
    OpCase("ceil", lambda a: a.ceil() * a),
    OpCase("round", lambda a: a.round() * a),
    OpCase("maximum", lambda a, b: a.maximum(b), 2, broadcast=True),
    OpCase("minimum", lambda a, b: F.minimum(a, b), 2, broadcast=True),
    OpCase("logaddexp", lambda a, b: a.logaddexp(b), 2, -20.0, 20.0, broadcast=True),
    OpCase("squeeze_all", lambda a: a.squeeze()),
    OpCase("squeeze_axis", lambda a: a[..., :1].squeeze(-1), min_dims=1),
    OpCase("expand_dims", lambda a: a.expand_dims((0, -1))),
    OpCase("flatten", lambda a: a.flatten()),
    OpCase("swapaxes", lambda a: a.swapaxes(0, -1), min_dims=1),
    OpCase("moveaxis", lambda a: a.moveaxis([0, -1], [-1, 0]), min_dims=2),
    OpCase("flip_all", lambda a: a.flip()),
    OpCase("flip_axis", lambda a: a.flip(-1), min_dims=1),
    OpCase("roll_flat", lambda a: a.roll(2)),
    OpCase("roll_axes", lambda a: a.roll((1, -2), (0, -1)), min_dims=1),
    OpCase("repeat_flat", lambda a: a.repeat(2)),
    OpCase("repeat_axis", lambda a: a.repeat(3, axis=-1), min_dims=1),
    OpCase("repeat_counts", lambda a: a.repeat(np.arange(a.shape[0]) % 3, axis=0), min_dims=1),
    OpCase("tile", lambda a: a.tile((2, 1, 3))),
    OpCase("tile_fewer_reps", lambda a: a.tile(2)),
    # each piece weighted differently, so that a gradient sent to the wrong piece shows
    OpCase("split_indices", lambda a: cr.concatenate(
        [p * (i + 1.0) for i, p in enumerate(a.split([1, -1], axis=-1))], axis=-1), min_dims=1),
    OpCase("split_sections", lambda a: cr.concatenate(
        [p * (i + 1.0) for i, p in enumerate(F.split(a, a.shape[0]))]), min_dims=1),
    OpCase("pad", lambda a: F.pad(a, (1, 2), constant_values=0.5)),
    OpCase("dot", lambda a, b: F.dot(a.reshape(-1), b.reshape(-1)), 2),
    OpCase("outer", lambda a, b: F.outer(a.reshape(-1), b.reshape(-1)), 2),
    OpCase("tensordot", lambda a, b: F.tensordot(a, b, (range(1, a.ndim), range(1, b.ndim))), 2,
           min_dims=1),
    OpCase("einsum", lambda a, b: F.einsum("ij,kj->ik", a.reshape(a.shape[0], -1),
                                           b.reshape(b.shape[0], -1)), 2, min_dims=1),
    OpCase("einsum_diagonal",
           lambda a, b: F.einsum("ii->i", F.outer(a.reshape(-1), b.reshape(-1))), 2),
    OpCase("tril", lambda a: F.tril(a, -1), min_dims=2),
    OpCase("triu", lambda a: F.triu(a, 1), min_dims=2),
    OpCase("diagonal", lambda a: a.diagonal(0, -1, 0), min_dims=2),
    OpCase("sort", lambda a: a.sort(axis=0), min_dims=1),
    OpCase("batch_norm", lambda a: F.batch_norm(
        F.stack([a, a.exp(), a * a]).reshape(3, -1), training=True)),  # a batch of 3 samples
]

# Same-shape requirements for these two-input ops (they refuse to broadcast, or join along axis 0).
SAME_SHAPE = {"concatenate", "stack", "half_squared_error", "half_squared_error_sum", "mse",
              "mse_none", "binary_cross_entropy", "bce_with_logits"}


def _draw_values(rng: np.random.Generator, shape, case: OpCase) -> np.ndarray:
    x = rng.uniform(case.low, case.high, size=shape)
    if case.away_from_zero:
        x = np.where(np.abs(x) < 0.2, np.sign(x + 1e-12) * (0.2 + np.abs(x)), x)
    return x


@st.composite
def inputs_for(draw, case: OpCase):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if case.broadcast:
        shapes = draw(hnp.mutually_broadcastable_shapes(
            num_shapes=case.arity, min_dims=case.min_dims, max_dims=3, max_side=3)).input_shapes
    else:
        shape = draw(hnp.array_shapes(min_dims=max(case.min_dims, 0), max_dims=3, min_side=1,
                                      max_side=4))
        shapes = [shape] * case.arity
    return [_draw_values(rng, s, case) for s in shapes]


@pytest.mark.parametrize("case", OPS, ids=lambda c: c.name)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_op_gradient_matches_finite_differences(case: OpCase, data):
    arrays = data.draw(inputs_for(case))
    if case.name in SAME_SHAPE and case.name not in {"concatenate", "stack"}:
        arrays[1] = arrays[1].reshape(arrays[0].shape)
    cr.gradcheck(case.fn, *arrays, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize(("a_shape", "b_shape"), [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((5, 2, 3), (3,)),
])
def test_matmul_gradient_every_rank(a_shape, b_shape):
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    cr.gradcheck(lambda a, b: a @ b, rng.standard_normal(a_shape), rng.standard_normal(b_shape),
                 atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("x_shape", [(4, 3), (3,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_gradient(x_shape, with_bias):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((2, 3))]
    if with_bias:
        arrays.append(rng.standard_normal(2))
    cr.gradcheck(lambda x, w, *b: F.linear(x, w, *b), *arrays, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradient(reduction):
    rng = np.random.default_rng(3)
    labels = np.array([0, 2, 1, 2])
    cr.gradcheck(lambda z: F.cross_entropy(z, labels, reduction), rng.standard_normal((4, 3)),
                 atol=1e-7, rtol=1e-5)


def test_cross_entropy_single_sample_and_value():
    z = cr.tensor(np.array([1.0, 2.0, 0.5]))
    expected = -np.log(np.exp(2.0) / np.exp([1.0, 2.0, 0.5]).sum())
    assert F.cross_entropy(z, 1).item() == pytest.approx(expected, rel=1e-12)
    cr.gradcheck(lambda z: F.cross_entropy(z, 1), np.array([1.0, 2.0, 0.5]))


def test_loss_values_against_numpy():
    y = np.array([[0.2, 0.7], [0.9, 0.4]])
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    # E = mean over samples of ½ Σ (t − y)²: sample 1: ½(0.04 + 0.09) = 0.065; sample 2:
    # ½(0.01 + 0.16) = 0.085; mean 0.075.
    assert F.half_squared_error(y, t).item() == pytest.approx(0.075, abs=1e-15)
    assert F.half_squared_error(y, t, "sum").item() == pytest.approx(0.15, abs=1e-15)
    assert F.mse(y, t).item() == pytest.approx(np.mean((y - t) ** 2), abs=1e-15)
    bce = -np.mean(t * np.log(y) + (1 - t) * np.log(1 - y))
    assert F.binary_cross_entropy(y, t).item() == pytest.approx(bce, rel=1e-12)
    z = np.log(y / (1 - y))  # logits of y
    assert F.binary_cross_entropy_with_logits(z, t).item() == pytest.approx(bce, rel=1e-12)


@pytest.mark.parametrize(("subscripts", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]),
    ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 1)]),
    ("ii->i", [(3, 3)]), ("ii->", [(3, 3)]), ("iji->ij", [(3, 2, 3)]),
    ("iij,j->ij", [(3, 3, 2), (2,)]), ("i,j,k->ijk", [(2,), (3,), (2,)]),
    ("ij,k->ijk", [(2, 3), (2,)]),
])
def test_einsum_gradient_with_repeated_and_summed_indices(subscripts, shapes):
    rng = np.random.default_rng(len(subscripts))
    arrays = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(F.einsum(subscripts, *arrays).data, np.einsum(subscripts, *arrays))
    cr.gradcheck(lambda *t: F.einsum(subscripts, *t), *arrays, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize(("a_shape", "b_shape", "axes"), [
    ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2,), (3,), 0),
    ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])), ((3, 2), (2, 3), ([0, 1], [1, 0])),
    ((2, 3, 4), (4, 2), (-1, 0)),
])
def test_tensordot_gradient_every_pairing(a_shape, b_shape, axes):
    rng = np.random.default_rng(len(a_shape) + 3 * len(b_shape))
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    np.testing.assert_allclose(F.tensordot(a, b, axes).data, np.tensordot(a, b, axes))
    cr.gradcheck(lambda x, y: F.tensordot(x, y, axes), a, b, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 3])
def test_diagonal_tril_triu_gradient_every_offset(offset):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    for fn in (lambda t: t.diagonal(offset, 1, 2), lambda t: F.diagonal(t, offset, 2, 0),
               lambda t: F.tril(t, offset), lambda t: F.triu(t, offset)):
        cr.gradcheck(fn, x, atol=1e-7, rtol=1e-5)
    np.testing.assert_array_equal(F.diagonal(x, offset, 2, 0).data, np.diagonal(x, offset, 2, 0))
