"""Saved drawings: on disk, ``<id>.png`` + ``<id>.ndjson`` (one raw-format record) per drawing, or in PostgreSQL.

Both files are written to a temporary name in the same directory and renamed
into place, PNG first and record last, so a record never points to a missing
picture and nothing half-written ever carries a real name.
"""

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from core import db
from core.records import ID_PATTERN, new_id, points_in

log = logging.getLogger("server.store")

PNG_SIDE = 384  # longer side of the saved picture in pixels
PNG_MARGIN = 16  # white border around the ink
INK = 34  # dark grey on white, like pencil on paper; one channel encodes ~4× faster than BGR
INK_WIDTH = 3


class SavedDrawingStore:
    """The saved-drawings directory: atomic ``save``, newest-first ``recent``, safe ``record`` and ``png_path``."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def save(self, record: dict, png_bytes: bytes, drawing_id: str | None = None) -> str:
        """Store one drawing atomically and return its id.

        Raises:
            OSError: the directory cannot be written (nothing is left behind).
            ValueError: ``drawing_id`` does not match ID_PATTERN.
        """
        drawing_id = drawing_id or new_id()
        self._check(drawing_id)
        kept = self._read(drawing_id)  # a resumed drawing is saved again: the version with the most points stays
        if kept is not None and points_in(kept) > points_in(record):
            return drawing_id
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        png = self.directory / f"{drawing_id}.png"
        self._write(png, png_bytes)
        try:
            self._write(self.directory / f"{drawing_id}.ndjson", line.encode("utf-8"))
        except OSError:
            png.unlink(missing_ok=True)
            raise
        return drawing_id

    def recent(self, limit: int, offset: int = 0, word: str | None = None) -> list[dict]:
        """Up to ``limit`` saved records (of ``word`` only, if given), newest first, each with its ``"id"``;
        unreadable ones skipped."""
        names = sorted((p.stem for p in self.directory.glob("*.ndjson") if ID_PATTERN.match(p.stem)), reverse=True)
        if word is None:
            names, offset = names[offset:], 0
        records = []
        for drawing_id in names:
            if len(records) >= limit:
                break
            record = self._read(drawing_id)
            if record is None or (word is not None and record.get("word") != word):
                continue
            if offset:
                offset -= 1
                continue
            records.append(record)
        return records

    def record(self, drawing_id: str) -> dict | None:
        """One saved record with its ``"id"``, or None when there is none or it cannot be read.

        Raises:
            ValueError: ``drawing_id`` is not a server-made id (so no path tricks get through).
        """
        self._check(drawing_id)
        return self._read(drawing_id)

    def remove(self, drawing_id: str) -> None:
        """Delete a drawing's files (record first, so a reader never sees a record without its picture)."""
        self._check(drawing_id)
        (self.directory / f"{drawing_id}.ndjson").unlink(missing_ok=True)
        (self.directory / f"{drawing_id}.png").unlink(missing_ok=True)

    def png_path(self, drawing_id: str) -> Path:
        """The PNG of a saved drawing (it may not exist).

        Raises:
            ValueError: ``drawing_id`` is not a server-made id (so no path tricks get through).
        """
        self._check(drawing_id)
        return self.directory / f"{drawing_id}.png"

    def _read(self, drawing_id: str) -> dict | None:
        try:
            record = json.loads((self.directory / f"{drawing_id}.ndjson").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return {**record, "id": drawing_id} if isinstance(record, dict) else None  # the file name is the id

    @staticmethod
    def _check(drawing_id) -> None:
        if not isinstance(drawing_id, str) or not ID_PATTERN.match(drawing_id):
            raise ValueError(f"not a drawing id: {drawing_id!r}"[:100])

    def _write(self, path: Path, data: bytes) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def render_png(strokes: list) -> bytes:
    """A greyscale PNG of raw ``[[x…],[y…],…]`` strokes as the person saw them: dark ink on white, aspect kept."""
    arrays = [np.asarray(stroke[:2], dtype=np.float64) for stroke in strokes if len(stroke[0])]
    points = np.concatenate(arrays, axis=1) if arrays else np.zeros((2, 1))
    low, high = points.min(axis=1), points.max(axis=1)
    extent = np.maximum(high - low, 1e-9)
    scale = (PNG_SIDE - 2 * PNG_MARGIN) / max(extent.max(), 1.0)
    width, height = (np.ceil(extent * scale).astype(int) + 2 * PNG_MARGIN).clip(2 * PNG_MARGIN + 1, PNG_SIDE)
    canvas = np.full((height, width), 255, np.uint8)
    lines = [np.round((a.T - low) * scale + PNG_MARGIN).astype(np.int32) for a in arrays]
    cv2.polylines(
        canvas,
        [line if len(line) > 1 else np.repeat(line, 2, axis=0) for line in lines],
        False,
        INK,
        INK_WIDTH,
        cv2.LINE_AA,
    )
    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


class DirectoryStore:
    """The saved directory behind the async interface the app uses: its file work runs off the event loop."""

    def __init__(self, files: SavedDrawingStore, saver):
        self.files, self.saver = files, saver  # saves go to the one saver thread

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def save(self, record: dict, png: bytes, drawing_id: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self.saver, self.files.save, record, png, drawing_id)

    async def recent(self, limit: int, offset: int = 0, word: str | None = None) -> list[dict]:
        return await asyncio.to_thread(self.files.recent, limit, offset, word)

    async def record(self, drawing_id: str) -> dict | None:
        """Raises ValueError for a malformed id, as the directory does."""
        return await asyncio.to_thread(self.files.record, drawing_id)

    async def png(self, drawing_id: str) -> bytes | None:
        path = self.files.png_path(drawing_id)
        return await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)


async def _create_table(connection) -> None:
    """Each new database connection makes sure the table is there (the database may have started empty)."""
    await connection.execute(db.CREATE)


class PostgresStore:
    """Drawings in PostgreSQL (``core.db``'s table) through psycopg's async pool.

    A drawing that cannot be written (the database is down) goes to ``spool``, a
    directory store on this host, and a background task writes it later: the
    game goes on and nothing is lost. ``spooled()`` counts what waits there.
    """

    RETRY_S = 2.0  # how often the spool is offered to the database again

    def __init__(self, url: str, spool: SavedDrawingStore, saver, gauge=None):
        from psycopg_pool import AsyncConnectionPool  # only a server with a database needs the driver

        self.url, self.spool_files, self.spool = url, spool, DirectoryStore(spool, saver)
        self.pool = AsyncConnectionPool(
            url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}, configure=_create_table
        )
        self.gauge = gauge  # a Prometheus gauge told how many drawings wait in the spool
        self._flusher: asyncio.Task | None = None

    async def open(self) -> None:
        await self.pool.open(wait=False)  # a database still starting is the spool's business
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        await self.flush()  # one last try; what stays is written at the next start
        await self.pool.close()

    def spooled(self) -> int:
        return sum(1 for path in self.spool_files.directory.glob("*.ndjson") if ID_PATTERN.match(path.stem))

    async def save(self, record: dict, png: bytes, drawing_id: str) -> None:
        try:
            await self._write(drawing_id, record, png)
        except Exception as error:  # any database trouble: keep it here, write it later
            log.warning("the database refused drawing %s (%s); spooled", drawing_id, error)
            await self.spool.save(record, png, drawing_id)
            self._count()

    async def flush(self) -> int:
        """Write every spooled drawing to the database; returns how many were written."""
        written = 0
        for record in await self.spool.recent(10_000):
            drawing_id = record.pop("id")
            png = await self.spool.png(drawing_id)
            try:
                await self._write(drawing_id, record, png or b"")
            except Exception:
                break  # still down: the next round tries again
            await asyncio.to_thread(self.spool_files.remove, drawing_id)
            written += 1
        if written:
            log.info("wrote %d spooled drawings to the database", written)
            self._count()
        return written

    def _count(self) -> None:
        if self.gauge is not None:
            self.gauge.set(self.spooled())

    async def recent(self, limit: int, offset: int = 0, word: str | None = None) -> list[dict]:
        if word is None:
            rows = await self._query(db.RECENT, (limit, offset))
        else:
            rows = await self._query(db.RECENT_OF_WORD, (word, limit, offset))
        return [{**record, "id": drawing_id} for drawing_id, record in rows]

    async def record(self, drawing_id: str) -> dict | None:
        SavedDrawingStore._check(drawing_id)
        rows = await self._query(db.RECORD, (drawing_id,))
        return {**rows[0][0], "id": drawing_id} if rows else None

    async def png(self, drawing_id: str) -> bytes | None:
        SavedDrawingStore._check(drawing_id)
        rows = await self._query(db.PNG, (drawing_id,))
        return bytes(rows[0][0]) if rows else None

    async def _write(self, drawing_id: str, record: dict, png: bytes) -> None:
        from psycopg.types.json import Jsonb

        async with self.pool.connection(timeout=5) as connection:
            values = (drawing_id, Jsonb(record), png, record.get("ended_ms"), points_in(record))
            await connection.execute(db.UPSERT, values)

    async def _query(self, sql: str, parameters: tuple) -> list:
        async with self.pool.connection(timeout=5) as connection:
            cursor = await connection.execute(sql, parameters)
            return await cursor.fetchall()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.RETRY_S)
            await self.flush()
