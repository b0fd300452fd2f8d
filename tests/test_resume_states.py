"""Single drawings dropped and resumed at random points, with random ``elapsed_ms`` (Hypothesis stateful).

Whatever the drops and the clocks did, the store ends up with every drawing once and whole: the version with
the most points of each id (PROTOCOL.md, "Reconnecting"). This module also holds what test_room_states.py
plays rooms with: a state machine that owns an event loop and the apps under test, sockets whose every message
is kept in a log, and a model of each drawing as the server accepted it, message by message.
"""

import asyncio
import itertools
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.serving import make_app

WAIT_S = 5.0  # every wait for the server is bounded: what has not come by then is a failure
STEP_S = 60.0  # one rule or one invariant, whole
MAX_DRAWING_S = 60  # a resume that says more time than this was spent is refused (bad_resume)
TIME_LIMIT_S = 20.0  # a resumed game round past it times out at once
WORDS = ["banana", "cat", "house"]
QUIET = {  # nothing in these examples may be refused for flooding or close a socket
    "MAX_REFUSED_MESSAGES": 100_000,
    "MESSAGES_PER_SECOND": 100_000.0,
    "MESSAGE_BURST": 100_000,
    "LIVE_GUESS_INTERVAL_MS": 20,
}
_ids = itertools.count(1)  # message ids, unique across sockets

Stroke = tuple[list[float], list[float]]  # x, y as the client sent them
coordinates = st.integers(-80, 2400).map(lambda v: v / 8)  # eighths: rounding to 0.1 has work to do
points = st.lists(st.tuples(coordinates, coordinates), min_size=1, max_size=5).map(
    lambda pairs: ([x for x, _ in pairs], [y for _, y in pairs])
)
operation = st.one_of(
    points.map(lambda p: ("points", *p)),
    points.map(lambda p: ("stroke", *p)),
    st.sampled_from([("stroke_end",), ("undo",), ("clear",)]),
)
operations = st.lists(operation, min_size=1, max_size=6)


async def until(condition, seconds: float = WAIT_S) -> bool:
    """Let the server work until ``condition()`` holds; False if it did not within ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def count(strokes: list[Stroke]) -> int:
    return sum(len(xs) for xs, _ in strokes)


def message_of(op: tuple) -> dict:
    if op[0] in ("points", "stroke"):
        return {"type": op[0], "x": op[1], "y": op[2]}
    return {"type": op[0]}


@dataclass(eq=False)
class Sketch:
    """One drawing id: the picture on the client's screen and every version of it the store was given."""

    id: str
    mode: str
    word: str | None
    token: str
    screen: list[Stroke] = field(default_factory=list)  # what the client sends again after a reconnect
    versions: list[list[Stroke]] = field(default_factory=list)  # in the order they were saved
    live: "Client | None" = None  # the socket holding the newest copy

    def stored(self) -> list[Stroke] | None:
        """The version the store must keep: the one with the most points; of equals, the later."""
        best = None
        for version in self.versions:
            if best is None or count(version) >= count(best):
                best = version
        return best


class Client:
    """One socket. A reader task keeps every message in ``log`` beside what was sent, in the order it happened,
    so a check knows what came after what; the server's copy of the drawing it holds is modelled here."""

    def __init__(self, app, instance: int = 0):
        self.instance = instance
        self.connection = app.test_client().websocket("/ws")
        self.log: list[tuple[str, dict]] = []  # ("out" | "in", message)
        self.read = 0  # how far the model has digested the log
        self.sketch: Sketch | None = None  # the drawing this socket's session holds, or held last
        self.strokes: list[Stroke] = []  # the server's copy of it here: completed strokes…
        self.open: Stroke | None = None  # …and the stroke being drawn
        self.holding = False  # that copy is open: its final message has not come
        self.over = False  # the server ended it (recognized, timed out): drawing messages get drawing_ended
        self.ending = False  # the client ended it (end, leave): a late win no longer makes it over
        self.closed = False

    async def open_socket(self) -> "Client":
        self.ws = await self.connection.__aenter__()
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            try:
                raw = await self.ws.receive()
            except Exception:  # the socket is gone
                return
            self.log.append(("in", json.loads(raw)))

    async def send(self, **message) -> int:
        message["id"] = next(_ids)
        self.log.append(("out", message))
        await self.ws.send(json.dumps(message))
        return message["id"]

    def answer(self, reply_to: int) -> dict | None:
        return next((m for d, m in self.log if d == "in" and m.get("reply_to") == reply_to), None)

    def position(self, reply_to: int) -> int:
        return next(i for i, (d, m) in enumerate(self.log) if d == "in" and m.get("reply_to") == reply_to)

    def received(self, kind: str, **match) -> list[dict]:
        return [m for d, m in self.log if d == "in" and m["type"] == kind and m.items() >= match.items()]

    async def sync(self) -> None:
        """Every message sent so far has been read and answered: answers come in order, so after the pong."""
        ping = await self.send(type="ping")
        assert await until(lambda: self.answer(ping) is not None), f"no pong on socket {self.instance}"

    async def close(self) -> None:
        """Drop the socket (after the server read everything: a drop loses nothing sent before it)."""
        await self.sync()
        self.closed = True
        await self.connection.__aexit__(None, None, None)
        self.reader.cancel()

    # The server's copy of the drawing held here ---------------------------------------------------

    def content(self) -> list[Stroke]:
        return self.strokes + ([self.open] if self.open else [])

    def predict(self, op: tuple) -> tuple | None:
        """The answer the server owes for ``op`` on an open drawing: ("guess", strokes), ("error", code), None."""
        kind = op[0]
        if kind == "points":
            return None
        if kind == "stroke_end" and not self.open or kind == "undo" and not self.open and not self.strokes:
            return ("error", "no_stroke")
        after = {"stroke": len(self.strokes) + bool(self.open) + 1, "stroke_end": len(self.strokes) + 1, "clear": 0}
        return ("guess", after.get(kind, len(self.strokes) - (0 if self.open else 1)))

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "points":
            self.open = (self.open[0] + op[1], self.open[1] + op[2]) if self.open else (op[1], op[2])
        elif kind in ("stroke", "stroke_end"):
            self.strokes = self.strokes + ([self.open] if self.open else [])
            self.open = None
            if kind == "stroke":
                self.strokes = self.strokes + [(op[1], op[2])]
        elif kind == "undo":
            self.strokes, self.open = (self.strokes, None) if self.open else (self.strokes[:-1], None)
        elif kind == "clear":
            self.strokes, self.open = [], None


def ended_by_server(client: Client) -> bool:
    sketch = client.sketch
    return sketch is not None and any(
        m["type"] in ("recognized", "timeout") and m["drawing"] == sketch.id for d, m in client.log if d == "in"
    )


async def play(client: Client, ops: list[tuple], replay: bool = False) -> None:
    """Send ``ops`` back to back, then check each answer against the model and apply the ones accepted.

    A drawing the server ends meanwhile (a win, the clock) refuses the rest with drawing_ended. ``replay``:
    the strokes a client sends again after a reconnect, which do not change its screen.
    """
    sent = [(op, await client.send(**message_of(op))) for op in ops]
    await client.sync()
    ended = client.over or not client.holding
    for op, reply in sent:
        answer = client.answer(reply)
        if not ended and answer is not None and answer.get("code") == "drawing_ended":
            assert ended_by_server(client), f"drawing_ended with no recognized or timeout: {op[0]}"
            event("a drawing ended by the server mid-sequence")
            ended = client.over = True
        if ended:
            code = "drawing_ended" if client.over else "no_drawing"
            assert answer is not None and answer.get("code") == code, (op[0], answer, code)
            continue
        expected = client.predict(op)
        if expected is None:
            assert answer is None, (op, answer)
        elif expected[0] == "error":
            assert answer is not None and answer.get("code") == expected[1], (op[0], answer, expected)
            continue
        else:
            assert answer is not None and answer["type"] == "guess", (op[0], answer)
            assert (answer["strokes"], answer["drawing"], answer["live"]) == (expected[1], client.sketch.id, False)
        client.apply(op)
        if not replay:
            client.sketch.screen = client.content()


def stored(saved_dir: Path) -> dict[str, tuple]:
    """Every record in the saved directory: id → (word, mode, strokes as [x…], [y…])."""
    records = {}
    for path in saved_dir.glob("*.ndjson"):
        if not path.name.startswith(".tmp-"):
            record = json.loads(path.read_text())
            records[path.stem] = (record["word"], record["mode"], [(s[0], s[1]) for s in record["drawing"]])
    return records


class AsyncMachine(RuleBasedStateMachine):
    """A state machine that owns an event loop and ``INSTANCES`` apps saving into one directory.

    Hypothesis calls rules synchronously: each runs its coroutine to the end on the machine's loop, so the
    server works only inside a rule or an invariant, and what is pending waits for the next one.
    """

    INSTANCES = 1
    BASE: Path  # a pytest temporary directory, set by the test
    SETTINGS: dict = {}
    CLIENT = Client

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        folder = Path(tempfile.mkdtemp(dir=self.BASE))
        self.saved_dir = folder / "saved"
        self.apps = [make_app(folder, **QUIET, **self.SETTINGS) for _ in range(self.INSTANCES)]
        self.contexts = [app.test_app() for app in self.apps]
        self.clients: list[Client] = []
        self.sketches: dict[str, Sketch] = {}
        for context in self.contexts:
            self.run(context.__aenter__())

    def run(self, coroutine):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, STEP_S))

    async def connect(self, instance: int) -> Client:
        client = await self.CLIENT(self.apps[instance % self.INSTANCES], instance % self.INSTANCES).open_socket()
        self.clients.append(client)
        return client

    def teardown(self):
        async def close():
            for client in self.clients:
                if not client.closed:
                    client.closed = True
                    await self.connection_gone(client)
            await self.quiet()
            for context in reversed(self.contexts):
                await context.__aexit__(None, None, None)

        try:
            self.run(close())
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()

            async def cancelled():
                if pending:
                    _, stuck = await asyncio.wait(pending, timeout=WAIT_S)
                    assert not stuck, f"tasks that ignore their cancellation: {stuck}"

            self.loop.run_until_complete(cancelled())
            self.loop.close()

    async def quiet(self) -> None:
        """Before the apps stop: what the closed sockets left running is done."""

    async def connection_gone(self, client: Client) -> None:
        await client.connection.__aexit__(None, None, None)
        client.reader.cancel()

    # The model, from what each socket received -------------------------------------------------

    async def settle(self) -> None:
        """Every socket has had everything it sent answered, and the model has read it all."""
        live = [client for client in self.clients if not client.closed]
        await asyncio.gather(*(client.sync() for client in live))
        for client in live:
            self.digest(client)

    def digest_all(self) -> None:
        """Read what came meanwhile (between syncs: for conditions waited on)."""
        for client in self.clients:
            self.digest(client)

    def digest(self, client: Client) -> None:
        while client.read < len(client.log):
            direction, message = client.log[client.read]
            client.read += 1
            if direction == "in":
                self.on_message(client, message)
            else:
                self.on_sent(client, message)

    def on_sent(self, client: Client, message: dict) -> None:
        pass

    def on_message(self, client: Client, message: dict) -> None:
        kind = message["type"]
        if kind == "round":
            self.opened(client, message)
        elif kind in ("recognized", "timeout"):
            assert client.holding and client.sketch.id == message["drawing"], message
            event(f"{kind}")
            client.over = not client.ending
        elif kind in ("saved", "not_saved"):
            self.finished(client, message)
        elif kind == "closing" or kind == "error" and message["reply_to"] is None:
            raise AssertionError(f"unasked for: {message}")

    def opened(self, client: Client, message: dict) -> None:
        """A drawing begins on this socket (new, or carried on under its id): the server's copy starts empty."""
        assert not client.holding, f"a new drawing before the last one's final message: {message}"
        sketch = self.sketches.setdefault(
            message["id"], Sketch(message["id"], message["mode"], message["word"], message["resume_token"])
        )
        assert (message["mode"], message["word"], message["resume_token"]) == (sketch.mode, sketch.word, sketch.token)
        client.sketch, client.strokes, client.open = sketch, [], None
        client.holding, client.over, client.ending = True, False, False
        sketch.live = client

    def finished(self, client: Client, message: dict) -> None:
        """A drawing's one final message: the version the store was given."""
        assert client.holding and client.sketch.id == message["id"], (message, client.sketch)
        content = client.content()
        if message["type"] == "saved":
            assert content and message["strokes"] == len(content), (message, len(content))
            client.sketch.versions.append(content)
        else:
            assert not content and message["reason"] == "empty", message
        client.holding = False

    def dropped(self, client: Client) -> None:
        """The socket closed: the server saved its open drawing, and no final message could come."""
        if client.holding:
            if client.content():
                client.sketch.versions.append(client.content())
            client.holding = False

    async def check_store(self) -> None:
        """Every drawing stored once, whole: one record per id that had strokes, the version the store keeps."""
        expected = {
            s.id: (s.word, s.mode, [(list(x), list(y)) for x, y in s.stored()])
            for s in self.sketches.values()
            if s.stored()
        }
        if not await until(lambda: stored(self.saved_dir) == expected):
            found = stored(self.saved_dir)
            assert found.keys() == expected.keys(), f"records {sorted(found)} for drawings {sorted(expected)}"
            for key in expected:
                assert found[key] == expected[key], f"drawing {key}: stored {found[key]}, drawn {expected[key]}"


def run_machine(machine: type[AsyncMachine], base: Path, examples: int, steps: int, **attributes) -> None:
    class Configured(machine):
        pass

    Configured.BASE = base
    for name, value in attributes.items():
        setattr(Configured, name, value)
    Configured.__name__ = machine.__name__
    run_state_machine_as_test(
        Configured,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# The single-drawing machine --------------------------------------------------------------------

elapsed = st.one_of(
    st.integers(0, (MAX_DRAWING_S + 5) * 1000),
    st.sampled_from([0, 1, round(TIME_LIMIT_S * 1000) - 1, round(TIME_LIMIT_S * 1000), MAX_DRAWING_S * 1000]),
)


class Resumes(AsyncMachine):
    """One player's drawings: start, draw, end, drop, resume (after a drop, or from a second socket while the
    first still holds the drawing: a reload) with any ``elapsed_ms``, on either instance."""

    SETTINGS = {"MAX_DRAWING_S": float(MAX_DRAWING_S), "GAME_TIME_LIMIT_S": TIME_LIMIT_S}

    def __init__(self):
        super().__init__()
        self.client: Client | None = None
        self.screen: Sketch | None = None  # the drawing on the player's screen

    @precondition(lambda self: self.client is None or not self.client.holding or self.screen is None)
    @rule(mode=st.sampled_from(["free", "game"]), word=st.sampled_from([None, *WORDS]), on=st.integers(0, 1))
    def start(self, mode, word, on):
        async def start():
            if self.client is None:
                self.client = await self.connect(on)
            if self.client.holding:
                self.client.ending = True  # a new start ends the drawing before it
            reply = await self.client.send(type="start", mode=mode, **({"word": word} if word else {}))
            await self.settle()
            begun = self.client.answer(reply)
            assert begun["type"] == "round" and (begun["mode"], begun["elapsed_ms"]) == (mode, 0), begun
            assert begun["word"] == word if word is not None else (begun["word"] is None) == (mode == "free"), begun
            self.screen = self.sketches[begun["id"]]

        self.run(start())

    @precondition(lambda self: self.client is not None)
    @rule(ops=operations)
    def draw(self, ops):
        async def draw():
            await self.settle()
            await play(self.client, ops)

        self.run(draw())

    @precondition(lambda self: self.client is not None)
    @rule()
    def end(self):
        async def end():
            await self.settle()
            client = self.client
            holding, over = client.holding, client.over
            client.ending = holding
            reply = await client.send(type="end")
            await self.settle()
            answer = client.answer(reply)
            if holding and not over and answer["type"] == "error":  # the clock ran out first
                assert answer["code"] == "drawing_ended" and ended_by_server(client), answer
            elif holding and not over:
                assert answer["type"] in ("saved", "not_saved") and answer["id"] == client.sketch.id, answer
            else:
                assert answer["code"] == ("drawing_ended" if over else "no_drawing"), answer

        self.run(end())

    @precondition(lambda self: self.client is not None)
    @rule(before=st.none() | operations)
    def drop(self, before):
        """Drop the socket, maybe right after drawing (mid-stroke, say)."""

        async def drop():
            await self.settle()
            if before:
                await play(self.client, before)
            await self.client.close()
            self.dropped(self.client)
            self.client = None

        self.run(drop())

    @precondition(lambda self: self.client is None and self.screen is not None)
    @rule(
        elapsed_ms=elapsed,
        wrong=st.sampled_from([None, "token", "word", "mode"]),
        on=st.integers(0, 1),
        then=st.none() | operations,
    )
    def resume(self, elapsed_ms, wrong, on, then):
        """Carry the drawing on from a new socket (after a wrong token, word or mode, refused), draw on."""

        async def resume():
            self.client = await self.connect(on)
            await self.carry_on(self.client, elapsed_ms, wrong)
            if then:
                await play(self.client, then)

        self.run(resume())

    @precondition(lambda self: self.client is not None and self.screen is not None)
    @rule(elapsed_ms=elapsed, on=st.integers(0, 1), then=st.none() | operations)
    def reload(self, elapsed_ms, on, then):
        """A second socket takes the drawing on while the first still holds it; then the first drops."""

        async def reload():
            await self.settle()
            old, self.client = self.client, await self.connect(on)
            await self.carry_on(self.client, elapsed_ms, None, before_replay=old)
            if then:
                await play(self.client, then)

        self.run(reload())

    async def carry_on(self, client: Client, elapsed_ms: int, wrong: str | None, before_replay=None) -> None:
        """``start`` with ``resume``: refused for a wrong token, word or mode, or more time than a drawing may
        take; else the same id on the clock of ``elapsed_ms``, and the client sends its strokes again."""
        sketch = self.screen
        carry = {"mode": sketch.mode, "resume": sketch.id, "token": sketch.token, "elapsed_ms": elapsed_ms}
        carry |= {"word": sketch.word} if sketch.word else {}
        if wrong is not None:
            changed = {"token": {"token": "0" * 32}, "word": {"word": "cat" if sketch.word != "cat" else "house"}}
            changed["mode"] = {"mode": "game" if sketch.mode == "free" else "free"}
            reply = await client.send(type="start", **carry | changed[wrong])
            await client.sync()
            assert client.answer(reply)["code"] == "bad_resume", client.answer(reply)
        reply = await client.send(type="start", **carry)
        await self.settle()
        if before_replay is not None:
            await before_replay.close()
            self.dropped(before_replay)
        answer = client.answer(reply)
        if elapsed_ms > MAX_DRAWING_S * 1000:
            assert answer["code"] == "bad_resume", answer
            self.screen = None  # the page starts a new drawing instead
            return
        assert answer["type"] == "round" and (answer["id"], answer["elapsed_ms"]) == (sketch.id, elapsed_ms), answer
        event(
            "resumed past the time limit" if sketch.mode == "game" and elapsed_ms >= TIME_LIMIT_S * 1000 else "resumed"
        )
        await play(client, [("stroke", *stroke) for stroke in sketch.screen], replay=True)
        await self.settle()

    @invariant()
    def every_drawing_is_stored_once_and_whole(self):
        async def check():
            await self.settle()
            await self.check_store()

        self.run(check())


@pytest.mark.timeout(600)  # a failure shrinks for up to five minutes (Hypothesis's own limit) before it reports
def test_single_drawings_survive_drops_and_resumes(tmp_path):
    run_machine(Resumes, tmp_path, examples=15, steps=12)


@pytest.mark.timeout(600)
def test_single_drawings_survive_drops_and_resumes_across_two_instances(tmp_path):
    run_machine(Resumes, tmp_path, examples=15, steps=12, INSTANCES=2, SETTINGS=Resumes.SETTINGS | {"SECRET": "both"})
