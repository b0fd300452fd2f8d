"""A room across two real instances behind nginx with Redis: one instance stopped mid-round (SIGTERM) sends its
player to the other, who carries the round's drawing on; the room goes on; every drawing is stored once."""

import asyncio
import json
import signal
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import skip_unless_required
from tests.serving import NGINX, Balancer, Server

LINE = {"x": [0, 50, 100], "y": [0, 40, 80]}
WAIT_S = 30

if not Path(NGINX).is_file():
    skip_unless_required("nginx", "no nginx (install Debian's nginx-light: `make browser` as root)")


async def next_of(ws, kind: str, **match) -> dict:
    async with asyncio.timeout(WAIT_S):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message


async def send(ws, **message) -> None:
    await ws.send(json.dumps(message))


async def test_an_instance_stopped_mid_round_sends_its_player_elsewhere_and_the_room_goes_on(tmp_path, redis_server):
    saved = tmp_path / "saved"
    shared = {"secret": "both", "redis_url": redis_server.url, "room_break_s": 0.3, "recognition_threshold": 1.0}
    instances = [Server(tmp_path, saved, game_time_limit_s=20, **shared).start() for _ in range(2)]
    balancer = Balancer(tmp_path, [server.port for server in instances])
    try:
        async with connect(balancer.url) as ada:
            await send(ada, type="join", name="Ada")
            code = (await next_of(ada, "room"))["code"]
            [adas] = [server for server in instances if await asyncio.to_thread(server.open_sockets) == 1]
            bob = await connect(balancer.url)  # least_conn: the other instance
            await send(bob, type="join", room=code, name="Bob")
            bob_seat = await next_of(bob, "room")
            await send(ada, type="room_start")
            first = await next_of(bob, "round", mode="room")
            await next_of(ada, "round", mode="room")
            await send(bob, type="stroke", **LINE)
            await next_of(bob, "guess", live=False)

            # Stop the instance that holds Bob (the one Ada is not on): he is told, then closed with 1001.
            [bobs] = [server for server in instances if server is not adas]
            assert await asyncio.to_thread(bobs.open_sockets) == 1
            bobs.process.send_signal(signal.SIGTERM)
            closing = await next_of(bob, "closing")
            assert closing["code"] == 1001
            try:
                await asyncio.wait_for(bob.recv(), WAIT_S)
            except ConnectionClosed:
                pass

            async with connect(balancer.url) as bob:  # nginx sends him to the instance still up
                seat = {"player": bob_seat["you"], "token": bob_seat["token"]}
                carried = {"drawing": first["id"], "drawing_token": first["resume_token"]}
                await send(bob, type="join", room=code, **seat, **carried)
                again = await next_of(bob, "round", mode="room")
                assert again["id"] == first["id"] and again["elapsed_ms"] > 0
                for _ in range(2):
                    await send(bob, type="stroke", **LINE)
                await send(bob, type="end")
                assert (await next_of(bob, "saved"))["id"] == first["id"]
                await send(ada, type="end")
                for ws in (ada, bob):  # the room went on: round 2 for both
                    assert (await next_of(ws, "room", round=2))["results"][0][bob_seat["you"]]["drawing"]
    finally:
        balancer.stop()
        for server in instances:
            server.stop()
    # Only Bob drew: his drawing, saved by the stopped instance and again when he finished, is stored once, whole.
    assert [path.stem for path in saved.glob("*.ndjson")] == [first["id"]]
    bob_record = json.loads((saved / f"{first['id']}.ndjson").read_text())
    assert bob_record["mode"] == "room" and len(bob_record["drawing"]) == 2
