"""A traced training step: record the graph of one step once, then replay it as flat NumPy calls.

Eager mode builds a graph of tensors on every step, and on a tiny network that bookkeeping costs
more than the arithmetic. A traced step runs the same step once eagerly, keeps the list of ops
it was made of, and from then on calls each op's `Kernel` forward and backward (ops/base.py) —
the very functions eager mode calls — in that fixed order, on plain arrays, with no tensors,
graph walk or gradient table. Then the optimizer updates the parameters as usual.

    step = TracedStep(model, nn.CrossEntropyLoss(), optimizer, x_batch, y_batch)
    for x, y in batches:           # batches of the traced shape
        loss = step(x, y)          # forward, loss, backward and update; returns E before it

A trace is valid for one network, loss and batch shape; eager mode stays the default and the
reference, and a trace checks itself against the eager step it was recorded from.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ChainruleError, ShapeError
from chainrule.tensor import Tensor


class TraceError(ChainruleError, RuntimeError):
    """The step cannot be traced (an op without a Kernel, an unknown input), or disagrees."""


@dataclass(frozen=True)
class _Op:
    """One recorded op: its kernel, the slots of its inputs and result, what it needs."""

    kernel: Any
    attrs: dict
    inputs: tuple[int, ...]  # slots of the parents' values
    out: int  # slot of the result
    needs: list[bool]  # which parents need a gradient
    unbroadcast: tuple[bool, ...]  # which parents' gradients must be summed to their shape

    @property
    def gather(self) -> Any:
        """values → the tuple of this op's input arrays (one C call)."""
        if len(self.inputs) == 1:
            index = self.inputs[0]
            return lambda values: (values[index],)
        return itemgetter(*self.inputs)


class TracedStep:
    """The step forward → loss → backward → update of `model`, replayable on new batches.

    x, y: an example batch; the trace accepts batches of exactly these shapes and dtypes.
    """

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any, x: np.ndarray,
                 y: np.ndarray) -> None:
        self.model, self.optimizer = model, optimizer
        self.params = [p for p in model.parameters() if p.requires_grad]
        x_in, y_in = Tensor._constant(np.array(x)), Tensor._constant(np.array(y))
        self.x_shape, self.y_shape = x_in.data.shape, y_in.data.shape
        optimizer.zero_grad()
        loss = loss_fn(model(x_in), y_in)
        nodes = _graph(loss)
        slot = {id(t): i for i, t in enumerate(nodes)}
        self.values: list[Any] = [t.data for t in nodes]
        # The batch may reach the graph through several tensors around the same array (e.g.
        # cross_entropy wraps the labels again), so its slots are found by array identity.
        self.x_slots = [i for i, t in enumerate(nodes) if t.data is x_in.data]
        self.y_slots = [i for i, t in enumerate(nodes) if t.data is y_in.data]
        self.param_slots = [slot.get(id(p)) for p in self.params]
        self.prediction_slot = slot[id(loss.parents[0])]  # what the model output, for metrics
        self.outputs: list[tuple] = [()] * len(nodes)
        frozen = [slot.get(id(p)) for p in model.parameters() if not p.requires_grad]
        self._check_inputs(nodes, {*self.x_slots, *self.y_slots, *self.param_slots, *frozen})
        self.ops = [_Op(t._kernel[0], t._kernel[1], tuple(slot[id(p)] for p in t.parents),
                        slot[id(t)], [p.requires_grad for p in t.parents], ())
                    for t in nodes if t.parents]
        self._plan(nodes)
        loss.backward()
        self._check_against_eager(x_in.data, y_in.data, float(loss.data))

    def _plan(self, nodes: list[Tensor]) -> None:
        """Fix everything that does not change from step to step, so the replay loops are lean."""
        shapes = [t.data.shape for t in nodes]
        self.forward_plan = [(op.kernel.forward, op.gather, op.attrs, op.out) for op in self.ops]
        for forward, gather, attrs, out in self.forward_plan:  # fills self.outputs once
            self.outputs[out] = outs = forward(*gather(self.values), **attrs)
            self.values[out] = outs[0]
        self.backward_plan = []
        for op in reversed(self.ops):
            out_grads = op.kernel.backward(np.ones_like(self.values[op.out]),
                                           tuple(self.values[i] for i in op.inputs),
                                           self.outputs[op.out], op.needs, **op.attrs)
            fix = tuple(g is not None and g.shape != shapes[i]
                        for i, g in zip(op.inputs, out_grads, strict=True))
            self.backward_plan.append((op.kernel.backward, op.gather, op.attrs, op.out,
                                       op.inputs, op.needs, fix))
        last = self.ops[-1].out
        self.seed = np.ones_like(self.values[last])

    # --- replay ------------------------------------------------------------------------------
    def __call__(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on (x, y); returns the loss before the update."""
        loss = self.forward_backward(x, y)
        self.optimizer.step()
        return loss

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Replay forward and backward: fills every parameter's .grad; returns the loss."""
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != self.x_shape or y.shape != self.y_shape:
            raise ShapeError(
                f"traced step: recorded for batches of shapes {self.x_shape} and {self.y_shape}, "
                f"got {x.shape} and {y.shape}; trace another step for this shape"
            )
        values, outputs = self.values, self.outputs
        for i in self.x_slots:
            values[i] = x
        for i in self.y_slots:
            values[i] = y
        for forward, gather, attrs, out in self.forward_plan:  # in the order the ops first ran
            outputs[out] = outs = forward(*gather(values), **attrs)
            values[out] = outs[0]
        grads: list[Any] = [None] * len(values)
        last = self.ops[-1].out
        grads[last] = self.seed
        for backward, gather, attrs, out, inputs, needs, fix in self.backward_plan:
            g = grads[out]  # the chain rule, newest op first
            if g is None:
                continue
            grads_in = backward(g, gather(values), outputs[out], needs, **attrs)
            for i, pg, fix_shape in zip(inputs, grads_in, fix, strict=True):
                if pg is None:
                    continue
                if fix_shape:
                    pg = autograd.unbroadcast(pg, values[i].shape)
                grads[i] = pg if grads[i] is None else grads[i] + pg
        for p, i in zip(self.params, self.param_slots, strict=True):
            p.grad = None if i is None else grads[i]
        return float(values[last])

    @property
    def prediction(self) -> np.ndarray:
        """The model's output in the last replayed step (e.g. logits, to count correct ones)."""
        return self.values[self.prediction_slot]

    # --- checks ------------------------------------------------------------------------------
    def _check_inputs(self, nodes: list[Tensor], known: set[int | None]) -> None:
        for i, t in enumerate(nodes):
            if t.parents and t._kernel is None:
                raise TraceError(
                    f"trace: op {t.op!r} has no Kernel, so it cannot be replayed; train this "
                    "model eagerly (the default)"
                )
            if not t.parents and i not in known and t.data.ndim > 0:
                raise TraceError(
                    f"trace: the step uses an array of shape {t.data.shape} that is neither a "
                    "parameter nor the batch; it would be frozen into the trace"
                )

    def _check_against_eager(self, x: np.ndarray, y: np.ndarray, loss: float) -> None:
        """Replay once on the recorded batch: loss and gradients must equal the eager ones."""
        eager = [p.grad for p in self.params]
        replayed = self.forward_backward(x, y)
        same = replayed == loss and all(
            (a is None and b is None) or (a is not None and b is not None
                                          and np.array_equal(a, b))
            for a, b in zip(eager, (p.grad for p in self.params), strict=True))
        if not same:
            raise TraceError("trace: the replayed step disagrees with the eager step it was "
                             "recorded from; train this model eagerly")


def _graph(root: Tensor) -> list[Tensor]:
    """Every tensor the root was computed from (leaves included), in creation order."""
    seen = {id(root): root}
    stack = [root]
    while stack:
        for parent in stack.pop().parents:
            if id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return sorted(seen.values(), key=lambda t: t._seq)
