"""The TOML network spec: defaults, explicit weights, seeds, and every mistake reported at once."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.explain import explain
from chainrule.explain.config import build_network, load_config, make_config

NOTES_TOML = """
sizes = [2, 2, 2]
activation = "sigmoid"
loss = "half_sse"
lr = 0.5
inputs = [0.05, 0.10]
targets = [0.01, 0.99]

[[layers]]
weight = [[0.15, 0.20], [0.25, 0.30]]
bias = 0.35

[[layers]]
weight = [[0.40, 0.45], [0.50, 0.55]]
bias = [0.60, 0.60]
"""


def _explain(config):
    model, x, target = build_network(config)
    return explain(model, x, target, config.loss, config.lr,
                   update_biases=config.update_biases, sequential=config.sequential,
                   steps=config.steps, max_weights=config.max_weights)


def test_no_settings_is_the_worked_example():
    ex = _explain(make_config({}))
    assert round(ex.error, 9) == 0.298371109 and round(ex.error_after, 9) == 0.291027774


def test_explicit_weights_from_toml(tmp_path):
    path = tmp_path / "notes.toml"
    path.write_text(NOTES_TOML, encoding="utf-8")
    ex = _explain(load_config(path))
    assert round(ex.update("w5").after, 8) == 0.35891648
    assert ex.unit("h2").bias_value == 0.35
    assert _explain(load_config(path, {"sequential": True})).error_after == \
        pytest.approx(0.291027924, abs=5e-10)


def test_a_seed_draws_rounded_weights_inputs_and_targets():
    config = make_config({"sizes": [3, 4, 2], "activation": "tanh", "seed": 7})
    model, x, target = build_network(config)
    again = build_network(config)
    np.testing.assert_array_equal(model[0].weight.data, again[0][0].weight.data)
    for values in (model[0].weight.data, model[2].bias.data, x, target):
        np.testing.assert_array_equal(values, np.round(values, 2))
    assert np.all(np.abs(model[0].weight.data) <= 1 / np.sqrt(3) + 0.005)
    assert x.shape == (3,) and target.shape == (2,)
    assert model[3].__class__.__name__ == "Tanh"


def test_defaults_follow_the_loss():
    ce = make_config({"loss": "cross_entropy", "sizes": [2, 3, 3]})
    assert ce.output == "softmax"
    model, _, target = build_network(ce)
    assert type(model[-1]).__name__ == "Linear" and isinstance(target, int)
    assert make_config({"loss": "bce", "activation": "relu"}).output == "sigmoid"
    assert make_config({"activation": "tanh"}).output == "tanh"
    leaky = build_network(make_config({"activation": "leaky_relu", "negative_slope": 0.2}))[0]
    assert leaky[1].negative_slope == 0.2


def test_unknown_keys_and_wrong_types_are_all_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('sizes = "2,2,2"\nlr = "fast"\ncolour = "blue"\nsteps = 0\n'
                    '[[layers]]\nweight = [[1, "x"]]\nbais = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: 6 problems: ")
    for part in ("sizes: Input should be a valid list", "lr: Input should be a valid number",
                 "colour: unknown key", "steps: Input should be greater than or equal to 1",
                 "layers.0.weight.0.1: Input should be a valid number",
                 "layers.0.bais: unknown key"):
        assert part in message, part


def test_values_that_do_not_fit_together_are_all_reported():
    with pytest.raises(ConfigError) as caught:
        make_config({"sizes": [3, 2, 2], "inputs": [0.1, 0.2], "targets": [0.5],
                     "layers": [{"weight": [[1.0, 2.0]]}, {"weight": [[1.0, 2.0]] * 2}],
                     "seed": 1})
    message = str(caught.value)
    assert "4 problems" in message
    for part in ("inputs: expected 3 values", "targets: expected 2 values",
                 "give either layers", "layers.0.weight: expected 2 rows of 3"):
        assert part in message, part


@pytest.mark.parametrize(("values", "part"), [
    ({"loss": "cross_entropy", "output_activation": "sigmoid"}, "applies softmax"),
    ({"output_activation": "softmax"}, "softmax goes with loss = cross_entropy"),
    ({"loss": "bce", "output_activation": "tanh"}, "sigmoid output"),
    ({"loss": "cross_entropy", "targets": [2.0]}, "class from 0 to 1"),
    ({"loss": "cross_entropy", "targets": [0.5, 0.5]}, "one-hot"),
    ({"loss": "bce", "targets": [0.5, 1.5]}, "lie in [0, 1]"),
    ({"sizes": [2]}, "at least 2"),
    ({"sizes": [2, 2], "layers": [{"weight": [[1.0, 1.0]] * 2, "bias": [1.0]}]},
     "layers.0.bias: expected one number or 2 values"),
    ({"lr": 0.0}, "lr: Input should be greater than 0"),
    ({"seed": -5}, "seed: Input should be greater than or equal to 0"),
])
def test_each_inconsistency_is_named(values, part):
    with pytest.raises(ConfigError, match="problem") as caught:
        make_config(values)
    assert part in str(caught.value)


def test_too_big_a_network_is_refused_with_the_way_out():
    with pytest.raises(ConfigError) as caught:
        make_config({"sizes": [10, 10, 10], "max_weights": 199})
    assert str(caught.value) == (
        "explain: 1 problem: sizes: [10, 10, 10] has 200 weights; explain computes at most "
        "max_weights = 199 (raise it with --max-weights; how many are written out is "
        "--max-chains)")
    assert make_config({"sizes": [10, 10, 10]}).max_weights == 5_000
    assert make_config({"sizes": [10, 10, 10], "max_weights": 200}).max_weights == 200


def test_missing_or_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    negative = tmp_path / "seed.toml"
    negative.write_text("seed = -5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="seed: Input should be greater than or equal to 0"):
        load_config(negative)
    bad = tmp_path / "bad.toml"
    bad.write_text("sizes = [2, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "notes.toml"
    path.write_text(NOTES_TOML, encoding="utf-8")
    config = load_config(path, {"lr": 0.1, "steps": 5, "sizes": None})
    assert config.lr == 0.1 and config.steps == 5 and config.sizes == [2, 2, 2]
