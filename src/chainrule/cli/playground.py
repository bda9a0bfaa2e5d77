"""`chainrule playground`: a local web page to train a small network and click its weights."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import webbrowser
from typing import Annotated

import typer

from chainrule.cli.core import command

EXTRA = ("starlette", "uvicorn", "websockets")
INSTALL = "pip install 'chainrule[playground]'"


def missing_extra() -> list[str]:
    """The playground extra's packages that are not installed."""
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


@command("playground")
def playground(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.",
                                      min=0, max=65535)] = 0,
    host: Annotated[str, typer.Option(help="Address to bind. Anything but 127.0.0.1 lets "
                                           "others on the network use the server.")]
        = "127.0.0.1",
    browser: Annotated[bool, typer.Option("--browser/--no-browser",
                                          help="Open the page in a web browser.")] = True,
) -> None:
    """Train a small network in your browser; click a weight to see its chain rule."""
    missing = missing_extra()
    if missing:
        print(f"error: chainrule playground needs {', '.join(missing)}: {INSTALL}",
              file=sys.stderr)
        raise typer.Exit(1)
    from chainrule.playground.server import serve

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as error:
        print(f"error: cannot listen on {host}:{port}: {error.strerror or error}",
              file=sys.stderr)
        raise typer.Exit(2) from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {host}: anyone who can reach this address can use the "
              "server and its CPU; there is no authentication", file=sys.stderr)
    print(f"chainrule playground: {url}  (Ctrl-C stops it)", flush=True)
    if browser:  # the socket already listens, so the page's request waits for the server
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    serve(sock)
