"""The playground's server through Starlette's TestClient: page, uploads, the WebSocket protocol."""

import time
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # newer Starlette prefers another HTTP client; either works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from chainrule.playground.server import UPLOAD_LIMIT, create_app

WORKED = {"dataset": "worked-example", "lr": 0.5}
SMALL = {"dataset": "moons", "hidden": [4], "lr": 0.1, "batch_size": 10}


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


def receive(ws, kind, limit=500):
    """The next message of type `kind`; every other message on the way is returned too."""
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if message["type"] == kind:
            return message, seen
    pytest.fail(f"no {kind!r} message among {limit}: {[m['type'] for m in seen]}")


def configure(ws, settings):
    ws.send_json({"type": "configure", "settings": settings})
    ready, seen = receive(ws, "ready")
    assert not [m for m in seen if m["type"] == "error"], seen
    frame, _ = receive(ws, "frame")
    return ready, frame


def error_of(ws, message):
    ws.send_json(message) if isinstance(message, dict) else ws.send_text(message)
    return receive(ws, "error")[0]["message"]


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="boundary"' in page.text
    for name in ("playground.js", "playground.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../session.py").status_code == 404
    assert "cdn" not in page.text.lower() and "https://" not in page.text


def test_playing_streams_frames_whose_loss_falls(client):
    with client.websocket_connect("/ws") as ws:
        ready, first = configure(ws, SMALL)
        assert ready["network"]["sizes"] == [2, 4, 2] and first["epoch"] == 0
        ws.send_json({"type": "play"})
        frames = []
        while len(frames) < 5:
            message = ws.receive_json()
            if message["type"] == "frame":
                frames.append(message)
        ws.send_json({"type": "pause"})
        state, _ = receive(ws, "state")
        while state["playing"]:
            state, _ = receive(ws, "state")
        assert frames[-1]["epoch"] > frames[0]["epoch"] >= 1
        assert frames[-1]["loss"] < 0.8 * first["loss"]
        assert len(frames[-1]["boundary"]["data"]) > 1000


def test_one_step_of_the_worked_example(client):
    with client.websocket_connect("/ws") as ws:
        _, first = configure(ws, WORKED)
        assert f"{first['loss']:.9g}" == "0.298371109"
        ws.send_json({"type": "step"})
        frame, _ = receive(ws, "frame")
        assert (f"{frame['loss_before']:.9g}", f"{frame['loss']:.9g}") == \
            ("0.298371109", "0.291027774")
        ws.send_json({"type": "reset"})
        frame, _ = receive(ws, "frame")
        assert f"{frame['loss']:.9g}" == "0.298371109" and frame["epoch"] == 0
        ws.send_json({"type": "explain", "param": "w5", "sample": 0})
        explanation, _ = receive(ws, "explanation")
        assert "= 0.74136507 × 0.186815602 × 0.593269992 = 0.0821670406" in explanation["text"]
        assert (explanation["notation"], explanation["symbol"]) == ("unit", "w5")
        ws.send_json({"type": "explain", "param": "w5", "sample": 0, "notation": "layer"})
        explanation, _ = receive(ws, "explanation")
        assert "= 0.593269992 × 0.186815602 × 0.74136507 = 0.0821670406" in explanation["text"]
        assert (explanation["symbol"], explanation["error_symbol"]) == ("w⁽²⁾₁₁", "C₀")


@pytest.mark.parametrize("message, expected", [
    ({"type": "configure", "settings": {**SMALL, "hidden": [0]}},
     "settings: hidden: each hidden layer needs 1 to 8 units, got [0]"),
    ({"type": "configure", "settings": {**SMALL, "lr": "abc"}},
     "settings: lr: Input should be a valid number"),
    ({"type": "step", "speed": 2}, "message 'step': speed: unknown key"),
    ({"type": "play", "speed": 0}, "message 'play': speed: Input should be greater than or "
                                   "equal to 1"),
    ({"type": "fly"}, "message: unknown type 'fly'; expected one of configure, play, pause, "
                      "step, reset, explain"),
    ({"type": "explain", "param": "w99"}, "explain: no parameter 'w99' in this network"),
    ({"type": "explain", "param": "w5", "notation": "tensor"},
     "message 'explain': notation: Input should be 'unit' or 'layer'"),
    ("not json", "message: not JSON"),
    ({"type": "configure", "settings": {"dataset": "csv", "upload": "0000"}},
     "settings: dataset csv needs a file: upload one first"),
])
def test_bad_input_gets_a_message_and_the_session_keeps_working(client, message, expected):
    with client.websocket_connect("/ws") as ws:
        configure(ws, WORKED)
        assert error_of(ws, message).startswith(expected)
        ws.send_json({"type": "step"})
        frame, _ = receive(ws, "frame")
        assert f"{frame['loss']:.9g}" == "0.291027774"  # the worked example, one step on


def test_play_keeps_the_speed_it_is_given(client):
    with client.websocket_connect("/ws") as ws:
        configure(ws, SMALL)
        start = time.monotonic()
        ws.send_json({"type": "play", "speed": 10})  # 10 epochs per second: one a frame
        epochs = [receive(ws, "frame")[0]["epoch"] for _ in range(5)]
        seconds = time.monotonic() - start
        ws.send_json({"type": "play"})                # no limit, while playing
        faster = [receive(ws, "frame")[0]["epoch"] for _ in range(3)]
        ws.send_json({"type": "pause"})
    assert epochs == [1, 2, 3, 4, 5] and seconds >= 0.4
    assert faster[-1] - faster[0] > 2                 # several epochs a frame now


def test_commands_before_a_configuration_are_answered(client):
    with client.websocket_connect("/ws") as ws:
        assert error_of(ws, {"type": "play"}) == "configure a network first"


def test_a_large_upload_is_refused_while_it_streams(client):
    def body():
        chunk = b"1,2,0\n" * 10_000
        for _ in range(50 * 1024 * 1024 // len(chunk)):  # 50 MB, never held at once
            yield chunk

    response = client.post("/upload", content=body())
    assert response.status_code == 413
    assert response.json() == {"error": "the file is larger than the limit of 2 MB"}
    assert UPLOAD_LIMIT == 2 * 1024 * 1024


def test_an_upload_trains_and_bad_files_are_refused(client, app):
    text = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(40))
    response = client.post("/upload?name=mine.csv", content=text.encode())
    assert response.status_code == 200, response.text
    key = response.json()["id"]
    assert response.json()["rows"] == 40
    folder = app.state.uploads.folder
    assert list(folder.iterdir()) == [folder / f"{key}.csv"]
    with client.websocket_connect("/ws") as ws:
        ready, _ = configure(ws, {"dataset": "csv", "upload": key, "hidden": [3]})
        assert ready["network"]["sizes"] == [2, 3, 2]

    words = client.post("/upload?name=words.csv", content=b"a,b,label\n1,x,0\n2,3,1\n")
    assert words.status_code == 400
    assert "words.csv" in words.json()["error"] and str(folder) not in words.json()["error"]
    three = client.post("/upload?name=three.csv", content=b"a,b,c,label\n1,2,3,0\n2,3,4,1\n")
    assert three.status_code == 400
    assert three.json()["error"].startswith("three.csv has 3 feature columns")
    assert len(list(folder.iterdir())) == 1  # the refused ones are gone


def test_uploads_are_removed_when_the_server_stops(app):
    with TestClient(app) as client:
        client.post("/upload", content=b"a,b,label\n1,2,0\n2,3,1\n3,1,0\n4,4,1\n")
        folder = app.state.uploads.folder
        assert folder.is_dir()
    assert not folder.exists()


def test_another_site_may_not_use_the_server(client):
    refused = client.post("/upload", content=b"a,b,t\n1,2,0\n",
                          headers={"origin": "http://evil.example"})
    assert refused.status_code == 403


def test_two_sessions_are_independent(client):
    with client.websocket_connect("/ws") as one, client.websocket_connect("/ws") as two:
        configure(one, WORKED)
        _, other = configure(two, {"dataset": "xor", "hidden": [3], "batch_size": None})
        one.send_json({"type": "step"})
        frame, _ = receive(one, "frame")
        two.send_json({"type": "explain", "param": "w9"})
        explanation, _ = receive(two, "explanation")
        assert f"{frame['loss']:.9g}" == "0.291027774"
        assert explanation["param"] == "w9"
        two.send_json({"type": "step"})
        frame_two, _ = receive(two, "frame")
        assert frame_two["epoch"] == 1 and frame_two["loss"] != frame["loss"]
        assert f"{other['loss']:.9g}" == f"{frame_two['loss_before']:.9g}"


def test_closing_the_socket_stops_its_training(client, app):
    with client.websocket_connect("/ws") as ws:
        configure(ws, {**SMALL, "dataset": "spirals", "hidden": [8, 8], "batch_size": 1})
        ws.send_json({"type": "play"})
        receive(ws, "frame")
        connection = next(iter(app.state.connections))
        session, task = connection.session, connection.task
        assert not task.done()
    deadline = time.monotonic() + 5
    while app.state.connections:
        assert time.monotonic() < deadline, "the closed session was still open after 5 s"
        time.sleep(0.01)
    assert task.done() and connection.cancel.is_set()
    steps = session.steps
    time.sleep(0.3)
    assert session.steps == steps  # no step after the tab closed
