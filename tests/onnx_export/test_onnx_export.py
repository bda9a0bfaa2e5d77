"""chainrule.onnx.export: every layer in both dtypes, trained models with their standardisation
and probabilities, the metadata, and what it refuses. Each exported file is checked by
onnx.checker and run in onnxruntime beside chainrule's own forward pass."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError, DTypeError
from chainrule.runs import TrainConfig, TrainedModel, train
from chainrule.train import predict

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule import onnx as cr_onnx  # noqa: E402  (after the skips: the module needs onnx)

# the layers, each between two Linear layers and at the output
LAYERS = {
    "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "ReLU": nn.ReLU, "Identity": nn.Identity,
    "LeakyReLU": lambda: nn.LeakyReLU(0.2), "LeakyReLU-default": nn.LeakyReLU,
    "Softplus": nn.Softplus, "Softmax": nn.Softmax, "Softmax-axis0": lambda: nn.Softmax(0),
    "LogSoftmax": nn.LogSoftmax, "LogSoftmax-axis-2": lambda: nn.LogSoftmax(-2),
}
TOLERANCE = {"float32": 1e-6, "float64": 1e-13}  # rtol and atol
BATCHES = (1, 17)  # two batch sizes through one file: the batch dimension is symbolic


def _exported(model, path, **kwargs):
    """The file's ModelProto (checked as a whole) and an onnxruntime session on it."""
    proto = cr_onnx.export(model, path, **kwargs)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return proto, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _inputs(n, n_features, dtype, seed=0):
    return np.random.default_rng(seed).normal(scale=4.0, size=(n, n_features)).astype(dtype)


def _props(proto):
    return {p.key: p.value for p in proto.metadata_props}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_runs_in_onnxruntime_as_in_chainrule(tmp_path, layer, dtype):
    make = LAYERS[layer]
    model = nn.Sequential(nn.Linear(3, 5, rng=1, dtype=dtype), make(),
                          nn.Linear(5, 4, rng=2, dtype=dtype), make())
    proto, session = _exported(model, tmp_path / "m.onnx")
    (graph_input,) = proto.graph.input
    assert [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim] == \
        ["batch", 3]
    for n in BATCHES:
        X = _inputs(n, 3, dtype)
        (outputs,) = session.run(None, {"features": X})
        assert outputs.dtype == np.dtype(dtype) and outputs.shape == (n, 4)
        np.testing.assert_allclose(outputs, predict(model, X), rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype])


def test_a_float32_graph_uses_the_single_ops_and_a_float64_graph_spells_two_out(tmp_path):
    """Note [float64 ops]: onnxruntime has no double LeakyRelu or Softplus."""
    ops = {}
    for dtype in ("float32", "float64"):
        model = nn.Sequential(nn.Linear(2, 2, rng=0, dtype=dtype), nn.LeakyReLU(0.3),
                              nn.Softplus())
        ops[dtype] = [node.op_type for node in cr_onnx.export(model, tmp_path / dtype).graph.node]
    assert ops["float32"] == ["Gemm", "LeakyRelu", "Softplus"]
    assert ops["float64"] == ["Gemm", "Greater", "Mul", "Where",
                              "Relu", "Abs", "Neg", "Exp", "Add", "Log", "Add"]


def test_nested_sequentials_a_layer_alone_no_bias_and_no_linear(tmp_path):
    rng = np.random.default_rng(3)
    models = {
        "nested": nn.Sequential(nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh()),
                                nn.Sequential(nn.Linear(4, 2, bias=False, rng=1))),
        "layer": nn.Linear(3, 2, rng=2),
        "activations": nn.Sequential(nn.ReLU(), nn.Softmax()),
        "empty": nn.Sequential(),
    }
    for name, model in models.items():
        _, session = _exported(model, tmp_path / f"{name}.onnx")
        X = rng.normal(size=(5, 3)).astype(np.float32)
        (outputs,) = session.run(None, {"features": X})
        np.testing.assert_allclose(outputs, predict(model, X), rtol=1e-6, atol=1e-6,
                                   err_msg=name)
    names = {name: [i.name for i in onnx.load(tmp_path / f"{name}.onnx").graph.initializer]
             for name in ("nested", "layer")}
    assert names == {"nested": ["0.0.weight", "0.0.bias", "1.0.weight"],
                     "layer": ["0.weight", "0.bias"]}


# --- trained models ----------------------------------------------------------------------------
def _run(tmp_path_factory, name, **settings):
    out = tmp_path_factory.mktemp(name) / "run"
    train(TrainConfig(**{"epochs": 3, "hidden": [8], **settings}), out=out)
    return TrainedModel.load(out / "model.safetensors")


@pytest.fixture(scope="module")
def csv_regression(tmp_path_factory):
    """A CSV file with three features and a real-valued target."""
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[10.0, -3.0, 0.0], scale=[2.0, 0.5, 7.0], size=(80, 3))
    y = X @ [0.5, -2.0, 0.1] + rng.normal(scale=0.1, size=80)
    path = tmp_path_factory.mktemp("csv") / "houses.csv"
    rows = [",".join(f"{v:.6f}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    path.write_text("rooms,age,distance,price\n" + "\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, csv_regression):
    """Trained models of every kind of output, each read back from its run's model file."""
    return {
        "iris": _run(tmp_path_factory, "iris", dataset="iris"),
        # long enough for logits of about 20, where float32 rounding shows
        "iris-trained": _run(tmp_path_factory, "iris200", dataset="iris", hidden=[32],
                             epochs=200, lr=0.05),
        "iris-float64": _run(tmp_path_factory, "iris64", dataset="iris", dtype="float64"),
        "moons-bce_logits": _run(tmp_path_factory, "logits", dataset="moons",
                                 loss="bce_logits"),
        "moons-bce": _run(tmp_path_factory, "bce", dataset="moons", loss="bce"),
        "regression": _run(tmp_path_factory, "csv", csv=csv_regression),
        "worked-example": _run(tmp_path_factory, "notes", dataset="worked-example",
                               hidden=[2]),
    }


def _raw_features(trained):
    """Raw (unstandardised) rows around the training data: mean ± 3 std."""
    rng = np.random.default_rng(1)
    return trained.mean + trained.std * rng.normal(scale=1.5, size=(23, len(trained.mean)))


@pytest.mark.parametrize("name", ["iris", "iris-trained", "iris-float64", "moons-bce_logits",
                                  "moons-bce", "regression", "worked-example"])
def test_a_trained_model_gives_its_outputs_and_probabilities_from_raw_features(
        tmp_path, runs, name):
    trained = runs[name]
    dtype = trained.network[0].weight.dtype
    proto, session = _exported(trained, tmp_path / "m.onnx")
    X = _raw_features(trained).astype(dtype)  # the same inputs for both
    outputs = trained.outputs(X)
    probabilities = trained.probabilities(outputs)
    got = session.run(None, {"features": X})
    tolerance = TOLERANCE[dtype.name]
    np.testing.assert_allclose(got[0], outputs, rtol=tolerance, atol=tolerance)
    if probabilities is None:
        assert [o.name for o in proto.graph.output] == ["outputs"]
    else:
        assert [o.name for o in proto.graph.output] == ["outputs", "probabilities"]
        np.testing.assert_allclose(got[1], probabilities, rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(got[1].sum(axis=1), 1.0, rtol=tolerance)


def test_the_standardisation_is_in_the_graph_unless_it_is_the_identity(tmp_path, runs):
    iris = cr_onnx.export(runs["iris"], tmp_path / "iris.onnx")
    assert [n.op_type for n in iris.graph.node] == ["Cast", "Sub", "Div", "Cast", "Gemm", "Relu",
                                                    "Gemm", "Softmax"]
    mean, std = (onnx.numpy_helper.to_array(i) for i in iris.graph.initializer[:2])
    assert mean.dtype == np.float64  # standardised in float64, as chainrule does
    np.testing.assert_array_equal(mean, runs["iris"].mean)
    np.testing.assert_array_equal(std, runs["iris"].std)
    double = cr_onnx.export(runs["iris-float64"], tmp_path / "iris64.onnx")
    assert [n.op_type for n in double.graph.node][:3] == ["Sub", "Div", "Gemm"]
    notes = cr_onnx.export(runs["worked-example"], tmp_path / "notes.onnx")  # raw inputs
    assert [n.op_type for n in notes.graph.node] == ["Gemm", "Sigmoid", "Gemm", "Sigmoid"]
    logits = cr_onnx.export(runs["moons-bce_logits"], tmp_path / "logits.onnx")
    assert [n.op_type for n in logits.graph.node][-4:] == ["Gather", "Sigmoid", "Sub", "Concat"]


def test_the_metadata_names_the_features_the_classes_the_task_and_the_loss(tmp_path, runs):
    proto = cr_onnx.export(runs["iris"], tmp_path / "iris.onnx")
    assert _props(proto) == {
        "chainrule_version": "0.1.0",
        "feature_names": json.dumps(["sepal length (cm)", "sepal width (cm)",
                                     "petal length (cm)", "petal width (cm)"]),
        "target_names": json.dumps(["setosa", "versicolor", "virginica"]),
        "task": "classification", "loss": "cross_entropy",
    }
    assert (proto.producer_name, proto.producer_version) == ("chainrule", "0.1.0")
    assert proto.opset_import[0].version == cr_onnx.OPSET == 13 and proto.ir_version == 7
    assert proto.doc_string == (
        "the model file model.safetensors, exported by chainrule 0.1.0: features float32 "
        "[batch, 4] → outputs float32 [batch, 3], probabilities float32 [batch, 3]")
    regression = _props(cr_onnx.export(runs["regression"], tmp_path / "csv.onnx"))
    assert json.loads(regression["feature_names"]) == ["rooms", "age", "distance"]
    assert json.loads(regression["target_names"]) == ["price"]
    assert (regression["task"], regression["loss"]) == ("regression", "half_sse")
    bare = cr_onnx.export(nn.Sequential(nn.Linear(2, 1, rng=0)), tmp_path / "bare.onnx")
    assert _props(bare) == {"chainrule_version": "0.1.0"}


def test_a_model_file_path_and_an_estimators_model_are_exported_too(tmp_path, runs):
    trained = runs["iris"]
    expected = cr_onnx.export(trained, tmp_path / "direct.onnx").graph
    from_path = cr_onnx.export(str(trained.path), tmp_path / "path.onnx").graph
    estimator = types.SimpleNamespace(model_=trained)  # what the scikit-learn wrappers hold
    from_estimator = cr_onnx.export(estimator, tmp_path / "estimator.onnx").graph
    assert from_path == expected and from_estimator == expected


# --- what is refused -----------------------------------------------------------------------------
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 2, rng=0)

    def forward(self, x):
        return self.hidden(x).sigmoid()


class Doubled(nn.ReLU):
    def forward(self, x):
        return super().forward(x) * 2


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), TwoLayer()), "cannot export layer 2 (TwoLayer)"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), Doubled())),
     "cannot export layer 1.1 (Doubled)"),
    (TwoLayer(), "cannot export the model (TwoLayer)"),
])
def test_a_layer_without_an_onnx_op_is_named(tmp_path, model, message):
    with pytest.raises(ConfigError) as error:
        cr_onnx.export(model, tmp_path / "m.onnx")
    assert str(error.value) == (
        f"{message}: chainrule exports Linear, Sigmoid, Tanh, ReLU, LeakyReLU, Softplus, "
        "Softmax, LogSoftmax, Identity and Sequentials of them; write the model as such a "
        "Sequential")
    assert not (tmp_path / "m.onnx").exists()


def test_other_models_are_refused_with_what_can_be_exported(tmp_path):
    with pytest.raises(ConfigError, match="axis must be one of -2, -1, 0, 1"):
        cr_onnx.export(nn.Sequential(nn.Linear(2, 2), nn.Softmax(axis=2)), tmp_path / "a.onnx")
    with pytest.raises(DTypeError, match="parameters are float16; chainrule exports float32 or "
                                         "float64 models"):
        cr_onnx.export(nn.Linear(2, 2, dtype="float16"), tmp_path / "b.onnx")
    with pytest.raises(ConfigError, match="cannot export a dict; give a Sequential"):
        cr_onnx.export({}, tmp_path / "c.onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_when_asked_and_the_model_file_never(tmp_path, runs):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    with pytest.raises(ConfigError, match="exists; choose another file, or pass --overwrite"):
        cr_onnx.export(runs["iris"], out)
    assert out.read_bytes() == b"previous"
    cr_onnx.export(runs["iris"], out, overwrite=True)
    assert onnx.load(out).graph.output[1].name == "probabilities"
    model_file = runs["iris"].path
    before = model_file.read_bytes()
    with pytest.raises(ConfigError, match="is the model file being exported"):
        cr_onnx.export(model_file, model_file, overwrite=True)
    assert model_file.read_bytes() == before
