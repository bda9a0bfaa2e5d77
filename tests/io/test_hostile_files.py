"""Hostile and broken files: each gives a ModelFileError that says what is wrong.

Nothing in a file is ever unpickled or executed, nothing large is allocated from a size the
file merely claims, and a file re-signed with a valid checksum is held to every check all the
same (the checksum is no signature). test_fuzz.py feeds thousands of mutated files to every
loader.
"""

import json
import pathlib
import pickle
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import safetensors.numpy as stnp

from chainrule import io, optim
from chainrule.errors import ConfigError, ModelFileError
from chainrule.nn import Linear, Sequential, Tanh, mlp
from chainrule.runs.model import TrainedModel

ALL_READERS = (io.load, io.load_metadata, io.load_state, io.load_checkpoint)


def _container(header, buffer=b"", length=None):
    """Raw safetensors bytes: 8-byte length, JSON header (dict or raw bytes), buffer."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(text) if length is None else length).to_bytes(8, "little") + text + buffer


def _f32(shape, start, end):
    return {"dtype": "F32", "shape": list(shape), "data_offsets": [start, end]}


@pytest.fixture
def good(tmp_path):
    """A valid model file: its path."""
    path = tmp_path / "model.crm"
    io.save_model(mlp([3, 4, 2], "sigmoid", rng=0), path)
    return path


def _checkpoint(tmp_path, epoch=3, name="ckpt.crc"):
    """A valid checkpoint as fit() writes one (Adam with state, PCG64 state, history): its path."""
    model = mlp([2, 3, 2], "tanh", rng=0)
    opt = optim.Adam(model.parameters(), lr=0.1)
    loss = (model(np.ones((4, 2), dtype=np.float32)) ** 2).sum()
    loss.backward()
    opt.step()
    path = tmp_path / name
    io.save_checkpoint(path, model=model, optimizer=opt, epoch=epoch, step=1,
                       config={"lr": 0.1, "hidden": [3]},
                       rng_state=np.random.default_rng(0).bit_generator.state,
                       history={"epochs": [{"epoch": 1, "loss": 0.5}], "step_losses": [0.5],
                                "stop_reason": None, "partial": {"loss_sum": 2.0, "count": 4}})
    return path


def _refused(path, *fragments, readers=(io.load,)):
    for reader in readers:
        with pytest.raises(ModelFileError) as info:
            reader(path)
        for fragment in fragments:
            assert fragment in str(info.value), (reader.__name__, str(info.value))


def _write(tmp_path, data, name="model.crm"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- files that are not there or not whole ----------------------------------------------------
def test_missing_file_and_folder(tmp_path):
    _refused(tmp_path / "nope.crm", "cannot read", "No such file", readers=ALL_READERS)
    _refused(tmp_path, "is not a regular file", readers=ALL_READERS)


def test_empty_file(tmp_path):
    _refused(_write(tmp_path, b""), "is empty (0 bytes)", readers=ALL_READERS)


def test_truncated_at_several_points(good):
    data = good.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    for cut in (1, 7, 9, header_end // 2, header_end - 1, header_end, header_end + 5,
                len(data) - 1):
        good.write_bytes(data[:cut])
        _refused(good, "truncated", readers=ALL_READERS if cut < header_end else (io.load,))


def test_a_header_claiming_a_huge_size(tmp_path):
    path = _write(tmp_path, _container({}, length=2**60))
    _refused(path, f"header claims {2**60} bytes", "truncated or not a safetensors file",
             readers=ALL_READERS)


def test_a_header_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "MAX_HEADER_BYTES", 16)
    path = _write(tmp_path, _container({"__metadata__": {"a": "b" * 20}}))
    _refused(path, "more than the 16-byte limit")


@pytest.mark.parametrize("header", [
    b"{not json", b"{\"a\": \xff}", b"{" * 100_000, b'{"__metadata__": {"a": "\\ud800"}}',
    b'{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 0]}}', b"[1, 2]",
    b'{"__metadata__": {"format": 1}}', b'{"__metadata__": []}',
])
def test_a_garbage_header(tmp_path, header):
    _refused(_write(tmp_path, _container(header)), "is not a sound safetensors file",
             "truncated, damaged or of another format", readers=ALL_READERS)


# --- tensor entries that lie ----------------------------------------------------------------
SOUND = "is not a sound safetensors file"  # what the safetensors library refuses


@pytest.mark.parametrize("entries, buffer, fragment", [
    ({"w": _f32([2], 0, 8), "v": _f32([1022], 8, 4096)}, bytes(16), SOUND),  # past the end
    ({"w": _f32([2**40], 0, 2**42)}, bytes(8), SOUND),
    ({"w": _f32([2], 0, 8), "v": _f32([2], 4, 12)}, bytes(12), SOUND),  # overlap
    ({"w": _f32([2], 0, 8), "v": _f32([1], 12, 16)}, bytes(16), SOUND),  # a gap
    ({"w": _f32([2], 0, 8)}, bytes(12), SOUND),  # trailing bytes
    ({"w": _f32([3], 0, 8)}, bytes(8), SOUND),  # a span that is not shape × itemsize
    ({"w": _f32([2, 2], 0, 8)}, bytes(8), SOUND),
    ({"w": _f32([-2], 0, 8)}, bytes(8), SOUND),
    ({"w": _f32([True, 2], 0, 8)}, bytes(8), SOUND),
    ({"w": _f32([2.0], 0, 8)}, bytes(8), SOUND),
    ({"w": _f32([1] * 70, 0, 4)}, bytes(4), "has 70 dimensions; NumPy arrays have at most 64"),
    ({"w": _f32([0] * 70, 0, 0)}, b"", "has 70 dimensions"),
    ({"w": _f32([0, 2**64], 0, 0)}, b"", SOUND),
    ({"w": _f32([0, 2**62, 2**62], 0, 0)}, b"", "too large for an array"),
    ({"w": _f32([2], 8, 0)}, bytes(8), SOUND),
    ({"w": _f32([2], -8, 0)}, bytes(8), SOUND),
    ({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bytes(8),
     "has dtype BF16; chainrule reads F16, F32, F64"),
    ({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8), "has dtype C64"),
    ({"w": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}}, bytes(8),
     "has dtype F8_E4M3"),
    ({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, bytes(8), SOUND),
    ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), SOUND),
    ({"w": [1, 2]}, bytes(8), SOUND),
])
def test_offsets_shapes_and_dtypes_that_lie(tmp_path, entries, buffer, fragment):
    metadata = {"format": "chainrule-model", "format_version": "1"}  # reach the tensor checks
    path = _write(tmp_path, _container({"__metadata__": metadata, **entries}, buffer))
    _refused(path, fragment, readers=(io.load_state, io.load))


def test_a_checksum_mismatch_from_one_flipped_bit(good):
    data = bytearray(good.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's bytes
    good.write_bytes(bytes(data))
    _refused(good, "checksum", "flipped", readers=(io.load, io.load_state, io.load_metadata))


def _flip_in_header(path, old, new):
    """Replace `old` by `new` (same length) in the header, leaving the stored checksum."""
    data = path.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1, old
    path.write_bytes(data.replace(old, new))


def test_a_flipped_digit_in_the_metadata_is_caught(tmp_path):
    path = tmp_path / "model.crm"
    io.save_model(mlp([2, 2], rng=0), path, metadata={"mean": [5.86, 3.0]})
    _flip_in_header(path, b"5.86", b"4.86")
    _refused(path, "checksum of its metadata and tensor data does not match",
             readers=(io.load, io.load_state, io.load_metadata))


def test_a_flipped_epoch_in_a_checkpoint_is_caught(tmp_path):
    path = _checkpoint(tmp_path, epoch=2000)
    _flip_in_header(path, b'"epoch":"2000"', b'"epoch":"1000"')
    _refused(path, "checksum", readers=(io.load_checkpoint, io.load_metadata))


def test_a_shape_swapped_in_the_header_is_caught(tmp_path):
    path = tmp_path / "model.crm"
    io.save_model(mlp([3, 2], rng=0), path)  # 0.weight has shape [2, 3]: swap it to [3, 2]
    _flip_in_header(path, b'"shape":[2,3]', b'"shape":[3,2]')
    _refused(path, "checksum", readers=(io.load_state,))


def test_a_file_without_its_checksum_is_refused(good, tmp_path):
    tensors, meta = io.load_state(good)
    del meta["checksum"]
    stnp.save_file(tensors, tmp_path / "bare.crm", metadata=meta)
    _refused(tmp_path / "bare.crm", "has no 'checksum' metadata entry", readers=ALL_READERS[:3])
    stnp.save_file(tensors, tmp_path / "plain.st", metadata={"note": "not chainrule"})
    assert io.load_state(tmp_path / "plain.st")[1] == {"note": "not chainrule"}


# --- tensors that do not fit the architecture --------------------------------------------------
def _rewrite(path, change):
    tensors, meta = io.load_state(path)
    change(tensors, meta)
    io.save_state(path, tensors, meta)  # a fresh, correct checksum: only the content is wrong


def test_missing_extra_and_wrong_shaped_tensors(good):
    def damage(tensors, meta):
        del tensors["2.bias"]
        tensors["extra"] = np.zeros(3, dtype=np.float32)
        tensors["0.weight"] = np.zeros((4, 2), dtype=np.float32)

    _rewrite(good, damage)
    _refused(good, "does not match its architecture", "tensors missing from the file: 2.bias",
             "unexpected tensors its architecture does not use: extra",
             "tensor '0.weight' has shape (4, 2) but its architecture needs (4, 3)")


def test_a_tensor_of_another_dtype(good):
    _rewrite(good, lambda t, m: t.update({"0.bias": t["0.bias"].astype(np.float64)}))
    _refused(good, "the model's dtype is float32 but '0.bias' is float64")


NOT_OURS = "its metadata is not what chainrule writes"


@pytest.mark.parametrize("architecture, fragment", [
    ('[{"type": "Conv2d"}]', "Input tag 'Conv2d' found using 'type' does not match"),
    ('[{"type": "os.system"}]', "Input tag 'os.system'"),
    ('[{"type": "Linear", "in_features": 3}]', "architecture[0].Linear.out_features: Field "
                                               "required"),
    ('[{"type": "Linear", "in_features": 3, "out_features": 4, "bias": 1}]',
     "Linear.bias: Input should be a valid boolean (got 1)"),
    ('[{"type": "Linear", "in_features": 1e999, "out_features": 4, "bias": true}]',
     "Linear.in_features: Input should be a valid integer"),
    ('[{"type": "Linear", "in_features": 0, "out_features": 4, "bias": true}]',
     "Linear.in_features: Input should be greater than 0"),
    ('[{"type": "Linear", "in_features": 3, "out_features": 4, "bias": true, "w": 1}]',
     "Linear.w: Extra inputs are not permitted"),
    ('[{"type": "LeakyReLU", "negative_slope": 1' + "0" * 400 + "}]", "negative_slope"),
    ('[{"type": "LeakyReLU", "negative_slope": 1e308}]',
     "negative_slope: Input should be less than or equal to 1"),
    ('[{"type": "LeakyReLU", "negative_slope": NaN}]', "negative_slope: Input should be a "
                                                       "finite number"),
    ('[{"type": "Softmax", "axis": 1073741824}]', "Softmax.axis: Input should be less than 64"),
    ('[{"type": "LogSoftmax", "axis": -65}]', "greater than or equal to -64"),
    ('{"type": "Sigmoid"}', "architecture: Input should be a valid list"),
    ("not json", "architecture: Invalid JSON"),
    ('[{"type": "Sequential", "layers": ' * 40 + "[]" + "}]" * 40, "nest at most 32 deep"),
    ('[{"type": "Sigmoid", "name": "a.b"}]', "a layer name is an index or an identifier"),
    ('[{"type": "Sigmoid", "name": "x"}, {"type": "Tanh", "name": "x"}]',
     "architecture: two layers are named 'x'"),
    ('[{"type": "Sigmoid"}, {"type": "Tanh", "name": "0"}]', "two layers are named '0'"),
])
def test_an_architecture_that_cannot_be_rebuilt(good, architecture, fragment):
    _rewrite(good, lambda t, m: m.update(architecture=architecture))
    _refused(good, fragment)


def test_linear_layers_that_do_not_chain_are_refused(good):
    layers = [{"type": "Linear", "in_features": 3, "out_features": 4, "bias": True},
              {"type": "Linear", "in_features": 2, "out_features": 2, "bias": True}]

    def damage(tensors, meta):
        meta["architecture"] = json.dumps(layers)
        tensors["1.weight"], tensors["1.bias"] = tensors.pop("2.weight")[:, :2], tensors.pop(
            "2.bias")

    _rewrite(good, damage)
    _refused(good, "cannot be rebuilt", "outputs 4 features")


@pytest.mark.parametrize("key, value, fragment", [
    ("frozen", '["nope"]', "'frozen' lists nope, which are not all parameters"),
    ("frozen", '["0.bias", "0.bias"]', "frozen: names a parameter twice"),
    ("dtype", "object", "dtype: Input should be 'float16', 'float32' or 'float64'"),
    ("format", "something-else", "format: Input should be 'chainrule-model' or "
                                  "'chainrule-checkpoint' (got 'something-else')"),
    ("user", "[1, 2]", "user: Input should be a valid dictionary"),
    ("user", '"classes"', "user: Input should be a valid dictionary"),
    ("chainrule_version", "9" * 100, "chainrule_version: String should have at most 64"),
    ("note", "an entry chainrule does not write", "unknown metadata entries note"),
])
def test_other_metadata_that_lies(good, key, value, fragment):
    _rewrite(good, lambda t, m: m.update({key: value}))
    _refused(good, fragment)


def test_a_missing_metadata_entry(good):
    _rewrite(good, lambda t, m: m.pop("architecture"))
    _refused(good, NOT_OURS, "architecture: Field required", "use the one chainrule saved")


# --- other formats renamed to the model's extension ------------------------------------------
class _Payload:
    """Unpickling this touches `marker`: proof that a pickle can run code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_is_refused_and_its_payload_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, pickle.dumps(_Payload(marker), protocol=protocol))
    _refused(path, "model.crm is a Python pickle",
             "chainrule refuses to load pickles because unpickling can run arbitrary code",
             readers=ALL_READERS)
    assert not marker.exists()

    # test the test: the same kind of payload does run when unpickled
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof), protocol=protocol))
    assert proof.exists()


@pytest.mark.parametrize("shape", ["list", "global", "global, truncated"])
def test_a_protocol_0_pickle_over_64_kib_is_named(tmp_path, shape):
    """Its STOP '.' lies past the first 64 KiB, or is missing from a truncated one."""
    marker, padding = tmp_path / "pwned", "x" * 70_000
    obj = [_Payload(marker), padding] if shape == "list" else _Payload(pathlib.Path(padding))
    data = pickle.dumps(obj, protocol=0)
    assert len(data) > 64 * 1024 and data[:1] == (b"(" if shape == "list" else b"c")
    if shape == "global, truncated":
        data = data[:-1]
    _refused(_write(tmp_path, data), "is a Python pickle", readers=ALL_READERS)
    assert not marker.exists()


def test_a_torch_style_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.crm"
    with zipfile.ZipFile(path, "w") as archive:  # the layout torch.save writes
        archive.writestr("archive/data.pkl", pickle.dumps(_Payload(marker), protocol=2))
        archive.writestr("archive/data/0", bytes(16))
        archive.writestr("archive/version", "3\n")
    _refused(path, "PyTorch-style zip archive holding a pickle (data.pkl)",
             "refuses to load pickles", readers=ALL_READERS)
    assert not marker.exists()


def test_an_npz_with_object_arrays_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, weights=np.zeros(3), labels=np.array([{"a": 1}, None], dtype=object))
    _refused(path, "NumPy .npz archive", "object arrays are stored as pickles",
             "refuses to load pickles", readers=ALL_READERS)


def test_an_npy_file_is_refused(tmp_path):
    path = tmp_path / "model.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _refused(path, "NumPy .npy file", "refuses to load pickles", readers=ALL_READERS)


def test_an_ordinary_zip_is_refused(tmp_path):
    path = tmp_path / "model.crm"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    _refused(path, "a zip archive, not a safetensors file")


def test_a_short_text_file_is_refused(tmp_path):
    _refused(_write(tmp_path, b"abc"), "truncated", "fewer than the 8-byte header length")


def test_a_model_file_is_not_a_checkpoint(good):
    _refused(good, "is a chainrule-model file, not a chainrule-checkpoint file",
             "no optimizer state", readers=(io.load_checkpoint,))


# --- nothing large is allocated ----------------------------------------------------------------
@pytest.mark.parametrize("data", [
    _container({"w": {"dtype": "F64", "shape": [2**37], "data_offsets": [0, 2**40]}},
               bytes(64)),
    _container({"w": _f32([2**30], 0, 2**32)}),
    _container({}, length=2**60),
    _container({}, length=2**27),  # 128 MiB, within no limit of this tiny file
], ids=["huge tensor", "huge tensor, no buffer", "huge header", "header past the end"])
def test_a_file_claiming_huge_sizes_allocates_nothing_large(tmp_path, data):
    path = _write(tmp_path, data)
    tracemalloc.start()
    try:
        for reader in ALL_READERS:
            with pytest.raises(ModelFileError):
                reader(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20, f"peak {peak} bytes"


# --- re-signed files: every check holds without the checksum ----------------------------------
RESERVED = ["forward", "__class__", "_modules", "_parameters", "state_dict", "parameters",
            "training", "append", "load_state_dict"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_layer_named_like_an_attribute_of_module_is_refused(tmp_path, name):
    """Named 'forward', layer 0 would replace Sequential.forward: predict would run that layer
    alone and return its 8 outputs where the architecture says 3. Re-signed, the file passes
    the checksum; the layer name is refused all the same."""
    path = tmp_path / "model.crm"
    io.save_model(mlp([4, 8, 3], "tanh", rng=0), path)
    tensors, meta = io.load_state(path)
    layers = json.loads(meta["architecture"])
    layers[0]["name"] = name
    meta["architecture"] = json.dumps(layers)
    tensors = {key.replace("0.", f"{name}.", 1) if key.startswith("0.") else key: value
               for key, value in tensors.items()}
    io.save_state(path, tensors, meta)  # a fresh, valid checksum
    _refused(path, NOT_OURS, "architecture[0].Linear.name: a layer name is an index or an "
             "identifier that is not an attribute of Sequential", repr(name),
             readers=(io.load, io.load_metadata, TrainedModel.load))


@pytest.mark.parametrize("name", ["forward", "state_dict", "training", "append",
                                  "load_state_dict"])  # those Sequential itself takes
def test_a_layer_named_like_an_attribute_of_module_is_not_saved(tmp_path, name):
    model = Sequential({"first": Linear(2, 3, rng=0), name: Tanh()})
    with pytest.raises(ConfigError, match=re.escape("cannot store architecture[1].Tanh.name: a "
                                                    "layer name")):
        io.save_model(model, tmp_path / "m.crm")
    assert not (tmp_path / "m.crm").exists()


def test_named_layers_that_are_no_attribute_load(tmp_path):
    model = Sequential({"hidden": Linear(2, 3, rng=0), "act": Tanh(), "7": Linear(3, 1, rng=1)})
    io.save_model(model, tmp_path / "m.crm")
    loaded = io.load(tmp_path / "m.crm")
    x = np.ones((2, 2), dtype=np.float32)
    assert loaded(x).data.tolist() == model(x).data.tolist()
    assert [n for n, _ in loaded.named_parameters()] == ["hidden.weight", "hidden.bias",
                                                         "7.weight", "7.bias"]


@pytest.mark.parametrize("key, value", [
    ("user", '{"classes": ["\\ud800"]}'), ("user", '{"\\udfff": 1}'),
    ("architecture", '[{"type": "Sigmoid", "name": "\\ud83d"}]'),
])
def test_a_lone_surrogate_is_refused_by_every_loader(good, key, value):
    _rewrite(good, lambda t, m: m.update({key: value}))
    _refused(good, NOT_OURS, key, readers=(io.load, io.load_metadata, TrainedModel.load))


def test_a_lone_surrogate_in_a_checkpoint_is_refused(tmp_path):
    path = _checkpoint(tmp_path)
    tensors, meta = io.load_state(path)
    meta["config"] = '{"lr": 0.1, "\\udc80hidden": [3]}'
    io.save_state(path, tensors, meta)
    _refused(path, NOT_OURS, "config: Invalid JSON", readers=(io.load_checkpoint, io.load))


def test_text_that_is_not_unicode_is_not_saved(tmp_path):
    model = mlp([2, 2], rng=0)
    with pytest.raises(ConfigError, match=r"metadata must be JSON-able .* strings of valid "
                                          "Unicode"):
        io.save_model(model, tmp_path / "m.crm", metadata={"classes": ["\ud800"]})
    with pytest.raises(ConfigError, match="strings of valid Unicode"):
        io.save_state(tmp_path / "m.crm", {}, {"note": "\udfff"})
    with pytest.raises(ConfigError, match="tensor names must be strings"):
        io.save_state(tmp_path / "m.crm", {"\ud800": np.zeros(1)})
    assert not (tmp_path / "m.crm").exists()


# --- sizes: refused quickly, in a few words ------------------------------------------------
def _quickly_refused(path, *fragments, readers=(io.load, io.load_metadata)):
    for reader in readers:
        start = time.perf_counter()
        with pytest.raises(ModelFileError) as info:
            reader(path)
        assert time.perf_counter() - start < 2.0
        assert len(str(info.value)) < 400, str(info.value)
        for fragment in fragments:
            assert fragment in str(info.value)


def test_an_architecture_of_100_000_layers_is_refused_quickly(good):
    _rewrite(good, lambda t, m: m.update(architecture=json.dumps([{"type": "Sigmoid"}] * 100_000)))
    _quickly_refused(good, "architecture: 2100000 characters, more than 4096 layers take")


def test_an_architecture_of_100_000_tensors_is_refused_quickly(good):
    layers = [{"type": "Linear", "in_features": 1, "out_features": 1, "bias": False}] * 5000
    tensors = {f"{i}.weight": np.zeros((1, 1), np.float32) for i in range(5000)}
    _rewrite(good, lambda t, m: (t.clear(), t.update(tensors),
                                 m.update(architecture=json.dumps(layers))))
    _quickly_refused(good, "architecture: List should have at most 4096 items")


def test_nested_sequentials_count_towards_the_layer_limit(good):
    inner = {"type": "Sequential", "layers": [{"type": "Tanh"}] * 3000}
    _rewrite(good, lambda t, m: m.update(architecture=json.dumps([inner, inner])))
    _quickly_refused(good, "architecture: more than 4096 layers")


def test_a_header_of_100_000_entries_is_refused_quickly(tmp_path):
    tensors = {f"t{i}": np.zeros(0, np.float32) for i in range(100_000)}
    path = tmp_path / "many.crm"
    io.save_state(path, tensors, {"format": "chainrule-model", "format_version": "2"})
    _quickly_refused(path, "holds 100000 tensors, more than the 65536 chainrule reads",
                     readers=(io.load, io.load_metadata, io.load_state))


def test_many_tensors_the_architecture_does_not_use_make_a_short_message(good):
    _rewrite(good, lambda t, m: t.update({f"x{i}": np.zeros(1, np.float32) for i in range(9000)}))
    _quickly_refused(good, "unexpected tensors its architecture does not use: x0, x1, x10, "
                           "x100, x1000 and 8995 more", readers=(io.load,))
