"""Model files: round trips, user metadata, what can be saved, and safetensors interop."""

import hashlib
import json

import numpy as np
import pytest
import safetensors.numpy as stnp
from safetensors import safe_open

import chainrule as cr
from chainrule import io
from chainrule.errors import ConfigError, ModelFileError
from chainrule.nn import Linear, Module, Sequential, Sigmoid, Tanh, mlp


def _inputs(n_features, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=(7, n_features)).astype(dtype)


def _assert_same_model(a, b):
    """Same layers, same parameter names, dtypes and bits."""
    assert repr(a) == repr(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype
        assert sa[name].tobytes() == sb[name].tobytes(), name


# --- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation, output", [
    ("sigmoid", "sigmoid"), ("tanh", None), ("relu", "softmax"), ("leaky_relu", "log_softmax"),
    ("softplus", "identity"),
])
def test_round_trip_gives_bit_identical_outputs(tmp_path, dtype, activation, output):
    model = mlp([3, 5, 4, 2], activation, output, rng=1, dtype=dtype)
    path = tmp_path / "model.safetensors"
    io.save_model(model, path)
    loaded = io.load(path)
    _assert_same_model(model, loaded)
    x = _inputs(3, dtype)
    assert model(x).data.tobytes() == loaded(x).data.tobytes()
    assert loaded(x).dtype == dtype


def test_save_model_and_cr_load_carry_user_metadata(tmp_path):
    model = mlp([4, 3, 3], "tanh", "softmax", rng=0)
    path = tmp_path / "iris.safetensors"
    cr.save_model(model, path, metadata={"classes": ["setosa", "versicolor", "virginica"],
                                         "n_features": 4, "config": {"lr": 0.1, "epochs": 3}})
    _assert_same_model(model, io.load(path))
    meta = io.load_metadata(path)
    assert meta["user"] == {"classes": ["setosa", "versicolor", "virginica"], "n_features": 4,
                            "config": {"lr": 0.1, "epochs": 3}}
    assert meta["format"] == "chainrule-model" and meta["format_version"] == io.FORMAT_VERSION
    assert meta["chainrule_version"] == cr.__version__
    assert meta["dtype"] == "float32"
    assert meta["architecture"][0] == {"type": "Linear", "in_features": 4, "out_features": 3,
                                       "bias": True}
    assert meta["tensors"]["0.weight"] == {"dtype": "float32", "shape": [3, 4]}
    assert len(meta["checksum"]) == 64


def test_architecture_records_settings_frozen_parameters_and_names(tmp_path):
    model = Sequential(Linear(2, 3, rng=0, bias=False), cr.nn.LeakyReLU(0.2),
                       Linear(3, 2, rng=1), cr.nn.Softmax(axis=0),
                       Sequential(Tanh(), cr.nn.Identity()))
    model[2].bias.requires_grad_(False)
    path = tmp_path / "m.safetensors"
    io.save_model(model, path)
    loaded = io.load(path)
    _assert_same_model(model, loaded)
    assert loaded[1].negative_slope == 0.2 and loaded[3].axis == 0
    assert [p.requires_grad for p in loaded.parameters()] == [True, True, False]

    sliced = model[2:4]  # keeps the names "2" and "3"
    io.save_model(sliced, path)
    assert [name for name, _ in io.load(path).named_parameters()] == ["2.weight", "2.bias"]
    assert io.load_metadata(path)["architecture"][0]["name"] == "2"


def test_an_empty_sequential_and_a_no_bias_model_round_trip(tmp_path):
    for model in (Sequential(Sigmoid()), mlp([2, 2], bias=False, rng=0)):
        io.save_model(model, tmp_path / "m.st")
        _assert_same_model(model, io.load(tmp_path / "m.st"))


# --- what cannot be saved as a model -------------------------------------------------------
class Custom(Module):
    def __init__(self):
        super().__init__()
        self.hidden = Linear(2, 2, rng=0)

    def forward(self, x):
        return self.hidden(x)


class MySigmoid(Sigmoid):
    pass


@pytest.mark.parametrize("model", [Custom(), Sequential(Linear(2, 2, rng=0), MySigmoid()),
                                   Sequential(Custom())], ids=["custom", "subclass", "nested"])
def test_custom_modules_are_refused_with_the_state_dict_route(tmp_path, model):
    with pytest.raises(ConfigError, match="only a Sequential of built-in layers") as info:
        io.save_model(model, tmp_path / "m.st")
    assert "save_state(path, model.state_dict())" in str(info.value)
    assert not (tmp_path / "m.st").exists()


def test_the_state_dict_route_saves_a_custom_module(tmp_path):
    model, other = Custom(), Custom()
    other.hidden.weight.data[...] = 0
    io.save_state(tmp_path / "w.st", model.state_dict(), {"note": "custom"})
    tensors, meta = io.load_state(tmp_path / "w.st")
    other.load_state_dict(tensors)
    _assert_same_model(model, other)
    assert meta["note"] == "custom" and "checksum" in meta


def test_a_shared_layer_is_refused(tmp_path):
    layer = Linear(2, 2, rng=0)
    with pytest.raises(ConfigError, match="shares a layer"):
        io.save_model(Sequential(layer, Sigmoid(), layer), tmp_path / "m.st")


def test_mixed_dtypes_and_unjsonable_metadata_are_refused(tmp_path):
    mixed = Sequential(Linear(2, 2, rng=0, dtype=np.float32), Linear(2, 2, rng=0,
                                                                     dtype=np.float64))
    with pytest.raises(ConfigError, match="mixes parameter dtypes"):
        io.save_model(mixed, tmp_path / "m.st")
    with pytest.raises(ConfigError, match="JSON"):
        io.save_model(mlp([2, 2], rng=0), tmp_path / "m.st", metadata={"f": object()})
    with pytest.raises(ConfigError, match="strings"):
        io.save_state(tmp_path / "m.st", {}, {"n": 1})
    with pytest.raises(ConfigError, match="dtype object"):
        io.save_state(tmp_path / "m.st", {"a": np.array([None])})


# --- safetensors interop -------------------------------------------------------------------
def test_the_safetensors_library_reads_our_files(tmp_path):
    model = mlp([3, 4, 2], "relu", rng=0, dtype=np.float64)
    path = tmp_path / "m.safetensors"
    io.save_model(model, path, metadata={"classes": ["a", "b"]})
    tensors = stnp.load_file(path)
    assert set(tensors) == set(model.state_dict())
    for name, array in model.state_dict().items():
        assert tensors[name].tobytes() == array.tobytes()
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "chainrule-model"
    assert json.loads(meta["user"]) == {"classes": ["a", "b"]}


def test_we_read_files_the_safetensors_library_writes(tmp_path):
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.linspace(0, 1, 5),
        "f16": np.array([1.5, -2.0], dtype=np.float16),
        "i64": np.array(7, dtype=np.int64),
        "i32": np.array([[1, -2]], dtype=np.int32),
        "u8": np.array([0, 255], dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    path = tmp_path / "theirs.safetensors"
    stnp.save_file(arrays, path, metadata={"source": "safetensors"})
    tensors, meta = io.load_state(path)
    assert meta == {"source": "safetensors"}
    assert set(tensors) == set(arrays)
    for name, array in arrays.items():
        assert tensors[name].dtype == array.dtype and tensors[name].shape == array.shape
        assert np.array_equal(tensors[name], array)
        assert tensors[name].flags.writeable
    before = path.read_bytes()
    tensors["f32"][...] = 9  # the arrays are copies: writing to them leaves the file alone
    assert path.read_bytes() == before and io.load_state(path)[0]["f32"][0, 0] == 0


def test_save_state_round_trips_every_dtype_byte_order_and_layout(tmp_path):
    """The library writes an array's memory as it lies: a transposed view or a big-endian array
    is made C-ordered and little-endian first."""
    arrays = {"bool": np.array([True, False]), "i8": np.array([-1, 2], np.int8),
              "u64": np.array([2**64 - 1], np.uint64), "f16": np.array([[1.5]], np.float16),
              "big-endian": np.array([1.0, 2.0], ">f8"),
              "transposed": np.arange(6.0).reshape(2, 3).T,
              "scalar": np.array(3, np.int64), "empty": np.zeros((0, 3), np.float32)}
    io.save_state(tmp_path / "s.st", arrays, {"note": "ünïcode"})
    tensors, meta = io.load_state(tmp_path / "s.st")
    assert meta["note"] == "ünïcode" and set(tensors) == set(arrays)
    for name, array in arrays.items():
        assert tensors[name].shape == array.shape and np.array_equal(tensors[name], array), name
        assert tensors[name].dtype == array.dtype.newbyteorder("="), name


def test_a_model_file_written_by_the_safetensors_library_loads(tmp_path):
    """The checksum covers content, not layout: any correct writer that keeps it will do."""
    model = mlp([2, 3, 1], "sigmoid", rng=0)
    ours = tmp_path / "ours.st"
    io.save_model(model, ours)
    tensors, meta = io.load_state(ours)
    theirs = tmp_path / "theirs.st"
    stnp.save_file(dict(reversed(tensors.items())), theirs, metadata=meta)
    assert theirs.read_bytes() != ours.read_bytes()
    _assert_same_model(model, io.load(theirs))


def test_a_plain_safetensors_file_is_not_a_model(tmp_path):
    stnp.save_file({"w": np.zeros(2, dtype=np.float32)}, tmp_path / "plain.st")
    with pytest.raises(ModelFileError, match=r"without chainrule metadata.*load_state"):
        io.load(tmp_path / "plain.st")


# --- format versions -----------------------------------------------------------------------
def _with_metadata(path, **changes):
    tensors, meta = io.load_state(path)
    meta.update(changes)
    io.save_state(path, tensors, meta)


def test_a_file_from_a_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "m.st"
    io.save_model(mlp([2, 2], rng=0), path)
    _with_metadata(path, format_version="3", architecture='{"a new": "layout"}')
    expected = ("written by a newer chainrule (format version 3); this version reads up to 2: "
                "upgrade chainrule")
    for reader in (io.load, io.load_metadata, io.load_checkpoint):
        with pytest.raises(ModelFileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            reader(path)


def _version_1_file(path, model, **metadata_changes):
    """A model file as chainrule 0.1 wrote it: format_version 1, SHA-256 of the buffer only."""
    io.save_model(model, path)
    tensors, meta = io.load_state(path)
    meta.update({"format_version": "1", **metadata_changes})
    buffer = b"".join(array.astype(array.dtype.newbyteorder("<")).tobytes()
                      for array in tensors.values())
    meta["checksum"] = hashlib.sha256(buffer).hexdigest()
    header, offset = {"__metadata__": meta}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + buffer)


def test_a_version_1_file_still_loads_with_its_own_checksum(tmp_path):
    model = mlp([2, 3, 2], "tanh", rng=0)
    path = tmp_path / "old.st"
    _version_1_file(path, model)
    _assert_same_model(model, io.load(path))
    assert io.load_metadata(path)["format_version"] == 1
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        io.load(path)


def test_the_checksum_of_version_2_does_not_match_a_version_1_file(tmp_path):
    """Claiming version 2 for an old file (or a flip 1 → 2 elsewhere) fails the check."""
    path = tmp_path / "old.st"
    _version_1_file(path, mlp([2, 2], rng=0), format_version="2")
    with pytest.raises(ModelFileError, match="checksum of its metadata and tensor data"):
        io.load(path)


@pytest.mark.parametrize("version", ["0", "one", "-1", "1.0", ""])
def test_a_malformed_format_version_is_refused(tmp_path, version):
    path = tmp_path / "m.st"
    io.save_model(mlp([2, 2], rng=0), path)
    _with_metadata(path, format_version=version)
    with pytest.raises(ModelFileError, match="format"):
        io.load(path)
