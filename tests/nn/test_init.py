"""Initializers: bounds and statistics from the published formulas, seeding, explicit values."""

import math

import numpy as np
import pytest

from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import Linear, Parameter, init


def _weight(out_features=500, in_features=300, dtype=np.float64):
    return Parameter(np.zeros((out_features, in_features), dtype=dtype))


# --- variance-scaling initializers -----------------------------------------------------------
def test_xavier_uniform_respects_its_bound_and_fills_it():
    w = _weight()
    bound = math.sqrt(6 / (300 + 500))
    assert init.xavier_uniform_(w, rng=0) is w
    assert np.abs(w.data).max() <= bound
    assert np.abs(w.data).max() > 0.999 * bound
    np.testing.assert_allclose(w.data.var(), bound**2 / 3, rtol=0.02)


def test_xavier_uniform_gain_scales_the_bound():
    w = init.xavier_uniform_(_weight(), gain=2.0, rng=0)
    bound = 2.0 * math.sqrt(6 / 800)
    assert bound * 0.999 < np.abs(w.data).max() <= bound


def test_xavier_normal_std():
    w = init.xavier_normal_(_weight(), gain=1.5, rng=1)
    np.testing.assert_allclose(w.data.std(), 1.5 * math.sqrt(2 / 800), rtol=0.01)
    assert abs(w.data.mean()) < 0.01 * w.data.std() * 10


@pytest.mark.parametrize(("nonlinearity", "a", "gain"), [
    ("relu", 0.0, math.sqrt(2)),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
    ("tanh", 0.0, 5 / 3),
    ("sigmoid", 0.0, 1.0),
    ("linear", 0.0, 1.0),
])
def test_kaiming_normal_std_on_a_large_tensor(nonlinearity, a, gain):
    w = init.kaiming_normal_(_weight(1000, 400), a, nonlinearity=nonlinearity, rng=2)
    np.testing.assert_allclose(w.data.std(), gain / math.sqrt(400), rtol=0.01)


def test_kaiming_fan_out_mode():
    w = init.kaiming_normal_(_weight(1000, 400), mode="fan_out", rng=3)
    np.testing.assert_allclose(w.data.std(), math.sqrt(2) / math.sqrt(1000), rtol=0.01)


def test_kaiming_uniform_bound():
    w = init.kaiming_uniform_(_weight(), rng=4)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert bound * 0.999 < np.abs(w.data).max() <= bound
    np.testing.assert_allclose(w.data.std(), math.sqrt(2 / 300), rtol=0.01)


def test_calculate_gain_table():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.0) == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("sigmoid") == init.calculate_gain("linear") == 1.0


def test_fans_of_weights_and_higher_dimensional_kernels():
    assert init.fans(_weight(5, 3)) == (3, 5)
    assert init.fans(Parameter(np.zeros((8, 4, 3, 3)))) == (36, 72)


def test_variance_scaling_needs_a_weight_not_a_bias():
    with pytest.raises(ShapeError, match=r"xavier_uniform_: needs a weight with at least 2 "
                                         r"dimensions \(out, in\), got shape \(3,\)"):
        init.xavier_uniform_(Parameter(np.zeros(3)))


def test_bad_kaiming_options_are_named():
    with pytest.raises(ConfigError, match="kaiming_normal_: unknown nonlinearity 'gelu'; valid "
                                          "names are linear, identity, sigmoid, tanh, relu, "
                                          "leaky_relu"):
        init.kaiming_normal_(_weight(), nonlinearity="gelu")
    with pytest.raises(ConfigError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_weight(), mode="fan_avg")
    with pytest.raises(ConfigError, match="calculate_gain: unknown nonlinearity 'selu'"):
        init.calculate_gain("selu")


# --- plain initializers ----------------------------------------------------------------------
def test_constant_initializers_work_in_place():
    w = _weight(3, 2, dtype=np.float32)
    data = w.data
    assert init.ones_(w) is w and w.data is data
    assert np.all(w.data == 1.0)
    init.constant_(w, 0.25)
    assert np.all(w.data == 0.25) and w.dtype == np.float32
    init.zeros_(w)
    assert not np.any(w.data)


def test_uniform_and_normal():
    w = init.uniform_(_weight(), -0.5, 2.0, rng=5)
    assert w.data.min() >= -0.5 and w.data.max() < 2.0
    np.testing.assert_allclose(w.data.mean(), 0.75, atol=0.01)
    w = init.normal_(_weight(), mean=3.0, std=0.5, rng=6)
    np.testing.assert_allclose([w.data.mean(), w.data.std()], [3.0, 0.5], rtol=0.01)


def test_plain_initializers_check_their_arguments():
    with pytest.raises(ConfigError, match=r"uniform_: low \(1.0\) must not exceed high \(0.0\)"):
        init.uniform_(_weight(), 1.0, 0.0)
    with pytest.raises(ConfigError, match=r"normal_: std must be non-negative, got -1\.0"):
        init.normal_(_weight(), std=-1.0)
    with pytest.raises(TypeError, match="zeros_: expected a Parameter"):
        init.zeros_(np.zeros(3))


# --- seeding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("initializer", [
    init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
    init.uniform_, init.normal_,
])
def test_seeded_initializers_reproduce(initializer):
    a = initializer(_weight(4, 3), rng=42)
    b = initializer(_weight(4, 3), rng=np.random.default_rng(42))
    c = initializer(_weight(4, 3), rng=43)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)


def test_a_seed_gives_the_same_values_in_float32_and_float64():
    w32 = init.normal_(_weight(4, 3, dtype=np.float32), rng=9)
    w64 = init.normal_(_weight(4, 3, dtype=np.float64), rng=9)
    assert w32.dtype == np.float32
    np.testing.assert_array_equal(w32.data, w64.data.astype(np.float32))


def test_as_generator():
    generator = np.random.default_rng(0)
    assert init.as_generator(generator) is generator
    assert isinstance(init.as_generator(None), np.random.Generator)
    assert init.as_generator(5).random() == np.random.default_rng(5).random()
    for bad in (-1, 1.5, "seed", True):
        with pytest.raises(ConfigError, match=r"rng must be a numpy\.random\.Generator"):
            init.as_generator(bad)


# --- explicit values -------------------------------------------------------------------------
def test_set_values_builds_the_worked_example_weight_by_weight():
    hidden = Linear(2, 2)
    assert init.set_values_(hidden.weight, [[0.15, 0.20], [0.25, 0.30]]) is hidden.weight
    w1, w2, w3, w4 = hidden.weight.data.ravel().tolist()  # row j: the weights into unit j
    assert (w1, w2, w3, w4) == pytest.approx((0.15, 0.20, 0.25, 0.30))
    assert hidden.weight.dtype == np.float32


def test_set_values_names_both_shapes():
    w = _weight(2, 2)
    before = w.data.copy()
    with pytest.raises(ShapeError, match=r"set_values_: expected values of shape \(2, 2\) for "
                                         r"this parameter, got shape \(4,\)"):
        init.set_values_(w, [0.15, 0.20, 0.25, 0.30])
    np.testing.assert_array_equal(w.data, before)
    with pytest.raises(ConfigError, match="values must be real numbers"):
        init.set_values_(w, [["a", "b"], ["c", "d"]])


@pytest.mark.parametrize("fill", ["uniform", "normal"])
def test_random_fills_draw_in_chunks_the_numbers_of_one_draw(fill):
    shape = (300, 500)  # more values than one chunk
    param = Parameter(np.empty(shape, "float32"))
    generator = np.random.default_rng(3)
    if fill == "uniform":
        init.uniform_(param, -0.3, 0.5, rng=3)
        expected = generator.uniform(-0.3, 0.5, shape)
    else:
        init.normal_(param, 0.1, 2.0, rng=3)
        expected = generator.normal(0.1, 2.0, shape)
    np.testing.assert_array_equal(param.numpy(), expected.astype("float32"))


def test_a_float32_layer_is_drawn_without_a_float64_copy_of_its_weights():
    import tracemalloc

    tracemalloc.start()
    try:
        Linear(1024, 1024, rng=0, dtype="float32")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the weights (4 MiB), the empty array Parameter copies them from (4 MiB, never written)
    # and a chunk of draws; before, 8 MiB of float64 draws and their 4 MiB cast came on top
    assert peak < 2.25 * 1024 * 1024 * 4
