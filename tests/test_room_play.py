"""Rooms over the socket (server/roomplay.py): join, start, race, see the others draw, scores, leave."""

import asyncio
import json

import pytest

from core import sketch
from server import roomplay, rooms
from tests.serving import make_app, receive, send

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}
WAIT_S = 15


@pytest.fixture(autouse=True)
def quick_rounds(monkeypatch):
    monkeypatch.setattr(rooms, "GRACE_MS", 300)
    monkeypatch.setenv("QUICKDRAW_ROOM_BREAK_S", "0.3")


async def next_of(ws, kind: str, **match) -> dict:
    """The next message of ``kind`` whose fields match (others pass by), within WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message = await receive(ws, WAIT_S)
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message


async def both(ws, *kinds: str) -> dict:
    """The next message of each kind, in whatever order they come."""
    seen = {}
    async with asyncio.timeout(WAIT_S):
        while len(seen) < len(kinds):
            message = await receive(ws, WAIT_S)
            if message["type"] in kinds:
                seen.setdefault(message["type"], message)
    return seen


async def seat(ws, name: str, room: str | None = None, id=None) -> dict:
    await send(ws, type="join", name=name, **({"room": room} if room else {}), **({"id": id} if id else {}))
    return await next_of(ws, "room")


async def test_two_players_race_see_each_other_draw_and_finish_a_round(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=8.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        created = await seat(ada, "Ada", id="j1")
        code = created["code"]
        assert rooms.CODE_PATTERN.fullmatch(code) and created["reply_to"] == "j1"
        assert created["host"] == created["you"] and created["state"] == "lobby"
        joined = await seat(bob, "  Bob ", code)
        assert [p["name"] for p in joined["players"]] == ["Ada", "Bob"] and joined["host"] == created["you"]
        update = await next_of(ada, "room", version=joined["version"])  # Ada sees Bob arrive
        assert len(update["players"]) == 2

        await send(bob, type="room_start", id="s1")
        refused = await next_of(bob, "error")
        assert (refused["code"], refused["reply_to"]) == ("not_host", "s1")
        await send(ada, type="room_start")
        for ws in (ada, bob):
            playing = await next_of(ws, "room", state="playing")
            assert playing["round"] == 1 and playing["word"] in app.extensions["quickdraw"].classifier.labels
        rounds = [await next_of(ws, "round", mode="room") for ws in (ada, bob)]
        assert rounds[0]["word"] == rounds[1]["word"] == playing["word"] and rounds[0]["id"] != rounds[1]["id"]

        await send(ada, type="stroke", **LINE)
        seen = await both(bob, "peer_drawing", "peer_guess")  # batched strokes may come after the guess
        assert seen["peer_drawing"]["player"] == seen["peer_guess"]["player"] == created["you"]
        assert seen["peer_drawing"]["ops"] == [["points", [0.0, 50.0, 100.0], [0.0, 40.0, 80.0]], ["stroke_end"]]
        assert seen["peer_guess"]["strokes"] == 1 and len(seen["peer_guess"]["guesses"]) == 3

        await send(ada, type="end")
        await send(bob, type="end")
        second = await next_of(ada, "room", round=2)
        results = second["results"][0]
        assert set(results) == {created["you"], joined["you"]}
        assert all(not r["recognized"] and r["points"] == 0 for r in results.values())
        assert results[created["you"]]["drawing"]  # Ada drew: her round was saved, and the room links it
        assert results[joined["you"]]["drawing"] is None  # Bob drew nothing: nothing saved

        await send(bob, type="leave", id="l1")
        left = await next_of(bob, "room", reply_to="l1")
        assert [p["name"] for p in left["players"]] == ["Ada"]
        alone = await next_of(ada, "room", version=left["version"])
        assert alone["host"] == created["you"] and len(alone["players"]) == 1


async def test_the_first_recognized_drawing_scores(tmp_path, monkeypatch, simplified_drawings):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=8.0, RECOGNITION_THRESHOLD=0.5, LIVE_GUESS_INTERVAL_MS=100_000)
    classifier = app.extensions["quickdraw"].classifier
    record = next(
        r
        for r in simplified_drawings
        if r["word"] in classifier.labels
        and len(r["drawing"]) >= 2
        and classifier.classify(sketch.validate(r["drawing"])).p(r["word"]) >= 0.8
    )
    monkeypatch.setattr(roomplay, "pick_words", lambda labels: [record["word"]] * rooms.ROUNDS)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        code = (await seat(ada, "Ada"))["code"]
        bob_id = (await seat(bob, "Bob", code))["you"]
        await send(ada, type="room_start")
        await next_of(bob, "round", mode="room")
        for stroke in record["drawing"]:
            await send(bob, type="stroke", x=stroke[0], y=stroke[1])
        await next_of(bob, "recognized")
        await send(ada, type="end")
        scored = await next_of(ada, "room", round=2)
    bob_result = scored["results"][0][bob_id]
    assert bob_result["recognized"] and rooms.MIN_POINTS <= bob_result["points"] <= rooms.MAX_POINTS
    assert {p["name"]: p["score"] for p in scored["players"]} == {"Ada": 0, "Bob": bob_result["points"]}


async def test_a_dropped_player_takes_the_seat_back_with_the_token(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada:
        room = await seat(ada, "Ada")
        async with client.websocket("/ws") as bob:
            bob_seat = await seat(bob, "Bob", room["code"])
        async with client.websocket("/ws") as bob_again:
            await send(bob_again, type="join", room=room["code"], player=bob_seat["you"], token=bob_seat["token"])
            back = await next_of(bob_again, "room")
            assert back["you"] == bob_seat["you"] and len(back["players"]) == 2
        async with client.websocket("/ws") as stranger:
            await send(stranger, type="join", room=room["code"], player=bob_seat["you"], token="0" * 32)
            assert (await next_of(stranger, "error"))["code"] == "bad_seat"


@pytest.mark.parametrize(
    "message,code",
    [
        ({"type": "join", "room": "ZZZZZ", "name": "Ada"}, "no_room"),
        ({"type": "join", "room": "not a code", "name": "Ada"}, "no_room"),
        ({"type": "join", "name": "\u200b"}, "bad_name"),
        ({"type": "join", "name": "x" * 25}, "bad_name"),
        ({"type": "join"}, "bad_field"),
        ({"type": "join", "name": 5}, "bad_field"),
        ({"type": "join", "room": "ABCDE", "player": "p1"}, "bad_field"),
        ({"type": "room_start"}, "not_in_room"),
        ({"type": "leave"}, "not_in_room"),
    ],
)
async def test_bad_room_requests_get_a_clear_error_and_change_nothing(tmp_path, message, code):
    app = make_app(tmp_path)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, **message, id="x")
        error = await next_of(ws, "error")
        assert (error["code"], error["reply_to"]) == (code, "x")
        await send(ws, type="start", mode="free")  # and the socket plays on
        assert (await next_of(ws, "round"))["mode"] == "free"


async def test_a_seated_player_cannot_start_a_drawing_of_their_own(tmp_path):
    app = make_app(tmp_path)
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await seat(ws, "Ada")
        await send(ws, type="start", mode="game")
        assert (await next_of(ws, "error"))["code"] == "in_room"


async def test_a_full_room_refuses_the_ninth_player(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    async with app.test_app():
        sockets = [client.websocket("/ws") for _ in range(rooms.MAX_PLAYERS + 1)]
        opened = [await socket.__aenter__() for socket in sockets]
        try:
            code = (await seat(opened[0], "p0"))["code"]
            for i, ws in enumerate(opened[1:-1], start=1):
                await seat(ws, f"p{i}", code)
            await send(opened[-1], type="join", room=code, name="late")
            assert (await next_of(opened[-1], "error"))["code"] == "room_full"
        finally:
            for socket in reversed(sockets):
                await socket.__aexit__(None, None, None)


async def test_players_on_two_instances_share_a_room_through_redis(tmp_path, redis_server):
    shared = {"REDIS_URL": redis_server.url, "SECRET": "both instances", "GAME_TIME_LIMIT_S": 8.0}
    one, two = make_app(tmp_path / "one", **shared), make_app(tmp_path / "two", **shared)
    async with one.test_app(), two.test_app():
        async with one.test_client().websocket("/ws") as ada, two.test_client().websocket("/ws") as bob:
            room = await seat(ada, "Ada")
            bob_seat = await seat(bob, "Bob", room["code"])
            assert len(bob_seat["players"]) == 2
            assert len((await next_of(ada, "room", version=bob_seat["version"]))["players"]) == 2
            await send(ada, type="room_start")
            await next_of(bob, "round", mode="room")
            await next_of(ada, "round", mode="room")
            await send(bob, type="stroke", **LINE)
            seen = await both(ada, "peer_drawing", "peer_guess")  # drawn on one instance, seen on the other
            assert seen["peer_drawing"]["player"] == bob_seat["you"]
        async with one.test_client().websocket("/ws") as bob_again:  # Bob's seat, taken back on the other one
            await send(bob_again, type="join", room=room["code"], player=bob_seat["you"], token=bob_seat["token"])
            assert (await next_of(bob_again, "room"))["you"] == bob_seat["you"]


async def test_rooms_say_so_politely_when_redis_is_down_and_single_play_goes_on(tmp_path):
    from tests.serving import free_port

    app = make_app(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        await send(ws, type="join", name="Ada", id=1)
        error = await next_of(ws, "error")
        assert (error["code"], error["reply_to"]) == ("rooms_unavailable", 1) and "single play" in error["message"]
        await send(ws, type="start", mode="game", word="cat")
        assert (await next_of(ws, "round"))["word"] == "cat"


async def test_a_player_who_drops_mid_round_carries_their_drawing_on_and_it_is_saved_once(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=8.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada:
        code = (await seat(ada, "Ada"))["code"]
        async with client.websocket("/ws") as bob:
            bob_seat = await seat(bob, "Bob", code)
            await send(ada, type="room_start")
            first = await next_of(bob, "round", mode="room")
            await send(bob, type="stroke", **LINE)
            await next_of(bob, "guess", live=False)
        async with client.websocket("/ws") as bob:  # back, with the seat and the round's drawing
            await send(
                bob,
                type="join",
                room=code,
                player=bob_seat["you"],
                token=bob_seat["token"],
                drawing=first["id"],
                drawing_token=first["resume_token"],
            )
            again = await next_of(bob, "round", mode="room")
            assert again["id"] == first["id"] and again["elapsed_ms"] > 0  # the same drawing, the round's clock
            for _ in range(2):  # the stroke drawn before the drop (replayed from the screen), and one more
                await send(bob, type="stroke", **LINE)
            await send(bob, type="end")
            saved = await next_of(bob, "saved")
            assert saved["id"] == first["id"] and saved["strokes"] == 2
        await send(ada, type="end")
        over = await next_of(ada, "room", round=2)
    assert over["results"][0][bob_seat["you"]]["drawing"] == first["id"]
    # Only Bob drew: one record, under the round's id, the later and whole version (saved at the drop, then again).
    assert [path.stem for path in (tmp_path / "saved").glob("*.ndjson")] == [first["id"]]
    record = json.loads((tmp_path / "saved" / f"{first['id']}.ndjson").read_text())
    assert record["mode"] == "room" and len(record["drawing"]) == 2


async def test_a_drawing_that_cannot_be_carried_on_starts_afresh(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=8.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada:
        code = (await seat(ada, "Ada"))["code"]
        async with client.websocket("/ws") as bob:
            bob_seat = await seat(bob, "Bob", code)
            await send(ada, type="room_start")
            first = await next_of(bob, "round", mode="room")
        async with client.websocket("/ws") as bob:
            fields = {"player": bob_seat["you"], "token": bob_seat["token"], "drawing": first["id"]}
            await send(bob, type="join", room=code, drawing_token="f" * 32, **fields)
            fresh = await next_of(bob, "round", mode="room")
            assert fresh["id"] != first["id"] and fresh["elapsed_ms"] > 0  # on the round's clock


async def test_a_player_who_floods_is_closed_and_the_room_plays_on(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=8.0, MESSAGES_PER_SECOND=20.0, MESSAGE_BURST=40, MAX_REFUSED_MESSAGES=5)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        code = (await seat(ada, "Ada"))["code"]
        await seat(bob, "Bob", code)
        await send(ada, type="room_start")
        await next_of(ada, "round", mode="room")
        await next_of(bob, "round", mode="room")
        for _ in range(60):  # far past the burst and the refusals
            await send(bob, type="points", **LINE)
        assert (await next_of(bob, "closing"))["code"] == 1008
        await send(ada, type="stroke", **LINE)  # Ada draws on, answered as ever
        assert (await next_of(ada, "guess", live=False))["strokes"] == 1
        await send(ada, type="end")
        assert (await next_of(ada, "saved"))["mode"] == "room"


async def test_a_second_join_from_a_seated_socket_is_refused_and_leaves_no_ghost(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=60.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        code = (await seat(ada, "Ada"))["code"]
        bob_seat = await seat(bob, "Bob", code)
        for again in (
            {"room": code, "name": "Bob2"},
            {"room": code, "player": bob_seat["you"], "token": bob_seat["token"]},
        ):
            await send(bob, type="join", **again, id="again")
            error = await next_of(bob, "error")
            assert (error["code"], error["reply_to"]) == ("in_room", "again")
        await send(ada, type="room_start")
        started = await next_of(ada, "room", state="playing")
        assert len(started["players"]) == 2  # no ghost seat
        for ws in (ada, bob):
            await next_of(ws, "round", mode="room")
            await send(ws, type="stroke", **LINE)
            await send(ws, type="end")
        # Both are done: the next round begins after the break, not after the 60 s clock waiting for a ghost.
        assert (await next_of(ada, "room", round=2))["state"] == "playing"


async def test_a_player_who_switches_rooms_sends_nothing_of_the_old_round_to_the_new_room(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=60.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        code_a = (await seat(ada, "Ada"))["code"]
        await seat(bob, "Bob", code_a)
        await send(ada, type="room_start")
        first = await next_of(ada, "round", mode="room")
        await send(ada, type="stroke", **LINE)
        await next_of(ada, "guess", live=False)
        async with client.websocket("/ws") as cy:
            code_b = (await seat(cy, "Cy"))["code"]
            await send(ada, type="join", room=code_b, name="Ada")  # still seated in A: refused
            assert (await next_of(ada, "error"))["code"] == "in_room"
            await send(ada, type="leave", id="bye")
            saved = await next_of(ada, "saved")  # the round's drawing ends with the seat: saved first
            assert (saved["id"], saved["strokes"], saved["mode"]) == (first["id"], 1, "room")
            assert (await next_of(ada, "room"))["reply_to"] == "bye"
            await seat(ada, "Ada", code_b)
            await send(ada, type="stroke", **LINE, id="late")  # the old round's drawing is gone
            assert (await next_of(ada, "error"))["code"] == "no_drawing"
            await send(cy, type="ping", id="p")
            seen = []
            while (message := await receive(cy, WAIT_S))["type"] != "pong":
                seen.append(message["type"])
            assert "peer_drawing" not in seen and "peer_guess" not in seen
    assert [path.stem for path in (tmp_path / "saved").glob("*.ndjson")] == [first["id"]]


async def test_the_last_points_of_a_stroke_that_crossed_a_win_keep_their_round(
    tmp_path, monkeypatch, simplified_drawings
):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=60.0, RECOGNITION_THRESHOLD=0.5, LIVE_GUESS_INTERVAL_MS=20)
    classifier = app.extensions["quickdraw"].classifier
    record = next(
        r
        for r in simplified_drawings
        if r["word"] in classifier.labels
        and len(r["drawing"]) >= 2
        and classifier.classify(sketch.validate(r["drawing"])).p(r["word"]) >= 0.9
        and classifier.classify(sketch.validate(r["drawing"][:-1])).p(r["word"]) < 0.2  # won by its last stroke
    )
    monkeypatch.setattr(roomplay, "pick_words", lambda labels: [record["word"]] * rooms.ROUNDS)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada, client.websocket("/ws") as bob:
        code = (await seat(ada, "Ada"))["code"]
        await seat(bob, "Bob", code)
        await send(ada, type="room_start")
        await next_of(bob, "round", mode="room")
        await next_of(ada, "round", mode="room")
        await send(ada, type="end")  # Ada is done: Bob's win ends the round at once
        *strokes, last = record["drawing"]
        for stroke in strokes:
            await send(bob, type="stroke", x=stroke[0], y=stroke[1])
        for i in range(len(last[0])):  # the last stroke point by point: a live guess wins while it is open
            await send(bob, type="points", x=last[0][i : i + 1], y=last[1][i : i + 1])
        for k in range(5):  # and the pen goes on a little past the win
            await send(bob, type="points", x=[k], y=[k])
        assert (await next_of(bob, "recognized"))["strokes"] == len(strokes)  # won with the last stroke open
        ops_by_round = {}
        while (message := await receive(ada, WAIT_S))["type"] != "round":  # until round 2's drawing opens
            if message["type"] == "peer_drawing":
                ops_by_round.setdefault(message["round"], []).extend(message["ops"])
    assert set(ops_by_round) == {1} and ops_by_round[1][0][0] == "points"


async def test_a_round_does_not_wait_for_a_player_who_dropped_and_the_seat_comes_back(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=60.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada:
        code = (await seat(ada, "Ada"))["code"]
        async with client.websocket("/ws") as bob:
            bob_seat = await seat(bob, "Bob", code)
            await send(ada, type="room_start")
            await next_of(bob, "round", mode="room")
            await next_of(ada, "round", mode="room")
        away = await next_of(ada, "room", state="playing")
        while not any(p["away"] for p in away["players"]):
            away = await next_of(ada, "room")
        assert [p["away"] for p in away["players"]] == [False, True] and len(away["players"]) == 2
        await send(ada, type="stroke", **LINE)
        await send(ada, type="end")
        second = await next_of(ada, "room", round=2)  # at once: the 60 s clock is not waited out for Bob
        assert second["results"][0][bob_seat["you"]]["recognized"] is False
        async with client.websocket("/ws") as bob:  # the same link again, after the start: the seat comes back
            await send(bob, type="join", room=code, player=bob_seat["you"], token=bob_seat["token"])
            back = await next_of(bob, "room")
            assert back["you"] == bob_seat["you"] and not any(p["away"] for p in back["players"])
            late = await next_of(bob, "round", mode="room")
            assert late["word"] == second["word"] and 0 <= late["elapsed_ms"] < 60_000


async def test_a_rejoin_gives_everyone_one_picture_of_the_round(tmp_path):
    app = make_app(tmp_path, GAME_TIME_LIMIT_S=60.0, RECOGNITION_THRESHOLD=1.0)
    client = app.test_client()
    async with app.test_app(), client.websocket("/ws") as ada:
        code = (await seat(ada, "Ada"))["code"]
        async with client.websocket("/ws") as bob:
            bob_seat = await seat(bob, "Bob", code)
            await send(ada, type="room_start")
            first = await next_of(bob, "round", mode="room")
            await next_of(ada, "round", mode="room")
            await send(bob, type="stroke", **LINE)
            await next_of(bob, "guess", live=False)
        await send(ada, type="stroke", x=[5, 6, 7], y=[1, 2, 3])  # drawn while Bob is away
        await next_of(ada, "guess", live=False)
        async with client.websocket("/ws") as bob:
            carry = {"drawing": first["id"], "drawing_token": first["resume_token"]}
            await send(bob, type="join", room=code, player=bob_seat["you"], token=bob_seat["token"], **carry)
            ada_id = (await next_of(bob, "room"))["players"][0]["id"]
            again = await next_of(bob, "round", mode="room")
            assert again["id"] == first["id"] and again["elapsed_ms"] > 0
            whole = await next_of(bob, "peer_drawing", player=ada_id)
            assert whole["ops"] == [["clear"], ["points", [5.0, 6.0, 7.0], [1.0, 2.0, 3.0]], ["stroke_end"]]
            cleared = await next_of(ada, "peer_drawing", player=bob_seat["you"])
            assert cleared["ops"][0] == ["clear"] and cleared["round"] == 1
