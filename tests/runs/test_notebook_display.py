"""A sweep and a diagnosis in a notebook: report.html's content as one scoped fragment."""

from __future__ import annotations

import re

from chainrule.runs import TrainConfig, diagnostics, sweep
from chainrule.runs.report import diagnose_report, sweep_report


def test_a_sweep_shows_its_table_and_curves(notebook_output):
    result = sweep.run_sweep(sweep.grid(lr=[0.5, 2.0], steps=50), workers=1,
                             title="<script>x</script>")
    html = result._repr_html_()
    body = notebook_output(html, "chainrule-report")
    assert body.startswith("<h1>chainrule sweep: &lt;script&gt;x&lt;/script&gt;</h1>")
    assert re.findall(r'<tr class="best"><td>(.*?)</td>', body) == ["η=2 ★"]
    assert "<svg" in body and "η=0.5" in body
    # the same sections as the page, in the same order
    page = sweep_report(result, "<svg></svg>")
    headings = re.findall(r"<h2>(.*?)</h2>", body)
    assert headings == re.findall(r"<h2>(.*?)</h2>", page) == ["Trials", "Loss curves"]


def test_a_diagnosis_shows_its_warnings_figure_and_tables(notebook_output):
    config = TrainConfig(dataset="spirals", hidden=[8] * 6, activation="sigmoid", epochs=2)
    report = diagnostics.diagnose(config)
    report.title = "<b>spirals</b>"
    body = notebook_output(report._repr_html_(), "chainrule-report")
    assert body.startswith("<h1>chainrule diagnose: &lt;b&gt;spirals&lt;/b&gt;</h1>")
    assert "<svg" in body and "<td>layer 1 (2→8)</td>" in body
    assert report.warnings and all(f"<li>{w.split(':')[0]}" in body for w in report.warnings)
    assert re.findall(r"<h2>(.*?)</h2>", body) == \
        re.findall(r"<h2>(.*?)</h2>", diagnose_report(report, "<svg></svg>"))
