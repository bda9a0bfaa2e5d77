"""Layers: gradients against finite differences, the worked example, Sequential and mlp."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.check import GradcheckError, gradcheck
from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.nn import (
    HalfSquaredError,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    mlp,
)
from chainrule.nn.init import set_values_


def _x(*shape, seed=0, low=-2.0, high=2.0):
    """A float64 input that requires grad, drawn uniformly from [low, high]."""
    data = np.random.default_rng(seed).uniform(low, high, size=shape)
    return cr.tensor(data, requires_grad=True)


def _check_module(module, x):
    """gradcheck the module's output with respect to its input and every parameter."""
    params = list(module.parameters())
    report = gradcheck(lambda x, *_: module(x), x, *params, atol=1e-7, rtol=1e-6)
    assert report.passed
    assert len(report.inputs) == 1 + sum(p.requires_grad for p in params)


# --- gradients against finite differences ----------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(shape, bias):
    _check_module(Linear(3, 2, bias, dtype=np.float64, rng=1), _x(*shape))


@pytest.mark.parametrize("module", [
    Sigmoid(), Tanh(), Softplus(), Identity(), LeakyReLU(0.2),
    Softmax(), Softmax(axis=0), LogSoftmax(), LogSoftmax(axis=0),
], ids=repr)
def test_activation_gradients(module):
    _check_module(module, _x(4, 3, seed=2))


@pytest.mark.parametrize("module", [ReLU(), LeakyReLU()], ids=repr)
def test_piecewise_activation_gradients_away_from_the_kink(module):
    x = _x(4, 3, seed=3, low=0.1, high=2.0)
    x.data[::2] *= -1  # half negative, none within 0.1 of the kink at 0
    _check_module(module, x)


def test_whole_network_gradients():
    model = mlp([3, 4, 4, 2], "tanh", "softmax", rng=4, dtype=np.float64)
    _check_module(model, _x(5, 3, seed=5))


def test_the_gradient_check_catches_a_layer_that_drops_a_gradient():
    class Broken(Module):  # uses the weight's values but cuts it from the graph
        def __init__(self):
            super().__init__()
            self.inner = Linear(3, 2, dtype=np.float64, rng=0)

        def forward(self, x):
            return x @ self.inner.weight.detach().T + self.inner.bias

    with pytest.raises(GradcheckError, match="mismatch"):
        _check_module(Broken(), _x(4, 3))


# --- Linear ----------------------------------------------------------------------------------
def test_linear_shapes_dtype_and_math():
    layer = Linear(3, 2, rng=0)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)
    assert layer.weight.dtype == np.float32 == layer.bias.dtype
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    out = layer(x)
    assert out.shape == (5, 2)
    assert out.op == "linear" and out.parents[1] is layer.weight  # one fused op
    np.testing.assert_allclose(out.numpy(), x @ layer.weight.data.T + layer.bias.data,
                               rtol=1e-6)
    assert layer(x[0]).shape == (2,)


def test_linear_dtype_option():
    layer = Linear(2, 2, dtype=np.float64, rng=0)
    assert layer.weight.dtype == np.float64 == layer.bias.dtype
    with pytest.raises(DTypeError, match="Linear: dtype must be a floating dtype, got int32"):
        Linear(2, 2, dtype=np.int32)


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    layer = Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.98 * bound  # it fills the range, not a narrower one
    np.testing.assert_allclose(layer.weight.data.var(), bound**2 / 3, rtol=0.02)


def test_linear_seeds_reproduce_and_generators_continue():
    a, b = Linear(3, 4, rng=7), Linear(3, 4, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    c = Linear(3, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, c.weight.data)
    assert not np.array_equal(a.weight.data, Linear(3, 4, rng=8).weight.data)
    generator = np.random.default_rng(7)
    first, second = Linear(3, 4, rng=generator), Linear(3, 4, rng=generator)
    assert not np.array_equal(first.weight.data, second.weight.data)


def test_linear_without_bias():
    layer = Linear(2, 3, bias=False, rng=0)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=2, out_features=3, bias=False)"


def test_linear_names_the_feature_mismatch():
    layer = Linear(3, 2, rng=0)
    with pytest.raises(ShapeError) as caught:
        layer(np.zeros((5, 4), dtype=np.float32))
    assert str(caught.value) == ("Linear(in_features=3, out_features=2): expected input with "
                                 "3 features in its last dimension, got shape (5, 4)")


def test_linear_explains_inputs_with_too_many_dimensions():
    layer = Linear(3, 2, rng=0)
    with pytest.raises(ShapeError, match=r"got shape \(2, 5, 3\) with 3 dimensions; flatten "
                                         r"the leading dimensions first, e\.g\. "
                                         r"x\.reshape\(-1, 3\)"):
        layer(cr.tensor(np.zeros((2, 5, 3), dtype=np.float32)))
    with pytest.raises(ShapeError, match=r"expected input of shape \(batch, 3\) or \(3,\)"):
        layer(1.0)


@pytest.mark.parametrize("args", [(0, 2), (2, -1), (2.0, 2), (True, 2)])
def test_linear_sizes_must_be_positive_ints(args):
    with pytest.raises(ConfigError, match=r"Linear: (in|out)_features must be a positive int"):
        Linear(*args)


# --- the notes' worked example ---------------------------------------------------------------
def test_worked_example_forward_values_and_gradients():
    """The notes' 2-2-2 sigmoid network, built weight by weight, in float64.

    net_h1 = w1·i1 + w2·i2 + b1 = 0.15·0.05 + 0.20·0.10 + 0.35 = 0.3775
    out_h1 = σ(0.3775) = 0.593269992
    net_o1 = w5·out_h1 + w6·out_h2 + b2 = 1.105905967,  out_o1 = σ(net_o1) = 0.75136507
    E_total = ½(0.01 − 0.75136507)² + ½(0.99 − 0.772928465)² = 0.298371109
    ∂E/∂w5 = (out_o1 − t_o1) · out_o1(1 − out_o1) · out_h1 = 0.082167041
    ∂E/∂w1 = (Σ_o δ_o · w_o1) · out_h1(1 − out_h1) · i1 = 0.000438568
    """
    hidden = Linear(2, 2, dtype=np.float64)
    set_values_(hidden.weight, [[0.15, 0.20], [0.25, 0.30]])  # [[w1, w2], [w3, w4]]
    set_values_(hidden.bias, [0.35, 0.35])                     # b1 (frozen: it does not learn)
    hidden.bias.requires_grad_(False)
    output = Linear(2, 2, dtype=np.float64)
    set_values_(output.weight, [[0.40, 0.45], [0.50, 0.55]])  # [[w5, w6], [w7, w8]]
    set_values_(output.bias, [0.60, 0.60])                     # b2 (frozen)
    output.bias.requires_grad_(False)
    model = Sequential(hidden, Sigmoid(), output, Sigmoid())

    x = cr.tensor(np.array([[0.05, 0.10]]))
    target = cr.tensor(np.array([[0.01, 0.99]]))
    out_h = model[:2](x)
    out_o = model(x)
    error = HalfSquaredError()(out_o, target)
    error.backward()

    assert out_h.numpy()[0, 0] == pytest.approx(0.593269992, abs=1e-9)
    assert out_o.numpy()[0, 0] == pytest.approx(0.75136507, abs=1e-9)
    assert error.item() == pytest.approx(0.298371109, abs=1e-9)
    assert output.weight.grad[0, 0] == pytest.approx(0.082167041, abs=1e-9)  # ∂E/∂w5
    assert hidden.weight.grad[0, 0] == pytest.approx(0.000438568, abs=1e-9)  # ∂E/∂w1
    assert hidden.bias.grad is None and output.bias.grad is None


# --- activations -----------------------------------------------------------------------------
def test_activation_modules_compute_their_functions_on_arrays():
    x = np.array([[-1.0, 0.5, 2.0], [0.0, -3.0, 1.0]])
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    expected = {
        Sigmoid(): 1 / (1 + np.exp(-x)),
        Tanh(): np.tanh(x),
        ReLU(): np.maximum(x, 0),
        LeakyReLU(0.1): np.where(x > 0, x, 0.1 * x),
        Softplus(): np.log1p(np.exp(x)),
        Softmax(): softmax,
        Softmax(axis=0): np.exp(x) / np.exp(x).sum(axis=0, keepdims=True),
        LogSoftmax(): np.log(softmax),
    }
    for module, values in expected.items():
        np.testing.assert_allclose(module(x).numpy(), values, rtol=1e-12, err_msg=repr(module))
    assert Identity()(x) is x


def test_activation_reprs():
    assert repr(LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(Softmax(axis=0)) == "Softmax(axis=0)"
    assert repr(LogSoftmax()) == "LogSoftmax(axis=-1)"
    assert repr(Tanh()) == "Tanh()"
    assert list(Sigmoid().parameters()) == []


# --- Sequential ------------------------------------------------------------------------------
def test_sequential_container_protocol():
    layers = [Linear(2, 3, rng=0), Sigmoid(), Linear(3, 1, rng=1)]
    model = Sequential(*layers)
    assert len(model) == 3
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, Sequential) and list(head) == layers[:2]
    assert model.append(Sigmoid()) is model
    assert len(model) == 4 and isinstance(model[3], Sigmoid)
    with pytest.raises(IndexError, match="Sequential index 4 is out of range for 4 modules"):
        model[4]


def test_sequential_runs_modules_in_order():
    model = Sequential(Linear(2, 3, rng=0), Tanh(), Linear(3, 1, rng=1))
    x = np.array([[0.3, -0.7]], dtype=np.float32)
    expected = model[2](model[1](model[0](x))).numpy()
    np.testing.assert_array_equal(model(x).numpy(), expected)


def test_sequential_accepts_named_modules():
    model = Sequential({"hidden": Linear(2, 2, rng=0), "act": Sigmoid()})
    assert [n for n, _ in model.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert isinstance(model[1], Sigmoid)


def test_sequential_checks_that_linear_layers_chain():
    with pytest.raises(ShapeError) as caught:
        Sequential(Linear(2, 3), Sigmoid(), Linear(4, 1))
    assert str(caught.value) == ("Sequential: layer 0 Linear(2→3) outputs 3 features but "
                                 "layer 2 Linear(4→1) expects 4")


def test_sequential_checks_nested_sequentials_and_appends():
    with pytest.raises(ShapeError, match=r"layer 0 Sequential\(2→5\) outputs 5 features but "
                                         r"layer 1 Linear\(3→1\) expects 3"):
        Sequential(Sequential(Linear(2, 4), ReLU(), Linear(4, 5)), Linear(3, 1))
    model = Sequential(Linear(2, 3), Sigmoid())
    with pytest.raises(ShapeError, match=r"layer 0 Linear\(2→3\) outputs 3 features but "
                                         r"layer 2 Linear\(2→1\) expects 2"):
        model.append(Linear(2, 1))
    assert len(model) == 2  # the failed append left the model as it was


def test_sequential_does_not_guess_past_unknown_modules():
    class Double(Module):  # could change the number of features: no check across it
        def forward(self, x):
            return cr.concatenate([x, x], axis=-1)

    model = Sequential(Linear(2, 3, rng=0), Double(), Linear(6, 1, rng=1))
    assert model(np.ones((1, 2), dtype=np.float32)).shape == (1, 1)


def test_sequential_refuses_non_modules():
    with pytest.raises(ConfigError, match=r"entry 1 is a type, not a Module \(instantiate it: "
                                          r"write Sigmoid\(\), not Sigmoid\)"):
        Sequential(Linear(2, 2), Sigmoid)
    with pytest.raises(ConfigError, match="entry 0 is a function, not a Module"):
        Sequential(lambda x: x)


# --- mlp -------------------------------------------------------------------------------------
def test_mlp_builds_linear_activation_pairs():
    model = mlp([2, 3, 4, 1], "relu", "sigmoid", rng=0)
    assert [type(m) for m in model] == [Linear, ReLU, Linear, ReLU, Linear, Sigmoid]
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, Linear)] == \
        [(2, 3), (3, 4), (4, 1)]
    assert [type(m) for m in mlp([2, 2], "tanh")] == [Linear]
    assert [type(m) for m in mlp([2, 2, 2], "identity", "log_softmax")] == \
        [Linear, Identity, Linear, LogSoftmax]


def test_mlp_options_reach_every_layer():
    model = mlp([2, 3, 1], bias=False, dtype=np.float64, rng=0)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "2.weight"]
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_mlp_seed_reproduces_the_whole_network():
    a, b = mlp([3, 5, 2], rng=11), mlp([3, 5, 2], rng=11)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert not np.array_equal(a[0].weight.data, mlp([3, 5, 2], rng=12)[0].weight.data)
    generator = np.random.default_rng(11)  # one generator, drawn from by each layer in turn
    first, second = Linear(3, 5, rng=generator), Linear(5, 2, rng=generator)
    np.testing.assert_array_equal(a[0].weight.data, first.weight.data)
    np.testing.assert_array_equal(a[2].weight.data, second.weight.data)
    np.testing.assert_array_equal(a[2].bias.data, second.bias.data)


@pytest.mark.parametrize("sizes", [[3], [], [2, 0], [2, -1, 1], [2, 2.5], [2, True], "22", 3])
def test_mlp_refuses_bad_sizes(sizes):
    with pytest.raises(ConfigError, match="mlp: sizes must be a sequence of at least 2 positive "
                                          "ints"):
        mlp(sizes)


def test_mlp_lists_the_valid_activation_names():
    with pytest.raises(ConfigError) as caught:
        mlp([2, 2, 1], "swish")
    assert str(caught.value) == ("mlp: unknown activation 'swish'; valid names are sigmoid, "
                                 "tanh, relu, leaky_relu, softplus, identity")
    with pytest.raises(ConfigError, match=r"unknown output_activation 'softmx'; valid names are "
                                          r"sigmoid, .*, identity, softmax, log_softmax"):
        mlp([2, 1], output_activation="softmx")
    with pytest.raises(ConfigError, match="unknown activation 'softmax'"):
        mlp([2, 2, 1], "softmax")


# --- sizes too large for memory: refused before anything is allocated -------------------------
GIB = 2**30


def test_mlp_refuses_a_network_whose_weights_exceed_the_machines_memory(monkeypatch):
    monkeypatch.setattr("chainrule.nn.layers.physical_memory", lambda: 16 * GIB)
    with pytest.raises(ConfigError) as caught:
        mlp([64, 1_000_000_000, 10], "relu", dtype="float32")
    assert str(caught.value) == (
        "mlp: sizes [64, 1000000000, 10]: 75,000,000,010 parameters would take 279 GiB as "
        "float32 for the weights alone (training needs about 4 times that, for the gradients "
        "and the optimizer's state), more than this machine's 16 GiB of memory; use fewer or "
        "smaller layers")
    # The whole network counts, before its first layer is built: each of these layers fits
    # in 1 MiB (at most 90,300 float64 weights, 706 KiB), the network does not.
    monkeypatch.setattr("chainrule.nn.layers.physical_memory", lambda: 2**20)
    with pytest.raises(ConfigError, match=r"mlp: sizes \[2, 300, 300, 300, 2\]: 182,102 "
                                          r"parameters would take 1.39 MiB as float64"):
        mlp([2, 300, 300, 300, 2], dtype="float64")
    assert len(mlp([2, 4, 1])) == 3  # ordinary sizes are untouched


def test_linear_refuses_weights_too_large_for_memory(monkeypatch):
    monkeypatch.setattr("chainrule.nn.layers.physical_memory", lambda: GIB)
    with pytest.raises(ConfigError, match=r"^Linear\(in_features=100000, out_features=100000\): "
                                          r"10,000,100,000 parameters would take 37.3 GiB as "
                                          r"float32 .* more than this machine's 1 GiB of memory"):
        Linear(100_000, 100_000)
    # Where the machine's memory is unknown (Windows), NumPy's refusal to allocate says the
    # same: 10**16 values are refused at once, without touching memory.
    monkeypatch.setattr("chainrule.nn.layers.physical_memory", lambda: None)
    with pytest.raises(ConfigError, match=r"\): 10,000,000,100,000,000 parameters would take "
                                          r"35.5 PiB as float32 .*, more than could be "
                                          r"allocated; use fewer or smaller layers$"):
        Linear(100_000_000, 100_000_000)
