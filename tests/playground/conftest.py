"""Fixtures for the playground: a real server on a free port, shut down after the test."""

from __future__ import annotations

import socket
import threading
import time

import pytest


@pytest.fixture
def live_server():
    """A uvicorn server with the playground on 127.0.0.1 and a free port, in a thread."""
    pytest.importorskip("starlette")
    uvicorn = pytest.importorskip("uvicorn")
    from chainrule.playground.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the playground server did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
