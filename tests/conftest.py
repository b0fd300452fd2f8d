"""Shared fixtures: the app on a fake classifier, where the Quick, Draw! data package is, real drawings from it."""

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The data package lives beside the repository (../shared/quickdraw); a clone has none.
QUICKDRAW = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))
# Parts that must be usable here (.ci/run sets "data,browser,glibc"): missing, they fail the run, not skip.
REQUIRED = set(filter(None, os.environ.get("QUICKDRAW_REQUIRE", "").split(",")))


def skip_unless_required(part: str, reason: str) -> None:
    """Skip the test (or module) for ``reason``, or fail it when ``part`` is in QUICKDRAW_REQUIRE."""
    if part in REQUIRED:
        pytest.fail(f"{reason}, but QUICKDRAW_REQUIRE says {part} must be usable here", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session")
def quickdraw_dir() -> Path:
    """The data package directory; tests that need it skip when it is absent."""
    if not (QUICKDRAW / "DATA.md").is_file():
        skip_unless_required("data", f"Quick, Draw! data package not found at {QUICKDRAW} (set QUICKDRAW_DATA)")
    return QUICKDRAW


def quickdraw_record(word: str, key_id: str, drawing: list, **extra) -> dict:
    """A record with exactly the dataset's keys (plus ``extra``), as the stroke files hold them."""
    return {
        "word": word,
        "countrycode": "DE",
        "timestamp": None,
        "recognized": True,
        "key_id": key_id,
        "drawing": drawing,
        **extra,
    }


def read_ndjson(path: Path, limit: int | None = None) -> list[dict]:
    """The first `limit` records of an ndjson(.gz) file."""
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            records.append(json.loads(line))
            if limit is not None and len(records) >= limit:
                break
    return records


@pytest.fixture(scope="session")
def raw_drawings(quickdraw_dir) -> list[dict]:
    """Real raw-format drawings (original pixels and timings), all 345 categories."""
    return read_ndjson(quickdraw_dir / "strokes" / "raw.ndjson.gz")


@pytest.fixture(scope="session")
def simplified_drawings(quickdraw_dir) -> list[dict]:
    """Real simplified-format drawings, all 345 categories."""
    return read_ndjson(quickdraw_dir / "strokes" / "simplified.ndjson.gz")


@pytest.fixture
def servers():
    """Start ``tests.serving.Server`` processes with ``servers(tmp_path, saved_dir, *args).start()``."""
    from tests.serving import Server

    started = []
    yield lambda *args, **kwargs: started.append(Server(*args, **kwargs)) or started[-1]
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()


class FakeClassifier:
    """Stands in for the LiteRT model where the protocol, not the network, is under test.

    Knows six words; a drawing of n strokes is LABELS[n % 6] with p 0.9. Answers at once.
    """

    labels = ["apple", "banana", "cat", "dog", "eye", "fish"]
    card = {"version": "fake"}
    version = "fake"

    def classify(self, drawing):
        import numpy as np

        from core.model import Prediction

        p = np.full(len(self.labels), 0.02)
        p[len(drawing) % len(self.labels)] = 0.9
        return Prediction(self.labels, p)

    async def predict(self, drawing):
        return self.classify(drawing)

    def close(self) -> None:
        pass


@pytest.fixture
async def app(tmp_path):
    """The app on a ``FakeClassifier``, saving into ``tmp_path / "saved"``, serving (``before_serving`` has run)."""
    from server import create_app

    app = create_app({"SAVED_DIR": str(tmp_path / "saved"), "LIVE_GUESS_INTERVAL_MS": 100_000}, FakeClassifier())
    async with app.test_app():
        yield app


@pytest.fixture
def client(app):
    """Quart's test client for ``app``: ``client.websocket("/ws")``, ``await client.get("/")``."""
    return app.test_client()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Debian's redis-server on loopback for the room tests; they skip (or fail, if required) without it."""
    from tests.serving import RedisServer

    if not shutil.which("redis-server"):
        skip_unless_required("redis", "no redis-server (Debian's redis-server: `make browser` installs it as root)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
