"""The explanation as a live spreadsheet: an .xlsx workbook in which the step recomputes.

Sheet "step" holds one training step the way the notes' spreadsheet does. The inputs, targets,
weights, biases and η (and LeakyReLU's α) are plain input cells, yellow; every other number is
a formula over the cells it comes from: net and out of every unit, E, ∂E/∂out, ∂out/∂net and δ,
∂E/∂w of every parameter, w⁺ = w − η·∂E/∂w, and the forward pass and E after the update.
Change w5 in the sheet and the whole step recomputes. Column A is the explanation's notation
(w5, net_h1, δ_o1, ∂E/∂w5; in layer notation w⁽²⁾₁₁, z⁽¹⁾₁, δ⁽²⁾₁, ∂C₀/∂w⁽²⁾₁₁), B the value,
C the textbook formula, D a remark. Labels come from the network's Naming (the _Spelling
class); the explanation's identifying names (h1, w5) are only looked up, never shown.

Every value cell has a defined name, so the formulas read like the notation:
out_h1 = 1/(1+EXP(-net_h1)), ∂E/∂w5 = delta_o1*out_h1. The name is the label in ASCII
(`defined_name`): Greek letters and marks are spelled out (δ_o1 → delta_o1, w5⁺ → w_5_new,
∂E/∂w5 → dE_dw_5, η → eta), a layer symbol's raised layer and lowered indices become digits
(w⁽²⁾₁₁ → w2_11, a⁽⁰⁾₁ → a0_1, ∂C₀/∂w⁽²⁾₁₁ → dC0_dw2_11), and a name that a spreadsheet would
read as a cell reference gets an underscore (`cell_name`: w5 → w_5, i1 → i_1, y1 → y_1,
C0 → C_0).

Sheet "steps" (when the explanation ran several steps) and sheet "learning rates" (E per step
for η = 0.1, 0.2, 0.5, 0.8, 1, 2 and the explanation's own η, with a line chart) hold plain
numbers that chainrule computed: they do not follow edits of the "step" sheet.

Numbers are written with 16 significant digits (openpyxl's choice): an input that needs all 17
moves by at most one unit in its last place, about 1e-16 of its size.

Text is always written as text, never as a formula, whatever it starts with. The workbook has
no macros and no links to other files, and its document dates are fixed, so the same
explanation gives the same bytes. openpyxl (the optional [xlsx] extra) is imported only here,
and only when a workbook is written.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from chainrule.errors import ConfigError
from chainrule.explain import notation as nt
from chainrule.explain.model import Explanation, Unit, renders
from chainrule.validate import nonnegative_int

INSTALL = "pip install 'chainrule[xlsx]'"
SWEEP_RATES = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)  # the notes' learning rates
SWEEP_STEPS = 100
STEP_SHEET, STEPS_SHEET, SWEEP_SHEET = "step", "steps", "learning rates"
#: the document's creation and modification date (and its zip entries' time): fixed, so that
#: the same explanation gives the same bytes
FIXED_TIME = datetime(2000, 1, 1)


@renders("xlsx", binary=True)
def render_xlsx(ex: Explanation, sweep_steps: int = SWEEP_STEPS) -> bytes:
    """The workbook's bytes; `ex.render("xlsx", path)` writes them (atomically).

    sweep_steps: how many steps the "learning rates" sheet runs for each η (0: no such sheet).
    """
    openpyxl = _openpyxl()
    sweep_steps = nonnegative_int("explain", "sweep_steps", sweep_steps)
    rows = layout(ex)
    workbook = openpyxl.Workbook()
    _write_step(workbook, workbook.active, ex, rows)
    if ex.steps:
        _write_steps(workbook, ex)
    if sweep_steps:
        _write_sweep(workbook, learning_rate_sweep(ex, steps=sweep_steps),
                     nt.Naming.of(ex.network).total)
    workbook.properties.creator = "chainrule"
    workbook.properties.title = "chainrule explain: one training step"
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    buffer = BytesIO()
    workbook.save(buffer)
    return _fixed_dates(buffer.getvalue())


def _openpyxl() -> Any:
    try:
        import openpyxl
    except ImportError:
        raise ConfigError(f"explain: the xlsx format needs openpyxl: {INSTALL}") from None
    return openpyxl


# --- the rows of the step sheet, as plain data ------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One quantity: its label in the notation, its defined name, its value — a number for an
    input cell, a formula ('=…') otherwise — the textbook formula and a remark."""

    label: str
    name: str
    value: float | str
    formula: str = ""
    note: str = ""

    @property
    def is_input(self) -> bool:
        return not isinstance(self.value, str)


Section = tuple[str, list[Row]]

_CELL_LIKE = re.compile(r"([A-Za-z]{1,3})([0-9]+)")
#: a layer-notation symbol's raised and lowered digits as plain ones: w⁽²⁾₁₁ → w2_11
_PLAIN_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉,", "01234567890123456789_", "⁽⁾")


def cell_name(symbol: str) -> str:
    """The defined name of a symbol: w5 → w_5 and i1 → i_1, since a spreadsheet reads 'w5'
    as the cell in column W, row 5; net_h1, b_h1, t_o1 and out_h1 stay as they are."""
    match = _CELL_LIKE.fullmatch(symbol)
    return f"{match[1]}_{match[2]}" if match else symbol


def plain(symbol: str) -> str:
    """A symbol in ASCII: δ_o1 → delta_o1; in layer notation the layer, then after an
    underscore the indices: w⁽²⁾₁₁ → w2_11, δ⁽¹⁾₂ → delta1_2, z⁽¹⁾ → z1, y₁ → y1, C₀ → C0."""
    symbol = re.sub("⁾(?=[₀-₉])", "⁾_", symbol.replace("δ", "delta"))
    return symbol.translate(_PLAIN_DIGITS)


def defined_name(symbol: str) -> str:
    """The defined name of a symbol: its plain spelling, with an underscore where a
    spreadsheet would read it as a cell (w5 → w_5, z⁽¹⁾ → z_1, C₀ → C_0)."""
    return cell_name(plain(symbol))


class _Spelling:
    """The label (the explanation's notation, ⁺ after the update) and the defined name
    (ASCII, _new after the update) of each quantity of the sheet, from the network's Naming:
    the one place where identifying names (h1, w5) become what the sheet shows."""

    def __init__(self, ex: Explanation) -> None:
        self.n = nt.Naming.of(ex.network)

    @staticmethod
    def _of(symbol: str, mark: str) -> tuple[str, str]:
        return symbol + ("⁺" if mark else ""), defined_name(symbol) + mark

    def net(self, unit: str, mark: str = "") -> tuple[str, str]:
        return self._of(self.n.net(unit), mark)

    def out(self, unit: str, mark: str = "") -> tuple[str, str]:
        """A unit's out; an input's value, which the update leaves as it is."""
        return self._of(self.n.out(unit), "" if self.n.place(unit)[0] == 0 else mark)

    def target(self, unit: str) -> tuple[str, str]:
        return self._of(self.n.target(unit), "")

    def probability(self, unit: str, mark: str = "") -> tuple[str, str]:
        return self._of(self.n.probability(unit), mark)

    def share(self, unit: str, mark: str = "") -> tuple[str, str] | None:
        share = self.n.share(unit)
        return None if share is None else self._of(share, mark)

    def total(self, mark: str = "") -> tuple[str, str]:
        return self._of(self.n.total, mark)

    def param(self, name: str, mark: str = "") -> tuple[str, str]:
        return self._of(self.n.symbol(name), mark)

    def delta(self, unit: str) -> tuple[str, str]:
        return self._of(self.n.delta(unit), "")

    def _d(self, of: str, by: str) -> tuple[str, str]:
        return self.n.d(of, by), f"d{plain(of)}_d{defined_name(by)}"

    def dE_dout(self, unit: str) -> tuple[str, str]:
        """∂E/∂out_h1, dE_dout_h1; ∂C₀/∂a⁽¹⁾₁, dC0_da1_1."""
        return self._d(self.n.error, self.n.out(unit))

    def dout_dnet(self, unit: str) -> tuple[str, str]:
        """∂out_h1/∂net_h1, dout_dnet_h1; ∂a⁽¹⁾₁/∂z⁽¹⁾₁, da1_1_dz1_1."""
        label, name = self._d(self.n.out(unit), self.n.net(unit))
        return label, name if self.n.layered else f"dout_dnet_{unit}"

    def grad(self, param: str) -> tuple[str, str]:
        """∂E/∂w5, dE_dw_5; ∂C₀/∂w⁽²⁾₁₁, dC0_dw2_11."""
        return self._d(self.n.error, self.n.symbol(param))

    def source(self, param: str) -> str:
        """The unit a weight reads from: w5 → h1."""
        k, (_, c) = self.n.place(param)
        return self.n.unit(k - 1, c)


def layout(ex: Explanation) -> list[Section]:
    """The step sheet's sections, top to bottom: every quantity of the step with its formula.

    Refuses what a spreadsheet of one sample cannot hold: several samples, an input or a
    parameter that is inf or nan.
    """
    _check_one_sample(ex)
    s, net = _Spelling(ex), ex.network
    n = s.n
    z, a = n.generic
    x, E = a if n.layered else "x", n.error
    seq = _sequential(ex, s)
    inputs = [Row(*s.out(unit), value, "input")
              for unit, (_, value) in zip(n.units(0), net.inputs, strict=True)]
    targets = [Row(*s.target(unit), value, "target", _target_note(ex, n))
               for unit, (_, value) in zip(n.units(n.layers), net.targets, strict=True)]
    sections: list[Section] = [
        ("Inputs and targets", inputs + targets),
        ("Weights, biases and settings", _parameters(ex, s)),
        (f"Forward pass: {z} = Σ w·{x} + b, {a} = f({z})", _forward(ex, s, "")),
        ("Error", _error(ex, s, "")),
        (f"Backward pass: δ = {n.d(E, z)} = {n.product([n.d(E, a), n.d(a, z)])}, output layer "
         "first", _backward(ex, s)),
        (f"Gradients: {n.d(E, 'w')} = {n.product(['δ', n.d(z, 'w')])}", _gradients(ex, s)),
    ]
    if seq:
        sections.append(("Sequential variant: hidden δ through the updated weights above",
                         seq))
    sections += [
        (f"Update: w⁺ = w − η·{n.d(E, 'w')}", _updates(ex, s, {row.name for row in seq})),
        ("After the step: the forward pass with w⁺",
         _forward(ex, s, "_new") + _error(ex, s, "_new")),
    ]
    for row in (row for _, rows in sections[:2] for row in rows):
        if isinstance(row.value, float) and not math.isfinite(row.value):
            raise ConfigError(f"explain: the xlsx format cannot hold {row.label} = "
                              f"{row.value}: a spreadsheet cell holds finite numbers only")
    return sections


def _check_one_sample(ex: Explanation) -> None:
    if ex.samples:
        raise ConfigError(f"explain: the xlsx format shows one sample's step; this explanation "
                          f"holds {len(ex.samples)} samples (explain one sample at a time)")


def _target_note(ex: Explanation, n: nt.Naming) -> str:
    k = ex.network.target_class
    return "" if k is None else \
        f"one-hot: the target class is {k} ({n.label(n.unit(n.layers, k))})"


def _parameters(ex: Explanation, s: _Spelling) -> list[Row]:
    rows = [Row(*s.param(u.param), u.before, "weight" if u.param[0] == "w" else "bias",
                "" if u.learns else "fixed: not updated") for u in ex.updates]
    rows.append(Row("η", "eta", ex.network.lr, "learning rate"))
    rows += [Row(f"α (layer {k})", f"alpha_{k}", alpha,
                 f"LeakyReLU's slope for {s.n.generic[0]} ≤ 0")
             for k, (act, alpha) in enumerate(
                 zip(ex.network.activations, ex.network.alphas, strict=True), start=1)
             if act == "leaky_relu"]
    return rows


# out = f(net) and ∂out/∂net as spreadsheet formulas, over the names of net, out and α
_OUT: dict[str, Callable[[str, str], str]] = {
    "sigmoid": lambda n, a: f"1/(1+EXP(-{n}))",
    "tanh": lambda n, a: f"TANH({n})",
    "relu": lambda n, a: f"MAX(0,{n})",
    "leaky_relu": lambda n, a: f"IF({n}>0,{n},{a}*{n})",
    "softplus": lambda n, a: f"LN(1+EXP({n}))",
    "identity": lambda n, a: n,
}
_SLOPE: dict[str, Callable[[str, str, str], str]] = {
    "sigmoid": lambda o, n, a: f"{o}*(1-{o})",
    "tanh": lambda o, n, a: f"1-{o}^2",
    "relu": lambda o, n, a: f"IF({n}>0,1,0)",
    "leaky_relu": lambda o, n, a: f"IF({n}>0,1,{a})",
    "softplus": lambda o, n, a: f"1/(1+EXP(-{n}))",
    "identity": lambda o, n, a: "1",
}


def _forward(ex: Explanation, s: _Spelling, mark: str) -> list[Row]:
    """net and out of every unit; mark '' for the step's own weights, '_new' for w⁺."""
    n, rows = s.n, []
    for units in ex.forward:
        for j, u in enumerate(units):
            pairs = [(s.param(n.weight(u.layer, j, c), mark), s.out(source, mark))
                     for c, source in enumerate(n.units(u.layer - 1))]
            formula = [f"{w}*{x}" for (_, w), (_, x) in pairs]
            text = [f"{w}·{x}" for (w, _), (x, _) in pairs]
            if u.bias is not None:
                b_label, b_name = s.param(n.bias(u.layer, j), mark)
                formula.append(b_name)
                text.append(b_label)
            net_label, net_name = s.net(u.name, mark)
            rows.append(Row(net_label, net_name, "=" + "+".join(formula), " + ".join(text)))
            if u.activation != "softmax":
                rows.append(Row(*s.out(u.name, mark),
                                "=" + _OUT[u.activation](net_name, _alpha(u)),
                                nt.out_formula(u.activation, net_label,
                                               ex.network.alphas[u.layer - 1])))
    return rows


def _alpha(u: Unit) -> str:
    """The name of LeakyReLU's α of the unit's layer."""
    return f"alpha_{u.layer}"


def _n(ex: Explanation) -> str:
    """'/2' where the loss averages over 2 outputs, else ''."""
    net = ex.network
    scale = nt.loss_scale(net.loss, net.reduction, net.sizes[-1])
    return "" if scale == 1 else f"/{round(1 / scale)}"


def _error(ex: Explanation, s: _Spelling, mark: str) -> list[Row]:
    """E_o of every output (p_o for cross-entropy) and E_total; in layer notation, which
    names no share of the error, C₀ as one sum."""
    net, n, outputs = ex.network, s.n, [u.name for u in ex.outputs]
    total_label, total_name = s.total(mark)
    if net.loss == "cross_entropy":
        nets = [s.net(unit, mark)[1] for unit in outputs]
        top = f"MAX({','.join(nets)})"
        total = "+".join(f"EXP({name}-{top})" for name in nets)
        rows = [Row(*s.probability(unit, mark), f"=EXP({name}-{top})/({total})",
                    f"e^{n.net(unit)} / {n.over_outputs} e^{n.any_output('net')} (softmax)")
                for unit, name in zip(outputs, nets, strict=True)]
        picked = "+".join(f"{s.target(unit)[1]}*{s.probability(unit, mark)[1]}"
                          for unit in outputs)
        rows.append(Row(total_label, total_name, f"=-LN({picked})",
                        net.loss_formula.removeprefix(f"{n.error} = ")))
        return rows
    scale = nt.loss_scale(net.loss, net.reduction, net.sizes[-1])
    rows, terms = [], []
    for unit in outputs:
        (out_label, out), (t_label, t) = s.out(unit, mark), s.target(unit)
        formula = _error_formula(net.loss, out, t) + _n(ex)
        text = nt.output_error_formula(net.loss, out_label, t_label, scale,
                                       target_first=not n.layered)
        share = s.share(unit, mark)
        if share is None:
            terms.append((formula, text))
        else:
            rows.append(Row(*share, "=" + formula, text))
            terms.append(share[::-1])
    rows.append(Row(total_label, total_name, "=" + "+".join(f for f, _ in terms),
                    " + ".join(text for _, text in terms)))
    return rows


def _error_formula(loss: str, out: str, t: str) -> str:
    return {"half_sse": f"({t}-{out})^2/2", "mse": f"({out}-{t})^2",
            "bce": f"-({t}*LN({out})+(1-{t})*LN(1-{out}))"}[loss]


def _dE_dout_formula(loss: str, out: str, t: str) -> str:
    return {"half_sse": f"{out}-{t}", "mse": f"2*({out}-{t})",
            "bce": f"({out}-{t})/({out}*(1-{out}))"}[loss]


def _through(s: _Spelling, unit: str, via: str, delta: str, mark: str = "") -> str:
    """δ_via × the weight from `unit` into `via`, as a formula over the names."""
    k, (j,) = s.n.place(unit)
    return f"{delta}*{s.param(s.n.weight(k + 1, s.n.place(via)[1][0], j), mark)[1]}"


def _backward(ex: Explanation, s: _Spelling) -> list[Row]:
    rows = []
    for deltas in ex.deltas:
        for d in deltas:
            unit = d.unit
            delta = s.delta(unit)
            if d.fused is not None:  # softmax and cross-entropy: δ = p − t
                rows.append(Row(*delta, f"={s.probability(unit)[1]}-{s.target(unit)[1]}",
                                d.fused.formula,
                                f"{s.n.d(s.n.error, s.n.generic[0])} of softmax and "
                                "cross-entropy"))
                continue
            assert d.dE_dout is not None and d.dout_dnet is not None
            out, net = s.out(unit)[1], s.net(unit)[1]
            if d.paths:
                dE_dout = "+".join(_through(s, unit, p.via, s.delta(p.via)[1])
                                   for p in d.paths)
            else:
                dE_dout = _dE_dout_formula(ex.network.loss, out, s.target(unit)[1]) + _n(ex)
            (dE_label, dE_name), (slope_label, slope_name) = s.dE_dout(unit), s.dout_dnet(unit)
            unit_ = ex.unit(unit)
            rows += [
                Row(dE_label, dE_name, "=" + dE_dout, d.dE_dout.formula),
                Row(slope_label, slope_name,
                    "=" + _SLOPE[unit_.activation](out, net, _alpha(unit_)),
                    d.dout_dnet.formula),
                Row(*delta, f"={dE_name}*{slope_name}", s.n.product([dE_label, slope_label]),
                    "computed once; reused by " + ", ".join(d.used_by)),
            ]
    return rows


def _gradients(ex: Explanation, s: _Spelling) -> list[Row]:
    rows = []
    for g in ex.gradients:
        delta_label, delta = s.delta(g.unit)
        factors, short = [delta], [delta_label]
        if g.kind == "weight":
            source_label, source = s.out(s.source(g.param))
            factors.append(source)
            short.append(source_label)
        chain = s.n.product([f.symbol for f in g.factors])
        rows.append(Row(*s.grad(g.param), "=" + "*".join(factors),
                        f"{chain} = {s.n.product(short)}"))
    return rows


def _sequential(ex: Explanation, s: _Spelling) -> list[Row]:
    """The sequential variant's hidden δ and gradients (Note [simultaneous vs sequential] in
    update.py): the same δ of the layer above, back through the weights just updated."""
    top, n = len(ex.network.sizes) - 1, s.n
    rows = []
    for deltas in ex.sequential_deltas:
        for d in deltas:
            unit, above = d.unit, "" if d.layer + 1 == top else "_seq"
            (dE_label, dE_name), (slope_label, slope_name) = s.dE_dout(unit), s.dout_dnet(unit)
            delta_label, delta = s.delta(unit)
            rows += [
                Row(f"{dE_label} (through w⁺)", f"{dE_name}_seq",
                    "=" + "+".join(_through(s, unit, p.via, s.delta(p.via)[1] + above, "_new")
                                   for p in d.paths),
                    " + ".join(n.product([p.delta, f"{p.weight}⁺"]) for p in d.paths)),
                Row(f"{delta_label} (sequential)", f"{delta}_seq",
                    f"={dE_name}_seq*{slope_name}",
                    n.product([f"{dE_label} (through w⁺)", slope_label])),
            ]
            for g in ex.gradients:
                if g.unit == unit:
                    factors, short = [f"{delta}_seq"], [f"{delta_label} (sequential)"]
                    if g.kind == "weight":
                        source_label, source = s.out(s.source(g.param))
                        factors.append(source)
                        short.append(source_label)
                    grad_label, grad = s.grad(g.param)
                    rows.append(Row(f"{grad_label} (sequential)", f"{grad}_seq",
                                    "=" + "*".join(factors), n.product(short),
                                    "the gradient this variant's update uses"))
    return rows


def _updates(ex: Explanation, s: _Spelling, sequential: set[str]) -> list[Row]:
    """w⁺ of every parameter, from the sequential variant's gradient where it has one."""
    rows = []
    for u in ex.updates:
        (label, name), after = s.param(u.param), s.param(u.param, "_new")
        if not u.learns:
            rows.append(Row(*after, f"={name}", label, "fixed: not updated"))
            continue
        text, grad = s.grad(u.param)
        if f"{grad}_seq" in sequential:
            grad, text = f"{grad}_seq", f"{text} (sequential)"
        rows.append(Row(*after, f"={name}-eta*{grad}", f"{label} − η·{text}"))
    return rows


# --- writing ----------------------------------------------------------------------------------
_SAFE_TEXT_START = ("=", "+", "-", "@")


def _text(cell: Any, value: str) -> Any:
    """Put `value` in `cell` as text: never read as a formula, whatever it starts with."""
    cell.value = value
    cell.data_type = "s"
    if value.startswith(_SAFE_TEXT_START):
        cell.quotePrefix = True  # and a spreadsheet keeps it text when the cell is edited
    return cell


def _write_step(workbook: Any, sheet: Any, ex: Explanation, sections: list[Section]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.workbook.defined_name import DefinedName

    bold, given = Font(bold=True), PatternFill("solid", fgColor="FFF2CC")
    band = PatternFill("solid", fgColor="DDEBF7")
    sheet.title = STEP_SHEET
    _text(sheet["A1"], "chainrule explain: one training step").font = Font(bold=True, size=14)
    _text(sheet["A2"], ex.network.description)
    _text(sheet["A3"], "Yellow cells are inputs: change one (a weight, an input, η) and every "
                       "formula recomputes. Each value is named after its label: "
                       + _example(_Spelling(ex)) + ".")
    for column, header in zip("ABCD", ("quantity", "value", "formula", "note"), strict=True):
        _text(sheet[f"{column}5"], header).font = bold
    for column, width in zip("ABCD", (30, 22, 60, 60), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A6"
    r = 5
    for title, rows in sections:
        r += 2
        for column in "ABCD":
            sheet[f"{column}{r}"].fill = band
        _text(sheet[f"A{r}"], title).font = bold
        for row in rows:
            r += 1
            _text(sheet[f"A{r}"], row.label)
            value = sheet[f"B{r}"]
            value.value = row.value  # a number, or a formula this module wrote
            if row.is_input:
                value.fill = given
                value.font = Font(color="1F4E79", bold=True)
            _text(sheet[f"C{r}"], row.formula)
            _text(sheet[f"D{r}"], row.note)
            workbook.defined_names[row.name] = DefinedName(
                row.name, attr_text=f"{STEP_SHEET}!$B${r}")


def _example(s: _Spelling) -> str:
    """How labels become names, on the last layer's first weight and output unit."""
    if not s.n.layered:
        return "w5 is w_5, δ_o1 is delta_o1, w5⁺ is w_5_new"
    weight, output = s.n.weight(s.n.layers, 0, 0), s.n.unit(s.n.layers, 0)
    (w, w_name), (d, d_name) = s.param(weight), s.delta(output)
    return f"{w} is {w_name}, {d} is {d_name}, {w}⁺ is {w_name}_new"


def _number(value: float) -> float | None:
    """A value for a cell of numbers: a cell cannot hold inf or nan, so those stay empty."""
    return value if math.isfinite(value) else None


def _write_steps(workbook: Any, ex: Explanation) -> None:
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(STEPS_SHEET)
    n = nt.Naming.of(ex.network)
    _text(sheet["A1"], f"{n.total} and the learned parameters after each step (step 0: before "
                       "any update), computed by chainrule: plain numbers, which do not follow "
                       "changes made in the 'step' sheet. An empty cell: inf or nan (diverged).")
    names = list(ex.steps[0].params)
    for c, header in enumerate(("step", n.total, *map(n.symbol, names)), start=1):
        _text(sheet.cell(3, c), header).font = Font(bold=True)
    for r, row in enumerate(ex.steps, start=4):
        sheet.cell(r, 1, row.step)
        sheet.cell(r, 2, _number(row.error))
        for c, name in enumerate(names, start=3):
            sheet.cell(r, c, _number(row.params[name]))
    sheet.freeze_panes = "B4"


def learning_rate_sweep(ex: Explanation, rates: tuple[float, ...] = SWEEP_RATES,
                        steps: int = SWEEP_STEPS) -> dict[float, tuple[float, ...]]:
    """E_total after each of `steps` steps (step 0: before any) for each learning rate.

    The rates are `rates` and the explanation's own η; each run is `explain` on the network
    the explanation describes, with its sample and settings.
    """
    from chainrule import nn
    from chainrule.explain.build import explain
    from chainrule.explain.network import model_of

    net = ex.network
    model = model_of(ex)
    x = [value for _, value in net.inputs]
    target = net.target_class if net.target_class is not None else \
        [value for _, value in net.targets]
    loss = nn.get_loss(net.loss, net.reduction)
    sweep = {}
    for lr in sorted({*rates, net.lr}):
        run = explain(model, x, target, loss, lr, sequential=net.sequential, steps=steps,
                      max_weights=len(ex.updates))
        sweep[lr] = (run.error, run.error_after, *(row.error for row in run.steps[2:]))
    return sweep


def _write_sweep(workbook: Any, sweep: dict[float, tuple[float, ...]], total: str) -> None:
    """The sweep's sheet and chart; `total` is the error's symbol (E_total, C₀)."""
    from openpyxl.chart import LineChart, Reference
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(SWEEP_SHEET)
    _text(sheet["A1"], f"{total} per step for each learning rate η, computed by chainrule on "
                       "this network and sample: plain numbers, which do not follow changes "
                       "made in the 'step' sheet. An empty cell: inf or nan (diverged).")
    for c, header in enumerate(("step", *(f"η = {nt.fmt(lr)}" for lr in sweep)), start=1):
        _text(sheet.cell(3, c), header).font = Font(bold=True)
    length = len(next(iter(sweep.values())))
    for step in range(length):
        sheet.cell(4 + step, 1, step)
    for c, errors in enumerate(sweep.values(), start=2):
        for step, error in enumerate(errors):
            sheet.cell(4 + step, c, _number(error))
    chart = LineChart()
    chart.title = f"{total} per step, by learning rate η"
    chart.x_axis.title, chart.y_axis.title = "step", total
    chart.x_axis.delete = chart.y_axis.delete = False  # show the axes
    chart.height, chart.width = 10, 18
    chart.add_data(Reference(sheet, min_col=2, max_col=1 + len(sweep), min_row=3,
                             max_row=3 + length), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=4, max_row=3 + length))
    for series in chart.series:
        series.smooth = False
    sheet.add_chart(chart, "J3")
    sheet.freeze_panes = "B4"


def _fixed_dates(data: bytes) -> bytes:
    """The saved workbook with FIXED_TIME as its modification date and its zip entries' time
    (openpyxl stamps both with the time of saving)."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    source, buffer = zipfile.ZipFile(BytesIO(data)), BytesIO()
    with source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type, entry.create_system = zipfile.ZIP_DEFLATED, 0
            target.writestr(entry, body)
    return buffer.getvalue()
