"""backward(): the chain rule applied to a whole graph, once, in reverse topological order.

Running ops forward builds a graph: each result tensor records the `Function` that made it
(ops/base.py), its parents (an ordered tuple), its forward's outputs and its attributes.
`backward` reads that graph once (`graph`), writes it as a schedule of steps, newest op first
(`schedule`), and runs the schedule (`chain_rule`): each step calls its op's backward, the
vector-Jacobian product, with the summed gradient of the op's result. A traced step (trace.py)
runs the very same schedule and loop on new arrays; explain's recorder and `cr.draw` read the
graph through the same walk. There is one executor.

Note [gradient accumulation]
    A tensor used in several places (`b = a + a`, a hidden unit feeding two outputs) receives one
    gradient per use; the total derivative is their sum (∂E/∂out_h1 = ∂E_o1/∂out_h1 +
    ∂E_o2/∂out_h1 in the notes). Gradients meet in one table and are summed, never overwritten.
    Leaves keep theirs in `.grad`, which also sums across backward calls until it is reset.

Note [broadcasting]
    An op's VJP returns a gradient of the op's *output* shape; where NumPy broadcast an input,
    `unbroadcast` sums the gradient back to that input's shape here, in one place, so every VJP
    is plain same-shape math. A gradient that is not the input's shape broadcast to (part of)
    the result's, or not in the input's dtype, is the op's bug and is reported naming the op (a
    user's own Function included).

Note [all or nothing]
    A backward can fail: the graph reaches a part that an earlier backward() freed, or a VJP
    raises. The walk checks the whole graph before any VJP runs, gradients are added to `.grad`
    only once every step has run, and the graph is freed only then, so a failed backward changes
    nothing anywhere and can be retried.

Note [gradient ownership]
    A VJP may hand the same array to two parents (add returns (g, g)) or a view of it (reshape).
    That is safe inside the walk, which never writes into a gradient, but `.grad` is the user's
    to change in place, so a leaf gets a private copy when its array is shared or read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

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
        self.tracing = False  # record every op, for a traced step (see `tracing`)


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


class enable_grad:
    """Context manager under which ops record a graph, even inside a no_grad() block."""

    def __enter__(self) -> None:
        _GradMode.saved.append(_GradMode.enabled)
        _GradMode.enabled = True

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = _GradMode.saved.pop()


class tracing:
    """Context manager under which every op is recorded, also ops whose inputs need no
    gradient (the batch scaled, a mask compared from it), so that a traced step (trace.py)
    can replay them on the next batch instead of freezing the first batch's values."""

    def __enter__(self) -> None:
        self.saved = _GradMode.tracing
        _GradMode.tracing = True

    def __exit__(self, *exc: object) -> None:
        _GradMode.tracing = self.saved


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes NumPy broadcast, so it has `shape` again (Note [broadcasting])."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    kept_ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if kept_ones:
        grad = grad.sum(axis=kept_ones, keepdims=True)
    return grad


class _Freed(tuple):
    """The outputs of an op whose graph a backward() has freed."""


FREED = _Freed()
Step = tuple  # (op, gather, input slots, result slot, needs, attrs): one VJP of a schedule


def graph(root: Tensor, caller: str = "backward") -> list[Tensor]:
    """Every tensor `root` was computed from, and root, oldest first (creation order, which is a
    topological order). The one graph walk: backward, traced steps, explain's recorder and
    `cr.draw` read graphs through it. A part freed by an earlier backward is a GraphError."""
    if root._outputs is FREED:
        raise _freed_error(caller)
    seen = {id(root): root}
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        for parent in pop()._parents:
            key = id(parent)
            if key not in seen:
                seen[key] = parent
                if parent._parents:  # only an op's result has parents to visit
                    push(parent)
                elif parent._outputs is FREED:  # a freed result has none left
                    raise _freed_error(caller)
    return sorted(seen.values(), key=_creation)


def _freed_error(caller: str) -> GraphError:
    return GraphError(
        f"{caller}: the graph behind this tensor was already freed by an earlier "
        "backward(); call backward(retain_graph=True) the first time to use it again"
    )


_creation = attrgetter("_seq")
_data = attrgetter("data")
_outputs = attrgetter("_outputs")
_requires_grad = attrgetter("requires_grad")


def schedule(nodes: list[Tensor]) -> list[Step]:
    """The backward steps of `nodes` (as `graph` returns them), newest op first, in slots: the
    inputs of a step are positions in `nodes`."""
    slot = {id(t): i for i, t in enumerate(nodes)}.__getitem__
    steps = []
    for out in range(len(nodes) - 1, -1, -1):
        node = nodes[out]
        if node._outputs is None:
            continue
        parents = node._parents
        inputs = tuple(map(slot, map(id, parents)))
        steps.append((node._fn, gatherer(inputs), inputs, out,
                      tuple(map(_requires_grad, parents)), node._attrs))
    return steps


def gatherer(slots: tuple[int, ...]) -> Callable[[list], tuple]:
    """values → the tuple of the arrays at `slots` (one C call)."""
    if len(slots) == 1:
        index = slots[0]
        return lambda values: (values[index],)
    return itemgetter(*slots) if slots else lambda values: ()


def chain_rule(steps: list[Step], values: list, outputs: list, grads: list,
               recorder: Callable[[int, np.ndarray, tuple], None] | None = None) -> None:
    """THE backward loop. grads[slot] holds ∂E/∂values[slot] (None until one arrives); each
    step turns its result's gradient into its inputs' (the op's VJP) and sums them into grads
    (Note [gradient accumulation]). outputs[slot]: what that op's forward returned."""
    for op, gather, inputs, out, needs, attrs in steps:
        g = grads[out]
        if g is None:
            continue
        in_grads = op.backward(g, gather(values), outputs[out], needs, **attrs)
        if type(in_grads) is not tuple or len(in_grads) != len(inputs):
            in_grads = _as_tuple(op, in_grads, len(inputs))
        if recorder is not None:
            recorder(out, g, in_grads)
        for i, pg, need in zip(inputs, in_grads, needs, strict=True):
            if pg is None or not need:
                continue
            value = values[i]
            if type(pg) is not np.ndarray or pg.shape != value.shape or \
                    (pg.dtype is not value.dtype and pg.dtype != value.dtype):
                pg = _fitted(op, pg, value, values[out])
            previous = grads[i]
            grads[i] = pg if previous is None else previous + pg


def _as_tuple(op: Any, in_grads: Any, count: int) -> tuple:
    """A VJP's bare array (for one input) or list as the tuple the loop reads."""
    if isinstance(in_grads, list):
        in_grads = tuple(in_grads)
    elif not isinstance(in_grads, tuple):
        if count != 1:
            raise _vjp_error(op, f"returned a {type(in_grads).__name__}, not a tuple of "
                                 f"{count} gradients (one per input, None for one without)")
        in_grads = (in_grads,)
    if len(in_grads) != count:
        raise _vjp_error(op, f"returned {len(in_grads)} gradients for {count} inputs")
    return in_grads


def _fitted(op: Any, grad: Any, value: np.ndarray, result: np.ndarray) -> np.ndarray:
    """A gradient summed back to its input's shape (Note [broadcasting]), or the op's error."""
    if not isinstance(grad, np.ndarray | np.generic):
        raise _vjp_error(op, f"returned a {type(grad).__name__} as a gradient, not a NumPy array")
    if grad.dtype != value.dtype:
        raise _vjp_error(op, f"returned a {grad.dtype} gradient for a {value.dtype} input of "
                             f"shape {value.shape}; return it in the input's dtype")
    if grad.shape == value.shape:
        return grad
    extra = grad.ndim - value.ndim  # axes NumPy prepended to the input, which the result has
    broadcast = 0 <= extra and grad.ndim <= result.ndim and \
        grad.shape[:extra] == result.shape[result.ndim - grad.ndim:][:extra]
    summed = unbroadcast(grad, value.shape) if broadcast else grad
    if summed.shape != value.shape:
        raise _vjp_error(op, f"returned a gradient of shape {grad.shape} for an input of shape "
                             f"{value.shape} (the result has shape {result.shape})")
    return summed


def _vjp_error(op: Any, problem: str) -> GraphError:
    where = f"{op.__module__}.{op.__qualname__}.backward"
    return GraphError(f"backward: op {op.name!r} ({where}) {problem}; a gradient has its "
                      "input's dtype and shape (or the result's, where the input was broadcast)")


def gradients(root: Tensor, grad: Any = None, *, retain_graph: bool = False,
              recorder: Recorder | None = None) -> tuple[list[Tensor], list]:
    """∂root/∂t for every tensor t of root's graph: (nodes, grads) in `graph`'s order, a grad
    None where none arrived. Touches no `.grad`; frees the graph unless retain_graph."""
    if not root.requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad, so there is nothing to differentiate; "
            "create the inputs with requires_grad=True (and not under no_grad())"
        )
    seed = _seed(root, grad)
    nodes = graph(root)
    steps = schedule(nodes)
    grads: list = [None] * len(nodes)
    grads[-1] = seed
    listen = None if recorder is None else (
        lambda out, g, in_grads: recorder(nodes[out], g, in_grads))
    chain_rule(steps, list(map(_data, nodes)), list(map(_outputs, nodes)), grads, listen)
    if not retain_graph:
        for step in steps:
            node = nodes[step[3]]
            node._outputs, node._parents = FREED, ()
    return nodes, grads


def _seed(root: Tensor, grad: Any) -> np.ndarray:
    if grad is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward: the output has shape {root.data.shape}, not a single value; pass "
                "its gradient explicitly, e.g. y.backward(np.ones_like(y.numpy())), or reduce "
                "it first with .sum() or .mean()"
            )
        seed = np.array(1, dtype=root.data.dtype)
        return seed.reshape(root.data.shape) if root.data.ndim else seed
    seed = np.array(grad, dtype=root.data.dtype)  # a copy: the caller's array stays theirs
    if seed.shape != root.data.shape:
        raise ShapeError(
            f"backward: the output gradient has shape {seed.shape} but the output has shape "
            f"{root.data.shape}; they must match"
        )
    return seed


def backward(
    root: Tensor,
    grad: np.ndarray | float | None = None,
    *,
    retain_graph: bool = False,
    recorder: Recorder | None = None,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """Accumulate ∂root/∂leaf into `leaf.grad` for every leaf that requires a gradient.

    Runs each op's VJP exactly once, newest op first, with the summed gradient of its result
    (Note [gradient accumulation]).

    grad: ∂E/∂root, of root's shape; may be omitted only when root holds one value (then 1).
    retain_graph: keep the graph so that backward can run through it again.
    recorder: called as recorder(node, ∂E/∂node, (∂E/∂parent, ...)) for every op node, in the
        order the chain rule visits them (the explain mode listens here).
    inputs: accumulate into these tensors' .grad only, leaves or not (as PyTorch's inputs=).
    """
    wanted = None
    if inputs is not None:
        inputs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        for t in inputs:
            if not getattr(t, "requires_grad", False):
                raise GraphError("backward: every tensor in inputs= must be a Tensor that "
                                 f"requires grad; got {t!r}")
        wanted = {id(t) for t in inputs}
    nodes, grads = gradients(root, grad, retain_graph=retain_graph, recorder=recorder)
    owned: set[int] = set()  # Note [gradient ownership]
    for node, g in zip(nodes, grads, strict=True):
        if g is None or not node.requires_grad:
            continue
        if wanted is None:  # a leaf's _outputs is None; a freed op result's is FREED
            if node._outputs is None or node._retains_grad:
                _accumulate(node, g, owned)
        elif id(node) in wanted:
            _accumulate(node, g, owned)


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
