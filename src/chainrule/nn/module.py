"""Module and Parameter: the containers that layers, losses and whole networks are built from.

A `Parameter` is a leaf tensor that a module owns and an optimizer updates. A `Module` registers
every Parameter and sub-Module assigned to it as an attribute, in assignment order, so that
`model.named_parameters()` lists them as dotted paths ("0.weight", "hidden.bias") in the same
order on every run — the order explanations print and state dicts are written in.

>>> from chainrule.nn import Linear
>>> class TwoLayer(Module):
...     def __init__(self):
...         super().__init__()
...         self.hidden = Linear(2, 2)       # registered as "hidden"
...         self.output = Linear(2, 2)       # registered as "output"
...     def forward(self, x):
...         return self.output(self.hidden(x).sigmoid()).sigmoid()
>>> [name for name, _ in TwoLayer().named_parameters()]
['hidden.weight', 'hidden.bias', 'output.weight', 'output.bias']

Note [frozen parameters]
    `Parameter(data, requires_grad=False)` (or `param.requires_grad_(False)`) is a frozen
    parameter: it is still part of the model — listed by `parameters()`, saved in `state_dict()`
    — but backward computes no gradient for it, so its `.grad` stays None and an optimizer that
    skips parameters without a gradient leaves it unchanged. The worked example's biases b1 and
    b2 are frozen this way, so that only w1..w8 learn.

Note [buffers]
    A buffer is an array a module keeps that is not learned by gradients: BatchNorm1d's running
    mean and variance. `register_buffer(name, array)` registers it; it is then an attribute (a
    NumPy array), listed by `named_buffers()`, and saved and loaded with the parameters by
    `state_dict()`/`load_state_dict()` — so model files and checkpoints hold it. Optimizers
    never see it. A module changes its buffers in place, and load_state_dict copies into them,
    so an op or a traced step that holds a buffer keeps seeing the module's current values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.tensor import Tensor, get_default_dtype


class Parameter(Tensor):
    """A leaf tensor owned by a module; `requires_grad=True` unless it is frozen.

    data: array-like; the parameter keeps a private copy, so in-place updates never write into
    the caller's array.  dtype: a floating dtype; by default a floating NumPy array keeps its
    own, and anything else (Python numbers, lists, integer arrays) becomes the default dtype
    (`chainrule.get_default_dtype()`, float32 unless changed).

    >>> w = Parameter([[0.15, 0.20], [0.25, 0.30]])
    >>> w.shape, w.requires_grad
    ((2, 2), True)
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None,
                 name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None:
            kind = data.dtype.kind if isinstance(data, np.ndarray | np.generic) else ""
            dtype = data.dtype if kind == "f" else get_default_dtype()
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(
                f"Parameter: needs a floating dtype, got {dtype}; parameters are learned by "
                f"gradients, which integers do not have: pass dtype={get_default_dtype().name}"
            )
        super().__init__(np.array(data, dtype=dtype), requires_grad=requires_grad, name=name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class SummaryRow(NamedTuple):
    """One module of `Module.summary()`: its dotted path and type, the number of features of
    its output (None where it is not known), and the parameters it owns itself."""

    name: str
    kind: str
    features: int | None
    parameters: tuple[tuple[str, tuple[int, ...], bool], ...]  # (name, shape, trainable)

    @property
    def count(self) -> int:
        return sum(math.prod(shape) for _, shape, _ in self.parameters)

    @property
    def trainable(self) -> int:
        return sum(math.prod(shape) for _, shape, learns in self.parameters if learns)


class ModelSummary(NamedTuple):
    """A model's layers, output shapes and parameter counts: `Module.summary()`.

    rows: the modules that own parameters or have no sub-modules, in `named_modules` order.
    total / trainable: the model's numbers (`num_parameters`; a shared parameter counts once).
    str() and repr() are a text table; in a notebook it shows itself as an HTML table.
    """

    model: str
    rows: tuple[SummaryRow, ...]
    total: int
    trainable: int

    def __str__(self) -> str:
        rows = [[row.name, row.kind, _shape_text(row.features), _holds(row), f"{row.count:,}",
                 f"{row.trainable:,}"] for row in self.rows]
        widths = [max(len(r[i]) for r in [SUMMARY_HEADER, *rows])
                  for i in range(len(SUMMARY_HEADER))]
        lines = ["  ".join(text.rjust(w) if i >= 4 else text.ljust(w)
                           for i, (text, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                 for r in [SUMMARY_HEADER, *rows]]
        return "\n".join([self.model, *lines, self._totals()])

    __repr__ = __str__

    def _totals(self) -> str:
        frozen = self.total - self.trainable
        return f"{self.total:,} parameters: {self.trainable:,} trainable, {frozen:,} frozen"

    def _repr_html_(self) -> str:
        from chainrule.display import Html, escape, fragment, table

        rows: list[list[Any]] = [[row.name, row.kind, _shape_text(row.features), _holds(row),
                                  row.count, row.trainable] for row in self.rows]
        rows.append([Html("<b>total</b>"), "", "", "", self.total, self.trainable])
        body = table(SUMMARY_HEADER, rows, row_classes=[""] * len(self.rows) + ["total"])
        return fragment(f"<p><b>{escape(self.model)}</b></p>\n{body}\n"
                        f'<p class="note">{escape(self._totals())}</p>', "chainrule-model")


SUMMARY_HEADER = ["layer", "type", "output", "holds", "parameters", "trainable"]


def _holds(row: SummaryRow) -> str:
    """'weight (2, 2), bias (2,) frozen'."""
    return ", ".join(f"{name} {shape}" + ("" if learns else " frozen")
                     for name, shape, learns in row.parameters)


def _shape_text(features: int | None) -> str:
    return "?" if features is None else f"(batch, {features})"


class LoadResult(NamedTuple):
    """What `load_state_dict(..., strict=False)` skipped (both lists are empty when strict)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers, activations, losses and whole networks.

    Subclasses call `super().__init__()` first, assign their Parameters and sub-Modules as
    attributes, and define `forward(...)`; calling the module runs `forward`.

    training: True after `train()` (the default), False after `eval()`; set on every sub-module.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    # --- registration ----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params: dict[str, Parameter] | None = self.__dict__.get("_parameters")
        modules: dict[str, Module] | None = self.__dict__.get("_modules")
        if params is None or modules is None:
            if isinstance(value, Parameter | Module):
                raise AttributeError(
                    f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() "
                    "has run; call super().__init__() at the top of your __init__"
                )
            object.__setattr__(self, name, value)
            return
        buffers: dict[str, np.ndarray | None] = self.__dict__["_buffers"]
        if name in buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"{type(self).__name__}: buffer {name!r} holds a NumPy array "
                                f"(or None), got {type(value).__name__}")
            buffers[name] = value
        elif isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        elif name in params and value is not None:
            raise TypeError(
                f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter "
                f"{name!r}; wrap it as Parameter(...) or use set_values_ from chainrule.nn.init "
                "to change its values in place"
            )
        else:  # a plain attribute, or None replacing a parameter or sub-module
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` under `name` (the same as `setattr(self, name, param)`)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, "
                            f"got {type(param).__name__}")
        setattr(self, name, param)

    def register_buffer(self, name: str, array: Any) -> None:
        """Keep `array` (a NumPy array, copied, or None) as the buffer `name` (Note [buffers])."""
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"register_buffer: the name must be an identifier, got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or sub-module "
                           f"of {type(self).__name__}")
        self._buffers[name] = None
        setattr(self, name, None if array is None else np.array(array))

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` under `name`, which may be any string (Sequential uses "0", "1")."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, "
                            f"got {type(module).__name__}")
        setattr(self, name, module)

    # --- running ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- walking the tree ------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their attribute names, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named `prefix`, '' by default) and every module below it, depth first.

        A module reachable along two paths is listed once, under the first path.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted path ("0.weight", "hidden.bias"), each once.

        Order: a module's own parameters in assignment order, then its sub-modules' in
        assignment order, depth first. A parameter shared by two modules is listed once.
        """
        return self._named("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer with its dotted path ("1.running_mean"), each once, in the order of
        `named_parameters`."""
        return self._named("_buffers", prefix, recurse)

    def _named(self, table: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        """The entries of each module's `table` (_parameters or _buffers) by dotted path, each
        object once: a module's own in assignment order, then its sub-modules', depth first."""
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        seen: set[int] = set()
        for path, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, array in self.named_buffers(recurse=recurse):
            yield array

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model holds (only those that require grad if trainable_only)."""
        return sum(p.data.size for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def apply(self, fn: Any) -> Module:
        """Call `fn` on every sub-module (children first, in order) and then on self; returns self.

        >>> from chainrule.nn import Linear, Sequential, Sigmoid, init
        >>> model = Sequential(Linear(2, 2), Sigmoid())
        >>> model = model.apply(lambda m: init.zeros_(m.bias) if isinstance(m, Linear) else None)
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set `training` on this module and every sub-module; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """The same as `train(False)`."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient (`.grad` becomes None)."""
        for param in self.parameters():
            param.grad = None

    def requires_grad_(self, flag: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(flag)
        return self

    # --- saving and loading ----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values and every buffer (Note [buffers]), keyed by
        dotted path: the parameters in `named_parameters` order, then the buffers.

        Frozen parameters are included: they are part of the model.
        """
        return {name: array.copy() for name, array in self._arrays().items()}

    def _arrays(self) -> dict[str, np.ndarray]:
        """The arrays a state dict holds, by name: the parameters' and the buffers."""
        return {**{name: param.data for name, param in self.named_parameters()},
                **dict(self.named_buffers())}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy the values in `state` into the parameters and buffers, in place.

        Everything is checked before anything is copied, so a failed load leaves the module
        unchanged: missing and unexpected keys (`ConfigError`, only when strict), values whose
        shape differs from the parameter's (`ShapeError`) and values that are not real numbers
        (`ConfigError`). Values are cast to each parameter's dtype, so a float64 state dict
        loads into a float32 model. The parameters stay the same objects (an optimizer holding
        them keeps working).

        Returns the keys that were skipped, as `LoadResult(missing_keys, unexpected_keys)`.
        """
        if not isinstance(state, Mapping):
            raise ConfigError(f"{type(self).__name__}.load_state_dict: expected a mapping from "
                              f"names to arrays, got {type(state).__name__}")
        params, buffers = self._arrays(), dict(self.named_buffers())
        missing = [name for name in params if name not in state]
        unexpected = [str(name) for name in state if name not in params]
        owner = f"{type(self).__name__}.load_state_dict"
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            raise ConfigError(
                f"{owner}: {' and '.join(problems)}; the model's keys are {list(params)} "
                "(pass strict=False to load only the keys both have)"
            )

        values: dict[str, np.ndarray] = {}
        wrong_shapes, wrong_kinds = [], []
        for name, param in params.items():
            if name not in state:
                continue
            value = state[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            values[name] = value
            if value.dtype.kind not in "fiu":
                wrong_kinds.append(f"{name!r} has dtype {value.dtype}")
            elif value.shape != param.shape:
                what = "buffer" if name in buffers else "parameter"
                wrong_shapes.append(f"{name!r} has shape {value.shape} but the {what} has "
                                    f"shape {param.shape}")
        if wrong_shapes:
            raise ShapeError(f"{owner}: {'; '.join(wrong_shapes)}; was the state dict saved "
                             "from a model with other layer sizes?")
        if wrong_kinds:
            raise ConfigError(f"{owner}: {'; '.join(wrong_kinds)}; parameter values must be "
                              "real numbers (floating or integer arrays)")

        for name, value in values.items():
            params[name][...] = value.astype(params[name].dtype, copy=False)
        return LoadResult(missing, unexpected)

    # --- printing --------------------------------------------------------------------------
    def summary(self) -> ModelSummary:
        """Every layer with its output shape (where it is known) and the parameters it holds,
        and the totals: trainable and frozen (Note [frozen parameters]).

        >>> from chainrule.nn import Linear, Sequential, Sigmoid
        >>> Sequential(Linear(2, 2), Sigmoid(), Linear(2, 2), Sigmoid()).summary().total
        12
        """
        rows, _ = self._summary_rows("", None)
        return ModelSummary(type(self).__name__, tuple(rows), self.num_parameters(),
                            self.num_parameters(trainable_only=True))

    def output_features(self, in_features: int | None) -> int | None:
        """The number of features of this module's output, given that of its input (None:
        not known); `summary` shows it. A module of its own returns None unless it says."""
        return None

    def _summary_rows(self, path: str, features: int | None
                      ) -> tuple[list[SummaryRow], int | None]:
        """The rows of this module and those below it, given the features of its input, and
        the features of its output. Sub-modules of a plain Module may run in any order, so
        each is summarised without knowing its input (Sequential knows better)."""
        out = self.output_features(features)
        rows = []
        own = tuple((name, tuple(p.shape), p.requires_grad)
                    for name, p in self._parameters.items() if p is not None)
        if own or not self._modules:
            rows.append(SummaryRow(path or "(model)", type(self).__name__, out, own))
        for name, child in self._modules.items():
            if child is not None:
                rows += child._summary_rows(f"{path}.{name}" if path else name, None)[0]
        return rows, out

    def _repr_html_(self) -> str:
        """In a notebook: the summary as a table."""
        return self.summary()._repr_html_()

    def extra_repr(self) -> str:
        """The settings printed inside the parentheses, e.g. 'in_features=2, out_features=2'."""
        return ""

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_text}")
        if not self._modules:
            return f"{type(self).__name__}({''.join(lines)})"
        body = "\n  ".join(lines)
        return f"{type(self).__name__}(\n  {body}\n)"
