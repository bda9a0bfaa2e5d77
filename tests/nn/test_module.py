"""Module and Parameter: registration, naming, modes, state dicts, repr, frozen parameters."""

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.nn import (
    Linear,
    LoadResult,
    Module,
    Parameter,
    Sequential,
    Sigmoid,
    Tanh,
    init,
)


class TwoLayer(Module):
    """A hand-written network with named sub-modules, as a user would write one."""

    def __init__(self, rng=0):
        super().__init__()
        self.hidden = Linear(2, 3, rng=rng)
        self.act = Sigmoid()
        self.output = Linear(3, 1, rng=rng + 1)
        self.scale = Parameter([2.0])

    def forward(self, x):
        return self.output(self.act(self.hidden(x))) * self.scale


# --- Parameter -------------------------------------------------------------------------------
def test_parameter_is_a_leaf_that_requires_grad_in_the_default_dtype():
    p = Parameter([[1, 2], [3, 4]])
    assert isinstance(p, cr.Tensor)
    assert p.requires_grad and p.is_leaf
    assert p.dtype == cr.get_default_dtype() == np.float32
    assert p.shape == (2, 2)


def test_parameter_keeps_a_floating_arrays_dtype_and_converts_integer_arrays():
    assert Parameter(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert Parameter(np.arange(3)).dtype == np.float32
    assert Parameter([1.0], dtype=np.float64).dtype == np.float64


def test_parameter_copies_its_data():
    source = np.array([1.0, 2.0])
    p = Parameter(source)
    source[0] = 99.0
    p.data[1] = -1.0
    assert p.data.tolist() == [1.0, -1.0]
    assert source.tolist() == [99.0, 2.0]


def test_parameter_refuses_an_integer_dtype():
    with pytest.raises(DTypeError, match="Parameter: needs a floating dtype, got int64"):
        Parameter([1, 2], dtype=np.int64)


def test_frozen_parameter_and_repr():
    p = Parameter([0.35], requires_grad=False)
    assert not p.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([0.35")


# --- registration and naming -----------------------------------------------------------------
def test_named_parameters_use_dotted_paths_in_assignment_order():
    names = [name for name, _ in TwoLayer().named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "output.weight", "output.bias"]


def test_sequential_names_are_indices():
    model = Sequential(Linear(2, 3, rng=0), Tanh(), Linear(3, 1, rng=1))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p is q for p, q in zip(model.parameters(), [model[0].weight, model[0].bias,
                                                         model[2].weight, model[2].bias],
                                   strict=True)] == [True] * 4


def test_a_shared_parameter_or_module_is_listed_once():
    layer = Linear(2, 2, rng=0)
    model = Sequential(layer, Sigmoid(), layer)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.parameters())) == 2
    assert [type(m).__name__ for m in model.modules()] == ["Sequential", "Linear", "Sigmoid"]


def test_reassigning_keeps_the_position_and_none_unregisters():
    model = TwoLayer()
    new_weight = Parameter(np.zeros((3, 2)))
    model.hidden.weight = new_weight
    assert model.hidden.weight is new_weight
    assert [n for n, _ in model.hidden.named_parameters()] == ["weight", "bias"]
    model.hidden.bias = None
    assert [n for n, _ in model.hidden.named_parameters()] == ["weight"]
    model.act = None
    assert [n for n, _ in model.named_children()] == ["hidden", "output"]
    del model.output
    assert [n for n, _ in model.named_children()] == ["hidden"]
    assert not hasattr(model, "output")


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused():
    layer = Linear(2, 2, rng=0)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight'"):
        layer.weight = cr.tensor(np.zeros((2, 2)))


def test_assigning_before_super_init_explains_the_fix():
    class Forgetful(Module):
        def __init__(self):
            self.layer = Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Forgetful()


def test_children_and_named_modules():
    model = TwoLayer()
    assert [n for n, _ in model.named_children()] == ["hidden", "act", "output"]
    assert list(model.children()) == [model.hidden, model.act, model.output]
    assert [n for n, _ in model.named_modules()] == ["", "hidden", "act", "output"]
    nested = Sequential(model, Sigmoid())
    assert [n for n, _ in nested.named_modules()] == ["", "0", "0.hidden", "0.act",
                                                      "0.output", "1"]
    assert [n for n, _ in nested.named_parameters()][:2] == ["0.scale", "0.hidden.weight"]


def test_num_parameters_counts_numbers_and_can_skip_frozen_ones():
    model = TwoLayer()
    assert model.num_parameters() == (3 * 2 + 3) + (1 * 3 + 1) + 1
    model.output.bias.requires_grad_(False)
    assert model.num_parameters(trainable_only=True) == model.num_parameters() - 1


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        Module()(1.0)


def test_call_runs_forward():
    model = TwoLayer()
    x = np.array([[0.5, -0.5]], dtype=np.float32)
    expected = model.output(model.act(model.hidden(x))).numpy() * 2.0
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6)


# --- modes and gradients ---------------------------------------------------------------------
def test_train_and_eval_reach_every_submodule():
    model = Sequential(TwoLayer(), Sigmoid())
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[0].hidden.training


def test_zero_grad_clears_every_parameter():
    model = TwoLayer()
    model(np.ones((4, 2), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_frozen_parameters_get_no_gradient_and_no_update():
    model = TwoLayer()
    model.hidden.bias.requires_grad_(False)
    frozen_before = model.hidden.bias.data.copy()
    weight_before = model.hidden.weight.data.copy()
    model(np.ones((4, 2), dtype=np.float32)).sum().backward()
    assert model.hidden.bias.grad is None
    assert model.hidden.weight.grad is not None
    for p in model.parameters():  # a plain SGD step, as an optimizer takes it
        if p.grad is not None:
            p.data -= 0.5 * p.grad
    np.testing.assert_array_equal(model.hidden.bias.data, frozen_before)
    assert not np.array_equal(model.hidden.weight.data, weight_before)


def test_module_requires_grad_freezes_everything():
    model = TwoLayer().requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert model.num_parameters(trainable_only=True) == 0


def test_deepcopy_gives_an_independent_model():
    model = TwoLayer()
    clone = copy.deepcopy(model)
    clone.hidden.weight.data[...] = 0.0
    assert not np.all(model.hidden.weight.data == 0.0)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert clone.hidden.weight is not model.hidden.weight


# --- state dicts -----------------------------------------------------------------------------
def test_state_dict_holds_copies_in_parameter_order():
    model = TwoLayer()
    state = model.state_dict()
    assert list(state) == [n for n, _ in model.named_parameters()]
    state["hidden.weight"][...] = 123.0
    assert not np.any(model.hidden.weight.data == 123.0)


def test_state_dict_round_trip_restores_outputs_in_place():
    source, target = TwoLayer(rng=0), TwoLayer(rng=10)
    x = np.random.default_rng(3).standard_normal((5, 2)).astype(np.float32)
    assert not np.allclose(source(x).numpy(), target(x).numpy())
    weight, weight_data = target.hidden.weight, target.hidden.weight.data
    assert target.load_state_dict(source.state_dict()) == LoadResult([], [])
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())
    assert target.hidden.weight is weight and target.hidden.weight.data is weight_data


def test_load_state_dict_casts_to_the_parameter_dtype():
    model = Linear(2, 1, rng=0)
    model.load_state_dict({"weight": np.array([[1.5, 2]]), "bias": [3]})
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32
    assert model.weight.data.tolist() == [[1.5, 2.0]] and model.bias.data.tolist() == [3.0]


def _assert_fails_and_leaves_model_unchanged(model, state, error, fragment):
    before = model.state_dict()
    with pytest.raises(error) as caught:
        model.load_state_dict(state)
    assert fragment in str(caught.value)
    after = model.state_dict()
    assert list(after) == list(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def _good_state():
    return {name: value + 1.0 for name, value in TwoLayer(rng=5).state_dict().items()}


def test_load_state_dict_reports_missing_keys():
    state = _good_state()
    del state["output.bias"]
    _assert_fails_and_leaves_model_unchanged(TwoLayer(), state, ConfigError,
                                             "missing keys ['output.bias']")


def test_load_state_dict_reports_unexpected_keys():
    state = _good_state()
    state["extra.weight"] = np.zeros(2)
    _assert_fails_and_leaves_model_unchanged(TwoLayer(), state, ConfigError,
                                             "unexpected keys ['extra.weight']")


def test_load_state_dict_reports_shape_mismatches():
    state = _good_state()
    state["output.weight"] = np.zeros((3, 1))  # every earlier key is fine: nothing is copied
    _assert_fails_and_leaves_model_unchanged(
        TwoLayer(), state, ShapeError,
        "'output.weight' has shape (3, 1) but the parameter has shape (1, 3)")


def test_load_state_dict_reports_values_that_are_not_numbers():
    state = _good_state()
    state["output.bias"] = np.array(["abc"])
    _assert_fails_and_leaves_model_unchanged(TwoLayer(), state, ConfigError,
                                             "'output.bias' has dtype <U3")
    state["output.bias"] = np.array([True])
    _assert_fails_and_leaves_model_unchanged(TwoLayer(), state, ConfigError,
                                             "'output.bias' has dtype bool")


def test_load_state_dict_non_strict_loads_the_common_keys():
    model = TwoLayer()
    state = _good_state()
    del state["scale"]
    state["extra"] = np.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result == LoadResult(missing_keys=["scale"], unexpected_keys=["extra"])
    np.testing.assert_array_equal(model.hidden.weight.data, state["hidden.weight"])
    assert model.scale.data.tolist() == [2.0]


def test_load_state_dict_accepts_tensors_and_refuses_non_mappings():
    model = Linear(1, 1, rng=0)
    model.load_state_dict({"weight": cr.tensor([[4.0]]), "bias": cr.tensor([5.0])})
    assert model.weight.item() == 4.0 and model.bias.item() == 5.0
    with pytest.raises(ConfigError, match="expected a mapping"):
        model.load_state_dict([("weight", [[1.0]])])


# --- repr ------------------------------------------------------------------------------------
def test_repr_of_a_sequential_is_nested_like_pytorch():
    model = Sequential(Linear(2, 2, rng=0), Sigmoid())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (1): Sigmoid()\n"
        ")"
    )


def test_repr_indents_nested_modules():
    model = Sequential(TwoLayer(), Linear(1, 1, bias=False, rng=0))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): TwoLayer(\n"
        "    (hidden): Linear(in_features=2, out_features=3, bias=True)\n"
        "    (act): Sigmoid()\n"
        "    (output): Linear(in_features=3, out_features=1, bias=True)\n"
        "  )\n"
        "  (1): Linear(in_features=1, out_features=1, bias=False)\n"
        ")"
    )


def test_apply_visits_children_before_parents():
    visited = []
    model = Sequential(Linear(2, 2, rng=0), Sigmoid())
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "Sigmoid", "Sequential"]


def test_apply_can_initialize_every_linear_layer():
    model = Sequential(Linear(2, 3, rng=0), Sigmoid(), Linear(3, 1, rng=1))

    def zero_linear(m):
        if isinstance(m, Linear):
            init.zeros_(m.weight)

    model.apply(zero_linear)
    assert not np.any(model[0].weight.data) and not np.any(model[2].weight.data)
    assert np.any(model[0].bias.data)
