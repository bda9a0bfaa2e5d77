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


def chain_symbols(naming: nt.Naming, names: list[str]) -> Segs:
    """Symbols of a chain-rule product, in the notation's order and with its sign."""
    return symbols(naming.chain(names), naming.times)


def chain_product(naming: nt.Naming, values: list[float]) -> Segs:
    """The numbers of a chain-rule product, in the same order as chain_symbols."""
    return product(naming.chain(values))


# --- the document ---------------------------------------------------------------------------
def build_document(ex: Explanation, focus: str | None = None) -> Document:
    """The whole step, or with `focus` (a parameter's name: "w5", "b_h1") only what that
    parameter's derivation needs: the values it reads, the δ's it reuses, its chain-rule
    product and check, and its update."""
    net, naming = ex.network, nt.Naming.of(ex.network)
    sample = ", ".join(f"{n} = {nt.fmt(v)}" for n, v in net.inputs)
    values = ", ".join(f"{n} = {nt.fmt(v)}" for n, v in net.targets)
    targets = f"targets {values}"
    if net.target_class is not None:  # class k is output unit k + 1: class 0 is o1
        unit = naming.label(ex.outputs[net.target_class].name)
        targets = f"target class {net.target_class} ({unit}), one-hot {values}"
    error, sample = net.loss_formula, f"{sample}; {targets}"
    if ex.samples:
        each = naming.sample_error("k")
        error = (f"{naming.error} = {_over(ex)}{naming.over_samples} {each} over the samples "
                 f"k, each {each} = {error.split(' = ', 1)[1]}")
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
        section = _focus(ex, focus)  # first: it refuses a name the network does not have
        title = naming.d(naming.error, naming.symbol(focus))
        return Document(f"chainrule explain: {title}, one training step", summary, (section,))
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
    naming = nt.Naming.of(ex.network)
    text = _layer_legend(ex, naming) if naming.layered else _unit_legend(naming)
    return Section("Notation", [Para(segs(text))])


def _unit_legend(naming: nt.Naming) -> str:
    sizes, layers = naming.sizes, naming.layers
    first_w = 1
    ranges = []
    for k in range(1, layers + 1):
        count = sizes[k - 1] * sizes[k]
        title = ("the outputs" if sizes[k] > 1 else "the output") if k == layers else (
            "the hidden layer" if layers == 2 else f"hidden layer {k}")
        ranges.append(f"w{first_w} feeds {title}" if count == 1
                      else f"w{first_w}..w{first_w + count - 1} feed {title}")
        first_w += count
    units = "Inputs i, hidden units h, outputs o." if layers > 1 else \
        "Inputs i, outputs o."
    if layers > 2:
        units += " Hidden unit j of layer k is hk_j (h1_2 = layer 1, unit 2)."
    biases = ", ".join(naming.bias(k, 0) for k in range(1, layers + 1))
    return (
        f"{units} Each unit adds up its weighted inputs, "
        f"net = Σ w·x + b, and passes on out = f(net). Weights are numbered layer by layer, "
        f"and within a layer unit by unit: {'; '.join(ranges)}. Each unit has its own bias "
        f"({biases}, ...). The error term of unit u is δ_u = ∂E/∂net_u."
    )


def _layer_legend(ex: Explanation, naming: nt.Naming) -> str:
    """The layer notation (Note [two notations]); the unit notation's name of one weight."""
    L, up = naming.layers, nt.superscript
    example = naming.weight(L, 0, 0)
    if naming.single_neurons:
        text = (
            f"Layers are counted from the input a⁽⁰⁾ to the output, layer L = {L}. The neuron "
            f"of layer L adds up its weighted input, z⁽ᴸ⁾ = w⁽ᴸ⁾a⁽ᴸ⁻¹⁾ + b⁽ᴸ⁾, and passes on "
            f"a⁽ᴸ⁾ = f(z⁽ᴸ⁾): w⁽ᴸ⁾ and b⁽ᴸ⁾ are layer L's weight and bias ({example} of the "
            f"unit notation is {naming.symbol(example)}). C₀ is the cost of this sample, y its "
            f"target. The error term of layer L is δ⁽ᴸ⁾ = ∂C₀/∂z⁽ᴸ⁾. Each chain is written from "
            f"the parameter up, as the notes do: ∂C₀/∂w⁽ᴸ⁾ = ∂z⁽ᴸ⁾/∂w⁽ᴸ⁾ · ∂a⁽ᴸ⁾/∂z⁽ᴸ⁾ · "
            f"∂C₀/∂a⁽ᴸ⁾."
        )
        notes_cost = "(a⁽ᴸ⁾ − y)²"
    else:
        text = (
            f"Layers are counted from the inputs a⁽⁰⁾ₖ (layer 0) to the outputs, layer L = {L}. "
            f"Unit j of layer L adds up its weighted inputs, z⁽ᴸ⁾ⱼ = Σₖ w⁽ᴸ⁾ⱼₖ a⁽ᴸ⁻¹⁾ₖ + "
            f"b⁽ᴸ⁾ⱼ, and passes on a⁽ᴸ⁾ⱼ = f(z⁽ᴸ⁾ⱼ): w⁽ᴸ⁾ⱼₖ is the weight from unit k of "
            f"layer L−1 into unit j of layer L ({example} of the unit notation is "
            f"{naming.symbol(example)}), b⁽ᴸ⁾ⱼ the unit's bias. C₀ is the cost of this sample, "
            f"yⱼ its targets. The error term of unit j of layer L is δ⁽ᴸ⁾ⱼ = ∂C₀/∂z⁽ᴸ⁾ⱼ. Each "
            f"chain is written from the parameter up, as the notes do: ∂C₀/∂w⁽ᴸ⁾ⱼₖ = "
            f"∂z⁽ᴸ⁾ⱼ/∂w⁽ᴸ⁾ⱼₖ · ∂a⁽ᴸ⁾ⱼ/∂z⁽ᴸ⁾ⱼ · ∂C₀/∂a⁽ᴸ⁾ⱼ."
        )
        notes_cost = "Σⱼ (a⁽ᴸ⁾ⱼ − yⱼ)²"
    if ex.samples:
        j = "" if naming.single_neurons else "ⱼ"
        text += (
            f" In a batch, [k] marks sample k's values (a⁽ᴸ⁾{j}[k], δ⁽ᴸ⁾{j}[k]): "
            f"C₀[k] is the cost of sample k, and the batch's is C = "
            f"{_over(ex)}Σₖ C₀[k]."
        )
    if ex.network.loss == "half_sse":
        text += (
            f" The cost is the one training uses, half the sum of squared errors: "
            f"{ex.network.loss_formula}. The notes' C₀ = {notes_cost} has no ½, so their "
            f"∂C₀/∂a{up(f'({L})')} is twice the one below; the ½ only scales the gradients, and "
            f"every number here is the engine's."
        )
    return text


def _forward(ex: Explanation) -> Section:
    section = Section("1. Forward pass")
    fused = ex.network.loss == "cross_entropy"
    naming = nt.Naming.of(ex.network)
    net, out = naming.generic
    if ex.samples:
        section.blocks.append(Para(segs(
            f"Every sample goes through the same network. Sample {ex.shown} is written out in "
            f"full, its {_word(naming)} {naming.sample_error(ex.shown)} as {naming.one.total} "
            f"of one sample; every sample's values follow in a table.")))
    for k, units in enumerate(ex.forward, start=1):
        act = units[0].activation
        rule = nt.ACTIVATION_RULES[act][0].replace("net", net)  # the legend in z, a
        title = _layer_title(ex, k)
        section.blocks.append(Sub(f"{title}: {out} = {rule}" if act != "softmax"
                                  else f"{title}: {out} = {net} (softmax is inside the loss)"))
        section.blocks.append(Eqs(tuple(line for unit in units
                                        for line in _unit_lines(ex, k, unit))))
    error = "Cost" if naming.layered else "Error"
    section.blocks.append(Sub(f"{error}: {ex.network.loss_formula}"))
    section.blocks.append(Eqs(_error_lines(ex) if not fused else _softmax_lines(ex)))
    if ex.samples:
        section.blocks += _samples_table(ex)
    return section


# --- a batch ---------------------------------------------------------------------------------
def _word(n: nt.Naming) -> str:
    """What the loss is called: the error, the notes' cost."""
    return "cost" if n.layered else "error"


def _over(ex: Explanation) -> str:
    """The reduction's factor r of E = r·Σ_k E[k]: '(1/4) ' for a mean, '' for a sum."""
    return f"(1/{ex.batch_size}) " if ex.network.reduction == "mean" else ""


def _listed(ex: Explanation) -> list[int]:
    """The samples a document lists: the first max_samples, and the one shown in full."""
    listed = list(range(min(ex.batch_size, ex.max_samples)))
    return listed if ex.shown in listed else [*listed, ex.shown]


def _batch_sum(ex: Explanation, symbol: str, values: tuple[float, ...]) -> tuple[Segs, Segs]:
    """r·Σ_k symbol in symbols and in numbers, the numbers of the first max_samples and
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
    return segs(f"{over}{nt.Naming.of(ex.network).over_samples} ", sym(symbol)), tuple(numbers)


def _samples_table(ex: Explanation) -> list[Para | Sub | Eqs | Table]:
    """Every sample's inputs, targets, outputs and error, then the batch's error."""
    net, fused = ex.network, ex.network.loss == "cross_entropy"
    n, first = nt.Naming.of(net), ex.samples[0]
    units = [u.name for layer in first.forward for u in layer]
    headers = ["sample", *(name for name, _ in first.inputs),
               *(["class"] if fused else [name for name, _ in first.targets]),
               *(n.probability(u) if fused and u.startswith("o") else n.out(u) for u in units),
               n.sample_error("k")]
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
    symbols_, numbers = _batch_sum(ex, n.sample_error("k"), tuple(s.error for s in ex.samples))
    word = _word(n)
    blocks.append(Sub(f"{word.capitalize()} of the batch: the "
                      + ("mean" if _over(ex) else "sum") + f" of the samples' {word}s"))
    blocks.append(Eqs((Eq(segs(sym(n.total)), (symbols_, numbers, segs(res(ex.error)))),)))
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
    n, names = nt.Naming.of(ex.network), [d.unit for d in ex.deltas[index]]
    rows = tuple((segs(Seg(str(k))),
                  *(segs(Seg(nt.fmt(d.value), "num")) for d in ex.samples[k].deltas[index]))
                 for k in _listed(ex))
    return Table(("sample", *(n.of_sample(n.delta(u), "k") for u in names)), rows,
                 (False, *[True] * len(names)))


def _unit_lines(ex: Explanation, k: int, unit: Unit) -> tuple[Eq, ...]:
    """net of a unit of layer k, and its out unless softmax (inside the loss) or an identity
    output (out is net) makes that line say nothing."""
    act, naming = unit.activation, nt.Naming.of(ex.network)
    net, out = naming.net(unit.name), naming.out(unit.name)
    lines = [_net_eq(unit, net)]
    if act == "identity" and k < len(ex.forward):
        lines.append(Eq(segs(sym(out)), (segs(sym(net)), segs(res(unit.out)))))
    elif act not in ("softmax", "identity"):
        lines.append(Eq(segs(sym(out)), (
            segs(nt.out_formula(act, net, _alpha(ex, k))),
            segs(nt.out_numbers(act, unit.net, _alpha(ex, k))),
            segs(res(unit.out)))))
    return tuple(lines)


def _alpha(ex: Explanation, k: int) -> float:
    """LeakyReLU's negative slope in layer k."""
    return ex.network.alphas[k - 1] if ex.network.alphas else 0.01


def _layer_title(ex: Explanation, k: int) -> str:
    title = nt.Naming.of(ex.network).layer_title(k)
    return title[0].upper() + title[1:]


def _net_eq(unit: Unit, net: str) -> Eq:
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
    return Eq(segs(sym(net)), (tuple(names), tuple(values), segs(res(unit.net))))


def _shown_error(ex: Explanation) -> float:
    """The error of the sample written out: the one sample's, or in a batch the shown one's."""
    return ex.samples[ex.shown].error if ex.samples else ex.error


def _shown_total(ex: Explanation, n: nt.Naming) -> str:
    """Its symbol as a line's left side: E_total, C₀; in a batch E[2], C₀[2]."""
    return n.sample_error(ex.shown) if ex.samples else n.total


def _error_lines(ex: Explanation) -> tuple[Eq, ...]:
    scale = nt.loss_scale(ex.network.loss, ex.network.reduction, len(ex.errors))
    naming, loss = nt.Naming.of(ex.network), ex.network.loss
    if naming.layered:  # one line: C₀ is the sum, and the notes name no share of it
        formulas = [nt.output_error_formula(loss, naming.out(e.unit), naming.target(e.unit),
                                            scale, target_first=False) for e in ex.errors]
        numbers = [nt.output_error_numbers(loss, e.out, e.target, scale, target_first=False)
                   for e in ex.errors]
        shares = tuple(s for i, e in enumerate(ex.errors)
                       for s in ((Seg(" + "),) if i else ()) + (num(e.error),))
        steps = (segs(" + ".join(formulas)), segs(" + ".join(numbers)),
                 *((shares,) if len(ex.errors) > 1 else ()), segs(res(_shown_error(ex))))
        return (Eq(segs(sym(_shown_total(ex, naming))), steps),)
    lines = []
    for e in ex.errors:
        lines.append(Eq(segs(sym(naming.share(e.unit))), (
            segs(nt.output_error_formula(loss, naming.out(e.unit), naming.target(e.unit),
                                         scale)),
            segs(nt.output_error_numbers(loss, e.out, e.target, scale)),
            segs(res(e.error)))))
    names = symbols([naming.share(e.unit) for e in ex.errors], " + ")
    values = tuple(s for i, e in enumerate(ex.errors)
                   for s in ((Seg(" + "),) if i else ()) + (num(e.error),))
    steps = (names, values, segs(res(_shown_error(ex)))) if len(ex.errors) > 1 else \
        (names, segs(res(_shown_error(ex))))
    lines.append(Eq(segs(sym(_shown_total(ex, naming))), steps))
    return tuple(lines)


def _softmax_lines(ex: Explanation) -> tuple[Eq, ...]:
    nets = [u.net for u in ex.outputs]
    try:
        total = math.fsum(math.exp(v) for v in nets)
    except OverflowError:
        total = math.inf
    lines, n = [], nt.Naming.of(ex.network)
    for u, e in zip(ex.outputs, ex.errors, strict=True):
        steps = [segs(f"e^{n.net(u.name)} / {n.over_outputs} e^{n.any_output('net')}")]
        if math.isfinite(total):
            steps.append(segs(f"e^{nt.fmt_factor(u.net)} / {nt.fmt(total)}"))
        steps.append(segs(res(e.probability)))
        lines.append(Eq(segs(sym(n.probability(u.name))), tuple(steps)))
    k = ex.network.target_class
    target = ex.outputs[k].name
    p = ex.errors[k].probability
    lines.append(Eq(segs(sym(_shown_total(ex, n))), (
        segs(f"−ln({n.probability(target)})"), segs(f"−ln({nt.fmt(p)})"),
        segs(res(_shown_error(ex)))),
        segs(Seg(f"the target class is {n.label(target)}", "note"))))
    return tuple(lines)


# --- backward -------------------------------------------------------------------------------
def _backward(ex: Explanation) -> Section:
    section = Section("2. Backward pass")
    n = nt.Naming.of(ex.network)
    E, (net, out) = n.error, n.generic
    one = n.one.error  # a sample's own: its δ = ∂C₀/∂z in a batch too
    section.blocks.append(Para(segs(
        "Backpropagation walks from the error back to every weight, one chain-rule link at a "
        f"time. Each unit's error term δ = ∂{one}/∂{net} is computed once (memoized) and then "
        "reused by every weight and bias feeding that unit, and by the layer below.")))
    if ex.samples:
        over, each, k = _over(ex), n.over_samples, "k"
        section.blocks.append(Para(segs(
            f"Each sample has its own error terms {n.of_sample(n.any_unit('δ'), k)} = "
            f"{n.d(n.sample_error(k), n.of_sample(n.any_unit('net'), k))} and derivatives "
            f"{n.d(n.sample_error(k), 'w')} (sample {ex.shown}'s are written out, every "
            f"sample's δ's are in a table). The batch's {_word(n)} is {E} = {over}{each} "
            f"{n.sample_error(k)}, so each of its gradients is the same reduction of the "
            f"samples' own: {n.d(E, 'w')} = {over}{each} {n.d(n.sample_error(k), 'w')}.")))
    full = _written_out(ex)
    section.blocks += _left_out_chains(ex, full)
    for index, deltas in enumerate(ex.deltas):
        k = n.layers - index
        units = ", ".join(n.label(d.unit) for d in deltas)
        of = f" of sample {ex.shown}" if ex.samples else ""
        section.blocks.append(Sub(f"{_layer_title(ex, k)} ({units}): error terms δ{of}"))
        if deltas[0].fused is not None:
            dE_dnet = n.d(E, n.any_output("net"))
            section.blocks.append(Para(segs(
                "Softmax and cross-entropy are one op, and its derivative is short: "
                f"{dE_dnet} = {n.any_output('p')} − {n.any_output('t')}, with {n.target_letter} "
                f"the one-hot target. So an output unit's δ needs no separate "
                f"{n.product([n.d(E, out), n.d(out, net)])}.")))
        for delta in deltas:
            section.blocks.append(Eqs(_delta_lines(n.one, delta)))
        if ex.samples:
            section.blocks.append(Sub(f"{_layer_title(ex, k)}: every sample's δ"))
            section.blocks.append(_delta_table(ex, index))
        section.blocks.append(Sub(f"{_layer_title(ex, k)}: ∂{E}/∂w for each weight and bias"))
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
    rows, n = [], nt.Naming.of(ex.network)
    for g in grads:
        step = _short(n, g, bool(ex.samples))
        if ex.samples:
            step = f"{_over(ex)}{n.over_samples} {step}"
        rows.append((segs(sym(n.symbol(g.param))), segs(Seg(step)), segs(res(g.grad))))
    return Table(("param", n.d(n.error, "param"), "value"), tuple(rows), (False, False, True))


def _short(n: nt.Naming, g: Gradient, batch: bool = False) -> str:
    """A parameter's gradient from the δ it reuses: δ_o1 × out_h1, a⁽¹⁾₁ · δ⁽²⁾₁; in a batch
    each sample's, δ_o1[k] × out_h1[k]."""
    names = [g.delta, g.factors[-1].formula] if g.kind == "weight" else [g.delta]
    return n.product([n.of_sample(name, "k") if batch else name for name in names])


def _factor_eq(f: Factor, indent: int) -> Eq:
    steps = [segs(f.formula)]
    if f.numbers != f.formula and f.numbers != nt.fmt(f.value):
        steps.append(segs(f.numbers))
    steps.append(segs(res(f.value)))
    return Eq(segs(sym(f.symbol)), tuple(steps), segs(Seg(f.note, "cond")) if f.note else (),
              indent=indent)


def _delta_lines(n: nt.Naming, d: Delta) -> tuple[Eq, ...]:
    lines = []
    memo = segs(Seg(f"computed once; reused by {', '.join(d.used_by)}", "memo"))
    delta = n.delta(d.unit)
    if d.fused is not None:
        lines.append(Eq(segs(sym(delta)), (
            segs(sym(d.fused.symbol)), segs(d.fused.formula),
            segs(d.fused.numbers), segs(res(d.value))), memo))
        return tuple(lines)
    assert d.dE_dout is not None and d.dout_dnet is not None
    lines.append(Eq(segs(sym(delta)), (
        segs(sym(n.d(n.error, n.net(d.unit)))),
        chain_symbols(n, [d.dE_dout.symbol, d.dout_dnet.symbol]))))
    if d.paths:
        vias = ", ".join(n.label(p.via) for p in d.paths)
        lines.append(Eq(segs(sym(d.dE_dout.symbol)),
                        (symbols([p.symbol for p in d.paths], " + "),),
                        segs(Seg(f"{n.label(d.unit)} feeds {vias}: one term per path", "note")),
                        indent=1))
        for p in d.paths:
            named = p.symbol != n.product([p.delta, p.weight])  # ∂E_o1/∂out_h1
            steps = (chain_symbols(n, [p.delta, p.weight]),) if named else ()
            lines.append(Eq(segs(sym(p.symbol)) if named else chain_symbols(n, [p.delta, p.weight]),
                            (*steps, chain_product(n, [p.delta_value, p.weight_value]),
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
    lines.append(Eq(segs(sym(delta)), (
        chain_product(n, [d.dE_dout.value, d.dout_dnet.value]), segs(res(d.value))), memo,
        indent=1))
    return tuple(lines)


def _gradient_eq(n: nt.Naming, g: Gradient) -> Eq:
    short = _short(n, g)
    return Eq(segs(sym(n.d(n.error, n.symbol(g.param)))), (
        chain_symbols(n, [f.symbol for f in g.factors]),
        chain_product(n, [f.value for f in g.factors]),
        segs(res(g.grad))), segs(Seg(f"= {short} ({g.delta} reused)", "memo")), chain=True)


def _gradient_eqs(ex: Explanation, g: Gradient) -> tuple[Eq, ...]:
    """∂E/∂param as a chain; for a batch, the shown sample's chain and then the batch's
    reduction of every sample's."""
    n = nt.Naming.of(ex.network)
    if not ex.samples:
        return (_gradient_eq(n, g),)
    k, P = ex.shown, n.symbol(g.param)
    chain = Eq(segs(sym(n.d(n.sample_error(k), P))), (
        chain_symbols(n, [f.symbol for f in g.factors]),
        chain_product(n, [f.value for f in g.factors]),
        segs(res(g.terms[k]))), segs(Seg(f"sample {k}", "note")), chain=True)
    symbols_, numbers = _batch_sum(ex, n.d(n.sample_error("k"), P), g.terms)
    batch = Eq(segs(sym(n.d(n.error, P))), (symbols_, numbers, segs(res(g.grad))),
               segs(Seg(f"= {_over(ex)}{n.over_samples} {_short(n, g, True)}", "memo")),
               chain=True)
    return chain, batch


# --- check, update, steps --------------------------------------------------------------------
def _check(ex: Explanation) -> Section:
    section = Section("3. Check from first principles")
    n = nt.Naming.of(ex.network)
    E = n.error
    section.blocks.append(Para(segs(
        f"The derivative is the slope of {E} when one parameter moves and nothing else does. "
        f"The central difference ({E}(w + h) − {E}(w − h)) / 2h with h = {nt.fmt(ex.eps)} "
        f"estimates it with two forward passes per parameter; backpropagation got every one "
        f"from a single backward pass. Differences around 1e-10 are the estimate's own error "
        f"(of order h², plus rounding)."
        + (f" Here {E} is the batch's {_word(n)}, {_over(ex)}{n.over_samples} "
           f"{n.sample_error('k')}: each estimate runs every sample's forward pass."
           if ex.samples else ""))))
    rows = tuple(
        (segs(sym(n.symbol(g.param))), segs(Seg(nt.fmt(g.grad), "num")),
         segs(Seg(nt.fmt(g.numeric))), segs(Seg(nt.fmt_small(g.difference), "note")))
        for g in ex.gradients)
    section.blocks.append(Table(("param", f"backprop ∂{E}/∂w", "central difference",
                                 "difference"), rows, (False, True, True, True)))
    agreement = ("exactly" if ex.max_product_error == 0
                 else f"to within {ex.max_product_error:.1e} (rounding)")
    section.blocks.append(Para(segs(
        f"Every product and sum of factors printed above equals the value the engine's own "
        f"backward pass computed {agreement}: the explanation and training read the same "
        f"graph."
        + (f" Each sample's numbers come from its own backward pass; the batch's, recorded "
           f"as training computes them, equal {_over(ex)}{n.over_samples} of them." if ex.samples
           else ""))))
    return section


def _update(ex: Explanation) -> Section:
    net, n = ex.network, nt.Naming.of(ex.network)
    E = n.error
    section = Section("4. Update")
    section.blocks.append(Para(segs(
        f"Gradient descent moves every parameter against its slope: w⁺ = w − η·∂{E}/∂w, with "
        f"η = {nt.fmt(net.lr)}. A positive slope ({E} grows with w) lowers the weight; a "
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
                        chain_symbols(n, [p.delta, p.weight + "⁺"]),
                        chain_product(n, [p.delta_value, p.weight_value]),
                        segs(res(p.value)))))
                total: list[Seg] = []
                for i, p in enumerate(d.paths):
                    total += [Seg(" + ")] if i else []
                    total.append(num(p.value))
                lines.append(Eq(segs(sym(n.d(E, n.out(d.unit)))), (
                    tuple(total), segs(res(d.dE_dout)))))
                lines.append(Eq(segs(sym(n.delta(d.unit))), (
                    chain_product(n, [d.dE_dout, d.dout_dnet]), segs(res(d.value))),
                    segs(Seg(f"was {nt.fmt(ex.delta(d.unit).value)}", "note"))))
                for u in ex.updates:
                    g = ex.gradient(u.param)
                    if g.unit == d.unit:
                        link = g.factors[-1]
                        steps = ((chain_symbols(n, [n.delta(d.unit), link.formula]),
                                  chain_product(n, [d.value, link.value]))
                                 if g.kind == "weight" else (segs(sym(n.delta(d.unit))),))
                        lines.append(Eq(segs(sym(n.d(E, n.symbol(g.param)))),
                                        (*steps, segs(res(u.grad))),
                                        segs(Seg(f"was {nt.fmt(g.grad)}", "note"))))
                section.blocks.append(Eqs(tuple(lines)))
    section.blocks.append(Sub("New weights"))
    section.blocks.append(Eqs(tuple(_update_eq(n, u, net.lr) for u in ex.updates)))
    section.blocks += _error_after(ex)
    for note in ex.notes:
        section.blocks.append(Para(segs(Seg(note, "note"))))
    return section


def _update_eq(n: nt.Naming, u: Update, lr: float) -> Eq:
    param = n.symbol(u.param)
    if not u.learns:
        return Eq(segs(sym(param)), (segs(Seg(nt.fmt(u.before), "num")),),
                  segs(Seg("fixed", "note")))
    arrow = {"down": "↓ lowered: positive slope", "up": "↑ raised: negative slope",
             "none": "unchanged: zero slope"}[u.direction]
    return Eq(segs(sym(param + "⁺")), (
        segs(Seg(nt.fmt(u.before), "num"), Seg(" − "), num(lr), Seg(" × "), num(u.grad)),
        segs(res(u.after))), segs(Seg(arrow, "note")))


def _error_after(ex: Explanation) -> list[Sub | Eqs]:
    change = ex.error_after - ex.error
    return [Sub("Error after the step"),
            Eqs((Eq(segs(sym(nt.Naming.of(ex.network).total)), (segs(res(ex.error_after)),),
                    segs(Seg(f"before: {nt.fmt(ex.error)}, change {change:+.9g}", "note"))),))]


# --- one parameter ---------------------------------------------------------------------------
def _focus(ex: Explanation, param: str) -> Section:
    """One parameter's derivation, from the pieces the whole document is made of."""
    try:
        g = ex.gradient(param)
    except KeyError as error:
        raise ConfigError(f"explain: {error.args[0]}") from None
    delta = ex.delta(g.unit)
    n = nt.Naming.of(ex.network)
    E, P, unit = n.error, n.symbol(param), n.label(g.unit)
    source = f" reads {g.source} and" if g.kind == "weight" else ""
    section = Section(f"{n.d(E, P)}: {P}{source} feeds {unit}")
    section.blocks.append(Sub(f"Forward pass: {unit}"))
    section.blocks.append(Eqs(_unit_lines(ex, g.layer, ex.unit(g.unit))))
    section.blocks.append(Sub(f"The error term it reuses: {g.delta}"))
    section.blocks.append(Eqs(_delta_lines(n.one, delta)))
    above = _deltas_above(ex, delta)
    if above:
        section.blocks.append(Sub("The error terms above it, each computed once"))
        section.blocks.append(Eqs(tuple(
            Eq(segs(sym(n.delta(d.unit))), (segs(res(d.value)),),
               segs(Seg(f"reused by {', '.join(d.used_by)}", "memo"))) for d in above)))
    section.blocks.append(Sub(f"The chain rule for {n.d(E, P)}"))
    section.blocks.append(Eqs(_gradient_eqs(ex, g)))
    section.blocks.append(Para(segs(Seg(
        f"Check from first principles: ({E}({P} + h) − {E}({P} − h)) / 2h = "
        f"{nt.fmt(g.numeric)}, difference {nt.fmt_small(g.difference)}", "note"))))
    section.blocks.append(Sub(f"Update: w⁺ = w − η·∂{E}/∂w"))
    section.blocks.append(Eqs((_update_eq(n, ex.update(param), ex.network.lr),)))
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
    naming = nt.Naming.of(ex.network)
    section.blocks.append(Table(("step", naming.total, *map(naming.symbol, names)), table_rows,
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
