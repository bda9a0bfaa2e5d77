"""The explanation as Markdown: headings, equations in plain-text blocks, tables as tables.

Equations go in ```text blocks so that their '=' signs line up in any Markdown viewer; the
math is written with Unicode symbols (∂, σ, δ, ×), as in the terminal.
"""

from __future__ import annotations

from chainrule.explain.document import (
    Eqs,
    Para,
    Seg,
    Sub,
    Table,
    build_document,
    layout,
)
from chainrule.explain.model import Explanation, renders

WIDTH = 100


def _plain(parts: tuple[Seg, ...] | list[Seg]) -> str:
    return "".join(p.text for p in parts)


def _cell(parts: tuple[Seg, ...]) -> str:
    return _plain(parts).replace("|", "\\|")


def _table(table: Table) -> list[str]:
    align = [("---:" if (table.numeric[i] if i < len(table.numeric) else False) else "---")
             for i in range(len(table.headers))]
    lines = ["| " + " | ".join(table.headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines += ["", table.caption]
    return lines


@renders("markdown")
def render_markdown(ex: Explanation, width: int = WIDTH, focus: str | None = None) -> str:
    doc = build_document(ex, focus)
    out = [f"# {doc.title}", ""]
    out += [f"- **{key}**: {value}" for key, value in doc.summary]
    for section in doc.sections:
        out += ["", f"## {section.title}"]
        for block in section.blocks:
            if isinstance(block, Sub):
                out += ["", f"### {block.title}"]
            elif isinstance(block, Para):
                out += ["", _plain(block.text)]
            elif isinstance(block, Eqs):
                out += ["", "```text"]
                for eq in block.lines:
                    out += [_plain(line).rstrip() for line in layout(eq, width, base=0)]
                out.append("```")
            elif isinstance(block, Table):
                out += ["", *_table(block)]
    return "\n".join(out) + "\n"
