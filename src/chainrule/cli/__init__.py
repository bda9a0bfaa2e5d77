"""The `chainrule` command: one thin module per command over `chainrule.runs` and
`chainrule.explain`. `core.py` holds the command group and its error handling; each command
module registers itself there on import.

Importing this package is cheap on purpose: `main` (the console script and `python -m
chainrule`) loads typer and the commands itself, with Ctrl-C deferred until they are loaded, so
that an interrupt while they load is one line and exit code 130, never a traceback. `app`, the
typer application with every command registered, is loaded when first asked for.
"""

import signal
import sys

__all__ = ["app", "main"]

INTERRUPTED = "interrupted (Ctrl-C)"


def main() -> None:
    """Run `chainrule` with the arguments in sys.argv."""
    interrupts: list[int] = []

    def defer(signum: int, frame: object) -> None:
        if interrupts:  # a second Ctrl-C: at once
            raise KeyboardInterrupt
        interrupts.append(signum)

    # A KeyboardInterrupt raised in the middle of an import can surface as a traceback (an
    # "Exception ignored in" importlib's callbacks, say), be swallowed, or make Python exit by
    # the signal in the end even once handled; so while typer and the commands load, a first
    # Ctrl-C only sets a flag.
    try:
        previous = signal.signal(signal.SIGINT, defer)
    except ValueError:  # not in the main thread, where no handler can be set
        previous = None
    try:
        from chainrule.cli import core

        core.load_commands()
    except KeyboardInterrupt:
        interrupts.append(signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupts:
        print(INTERRUPTED, file=sys.stderr)
        raise SystemExit(130)
    core.main()


def __getattr__(name: str) -> object:
    if name == "app":
        from chainrule.cli.core import load_commands

        return load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
