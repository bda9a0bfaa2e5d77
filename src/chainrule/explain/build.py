"""`explain`: one training step of a small network, every chain-rule step with its numbers.

The order follows the notes: forward pass (net and out of every unit, the error), backward
pass (δ = ∂E/∂net of every unit, computed once; ∂E/∂w of every parameter as a product of
named factors), a check of every derivative from first principles, and the update.

Where each number comes from:
  - net, out, E, ∂E/∂out, δ and every ∂E/∂w are the values the engine computed in the forward
    pass and in its backward pass (recorder.py);
  - the local factors ∂out/∂net = out(1 − out), ∂net/∂w = out_h1, ... are their textbook
    forms evaluated on the recorded values (Note [textbook factors] in notation.py);
  - every product and sum of printed factors is compared with the engine's value, and the
    largest disagreement is reported (`max_product_error`, about 1e-17 — rounding only).

Note [batches]
    The notes derive the cost over many samples as C = (1/n) Σ_k C_k, so ∂C/∂w = (1/n) Σ_k
    ∂C_k/∂w. Every loss here reduces over a batch that way: with reduction "mean", half_sse and
    cross_entropy average the samples' errors, and mse and bce average over every element,
    which is the average of the samples' own means; with "sum" they add up. So for a batch of
    n samples E = r·Σ_k E[k], r = 1/n ("mean") or 1 ("sum"), where E[k] is the error the same
    loss gives sample k alone, and ∂E/∂w = r·Σ_k ∂E[k]/∂w.
    Each sample's forward pass, δ_u[k] = ∂E[k]/∂net_u and ∂E[k]/∂w are what the engine computes
    for that sample alone (its own one-sample explanation shows the same numbers). The batch is
    then recorded once more as one graph, as training computes it: its E, its ∂E/∂w (in the
    update and the check) and its δ rows, which are r·δ_u[k]. Both are compared — r·Σ_k of the
    samples' ∂E[k]/∂w with the batch's ∂E/∂w, r·δ_u[k] with the batch's rows — and the largest
    disagreement joins `max_product_error`.
    In the layer notation the cost of one sample is C₀, so sample k's is C₀[k] and the batch's
    C = r·Σₖ C₀[k], the notes' C = (1/n) Σₖ Cₖ (Note [two notations] in notation.py).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ConfigError, ShapeError
from chainrule.explain import notation as nt
from chainrule.explain.model import (
    Delta,
    Explanation,
    Factor,
    Gradient,
    Network,
    OutputError,
    PathTerm,
    Sample,
    SequentialDelta,
    StepRow,
    Term,
    Unit,
    Update,
)
from chainrule.explain.network import Layer, copy_float64, layers_of, sizes_of
from chainrule.explain.recorder import LayerTrace, Trace, record
from chainrule.explain.update import (
    Learn,
    SequentialLayer,
    error_at,
    learning_params,
    sequential_step,
    sgd_step,
)
from chainrule.ops.activation import softmax_array
from chainrule.tensor import Tensor
from chainrule.validate import is_finite_real, is_positive_int, is_real

#: The losses explain can write out: those of nn.LOSSES that the notation has a name for.
LOSSES = tuple(name for name in nn.LOSSES if name in nt.LOSS_NAMES)
_LOSS_CLASSES = {nn.LOSSES[name]: name for name in LOSSES}
#: The largest network explain computes (each parameter costs two more forward passes in the
#: check from first principles); how much of it a document writes out is set by the two below.
MAX_WEIGHTS = 5_000
#: Weights whose chain-rule product a document writes out in full (the rest: a table).
MAX_CHAINS = 50
#: Samples of a batch that a document lists in its tables and sums term by term.
MAX_SAMPLES = 10


def explain(model: nn.Module | None = None, x: Any = None, target: Any = None,
            loss: str | nn.Module = "half_sse", lr: float | None = None, *,
            update_biases: bool | None = None, sequential: bool = False, steps: int = 1,
            eps: float = 1e-6, sample: int = 0, max_weights: int = MAX_WEIGHTS,
            max_chains: int = MAX_CHAINS, max_samples: int = MAX_SAMPLES,
            notation: str = "unit") -> Explanation:
    """Explain one training step of `model` on the samples (x, target), every number shown.

    model: an `nn.Sequential` of Linear layers, each optionally followed by one Sigmoid, Tanh,
    ReLU, LeakyReLU, Softplus or Identity, or a Module whose forward applies such a chain
    (network.py); None for the notes' worked example (then x, target and lr default to the
    example's).  x: one sample, shape (inputs,) or (1, inputs), or a batch (samples, inputs).
    target: (outputs,) per sample, (samples, outputs) for a batch; for cross_entropy a class
    index (or a one-hot vector) per sample.
    loss: "half_sse" (E = ½ Σ (t − out)², the notes'), "mse", "bce" or "cross_entropy", or one
    of those loss modules.  lr: η (default 0.5).
    update_biases: True/False to update the biases or not; None follows the model (a frozen
    parameter, requires_grad=False, is not updated: the worked example's biases are frozen).
    sequential: update layer by layer from the output down, back-propagating through the weights
    just updated (Note [simultaneous vs sequential] in update.py); default simultaneous.
    steps: how many steps to run for the compact table (the first is explained in full).
    eps: h of the central differences.  sample: the sample of a batch written out in full (the
    others as tables).  max_weights: refuse bigger networks.  max_chains: write out the
    chain-rule products of this many weights (the rest as a table).  max_samples: list this
    many samples of a batch in the tables (the sums still run over all).
    notation: "unit" (net_h1, out_o1, w5: the worked example's) or "layer" (z⁽ᴸ⁾, a⁽ᴸ⁾, w⁽ᴸ⁾ⱼₖ,
    C₀: the layer-indexed notes'); only the symbols differ (Note [two notations]).

    A batch's gradients are those of the batch's loss, r·Σ_k ∂E[k]/∂w (Note [batches]).

    The model is not changed: the step runs on a float64 copy.

    >>> import chainrule as cr
    >>> ex = cr.explain()                        # the notes' worked example
    >>> round(ex.gradient("w5").grad, 8), round(ex.error_after, 9)
    (0.08216704, 0.291027774)
    """
    if model is None:
        from chainrule.examples import INPUTS, LEARNING_RATE, TARGETS, worked_example_model

        if x is not None or target is not None:
            raise ConfigError("explain: give a model together with x and target")
        model, x, target = worked_example_model(), INPUTS, TARGETS
        lr = LEARNING_RATE if lr is None else lr
    elif x is None or target is None:
        raise ConfigError("explain: give the sample to explain: explain(model, x, target)")
    lr = 0.5 if lr is None else lr
    _check_settings(lr, steps, eps, max_weights, max_chains, max_samples, notation)

    loss_name, reduction = _loss_of(loss)
    layers = layers_of(model, loss_name, _array(x))
    sizes = sizes_of(layers)
    naming = nt.Naming(sizes, notation)
    if naming.weight_count() > max_weights:
        raise ConfigError(
            f"explain: this network has {naming.weight_count()} weights; explain computes at "
            f"most {max_weights} (raise it with --max-weights / max_weights; how many are "
            f"written out is --max-chains / max_chains)"
        )
    if loss_name == "bce" and layers[-1].activation != "sigmoid":
        raise ConfigError("explain: bce needs probabilities, so end the network with Sigmoid")
    x = _samples(x, sizes[0])
    n = len(x)
    target_array, t_values, classes = _targets(target, loss_name, sizes[-1], n)
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < n:
        raise ConfigError(f"explain: sample must be a sample number from 0 to {n - 1}, got "
                          f"{sample!r}")
    if sequential and n > 1:
        raise ConfigError("explain: the sequential variant is written out for one sample; "
                          f"give one sample, or the simultaneous update for these {n}")
    batch = nt.Naming(sizes, notation, n)  # the batch's error: E, C (Note [two notations])
    learn: Learn = [
        (layer.linear.weight.requires_grad,
         layer.linear.bias is not None and (
             layer.linear.bias.requires_grad if update_biases is None else update_biases))
        for layer in layers
    ]
    loss_fn = nn.get_loss(loss_name, reduction)

    # A learning rate far too large (or huge weights) can overflow to ±inf and then nan, in
    # the update or in a later step's forward pass. That is a legitimate outcome, which the
    # explanation reports (_diverged_note), so NumPy need not warn about it.
    with np.errstate(over="ignore", invalid="ignore"):
        # One step, recorded: each sample of a batch alone, then the step itself (forward,
        # backward), the check from first principles, the update (Note [batches]).
        work = copy_float64(layers)
        alone = [record(work, x[k:k + 1], target_array[k:k + 1], loss_fn, naming,
                        with_graph=False) for k in range(n)] if n > 1 else []
        trace = record(work, x, target_array, loss_fn, batch)
        numeric = _central_differences(work, x, target_array, loss_fn, eps)
        before = [(lt.weight.copy(), None if lt.bias is None else lt.bias.copy())
                  for lt in trace.layers]
        seq_layers = sequential_step(work, trace, learn, lr) if sequential else None
        if not sequential:
            sgd_step(work, learn, lr)
        error_after = error_at(work, x, target_array, loss_fn)
        other = copy_float64(layers)
        other_trace = record(other, x, target_array, loss_fn, naming, with_graph=False)
        if sequential:
            sgd_step(other, learn, lr)
        else:
            sequential_step(other, other_trace, learn, lr)
        error_after_other = error_at(other, x, target_array, loss_fn)

        # Assemble the explanation from the recorded numbers.
        acts = tuple("softmax" if loss_name == "cross_entropy" and k == len(layers) - 1
                     else layer.activation for k, layer in enumerate(layers))
        scale = nt.loss_scale(loss_name, reduction, sizes[-1])
        builders = [_Builder(naming, t, acts, [layer.alpha for layer in layers], loss_name,
                             scale, t_values[k]) for k, t in enumerate(alone or [trace])]
        forwards = [b.forward() for b in builders]
        errors = [b.errors(f[-1]) for b, f in zip(builders, forwards, strict=True)]
        deltas = [b.deltas() for b in builders]
        gradients = [b.gradients(d, numeric) for b, d in zip(builders, deltas, strict=True)]
        if n > 1:
            gradients[sample] = _batch_gradients(builders[sample], trace, naming, alone,
                                                 gradients, sample,
                                                 1 / n if reduction == "mean" else 1)
        updates = _updates(naming, trace, before, work, learn, seq_layers)
        sequential_deltas = builders[0].sequential_deltas(seq_layers) if seq_layers else ()
        rows = _steps(naming, work, learn, x, target_array, loss_fn, lr, sequential, steps,
                      before, trace.error, error_after)

    def pairs(names: list[str], values: Any) -> tuple[tuple[str, float], ...]:
        return tuple(zip(names, (float(v) for v in values), strict=True))

    inputs = [naming.out(u) for u in naming.units(0)]
    targets = [naming.target(u) for u in naming.units(len(layers))]
    samples = tuple(
        Sample(k, pairs(inputs, x[k]), pairs(targets, t_values[k]), classes[k],
               forwards[k], errors[k], alone[k].error, deltas[k])
        for k in range(n)) if n > 1 else ()
    network = Network(
        sizes=sizes, activations=acts, loss=loss_name, reduction=reduction,
        loss_formula=nt.loss_formula(loss_name, scale, naming), lr=float(lr),
        update_biases=all(b for (_, b), layer in zip(learn, layers, strict=True)
                          if layer.linear.bias is not None),
        sequential=sequential,
        inputs=pairs(inputs, x[sample]),
        targets=pairs(targets, t_values[sample]), target_class=classes[sample],
        description=_describe(sizes, acts, loss_name),
        alphas=tuple(float(layer.alpha) for layer in layers),
        samples=n, notation=notation,
    )
    worked = n == 1 and _is_worked_example(layers, acts, loss_name, x, t_values[0], lr, learn)
    return Explanation(
        network=network, forward=forwards[sample], errors=errors[sample], error=trace.error,
        deltas=deltas[sample], gradients=gradients[sample], eps=eps,
        max_product_error=max(b.worst for b in builders), updates=updates,
        sequential_deltas=sequential_deltas, error_after=error_after,
        error_after_other=error_after_other, steps=rows, graph=trace.graph,
        notes=_notes(batch, learn, layers, sequential, error_after, error_after_other, worked,
                     n)
        + _dead_notes(naming, deltas, updates) + _overshoot_note(trace.error, error_after, lr)
        + _diverged_note(updates, error_after, rows, lr),
        samples=samples, shown=sample, max_chains=max_chains, max_samples=max_samples,
    )


def _batch_gradients(builder: _Builder, trace: Trace, naming: nt.Naming, alone: list[Trace],
                     per_sample: list[tuple[Gradient, ...]], shown: int, r: float
                     ) -> tuple[Gradient, ...]:
    """The batch's ∂E/∂param: the shown sample's chain, every sample's ∂E[k]/∂param as `terms`
    and the engine's gradient of the batch's loss, checked against r·Σ_k (Note [batches])."""
    builder.agree(r * math.fsum(t.error for t in alone), trace.error)
    for k, one in enumerate(alone):  # the batch's δ rows are r·δ_u[k]
        for lt, lt_k in zip(trace.layers, one.layers, strict=True):
            for j, value in enumerate(lt_k.delta):
                builder.agree(r * float(value), float(lt.delta[k, j]))
    engine = _parameter_values(naming, [(lt.grad_weight, lt.grad_bias) for lt in trace.layers])
    result = []
    for index, g in enumerate(per_sample[shown]):
        terms = tuple(grads[index].grad for grads in per_sample)
        product, grad = r * math.fsum(terms), engine[g.param]
        builder.agree(product, grad)
        result.append(dataclasses.replace(g, grad=grad, product=product,
                                          difference=grad - g.numeric, terms=terms))
    return tuple(result)


def _parameter_values(naming: nt.Naming, arrays: list[tuple[np.ndarray, np.ndarray | None]]
                      ) -> dict[str, float]:
    """Each parameter's element of per-layer (weight, bias) arrays, by the parameter's name."""
    values = {}
    for k, (weight, bias) in enumerate(arrays, start=1):
        for (j, c), value in np.ndenumerate(weight):
            values[naming.weight(k, j, c)] = float(value)
        for j, value in enumerate(() if bias is None else bias):
            values[naming.bias(k, j)] = float(value)
    return values


# --- arguments ------------------------------------------------------------------------------
def _check_settings(lr: Any, steps: Any, eps: Any, max_weights: Any, max_chains: Any,
                    max_samples: Any, notation: Any) -> None:
    problems = []
    if not is_finite_real(lr) or lr <= 0:
        problems.append(f"lr must be a positive number, got {lr!r}")
    if not is_positive_int(steps):
        problems.append(f"steps must be a positive int, got {steps!r}")
    if not is_real(eps) or not 0 < eps < 1:
        problems.append(f"eps must be a small positive number, got {eps!r}")
    for name, value in (("max_weights", max_weights), ("max_chains", max_chains),
                        ("max_samples", max_samples)):
        if not is_positive_int(value):
            problems.append(f"{name} must be a positive int, got {value!r}")
    if notation not in nt.NOTATIONS:
        problems.append(f"notation must be one of {', '.join(nt.NOTATIONS)}, got {notation!r}")
    if problems:
        raise ConfigError("explain: " + "; ".join(problems))


def _loss_of(loss: str | nn.Module) -> tuple[str, str]:
    if isinstance(loss, str):
        key = loss.strip().lower()
        key = nn.LOSS_ALIASES.get(key, key)
        if key not in LOSSES:
            raise ConfigError(
                f"explain: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        return key, "mean"
    name = _LOSS_CLASSES.get(type(loss))
    if name is None:
        raise ConfigError(
            f"explain: loss {type(loss).__name__} is not supported; use HalfSquaredError, "
            "MSELoss, BCELoss or CrossEntropyLoss (or their names)"
        )
    if loss.reduction == "none":
        raise ConfigError("explain: the loss must reduce to one number (reduction 'mean' or "
                          "'sum', not 'none')")
    return name, loss.reduction


def _array(value: Any) -> np.ndarray:
    data = value.data if isinstance(value, Tensor) else value
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"explain: expected numbers, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"explain: values must be finite, got {array.tolist()}")
    return array


def _samples(x: Any, inputs: int) -> np.ndarray:
    """x as (samples, inputs): one sample (inputs,) or (1, inputs), or a batch."""
    array = _array(x)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != inputs or len(array) == 0:
        raise ShapeError(
            f"explain: x must be one sample of {inputs} inputs, shape ({inputs},) or "
            f"(1, {inputs}), or several, shape (samples, {inputs}); got shape {array.shape}"
        )
    return array


def _targets(target: Any, loss: str, outputs: int, n: int
             ) -> tuple[np.ndarray, list[tuple[float, ...]], list[int | None]]:
    """The targets of n samples as the loss wants them, each sample's values t_o, and each
    sample's class for cross-entropy."""
    array = _array(target)
    if n == 1:
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        rows = [array]
    elif loss == "cross_entropy" and array.ndim in (1, 2) and len(array) == n:
        rows = list(array)
    elif loss != "cross_entropy" and (array.shape == (n, outputs)
                                      or (outputs == 1 and array.shape == (n,))):
        rows = list(array.reshape(n, outputs))
    else:
        what = (f"{n} class indices or {n} one-hot rows of {outputs}"
                if loss == "cross_entropy" else f"shape ({n}, {outputs})")
        raise ShapeError(f"explain: the targets of {n} samples must be {what}, one per "
                         f"sample; got shape {array.shape}")
    if loss != "cross_entropy":
        if rows[0].shape != (outputs,):
            raise ShapeError(
                f"explain: target must have one value per output ({outputs}), got shape "
                f"{rows[0].shape}"
            )
        values = [tuple(float(v) for v in row) for row in rows]
        return np.array(values), values, [None] * n
    if outputs < 2:
        raise ConfigError("explain: cross_entropy needs at least 2 outputs (classes)")
    classes = [_class(row, outputs) for row in rows]
    onehots = [tuple(1.0 if j == k else 0.0 for j in range(outputs)) for k in classes]
    return np.array(classes, dtype=np.int64), onehots, list(classes)


def _class(array: np.ndarray, outputs: int) -> int:
    """One sample's class for cross-entropy, from a class index or a one-hot vector."""
    if array.ndim == 0 or array.shape == (1,):
        label = float(array.reshape(-1)[0])
        if label != round(label) or not 0 <= label < outputs:
            raise ConfigError(
                f"explain: the class for cross_entropy must be an integer from 0 to "
                f"{outputs - 1}, got {label:g}")
        return int(label)
    if array.shape == (outputs,) and np.sum(array == 1) == 1 and np.sum(array == 0) == \
            outputs - 1:
        return int(np.argmax(array))
    raise ConfigError(
        f"explain: the target for cross_entropy must be a class index (0 to "
        f"{outputs - 1}) or a one-hot vector of {outputs} values, got {array.tolist()}"
    )


# --- the numbers, assembled ----------------------------------------------------------------
class _Builder:
    """Turns a Trace into the Explanation's parts, checking every printed product as it goes."""

    def __init__(self, naming: nt.Naming, trace: Trace, acts: tuple[str, ...],
                 alphas: list[float], loss: str, scale: float, targets: tuple[float, ...]):
        self.naming, self.trace, self.acts, self.alphas = naming, trace, acts, alphas
        self.loss, self.scale, self.targets = loss, scale, targets
        self.L = naming.layers
        self.worst = 0.0
        last = trace.layers[-1].net
        self.probs = softmax_array(last) if loss == "cross_entropy" else None

    def agree(self, printed: float, engine: float) -> None:
        """Track how far a printed product is from the engine's value (relative to size)."""
        self.worst = max(self.worst, abs(printed - engine) / max(1.0, abs(engine)))

    def layer(self, k: int) -> LayerTrace:
        return self.trace.layers[k - 1]

    # forward -------------------------------------------------------------------------------
    def forward(self) -> tuple[tuple[Unit, ...], ...]:
        layers = []
        for k in range(1, self.L + 1):
            lt, units = self.layer(k), []
            for j, name in enumerate(self.naming.units(k)):
                terms = tuple(
                    Term(self.naming.symbol(self.naming.weight(k, j, c)), float(lt.weight[j, c]),
                         self.naming.out(src), float(lt.a_in[c]))
                    for c, src in enumerate(self.naming.units(k - 1)))
                units.append(Unit(
                    name=name, layer=k, activation=self.acts[k - 1], terms=terms,
                    bias=None if lt.bias is None else self.naming.symbol(self.naming.bias(k, j)),
                    bias_value=None if lt.bias is None else float(lt.bias[j]),
                    net=float(lt.net[j]), out=float(lt.out[j]),
                ))
            layers.append(tuple(units))
        return tuple(layers)

    def errors(self, outputs: tuple[Unit, ...]) -> tuple[OutputError, ...]:
        result = []
        for j, (unit, t) in enumerate(zip(outputs, self.targets, strict=True)):
            if self.probs is not None:
                result.append(OutputError(unit.name, t, unit.out, None, float(self.probs[j])))
            else:
                result.append(OutputError(unit.name, t, unit.out,
                                          nt.output_error_value(self.loss, unit.out, t,
                                                                self.scale)))
        if self.probs is None:
            self.agree(sum(e.error for e in result), self.trace.error)
        else:
            k = self.targets.index(1.0)
            self.agree(-math.log(self.probs[k]), self.trace.error)
        return tuple(result)

    # backward ------------------------------------------------------------------------------
    def _slope(self, k: int, j: int) -> Factor:
        lt, unit, act = self.layer(k), self.naming.unit(k, j), self.acts[k - 1]
        out, net = float(lt.out[j]), float(lt.net[j])
        alpha = self.alphas[k - 1]
        n = self.naming
        return Factor(n.d(n.out(unit), n.net(unit)),
                      nt.slope_formula(act, n.out(unit), n.net(unit), alpha),
                      nt.slope_numbers(act, out, net, alpha),
                      nt.slope_value(act, out, net, alpha),
                      nt.slope_condition(act, n.net(unit), net))

    def _output_delta(self, j: int) -> tuple[Factor | None, Factor | None, Factor | None]:
        lt, unit, n = self.layer(self.L), self.naming.unit(self.L, j), self.naming
        t = self.targets[j]
        if self.probs is not None:  # softmax + cross-entropy, one fused op
            p = float(self.probs[j])
            fused = Factor(n.d(n.error, n.net(unit)), f"{n.probability(unit)} − {n.target(unit)}",
                           f"{nt.fmt_factor(p)} − {nt.fmt_factor(t)}", float(lt.delta[j]))
            self.agree(p - t, float(lt.delta[j]))
            return None, None, fused
        out = float(lt.out[j])
        dE_dout = Factor(n.d(n.error, n.out(unit)),
                         nt.dE_dout_formula(self.loss, n.out(unit), n.target(unit), self.scale),
                         nt.dE_dout_numbers(self.loss, out, t, self.scale),
                         float(lt.dE_dout[j]))
        self.agree(nt.dE_dout_value(self.loss, out, t, self.scale), dE_dout.value)
        return dE_dout, self._slope(self.L, j), None

    def _paths(self, k: int, j: int, deltas_above: np.ndarray, weights_above: np.ndarray
               ) -> tuple[PathTerm, ...]:
        unit, n = self.naming.unit(k, j), self.naming
        paths = []
        for u, via in enumerate(n.units(k + 1)):
            weight, share = n.symbol(n.weight(k + 1, u, j)), n.share(via)
            # The notes' name for the path's share, where E splits into one error per output;
            # elsewhere the memoized product itself names it.
            symbol = (n.d(share, n.out(unit)) if share and k + 1 == self.L
                      and self.loss in nt.DECOMPOSABLE_LOSSES
                      else n.product([n.delta(via), weight]))
            d, w = float(deltas_above[u]), float(weights_above[u, j])
            paths.append(PathTerm(via, symbol, n.delta(via), d, weight, w, d * w))
        return tuple(paths)

    def _hidden_dE_dout(self, k: int, j: int, paths: tuple[PathTerm, ...],
                        engine: float) -> Factor:
        unit, n = self.naming.unit(k, j), self.naming
        self.agree(math.fsum(p.value for p in paths), engine)
        return Factor(n.d(n.error, n.out(unit)),
                      " + ".join(n.product([p.delta, p.weight]) for p in paths),
                      " + ".join(nt.fmt_factor(p.value) for p in paths), engine)

    def deltas(self) -> tuple[tuple[Delta, ...], ...]:
        """δ of every unit, output layer first."""
        layers = []
        for k in range(self.L, 0, -1):
            lt, deltas = self.layer(k), []
            for j, unit in enumerate(self.naming.units(k)):
                paths: tuple[PathTerm, ...] = ()
                if k == self.L:
                    dE_dout, slope, fused = self._output_delta(j)
                else:
                    above = self.layer(k + 1)
                    paths = self._paths(k, j, above.delta, above.weight)
                    dE_dout = self._hidden_dE_dout(k, j, paths, float(lt.dE_dout[j]))
                    self.agree(float(above.grad_input[j]), dE_dout.value)
                    slope, fused = self._slope(k, j), None
                product = fused.value if fused else dE_dout.value * slope.value
                self.agree(product, float(lt.delta[j]))
                n = self.naming
                users = [n.symbol(n.weight(k, j, c)) for c in range(n.sizes[k - 1])]
                if lt.bias is not None:
                    users.append(n.symbol(n.bias(k, j)))
                if k > 1:
                    users += [n.delta(below) for below in n.units(k - 1)]
                deltas.append(Delta(unit, k, dE_dout, paths, slope, fused,
                                    float(lt.delta[j]), product, tuple(users)))
            layers.append(tuple(deltas))
        return tuple(layers)

    def gradients(self, deltas: tuple[tuple[Delta, ...], ...],
                  numeric: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[Gradient, ...]:
        """∂E/∂param for every parameter, in parameter order (w1.., then the biases)."""
        weights, biases, n = [], [], self.naming
        for k in range(1, self.L + 1):
            lt = self.layer(k)
            by_unit = {d.unit: d for d in deltas[self.L - k]}
            num_w, num_b = numeric[k - 1]
            for j, unit in enumerate(self.naming.units(k)):
                delta = by_unit[unit]
                chain = ((delta.fused,) if delta.fused else (delta.dE_dout, delta.dout_dnet))
                for c, src in enumerate(self.naming.units(k - 1)):
                    name = n.weight(k, j, c)
                    x = float(lt.a_in[c])
                    link = Factor(n.d(n.net(unit), n.symbol(name)), n.out(src), nt.fmt(x), x)
                    weights.append(self._gradient(
                        name, "weight", k, n.out(src), unit, float(lt.weight[j, c]),
                        (*chain, link), delta.unit, float(lt.grad_weight[j, c]),
                        float(num_w[j, c])))
                if lt.bias is not None:
                    name = n.bias(k, j)
                    link = Factor(n.d(n.net(unit), n.symbol(name)), "1", "1", 1.0)
                    biases.append(self._gradient(
                        name, "bias", k, "1", unit, float(lt.bias[j]), (*chain, link),
                        delta.unit, float(lt.grad_bias[j]), float(num_b[j])))
        return tuple(weights + biases)

    def _gradient(self, name: str, kind: str, k: int, source: str, unit: str, value: float,
                  factors: tuple[Factor, ...], delta_unit: str, grad: float,
                  numeric: float) -> Gradient:
        product = math.prod(f.value for f in factors)
        self.agree(product, grad)
        return Gradient(name, kind, k, source, unit, value, factors,
                        self.naming.delta(delta_unit), grad, product, numeric, grad - numeric)

    def sequential_deltas(self, seq: list[SequentialLayer | None]
                          ) -> tuple[tuple[SequentialDelta, ...], ...]:
        """The hidden δs of the sequential variant, from the layer below the output down."""
        layers = []
        for k in range(self.L - 1, 0, -1):
            s = seq[k - 1]
            assert s is not None  # every layer below the output has one
            deltas = []
            for j, unit in enumerate(self.naming.units(k)):
                paths = self._paths(k, j, s.delta_above, s.weight_above)
                self.agree(math.fsum(p.value for p in paths), float(s.dE_dout[j]))
                slope = self._slope(k, j).value
                self.agree(float(s.dE_dout[j]) * slope, float(s.delta[j]))
                deltas.append(SequentialDelta(unit, k, paths, float(s.dE_dout[j]), slope,
                                              float(s.delta[j])))
            layers.append(tuple(deltas))
        return tuple(layers)


def _central_differences(layers: list[Layer], x: np.ndarray, target: np.ndarray, loss_fn: Any,
                         eps: float) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(E(p + h) − E(p − h)) / 2h for every element of every weight and bias."""
    result = []
    for layer in layers:
        pair: list[np.ndarray | None] = []
        for p in (layer.linear.weight, layer.linear.bias):
            if p is None:
                pair.append(None)
                continue
            estimate = np.zeros(p.data.shape)
            for index in np.ndindex(p.data.shape):
                original = p.data[index]
                p.data[index] = original + eps
                plus = error_at(layers, x, target, loss_fn)
                p.data[index] = original - eps
                minus = error_at(layers, x, target, loss_fn)
                p.data[index] = original
                estimate[index] = (plus - minus) / (2 * eps)
            pair.append(estimate)
        result.append((pair[0], pair[1]))
    return result


def _updates(naming: nt.Naming, trace: Trace, before: list, work: list[Layer], learn: Learn,
             seq: list[SequentialLayer | None] | None) -> tuple[Update, ...]:
    """w⁺ = w − η·∂E/∂w for every parameter, in parameter order (w1.., then the biases)."""
    weights, biases = [], []
    for k, (lt, (w_before, b_before), layer, (w_learns, b_learns)) in enumerate(
            zip(trace.layers, before, work, learn, strict=True), start=1):
        s = seq[k - 1] if seq else None
        used_w = s.grad_weight if s is not None else lt.grad_weight
        for j, c in np.ndindex(w_before.shape):
            weights.append(_update(naming.weight(k, j, c), w_before[j, c], used_w[j, c],
                                   layer.linear.weight.data[j, c], w_learns,
                                   lt.grad_weight[j, c]))
        if b_before is not None:
            used_b = s.grad_bias if s is not None and s.grad_bias is not None else lt.grad_bias
            for j in range(len(b_before)):
                biases.append(_update(naming.bias(k, j), b_before[j], used_b[j],
                                      layer.linear.bias.data[j], b_learns, lt.grad_bias[j]))
    return tuple(weights + biases)


def _update(name: str, before: float, grad: float, after: float, learns: bool,
            true_grad: float) -> Update:
    direction = ("fixed" if not learns else
                 "down" if grad > 0 else "up" if grad < 0 else "none")
    return Update(name, float(before), float(grad), float(after), direction, learns,
                  float(true_grad))


def _learned_values(naming: nt.Naming, layers: list[Layer], learn: Learn) -> dict[str, float]:
    values = {}
    for k, (layer, flags) in enumerate(zip(layers, learn, strict=True), start=1):
        for p in learning_params(layer, flags):
            is_weight = p is layer.linear.weight
            for index in np.ndindex(p.data.shape):
                name = naming.weight(k, *index) if is_weight else naming.bias(k, index[0])
                values[name] = float(p.data[index])
    return dict(sorted(values.items(), key=lambda item: _param_order(item[0])))


def _param_order(name: str) -> tuple[int, int, str]:
    return (0, int(name[1:]), "") if name.startswith("w") else (1, 0, name)


def _steps(naming: nt.Naming, work: list[Layer], learn: Learn, x: np.ndarray,
           target: np.ndarray, loss_fn: Any, lr: float, sequential: bool, steps: int,
           before: list, error: float, error_after: float) -> tuple[StepRow, ...]:
    """Step 0 (before any update), step 1 (explained above), then steps 2..N the same way."""
    if steps < 2:
        return ()
    initial = copy_float64(work)
    for layer, (w, b) in zip(initial, before, strict=True):
        layer.linear.weight.data[...] = w
        if b is not None:
            layer.linear.bias.data[...] = b
    rows = [StepRow(0, error, _learned_values(naming, initial, learn)),
            StepRow(1, error_after, _learned_values(naming, work, learn))]
    for step in range(2, steps + 1):
        trace = record(work, x, target, loss_fn, naming, with_graph=False)
        if sequential:
            sequential_step(work, trace, learn, lr)
        else:
            sgd_step(work, learn, lr)
        rows.append(StepRow(step, error_at(work, x, target, loss_fn),
                            _learned_values(naming, work, learn)))
    return tuple(rows)


def _describe(sizes: tuple[int, ...], acts: tuple[str, ...], loss: str) -> str:
    parts = [f"{sizes[0]} input{'s' if sizes[0] > 1 else ''}"]
    for k, (size, act) in enumerate(zip(sizes[1:], acts, strict=True), start=1):
        what = ("outputs" if size > 1 else "output") if k == len(acts) else "hidden"
        parts.append(f"{size} {what} ({act})")
    return " → ".join(parts) + f"; {nt.LOSS_NAMES[loss]}"


def _dead_notes(naming: nt.Naming, deltas: list[tuple[tuple[Delta, ...], ...]],
                updates: tuple[Update, ...]) -> tuple[str, ...]:
    """Say why nothing (or a layer) learns when a whole layer passes back no gradient (for
    every sample of a batch)."""
    notes = []
    which = "this sample" if len(deltas) == 1 else f"these {len(deltas)} samples"
    for index, layer in enumerate(deltas[0]):
        if layer and all(d.dout_dnet is not None and d.dout_dnet.value == 0
                         for sample in deltas for d in sample[index]):
            title = naming.layer_title(layer[0].layer)
            title = title if title[-1].isdigit() else f"the {title}"
            net, out = naming.generic
            notes.append(
                f"Every unit of {title} has ∂{out}/∂{net} = 0 here (for ReLU: {net} ≤ 0), so no "
                f"gradient flows back through it: the weights into it and below it do not "
                f"learn from {which}. Such 'dead' units are a known ReLU problem; try "
                f"another seed, leaky_relu, or different initial weights."
            )
    learning = [u for u in updates if u.learns]
    if learning and all(u.grad == 0 for u in learning):
        notes.append("Every gradient is zero, so this step changes nothing.")
    return tuple(notes)


def _diverged_note(updates: tuple[Update, ...], error_after: float, rows: tuple[StepRow, ...],
                   lr: float) -> tuple[str, ...]:
    """Say so when the error or a parameter overflowed to inf or nan: the run diverged."""
    first = [u.after for u in updates] + [error_after]
    steps = [r.step for r in rows if not all(map(math.isfinite, [r.error, *r.params.values()]))]
    if all(map(math.isfinite, first)) and not steps:
        return ()
    step = 1 if not all(map(math.isfinite, first)) else steps[0]
    return (f"Diverged: after step {step} the error or a parameter is no longer a finite "
            f"number (inf or nan: past the largest float). η = {nt.fmt(lr)} is far too "
            f"large for this network; try a smaller --lr.",)


def _overshoot_note(error: float, error_after: float, lr: float) -> tuple[str, ...]:
    if not error_after > error:
        return ()
    return (f"The error rose ({nt.fmt(error)} → {nt.fmt(error_after)}): the gradient only "
            f"says which way is downhill here, and a step of η = {nt.fmt(lr)} times it went "
            f"past the valley. A smaller learning rate (--lr) takes a shorter step.",)


def _is_worked_example(layers: list[Layer], acts: tuple[str, ...], loss: str, x: np.ndarray,
                       t_values: tuple[float, ...], lr: float, learn: Learn) -> bool:
    """Whether this step is the notes' worked example as the notes take it — their network,
    sample and η, biases fixed — the only step their published figures describe."""
    from chainrule.examples import (
        HIDDEN_BIAS,
        HIDDEN_WEIGHTS,
        INPUTS,
        LEARNING_RATE,
        OUTPUT_BIAS,
        OUTPUT_WEIGHTS,
        TARGETS,
    )

    if acts != ("sigmoid", "sigmoid") or loss != "half_sse" or lr != LEARNING_RATE \
            or learn != [(True, False), (True, False)]:
        return False
    values = [(HIDDEN_WEIGHTS, HIDDEN_BIAS), (OUTPUT_WEIGHTS, OUTPUT_BIAS)]
    dtype = layers[0].linear.weight.data.dtype

    def same(a: Any, b: Any) -> bool:  # the notes' numbers, in the network's precision
        a, b = np.asarray(a, dtype), np.asarray(b, dtype)
        return a.shape == b.shape and np.array_equal(a, b)

    return (same(x, INPUTS) and same(t_values, TARGETS[0])
            and all(layer.linear.bias is not None
                    and same(layer.linear.weight.data, weight)
                    and np.all(layer.linear.bias.data == np.asarray(bias, dtype))
                    for layer, (weight, bias) in zip(layers, values, strict=True)))


def _notes(naming: nt.Naming, learn: Learn, layers: list[Layer], sequential: bool,
           error_after: float, error_after_other: float, worked: bool, samples: int = 1
           ) -> tuple[str, ...]:
    """The remarks under the update; those about the notes' figures only for their example."""
    notes = []
    fixed_biases = [naming.symbol(naming.bias(k, j)) for k, ((_, b), layer) in
                    enumerate(zip(learn, layers, strict=True), start=1)
                    if layer.linear.bias is not None and not b
                    for j in range(layer.linear.out_features)]
    if fixed_biases:
        notes.append(
            f"The biases ({', '.join(fixed_biases)}) are kept fixed"
            + (", as in the notes" if worked else "") + "; their gradients are shown but not "
            "applied (--update-biases / update_biases=True updates them)."
        )
    if naming.layers > 1:
        if sequential:
            notes.append(
                f"Sequential variant: the output layer was updated first and the hidden "
                f"gradients were computed through the updated weights, giving {naming.error} = "
                f"{nt.fmt(error_after)}. True gradient descent updates every weight from the "
                f"same backward pass and gives {nt.fmt(error_after_other)}."
                + (" The widely copied write-up of the notes' example prints 0.291027924 "
                   "because an earlier version of its author's script did exactly this; the "
                   "correct figure is 0.291027774." if worked else "")
            )
        else:
            notes.append(
                "Simultaneous update: every gradient comes from the one backward pass above, "
                "then every weight moves. Updating the output layer first and "
                "back-propagating through its new weights (the sequential variant, "
                + ("--sequential" if samples == 1 else "which --sequential writes out for "
                   "one sample") + f") would give {naming.error} = "
                f"{nt.fmt(error_after_other)} instead."
                + (" That is why the widely copied write-up of the notes' example prints "
                   "0.291027924 rather than 0.291027774: an earlier version of its author's "
                   "script did so." if worked else "")
            )
    return tuple(notes)
