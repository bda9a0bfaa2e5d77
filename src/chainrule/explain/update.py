"""The update w⁺ = w − η·∂E/∂w, in the two orders a learner meets.

Note [simultaneous vs sequential]
    Gradient descent takes every gradient from one backward pass at the current weights, then
    moves every weight: the *simultaneous* update, which is what `optim.SGD` after
    `loss.backward()` does, and what the notes intend. It gives E = 0.291027774 after the
    first step of the worked example.

    The widely copied write-up of that example prints 0.291027924 instead. Its script (an
    earlier version) updated the output weights w5..w8 first and then computed the hidden
    layer's gradients with the *updated* w5..w8:  ∂E/∂out_h1 = δ_o1·w5⁺ + δ_o2·w7⁺ instead of
    δ_o1·w5 + δ_o2·w7. That is the *sequential* variant here: layer by layer from the output
    down, each layer is updated as soon as its gradients are known, and the layer below
    back-propagates through the weights just updated (the forward values and the δ of the
    output units stay those of the original forward pass). It is not the gradient of E at
    any one point, so it is offered only to reproduce that page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainrule import autograd
from chainrule.explain.network import Layer
from chainrule.explain.recorder import Trace
from chainrule.optim import SGD
from chainrule.tensor import Tensor

Learn = list[tuple[bool, bool]]  # per layer: (the weight learns, the bias learns)


def forward(layers: list[Layer], a: Tensor) -> Tensor:
    for layer in layers:
        a = layer.linear(a)
        if layer.module is not None:
            a = layer.module(a)
    return a


def error_at(layers: list[Layer], x: np.ndarray, target: np.ndarray,
             loss_fn: Callable[[Tensor, Tensor], Tensor]) -> float:
    """E for the current parameters (no graph is built)."""
    with autograd.no_grad():
        return float(loss_fn(forward(layers, Tensor(x)), Tensor(target)).data)


def learning_params(layer: Layer, learns: tuple[bool, bool]) -> list:
    weight_learns, bias_learns = learns
    params = [layer.linear.weight] if weight_learns else []
    if bias_learns and layer.linear.bias is not None:
        params.append(layer.linear.bias)
    return params


def sgd_step(layers: list[Layer], learn: Learn, lr: float) -> None:
    """The simultaneous update: every learning parameter moves by −η·.grad (optim.SGD)."""
    params = [p for layer, flags in zip(layers, learn, strict=True)
              for p in learning_params(layer, flags) if p.grad is not None]
    if params:
        SGD(params, lr=lr).step()


@dataclass
class SequentialLayer:
    """A hidden layer's gradients in the sequential variant (see the Note above)."""

    weight_above: np.ndarray  # the layer above's weights after their update
    delta_above: np.ndarray  # the δ of the layer above that was back-propagated
    dE_dout: np.ndarray  # ∂E/∂out through the updated weights
    delta: np.ndarray
    grad_weight: np.ndarray
    grad_bias: np.ndarray | None


def sequential_step(layers: list[Layer], trace: Trace, learn: Learn,
                    lr: float) -> list[SequentialLayer | None]:
    """Update the output layer, then each layer below with gradients through updated weights.

    Expects the gradients of the full backward pass that produced `trace` in `.grad`. Returns,
    per layer, what the layer's update used (None for the output layer, which uses its true
    gradients). Every gradient still comes from the engine: for a hidden layer l, a fresh
    graph net_l → out_l → net_(l+1) is built on the recorded input of layer l with the updated
    weights of layer l+1, and backward is seeded with δ_(l+1).
    """
    top = len(layers) - 1
    sgd_one(layers[top], learn[top], lr)
    delta_above = np.atleast_2d(trace.layers[top].delta)  # (samples, units), one row or more
    results: list[SequentialLayer | None] = [None] * len(layers)
    for index in range(top - 1, -1, -1):
        layer, above = layers[index], layers[index + 1]
        for p in layer.params() + above.params():
            p.grad = None
        net = layer.linear(Tensor(np.atleast_2d(trace.layers[index].a_in)))
        out = net if layer.module is None else layer.module(net)
        net_above = above.linear(out)
        heard = _listen(net_above, delta_above)
        delta = np.array(heard[id(net)][0], dtype=np.float64)
        bias = layer.linear.bias
        results[index] = SequentialLayer(
            weight_above=np.array(above.linear.weight.data, copy=True),
            delta_above=_one_row(delta_above),
            dE_dout=_one_row(np.array(heard[id(net_above)][1][0], dtype=np.float64)),
            delta=_one_row(delta),
            grad_weight=np.array(layer.linear.weight.grad, copy=True),
            grad_bias=None if bias is None or bias.grad is None
            else np.array(bias.grad, copy=True),
        )
        sgd_one(layer, learn[index], lr)
        delta_above = delta
    return results


def _one_row(a: np.ndarray) -> np.ndarray:
    """One sample's row as a vector (the form the explanation reads); a batch as it is."""
    return a.reshape(-1) if a.shape[0] == 1 else a


def sgd_one(layer: Layer, learns: tuple[bool, bool], lr: float) -> None:
    params = [p for p in learning_params(layer, learns) if p.grad is not None]
    if params:
        SGD(params, lr=lr).step()


def _listen(root: Tensor, grad: np.ndarray) -> dict[int, tuple]:
    """Backward from `root` seeded with `grad`; what the recorder heard, by node id."""
    heard: dict[int, tuple] = {}

    def listen(node: Tensor, g: np.ndarray, parent_grads: tuple) -> None:
        heard[id(node)] = (g, parent_grads)

    autograd.backward(root, grad, recorder=listen)
    return heard
