"""The explanation as a live spreadsheet: an .xlsx workbook in which the step recomputes.

Sheet "step" holds one training step the way the notes' spreadsheet does. The inputs, targets,
weights, biases and η (and LeakyReLU's α) are plain input cells, yellow; every other number is
a formula over the cells it comes from: net and out of every unit, E, ∂E/∂out, ∂out/∂net and δ,
∂E/∂w of every parameter, w⁺ = w − η·∂E/∂w, and the forward pass and E after the update.
Change w5 in the sheet and the whole step recomputes. Column A is the explanation's notation
(w5, net_h1, δ_o1, ∂E/∂w5), B the value, C the textbook formula, D a remark.

Every value cell has a defined name, so the formulas read like the notation:
out_h1 = 1/(1+EXP(-net_h1)), ∂E/∂w5 = delta_o1*out_h1. A symbol that a spreadsheet would read
as a cell reference gets an underscore (`cell_name`: w5 → w_5, i1 → i_1); Greek letters and
marks are spelled out (δ_o1 → delta_o1, w5⁺ → w_5_new, ∂E/∂w5 → dE_dw_5, η → eta).

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
        _write_sweep(workbook, learning_rate_sweep(ex, steps=sweep_steps))
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


def cell_name(symbol: str) -> str:
    """The defined name of a symbol: w5 → w_5 and i1 → i_1, since a spreadsheet reads 'w5'
    as the cell in column W, row 5; net_h1, b_h1, t_o1 and out_h1 stay as they are."""
    match = _CELL_LIKE.fullmatch(symbol)
    return f"{match[1]}_{match[2]}" if match else symbol


def layout(ex: Explanation) -> list[Section]:
    """The step sheet's sections, top to bottom: every quantity of the step with its formula.

    Refuses what a spreadsheet of one sample cannot hold: several samples, an input or a
    parameter that is inf or nan.
    """
    _check_one_sample(ex)
    net = ex.network
    seq = _sequential(ex)
    sections: list[Section] = [
        ("Inputs and targets", [Row(name, cell_name(name), value, "input")
                                for name, value in net.inputs]
         + [Row(name, name, value, "target", _target_note(ex)) for name, value in net.targets]),
        ("Weights, biases and settings", _parameters(ex)),
        ("Forward pass: net = Σ w·x + b, out = f(net)", _forward(ex, "")),
        ("Error", _error(ex, "")),
        ("Backward pass: δ = ∂E/∂net = ∂E/∂out × ∂out/∂net, output layer first",
         _backward(ex)),
        ("Gradients: ∂E/∂w = δ × ∂net/∂w", _gradients(ex)),
    ]
    if seq:
        sections.append(("Sequential variant: hidden δ through the updated weights above",
                         seq))
    sections += [
        ("Update: w⁺ = w − η·∂E/∂w", _updates(ex, {row.name for row in seq})),
        ("After the step: the forward pass with w⁺", _forward(ex, "_new") + _error(ex, "_new")),
    ]
    for row in (row for _, rows in sections[:2] for row in rows):
        if isinstance(row.value, float) and not math.isfinite(row.value):
            raise ConfigError(f"explain: the xlsx format cannot hold {row.label} = "
                              f"{row.value}: a spreadsheet cell holds finite numbers only")
    return sections


def _check_one_sample(ex: Explanation) -> None:
    values = [v for _, v in ex.network.inputs + ex.network.targets]
    if not all(isinstance(v, int | float) for v in values):
        raise ConfigError("explain: the xlsx format shows one sample's step; this explanation "
                          "holds several samples (explain one sample at a time)")


def _target_note(ex: Explanation) -> str:
    k = ex.network.target_class
    return "" if k is None else f"one-hot: the target class is {k} (o{k + 1})"


def _parameters(ex: Explanation) -> list[Row]:
    rows = [Row(u.param, cell_name(u.param), u.before, "weight" if u.param[0] == "w" else "bias",
                "" if u.learns else "fixed: not updated") for u in ex.updates]
    rows.append(Row("η", "eta", ex.network.lr, "learning rate"))
    rows += [Row(f"α (layer {k})", f"alpha_{k}", alpha, "LeakyReLU's slope for net ≤ 0")
             for k, (act, alpha) in enumerate(
                 zip(ex.network.activations, ex.network.alphas, strict=True), start=1)
             if act == "leaky_relu"]
    return rows


def _source(symbol: str, mark: str) -> str:
    """A term's source as a name: an input (i1 → i_1) or a unit's out (out_h1 + mark)."""
    return cell_name(symbol) if symbol.startswith("i") else symbol + mark


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


def _forward(ex: Explanation, mark: str) -> list[Row]:
    """net and out of every unit; mark '' for the step's own weights, '_new' for w⁺."""
    plus = "⁺" if mark else ""
    rows = []
    for units in ex.forward:
        for u in units:
            terms = [(cell_name(t.weight) + mark, _source(t.source, mark)) for t in u.terms]
            text = [f"{t.weight}{plus}·{t.source}{plus if t.source[0] != 'i' else ''}"
                    for t in u.terms]
            if u.bias is not None:
                terms.append((cell_name(u.bias) + mark, ""))
                text.append(u.bias + plus)
            formula = "+".join(f"{w}*{x}" if x else w for w, x in terms)
            rows.append(Row(f"net_{u.name}{plus}", f"net_{u.name}{mark}", "=" + formula,
                            " + ".join(text)))
            if u.activation != "softmax":
                rows.append(Row(
                    f"out_{u.name}{plus}", f"out_{u.name}{mark}",
                    "=" + _OUT[u.activation](f"net_{u.name}{mark}", _alpha(u)),
                    nt.out_formula(u.activation, f"net_{u.name}{plus}",
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


def _error(ex: Explanation, mark: str) -> list[Row]:
    """E_o of every output (p_o for cross-entropy) and E_total."""
    plus = "⁺" if mark else ""
    net, outputs = ex.network, ex.outputs
    if net.loss == "cross_entropy":
        nets = [f"net_{u.name}{mark}" for u in outputs]
        top = f"MAX({','.join(nets)})"
        total = "+".join(f"EXP({n}-{top})" for n in nets)
        rows = [Row(f"p_{u.name}{plus}", f"p_{u.name}{mark}", f"=EXP({n}-{top})/({total})",
                    f"e^net_{u.name} / Σ_o e^net_o (softmax)")
                for u, n in zip(outputs, nets, strict=True)]
        picked = "+".join(f"t_{u.name}*p_{u.name}{mark}" for u in outputs)
        rows.append(Row(f"E_total{plus}", f"E_total{mark}", f"=-LN({picked})",
                        net.loss_formula.removeprefix("E = ")))
        return rows
    scale = nt.loss_scale(net.loss, net.reduction, net.sizes[-1])
    rows = []
    for u in outputs:
        out, t = f"out_{u.name}{mark}", f"t_{u.name}"
        rows.append(Row(f"E_{u.name}{plus}", f"E_{u.name}{mark}",
                        "=" + _error_formula(net.loss, out, t) + _n(ex),
                        nt.output_error_formula(net.loss, f"out_{u.name}{plus}", t, scale)))
    rows.append(Row(f"E_total{plus}", f"E_total{mark}",
                    "=" + "+".join(f"E_{u.name}{mark}" for u in outputs),
                    " + ".join(f"E_{u.name}{plus}" for u in outputs)))
    return rows


def _error_formula(loss: str, out: str, t: str) -> str:
    return {"half_sse": f"({t}-{out})^2/2", "mse": f"({out}-{t})^2",
            "bce": f"-({t}*LN({out})+(1-{t})*LN(1-{out}))"}[loss]


def _dE_dout_formula(loss: str, out: str, t: str) -> str:
    return {"half_sse": f"{out}-{t}", "mse": f"2*({out}-{t})",
            "bce": f"({out}-{t})/({out}*(1-{out}))"}[loss]


def _backward(ex: Explanation) -> list[Row]:
    rows = []
    for deltas in ex.deltas:
        for d in deltas:
            unit = d.unit
            if d.fused is not None:  # softmax and cross-entropy: δ = p − t
                rows.append(Row(f"δ_{unit}", f"delta_{unit}", f"=p_{unit}-t_{unit}",
                                d.fused.formula, "∂E/∂net of softmax and cross-entropy"))
                continue
            assert d.dE_dout is not None and d.dout_dnet is not None
            if d.paths:
                dE_dout = "+".join(f"delta_{p.via}*{cell_name(p.weight)}" for p in d.paths)
            else:
                dE_dout = _dE_dout_formula(ex.network.loss, f"out_{unit}", f"t_{unit}") \
                    + _n(ex)
            unit_ = ex.unit(unit)
            rows += [
                Row(f"∂E/∂out_{unit}", f"dE_dout_{unit}", "=" + dE_dout, d.dE_dout.formula),
                Row(f"∂out_{unit}/∂net_{unit}", f"dout_dnet_{unit}",
                    "=" + _SLOPE[unit_.activation](f"out_{unit}", f"net_{unit}",
                                                   _alpha(unit_)),
                    d.dout_dnet.formula),
                Row(f"δ_{unit}", f"delta_{unit}", f"=dE_dout_{unit}*dout_dnet_{unit}",
                    f"∂E/∂out_{unit} × ∂out_{unit}/∂net_{unit}",
                    "computed once; reused by " + ", ".join(d.used_by)),
            ]
    return rows


def _gradients(ex: Explanation) -> list[Row]:
    rows = []
    for g in ex.gradients:
        delta = f"delta_{g.unit}"
        formula = delta if g.kind == "bias" else f"{delta}*{_source(g.source, '')}"
        chain = " × ".join(f.symbol for f in g.factors)
        short = f"δ_{g.unit}" + ("" if g.kind == "bias" else f" × {g.source}")
        rows.append(Row(f"∂E/∂{g.param}", f"dE_d{cell_name(g.param)}", "=" + formula,
                        f"{chain} = {short}"))
    return rows


def _sequential(ex: Explanation) -> list[Row]:
    """The sequential variant's hidden δ and gradients (Note [simultaneous vs sequential] in
    update.py): the same δ of the layer above, back through the weights just updated."""
    top = len(ex.network.sizes) - 1
    rows = []
    for deltas in ex.sequential_deltas:
        for d in deltas:
            unit, above = d.unit, "" if d.layer + 1 == top else "_seq"
            rows += [
                Row(f"∂E/∂out_{unit} (through w⁺)", f"dE_dout_{unit}_seq",
                    "=" + "+".join(f"delta_{p.via}{above}*{cell_name(p.weight)}_new"
                                   for p in d.paths),
                    " + ".join(f"{p.delta} × {p.weight}⁺" for p in d.paths)),
                Row(f"δ_{unit} (sequential)", f"delta_{unit}_seq",
                    f"=dE_dout_{unit}_seq*dout_dnet_{unit}",
                    f"∂E/∂out_{unit} (through w⁺) × ∂out_{unit}/∂net_{unit}"),
            ]
            for g in ex.gradients:
                if g.unit == unit:
                    source = "" if g.kind == "bias" else f"*{_source(g.source, '')}"
                    rows.append(Row(f"∂E/∂{g.param} (sequential)",
                                    f"dE_d{cell_name(g.param)}_seq",
                                    f"=delta_{unit}_seq{source}",
                                    f"δ_{unit} (sequential)"
                                    + ("" if g.kind == "bias" else f" × {g.source}"),
                                    "the gradient this variant's update uses"))
    return rows


def _updates(ex: Explanation, sequential: set[str]) -> list[Row]:
    """w⁺ of every parameter, from the sequential variant's gradient where it has one."""
    rows = []
    for u in ex.updates:
        name = cell_name(u.param)
        if not u.learns:
            rows.append(Row(f"{u.param}⁺", f"{name}_new", f"={name}", u.param,
                            "fixed: not updated"))
            continue
        grad, text = f"dE_d{name}", f"∂E/∂{u.param}"
        if f"{grad}_seq" in sequential:
            grad, text = f"{grad}_seq", f"{text} (sequential)"
        rows.append(Row(f"{u.param}⁺", f"{name}_new", f"={name}-eta*{grad}",
                        f"{u.param} − η·{text}"))
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
                       "formula recomputes. Each value is named after its label: w5 is w_5, "
                       "δ_o1 is delta_o1, w5⁺ is w_5_new.")
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


def _number(value: float) -> float | None:
    """A value for a cell of numbers: a cell cannot hold inf or nan, so those stay empty."""
    return value if math.isfinite(value) else None


def _write_steps(workbook: Any, ex: Explanation) -> None:
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(STEPS_SHEET)
    _text(sheet["A1"], "E_total and the learned parameters after each step (step 0: before "
                       "any update), computed by chainrule: plain numbers, which do not follow "
                       "changes made in the 'step' sheet. An empty cell: inf or nan (diverged).")
    names = list(ex.steps[0].params)
    for c, header in enumerate(("step", "E_total", *names), start=1):
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


def _write_sweep(workbook: Any, sweep: dict[float, tuple[float, ...]]) -> None:
    from openpyxl.chart import LineChart, Reference
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(SWEEP_SHEET)
    _text(sheet["A1"], "E_total per step for each learning rate η, computed by chainrule on "
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
    chart.title = "E_total per step, by learning rate η"
    chart.x_axis.title, chart.y_axis.title = "step", "E_total"
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
