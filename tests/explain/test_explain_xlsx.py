"""`--format xlsx`: the step as a workbook of live formulas, recomputed by an independent engine.

Every workbook is recomputed from its formulas alone by the `formulas` package (the
[xlsx-test] extra) and each cell is compared with the number chainrule's explanation holds for
its label; then a weight is changed in the sheet and the recomputed step is compared with the
explanation of the network with that weight.
"""

from __future__ import annotations

import dataclasses
import itertools
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
from chainrule.explain.render_xlsx import FIXED_TIME, SWEEP_RATES, cell_name
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
                "sequential": net.sequential, **changes}
    return explain(model, x, target, **settings)


def after_step(ex):
    """The explanation of the next step: its forward pass is the sheet's 'after' section."""
    model = model_of(ex)
    after = {u.param: u.after for u in ex.updates}
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for linear, units in zip(linears, ex.forward, strict=True):
        set_values_(linear.weight, [[after[t.weight] for t in u.terms] for u in units])
        if linear.bias is not None:
            set_values_(linear.bias, [after[u.bias] for u in units])
    return again(ex, model)


def expected(ex) -> dict[str, float]:
    """Every number of the step, by its label in the sheet, from the explanation."""
    net, values = ex.network, {}
    values.update(net.inputs)
    values.update(net.targets)
    values["η"] = net.lr
    for k, (act, alpha) in enumerate(zip(net.activations, net.alphas, strict=True), start=1):
        if act == "leaky_relu":
            values[f"α (layer {k})"] = alpha
    for u in ex.updates:
        values[u.param], values[f"{u.param}⁺"] = u.before, u.after
    values.update(_forward(ex, ""))
    for layer in ex.deltas:
        for d in layer:
            values[f"δ_{d.unit}"] = d.value
            if d.dE_dout is not None:
                values[f"∂E/∂out_{d.unit}"] = d.dE_dout.value
                values[f"∂out_{d.unit}/∂net_{d.unit}"] = d.dout_dnet.value
    values.update({f"∂E/∂{g.param}": g.grad for g in ex.gradients})
    for layer in ex.sequential_deltas:
        for d in layer:
            values[f"∂E/∂out_{d.unit} (through w⁺)"] = d.dE_dout
            values[f"δ_{d.unit} (sequential)"] = d.value
            values.update({f"∂E/∂{g.param} (sequential)": ex.update(g.param).grad
                           for g in ex.gradients if g.unit == d.unit})
    values.update(_forward(after_step(ex), "⁺"))
    assert values["E_total⁺"] == pytest.approx(ex.error_after, abs=TOLERANCE)
    return values


def _forward(ex, mark):
    values = {}
    for layer in ex.forward:
        for u in layer:
            values[f"net_{u.name}{mark}"] = u.net
            if u.activation != "softmax":
                values[f"out_{u.name}{mark}"] = u.out
    for e in ex.errors:
        if e.error is not None:
            values[f"E_{e.unit}{mark}"] = e.error
        if e.probability is not None:
            values[f"p_{e.unit}{mark}"] = e.probability
    values[f"E_total{mark}"] = ex.error
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


def _case(name):
    x3 = [0.2, 0.5, 0.9]
    if name == "worked example":
        return explain()
    if name == "sequential, biases learned":
        return explain(update_biases=True, sequential=True)
    if name == "deep sequential":
        model = _network([3, 3, 2, 2], [nn.Tanh(), nn.Sigmoid(), nn.Sigmoid()], 4)
        return explain(model, x3, [0.1, 0.8], "half_sse", 0.7, sequential=True,
                       update_biases=True)
    if name == "deep cross_entropy":
        model = nn.mlp([3, 3, 2, 2], "tanh", None, rng=5, dtype="float64")
        return explain(model, x3, 1, "cross_entropy", 0.4)
    if name == "mse":
        return explain(worked_example_model(), [0.05, 0.1], [0.01, 0.99], "mse", 0.5)
    if name == "mse, summed":
        return explain(worked_example_model(), [0.05, 0.1], [0.01, 0.99],
                       nn.MSELoss("sum"), 0.5)
    if name == "bce":
        model = _network([3, 3, 2], [nn.ReLU(), nn.Sigmoid()], 2)
        return explain(model, x3, [1.0, 0.0], "bce", 0.3)
    if name == "no biases, a frozen weight":
        model = _network([2, 3, 1], [nn.Softplus(), None], 6, bias=False)
        model[0].weight.requires_grad = False
        return explain(model, [0.3, -0.6], [0.25], "half_sse", 0.5)
    activation = {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "relu": nn.ReLU(),
                  "leaky_relu": nn.LeakyReLU(0.2), "softplus": nn.Softplus(),
                  "identity": None}[name]
    model = _network([3, 4, 2], [activation, nn.Sigmoid()], 11)
    return explain(model, x3, [0.3, 0.6], "half_sse", 0.5, update_biases=True)


CASES = ["worked example", "sequential, biases learned", "deep sequential",
         "deep cross_entropy", "mse", "mse, summed", "bce", "no biases, a frozen weight",
         "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]


@pytest.mark.parametrize("case", CASES)
def test_every_cell_recomputes_to_the_explanations_numbers(openpyxl, formulas, tmp_path, case):
    ex = _case(case)
    path = workbook(ex, tmp_path)
    assert_matches(recompute(openpyxl, formulas, path), expected(ex))


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


def test_changing_w5_in_the_sheet_recomputes_the_whole_step(openpyxl, formulas, tmp_path):
    path = workbook(explain(), tmp_path)
    book = openpyxl.load_workbook(path)
    (row,) = [r for r, label, _ in rows(openpyxl, path) if label == "w5"]
    book[SHEET].cell(row, 2).value = 0.3
    changed = tmp_path / "changed.xlsx"
    book.save(changed)

    model = worked_example_model()
    model[2].weight.data[0, 0] = 0.3
    ex = again(explain(), model)
    assert ex.update("w5").before == 0.3
    found = recompute(openpyxl, formulas, changed)
    assert_matches(found, expected(ex))
    assert found["E_total⁺"] != pytest.approx(0.291027774, abs=1e-6)


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
    ex = explain()
    batch = dataclasses.replace(ex.network, inputs=(("i1", (0.05, 0.5)), ("i2", (0.1, 0.2))))
    with pytest.raises(ConfigError, match=r"^explain: the xlsx format shows one sample's step; "
                                          r"this explanation holds several samples"):
        dataclasses.replace(ex, network=batch).render("xlsx", tmp_path / "s.xlsx")
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
    for name in ("sequential, biases learned", "no biases, a frozen weight",
                 "deep cross_entropy", "leaky_relu"):
        ex = _case(name)
        assert again(ex, model_of(ex)).to_dict() == ex.to_dict(), name
