"""Optimizer: the shared plumbing of every update rule W ← W − η·(something made of ∂E/∂W).

An optimizer holds a list of parameters, in groups (Note [parameter groups]), and for each one a
few state arrays (a momentum buffer, moving averages). After `loss.backward()` has filled every
parameter's `.grad` with ∂E/∂W, `step()` changes each parameter's `.data` in place by the
subclass's rule; `zero_grad()` clears the gradients before the next backward pass (they
accumulate otherwise).

    >>> opt = SGD(model.parameters(), lr=0.5)
    >>> for x, t in batches:
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(x), t)
    ...     loss.backward()
    ...     opt.step()

Note [in-place updates]
    Layers and the engine hold on to each parameter's `.data` array, so an update writes into
    that array and never rebinds it. `.grad` is only read: the engine may share gradient arrays
    (Note [gradient ownership] in autograd.py). Every rule works in per-parameter buffers through
    NumPy's `out=` arguments and in-place operators, so once a parameter's buffers exist a step
    allocates no array of that parameter's size. The buffers are
      - state arrays that persist across steps (momentum, moving averages): saved by state_dict;
      - one scratch array for the intermediate results of a single step: never saved;
      - with L2 weight decay only, an array holding g = ∂E/∂W + λ·W: never saved.
    All of them have the parameter's dtype, so float32 training stays float32.

Note [fast updates]
    An update is a dozen elementwise passes (Adam's), each one NumPy call, so two costs
    dominate: on small networks the calls themselves (Python overhead per parameter), on large
    ones memory traffic (each pass reads and writes arrays that do not fit in the cache). A rule
    that treats every element on its own (`_elementwise`: SGD, Adam, AdamW, RMSprop) is
    therefore run by step() in two more ways, with the same operations in the same order on
    every element, so the results are the same bits as one parameter at a time:
      - packs: the small parameters (≤ 16384 elements) of one group and dtype whose gradients
        have that dtype are updated as one flat array: their state arrays are views into the
        pack's flat state arrays (state dicts, load_state_dict and a parameter updated on its
        own see ordinary arrays); every step copies the weights and gradients in and the
        weights back out, so a rebound `.data` keeps working. A pack is made anew when its set
        of parameters changes (a gradient None, a frozen parameter), when it missed a step,
        when a state array was replaced, or after load_state_dict; parameters whose step counts
        differ are updated one by one. SGD is not packed: its
        few passes cost no more than the copies.
      - blocks: a large parameter (> 1 MiB) whose state arrays exist is updated 1 MiB of
        elements at a time, so a block's intermediate results stay in a core's cache; the
        scratch and L2 buffers are then block-sized, shared by all parameters of a dtype.
    Threads were measured and left out: two threads halve the update of a 1024-2048-2048-10
    network alone, but within a training step on 2 cores they gained nothing (the BLAS's
    threads still spin after the backward's matrix products, and compete with them).
    Other rules (a subclass's, unless it sets `_elementwise`) are run one whole parameter at a
    time.

Note [parameter groups]
    As in PyTorch, `params` may instead be a list of dicts, each a group of parameters with its
    own hyperparameters: "params" (an iterable of parameters, or one) and any of the rule's
    hyperparameters, which override the optimizer's arguments for that group:

        >>> opt = SGD([{"params": model[0].parameters(), "lr": 0.1},
        ...            {"params": model[2].parameters()}], lr=0.01, momentum=0.9)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]

    `opt.param_groups` is that list, each dict holding "params" and every hyperparameter; a plain
    iterable of parameters makes one group. A parameter may be in one group only. `opt.lr` (and
    `opt.momentum`, ...) reads the first group's value; setting `opt.lr` sets every group's.
    The schedules set each group's lr from its own initial one.

Note [weight decay]
    Two published ways to shrink weights towards zero by a factor λ (`weight_decay`):
      - L2 (SGD, Adam, RMSprop): add λ·W to the gradient, g = ∂E/∂W + λ·W, which is the
        gradient of E + ½·λ·‖W‖². The rule then treats g like any gradient.
      - decoupled (AdamW): W ← W − η·λ·W, applied to the weights apart from the gradient.
    For plain SGD the two coincide; for Adam they differ, since Adam divides g by √v̂ and so
    shrinks the L2 term of weights with large gradients less (Loshchilov & Hutter, 2019).

Note [state dict layout]
    `state_dict()` returns plain data that can be written without pickle (JSON for the first
    three entries, safetensors or `np.savez` for the arrays):

        {"optimizer": "Adam",                       # class name, checked on load
         "num_params": 2,                           # len(optimizer.params), checked on load
         "hyper": {"lr": 0.001, "step_count": 10,   # JSON scalars: lr, the number of step()
                   "beta1": 0.9, "beta2": 0.999,    #   calls, and the rule's hyperparameters
                   "eps": 1e-08, "weight_decay": 0.0},
         "state": {"0.exp_avg": ndarray,            # "<parameter index>.<buffer name>": a copy
                   "0.exp_avg_sq": ndarray,         #   of that state array; a parameter that
                   "0.step": ndarray(int64, ()),    #   has never been updated has no entries
                   "1.exp_avg": ...}}

    With several parameter groups it also has "groups": one dict per group, with "params" (its
    parameters' indices) and its hyperparameters in the form of "hyper" ("hyper" holds the first
    group's). With one group it has no "groups", so one layout serves both old and new files.

    `load_state_dict(d)` checks the class name, the parameter count, the hyperparameter names and
    values, and every array's name and shape, before it changes anything; then it copies the
    arrays into the existing buffers (creating those that do not exist yet).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from chainrule.errors import ConfigError, DTypeError, ShapeError
from chainrule.validate import nonnegative_finite, nonnegative_int, positive_finite


class Parameter(Protocol):
    """What an optimizer needs from a parameter (chainrule's Tensor and nn.Parameter have it)."""

    data: np.ndarray  # updated in place, never rebound
    grad: np.ndarray | None  # ∂E/∂data, read only; None: not updated this step
    requires_grad: bool  # False: frozen, never updated


class Optimizer:
    """Base class: holds the parameter groups, the parameters' state arrays and the step count.

    A subclass supplies its update rule, written once, as
    `_update(w, g, state, scratch, group)` — w is the parameter's data (change it in place), g
    the gradient to use (read only), state the parameter's dict of state arrays, scratch an
    array of w's shape and dtype for intermediate results and group the parameter's group (its
    hyperparameters: group["lr"], ...) — passes its hyperparameters' defaults to
    `Optimizer.__init__` and checks them in `_check(owner, hyper)`. step() advances the
    counters named in `_counter_names` before the rule runs. A rule that sets `_elementwise`
    may be given several parameters' arrays concatenated, or blocks of one parameter's
    (Note [fast updates]); `_buffers(group)` names the state arrays it keeps.

    params: an iterable of parameters (see `Parameter`): one group, duplicates dropped, order
        kept; or an iterable of dicts, parameter groups (Note [parameter groups]).
    lr: the learning rate η, a positive finite number. A scheduler may later set each group's.
    """

    #: Names of the state arrays this rule may keep per parameter.
    _state_names: tuple[str, ...] = ()
    #: Those of them that are counters of shape () and integer dtype, not parameter-sized;
    #: step() adds 1 to each before the rule runs (created at 0).
    _counter_names: tuple[str, ...] = ()
    #: True for a rule whose update treats every element on its own (no norms, no sums), so
    #: that step() may run it on several parameters at once or on blocks (Note [fast updates]).
    _elementwise: bool = False
    #: Whether step() packs small parameters of an elementwise rule (Note [fast updates]).
    _packed: bool = True

    def _buffers(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The state arrays the rule keeps with `group`'s hyperparameters (elementwise rules)."""
        return self._state_names

    def __init__(self, params: Iterable[Any], lr: float, **defaults: Any) -> None:
        name = type(self).__name__
        self.defaults: dict[str, Any] = {"lr": lr, **defaults}
        specs = _group_specs(name, params)
        self.param_groups: list[dict[str, Any]] = []
        seen: dict[int, int | None] = {}  # id(parameter) → its group
        for k, spec in enumerate(specs):
            if isinstance(specs, _OneGroup):
                self.param_groups.append(self._make_group(name, None, spec, seen))
            else:
                owner = f"{name}: parameter group {k}"
                self.param_groups.append(self._make_group(owner, k, spec, seen))
        self.params: list[Parameter] = [p for group in self.param_groups for p in group["params"]]
        self.step_count: int = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)
        self._l2_grads: list[np.ndarray | None] = [None] * len(self.params)
        self._packs: dict[tuple[int, ...], _Pack] = {}  # Note [fast updates]
        self._blocks: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    def _make_group(self, owner: str, k: int | None, spec: Mapping[str, Any],
                    seen: dict[int, int | None]) -> dict[str, Any]:
        """Group `k` (None: the only one) from its dict: parameters collected, defaults filled
        in, all checked."""
        if "params" not in spec:
            raise ConfigError(f"{owner}: a parameter group needs a 'params' entry, got keys "
                              f"{sorted(map(str, spec))}")
        unknown = sorted(str(key) for key in spec if key != "params" and key not in self.defaults)
        if unknown:
            raise ConfigError(f"{owner}: unknown hyperparameters {unknown}; "
                              f"{type(self).__name__} takes {sorted(self.defaults)}")
        params = spec["params"]
        if k is not None and hasattr(params, "data"):
            params = [params]  # a group may hold one parameter, as in PyTorch
        params = _collect_params(owner, params)
        for j, p in enumerate(params):
            if seen.setdefault(id(p), k) != k:
                raise ConfigError(f"{owner}: its parameter {j} is also in parameter group "
                                  f"{seen[id(p)]}; each parameter belongs to one group")
        hyper = {**self.defaults, **{key: v for key, v in spec.items() if key != "params"}}
        lr = positive_finite(owner, "lr", hyper.pop("lr"))
        return {"params": params, "lr": lr, **self._check(owner, hyper)}

    def __getattr__(self, key: str) -> Any:
        # opt.lr, opt.momentum, ...: the first group's value (the only group's, usually).
        groups = self.__dict__.get("param_groups")
        if groups and key != "params" and key in groups[0]:
            return groups[0][key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = value

    # --- the update ----------------------------------------------------------------------------

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None, so the next backward starts from nothing."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter in place by the rule; skip frozen ones and ones without grad.

        Note [fast updates]: small parameters of one group and dtype are updated together in one
        flat buffer, large ones block by block; both run the same elementwise operations as a
        parameter-by-parameter update, so the results are the same bits.
        """
        params, elementwise = self.params, self._elementwise
        update, scratches, states = self._update, self._scratch, self.state
        counted = bool(self._counter_names)
        i = -1
        for k, group in enumerate(self.param_groups):
            decay = self._l2_weight_decay(group)
            # SGD takes two to five passes a parameter: copying weights in and out of a pack
            # costs about as much as it saves (measured: slower on 2-2-2 with momentum).
            pack = elementwise and self._packed
            small: dict[Any, list[int]] | None = None
            for p in group["params"]:
                i += 1
                g, w = p.grad, p.data
                if g is None or not p.requires_grad:
                    continue
                if getattr(g, "shape", None) != w.shape:
                    self._check_grad(i, p)
                if (pack and w.size <= _PACK_LIMIT and type(g) is np.ndarray
                        and g.dtype == w.dtype):
                    if small is None:
                        small = {}
                    small.setdefault(w.dtype, []).append(i)
                elif elementwise and w.nbytes > _BLOCK_BYTES:
                    self._update_one(i, p, g, w, decay, group)
                else:  # the whole array at once
                    state = states[i]
                    if counted:
                        self._count(state)
                    if decay:
                        g = self._gradient(i, p, decay)
                    scratch = scratches[i]
                    if scratch is None or scratch.shape != w.shape or scratch.dtype != w.dtype:
                        scratch = scratches[i] = _fitting(scratch, w)
                    update(w, g, state, scratch, group)
            if small:
                for members in small.values():
                    if len(members) == 1:
                        j = members[0]
                        self._update_one(j, params[j], params[j].grad, params[j].data, decay,
                                         group)
                    else:
                        self._update_pack(k, members, decay, group)
        self.step_count += 1

    def _count(self, state: dict[str, np.ndarray]) -> None:
        """Advance the rule's step counters of one parameter (created at 0 on first use)."""
        for name in self._counter_names:
            counter = state.get(name)
            if counter is None:
                counter = state[name] = np.zeros((), dtype=np.int64)
            counter += 1

    def _update_one(self, i: int, p: Parameter, g: np.ndarray, w: np.ndarray, decay: float,
                    group: dict[str, Any]) -> None:
        """One parameter's update: the whole array at once, or block by block when it is large
        and its state exists (a block-sized state array made by the rule would be lost)."""
        state = self.state[i]
        if self._counter_names:
            self._count(state)
        if self._elementwise and w.nbytes > _BLOCK_BYTES:
            self._block_buffers(w.dtype, _block(w))  # made on the first step, as the others
            if (type(g) is np.ndarray and w.flags.c_contiguous and g.flags.c_contiguous
                    and all(name in state for name in self._buffers(group))
                    and all(a.flags.c_contiguous for a in state.values())):
                # whole-array buffers of a first step are not needed any more
                self._scratch[i] = self._l2_grads[i] = None
                self._update_blocks(w.reshape(-1), g.reshape(-1), state, decay, group)
                return
        if decay:
            g = self._gradient(i, p, decay)
        scratch = self._scratch[i]
        if scratch is None or scratch.shape != w.shape or scratch.dtype != w.dtype:
            scratch = self._scratch[i] = _fitting(scratch, w)
        self._update(w, g, state, scratch, group)

    def _update_blocks(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                       decay: float, group: dict[str, Any]) -> None:
        """The rule on flat w, g and state, one cache-sized block at a time (Note [fast
        updates]): each block's intermediate results stay in the cache."""
        n, size = w.size, _block(w)
        scratch, l2 = self._block_buffers(w.dtype, size)
        counters = {name: state[name] for name in self._counter_names if name in state}
        flat = [(name, a.reshape(-1)) for name, a in state.items() if name not in counters]
        update = self._update
        for a in range(0, n, size):
            b = min(a + size, n)
            gb = g[a:b]
            if decay:
                gl = l2[:b - a]
                np.multiply(w[a:b], decay, out=gl)
                gl += gb
                gb = gl
            update(w[a:b], gb, {**counters, **{name: x[a:b] for name, x in flat}},
                   scratch[:b - a], group)

    def _block_buffers(self, dtype: np.dtype, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A block-sized scratch array and L2 gradient buffer of `dtype`, made once."""
        buffers = self._blocks.get(dtype)
        if buffers is None:
            buffers = self._blocks[dtype] = (np.empty(size, dtype), np.empty(size, dtype))
        return buffers

    def _update_pack(self, k: int, members: list[int], decay: float,
                     group: dict[str, Any]) -> None:
        """Several small parameters of group `k`, one dtype, updated as one flat array."""
        key = (k, *members)
        pack = self._packs.get(key)
        # A pack not used at the last step may have members that stepped on their own since.
        if (pack is None or pack.last != self.step_count - 1
                or not pack.valid(self.params, self.state)):
            pack = _Pack.build(self, members)
            if pack is None:  # their states differ (some were updated on their own)
                for j in members:
                    p = self.params[j]
                    self._update_one(j, p, p.grad, p.data, decay, group)
                return
            self._packs[key] = pack
        params = pack.params
        w, g, scratch, state = pack.w, pack.g, pack.scratch, pack.state
        np.concatenate([p.data.reshape(-1) for p in params], out=w)
        np.concatenate([p.grad.reshape(-1) for p in params], out=g)
        for counter in pack.counters.values():
            counter += 1
        if decay:  # g = ∂E/∂W + λ·W, as _gradient computes it
            np.multiply(w, decay, out=scratch)
            g += scratch
        names = len(state)
        if w.size > _block(w) and all(name in state for name in self._buffers(group)):
            self._update_blocks(w, g, state, 0.0, group)
        else:
            self._update(w, g, state, scratch, group)
        if len(state) != names:  # the rule made its state arrays: share them out as views
            pack.adopt(self.state)
        for p, view in zip(params, pack.views, strict=True):
            np.copyto(p.data, view)
        pack.last = self.step_count

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, scratch: np.ndarray,
                group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define an update rule")

    def _l2_weight_decay(self, group: dict[str, Any]) -> float:
        """λ of the L2 term added to the gradient (Note [weight decay]); 0 means none."""
        return 0.0

    def _gradient(self, i: int, p: Parameter, lam: float) -> np.ndarray:
        """g = ∂E/∂W + λ·W (L2 weight decay) in its own buffer."""
        g = self._l2_grads[i] = _fitting(self._l2_grads[i], p.data)
        np.multiply(p.data, lam, out=g)
        g += p.grad
        return g

    def _check_grad(self, i: int, p: Parameter) -> None:
        if np.shape(p.grad) != p.data.shape:
            raise ShapeError(
                f"{type(self).__name__}.step: parameter {i} has shape {p.data.shape} but its "
                f"grad has shape {np.shape(p.grad)}; a gradient must have its parameter's shape"
            )

    # --- hyperparameters -----------------------------------------------------------------------

    def _check(self, owner: str, hyper: dict[str, Any]) -> dict[str, Any]:
        """The rule's hyperparameters other than lr, checked (ConfigError naming `owner`)."""
        return {}

    def _to_json(self, group: Mapping[str, Any]) -> dict[str, Any]:
        """A group's hyperparameters other than lr as JSON scalars (the state dict's form)."""
        return {key: v for key, v in group.items() if key not in ("params", "lr")}

    def _from_json(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """The inverse of `_to_json`."""
        return hyper

    def __repr__(self) -> str:
        hyper = {"lr": self.lr, **self._to_json(self.param_groups[0])}
        text = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
        if len(self.param_groups) > 1:
            text += f"; {len(self.param_groups)} parameter groups"
        return f"{type(self).__name__}({text})"

    # --- saving and loading (Note [state dict layout]) -----------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: see Note [state dict layout]. Arrays are copies."""
        arrays = {
            f"{i}.{name}": array.copy()
            for i, state in enumerate(self.state)
            for name, array in state.items()
        }
        first = self.param_groups[0]
        result = {
            "optimizer": type(self).__name__,
            "num_params": len(self.params),
            "hyper": {"lr": first["lr"], "step_count": self.step_count, **self._to_json(first)},
            "state": arrays,
        }
        if len(self.param_groups) > 1:
            result["groups"] = self._group_layout()
        return result

    def _group_layout(self) -> list[dict[str, Any]]:
        layout, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            layout.append({"params": list(range(start, start + n)), "lr": group["lr"],
                           **self._to_json(group)})
            start += n
        return layout

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned; everything is checked before anything changes."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        expected = {"optimizer", "num_params", "hyper", "state"}
        if len(self.param_groups) > 1:
            expected.add("groups")
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ConfigError(
                f"{where}: expected the dict returned by state_dict(), with keys "
                f"{sorted(expected)}, got {got}"
            )
        if state_dict["optimizer"] != name:
            raise ConfigError(
                f"{where}: the state dict is from {state_dict['optimizer']}, not {name}"
            )
        if state_dict["num_params"] != len(self.params):
            raise ConfigError(
                f"{where}: the state dict holds {state_dict['num_params']} parameters but this "
                f"optimizer has {len(self.params)}; build it over the same parameters"
            )
        hyper = dict(state_dict["hyper"])
        layout = self._group_layout()
        wanted = {"lr", "step_count", *self._to_json(self.param_groups[0])}
        if set(hyper) != wanted:
            raise ConfigError(
                f"{where}: hyperparameters {sorted(hyper)} do not match {name}'s {sorted(wanted)}"
            )
        step_count = nonnegative_int(where, "step_count", hyper.pop("step_count"))
        saved = [{**hyper, "params": layout[0]["params"]}] if len(layout) == 1 else (
            state_dict["groups"])
        if not isinstance(saved, list) or len(saved) != len(layout):
            got = len(saved) if isinstance(saved, list) else type(saved).__name__
            raise ConfigError(f"{where}: 'groups' must list {len(layout)} parameter groups, "
                              f"got {got}")
        hypers = []
        for k, (group, mine) in enumerate(zip(saved, layout, strict=True)):
            owner = where if len(layout) == 1 else f"{where}: parameter group {k}"
            if not isinstance(group, Mapping) or set(group) != set(mine):
                got = sorted(group) if isinstance(group, Mapping) else type(group).__name__
                raise ConfigError(f"{owner}: keys {got} do not match {sorted(mine)}")
            if list(group["params"]) != mine["params"]:
                raise ConfigError(f"{owner}: it holds parameters {list(group['params'])}, "
                                  f"this optimizer's group {mine['params']}")
            hyper = {key: v for key, v in group.items() if key not in ("params", "lr")}
            # lr may be 0 here: a cosine schedule ends at eta_min = 0.
            lr = nonnegative_finite(owner, "lr", group["lr"])
            checker = name if len(layout) == 1 else owner
            hypers.append({"lr": lr, **self._check(checker, self._from_json(hyper))})
        arrays = self._check_arrays(where, state_dict["state"])

        for group, hyper in zip(self.param_groups, hypers, strict=True):
            group.update(hyper)
        self.step_count = step_count
        self._packs.clear()  # the loaded step counts may differ: packs are made anew
        for state, loaded in zip(self.state, arrays, strict=True):
            for key in [key for key in state if key not in loaded]:
                del state[key]
            for key, array in loaded.items():
                if key in state:
                    np.copyto(state[key], array)
                else:
                    state[key] = array.copy()

    def _check_arrays(self, where: str, arrays: Mapping[str, Any]) -> list[dict[str, np.ndarray]]:
        """Sort the saved arrays by parameter, checking each one's name, dtype and shape."""
        if not isinstance(arrays, Mapping):
            raise ConfigError(f"{where}: 'state' must map names to arrays, got {type(arrays)}")
        per_param: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        for key, value in arrays.items():
            index, _, buffer = str(key).partition(".")
            if not index.isdigit() or int(index) >= len(self.params):
                raise ConfigError(
                    f"{where}: state key {key!r} is not '<parameter index>.<name>' with an "
                    f"index below {len(self.params)}"
                )
            if buffer not in self._state_names:
                raise ConfigError(
                    f"{where}: unknown state {key!r}; {type(self).__name__} keeps "
                    f"{', '.join(self._state_names) or 'no state'}"
                )
            i = int(index)
            array = np.asarray(value)
            p = self.params[i]
            if buffer in self._counter_names:
                shape, kinds, dtype = (), "iu", np.int64
            else:
                shape, kinds, dtype = p.data.shape, "fiu", p.data.dtype
            if array.shape != shape:
                raise ConfigError(
                    f"{where}: state {key!r} has shape {array.shape} but parameter {i} needs "
                    f"{shape}; load it into an optimizer over the same model"
                )
            if array.dtype.kind not in kinds:
                raise ConfigError(f"{where}: state {key!r} has dtype {array.dtype}")
            if buffer in self._counter_names and array < 0:
                raise ConfigError(f"{where}: state {key!r} counts steps, so it cannot be "
                                  f"{array.item()}")
            per_param[i][buffer] = array.astype(dtype, copy=False)
        return per_param


#: Parameters of at most this many elements are updated together (Note [fast updates]).
_PACK_LIMIT = 1 << 14
#: The bytes of one block of a large update (measured fastest with 1 MiB of L2 cache a core:
#: 256 KiB blocks took a quarter longer for SGD, 4 MiB ones longer for Adam).
_BLOCK_BYTES = 1 << 20


def _block(w: np.ndarray) -> int:
    """The elements of one block of `w`'s dtype."""
    return _BLOCK_BYTES // w.itemsize


class _Pack:
    """Small parameters of one group and dtype, updated as one flat array (Note [fast
    updates]). Their state arrays are views into the pack's flat state arrays, so the state
    dict, load_state_dict and the parameter-by-parameter update see them as before; the
    weights and gradients are copied in and the weights copied back every step, so rebinding
    a parameter's `.data` keeps working."""

    def __init__(self, params: list[Any], shapes: list[tuple[int, ...]], dtype: np.dtype,
                 members: list[int]) -> None:
        self.params, self.shapes, self.dtype, self.members = params, shapes, dtype, members
        sizes = [math.prod(shape) for shape in shapes]
        self.bounds = list(zip(np.cumsum([0, *sizes[:-1]]).tolist(),
                               np.cumsum(sizes).tolist(), strict=True))
        n = sum(sizes)
        self.w, self.g, self.scratch = (np.empty(n, dtype) for _ in range(3))
        self.views = [self._view(self.w, j) for j in range(len(params))]
        self.state: dict[str, np.ndarray] = {}  # flat arrays (counters: the first member's)
        self.counters: dict[str, np.ndarray] = {}  # name → every member's count
        self.member_state: list[dict[str, np.ndarray]] = [{} for _ in params]
        self.last = -1  # the step_count of the step that last used it

    def _view(self, flat: np.ndarray, j: int) -> np.ndarray:
        a, b = self.bounds[j]
        return flat[a:b].reshape(self.shapes[j])

    @classmethod
    def build(cls, opt: Optimizer, members: list[int]) -> _Pack | None:
        """The pack of parameters `members`, their present state moved into it; None where
        their states cannot be packed (different state arrays or step counts)."""
        params = [opt.params[j] for j in members]
        states = [opt.state[j] for j in members]
        names = set(states[0])
        dtype = params[0].data.dtype
        for p, state in zip(params, states, strict=True):
            if set(state) != names:
                return None
            for name, array in state.items():
                if name in opt._counter_names:
                    if array.shape != () or int(array) != int(states[0][name]):
                        return None
                elif array.shape != p.data.shape or array.dtype != dtype:
                    return None
        pack = cls(params, [p.data.shape for p in params], dtype, members)
        for name in opt._counter_names:
            counts = np.zeros(len(params), dtype=np.int64)
            if name in names:
                counts[:] = int(states[0][name])
            pack.counters[name] = counts
            pack.state[name] = counts[0:1].reshape(())
            for j, state in enumerate(states):
                state[name] = pack.member_state[j][name] = counts[j:j + 1].reshape(())
        for name in sorted(names - set(opt._counter_names)):
            pack.state[name] = np.concatenate([state[name].reshape(-1) for state in states])
        pack.adopt(opt.state)
        return pack

    def adopt(self, all_states: list[dict[str, np.ndarray]]) -> None:
        """Give every member views of the flat state arrays it does not have views of yet."""
        for name, flat in self.state.items():
            if name in self.counters or name in self.member_state[0]:
                continue
            for j, i in enumerate(self.members):
                all_states[i][name] = self.member_state[j][name] = self._view(flat, j)

    def valid(self, params: list[Any], all_states: list[dict[str, np.ndarray]]) -> bool:
        """Whether the members still have their shapes and dtype and the pack's state views."""
        for j, i in enumerate(self.members):
            data, mine, state = params[i].data, self.member_state[j], all_states[i]
            if data.shape != self.shapes[j] or data.dtype != self.dtype or len(state) != len(mine):
                return False
            for name, view in mine.items():
                if state.get(name) is not view:
                    return False
        return True


# --- helpers shared by the optimizers and the schedules ------------------------------------------


class _OneGroup(list):
    """The specs of an optimizer built over a plain iterable of parameters: one group."""


def _group_specs(owner: str, params: Any) -> list[Mapping[str, Any]]:
    """The parameter groups' dicts (Note [parameter groups]); plain parameters are one group."""
    if isinstance(params, Mapping):
        return [params]
    if hasattr(params, "data") and hasattr(params, "grad"):
        return _OneGroup([{"params": params}])  # _collect_params explains the error
    try:
        items = list(params)
    except TypeError:
        raise ConfigError(
            f"{owner}: params must be an iterable of parameters, got {type(params).__name__}"
        ) from None
    if not items or not isinstance(items[0], Mapping):
        return _OneGroup([{"params": items}])
    for k, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{owner}: parameter group {k} must be a dict with 'params', got "
                              f"{type(item).__name__}; pass either parameters or groups")
    return items


def _collect_params(owner: str, params: Iterable[Parameter]) -> list[Parameter]:
    """The parameters as a list, each once, in their first order; checked to be parameters."""
    if hasattr(params, "data") and hasattr(params, "grad"):
        raise ConfigError(
            f"{owner}: params must be an iterable of parameters, got a single parameter; "
            "pass [param] or model.parameters()"
        )
    try:
        candidates = list(params)
    except TypeError:
        raise ConfigError(
            f"{owner}: params must be an iterable of parameters, got {type(params).__name__}"
        ) from None
    unique: list[Parameter] = []
    seen: set[int] = set()
    for k, p in enumerate(candidates):
        if isinstance(p, Mapping):
            raise ConfigError(
                f"{owner}: params[{k}] is a dict; pass either parameters or parameter groups "
                "(dicts with 'params'), not both"
            )
        if not all(hasattr(p, attr) for attr in ("data", "grad", "requires_grad")):
            raise ConfigError(
                f"{owner}: params[{k}] is not a parameter (it needs .data, .grad and "
                f".requires_grad), got {type(p).__name__}"
            )
        if not isinstance(p.data, np.ndarray) or p.data.dtype.kind != "f":
            raise DTypeError(
                f"{owner}: params[{k}] must hold a floating-point NumPy array, got "
                f"{getattr(p.data, 'dtype', type(p.data).__name__)}"
            )
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    if not unique:
        raise ConfigError(
            f"{owner}: got no parameters to optimize; pass model.parameters() (a generator "
            "that was already used up is empty)"
        )
    return unique


def _fitting(buffer: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    """`buffer` if it still has `like`'s shape and dtype, else a new array that has them."""
    if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
        return np.empty_like(like)
    return buffer


def state_buffer(state: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    """The state array `name`, created as zeros of `like`'s shape and dtype on first use."""
    buffer = state.get(name)
    if buffer is None:
        buffer = state[name] = np.zeros_like(like)
    return buffer
