"""nn.Dropout (train/eval, seeded, traced) and nn.Flatten."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.train import fit


def test_dropout_zeroes_and_rescales_while_training_and_is_the_identity_in_eval():
    x = cr.tensor(np.ones((200, 50)), requires_grad=True)
    layer = nn.Dropout(0.25, rng=0)
    y = layer(x)
    kept = y.numpy() != 0
    np.testing.assert_array_equal(y.numpy()[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, kept / 0.75)  # ∂out/∂x = mask/(1 − p)
    assert layer.eval()(x) is x
    assert repr(layer) == "Dropout(p=0.25)"


def test_dropout_masks_repeat_with_the_seed_and_with_manual_seed():
    x = np.ones((4, 5))
    assert np.array_equal(nn.Dropout(0.5, rng=3)(x).numpy(), nn.Dropout(0.5, rng=3)(x).numpy())
    cr.manual_seed(7)
    first = F.dropout(x, 0.5).numpy()
    cr.manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).numpy(), first)


def test_dropout_gradient_matches_finite_differences_for_a_fixed_mask():
    def f(a):
        return F.dropout(a, 0.3, np.random.default_rng(5))  # the same mask every call

    assert cr.gradcheck(f, np.random.default_rng(0).standard_normal((3, 4))).passed


@pytest.mark.parametrize("p", [-0.1, 1.0, True, "half"])
def test_dropout_refuses_a_p_that_is_no_probability(p):
    with pytest.raises(cr.ConfigError, match=r"^Dropout: p must be a probability in \[0, 1\)"):
        nn.Dropout(p)


def test_a_network_with_dropout_trains_the_same_traced_and_eager():
    ds = cr.data.load("moons", n_samples=64)
    states = []
    for trace in (False, True):
        model = nn.Sequential(nn.Linear(2, 8, rng=1, dtype="float64"), nn.ReLU(),
                              nn.Dropout(0.3, rng=2), nn.Linear(8, 2, rng=3, dtype="float64"))
        fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.01), ds.X, ds.y,
            epochs=3, batch_size=16, seed=0, progress=False, trace=trace)
        states.append(model.state_dict())
    for key in states[0]:
        np.testing.assert_array_equal(states[1][key], states[0][key])


def test_a_model_file_refuses_dropout_by_name(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Dropout(0.5))
    with pytest.raises(cr.ConfigError, match=r"cannot describe Dropout"):
        cr.save_model(model, tmp_path / "m.safetensors")


def test_flatten_joins_the_axes_after_the_batch():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 12) and nn.Flatten(0)(x).shape == (24,)
    (y * np.arange(24.0).reshape(2, 12)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.arange(24.0).reshape(2, 3, 4))
    with pytest.raises(cr.ShapeError, match=r"^Flatten: start_axis 4 is beyond the 3 axes"):
        nn.Flatten(4)(x)
    with pytest.raises(cr.ConfigError, match=r"^Flatten: start_axis must be a non-negative int"):
        nn.Flatten(-1)


def test_explain_refuses_dropout_by_name():
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Sigmoid(), nn.Dropout(0.5))
    with pytest.raises(cr.ConfigError, match=r"^explain: module 2 \(Dropout\): Dropout is not "
                                            r"supported"):
        cr.explain(model, np.array([[0.05, 0.1]]), np.array([[0.01, 0.99]]))


def test_layer_norm_normalises_each_sample_and_its_gradient_checks():
    x = np.random.default_rng(0).standard_normal((4, 5)) * 3 + 1
    layer = nn.LayerNorm(5, dtype="float64")
    out = layer(x).numpy()
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1, rtol=1e-5)
    layer.weight.data[:] = np.arange(1.0, 6.0)
    layer.bias.data[:] = 0.5
    assert cr.gradcheck(lambda a, w, b: nn.LayerNorm(5, dtype="float64").forward(a) * w + b,
                        x, layer.weight.numpy().copy(), layer.bias.numpy().copy()).passed
    assert cr.gradcheck(lambda a: layer(a), x).passed
    assert set(layer.state_dict()) == {"weight", "bias"}
    with pytest.raises(cr.ShapeError, match=r"^LayerNorm: expected inputs whose last axis has 5 "
                                            r"features, got shape \(4, 3\)$"):
        layer(np.ones((4, 3)))


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((3, 6))
    ours = nn.LayerNorm(6, dtype="float64")
    ours.weight.data[:] = np.linspace(0.5, 2, 6)
    ours.bias.data[:] = np.linspace(-1, 1, 6)
    theirs = torch.nn.LayerNorm(6, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
    xt, xc = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    weights = np.random.default_rng(2).standard_normal((3, 6))
    (theirs(xt) * torch.tensor(weights)).sum().backward()
    (ours(xc) * weights).sum().backward()
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9)
