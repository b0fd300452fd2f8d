"""The HTTP API beside the socket: saved drawings as JSON and PNG, paging, and errors in the socket's JSON shape."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from core.records import new_id
from server import create_app, protocol
from server.store import render_png
from tests.conftest import FakeClassifier

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
UNSAVED = "20260102T030405-0123456789ab"  # well-formed, never saved


def drawing_record(i: int) -> dict:
    """A raw-format record as the game saves it."""
    return {
        "word": "banana" if i % 2 else "cat",
        "countrycode": None,
        "timestamp": f"2026-01-02 03:04:{i % 60:02d}.000000 UTC",
        "recognized": i % 2 == 1,
        "key_id": str(1000 + i),
        "drawing": [[[0, 40 + i, 80], [0, 60, 10], [0, 50, 100]]],
        "mode": "game",
        "guesses": [{"word": f"guess{i}", "p": 0.875}],
    }


def save_drawings(app, count: int) -> list[str]:
    """Store `count` drawings one second apart (oldest first) where ``app`` keeps them; returns their ids."""
    store = app.extensions["quickdraw"].store
    return [
        store.save(drawing_record(i), render_png(drawing_record(i)["drawing"]), new_id(START + timedelta(seconds=i)))
        for i in range(count)
    ]


async def error_of(response, status: int, code: protocol.ErrorCode) -> dict:
    """The body of an error response, checked to be exactly the socket's ``error`` shape."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = await response.get_json()
    assert body["type"] == "error" and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body == protocol.Error(code, body["message"]).to_json()  # exactly what the socket would send
    return body


async def test_a_saved_drawing_reads_back_as_its_record(app, client):
    [drawing_id] = save_drawings(app, 1)
    response = await client.get(f"/api/drawings/{drawing_id}")
    assert response.status_code == 200
    assert await response.get_json() == {
        **drawing_record(0),
        "id": drawing_id,
        "png_url": f"/api/drawings/{drawing_id}.png",
    }


async def test_a_saved_drawing_png_is_the_gallery_picture(app, client):
    [drawing_id] = save_drawings(app, 1)
    response = await client.get(f"/api/drawings/{drawing_id}.png")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    data = await response.get_data()
    assert data.startswith(PNG_MAGIC)
    assert data == (app.extensions["quickdraw"].store.directory / f"{drawing_id}.png").read_bytes()
    assert await (await client.get(f"/gallery/{drawing_id}.png")).get_data() == data


async def test_the_listing_is_newest_first_with_links(app, client):
    ids = save_drawings(app, 3)
    response = await client.get("/api/drawings")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["next"] is None
    assert [d["id"] for d in body["drawings"]] == ids[::-1]
    assert body["drawings"][0] == {
        "id": ids[2],
        "word": "cat",
        "mode": "game",
        "recognized": False,
        "timestamp": "2026-01-02 03:04:02.000000 UTC",
        "guesses": [{"word": "guess2", "p": 0.875}],
        "record_url": f"/api/drawings/{ids[2]}",
        "png_url": f"/api/drawings/{ids[2]}.png",
    }
    for listed in body["drawings"]:  # every link answers
        assert (await client.get(listed["record_url"])).status_code == 200
        assert (await client.get(listed["png_url"])).status_code == 200


async def test_an_empty_listing(client):
    response = await client.get("/api/drawings")
    assert await response.get_json() == {"drawings": [], "next": None}


async def test_the_listing_pages_through_next(app, client):
    ids = save_drawings(app, 5)[::-1]
    first = await (await client.get("/api/drawings?limit=2")).get_json()
    assert [d["id"] for d in first["drawings"]] == ids[:2]
    assert first["next"] == "/api/drawings?limit=2&offset=2"
    second = await (await client.get(first["next"])).get_json()
    assert [d["id"] for d in second["drawings"]] == ids[2:4]
    assert second["next"] == "/api/drawings?limit=2&offset=4"
    last = await (await client.get(second["next"])).get_json()
    assert [d["id"] for d in last["drawings"]] == ids[4:]
    assert last["next"] is None


async def test_an_exact_last_page_has_no_next(app, client):
    ids = save_drawings(app, 4)[::-1]
    body = await (await client.get("/api/drawings?limit=2&offset=2")).get_json()
    assert [d["id"] for d in body["drawings"]] == ids[2:] and body["next"] is None
    past = await (await client.get("/api/drawings?offset=100")).get_json()
    assert past == {"drawings": [], "next": None}


async def test_the_listing_limit_defaults_to_24_and_allows_100(app, client):
    save_drawings(app, 25)
    body = await (await client.get("/api/drawings")).get_json()
    assert len(body["drawings"]) == 24 and body["next"] == "/api/drawings?limit=24&offset=24"
    body = await (await client.get("/api/drawings?limit=100&offset=0")).get_json()
    assert len(body["drawings"]) == 25 and body["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=007",
        "limit=%D9%A3",  # an Arabic-Indic three: int() would take it
        "limit=%203",
        "limit=%2B3",
        "limit=" + "9" * 5000,
        "offset=-1",
        "offset=x",
        "offset=1000000000",
        "limit=2&offset=1e3",
    ],
)
async def test_bad_limit_or_offset_is_400_bad_field(app, client, query):
    save_drawings(app, 1)
    body = await error_of(await client.get(f"/api/drawings?{query}"), 400, protocol.ErrorCode.BAD_FIELD)
    assert ("limit" if query.startswith("limit") and "offset" not in query else "offset") in body["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/drawings/{UNSAVED}",
        f"/api/drawings/{UNSAVED}.png",
        "/api/drawings/not-an-id",
        "/api/drawings/..%2Fx",
        "/api/drawings/../x",
        "/api/drawings/%2e%2e",
        "/api/drawings/" + UNSAVED.upper(),  # ids are lower-case hex
        f"/api/drawings/{UNSAVED}.ndjson",
        "/api/drawings/" + "1" * 500,
        "/api/drawings/" + "1" * 500 + ".png",
        "/api/drawings/.png",
        "/api/nothing",
    ],
)
async def test_missing_or_malformed_ids_are_404_not_found(app, client, path):
    save_drawings(app, 1)
    (app.extensions["quickdraw"].store.directory / "secret.ndjson").write_text('{"word": "secret"}\n')
    response = await client.get(path)
    await error_of(response, 404, protocol.ErrorCode.NOT_FOUND)
    assert b"secret" not in await response.get_data()


async def test_an_unreadable_record_is_404(app, client):
    [drawing_id] = save_drawings(app, 1)
    (app.extensions["quickdraw"].store.directory / f"{drawing_id}.ndjson").write_text("{not json")
    await error_of(await client.get(f"/api/drawings/{drawing_id}"), 404, protocol.ErrorCode.NOT_FOUND)


async def test_a_body_over_the_limit_is_413_in_json(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path / "saved"), "MAX_BODY_BYTES": 100}, FakeClassifier())
    response = await app.test_client().post("/api/guess", json={"drawing": [[[1] * 100, [1] * 100]]})
    await error_of(response, 413, protocol.ErrorCode.BODY_TOO_LARGE)


async def test_a_body_under_the_limit_is_still_guessed(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path / "saved"), "MAX_BODY_BYTES": 100}, FakeClassifier())
    response = await app.test_client().post("/api/guess", json={"drawing": [[[1, 2], [1, 2]]]})
    assert response.status_code == 200
    assert (await response.get_json())["guesses"][0] == {"word": "banana", "p": 0.9}


async def test_a_guess_stroke_over_the_message_limit_is_400_too_many_points(client):
    """A stroke comes whole, as in a socket's ``stroke`` message: 1,024 points at most, not the 4,096 of a stroke."""
    stroke = list(range(1025))
    response = await client.post("/api/guess", json={"drawing": [[stroke, stroke]]})
    body = await error_of(response, 400, protocol.ErrorCode.TOO_MANY_POINTS)
    assert "1024" in body["message"]
    response = await client.post("/api/guess", json={"drawing": [[stroke[:1024], stroke[:1024]]]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "method, path, allowed",
    [("GET", "/api/guess", "POST"), ("POST", "/api/labels", "GET"), ("DELETE", f"/api/drawings/{UNSAVED}", "GET")],
)
async def test_a_wrong_method_is_405_in_json_with_allow(client, method, path, allowed):
    response = await client.open(path, method=method)
    await error_of(response, 405, protocol.ErrorCode.METHOD_NOT_ALLOWED)
    assert allowed in response.headers["Allow"]


class BrokenClassifier(FakeClassifier):
    async def predict(self, drawing):
        raise RuntimeError("injected fault with a secret")


async def test_a_server_fault_is_500_internal_error_without_details(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path / "saved")}, BrokenClassifier())
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as when serving; tests otherwise re-raise
    response = await app.test_client().post("/api/guess", json={"drawing": [[[1, 2], [1, 2]]]})
    body = await error_of(response, 500, protocol.ErrorCode.INTERNAL_ERROR)
    assert "secret" not in json.dumps(body)


@pytest.mark.parametrize("method, path, status", [("GET", "/gallery/nothing.png", 404), ("POST", "/gallery", 405)])
async def test_errors_outside_api_stay_html(client, method, path, status):
    response = await client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "text/html"
