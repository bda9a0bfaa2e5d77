"""HTML pieces shared by every layer: escaping, tables, scoped fragments, a small SVG chart.

What a learner looks at in a notebook shows itself as HTML (`_repr_html_`): a model's summary
(nn/module.py), a History (train.py), an explanation (explain/render_html.py), a sweep and a
diagnosis (runs/report.py). The report pages (runs/report.py) are built of the same pieces.

A notebook's output is a fragment of the notebook's own page, not a page: `fragment` wraps it in
one <div class="..."> with a <style> whose every rule is scoped to that div (`scope_css`), so
none of its styles reaches the notebook around it. Nothing here has a script, a link or
anything fetched, and every string that came from the user is HTML-escaped where it is written
(`escape`, `cell`, `table`).

This module imports nothing of chainrule, so that every layer may use it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any


class Html(str):
    """Markup that `cell` and `table` take as it is (everything else is escaped)."""


def escape(value: Any) -> str:
    """`value` as HTML text: & < > " ' escaped."""
    return html.escape(str(value), quote=True)


def number(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if math.isfinite(value) else str(value)


def cell(value: Any) -> str:
    """A table cell's or paragraph's content: Html as it is, a number formatted, else escaped."""
    if isinstance(value, Html):
        return value
    if isinstance(value, float):
        return number(value)
    return escape(value)


def table(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], *, cls: str = "",
          row_classes: Sequence[str] | None = None) -> Html:
    """An HTML table (without a header row if `header` is None); numbers are right-aligned,
    every other cell escaped (unless Html)."""
    head = "" if header is None else \
        "<thead><tr>" + "".join(f"<th>{cell(h)}</th>" for h in header) + "</tr></thead>"
    lines = []
    for i, row in enumerate(rows):
        row_cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{cell(v)}</td>' if isinstance(v, int | float) and
            not isinstance(v, bool) else f"<td>{cell(v)}</td>" for v in row)
        lines.append(f'<tr class="{row_cls}">{cells}</tr>' if row_cls else f"<tr>{cells}</tr>")
    attr = f' class="{cls}"' if cls else ""
    return Html(f"<table{attr}>{head}<tbody>\n"
                + "\n".join(lines) + "\n</tbody></table>")


# --- fragments -------------------------------------------------------------------------------

_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_PAGE_SELECTOR = re.compile(r"^(?::root|html|body|main)(?![\w-])")

#: The style of the small fragments (a model's summary, a History): tables and notes.
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d232a; }
table { border-collapse: collapse; margin: 4px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #dde1e6; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num { text-align: right; }
tr.total td { font-weight: 600; background: #f6f7f9; }
p { margin: 4px 0; }
.note { color: #5b6470; font-size: 0.92em; }
svg { display: block; margin: 6px 0; }
"""


def scope_css(css: str, scope: str) -> str:
    """`css` (plain rules, no @-rules) with every selector confined to `scope`, a selector such
    as ".chainrule-explain": `:root`, `html`, `body` and `main` (the page's own elements) become
    the scope itself, every other selector `scope selector`."""
    if "@" in css:
        raise ValueError("scope_css: @-rules are not supported")

    def one(selector: str) -> str:
        selector = selector.strip()
        if _PAGE_SELECTOR.match(selector):
            return _PAGE_SELECTOR.sub(scope, selector)
        return f"{scope} {selector}"

    rules = []
    for selectors, body in _RULE.findall(css):
        rules.append(", ".join(one(s) for s in selectors.split(",")) + " {" + body + "}")
    return "\n".join(rules)


_STYLE_ELEMENT = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL)


def fragment(body: str, cls: str, css: str = STYLE) -> Html:
    """`body` as one notebook output: a <div class="cls"> holding `css` scoped to it. A style
    inside `body` is scoped too (a matplotlib SVG has one: `*{stroke-linejoin: round; ...}`,
    which would otherwise reach every element of the notebook)."""
    scope = "." + cls
    body = _STYLE_ELEMENT.sub(lambda m: m[1] + scope_css(m[2], scope) + m[3], body)
    return Html(f'<div class="{cls}">\n<style>\n{scope_css(css, scope)}\n</style>\n'
                f"{body}\n</div>")


# --- a line chart ----------------------------------------------------------------------------

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def line_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], *,
               x_label: str, y_label: str, width: int = 460, height: int = 220) -> Html:
    """Lines (label, xs, ys) on one pair of axes as inline SVG, with a legend; the y axis is
    logarithmic when every value is positive. Points that are not finite are left out.

    A plain drawing for the places that may not use matplotlib (train.py, nn/): the axes show
    only their first and last values."""
    finite = [[(float(x), float(y)) for x, y in zip(xs, ys, strict=True)
               if math.isfinite(x) and math.isfinite(y)] for _, xs, ys in series]
    points = [p for line in finite for p in line]
    if not points:
        return Html("")
    log = all(y > 0 for _, y in points)

    def scale(y: float) -> float:
        return math.log10(y) if log else y

    xs = [x for x, _ in points]
    ys = [scale(y) for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 64, 12, 10, 40
    legend = 18 * len(series)
    w, h = width - left - right, height - top - bottom - legend

    def at(x: float, y: float) -> str:
        return (f"{left + (x - x0) / (x1 - x0) * w:.1f},"
                f"{top + (1 - (scale(y) - y0) / (y1 - y0)) * h:.1f}")

    parts = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" '
             f'stroke="#8c959f"/>']
    for k, line in enumerate(finite):
        colour = COLOURS[k % len(COLOURS)]
        if len(line) == 1:
            cx, cy = at(*line[0]).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        elif line:
            path = " ".join(at(x, y) for x, y in line)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="1.6"/>')
    low, high = (10 ** y0, 10 ** y1) if log else (y0, y1)
    text = 'font-size="11" fill="#57606a" font-family="sans-serif"'
    parts += [
        f'<text x="{left - 4}" y="{top + 9}" text-anchor="end" {text}>{number(high)}</text>',
        f'<text x="{left - 4}" y="{top + h}" text-anchor="end" {text}>{number(low)}</text>',
        f'<text x="{left}" y="{top + h + 14}" {text}>{number(x0)}</text>',
        f'<text x="{left + w}" y="{top + h + 14}" text-anchor="end" {text}>{number(x1)}</text>',
        f'<text x="{left + w / 2:.0f}" y="{top + h + 14}" text-anchor="middle" {text}>'
        f"{escape(x_label)}</text>",
        f'<text x="12" y="{top + h / 2:.0f}" text-anchor="middle" {text} '
        f'transform="rotate(-90 12 {top + h / 2:.0f})">'
        f"{escape(y_label + (' (log scale)' if log else ''))}</text>",
    ]
    for k, (label, _, _) in enumerate(series):
        y = top + h + 34 + 18 * k
        colour = COLOURS[k % len(COLOURS)]
        parts.append(f'<line x1="{left}" y1="{y - 4}" x2="{left + 24}" y2="{y - 4}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 30}" y="{y}" {text}>{escape(label)}</text>')
    return Html(f'<svg viewBox="0 0 {width} {height}" '
                f'width="{width}" height="{height}" role="img" aria-label="{escape(y_label)}">'
                + "".join(parts) + "</svg>")
