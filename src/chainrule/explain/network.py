"""Which networks `explain` takes, and the float64 copy it works on.

Supported: an `nn.Sequential` (or a single `nn.Linear`) of Linear layers, each followed by at
most one activation module — Sigmoid, Tanh, ReLU, LeakyReLU, Softplus or Identity. With the
cross-entropy loss the network ends in a Linear layer: the loss applies softmax itself.

A Module of your own is supported when its forward applies such a chain: `self.fc2(self.act(
self.fc1(x)))`, activations as modules, tensor methods (`.sigmoid()`) or functions. The chain
is read off the graph that forward builds on the sample: from the output back to x, each op
must be a Linear layer of the model or an activation, one after the other. Anything else — a
branch, a skip connection, an op that is no layer (`x * 2`), a layer used twice or not at all —
is refused, naming it.

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
from chainrule.tensor import Tensor

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
    modules: list[nn.Module] = []
    for module in model:
        modules.extend(_flatten(module) if isinstance(module, nn.Sequential) else [module])
    return modules


def _chain(model: nn.Module, x: np.ndarray | None) -> list[tuple[str, nn.Module]]:
    """The modules the model applies, in order, each with how a refusal names it."""
    if isinstance(model, nn.Linear | nn.Sequential):
        return [(f"module {position} ({type(module).__name__})", module)
                for position, module in enumerate(_flatten(model))]
    if not isinstance(model, nn.Module) or x is None or \
            isinstance(model, tuple(nn.LOSSES.values())):
        raise ConfigError(
            f"explain: expected an nn.Sequential of Linear layers and activations, or a Module "
            f"whose forward applies them, got {type(model).__name__}"
        )
    return traced_chain(model, x)


#: the ops an activation is made of → the module that makes it
_ACTIVATION_OPS: dict[str, type[nn.Module]] = {
    **{name: cls for name, cls in nn.HIDDEN_ACTIVATIONS.items() if name != "identity"},
    "softmax": nn.Softmax, "log_softmax": nn.LogSoftmax,
}


def traced_chain(model: nn.Module, x: np.ndarray) -> list[tuple[str, nn.Module]]:
    """The Linear layers and activations that `model`'s forward applies to x, in order, read
    off the graph it builds; a ConfigError naming the first part that is not such a chain."""
    where = f"{type(model).__name__}.forward"
    linears = {id(m.weight): (f"self.{path}", m) for path, m in model.named_modules()
               if isinstance(m, nn.Linear)}
    first = next(model.parameters(), None)
    inputs = Tensor(np.atleast_2d(x).astype(first.dtype if first is not None else x.dtype),
                    requires_grad=True)  # so that every op on the way records its parents
    result = model(inputs)
    if not isinstance(result, Tensor):
        raise ConfigError(f"explain: {where} returned a {type(result).__name__}, not a tensor")
    chain: list[tuple[str, nn.Module]] = []  # from the output back to the input
    used: set[str] = set()
    tensor = result

    def refuse(what: str) -> ConfigError:
        after = f"before {chain[-1][0]}" if chain else "that makes the output"
        return ConfigError(f"explain: {where}: {what} {after} is not a Linear layer or an "
                           f"activation; explain shows a chain of them, x → Linear → "
                           f"activation → … (no branches, skip connections or other ops)")

    while tensor is not inputs:
        if not tensor.parents:
            made = f"the input of {chain[-1][0]}" if chain else "the output"
            raise ConfigError(f"explain: {where}: {made} is a tensor made inside forward, not "
                              f"computed from x; explain follows x through the layers")
        if tensor.op == "linear":
            name, linear = linears.get(id(tensor.parents[1]), (None, None))
            if linear is None or tensor.parents[2:] != tuple(
                    p for p in (linear.bias,) if p is not None):
                raise refuse("a linear op whose weight and bias are not one nn.Linear's")
            if name in used:
                raise ConfigError(f"explain: {where} applies {name} twice; explain shows a "
                                  "chain in which each Linear layer appears once")
            used.add(name)
            chain.append((name, linear))
        elif tensor.op in _ACTIVATION_OPS and len(tensor.parents) == 1:
            op = tensor.op
            # leaky_relu's slope is an attribute of its op, recorded with it
            module = (nn.LeakyReLU(tensor._attrs["negative_slope"]) if op == "leaky_relu"
                      else _ACTIVATION_OPS[op]())
            chain.append((f"the {op}", module))
        else:
            raise refuse(f"the op {tensor.op}")
        tensor = tensor.parents[0]
    unused = [name for name, _ in linears.values() if name not in used]
    if unused:
        raise ConfigError(f"explain: {where} does not use {', '.join(unused)} on the way from x "
                          "to its output; explain shows every parameter of one chain of layers")
    chain.reverse()
    # how a refusal names each part: "self.fc1", "the tanh after self.fc1"
    return [(name if isinstance(module, nn.Linear) else
             f"{name} after {chain[i - 1][0] if i else 'x'}", module)
            for i, (name, module) in enumerate(chain)]


def layers_of(model: nn.Module, loss: str, x: np.ndarray | None = None) -> list[Layer]:
    """The model as a list of Layer, or a ConfigError saying what explain cannot show.

    x: the samples, for a Module of your own, whose forward is traced on them.
    """
    layers: list[Layer] = []
    for label, module in _chain(model, x):
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
            prefix = "" if label.startswith("module") else f"{type(model).__name__}.forward: "
            raise ConfigError(f"explain: {prefix}{label}: {reason}")
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
