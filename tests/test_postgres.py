"""Drawings in a real PostgreSQL (Debian's, started in a temporary directory): the app, the spool, the training CLI.

``make test`` installs PostgreSQL as root; without it these tests skip and say why.
"""

import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core import records
from server.store import PostgresStore, SavedDrawingStore
from tests.conftest import skip_unless_required
from tests.serving import MODEL, ROOT, free_port, make_app, receive, send

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
if not BINARIES:
    skip_unless_required("postgres", "no PostgreSQL server (install Debian's postgresql: `make browser` as root)")
BIN = os.path.dirname(BINARIES[-1])


class Postgres:
    """One PostgreSQL cluster in a temporary directory, run by the ``postgres`` user when the tests run as root.

    The directory is outside pytest's (which only root may enter), and removed by ``stop(remove=True)``.
    """

    def __init__(self):
        self.directory, self.port = Path(tempfile.mkdtemp(prefix="quickdraw-postgres-")), free_port()
        self.data = self.directory / "data"
        self.url = f"postgresql://quickdraw@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self.run("initdb", "-D", str(self.data), "-U", "quickdraw", "--auth=trust", "-E", "UTF8")

    def run(self, program: str, *args: str) -> None:
        command = [os.path.join(BIN, program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> "Postgres":
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")
        return self

    def stop(self, remove: bool = False) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    server = Postgres().start()
    yield server
    server.stop(remove=True)


async def play(app, strokes: int = 2, mode: str = "free", word=None) -> dict:
    """One drawing over the socket; returns its ``saved`` message."""
    async with app.test_client().websocket("/ws") as ws:
        await send(ws, type="start", mode=mode, **({"word": word} if word else {}))
        await receive(ws)
        for k in range(strokes):
            await send(ws, type="stroke", x=[k, 50, 100], y=[0, 40 + k, 80])
            await receive(ws)
        await send(ws, type="end")
        return await receive(ws)


async def test_the_app_keeps_drawings_in_postgres_and_serves_them_back(postgres, tmp_path):
    app = make_app(tmp_path, STORE_URL=postgres.url)
    async with app.test_app():
        saved = await play(app, strokes=2, mode="game", word="cat")
        client = app.test_client()
        record = await (await client.get(saved["record_url"])).get_json()
        picture = await client.get(saved["png_url"])
        listing = await (await client.get("/api/drawings?limit=100")).get_json()
        gallery = await (await client.get("/gallery")).get_data(as_text=True)
        missing = await client.get("/api/drawings/20200101T000000-000000000000")
    assert saved["type"] == "saved" and saved["strokes"] == 2
    assert (record["id"], record["word"], record["mode"], len(record["drawing"])) == (saved["id"], "cat", "game", 2)
    assert picture.status_code == 200 and (await picture.get_data()).startswith(b"\x89PNG")
    assert saved["id"] in [entry["id"] for entry in listing["drawings"]] and saved["id"] in gallery
    assert missing.status_code == 404
    assert list((tmp_path / "saved").glob("*.ndjson")) == []  # nothing went to the directory


async def test_saving_an_id_again_keeps_the_version_with_the_most_points(postgres, tmp_path):
    store = PostgresStore(postgres.url, SavedDrawingStore(tmp_path / "spool"), None)
    await store.open()
    try:
        drawing_id = records.new_id()
        whole = {"word": None, "drawing": [[[1], [2]], [[3], [4]]], "ended_ms": 9000}
        await store.save(whole, b"whole", drawing_id)
        await store.save({"word": None, "drawing": [[[1], [2]]], "ended_ms": 12000}, b"partial", drawing_id)
        assert (await store.record(drawing_id))["drawing"] == whole["drawing"]  # its later clock does not count
        assert await store.png(drawing_id) == b"whole" and store.spooled() == 0
    finally:
        await store.close()


async def test_with_the_database_down_drawings_wait_in_the_spool_and_nothing_is_lost(tmp_path):
    database = Postgres().start()
    app = make_app(tmp_path, STORE_URL=database.url)
    services = app.extensions["quickdraw"]
    try:
        async with app.test_app():
            await asyncio.to_thread(database.stop)
            saved = await play(app)  # the game goes on
            assert saved["type"] == "saved" and services.drawings.spooled() == 1
            metrics = (await (await app.test_client().get("/metrics")).get_data(as_text=True)).splitlines()
            assert "quickdraw_spooled_drawings 1.0" in metrics
            await asyncio.to_thread(database.start)
            for _ in range(100):  # the spool is offered again every couple of seconds
                if services.drawings.spooled() == 0:
                    break
                await asyncio.sleep(0.1)
            stored = await services.drawings.record(saved["id"])
        assert stored is not None and len(stored["drawing"]) == 2 and services.drawings.spooled() == 0
    finally:
        database.stop(remove=True)


async def test_the_training_cli_reads_the_players_drawings_from_postgres(postgres, tmp_path):
    app = make_app(tmp_path, STORE_URL=postgres.url)
    async with app.test_app():
        saved = await play(app, strokes=3, mode="game", word="cat")
    samples = list(records.read_drawings(postgres.url))
    ours = [s for s in samples if s.key_id == str(int(saved["id"].rsplit("-", 1)[1], 16))]
    assert len(ours) == 1 and (ours[0].word, ours[0].mode, len(ours[0].drawing)) == ("cat", "game", 3)

    from training import config as train_config
    from training import players

    by_word, report = players.read([postgres.url], ["cat"], "all")  # train --saved postgresql://…
    assert ours[0].key_id in [sample.key_id for sample in by_word["cat"]] and report is not None

    parser = __import__("argparse").ArgumentParser()
    train_config.add_arguments(parser)
    assert parser.parse_args(["--saved", postgres.url]).saved == [postgres.url]  # the URL stays a URL

    result = subprocess.run(
        [sys.executable, "-m", "training", "evaluate", "--model-dir", str(MODEL), "--strokes", postgres.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top-1" in result.stdout + result.stderr, result.stdout[-2000:]


def test_store_url_must_be_postgres(tmp_path):
    from server import config

    with pytest.raises(config.ConfigError, match="STORE_URL"):
        config.load({"STORE_URL": "mysql://nope"}, environ={})
