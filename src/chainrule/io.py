"""Model and checkpoint files: safetensors, with chainrule's checks on top, written atomically.

A chainrule file is a safetensors file (https://huggingface.co/docs/safetensors): an 8-byte
header length, a JSON header naming each tensor's dtype, shape and byte offsets and holding
string metadata under "__metadata__", then the tensors' bytes. The `safetensors` library writes
the container (`safetensors.numpy.save`) and parses it (`safe_open`), refusing a malformed one.
What this module adds is chainrule's own: other formats refused by name (a pickle is never
unpickled), a checksum over the metadata and the tensors, the metadata's schema, and atomic
writes. A model file's metadata says how to rebuild the network, a checkpoint's how to resume:
Note [the metadata of a chainrule file] in fileschema.py, which also checks it.

Note [loading hostile files]
    Loading never unpickles and never runs code from the file. First chainrule looks at the
    file itself: a regular, non-empty file, not a pickle, a PyTorch zip or a NumPy .npy/.npz
    (each named in the error), whose header length fits the file and `MAX_HEADER_BYTES`. Then
    the safetensors library parses the header and refuses what does not add up (invalid JSON,
    unknown dtypes, spans that are not shape × itemsize, gaps, overlaps, trailing bytes,
    tensors past the end). chainrule refuses more than `MAX_TENSORS` tensors, dtypes it does
    not use (bfloat16, complex, float8) and shapes NumPy cannot allocate, before it reads any
    tensor (with pread(2), not a memory map, so a file truncated meanwhile is an error, not a
    crash). Then the checksum, then the metadata's schema, then the tensors against the
    architecture. The checksum is not a signature — anyone can re-sign an edited file — so
    every check after it holds alone: a file that passes them all is rebuilt into exactly the
    network its metadata describes, and a checkpoint that loads resumes. Every failure is a
    ModelFileError, raised before anything is returned, so a failed load leaves nothing
    half-loaded.

Note [the checksum]
    Version 2: SHA-256 of the canonical JSON of {"metadata": every metadata entry but
    "checksum", "tensors": {name: [dtype, shape]}} (keys sorted, no spaces, ASCII), followed by
    every tensor's bytes (little-endian, C order) in order of name. So every byte that matters
    is covered — a flipped digit in "epoch" or in a stored feature mean is caught like one in a
    weight — and the sum does not depend on the layout (key order, padding, tensor order), so a
    file that any safetensors writer rewrote with the same metadata still verifies. A chainrule
    file without a checksum is refused. Version 1 files hold SHA-256 of the data buffer only;
    they still load with that check, which does not cover their metadata (save them again to
    upgrade). A file without format_version (from `save_state`) may hold either sum.

Note [atomic writes]
    Every file is written to a temporary file in the same folder, ".<name>.<host>-<pid>.<random>
    .tmp", flushed and fsync'ed, then renamed over the target (`os.replace`, atomic on POSIX and
    Windows), and the folder is fsync'ed. A crash, a kill -9 or a full disk during a save
    leaves the previous file whole; at worst the temporary file stays behind, which no load
    reads. The next write of the same file removes such leftovers (`remove_stale_temporaries`):
    those whose process is gone on this machine, and any older than `STALE_SECONDS` (those of
    another machine, and ".<name>.<random>.tmp" from chainrule 0.1.0, which hold no
    process id). A run folder does the same for all of its files when a run opens it.
    `save_checkpoint(..., keep_previous=True)` first keeps the checkpoint it replaces as
    `previous_path(path)` (checkpoint.prev.safetensors), a hard link where the system has them,
    so that a damaged newest checkpoint still leaves one to resume from.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from chainrule import fileschema as schema
from chainrule.errors import ChainruleError, ConfigError, ModelFileError
from chainrule.fileschema import CHECKPOINT_FORMAT, FORMAT_VERSION, MAX_LAYERS, MODEL_FORMAT
from chainrule.nn.layers import Linear, Sequential
from chainrule.nn.module import Module
from chainrule.optim import OPTIMIZERS
from chainrule.validate import is_int
from chainrule.version import __version__

__all__ = [
    "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_LAYERS", "MAX_TENSORS", "STALE_SECONDS",
    "Checkpoint", "atomic_write_bytes", "config_differences", "load", "load_checkpoint",
    "load_metadata", "load_state", "previous_path", "remove_stale_temporaries",
    "save_checkpoint", "save_model", "save_state",
]

MAX_HEADER_BYTES = 100 * 2**20  # the limit the safetensors library itself sets
MAX_TENSORS = 65_536  # a checkpoint of MAX_LAYERS Linear layers with Adam holds 40,960
STALE_SECONDS = 24 * 3600  # a temporary file this old belongs to no write still under way

PathLike = str | os.PathLike

# The safetensors dtypes chainrule reads and writes ↔ NumPy dtypes (little-endian). bfloat16
# and float8 have no NumPy type; complex is no parameter's.
_DTYPES = {
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"),
}
_DTYPE_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in _DTYPES.items()}
_MAX_TENSOR_BYTES = 2**62  # what NumPy can address, with room to spare


# --- atomic writes (Note [atomic writes]) ----------------------------------------------------
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_writing: set[str] = set()  # the temporary files this process is writing now


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either its old contents or all of `data`.

    Raises ModelFileError naming the path and the system's reason ("No space left on device",
    "File too large", "Permission denied") if the folder is missing or read-only or a write
    fails; the temporary file is removed and an existing `path` is left as it was. A symbolic
    link is followed (the file it points to is replaced); a device, pipe or folder is refused.
    Stale temporary files of `path` are removed first (Note [atomic writes]).
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    folder = _writable_folder(path)
    remove_stale_temporaries(folder, [path.name])
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{_HOST}-{os.getpid()}.",
                                    suffix=".tmp")
    except OSError as error:
        raise _save_error(path, error) from error
    _writing.add(os.path.abspath(temp))
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _file_mode(path))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as error:  # KeyboardInterrupt too: never leave the temporary file
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise _save_error(path, error) from error
        raise
    finally:
        _writing.discard(os.path.abspath(temp))
    _fsync_folder(folder)


def remove_stale_temporaries(folder: PathLike, names: Iterable[str]) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes of `names` left in `folder`
    (a kill -9 in the middle of a save), and return them. Only chainrule's own are touched, by
    their name: those whose process is gone on this machine, and any older than STALE_SECONDS.
    """
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"\.(?:{alternatives})\.(?:([0-9a-f]{{6}})-(\d{{1,10}})\.)?"
                         r"[a-z0-9_]{8}\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and _stale(entry, match[1], match[2]):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _stale(entry: os.DirEntry, host: str | None, pid: str | None) -> bool:
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        age = time.time() - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    if host != _HOST or pid is None:  # another machine's, or without a process id: by age
        return False
    if int(pid) == os.getpid():  # ours, or a killed process's that had our id
        return os.path.abspath(entry.path) not in _writing
    return not _process_running(int(pid))


def _process_running(pid: int) -> bool:
    """Whether process `pid` runs on this machine (True where that cannot be known)."""
    if os.name == "nt":  # os.kill would terminate it
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def _save_error(path: Path, error: OSError) -> ModelFileError:
    reason = error.strerror or str(error)
    return ModelFileError(f"could not save {path}: {reason}; the previous file, if any, is "
                          "unchanged")


def _writable_folder(path: Path) -> Path:
    """The folder `path` goes into, after checking that it exists and can be written to."""
    folder = path.parent
    if not folder.is_dir():
        raise ModelFileError(f"cannot save {path}: the folder {folder} does not exist; "
                             "create it first")
    if path.is_dir():
        raise ModelFileError(f"cannot save {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ModelFileError(f"cannot save {path}: it exists and is not a regular file (a "
                             "device or a pipe), which a save must not replace")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ModelFileError(f"cannot save {path}: the folder {folder} is not writable")
    return folder


def _file_mode(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets rw-r--r-- (mkstemp's is rw-------)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # the system wrote nothing and reported no error
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; some systems (Windows) cannot open a folder, which is fine."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def previous_path(path: PathLike) -> Path:
    """Where the checkpoint `path` replaced is kept: checkpoint.safetensors →
    checkpoint.prev.safetensors (see `save_checkpoint`'s keep_previous)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _keep_previous(path: Path) -> None:
    """Make `path` also `previous_path(path)`, atomically: a hard link, or else a rename."""
    previous = previous_path(path)
    remove_stale_temporaries(previous.parent, [previous.name])
    link = previous.with_name(f".{previous.name}.{_HOST}-{os.getpid()}.{secrets.token_hex(4)}"
                              ".tmp")
    try:
        os.link(path, link)
        os.replace(link, previous)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(link)
        try:
            os.replace(path, previous)
        except OSError as error:
            raise _save_error(previous, error) from error


# --- the container: safetensors, a checksum, other formats refused ---------------------------
def save_state(path: PathLike, tensors: Mapping[str, np.ndarray],
               metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays and string metadata to a safetensors file, atomically.

    The low-level writer under `save_model` and `save_checkpoint`, and the way to save a custom
    module: `save_state(path, model.state_dict(), {"note": "..."})`. The metadata gains a
    "checksum" entry. Any safetensors reader can load the file.
    """
    metadata = dict(metadata or {})
    bad = [key for key, value in metadata.items() if not (_text(key) and _text(value))]
    if bad:
        raise ConfigError(f"save_state: metadata keys and values must be strings of valid "
                          f"Unicode; {bad!r:.200} are not (store other values as JSON text)")
    names = [name for name in tensors if not _text(name) or name == "__metadata__"]
    if names:
        raise ConfigError(f"save_state: tensor names must be strings other than "
                          f"'__metadata__', got {names!r:.200}")
    arrays = {name: _little_endian(name, array) for name, array in tensors.items()}
    metadata["checksum"] = _checksum(metadata, arrays)
    atomic_write_bytes(path, safetensors.numpy.save(arrays, metadata))


def _text(value: Any) -> bool:
    """A string that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _little_endian(name: str, array: Any) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise ConfigError(f"save_state: tensor {name!r} must be a NumPy array, got "
                          f"{type(array).__name__}")
    if (array.dtype.kind, array.dtype.itemsize) not in _DTYPE_NAMES:
        raise ConfigError(f"save_state: tensor {name!r} has dtype {array.dtype}; files hold "
                          "floating, integer and boolean arrays")
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def _checksum(metadata: Mapping[str, str], tensors: Mapping[str, np.ndarray]) -> str:
    """The checksum of a version-2 file (Note [the checksum])."""
    canonical = {"metadata": {k: v for k, v in metadata.items() if k != "checksum"},
                 "tensors": {name: [_DTYPE_NAMES[a.dtype.kind, a.dtype.itemsize], list(a.shape)]
                             for name, a in tensors.items()}}
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"))
                            .encode("ascii"))
    for name in sorted(tensors):
        digest.update(_little_endian(name, tensors[name]).tobytes())
    return digest.hexdigest()


def _read(path: PathLike, formats: tuple[str, ...] | None
          ) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """(metadata, tensors) of a file whose container and checksum are sound (Note [loading
    hostile files]); `formats`: the chainrule formats accepted (None: any safetensors file)."""
    _look_at(path)
    try:
        with safe_open(path, framework="numpy", backend="pread") as file:
            metadata = file.metadata() or {}
            if formats is not None:
                _check_format(path, metadata, formats)
            names = file.offset_keys()
            if len(names) > MAX_TENSORS:
                raise ModelFileError(f"{path} holds {len(names)} tensors, more than the "
                                     f"{MAX_TENSORS} chainrule reads; it is corrupt or hostile")
            for name in names:
                _check_tensor(path, name, file.get_slice(name))
            tensors = {name: file.get_tensor(name) for name in sorted(names)}
    except SafetensorError as error:
        reason = str(error).removeprefix("Error while deserializing header: ")
        raise ModelFileError(f"{path} is not a sound safetensors file ({reason:.300}): it is "
                             "truncated, damaged or of another format") from None
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}") from error
    _check_checksum(path, metadata, tensors, names)
    return metadata, tensors


def _look_at(path: PathLike) -> None:
    """Before the library parses it: a regular file, not another format, its header inside."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ModelFileError(f"{path} is not a regular file")
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(64 * 1024)
            file.seek(max(size - 16, 0))
            tail = file.read(16)
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}") from error
    _refuse_other_formats(path, head, tail, size)
    length = int.from_bytes(head[:8], "little")
    if length > size - 8:
        raise ModelFileError(
            f"{path} is truncated or not a safetensors file: its header claims {length} bytes "
            f"but only {size - 8} follow the 8-byte length"
        )
    if length > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: its header claims {length} bytes, more than the "
                             f"{MAX_HEADER_BYTES}-byte limit; the file is corrupt or hostile")


def _refuse_other_formats(path: PathLike, head: bytes, tail: bytes, size: int) -> None:
    """Name the formats people rename to a model's extension, all of which can hold pickles.

    head: the file's first 64 KiB; tail: its last 16 bytes.
    """
    refusal = "chainrule refuses to load pickles because unpickling can run arbitrary code"
    if size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes); it holds no model")
    if len(head) > 8 and head[8:9] == b"{":  # looks like safetensors
        return
    if _is_pickle(head, tail):
        raise ModelFileError(f"{path} is a Python pickle, not a chainrule model file; {refusal}")
    if head.startswith(b"PK\x03\x04"):
        if b"data.pkl" in head:
            kind = "a PyTorch-style zip archive holding a pickle (data.pkl)"
        elif b".npy" in head:
            kind = "a NumPy .npz archive, whose object arrays are stored as pickles"
        else:
            kind = "a zip archive, not a safetensors file"
        raise ModelFileError(f"{path} is {kind}; {refusal}")
    if head.startswith(b"\x93NUMPY"):
        raise ModelFileError(f"{path} is a NumPy .npy file, whose object arrays are stored as "
                             f"pickles; {refusal}")
    if size < 8:
        raise ModelFileError(f"{path} is truncated: it has {size} bytes, fewer than the 8-byte "
                             "header length every safetensors file starts with")


def _is_pickle(head: bytes, tail: bytes) -> bool:
    """Protocols 2-5 start with PROTO (0x80) and the protocol number; 0 and 1 often start with
    GLOBAL 'c' and a "module\\nname\\n" line pair, or with MARK '(', EMPTY_LIST ']' or
    EMPTY_DICT '}' and end with STOP '.'."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if re.match(rb"c[\w.]+\n[\w.]+\n", head):
        return True
    return head[:1] in (b"(", b"]", b"}", b"c") and tail.rstrip()[-1:] == b"."


def _check_tensor(path: PathLike, name: str, tensor: Any) -> None:
    """A dtype chainrule uses and a shape NumPy can allocate, before the tensor is read."""
    where = f"{path}: tensor {name!r:.80}"
    dtype, shape = _DTYPES.get(tensor.get_dtype()), tensor.get_shape()
    if dtype is None:
        raise ModelFileError(f"{where} has dtype {tensor.get_dtype()}; chainrule reads "
                             f"{', '.join(_DTYPES)}")
    if len(shape) > schema.MAX_DIMS:
        raise ModelFileError(f"{where} has {len(shape)} dimensions; NumPy arrays have at most "
                             f"{schema.MAX_DIMS}")
    if math.prod(max(n, 1) for n in shape) * dtype.itemsize > _MAX_TENSOR_BYTES:
        raise ModelFileError(f"{where} has shape {tuple(shape)}, too large for an array "
                             f"(over 2**62 bytes, even if one dimension is 0)")


def _check_checksum(path: PathLike, metadata: Mapping[str, str],
                    tensors: Mapping[str, np.ndarray], offset_order: list[str]) -> None:
    """Compare the stored checksum (Note [the checksum]); a chainrule file must have one."""
    stored = metadata.get("checksum")
    if stored is None:
        if "format" in metadata:
            raise ModelFileError(f"{path} has no 'checksum' metadata entry, which every "
                                 "chainrule file has; it was damaged or edited by hand")
        return  # a safetensors file from another writer
    version = metadata.get("format_version")
    accepted = [] if version == "1" else [_checksum(metadata, tensors)]
    if version in ("1", None):  # the data buffer: the tensors' bytes in the file's order
        buffer = hashlib.sha256()
        for name in offset_order:
            buffer.update(_little_endian(name, tensors[name]).tobytes())
        accepted.append(buffer.hexdigest())
    if stored not in accepted:
        raise ModelFileError(f"{path} is corrupt: the checksum of its metadata and tensor data "
                             "does not match the one stored in the file (a changed or flipped "
                             "byte)")


def load_state(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of any safetensors file, fully checked (Note [loading hostile files]).

    The checksum is compared when the file has one (every file chainrule writes does).
    """
    metadata, tensors = _read(path, formats=None)
    return tensors, metadata


def _check_format(path: PathLike, metadata: Mapping[str, str], formats: tuple[str, ...]) -> None:
    """The file must be a chainrule file of one of `formats`, not from a newer format version
    (the schema checks the rest)."""
    kind, version = metadata.get("format"), metadata.get("format_version", "")
    if kind is None:
        raise ModelFileError(f"{path} is a safetensors file without chainrule metadata (no "
                             "'format' entry); read its tensors with chainrule.io.load_state")
    if version.isascii() and version.isdigit() and int(version) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer chainrule (format version {int(version)}); this "
            f"version reads up to {FORMAT_VERSION}: upgrade chainrule"
        )
    if kind in (MODEL_FORMAT, CHECKPOINT_FORMAT) and kind not in formats:
        hint = ("it holds no optimizer state to resume from" if kind == MODEL_FORMAT
                else "load its model with chainrule.load")
        raise ModelFileError(f"{path} is a {kind} file, not a {' or '.join(formats)} file; "
                             f"{hint}")


def _to_json(owner: str, key: str, value: Any) -> str:
    """JSON text of `value` (NumPy numbers and arrays become plain numbers and lists)."""
    def plain(obj: Any) -> Any:
        if isinstance(obj, np.generic | np.ndarray):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON-serializable")

    try:
        text = json.dumps(value, default=plain, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate cannot be stored
    except (TypeError, ValueError) as error:  # UnicodeEncodeError is a ValueError
        raise ConfigError(f"{owner}: {key} must be JSON-able (dicts, lists, strings of valid "
                          f"Unicode, numbers, booleans, None): {error}") from None
    return text


# --- architecture: describe a Sequential, and rebuild it ---------------------------------------
def _describe(module: Module, owner: str) -> dict[str, Any]:
    """The architecture entry of one built-in module (ConfigError for any other module)."""
    kind = type(module).__name__
    if schema.CLASSES.get(kind) is not type(module):
        raise ConfigError(
            f"{owner}: cannot describe {kind} — only a Sequential of built-in layers (Linear, "
            "the activations, BatchNorm1d and LayerNorm) can be rebuilt from a file. For a "
            "custom module save its weights with chainrule.io.save_state(path, "
            "model.state_dict()) and load them with load_state and model.load_state_dict"
        )
    if isinstance(module, Linear):
        return {"type": kind, "in_features": module.in_features,
                "out_features": module.out_features, "bias": module.bias is not None}
    if isinstance(module, Sequential):
        return {"type": kind, "layers": _describe_layers(module, owner)}
    return {"type": kind, **{key: getattr(module, key) for key in schema.SETTINGS[kind]}}


def _describe_layers(model: Sequential, owner: str) -> list[dict[str, Any]]:
    layers = []
    for index, (name, child) in enumerate(model.named_children()):
        entry = _describe(child, owner)
        layers.append(entry if name == str(index) else {**entry, "name": name})
    return layers


def _model_metadata(model: Module, kind: str, owner: str) -> dict[str, str]:
    """The metadata every chainrule file has (Note [the metadata of a chainrule file])."""
    if type(model) is not Sequential:
        _describe(model, owner)  # raises the "only a Sequential" error for non-Sequentials
        raise ConfigError(f"{owner}: the model must be a Sequential, got "
                          f"{type(model).__name__}; wrap it: Sequential(model)")
    dtypes = {param.dtype for param in model.parameters()}
    if len(dtypes) > 1:
        raise ConfigError(f"{owner}: the model mixes parameter dtypes {sorted(map(str, dtypes))};"
                          " convert them to one dtype first")
    frozen = [name for name, param in model.named_parameters() if not param.requires_grad]
    return {
        "format": kind, "format_version": str(FORMAT_VERSION),
        "chainrule_version": __version__,
        "architecture": _to_json(owner, "the architecture", _describe_layers(model, owner)),
        "dtype": str(dtypes.pop() if dtypes else "float32"), "frozen": json.dumps(frozen),
    }


def _checked_for_saving(model: Module, metadata: dict[str, str], owner: str) -> None:
    """What the reader would refuse is refused here: the schema, and a layer in two places."""
    layers = schema.validated(owner, metadata, ConfigError).architecture
    if _tensor_shapes(layers) != _state_shapes(model):
        raise ConfigError(f"{owner}: the model shares a layer or parameter between two places, "
                          "which a file cannot rebuild; give each place its own layer")


def _state_shapes(model: Module) -> dict[str, tuple[int, ...]]:
    """The shape of every array in the model's state dict (parameters and buffers)."""
    return {**{name: param.shape for name, param in model.named_parameters()},
            **{name: array.shape for name, array in model.named_buffers()}}


def _tensor_shapes(layers: list[schema.Layer], prefix: str = "") -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape that a checked architecture makes: each parameter's and
    each buffer's (a BatchNorm1d's running statistics)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for index, layer in enumerate(layers):
        name = f"{prefix}{layer.name or index}"
        if isinstance(layer, schema.LinearLayer):
            shapes[f"{name}.weight"] = (layer.out_features, layer.in_features)
            if layer.bias:
                shapes[f"{name}.bias"] = (layer.out_features,)
        elif isinstance(layer, schema.BatchNormLayer):
            kept = ("weight", "bias") * layer.affine + ("running_mean", "running_var")
            shapes.update({f"{name}.{array}": (layer.features,) for array in kept})
        elif isinstance(layer, schema.LayerNormLayer):
            kept = ("weight", "bias") * layer.elementwise_affine
            shapes.update({f"{name}.{array}": (layer.features,) for array in kept})
        elif isinstance(layer, schema.SequentialLayer):
            shapes.update(_tensor_shapes(layer.layers, f"{name}."))
    return shapes


def _build(layers: list[schema.Layer], dtype: np.dtype) -> Sequential:
    """A Sequential from a checked architecture (weights are placeholders until loaded)."""
    modules: dict[str, Module] = {}
    for index, layer in enumerate(layers):
        if isinstance(layer, schema.SequentialLayer):
            module = _build(layer.layers, dtype)
        else:
            settings = layer.model_dump(exclude={"type", "name"})
            extra = ({"dtype": dtype, "rng": 0} if isinstance(layer, schema.LinearLayer) else
                     {"dtype": dtype} if isinstance(layer, schema.BatchNormLayer
                                                     | schema.LayerNormLayer) else {})
            module = schema.CLASSES[layer.type](**settings, **extra)
        modules[layer.name or str(index)] = module
    return Sequential(modules)


def _rebuild(path: PathLike, metadata: schema.ModelFile,
             tensors: dict[str, np.ndarray]) -> Sequential:
    """The model described by the metadata, with the tensors' values, after checking both."""
    _compare_tensors(path, _tensor_shapes(metadata.architecture), tensors,
                     np.dtype(metadata.dtype))
    try:
        model = _build(metadata.architecture, np.dtype(metadata.dtype))
        model.load_state_dict(tensors)
    except ChainruleError as error:
        raise ModelFileError(f"{path}: its architecture cannot be rebuilt: {error}") from error
    if not set(metadata.frozen) <= {name for name, _ in model.named_parameters()}:
        raise ModelFileError(f"{path}: 'frozen' lists {schema.listed(metadata.frozen)}, which are "
                             "not all parameters of the architecture")
    for name, param in model.named_parameters():
        param.requires_grad_(name not in metadata.frozen)
    return model


def _compare_tensors(path: PathLike, wanted: dict[str, tuple[int, ...]],
                     tensors: Mapping[str, np.ndarray], dtype: np.dtype,
                     what: str = "its architecture") -> None:
    """The tensors must be exactly the parameters `wanted`, shape for shape, all of `dtype`."""
    problems = []
    missing = [name for name in wanted if name not in tensors]
    extra = [name for name in tensors if name not in wanted]
    if missing:
        problems.append(f"tensors missing from the file: {schema.listed(missing)}")
    if extra:
        problems.append(f"unexpected tensors {what} does not use: {schema.listed(extra)}")
    problems += [f"tensor {name!r} has shape {tensors[name].shape} but {what} needs {shape}"
                 for name, shape in list(wanted.items())[:5]
                 if name in tensors and tensors[name].shape != shape]
    wrong = [f"{name!r} is {array.dtype}" for name, array in tensors.items()
             if array.dtype != dtype]
    if wrong:
        problems.append(f"the model's dtype is {dtype} but {schema.listed(wrong)}")
    if problems:
        raise ModelFileError(f"{path} does not match {what}: {'; '.join(problems)}")


# --- models ----------------------------------------------------------------------------------
def save_model(model: Module, path: PathLike, *, metadata: Mapping[str, Any] | None = None
               ) -> None:
    """Save `model` (a Sequential of built-in layers) so that `load(path)` rebuilds it.

    metadata: your own JSON-able facts (class names, feature count, the training config),
    returned by `load_metadata(path)["user"]`. The write is atomic (Note [atomic writes]).
    A custom module raises ConfigError: save it with `save_state(path, model.state_dict())`.

    >>> import chainrule as cr
    >>> model = cr.nn.mlp([2, 2, 2], "sigmoid", "sigmoid", rng=0)
    >>> save_model(model, "xor.safetensors", metadata={"classes": ["no", "yes"]})  # doctest: +SKIP
    """
    file_metadata = _model_metadata(model, MODEL_FORMAT, "save_model")
    file_metadata["user"] = _to_json("save_model", "metadata", dict(metadata or {}))
    _checked_for_saving(model, file_metadata, "save_model")
    save_state(path, model.state_dict(), file_metadata)


def load(path: PathLike) -> Sequential:
    """The model saved in `path` (a model file, or a checkpoint's model), rebuilt and loaded.

    Everything is checked first (Note [loading hostile files]); any problem is a
    ModelFileError that says what is wrong, and no model is returned half-loaded.
    """
    raw, tensors = _read(path, formats=(MODEL_FORMAT, CHECKPOINT_FORMAT))
    metadata = schema.validated(str(path), raw, ModelFileError)
    if metadata.format == CHECKPOINT_FORMAT:
        tensors = {name.removeprefix("model."): array for name, array in tensors.items()
                   if name.startswith("model.")}
    return _rebuild(path, metadata, tensors)


def load_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata of a chainrule file, decoded, and its tensors' dtypes and shapes.

    The whole file is read to compare the checksum, which covers the metadata. JSON entries
    come back parsed, format_version/epoch/step as ints, and "tensors" maps each tensor's
    name to {"dtype": "float32", "shape": [2, 2]}.
    """
    raw, tensors = _read(path, formats=(MODEL_FORMAT, CHECKPOINT_FORMAT))
    decoded = schema.validated(str(path), raw, ModelFileError).model_dump(exclude_unset=True)
    decoded["checksum"] = raw["checksum"]
    decoded["tensors"] = {name: {"dtype": str(array.dtype), "shape": list(array.shape)}
                          for name, array in tensors.items()}
    return decoded


# --- checkpoints ---------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """What `load_checkpoint` returns: everything needed to continue training exactly.

    model: the rebuilt model.  optimizer_state: in the optimizer's own state_dict layout, ready
    for `optimizer.load_state_dict`.  epoch, step: epochs and optimizer steps done.
    config: the training configuration.  rng_state: the random generators' states, as saved.
    scheduler_state, history: as saved, or None.  callbacks: each callback's state_dict(),
    by name, as saved.  metadata: the raw string metadata.  path: the file it was read from.
    """

    model: Sequential
    optimizer_state: dict[str, Any]
    epoch: int
    step: int
    config: dict[str, Any]
    rng_state: dict[str, Any]
    scheduler_state: dict[str, Any] | None
    history: dict[str, Any] | None
    metadata: dict[str, str]
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(path: PathLike, *, model: Module, optimizer: Any, epoch: int, step: int,
                    config: Mapping[str, Any], rng_state: Mapping[str, Any],
                    scheduler_state: Mapping[str, Any] | None = None,
                    history: Mapping[str, Any] | None = None,
                    metadata: Mapping[str, Any] | None = None,
                    callbacks: Mapping[str, Mapping[str, Any]] | None = None,
                    keep_previous: bool = False) -> None:
    """Save the state of a training run atomically, so that it can resume bit for bit.

    model: a Sequential of built-in layers.  optimizer: a chainrule optimizer (its
    `state_dict()` is stored).  epoch, step: epochs and optimizer steps completed.
    config: the run's settings (JSON-able).  rng_state: a NumPy generator state, or a dict of
    them, e.g. {"shuffle": generator.bit_generator.state}.  scheduler_state:
    `scheduler.state_dict()`.  history: the metrics so far (JSON-able; the keys `fit` writes
    have its types).  metadata: your own JSON-able facts, as for `save_model` (so
    `chainrule predict` can use a checkpoint like a model file).  callbacks: each callback's
    state by name (no dots); an entry that is a non-empty dict of NumPy arrays is stored as
    tensors, any other entry as JSON.  keep_previous: first keep the checkpoint now at `path`
    as `previous_path(path)` — pass it only for a file known to be whole (fit does for one it
    wrote or resumed from). Everything is checked as `load_checkpoint` checks it (ConfigError).
    """
    owner = "save_checkpoint"
    for key, value in (("epoch", epoch), ("step", step)):
        if not is_int(value) or value < 0:
            raise ConfigError(f"{owner}: {key} must be a non-negative int, got {value!r}")
    opt = optimizer.state_dict()
    file_metadata = _model_metadata(model, CHECKPOINT_FORMAT, owner)
    file_metadata.update({
        "user": _to_json(owner, "metadata", dict(metadata or {})),
        "optimizer": _to_json(owner, "the optimizer's state_dict()",
                              {key: v for key, v in opt.items() if key != "state"}),
        "epoch": str(int(epoch)), "step": str(int(step)),
        "config": _to_json(owner, "config", dict(config)),
        "rng_state": _to_json(owner, "rng_state", dict(rng_state)),
        "scheduler_state": _to_json(owner, "scheduler_state", _dict_or_none(scheduler_state)),
        "history": _to_json(owner, "history", _dict_or_none(history)),
    })
    tensors = {f"model.{name}": array for name, array in model.state_dict().items()}
    tensors.update({f"optim.{key}": np.asarray(array) for key, array in opt["state"].items()})
    callback_json: dict[str, dict[str, Any]] = {}
    for name, state in (callbacks or {}).items():
        callback_json[name] = {}
        for key, value in state.items():
            if "." in name or "." in key:
                raise ConfigError(f"{owner}: callback state {name}.{key}: no dots in names")
            if isinstance(value, Mapping) and value and all(
                    isinstance(a, np.ndarray) for a in value.values()):
                tensors.update({f"callback.{name}.{key}.{k}": a for k, a in value.items()})
            else:
                callback_json[name][key] = value
    file_metadata["callbacks"] = _to_json(owner, "callbacks", callback_json)
    _checked_for_saving(model, file_metadata, owner)
    if keep_previous and os.path.isfile(path):
        _keep_previous(Path(path))
    save_state(path, tensors, file_metadata)


def _dict_or_none(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """The checkpoint in `path`, fully checked before anything is returned.

    Besides the schema (Note [the metadata of a chainrule file]), the model and the optimizer's
    layout, the optimizer state is tried on a fresh optimizer of its kind (one of
    chainrule.optim's, over all of the model's parameters) and early stopping's best weights
    are compared with the model's; so a resume from a file that loaded cannot fail halfway.
    """
    raw, tensors = _read(path, formats=(CHECKPOINT_FORMAT,))
    metadata = schema.validated(str(path), raw, ModelFileError)
    assert isinstance(metadata, schema.CheckpointFile)
    groups: dict[str, dict[str, np.ndarray]] = {"model": {}, "optim": {}, "callback": {}}
    for name, array in tensors.items():
        group, _, key = name.partition(".")
        if group not in groups or not key:
            raise ModelFileError(f"{path}: unexpected tensor {name!r:.80}; a checkpoint holds "
                                 "only 'model.<name>', 'optim.<key>' and 'callback.<key>' "
                                 "tensors")
        groups[group][key] = array
    model = _rebuild(path, metadata, groups["model"])
    optimizer_state = _optimizer_state(path, metadata.optimizer, groups["optim"], model)
    values = metadata.model_dump(exclude_unset=True)
    return Checkpoint(
        model=model, optimizer_state=optimizer_state, epoch=metadata.epoch, step=metadata.step,
        config=values["config"], rng_state=values["rng_state"],
        scheduler_state=values["scheduler_state"], history=values["history"],
        metadata=dict(raw), path=Path(path),
        callbacks=_callback_states(path, values.get("callbacks", {}), groups["callback"], model,
                                   np.dtype(metadata.dtype)),
    )


def _callback_states(path: PathLike, states: dict[str, dict[str, Any]],
                     arrays: dict[str, np.ndarray], model: Sequential, dtype: np.dtype
                     ) -> dict[str, dict[str, Any]]:
    """The callbacks' states: the 'callbacks' JSON with the 'callback.' tensors put back."""
    entries: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for key, array in arrays.items():
        name, entry, tensor = (*key.split(".", 2), "", "")[:3]
        if name not in states or not entry or not tensor or entry in states[name]:
            raise ModelFileError(f"{path}: tensor 'callback.{key:.80}' is not "
                                 "'callback.<callback>.<entry>.<name>' of a saved callback")
        entries.setdefault((name, entry), {})[tensor] = array
    for (name, entry), tensors in entries.items():
        states[name][entry] = tensors
        if name.partition("#")[0] == "EarlyStopping" and entry == "best_weights":
            _compare_tensors(path, _state_shapes(model), tensors, dtype,
                             f"{name}'s best weights")
    return states


def _optimizer_state(path: PathLike, info: schema.OptimizerState, arrays: dict[str, np.ndarray],
                     model: Sequential) -> dict[str, Any]:
    """The optimizer's state_dict from the metadata and the 'optim.' tensors, tried on a fresh
    optimizer of its kind where it is one of chainrule's over all the model's parameters."""
    for key in arrays:
        index, _, buffer = key.partition(".")
        if not (index.isascii() and index.isdigit() and int(index) < info.num_params
                and buffer):
            raise ModelFileError(f"{path}: optimizer tensor 'optim.{key:.80}' is not "
                                 f"'optim.<parameter index>.<name>' with an index below "
                                 f"{info.num_params}")
    state = {**info.model_dump(exclude_none=True), "state": arrays}
    kind = next((cls for cls in OPTIMIZERS.values() if cls.__name__ == info.optimizer), None)
    params = list(model.parameters())
    if kind is not None and info.num_params == len(params):
        groups = params if info.groups is None else [
            {"params": [params[i] for i in group.params if i < len(params)]}
            for group in info.groups]
        try:
            kind(groups, lr=1.0).load_state_dict(state)
        except ChainruleError as error:
            raise ModelFileError(f"{path}: its optimizer state does not load: {error}") from None
    return state


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two configs, nested keys dotted, sorted.

    A key present in only one of them counts as differing.

    >>> config_differences({"lr": 0.1, "model": {"hidden": [4]}},
    ...                    {"lr": 0.5, "model": {"hidden": [4]}, "seed": 1})
    ['lr', 'seed']
    """
    return _differences(old, new, "")


_MISSING = object()


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    found = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found += _differences(a, b, f"{prefix}{key}.")
        elif not _same(a, b):
            found.append(f"{prefix}{key}")
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # e.g. arrays, whose == is elementwise
        return bool(np.array_equal(a, b))
