"""backward(): the chain rule applied to a whole graph, once, in reverse topological order.

Running ops forward builds a graph: each result tensor keeps its parents (an ordered tuple) and a
closure `backward(g)` that turns ∂E/∂out into (∂E/∂parent for each parent) — the op's
vector-Jacobian product. `backward` walks that graph from the loss E back to the leaves.

Note [gradient accumulation]
    A tensor used in several places (`b = a + a`, a hidden unit feeding two outputs) receives one
    gradient per use; the total derivative is their sum (∂E/∂out_h1 = ∂E_o1/∂out_h1 +
    ∂E_o2/∂out_h1 in the notes). Gradients meet in one table and are summed, never overwritten.
    Leaves keep theirs in `.grad`, which also sums across backward calls until it is reset.

Note [broadcasting]
    An op's VJP returns a gradient of the op's *output* shape; where NumPy broadcast an input,
    `unbroadcast` sums the gradient back to that input's shape here, in one place, so every VJP
    is plain same-shape math.

Note [all or nothing]
    A walk can fail half-way: it reaches a part of the graph that an earlier backward() freed,
    or a VJP raises. Gradients that reach leaves are therefore summed aside and only added to
    their `.grad` once the walk has finished, so a failed backward adds nothing anywhere (the
    part of the graph it walked before failing is freed, as a finished walk would have done).
    Checking the whole graph first would cost a second walk on every backward; summing aside
    costs nothing extra, since each leaf's contributions are summed anyway.

Note [gradient ownership]
    A VJP may hand the same array to two parents (add returns (g, g)) or a view of it (reshape).
    That is safe inside the walk, which never writes into a gradient, but `.grad` is the user's
    to change in place, so a leaf gets a private copy when its array is shared or read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import numpy as np

from chainrule.errors import GraphError, ShapeError

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

Recorder = Callable[["Tensor", np.ndarray, tuple], None]


class _GradModeState(threading.local):
    """Whether ops record a graph, per thread (as in PyTorch); switched off by `no_grad()`."""

    def __init__(self) -> None:
        self.enabled = True  # each thread starts with recording on
        self.saved: list[bool] = []  # the modes that no_grad() blocks will restore, innermost last


_GradMode = _GradModeState()


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class no_grad:
    """Context manager (and decorator) under which ops build no graph.

    >>> with no_grad():
    ...     y = model(x)          # y.requires_grad is False; nothing is kept for backward
    """

    def __enter__(self) -> None:  # the saved mode lives with the thread, not the instance, so
        _GradMode.saved.append(_GradMode.enabled)  # one no_grad() can be entered twice, or
        _GradMode.enabled = False                  # from two threads

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = _GradMode.saved.pop()

    def __call__(self, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes NumPy broadcast, so it has `shape` again (Note [broadcasting])."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    kept_ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if kept_ones:
        grad = grad.sum(axis=kept_ones, keepdims=True)
    return grad


def _freed_graph(grad: np.ndarray) -> tuple:
    raise GraphError(
        "backward: this part of the graph was already freed by an earlier backward(); "
        "call backward(retain_graph=True) the first time to go through it twice"
    )


def backward(
    root: Tensor,
    grad: np.ndarray | float | None = None,
    *,
    retain_graph: bool = False,
    recorder: Recorder | None = None,
) -> None:
    """Accumulate ∂root/∂leaf into `leaf.grad` for every leaf that requires a gradient.

    Walks the graph once, newest tensor first, calling each op's VJP exactly once with the
    summed gradient of its output (Note [gradient accumulation]).

    grad: ∂E/∂root, of root's shape; may be omitted only when root holds one value (then 1).
    retain_graph: keep the graph so that backward can run through it again.
    recorder: called as recorder(node, ∂E/∂node, (∂E/∂parent, ...)) for every op node, in the
        order the chain rule visits them (the explain mode listens here).
    """
    if not root.requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad, so there is nothing to differentiate; "
            "create the inputs with requires_grad=True (and not under no_grad())"
        )
    if grad is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward: the output has shape {root.data.shape}, not a single value; pass "
                "its gradient explicitly, e.g. y.backward(np.ones_like(y.numpy())), or reduce "
                "it first with .sum() or .mean()"
            )
        seed = np.array(1, dtype=root.data.dtype)
        if root.data.ndim:
            seed = seed.reshape(root.data.shape)
    else:
        seed = np.array(grad, dtype=root.data.dtype)  # a copy: the caller's array stays theirs
        if seed.shape != root.data.shape:
            raise ShapeError(
                f"backward: the output gradient has shape {seed.shape} but the output has shape "
                f"{root.data.shape}; they must match"
            )

    # One pass, newest tensor first (the reverse of creation order is a topological order):
    # a tensor is queued when its first gradient arrives, and every tensor that uses it was
    # created later, so all of its gradients have arrived by the time it is popped. Leaves
    # are never queued: their gradients are summed in `finished` and added to .grad at the
    # end, so a walk that fails half-way (Note [all or nothing]) leaves every .grad as it was.
    owned: set[int] = set()  # Note [gradient ownership]
    if root._backward is None:
        _accumulate(root, seed, owned)
        return
    grads: dict[int, np.ndarray] = {id(root): seed}
    finished: dict[int, tuple[Tensor, np.ndarray]] = {}  # leaves and retained tensors
    queue: list[tuple[int, Tensor]] = [(-root._seq, root)]
    while queue:
        node = heappop(queue)[1]
        g = grads.pop(id(node))
        if node._retains_grad:
            finished[id(node)] = (node, g)
        parent_grads = node._backward(g)
        if recorder is not None:
            recorder(node, g, parent_grads)
        for parent, pg in zip(node._parents, parent_grads, strict=True):
            if pg is None or not parent.requires_grad:
                continue
            if pg.shape != parent.data.shape:
                pg = _summed_to_shape(node, parent, pg)
            key = id(parent)
            if parent._backward is None:
                done = finished.get(key)
                finished[key] = (parent, pg if done is None else done[1] + pg)
                continue
            previous = grads.get(key)
            if previous is None:
                grads[key] = pg
                heappush(queue, (-parent._seq, parent))
            else:
                grads[key] = previous + pg
        if not retain_graph:
            node._backward = _freed_graph
            node._parents = ()
    for node, g in finished.values():
        _accumulate(node, g, owned)


def _summed_to_shape(node: Tensor, parent: Tensor, grad: np.ndarray) -> np.ndarray:
    """The gradient unbroadcast to the parent's shape; a VJP that got shapes wrong is a bug."""
    summed = unbroadcast(grad, parent.data.shape)
    if summed.shape != parent.data.shape:
        raise GraphError(
            f"backward: op {node.op!r} returned a gradient of shape {grad.shape} for an input "
            f"of shape {parent.data.shape}; this is a bug in that op's VJP"
        )
    return summed


def _accumulate(node: Tensor, g: np.ndarray, owned: set[int]) -> None:
    """node.grad += g; the first time, node gets an array of its own (Note [gradient ownership])."""
    if node.grad is not None:
        node.grad = np.asarray(node.grad + g)
        return
    if type(g) is not np.ndarray:  # a 0-d result can come back as a NumPy scalar
        node.grad = np.array(g)
        return
    owner = id(g if g.base is None else g.base)
    if owner in owned or not g.flags.writeable:
        g = g.copy()
    else:
        owned.add(owner)
    node.grad = g
