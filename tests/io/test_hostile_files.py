"""Hostile and broken files: each gives a ModelFileError that says what is wrong.

Nothing in a file is ever unpickled or executed, nothing large is allocated from a size the
file merely claims, and no other exception type escapes (a hypothesis test feeds random bytes
and random mutations of a valid file).
"""

import contextlib
import json
import pathlib
import pickle
import tracemalloc
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import safetensors.numpy as stnp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule import io, optim
from chainrule.errors import ModelFileError
from chainrule.nn import Sequential, mlp

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
                                "stop_reason": None, "partial": {"count": 4}})
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


@pytest.mark.parametrize("header, fragment", [
    (b"{not json", "not valid JSON"),
    (b"{\"a\": \xff}", "not valid JSON"),
    (b"{" * 100_000, "not valid JSON"),
    (b'{"__metadata__": {}, "__metadata__": {}}', "duplicate key"),
    (b'{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 0]}}', "not valid JSON"),
    (b"[1, 2]", "does not start with '{'"),
    (b'{"__metadata__": {"format": 1}}', "must map strings to strings"),
    (b'{"__metadata__": []}', "must map strings to strings"),
])
def test_a_garbage_header(tmp_path, header, fragment):
    _refused(_write(tmp_path, _container(header)), fragment, readers=(io.load, io.load_state))


# --- tensor entries that lie ----------------------------------------------------------------
@pytest.mark.parametrize("entries, buffer, fragment", [
    ({"w": _f32([2], 0, 8), "v": _f32([1022], 8, 4096)}, bytes(16), "ends at byte 4096"),
    ({"w": _f32([2**40], 0, 2**42)}, bytes(8), "ends at byte"),
    ({"w": _f32([2], 0, 8), "v": _f32([2], 4, 12)}, bytes(12), "overlap"),
    ({"w": _f32([2], 0, 8), "v": _f32([1], 12, 16)}, bytes(16), "belong to no tensor"),
    ({"w": _f32([2], 0, 8)}, bytes(12), "4 unexpected bytes follow the last tensor"),
    ({"w": _f32([3], 0, 8)}, bytes(8), "but its data_offsets span 8 bytes"),
    ({"w": _f32([2, 2], 0, 8)}, bytes(8), "span"),
    ({"w": _f32([-2], 0, 8)}, bytes(8), "non-negative integers"),
    ({"w": _f32([True, 2], 0, 8)}, bytes(8), "non-negative integers"),
    ({"w": _f32([2.0], 0, 8)}, bytes(8), "non-negative integers"),
    ({"w": _f32([1] * 70, 0, 4)}, bytes(4), "has 70 dimensions; NumPy arrays have at most 64"),
    ({"w": _f32([0] * 70, 0, 0)}, b"", "has 70 dimensions"),
    ({"w": _f32([0, 2**64], 0, 0)}, b"", "too large for an array"),
    ({"w": _f32([0, 2**62, 2**62], 0, 0)}, b"", "too large for an array"),
    ({"w": _f32([2], 8, 0)}, bytes(8), "0 ≤ start ≤ end"),
    ({"w": _f32([2], -8, 0)}, bytes(8), "0 ≤ start ≤ end"),
    ({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bytes(8),
     "has dtype 'BF16'"),
    ({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, bytes(8), "has dtype 'O'"),
    ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), "exactly dtype, shape and data_offsets"),
    ({"w": [1, 2]}, bytes(8), "exactly dtype, shape and data_offsets"),
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
             "unexpected tensors the architecture does not use: extra",
             "tensor '0.weight' has shape (4, 2) but the architecture needs (4, 3)")


def test_a_tensor_of_another_dtype(good):
    _rewrite(good, lambda t, m: t.update({"0.bias": t["0.bias"].astype(np.float64)}))
    _refused(good, "the model's dtype is float32 but '0.bias' is float64")


@pytest.mark.parametrize("architecture, fragment", [
    ('[{"type": "Conv2d"}]', "has type 'Conv2d'"),
    ('[{"type": "os.system"}]', "has type 'os.system'"),
    ('[{"type": "Linear", "in_features": 3}]', "must have exactly the settings"),
    ('[{"type": "Linear", "in_features": 3, "out_features": 4, "bias": 1}]', "must be a bool"),
    ('[{"type": "Linear", "in_features": 1e999, "out_features": 4, "bias": true}]',
     "must be a positive int"),
    ('[{"type": "LeakyReLU", "negative_slope": 1' + "0" * 400 + "}]", "a number from -1 to 1"),
    ('[{"type": "LeakyReLU", "negative_slope": 1e308}]', "a number from -1 to 1"),
    ('[{"type": "LeakyReLU", "negative_slope": NaN}]', "a number from -1 to 1"),
    ('[{"type": "Softmax", "axis": 1073741824}]', "must be an int from -64 to 63"),
    ('[{"type": "LogSoftmax", "axis": -65}]', "must be an int from -64 to 63"),
    ('{"type": "Sigmoid"}', "must be a JSON list"),
    ("not json", "not valid JSON"),
    ('[{"type": "Sequential", "layers": ' * 40 + "[]" + "}]" * 40, "nested at most"),
    ('[{"type": "Sigmoid", "name": "a.b"}]', "without dots"),
    ('[{"type": "Sigmoid", "name": "x"}, {"type": "Tanh", "name": "x"}]', "names two layers"),
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
    ("frozen", '["nope"]', "'frozen' lists"),
    ("dtype", "object", "a model's dtype is float16, float32 or float64"),
    ("format", "something-else", "has format 'something-else'"),
])
def test_other_metadata_that_lies(good, key, value, fragment):
    _rewrite(good, lambda t, m: m.update({key: value}))
    _refused(good, fragment)


def test_a_missing_metadata_entry(good):
    _rewrite(good, lambda t, m: m.pop("architecture"))
    _refused(good, "has no 'architecture' entry")


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


# --- fuzzing: only ModelFileError ever comes out ---------------------------------------------
def _load_or_refuse(path):
    try:
        model = io.load(path)
    except ModelFileError:
        return
    assert isinstance(model, Sequential)


_FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2),
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_give_only_model_file_errors(tmp_path, data):
    _load_or_refuse(_write(tmp_path, data))


@_FUZZ
@given(prefix=st.binary(min_size=8, max_size=8), body=st.binary(max_size=300))
def test_random_safetensors_lookalikes_give_only_model_file_errors(tmp_path, prefix, body):
    _load_or_refuse(_write(tmp_path, prefix + b"{" + body))


@_FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255),
                                st.sampled_from(["set", "insert", "delete"])),
                      min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_random_mutations_of_a_valid_file_give_only_model_file_errors(tmp_path, edits, cut):
    data = bytearray(_valid_file(tmp_path))
    for position, value, how in edits:
        i = position % (len(data) + 1)
        if how == "insert":
            data[i:i] = bytes([value])
        elif i < len(data):
            if how == "set":
                data[i] = value
            else:
                del data[i]
    if cut is not None:
        del data[cut % (len(data) + 1):]
    _load_or_refuse(_write(tmp_path, bytes(data), "mutated.crm"))


def _valid_file(tmp_path):
    path = tmp_path / "valid.crm"
    if not path.exists():
        model = Sequential(*mlp([2, 3, 2], "leaky_relu", "softmax", rng=0))
        io.save_model(model, path, metadata={"classes": ["a", "b"]})
    return path.read_bytes()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["Linear", "Sequential", "LeakyReLU", "type", "layers", "in_features"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "name", "layers", "in_features", "out_features",
                                       "bias", "negative_slope", "axis"]) | st.text(max_size=4),
                      inner, max_size=5),
    max_leaves=20,
)


@_FUZZ
@given(key=st.sampled_from(["architecture", "frozen", "dtype", "format_version", "user",
                            "format", "chainrule_version"]),
       value=_JSON, as_json=st.booleans())
def test_random_metadata_gives_only_model_file_errors(tmp_path, key, value, as_json):
    tensors, metadata = io.load_state(_write(tmp_path, _valid_file(tmp_path), "base.crm"))
    metadata[key] = json.dumps(value) if as_json or not isinstance(value, str) else value
    path = tmp_path / "fuzzed.crm"
    io.save_state(path, tensors, metadata)
    _load_or_refuse(path)
    with contextlib.suppress(ModelFileError):
        io.load_metadata(path)


# --- fuzzing checkpoints: only ModelFileError comes out of load_checkpoint --------------------
@_FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_random_mutations_of_a_valid_checkpoint_give_only_model_file_errors(tmp_path, edits,
                                                                             cut):
    data = bytearray(_checkpoint_bytes(tmp_path))
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % (len(data) + 1):]
    with contextlib.suppress(ModelFileError):
        io.load_checkpoint(_write(tmp_path, bytes(data), "mutated.crc"))


def _checkpoint_bytes(tmp_path):
    path = tmp_path / "valid.crc"
    return (path if path.exists() else _checkpoint(tmp_path, name="valid.crc")).read_bytes()


_GENERATOR_STATE = st.fixed_dictionaries({
    "bit_generator": st.sampled_from(["PCG64", "MT19937", "Philox", "SFC64", "PCG64DXSM", "x"]),
    "state": _JSON | st.fixed_dictionaries({"state": _JSON | st.integers(), "inc": st.integers()}),
    "has_uint32": _JSON, "uinteger": _JSON,
})


@_FUZZ
@given(key=st.sampled_from(["epoch", "step", "config", "rng_state", "history", "optimizer",
                            "scheduler_state", "architecture", "frozen", "user"]),
       value=_JSON | _GENERATOR_STATE
       | st.dictionaries(st.sampled_from(["epochs", "step_losses", "stop_reason", "partial",
                                          "shuffle"]), _JSON | _GENERATOR_STATE, max_size=4),
       as_json=st.booleans())
def test_random_checkpoint_metadata_gives_only_model_file_errors(tmp_path, key, value,
                                                                 as_json):
    tensors, metadata = io.load_state(_write(tmp_path, _checkpoint_bytes(tmp_path), "base.crc"))
    metadata[key] = json.dumps(value) if as_json or not isinstance(value, str) else value
    path = tmp_path / "fuzzed.crc"
    io.save_state(path, tensors, metadata)
    with contextlib.suppress(ModelFileError):
        checkpoint = io.load_checkpoint(path)
        for state in (checkpoint.rng_state, *checkpoint.rng_state.values()):
            if isinstance(state, dict) and "bit_generator" in state:  # NumPy takes it as is
                getattr(np.random, state["bit_generator"])().state = state
