"""Each kind of name (activation, loss, optimizer) is defined once, in its registry, and every
other table of names agrees with it."""

import re

import numpy as np
import pytest
import typer

import chainrule as cr
from chainrule import nn, optim
from chainrule.explain import build as explain_build
from chainrule.explain import config as explain_config
from chainrule.explain import network as explain_network
from chainrule.explain import notation as nt
from chainrule.runs import config as run_config

EXPLAINED = tuple(nn.HIDDEN_ACTIVATIONS)  # the activations explain writes out


# --- the registries themselves -------------------------------------------------------------
def test_activation_registry_maps_names_to_the_activation_classes():
    assert list(nn.ACTIVATIONS) == ["sigmoid", "tanh", "relu", "leaky_relu", "softplus",
                                    "identity", "softmax", "log_softmax"]
    for cls in nn.ACTIVATIONS.values():
        assert getattr(nn, cls.__name__) is cls
        cls()  # each builds without arguments
    assert list(nn.HIDDEN_ACTIVATIONS) == list(nn.ACTIVATIONS)[:-2]


@pytest.mark.parametrize("name", list(nn.ACTIVATIONS))
def test_mlp_takes_every_registered_output_activation(name):
    model = nn.mlp([2, 3, 2], "tanh", name, rng=0)
    assert type(model[-1]) is nn.ACTIVATIONS[name]


@pytest.mark.parametrize("name", list(nn.HIDDEN_ACTIVATIONS))
def test_mlp_takes_every_registered_hidden_activation(name):
    assert type(nn.mlp([2, 3, 2], name, rng=0)[1]) is nn.HIDDEN_ACTIVATIONS[name]


def test_loss_registry_and_its_aliases():
    assert list(nn.LOSSES) == ["half_sse", "mse", "bce", "bce_logits", "cross_entropy"]
    for name, cls in nn.LOSSES.items():
        assert type(nn.get_loss(name)) is cls
    for alias, name in nn.LOSS_ALIASES.items():
        assert alias not in nn.LOSSES
        assert type(nn.get_loss(alias)) is nn.LOSSES[name]


def test_optimizer_registry_has_a_display_name_per_optimizer():
    assert list(optim.OPTIMIZERS) == ["sgd", "adam", "adamw", "rmsprop"]
    assert optim.DISPLAY_NAMES == {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW",
                                   "rmsprop": "RMSprop"}
    for name, cls in optim.OPTIMIZERS.items():
        opt = cls([cr.tensor(np.zeros(2), requires_grad=True)], lr=0.1)
        assert opt.state_dict()["optimizer"] == optim.DISPLAY_NAMES[name]


# --- the tables derived from them ------------------------------------------------------------
def test_train_config_choices_are_the_registries():
    assert run_config.ACTIVATIONS == tuple(nn.HIDDEN_ACTIVATIONS)
    assert run_config.LOSSES == ("auto", *nn.LOSSES)
    assert run_config.OPTIMIZERS == tuple(optim.OPTIMIZERS)
    schema = run_config.TrainConfig.model_json_schema()["properties"]
    assert tuple(schema["activation"]["enum"]) == tuple(nn.HIDDEN_ACTIVATIONS)
    assert tuple(schema["loss"]["enum"]) == ("auto", *nn.LOSSES)
    assert tuple(schema["optimizer"]["enum"]) == tuple(optim.OPTIMIZERS)


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_every_registered_optimizer_can_be_trained_with(name):
    from chainrule.runs.run import build_optimizer

    settings = run_config.TrainConfig(dataset="xor", optimizer=name)
    opt = build_optimizer(settings, [cr.tensor(np.zeros(2), requires_grad=True)])
    assert type(opt) is optim.OPTIMIZERS[name]


def _cli_help(command: str, option: str) -> set[str]:
    click_app = typer.main.get_command(cr.cli.app)
    (param,) = [p for p in click_app.commands[command].params if p.name == option]
    # the list of names: before the default and any remark after a semicolon
    listed = re.sub(r"\[default: [^]]*\]", "", param.help or "").split(";")[0]
    return set(re.findall(r"\b[a-z][a-z_]*", listed)) - {"the", "notes", "or", "hidden",
                                                         "activation"}


@pytest.mark.parametrize("command, option, names", [
    ("train", "activation", tuple(nn.HIDDEN_ACTIVATIONS)),
    ("train", "loss", ("auto", *nn.LOSSES)),
    ("train", "optimizer", tuple(optim.OPTIMIZERS)),
    ("diagnose", "activation", tuple(nn.HIDDEN_ACTIVATIONS)),
    ("diagnose", "optimizer", tuple(optim.OPTIMIZERS)),
    ("explain", "activation", explain_config.HIDDEN),
    ("explain", "loss", explain_build.LOSSES),
])
def test_cli_help_lists_exactly_the_registered_names(command, option, names):
    import chainrule.cli  # noqa: F401

    assert _cli_help(command, option) == set(names)


def test_explain_tables_come_from_the_registries():
    assert explain_config.HIDDEN == tuple(nn.HIDDEN_ACTIVATIONS)
    assert set(explain_config.OUTPUT) <= set(nn.ACTIVATIONS)
    assert explain_network.ACTIVATION_MODULES == {cls: name for name, cls
                                                  in nn.HIDDEN_ACTIVATIONS.items()}
    assert explain_network.SUPPORTED == "Sigmoid, Tanh, ReLU, LeakyReLU, Softplus or Identity"
    assert set(explain_build.LOSSES) <= set(nn.LOSSES)
    schema = explain_config.ExplainConfig.model_json_schema()["properties"]
    assert tuple(schema["loss"]["enum"]) == explain_build.LOSSES


@pytest.mark.parametrize("act", EXPLAINED)
def test_notation_has_every_explained_activation(act):
    assert act in nt.ACTIVATION_SYMBOLS and act in nt.ACTIVATION_RULES
    for text in (nt.out_formula(act, "net"), nt.out_numbers(act, 0.5),
                 nt.slope_formula(act, "out", "net"), nt.slope_numbers(act, 0.6, 0.5)):
        assert isinstance(text, str) and text
    assert nt.slope_value(act, 0.6, 0.5) >= 0


def test_notation_names_only_registered_activations_and_losses():
    assert set(nt.ACTIVATION_SYMBOLS) == set(EXPLAINED)
    assert set(nt.ACTIVATION_RULES) <= set(nn.ACTIVATIONS)
    assert set(nt.LOSS_NAMES) <= set(nn.LOSSES)
    assert set(nt.DECOMPOSABLE_LOSSES) <= set(nt.LOSS_NAMES)


def test_init_gains_name_only_registered_activations():
    names = set(nn.init._NONLINEARITIES)
    for name in names:
        nn.init.calculate_gain(name)
    assert names - {"linear"} <= set(nn.ACTIVATIONS)


def test_onnx_export_has_an_op_for_every_registered_activation():
    from chainrule import onnx  # its table needs no onnx package

    assert set(onnx.OPS) == set(nn.ACTIVATIONS.values())


@pytest.mark.parametrize("name", list(nn.ACTIVATIONS))
def test_model_files_rebuild_every_registered_activation(tmp_path, name):
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.ACTIVATIONS[name]())
    cr.save_model(model, tmp_path / "m.safetensors")
    assert type(cr.load(tmp_path / "m.safetensors")[1]) is nn.ACTIVATIONS[name]
