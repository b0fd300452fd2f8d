"""Limits and admission beyond the per-message ones of test_ws: connections, idle time, drawing time, origins, headers."""

import asyncio

import pytest
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError

from core.records import new_id
from server import config, guard, protocol
from server.store import SavedDrawingStore, render_png
from tests.serving import make_app, receive, receive_type, send

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}


async def close_code(ws) -> int:
    with pytest.raises(WebsocketDisconnectError) as closed:
        while True:
            await asyncio.wait_for(ws.receive(), 10)
    return closed.value.args[0]


async def round_started(ws) -> dict:
    """Start a drawing; a drawing still open ends first (its not_saved comes before the round)."""
    await send(ws, type="start")
    return await receive_type(ws, "round")


async def test_a_socket_beyond_max_connections_is_closed_with_1013(tmp_path):
    app = make_app(tmp_path, MAX_CONNECTIONS=1)
    async with app.test_app():
        client = app.test_client()
        async with client.websocket("/ws") as first:
            assert (await round_started(first))["type"] == "round"
            async with client.websocket("/ws") as second:
                await send(second, type="start")
                assert await close_code(second) == protocol.CloseCode.TRY_AGAIN_LATER
            assert (await round_started(first))["type"] == "round"  # the admitted player never noticed
        assert app.extensions["metrics"].refused._value.get() == 1


async def test_a_slot_frees_when_a_player_leaves(tmp_path):
    app = make_app(tmp_path, MAX_CONNECTIONS=1)
    async with app.test_app():
        client = app.test_client()
        async with client.websocket("/ws") as first:
            await round_started(first)
        gate = app.extensions["gate"]
        for _ in range(100):  # the handler's clean-up runs just after the client side closes
            if not gate.open:
                break
            await asyncio.sleep(0.01)
        async with client.websocket("/ws") as second:
            assert (await round_started(second))["type"] == "round"


async def test_an_idle_socket_is_closed_with_1000(tmp_path):
    app = make_app(tmp_path, IDLE_TIMEOUT_S=0.2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await round_started(ws)
        assert await close_code(ws) == protocol.CloseCode.NORMAL_CLOSURE


async def test_messages_keep_a_socket_from_idling(tmp_path):
    app = make_app(tmp_path, IDLE_TIMEOUT_S=0.3)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        for _ in range(5):  # 0.5 s in all, never 0.3 s of silence
            assert (await round_started(ws))["type"] == "round"
            await asyncio.sleep(0.1)


async def test_an_idle_socket_with_an_open_drawing_saves_it(tmp_path):
    app = make_app(tmp_path, IDLE_TIMEOUT_S=0.2)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        drawing_id = (await round_started(ws))["id"]
        await send(ws, type="stroke", **LINE)
        await receive(ws)
        assert (await receive(ws))["type"] == "saved"  # said before the socket closes
        assert await receive(ws) == {"type": "closing", "code": 1000, "reason": "idle for 0.2 s"}
        assert await close_code(ws) == protocol.CloseCode.NORMAL_CLOSURE
    await asyncio.wait_for(app.extensions["quickdraw"].drain(), 10)
    assert (tmp_path / "saved" / f"{drawing_id}.ndjson").is_file()


async def test_a_free_drawing_open_too_long_is_ended_and_saved(tmp_path):
    app = make_app(tmp_path, MAX_DRAWING_S=0.3)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        drawing_id = (await round_started(ws))["id"]
        await send(ws, type="stroke", **LINE)
        assert (await receive(ws))["type"] == "guess"
        assert await receive(ws) == {"type": "timeout", "drawing": drawing_id, "word": None}
        saved = await receive(ws)
        assert (saved["type"], saved["id"], saved["strokes"]) == ("saved", drawing_id, 1)
        await send(ws, type="stroke", **LINE)
        assert (await receive(ws))["code"] == protocol.ErrorCode.DRAWING_ENDED  # the drawing is over, the socket is not


async def test_max_drawing_s_also_caps_a_longer_game_round(tmp_path):
    app = make_app(tmp_path, MAX_DRAWING_S=0.3, GAME_TIME_LIMIT_S=60.0)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode="game")
        started = await receive(ws)
        timeout = await receive_type(ws, "timeout", timeout=5)
        assert timeout == {"type": "timeout", "drawing": started["id"], "word": started["word"]}


@pytest.mark.parametrize("key, value", [("MAX_CONNECTIONS", 0), ("IDLE_TIMEOUT_S", -1.0), ("MAX_DRAWING_S", 0.0)])
def test_new_limits_must_be_positive(key, value):
    with pytest.raises(config.ConfigError, match=key):
        config.load({key: value}, environ={})


def test_new_limits_come_from_the_environment():
    settings = config.load(
        environ={
            "QUICKDRAW_MAX_CONNECTIONS": "7",
            "QUICKDRAW_IDLE_TIMEOUT_S": "9",
            "QUICKDRAW_MAX_DRAWING_S": "11.5",
            "QUICKDRAW_ALLOWED_ORIGINS": "https://a.example",
        }
    )
    assert (settings.max_connections, settings.idle_timeout_s, settings.max_drawing_s, settings.allowed_origins) == (
        7,
        9.0,
        11.5,
        "https://a.example",
    )


# Origins ----------------------------------------------------------------------


@pytest.fixture
async def app(tmp_path):
    app = make_app(tmp_path, ALLOWED_ORIGINS="https://friend.example, http://127.0.0.1:8000/")
    async with app.test_app():
        yield app


async def opens(app, origin: str | None, host: str = "localhost") -> bool:
    """True if /ws accepts a socket with this Origin (and Host) header; False if refused with 403."""
    headers = {"Host": host} | ({"Origin": origin} if origin is not None else {})
    try:
        async with app.test_client().websocket("/ws", headers=headers) as ws:
            return (await round_started(ws))["type"] == "round"
    except WebsocketResponseError as refused:
        assert refused.response.status_code == 403
        return False


async def test_a_socket_without_origin_is_allowed(app):
    assert await opens(app, None)  # scripts and non-browser clients send none


async def test_a_same_origin_page_may_open_a_socket(app):
    assert await opens(app, "http://localhost:5000", host="localhost:5000")


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://friend.example.evil.com",  # starts like a listed origin: not the same site
        "https://friend.examplex",
        "http://localhost:5001",  # another port is another site
        "http://localhost.evil.example:5000",
        "null",  # sandboxed frames and file:// pages
        "file://",
        "",
    ],
)
async def test_a_cross_site_page_is_refused_before_accept(app, origin):
    assert not await opens(app, origin, host="localhost:5000")


@pytest.mark.parametrize("origin", ["https://friend.example", "HTTPS://FRIEND.EXAMPLE/", "http://127.0.0.1:8000"])
async def test_listed_origins_are_allowed(app, origin):
    assert await opens(app, origin, host="localhost:5000")


async def test_a_wildcard_allows_any_origin(tmp_path):
    app = make_app(tmp_path, ALLOWED_ORIGINS="*")
    async with app.test_app():
        assert await opens(app, "https://anywhere.example")


def test_same_origin_compares_scheme_host_and_port():
    assert guard.same_origin("http://game.example:8080", "game.example:8080")
    assert guard.same_origin("https://Game.Example", "game.example")
    assert not guard.same_origin("http://game.example:8080", "game.example")
    assert not guard.same_origin("ws://game.example", "game.example")
    assert not guard.same_origin("http://game.example", None)


# Headers and saved files --------------------------------------------------------


async def test_the_game_page_has_a_content_security_policy(app):
    response = await app.test_client().get("/")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert (
        policy["frame-ancestors"] == "'none'" and "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


async def test_every_html_response_has_a_policy_and_every_response_nosniff(app):
    missing = await app.test_client().get("/no-such-page")
    assert missing.status_code == 404 and "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]
    labels = await app.test_client().get("/api/labels")
    assert labels.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/gallery/..%2F..%2Fmodel%2Fcurves.png",
        "/gallery/%2E%2E%2Fsaved%2Fsecret.png",
        "/gallery/../../etc/passwd.png",
        "/gallery/20260101T000000-000000000000%00.png",
        "/gallery/20260101T000000-00000000000g.png",
        "/gallery/%2Fetc%2Fpasswd.png",
        "/gallery/..\\..\\model\\curves.png",
        "/gallery/secret.png",
    ],
)
async def test_saved_pictures_are_served_by_server_made_id_only(app, tmp_path, path):
    (tmp_path / "saved").mkdir(exist_ok=True)
    (tmp_path / "saved" / "secret.png").write_bytes(b"not a drawing")
    assert (await app.test_client().get(path)).status_code == 404


async def test_a_saved_picture_is_served_by_its_id(app, tmp_path):
    strokes = [[[0, 10], [0, 10], [0, 5]]]
    drawing_id = SavedDrawingStore(tmp_path / "saved").save({"drawing": strokes}, render_png(strokes), new_id())
    response = await app.test_client().get(f"/gallery/{drawing_id}.png")
    assert response.status_code == 200 and (await response.get_data()).startswith(b"\x89PNG")
