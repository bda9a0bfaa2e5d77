"""A traced training step: record the graph of one step once, then replay it as flat NumPy calls.

Eager mode builds a graph of tensors on every step, and on a tiny network that bookkeeping costs
more than the arithmetic. A traced step runs the same step once eagerly and keeps what the
backward executor ran: the graph (`autograd.graph`) and its schedule (`autograd.schedule`).
It replays that once with the executor's own loop (`autograd.chain_rule`) on plain arrays,
watching what each VJP returns, and then writes the replay out as one Python function, the
step's "straight-line code": every op's forward in creation order, then every step of the
schedule, newest op first, each a direct call of the op's own forward or backward with its
arrays in local variables. No tensors, no graph, no per-op dispatch. Every op is a `Function`
(ops/base.py), users' own included, so every op can be replayed. Then the optimizer updates
the parameters as usual.

    step = TracedStep(model, nn.CrossEntropyLoss(), optimizer, x_batch, y_batch)
    for x, y in batches:           # batches of the traced shape
        loss = step(x, y)          # forward, loss, backward and update; returns E before it
    print(step.source)             # the generated forward_backward, to read

A trace is valid for one network, loss and batch shape; eager mode stays the default and the
reference, and a trace checks itself against the eager step it was recorded from. Each replay
writes into arrays of the trace's own, the parameters' `.grad` included (Note [replay
buffers]).

Note [straight-line replay]
    The generated code does what `autograd.chain_rule` does on this schedule, in the same
    order, so its results are bit-identical: the gradients of a slot are summed as
    `previous + new` in the order the loop meets them (Note [gradient accumulation]), and a
    gradient of a broadcast input is summed back by `autograd.unbroadcast` (Note
    [broadcasting]). What the loop decides per step from the arrays it meets, the trace
    decides once, from the replay through `chain_rule` it watched: which steps run (a
    gradient arrived), which gradients a VJP returns as None, which need summing back. The
    shapes are fixed by the trace, and the library's ops return the same kind of gradient for
    the same shapes, so for them the loop's checks are left out. A user's own Function is
    trusted with less: its steps keep every check of the loop (a tuple of gradients, a
    gradient's shape and dtype, None), so a user's op stays safe in a trace. Then the
    generated function is run on the recorded batch and must match the eager step exactly.
    A parameter's gradient that shares memory with another's, with the seed, with an array
    the next step reads again (parameters, constants, the batch), or is read-only, is copied
    (Note [gradient ownership]).

Note [replay buffers]
    The library's ops that set `takes_out` (linear and the sigmoid, tanh and ReLU
    activations: ops/base.py) write their results and their VJPs' gradients into arrays the
    trace made once, from the recorded step's shapes and dtypes, instead of allocating new
    ones each step; the same operations in the same order, so the same bits. Besides the
    allocations this saves page faults: glibc serves large arrays (here a 784×256 weight's
    802 KB gradient) with fresh pages, and a step that allocated them faulted on every page
    (measured: 217 page faults a step in a traced Adam step of 784-256-256-10, none now).
    The loss and the model's output (`prediction`) are returned to the caller, so they are
    never written into again. The parameters' `.grad` arrays are the trace's: each replay
    writes the new gradients into them, as PyTorch's `.grad` is overwritten, so copy a
    gradient to keep it past the next step.
"""

from __future__ import annotations

import linecache
from itertools import count
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ChainruleError, ShapeError
from chainrule.ops.base import Function
from chainrule.tensor import Tensor

_traces = count(1)  # numbers the generated functions' file names, for tracebacks


class TraceError(ChainruleError, RuntimeError):
    """The step cannot be traced (an array that is neither a parameter nor the batch), or the
    replay disagrees with the eager step."""


class TracedStep:
    """The step forward → loss → backward → update of `model`, replayable on new batches.

    x, y: an example batch; the trace accepts batches of exactly these shapes and dtypes.
    `source` is the Python code of the replayed forward and backward (Note [straight-line
    replay]).
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
        self.forward_plan = [(t._fn.forward, tuple(slot[id(p)] for p in t.parents), t._attrs, i)
                             for i, t in enumerate(nodes) if t._outputs is not None]
        self.steps = autograd.schedule(nodes)
        self.rewinds = [(t._fn.rewind, t._attrs) for t in reversed(nodes)
                        if t._fn is not None and t._fn.rewind is not Function.rewind]
        self.seed = np.ones_like(self.values[-1])
        loss.backward()
        eager = [p.grad for p in self.params]
        loss_value = float(loss.data)
        # 1. Replay through the one backward loop, watching it; it must equal the eager step.
        self._rewind()
        seen, grads, replayed = self._replay_with_chain_rule(x_in.data, y_in.data)
        self._rewind()
        self._check_same(eager, loss_value, [None if i is None else grads[i]
                                             for i in self.param_slots], replayed)
        # 2. Write that replay out as straight-line code; it must equal the eager step too.
        self.source = self._generate(nodes, seen, grads)
        # From here on only the eager step's gradients are needed: the recorded and replayed
        # arrays go before the generated code runs (a lower peak of memory).
        del nodes, loss, seen, grads, replayed, self.values, self.outputs
        self._forward_backward = self._compile(self.source)
        self._prediction: Any = None
        replayed = self.forward_backward(x_in.data, y_in.data)
        self._rewind()
        # the parameters keep the replay's gradients: the eager step's bits, in the trace's arrays
        self._check_same(eager, loss_value, [p.grad for p in self.params], replayed)

    # --- replay ------------------------------------------------------------------------------
    def __call__(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on (x, y); returns the loss before the update."""
        loss = self.forward_backward(x, y)
        self.optimizer.step()
        return loss

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Replay forward and backward: fills every parameter's .grad; returns the loss."""
        loss, self._prediction = self._forward_backward(x, y)
        return float(loss)

    @property
    def prediction(self) -> np.ndarray:
        """The model's output in the last replayed step (e.g. logits, to count correct ones)."""
        return self._prediction

    def _shape_error(self, x: np.ndarray, y: np.ndarray) -> ShapeError:
        return ShapeError(
            f"traced step: recorded for batches of shapes {self.x_shape} and {self.y_shape}, "
            f"got {x.shape} and {y.shape}; trace another step for this shape"
        )

    # --- the reference replay: the ops' forwards, then autograd.chain_rule --------------------
    def _replay_with_chain_rule(self, x: np.ndarray, y: np.ndarray) -> tuple[dict, list, Any]:
        """Replay on plain arrays through `autograd.chain_rule`; return what each step's VJP
        gave ({result slot: its gradients}), the gradients and the loss."""
        values, outputs = self.values, self.outputs
        for i in self.x_slots:
            values[i] = x
        for i in self.y_slots:
            values[i] = y
        for forward, inputs, attrs, out in self.forward_plan:  # in the order the ops first ran
            outs = forward(*[values[i] for i in inputs], **attrs)
            if type(outs) is not tuple:  # a user's Function may return its result alone
                outs = (np.asarray(outs),)
            outputs[out] = outs
            values[out] = outs[0]
        grads: list[Any] = [None] * len(values)
        grads[-1] = self.seed
        seen: dict[int, tuple] = {}

        def watch(out: int, g: np.ndarray, in_grads: tuple) -> None:
            seen[out] = in_grads

        autograd.chain_rule(self.steps, values, outputs, grads, watch)  # the one backward loop
        return seen, grads, values[-1]

    # --- the straight-line replay (Note [straight-line replay]) ------------------------------
    def _generate(self, nodes: list[Tensor], seen: dict[int, tuple], grads: list) -> str:
        """The Python source of `forward_backward(x, y) -> (loss, prediction)` for this trace.

        Names: v<slot> a value (the slots of `autograd.graph`'s order), o<slot> what its op's
        forward returned, g<slot> its gradient; the free names are bound by `_compile`."""
        self._bound: dict[str, Any] = {"asarray": np.asarray, "ndarray": np.ndarray,
                                       "unbroadcast": autograd.unbroadcast,
                                       "as_tuple": autograd._as_tuple,
                                       "fitted": autograd._fitted,
                                       "shape_error": self._shape_error,
                                       "x_shape": self.x_shape, "y_shape": self.y_shape,
                                       "seed": self.seed}
        names: dict[type, str] = {}

        def op_name(op: type) -> str:
            if op not in names:
                base = "".join(c if c.isalnum() else "_" for c in op.name)
                base = base if base.isidentifier() else "op_" + base
                name, k = base, 2
                while name in names.values():
                    name, k = f"{base}_{k}", k + 1
                names[op] = name
                self._bound[name + "_op"] = op
                self._bound[name + "_forward"] = op.forward
                self._bound[name + "_backward"] = op.backward
            return names[op]

        def bind(name: str, value: Any) -> str:
            self._bound[name] = value
            return name

        parents = {out: inputs for _, inputs, _, out in self.forward_plan}

        def label(i: int) -> str:
            return f"{i} = {nodes[i]._fn.name}({', '.join(map(str, parents[i]))})"

        x_slots, y_slots = set(self.x_slots), set(self.y_slots)
        lines = ["def forward_backward(x, y):",
                 "    x = asarray(x)",
                 "    y = asarray(y)",
                 "    if x.shape != x_shape or y.shape != y_shape:",
                 "        raise shape_error(x, y)"]
        emit = lines.append
        if self.x_slots:
            emit("    " + " = ".join(f"v{i}" for i in self.x_slots) + " = x")
        if self.y_slots:
            emit("    " + " = ".join(f"v{i}" for i in self.y_slots) + " = y")
        for i, t in enumerate(nodes):  # the leaves: parameters and constants, bound once
            if t._outputs is None and i not in x_slots and i not in y_slots:
                bind(f"v{i}", t.data)
        emit("    # forward, in the order the ops first ran")
        last = len(nodes) - 1
        escapes = {last, self.prediction_slot}  # returned to the caller: never written again
        for _forward, inputs, attrs, out in self.forward_plan:
            op = nodes[out]._fn
            name = op_name(op)
            args = [f"v{i}" for i in inputs] + [
                f"{k}={bind(f'a{out}_{k}', v)}" for k, v in attrs.items()]
            if _buffered(op) and out not in escapes and _arrays(self.outputs[out]):
                args.append(f"out={bind(f'b{out}', _buffers(self.outputs[out]))}")
            emit(f"    o{out} = {name}_forward({', '.join(args)})  # {label(out)}")
            if not _trusted(op):  # a user's Function may return its result alone
                emit(f"    if type(o{out}) is not tuple:")
                emit(f"        o{out} = (asarray(o{out}),)")
            emit(f"    v{out} = o{out}[0]")
        emit("    # backward: autograd.schedule's steps, newest op first")
        # A gradient is "none" (none arrived yet), "set" (an array), or "maybe" (None or an
        # array: behind a user's op, decided as the loop decides, at run time).
        state = ["none"] * len(nodes)
        state[last] = "set"
        emit(f"    g{last} = seed")
        maybe_at = len(lines)  # where the "maybe" gradients start as None
        for op, _gather, inputs, out, needs, attrs in self.steps:
            if state[out] == "none":
                continue  # no gradient arrives here: the loop skips the step
            name = op_name(op)
            args = [f"g{out}", _tuple(f"v{i}" for i in inputs), f"o{out}", repr(needs),
                    *(f"{k}={bind(f'a{out}_{k}', v)}" for k, v in attrs.items())]
            got = seen.get(out, ())
            wanted = [pg if need else None for pg, need in zip(got, needs, strict=False)]
            if state[out] == "set" and _buffered(op) and _arrays(wanted):
                args.append(f"out={bind(f'c{out}', _buffers(wanted))}")
            call = f"{name}_backward({', '.join(args)})"
            if state[out] == "set" and _trusted(op):
                targets, after = [], []
                for j, (i, need) in enumerate(zip(inputs, needs, strict=True)):
                    pg = got[j]
                    if pg is None or not need:
                        targets.append("_")
                        continue
                    value = self.values[i]
                    fit = pg.shape != value.shape
                    direct = state[i] == "none" and not fit
                    targets.append(f"g{i}" if direct else f"t{j}")
                    if not direct:
                        new = f"unbroadcast(t{j}, {value.shape!r})" if fit else f"t{j}"
                        after.append(_accumulate(i, new, state[i]))
                    if state[i] == "none":
                        state[i] = "set"
                emit(f"    {_unpack(targets)} = {call}  # {label(out)}")
                lines.extend(after)
                continue
            # a user's Function, or a gradient that may be None: the loop's checks, all of them
            indent = "    "
            emit(f"    # {label(out)}: checked as autograd.chain_rule checks it")
            if state[out] == "maybe":
                emit(f"    if g{out} is not None:")
                indent = "        "
            emit(f"{indent}gs = {call}")
            emit(f"{indent}if type(gs) is not tuple or len(gs) != {len(inputs)}:")
            emit(f"{indent}    gs = as_tuple({name}_op, gs, {len(inputs)})")
            for j, (i, need) in enumerate(zip(inputs, needs, strict=True)):
                if not need:
                    continue
                emit(f"{indent}t = gs[{j}]")
                emit(f"{indent}if t is not None:")
                emit(f"{indent}    if type(t) is not ndarray or t.shape != v{i}.shape "
                     f"or t.dtype != v{i}.dtype:")
                emit(f"{indent}        t = fitted({name}_op, t, v{i}, v{out})")
                if state[i] == "set":
                    emit(f"{indent}    g{i} = g{i} + t")
                else:
                    if state[i] == "none":
                        lines.insert(maybe_at, f"    g{i} = None")
                        maybe_at += 1
                    state[i] = "maybe"
                    emit(f"{indent}    g{i} = t if g{i} is None else g{i} + t")
        emit("    # the parameters' gradients")
        persistent = [self.seed, *(self.values[i] for i in (*self.x_slots, *self.y_slots)),
                      *(self._bound[f"v{i}"] for i, t in enumerate(nodes)
                        if t._outputs is None and f"v{i}" in self._bound)]
        owners: list[Any] = []
        for k, i in enumerate(self.param_slots):
            p = bind(f"p{k}", self.params[k])
            if i is None or state[i] == "none":
                emit(f"    {p}.grad = None")
                continue
            g = grads[i]
            shared = g is not None and (not getattr(g, "flags", None) or not g.flags.writeable
                                        or any(np.may_share_memory(g, a)
                                               for a in (*persistent, *owners)))
            if g is not None:
                owners.append(g)
            copy = ".copy()" if shared else ""
            if state[i] == "maybe":
                emit(f"    {p}.grad = g{i} if g{i} is None else g{i}{copy}")
            else:
                emit(f"    {p}.grad = g{i}{copy}")
        emit(f"    return v{last}, v{self.prediction_slot}")
        return "\n".join(lines) + "\n"

    def _compile(self, source: str) -> Any:
        """The function `source` defines, its free names bound as a closure's (fast) cells."""
        filename = f"<traced step {next(_traces)}>"
        free = sorted(self._bound)
        factory = (f"def bind({', '.join(free)}):\n"
                   + "".join("    " + line + "\n" for line in source.splitlines())
                   + "    return forward_backward\n")
        namespace: dict[str, Any] = {}
        exec(compile(factory, filename, "exec"), namespace)  # our own generated source
        lines = factory.splitlines(keepends=True)
        linecache.cache[filename] = (len(factory), None, lines, filename)  # readable tracebacks
        return namespace["bind"](**self._bound)

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

    def _check_same(self, eager: list, loss: float, replayed: list, replayed_loss: Any) -> None:
        """The replay's loss and gradients must equal the eager step's, bit for bit."""
        same = float(replayed_loss) == loss and all(
            (a is None and b is None) or (a is not None and b is not None
                                          and np.array_equal(a, b))
            for a, b in zip(eager, replayed, strict=True))
        if not same:
            raise TraceError("trace: the replayed step disagrees with the eager step it was "
                             "recorded from; train this model eagerly")


def _trusted(op: type) -> bool:
    """Whether `op` is one of the library's ops (their VJPs return a tuple of gradients of
    fixed kinds for fixed shapes); a user's own Function keeps every check of the loop."""
    return op.__module__.startswith("chainrule.ops.")


def _buffered(op: type) -> bool:
    """Whether the trace gives `op` arrays to write into (Note [replay buffers])."""
    return _trusted(op) and op.takes_out


def _arrays(outs: Any) -> bool:
    """Whether `outs` (what an op's forward or VJP returned) holds arrays, or None, only: the
    ones a replay can write into again."""
    return any(a is not None for a in outs) and all(
        a is None or (type(a) is np.ndarray and a.flags.writeable) for a in outs)


def _buffers(outs: Any) -> tuple:
    """An array of each one's shape and dtype (None for None): a replay's own buffers."""
    return tuple(None if a is None else np.empty_like(a) for a in outs)


def _tuple(names: Any) -> str:
    names = list(names)
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def _unpack(targets: list[str]) -> str:
    return targets[0] + "," if len(targets) == 1 else ", ".join(targets)


def _accumulate(i: int, new: str, state: str) -> str:
    """The line that adds `new` to gradient i, as the loop adds it (previous + new)."""
    if state == "none":
        return f"    g{i} = {new}"
    if state == "set":
        return f"    g{i} = g{i} + {new}"
    return f"    g{i} = {new} if g{i} is None else g{i} + {new}"
