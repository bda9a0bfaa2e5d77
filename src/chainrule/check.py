"""Checking derivatives from first principles: central differences against the chain rule.

The notes define the derivative as a limit, f'(x) = lim_{h→0} (f(x + h) − f(x)) / h. The
central difference (f(x + h) − f(x − h)) / 2h has error O(h²), so with h = 1e-6 in float64 it
agrees with a correct analytic gradient to about 1e-9 — and exposes a wrong VJP at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd import gradients, no_grad
from chainrule.errors import ChainruleError, DTypeError
from chainrule.tensor import Tensor


class GradcheckError(ChainruleError, AssertionError):
    """The analytic gradient disagrees with the finite-difference estimate."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report


@dataclass(frozen=True)
class InputCheck:
    """How one input's analytic gradient compares with its numerical estimate."""

    index: int
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    worst_element: tuple[int, ...]
    analytic: float
    numeric: float
    passed: bool


@dataclass(frozen=True)
class GradcheckReport:
    """The result of `gradcheck`: one `InputCheck` per input that requires a gradient."""

    inputs: list[InputCheck] = field(default_factory=list)
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.inputs)

    def __str__(self) -> str:
        lines = [f"gradcheck (eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}): "
                 f"{'passed' if self.passed else 'FAILED'}"]
        for c in self.inputs:
            lines.append(
                f"  input {c.index} {c.shape}: max abs error {c.max_abs_error:.3e}, max rel "
                f"error {c.max_rel_error:.3e}; worst at {c.worst_element}: analytic "
                f"{c.analytic:.10g} vs numeric {c.numeric:.10g}"
                f"{'' if c.passed else '  <-- mismatch'}"
            )
        return "\n".join(lines)


def _as_inputs(inputs: tuple[Any, ...]) -> list[Tensor]:
    tensors = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            tensors.append(x)
            continue
        array = np.asarray(x)
        if array.dtype.kind in "iu":
            raise DTypeError(f"gradcheck: input {i} is {array.dtype}; pass floats to be checked")
        tensors.append(Tensor(array.astype(np.float64, copy=False), requires_grad=True))
    for i, t in enumerate(tensors):
        if t.requires_grad and t.data.dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {t.data.dtype}; central differences are only "
                "reliable in float64, so expect large errors (use .astype('float64'))",
                stacklevel=3,
            )
    return tensors


def _projected(fn: Callable[..., Tensor], tensors: list[Tensor], weights: np.ndarray | None):
    """E = Σ v ⊙ fn(inputs) for a fixed random v: one number whose gradient checks every VJP."""
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if weights is None:
        weights = np.random.default_rng(0).standard_normal(out.data.shape)
    return out, weights, float(np.sum(weights * out.data))


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_on_failure: bool = True) -> GradcheckReport:
    """Compare every input's analytic gradient of `fn` with central finite differences.

    fn: takes the inputs as tensors and returns a tensor of any shape (checked through a fixed
    random weighting of its outputs).  inputs: tensors (those with requires_grad are checked) or
    arrays (converted to float64 tensors that require grad).  An element passes when
    |analytic − numeric| ≤ atol + rtol·|numeric|.  Raises `GradcheckError` carrying the report
    when one fails (unless raise_on_failure=False); returns the report otherwise.

    >>> gradcheck(lambda x: x.sigmoid(), np.array([0.5, -1.0])).passed
    True
    """
    tensors = _as_inputs(inputs)
    out, weights, _ = _projected(fn, tensors, None)
    analytic_of = {}  # by the backward executor, leaving every .grad as it was
    if out.requires_grad:
        nodes, grads = gradients(out, weights.astype(out.data.dtype))
        analytic_of = {id(t): g for t, g in zip(nodes, grads, strict=True) if g is not None}

    report_inputs = []
    for index, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = analytic_of.get(id(t), np.zeros_like(t.data))
        numeric = np.zeros(t.data.shape, dtype=np.float64)
        with no_grad():
            for element in np.ndindex(t.data.shape):  # any memory layout: index, don't reshape
                original = t.data[element]
                t.data[element] = original + eps
                plus = _projected(fn, tensors, weights)[2]
                t.data[element] = original - eps
                minus = _projected(fn, tensors, weights)[2]
                t.data[element] = original
                numeric[element] = (plus - minus) / (2 * eps)
        abs_error = np.abs(analytic - numeric)
        rel_error = abs_error / np.maximum(np.abs(numeric), 1e-12)
        excess = abs_error - (atol + rtol * np.abs(numeric))
        worst = np.unravel_index(int(np.argmax(excess)), t.data.shape) if t.data.size else ()
        report_inputs.append(InputCheck(
            index=index, shape=t.data.shape,
            max_abs_error=float(abs_error.max(initial=0.0)),
            max_rel_error=float(rel_error.max(initial=0.0)),
            worst_element=tuple(int(i) for i in worst),
            analytic=float(analytic[worst]) if t.data.size else 0.0,
            numeric=float(numeric[worst]) if t.data.size else 0.0,
            passed=bool(np.all(excess <= 0)),
        ))
    report = GradcheckReport(report_inputs, eps, atol, rtol)
    if raise_on_failure and not report.passed:
        raise GradcheckError(report)
    return report


def jacobian(fn: Callable[[Tensor], Tensor], x: Any) -> np.ndarray:
    """The full Jacobian J[i, j] = ∂fn(x)_i / ∂x_j, shaped fn(x).shape + x.shape.

    One backward pass per output element, each seeded with a one-hot gradient (the notes'
    vector differentiation). For fn: Rⁿ → Rᵐ this is the m × n matrix.
    """
    source = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))
    x = Tensor(source.data, requires_grad=True)
    out = fn(x)
    rows = np.zeros((out.data.size, x.data.size), dtype=out.data.dtype)
    if out.requires_grad:
        seed = np.zeros(out.data.size, dtype=out.data.dtype)
        for i in range(out.data.size):
            seed[i] = 1
            nodes, grads = gradients(out, seed.reshape(out.data.shape), retain_graph=True)
            seed[i] = 0
            g = next((g for t, g in zip(nodes, grads, strict=True) if t is x), None)
            if g is not None:
                rows[i] = g.reshape(-1)
    return rows.reshape(out.data.shape + x.data.shape)
