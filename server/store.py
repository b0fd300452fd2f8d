"""Saved drawings on disk: ``<id>.png`` + ``<id>.ndjson`` (one raw-format record) per drawing.

Both files are written to a temporary name in the same directory and renamed
into place, PNG first and record last, so a record never points to a missing
picture and nothing half-written ever carries a real name.
"""

import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from core.records import ID_PATTERN, new_id

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
        kept = self._read(drawing_id)  # a resumed drawing is saved again: the version that ended last stays
        if kept is not None and (kept.get("ended_ms") or 0) > (record.get("ended_ms") or 0):
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

    def recent(self, limit: int, offset: int = 0) -> list[dict]:
        """Up to ``limit`` saved records, newest first, each with its ``"id"``; unreadable ones skipped."""
        names = sorted((p.stem for p in self.directory.glob("*.ndjson") if ID_PATTERN.match(p.stem)), reverse=True)
        records = []
        for drawing_id in names[offset:]:
            if len(records) >= limit:
                break
            if (record := self._read(drawing_id)) is not None:
                records.append(record)
        return records

    def record(self, drawing_id: str) -> dict | None:
        """One saved record with its ``"id"``, or None when there is none or it cannot be read.

        Raises:
            ValueError: ``drawing_id`` is not a server-made id (so no path tricks get through).
        """
        self._check(drawing_id)
        return self._read(drawing_id)

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
