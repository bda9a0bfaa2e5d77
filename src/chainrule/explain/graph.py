"""The computational graph of the explained step, as Graphviz DOT (and SVG when dot exists).

One node per tensor the engine built — the inputs, each weight matrix and bias vector, each
layer's net and out, the targets and E — with every element's value and its gradient ∂E/∂·
from the same backward pass. Edges follow the data forward; backpropagation walks them in
reverse. `to_svg` runs Graphviz's `dot -Tsvg` if it is installed and returns None otherwise.
"""

from __future__ import annotations

import shutil
import subprocess

from chainrule.errors import ConfigError
from chainrule.explain import notation as nt
from chainrule.explain.model import Explanation, GraphNode, renders

_FILL = {"leaf": "#ddf4ff", "op": "#fff8c5", "E": "#ffebe9"}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _label(node: GraphNode, parents: list[str], error: str) -> str:
    head = node.title if not node.op else f"{node.title} = {node.op}({', '.join(parents)})"
    lines = [head]
    for name, value, grad in node.rows:
        row = f"{name} = {nt.fmt(value)}"
        if grad is not None:
            row += f"    ∂{error}/∂{name} = {nt.fmt(grad) if name != error else 1}"
        lines.append(row)
    return "\\l".join(_quote(line) for line in lines) + "\\l"


@renders("dot")
def to_dot(ex: Explanation) -> str:
    """The step's graph in DOT: each node lists its elements' values and gradients."""
    error = nt.Naming.of(ex.network).error  # E, or C₀ in the layer notation
    titles = {n.key: n.title for n in ex.graph.nodes}
    parents: dict[str, list[str]] = {n.key: [] for n in ex.graph.nodes}
    for source, target in ex.graph.edges:
        parents[target].append(titles[source])
    lines = [
        "digraph step {",
        "  // made by chainrule explain: data flows along the edges, gradients flow back",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans Mono", '
        "fontsize=10];",
        '  edge [color="#57606a"];',
        f'  label="{_quote(ex.network.description)}: {error} = {nt.fmt(ex.error)}"; '
        "labelloc=t;",
    ]
    for node in ex.graph.nodes:
        kind = "E" if node.title == error else "op" if node.op else "leaf"
        lines.append(f'  {node.key} [label="{_label(node, parents[node.key], error)}", '
                     f'fillcolor="{_FILL[kind]}"];')
    lines += [f"  {source} -> {target};" for source, target in ex.graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_graphviz() -> bool:
    return shutil.which("dot") is not None


def to_svg(dot: str) -> str | None:
    """The DOT drawn as SVG by Graphviz, or None when `dot` is not installed."""
    program = shutil.which("dot")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-Tsvg"], input=dot.encode("utf-8"),
                              capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"explain: Graphviz's dot failed: {error}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"explain: Graphviz's dot failed: {message[0] if message else ''}")
    return done.stdout.decode("utf-8")
