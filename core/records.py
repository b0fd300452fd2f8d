"""The Quick, Draw! record formats: drawing ids, the raw record the game saves, and readers.

``numpy_bitmap`` files give memory-mapped 28×28 images; simplified/raw ndjson
(optionally gzip'd) and the server's saved-drawing directory give ``Sample``
records whose drawing went through ``core.sketch.validate``. Bad lines are
counted, not fatal.
"""

import gzip
import json
import mmap
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core import sketch

SIDE = sketch.SIZE
ID_PATTERN = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{12}$")


def new_id(now: datetime | None = None) -> str:
    """A fresh server-chosen drawing id ``YYYYMMDDTHHMMSS-<12 hex>`` (sorts by time)."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"


def raw_record(
    drawing_id: str, word: str | None, strokes: list[np.ndarray], began_at: datetime, recognized: bool, **extra: Any
) -> dict[str, Any]:
    """A drawing in the dataset's raw format (strokes ``[[x…], [y…], [t…]]``), plus the game's ``extra`` keys.

    ``key_id`` is the id's random part as a decimal number, like the dataset's.
    """
    return {
        "word": word,
        "countrycode": None,
        "timestamp": began_at.strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
        "recognized": recognized,
        "key_id": str(int(drawing_id.rsplit("-", 1)[1], 16)),
        "drawing": [[_numbers(row) for row in stroke] for stroke in strokes],
        **extra,
    }


def points_in(record: dict[str, Any]) -> int:
    """How many points a raw record's drawing holds: what decides which of two saves of one drawing stays."""
    drawing = record.get("drawing") or []
    return sum(len(stroke[0]) for stroke in drawing if stroke)


def _numbers(row: np.ndarray) -> list[int | float]:
    """Integers where the value is whole (the dataset's style), floats otherwise."""
    if (row == np.floor(row)).all():  # the common case (times, pixel grids) in one step; values are ≤ 1e9
        whole: list[int | float] = row.astype(np.int64).tolist()
        return whole
    return [int(v) if v.is_integer() else float(v) for v in row.tolist()]


@dataclass(frozen=True, eq=False)
class Sample:
    """One drawing with the dataset's metadata; ``drawing`` is validated strokes."""

    word: str | None  # None for a saved free-mode drawing
    drawing: list[np.ndarray]
    key_id: str
    recognized: bool | None = None
    countrycode: str | None = None
    timestamp: str | None = None
    mode: str | None = None  # "game" or "free" in a saved drawing; None in the dataset


@dataclass
class ReadStats:
    """How many records were read and why the others were skipped."""

    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def read_bitmaps(path: Path | str) -> np.ndarray:
    """A ``numpy_bitmap`` ``.npy`` file as (N, 28, 28) uint8 images, memory-mapped: rows are read when used.

    Raises:
        ValueError: not a readable .npy of uint8 rows of 784 pixels.
    """
    try:
        rows: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != SIDE * SIDE:
        raise ValueError(f"{path}: expected uint8 rows of {SIDE * SIDE} pixels, got {rows.dtype} {rows.shape}")
    return rows.reshape(-1, SIDE, SIDE)


def unmap(rows: np.ndarray | None) -> None:
    """Let go of the pages a memory-mapped array has touched (they stay in the page cache; a no-op in memory).

    Rows are read a few at a time from all over a file, and the kernel maps in
    64 kB around each one: without this, a few thousand scattered reads would
    put whole files into this process's RSS.
    """
    while rows is not None and not isinstance(rows, np.memmap):
        rows = rows.base
    if rows is not None and getattr(rows, "_mmap", None) is not None and hasattr(mmap, "MADV_DONTNEED"):
        rows._mmap.madvise(mmap.MADV_DONTNEED)  # type: ignore[attr-defined]  # numpy's own, private mmap


def parse_record(record: object) -> Sample:
    """One ndjson record (dataset or saved drawing) → a Sample.

    Raises:
        ValueError: missing or mistyped keys; ``sketch.SketchError`` for a bad drawing.
    """
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    word, key_id = record.get("word"), record.get("key_id")
    if word is not None and not isinstance(word, str):
        raise ValueError("word must be a string or null")
    if not isinstance(key_id, (str, int)) or isinstance(key_id, bool):
        raise ValueError("key_id must be a string of digits")
    return Sample(
        word=word,
        drawing=sketch.validate(record.get("drawing")),
        key_id=str(key_id),
        recognized=record.get("recognized"),
        countrycode=record.get("countrycode"),
        timestamp=record.get("timestamp"),
        mode=record.get("mode") if isinstance(record.get("mode"), str) else None,
    )


def _parse_lines(lines: Iterable[str], stats: ReadStats) -> Iterator[Sample]:
    for line in lines:
        if not line.strip():
            continue
        try:
            sample = parse_record(json.loads(line))
        except (ValueError, TypeError) as error:  # JSONDecodeError and SketchError are ValueErrors
            stats.skipped[type(error).__name__] += 1
            continue
        stats.read += 1
        yield sample


def read_ndjson(path: Path | str, stats: ReadStats | None = None) -> Iterator[Sample]:
    """Samples from a simplified or raw ``.ndjson`` / ``.ndjson.gz`` file."""
    stats = ReadStats() if stats is None else stats
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        yield from _parse_lines(lines, stats)


def read_saved_dir(directory: Path | str, stats: ReadStats | None = None) -> Iterator[Sample]:
    """Samples from the server's saved-drawing directory (one ``<id>.ndjson`` line each).

    Only server-made names count: a ``.tmp-*`` file is a save still in progress.
    """
    stats = ReadStats() if stats is None else stats
    for path in sorted(Path(directory).glob("*.ndjson")):
        if not ID_PATTERN.match(path.stem):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            stats.skipped[type(error).__name__] += 1
            continue
        yield from _parse_lines(text.splitlines()[:1], stats)


URL_SCHEMES = ("postgresql://", "postgres://")  # a drawing source that is a database (core.db), not a path


def source(text: str) -> Path | str:
    """A command line's drawing source: a ``postgresql://`` URL as it is, anything else a path."""
    return text if text.startswith(URL_SCHEMES) else Path(text)


def read_drawings(path: Path | str, stats: ReadStats | None = None) -> Iterator[Sample]:
    """Samples from an ndjson(.gz) file, a saved-drawing directory, or a ``postgresql://`` store."""
    if isinstance(path, str) and path.startswith(URL_SCHEMES):
        from core import db

        return db.read_samples(path, ReadStats() if stats is None else stats)
    path = Path(path)
    if path.is_dir():
        return read_saved_dir(path, stats)
    if not path.is_file():
        raise FileNotFoundError(f"no such stroke file or directory: {path}")
    return read_ndjson(path, stats)
