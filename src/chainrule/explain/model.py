"""The structured result of `explain`: every number of one training step, ready to render.

A step on one sample is described by `forward`, `errors`, `deltas` and `gradients`. A step on
a batch of samples keeps those fields for the sample written out in full (`shown`), adds every
sample's own forward pass, errors and δ's in `samples`, and its gradients are the batch's: each
holds the samples' own derivatives in `terms`, which the loss's reduction over the batch turns
into the gradient (Note [batches] in build.py).

Everything here is plain data (floats, strings, tuples), built once by build.py from what the
engine recorded; the renderers only format it. `Explanation.to_dict()` gives JSON-ready values.
Units, weights and biases are named as in Note [naming] (notation.py). Fields that identify
something — a unit's `name`, `unit` and `via`, a parameter's `param`, the keys of
`StepRow.params` — hold those names ("h1", "w5") in either notation; every other string (a
symbol, a formula, a term) is written in the explanation's notation, and
`Naming.of(explanation.network)` turns a name into its symbol (Note [two notations]).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from chainrule.errors import ConfigError


@dataclass(frozen=True)
class Term:
    """One product w·x in a unit's net input: weight `weight` times source `source`."""

    weight: str
    weight_value: float
    source: str
    source_value: float


@dataclass(frozen=True)
class Unit:
    """A neuron in the forward pass: net = Σ w·x + b, out = f(net)."""

    name: str
    layer: int
    activation: str
    terms: tuple[Term, ...]
    bias: str | None
    bias_value: float | None
    net: float
    out: float


@dataclass(frozen=True)
class OutputError:
    """One output's target and output, and its share E_o of the error (None for softmax CE)."""

    unit: str
    target: float
    out: float
    error: float | None
    probability: float | None = None  # p_o = softmax(net)_o, for cross-entropy


@dataclass(frozen=True)
class Factor:
    """One link of a chain: its symbol, textbook formula, the formula with numbers, its value,
    and for a piecewise slope (ReLU) the case that applies: '(net_h1 = -0.5978 ≤ 0)'."""

    symbol: str
    formula: str
    numbers: str
    value: float
    note: str = ""


@dataclass(frozen=True)
class PathTerm:
    """One path from a unit to the error: through unit `via`, δ_via × w(unit → via)."""

    via: str
    symbol: str
    delta: str
    delta_value: float
    weight: str
    weight_value: float
    value: float


@dataclass(frozen=True)
class Delta:
    """A unit's error term δ = ∂E/∂net = ∂E/∂out × ∂out/∂net, computed once and reused.

    dE_dout: ∂E/∂out — from the loss for an output unit, else the sum of `paths`; None where
    softmax and cross-entropy are fused (then `fused` holds δ = p − t).  value: the engine's
    ∂E/∂net.  product: the product of the printed factors (equal to `value` to rounding).
    used_by: the parameters whose gradient reuses this δ, then the units of the layer below.
    """

    unit: str
    layer: int
    dE_dout: Factor | None
    paths: tuple[PathTerm, ...]
    dout_dnet: Factor | None
    fused: Factor | None
    value: float
    product: float
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class Gradient:
    """∂E/∂param as a chain-rule product, beside its finite-difference check.

    factors: ∂E/∂out × ∂out/∂net × ∂net/∂param (∂E/∂net × ∂net/∂param when fused).  grad: the
    engine's gradient.  product: the product of the printed factors.  numeric: the central
    difference (E(p + h) − E(p − h)) / 2h.  difference: grad − numeric.
    """

    param: str
    kind: str  # "weight" or "bias"
    layer: int
    source: str  # the unit the weight reads from ("1" for a bias)
    unit: str  # the unit it feeds
    value: float
    factors: tuple[Factor, ...]
    delta: str
    grad: float
    product: float
    numeric: float
    difference: float
    terms: tuple[float, ...] = ()  # a batch: ∂E[k]/∂param of each sample k (its own backward)


@dataclass(frozen=True)
class Sample:
    """One sample of a batch, as its own one-sample explanation would show it: its inputs and
    targets, its forward pass, its error E[k] and its error terms δ_u[k] = ∂E[k]/∂net_u."""

    index: int
    inputs: tuple[tuple[str, float], ...]
    targets: tuple[tuple[str, float], ...]
    target_class: int | None
    forward: tuple[tuple[Unit, ...], ...]
    errors: tuple[OutputError, ...]
    error: float
    deltas: tuple[tuple[Delta, ...], ...]

    def unit(self, name: str) -> Unit:
        return _find((u for layer in self.forward for u in layer), "name", name, "unit")

    def delta(self, unit: str) -> Delta:
        return _find((d for layer in self.deltas for d in layer), "unit", unit, "unit")


@dataclass(frozen=True)
class SequentialDelta:
    """In the sequential variant: a hidden unit's δ recomputed with the updated weights above."""

    unit: str
    layer: int
    paths: tuple[PathTerm, ...]
    dE_dout: float
    dout_dnet: float
    value: float


@dataclass(frozen=True)
class Update:
    """w⁺ = w − η·∂E/∂w for one parameter; direction is 'down', 'up', 'none' or 'fixed'."""

    param: str
    before: float
    grad: float  # the gradient the update used
    after: float
    direction: str
    learns: bool
    true_grad: float  # ∂E/∂w from the backward pass (differs from grad only when sequential)


@dataclass(frozen=True)
class StepRow:
    """After `step` updates: the error and every learned parameter."""

    step: int
    error: float
    params: dict[str, float]


@dataclass(frozen=True)
class GraphNode:
    """A tensor of the step's computational graph, with each element's value and gradient."""

    key: str
    title: str
    op: str  # "" for a leaf
    rows: tuple[tuple[str, float, float | None], ...]  # (element name, value, ∂E/∂element)


@dataclass(frozen=True)
class Graph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]  # (parent key, child key)


@dataclass(frozen=True)
class Network:
    """What was explained: sizes, activations, loss and the update rule."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]  # one per Linear layer; "softmax" = fused into cross-entropy
    loss: str
    reduction: str
    loss_formula: str
    lr: float
    update_biases: bool
    sequential: bool
    inputs: tuple[tuple[str, float], ...]
    targets: tuple[tuple[str, float], ...]
    target_class: int | None = None  # cross-entropy
    description: str = ""
    alphas: tuple[float, ...] = ()  # LeakyReLU's negative slope, per layer
    samples: int = 1  # how many samples the step is taken on (inputs, targets: the shown one's)
    notation: str = "unit"  # how the strings are written: "unit" or "layer"


@dataclass(frozen=True)
class Explanation:
    """Every chain-rule step of one training step; see `chainrule.explain.explain`.

    forward: the units layer by layer (inputs excluded).  deltas: δ of every unit, output layer
    first (the order backward visits them).  gradients: every parameter, output layer first.
    updates: parameter order (w1.. then biases).  error / error_after: E before and after the
    step; error_after_other: E after the other update variant (sequential vs simultaneous).
    steps: the compact table for several steps (step 0 = before any update).
    A batch: `samples` holds every sample (`sample(k)`), `shown` is the one whose forward pass,
    errors and δ's fill `forward`, `errors` and `deltas`; `error` is the batch's E.
    max_chains, max_samples: how much the documents write out (the data holds everything).
    """

    network: Network
    forward: tuple[tuple[Unit, ...], ...]
    errors: tuple[OutputError, ...]
    error: float
    deltas: tuple[tuple[Delta, ...], ...]
    gradients: tuple[Gradient, ...]
    eps: float
    max_product_error: float
    updates: tuple[Update, ...]
    sequential_deltas: tuple[tuple[SequentialDelta, ...], ...]
    error_after: float
    error_after_other: float
    steps: tuple[StepRow, ...]
    graph: Graph
    notes: tuple[str, ...] = field(default=())
    samples: tuple[Sample, ...] = ()  # every sample of a batch; () for one sample
    shown: int = 0
    max_chains: int = 50
    max_samples: int = 10

    # --- lookup ----------------------------------------------------------------------------
    def unit(self, name: str) -> Unit:
        return _find((u for layer in self.forward for u in layer), "name", name, "unit")

    def delta(self, unit: str) -> Delta:
        return _find((d for layer in self.deltas for d in layer), "unit", unit, "unit")

    def gradient(self, param: str) -> Gradient:
        return _find(self.gradients, "param", param, "parameter")

    def update(self, param: str) -> Update:
        return _find(self.updates, "param", param, "parameter")

    def sample(self, k: int) -> Sample:
        """Sample k (0-based) of a batch."""
        if not self.samples:
            raise KeyError("this explanation is of one sample; its numbers are the fields "
                           "forward, errors and deltas themselves")
        if not 0 <= k < len(self.samples):
            raise KeyError(f"no sample {k}; the batch has samples 0 to {len(self.samples) - 1}")
        return self.samples[k]

    @property
    def batch_size(self) -> int:
        return max(1, len(self.samples))

    @property
    def outputs(self) -> tuple[Unit, ...]:
        return self.forward[-1]

    @property
    def max_check_difference(self) -> float:
        return max((abs(g.difference) for g in self.gradients), default=0.0)

    # --- output ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every value as JSON-ready Python data (dicts, lists, floats, strings)."""
        return _plain(dataclasses.asdict(self))

    @overload
    def render(self, format: str = "text", path: None = None, **options: Any) -> str: ...

    @overload
    def render(self, format: str, path: str | os.PathLike[str], **options: Any) -> Path: ...

    def render(self, format: str = "text", path: str | os.PathLike[str] | None = None,
               **options: Any) -> str | Path:
        """The explanation as 'text', 'markdown', 'html' or 'json' (see chainrule.explain), or
        its computational graph as 'dot' or 'svg'.

        With `path`, the document is written there instead (atomically) and the path returned.
        'xlsx', a workbook, is binary and needs a path: ex.render("xlsx", "step.xlsx").
        """
        if format not in RENDERERS:
            raise ConfigError(f"explain: unknown format {format!r}; choose one of "
                              f"{', '.join(document_formats())}")
        if path is None and format in BINARY_FORMATS:
            raise ConfigError(f"explain: the {format} format is a file, not text: give the "
                              f"file to write, ex.render({format!r}, path='step.{format}')")
        document = RENDERERS[format](self, **options)
        if path is None:
            return document
        from chainrule.io import atomic_write_bytes

        data = document if isinstance(document, bytes) else document.encode("utf-8")
        atomic_write_bytes(path, data)
        return Path(path)

    def to_dot(self) -> str:
        """The step's computational graph in Graphviz DOT, with values and gradients."""
        return self.render("dot")

    def __str__(self) -> str:
        return self.render("text")

    def _repr_html_(self) -> str:
        """In a notebook: the HTML page's content, its style scoped to the output."""
        return self.render("html", notebook=True)

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def __repr__(self) -> str:
        sizes = " → ".join(str(n) for n in self.network.sizes)
        return (f"Explanation({sizes}, loss={self.network.loss!r}, E={self.error:.9g}, "
                f"E_after={self.error_after:.9g})")


# --- renderers ---------------------------------------------------------------------------------
#: format → function(explanation, **options) -> str (bytes for a binary format). Each renderer
#: module registers itself with `@renders("markdown")` when it is imported (chainrule.explain
#: imports them all), so this module, which they import, imports none of them. "dot" and
#: "svg" are the graph (graph.py), the others are documents.
RENDERERS: dict[str, Callable[..., str | bytes]] = {}
#: the formats whose renderer returns bytes, written only to a file (render(format, path))
BINARY_FORMATS: set[str] = set()


def renders(format: str, *, binary: bool = False
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register `function` as the renderer of `format`; returns it unchanged.

    binary: the function returns bytes, which `Explanation.render` writes only to a path.
    """
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        RENDERERS[format] = function
        if binary:
            BINARY_FORMATS.add(format)
        return function

    return register


GRAPH_FORMATS = ("dot", "svg")


def document_formats() -> tuple[str, ...]:
    """The registered formats of whole documents, in registration order (all but the graph's)."""
    return tuple(name for name in RENDERERS if name not in GRAPH_FORMATS)


def _find(items: Any, attribute: str, name: str, what: str) -> Any:
    items = list(items)
    for item in items:
        if getattr(item, attribute) == name:
            return item
    known = ", ".join(getattr(item, attribute) for item in items)
    raise KeyError(f"no {what} named {name!r}; known: {known}")


def _plain(value: Any) -> Any:
    """Tuples to lists and NumPy scalars to Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value
