"""nn.BatchNorm1d and F.batch_norm, and module buffers (Note [buffers] in nn/module.py)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import io, nn, optim
from chainrule.train import fit


def _batch(shape=(6, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 2 + 1


def test_training_normalises_by_the_batch_and_moves_the_running_statistics():
    x = _batch()
    layer = nn.BatchNorm1d(3, momentum=0.25, dtype="float64")
    out = layer(x).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)
    # running ← 0.75·running + 0.25·batch, from 0 and 1; the variance unbiased (n − 1 = 5)
    np.testing.assert_allclose(layer.running_mean, 0.25 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * x.var(0, ddof=1), rtol=1e-12)


def test_eval_normalises_by_the_running_statistics_and_leaves_them_alone():
    layer = nn.BatchNorm1d(3, dtype="float64")
    layer.running_mean[:] = [1.0, 2.0, 3.0]
    layer.running_var[:] = [4.0, 1.0, 0.25]
    layer.weight.data[:] = 2.0
    layer.bias.data[:] = -1.0
    layer.eval()
    x = np.array([[1.0, 1.0, 1.0]])  # one sample is fine in eval mode
    expected = (x - [1, 2, 3]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5) * 2 - 1
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, [1.0, 2.0, 3.0])
    xt = cr.tensor(x, requires_grad=True)
    layer(xt).sum().backward()
    np.testing.assert_allclose(xt.grad, 2 / np.sqrt(np.array([[4.0, 1.0, 0.25]]) + 1e-5))


@pytest.mark.parametrize("shape", [(2, 1), (5, 3), (4, 3, 2), (1, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_gradient_matches_finite_differences(shape, training):
    features = shape[1]
    rng = np.random.default_rng(len(shape) + features)
    mean, var = rng.standard_normal(features), rng.uniform(0.5, 2, features)

    def f(x, w, b):  # fresh running statistics every call: the gradient alone is compared
        return F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training)

    report = cr.gradcheck(f, _batch(shape, seed=1), rng.standard_normal(features),
                          rng.standard_normal(features), atol=1e-7, rtol=1e-5)
    assert report.passed


def test_a_batch_without_running_statistics_is_normalised_by_itself():
    x = _batch()
    np.testing.assert_allclose(F.batch_norm(x, training=True).numpy(),
                               (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)


def test_matches_torch_in_training_and_eval():
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm1d(4, momentum=0.3, dtype="float64")
    theirs = torch.nn.BatchNorm1d(4, momentum=0.3, dtype=torch.float64)
    ours.weight.data[:] = np.linspace(0.5, 2, 4)
    ours.bias.data[:] = np.linspace(-1, 1, 4)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
    weights = np.random.default_rng(3).standard_normal((5, 4, 3))
    for seed, shape in enumerate([(5, 4), (5, 4, 3), (5, 4)]):
        x = _batch(shape, seed)
        xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        w = weights[(slice(None), slice(None), *([0] if len(shape) == 2 else []))]
        (ours(xc) * w).sum().backward()
        (theirs(xt) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    x = _batch((3, 4), 9)
    np.testing.assert_allclose(ours.eval()(x).numpy(),
                               theirs.eval()(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(cr.ConfigError, match=r"^BatchNorm1d: features must be a positive int, "
                                            r"got 0$"):
        nn.BatchNorm1d(0)
    with pytest.raises(cr.ConfigError, match=r"^BatchNorm1d: eps must be a small positive"):
        nn.BatchNorm1d(3, eps=0)
    with pytest.raises(cr.ConfigError, match=r"^BatchNorm1d: momentum must be a number in "
                                            r"\[0, 1\] .*got 1.5$"):
        nn.BatchNorm1d(3, momentum=1.5)
    layer = nn.BatchNorm1d(3)
    with pytest.raises(cr.ShapeError, match=r"^BatchNorm1d: expected inputs of shape \(batch, "
                                            r"3\) or \(batch, 3, length\), got \(2, 4\)$"):
        layer(np.ones((2, 4), "float32"))
    with pytest.raises(cr.ShapeError, match=r"^batch_norm: a batch of shape \(1, 3\) has one "
                                            r"value per feature; training needs two or more"):
        layer(np.ones((1, 3), "float32"))
    with pytest.raises(cr.DTypeError, match=r"^batch_norm: running_mean is float32 but the "
                                            r"input is float64"):
        layer(np.ones((2, 3)))
    with pytest.raises(cr.ConfigError, match=r"^batch_norm: pass both running_mean and "
                                            r"running_var \(eval mode"):
        F.batch_norm(np.ones((2, 3)))
    with pytest.raises(cr.ShapeError, match=r"^batch_norm: running_var must be a NumPy array "
                                            r"of shape \(3,\) .*got shape \(2,\)$"):
        F.batch_norm(np.ones((2, 3)), np.zeros(3), np.ones(2))


def test_buffers_are_in_the_state_dict_and_load_in_place():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var"]
    assert [name for name, _ in model.named_buffers()] == ["1.running_mean", "1.running_var"]
    assert model.num_parameters() == 3 * 4 + 4 + 4 + 4  # buffers are not parameters
    assert len(list(optim.SGD(model.parameters(), lr=0.1).param_groups[0]["params"])) == 4
    held = model[1].running_mean
    state = model.state_dict()
    state["1.running_mean"] = np.arange(4.0)  # float64 into a float32 buffer: cast
    model.load_state_dict(state)
    assert model[1].running_mean is held  # the same array: ops and traces holding it see it
    np.testing.assert_array_equal(held, np.arange(4.0, dtype="float32"))
    state["1.running_var"] = np.ones(5)
    with pytest.raises(cr.ShapeError, match=r"'1.running_var' has shape \(5,\) but the buffer "
                                            r"has shape \(4,\)"):
        model.load_state_dict(state)
    with pytest.raises(cr.ConfigError, match=r"missing keys \['1.running_mean'"):
        model.load_state_dict({k: v for k, v in state.items() if "running" not in k})


def test_register_buffer_and_assigning_to_a_buffer():
    module = nn.Module()
    module.register_buffer("count", np.zeros(2))
    module.count = np.ones(2)
    np.testing.assert_array_equal(module.state_dict()["count"], [1.0, 1.0])
    with pytest.raises(TypeError, match=r"^Module: buffer 'count' holds a NumPy array \(or "
                                        r"None\), got list$"):
        module.count = [1, 2]
    module.weight = nn.Parameter([1.0])
    with pytest.raises(KeyError, match=r"'weight' is already a parameter"):
        module.register_buffer("weight", np.zeros(1))
    del module.count
    assert list(module.state_dict()) == ["weight"]


def test_a_model_file_and_a_checkpoint_keep_the_running_statistics(tmp_path):
    ds = cr.data.load("moons", n_samples=64)
    model = nn.Sequential(nn.Linear(2, 8, rng=1), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.LayerNorm(8, elementwise_affine=False), nn.Linear(8, 2, rng=2))
    fit(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.01), ds.X, ds.y, epochs=2,
        batch_size=16, progress=False, checkpoint=str(tmp_path / "c.safetensors"))
    assert np.all(model[1].running_var != 1)
    io.save_model(model, tmp_path / "m.safetensors")
    for loaded in (io.load(tmp_path / "m.safetensors"),
                   io.load_checkpoint(tmp_path / "c.safetensors").model):
        assert repr(loaded) == repr(model)
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(loaded.state_dict()[key], value)
        np.testing.assert_array_equal(loaded.eval()(ds.X.astype("float32")).numpy(),
                                      model.eval()(ds.X.astype("float32")).numpy())
        model.train()


def test_a_model_file_missing_a_running_statistic_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3))
    io.save_model(model, tmp_path / "m.safetensors")
    tensors, metadata = io.load_state(tmp_path / "m.safetensors")
    del tensors["1.running_var"]
    io.save_state(tmp_path / "broken.safetensors", tensors,
                  {k: v for k, v in metadata.items() if k != "checksum"})
    with pytest.raises(cr.ModelFileError, match=r"tensors missing from the file: "
                                                r"1.running_var$"):
        io.load(tmp_path / "broken.safetensors")


def test_a_traced_step_updates_the_statistics_as_an_eager_step_does(traced_equals_eager):
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((8, 3)) for _ in range(4)]
    targets = [rng.standard_normal((8, 2)) for _ in range(4)]
    traced_equals_eager(
        lambda: nn.Sequential(nn.Linear(3, 5, rng=0, dtype="float64"),
                              nn.BatchNorm1d(5, dtype="float64"), nn.Tanh(),
                              nn.Linear(5, 2, rng=1, dtype="float64")),
        lambda params: optim.Adam(params, lr=0.01), data, targets)


def test_recording_a_trace_leaves_the_running_statistics_unchanged():
    from chainrule.trace import TracedStep

    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4))
    x = np.ones((4, 3), "float32") * np.arange(4, dtype="float32")[:, None]
    TracedStep(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), x,
               np.zeros((4, 4), "float32"))
    np.testing.assert_array_equal(model[1].running_mean, 0)
    np.testing.assert_array_equal(model[1].running_var, 1)
