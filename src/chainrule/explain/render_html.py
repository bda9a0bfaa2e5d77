"""The explanation as one self-contained HTML page: inline CSS and SVG, no scripts, no links.

The page renders offline in any browser (nothing is fetched: no CDN, fonts or images); in a
notebook the same content is a fragment whose style is scoped to it (`notebook=True`). It
shows a drawing of the network with its weights and every unit's out value, then the same
sections as the terminal; symbols get real subscripts (net_h1 → net<sub>h1</sub>) and long
equations wrap with their steps aligned.
"""

from __future__ import annotations

import html
import re

from chainrule.display import fragment
from chainrule.explain import notation as nt
from chainrule.explain.document import (
    Eq,
    Eqs,
    Para,
    Seg,
    Sub,
    Table,
    build_document,
    column_widths,
    split_columns,
)
from chainrule.explain.model import Explanation, renders

_SUBSCRIPT = re.compile(r"(?<=[A-Za-zδσΣ∂])_([A-Za-z0-9]+(?:_[0-9]+)?)")

# How many characters of table (each cell's text plus about 3 for its padding) fit in <main>:
# 62rem less its padding is 944px, and a digit of the tables' monospace is about 8.8px.
PAGE_COLUMNS = 96

CSS = """
:root { --ink: #1f2328; --dim: #656d76; --sym: #0550ae; --res: #1a7f37; --memo: #8250df;
        --rule: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .75rem; }
h2 { font-size: 1.3rem; margin: 2.4rem 0 .6rem; padding-bottom: .3rem;
     border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
p { margin: .5rem 0; max-width: 48rem; }
p.note { color: var(--dim); border-left: 3px solid var(--rule); padding-left: .8rem; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
             margin: 0; }
dl.summary dt { color: var(--dim); }
dl.summary dd { margin: 0; }
.eqs { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px;
       padding: .55rem .9rem; margin: .5rem 0; overflow-x: auto;
       font: 14.5px/1.7 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.eq { display: flex; align-items: baseline; column-gap: .45em; }
.lhs { flex: none; white-space: nowrap; }
.rhs { flex: 1 1 auto; min-width: 0; display: flex; flex-wrap: wrap; align-items: baseline;
       column-gap: .45em; }
.sym { color: var(--sym); }
.res { color: var(--res); font-weight: 600; }
.chain .step:first-child { flex-basis: 100%; }
.memo { color: var(--memo); font-size: .9em; margin-left: .8em; }
.memo::before { content: "↺ "; }
.note, .cond { color: var(--dim); font-size: .9em; margin-left: .8em; }
sub { font-size: .72em; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid var(--rule); text-align: left; }
th { font-weight: 600; background: var(--soft); }
th.num { text-align: right; }
td.num { text-align: right; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
         font-size: .92em; }
.scroll { overflow-x: auto; }
figure { margin: 1.2rem 0; }
figcaption { color: var(--dim); font-size: .9em; }
svg text { font: 13px system-ui, "DejaVu Sans", sans-serif; }
footer { margin-top: 3rem; color: var(--dim); font-size: .85em; }
"""


def _sub(text: str) -> str:
    """Escape `text` and write name_sub as name<sub>sub</sub>."""
    return _SUBSCRIPT.sub(r"<sub>\1</sub>", html.escape(text))


def _segs(parts: tuple[Seg, ...] | list[Seg]) -> str:
    out = []
    for part in parts:
        text = html.escape(part.text) if part.role == "note" else _sub(part.text)
        out.append(f'<span class="{part.role}">{text}</span>' if part.role else text)
    return "".join(out)


def _eq(eq: Eq) -> str:
    style = f' style="margin-left:{1.6 * eq.indent:.1f}em"' if eq.indent else ""
    if not eq.lhs and not eq.steps:
        return f'<div class="eq"{style}>{_segs(eq.note)}</div>'
    steps = "".join(f'<span class="step">= {_segs(step)}</span>' for step in eq.steps)
    note = _segs(eq.note) if eq.note else ""
    kind = "eq chain" if eq.chain else "eq"
    return (f'<div class="{kind}"{style}><span class="lhs">{_segs(eq.lhs)}</span>'
            f'<span class="rhs">{steps}{note}</span></div>')


def _table(table: Table) -> str:
    """A wide table (the steps) as several that fit the page, each repeating its first column."""
    return "".join(_one_table(part) for part in split_columns(table, column_widths(table, 3),
                                                              PAGE_COLUMNS))


def _one_table(table: Table) -> str:
    numeric = [table.numeric[i] if i < len(table.numeric) else False
               for i in range(len(table.headers))]
    head = "".join(f'<th{" class=num" if numeric[i] else ""}>{_sub(h)}</th>'
                   for i, h in enumerate(table.headers))
    rows = []
    for row in table.rows:
        cells = "".join(
            f'<td{" class=num" if numeric[i] else ""}>{_segs(cell)}</td>'
            for i, cell in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    caption = f"<p class=note>{html.escape(table.caption)}</p>" if table.caption else ""
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{caption}')


def _diagram(ex: Explanation) -> str:
    """The network as an inline SVG: units with their out values, weights on the edges."""
    sizes, naming = ex.network.sizes, nt.Naming.of(ex.network)
    column, row, radius, top = 240, 110, 25, 40
    tallest = max(sizes)
    width = column * (len(sizes) - 1) + 160
    height = row * (tallest - 1) + 2 * top + 40
    label_weights = naming.weight_count() <= 16

    def centre(layer: int, j: int) -> tuple[float, float]:
        offset = (tallest - sizes[layer]) * row / 2
        return 80 + layer * column, top + offset + j * row

    values = dict(zip(naming.units(0), (v for _, v in ex.network.inputs), strict=True))
    for units in ex.forward:
        for unit in units:
            values[unit.name] = unit.out
    weights = {u.param: u.before for u in ex.updates}
    parts = []
    for k in range(1, len(sizes)):
        for j in range(sizes[k]):
            for c in range(sizes[k - 1]):
                (x1, y1), (x2, y2) = centre(k - 1, c), centre(k, j)
                name = naming.weight(k, j, c)
                label = f"{naming.symbol(name)} = {nt.fmt(weights[name])}"
                parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
                             f'stroke="#8c959f" stroke-width="1.2"><title>{label}</title></line>')
                if label_weights:
                    # near the source, where the lines leaving one unit are still apart
                    t = 0.3
                    lx, ly = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
                    parts.append(
                        f'<text x="{lx:.0f}" y="{ly - 5:.0f}" text-anchor="middle" '
                        f'fill="#0550ae" paint-order="stroke" stroke="#fff" '
                        f'stroke-width="4">{label}</text>')
    for layer in range(len(sizes)):
        for j in range(sizes[layer]):
            x, y = centre(layer, j)
            name = naming.unit(layer, j)
            fill = "#ddf4ff" if layer == 0 else "#fff8c5" if layer < len(sizes) - 1 \
                else "#dafbe1"
            parts.append(f'<circle cx="{x}" cy="{y}" r="{radius}" fill="{fill}" '
                         f'stroke="#57606a" stroke-width="1.2"/>')
            parts.append(f'<text x="{x}" y="{y + 5}" text-anchor="middle" '
                         f'font-weight="600">{naming.label(name)}</text>')
            parts.append(f'<text x="{x}" y="{y + radius + 16}" text-anchor="middle" '
                         f'fill="#656d76">{nt.fmt(values[name])}</text>')
    of = f" for sample {ex.shown} of {ex.batch_size}" if ex.samples else ""
    caption = (f"The network before the step: each unit with its output{of} (the inputs with "
               "their values), each line a weight" + (" with its value." if label_weights
                                                      else "; hover over a line for its value."))
    return (f'<figure><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="network diagram">{"".join(parts)}</svg>'
            f"<figcaption>{caption}</figcaption></figure>")


@renders("html")
def render_html(ex: Explanation, focus: str | None = None, notebook: bool = False) -> str:
    """The page; with `notebook`, the same content as a notebook's output: a fragment of the
    notebook's page with the style scoped to it (`display.fragment`), as
    `Explanation._repr_html_` shows it."""
    doc = build_document(ex, focus)
    body = [f"<h1>{html.escape(doc.title)}</h1>", '<dl class="summary">']
    body += [f"<dt>{html.escape(k)}</dt><dd>{_sub(v)}</dd>" for k, v in doc.summary]
    body.append("</dl>")
    body.append(_diagram(ex))
    for section in doc.sections:
        body.append(f"<section><h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Sub):
                body.append(f"<h3>{_sub(block.title)}</h3>")
            elif isinstance(block, Para):
                if all(p.role == "note" for p in block.text):
                    text = html.escape("".join(p.text for p in block.text))
                    body.append(f"<p class=note>{text}</p>")
                else:
                    body.append(f"<p>{_segs(block.text)}</p>")
            elif isinstance(block, Eqs):
                body.append('<div class="eqs">' + "".join(_eq(e) for e in block.lines)
                            + "</div>")
            elif isinstance(block, Table):
                body.append(_table(block))
        body.append("</section>")
    body.append("<footer>Written by chainrule explain. Every number above was read off the "
                "graph that trains the network.</footer>")
    if notebook:
        return fragment("\n".join(body), "chainrule-explain", CSS)
    title = html.escape(f"chainrule explain: {ex.network.description}")
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")
