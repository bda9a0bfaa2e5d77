"""The `chainrule` command: one thin module per command over `chainrule.runs` and
`chainrule.explain`. `core.py` holds the command group and its error handling; each command
module registers itself there on import."""

from chainrule.cli import demo, diagnose, explain, predict, sweep, train  # noqa: F401
from chainrule.cli.core import app, main

__all__ = ["app", "main"]
