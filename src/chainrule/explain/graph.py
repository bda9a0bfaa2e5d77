"""The computational graph of the explained step, drawn by chainrule.draw (DOT and SVG).

One node per tensor the engine built — the inputs, each weight matrix and bias vector, each
layer's net and out, the targets and E — with every element's value and its gradient ∂E/∂·
from the same backward pass. Edges follow the data forward; backpropagation walks them in
reverse. `ex.render("dot")` and `ex.render("svg")` are the same diagram in two formats.
"""

from __future__ import annotations

from chainrule.draw import Box, Diagram, dot_of, svg_of
from chainrule.explain import notation as nt
from chainrule.explain.model import Explanation, GraphNode, renders


def _box(node: GraphNode, parents: list[str], error: str) -> Box:
    title = node.title if not node.op else f"{node.title} = {node.op}({', '.join(parents)})"
    lines = []
    for name, value, grad in node.rows:
        row = f"{name} = {nt.fmt(value)}"
        if grad is not None:
            row += f"    ∂{error}/∂{name} = {nt.fmt(grad) if name != error else 1}"
        lines.append(row)
    if node.title == error:
        kind = "output"
    elif node.op:
        kind = "op"
    else:  # a weight or bias has gradients; the inputs and targets are constants of the step
        kind = "leaf" if any(grad is not None for _, _, grad in node.rows) else "constant"
    return Box(node.key, title, tuple(lines), kind)


def diagram(ex: Explanation) -> Diagram:
    """The step's graph as a diagram: each node lists its elements' values and gradients."""
    error = nt.Naming.of(ex.network).error  # E, or C₀ in the layer notation
    titles = {n.key: n.title for n in ex.graph.nodes}
    parents: dict[str, list[str]] = {n.key: [] for n in ex.graph.nodes}
    for source, target in ex.graph.edges:
        parents[target].append(titles[source])
    caption = f"{ex.network.description}: {error} = {nt.fmt(ex.error)}"
    return Diagram(tuple(_box(n, parents[n.key], error) for n in ex.graph.nodes),
                   ex.graph.edges, caption=caption, name="step")


@renders("dot")
def to_dot(ex: Explanation) -> str:
    """The step's graph in Graphviz DOT."""
    return dot_of(diagram(ex))


@renders("svg")
def to_svg(ex: Explanation) -> str:
    """The step's graph drawn as SVG by chainrule (no Graphviz needed)."""
    return svg_of(diagram(ex))
