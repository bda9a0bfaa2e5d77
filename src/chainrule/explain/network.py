"""Which networks `explain` takes, and the float64 copy it works on.

Supported: an `nn.Sequential` (or a single `nn.Linear`) of Linear layers, each followed by at
most one activation module — Sigmoid, Tanh, ReLU, LeakyReLU, Softplus or Identity. With the
cross-entropy loss the network ends in a Linear layer: the loss applies softmax itself.

The explanation runs on a copy, so the caller's model is never changed, and the copy is
float64 whatever the model's dtype, so that 9 printed digits and central differences with
h = 1e-6 mean something (in float32 both would be noise after the 7th digit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.explain.notation import Naming
from chainrule.nn.init import set_values_

if TYPE_CHECKING:
    from chainrule.explain.model import Explanation

#: activation module class → its name in nn.HIDDEN_ACTIVATIONS (explain shows the element-wise
#: ones; softmax only as part of the cross-entropy).
ACTIVATION_MODULES: dict[type[nn.Module], str] = {
    cls: name for name, cls in nn.HIDDEN_ACTIVATIONS.items()
}
_CLASS_NAMES = [cls.__name__ for cls in ACTIVATION_MODULES]
SUPPORTED = f"{', '.join(_CLASS_NAMES[:-1])} or {_CLASS_NAMES[-1]}"


@dataclass
class Layer:
    """One Linear layer and the activation after it ('identity' when there is none)."""

    linear: nn.Linear
    activation: str
    module: nn.Module | None  # the activation module, None for identity
    alpha: float = 0.01  # LeakyReLU's negative slope

    def params(self) -> list[nn.Parameter]:
        return [p for p in (self.linear.weight, self.linear.bias) if p is not None]


def _flatten(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Linear):
        return [model]
    if not isinstance(model, nn.Sequential):
        raise ConfigError(
            f"explain: expected an nn.Sequential of Linear layers and activations, got "
            f"{type(model).__name__}"
        )
    modules: list[nn.Module] = []
    for module in model:
        modules.extend(_flatten(module) if isinstance(module, nn.Sequential) else [module])
    return modules


def layers_of(model: nn.Module, loss: str) -> list[Layer]:
    """The model as a list of Layer, or a ConfigError saying what explain cannot show."""
    layers: list[Layer] = []
    for position, module in enumerate(_flatten(model)):
        if isinstance(module, nn.Linear):
            layers.append(Layer(module, "identity", None))
            continue
        kind = ACTIVATION_MODULES.get(type(module))
        if kind is None or not layers or layers[-1].module is not None:
            if isinstance(module, nn.Softmax | nn.LogSoftmax) and loss == "cross_entropy":
                reason = ("cross_entropy applies softmax itself, so end the network with its "
                          "last Linear layer")
            elif kind is None:
                reason = (f"{type(module).__name__} is not supported; each Linear may be "
                          f"followed by one {SUPPORTED}")
            elif not layers:
                reason = "the network must start with a Linear layer"
            else:
                reason = "each Linear may be followed by at most one activation"
            raise ConfigError(f"explain: module {position} ({type(module).__name__}): {reason}")
        layers[-1].activation = kind
        layers[-1].module = module
        if isinstance(module, nn.LeakyReLU):
            layers[-1].alpha = module.negative_slope
    if not layers:
        raise ConfigError("explain: the network has no Linear layer")
    return layers


def copy_float64(layers: list[Layer]) -> list[Layer]:
    """A float64 copy of the layers whose parameters all require grad.

    Every parameter needs a gradient in the explained backward pass (∂E/∂b is shown even for
    a frozen bias); which of them the update changes is decided separately.
    """
    copies = []
    for layer in layers:
        old = layer.linear
        linear = nn.Linear(old.in_features, old.out_features, bias=old.bias is not None,
                           dtype="float64", rng=0)
        set_values_(linear.weight, old.weight.data.astype(np.float64))
        if old.bias is not None:
            set_values_(linear.bias, old.bias.data.astype(np.float64))
        module = None if layer.module is None else (
            nn.LeakyReLU(layer.alpha) if layer.activation == "leaky_relu"
            else type(layer.module)())
        copies.append(Layer(linear, layer.activation, module, layer.alpha))
    return copies


def sizes_of(layers: list[Layer]) -> tuple[int, ...]:
    sizes = [layers[0].linear.in_features]
    for index, layer in enumerate(layers):
        if layer.linear.in_features != sizes[-1]:
            raise ConfigError(
                f"explain: layer {index + 1} expects {layer.linear.in_features} inputs but the "
                f"layer before it has {sizes[-1]} units"
            )
        sizes.append(layer.linear.out_features)
    return tuple(sizes)


def model_of(ex: Explanation) -> nn.Sequential:
    """The float64 network an explanation describes, as it was before the step.

    Its weights and biases are the explanation's, and a parameter the step did not update is
    frozen (requires_grad=False), so that `explain(model_of(ex), x, t, ...)` with the same
    sample and settings explains the same step again.
    """
    naming = Naming.of(ex.network)
    modules: list[nn.Module] = []
    for k, (units, act, alpha) in enumerate(
            zip(ex.forward, ex.network.activations, ex.network.alphas, strict=True), start=1):
        first = units[0]
        linear = nn.Linear(len(first.terms), len(units), bias=first.bias is not None,
                           dtype="float64", rng=0)
        set_values_(linear.weight, [[t.weight_value for t in u.terms] for u in units])
        linear.weight.requires_grad = ex.update(naming.weight(k, 0, 0)).learns
        if first.bias is not None:
            set_values_(linear.bias, [u.bias_value for u in units])
            linear.bias.requires_grad = ex.update(naming.bias(k, 0)).learns
        modules.append(linear)
        if act == "leaky_relu":
            modules.append(nn.LeakyReLU(alpha))
        elif act not in ("identity", "softmax"):  # softmax: applied by the cross-entropy
            modules.append(nn.HIDDEN_ACTIVATIONS[act]())
    return nn.Sequential(*modules)
