"""The `chainrule` command: a thin layer over the library.

Each command lives beside the feature it drives and is registered here. User mistakes (every
`ChainruleError`, a missing file) exit with code 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from chainrule.errors import ChainruleError

app = typer.Typer(
    name="chainrule",
    help="Train neural networks by backpropagation and see every chain-rule step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Train neural networks by backpropagation and see every chain-rule step."""


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause into `error: ...` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ChainruleError, FileNotFoundError, IsADirectoryError, PermissionError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper


def command(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as `chainrule NAME`, with user errors turned into exit code 2."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        app.command(name, **kwargs)(user_errors(fn))
        return fn

    return register


def main() -> None:
    app()


# Commands register themselves on import.
from chainrule.commands import demo, diagnose, explain, predict, sweep, train  # noqa: E402, F401
