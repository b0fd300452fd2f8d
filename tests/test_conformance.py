"""Every example exchange of docs/PROTOCOL.md, played against a real ``python -m server``, message by message.

An example is a fenced block tagged ``exchange``. ``→`` lines are sent (a run of
them back to back), ``←`` lines must arrive in that order; an indented line
continues the message above it. ``…`` matches any value, more list items or more
fields. Live guesses the example does not show are passed over. Each example
runs on a fresh socket; one that begins with ``← hello`` checks the hello, the
others pass over it.
"""

import asyncio
import json
import re

import pytest
from websockets.asyncio.client import connect

from server import protocol
from tests.serving import ANSWER_S, ROOT, Server

DOC = ROOT / "docs" / "PROTOCOL.md"
ANY = "\u2026"  # …
BLOCK = re.compile(r"^```exchange\n(.*?)^```", re.S | re.M)


def examples(text: str) -> list[list[tuple[str, object]]]:
    """Each exchange block → [(direction, message)], direction "→" or "←"."""
    found = []
    for block in BLOCK.findall(text):
        lines: list[list[str]] = []
        for line in block.splitlines():
            if line.startswith(("→", "←")):
                lines.append([line[0], line[1:].strip()])
            elif line.strip():
                lines[-1][1] += " " + line.strip()
        found.append([(direction, _json(body)) for direction, body in lines])
    return found


def _json(text: str):
    """The doc's JSON with ``…`` for any value, more items (``,…]``) or more fields (``,…}``)."""
    text = text.replace(f",{ANY}}}", f',"{ANY}":"{ANY}"}}').replace(f",{ANY}]", f',"{ANY}"]')
    return json.loads(re.sub(f'(?<!"){ANY}(?!")', f'"{ANY}"', text))


def matches(want, got) -> bool:
    if want == ANY:
        return True
    if isinstance(want, dict):
        more = want.get(ANY) == ANY
        keys = set(want) - {ANY}
        return (
            isinstance(got, dict)
            and all(key in got and matches(want[key], got[key]) for key in keys)
            and (more or set(got) == keys)
        )
    if isinstance(want, list):
        more = bool(want) and want[-1] == ANY
        items = want[:-1] if more else want
        if not isinstance(got, list) or len(got) < len(items) or (not more and len(got) != len(items)):
            return False
        return all(matches(w, g) for w, g in zip(items, got))
    return want == got and (type(want) is type(got) or isinstance(want, float))


EXAMPLES = examples(DOC.read_text(encoding="utf-8"))


def test_the_document_has_the_examples_this_test_plays():
    assert len(EXAMPLES) >= 6
    kinds = {message["type"] for example in EXAMPLES for _, message in example}
    assert {"hello", "round", "guess", "recognized", "saved", "not_saved", "error", "pong"} <= kinds
    assert {"start", "points", "stroke", "stroke_end", "undo", "end", "ping"} <= kinds


def test_the_matcher_can_fail():
    assert matches(_json('{"a":1,"b":[1,…]}'), {"a": 1, "b": [1, 2, 3]})
    assert not matches(_json('{"a":1}'), {"a": 1, "b": 2})  # an extra field
    assert matches(_json('{"a":1,…}'), {"a": 1, "b": 2})
    assert not matches(_json('{"a":[1]}'), {"a": [1, 2]})
    assert not matches(_json('{"a":true}'), {"a": 1})
    assert not matches(_json('{"a":…}'), {})


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformance")
    server = Server(tmp, tmp / "saved").start()
    yield server.url
    server.stop()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: json.dumps(example[0][1])[:60])
async def test_the_server_plays_the_example(url, example):
    async with connect(url, subprotocols=[protocol.SUBPROTOCOL]) as ws:
        assert ws.subprotocol == protocol.SUBPROTOCOL
        if example[0][1]["type"] != "hello":
            assert json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))["type"] == "hello"
        for step, (direction, message) in enumerate(example):
            if direction == "→":
                await ws.send(json.dumps(message))
                continue
            got = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))
            while got.get("live") is True and message.get("live") is not True:  # a live guess not shown
                got = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))
            assert matches(message, got), f"step {step}: expected {message}, got {got}"


async def test_a_handshake_for_another_protocol_version_is_refused_in_json(url):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=["quickdraw.v2"]):
            pass
    response = refused.value.response
    assert response.status_code == 400
    assert json.loads(response.body)["code"] == protocol.ErrorCode.UNSUPPORTED_PROTOCOL


async def test_a_client_asking_for_no_subprotocol_gets_the_same_messages(url):
    async with connect(url) as ws:
        assert ws.subprotocol is None
        assert json.loads(await ws.recv())["type"] == "hello"
