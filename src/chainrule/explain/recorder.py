"""Run one forward and one backward pass and keep every value and gradient the engine computed.

The forward pass is the model's own: each Linear layer, then its activation, then the loss —
exactly what `model(x)` and `loss(y, t)` do. The backward pass is `autograd.backward` with a
recorder: for every op node, newest first, the engine hands over the node, ∂E/∂node and the
gradients it sends to the node's parents (its vector-Jacobian product). Nothing here patches or
re-implements the engine; it listens, and copies the numbers it hears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainrule import autograd
from chainrule.explain.model import Graph, GraphNode
from chainrule.explain.network import Layer
from chainrule.explain.notation import Naming
from chainrule.tensor import Tensor


@dataclass
class LayerTrace:
    """What the engine computed for one Linear layer. For one sample the per-unit arrays are
    1-D (one value per unit); for a batch they are (samples, units), row k for sample k."""

    a_in: np.ndarray  # the layer's input values (i or out of the layer below)
    weight: np.ndarray  # (out, in), as they were during the step
    bias: np.ndarray | None
    net: np.ndarray  # net = W·a_in + b   (the `linear` node's value)
    out: np.ndarray  # out = f(net)       (the activation node's value; net for identity)
    dE_dout: np.ndarray  # ∂E/∂out, as it arrived at the out node
    delta: np.ndarray  # ∂E/∂net, as it arrived at the linear node
    grad_weight: np.ndarray  # the linear node's VJP for W (= the weight's .grad)
    grad_bias: np.ndarray | None
    grad_input: np.ndarray | None  # the linear node's VJP for its input (None for the inputs)


@dataclass
class Trace:
    layers: list[LayerTrace]
    error: float
    dE_dprediction: np.ndarray  # the loss node's VJP for the prediction
    graph: Graph


def _row(a: np.ndarray | None) -> np.ndarray | None:
    """A float64 copy: 1-D for one sample (or a vector), (samples, units) for a batch."""
    if a is None:
        return None
    array = np.array(a, dtype=np.float64)
    return array if array.ndim == 2 and array.shape[0] > 1 else array.reshape(-1)


def record(layers: list[Layer], x: np.ndarray, target: np.ndarray,
           loss_fn: Callable[[Tensor, Tensor], Tensor], naming: Naming,
           with_graph: bool = True) -> Trace:
    """Forward and backward once on `layers` (whose parameters all require grad).

    Leaves every parameter's gradient in `.grad`, as `E.backward()` does. with_graph: also
    describe the computational graph (for drawing it); steps after the first skip that.
    """
    for layer in layers:
        for p in layer.params():
            p.grad = None
    inputs = Tensor(x)
    steps: list[tuple[Tensor, Tensor, Tensor]] = []  # (input, net, out) per layer
    a = inputs
    for layer in layers:
        net = layer.linear(a)
        out = net if layer.module is None else layer.module(net)
        steps.append((a, net, out))
        a = out
    target_tensor = Tensor(target)
    E = loss_fn(a, target_tensor)

    # read before backward, which frees the graph
    structure = [(t, t.parents) for t in autograd.graph(E)] if with_graph else []
    heard: dict[int, tuple[np.ndarray, tuple]] = {}

    def listen(node: Tensor, grad: np.ndarray, parent_grads: tuple) -> None:
        heard[id(node)] = (np.array(grad, copy=True), tuple(
            None if g is None else np.array(g, copy=True) for g in parent_grads))

    autograd.backward(E, recorder=listen)

    traces = []
    for layer, (a_in, net, out) in zip(layers, steps, strict=True):
        delta, (grad_input, grad_weight, *grad_bias) = heard[id(net)]
        dE_dout = heard[id(out)][0] if out is not net else delta
        traces.append(LayerTrace(
            a_in=_row(a_in.data), weight=np.array(layer.linear.weight.data, copy=True),
            bias=_row(None if layer.linear.bias is None else layer.linear.bias.data),
            net=_row(net.data), out=_row(out.data), dE_dout=_row(dE_dout), delta=_row(delta),
            grad_weight=np.array(grad_weight, dtype=np.float64),
            grad_bias=_row(grad_bias[0] if grad_bias else None), grad_input=_row(grad_input),
        ))
    graph = _graph(structure, heard, _roles(layers, steps, inputs, target_tensor, E, naming)) \
        if with_graph else Graph((), ())
    return Trace(traces, float(E.data), _row(heard[id(E)][1][0]), graph)


# --- the graph, as the engine built it ------------------------------------------------------
def _roles(layers: list[Layer], steps: list[tuple[Tensor, Tensor, Tensor]], inputs: Tensor,
           target: Tensor, E: Tensor, naming: Naming) -> dict[int, tuple[str, list[str]]]:
    """A title and element names for each tensor we know: 'W2', [w5, w6, w7, w8]; in the
    layer notation 'W⁽²⁾', [w⁽²⁾₁₁, ...]."""
    n, L = naming, naming.layers
    samples = inputs.shape[0]

    def each(names: list[str]) -> list[str]:  # a batch: sample k's elements are name[k]
        return names if samples == 1 else [f"{m}[{k}]" for k in range(samples) for m in names]

    roles: dict[int, tuple[str, list[str]]] = {
        id(inputs): (n.group("out", 0) if n.layered else "i", each([n.out(u) for u in n.units(0)])),
        id(target): (n.target_letter, each([n.target(u) for u in n.units(L)]
                                           if target.data.dtype.kind == "f" else ["class"])),
        id(E): (n.error, [n.error]),
    }
    for k, (layer, (_, net, out)) in enumerate(zip(layers, steps, strict=True), start=1):
        units = n.units(k)
        rows, cols = layer.linear.weight.shape
        roles[id(layer.linear.weight)] = (
            n.group("W", k), [n.symbol(n.weight(k, r, c)) for r in range(rows)
                              for c in range(cols)])
        if layer.linear.bias is not None:
            roles[id(layer.linear.bias)] = (n.group("b", k),
                                            [n.symbol(n.bias(k, r)) for r in range(rows)])
        roles[id(net)] = (n.group("net", k), each([n.net(u) for u in units]))
        if out is not net:
            roles[id(out)] = (n.group("out", k), each([n.out(u) for u in units]))
    return roles


def _graph(structure: list[tuple[Tensor, tuple[Tensor, ...]]],
           heard: dict[int, tuple[np.ndarray, tuple]],
           roles: dict[int, tuple[str, list[str]]]) -> Graph:
    keys = {id(t): f"n{i}" for i, (t, _) in enumerate(structure)}
    nodes, edges = [], []
    for t, parents in structure:
        title, names = roles.get(id(t), (t.op or "tensor", []))
        values = np.asarray(t.data, dtype=np.float64).reshape(-1)
        if id(t) in heard:
            grads = heard[id(t)][0].reshape(-1)
        elif t.grad is not None:
            grads = np.asarray(t.grad).reshape(-1)
        else:
            grads = None
        rows = tuple(
            (names[i] if i < len(names) else f"[{i}]", float(v),
             None if grads is None else float(grads[i]))
            for i, v in enumerate(values)
        )
        nodes.append(GraphNode(keys[id(t)], title, t.op, rows))
        edges.extend((keys[id(p)], keys[id(t)]) for p in parents)
    return Graph(tuple(nodes), tuple(edges))
