"""The `chainrule` command: a thin layer over the library.

Each command lives beside the feature it drives and is registered here (`load_commands`). User
mistakes (every `ChainruleError`, a missing file, a mistyped option) exit with code 2 and a
one-line `error: ...`, never a traceback or a usage box; Ctrl-C exits with code 130 and one line.

The help is click's plain layout (`rich_markup_mode=None`): typer's rich panels give every
option a type column, and flags such as --quiet and --help get a `<bool>` there as if they took a
value. Every option shows its default (`show_default`); `-h` is `--help`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from chainrule.errors import ChainruleError

# click's exceptions, wherever this typer takes click from (newer ones bundle their own copy)
_click_errors = sys.modules[typer.BadParameter.__module__]


def _fail(message: str, code: int) -> typer.Exit:
    print(message, file=sys.stderr)
    return typer.Exit(code)


@contextlib.contextmanager
def _one_line_errors(group: Any = None) -> Iterator[None]:
    """Usage errors as `error: ... (see chainrule CMD --help)`, exit 2; Ctrl-C as one line, 130.

    group: the group's context, which names the command when the error carries no context.
    """
    try:
        yield
    except getattr(_click_errors, "NoArgsIsHelpError", ()):
        raise  # `chainrule` alone prints its help
    except _click_errors.UsageError as error:
        if error.ctx is not None:
            where = error.ctx.command_path
        elif group is not None and group.invoked_subcommand:
            where = f"{group.command_path} {group.invoked_subcommand}"
        else:
            where = "chainrule"
        raise _fail(f"error: {error.format_message()} (see {where} --help)", 2) from None
    except KeyboardInterrupt as stop:
        raise _fail(str(stop) or "interrupted (Ctrl-C)", 130) from None


class _Group(TyperGroup):
    """The command group, with every usage error and Ctrl-C made one line."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_errors(ctx):
            return super().invoke(ctx)


HELP = "Train neural networks by backpropagation and see every chain-rule step."

app = typer.Typer(
    cls=_Group,
    name="chainrule",
    help=HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)


def _print_version(value: bool) -> None:
    if value:
        from chainrule.version import __version__

        print(f"chainrule {__version__}")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
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
    """Register `fn` as `chainrule NAME`, with user errors turned into exit code 2.

    The list of commands in `chainrule --help` shows the docstring's whole first line.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        summary = (fn.__doc__ or "").strip().split("\n\n")[0]
        kwargs.setdefault("short_help", " ".join(summary.split()))
        app.command(name, **kwargs)(user_errors(fn))
        return fn

    return register


COMMANDS = ("train", "predict", "explain", "sweep", "diagnose", "demo",  # the order of --help
            "playground", "export")


def load_commands() -> typer.Typer:
    """The app with every command registered: each command module registers itself on import."""
    for name in COMMANDS:
        importlib.import_module(f"chainrule.cli.{name}")
    return app


def main() -> None:
    try:
        load_commands()
        app()
    except Exception as error:
        if not _caused_by_ctrl_c(error):
            raise
        _interrupted()
    except KeyboardInterrupt:  # while typer builds the commands, before any of them runs
        _interrupted()


def _interrupted() -> None:
    # Nothing has run that needs cleaning up, and an exit through SystemExit here can still
    # end by the signal (status -2, not 130) once Python shuts down: exit at once.
    print("interrupted (Ctrl-C)", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _caused_by_ctrl_c(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt lies behind `error`: a Ctrl-C that lands inside a library
    (pydantic building a schema while --help imports a config) can come back wrapped."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False

