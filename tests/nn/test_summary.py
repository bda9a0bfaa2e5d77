"""Module.summary(): layers, output shapes, parameter counts; as text and in a notebook."""

from __future__ import annotations

import re

from chainrule import nn
from chainrule.examples import worked_example_model


def test_the_worked_example_has_twelve_parameters_eight_of_them_trainable():
    summary = worked_example_model().summary()
    assert (summary.total, summary.trainable) == (12, 8)
    assert [(r.name, r.kind, r.features, r.count, r.trainable) for r in summary.rows] == [
        ("0", "Linear", 2, 6, 4), ("1", "Sigmoid", 2, 0, 0),
        ("2", "Linear", 2, 6, 4), ("3", "Sigmoid", 2, 0, 0)]
    assert summary.rows[0].parameters == (("weight", (2, 2), True), ("bias", (2,), False))


def test_the_summary_as_text():
    assert str(nn.mlp([3, 4, 2], "relu", rng=0).summary()) == "\n".join([
        "Sequential",
        "layer  type    output      holds                     parameters  trainable",
        "0      Linear  (batch, 4)  weight (4, 3), bias (4,)          16         16",
        "1      ReLU    (batch, 4)                                     0          0",
        "2      Linear  (batch, 2)  weight (2, 4), bias (2,)          10         10",
        "26 parameters: 26 trainable, 0 frozen"])


def test_a_summary_in_a_notebook_is_a_table_with_the_totals(notebook_output):
    body = notebook_output(worked_example_model()._repr_html_(), "chainrule-model")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in rows]
    assert cells[0] == ["layer", "type", "output", "holds", "parameters", "trainable"]
    assert cells[1] == ["0", "Linear", "(batch, 2)", "weight (2, 2), bias (2,) frozen", "6", "4"]
    assert cells[-1] == ["<b>total</b>", "", "", "", "12", "8"]
    assert "12 parameters: 8 trainable, 4 frozen" in body


def test_shapes_follow_activations_in_a_sequential_and_are_unknown_elsewhere():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.Tanh()  # runs first or last: the summary cannot know
            self.layer = nn.Linear(5, 3, bias=False, rng=0)

        def forward(self, x):
            return self.act(self.layer(x))

    model = nn.Sequential(nn.Sigmoid(), nn.Linear(2, 5, rng=0), Custom(), nn.Softmax())
    rows = model.summary().rows
    assert [(r.name, r.features) for r in rows] == [
        ("0", 2), ("1", 5), ("2.act", None), ("2.layer", 3), ("3", None)]
    assert str(model.summary()).splitlines()[4].startswith("2.act    Tanh     ?  ")


def test_a_layer_alone_and_a_frozen_model():
    summary = nn.Linear(3, 4, rng=0).requires_grad_(False).summary()
    assert [(r.name, r.count, r.trainable) for r in summary.rows] == [("(model)", 16, 0)]
    assert str(summary).endswith("16 parameters: 0 trainable, 16 frozen")


def test_hostile_module_names_are_escaped_in_the_notebook(notebook_output):
    model = nn.Sequential({"<script>x</script>": nn.Linear(2, 2, rng=0)})
    body = notebook_output(model._repr_html_(), "chainrule-model")
    assert "<td>&lt;script&gt;x&lt;/script&gt;</td>" in body
