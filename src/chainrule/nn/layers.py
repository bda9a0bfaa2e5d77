"""Layers: Linear, the activation modules, Sequential, and `mlp` to build a stack of them.

Every layer is a thin wrapper over one op in `chainrule.ops`, so the graph an explanation reads
has one node per layer step: `linear` (net = x·Wᵀ + b), then `sigmoid` (out = σ(net)), and so on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.nn import init as initializers  # not `init`: mlp has an argument of that name
from chainrule.nn.module import Module, Parameter, SummaryRow
from chainrule.ops import activation
from chainrule.ops.elementwise import dropout, sqrt
from chainrule.ops.linalg import linear
from chainrule.ops.normalization import batch_norm
from chainrule.ops.reduce import mean, var
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor, get_default_dtype
from chainrule.validate import is_int, is_positive_int, physical_memory, show_bytes


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def check_parameter_memory(what: str, n_parameters: int, dtype: Any) -> None:
    """ConfigError, before anything is allocated, if `n_parameters` weights of `dtype` alone
    would not fit in this machine's memory.

    The one size check of every network: `Linear` checks its own weights and `mlp` the whole
    network before its first layer, so `chainrule train`, sweep, diagnose, the playground and
    the estimators all meet it. `what` names the network, e.g. "mlp: sizes [2, 8, 1]".
    """
    dtype = np.dtype(dtype)
    need = n_parameters * dtype.itemsize
    have = physical_memory()
    if have is not None and need > have:
        raise ConfigError(_too_large(what, n_parameters, dtype,
                                     f"more than this machine's {show_bytes(have)} of memory"))


def _too_large(what: str, n_parameters: int, dtype: np.dtype, why: str) -> str:
    return (f"{what}: {n_parameters:,} parameters would take "
            f"{show_bytes(n_parameters * dtype.itemsize)} as {dtype} for the weights alone "
            f"(training needs about 4 times that, for the gradients and the optimizer's "
            f"state), {why}; use fewer or smaller layers")


class Linear(Module):
    """A dense layer: net = x·Wᵀ + b (the notes' net_j = Σ_i w_ji·x_i + b_j for each unit j).

    Shapes: x (batch, in_features) or (in_features,);  weight W (out_features, in_features),
    row j holding the weights into unit j;  bias b (out_features,);  output (batch,
    out_features) or (out_features,).  Runs as the single op `linear`.

    Initialization (as in PyTorch): weight and bias drawn from uniform(−1/√in, 1/√in), weight
    first. rng: a numpy Generator or an int seed; None uses fresh OS entropy, so pass a seed
    (or a shared Generator) for reproducible weights. dtype: a floating dtype (default:
    `chainrule.get_default_dtype()`). Weights that would not fit in this machine's memory are
    refused before they are allocated (`check_parameter_memory`).

    >>> import chainrule as cr
    >>> layer = Linear(2, 2, rng=0)
    >>> layer(cr.tensor([[0.05, 0.10]])).shape
    (1, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = None, rng: initializers.RNG = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not is_positive_int(value):
                raise ConfigError(f"Linear: {name} must be a positive int, got {value!r}")
        dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
        if dtype.kind != "f":
            raise DTypeError(f"Linear: dtype must be a floating dtype, got {dtype}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        n_parameters = self.out_features * (self.in_features + bool(bias))
        check_parameter_memory(self._name(), n_parameters, dtype)
        generator = initializers.as_generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        try:
            weight = np.empty((self.out_features, self.in_features), dtype=dtype)
        except MemoryError:  # where the machine's memory is not known, or less is free
            raise ConfigError(_too_large(self._name(), n_parameters, dtype,
                                         "more than could be allocated")) from None
        self.weight = Parameter(weight)
        initializers.uniform_(self.weight, -bound, bound, rng=generator)
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
            initializers.uniform_(self.bias, -bound, bound, rng=generator)
        else:
            self.bias = None

    def forward(self, x: Any) -> Tensor:
        data = x.data if isinstance(x, Tensor) else x
        if type(data) is not np.ndarray or data.ndim not in (1, 2) or \
                data.shape[-1] != self.in_features:
            self._check_input(np.shape(data))
        return linear(x, self.weight, self.bias)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        """ShapeError unless `shape` is (batch, in_features) or (in_features,)."""
        if len(shape) not in (1, 2):
            raise ShapeError(
                f"{self._name()}: expected input of shape (batch, {self.in_features}) or "
                f"({self.in_features},), got shape {shape} with {len(shape)} dimensions"
                + (f"; flatten the leading dimensions first, e.g. x.reshape(-1, {shape[-1]})"
                   if len(shape) > 2 else "")
            )
        if shape[-1] != self.in_features:
            raise ShapeError(
                f"{self._name()}: expected input with {self.in_features} features in its last "
                f"dimension, got shape {shape}"
            )

    def _name(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")

    def output_features(self, in_features: int | None) -> int | None:
        return self.out_features


# --- activations: parameter-free, applied element by element (softmax along one axis) -------
class _Activation(Module):
    """An activation keeps the number of features, so Sequential's size check looks past it."""

    #: True when each output depends on its own input alone, so the activation can follow a
    #: hidden layer; False for softmax and log-softmax, which mix the features of a sample.
    elementwise: ClassVar[bool] = True

    def output_features(self, in_features: int | None) -> int | None:
        return in_features


class Sigmoid(_Activation):
    """out = σ(net) = 1 / (1 + e^(−net));  ∂out/∂net = out·(1 − out)."""

    def forward(self, x: Any) -> Tensor:
        return activation.sigmoid(x)


class Tanh(_Activation):
    """out = tanh(net);  ∂out/∂net = 1 − out²."""

    def forward(self, x: Any) -> Tensor:
        return activation.tanh(x)


class ReLU(_Activation):
    """out = max(0, net);  ∂out/∂net = 1 where net > 0, else 0."""

    def forward(self, x: Any) -> Tensor:
        return activation.relu(x)


class LeakyReLU(_Activation):
    """out = net where net > 0, else negative_slope·net."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return activation.leaky_relu(_as_tensor(x), self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softplus(_Activation):
    """out = ln(1 + e^net);  ∂out/∂net = σ(net)."""

    def forward(self, x: Any) -> Tensor:
        return activation.softplus(_as_tensor(x))


class Softmax(_Activation):
    """out_i = e^(x_i) / Σ_j e^(x_j) along `axis` (the last by default)."""

    elementwise = False

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Any) -> Tensor:
        return activation.softmax(_as_tensor(x), self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(_Activation):
    """out_i = x_i − ln Σ_j e^(x_j) along `axis` (the last by default)."""

    elementwise = False

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Any) -> Tensor:
        return activation.log_softmax(_as_tensor(x), self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(_Activation):
    """out = net (a linear output unit); returns its input unchanged."""

    def forward(self, x: Any) -> Any:
        return x


# --- shape and regularisation --------------------------------------------------------------
class Flatten(Module):
    """out = x reshaped to (batch, features): every axis from `start_axis` on joined into one."""

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        if not is_int(start_axis) or start_axis < 0:
            raise ConfigError(f"Flatten: start_axis must be a non-negative int, got "
                              f"{start_axis!r}")
        self.start_axis = start_axis

    def forward(self, x: Any) -> Tensor:
        shape = x.shape
        if len(shape) < self.start_axis:
            raise ShapeError(f"Flatten: start_axis {self.start_axis} is beyond the "
                             f"{len(shape)} axes of an input of shape {tuple(shape)}")
        return reshape(x, (*shape[:self.start_axis], -1))

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class LayerNorm(Module):
    """out = (x − mean) / √(var + eps) · weight + bias over the last axis, per sample.

    mean and var (ddof 0) are each sample's own, so it behaves the same in train() and eval();
    weight starts at 1 and bias at 0 (elementwise_affine=False: neither). Written from
    chainrule's ops, so its gradient is theirs (checked against finite differences and
    torch.nn.LayerNorm).
    """

    def __init__(self, features: int, eps: float = 1e-5, elementwise_affine: bool = True, *,
                 dtype: Any = None) -> None:
        super().__init__()
        if not is_positive_int(features):
            raise ConfigError(f"LayerNorm: features must be a positive int, got {features!r}")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
            raise ConfigError(f"LayerNorm: eps must be a small positive number, got {eps!r}")
        dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
        self.features, self.eps = int(features), float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(self.features, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.features, dtype)) if elementwise_affine else None

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", np.shape(x))
        if not shape or shape[-1] != self.features:
            raise ShapeError(f"LayerNorm: expected inputs whose last axis has {self.features} "
                             f"features, got shape {tuple(shape)}")
        centred = x - mean(x, axis=-1, keepdims=True)
        out = centred / sqrt(var(x, axis=-1, keepdims=True) + self.eps)
        return out if self.weight is None else out * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"features={self.features}, eps={self.eps:g}"


class BatchNorm1d(Module):
    """out = (x − μ)/√(σ² + eps) · weight + bias per feature, μ and σ² taken over the batch.

    x: (batch, features) or (batch, features, length). While training, μ and σ² are the batch's
    (so a batch needs two or more values per feature), and the buffers running_mean and
    running_var follow them: running ← (1 − momentum)·running + momentum·batch, the variance
    unbiased, as in PyTorch. In eval() mode μ and σ² are running_mean and running_var, so a
    sample's output no longer depends on the rest of its batch. The buffers start at 0 and 1,
    are saved by state_dict, model files and checkpoints (Note [buffers] in nn/module.py), and
    a traced step updates them as an eager step does. weight starts at 1 and bias at 0 (affine=
    False: neither). The normalization is one op, `BatchNormOp` (ops/normalization.py), with
    the backward through the batch's statistics; it is checked against finite differences and
    torch.nn.BatchNorm1d.
    """

    def __init__(self, features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, *, dtype: Any = None) -> None:
        super().__init__()
        if not is_positive_int(features):
            raise ConfigError(f"BatchNorm1d: features must be a positive int, got {features!r}")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
            raise ConfigError(f"BatchNorm1d: eps must be a small positive number, got {eps!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, int | float) \
                or not 0 <= momentum <= 1:
            raise ConfigError(f"BatchNorm1d: momentum must be a number in [0, 1] (the weight of "
                              f"each new batch in the running statistics), got {momentum!r}")
        dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
        self.features, self.eps, self.momentum = int(features), float(eps), float(momentum)
        self.affine = bool(affine)
        self.weight = Parameter(np.ones(self.features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.features, dtype)) if affine else None
        self.register_buffer("running_mean", np.zeros(self.features, dtype))
        self.register_buffer("running_var", np.ones(self.features, dtype))

    def forward(self, x: Any) -> Tensor:
        shape = tuple(x.shape if hasattr(x, "shape") else np.shape(x))
        if len(shape) not in (2, 3) or shape[1] != self.features:
            raise ShapeError(f"BatchNorm1d: expected inputs of shape (batch, {self.features}) or "
                             f"(batch, {self.features}, length), got {shape}")
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          self.training, self.momentum, self.eps)

    def output_features(self, in_features: int | None) -> int | None:
        return self.features

    def extra_repr(self) -> str:
        return (f"features={self.features}, eps={self.eps:g}, momentum={self.momentum:g}, "
                f"affine={self.affine}")


class Dropout(Module):
    """While training, zero each input with probability p and scale the rest by 1/(1 − p);
    in eval() mode, the identity. rng: an int seed or a numpy Generator for the masks; None
    draws from chainrule's generator, which `cr.manual_seed` reseeds."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise ConfigError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = None if rng is None else initializers.as_generator(rng)

    def forward(self, x: Any) -> Any:
        if not self.training or self.p == 0:
            return x
        return dropout(x, self.p, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --- Sequential ------------------------------------------------------------------------------
def _features(module: Module) -> tuple[int, int] | bool | None:
    """(in, out) features of a module, True if it keeps the count, None if it is unknown."""
    if isinstance(module, Linear):
        return module.in_features, module.out_features
    if isinstance(module, BatchNorm1d | LayerNorm):
        return module.features, module.features
    if isinstance(module, _Activation | Dropout):
        return True
    if isinstance(module, Sequential):
        sizes = [_features(m) for m in module]
        if any(s is None for s in sizes):
            return None
        known = [s for s in sizes if isinstance(s, tuple)]
        return (known[0][0], known[-1][1]) if known else True
    return None


def _label(module: Module, sizes: tuple[int, int]) -> str:
    return f"{type(module).__name__}({sizes[0]}→{sizes[1]})"


class Sequential(Module):
    """Modules applied one after another: `Sequential(Linear(2, 2), Sigmoid())(x)`.

    Sub-modules are named "0", "1", ... (or by the keys of a single mapping argument), so
    parameters are "0.weight", "0.bias", ...  Supports `len`, iteration, `model[i]`, slicing
    (a new Sequential sharing the modules) and `append`.

    At construction (and on append) consecutive Linear layers are checked to chain: each one's
    out_features must equal the next one's in_features, looking past activations. A mismatch
    raises ShapeError naming both layers, instead of failing later inside a forward pass.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items = [(str(name), m) for name, m in modules[0].items()]
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in items:
            self._check_module(name, module)
            self.add_module(name, module)
        self.check_sizes()

    @staticmethod
    def _check_module(name: str, module: Any) -> None:
        if not isinstance(module, Module):
            hint = " (instantiate it: write Sigmoid(), not Sigmoid)" \
                if isinstance(module, type) and issubclass(module, Module) else ""
            raise ConfigError(
                f"Sequential: entry {name} is a {type(module).__name__}, not a Module{hint}"
            )

    def check_sizes(self) -> None:
        """Raise ShapeError if two consecutive Linear layers do not chain (see the class doc)."""
        previous: tuple[int, Module, tuple[int, int]] | None = None
        for index, module in enumerate(self):
            sizes = _features(module)
            if sizes is None:  # a module of unknown shape: start checking afresh after it
                previous = None
            if not isinstance(sizes, tuple):
                continue
            if previous is not None and previous[2][1] != sizes[0]:
                p_index, p_module, p_sizes = previous
                raise ShapeError(
                    f"Sequential: layer {p_index} {_label(p_module, p_sizes)} outputs "
                    f"{p_sizes[1]} features but layer {index} {_label(module, sizes)} expects "
                    f"{sizes[0]}"
                )
            previous = (index, module, sizes)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def output_features(self, in_features: int | None) -> int | None:
        for module in self:
            in_features = module.output_features(in_features)
        return in_features

    def _summary_rows(self, path: str, features: int | None
                      ) -> tuple[list[SummaryRow], int | None]:
        """Each module in turn, each given the features of the one before it; the input's
        are the first layer's in_features when only activations come before it."""
        sizes = next((s for s in map(_features, self) if s is not True), None)
        if features is None and isinstance(sizes, tuple):
            features = sizes[0]
        rows: list[SummaryRow] = []
        for name, module in self._modules.items():
            more, features = module._summary_rows(f"{path}.{name}" if path else name, features)
            rows += more
        return rows, features

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end (named by the current length); returns self."""
        name = str(len(self))
        self._check_module(name, module)
        self.add_module(name, module)
        try:
            self.check_sizes()
        except ShapeError:
            delattr(self, name)
            raise
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        if not is_int(index):
            raise TypeError(f"Sequential indices must be ints or slices, got "
                            f"{type(index).__name__}")
        if not -len(items) <= index < len(items):
            raise IndexError(f"Sequential index {index} is out of range for {len(items)} "
                             "modules")
        return items[index][1]


# --- mlp -------------------------------------------------------------------------------------
#: Every activation by name: the one table of activation names (the CLI's and the config's
#: choices, explain's and the model files' tables are all derived from it).
ACTIVATIONS: dict[str, type[_Activation]] = {
    "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU,
    "softplus": Softplus, "identity": Identity, "softmax": Softmax, "log_softmax": LogSoftmax,
}
#: The element-wise ones, which may follow a hidden layer (all but softmax and log_softmax).
HIDDEN_ACTIVATIONS: dict[str, type[_Activation]] = {
    name: cls for name, cls in ACTIVATIONS.items() if cls.elementwise
}


def _activation(name: Any, table: Mapping[str, type[Module]], argument: str) -> Module:
    if not isinstance(name, str) or name not in table:
        raise ConfigError(
            f"mlp: unknown {argument} {name!r}; valid names are {', '.join(table)}"
        )
    return table[name]()


def mlp(sizes: Sequence[int], activation: str = "sigmoid", output_activation: str | None = None,
        *, bias: bool = True, rng: initializers.RNG = None, dtype: Any = None,
        init: str = "default") -> Sequential:
    """A multilayer perceptron: Linear(sizes[0], sizes[1]), activation, ..., Linear(.., sizes[-1]).

    sizes: the width of every layer, inputs first, e.g. [2, 2, 2] for the notes' network.
    activation: after every hidden Linear — sigmoid, tanh, relu, leaky_relu, softplus or
    identity.  output_activation: after the last Linear (the same names, or softmax and
    log_softmax), or None for raw outputs.  rng: one Generator (or seed) shared by all layers,
    in order, so a seed reproduces the whole network. A network whose weights would not fit
    in this machine's memory is refused before its first layer is built
    (`check_parameter_memory`). init: how the weights start, a name of `nn.init.INITIALIZERS`
    ("default": Linear's own; "xavier_uniform", "xavier_normal", "kaiming_uniform",
    "kaiming_normal": for the activation after each layer, with biases 0).

    >>> mlp([2, 2, 2], "sigmoid", "sigmoid", rng=0)     # the notes' 2-2-2 sigmoid network
    Sequential(
      (0): Linear(in_features=2, out_features=2, bias=True)
      (1): Sigmoid()
      (2): Linear(in_features=2, out_features=2, bias=True)
      (3): Sigmoid()
    )
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence) or len(sizes) < 2 \
            or not all(is_positive_int(n) for n in sizes):
        raise ConfigError(
            f"mlp: sizes must be a sequence of at least 2 positive ints (inputs, ..., "
            f"outputs), got {sizes!r}"
        )
    # validate even when there is no hidden layer
    _activation(activation, HIDDEN_ACTIVATIONS, "activation")
    if output_activation is not None:
        _activation(output_activation, ACTIVATIONS, "output_activation")
    scheme = initializers.INITIALIZERS.get(init) if isinstance(init, str) else None
    if scheme is None:
        raise ConfigError(f"mlp: unknown init {init!r}; valid names are "
                          f"{', '.join(initializers.INITIALIZERS)}")
    sizes = [int(n) for n in sizes]
    check_parameter_memory(f"mlp: sizes {sizes}",
                           sum(n_out * (n_in + bool(bias)) for n_in, n_out in
                               itertools.pairwise(sizes)),
                           get_default_dtype() if dtype is None else dtype)
    generator = initializers.as_generator(rng)
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layer = Linear(n_in, n_out, bias, dtype=dtype, rng=generator)
        following = activation if i < len(sizes) - 2 else output_activation or "identity"
        scheme(layer, following, generator)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(_activation(activation, HIDDEN_ACTIVATIONS, "activation"))
        elif output_activation is not None:
            layers.append(_activation(output_activation, ACTIVATIONS, "output_activation"))
    return Sequential(*layers)
