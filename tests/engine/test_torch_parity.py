"""Gradients of random compositions of ops against PyTorch (skipped when torch is absent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

torch = pytest.importorskip("torch")

# Each entry: (chainrule op, the same op in torch) on one tensor, defined everywhere.
UNARY = [
    (lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    (lambda x: x.tanh(), lambda x: x.tanh()),
    (lambda x: F.softplus(x), lambda x: torch.nn.functional.softplus(x)),
    (lambda x: x * x + 1.0, lambda x: x * x + 1.0),
    (lambda x: F.softmax(x, axis=-1), lambda x: torch.softmax(x, dim=-1)),
    (lambda x: F.log_softmax(x, axis=-1), lambda x: torch.log_softmax(x, dim=-1)),
    (lambda x: x.exp() / (1.0 + x.exp()), lambda x: x.exp() / (1.0 + x.exp())),
    (lambda x: x.T @ x, lambda x: x.T @ x),
    (lambda x: x - x.mean(axis=0), lambda x: x - x.mean(dim=0)),
    (lambda x: x.max(axis=1, keepdims=True) * x, lambda x: x.amax(dim=1, keepdim=True) * x),
]


@pytest.mark.parametrize("seed", range(20))
def test_random_compositions_match_torch(seed):
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(UNARY), size=4)
    x0 = rng.standard_normal((3, 3))
    ours = cr.tensor(x0, requires_grad=True)
    theirs = torch.tensor(x0, requires_grad=True)
    a, b = ours, theirs
    for k in picks:
        a, b = UNARY[k][0](a), UNARY[k][1](b)
    weights = rng.standard_normal(a.shape)
    (a * weights).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


# --- several inputs, two-input ops, broadcasting ----------------------------------------------
# The leaves have shapes that all broadcast to (3, 4); every op keeps its result in that family,
# so any two values of the pool can meet in a binary op and NumPy/torch broadcasting (and the
# gradients summed back to each input's shape) is exercised at every step.
LEAF_SHAPES = {"x": (3, 4), "y": (4,), "z": (3, 1), "s": (), "r": (1, 4)}
W_SHAPE = (4, 4)  # a weight matrix, reached only through matmul and linear
tF = torch.nn.functional


@dataclass(frozen=True)
class PoolOp:
    name: str
    arity: int
    ours: Callable
    theirs: Callable
    applies: Callable[..., bool] = lambda *shapes: True


def _has_axes(*shapes) -> bool:
    return all(len(shape) >= 1 for shape in shapes)


def _features_last(shape) -> bool:
    return len(shape) >= 1 and shape[-1] == 4


POOL_OPS = [
    PoolOp("add", 2, lambda a, b: a + b, lambda a, b: a + b),
    PoolOp("sub", 2, lambda a, b: a - b, lambda a, b: a - b),
    PoolOp("mul", 2, lambda a, b: a * b, lambda a, b: a * b),
    PoolOp("div", 2, lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    PoolOp("pow", 2, lambda a, b: (a * a + 0.5) ** b.tanh(),
           lambda a, b: (a * a + 0.5) ** b.tanh()),
    PoolOp("where", 2, lambda a, b: cr.where(a.data > b.data, a, b),
           lambda a, b: torch.where(a > b, a, b)),
    PoolOp("maximum", 2, F.maximum, torch.maximum),
    PoolOp("minimum", 2, lambda a, b: a.minimum(b), lambda a, b: a.minimum(b)),
    PoolOp("logaddexp", 2, F.logaddexp, torch.logaddexp),
    PoolOp("sigmoid", 1, lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    PoolOp("sin", 1, lambda a: a.sin(), lambda a: a.sin()),
    PoolOp("cos", 1, F.cos, torch.cos),
    PoolOp("tanh", 1, lambda a: a.tanh(), lambda a: a.tanh()),
    PoolOp("softplus", 1, F.softplus, tF.softplus),
    PoolOp("square_plus_one", 1, lambda a: a * a + 1.0, lambda a: a * a + 1.0),
    PoolOp("softmax", 1, lambda a: F.softmax(a, axis=-1), lambda a: torch.softmax(a, dim=-1),
           _has_axes),
    PoolOp("log_softmax", 1, lambda a: F.log_softmax(a, axis=-1),
           lambda a: torch.log_softmax(a, dim=-1), _has_axes),
    PoolOp("sum_axis0", 1, lambda a: a.sum(axis=0), lambda a: a.sum(dim=0), _has_axes),
    PoolOp("mean_last_keepdims", 1, lambda a: a.mean(axis=-1, keepdims=True),
           lambda a: a.mean(dim=-1, keepdim=True), _has_axes),
    PoolOp("max_axis0_keepdims", 1, lambda a: a.max(axis=0, keepdims=True),
           lambda a: a.amax(dim=0, keepdim=True), _has_axes),
    PoolOp("logsumexp_last_keepdims", 1, lambda a: F.logsumexp(a, axis=-1, keepdims=True),
           lambda a: torch.logsumexp(a, dim=-1, keepdim=True), _has_axes),
]


def _leaves(rng):
    values = {name: rng.standard_normal(shape) for name, shape in LEAF_SHAPES.items()}
    values["w"] = rng.standard_normal(W_SHAPE) * 0.5
    ours = {k: cr.tensor(v, requires_grad=True) for k, v in values.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    return ours, theirs


@pytest.mark.parametrize("seed", range(40))
def test_random_compositions_with_broadcasting_match_torch(seed):
    rng = np.random.default_rng(1000 + seed)
    leaves_ours, leaves_theirs = _leaves(rng)
    names = list(LEAF_SHAPES)
    pool = [(leaves_ours[k], leaves_theirs[k]) for k in names]
    for _ in range(6):
        kind = rng.integers(0, len(POOL_OPS) + 2)
        if kind >= len(POOL_OPS):  # matmul or linear with the weight matrix
            candidates = [p for p in pool if _features_last(p[0].shape)]
            a, b = candidates[rng.integers(0, len(candidates))]
            if kind == len(POOL_OPS):
                pool.append((a @ leaves_ours["w"], b @ leaves_theirs["w"]))
            else:
                pool.append((F.linear(a, leaves_ours["w"], leaves_ours["y"]),
                             tF.linear(b, leaves_theirs["w"], leaves_theirs["y"])))
            continue
        op = POOL_OPS[kind]
        picks = [pool[i] for i in rng.integers(0, len(pool), size=op.arity)]
        if not op.applies(*(p[0].shape for p in picks)):
            continue
        pool.append((op.ours(*(p[0] for p in picks)), op.theirs(*(p[1] for p in picks))))
    # E = Σ over every value made of v ⊙ value, with fixed random v: every path reaches E.
    E_ours, E_theirs = 0.0, 0.0
    for ours, theirs in pool[len(names):]:
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
        v = rng.standard_normal(ours.shape)
        E_ours = E_ours + (ours * v).sum()
        E_theirs = E_theirs + (theirs * torch.tensor(v)).sum()
    if isinstance(E_ours, float):
        pytest.skip("no op applied for this seed")
    E_ours.backward()
    E_theirs.backward()
    for k in leaves_ours:
        ours, theirs = leaves_ours[k].grad, leaves_theirs[k].grad
        if theirs is None:
            assert ours is None or not np.any(ours), k
            continue
        assert ours is not None and ours.shape == leaves_ours[k].shape, k
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("loss", ["half_squared_error", "mse", "bce_with_logits"])
def test_losses_on_broadcast_values_match_torch(loss):
    rng = np.random.default_rng(7)
    leaves_ours, leaves_theirs = _leaves(rng)
    a = leaves_ours["x"] * leaves_ours["y"] + leaves_ours["z"]
    b = leaves_theirs["x"] * leaves_theirs["y"] + leaves_theirs["z"]
    target = rng.uniform(0, 1, size=(3, 4))
    tt = torch.tensor(target)
    if loss == "half_squared_error":
        E, G = F.half_squared_error(a, target), 0.5 * ((b - tt) ** 2).sum(dim=-1).mean()
    elif loss == "mse":
        E, G = F.mse(a, target), tF.mse_loss(b, tt)
    else:
        E, G = F.binary_cross_entropy_with_logits(a, target), \
            tF.binary_cross_entropy_with_logits(b, tt)
    assert E.item() == pytest.approx(G.item(), rel=1e-12)
    E.backward()
    G.backward()
    for k in ("x", "y", "z"):
        np.testing.assert_allclose(leaves_ours[k].grad, leaves_theirs[k].grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=k)


def test_mlp_with_cross_entropy_matches_torch():
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((5, 4)), np.array([0, 2, 1, 2, 0])
    w1, b1, w2 = rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal((3, 6))
    ours = [cr.tensor(v, requires_grad=True) for v in (w1, b1, w2)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (w1, b1, w2)]
    F.cross_entropy(F.linear(F.linear(x, ours[0], ours[1]).relu(), ours[2]), labels).backward()
    tx = torch.tensor(x)
    logits = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(tx, theirs[0],
                                                                             theirs[1])), theirs[2])
    torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).backward()
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- the elementwise ops one at a time: value and gradient on random shapes --------------------
# (name, chainrule, torch, low, high): inputs drawn from [low, high], away from poles.
ELEMENTWISE_UNARY = [
    ("sin", F.sin, torch.sin, -3.0, 3.0),
    ("cos", F.cos, torch.cos, -3.0, 3.0),
    ("tan", F.tan, torch.tan, -1.2, 1.2),
    ("log1p", F.log1p, torch.log1p, -0.9, 3.0),
    ("expm1", F.expm1, torch.expm1, -3.0, 3.0),
    ("log2", F.log2, torch.log2, 0.1, 3.0),
    ("log10", F.log10, torch.log10, 0.1, 3.0),
    ("square", F.square, torch.square, -3.0, 3.0),
    ("sign", F.sign, torch.sign, -3.0, 3.0),
    ("floor", F.floor, torch.floor, -3.0, 3.0),
    ("ceil", F.ceil, torch.ceil, -3.0, 3.0),
    ("round", F.round, torch.round, -3.0, 3.0),
]
ELEMENTWISE_BINARY = [
    ("maximum", F.maximum, torch.maximum),
    ("minimum", F.minimum, torch.minimum),
    ("logaddexp", F.logaddexp, torch.logaddexp),
]
BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)),
                   ((2, 1, 4), (3, 1)), ((5,), ())]


def _value_and_grads_match(ours_fn, theirs_fn, arrays, rng):
    ours = [cr.tensor(x, requires_grad=True) for x in arrays]
    theirs = [torch.tensor(x, requires_grad=True) for x in arrays]
    a, b = ours_fn(*ours), theirs_fn(*theirs)
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = rng.standard_normal(a.shape)
    (a * weights).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    for o, t in zip(ours, theirs, strict=True):
        assert o.grad is not None and o.grad.shape == o.shape
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("name", "ours", "theirs", "low", "high"), ELEMENTWISE_UNARY,
                         ids=[row[0] for row in ELEMENTWISE_UNARY])
def test_elementwise_unary_ops_match_torch(name, ours, theirs, low, high, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 5, size=rng.integers(0, 4)))
    _value_and_grads_match(ours, theirs, [rng.uniform(low, high, size=shape)], rng)


@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCAST_PAIRS)
@pytest.mark.parametrize(("name", "ours", "theirs"), ELEMENTWISE_BINARY,
                         ids=[row[0] for row in ELEMENTWISE_BINARY])
def test_elementwise_binary_ops_match_torch_with_broadcasting(name, ours, theirs, a_shape,
                                                             b_shape):
    rng = np.random.default_rng(len(a_shape) * 7 + len(b_shape))
    # values on a coarse grid, so that many pairs tie and the tie rule is compared too
    a = rng.integers(-3, 4, size=a_shape) / 2.0
    b = rng.integers(-3, 4, size=b_shape) / 2.0
    _value_and_grads_match(ours, theirs, [a, b], rng)


def test_maximum_minimum_split_ties_in_half():
    a, b = np.array([1.0, 2.0, 0.0, -5.0]), np.array([1.0, 1.0, 3.0, -5.0])
    for ours, theirs in [(F.maximum, torch.maximum), (F.minimum, torch.minimum)]:
        _value_and_grads_match(ours, theirs, [a, b], np.random.default_rng(0))
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    F.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.5, 1.0, 0.0, 0.5])
    np.testing.assert_array_equal(y.grad, [0.5, 0.0, 1.0, 0.5])


def test_logaddexp_is_stable_at_large_values_and_infinities():
    a = np.array([1000.0, -1000.0, 2.0, 0.0, -np.inf, np.inf, -np.inf])
    b = np.array([1000.0, -1001.0, 1.0, -800.0, -np.inf, np.inf, 3.0])
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = F.logaddexp(x, y)
    np.testing.assert_allclose(out.data, np.logaddexp(a, b), rtol=1e-15)
    np.testing.assert_allclose(out.data, torch.logaddexp(torch.tensor(a), torch.tensor(b)),
                               rtol=1e-15)
    out.backward(np.ones_like(a))
    # ∂out/∂a = σ(a − b); on a tie (both infinities included, where torch gives NaN) ½ each
    sigma = 1 / (1 + np.exp(-np.array([0.0, 1.0, 1.0, 800.0, 0.0, 0.0, -np.inf])))
    np.testing.assert_allclose(x.grad, sigma, rtol=1e-15)
    np.testing.assert_allclose(y.grad, 1 - sigma, rtol=1e-15)


# --- reductions and cumsum one at a time: value and gradient, negative axes, keepdims ---------
def _torch_prod(x, dim=None, keepdim=False):
    """torch.prod over several dims (it takes one at a time)."""
    if dim is None:
        return x.prod()
    dims = sorted(d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim))
    for d in reversed(dims):
        x = x.prod(dim=d, keepdim=keepdim)
    return x


def _first_last(x):
    """The axes (0, −1), or the one axis of a vector."""
    return (0, -1) if x.ndim > 1 else -1


# (name, chainrule, torch): each applies to any tensor of at least one axis
REDUCTIONS = [
    ("min_all", lambda x: x.min(), torch.amin),
    ("min_last", lambda x: x.min(axis=-1), lambda x: x.amin(dim=-1)),
    ("min_first_last_keepdims", lambda x: F.min(x, axis=_first_last(x), keepdims=True),
     lambda x: x.amin(dim=_first_last(x), keepdim=True)),
    ("prod_all", lambda x: x.prod(), _torch_prod),
    ("prod_last_keepdims", lambda x: x.prod(axis=-1, keepdims=True),
     lambda x: _torch_prod(x, -1, keepdim=True)),
    ("prod_first_last", lambda x: x.prod(axis=_first_last(x)),
     lambda x: _torch_prod(x, _first_last(x))),
    ("var_all", lambda x: x.var(), lambda x: x.var(correction=0)),
    ("var_last_ddof1", lambda x: F.var(x, axis=-1, ddof=1), lambda x: x.var(dim=-1)),
    ("var_first_keepdims", lambda x: x.var(axis=0, keepdims=True),
     lambda x: x.var(dim=0, correction=0, keepdim=True)),
    ("std_all_ddof1", lambda x: x.std(ddof=1), lambda x: x.std()),
    ("std_last_keepdims", lambda x: F.std(x, axis=-1, keepdims=True),
     lambda x: x.std(dim=-1, correction=0, keepdim=True)),
    ("norm2_all", lambda x: x.norm(), torch.linalg.vector_norm),
    ("norm2_last_keepdims", lambda x: F.norm(x, 2, axis=-1, keepdims=True),
     lambda x: torch.linalg.vector_norm(x, 2, dim=-1, keepdim=True)),
    ("norm1_first_last", lambda x: x.norm(1, axis=_first_last(x)),
     lambda x: torch.linalg.vector_norm(x, 1, dim=_first_last(x))),
    ("var_first_last_ddof1", lambda x: x.var(axis=_first_last(x), ddof=1),
     lambda x: x.var(dim=_first_last(x))),
    ("norm_inf_first", lambda x: x.norm(np.inf, axis=0),
     lambda x: torch.linalg.vector_norm(x, np.inf, dim=0)),
    ("cumsum_last", lambda x: x.cumsum(axis=-1), lambda x: x.cumsum(dim=-1)),
    ("cumsum_first", lambda x: F.cumsum(x, axis=0), lambda x: x.cumsum(dim=0)),
    ("cumsum_flat", lambda x: x.cumsum(), lambda x: x.flatten().cumsum(dim=0)),
]
REDUCTION_SHAPES = [(5,), (3, 4), (2, 3, 4), (4, 1, 3)]


@pytest.mark.parametrize("shape", REDUCTION_SHAPES, ids=str)
@pytest.mark.parametrize(("name", "ours", "theirs"), REDUCTIONS,
                         ids=[row[0] for row in REDUCTIONS])
def test_reductions_match_torch(name, ours, theirs, shape):
    rng = np.random.default_rng(len(shape))
    _value_and_grads_match(ours, theirs, [rng.uniform(-2, 2, size=shape)], rng)


@pytest.mark.parametrize(("name", "ours", "theirs"), [
    ("min", lambda x: x.min(axis=-1), lambda x: x.amin(dim=-1)),
    ("min_all", lambda x: x.min(), torch.amin),
    ("norm_inf", lambda x: x.norm(np.inf, axis=-1),
     lambda x: torch.linalg.vector_norm(x, np.inf, dim=-1)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_min_and_inf_norm_split_ties_evenly_as_torch(name, ours, theirs):
    # ties, including +2 and −2 for the inf-norm (whose gradient is then ±½ each)
    x = np.array([[1.0, -2.0, 2.0, 0.5], [-1.0, -1.0, 0.0, 1.0], [3.0, 3.0, 3.0, 3.0]])
    _value_and_grads_match(ours, theirs, [x], np.random.default_rng(0))


def test_prod_gradient_with_zeros_matches_torch():
    # rows with no zero, one zero and two zeros: ∂/∂x_i = Π_{j≠i} x_j, never out / x_i
    x = np.array([[2.0, -3.0, 0.5], [2.0, 0.0, 4.0], [0.0, 3.0, 0.0]])
    for axis, dim in [(-1, -1), (0, 0)]:
        _value_and_grads_match(lambda a, axis=axis: a.prod(axis=axis),
                               lambda a, dim=dim: a.prod(dim=dim), [x], np.random.default_rng(1))
    _value_and_grads_match(lambda a: a.prod(), lambda a: a.prod(), [x[1:2]],
                           np.random.default_rng(2))
    ours = cr.tensor(x, requires_grad=True)
    ours.prod(axis=-1).sum().backward()
    np.testing.assert_array_equal(ours.grad, [[-1.5, 1.0, -6.0], [0.0, 8.0, 0.0],
                                              [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(("name", "ours", "theirs"), [
    ("std", lambda x: x.std(axis=-1), lambda x: x.std(dim=-1, correction=0)),
    ("std_ddof1", lambda x: x.std(axis=-1, ddof=1), lambda x: x.std(dim=-1)),
    ("norm2", lambda x: x.norm(axis=-1), lambda x: torch.linalg.vector_norm(x, dim=-1)),
    ("norm1", lambda x: x.norm(1, axis=-1), lambda x: torch.linalg.vector_norm(x, 1, dim=-1)),
    ("norm_inf", lambda x: x.norm(np.inf, axis=-1),
     lambda x: torch.linalg.vector_norm(x, np.inf, dim=-1)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_std_and_norm_gradients_at_zero_match_torch(name, ours, theirs):
    # a constant row (std 0) and a zero row (norm 0): gradient 0 there, as in torch, not nan
    x = np.array([[1.5, 1.5, 1.5], [0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    _value_and_grads_match(ours, theirs, [x], np.random.default_rng(3))
    a = cr.tensor(x, requires_grad=True)
    ours(a).sum().backward()
    np.testing.assert_array_equal(a.grad[1], [0.0, 0.0, 0.0])
SHAPE_OPS = [
    ("squeeze_all", lambda a: a.squeeze(), torch.squeeze, (2, 1, 3, 1)),
    ("squeeze_axes", lambda a: a.squeeze((1, -1)), lambda a: torch.squeeze(a, (1, -1)),
     (2, 1, 3, 1)),
    ("expand_dims", lambda a: F.expand_dims(a, -1), lambda a: torch.unsqueeze(a, -1), (2, 3)),
    ("expand_dims_front", lambda a: a.expand_dims(0), lambda a: a.unsqueeze(0), (2, 3)),
    ("flatten", F.flatten, torch.flatten, (2, 3, 4)),
    ("swapaxes", lambda a: a.swapaxes(0, -1), lambda a: torch.swapaxes(a, 0, -1), (2, 3, 4)),
    ("moveaxis", lambda a: F.moveaxis(a, [0, 1], [-1, 0]),
     lambda a: torch.movedim(a, (0, 1), (-1, 0)), (2, 3, 4)),
    ("flip_all", lambda a: a.flip(), lambda a: torch.flip(a, (0, 1, 2)), (2, 3, 4)),
    ("flip_axis", lambda a: F.flip(a, -2), lambda a: torch.flip(a, (-2,)), (2, 3, 4)),
    ("roll_flat", lambda a: a.roll(5), lambda a: torch.roll(a, 5), (2, 3, 4)),
    ("roll_axes", lambda a: F.roll(a, (1, -2), (0, -1)),
     lambda a: torch.roll(a, (1, -2), (0, -1)), (2, 3, 4)),
    ("repeat_flat", lambda a: a.repeat(2), lambda a: torch.repeat_interleave(a, 2), (2, 3)),
    ("repeat_counts", lambda a: F.repeat(a, [1, 0, 2], axis=-1),
     lambda a: torch.repeat_interleave(a, torch.tensor([1, 0, 2]), dim=-1), (2, 3)),
    ("tile", lambda a: a.tile((2, 1, 3)), lambda a: torch.tile(a, (2, 1, 3)), (2, 3)),
    ("tile_fewer_reps", lambda a: F.tile(a, 2), lambda a: torch.tile(a, (2,)), (2, 3, 4)),
    ("split_sections", lambda a: cr.concatenate(
        [p * (i + 1.0) for i, p in enumerate(a.split(2, axis=-1))], axis=-1),
     lambda a: torch.cat([p * (i + 1.0) for i, p in enumerate(torch.tensor_split(a, 2, -1))],
                         -1), (2, 3, 4)),
    ("split_indices", lambda a: cr.concatenate(
        [p * (i + 1.0) for i, p in enumerate(F.split(a, [1, 3], axis=1))], axis=1),
     lambda a: torch.cat([p * (i + 1.0) for i, p in enumerate(torch.tensor_split(a, [1, 3], 1))],
                         1), (2, 5)),
    ("pad", lambda a: F.pad(a, ((0, 0), (1, 2), (3, 0)), constant_values=0.5),
     lambda a: torch.nn.functional.pad(a, (3, 0, 1, 2, 0, 0), value=0.5), (2, 3, 4)),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "shape"), SHAPE_OPS,
                         ids=[row[0] for row in SHAPE_OPS])
def test_shape_ops_match_torch(name, ours, theirs, shape):
    rng = np.random.default_rng(len(name))
    _value_and_grads_match(ours, theirs, [rng.standard_normal(shape)], rng)


def test_split_pieces_match_torch_split():
    x = np.arange(10.0).reshape(2, 5)
    ours = F.split(x, [2, 4], axis=-1)
    theirs = torch.split(torch.tensor(x), [2, 2, 1], dim=-1)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(o.data, t.numpy())


# --- linear algebra and sorting: value and gradient against torch -----------------------------
# (name, chainrule, torch, input shapes)
LINALG = [
    ("dot", F.dot, torch.dot, [(4,), (4,)]),
    ("outer", F.outer, torch.outer, [(3,), (4,)]),
    ("tensordot_2", lambda a, b: F.tensordot(a, b), lambda a, b: torch.tensordot(a, b),
     [(2, 3, 4), (3, 4, 5)]),
    ("tensordot_pairs", lambda a, b: F.tensordot(a, b, ([1, 0], [0, 2])),
     lambda a, b: torch.tensordot(a, b, ([1, 0], [0, 2])), [(2, 3, 4), (3, 5, 2)]),
    ("einsum_matmul", lambda a, b: F.einsum("bij,jk->bki", a, b),
     lambda a, b: torch.einsum("bij,jk->bki", a, b), [(2, 3, 4), (4, 5)]),
    ("einsum_diagonal", lambda a: F.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a),
     [(4, 4)]),
    ("einsum_trace_times", lambda a, b: F.einsum("iij,j->", a, b),
     lambda a, b: torch.einsum("iij,j->", a, b), [(3, 3, 2), (2,)]),
    ("tril", lambda a: F.tril(a, -1), lambda a: torch.tril(a, -1), [(2, 3, 4)]),
    ("triu", lambda a: F.triu(a, 1), lambda a: torch.triu(a, 1), [(2, 4, 3)]),
    ("diagonal", lambda a: F.diagonal(a, 1, 0, 2), lambda a: torch.diagonal(a, 1, 0, 2),
     [(3, 2, 4)]),
    ("sort", lambda a: F.sort(a, axis=1), lambda a: torch.sort(a, dim=1).values, [(3, 5, 2)]),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "shapes"), LINALG,
                         ids=[row[0] for row in LINALG])
def test_linalg_and_sort_match_torch(name, ours, theirs, shapes):
    rng = np.random.default_rng(len(name))
    _value_and_grads_match(ours, theirs, [rng.standard_normal(s) for s in shapes], rng)


def test_argmax_argmin_argsort_match_torch():
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    t = torch.tensor(x)
    assert F.argmax(x).item() == torch.argmax(t).item()
    for axis in (0, 1, -1):
        np.testing.assert_array_equal(F.argmax(x, axis).data, torch.argmax(t, dim=axis).numpy())
        np.testing.assert_array_equal(F.argmin(x, axis).data, torch.argmin(t, dim=axis).numpy())
        np.testing.assert_array_equal(F.argsort(x, axis).data,
                                      torch.argsort(t, dim=axis).numpy())
