"""The explanation in the terminal (rich), or as plain text for a file.

Equations are laid out by document.layout in the console's width (at most 100 columns), so
the '=' signs of a long chain line up; tables use rich's simple style.
"""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table as RichTable
from rich.text import Text

from chainrule.explain.document import (
    Eqs,
    Para,
    Section,
    Seg,
    Sub,
    Table,
    build_document,
    column_widths,
    layout,
    split_columns,
)
from chainrule.explain.model import Explanation, renders

STYLES = {"sym": "cyan", "num": "", "res": "bold", "memo": "magenta", "note": "dim",
          "cond": "dim"}
MAX_WIDTH = 100


def _text(parts: list[Seg] | tuple[Seg, ...]) -> Text:
    text = Text()
    for part in parts:
        text.append(part.text, style=STYLES.get(part.role, ""))
    return text


def _table(table: Table, width: int) -> list[RenderableType]:
    """The table as rich tables; a wide one is cut into several that fit (split_columns)."""
    out: list[RenderableType] = []
    for part in split_columns(table, column_widths(table, 3), width - 3):
        result = RichTable(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False,
                           caption=Text(part.caption) if part.caption else None,
                           caption_justify="left")
        for index, header in enumerate(part.headers):
            numeric = part.numeric[index] if index < len(part.numeric) else False
            result.add_column(Text(header), justify="right" if numeric else "left",
                              no_wrap=True)
        for row in part.rows:
            result.add_row(*(_text(cell) for cell in row))
        out.append(Padding(result, (0, 0, 1 if part is not table else 0, 2)))
    return out


def _section(section: Section, width: int) -> list[RenderableType]:
    out: list[RenderableType] = [Text(""), Rule(Text(section.title, style="bold"),
                                                align="left", style="dim")]
    for block in section.blocks:
        if isinstance(block, Sub):
            out += [Text(""), Text(block.title, style="bold")]
        elif isinstance(block, Para):
            out.append(Padding(_text(block.text), (0, 0, 0, 2)))
        elif isinstance(block, Eqs):
            for eq in block.lines:
                for line in layout(eq, width):
                    text = _text(line)
                    text.no_wrap = True
                    text.overflow = "ignore"
                    out.append(text)
        elif isinstance(block, Table):
            out += _table(block, width)
    return out


def renderables(ex: Explanation, width: int = MAX_WIDTH, focus: str | None = None) -> Group:
    doc = build_document(ex, focus)
    parts: list[RenderableType] = [Text(doc.title, style="bold")]
    summary = RichTable.grid(padding=(0, 2))
    summary.add_column(style="dim", no_wrap=True)
    summary.add_column()
    for key, value in doc.summary:
        summary.add_row(Text(key), Text(value))  # Text: a formula's [...] is not markup
    parts.append(Padding(summary, (0, 0, 0, 2)))
    for section in doc.sections:
        parts += _section(section, width)
    return Group(*parts)


def print_text(ex: Explanation, console: Console | None = None, focus: str | None = None
               ) -> None:
    """Print the explanation to the terminal (colours when it supports them).

    To a file or a pipe it prints plain text without trailing spaces: rich pads the lines of
    rules, tables and indented blocks with spaces to the full width.
    """
    console = console or Console()
    width = min(console.width, MAX_WIDTH)
    if console.is_terminal:
        console.print(renderables(ex, width, focus), width=width)
        return
    # Text: no markup, no highlighting
    text = Text(render_text(ex, width, focus=focus).removesuffix("\n"))
    console.print(text, soft_wrap=True)  # soft_wrap: the lines as they are, neither cut nor padded


def render_text(ex: Explanation, width: int = MAX_WIDTH, color: bool = False,
                console: Console | None = None, focus: str | None = None) -> str | None:
    """The explanation as text `width` columns wide, plain or with ANSI colours; with `focus`
    (a parameter's name) only that parameter's derivation (document.build_document).

    With a rich `console`, print it there instead (at most 100 columns wide) and return None.
    """
    if console is not None:
        print_text(ex, console, focus)
        return None
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color,
                      color_system="standard" if color else None, legacy_windows=False,
                      soft_wrap=False)
    console.print(renderables(ex, width, focus))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


@renders("text")
def _text_document(ex: Explanation, **options: Any) -> str:
    """render_text as a format: the text itself ('' when printed to a given console)."""
    return render_text(ex, **options) or ""
