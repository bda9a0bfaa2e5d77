"""Optimizer: the shared plumbing of every update rule W ← W − η·(something made of ∂E/∂W).

An optimizer holds a list of parameters and, for each one, a few state arrays (a momentum
buffer, moving averages). After `loss.backward()` has filled every parameter's `.grad` with
∂E/∂W, `step()` changes each parameter's `.data` in place by the subclass's rule;
`zero_grad()` clears the gradients before the next backward pass (they accumulate otherwise).

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

    `load_state_dict(d)` checks the class name, the parameter count, the hyperparameter names and
    values, and every array's name and shape, before it changes anything; then it copies the
    arrays into the existing buffers (creating those that do not exist yet).
"""

from __future__ import annotations

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
    """Base class: holds the parameters, their state arrays, lr and the step count.

    A subclass supplies its update rule, written once, as
    `_update(w, g, state, scratch)` — w is the parameter's data (change it in place), g the
    gradient to use (read only), state the parameter's dict of state arrays and scratch an
    array of w's shape and dtype for intermediate results — and names its hyperparameters with
    `_hyper()` (their current values) and `_configure(**hyper)` (validate, then set them).

    params: an iterable of parameters (see `Parameter`); duplicates are dropped, order kept.
    lr: the learning rate η, a positive finite number. A scheduler may later set `self.lr`.
    """

    #: Names of the state arrays this rule may keep per parameter.
    _state_names: tuple[str, ...] = ()
    #: Those of them that are counters of shape () and integer dtype, not parameter-sized.
    _counter_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        name = type(self).__name__
        self.params: list[Parameter] = _collect_params(name, params)
        self.lr: float = positive_finite(name, "lr", lr)
        self.step_count: int = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)
        self._l2_grads: list[np.ndarray | None] = [None] * len(self.params)

    # --- the update ----------------------------------------------------------------------------

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None, so the next backward starts from nothing."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter in place by the rule; skip frozen ones and ones without grad."""
        decay = self._l2_weight_decay()
        update, scratches, states = self._update, self._scratch, self.state
        for i, p in enumerate(self.params):
            g, w = p.grad, p.data
            if g is None or not p.requires_grad:
                continue
            if getattr(g, "shape", None) != w.shape:
                self._check_grad(i, p)
            if decay:
                g = self._gradient(i, p)
            scratch = scratches[i]
            if scratch is None or scratch.shape != w.shape or scratch.dtype != w.dtype:
                scratch = scratches[i] = _fitting(scratch, w)
            update(w, g, states[i], scratch)
        self.step_count += 1

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, scratch: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define an update rule")

    def _l2_weight_decay(self) -> float:
        """λ of the L2 term added to the gradient (Note [weight decay]); 0 means none."""
        return 0.0

    def _gradient(self, i: int, p: Parameter) -> np.ndarray:
        """g = ∂E/∂W + λ·W (L2 weight decay) in its own buffer, or ∂E/∂W itself when λ = 0."""
        lam = self._l2_weight_decay()
        if lam == 0.0:
            return p.grad
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

    def _hyper(self) -> dict[str, Any]:
        """The rule's hyperparameters other than lr, as JSON scalars."""
        return {}

    def _configure(self, **hyper: Any) -> None:
        """Validate the rule's hyperparameters (other than lr), then set them."""
        if hyper:
            raise ConfigError(f"{type(self).__name__}: unknown hyperparameters {sorted(hyper)}")

    def __repr__(self) -> str:
        hyper = {"lr": self.lr, **self._hyper()}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in hyper.items())})"

    # --- saving and loading (Note [state dict layout]) -----------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: see Note [state dict layout]. Arrays are copies."""
        arrays = {
            f"{i}.{name}": array.copy()
            for i, state in enumerate(self.state)
            for name, array in state.items()
        }
        return {
            "optimizer": type(self).__name__,
            "num_params": len(self.params),
            "hyper": {"lr": self.lr, "step_count": self.step_count, **self._hyper()},
            "state": arrays,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned; everything is checked before anything changes."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        expected = {"optimizer", "num_params", "hyper", "state"}
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
        wanted = {"lr", "step_count", *self._hyper()}
        if set(hyper) != wanted:
            raise ConfigError(
                f"{where}: hyperparameters {sorted(hyper)} do not match {name}'s {sorted(wanted)}"
            )
        # lr may be 0 here: a cosine schedule ends at eta_min = 0.
        lr = nonnegative_finite(where, "lr", hyper.pop("lr"))
        step_count = nonnegative_int(where, "step_count", hyper.pop("step_count"))
        arrays = self._check_arrays(where, state_dict["state"])
        self._configure(**hyper)  # validates all before setting any

        self.lr = lr
        self.step_count = step_count
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


# --- helpers shared by the optimizers and the schedules ------------------------------------------


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
                f"{owner}: parameter groups (dicts) are not supported; pass one iterable of "
                "parameters and one set of hyperparameters"
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
