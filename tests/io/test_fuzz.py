"""Fuzzing: thousands of mutated model files and checkpoints, fed to every loader.

Each outcome must be one of two: a ModelFileError, or a clean load of a file that means what
it says. For a file mutated byte by byte (bit flips, edits, truncations, header lies) that is
the original, unchanged: the checksum would have to collide otherwise. For a file re-signed
with a valid checksum after its metadata or tensors were made hostile — the checksum is no
signature — it is the network its own metadata describes, computed here independently of
chainrule from the file's tensors as the safetensors library reads them, and a checkpoint
that loads resumes without any error that is not chainrule's, leaving the model as it was if
it refuses.

The mutants are drawn from a fixed seed, so CI always runs the same ones;
CHAINRULE_FUZZ_SEED and CHAINRULE_FUZZ_MUTANTS draw others, or more, on a developer's machine.
"""

import copy
import json
import math
import os
import random
import time
from collections import Counter

import numpy as np
import pytest
import safetensors.numpy as stnp
from safetensors import safe_open

from chainrule import io, optim
from chainrule.errors import ChainruleError, DivergenceError, ModelFileError
from chainrule.nn import LeakyReLU, Linear, Sequential, Softmax, Tanh, mlp
from chainrule.runs.model import TrainedModel
from chainrule.train import EarlyStopping, fit

SEED = int(os.environ.get("CHAINRULE_FUZZ_SEED", "10"))
MUTANTS = int(os.environ.get("CHAINRULE_FUZZ_MUTANTS", "4000"))
X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)


# --- the valid files every mutant starts from ------------------------------------------------
def _model_file(folder):
    model = Sequential({"hidden": Linear(3, 4, rng=0), "act": LeakyReLU(0.1),
                        "2": Sequential(Linear(4, 2, rng=1), Tanh()), "out": Softmax(axis=-1)})
    model[0].bias.requires_grad_(False)
    io.save_model(model, folder / "model.safetensors", metadata={
        "task": "classification", "loss": "cross_entropy", "feature_names": ["a", "b", "c"],
        "target_names": ["no", "yes"], "mean": [0.0, 1.0, 2.0], "std": [1.0, 2.0, 3.0]})
    return (folder / "model.safetensors").read_bytes()


def _checkpoint_file(folder):
    """A checkpoint as fit writes one, halfway through an epoch: Adam's moments and step
    counts, early stopping's best weights, a partial epoch, a PCG64 generator state."""
    model = mlp([3, 4, 2], "tanh", rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    path = folder / "checkpoint.safetensors"
    fit(model, "mse", optimizer, X, Y, epochs=2, batch_size=4, seed=3,
        validation_data=(X, Y), callbacks=[EarlyStopping(patience=3)], checkpoint=str(path),
        checkpoint_config={"lr": 0.01}, checkpoint_every=0)
    tensors, metadata = io.load_state(path)
    history = json.loads(metadata["history"])
    history["partial"] = {"loss_sum": 1.5, "count": 4}
    metadata["history"] = json.dumps(history)
    io.save_state(path, tensors, metadata)
    return path.read_bytes()


# --- mutations -------------------------------------------------------------------------------
ATOMS = [None, True, False, 0, -1, 1, 2, 3, 2**31, 2**62, 2**64, 10**30, -(2**63), 0.5, -0.5,
         1e308, -1e308, math.nan, math.inf, -math.inf, "", "x", "\ud800", "\udfff", "forward",
         "__class__", "_modules", "state_dict", "0", "a.b", "Linear", "Sequential", "PCG64",
         "MT19937", "Adam", "float64", "int8", [], {}, [None], {"": None}, [[[[]]]]]


def _atom(rng):
    return copy.deepcopy(rng.choice(ATOMS))


def _paths(value, prefix=()):
    """Every place in a JSON value: (path to it, the value there)."""
    found = [(prefix, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutate_json(rng, value):
    """One structural change somewhere in a JSON value: a leaf or a subtree replaced by an
    atom, a key dropped or added, a list emptied or doubled."""
    value = copy.deepcopy(value)
    path, _ = rng.choice(_paths(value))
    if not path:
        return _atom(rng) if rng.random() < 0.5 else value
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    how = rng.random()
    if how < 0.6:
        parent[path[-1]] = _atom(rng)
    elif how < 0.75 and isinstance(parent, dict):
        del parent[path[-1]]
    elif how < 0.9 and isinstance(parent, dict):
        parent[rng.choice(["name", "extra", "type", "count", "bias", "epoch", "best"])] = \
            _atom(rng)
    elif isinstance(parent[path[-1]], list):
        parent[path[-1]] = parent[path[-1]] * rng.choice([0, 2, 700])
    else:
        parent[path[-1]] = [parent[path[-1]]]
    return value


def _flip_bits(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _edit_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data) + 1)
        how = rng.random()
        if how < 0.4 and i < len(data):
            data[i] = rng.randrange(256)
        elif how < 0.7:
            data[i:i] = bytes([rng.randrange(256)])
        elif i < len(data):
            del data[i]
    return bytes(data)


def _truncate_or_extend(rng, data):
    if rng.random() < 0.75:
        return data[:rng.randrange(len(data))]
    return data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))


def _header_lie(rng, data):
    """The header rewritten to lie (length prefix, a tensor's dtype, shape or offsets, the
    metadata), the stored checksum left as it was."""
    length = int.from_bytes(data[:8], "little")
    header, buffer = json.loads(data[8:8 + length]), data[8 + length:]
    if rng.random() < 0.2:
        lie = rng.choice([length + rng.randint(1, 9), length - rng.randint(1, 9), 2**63,
                          len(data), 0, 100 * 2**20 + 1])
        return lie.to_bytes(8, "little") + data[8:]
    text = json.dumps(_mutate_json(rng, header)).encode()
    return len(text).to_bytes(8, "little") + text + buffer


def _resigned_metadata(rng, data, folder):
    """A metadata entry made hostile, then the file re-signed with a valid checksum."""
    tensors, metadata = io.load_state(_write(folder, "base.safetensors", data))
    key = rng.choice([*sorted(metadata), "extra"])
    try:
        value = json.loads(metadata.get(key, "null"))
    except ValueError:
        value = metadata.get(key)
    changed = _mutate_json(rng, value) if rng.random() < 0.8 else _atom(rng)
    text = changed if isinstance(changed, str) and rng.random() < 0.5 else json.dumps(changed)
    metadata[key] = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return _resigned(folder, tensors, metadata)


def _resigned_tensors(rng, data, folder):
    """A tensor dropped, added, renamed, reshaped or of another dtype, or a layer renamed
    with its tensors (e.g. to 'forward'), then the file re-signed."""
    tensors, metadata = io.load_state(_write(folder, "base.safetensors", data))
    name = rng.choice(sorted(tensors))
    how = rng.randrange(6)
    if how == 0:
        del tensors[name]
    elif how == 1:
        tensors[rng.choice([name + "x", "optim.0.step", "optim.9.exp_avg", "model.9.weight",
                            "callback.EarlyStopping.best_weights.0.weight", "other"])] = \
            np.zeros(rng.choice([(), (1,), (4, 3)]), np.float32)
    elif how == 2:
        tensors[name] = tensors[name].reshape(-1)[:max(tensors[name].size - 1, 0)]
    elif how == 3:
        tensors[name] = tensors[name].astype(rng.choice([np.float64, np.float16, np.int64,
                                                         np.bool_]))
    elif how == 4:
        tensors[name] = np.asarray(tensors[name] * rng.choice([-1, 0, 2**40, math.nan]))
    else:
        layers = json.loads(metadata["architecture"])
        index = rng.randrange(len(layers))
        old = layers[index].get("name", str(index))
        new = rng.choice(["forward", "__class__", "_modules", "state_dict", "parameters",
                          "training", "x", "9", "_x"])
        layers[index]["name"] = new
        metadata["architecture"] = json.dumps(layers)
        tensors = {_renamed(key, old, new): array for key, array in tensors.items()}
    return _resigned(folder, tensors, metadata)


def _renamed(key, old, new):
    prefix = "model." if key.startswith("model.") else ""
    rest = key.removeprefix(prefix)
    return f"{prefix}{new}{rest[len(old):]}" if rest.startswith(f"{old}.") else key


def _resigned(folder, tensors, metadata):
    path = folder / "resigned.safetensors"
    io.save_state(path, tensors, metadata)
    return path.read_bytes()


def _random_bytes(rng, data):
    if rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(600)))
    return (bytes(rng.randrange(256) for _ in range(8)) + b"{"
            + bytes(rng.randrange(256) for _ in range(rng.randrange(300))))


RAW = {"bit flips": _flip_bits, "byte edits": _edit_bytes, "truncated or extended":
       _truncate_or_extend, "header lies": _header_lie, "random bytes": _random_bytes}
RESIGNED = {"hostile metadata, re-signed": _resigned_metadata,
            "hostile tensors, re-signed": _resigned_tensors}


# --- what a clean load must mean -------------------------------------------------------------
def _reference(layers, tensors, x, prefix=""):
    """The network the architecture describes, in plain NumPy, from the file's tensors."""
    for index, layer in enumerate(layers):
        name, kind = f"{prefix}{layer.get('name', index)}", layer["type"]
        if kind == "Linear":
            x = x @ tensors[f"{name}.weight"].T
            x = x + tensors[f"{name}.bias"] if layer["bias"] else x
        elif kind == "Sequential":
            x = _reference(layer["layers"], tensors, x, f"{name}.")
        elif kind in ("Softmax", "LogSoftmax"):
            shifted = x - x.max(axis=layer["axis"], keepdims=True)
            log = shifted - np.log(np.exp(shifted).sum(axis=layer["axis"], keepdims=True))
            x = log if kind == "LogSoftmax" else np.exp(log)
        elif kind == "LeakyReLU":
            x = np.where(x > 0, x, layer["negative_slope"] * x)
        else:
            x = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh,
                 "ReLU": lambda v: np.maximum(v, 0), "Identity": lambda v: v,
                 "Softplus": lambda v: np.logaddexp(0, v)}[kind](x)
    return x


def _means_what_it_says(path, model, prefix=""):
    """The loaded network computes what the file's own architecture and tensors describe,
    both read by the safetensors library, not by chainrule."""
    with safe_open(path, framework="numpy") as file:
        raw = file.metadata()
    tensors = {name.removeprefix(prefix): array for name, array in stnp.load_file(path).items()
               if name.startswith(prefix)}
    layers = json.loads(raw["architecture"])
    first = next((layer for layer in _flat(layers) if layer["type"] == "Linear"), None)
    x = np.random.default_rng(2).normal(size=(5, 3 if first is None else first["in_features"]))
    x = x.astype(raw["dtype"])
    with np.errstate(all="ignore"):
        try:
            expected = _reference(layers, tensors, x)
        except (ValueError, IndexError):  # e.g. a softmax axis the input does not have
            return
        got = model(x).data
    assert got.shape == expected.shape, (got.shape, expected.shape, layers)
    if np.isfinite(expected).all() and np.abs(expected).max(initial=0) < 1e6:
        assert np.allclose(got, expected, rtol=1e-3, atol=1e-4), (got, expected, layers)
    frozen = set(json.loads(raw["frozen"]))
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == frozen


def _flat(layers):
    for layer in layers:
        yield layer
        if layer["type"] == "Sequential":
            yield from _flat(layer["layers"])


def _resumes(checkpoint):
    """fit continues from the checkpoint, or refuses with chainrule's own error and leaves the
    model as it was."""
    model = checkpoint.model
    linears = [m for m in model.modules() if isinstance(m, Linear)]
    if not linears or linears[0].in_features != 3 or linears[-1].out_features != 2:
        return "resume skipped"  # not a network for these data
    kind = optim.OPTIMIZERS.get(checkpoint.optimizer_state["optimizer"].lower())
    if kind is None:
        return "resume skipped"
    before = {k: v.copy() for k, v in model.state_dict().items()}
    optimizer = kind(model.parameters(), lr=0.01)
    try:
        with np.errstate(all="ignore"):
            dtype = linears[0].weight.dtype
            fit(model, "mse", optimizer, X.astype(dtype), Y.astype(dtype),
                epochs=checkpoint.epoch + 1, batch_size=4, seed=3, resume=checkpoint)
    except DivergenceError:  # weights a hostile file made NaN or huge
        return "resume diverged"
    except ChainruleError:
        after = model.state_dict()
        assert all(np.array_equal(after[k], v, equal_nan=True) for k, v in before.items())
        return "resume refused"
    return "resumed"


def _same(a, b):
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b or (a != a and b != b)


# --- the campaign ----------------------------------------------------------------------------
def _write(folder, name, data):
    (folder / name).write_bytes(data)
    return folder / name


def _outcome(reader, path, original, resigned, kind):
    """What one loader made of one mutant: "refused", or what the clean load was checked to
    mean. Any exception other than ModelFileError fails the test, naming the mutant."""
    try:
        value = reader(path)
    except ModelFileError:
        return "refused"
    if reader is io.load_state and not resigned and "checksum" in value[1]:
        # (without one it is a plain safetensors file, which may hold anything)
        assert _same(value, original[reader]), "a mutated file loaded as something else"
    elif reader is io.load_metadata and not resigned:
        assert _same(value, original[reader])
    elif reader is io.load:
        if not resigned:
            assert _same(value.state_dict(), original[reader].state_dict())
            assert repr(value) == repr(original[reader])
        _means_what_it_says(path, value, "model." if kind == "checkpoint" else "")
    elif reader is io.load_checkpoint:
        if not resigned:
            assert _same(value.optimizer_state, original[reader].optimizer_state)
            assert _same(value.rng_state, original[reader].rng_state)
        _means_what_it_says(path, value.model, "model.")
        return _resumes(value)
    return "loaded"


READERS = {"model": (io.load, io.load_metadata, io.load_state, TrainedModel.load),
           "checkpoint": (io.load, io.load_metadata, io.load_state, io.load_checkpoint)}


def test_every_loader_refuses_or_loads_what_the_file_means(tmp_path):
    bases = {"model": _model_file(tmp_path), "checkpoint": _checkpoint_file(tmp_path)}
    originals = {kind: {reader: reader(_write(tmp_path, "orig.safetensors", data))
                        for reader in READERS[kind]} for kind, data in bases.items()}
    families = {**RAW, **RESIGNED}
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    start = time.perf_counter()
    for index in range(MUTANTS):
        kind = ("model", "checkpoint")[index % 2]
        family = list(families)[index // 2 % len(families)]
        mutate = families[family]
        data = (mutate(rng, bases[kind], tmp_path) if family in RESIGNED
                else mutate(rng, bases[kind]))
        path = _write(tmp_path, "mutant.safetensors", data)
        for reader in READERS[kind]:
            try:
                outcome = _outcome(reader, path, originals[kind], family in RESIGNED, kind)
            except Exception as error:
                (tmp_path / "failing.safetensors").write_bytes(data)
                pytest.fail(f"mutant {index} ({kind}, {family}), {reader.__qualname__}: "
                            f"{type(error).__name__}: {error}"[:2000])
            outcomes[family, reader.__qualname__, outcome] += 1
    seconds = time.perf_counter() - start
    print(f"\n{MUTANTS} mutants in {seconds:.1f} s")
    for key, count in sorted(outcomes.items()):
        print(f"  {count:5d}  {' / '.join(key)}")
    assert MUTANTS >= 2000 or "CHAINRULE_FUZZ_MUTANTS" in os.environ
    loaded = {key for key in outcomes if key[2] != "refused"}
    refused = {key for key in outcomes if key[2] == "refused"}
    assert {k[0] for k in loaded} >= {"hostile metadata, re-signed", "hostile tensors, "
                                      "re-signed", "header lies"}, "too few loads: weak test"
    assert {k[0] for k in refused} == set(families)
    assert outcomes.keys() & {(f, "load_checkpoint", "resumed") for f in RESIGNED}
