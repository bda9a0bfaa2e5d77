"""Optimizers: first steps against hand arithmetic from the published rules, then the plumbing.

The expected values are written as the scalar arithmetic of each rule, element by element, with
the intermediate values in comments, so a reader can check them without the implementation.
All arithmetic is float64 and compared at 1e-12.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest

from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.optim import SGD, Adam, AdamW, Optimizer, RMSprop
from chainrule.optim import optimizer as optimizer_module

EPS = 1e-8
TOL = 1e-12


@dataclass(eq=False)
class Param:
    """Stand-in for a parameter: what an optimizer reads and writes."""

    data: np.ndarray
    grad: np.ndarray | None = None
    requires_grad: bool = True


def run_steps(make_optimizer, w0, grads):
    """Build an optimizer over one parameter, feed it `grads`; return the data after each step."""
    p = Param(np.array(w0, dtype=np.float64))
    opt = make_optimizer([p])
    history = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float64)
        opt.step()
        history.append(p.data.copy())
    return history


def assert_steps(history, expected):
    assert len(history) == len(expected)
    for step, (got, want) in enumerate(zip(history, expected, strict=True), start=1):
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=f"step {step}")


# Gradients used by the hand-computed examples below (w0 = [1.0, -2.0]).
W0 = [1.0, -2.0]
G1 = [0.5, -1.0]
G2 = [0.25, 0.5]
G3 = [-1.0, 2.0]


# --- SGD -------------------------------------------------------------------------------------


def test_sgd_worked_example():
    # The notes' output-layer weights: w5 = 0.40, w6 = 0.45, ∂E/∂w5 = 0.082167041,
    # ∂E/∂w6 = 0.082667628, η = 0.5.
    #   w5 ← 0.40 − 0.5·0.082167041 = 0.40 − 0.0410835205 = 0.3589164795
    #   w6 ← 0.45 − 0.5·0.082667628 = 0.45 − 0.041333814  = 0.408666186
    # A second step with the same gradients subtracts the same amounts again:
    #   w5 ← 0.3589164795 − 0.0410835205 = 0.317832959
    #   w6 ← 0.408666186  − 0.041333814  = 0.367332372
    grad = [0.082167041, 0.082667628]
    history = run_steps(lambda ps: SGD(ps, lr=0.5), [0.40, 0.45], [grad, grad])
    assert_steps(history, [[0.3589164795, 0.408666186], [0.317832959, 0.367332372]])


def test_sgd_momentum():
    # μ = 0.9, η = 0.1.
    # step 1: b = g1 = [0.5, -1.0]                                   (first step: b = g)
    #         W = [1 − 0.1·0.5, −2 − 0.1·(−1)] = [0.95, −1.9]
    # step 2: b = 0.9·[0.5, −1] + [0.25, 0.5] = [0.7, −0.4]
    #         W = [0.95 − 0.07, −1.9 + 0.04] = [0.88, −1.86]
    # step 3: b = 0.9·[0.7, −0.4] + [−1, 2] = [−0.37, 1.64]
    #         W = [0.88 + 0.037, −1.86 − 0.164] = [0.917, −2.024]
    history = run_steps(lambda ps: SGD(ps, lr=0.1, momentum=0.9), W0, [G1, G2, G3])
    assert_steps(history, [[0.95, -1.9], [0.88, -1.86], [0.917, -2.024]])


def test_sgd_nesterov():
    # μ = 0.9, η = 0.1; the buffer b is as in test_sgd_momentum, the step uses g + μ·b.
    # step 1: b = [0.5, −1];   g + μb = [0.5 + 0.45, −1 − 0.9] = [0.95, −1.9]
    #         W = [1 − 0.095, −2 + 0.19] = [0.905, −1.81]
    # step 2: b = [0.7, −0.4]; g + μb = [0.25 + 0.63, 0.5 − 0.36] = [0.88, 0.14]
    #         W = [0.905 − 0.088, −1.81 − 0.014] = [0.817, −1.824]
    # step 3: b = [−0.37, 1.64]; g + μb = [−1 − 0.333, 2 + 1.476] = [−1.333, 3.476]
    #         W = [0.817 + 0.1333, −1.824 − 0.3476] = [0.9503, −2.1716]
    history = run_steps(lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), W0, [G1, G2, G3])
    assert_steps(history, [[0.905, -1.81], [0.817, -1.824], [0.9503, -2.1716]])


def test_sgd_weight_decay():
    # λ = 0.1, η = 0.1: g = ∂E/∂W + λ·W.
    # step 1: g = [0.5 + 0.1, −1 − 0.2] = [0.6, −1.2];      W = [0.94, −1.88]
    # step 2: g = [0.25 + 0.094, 0.5 − 0.188] = [0.344, 0.312]; W = [0.9056, −1.9112]
    history = run_steps(lambda ps: SGD(ps, lr=0.1, weight_decay=0.1), W0, [G1, G2])
    assert_steps(history, [[0.94, -1.88], [0.9056, -1.9112]])


# --- Adam and AdamW --------------------------------------------------------------------------


def test_adam():
    # η = 0.1, β1 = 0.5, β2 = 0.75, ε = 1e-8.
    # step 1 (t = 1): m = 0.5·g1 = [0.25, −0.5];  v = 0.25·g1² = [0.0625, 0.25]
    #         m̂ = m/0.5 = [0.5, −1];  v̂ = v/0.25 = [0.25, 1];  √v̂ = [0.5, 1]
    #         W = [1 − 0.1·0.5/(0.5 + ε), −2 + 0.1·1/(1 + ε)]
    # step 2 (t = 2): m = 0.5·[0.25, −0.5] + 0.5·[0.25, 0.5] = [0.25, 0]
    #         v = 0.75·[0.0625, 0.25] + 0.25·[0.0625, 0.25] = [0.0625, 0.25]
    #         1 − β1² = 0.75, 1 − β2² = 0.4375:  m̂ = [1/3, 0],  v̂ = [1/7, 4/7]
    #         W[0] −= 0.1·(1/3)/(√(1/7) + ε);  W[1] unchanged (m̂ = 0)
    # step 3 (t = 3): m = 0.5·[0.25, 0] + 0.5·[−1, 2] = [−0.375, 1]
    #         v = 0.75·[0.0625, 0.25] + 0.25·[1, 4] = [0.296875, 1.1875]
    #         1 − β1³ = 0.875, 1 − β2³ = 0.578125:  m̂ = [−3/7, 8/7],  v̂ = [19/37, 76/37]
    #         W −= 0.1·m̂/(√v̂ + ε)
    w1 = [1 - 0.1 * 0.5 / (0.5 + EPS), -2 + 0.1 * 1 / (1 + EPS)]
    w2 = [w1[0] - 0.1 * (1 / 3) / (math.sqrt(1 / 7) + EPS), w1[1]]
    w3 = [
        w2[0] + 0.1 * (3 / 7) / (math.sqrt(19 / 37) + EPS),
        w2[1] - 0.1 * (8 / 7) / (math.sqrt(76 / 37) + EPS),
    ]
    history = run_steps(lambda ps: Adam(ps, lr=0.1, betas=(0.5, 0.75)), W0, [G1, G2, G3])
    assert_steps(history, [w1, w2, w3])


def test_adam_l2_weight_decay():
    # η = 0.1, β1 = 0.5, β2 = 0.75, λ = 0.1: g = ∂E/∂W + λ·W joins both moments.
    # step 1: g = [0.5 + 0.1, −1 − 0.2] = [0.6, −1.2];  m̂ = g, v̂ = g²
    #         W = [1 − 0.1·0.6/(0.6 + ε), −2 + 0.1·1.2/(1.2 + ε)] ≈ [0.9, −1.9]
    # step 2: g = g2 + 0.1·W1 ≈ [0.34, 0.31]
    #         m = 0.5·[0.3, −0.6] + 0.5·g,   v = 0.75·[0.09, 0.36] + 0.25·g²
    #         W −= 0.1·(m/0.75)/(√(v/0.4375) + ε)
    w1 = [1 - 0.1 * 0.6 / (0.6 + EPS), -2 + 0.1 * 1.2 / (1.2 + EPS)]
    w2 = []
    for k in range(2):
        g = G2[k] + 0.1 * w1[k]
        m = 0.5 * (0.5 * [0.6, -1.2][k]) + 0.5 * g
        v = 0.75 * (0.25 * [0.6, -1.2][k] ** 2) + 0.25 * g**2
        w2.append(w1[k] - 0.1 * (m / 0.75) / (math.sqrt(v / 0.4375) + EPS))
    history = run_steps(
        lambda ps: Adam(ps, lr=0.1, betas=(0.5, 0.75), weight_decay=0.1), W0, [G1, G2]
    )
    assert_steps(history, [w1, w2])


def test_adamw_decoupled_weight_decay():
    # η = 0.1, β1 = 0.5, β2 = 0.75, λ = 0.5: W ← W·(1 − ηλ) = 0.95·W, then Adam on the raw
    # gradient, whose moments are those of test_adam.
    # step 1: W = [0.95 − 0.1·0.5/(0.5 + ε), −1.9 + 0.1·1/(1 + ε)]
    # step 2: W = 0.95·W1, then W[0] −= 0.1·(1/3)/(√(1/7) + ε)
    w1 = [0.95 - 0.1 * 0.5 / (0.5 + EPS), -1.9 + 0.1 * 1 / (1 + EPS)]
    w2 = [0.95 * w1[0] - 0.1 * (1 / 3) / (math.sqrt(1 / 7) + EPS), 0.95 * w1[1]]
    history = run_steps(
        lambda ps: AdamW(ps, lr=0.1, betas=(0.5, 0.75), weight_decay=0.5), W0, [G1, G2]
    )
    assert_steps(history, [w1, w2])


def test_adamw_defaults():
    opt = AdamW([Param(np.zeros(2))])
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 1e-2)


# --- RMSprop ---------------------------------------------------------------------------------


def test_rmsprop():
    # η = 0.1, α = 0.5, ε = 1e-8.
    # step 1: v = 0.5·g1² = [0.125, 0.5];  W = [1 − 0.1·0.5/(√0.125 + ε), −2 + 0.1·1/(√0.5 + ε)]
    # step 2: v = 0.5·[0.125, 0.5] + 0.5·[0.0625, 0.25] = [0.09375, 0.375]
    #         W −= [0.1·0.25/(√0.09375 + ε), 0.1·0.5/(√0.375 + ε)]
    w1 = [1 - 0.05 / (math.sqrt(0.125) + EPS), -2 + 0.1 / (math.sqrt(0.5) + EPS)]
    w2 = [
        w1[0] - 0.025 / (math.sqrt(0.09375) + EPS),
        w1[1] - 0.05 / (math.sqrt(0.375) + EPS),
    ]
    history = run_steps(lambda ps: RMSprop(ps, lr=0.1, alpha=0.5), W0, [G1, G2])
    assert_steps(history, [w1, w2])


def test_rmsprop_momentum():
    # η = 0.1, α = 0.5, μ = 0.9; v as in test_rmsprop, b starts at 0.
    # step 1: b = g1/(√v + ε) = [0.5/(√0.125 + ε), −1/(√0.5 + ε)];     W = W0 − 0.1·b
    # step 2: b = 0.9·b + [0.25/(√0.09375 + ε), 0.5/(√0.375 + ε)];     W = W1 − 0.1·b
    b1 = [0.5 / (math.sqrt(0.125) + EPS), -1 / (math.sqrt(0.5) + EPS)]
    w1 = [W0[k] - 0.1 * b1[k] for k in range(2)]
    b2 = [
        0.9 * b1[0] + 0.25 / (math.sqrt(0.09375) + EPS),
        0.9 * b1[1] + 0.5 / (math.sqrt(0.375) + EPS),
    ]
    w2 = [w1[k] - 0.1 * b2[k] for k in range(2)]
    history = run_steps(lambda ps: RMSprop(ps, lr=0.1, alpha=0.5, momentum=0.9), W0, [G1, G2])
    assert_steps(history, [w1, w2])


def test_rmsprop_weight_decay():
    # η = 0.1, α = 0.5, λ = 0.1: g = g1 + 0.1·W0 = [0.6, −1.2];  v = 0.5·g² = [0.18, 0.72]
    #         W = [1 − 0.1·0.6/(√0.18 + ε), −2 + 0.1·1.2/(√0.72 + ε)]
    w1 = [1 - 0.06 / (math.sqrt(0.18) + EPS), -2 + 0.12 / (math.sqrt(0.72) + EPS)]
    history = run_steps(lambda ps: RMSprop(ps, lr=0.1, alpha=0.5, weight_decay=0.1), W0, [G1])
    assert_steps(history, [w1])


# --- plumbing shared by every optimizer ------------------------------------------------------

CONFIGS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    "sgd-nesterov-l2": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: Adam(ps, lr=0.01),
    "adam-l2": lambda ps: Adam(ps, lr=0.01, weight_decay=0.1),
    "adamw": lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda ps: RMSprop(ps, lr=0.01),
    "rmsprop-momentum-l2": lambda ps: RMSprop(ps, lr=0.01, momentum=0.5, weight_decay=0.1),
}
each_config = pytest.mark.parametrize("make", CONFIGS.values(), ids=CONFIGS.keys())


def random_params(rng, dtype=np.float64, shapes=((3, 4), (4,))):
    return [Param(rng.standard_normal(shape).astype(dtype)) for shape in shapes]


def set_random_grads(rng, params, dtype=np.float64):
    for p in params:
        p.grad = rng.standard_normal(p.data.shape).astype(dtype)


@each_config
def test_skipped_params_do_not_move(make):
    rng = np.random.default_rng(0)
    live, no_grad, frozen = random_params(rng, shapes=((3,), (3,), (3,)))
    live.grad = np.ones(3)
    frozen.grad = np.ones(3)  # has a gradient but requires_grad is False
    frozen.requires_grad = False
    before = [p.data.copy() for p in (live, no_grad, frozen)]
    opt = make([live, no_grad, frozen])
    for _ in range(3):
        opt.step()
    assert not np.array_equal(live.data, before[0])
    np.testing.assert_array_equal(no_grad.data, before[1])
    np.testing.assert_array_equal(frozen.data, before[2])
    assert opt.state[1] == {} and opt.state[2] == {}


@each_config
def test_float32_stays_float32(make):
    rng = np.random.default_rng(1)
    params = random_params(rng, dtype=np.float32)
    opt = make(params)
    for grad_dtype in (np.float32, np.float64, np.float32):
        set_random_grads(rng, params, dtype=grad_dtype)
        opt.step()
    for p, state in zip(params, opt.state, strict=True):
        assert p.data.dtype == np.float32
        for name, array in state.items():
            assert array.dtype == (np.int64 if name == "step" else np.float32), name


@each_config
def test_gradients_are_never_written(make):
    rng = np.random.default_rng(2)
    params = random_params(rng)
    opt = make(params)
    for _ in range(3):
        set_random_grads(rng, params)
        saved = [p.grad.copy() for p in params]
        for p in params:
            p.grad.flags.writeable = False  # any in-place write would raise
        opt.step()
        for p, g in zip(params, saved, strict=True):
            np.testing.assert_array_equal(p.grad, g)


@each_config
def test_steady_state_keeps_every_array(make):
    rng = np.random.default_rng(3)
    params = random_params(rng)
    opt = make(params)

    def arrays():
        ids = [id(p.data) for p in params]
        ids += [id(a) for state in opt.state for a in state.values()]
        ids += [id(a) for a in opt._scratch + opt._l2_grads if a is not None]
        return ids

    set_random_grads(rng, params)
    opt.step()
    first = arrays()
    for _ in range(3):
        set_random_grads(rng, params)
        opt.step()
        assert arrays() == first


@each_config
def test_steady_state_step_allocates_no_parameter_sized_array(make):
    rng = np.random.default_rng(4)
    p = Param(rng.standard_normal(1_000_000))  # 8 MB
    p.grad = rng.standard_normal(1_000_000)
    opt = make([p])
    opt.step()  # creates the buffers

    tracemalloc.start()
    try:
        _ = p.data * 2.0  # test the test: NumPy's allocations are visible to tracemalloc
        assert tracemalloc.get_traced_memory()[1] >= p.data.nbytes
        del _
        tracemalloc.reset_peak()
        opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 100


def test_duplicates_are_dropped_keeping_order():
    a, b = Param(np.zeros(2)), Param(np.zeros(3))
    opt = SGD([a, b, a, b, a], lr=1.0)
    assert opt.params == [a, b]
    assert opt.params[0] is a and opt.params[1] is b
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(a.data, [-1.0, -1.0])  # updated once, not three times


def test_generator_of_params_is_accepted():
    a, b = Param(np.zeros(2)), Param(np.zeros(3))
    opt = Adam(p for p in (a, b))
    assert opt.params == [a, b]


def test_zero_grad_sets_every_grad_to_none():
    params = [Param(np.zeros(2), grad=np.ones(2)), Param(np.zeros(1), grad=np.ones(1))]
    opt = SGD(params, lr=0.1)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_no_parameters():
    with pytest.raises(ConfigError) as info:
        SGD([], lr=0.1)
    assert str(info.value) == (
        "SGD: got no parameters to optimize; pass model.parameters() (a generator that was "
        "already used up is empty)"
    )


def test_bad_params():
    p = Param(np.zeros(2))
    with pytest.raises(ConfigError, match="got a single parameter; pass \\[param\\]"):
        SGD(p, lr=0.1)
    with pytest.raises(ConfigError, match=r"params\[1\] is not a parameter"):
        SGD([p, 3.0], lr=0.1)
    with pytest.raises(ConfigError, match=r"params\[1\] is a dict; pass either parameters"):
        SGD([p, {"params": [p]}], lr=0.1)
    with pytest.raises(DTypeError, match=r"params\[0\] must hold a floating-point"):
        SGD([Param(np.zeros(2, dtype=np.int64))], lr=0.1)


def test_gradient_of_the_wrong_shape():
    p = Param(np.zeros((2, 3)), grad=np.ones(3))  # would broadcast silently
    with pytest.raises(ShapeError) as info:
        SGD([p], lr=0.1).step()
    assert str(info.value) == (
        "SGD.step: parameter 0 has shape (2, 3) but its grad has shape (3,); a gradient must "
        "have its parameter's shape"
    )


def test_base_class_has_no_rule():
    opt = Optimizer([Param(np.zeros(1), grad=np.ones(1))], lr=0.1)
    with pytest.raises(NotImplementedError):
        opt.step()


def test_step_count_and_repr():
    opt = SGD([Param(np.zeros(1), grad=np.ones(1))], lr=0.5, momentum=0.9)
    opt.step()
    opt.step()
    assert opt.step_count == 2
    assert repr(opt) == "SGD(lr=0.5, momentum=0.9, nesterov=False, weight_decay=0.0)"


# --- hyperparameter validation ---------------------------------------------------------------

INVALID = [
    (lambda ps: SGD(ps, lr=math.nan), "SGD: lr must be a positive finite number, got nan"),
    (lambda ps: SGD(ps, lr=0), "SGD: lr must be a positive finite number, got 0"),
    (lambda ps: SGD(ps, lr=-0.1), "SGD: lr must be a positive finite number, got -0.1"),
    (lambda ps: SGD(ps, lr=math.inf), "SGD: lr must be a positive finite number, got inf"),
    (lambda ps: SGD(ps, lr="0.1"), "SGD: lr must be a positive finite number, got '0.1'"),
    (lambda ps: SGD(ps, lr=True), "SGD: lr must be a positive finite number, got True"),
    (
        lambda ps: SGD(ps, lr=np.float32("nan")),
        "SGD: lr must be a positive finite number, got nan",
    ),
    (lambda ps: SGD(ps, lr=0.1, momentum=1.0), "SGD: momentum must be a number in [0, 1), got 1.0"),
    (
        lambda ps: SGD(ps, lr=0.1, momentum=-0.5),
        "SGD: momentum must be a number in [0, 1), got -0.5",
    ),
    (
        lambda ps: SGD(ps, lr=0.1, weight_decay=-1),
        "SGD: weight_decay must be a non-negative finite number, got -1",
    ),
    (
        lambda ps: SGD(ps, lr=0.1, nesterov=True),
        "SGD: nesterov=True needs momentum > 0 (Nesterov looks ahead along the momentum "
        "buffer), got momentum=0.0; pass e.g. momentum=0.9",
    ),
    (
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov="yes"),
        "SGD: nesterov must be True or False, got 'yes'",
    ),
    (lambda ps: Adam(ps, lr=-1e-3), "Adam: lr must be a positive finite number, got -0.001"),
    (
        lambda ps: Adam(ps, betas=(0.9, 1.0)),
        "Adam: betas[1] must be a number in [0, 1), got 1.0",
    ),
    (
        lambda ps: Adam(ps, betas=(-0.1, 0.999)),
        "Adam: betas[0] must be a number in [0, 1), got -0.1",
    ),
    (lambda ps: Adam(ps, betas=0.9), "Adam: betas must be a pair (beta1, beta2), got 0.9"),
    (
        lambda ps: Adam(ps, betas=(0.9, 0.99, 0.999)),
        "Adam: betas must be a pair (beta1, beta2), got (0.9, 0.99, 0.999)",
    ),
    (lambda ps: Adam(ps, eps=0.0), "Adam: eps must be a positive finite number, got 0.0"),
    (
        lambda ps: Adam(ps, weight_decay=math.nan),
        "Adam: weight_decay must be a non-negative finite number, got nan",
    ),
    (lambda ps: AdamW(ps, lr=math.nan), "AdamW: lr must be a positive finite number, got nan"),
    (
        lambda ps: AdamW(ps, weight_decay=-0.01),
        "AdamW: weight_decay must be a non-negative finite number, got -0.01",
    ),
    (lambda ps: RMSprop(ps, lr=0.0), "RMSprop: lr must be a positive finite number, got 0.0"),
    (lambda ps: RMSprop(ps, alpha=1.0), "RMSprop: alpha must be a number in [0, 1), got 1.0"),
    (
        lambda ps: RMSprop(ps, eps=-1e-8),
        "RMSprop: eps must be a positive finite number, got -1e-08",
    ),
    (
        lambda ps: RMSprop(ps, momentum=1),
        "RMSprop: momentum must be a number in [0, 1), got 1",
    ),
    (
        lambda ps: RMSprop(ps, weight_decay=math.inf),
        "RMSprop: weight_decay must be a non-negative finite number, got inf",
    ),
]


@pytest.mark.parametrize(("make", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ConfigError) as info:
        make([Param(np.zeros(2))])
    assert str(info.value) == message


# --- state dicts -----------------------------------------------------------------------------


@each_config
def test_state_dict_round_trip_gives_identical_steps(make):
    rng = np.random.default_rng(5)
    grads = [[rng.standard_normal(s) for s in ((3, 4), (4,))] for _ in range(6)]

    def feed(params, opt, step_grads):
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g
        opt.step()

    params_a = random_params(rng)
    opt_a = make(params_a)
    feed(params_a, opt_a, grads[0])
    feed(params_a, opt_a, grads[1])
    saved = opt_a.state_dict()

    # Plain data: JSON for everything but the arrays, which are copies.
    json.dumps({key: value for key, value in saved.items() if key != "state"}, allow_nan=False)
    assert all(isinstance(a, np.ndarray) for a in saved["state"].values())
    assert saved["hyper"]["step_count"] == 2

    # A second optimizer that has taken a step of its own (so it has buffers), with another lr.
    params_b = random_params(rng)
    opt_b = make(params_b)
    opt_b.lr = 123.0
    feed(params_b, opt_b, grads[5])
    buffers_before = {(i, k): a for i, s in enumerate(opt_b.state) for k, a in s.items()}
    for pa, pb in zip(params_a, params_b, strict=True):
        np.copyto(pb.data, pa.data)
    opt_b.load_state_dict(saved)

    assert opt_b.lr == opt_a.lr and opt_b.step_count == 2
    for (i, k), array in buffers_before.items():  # copied into the existing buffers
        assert opt_b.state[i][k] is array
    for step_grads in grads[2:5]:
        feed(params_a, opt_a, step_grads)
        feed(params_b, opt_b, step_grads)
    for pa, pb in zip(params_a, params_b, strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_dict_layout():
    p = Param(np.array([1.0, 2.0]), grad=np.array([0.5, 0.5]))
    frozen = Param(np.zeros(3), requires_grad=False)
    opt = Adam([p, frozen], lr=0.1)
    opt.step()
    saved = opt.state_dict()
    assert saved["optimizer"] == "Adam"
    assert saved["num_params"] == 2
    assert saved["hyper"] == {
        "lr": 0.1,
        "step_count": 1,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert sorted(saved["state"]) == ["0.exp_avg", "0.exp_avg_sq", "0.step"]
    assert saved["state"]["0.step"].shape == () and int(saved["state"]["0.step"]) == 1
    saved["state"]["0.exp_avg"][:] = 99.0  # a copy: the optimizer's own buffer is unchanged
    assert not np.any(opt.state[0]["exp_avg"] == 99.0)


def test_load_state_dict_drops_state_the_dict_lacks():
    p = Param(np.zeros(2), grad=np.ones(2))
    fresh = SGD([p], lr=0.1, momentum=0.9).state_dict()
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    opt.load_state_dict(fresh)
    assert opt.state[0] == {}
    opt.step()  # a first step again: b = g
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], [1.0, 1.0])


def test_load_state_dict_after_lr_reached_zero():
    # A cosine schedule can end at lr = 0; such a checkpoint must still load.
    p = Param(np.zeros(2), grad=np.ones(2))
    opt = SGD([p], lr=0.1)
    opt.lr = 0.0
    saved = opt.state_dict()
    other = SGD([p], lr=0.5)
    other.load_state_dict(saved)
    assert other.lr == 0.0


def _adam_state():
    p = Param(np.zeros(2), grad=np.ones(2))
    opt = Adam([p])
    opt.step()
    return opt.state_dict()


def _edit(state_dict, **changes):
    edited = {**state_dict, **changes}
    return edited


LOAD_ERRORS = [
    (
        lambda: _edit(_adam_state(), optimizer="SGD"),
        "Adam.load_state_dict: the state dict is from SGD, not Adam",
    ),
    (
        lambda: _edit(_adam_state(), num_params=3),
        "Adam.load_state_dict: the state dict holds 3 parameters but this optimizer has 1; "
        "build it over the same parameters",
    ),
    (
        lambda: _edit(_adam_state(), state={"0.exp_avg": np.zeros(3)}),
        "Adam.load_state_dict: state '0.exp_avg' has shape (3,) but parameter 0 needs (2,); "
        "load it into an optimizer over the same model",
    ),
    (
        lambda: _edit(_adam_state(), state={"0.momentum_buffer": np.zeros(2)}),
        "Adam.load_state_dict: unknown state '0.momentum_buffer'; Adam keeps step, exp_avg, "
        "exp_avg_sq",
    ),
    (
        lambda: _edit(_adam_state(), state={"1.exp_avg": np.zeros(2)}),
        "Adam.load_state_dict: state key '1.exp_avg' is not '<parameter index>.<name>' with an "
        "index below 1",
    ),
    (
        lambda: _edit(_adam_state(), state={"0.step": np.zeros((), dtype=np.float64)}),
        "Adam.load_state_dict: state '0.step' has dtype float64",
    ),
    (  # a negative step count would make Adam's bias correction fail inside an update
        lambda: _edit(_adam_state(), state={"0.step": np.array(-5, dtype=np.int64)}),
        "Adam.load_state_dict: state '0.step' counts steps, so it cannot be -5",
    ),
    (
        lambda: _edit(_adam_state(), hyper={"lr": 0.1, "step_count": 1}),
        "Adam.load_state_dict: hyperparameters ['lr', 'step_count'] do not match Adam's "
        "['beta1', 'beta2', 'eps', 'lr', 'step_count', 'weight_decay']",
    ),
    (
        lambda: _edit(_adam_state(), hyper={**_adam_state()["hyper"], "beta2": 1.5}),
        "Adam: betas[1] must be a number in [0, 1), got 1.5",
    ),
    (
        lambda: _edit(_adam_state(), hyper={**_adam_state()["hyper"], "lr": -1.0}),
        "Adam.load_state_dict: lr must be a non-negative finite number, got -1.0",
    ),
    (
        lambda: {"hyper": {}},
        "Adam.load_state_dict: expected the dict returned by state_dict(), with keys "
        "['hyper', 'num_params', 'optimizer', 'state'], got ['hyper']",
    ),
]


@pytest.mark.parametrize(("make_dict", "message"), LOAD_ERRORS, ids=[m for _, m in LOAD_ERRORS])
def test_load_state_dict_errors_change_nothing(make_dict, message):
    p = Param(np.zeros(2), grad=np.ones(2))
    opt = Adam([p], lr=0.01)
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ConfigError) as info:
        opt.load_state_dict(make_dict())
    assert str(info.value) == message
    after = opt.state_dict()
    assert after["hyper"] == before["hyper"]
    for key, array in before["state"].items():
        np.testing.assert_array_equal(after["state"][key], array)


# --- against PyTorch (when installed) --------------------------------------------------------

TORCH_CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.1}),
]
OURS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}


@pytest.mark.parametrize(
    ("name", "hyper"), TORCH_CONFIGS, ids=[f"{n}-{h}" for n, h in TORCH_CONFIGS]
)
def test_matches_torch_optim(name, hyper):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    shapes = [(3, 4), (4,)]
    w0 = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(5)]

    ours = [Param(w.copy()) for w in w0]
    theirs = [torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True) for w in w0]
    opt_ours = OURS[name](ours, **hyper)
    opt_theirs = getattr(torch.optim, name)(theirs, **hyper, foreach=False)
    for step, step_grads in enumerate(grads, start=1):
        for p, t, g in zip(ours, theirs, step_grads, strict=True):
            p.grad = g.copy()
            t.grad = torch.tensor(g.copy(), dtype=torch.float64)
        opt_ours.step()
        opt_theirs.step()
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(
                p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=f"step {step}"
            )


# --- packed and blocked updates (Note [fast updates]) give the per-parameter update's bits ------


def _bits(params, opt):
    data = [p.data.tobytes() for p in params]
    state = {k: (v.dtype.str, v.tobytes()) for k, v in opt.state_dict()["state"].items()}
    return data, state, opt.step_count


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@each_config
def test_packed_and_blocked_updates_match_the_per_parameter_update_bit_for_bit(
        make, dtype, monkeypatch):
    # small parameters (packed), large ones (blocked: here in blocks of 64 KiB, so that there
    # are many and the last is short), two groups; along the way gradients that are None for
    # some parameters (their step counts then differ), a frozen parameter, signed zeros, a
    # transposed (non-contiguous) gradient, a rebound .data and a state dict loaded mid-run
    monkeypatch.setattr(optimizer_module, "_BLOCK_BYTES", 1 << 16)
    shapes = [(400, 200), (200,), (5, 7), (7,), (70_000,), (3,)]
    runs = []
    for elementwise in (True, False):
        rng = np.random.default_rng(11)
        params = [Param(rng.standard_normal(s).astype(dtype)) for s in shapes]
        opt = make([{"params": params[:3]}, {"params": params[3:]}])
        opt.param_groups[1]["lr"] *= 0.5
        opt._elementwise = elementwise  # False: the plain loop over parameters
        for step in range(7):
            for j, p in enumerate(params):
                p.grad = None if step == 2 and j in (1, 4) else (
                    rng.standard_normal(p.data.shape).astype(dtype))
            params[0].grad[:3] = -0.0
            if step == 3:
                params[0].grad = np.ascontiguousarray(params[0].grad.T).T
                params[2].data = params[2].data.copy()
            params[5].requires_grad = step != 4
            opt.step()
            if step == 5:
                opt.load_state_dict(opt.state_dict())
        runs.append(_bits(params, opt))
    assert runs[0] == runs[1]


def test_the_real_block_size_updates_large_parameters_as_the_plain_loop_does():
    runs = []
    for elementwise in (True, False):
        rng = np.random.default_rng(13)
        params = random_params(rng, np.float32, ((1100, 600), (600,)))  # 2.6 MB: 3 blocks
        opt = Adam(params, lr=0.01, weight_decay=0.1)
        opt._elementwise = elementwise
        for _ in range(3):
            set_random_grads(rng, params, np.float32)
            opt.step()
        runs.append(_bits(params, opt))
    assert runs[0] == runs[1]


def test_a_pack_follows_changes_to_its_parameters_state():
    rng = np.random.default_rng(12)
    params = random_params(rng, shapes=((3, 4), (4,), (2,)))
    opt = Adam(params, lr=0.01)
    set_random_grads(rng, params)
    opt.step()
    # a state array replaced by hand is used, not the pack's stale copy
    opt.state[1]["exp_avg"] = np.full(4, 0.5)
    twin = Adam([Param(p.data.copy()) for p in params], lr=0.01)
    twin.load_state_dict(opt.state_dict())
    twin._elementwise = False
    set_random_grads(rng, params)
    for p, q in zip(params, twin.params, strict=True):
        q.grad = p.grad.copy()
    opt.step()
    twin.step()
    assert _bits(params, opt) == _bits(twin.params, twin)
