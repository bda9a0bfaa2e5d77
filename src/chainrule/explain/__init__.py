"""Explain mode: one training step of a small network, every chain-rule step with its numbers.

>>> import chainrule as cr
>>> ex = cr.explain()                    # the notes' worked example, or explain(model, x, t, ...)
>>> ex.gradient("w5").grad               # ∂E/∂w5, as the engine computed it
0.08216704...
>>> print(ex.render("markdown"))         # also "text", "html", "json"; ex.to_dot() for the graph

Every number is read off the same graph that trains the network (recorder.py); see build.py
for where each one comes from, and docs/explain.md for the notation.
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError
from chainrule.explain.build import explain
from chainrule.explain.model import Explanation
from chainrule.explain.render_text import render_text

FORMATS = ("text", "markdown", "html", "json")


def render(explanation: Explanation, format: str = "text", **options: Any) -> str:
    """The explanation as text (plain, or with colours: color=True), Markdown, HTML or JSON."""
    if format == "text":
        return render_text(explanation, **options) or ""
    if format == "markdown":
        from chainrule.explain.render_markdown import render_markdown

        return render_markdown(explanation, **options)
    if format == "html":
        from chainrule.explain.render_html import render_html

        return render_html(explanation, **options)
    if format == "json":
        from chainrule.explain.render_json import render_json

        return render_json(explanation, **options)
    raise ConfigError(f"explain: unknown format {format!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "Explanation", "explain", "render", "render_text"]
