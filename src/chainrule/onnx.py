"""ONNX export: a network, or a trained model with its preprocessing, as one ONNX file that
onnxruntime (or any ONNX runtime) runs without chainrule.

    import chainrule as cr
    cr.onnx.export("runs/iris/model.safetensors", "iris.onnx")

The graph takes `features`, a (batch, n_features) tensor of the model's dtype, with a symbolic
batch dimension. A trained model's standardisation comes first ((x − mean) / std, as Sub and
Div; skipped where mean is 0 and std is 1), then one Gemm per Linear and one op per activation,
ending in `outputs`, the network's raw outputs. A classifier also has `probabilities`, computed
by the rule `chainrule.runs.model.probability_rule` names for its loss. The file's
metadata_props hold chainrule's version and, for a trained model, its feature and target names
(JSON lists), task and loss. Importing this module does not import onnx; `export` does.

Note [the opset]
    The graph uses opset 13 of the default domain (and IR version 7, the lowest that holds
    it). 13 is the first opset in which Softmax and LogSoftmax normalise along one axis as
    chainrule's do (opsets 1 to 12 flatten the input to 2-D around the axis, which differs for
    axis 0). Every other op used (Gemm, Cast, Sub, Div, Gather, Concat, Identity, the
    activations, and for float64 Where, Greater, Mul, Abs, Neg, Exp, Add and Log) computes the
    same on float and double in opset 13 as in the newest (later versions only add types). So
    the lowest opset that holds the graph is also the one most runtimes read: onnxruntime has
    run opset 13 since version 1.6.

Note [standardising]
    chainrule standardises a trained model's features in float64 and only then casts them to
    the model's dtype (TrainedModel.outputs), so the graph does the same: a float32 model's
    input is cast to double for the Sub and the Div, and back. Standardising in float32 would
    add its own rounding, which the layers of a well-trained network magnify (measured: 1.5e-5
    on logits of about 20, twice the difference that remains).

Note [float64 ops]
    onnxruntime has no double kernels for LeakyRelu and Softplus, so a float64 model writes
    those two as the elementary ops chainrule computes them with: Where(x > 0, x, slope·x),
    and Relu(x) + Log(1 + Exp(−|x|)). A float32 model uses the single ops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import nn
from chainrule.errors import ConfigError, DTypeError
from chainrule.io import atomic_write_bytes
from chainrule.runs.model import TrainedModel, probability_rule
from chainrule.tensor import get_default_dtype
from chainrule.version import __version__

if TYPE_CHECKING:
    import onnx as onnx_package

__all__ = ["INPUT", "OPS", "OPSET", "OUTPUTS", "PROBABILITIES", "export", "signature"]

OPSET = 13  # Note [the opset]
INPUT, OUTPUTS, PROBABILITIES = "features", "outputs", "probabilities"
BATCH = "batch"  # the symbolic first dimension of the input and of every output
INSTALL = "pip install 'chainrule[onnx]'"

#: The ONNX op of each layer that exports as one op (Linear is a Gemm; Sequentials are walked).
OPS: dict[type[nn.Module], str] = {
    nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh", nn.ReLU: "Relu", nn.LeakyReLU: "LeakyRelu",
    nn.Softplus: "Softplus", nn.Softmax: "Softmax", nn.LogSoftmax: "LogSoftmax",
    nn.Identity: "Identity",
}
EXPORTABLE = f"Linear, {', '.join(cls.__name__ for cls in OPS)} and Sequentials of them"


def export(model: Any, path: str | os.PathLike[str], *, overwrite: bool = False
           ) -> onnx_package.ModelProto:
    """Write `model` to `path` as an ONNX file (checked by onnx.checker, written atomically)
    and return the ModelProto.

    model: an `nn.Sequential` of chainrule's layers (or one layer), a `TrainedModel`, the path
        of a model file (read with `TrainedModel.load`), or any object whose `model_` attribute
        is a TrainedModel (a fitted chainrule scikit-learn estimator).
    overwrite: replace an existing file at `path` (otherwise refused). The model file being
        exported is never overwritten.

    Raises ConfigError naming the first layer that cannot be exported, DTypeError for a model
    that is not float32 or float64, and ModuleNotFoundError if onnx is not installed.
    """
    try:
        import onnx
    except ImportError as error:
        raise ModuleNotFoundError(f"chainrule.onnx.export needs onnx: {INSTALL}",
                                  name="onnx") from error
    trained = _trained(model)
    network = trained.network if trained is not None else model
    path = Path(path)
    if (trained is not None and trained.path is not None and path.exists()
            and os.path.samefile(path, trained.path)):
        raise ConfigError(f"{path} is the model file being exported; writing the ONNX model "
                          "there would destroy it: choose another file")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; choose another file, or pass --overwrite to "
                          "replace it")
    proto = _model(onnx, network, trained)
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(path, proto.SerializeToString())
    return proto


def signature(proto: onnx_package.ModelProto) -> str:
    """The graph's inputs and outputs with their element types and shapes, e.g.
    'features float32 [batch, 4] → outputs float32 [batch, 3], probabilities float32 [batch, 3]'.
    """
    from onnx import helper

    def describe(value: Any) -> str:
        kind = value.type.tensor_type
        dims = ", ".join(d.dim_param or str(d.dim_value) for d in kind.shape.dim)
        return f"{value.name} {helper.tensor_dtype_to_np_dtype(kind.elem_type)} [{dims}]"

    return (", ".join(map(describe, proto.graph.input)) + " → "
            + ", ".join(map(describe, proto.graph.output)))


# --- what is exported ------------------------------------------------------------------------
def _trained(model: Any) -> TrainedModel | None:
    """The TrainedModel that `model` is, names or holds; None for a bare network."""
    if isinstance(model, TrainedModel):
        return model
    if isinstance(model, str | os.PathLike):
        return TrainedModel.load(model)
    if isinstance(model, nn.Module):
        return None
    if isinstance(getattr(model, "model_", None), TrainedModel):  # a fitted estimator
        return model.model_
    if hasattr(model, "fit") and hasattr(model, "get_params"):
        raise ConfigError(f"export: this {type(model).__name__} is not fitted; call fit first")
    raise ConfigError(f"export: cannot export a {type(model).__name__}; give a Sequential, a "
                      "TrainedModel, the path of a model file, or a fitted chainrule "
                      "estimator (its model_)")


def _layers(module: nn.Module, path: str = "") -> list[tuple[str, nn.Module]]:
    """(path, layer) of every layer, nested Sequentials flattened ("1.0" is layer 0 of layer
    1; a layer alone is layer 0). Exact types only: a subclass may compute something else."""
    if type(module) is nn.Sequential:
        return [layer for name, child in module.named_children()
                for layer in _layers(child, f"{path}.{name}" if path else name)]
    if type(module) is nn.Linear or type(module) in OPS:
        return [(path or "0", module)]
    where = f"layer {path}" if path else "the model"
    raise ConfigError(f"cannot export {where} ({type(module).__name__}): chainrule exports "
                      f"{EXPORTABLE}; write the model as such a Sequential")


def _dtype(network: nn.Module) -> np.dtype:
    """The parameters' one dtype (the default dtype for a network without parameters)."""
    dtypes = {p.data.dtype for p in network.parameters()} or {get_default_dtype()}
    if len(dtypes) > 1 or dtypes - {np.dtype(np.float32), np.dtype(np.float64)}:
        found = ", ".join(sorted(map(str, dtypes)))
        raise DTypeError(f"export: the model's parameters are {found}; chainrule exports "
                         "float32 or float64 models (every parameter of one dtype)")
    return dtypes.pop()


# --- the graph -------------------------------------------------------------------------------
class _Graph:
    """The nodes and initializers of a graph in the making; each node is named after the value
    it computes."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}

    def constant(self, name: str, value: Any, dtype: Any = None) -> str:
        if name not in self.initializers:
            array = np.asarray(value, dtype=dtype or self.dtype)
            self.initializers[name] = self.onnx.numpy_helper.from_array(array, name)
        return name

    def node(self, op: str, inputs: list[str], out: str, **attributes: Any) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attributes))
        return out

    def layer(self, path: str, module: nn.Module, x: str, out: str) -> str:
        """The nodes of one layer, from the value `x` to the value `out`."""
        kind = type(module)
        if kind is nn.Linear:
            inputs = [x, self.constant(f"{path}.weight", module.weight.data)]
            if module.bias is not None:
                inputs.append(self.constant(f"{path}.bias", module.bias.data))
            return self.node("Gemm", inputs, out, transB=1)
        float64 = self.dtype == np.float64  # Note [float64 ops]
        if kind is nn.LeakyReLU and float64:
            positive = self.node("Greater", [x, self.constant("zero", 0)], f"{path}.positive")
            slope = self.constant(f"{path}.negative_slope", module.negative_slope)
            scaled = self.node("Mul", [x, slope], f"{path}.scaled")
            return self.node("Where", [positive, x, scaled], out)
        if kind is nn.Softplus and float64:
            relu = self.node("Relu", [x], f"{path}.relu")
            step = x
            for op in ("Abs", "Neg", "Exp"):
                step = self.node(op, [step], f"{path}.{op.lower()}")
            step = self.node("Add", [step, self.constant("one", 1)], f"{path}.add")
            return self.node("Add", [relu, self.node("Log", [step], f"{path}.log")], out)
        attributes: dict[str, Any] = {}
        if kind is nn.LeakyReLU:
            attributes["alpha"] = module.negative_slope
        if kind in (nn.Softmax, nn.LogSoftmax):
            if not -2 <= module.axis <= 1:
                raise ConfigError(f"cannot export layer {path} ({kind.__name__}(axis="
                                  f"{module.axis})): the graph's values are (batch, features), "
                                  "so the axis must be one of -2, -1, 0, 1")
            attributes["axis"] = module.axis
        return self.node(OPS[kind], [x], out, **attributes)

    def probabilities(self, rule: str) -> str:
        """The nodes of `probability_rule`'s `rule`, from `outputs` to `probabilities`."""
        if rule == "softmax":
            return self.node("Softmax", [OUTPUTS], PROBABILITIES, axis=1)
        first = self.node("Gather", [OUTPUTS, self.constant("index0", [0], np.int64)],
                          "first_output", axis=1)
        p = self.node("Sigmoid", [first], "p") if rule == "sigmoid" else first
        q = self.node("Sub", [self.constant("one", 1), p], "1-p")
        return self.node("Concat", [q, p], PROBABILITIES, axis=1)


def _model(onnx: Any, network: nn.Module, trained: TrainedModel | None
           ) -> onnx_package.ModelProto:
    helper = onnx.helper
    layers, dtype = _layers(network), _dtype(network)
    linears = [module for _, module in layers if type(module) is nn.Linear]
    n_in = linears[0].in_features if linears else "features"
    n_out = linears[-1].out_features if linears else n_in
    graph = _Graph(onnx, dtype)
    x = INPUT
    center = trained is not None and bool(trained.mean.any())
    scale = trained is not None and bool((trained.std != 1).any())
    if center or scale:  # in float64, as chainrule standardises (Note [standardising])
        double = helper.np_dtype_to_tensor_dtype(np.dtype(np.float64))
        if dtype != np.float64:
            x = graph.node("Cast", [x], "features_float64", to=double)
        if center:
            x = graph.node("Sub", [x, graph.constant("mean", trained.mean, np.float64)],
                           "centered")
        if scale:
            x = graph.node("Div", [x, graph.constant("std", trained.std, np.float64)],
                           "standardized")
        if dtype != np.float64:
            x = graph.node("Cast", [x], "standardized_float32",
                           to=helper.np_dtype_to_tensor_dtype(dtype))
    for i, (path, module) in enumerate(layers):  # every name a layer gives has its path first
        x = graph.layer(path, module, x, OUTPUTS if i == len(layers) - 1 else f"{path}.out")
    if x != OUTPUTS:  # no layers: the outputs are the (standardized) features
        graph.node("Identity", [x], OUTPUTS)

    element = helper.np_dtype_to_tensor_dtype(dtype)
    outputs = [helper.make_tensor_value_info(OUTPUTS, element, [BATCH, n_out])]
    rule = probability_rule(trained.loss, trained.task) if trained is not None else None
    if rule is not None:
        graph.probabilities(rule)
        n_classes = n_out if rule == "softmax" else 2
        outputs.append(helper.make_tensor_value_info(PROBABILITIES, element, [BATCH, n_classes]))
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "chainrule",
                          [helper.make_tensor_value_info(INPUT, element, [BATCH, n_in])],
                          outputs, list(graph.initializers.values())),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="chainrule",
        producer_version=__version__)
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    helper.set_model_props(proto, _metadata(trained))
    source = ("a network" if trained is None else "a trained model" if trained.path is None
              else f"the model file {trained.path.name}")
    proto.doc_string = (f"{source}, exported by chainrule {__version__}: "
                        f"{signature(proto)}")
    return proto


def _metadata(trained: TrainedModel | None) -> dict[str, str]:
    """metadata_props: what a consumer needs to read the outputs (lists as JSON)."""
    props = {"chainrule_version": __version__}
    if trained is None:
        return props
    props["feature_names"] = json.dumps(trained.feature_names)
    if trained.target_names is not None:
        props["target_names"] = json.dumps(trained.target_names)
    for key in ("task", "loss"):
        if getattr(trained, key) is not None:
            props[key] = getattr(trained, key)
    return props
