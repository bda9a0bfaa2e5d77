"""Model and checkpoint files: safetensors, atomic writes, and safe loading of hostile files.

A chainrule file is a safetensors file (https://huggingface.co/docs/safetensors):

    bytes 0..8        N, the header's length: an unsigned 64-bit little-endian integer
    bytes 8..8+N      the header: JSON, padded with spaces, of the form
                        {"__metadata__": {"format": "chainrule-model", ...},   # str → str
                         "0.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         ...}
    bytes 8+N..end    the data buffer: every tensor's bytes, little-endian, C order, packed
                      back to back; data_offsets are [start, end) within this buffer

Note [the metadata of a chainrule file]
    Every value in `__metadata__` is a string; the JSON ones are marked (json).
      format              "chainrule-model" or "chainrule-checkpoint"
      format_version      "2" (`FORMAT_VERSION`); a newer one is refused with "upgrade chainrule"
      chainrule_version   the version that wrote the file, e.g. "0.1.0"
      architecture (json) the layers of the Sequential, enough to rebuild it, e.g.
                          [{"type": "Linear", "in_features": 2, "out_features": 2, "bias": true},
                           {"type": "Sigmoid"}, {"type": "LeakyReLU", "negative_slope": 0.01}]
                          (an entry has "name" when its name is not its index; a nested
                          Sequential is {"type": "Sequential", "layers": [...]})
      dtype               the parameters' dtype, e.g. "float32"
      frozen (json)       names of the parameters with requires_grad=False, e.g. ["0.bias"]
      user (json)         the caller's own metadata: class names, feature count, config, ...
      checksum            SHA-256 (hex) of everything else in the file (Note [the checksum])
    A checkpoint also has
      optimizer (json)    {"optimizer": "Adam", "num_params": 4, "hyper": {"lr": ..., ...}}
      epoch, step         decimal integers: the epochs and optimizer steps done so far
      config (json)       the training configuration, compared on resume
      rng_state (json)    random generator state(s), e.g. Generator.bit_generator.state
      scheduler_state (json), history (json)    a dict each, or null
      callbacks (json)    the state of fit's callbacks (e.g. early stopping), by callback
    and stores the model's tensors as "model.<name>", the optimizer's as "optim.<key>"
    (keys as in Note [state dict layout] of chainrule/optim/optimizer.py) and the callbacks'
    arrays as "callback.<callback>.<entry>.<name>" (e.g. early stopping's best weights).

Note [loading hostile files]
    Loading never unpickles and never runs code from the file. Before anything large is
    allocated the reader checks, in order: that the path is a regular, non-empty file; that
    it is not a pickle, a PyTorch zip or a NumPy .npy/.npz (each named in the error); that the
    header length fits the file and `MAX_HEADER_BYTES`; that the header is JSON with unique
    keys; the format and its version; that every tensor has a known dtype, a shape of
    at most 64 non-negative ints that NumPy can allocate, and offsets whose span is exactly
    shape × itemsize; and that the tensors tile the data buffer with no gap, overlap or
    trailing bytes. Only then is the buffer read (its size is known from the file's own size),
    the checksum compared, the metadata checked (an architecture's settings are bounded: an
    axis within NumPy's 64 dimensions, a negative_slope within [-1, 1]) and the tensors
    checked against the architecture. Every failure is a ModelFileError, raised before
    anything is returned, so a failed load never leaves a half-loaded model.

Note [the checksum]
    Version 2: SHA-256 of the canonical JSON of {"metadata": every metadata entry but
    "checksum", "tensors": {name: [dtype, shape]}} (keys sorted, no spaces, ASCII), followed by
    every tensor's bytes in order of name. So every byte that matters is covered — a flipped
    digit in "epoch" or in a stored feature mean is caught like one in a weight — and the sum
    does not depend on the layout (key order, padding, tensor order), so any safetensors writer
    that keeps the metadata keeps the checksum valid. A chainrule file without a checksum is
    refused. Version 1 files hold SHA-256 of the data buffer only; they still load with that
    check, which does not cover their metadata (save them again to upgrade). A file without
    format_version (from `save_state`) may hold either sum.

Note [atomic writes]
    Every file is written to a temporary file in the same folder, flushed and fsync'ed, then
    renamed over the target (`os.replace`, atomic on POSIX and Windows), and the folder is
    fsync'ed. A crash, a kill -9 or a full disk during a save leaves the previous file whole;
    at worst a hidden ".<name>.*.tmp" file stays behind, which no load ever reads.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from chainrule.errors import ChainruleError, ConfigError, ModelFileError
from chainrule.nn.layers import ACTIVATIONS, LeakyReLU, Linear, LogSoftmax, Sequential, Softmax
from chainrule.nn.module import Module
from chainrule.validate import is_int, is_real
from chainrule.version import __version__

__all__ = [
    "FORMAT_VERSION", "MAX_HEADER_BYTES", "Checkpoint", "atomic_write_bytes",
    "config_differences", "load", "load_checkpoint", "load_metadata", "load_state",
    "save_checkpoint", "save_model", "save_state",
]

FORMAT_VERSION = 2  # 2: the checksum covers the metadata too (Note [the checksum])
MAX_HEADER_BYTES = 100 * 2**20  # the limit the safetensors library itself sets
MODEL_FORMAT = "chainrule-model"
CHECKPOINT_FORMAT = "chainrule-checkpoint"

PathLike = str | os.PathLike

# safetensors dtype name ↔ NumPy dtype (little-endian). bfloat16 and float8 have no NumPy type.
_DTYPES = {
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "BOOL": np.dtype("?"),
}
_DTYPE_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in _DTYPES.items()}
_MAX_DIMS = 64  # NumPy's limit
_MAX_TENSOR_BYTES = 2**62  # what NumPy can address, with room to spare

# Metadata values stored as JSON, and the ones stored as decimal integers.
_JSON_FIELDS = ("architecture", "frozen", "user", "optimizer", "config", "rng_state",
                "scheduler_state", "history", "callbacks")
_INT_FIELDS = ("format_version", "epoch", "step")


# --- atomic writes (Note [atomic writes]) ----------------------------------------------------
def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either its old contents or all of `data`.

    Raises ModelFileError naming the path and the system's reason ("No space left on device",
    "File too large", "Permission denied") if the folder is missing or read-only or a write
    fails; the temporary file is removed and an existing `path` is left as it was. A symbolic
    link is followed (the file it points to is replaced); a device, pipe or folder is refused.
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    folder = _writable_folder(path)
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _save_error(path, error) from error
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
    _fsync_folder(folder)


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


# --- writing the safetensors container ---------------------------------------------------------
def _encode(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """The bytes of a safetensors file; metadata gains "checksum" (Note [the checksum])."""
    buffers = [_little_endian_bytes(name, array) for name, array in tensors.items()]
    entries = []
    offset = 0
    for (name, array), data in zip(tensors.items(), buffers, strict=True):
        dtype = _DTYPE_NAMES[array.dtype.kind, array.dtype.itemsize]
        entries.append(_Entry(name, dtype, array.shape, offset, offset + len(data)))
        offset += len(data)
    checksum = _checksum(metadata, entries, b"".join(buffers))
    header: dict[str, Any] = {"__metadata__": {**metadata, "checksum": checksum}}
    header |= {e.name: {"dtype": e.dtype_name, "shape": list(e.shape),
                        "data_offsets": [e.start, e.end]} for e in entries}
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 8)  # pad so the buffer starts 8-byte aligned, as safetensors does
    return b"".join([len(text).to_bytes(8, "little"), text, *buffers])


def _little_endian_bytes(name: str, array: Any) -> bytes:
    if not isinstance(array, np.ndarray):
        raise ConfigError(f"save_state: tensor {name!r} must be a NumPy array, got "
                          f"{type(array).__name__}")
    if (array.dtype.kind, array.dtype.itemsize) not in _DTYPE_NAMES:
        raise ConfigError(f"save_state: tensor {name!r} has dtype {array.dtype}; files hold "
                          "floating, integer and boolean arrays")
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def save_state(path: PathLike, tensors: Mapping[str, np.ndarray],
               metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays and string metadata to a safetensors file, atomically.

    The low-level writer under `save_model` and `save_checkpoint`, and the way to save a custom
    module: `save_state(path, model.state_dict(), {"note": "..."})`. The metadata gains a
    "checksum" entry. Any safetensors reader can load the file.
    """
    metadata = dict(metadata or {})
    bad = [key for key, value in metadata.items()
           if not (isinstance(key, str) and isinstance(value, str))]
    if bad:
        raise ConfigError(f"save_state: metadata keys and values must be strings; {bad!r} "
                          "are not (store other values as JSON text)")
    names = [name for name in tensors if not isinstance(name, str) or name == "__metadata__"]
    if names:
        raise ConfigError(f"save_state: tensor names must be strings other than "
                          f"'__metadata__', got {names!r}")
    atomic_write_bytes(path, _encode(tensors, metadata))


# --- reading the container (Note [loading hostile files]) ---------------------------------------
@dataclass(frozen=True)
class _Entry:
    """One tensor in the header: its name, dtype ("F32"), shape and [start, end) in the buffer."""

    name: str
    dtype_name: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def dtype(self) -> np.dtype:
        return _DTYPES[self.dtype_name]


def _checksum(metadata: Mapping[str, str], entries: list[_Entry], data: bytes) -> str:
    """The checksum of a version-2 file (Note [the checksum]); `data` is the data buffer."""
    canonical = {"metadata": {k: v for k, v in metadata.items() if k != "checksum"},
                 "tensors": {e.name: [e.dtype_name, list(e.shape)] for e in entries}}
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":"))
                            .encode("ascii"))
    view = memoryview(data)
    for entry in sorted(entries, key=lambda e: e.name):
        digest.update(view[entry.start:entry.end])
    return digest.hexdigest()


@contextlib.contextmanager
def _open(path: PathLike) -> Iterator[tuple[BinaryIO, int]]:
    """The open file and its size; a missing, unreadable or irregular file is a ModelFileError."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ModelFileError(f"{path} is not a regular file")
        with open(path, "rb") as file:
            yield file, os.fstat(file.fileno()).st_size
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {error.strerror or error}") from error


def _read_exact(path: PathLike, file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ModelFileError(f"{path} is truncated: it became shorter while being read")
    return data


def _read_header(path: PathLike, file: BinaryIO, size: int) -> tuple[dict, int]:
    """The header as JSON, after sniffing for other formats; and the data buffer's size."""
    head = _read_exact(path, file, min(size, 64 * 1024))
    file.seek(max(size - 16, 0))
    _refuse_other_formats(path, head, _read_exact(path, file, min(size, 16)), size)
    length = int.from_bytes(head[:8], "little")
    if length > size - 8:
        raise ModelFileError(
            f"{path} is truncated or not a safetensors file: its header claims {length} bytes "
            f"but only {size - 8} follow the 8-byte length"
        )
    if length > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: its header claims {length} bytes, more than the "
                             f"{MAX_HEADER_BYTES}-byte limit; the file is corrupt or hostile")
    file.seek(8)
    text = _read_exact(path, file, length)
    if not text.startswith(b"{"):
        raise ModelFileError(f"{path} is not a safetensors file: its header does not start "
                             "with '{'")
    return _parse_json(path, text, "header"), size - 8 - length


def _refuse_other_formats(path: PathLike, head: bytes, tail: bytes, size: int) -> None:
    """Name the formats people rename to a model's extension, all of which can hold pickles.

    head: the file's first 64 KiB; tail: its last 16 bytes.
    """
    refusal = "chainrule refuses to load pickles because unpickling can run arbitrary code"
    if size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes); it holds no model")
    looks_like_safetensors = len(head) > 8 and head[8:9] == b"{"
    if looks_like_safetensors:
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


def _parse_json(path: PathLike, text: bytes, what: str, nan: bool = False) -> Any:
    """JSON with unique keys, or a ModelFileError naming `what`.

    NaN and Infinity (not standard JSON) are refused unless `nan`: the header itself must be
    standard JSON for other readers, but metadata strings may hold e.g. a diverged loss.
    """
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
        return dict(pairs)

    def no_constants(token: str) -> None:
        raise ValueError(f"{token} is not a number in standard JSON")

    try:
        return json.loads(text, object_pairs_hook=unique,
                          parse_constant=float if nan else no_constants)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ModelFileError(f"{path}: the {what} is not valid JSON ({error})") from None


def _split_header(path: PathLike, header: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """(metadata, tensor entries) from the parsed header, checking the metadata is str → str."""
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the header must be a JSON object, got "
                             f"{type(header).__name__}")
    entries = dict(header)
    metadata = entries.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{path}: the header's __metadata__ must map strings to strings")
    return metadata, entries


def _parse_entries(path: PathLike, entries: dict[str, Any], buffer_size: int) -> list[_Entry]:
    """Every tensor's dtype, shape and offsets, checked against each other and the buffer."""
    parsed = [_parse_entry(path, name, spec) for name, spec in entries.items()]
    for entry in parsed:
        if entry.end > buffer_size:
            raise ModelFileError(
                f"{path} is truncated or corrupt: tensor {entry.name!r} ends at byte "
                f"{entry.end} of the data buffer but the file holds only {buffer_size}"
            )
    _check_tiling(path, sorted(parsed, key=lambda e: (e.start, e.end)), buffer_size)
    return parsed


def _parse_entry(path: PathLike, name: str, spec: Any) -> _Entry:
    where = f"{path}: tensor {name!r}"
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ModelFileError(f"{where} must be an object with exactly dtype, shape and "
                             "data_offsets")
    dtype = _DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
    if dtype is None:
        raise ModelFileError(f"{where} has dtype {spec['dtype']!r}; chainrule reads "
                             f"{', '.join(_DTYPES)}")
    shape, offsets = spec["shape"], spec["data_offsets"]
    if not isinstance(shape, list) or not all(is_int(n) and n >= 0 for n in shape):
        raise ModelFileError(f"{where} has shape {shape!r}; a shape is a list of "
                             "non-negative integers")
    if len(shape) > _MAX_DIMS:
        raise ModelFileError(f"{where} has {len(shape)} dimensions; NumPy arrays have at most "
                             f"{_MAX_DIMS}")
    if math.prod(max(n, 1) for n in shape) * dtype.itemsize > _MAX_TENSOR_BYTES:
        raise ModelFileError(f"{where} has shape {tuple(shape)}, too large for an array "
                             f"(over 2**62 bytes, even if one dimension is 0)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise ModelFileError(f"{where} has data_offsets {offsets!r}; they must be "
                             "[start, end] with 0 ≤ start ≤ end")
    span = offsets[1] - offsets[0]
    if math.prod(shape) * dtype.itemsize != span:
        raise ModelFileError(
            f"{where} has shape {tuple(shape)} of {spec['dtype']} ({math.prod(shape)} × "
            f"{dtype.itemsize} bytes) but its data_offsets span {span} bytes"
        )
    return _Entry(name, spec["dtype"], tuple(shape), offsets[0], offsets[1])


def _check_tiling(path: PathLike, entries: list[_Entry], buffer_size: int) -> None:
    """The tensors, sorted by offset, must cover the buffer exactly: no gap, overlap or tail."""
    position, previous = 0, None
    for entry in entries:
        if entry.start < position:
            raise ModelFileError(f"{path}: tensors {previous!r} and {entry.name!r} overlap in "
                                 "the data buffer (corrupt or hostile offsets)")
        if entry.start > position:
            raise ModelFileError(f"{path}: bytes {position}..{entry.start} of the data buffer "
                                 "belong to no tensor (corrupt offsets)")
        position, previous = entry.end, entry.name
    if position != buffer_size:
        raise ModelFileError(f"{path}: {buffer_size - position} unexpected bytes follow the "
                             "last tensor (trailing garbage or corrupt offsets)")


def _check_checksum(path: PathLike, metadata: Mapping[str, str], entries: list[_Entry],
                    data: bytes) -> None:
    """Compare the stored checksum (Note [the checksum]); a chainrule file must have one."""
    stored = metadata.get("checksum")
    if stored is None:
        if "format" in metadata:
            raise ModelFileError(f"{path} has no 'checksum' metadata entry, which every "
                                 "chainrule file has; it was damaged or edited by hand")
        return  # a safetensors file from another writer
    version = metadata.get("format_version")
    accepted = [] if version == "1" else [_checksum(metadata, entries, data)]
    if version in ("1", None):
        accepted.append(hashlib.sha256(data).hexdigest())
    if stored not in accepted:
        raise ModelFileError(f"{path} is corrupt: the checksum of its metadata and tensor data "
                             "does not match the one stored in the file (a changed or flipped "
                             "byte)")


def _arrays(entries: list[_Entry], data: bytes) -> dict[str, np.ndarray]:
    """Copies of the tensors in the data buffer, in native byte order."""
    tensors = {}
    for e in entries:
        native, count = e.dtype.newbyteorder("="), math.prod(e.shape)
        if count == 0:
            tensors[e.name] = np.empty(e.shape, native)
        else:  # a copy in native byte order, so the arrays own their memory and are writable
            view = np.frombuffer(data, e.dtype, count, e.start).reshape(e.shape)
            tensors[e.name] = view.astype(native, copy=True)
    return tensors


def _read_checked(path: PathLike, formats: tuple[str, ...] | None
                  ) -> tuple[dict[str, str], list[_Entry], bytes]:
    """(metadata, tensor entries, data buffer) of a file whose every check has passed;
    `formats`: the chainrule formats accepted (None: any safetensors file)."""
    with _open(path) as (file, size):
        header, buffer_size = _read_header(path, file, size)
        metadata, raw_entries = _split_header(path, header)
        if formats is not None:
            _check_format(path, metadata, formats)
        entries = _parse_entries(path, raw_entries, buffer_size)
        data = _read_exact(path, file, buffer_size)
    _check_checksum(path, metadata, entries, data)
    return metadata, entries, data


def _read(path: PathLike, formats: tuple[str, ...] | None
          ) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """(metadata, tensors) of a fully checked file; `formats`: the chainrule formats accepted."""
    metadata, entries, data = _read_checked(path, formats)
    return metadata, _arrays(entries, data)


def load_state(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of any safetensors file, fully checked (Note [loading hostile files]).

    The checksum is compared when the file has one (every file chainrule writes does).
    """
    metadata, tensors = _read(path, formats=None)
    return tensors, metadata


# --- chainrule metadata ------------------------------------------------------------------------
def _check_format(path: PathLike, metadata: Mapping[str, str], formats: tuple[str, ...]) -> None:
    """The file must be a chainrule file of one of `formats`, from this format version or older."""
    kind = metadata.get("format")
    if kind is None:
        raise ModelFileError(f"{path} is a safetensors file without chainrule metadata (no "
                             "'format' entry); read its tensors with chainrule.io.load_state")
    version = _decimal(path, metadata, "format_version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer chainrule (format version {version}); this version "
            f"reads up to {FORMAT_VERSION}: upgrade chainrule"
        )
    if version < 1 or kind not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise ModelFileError(f"{path} has format {kind!r} version {version}; chainrule reads "
                             f"{MODEL_FORMAT!r} and {CHECKPOINT_FORMAT!r} versions 1 to "
                             f"{FORMAT_VERSION}")
    if kind not in formats:
        hint = ("it holds no optimizer state to resume from" if kind == MODEL_FORMAT
                else "load its model with chainrule.load")
        raise ModelFileError(f"{path} is a {kind} file, not a {' or '.join(formats)} file; "
                             f"{hint}")


def _decimal(path: PathLike, metadata: Mapping[str, str], key: str) -> int:
    text = metadata.get(key)
    if text is None or not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise ModelFileError(f"{path}: metadata {key!r} must be a non-negative decimal "
                             f"integer, got {text!r}")
    return int(text)


def _json_field(path: PathLike, metadata: Mapping[str, str], key: str,
                kinds: tuple[type, ...]) -> Any:
    """The JSON value of metadata[key], checked to be one of `kinds` (type(None) for null)."""
    if key not in metadata:
        raise ModelFileError(f"{path}: the metadata has no {key!r} entry")
    value = _parse_json(path, metadata[key].encode("utf-8"), f"{key!r} metadata", nan=True)
    if not isinstance(value, kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ModelFileError(f"{path}: the {key!r} metadata must be a JSON {names}, got "
                             f"{type(value).__name__}")
    return value


def _to_json(owner: str, key: str, value: Any) -> str:
    """JSON text of `value` (NumPy numbers and arrays become plain numbers and lists)."""
    def plain(obj: Any) -> Any:
        if isinstance(obj, np.generic | np.ndarray):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON-serializable")

    try:
        return json.dumps(value, default=plain)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{owner}: {key} must be JSON-able (dicts, lists, strings, numbers, "
                          f"booleans, None): {error}") from None


# --- architecture: describe a Sequential, and rebuild it ---------------------------------------
# type name → (class, {setting: check}); a setting's value is read from the module's attribute.
_AXIS = f"an int from -{_MAX_DIMS} to {_MAX_DIMS - 1}"  # any other axis fits no NumPy array
# The activations are those of nn.ACTIVATIONS, under their class names; _SETTINGS names the
# settings of those that have any.
_SETTINGS: dict[type[Module], dict[str, Any]] = {
    Linear: {"in_features": "a positive int", "out_features": "a positive int", "bias": "a bool"},
    LeakyReLU: {"negative_slope": "a number from -1 to 1"},
    Softmax: {"axis": _AXIS}, LogSoftmax: {"axis": _AXIS},
    Sequential: {"layers": "a list"},
}
_LAYERS: dict[str, tuple[type[Module], dict[str, Any]]] = {
    cls.__name__: (cls, _SETTINGS.get(cls, {}))
    for cls in (Linear, *ACTIVATIONS.values(), Sequential)
}
_CHECKS = {  # bounded, so that no hostile number overflows a conversion
    "a positive int": lambda v: is_int(v) and 0 < v < 2**62,
    _AXIS: lambda v: is_int(v) and -_MAX_DIMS <= v < _MAX_DIMS,
    "a bool": lambda v: isinstance(v, bool),
    "a number from -1 to 1": lambda v: is_real(v) and -1 <= v <= 1,
    "a list": lambda v: isinstance(v, list),
}
_MAX_NESTING = 32


def _describe(module: Module, owner: str) -> dict[str, Any]:
    """The architecture entry of one built-in module (ConfigError for any other module)."""
    kind = type(module).__name__
    if kind not in _LAYERS or _LAYERS[kind][0] is not type(module):
        raise ConfigError(
            f"{owner}: cannot describe {kind} — only a Sequential of built-in layers (Linear "
            "and the activations) can be rebuilt from a file. For a custom module save its "
            "weights with chainrule.io.save_state(path, model.state_dict()) and load them "
            "with load_state and model.load_state_dict"
        )
    if isinstance(module, Linear):
        return {"type": kind, "in_features": module.in_features,
                "out_features": module.out_features, "bias": module.bias is not None}
    if isinstance(module, Sequential):
        return {"type": kind, "layers": _describe_layers(module, owner)}
    return {"type": kind, **{key: getattr(module, key) for key in _LAYERS[kind][1]}}


def _describe_layers(model: Sequential, owner: str) -> list[dict[str, Any]]:
    layers = []
    for index, (name, child) in enumerate(model.named_children()):
        entry = _describe(child, owner)
        layers.append(entry if name == str(index) else {**entry, "name": name})
    return layers


def _architecture(model: Any, owner: str) -> list[dict[str, Any]]:
    """The architecture of `model`, checked to rebuild a model with the same parameters."""
    if type(model) is not Sequential:
        _describe(model, owner)  # raises the "only a Sequential" error for non-Sequentials
        raise ConfigError(f"{owner}: the model must be a Sequential, got "
                          f"{type(model).__name__}; wrap it: Sequential(model)")
    layers = _describe_layers(model, owner)
    wanted = {name: param.shape for name, param in model.named_parameters()}
    try:
        shapes = _parameter_shapes("the model", layers)
    except ModelFileError as error:  # a setting a file cannot hold, e.g. a NaN slope
        raise ConfigError(f"{owner}: {error}") from None
    if shapes != wanted:
        raise ConfigError(f"{owner}: the model shares a layer or parameter between two places, "
                          "which a file cannot rebuild; give each place its own layer")
    return layers


def _parameter_shapes(path: PathLike, layers: Any, prefix: str = "",
                      depth: int = 0) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape that `layers` makes, checking each entry as we go."""
    if not isinstance(layers, list) or depth > _MAX_NESTING:
        raise ModelFileError(f"{path}: the architecture must be a list of layers, nested at "
                             f"most {_MAX_NESTING} deep")
    shapes: dict[str, tuple[int, ...]] = {}
    names = [_check_layer(path, index, entry) for index, entry in enumerate(layers)]
    if len(set(names)) != len(names):
        raise ModelFileError(f"{path}: the architecture names two layers alike: {names}")
    for name, entry in zip(names, layers, strict=True):
        here = f"{prefix}{name}"
        if entry["type"] == "Linear":
            shapes[f"{here}.weight"] = (entry["out_features"], entry["in_features"])
            if entry["bias"]:
                shapes[f"{here}.bias"] = (entry["out_features"],)
        elif entry["type"] == "Sequential":
            shapes.update(_parameter_shapes(path, entry["layers"], f"{here}.", depth + 1))
    return shapes


def _check_layer(path: PathLike, index: int, entry: Any) -> str:
    """Check one architecture entry's type and settings; return the layer's name."""
    kind = entry.get("type") if isinstance(entry, dict) else None
    if not isinstance(kind, str) or kind not in _LAYERS:
        raise ModelFileError(f"{path}: architecture layer {index} has type {kind!r}; "
                             f"chainrule rebuilds {', '.join(_LAYERS)}")
    settings = _LAYERS[kind][1]
    name = entry.get("name", str(index))
    if set(entry) - {"type", "name"} != set(settings):
        raise ModelFileError(f"{path}: architecture layer {index} ({kind}) must have exactly "
                             f"the settings {sorted(settings)}, got {sorted(entry)}")
    for key, check in settings.items():
        if not _CHECKS[check](entry[key]):
            raise ModelFileError(f"{path}: architecture layer {index} ({kind}) has {key}="
                                 f"{entry[key]!r}; it must be {check}")
    if not isinstance(name, str) or not name or "." in name:
        raise ModelFileError(f"{path}: architecture layer {index} has name {name!r}; a name "
                             "is a non-empty string without dots")
    return name


def _build(layers: list[dict[str, Any]], dtype: np.dtype) -> Sequential:
    """A Sequential from a checked architecture (weights are placeholders until loaded)."""
    modules: dict[str, Module] = {}
    for index, entry in enumerate(layers):
        settings = {k: v for k, v in entry.items() if k not in ("type", "name")}
        if entry["type"] == "Linear":
            module: Module = Linear(**settings, dtype=dtype, rng=0)
        elif entry["type"] == "Sequential":
            module = _build(entry["layers"], dtype)
        else:
            module = _LAYERS[entry["type"]][0](**settings)
        modules[entry.get("name", str(index))] = module
    return Sequential(modules)


def _model_metadata(model: Module, kind: str, owner: str) -> dict[str, str]:
    """The metadata every chainrule file has (Note [the metadata of a chainrule file])."""
    layers = _architecture(model, owner)
    dtypes = {param.dtype for param in model.parameters()}
    if len(dtypes) > 1:
        raise ConfigError(f"{owner}: the model mixes parameter dtypes {sorted(map(str, dtypes))};"
                          " convert them to one dtype first")
    frozen = [name for name, param in model.named_parameters() if not param.requires_grad]
    return {
        "format": kind, "format_version": str(FORMAT_VERSION),
        "chainrule_version": __version__,
        "architecture": json.dumps(layers), "dtype": str(dtypes.pop() if dtypes else "float32"),
        "frozen": json.dumps(frozen),
    }


def _rebuild(path: PathLike, metadata: Mapping[str, str],
             tensors: dict[str, np.ndarray]) -> Sequential:
    """The model described by the metadata, with the tensors' values, after checking both."""
    layers = _json_field(path, metadata, "architecture", (list,))
    wanted = _parameter_shapes(path, layers)
    _compare_tensors(path, wanted, tensors)
    dtype = _model_dtype(path, metadata, tensors)
    frozen = _json_field(path, metadata, "frozen", (list,))
    if not all(isinstance(name, str) and name in wanted for name in frozen):
        raise ModelFileError(f"{path}: 'frozen' lists {frozen!r}, which are not all parameters "
                             "of the architecture")
    try:
        model = _build(layers, dtype)
        model.load_state_dict(tensors)
    except ChainruleError as error:
        raise ModelFileError(f"{path}: its architecture cannot be rebuilt: {error}") from error
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
    return model


def _compare_tensors(path: PathLike, wanted: dict[str, tuple[int, ...]],
                     tensors: Mapping[str, np.ndarray]) -> None:
    """The file's tensors must be exactly the architecture's parameters, shape for shape."""
    problems = []
    missing = [name for name in wanted if name not in tensors]
    extra = [name for name in tensors if name not in wanted]
    if missing:
        problems.append(f"tensors missing from the file: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected tensors the architecture does not use: {', '.join(extra)}")
    problems += [f"tensor {name!r} has shape {tensors[name].shape} but the architecture needs "
                 f"{shape}" for name, shape in wanted.items()
                 if name in tensors and tensors[name].shape != shape]
    if problems:
        raise ModelFileError(f"{path} does not match its architecture: {'; '.join(problems)}")


def _model_dtype(path: PathLike, metadata: Mapping[str, str],
                 tensors: Mapping[str, np.ndarray]) -> np.dtype:
    name = metadata.get("dtype")
    if name not in ("float16", "float32", "float64"):
        raise ModelFileError(f"{path}: metadata 'dtype' is {name!r}; a model's dtype is "
                             "float16, float32 or float64")
    dtype = np.dtype(name)
    wrong = [f"{key!r} is {array.dtype}" for key, array in tensors.items() if array.dtype != dtype]
    if wrong:
        raise ModelFileError(f"{path}: the model's dtype is {dtype} but {', '.join(wrong)}")
    return dtype


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
    save_state(path, model.state_dict(), file_metadata)


def load(path: PathLike) -> Sequential:
    """The model saved in `path` (a model file, or a checkpoint's model), rebuilt and loaded.

    Everything is checked first (Note [loading hostile files]); any problem is a
    ModelFileError that says what is wrong, and no model is returned half-loaded.
    """
    metadata, tensors = _read(path, formats=(MODEL_FORMAT, CHECKPOINT_FORMAT))
    if metadata["format"] == CHECKPOINT_FORMAT:
        tensors = {name.removeprefix("model."): array for name, array in tensors.items()
                   if name.startswith("model.")}
    return _rebuild(path, metadata, tensors)


def load_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata of a chainrule file, decoded, and its tensors' dtypes and shapes.

    The whole file is read to compare the checksum, which covers the metadata. JSON entries
    come back parsed, format_version/epoch/step as ints, and "tensors" maps each tensor's
    name to {"dtype": "float32", "shape": [2, 2]}.
    """
    metadata, entries, _ = _read_checked(path, (MODEL_FORMAT, CHECKPOINT_FORMAT))
    decoded: dict[str, Any] = dict(metadata)
    for key in metadata:
        if key in _JSON_FIELDS:
            decoded[key] = _parse_json(path, metadata[key].encode("utf-8"),
                                       f"{key!r} metadata", nan=True)
        elif key in _INT_FIELDS:
            decoded[key] = _decimal(path, metadata, key)
    decoded["tensors"] = {e.name: {"dtype": str(e.dtype.newbyteorder("=")),
                                   "shape": list(e.shape)} for e in entries}
    return decoded


# --- checkpoints ---------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """What `load_checkpoint` returns: everything needed to continue training exactly.

    model: the rebuilt model.  optimizer_state: in the optimizer's own state_dict layout, ready
    for `optimizer.load_state_dict`.  epoch, step: epochs and optimizer steps done.
    config: the training configuration.  rng_state: the random generators' states, as saved.
    scheduler_state, history: as saved, or None.  callbacks: each callback's state_dict(),
    by name, as saved.  metadata: the raw string metadata.
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


def save_checkpoint(path: PathLike, *, model: Module, optimizer: Any, epoch: int, step: int,
                    config: Mapping[str, Any], rng_state: Mapping[str, Any],
                    scheduler_state: Mapping[str, Any] | None = None,
                    history: Mapping[str, Any] | None = None,
                    metadata: Mapping[str, Any] | None = None,
                    callbacks: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Save the state of a training run atomically, so that it can resume bit for bit.

    model: a Sequential of built-in layers.  optimizer: a chainrule optimizer (its
    `state_dict()` is stored).  epoch, step: epochs and optimizer steps completed.
    config: the run's settings (JSON-able).  rng_state: JSON-able generator state, e.g.
    {"shuffle": generator.bit_generator.state}.  scheduler_state: `scheduler.state_dict()`.
    history: the metrics so far (JSON-able).  metadata: your own JSON-able facts, as for
    `save_model` (so `chainrule predict` can use a checkpoint like a model file).
    callbacks: each callback's state by name (no dots); an entry that is a non-empty dict of
    NumPy arrays is stored as tensors, any other entry as JSON.
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
                              {key: opt[key] for key in ("optimizer", "num_params", "hyper")}),
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
    save_state(path, tensors, file_metadata)


def _dict_or_none(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """The checkpoint in `path`, fully checked before anything is returned.

    Besides the model and the optimizer's layout this checks that every generator state in
    rng_state (itself, or any of its values that has a "bit_generator") is one NumPy accepts,
    and that the history's epochs, step_losses, stop_reason and partial, where present, have
    the types `fit` writes; so a resume from a file that loaded cannot fail halfway.
    """
    metadata, tensors = _read(path, formats=(CHECKPOINT_FORMAT,))
    groups: dict[str, dict[str, np.ndarray]] = {"model": {}, "optim": {}, "callback": {}}
    for name, array in tensors.items():
        group, _, key = name.partition(".")
        if group not in groups or not key:
            raise ModelFileError(f"{path}: unexpected tensor {name!r}; a checkpoint holds only "
                                 "'model.<name>', 'optim.<key>' and 'callback.<key>' tensors")
        groups[group][key] = array
    optimizer_state = _optimizer_state(path, metadata, groups["optim"])
    callbacks = _callbacks(path, metadata, groups["callback"])
    none = type(None)
    return Checkpoint(
        model=_rebuild(path, metadata, groups["model"]),
        optimizer_state=optimizer_state,
        epoch=_decimal(path, metadata, "epoch"),
        step=_decimal(path, metadata, "step"),
        config=_json_field(path, metadata, "config", (dict,)),
        rng_state=_rng_state(path, metadata),
        scheduler_state=_json_field(path, metadata, "scheduler_state", (dict, none)),
        history=_history(path, metadata),
        metadata=dict(metadata),
        callbacks=callbacks,
    )


def _callbacks(path: PathLike, metadata: Mapping[str, str],
               arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """The callbacks' states: the 'callbacks' JSON with the 'callback.' tensors put back."""
    states = _json_field(path, metadata, "callbacks", (dict,)) if "callbacks" in metadata else {}
    if not all(isinstance(state, dict) for state in states.values()):
        raise ModelFileError(f"{path}: the 'callbacks' metadata must map names to dicts")
    tensor_entries: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for key, array in arrays.items():
        name, entry, tensor = (*key.split(".", 2), "", "")[:3]
        if name not in states or not entry or not tensor or entry in states[name]:
            raise ModelFileError(f"{path}: tensor 'callback.{key}' is not "
                                 "'callback.<callback>.<entry>.<name>' of a saved callback")
        tensor_entries.setdefault((name, entry), {})[tensor] = array
    for (name, entry), tensors in tensor_entries.items():
        states[name][entry] = tensors
    return states


def _optimizer_state(path: PathLike, metadata: Mapping[str, str],
                     arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The optimizer's state_dict from the metadata's JSON and the 'optim.' tensors."""
    info = _json_field(path, metadata, "optimizer", (dict,))
    if set(info) != {"optimizer", "num_params", "hyper"} or not (
            isinstance(info["optimizer"], str) and is_int(info["num_params"])
            and isinstance(info["hyper"], dict)):
        raise ModelFileError(f"{path}: the 'optimizer' metadata must be {{\"optimizer\": name, "
                             "\"num_params\": int, \"hyper\": {...}}")
    for key in arrays:
        index, _, buffer = key.partition(".")
        if not (index.isascii() and index.isdigit() and int(index) < info["num_params"]
                and buffer):
            raise ModelFileError(f"{path}: optimizer tensor 'optim.{key}' is not "
                                 f"'optim.<parameter index>.<name>' with an index below "
                                 f"{info['num_params']}")
    return {**info, "state": arrays}


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _rng_state(path: PathLike, metadata: Mapping[str, str]) -> dict[str, Any]:
    """The 'rng_state' metadata, each generator state in it tried on a fresh NumPy generator."""
    value = _json_field(path, metadata, "rng_state", (dict,))
    states = [value] if "bit_generator" in value else [
        state for state in value.values() if isinstance(state, dict) and "bit_generator" in state]
    for state in states:
        name = state["bit_generator"]
        try:
            if name not in _BIT_GENERATORS:
                raise ValueError(f"unknown bit generator {name!r}")
            getattr(np.random, name)().state = state
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise ModelFileError(f"{path}: the 'rng_state' metadata holds a random generator "
                                 f"state that NumPy refuses ({error})") from None
    return value


def _history(path: PathLike, metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The 'history' metadata: a dict or null whose entries that `fit` writes have its types."""
    history = _json_field(path, metadata, "history", (dict, type(None)))
    if history is None:
        return None

    def numbers(values: Any) -> bool:
        return all(is_real(v) for v in values)

    checks = {
        "epochs": lambda v: isinstance(v, list) and all(
            isinstance(row, dict) and numbers(row.values()) for row in v),
        "step_losses": lambda v: isinstance(v, list) and numbers(v),
        "stop_reason": lambda v: v is None or isinstance(v, str),
        "partial": lambda v: v is None or (isinstance(v, dict) and numbers(v.values())),
    }
    bad = [key for key, check in checks.items() if key in history and not check(history[key])]
    if bad:
        raise ModelFileError(
            f"{path}: the 'history' metadata has a malformed {', '.join(bad)}: epochs must be a "
            "list of {name: number}, step_losses a list of numbers, stop_reason a string or "
            "null, partial {name: number}"
        )
    return history


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
