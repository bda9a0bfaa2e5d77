"""The playground's web server: one page, its static files, CSV uploads and a WebSocket per tab.

    app = create_app()          # a Starlette app; `chainrule playground` serves it with uvicorn

Routes
    GET  /               the page (static/index.html); GET /static/... its CSS and JavaScript
    POST /upload         the raw bytes of a CSV file (?name=file.csv, for messages only); at most
                         UPLOAD_LIMIT bytes, counted while the body streams in: more is refused
                         with 413 and {"error": ...}. A file that is not 2 numeric features and
                         a target is refused with 400 and {"error": ...}. Otherwise 200 and
                         {"id", "name", "rows", "task"}; the id names the file in "configure".
    WS   /ws             one training session per connection (below).

WebSocket messages (JSON text; the page sends the first group, the server the second)
    {"type": "configure", "settings": {...}}   build a session: dataset ("xor", "moons",
        "spirals", "circles", "worked-example", "csv" with "upload": id), hidden ([widths]),
        activation, loss, optimizer, lr, batch_size (null: the whole set), seed; see
        session.Settings. Answered by "ready", then a "frame".
    {"type": "play", "speed": 30}              train epoch after epoch, `speed` epochs per
                                               second (1 to MAX_SPEED; null or absent: as fast
                                               as it can); a play while playing changes speed.
    {"type": "pause"}                          stop after this epoch.
    {"type": "step"}                           one epoch (one update with the whole set as
                                               the batch); answered by a "frame".
    {"type": "reset"}                          the initial weights again; a "frame".
    {"type": "explain", "param": "w5", "sample": 0, "notation": "unit"}
                                               ∂E/∂w5 for training sample 0 at the current
                                               weights, written in the unit notation or the
                                               "layer" one (∂C₀/∂w⁽²⁾₁₁; param is the unit
                                               notation's name in both); answered by
                                               "explanation".

    {"type": "ready", "network": {...}, "points": {...}}
        network: sizes, units, weights and biases by name (w1.. row by row), activation, loss,
        optimizer, lr, batch_size, task, n_train; points: x, y, label, split, extent.
    {"type": "frame", "epoch", "steps", "loss", "accuracy", "val_loss", "val_accuracy",
     "loss_before", "boundary": {kind, low, high, size, data}, "unit_size",
     "units": [[{scale, data}, ...] per layer], "weights": [{"w": [...], "b": [...]}, ...]}
        Losses are measured on the current weights; loss_before is the loss before the last
        epoch. Grids are base64 bytes 0..255 (size × size, rows from the bottom): the boundary
        the probability of the second class (or the first output, scaled from low to high);
        each unit's square its output scaled from −scale to scale. At most one frame per
        FRAME_INTERVAL while playing.
    {"type": "state", "playing": bool}         after play and pause, and when training stops.
    {"type": "explanation", "param", "sample", "notation", "symbol", "error_symbol", "text",
     "grad", "delta", "before", "after", "direction", "lr", "error", "error_after",
     "notes": [...]}
        text is what `chainrule explain` writes for this step (session.explain_parameter);
        symbol and error_symbol are how it writes the parameter and the error (w5 and E, or
        w⁽²⁾₁₁ and C₀).
    {"type": "error", "message": "..."}        the answer to anything wrong: bad JSON, an
        unknown type or key, a bad setting, data that cannot be trained on, divergence. The
        session stays as it was and keeps working.

Every session trains in a worker thread, so the server stays responsive; a closed tab stops its
training after the step in progress. There is no authentication: the server binds to
127.0.0.1 unless told otherwise, and refuses WebSockets and uploads from other origins.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from chainrule.data import load_csv
from chainrule.errors import ChainruleError
from chainrule.explain.notation import NOTATIONS
from chainrule.io import atomic_write_bytes
from chainrule.playground.session import Session, Stopped, parse_settings, problems

STATIC = Path(__file__).parent / "static"
UPLOAD_LIMIT = 2 * 1024 * 1024
MAX_UPLOADS = 20  # files kept per server; older ones are removed
FRAME_INTERVAL = 0.04  # seconds of training per frame while playing
MAX_SPEED = 1000  # epochs per second a page may ask for; more is "as fast as it can"
log = logging.getLogger("chainrule.playground")


# --- messages --------------------------------------------------------------------------------
class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Configure(_Message):
    type: Literal["configure"]
    settings: dict[str, Any]


class Control(_Message):
    type: Literal["pause", "step", "reset"]


class Play(_Message):
    """speed: epochs per second, so that a learner can watch the boundary form; None trains
    as fast as the machine can."""

    type: Literal["play"]
    speed: int | None = Field(default=None, ge=1, le=MAX_SPEED)


class Explain(_Message):
    type: Literal["explain"]
    param: str
    sample: int = 0
    notation: Literal[NOTATIONS] = "unit"  # type: ignore[valid-type]


MESSAGES: dict[str, type[_Message]] = {
    "configure": Configure, "play": Play, "pause": Control, "step": Control,
    "reset": Control, "explain": Explain,
}


class BadMessage(Exception):
    """A message the page should not have sent; its text is the answer."""


def parse_message(text: str) -> _Message:
    """A message from the page, validated: unknown types and keys are refused."""
    try:
        data = json.loads(text)
    except ValueError:
        raise BadMessage("message: not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("message: expected a JSON object with a \"type\"")
    kind = data.get("type")
    if kind not in MESSAGES:
        raise BadMessage(f"message: unknown type {kind!r}; expected one of "
                         f"{', '.join(MESSAGES)}")
    try:
        return MESSAGES[kind].model_validate(data)
    except ValidationError as error:
        raise BadMessage(problems(error, f"message {kind!r}")) from None


# --- uploads ---------------------------------------------------------------------------------
class Uploads:
    """The uploaded CSVs of one server, in a temporary folder of its own, removed at shutdown."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self.files: dict[str, Path] = {}
        self.names: dict[str, str] = {}

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="chainrule-playground-"))
        return self._folder

    def add(self, body: bytes, name: str) -> tuple[str, Path]:
        key = secrets.token_hex(8)
        path = self.folder / f"{key}.csv"
        atomic_write_bytes(path, body)
        while len(self.files) >= MAX_UPLOADS:
            oldest = next(iter(self.files))
            self.files.pop(oldest).unlink(missing_ok=True)
            self.names.pop(oldest, None)
        self.files[key], self.names[key] = path, name
        return key, path

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self.files.clear()


def _upload_name(request: Request) -> str:
    name = request.query_params.get("name", "upload.csv")
    return re.sub(r"[^\w.\- ]", "_", name)[:80] or "upload.csv"


def _same_origin(headers: Any) -> bool:
    """No Origin (not a browser), or the page's own: other sites may not drive this server."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == headers.get("host")


async def upload(request: Request) -> Response:
    if not _same_origin(request.headers):
        return JSONResponse({"error": "uploads come from the playground's own page"}, 403)
    too_big = JSONResponse({"error": f"the file is larger than the limit of "
                                     f"{UPLOAD_LIMIT // 1024 // 1024} MB"}, 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        return too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > UPLOAD_LIMIT:
            return too_big
    name = _upload_name(request)
    if not body.strip():
        return JSONResponse({"error": f"{name} is empty"}, 400)
    uploads: Uploads = request.app.state.uploads
    key, path = uploads.add(bytes(body), name)
    try:
        ds = await asyncio.to_thread(load_csv, path)
        if ds.n_features != 2:
            raise ChainruleError(
                f"{name} has {ds.n_features} feature columns; the playground draws the input "
                "plane, so it needs exactly 2 features and one target column (the last)")
    except ChainruleError as error:
        uploads.files.pop(key, None)
        path.unlink(missing_ok=True)
        return JSONResponse({"error": str(error).replace(str(path), name)}, 400)
    return JSONResponse({"id": key, "name": name, "rows": ds.n_samples, "task": ds.task})


# --- one tab ---------------------------------------------------------------------------------
class Connection:
    """One WebSocket and its session. Compute runs in a worker thread, one piece at a time
    (`lock`); `cancel` stops a training thread after its current step."""

    def __init__(self, websocket: WebSocket, uploads: Uploads) -> None:
        self.websocket, self.uploads = websocket, uploads
        self.session: Session | None = None
        self.lock = asyncio.Lock()
        self.cancel = threading.Event()
        self.playing = False
        self.speed: int | None = None  # epochs per second while playing; None: no limit
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    async def run(self) -> None:
        try:
            while True:
                text = await self.websocket.receive_text()
                await self.handle(text)
        except (WebSocketDisconnect, RuntimeError):  # closed by the page, or mid-send
            pass
        finally:
            self.closed = True
            await self.stop(cancel=True)

    async def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.send_text(json.dumps(message, allow_nan=False))

    async def error(self, message: str) -> None:
        await self.send({"type": "error", "message": message})

    async def handle(self, text: str) -> None:
        """Answer one message; every failure becomes an error message, never a crash."""
        try:
            message = parse_message(text)
            await getattr(self, f"on_{message.type}")(message)  # type: ignore[attr-defined]
        except (BadMessage, ChainruleError) as error:
            await self.error(str(error).splitlines()[0])
        except Exception as error:  # a bug: say so on the page, keep the session
            log.exception("playground: unexpected error")
            await self.error(f"internal error: {type(error).__name__}: {error}")

    async def compute(self, fn: Any, *args: Any) -> Any:
        async with self.lock:
            return await asyncio.to_thread(fn, *args)

    def need_session(self) -> Session:
        if self.session is None:
            raise BadMessage("configure a network first")
        return self.session

    async def on_configure(self, message: Configure) -> None:
        settings = parse_settings(message.settings)
        await self.stop()
        session = await self.compute(Session, settings, dict(self.uploads.files))
        self.session = session
        await self.send({"type": "ready", "network": session.network(),
                         "points": session.points()})
        await self.send(await self.compute(session.frame))

    async def on_play(self, message: Play) -> None:
        self.need_session()
        self.speed = message.speed
        if self.task is None or self.task.done():
            self.playing = True
            self.task = asyncio.create_task(self.play())
        await self.send({"type": "state", "playing": True})

    async def on_pause(self, message: Control) -> None:
        await self.stop()

    async def on_step(self, message: Control) -> None:
        session = self.need_session()
        await self.stop()
        _, frame = await self.compute(self._train_and_frame, session, 0.0)
        await self.send(frame)

    async def on_reset(self, message: Control) -> None:
        session = self.need_session()
        await self.stop()
        await self.compute(session.reset)
        await self.send(await self.compute(session.frame))

    async def on_explain(self, message: Explain) -> None:
        session = self.need_session()
        await self.send(await self.compute(session.explain, message.param, message.sample,
                                           message.notation))

    def _train_and_frame(self, session: Session, seconds: float,
                         most: int | None = None) -> tuple[int, dict[str, Any]]:
        """Train for `seconds` (at least one epoch, at most `most`): the epochs, a frame."""
        return session.train_for(seconds, self.cancel, most), session.frame()

    async def play(self) -> None:
        """Train and send a frame, until paused, stopped or the training fails; at `speed`
        epochs per second when the page set one (a play message may change it)."""
        session = self.need_session()
        clock = asyncio.get_running_loop().time
        try:
            while self.playing and not self.cancel.is_set():
                start, speed = clock(), self.speed
                most = None if speed is None else max(1, round(speed * FRAME_INTERVAL))
                done, frame = await self.compute(self._train_and_frame, session,
                                                 FRAME_INTERVAL, most)
                await self.send(frame)
                if speed is not None:
                    await asyncio.sleep(max(0.0, start + done / speed - clock()))
        except Stopped:
            pass
        except ChainruleError as error:  # divergence: the last finite weights are kept
            await self.error(str(error).splitlines()[0])
            await self.send(await self.compute(session.frame))
        except Exception as error:
            log.exception("playground: unexpected error while training")
            await self.error(f"internal error: {type(error).__name__}: {error}")
        finally:
            self.playing = False
            await self.send({"type": "state", "playing": False})

    async def stop(self, cancel: bool = False) -> None:
        """Stop playing: after this frame (pause), or after this step (the tab closed)."""
        self.playing = False
        if cancel:
            self.cancel.set()
        if self.task is not None:
            await self.task
            self.task = None
        if not cancel:
            self.cancel.clear()


async def websocket_endpoint(websocket: WebSocket) -> None:
    if not _same_origin(websocket.headers):
        await websocket.close(code=1008)
        return
    await websocket.accept()
    connection = Connection(websocket, websocket.app.state.uploads)
    websocket.app.state.connections.add(connection)
    try:
        await connection.run()
    finally:
        websocket.app.state.connections.discard(connection)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def create_app() -> Starlette:
    """The playground's Starlette app: the page, /upload and /ws (see the module docstring).

    app.state.uploads holds the uploaded files (removed when the app shuts down);
    app.state.connections the open sessions.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            app.state.uploads.close()

    app = Starlette(routes=[
        Route("/", index),
        Route("/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws", websocket_endpoint),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)
    app.state.uploads = Uploads()
    app.state.connections = set()
    return app


def serve(sock: socket.socket) -> None:
    """Serve the playground with uvicorn on a listening socket until Ctrl-C."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(create_app(), log_level="warning")).run(sockets=[sock])
