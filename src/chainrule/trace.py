"""A traced training step: record the graph of one step once, then replay it as flat NumPy calls.

Eager mode builds a graph of tensors on every step, and on a tiny network that bookkeeping costs
more than the arithmetic. A traced step runs the same step once eagerly and keeps what the
backward executor would have run: the graph (`autograd.graph`) and its schedule
(`autograd.schedule`). From then on it calls each op's forward in creation order on plain
arrays and runs the schedule with the executor's own loop (`autograd.chain_rule`) — no tensors,
no graph building. Every op is a `Function` (ops/base.py), users' own included, so every op
can be replayed. Then the optimizer updates the parameters as usual.

    step = TracedStep(model, nn.CrossEntropyLoss(), optimizer, x_batch, y_batch)
    for x, y in batches:           # batches of the traced shape
        loss = step(x, y)          # forward, loss, backward and update; returns E before it

A trace is valid for one network, loss and batch shape; eager mode stays the default and the
reference, and a trace checks itself against the eager step it was recorded from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ChainruleError, ShapeError
from chainrule.ops.base import Function
from chainrule.tensor import Tensor


class TraceError(ChainruleError, RuntimeError):
    """The step cannot be traced (an array that is neither a parameter nor the batch), or the
    replay disagrees with the eager step."""


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
        with autograd.tracing():  # every op recorded, also those on the batch alone
            loss = loss_fn(model(x_in), y_in)
        nodes = autograd.graph(loss, "trace")
        slot = {id(t): i for i, t in enumerate(nodes)}
        self.values: list[Any] = [t.data for t in nodes]
        self.outputs: list[Any] = [t._outputs for t in nodes]
        # The batch may reach the graph through several tensors around the same array (e.g.
        # cross_entropy wraps the labels again), so its slots are found by array identity.
        self.x_slots = [i for i, t in enumerate(nodes) if t.data is x_in.data]
        self.y_slots = [i for i, t in enumerate(nodes) if t.data is y_in.data]
        self.param_slots = [slot.get(id(p)) for p in self.params]
        self.prediction_slot = slot[id(loss.parents[0])]  # what the model output, for metrics
        frozen = [slot.get(id(p)) for p in model.parameters() if not p.requires_grad]
        self._check_inputs(nodes, {*self.x_slots, *self.y_slots, *self.param_slots, *frozen})
        self.forward_plan = [(t._fn.forward, autograd.gatherer(tuple(slot[id(p)]
                                                                     for p in t.parents)),
                              t._attrs, i) for i, t in enumerate(nodes) if t._outputs is not None]
        self.steps = autograd.schedule(nodes)
        self.rewinds = [(t._fn.rewind, t._attrs) for t in reversed(nodes)
                        if t._fn is not None and t._fn.rewind is not Function.rewind]
        self.seed = np.ones_like(self.values[-1])
        loss.backward()
        self._check_against_eager(x_in.data, y_in.data, float(loss.data))

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
            outs = forward(*gather(values), **attrs)
            if type(outs) is not tuple:  # a user's Function may return its result alone
                outs = (outs,)
            outputs[out] = outs
            values[out] = outs[0]
        grads: list[Any] = [None] * len(values)
        grads[-1] = self.seed
        autograd.chain_rule(self.steps, values, outputs, grads)  # the one backward loop
        for p, i in zip(self.params, self.param_slots, strict=True):
            p.grad = None if i is None else grads[i]
        return float(values[-1])

    @property
    def prediction(self) -> np.ndarray:
        """The model's output in the last replayed step (e.g. logits, to count correct ones)."""
        return self.values[self.prediction_slot]

    # --- checks ------------------------------------------------------------------------------
    def _check_inputs(self, nodes: list[Tensor], known: set[int | None]) -> None:
        for i, t in enumerate(nodes):
            if t._outputs is None and i not in known and t.data.ndim > 0:
                raise TraceError(
                    f"trace: the step uses an array of shape {t.data.shape} that is neither a "
                    "parameter nor the batch (made outside the graph, e.g. from .data or "
                    "NumPy); it would be frozen into the trace: train this model eagerly"
                )

    def _rewind(self) -> None:
        """Undo what the recorded step's ops changed outside the graph (`Function.rewind`):
        Dropout's generator goes back to where the eager step found it and BatchNorm's running
        statistics to what they were. The check's replay then draws the same masks as the eager
        step, and recording a trace leaves no trace: the first replay does what an eager step
        would have. Newest op first, so an op that ran twice ends as it was before the first."""
        for rewind, attrs in self.rewinds:
            rewind(**attrs)

    def _check_against_eager(self, x: np.ndarray, y: np.ndarray, loss: float) -> None:
        """Replay once on the recorded batch: loss and gradients must equal the eager ones."""
        eager = [p.grad for p in self.params]
        self._rewind()
        replayed = self.forward_backward(x, y)
        self._rewind()
        same = replayed == loss and all(
            (a is None and b is None) or (a is not None and b is not None
                                          and np.array_equal(a, b))
            for a, b in zip(eager, (p.grad for p in self.params), strict=True))
        if not same:
            raise TraceError("trace: the replayed step disagrees with the eager step it was "
                             "recorded from; train this model eagerly")
