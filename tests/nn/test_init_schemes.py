"""nn.mlp(..., init=) and `chainrule train --init`: the named initialisation schemes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import chainrule as cr
from chainrule import nn
from chainrule.cli import app


def test_default_is_linears_own_bit_for_bit():
    ours = nn.mlp([3, 5, 2], "tanh", rng=0, init="default")
    theirs = nn.mlp([3, 5, 2], "tanh", rng=0)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, theirs.state_dict()[key])


@pytest.mark.parametrize(("scheme", "activation", "std"), [
    ("kaiming_normal", "relu", math.sqrt(2 / 400)),
    ("kaiming_uniform", "relu", math.sqrt(2 / 400)),
    ("xavier_normal", "tanh", 5 / 3 * math.sqrt(2 / 800)),
    ("xavier_uniform", "sigmoid", math.sqrt(2 / 800)),
])
def test_named_schemes_draw_the_expected_spread_and_zero_biases(scheme, activation, std):
    model = nn.mlp([400, 400, 400], activation, rng=1, init=scheme, dtype="float64")
    hidden = model[0].weight.numpy()
    assert hidden.std() == pytest.approx(std, rel=0.02)
    assert not model[0].bias.numpy().any() and not model[2].bias.numpy().any()
    if scheme.startswith("kaiming"):  # the output layer is linear: gain 1
        assert model[2].weight.numpy().std() == pytest.approx(math.sqrt(1 / 400), rel=0.02)


def test_an_unknown_scheme_is_refused_with_the_names():
    with pytest.raises(cr.ConfigError, match=r"^mlp: unknown init 'he'; valid names are default, "
                                            r"xavier_uniform, xavier_normal, kaiming_uniform, "
                                            r"kaiming_normal$"):
        nn.mlp([2, 2], init="he")


def test_train_init_is_stored_with_the_run(tmp_path):
    result = CliRunner().invoke(app, ["train", "--dataset", "xor", "--hidden", "4", "--epochs",
                                      "2", "--init", "kaiming_uniform", "--out",
                                      str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["init"] == "kaiming_uniform"
    bad = CliRunner().invoke(app, ["train", "--dataset", "xor", "--init", "he", "--out",
                                   str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--init" in bad.output
