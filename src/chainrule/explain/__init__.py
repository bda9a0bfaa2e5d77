"""Explain mode: one training step of a small network, every chain-rule step with its numbers.

>>> import chainrule as cr
>>> ex = cr.explain()                    # the notes' worked example, or explain(model, x, t, ...)
>>> ex.gradient("w5").grad               # ∂E/∂w5, as the engine computed it
0.08216704...
>>> print(ex.render("markdown"))         # also "text", "html", "json"; "svg" or "dot": the graph
>>> ex.render("xlsx", "step.xlsx")       # a workbook of live formulas (the [xlsx] extra)

Every number is read off the same graph that trains the network (recorder.py); see build.py
for where each one comes from, and docs/explain.md for the notation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chainrule.explain.build import explain
from chainrule.explain.model import RENDERERS, Explanation, document_formats

# The renderers register themselves in RENDERERS as they are imported, in this order, which is
# the order of FORMATS: text, markdown, html, json, xlsx (then the graph: dot, svg).
# isort: off
from chainrule.explain.render_text import render_text
from chainrule.explain import render_markdown, render_html, render_json, render_xlsx  # noqa: F401
from chainrule.explain import graph  # noqa: F401
# isort: on

FORMATS = document_formats()


def render(explanation: Explanation, format: str = "text",
           path: str | os.PathLike[str] | None = None, **options: Any) -> str | Path:
    """The explanation as text (plain, or with colours: color=True), Markdown, HTML or JSON;
    with `path`, written to that file (then also "xlsx", a workbook), returning the path."""
    return explanation.render(format, path, **options)


__all__ = ["FORMATS", "RENDERERS", "Explanation", "explain", "render", "render_text"]
