"""`--format xlsx`: the step as a workbook of live formulas, recomputed by an independent engine.

Every workbook is recomputed from its formulas alone by the `formulas` package (the
[xlsx-test] extra) and each cell is compared with the number chainrule's explanation holds for
its label; then a weight is changed in the sheet and the recomputed step is compared with the
explanation of the network with that weight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainrule import nn
from chainrule.cli import app
from chainrule.errors import ConfigError
from chainrule.examples import worked_example_model
from chainrule.explain import explain
from chainrule.explain.network import model_of
from chainrule.explain.notation import Naming
from chainrule.explain.render_xlsx import FIXED_TIME, SWEEP_RATES, cell_name, defined_name
from chainrule.nn.init import set_values_

TOLERANCE = 1e-12
SHEET = "step"


@pytest.fixture(scope="module")
def openpyxl():
    return pytest.importorskip("openpyxl")


@pytest.fixture(scope="module")
def formulas():
    return pytest.importorskip("formulas")


# --- helpers ----------------------------------------------------------------------------------
def sample(ex):
    net = ex.network
    target = net.target_class if net.target_class is not None else \
        [v for _, v in net.targets]
    return [v for _, v in net.inputs], target


def again(ex, model, **changes):
    """Explain `model` on ex's sample with ex's settings (and `changes`)."""
    net = ex.network
    x, target = sample(ex)
    settings = {"loss": nn.get_loss(net.loss, net.reduction), "lr": net.lr,
                "sequential": net.sequential, "notation": net.notation, **changes}
    return explain(model, x, target, **settings)


def after_step(ex):
    """The explanation of the next step: its forward pass is the sheet's 'after' section."""
    model, n = model_of(ex), Naming.of(ex.network)
    after = {u.param: u.after for u in ex.updates}
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for k, linear in enumerate(linears, start=1):
        units, sources = linear.weight.shape
        set_values_(linear.weight, [[after[n.weight(k, j, c)] for c in range(sources)]
                                    for j in range(units)])
        if linear.bias is not None:
            set_values_(linear.bias, [after[n.bias(k, j)] for j in range(units)])
    return again(ex, model)


def expected(ex) -> dict[str, float]:
    """Every number of the step, by its label in the sheet (in the explanation's notation),
    from the explanation."""
    net, n, values = ex.network, Naming.of(ex.network), {}
    values.update(net.inputs)
    values.update(net.targets)
    values["η"] = net.lr
    for k, (act, alpha) in enumerate(zip(net.activations, net.alphas, strict=True), start=1):
        if act == "leaky_relu":
            values[f"α (layer {k})"] = alpha
    for u in ex.updates:
        values[n.symbol(u.param)], values[f"{n.symbol(u.param)}⁺"] = u.before, u.after
    values.update(_forward(ex, ""))
    for layer in ex.deltas:
        for d in layer:
            values[n.delta(d.unit)] = d.value
            if d.dE_dout is not None:
                values[n.d(n.error, n.out(d.unit))] = d.dE_dout.value
                values[n.d(n.out(d.unit), n.net(d.unit))] = d.dout_dnet.value
    values.update({n.d(n.error, n.symbol(g.param)): g.grad for g in ex.gradients})
    for layer in ex.sequential_deltas:
        for d in layer:
            values[f"{n.d(n.error, n.out(d.unit))} (through w⁺)"] = d.dE_dout
            values[f"{n.delta(d.unit)} (sequential)"] = d.value
            values.update({f"{n.d(n.error, n.symbol(g.param))} (sequential)":
                           ex.update(g.param).grad for g in ex.gradients if g.unit == d.unit})
    values.update(_forward(after_step(ex), "⁺"))
    assert values[f"{n.total}⁺"] == pytest.approx(ex.error_after, abs=TOLERANCE)
    return values


def _forward(ex, mark):
    n, values = Naming.of(ex.network), {}
    for layer in ex.forward:
        for u in layer:
            values[n.net(u.name) + mark] = u.net
            if u.activation != "softmax":
                values[n.out(u.name) + mark] = u.out
    for e in ex.errors:
        if e.error is not None and n.share(e.unit) is not None:
            values[n.share(e.unit) + mark] = e.error
        if e.probability is not None:
            values[n.probability(e.unit) + mark] = e.probability
    values[n.total + mark] = ex.error
    return values


def rows(openpyxl, path):
    """(row, label, value cell) of every quantity of the step sheet."""
    sheet = openpyxl.load_workbook(path)[SHEET]
    return [(r, sheet.cell(r, 1).value, sheet.cell(r, 2)) for r in range(6, sheet.max_row + 1)
            if sheet.cell(r, 2).value is not None]


def recompute(openpyxl, formulas, path) -> dict[str, float]:
    """Every quantity of the step sheet by its label, as the formulas engine computes it."""
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    book = f"'[{Path(path).name}]{SHEET.upper()}'"
    found = {}
    for r, label, _ in rows(openpyxl, path):
        value = solution[f"{book}!B{r}"].value[0][0]
        assert isinstance(value, int | float | np.floating), (label, value)  # no #NUM! etc.
        found[label] = float(value)
    return found


def assert_matches(found, wanted):
    assert set(found) == set(wanted)  # every number of the step is there, and no other
    for label, value in wanted.items():
        assert found[label] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), label


def workbook(ex, tmp_path, name="step.xlsx", **options):
    path = tmp_path / name
    assert ex.render("xlsx", path, **{"sweep_steps": 0, **options}) == path
    return path


# --- the networks ----------------------------------------------------------------------------
def _network(sizes, modules, seed, bias=True):
    rng = np.random.default_rng(seed)
    layers = []
    for (n_in, n_out), module in zip(itertools.pairwise(sizes), modules, strict=True):
        linear = nn.Linear(n_in, n_out, bias=bias, dtype="float64", rng=0)
        set_values_(linear.weight, rng.uniform(-1, 1, (n_out, n_in)).round(2))
        if bias:
            set_values_(linear.bias, rng.uniform(-0.5, 0.5, n_out).round(2))
        layers += [linear] + ([module] if module is not None else [])
    return nn.Sequential(*layers)


def _case(name, notation="unit"):
    x3 = [0.2, 0.5, 0.9]
    if name == "worked example":
        return explain(notation=notation)
    if name == "sequential, biases learned":
        return explain(update_biases=True, sequential=True, notation=notation)
    if name == "deep sequential":
        model = _network([3, 3, 2, 2], [nn.Tanh(), nn.Sigmoid(), nn.Sigmoid()], 4)
        return explain(model, x3, [0.1, 0.8], "half_sse", 0.7, sequential=True,
                       update_biases=True, notation=notation)
    if name == "deep cross_entropy":
        model = nn.mlp([3, 3, 2, 2], "tanh", None, rng=5, dtype="float64")
        return explain(model, x3, 1, "cross_entropy", 0.4, notation=notation)
    if name == "mse":
        return explain(worked_example_model(), [0.05, 0.1], [0.01, 0.99], "mse", 0.5,
                       notation=notation)
    if name == "mse, summed":
        return explain(worked_example_model(), [0.05, 0.1], [0.01, 0.99],
                       nn.MSELoss("sum"), 0.5, notation=notation)
    if name == "bce":
        model = _network([3, 3, 2], [nn.ReLU(), nn.Sigmoid()], 2)
        return explain(model, x3, [1.0, 0.0], "bce", 0.3, notation=notation)
    if name == "no biases, a frozen weight":
        model = _network([2, 3, 1], [nn.Softplus(), None], 6, bias=False)
        model[0].weight.requires_grad = False
        return explain(model, [0.3, -0.6], [0.25], "half_sse", 0.5, notation=notation)
    if name == "single neurons":  # a chain: the layer notation needs no subscripts
        model = _network([1, 1, 1, 1], [nn.Sigmoid(), nn.Tanh(), nn.Sigmoid()], 7)
        return explain(model, [0.6], [0.2], "half_sse", 0.5, sequential=True,
                       update_biases=True, notation=notation)
    if name == "wide":  # 10 hidden units: the layer notation separates the indices
        model = _network([2, 10, 1], [nn.Sigmoid(), nn.Sigmoid()], 8)
        return explain(model, [0.3, 0.7], [0.4], "half_sse", 0.5, notation=notation)
    activation = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "relu": nn.ReLU(),
                  "leaky_relu": nn.LeakyReLU(0.2), "softplus": nn.Softplus(),
                  "identity": None}[name]
    model = _network([3, 4, 2], [activation, nn.Sigmoid()], 11)
    return explain(model, x3, [0.3, 0.6], "half_sse", 0.5, update_biases=True,
                   notation=notation)


CASES = ["worked example", "sequential, biases learned", "deep sequential",
         "deep cross_entropy", "mse", "mse, summed", "bce", "no biases, a frozen weight",
         "single neurons", "wide", "sigmoid", "tanh", "relu", "leaky_relu", "softplus",
         "identity"]
LAYER_CASES = ["worked example", "sequential, biases learned", "deep sequential",
               "deep cross_entropy", "mse", "bce", "no biases, a frozen weight",
               "single neurons", "wide", "leaky_relu"]
#: what only the unit notation writes: net_h1, out_h1, E_o1, E_total, ∂E, δ_o1, b_h1, t_o1,
#: p_o1, i1, h1, o1, w5 (but not the defined names w2_11, a0_1)
UNIT_NOTATION = re.compile(r"net_|out_|E_|∂E|δ_|\b[bitp]_|\b[hiow]\d+(?![\d_])")


@pytest.mark.parametrize("case", CASES)
def test_every_cell_recomputes_to_the_explanations_numbers(openpyxl, formulas, tmp_path, case):
    ex = _case(case)
    path = workbook(ex, tmp_path)
    assert_matches(recompute(openpyxl, formulas, path), expected(ex))


@pytest.mark.parametrize("case", LAYER_CASES)
def test_the_layer_notations_workbook_recomputes_to_the_explanations_numbers(
        openpyxl, formulas, tmp_path, case):
    ex = _case(case, "layer")
    path = workbook(ex, tmp_path)
    assert_matches(recompute(openpyxl, formulas, path), expected(ex))
    book = openpyxl.load_workbook(path)
    names = [d.name for d in book.defined_names.values()]
    assert len(set(names)) == len(names) == len(rows(openpyxl, path))  # one for each value
    for name in names:  # an identifier that a spreadsheet cannot read as a cell
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), name
        assert not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", name), name


def test_a_layer_workbook_leaves_no_unit_notation_label(openpyxl, tmp_path):
    for case in ("sequential, biases learned", "deep cross_entropy", "leaky_relu"):
        ex = _case(case, "layer")
        path = workbook(ex, tmp_path, sweep_steps=3)
        book = openpyxl.load_workbook(path)
        texts = [cell.value for sheet in book for line in sheet.iter_rows() for cell in line
                 if cell.data_type == "s" and cell.value]
        assert len(texts) > 50
        assert [t for t in texts if UNIT_NOTATION.search(t)] == [], case
    ex = _case("worked example", "layer")
    with_steps = again(ex, model_of(ex), steps=3)
    book = openpyxl.load_workbook(workbook(with_steps, tmp_path, sweep_steps=3))
    assert [c.value for c in book["steps"][3]][:4] == ["step", "C₀", "w⁽¹⁾₁₁", "w⁽¹⁾₁₂"]
    assert book["learning rates"]["A1"].value.startswith("C₀ per step")
    # and the unit notation's own labels are caught by the same pattern
    unit = openpyxl.load_workbook(workbook(explain(sequential=True), tmp_path, "u.xlsx"))
    labels = {sheet.cell(r, 1).value for sheet in unit for r in range(6, sheet.max_row + 1)}
    for label in ("i1", "t_o1", "w5", "b_h1", "net_h1", "out_h1", "E_o1", "E_total", "δ_o1",
                  "∂E/∂w5"):
        assert label in labels and UNIT_NOTATION.search(label), label


def test_the_layer_notations_formulas_and_names(openpyxl, formulas, tmp_path):
    path = workbook(explain(notation="layer"), tmp_path)
    book = openpyxl.load_workbook(path)
    cells = {label: cell.value for _, label, cell in rows(openpyxl, path)}
    assert cells["z⁽¹⁾₁"] == "=w1_11*a0_1+w1_12*a0_2+b1_1"
    assert cells["a⁽¹⁾₁"] == "=1/(1+EXP(-z1_1))"
    assert cells["C₀"] == "=(y_1-a2_1)^2/2+(y_2-a2_2)^2/2"  # C₀ names no share E_o
    assert cells["∂C₀/∂a⁽²⁾₁"] == "=a2_1-y_1"
    assert cells["δ⁽²⁾₁"] == "=dC0_da2_1*da2_1_dz2_1"
    assert cells["∂C₀/∂a⁽¹⁾₁"] == "=delta2_1*w2_11+delta2_2*w2_21"
    assert cells["∂C₀/∂w⁽²⁾₁₁"] == "=delta2_1*a1_1"
    assert cells["w⁽²⁾₁₁⁺"] == "=w2_11-eta*dC0_dw2_11"
    assert cells["b⁽¹⁾₁⁺"] == "=b1_1"
    named = {d.attr_text: d.name for d in book.defined_names.values()}
    by_label = {label: named[f"{SHEET}!$B${r}"] for r, label, _ in rows(openpyxl, path)}
    assert [by_label[label] for label in ("a⁽⁰⁾₁", "y₁", "w⁽²⁾₁₁", "b⁽²⁾₁", "η", "z⁽²⁾₁",
                                          "a⁽²⁾₁", "C₀", "δ⁽²⁾₁", "∂C₀/∂w⁽²⁾₁₁", "w⁽²⁾₁₁⁺",
                                          "C₀⁺")] == \
        ["a0_1", "y_1", "w2_11", "b2_1", "eta", "z2_1", "a2_1", "C_0", "delta2_1",
         "dC0_dw2_11", "w2_11_new", "C_0_new"]
    sheet = book[SHEET]
    textbook = {sheet.cell(r, 1).value: sheet.cell(r, 3).value for r in range(6, sheet.max_row)}
    assert textbook["z⁽¹⁾₁"] == "w⁽¹⁾₁₁·a⁽⁰⁾₁ + w⁽¹⁾₁₂·a⁽⁰⁾₂ + b⁽¹⁾₁"
    assert textbook["a⁽¹⁾₁"] == "σ(z⁽¹⁾₁)"
    assert textbook["C₀"] == "½(a⁽²⁾₁ − y₁)² + ½(a⁽²⁾₂ − y₂)²"
    assert textbook["δ⁽²⁾₁"] == "∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁"
    assert textbook["∂C₀/∂w⁽²⁾₁₁"] == \
        "∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁ = a⁽¹⁾₁ · δ⁽²⁾₁"
    assert sheet["A3"].value.endswith("w⁽²⁾₁₁ is w2_11, δ⁽²⁾₁ is delta2_1, w⁽²⁾₁₁⁺ is "
                                      "w2_11_new.")
    found = recompute(openpyxl, formulas, path)
    for label, value in [("a⁽¹⁾₁", 0.593269992), ("C₀", 0.298371109),
                         ("∂C₀/∂w⁽²⁾₁₁", 0.0821670406), ("w⁽²⁾₁₁⁺", 0.35891648),
                         ("C₀⁺", 0.291027774)]:
        assert found[label] == pytest.approx(value, abs=5e-10), label


def test_the_names_of_a_chain_and_of_a_wide_layer(openpyxl, tmp_path):
    chain = {label: cell.value for _, label, cell in
             rows(openpyxl, workbook(_case("single neurons", "layer"), tmp_path))}
    assert chain["z⁽¹⁾"] == "=w_1*a_0+b_1" and chain["C₀"] == "=(y-a_3)^2/2"
    assert chain["∂C₀/∂w⁽³⁾"] == "=delta3*a_2"
    wide = {label: cell.value for _, label, cell in
            rows(openpyxl, workbook(_case("wide", "layer"), tmp_path, "w.xlsx"))}
    assert wide["z⁽²⁾₁"].startswith("=w2_1_1*a1_1+") and "w2_1_10*a1_10" in wide["z⁽²⁾₁"]


def test_defined_names():
    assert [defined_name(s) for s in ("w5", "i1", "δ_o1", "E_total", "w⁽²⁾₁₁", "δ⁽¹⁾₂",
                                      "a⁽⁰⁾₁", "z⁽¹⁾", "δ⁽¹⁾", "y₁", "y", "p₂", "C₀",
                                      "w⁽²⁾₁,₁₀")] == \
        ["w_5", "i_1", "delta_o1", "E_total", "w2_11", "delta1_2", "a0_1", "z_1", "delta1",
         "y_1", "y", "p_2", "C_0", "w2_1_10"]


def test_the_cases_reach_both_sides_of_relu_and_leaky_relu():
    for name in ("relu", "leaky_relu"):
        nets = [u.net for u in _case(name).forward[0]]
        assert min(nets) < 0 < max(nets), name


def test_the_worked_example_recomputes_to_the_notes_numbers(openpyxl, formulas, tmp_path):
    found = recompute(openpyxl, formulas, workbook(explain(), tmp_path))
    for label, value in [("out_h1", 0.593269992), ("E_total", 0.298371109),
                         ("∂E/∂w5", 0.0821670406), ("w5⁺", 0.35891648),
                         ("E_total⁺", 0.291027774)]:
        assert found[label] == pytest.approx(value, abs=5e-10), label
    sequential = recompute(openpyxl, formulas, workbook(explain(sequential=True), tmp_path))
    assert sequential["E_total⁺"] == pytest.approx(0.291027924, abs=5e-10)


def test_every_computed_number_is_a_formula_and_every_input_a_number(openpyxl, tmp_path):
    ex = explain(sequential=True)
    inputs = {*dict(ex.network.inputs), *dict(ex.network.targets), "η",
              *(u.param for u in ex.updates)}
    for _, label, cell in rows(openpyxl, workbook(ex, tmp_path)):
        if label in inputs:
            assert isinstance(cell.value, float), label
            assert cell.fill.fgColor.rgb.endswith("FFF2CC"), label  # styled as an input
        else:
            assert cell.data_type == "f" and cell.value.startswith("="), label
            # constants of the textbook formulas only (1, 2, /n), never a number of the step
            assert not re.search(r"\d\.|\.\d|[eE][+-]?\d", re.sub(r"\w*[A-Za-z_]\w*", "",
                                                                   cell.value)), label


def test_the_formulas_read_like_the_notation(openpyxl, tmp_path):
    path = workbook(explain(), tmp_path)
    book = openpyxl.load_workbook(path)
    cells = {label: cell.value for _, label, cell in rows(openpyxl, path)}
    assert cells["net_h1"] == "=w_1*i_1+w_2*i_2+b_h1"
    assert cells["out_h1"] == "=1/(1+EXP(-net_h1))"
    assert cells["∂E/∂out_h1"] == "=delta_o1*w_5+delta_o2*w_7"
    assert cells["∂E/∂w5"] == "=delta_o1*out_h1"
    assert cells["w5⁺"] == "=w_5-eta*dE_dw_5"
    assert cells["b_h1⁺"] == "=b_h1"  # fixed, as the notes keep it
    named = {d.attr_text: d.name for d in book.defined_names.values()}
    by_label = {label: named[f"{SHEET}!$B${r}"] for r, label, _ in rows(openpyxl, path)}
    assert len(named) == len(by_label) == len(cells)  # one name for each value, no other
    assert [by_label[label] for label in ("i1", "w5", "η", "net_h1", "δ_o1", "∂E/∂w5",
                                          "w5⁺", "E_total⁺")] == \
        ["i_1", "w_5", "eta", "net_h1", "delta_o1", "dE_dw_5", "w_5_new", "E_total_new"]
    sheet = book[SHEET]
    textbook = {sheet.cell(r, 1).value: sheet.cell(r, 3).value for r in range(6, sheet.max_row)}
    assert textbook["∂E/∂w5"] == "∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5 = δ_o1 × out_h1"
    assert textbook["out_h1"] == "σ(net_h1)"


def test_cell_names():
    assert [cell_name(s) for s in ("w5", "i1", "w123", "net_h1", "b_h1", "t_o1", "h1_2")] == \
        ["w_5", "i_1", "w_123", "net_h1", "b_h1", "t_o1", "h1_2"]


@pytest.mark.parametrize("notation", ["unit", "layer"])
def test_changing_w5_in_the_sheet_recomputes_the_whole_step(openpyxl, formulas, tmp_path,
                                                            notation):
    path = workbook(explain(notation=notation), tmp_path)
    book = openpyxl.load_workbook(path)
    w5 = Naming.of(explain(notation=notation).network).symbol("w5")
    (row,) = [r for r, label, _ in rows(openpyxl, path) if label == w5]
    book[SHEET].cell(row, 2).value = 0.3
    changed = tmp_path / "changed.xlsx"
    book.save(changed)

    model = worked_example_model()
    model[2].weight.data[0, 0] = 0.3
    ex = again(explain(notation=notation), model)
    assert ex.update("w5").before == 0.3
    found = recompute(openpyxl, formulas, changed)
    assert_matches(found, expected(ex))
    assert found[f"{Naming.of(ex.network).total}⁺"] != pytest.approx(0.291027774, abs=1e-6)


def test_several_steps_and_the_learning_rate_sweep_as_values(openpyxl, tmp_path):
    ex = explain(lr=0.3, steps=4)
    book = openpyxl.load_workbook(workbook(ex, tmp_path, sweep_steps=20))
    assert book.sheetnames == ["step", "steps", "learning rates"]
    steps = book["steps"]
    assert [c.value for c in steps[3]][:4] == ["step", "E_total", "w1", "w2"]
    # openpyxl writes 16 significant digits: a float that needs 17 moves in its last place
    assert [steps.cell(r, 2).value for r in range(4, 9)] == \
        pytest.approx([row.error for row in ex.steps], rel=1e-15, abs=0)
    assert steps.cell(8, 3).value == pytest.approx(ex.steps[4].params["w1"], rel=1e-15, abs=0)

    sweep = book["learning rates"]
    rates = sorted({*SWEEP_RATES, 0.3})
    assert [c.value for c in sweep[3]] == ["step", *(f"η = {r:g}" for r in rates)]
    column = 2 + rates.index(0.5)
    errors = [sweep.cell(r, column).value for r in range(4, 25)]
    assert errors == pytest.approx([row.error for row in explain(steps=20).steps], rel=1e-15,
                                   abs=0)
    assert [sweep.cell(r, 1).value for r in (4, 24)] == [0, 20]
    assert sweep.cell(25, 1).value is None
    assert all(isinstance(sweep.cell(r, c).value, float)
               for r in range(4, 25) for c in range(2, 2 + len(rates)))
    with zipfile.ZipFile(tmp_path / "step.xlsx") as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    assert "<lineChart>" in chart and chart.count("<ser>") == len(rates)
    assert "<f>'learning rates'!$B$4:$B$24</f>" in chart  # the first rate's E per step


def test_a_diverging_rate_leaves_its_cells_empty(openpyxl, tmp_path):
    model = nn.Sequential(nn.Linear(1, 1, dtype="float64", rng=0))
    set_values_(model[0].weight, [[1.0]])
    ex = explain(model, [30.0], [0.0], "half_sse", 0.1)
    book = openpyxl.load_workbook(workbook(ex, tmp_path, sweep_steps=400))
    sweep = book["learning rates"]
    assert sweep.cell(3, 7).value == "η = 2"
    column = [sweep.cell(r, 7).value for r in range(4, 405)]
    assert isinstance(column[0], float) and column[-1] is None


def test_the_same_explanation_gives_the_same_bytes(tmp_path):
    pytest.importorskip("openpyxl")
    ex = explain()
    first = workbook(ex, tmp_path, "a.xlsx", sweep_steps=5).read_bytes()
    second = workbook(ex, tmp_path, "b.xlsx", sweep_steps=5).read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.xlsx") as archive:
        assert {i.date_time for i in archive.infolist()} == {FIXED_TIME.timetuple()[:6]}
        core = archive.read("docProps/core.xml").decode()
        names = archive.namelist()
        content_types = archive.read("[Content_Types].xml").decode()
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert core.count(stamp) == 2  # created and modified
    assert not [n for n in names if "vba" in n.lower() or "externalLink" in n]
    assert "macroEnabled" not in content_types


def test_the_unit_notations_workbook_keeps_its_content(openpyxl, tmp_path):
    """Every cell and defined name of the worked example's workbook, pinned: the digest was
    taken before the layer notation's workbook existed, which left the unit notation's as it
    was. (The content, not the bytes, so that another openpyxl's XML does not matter; numbers
    to 12 significant digits, since the last bits of a matrix product depend on the kernel
    OpenBLAS picks for the CPU: OPENBLAS_CORETYPE=Haswell and SkylakeX differ there.)"""
    path = workbook(explain(sequential=True, steps=3), tmp_path, sweep_steps=5)
    book = openpyxl.load_workbook(path)
    cells = [[sheet.title, cell.coordinate,
              f"{cell.value:.12g}" if isinstance(cell.value, float) else cell.value]
             for sheet in book for line in sheet.iter_rows() for cell in line
             if cell.value is not None]
    names = sorted((d.name, d.attr_text) for d in book.defined_names.values())
    content = json.dumps([cells, names], ensure_ascii=False).encode()
    assert hashlib.sha256(content).hexdigest() == \
        "824d56ee50c11a7cc7b9e149322d771ac8b6ec2ddb8118167ce18797331a224b"


def test_user_text_is_written_as_text_never_as_a_formula(openpyxl, formulas, tmp_path):
    ex = explain()
    hostile = '=HYPERLINK("http://example.com","open me")'
    ex = dataclasses.replace(ex, network=dataclasses.replace(ex.network, description=hostile))
    path = workbook(ex, tmp_path)
    cell = openpyxl.load_workbook(path)[SHEET]["A2"]
    assert cell.value == hostile and cell.data_type == "s" and cell.quotePrefix
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A2" s="2" t="inlineStr"><is><t>=HYPERLINK(' in sheet_xml  # a string
    assert not re.search(r"<f>[^<]*HYPERLINK", sheet_xml)  # and no formula
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    assert solution[f"'[{path.name}]STEP'!A2"].value[0][0] == hostile


# --- refusals ---------------------------------------------------------------------------------
def test_a_workbook_needs_a_path(tmp_path):
    with pytest.raises(ConfigError, match=r"^explain: the xlsx format is a file, not text: give "
                                          r"the file to write, ex.render\('xlsx', "
                                          r"path='step.xlsx'\)$"):
        explain().render("xlsx")


def test_without_openpyxl_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now fails
    path = tmp_path / "step.xlsx"
    with pytest.raises(ConfigError, match=r"^explain: the xlsx format needs openpyxl: "
                                          r"pip install 'chainrule\[xlsx\]'$"):
        explain().render("xlsx", path)
    result = CliRunner().invoke(app, ["explain", "--out", str(path)])
    assert result.exit_code == 2
    assert result.output == "error: --format xlsx needs openpyxl: pip install " \
                            "'chainrule[xlsx]'\n"
    assert not path.exists()


def test_a_bad_sweep_length_is_refused(tmp_path):
    pytest.importorskip("openpyxl")
    with pytest.raises(ConfigError, match=r"^explain: sweep_steps must be a non-negative "
                                          r"integer, got -1$"):
        explain().render("xlsx", tmp_path / "s.xlsx", sweep_steps=-1)


def test_an_explanation_of_several_samples_is_refused(tmp_path):
    pytest.importorskip("openpyxl")
    ex = explain(worked_example_model(), [[0.05, 0.1], [0.2, 0.3]], [[0.01, 0.99], [0.5, 0.5]])
    with pytest.raises(ConfigError, match=r"^explain: the xlsx format shows one sample's step; "
                                          r"this explanation holds 2 samples \(explain one "
                                          r"sample at a time\)$"):
        ex.render("xlsx", tmp_path / "s.xlsx")
    assert not (tmp_path / "s.xlsx").exists()


def test_a_parameter_a_cell_cannot_hold_is_refused(tmp_path):
    pytest.importorskip("openpyxl")
    model = worked_example_model()
    model[2].weight.data[0, 1] = np.inf
    ex = explain(model, [0.05, 0.1], [0.01, 0.99])
    with pytest.raises(ConfigError, match=r"^explain: the xlsx format cannot hold w6 = inf: a "
                                          r"spreadsheet cell holds finite numbers only$"):
        ex.render("xlsx", tmp_path / "s.xlsx")


# --- the command line -------------------------------------------------------------------------
def test_the_command_writes_the_workbook(openpyxl, formulas, tmp_path):
    path = tmp_path / "step.xlsx"
    result = CliRunner().invoke(app, ["explain", "--sequential", "--out", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote the explanation (xlsx) to {path}\n"
    assert openpyxl.load_workbook(path).sheetnames == ["step", "learning rates"]
    found = recompute(openpyxl, formulas, path)
    assert found["E_total⁺"] == pytest.approx(0.291027924, abs=5e-10)


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xlsx"], "--format xlsx writes a workbook, not text: give the file with "
                           "--out, e.g. --out step.xlsx"),
    (["--out", "step.xlsx", "--focus", "w5"], "--focus: the xlsx format holds every "
                                              "parameter; choose text, markdown or html"),
    (["--out", "step.xlsx", "--format", "html"], "--format html contradicts --out step.xlsx, "
                                                 "whose extension .xlsx means xlsx"),
])
def test_the_command_refuses(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["explain", *args])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}")
    assert not (tmp_path / "step.xlsx").exists()


def test_model_of_explains_the_same_step_again():
    for name, notation in itertools.product(("sequential, biases learned",
                                              "no biases, a frozen weight",
                                              "deep cross_entropy", "leaky_relu"),
                                             ("unit", "layer")):
        ex = _case(name, notation)
        assert again(ex, model_of(ex)).to_dict() == ex.to_dict(), (name, notation)
