"""Drawings of computational graphs: `draw(tensor)` and the explain mode's graph, one writer.

`draw(out)` walks the graph behind a tensor (its `.parents`, back to the leaves) and returns a
`Drawing`: one box per tensor with the op that made it, its value (or shape, dtype and
min/mean/max for an array) and its gradient, one arrow per use of a tensor, data flowing left
to right. `.svg` is drawn by chainrule itself, no Graphviz needed; `.dot` is the same graph in
Graphviz DOT; in a notebook the drawing displays inline (`_repr_svg_`).

Anything that can be said as a `Diagram` (boxes with a title, lines of text and a kind; edges
between them) is drawn by the same `layout`, `svg_of` and `dot_of`: the explain mode describes
its step that way (explain/graph.py).

The layout is layered, as Sugiyama et al. describe it: each box goes into a column by the
longest path from the leaves (a leaf sits just before the first box that uses it); an edge
that spans several columns passes each one in a slot of its own, so no edge runs through a box;
a few barycentre sweeps order each column to cut crossings; the heights are then placed as near
as the order allows to the boxes they connect to (least squares, by pooling adjacent
violators). Every number written is rounded to 0.1 px, so the same graph gives the same bytes.
"""

from __future__ import annotations

import html
import itertools
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chainrule import autograd
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

#: the most tensors `draw` draws unless told more (max_nodes=...)
MAX_NODES = 150

KINDS = ("leaf", "constant", "op", "output")
FILL = {"leaf": "#ddf4ff", "constant": "#f6f8fa", "op": "#fff8c5", "output": "#ffebe9"}
STROKE = {"leaf": "#54aeff", "constant": "#8c959f", "op": "#d4a72c", "output": "#cf222e"}
EDGE = "#57606a"
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"

FONT_SIZE = 12
CHAR = 7.3  # the advance of one character of a 12 px monospace font, a little generous
LINE = 16  # px from one line of text to the next
PAD_X, PAD_Y = 8, 6  # inside a box
COLUMN_GAP, ROW_GAP = 64, 18  # between columns, between boxes of one column
SLOT = 6  # the height an edge takes where it passes a column
MARGIN = 16
ARROW = 8  # the arrowhead's length
SWEEPS = 4  # rounds of ordering (each one down and up) and of placing heights


def number(x: float) -> str:
    """A number as chainrule prints it everywhere: at most 9 significant digits (0.593269992)."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.9g}"


# --- the diagram: plain data ----------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """One node: a title (drawn bold), lines of text under it, and its kind (see KINDS)."""

    key: str
    title: str
    lines: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class Diagram:
    """Boxes and edges (source key, target key): the data flows from source to target."""

    boxes: tuple[Box, ...]
    edges: tuple[tuple[str, str], ...]
    caption: str = ""
    name: str = "graph"  # DOT's graph name

    def __post_init__(self) -> None:
        keys = {b.key for b in self.boxes}
        if len(keys) != len(self.boxes):
            raise ValueError("Diagram: two boxes share a key")
        unknown = [k for edge in self.edges for k in edge if k not in keys]
        if unknown:
            raise ValueError(f"Diagram: an edge names the unknown box {unknown[0]!r}")
        bad = [b.kind for b in self.boxes if b.kind not in KINDS]
        if bad:
            raise ValueError(f"Diagram: unknown kind {bad[0]!r}")


def _clean(text: str) -> str:
    """Text that XML and DOT can hold: control characters and lone surrogates become �."""
    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff"
                   else c for c in text)


def _width(text: str) -> float:
    """The drawn width of `text` in characters: wide (East Asian) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in text)


# --- layout ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Layout:
    """Where everything goes: a rectangle per box (diagram order), a path per edge (a list of
    points; the last is the arrow's tip on the target's left side), and the picture's size."""

    rects: tuple[Rect, ...]
    paths: tuple[tuple[tuple[float, float], ...], ...]
    width: float
    height: float


def _columns(diagram: Diagram) -> list[int]:
    """Each box's column: the longest path from a leaf, a leaf just before its first user."""
    index = {b.key: i for i, b in enumerate(diagram.boxes)}
    n = len(index)
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for source, target in diagram.edges:
        parents[index[target]].append(index[source])
        children[index[source]].append(index[target])
    waiting = [len(set(p)) for p in parents]
    ready = [i for i in range(n) if waiting[i] == 0]
    column = [0] * n
    order = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for child in dict.fromkeys(children[i]):
            column[child] = max(column[child], column[i] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) != n:
        raise ValueError("Diagram: the edges form a cycle")
    for i in range(n):
        if not parents[i] and children[i]:
            column[i] = min(column[c] for c in children[i]) - 1
    return column


def _crossings(upper: list[int], lower_of: list[list[int]], position: dict[int, int]) -> int:
    """Crossings between two columns: edges as (upper position, lower position) pairs, counted
    as inversions of the lower positions (a Fenwick tree)."""
    ends = sorted((i, position[j]) for i, node in enumerate(upper) for j in lower_of[node])
    size = max((p for _, p in ends), default=0) + 2
    tree = [0] * (size + 1)
    crossings = 0
    for seen, (_, p) in enumerate(ends):
        k, below = p + 1, 0
        while k > 0:
            below += tree[k]
            k -= k & -k
        crossings += seen - below  # the earlier edges that end below this one cross it
        k = p + 1
        while k <= size:
            tree[k] += 1
            k += k & -k
    return crossings


def _mean(values: list[float], otherwise: float) -> float:
    return sum(values) / len(values) if values else otherwise


def _pool(targets: list[float]) -> list[float]:
    """The non-decreasing sequence nearest `targets` in least squares (pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for t in targets:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return [total / count for total, count in blocks for _ in range(int(count))]


def layout(diagram: Diagram) -> Layout:
    """Place the boxes in columns, left to right, and route every edge (see the module doc)."""
    boxes = diagram.boxes
    n = len(boxes)
    index = {b.key: i for i, b in enumerate(boxes)}
    sizes = [(max(_width(_clean(t)) for t in (b.title, *b.lines)) * CHAR + 2 * PAD_X,
              (1 + len(b.lines)) * LINE + 2 * PAD_Y) for b in boxes]
    column = _columns(diagram)

    # Every edge becomes a chain of segments between neighbouring columns; where it passes a
    # column it takes a slot there (a node of its own, numbered from n on).
    height = [h for _, h in sizes]
    col_of = list(column)
    chains: list[list[int]] = []
    for source, target in diagram.edges:
        s, t = index[source], index[target]
        chain = [s]
        for c in range(column[s] + 1, column[t]):
            col_of.append(c)
            height.append(SLOT)
            chain.append(len(col_of) - 1)
        chains.append([*chain, t])
    total = len(col_of)
    left: list[list[int]] = [[] for _ in range(total)]  # neighbours one column to the left
    right: list[list[int]] = [[] for _ in range(total)]
    for chain in chains:
        for a, b in itertools.pairwise(chain):
            right[a].append(b)
            left[b].append(a)
    count = max(col_of, default=-1) + 1
    columns: list[list[int]] = [[] for _ in range(count)]
    for node in range(total):
        columns[col_of[node]].append(node)

    # Order each column: barycentre sweeps, keeping the order with the fewest crossings.
    position = {node: r for col in columns for r, node in enumerate(col)}

    def all_crossings() -> int:
        return sum(_crossings(columns[c], right, position) for c in range(count - 1))

    def sweep(order: range, neighbours: list[list[int]]) -> None:
        for c in order:
            columns[c].sort(key=lambda node: (_mean([position[m] for m in neighbours[node]],
                                                    position[node]), position[node]))
            position.update((node, r) for r, node in enumerate(columns[c]))

    best, fewest = [list(col) for col in columns], all_crossings()
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        sweep(range(1, count), left)
        sweep(range(count - 2, -1, -1), right)
        found = all_crossings()
        if found < fewest:
            best, fewest = [list(col) for col in columns], found
    columns = best

    # Heights: each column stacked in its order, then moved towards its neighbours' centres.
    top = [0.0] * total
    for col in columns:
        y = 0.0
        for node in col:
            top[node] = y
            y += height[node] + ROW_GAP

    def place(order: range, neighbours: list[list[int]]) -> None:
        for c in order:
            col, offset, targets = columns[c], 0.0, []
            for node in col:
                middle = _mean([top[m] + height[m] / 2 for m in neighbours[node]],
                               top[node] + height[node] / 2)
                targets.append(middle - height[node] / 2 - offset)
                offset += height[node] + ROW_GAP
            offset = 0.0
            for node, z in zip(col, _pool(targets), strict=True):
                top[node] = z + offset
                offset += height[node] + ROW_GAP

    for _ in range(SWEEPS):
        place(range(1, count), left)
        place(range(count - 2, -1, -1), right)

    caption = MARGIN + LINE if diagram.caption else 0
    shift = caption + MARGIN - min(top, default=0.0)
    top = [y + shift for y in top]
    widths = [max((sizes[m][0] for m in col if m < n), default=0.0) for col in columns]
    starts = []
    x = float(MARGIN)
    for w in widths:
        starts.append(x)
        x += w + COLUMN_GAP
    rects = tuple(Rect(starts[column[i]] + (widths[column[i]] - sizes[i][0]) / 2, top[i],
                       sizes[i][0], sizes[i][1]) for i in range(n))

    # Ports: a box's edges leave its right side (enter its left side) spread over its height,
    # in the order of where they go (come from), so they do not cross at the box.
    def centre(node: int) -> float:
        return top[node] + height[node] / 2

    outgoing: dict[int, list[int]] = {}
    incoming: dict[int, list[int]] = {}
    for e, chain in enumerate(chains):
        outgoing.setdefault(chain[0], []).append(e)
        incoming.setdefault(chain[-1], []).append(e)

    def ports(edges: dict[int, list[int]], near: int) -> dict[int, float]:
        found = {}
        for node, es in edges.items():
            es = sorted(es, key=lambda e: (centre(chains[e][near]), e))
            for k, e in enumerate(es):
                found[e] = rects[node].y + rects[node].height * (k + 1) / (len(es) + 1)
        return found

    start_y, end_y = ports(outgoing, 1), ports(incoming, -2)
    paths = []
    for e, chain in enumerate(chains):
        s, t = rects[chain[0]], rects[chain[-1]]
        points = [(s.x + s.width, start_y[e])]
        for node in chain[1:-1]:
            c = col_of[node]
            points += [(starts[c], centre(node)), (starts[c] + widths[c], centre(node))]
        points.append((t.x, end_y[e]))
        paths.append(tuple(points))
    width = max(x - COLUMN_GAP + MARGIN, 2 * MARGIN + _width(_clean(diagram.caption)) * CHAR)
    bottom = max((top[m] + height[m] for m in range(total)), default=float(caption + MARGIN))
    return Layout(rects, tuple(paths), width, bottom + MARGIN)


# --- writers --------------------------------------------------------------------------------
def _n(x: float) -> str:
    """A coordinate: rounded to 0.1 px, without a trailing .0."""
    text = f"{x:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _x(text: str) -> str:
    return html.escape(_clean(text), quote=True)


def _edge_path(points: Sequence[tuple[float, float]]) -> str:
    """Straight where an edge passes a column, a curve (level at both ends) between columns;
    the last stretch stops short of the tip for the arrowhead."""
    (x, y), *rest = points
    parts = [f"M{_n(x)},{_n(y)}"]
    for k, (x1, y1) in enumerate(rest):
        if k == len(rest) - 1:
            x1 -= ARROW
        if k % 2 == 1:  # along a column
            parts.append(f"H{_n(x1)}")
        else:
            mid = (x + x1) / 2
            parts.append(f"C{_n(mid)},{_n(y)} {_n(mid)},{_n(y1)} {_n(x1)},{_n(y1)}")
        x, y = x1, y1
    return " ".join(parts)


def svg_of(diagram: Diagram) -> str:
    """The diagram as a self-contained SVG document (no scripts, styles or links)."""
    box = layout(diagram)
    w, h = _n(box.width), _n(box.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{FONT_SIZE}" '
           'xml:space="preserve">',
           f"<title>{_x(diagram.caption or 'computational graph')}</title>",
           f'<rect width="{w}" height="{h}" fill="#ffffff"/>']
    if diagram.caption:
        out.append(f'<text x="{MARGIN}" y="{MARGIN + FONT_SIZE}" font-weight="bold">'
                   f"{_x(diagram.caption)}</text>")
    titles = {b.key: b.title for b in diagram.boxes}
    out.append('<g class="edges">')
    for (source, target), points in zip(diagram.edges, box.paths, strict=True):
        tip_x, tip_y = points[-1]
        head = (f"{_n(tip_x)},{_n(tip_y)} {_n(tip_x - ARROW)},{_n(tip_y - ARROW / 2)} "
                f"{_n(tip_x - ARROW)},{_n(tip_y + ARROW / 2)}")
        out.append(f'<g class="edge"><title>{_x(titles[source])} → {_x(titles[target])}'
                   f'</title><path d="{_edge_path(points)}" fill="none" stroke="{EDGE}"/>'
                   f'<polygon points="{head}" fill="{EDGE}"/></g>')
    out.append("</g>")
    out.append('<g class="nodes">')
    for b, r in zip(diagram.boxes, box.rects, strict=True):
        thick = "2" if b.kind == "output" else "1"
        out.append(f'<g class="node {b.kind}"><rect x="{_n(r.x)}" y="{_n(r.y)}" '
                   f'width="{_n(r.width)}" height="{_n(r.height)}" rx="4" fill="{FILL[b.kind]}" '
                   f'stroke="{STROKE[b.kind]}" stroke-width="{thick}"/>')
        x, y = _n(r.x + PAD_X), r.y + PAD_Y + FONT_SIZE
        out.append(f'<text x="{x}" y="{_n(y)}" font-weight="bold">{_x(b.title)}</text>')
        if b.lines:
            rule = r.y + PAD_Y + LINE + 1
            out.append(f'<line x1="{_n(r.x)}" y1="{_n(rule)}" x2="{_n(r.x + r.width)}" '
                       f'y2="{_n(rule)}" stroke="{STROKE[b.kind]}" stroke-width="0.5"/>')
        for k, line in enumerate(b.lines, start=1):
            out.append(f'<text x="{x}" y="{_n(y + k * LINE)}">{_x(line)}</text>')
        out.append("</g>")
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    """Text inside a DOT string: backslashes and quotes escaped."""
    return _clean(text).replace("\\", "\\\\").replace('"', '\\"')


def dot_of(diagram: Diagram) -> str:
    """The diagram in Graphviz DOT, laid out left to right like the SVG (`dot -Tsvg` draws it)."""
    lines = [
        f"digraph {diagram.name} {{",
        "  // made by chainrule: data flows along the edges, gradients flow back",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans Mono", '
        "fontsize=10];",
        f'  edge [color="{EDGE}"];',
    ]
    if diagram.caption:
        lines.append(f'  label="{_quote(diagram.caption)}"; labelloc=t;')
    for b in diagram.boxes:
        label = "\\l".join(_quote(t) for t in (b.title, *b.lines)) + "\\l"
        lines.append(f'  {b.key} [label="{label}", fillcolor="{FILL[b.kind]}"];')
    lines += [f"  {source} -> {target};" for source, target in diagram.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- drawings of tensors --------------------------------------------------------------------
SUFFIXES = {".svg": "svg", ".dot": "dot", ".gv": "dot"}


class Drawing:
    """A drawn graph: `.svg` and `.dot` (str), `save(path)`, and inline display in notebooks."""

    def __init__(self, diagram: Diagram) -> None:
        self.diagram = diagram
        self._svg: str | None = None

    @property
    def svg(self) -> str:
        """The drawing as an SVG document, made by chainrule (no Graphviz needed)."""
        if self._svg is None:
            self._svg = svg_of(self.diagram)
        return self._svg

    @property
    def dot(self) -> str:
        """The same graph in Graphviz DOT."""
        return dot_of(self.diagram)

    def save(self, path: str | Path) -> Path:
        """Write the drawing to `path` atomically: .svg for SVG, .dot or .gv for DOT."""
        from chainrule.io import atomic_write_bytes

        path = Path(path)
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"Drawing.save: {str(path)!r} should end in .svg (a drawing) or "
                              ".dot or .gv (Graphviz DOT)")
        atomic_write_bytes(path, (self.svg if kind == "svg" else self.dot).encode("utf-8"))
        return path

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        nodes, edges = len(self.diagram.boxes), len(self.diagram.edges)
        return (f"<Drawing of {nodes} node{'s' * (nodes != 1)} and {edges} "
                f"edge{'s' * (edges != 1)}: .svg, .dot, .save('graph.svg')>")


def _every_gradient(root: Tensor, nodes: list[Tensor]) -> dict[int, np.ndarray]:
    """∂root/∂node for every node that has one, by the one backward executor; every `.grad`
    is left as it was (they are set aside for the walk and put back after it)."""
    if not root.requires_grad or root.data.size != 1:
        why = (f"has shape {root.shape}" if root.requires_grad
               else "does not require grad (no input has requires_grad=True)")
        raise ConfigError(f"draw: grads=True computes ∂out/∂node for every node, which needs "
                          f"an output of one value that requires grad; this one {why}")
    kept = [(t, t.grad) for t in nodes]
    heard: dict[int, np.ndarray] = {}
    try:
        for t in nodes:
            t.grad = None
        autograd.backward(root, retain_graph=True,
                          recorder=lambda node, g, _: heard.__setitem__(id(node), g))
        return {id(t): heard.get(id(t), t.grad) for t in nodes
                if id(t) in heard or t.grad is not None}
    finally:
        for t, grad in kept:
            t.grad = grad


def _summary(label: str, array: np.ndarray) -> list[str]:
    if array.size == 1:
        return [f"{label} = {number(float(array.reshape(-1)[0]))}"]
    if array.size == 0:
        return [f"{label}: empty"]
    with np.errstate(all="ignore"):
        values = array.astype(np.float64)
        low, mean, high = float(values.min()), float(values.mean()), float(values.max())
    return [f"{label} min {number(low)} mean {number(mean)} max {number(high)}"]


def _box(t: Tensor, key: str, root: Tensor, grad: np.ndarray | None,
         names: Mapping[int, str]) -> Box:
    name = names.get(id(t)) or t.name
    if t is root:
        kind = "output"
    elif t.parents:
        kind = "op"
    else:
        kind = "leaf" if t.requires_grad else "constant"
    title = (f"{name} = {t.op}" if name and t.op
             else name or t.op or ("leaf" if t.requires_grad else "constant"))
    lines = [] if t.data.ndim == 0 else [f"shape {t.shape} {t.dtype}"]
    lines += _summary("value", t.data)
    if grad is not None:
        lines += _summary("grad", np.asarray(grad))
    return Box(key, title, tuple(lines), kind)


def draw(out: Tensor, *, grads: bool = False, names: Mapping[str, Tensor] | None = None,
         max_nodes: int = MAX_NODES) -> Drawing:
    """Draw the graph behind `out`: every tensor it was computed from, with its op, its value
    and its gradient.

    >>> a = cr.tensor(2.0, requires_grad=True, name="a")
    >>> L = (a * a + 1) * -2
    >>> L.backward(retain_graph=True)   # keep the graph to draw it afterwards
    >>> cr.draw(L)                      # a notebook shows the drawing; .svg, .dot, .save(path)

    grads: False shows the gradients already known (`.grad`: the leaves after backward, and
        tensors that `retain_grad()`); True computes ∂out/∂node for every node with one more
        backward pass (out must hold one value), leaving every `.grad` as it was.
    names: titles for tensors, {"w": w, ...} (a tensor's own `name` is used otherwise).
    max_nodes: the most tensors drawn; a larger graph is refused with a ConfigError.
    Only tensors recorded for backward are drawn with their parents: an op on tensors that
    need no gradient keeps no graph, and backward() frees the graph unless retain_graph=True.
    """
    from chainrule.tensor import Tensor

    if not isinstance(out, Tensor):
        raise ConfigError(f"draw: expected a Tensor, got {type(out).__name__}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ConfigError(f"draw: max_nodes should be a whole number of at least 1, got "
                          f"{max_nodes!r}")
    titles: dict[int, str] = {}
    for name, t in (names or {}).items():
        if not isinstance(t, Tensor):
            raise ConfigError(f"draw: names[{name!r}] should be a Tensor, got "
                              f"{type(t).__name__}")
        titles[id(t)] = str(name)
    nodes = autograd.graph(out, "draw")
    if len(nodes) > max_nodes:
        raise ConfigError(f"draw: the graph has {len(nodes)} nodes, more than max_nodes="
                          f"{max_nodes}; pass max_nodes={len(nodes)} (a drawing that large is "
                          "hard to read) or draw a smaller part of the computation")
    if grads:
        known = _every_gradient(out, nodes)
    else:
        known = {id(t): t.grad for t in nodes if t.grad is not None}
    keys = {id(t): f"n{i}" for i, t in enumerate(nodes)}
    boxes = tuple(_box(t, keys[id(t)], out, known.get(id(t)), titles) for t in nodes)
    edges = tuple((keys[id(p)], keys[id(t)]) for t in nodes for p in t.parents)
    caption = "grad = ∂out/∂node, for every node" if grads else ""
    return Drawing(Diagram(boxes, edges, caption, name="computation"))
