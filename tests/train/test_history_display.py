"""A History in a notebook: the loss curve and a table of the epochs."""

from __future__ import annotations

import re

from chainrule import optim
from chainrule.examples import INPUTS, TARGETS, worked_example_model
from chainrule.train import HTML_ROWS, History, fit


def _rows(body: str) -> list[list[str]]:
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def test_a_short_history_shows_every_epoch_and_its_curve(notebook_output):
    model = worked_example_model()
    history = fit(model, "half_sse", optim.SGD(model.parameters(), lr=0.5), INPUTS, TARGETS,
                  epochs=3)
    body = notebook_output(history._repr_html_(), "chainrule-history")
    rows = _rows(body)
    assert rows[0] == ["epoch", "loss", "lr", "seconds"]
    assert [row[:3] for row in rows[1:]] == [
        [str(e), f"{loss:.4g}", "0.5"] for e, loss in zip(history["epoch"], history["loss"],
                                                         strict=True)]
    assert rows[1][1] == "0.2984"  # E before the first update: the notes' 0.298371109
    assert body.startswith("<p><b>History</b>: 3 epochs, 3 updates</p>")
    assert len(re.findall(r'<polyline points="([^"]+)"', body)[0].split()) == 3


def test_a_long_history_shows_its_first_and_last_epochs():
    history = History([{"epoch": e, "loss": 1 / e, "val_loss": 2 / e, "accuracy": 0.5}
                       for e in range(1, 31)], [0.1] * 30)
    rows = _rows(history._repr_html_())
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss"]
    epochs = [row[0] for row in rows[1:]]
    half = HTML_ROWS // 2
    assert epochs == [str(e) for e in range(1, half + 1)] + ["…"] + \
        [str(e) for e in range(31 - half, 31)]
    assert "validation loss" in history._repr_html_()


def test_one_epoch_draws_the_loss_of_each_update():
    history = History([{"epoch": 1, "loss": 0.5}], [0.9, 0.5, 0.1])
    html = history._repr_html_()
    assert len(re.findall(r'<polyline points="([^"]+)"', html)[0].split()) == 3
    assert ">update<" in html


def test_an_empty_history_says_so_and_draws_nothing(notebook_output):
    body = notebook_output(History()._repr_html_(), "chainrule-history")
    assert body == "<p><b>History</b>: 0 epochs, 0 updates</p>"


def test_the_stop_reason_is_escaped(notebook_output):
    history = History([{"epoch": 1, "loss": 0.5}], [0.5], stop_reason="<b>patience</b>",
                      restored_epoch=1)
    body = notebook_output(history._repr_html_(), "chainrule-history")
    assert "stopped early: &lt;b&gt;patience&lt;/b&gt;" in body and "<b>patience" not in body
    assert "the weights of epoch 1" in body
