"""The metadata of chainrule's model files and checkpoints, as a schema (pydantic models).

io.py reads and writes the files; this module says what their metadata may hold. Every field
has its type and range checked, and unknown keys are refused, before anything is built from a
file — and before a file is written, so chainrule never writes what it would refuse to read.
The checksum is no signature (anyone can re-sign an edited file), so these checks hold alone.

Note [the metadata of a chainrule file]
    Every value in a safetensors file's `__metadata__` is a string; the JSON ones are marked
    (json). Besides the checksum (Note [the checksum] in io.py) a model file has exactly
      format              "chainrule-model" or "chainrule-checkpoint"
      format_version      "2" (`FORMAT_VERSION`); a newer one is refused with "upgrade chainrule"
      chainrule_version   the version that wrote the file, e.g. "0.1.0"
      architecture (json) the layers of the Sequential, enough to rebuild it, e.g.
                          [{"type": "Linear", "in_features": 2, "out_features": 2, "bias": true},
                           {"type": "Sigmoid"}, {"type": "LeakyReLU", "negative_slope": 0.01}]
                          (also BatchNorm1d with features, eps, momentum, affine, and
                          LayerNorm with features, eps, elementwise_affine; a BatchNorm1d's
                          running_mean and running_var are tensors beside its parameters)
                          (a layer has "name" when its name is not its index: an identifier
                          that is no attribute of Sequential, such as "hidden" but never
                          "forward"; a nested Sequential is {"type": "Sequential", "layers":
                          [...]}); at most `MAX_LAYERS` layers in all, nested 32 deep
      dtype               the parameters' dtype: "float16", "float32" or "float64"
      frozen (json)       names of the parameters with requires_grad=False, e.g. ["0.bias"]
      user (json)         an object: the caller's own metadata (class names, config, ...)
    A checkpoint also has
      optimizer (json)    {"optimizer": "Adam", "num_params": 4, "hyper": {"lr": 0.01,
                          "step_count": 10, ...}}: the optimizer's state_dict() but its arrays
                          (and "groups" where it has several parameter groups)
      epoch, step         decimal integers: the epochs and optimizer steps done so far
      config (json)       an object: the training configuration, compared on resume
      rng_state (json)    a NumPy generator state (Generator.bit_generator.state) or an object
                          of them by name, each in its kind's exact layout and tried on NumPy
      scheduler_state (json)  a schedule's state_dict(), or null
      history (json)      an object or null; the keys fit writes (epochs, step_losses,
                          stop_reason, restored_epoch, partial: the running sums of the epoch
                          in progress) have its types, any other key is the caller's
      callbacks (json)    each callback's state by name (EarlyStopping's checked)
    and stores the model's tensors as "model.<name>", the optimizer's as "optim.<key>"
    (keys as in Note [state dict layout] of chainrule/optim/optimizer.py) and the callbacks'
    arrays as "callback.<callback>.<entry>.<name>" (e.g. early stopping's best weights).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Json,
    Tag,
    ValidationError,
    model_validator,
)

from chainrule.errors import ChainruleError, ConfigError
from chainrule.nn.layers import (
    ACTIVATIONS,
    BatchNorm1d,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Sequential,
    Softmax,
)
from chainrule.nn.module import Module

FORMAT_VERSION = 2  # 2: the checksum covers the metadata too (Note [the checksum] in io.py)
MODEL_FORMAT = "chainrule-model"
CHECKPOINT_FORMAT = "chainrule-checkpoint"
MAX_LAYERS = 4_096
MAX_DIMS = 64  # NumPy's limit, and so the range of a softmax axis
MAX_NESTING = 32  # Sequentials in Sequentials


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Count = Annotated[int, Field(ge=0, lt=2**62)]
Size = Annotated[int, Field(gt=0, lt=2**62)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Scalar = int | Finite | bool | Annotated[str, Field(max_length=100)]  # a setting's value
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


# --- the architecture ------------------------------------------------------------------------
_RESERVED = frozenset(dir(Sequential()))  # forward, state_dict, training, _modules, ...


def _layer_name(name: str) -> str:
    """A layer's name is what Sequential gives it (its index) or an identifier such as "hidden"
    — never an attribute of Sequential, which the layer would replace (e.g. forward)."""
    if not re.fullmatch(r"[0-9]{1,18}|[A-Za-z][A-Za-z0-9_]{0,63}", name) or name in _RESERVED:
        raise ValueError(f"a layer name is an index or an identifier that is not an attribute "
                         f"of Sequential (such as 'forward' or 'state_dict'), got {name!r:.80}")
    return name


class Layer(_Strict):
    name: Annotated[str, AfterValidator(_layer_name)] | None = None


class LinearLayer(Layer):
    type: Literal["Linear"]
    in_features: Size
    out_features: Size
    bias: bool


class _LeakyReLU(Layer):
    type: Literal["LeakyReLU"]
    negative_slope: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]


class _Softmax(Layer):
    type: Literal["Softmax", "LogSoftmax"]
    axis: Annotated[int, Field(ge=-MAX_DIMS, lt=MAX_DIMS)]  # any other axis fits no array


Epsilon = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


class BatchNormLayer(Layer):
    type: Literal["BatchNorm1d"]
    features: Size
    eps: Epsilon
    momentum: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    affine: bool


class LayerNormLayer(Layer):
    type: Literal["LayerNorm"]
    features: Size
    eps: Epsilon
    elementwise_affine: bool


CLASSES: dict[str, type[Module]] = {
    cls.__name__: cls
    for cls in (Linear, *ACTIVATIONS.values(), BatchNorm1d, LayerNorm, Sequential)}
"""The modules a file can hold, by the name its architecture gives them."""
_PLAIN = tuple(name for name, cls in CLASSES.items() if cls not in (
    Linear, LeakyReLU, Softmax, LogSoftmax, BatchNorm1d, LayerNorm, Sequential))


class _Activation(Layer):
    type: Literal[_PLAIN]  # type: ignore[valid-type]  # Sigmoid, Tanh, ReLU, Softplus, Identity


class SequentialLayer(Layer):
    type: Literal["Sequential"]
    layers: Annotated[list[_Entry], Field(max_length=MAX_LAYERS)]


_Entry = Annotated[LinearLayer | _LeakyReLU | _Softmax | _Activation | BatchNormLayer
                   | LayerNormLayer | SequentialLayer, Field(discriminator="type")]
SequentialLayer.model_rebuild()
SETTINGS: dict[str, tuple[str, ...]] = {
    kind: tuple(sorted(set(schema.model_fields) - {"type", "name"}))
    for kind, schema in [("Linear", LinearLayer), ("LeakyReLU", _LeakyReLU),
                         ("Softmax", _Softmax), ("LogSoftmax", _Softmax),
                         ("BatchNorm1d", BatchNormLayer), ("LayerNorm", LayerNormLayer),
                         ("Sequential", SequentialLayer),
                         *((kind, _Activation) for kind in _PLAIN)]}
"""Each module's settings in an architecture entry, e.g. Linear's bias, in_features, ..."""


def _short_architecture(text: Any) -> Any:
    """Refuse a huge architecture before parsing it (no layer needs 256 characters)."""
    if isinstance(text, str) and len(text) > 256 * MAX_LAYERS:
        raise ValueError(f"{len(text)} characters, more than {MAX_LAYERS} layers take")
    return text


def _count(layers: list[Layer], depth: int = 0) -> int:
    """How many layers there are, nested ones too, after checking that Sequentials nest at
    most MAX_NESTING deep and that no two layers of one are named alike."""
    if depth > MAX_NESTING:
        raise ValueError(f"Sequentials nest at most {MAX_NESTING} deep")
    names = Counter(layer.name or str(index) for index, layer in enumerate(layers))
    if len(names) != len(layers):
        raise ValueError(f"two layers are named {names.most_common(1)[0][0]!r}")
    return len(layers) + sum(_count(layer.layers, depth + 1) for layer in layers
                             if isinstance(layer, SequentialLayer))


def _at_most_max_layers(layers: list[Layer]) -> list[Layer]:
    if _count(layers) > MAX_LAYERS:
        raise ValueError(f"more than {MAX_LAYERS} layers")
    return layers


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("names a parameter twice")
    return values


class ModelFile(_Strict):
    """The metadata of a model file (and the part of a checkpoint that describes its model)."""

    format: Literal["chainrule-model", "chainrule-checkpoint"]
    format_version: Json[Annotated[int, Field(ge=1, le=FORMAT_VERSION)]]
    chainrule_version: Annotated[str, Field(max_length=64)]
    architecture: Annotated[Json[Annotated[list[_Entry], Field(max_length=MAX_LAYERS),
                                           AfterValidator(_at_most_max_layers)]],
                            BeforeValidator(_short_architecture)]
    dtype: Literal["float16", "float32", "float64"]
    frozen: Json[Annotated[list[str], AfterValidator(_unique)]]
    user: Json[dict[str, Any]]


# --- a checkpoint: optimizer, random generators, schedule, history, callbacks ---------------
class _Hyper(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)  # each optimizer's own, checked by it
    __pydantic_extra__: dict[str, Scalar]
    lr: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    step_count: Count


class _Group(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)  # each optimizer's own, checked by it
    __pydantic_extra__: dict[str, Scalar]
    params: list[Count]
    lr: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class OptimizerState(_Strict):
    optimizer: Identifier
    num_params: Count
    hyper: _Hyper
    groups: list[_Group] | None = None  # only with several parameter groups


U32 = Annotated[int, Field(ge=0, lt=2**32)]
U64 = Annotated[int, Field(ge=0, lt=2**64)]
U128 = Annotated[int, Field(ge=0, lt=2**128)]
Bit = Annotated[int, Field(ge=0, le=1)]


def _exactly(n: int) -> Any:
    return Field(min_length=n, max_length=n)


class _PCGState(_Strict):
    state: U128
    inc: U128


class _PCG64(_Strict):
    bit_generator: Literal["PCG64", "PCG64DXSM"]
    state: _PCGState
    has_uint32: Bit
    uinteger: U32


class _MTState(_Strict):
    key: Annotated[list[U32], _exactly(624)]
    pos: Annotated[int, Field(ge=0, le=624)]


class _MT19937(_Strict):
    bit_generator: Literal["MT19937"]
    state: _MTState


class _PhiloxState(_Strict):
    counter: Annotated[list[U64], _exactly(4)]
    key: Annotated[list[U64], _exactly(2)]


class _Philox(_Strict):
    bit_generator: Literal["Philox"]
    state: _PhiloxState
    buffer: Annotated[list[U64], _exactly(4)]
    buffer_pos: Annotated[int, Field(ge=0, le=4)]
    has_uint32: Bit
    uinteger: U32


class _SFC64State(_Strict):
    state: Annotated[list[U64], _exactly(4)]


class _SFC64(_Strict):
    bit_generator: Literal["SFC64"]
    state: _SFC64State
    has_uint32: Bit
    uinteger: U32


def _numpy_takes(state: BaseModel) -> BaseModel:
    """NumPy has the last word: the state is tried on a fresh generator of its kind."""
    values = state.model_dump()
    try:
        getattr(np.random, values["bit_generator"])().state = values
    except Exception as error:  # whatever NumPy raises, the state is unusable
        raise ValueError(f"NumPy refuses this generator state ({error})") from None
    return state


_Generator = Annotated[_PCG64 | _MT19937 | _Philox | _SFC64, Field(discriminator="bit_generator"),
                       AfterValidator(_numpy_takes)]
_RandomState = Annotated[
    Annotated[_Generator, Tag("generator")] | Annotated[dict[str, _Generator], Tag("by name")],
    Discriminator(lambda value: "generator" if isinstance(value, BaseModel) or (
        isinstance(value, dict) and "bit_generator" in value) else "by name"),
]


class _Schedule(_Strict):
    scheduler: Identifier
    hyper: dict[Identifier, Scalar]
    base_lr: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    base_lrs: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] | None = None  # groups
    epoch: Count
    last_lr: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    best: Finite | None = None  # ReduceLROnPlateau's progress
    num_bad_epochs: Count = 0


class _Epoch(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)  # the metrics
    __pydantic_extra__: dict[str, float]
    epoch: Annotated[int, Field(ge=1)]


class _Partial(_Strict):
    """The running sums of the epoch a checkpoint was saved in (empty between epochs)."""

    loss_sum: float | None = None
    count: Count | None = None
    correct: Count | None = None

    @model_validator(mode="after")
    def whole(self) -> _Partial:
        if (self.loss_sum is None) != (self.count is None) or (
                self.correct is not None and (self.count is None or self.correct > self.count)):
            raise ValueError("a partial epoch has loss_sum and count (and correct ≤ count)")
        return self


class _History(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)  # other keys are the caller's own
    epochs: list[_Epoch] = []
    step_losses: list[float] = []
    stop_reason: Annotated[str, Field(max_length=10_000)] | None = None
    restored_epoch: Count | None = None
    partial: _Partial | None = None


class _EarlyStopping(_Strict):
    best: float
    best_epoch: Count
    waited: Count
    best_weights: None = None  # or stored as tensors


def _callbacks(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for name, state in states.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}(#[0-9]{1,6})?", name):
            raise ValueError(f"a callback is named by its class (and #n), got {name!r:.80}")
        if name.partition("#")[0] == "EarlyStopping":
            try:
                _EarlyStopping.model_validate(state)
            except ValidationError as problems:
                raise ValueError(f"{name}: {_first(problems)}") from None
    return states


class CheckpointFile(ModelFile):
    format: Literal["chainrule-checkpoint"]
    optimizer: Json[OptimizerState]
    epoch: Json[Count]
    step: Json[Count]
    config: Json[dict[str, Any]]
    rng_state: Json[_RandomState]
    scheduler_state: Json[_Schedule | None]
    history: Json[_History | None]
    callbacks: Json[Annotated[dict[str, dict[str, Any]], AfterValidator(_callbacks)]] = {}


# --- checking ----------------------------------------------------------------------------------
def validated(where: str, metadata: Mapping[str, str], error: type[ChainruleError]
              ) -> ModelFile:
    """The metadata (all but its checksum) checked against its schema: a CheckpointFile for a
    checkpoint, else a ModelFile. `error` names the first problem: ModelFileError reading a
    file, ConfigError saving one."""
    schema = CheckpointFile if metadata.get("format") == CHECKPOINT_FORMAT else ModelFile
    entries = {key: value for key, value in metadata.items() if key != "checksum"}
    unknown = sorted(set(entries) - set(schema.model_fields))
    try:
        if unknown:
            raise ValueError(f"unknown metadata entries {listed(unknown)}")
        return schema.model_validate(entries)
    except ValidationError as problems:
        problem = _first(problems)
    except ValueError as refusal:
        problem = str(refusal)
    if error is ConfigError:
        raise ConfigError(f"{where}: cannot store {problem}")
    raise error(f"{where}: its metadata is not what chainrule writes: {problem}; the file was "
                "damaged or edited, use the one chainrule saved")


def _first(problems: ValidationError) -> str:
    """The first problem pydantic found, in one short line, and how many more there are."""
    first = problems.errors(include_url=False)[0]
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    shown = first["loc"] and first["type"] not in ("missing", "value_error")
    got = f" (got {first['input']!r:.60})" if shown else ""
    more = f"; and {problems.error_count() - 1} more" if problems.error_count() > 1 else ""
    return f"{place.lstrip('.')}: {first['msg'].removeprefix('Value error, ')}{got}{more}"


def listed(names: list[str], limit: int = 5) -> str:
    """At most `limit` names, so that a hostile file cannot make an endless message."""
    shown = ", ".join(f"{name:.60}" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
