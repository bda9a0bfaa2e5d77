"""The explanation as a document: sections of prose, equations and tables, format-free.

The wording and the order of every step live here, once; render_text, render_markdown and
render_html only decide how a section, an equation or a table looks. Pieces of text carry a
role ("sym" for a symbol such as ∂E/∂w5, "num" for a number, "res" for a result, "memo" for a
note that a δ is reused, "note" for a remark, "cond" for the case a ReLU slope takes) that the
renderers style.

An equation is a left side and a chain of right sides, `lhs = step1 = step2 = ...`; a renderer
puts the steps on one line when they fit and under each other, aligned at "=", when not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chainrule.errors import ConfigError
from chainrule.explain import notation as nt
from chainrule.explain.model import Delta, Explanation, Factor, Gradient, StepRow, Unit, Update


@dataclass(frozen=True)
class Seg:
    text: str
    role: str = ""


Segs = tuple[Seg, ...]


def segs(*parts: str | Seg) -> Segs:
    return tuple(p if isinstance(p, Seg) else Seg(p) for p in parts)


def sym(text: str) -> Seg:
    return Seg(text, "sym")


def num(x: float) -> Seg:
    return Seg(nt.fmt_factor(x), "num")


def res(x: float) -> Seg:
    return Seg(nt.fmt(x), "res")


@dataclass(frozen=True)
class Eq:
    lhs: Segs
    steps: tuple[Segs, ...]
    note: Segs = ()
    indent: int = 0
    chain: bool = False  # a long chain: its numbers go below its symbols where space allows


@dataclass(frozen=True)
class Para:
    text: Segs


@dataclass(frozen=True)
class Sub:
    title: str


@dataclass(frozen=True)
class Eqs:
    lines: tuple[Eq, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Segs, ...], ...]  # rows of cells
    numeric: tuple[bool, ...] = ()  # right-align these columns
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Para | Sub | Eqs | Table] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    title: str
    summary: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]


def product(values: list[float]) -> Segs:
    out: list[Seg] = []
    for i, v in enumerate(values):
        if i:
            out.append(Seg(" × "))
        out.append(num(v))
    return tuple(out)


def symbols(names: list[str], joiner: str = " × ") -> Segs:
    out: list[Seg] = []
    for i, name in enumerate(names):
        if i:
            out.append(Seg(joiner))
        out.append(sym(name))
    return tuple(out)


# --- the document ---------------------------------------------------------------------------
def build_document(ex: Explanation, focus: str | None = None) -> Document:
    """The whole step, or with `focus` (a parameter's name: "w5", "b_h1") only what that
    parameter's derivation needs: the values it reads, the δ's it reuses, its chain-rule
    product and check, and its update."""
    net = ex.network
    sample = ", ".join(f"{n} = {nt.fmt(v)}" for n, v in net.inputs)
    values = ", ".join(f"{n} = {nt.fmt(v)}" for n, v in net.targets)
    targets = f"targets {values}"
    if net.target_class is not None:  # class k is output unit k + 1: class 0 is o1
        unit = ex.outputs[net.target_class].name
        targets = f"target class {net.target_class} ({unit}), one-hot {values}"
    error, sample = net.loss_formula, f"{sample}; {targets}"
    if ex.samples:
        error = f"E = {_over(ex)}Σ_k E[k] over the samples k, each E[k]{error[1:]}"
        sample = f"{net.samples} samples; sample {ex.shown} in full: {sample}"
    summary = (
        ("network", net.description),
        ("error", error),
        ("sample", sample),
        ("update", f"η = {nt.fmt(net.lr)}; "
                   + ("sequential variant (output layer first)" if net.sequential
                      else "simultaneous (every gradient first, then every weight)")
                   + _biases(ex)),
    )
    if focus is not None:
        return Document(f"chainrule explain: ∂E/∂{focus}, one training step", summary,
                        (_focus(ex, focus),))
    sections = [_notation(ex), _forward(ex), _backward(ex), _check(ex), _update(ex)]
    if ex.steps:
        sections.append(_steps(ex))
    return Document("chainrule explain: one training step, every chain-rule step", summary,
                    tuple(sections))


def _biases(ex: Explanation) -> str:
    biases = [u for u in ex.updates if u.param.startswith("b_")]
    if not biases:
        return "; no biases"
    if all(u.learns for u in biases):
        return "; biases updated"
    return "; biases fixed" if not any(u.learns for u in biases) else "; some biases fixed"


def _notation(ex: Explanation) -> Section:
    sizes = ex.network.sizes
    layers = len(sizes) - 1
    first_w = 1
    ranges = []
    for k in range(1, layers + 1):
        count = sizes[k - 1] * sizes[k]
        title = "the outputs" if k == layers else ("the hidden layer" if layers == 2
                                                    else f"hidden layer {k}")
        ranges.append(f"w{first_w}..w{first_w + count - 1} feed {title}")
        first_w += count
    units = "Inputs i, hidden units h, outputs o." if layers > 1 else \
        "Inputs i, outputs o."
    if layers > 2:
        units += " Hidden unit j of layer k is hk_j (h1_2 = layer 1, unit 2)."
    naming = nt.Naming(sizes)
    biases = ", ".join(naming.bias(k, 0) for k in range(1, layers + 1))
    text = (
        f"{units} Each unit adds up its weighted inputs, "
        f"net = Σ w·x + b, and passes on out = f(net). Weights are numbered layer by layer, "
        f"and within a layer unit by unit: {'; '.join(ranges)}. Each unit has its own bias "
        f"({biases}, ...). The error term of unit u is δ_u = ∂E/∂net_u."
    )
    return Section("Notation", [Para(segs(text))])


def _forward(ex: Explanation) -> Section:
    section = Section("1. Forward pass")
    fused = ex.network.loss == "cross_entropy"
    if ex.samples:
        section.blocks.append(Para(segs(
            f"Every sample goes through the same network. Sample {ex.shown} is written out in "
            f"full, its error E[{ex.shown}] as E_total of one sample; every sample's values "
            f"follow in a table.")))
    for k, units in enumerate(ex.forward, start=1):
        act = units[0].activation
        rule = nt.ACTIVATION_RULES[act][0]
        title = _layer_title(ex, k)
        section.blocks.append(Sub(f"{title}: out = {rule}" if act != "softmax"
                                  else f"{title}: out = net (softmax is inside the loss)"))
        section.blocks.append(Eqs(tuple(line for unit in units
                                        for line in _unit_lines(ex, k, unit))))
    section.blocks.append(Sub(f"Error: {ex.network.loss_formula}"))
    total = f"E[{ex.shown}]" if ex.samples else "E_total"
    section.blocks.append(Eqs(_error_lines(ex, total) if not fused
                              else _softmax_lines(ex, total)))
    if ex.samples:
        section.blocks += _samples_table(ex)
    return section


# --- a batch ---------------------------------------------------------------------------------
def _over(ex: Explanation) -> str:
    """The reduction's factor r of E = r·Σ_k E[k]: '(1/4) ' for a mean, '' for a sum."""
    return f"(1/{ex.batch_size}) " if ex.network.reduction == "mean" else ""


def _listed(ex: Explanation) -> list[int]:
    """The samples a document lists: the first max_samples, and the one shown in full."""
    listed = list(range(min(ex.batch_size, ex.max_samples)))
    return listed if ex.shown in listed else [*listed, ex.shown]


def _batch_sum(ex: Explanation, symbol: str, values: tuple[float, ...]) -> tuple[Segs, Segs]:
    """r·Σ_k symbol[k] in symbols and in numbers, the numbers of the first max_samples and
    how many more: (1/4) Σ_k ∂E[k]/∂w5 and (1/4) × (0.08 + 0.03 + 0.06 + (-0.02))."""
    shown = values[:ex.max_samples]
    numbers: list[Seg] = []
    for i, v in enumerate(shown):
        numbers += [Seg(" + ")] if i else []
        numbers.append(num(v))
    if len(values) > len(shown):
        numbers.append(Seg(f" + … ({len(values) - len(shown)} more)"))
    over = _over(ex)
    if over:  # the bracket closes on its last number, so a line never starts with it
        numbers = [Seg(f"{over.strip()} × ("), *numbers[:-1],
                   Seg(numbers[-1].text + ")", numbers[-1].role)]
    return segs(over + "Σ_k ", sym(symbol)), tuple(numbers)


def _samples_table(ex: Explanation) -> list[Para | Sub | Eqs | Table]:
    """Every sample's inputs, targets, outputs and error, then the batch's error."""
    net, fused = ex.network, ex.network.loss == "cross_entropy"
    first = ex.samples[0]
    units = [u.name for layer in first.forward for u in layer]
    headers = ["sample", *(n for n, _ in first.inputs),
               *(["class"] if fused else [n for n, _ in first.targets]),
               *(f"{'p' if fused and u.startswith('o') else 'out'}_{u}" for u in units),
               "E[k]"]
    rows = []
    for k in _listed(ex):
        s = ex.samples[k]
        outs = [u.out for layer in s.forward for u in layer]
        if fused:
            outs[-len(s.errors):] = [e.probability for e in s.errors]
        rows.append((segs(Seg(str(k) + (" (in full)" if k == ex.shown else ""))),
                     *(segs(Seg(nt.fmt(v))) for _, v in s.inputs),
                     *([segs(Seg(str(s.target_class)))] if fused
                       else (segs(Seg(nt.fmt(v))) for _, v in s.targets)),
                     *(segs(Seg(nt.fmt(v))) for v in outs), segs(res(s.error))))
    blocks: list[Para | Sub | Eqs | Table] = [
        Sub(f"Every sample ({net.samples})"),
        Table(tuple(headers), tuple(rows), (False, *[True] * (len(headers) - 1)))]
    blocks += _left_out_samples(ex)
    symbols_, numbers = _batch_sum(ex, "E[k]", tuple(s.error for s in ex.samples))
    blocks.append(Sub("Error of the batch: the " + ("mean" if _over(ex) else "sum")
                      + " of the samples' errors"))
    blocks.append(Eqs((Eq(segs(sym("E_total")), (symbols_, numbers, segs(res(ex.error)))),)))
    return blocks


def _left_out_samples(ex: Explanation) -> list[Para]:
    listed, n = _listed(ex), ex.batch_size
    if len(listed) == n:
        return []
    which = f"0 to {ex.max_samples - 1}" + (f" and {ex.shown}" if ex.shown >= ex.max_samples
                                            else "")
    return [Para(segs(Seg(
        f"The tables list {len(listed)} of the {n} samples ({which}); every sum runs over all "
        f"{n}, and the JSON holds every sample's numbers. --max-samples {n} (max_samples={n}) "
        f"lists every one.", "note")))]


def _delta_table(ex: Explanation, index: int) -> Table:
    """Every listed sample's δ's of one layer (index 0: the output layer)."""
    names = [d.unit for d in ex.deltas[index]]
    rows = tuple((segs(Seg(str(k))),
                  *(segs(Seg(nt.fmt(d.value), "num")) for d in ex.samples[k].deltas[index]))
                 for k in _listed(ex))
    return Table(("sample", *(f"δ_{u}[k]" for u in names)), rows, (False, *[True] * len(names)))


def _unit_lines(ex: Explanation, k: int, unit: Unit) -> tuple[Eq, ...]:
    """net of a unit of layer k, and its out unless softmax (inside the loss) or an identity
    output (out is net) makes that line say nothing."""
    act = unit.activation
    lines = [_net_eq(unit)]
    if act == "identity" and k < len(ex.forward):
        lines.append(Eq(segs(sym(f"out_{unit.name}")), (
            segs(sym(f"net_{unit.name}")), segs(res(unit.out)))))
    elif act not in ("softmax", "identity"):
        lines.append(Eq(segs(sym(f"out_{unit.name}")), (
            segs(nt.out_formula(act, f"net_{unit.name}", _alpha(ex, k))),
            segs(nt.out_numbers(act, unit.net, _alpha(ex, k))),
            segs(res(unit.out)))))
    return tuple(lines)


def _alpha(ex: Explanation, k: int) -> float:
    """LeakyReLU's negative slope in layer k."""
    return ex.network.alphas[k - 1] if ex.network.alphas else 0.01


def _layer_title(ex: Explanation, k: int) -> str:
    layers = len(ex.network.sizes) - 1
    if k == layers:
        return "Output layer"
    return "Hidden layer" if layers == 2 else f"Hidden layer {k}"


def _net_eq(unit: Unit) -> Eq:
    names: list[Seg] = []
    values: list[Seg] = []
    for i, term in enumerate(unit.terms):
        if i:
            names.append(Seg(" + "))
            values.append(Seg(" + "))
        names += [sym(term.weight), Seg("·"), sym(term.source)]
        values += [num(term.weight_value), Seg(" × "), num(term.source_value)]
    if unit.bias is not None:
        names += [Seg(" + "), sym(unit.bias)]
        values += [Seg(" + "), num(unit.bias_value)]
    return Eq(segs(sym(f"net_{unit.name}")), (tuple(names), tuple(values), segs(res(unit.net))))


def _error_lines(ex: Explanation, total: str = "E_total") -> tuple[Eq, ...]:
    scale = nt.loss_scale(ex.network.loss, ex.network.reduction, len(ex.errors))
    lines = []
    for e in ex.errors:
        lines.append(Eq(segs(sym(f"E_{e.unit}")), (
            segs(nt.output_error_formula(ex.network.loss, f"out_{e.unit}", f"t_{e.unit}",
                                         scale)),
            segs(nt.output_error_numbers(ex.network.loss, e.out, e.target, scale)),
            segs(res(e.error)))))
    names = symbols([f"E_{e.unit}" for e in ex.errors], " + ")
    values = tuple(s for i, e in enumerate(ex.errors)
                   for s in ((Seg(" + "),) if i else ()) + (num(e.error),))
    error = ex.samples[ex.shown].error if ex.samples else ex.error
    steps = (names, values, segs(res(error))) if len(ex.errors) > 1 else \
        (names, segs(res(error)))
    lines.append(Eq(segs(sym(total)), steps))
    return tuple(lines)


def _softmax_lines(ex: Explanation, name: str = "E_total") -> tuple[Eq, ...]:
    nets = [u.net for u in ex.outputs]
    try:
        total = math.fsum(math.exp(v) for v in nets)
    except OverflowError:
        total = math.inf
    lines = []
    for u, e in zip(ex.outputs, ex.errors, strict=True):
        steps = [segs(f"e^net_{u.name} / Σ_o e^net_o")]
        if math.isfinite(total):
            steps.append(segs(f"e^{nt.fmt_factor(u.net)} / {nt.fmt(total)}"))
        steps.append(segs(res(e.probability)))
        lines.append(Eq(segs(sym(f"p_{u.name}")), tuple(steps)))
    k = ex.network.target_class
    label = ex.outputs[k].name
    p = ex.errors[k].probability
    error = ex.samples[ex.shown].error if ex.samples else ex.error
    lines.append(Eq(segs(sym(name)), (
        segs(f"−ln(p_{label})"), segs(f"−ln({nt.fmt(p)})"), segs(res(error))),
        segs(Seg(f"the target class is {label}", "note"))))
    return tuple(lines)


# --- backward -------------------------------------------------------------------------------
def _backward(ex: Explanation) -> Section:
    section = Section("2. Backward pass")
    section.blocks.append(Para(segs(
        "Backpropagation walks from the error back to every weight, one chain-rule link at a "
        "time. Each unit's error term δ = ∂E/∂net is computed once (memoized) and then reused "
        "by every weight and bias feeding that unit, and by the layer below.")))
    if ex.samples:
        section.blocks.append(Para(segs(
            f"Each sample has its own error terms δ_u[k] = ∂E[k]/∂net_u and derivatives "
            f"∂E[k]/∂w (sample {ex.shown}'s are written out, every sample's δ's are in a "
            f"table). The batch's error is E = {_over(ex)}Σ_k E[k], so each of its gradients "
            f"is the same reduction of the samples' own: ∂E/∂w = {_over(ex)}Σ_k ∂E[k]/∂w.")))
    full = _written_out(ex)
    section.blocks += _left_out_chains(ex, full)
    layers = len(ex.network.sizes) - 1
    for index, deltas in enumerate(ex.deltas):
        k = layers - index
        units = ", ".join(d.unit for d in deltas)
        of = f" of sample {ex.shown}" if ex.samples else ""
        section.blocks.append(Sub(f"{_layer_title(ex, k)} ({units}): error terms δ{of}"))
        if deltas[0].fused is not None:
            section.blocks.append(Para(segs(
                "Softmax and cross-entropy are one op, and its derivative is short: "
                "∂E/∂net_o = p_o − t_o, with t the one-hot target. So an output unit's δ "
                "needs no separate ∂E/∂out × ∂out/∂net.")))
        for delta in deltas:
            section.blocks.append(Eqs(_delta_lines(delta)))
        if ex.samples:
            section.blocks.append(Sub(f"{_layer_title(ex, k)}: every sample's δ"))
            section.blocks.append(_delta_table(ex, index))
        section.blocks.append(Sub(f"{_layer_title(ex, k)}: ∂E/∂w for each weight and bias"))
        grads = [g for g in ex.gradients if g.layer == k]
        lines = tuple(eq for g in grads if g.param in full for eq in _gradient_eqs(ex, g))
        if lines:
            section.blocks.append(Eqs(lines))
        rest = [g for g in grads if g.param not in full]
        if rest:
            section.blocks.append(_gradient_table(ex, rest))
    return section


def _written_out(ex: Explanation) -> set[str]:
    """The parameters whose chain is written out: the first max_chains weights in the order
    of the backward pass (output layer first), and the biases of each layer whose weights are
    all written out."""
    full: set[str] = set()
    budget = ex.max_chains
    for k in range(len(ex.network.sizes) - 1, 0, -1):
        weights = [g.param for g in ex.gradients if g.layer == k and g.kind == "weight"]
        full.update(weights[:budget])
        if len(weights) <= budget:
            full.update(g.param for g in ex.gradients if g.layer == k and g.kind == "bias")
        budget = max(0, budget - len(weights))
    return full


def _left_out_chains(ex: Explanation, full: set[str]) -> list[Para]:
    if len(full) == len(ex.gradients):
        return []
    weights = sum(g.kind == "weight" for g in ex.gradients)
    rest = len(ex.gradients) - len(full)
    return [Para(segs(Seg(
        f"The chain-rule products of the first {ex.max_chains} of the {weights} weights are "
        f"written out (output layer first), with the biases of each layer whose weights all "
        f"are; the other {rest} parameters are listed in a table under their layer, with "
        f"their gradient. --max-chains {weights} (max_chains={weights}) writes out every "
        f"one.", "note")))]


def _gradient_table(ex: Explanation, grads: list[Gradient]) -> Table:
    """Parameters whose chain is not written out: what their gradient is, and its value."""
    rows = []
    for g in grads:
        link = g.factors[-1].formula
        if ex.samples:
            step = f"{_over(ex)}Σ_k {g.delta}[k]" + (f" × {link}[k]" if g.kind == "weight"
                                                      else "")
        else:
            step = g.delta + (f" × {link}" if g.kind == "weight" else "")
        rows.append((segs(sym(g.param)), segs(Seg(step)), segs(res(g.grad))))
    return Table(("param", "∂E/∂param", "value"), tuple(rows), (False, False, True))


def _factor_eq(f: Factor, indent: int) -> Eq:
    steps = [segs(f.formula)]
    if f.numbers != f.formula and f.numbers != nt.fmt(f.value):
        steps.append(segs(f.numbers))
    steps.append(segs(res(f.value)))
    return Eq(segs(sym(f.symbol)), tuple(steps), segs(Seg(f.note, "cond")) if f.note else (),
              indent=indent)


def _delta_lines(d: Delta) -> tuple[Eq, ...]:
    lines = []
    memo = segs(Seg(f"computed once; reused by {', '.join(d.used_by)}", "memo"))
    if d.fused is not None:
        lines.append(Eq(segs(sym(f"δ_{d.unit}")), (
            segs(sym(d.fused.symbol)), segs(d.fused.formula),
            segs(d.fused.numbers), segs(res(d.value))), memo))
        return tuple(lines)
    assert d.dE_dout is not None and d.dout_dnet is not None
    lines.append(Eq(segs(sym(f"δ_{d.unit}")), (
        segs(sym(f"∂E/∂net_{d.unit}")),
        symbols([d.dE_dout.symbol, d.dout_dnet.symbol]))))
    if d.paths:
        vias = ", ".join(p.via for p in d.paths)
        lines.append(Eq(segs(sym(d.dE_dout.symbol)),
                        (symbols([p.symbol for p in d.paths], " + "),),
                        segs(Seg(f"{d.unit} feeds {vias}: one term per path", "note")),
                        indent=1))
        for p in d.paths:
            steps = (symbols([p.delta, p.weight]),) if p.symbol != f"{p.delta} × {p.weight}" \
                else ()
            lines.append(Eq(symbols([p.delta, p.weight]) if not steps else segs(sym(p.symbol)),
                            (*steps, product([p.delta_value, p.weight_value]),
                             segs(res(p.value))),
                            segs(Seg(f"{p.delta} reused", "memo")), indent=2))
        total: list[Seg] = []
        for i, p in enumerate(d.paths):
            total += [Seg(" + ")] if i else []
            total.append(num(p.value))
        steps = (tuple(total), segs(res(d.dE_dout.value))) if len(d.paths) > 1 else \
            (segs(res(d.dE_dout.value)),)
        lines.append(Eq(segs(sym(d.dE_dout.symbol)), steps, indent=2))
    else:
        lines.append(_factor_eq(d.dE_dout, 1))
    lines.append(_factor_eq(d.dout_dnet, 1))
    lines.append(Eq(segs(sym(f"δ_{d.unit}")), (
        product([d.dE_dout.value, d.dout_dnet.value]), segs(res(d.value))), memo, indent=1))
    return tuple(lines)


def _gradient_eq(g: Gradient) -> Eq:
    link = g.factors[-1]
    short = f"{g.delta} × {link.formula}" if g.kind == "weight" else g.delta
    return Eq(segs(sym(f"∂E/∂{g.param}")), (
        symbols([f.symbol for f in g.factors]),
        product([f.value for f in g.factors]),
        segs(res(g.grad))), segs(Seg(f"= {short} ({g.delta} reused)", "memo")), chain=True)


def _gradient_eqs(ex: Explanation, g: Gradient) -> tuple[Eq, ...]:
    """∂E/∂param as a chain; for a batch, the shown sample's chain and then the batch's
    reduction of every sample's."""
    if not ex.samples:
        return (_gradient_eq(g),)
    k, link = ex.shown, g.factors[-1]
    short = f"{g.delta}[k] × {link.formula}[k]" if g.kind == "weight" else f"{g.delta}[k]"
    chain = Eq(segs(sym(f"∂E[{k}]/∂{g.param}")), (
        symbols([f.symbol for f in g.factors]),
        product([f.value for f in g.factors]),
        segs(res(g.terms[k]))), segs(Seg(f"sample {k}", "note")), chain=True)
    symbols_, numbers = _batch_sum(ex, f"∂E[k]/∂{g.param}", g.terms)
    batch = Eq(segs(sym(f"∂E/∂{g.param}")), (symbols_, numbers, segs(res(g.grad))),
               segs(Seg(f"= {_over(ex)}Σ_k {short}", "memo")), chain=True)
    return chain, batch


# --- check, update, steps --------------------------------------------------------------------
def _check(ex: Explanation) -> Section:
    section = Section("3. Check from first principles")
    section.blocks.append(Para(segs(
        f"The derivative is the slope of E when one parameter moves and nothing else does. "
        f"The central difference (E(w + h) − E(w − h)) / 2h with h = {nt.fmt(ex.eps)} "
        f"estimates it with two forward passes per parameter; backpropagation got every one "
        f"from a single backward pass. Differences around 1e-10 are the estimate's own error "
        f"(of order h², plus rounding)."
        + (f" Here E is the batch's error, {_over(ex)}Σ_k E[k]: each estimate runs every "
           f"sample's forward pass." if ex.samples else ""))))
    rows = tuple(
        (segs(sym(g.param)), segs(Seg(nt.fmt(g.grad), "num")), segs(Seg(nt.fmt(g.numeric))),
         segs(Seg(nt.fmt_small(g.difference), "note")))
        for g in ex.gradients)
    section.blocks.append(Table(("param", "backprop ∂E/∂w", "central difference",
                                 "difference"), rows, (False, True, True, True)))
    agreement = ("exactly" if ex.max_product_error == 0
                 else f"to within {ex.max_product_error:.1e} (rounding)")
    section.blocks.append(Para(segs(
        f"Every product and sum of factors printed above equals the value the engine's own "
        f"backward pass computed {agreement}: the explanation and training read the same "
        f"graph."
        + (f" Each sample's numbers come from its own backward pass; the batch's, recorded "
           f"as training computes them, equal {_over(ex)}Σ_k of them." if ex.samples
           else ""))))
    return section


def _update(ex: Explanation) -> Section:
    net = ex.network
    section = Section("4. Update")
    section.blocks.append(Para(segs(
        f"Gradient descent moves every parameter against its slope: w⁺ = w − η·∂E/∂w, with "
        f"η = {nt.fmt(net.lr)}. A positive slope (E grows with w) lowers the weight; a "
        f"negative one raises it.")))
    if ex.sequential_deltas:
        section.blocks.append(Sub("Sequential variant: hidden δ through the updated weights"))
        section.blocks.append(Para(segs(
            "This variant updates the output layer first (its new weights are listed below) "
            "and then back-propagates the same δ of the layer above through the updated "
            "weights, marked ⁺, instead of the weights the forward pass used.")))
        for deltas in ex.sequential_deltas:
            for d in deltas:
                lines = []
                for p in d.paths:
                    lines.append(Eq(segs(sym(p.symbol)), (
                        symbols([p.delta, p.weight + "⁺"]),
                        product([p.delta_value, p.weight_value]), segs(res(p.value)))))
                total: list[Seg] = []
                for i, p in enumerate(d.paths):
                    total += [Seg(" + ")] if i else []
                    total.append(num(p.value))
                lines.append(Eq(segs(sym(f"∂E/∂out_{d.unit}")), (
                    tuple(total), segs(res(d.dE_dout)))))
                lines.append(Eq(segs(sym(f"δ_{d.unit}")), (
                    product([d.dE_dout, d.dout_dnet]), segs(res(d.value))),
                    segs(Seg(f"was {nt.fmt(ex.delta(d.unit).value)}", "note"))))
                for u in ex.updates:
                    g = ex.gradient(u.param)
                    if g.unit == d.unit:
                        link = g.factors[-1]
                        steps = ((symbols([f"δ_{d.unit}", link.formula]),
                                  product([d.value, link.value])) if g.kind == "weight"
                                 else (symbols([f"δ_{d.unit}"]),))
                        lines.append(Eq(segs(sym(f"∂E/∂{g.param}")),
                                        (*steps, segs(res(u.grad))),
                                        segs(Seg(f"was {nt.fmt(g.grad)}", "note"))))
                section.blocks.append(Eqs(tuple(lines)))
    section.blocks.append(Sub("New weights"))
    section.blocks.append(Eqs(tuple(_update_eq(u, net.lr) for u in ex.updates)))
    section.blocks += _error_after(ex)
    for note in ex.notes:
        section.blocks.append(Para(segs(Seg(note, "note"))))
    return section


def _update_eq(u: Update, lr: float) -> Eq:
    if not u.learns:
        return Eq(segs(sym(u.param)), (segs(Seg(nt.fmt(u.before), "num")),),
                  segs(Seg("fixed", "note")))
    arrow = {"down": "↓ lowered: positive slope", "up": "↑ raised: negative slope",
             "none": "unchanged: zero slope"}[u.direction]
    return Eq(segs(sym(u.param + "⁺")), (
        segs(Seg(nt.fmt(u.before), "num"), Seg(" − "), num(lr), Seg(" × "), num(u.grad)),
        segs(res(u.after))), segs(Seg(arrow, "note")))


def _error_after(ex: Explanation) -> list[Sub | Eqs]:
    change = ex.error_after - ex.error
    return [Sub("Error after the step"),
            Eqs((Eq(segs(sym("E_total")), (segs(res(ex.error_after)),),
                    segs(Seg(f"before: {nt.fmt(ex.error)}, change {change:+.9g}", "note"))),))]


# --- one parameter ---------------------------------------------------------------------------
def _focus(ex: Explanation, param: str) -> Section:
    """One parameter's derivation, from the pieces the whole document is made of."""
    try:
        g = ex.gradient(param)
    except KeyError as error:
        raise ConfigError(f"explain: {error.args[0]}") from None
    delta = ex.delta(g.unit)
    source = f" reads {g.source} and" if g.kind == "weight" else ""
    section = Section(f"∂E/∂{param}: {param}{source} feeds {g.unit}")
    section.blocks.append(Sub(f"Forward pass: {g.unit}"))
    section.blocks.append(Eqs(_unit_lines(ex, g.layer, ex.unit(g.unit))))
    section.blocks.append(Sub(f"The error term it reuses: δ_{g.unit}"))
    section.blocks.append(Eqs(_delta_lines(delta)))
    above = _deltas_above(ex, delta)
    if above:
        section.blocks.append(Sub("The error terms above it, each computed once"))
        section.blocks.append(Eqs(tuple(
            Eq(segs(sym(f"δ_{d.unit}")), (segs(res(d.value)),),
               segs(Seg(f"reused by {', '.join(d.used_by)}", "memo"))) for d in above)))
    section.blocks.append(Sub(f"The chain rule for ∂E/∂{param}"))
    section.blocks.append(Eqs(_gradient_eqs(ex, g)))
    section.blocks.append(Para(segs(Seg(
        f"Check from first principles: (E({param} + h) − E({param} − h)) / 2h = "
        f"{nt.fmt(g.numeric)}, difference {nt.fmt_small(g.difference)}", "note"))))
    section.blocks.append(Sub("Update: w⁺ = w − η·∂E/∂w"))
    section.blocks.append(Eqs((_update_eq(ex.update(param), ex.network.lr),)))
    section.blocks += _error_after(ex)
    return section


def _deltas_above(ex: Explanation, delta: Delta) -> list[Delta]:
    """Every δ that `delta` is built from, layer by layer towards the output."""
    found: dict[str, Delta] = {}
    todo = [p.via for p in delta.paths]
    while todo:
        unit = todo.pop()
        if unit not in found:
            found[unit] = ex.delta(unit)
            todo += [p.via for p in found[unit].paths]
    return sorted(found.values(), key=lambda d: (d.layer, d.unit))


def select_steps(rows: tuple[StepRow, ...], limit: int = 21) -> list[StepRow]:
    """All rows when few; else the first ones, then roughly logarithmic spacing, and the last."""
    if len(rows) <= limit:
        return list(rows)
    last = rows[-1].step
    wanted = {0, 1, 2, 3, 4, 5, last}
    value = 10
    while value < last:
        wanted.update({value, 2 * value, 5 * value})
        value *= 10
    return [r for r in rows if r.step in wanted]


def _steps(ex: Explanation) -> Section:
    section = Section(f"5. Several steps ({ex.steps[-1].step})")
    rows = select_steps(ex.steps)
    names = list(rows[0].params)
    section.blocks.append(Para(segs(
        "Each step repeats forward, backward and update on the same "
        + (f"{ex.batch_size} samples" if ex.samples else "sample")
        + "; step 0 is before any update."
        + (" Some steps are left out." if len(rows) < len(ex.steps) else ""))))
    table_rows = tuple(
        (segs(Seg(str(r.step))), segs(Seg(nt.fmt(r.error), "res")),
         *(segs(Seg(f"{r.params[n]:.7g}")) for n in names))
        for r in rows)
    section.blocks.append(Table(("step", "E_total", *names), table_rows,
                                (True,) * (2 + len(names))))
    return section


def split_columns(table: Table, widths: list[int], limit: int) -> list[Table]:
    """`table` cut into tables of at most `limit` (the sum of their columns' `widths`), each
    repeating the first column, so that a wide table (the steps) is read in pieces that fit."""
    chunks: list[list[int]] = [[]]
    for index in range(1, len(table.headers)):
        used = widths[0] + sum(widths[i] for i in chunks[-1])
        if chunks[-1] and used + widths[index] > limit:
            chunks.append([])
        chunks[-1].append(index)
    if len(chunks) == 1:
        return [table]
    numeric = [table.numeric[i] if i < len(table.numeric) else False
               for i in range(len(table.headers))]
    return [Table(tuple(table.headers[i] for i in (0, *chunk)),
                  tuple(tuple(row[i] for i in (0, *chunk)) for row in table.rows),
                  tuple(numeric[i] for i in (0, *chunk)),
                  table.caption if n == len(chunks) - 1 else "")
            for n, chunk in enumerate(chunks)]


def column_widths(table: Table, padding: int) -> list[int]:
    """Each column's widest cell or header, in characters, plus `padding`."""
    return [max([len(header), *(_width(row[i]) for row in table.rows)]) + padding
            for i, header in enumerate(table.headers)]


# --- layout of an equation in a fixed width (text and Markdown) ------------------------------
def _width(parts: Segs) -> int:
    return sum(len(p.text) for p in parts)


def layout(eq: Eq, width: int, base: int = 2) -> list[list[Seg]]:
    """Lines of an equation: on one line if it fits, else the steps under each other, aligned
    at '=' (a step too long for a line breaks between its pieces)."""
    pad = " " * (base + 2 * eq.indent)
    if not eq.lhs and not eq.steps:
        return [[Seg(pad), *eq.note]]
    head = [Seg(pad), *eq.lhs]
    hang = " " * _width(tuple(head))
    pieces = [[Seg(" = "), *step] for step in eq.steps]
    one_line = _width(tuple(head)) + sum(_width(tuple(p)) for p in pieces)
    lines: list[list[Seg]] = [head]
    for i, piece in enumerate(pieces):
        # Past the first step (the symbols), a chain that does not fit on one line goes on
        # below, aligned at '='; later steps join a line while they fit.
        if (i == 1 and one_line > width) or \
                (i > 1 and _width(tuple(lines[-1])) + _width(tuple(piece)) > width):
            lines.append([Seg(hang)])
        for part in piece:
            used = _width(tuple(lines[-1]))
            if used + len(part.text) > width and used > len(hang) + 3:
                lines.append([Seg(hang + "   ")])
                part = Seg(part.text.lstrip(), part.role)
            lines[-1].append(part)
    if eq.note:
        if _width(tuple(lines[-1])) + 3 + _width(eq.note) > width:
            lines.append([Seg(hang + "   "), *eq.note])
        else:
            lines[-1].extend([Seg("   "), *eq.note])
    return lines
