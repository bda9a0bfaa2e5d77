"""chainrule.display: the HTML pieces of notebook outputs and report pages."""

from __future__ import annotations

import math
import re

import pytest

from chainrule.display import Html, fragment, line_chart, scope_css, table

HOSTILE = '<script>alert("x")</script>&'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"


def test_a_table_escapes_text_and_keeps_markup_and_numbers():
    html = table(["name", Html("<b>n</b>")], [[HOSTILE, 3], [Html("<i>ok</i>"), 0.123456789]])
    assert f"<td>{ESCAPED}</td>" in html and "<th><b>n</b></th>" in html
    assert '<td class="num">3</td>' in html and '<td class="num">0.1235</td>' in html
    assert "<td><i>ok</i></td>" in html and "<script" not in html


def test_scope_css_confines_every_selector_and_maps_the_page_to_the_scope():
    css = (":root { --x: 1; }\nbody { margin: 0; }\nmain, h1 { padding: 0; }\n"
           ".memo::before { content: \"a\"; }\nth.num, td { color: red; }\nbodyish { a: b; }")
    assert scope_css(css, ".s") == (
        ".s { --x: 1; }\n.s { margin: 0; }\n.s, .s h1 { padding: 0; }\n"
        '.s .memo::before { content: "a"; }\n.s th.num, .s td { color: red; }\n'
        ".s bodyish { a: b; }")


def test_scope_css_refuses_at_rules():
    with pytest.raises(ValueError, match=r"^scope_css: @-rules are not supported$"):
        scope_css("@media print { body { margin: 0; } }", ".s")


def test_a_fragment_is_a_div_with_its_style_scoped(notebook_output):
    html = fragment("<p>hello</p>", "chainrule-test")
    assert notebook_output(html, "chainrule-test") == "<p>hello</p>"
    assert ".chainrule-test table {" in html and ".chainrule-test {" in html


def test_a_style_inside_a_fragment_is_scoped_too(notebook_output):
    svg = '<svg><defs><style type="text/css">*{stroke-linecap: butt}</style></defs></svg>'
    body = notebook_output(fragment(svg, "chainrule-test"), "chainrule-test")
    assert body == ('<svg><defs><style type="text/css">.chainrule-test * {stroke-linecap: butt}'
                    "</style></defs></svg>")


def _points(svg: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in line.split()]
            for line in re.findall(r'<polyline points="([^"]+)"', svg)]


def test_a_line_chart_draws_each_series_inside_its_axes():
    svg = line_chart([("training", [1, 2, 3], [1.0, 0.1, 0.01]),
                      ("validation", [1, 2, 3], [2.0, 0.5, 0.2])], x_label="epoch",
                     y_label="loss")
    lines = _points(svg)
    assert len(lines) == 2 and [len(line) for line in lines] == [3, 3]
    rect = re.search(r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"', svg)
    x, y, w, h = map(int, rect.groups())
    for line in lines:
        assert all(x <= px <= x + w and y <= py <= y + h for px, py in line)
    # log scale: the training curve falls by equal steps (a decade each)
    (_, a), (_, b), (_, c) = lines[0]
    assert math.isclose(b - a, c - b, abs_tol=0.2)
    assert "loss (log scale)" in svg and ">2<" in svg and ">0.01<" in svg
    assert ">training<" in svg and ">validation<" in svg


def test_a_line_chart_is_linear_when_a_value_is_not_positive_and_skips_non_finite_points():
    svg = line_chart([("a", [1, 2, 3, 4], [1.0, float("nan"), 0.0, -1.0])], x_label="x",
                     y_label="y")
    assert "log scale" not in svg
    assert len(_points(svg)[0]) == 3


def test_a_line_chart_of_one_point_is_a_dot_and_of_none_is_nothing():
    assert "<circle" in line_chart([("a", [1], [0.5])], x_label="x", y_label="y")
    assert line_chart([("a", [1], [float("inf")])], x_label="x", y_label="y") == ""


def test_a_line_chart_escapes_its_labels():
    svg = line_chart([(HOSTILE, [1, 2], [1, 2])], x_label=HOSTILE, y_label=HOSTILE)
    assert "<script" not in svg and svg.count(ESCAPED) == 4  # both axes, the legend, the aria-label
