"""The saved-drawing directory: atomic saves, newest-first listing, safe paths, the picture."""

import json
import os

import cv2
import numpy as np
import pytest

from core.records import ID_PATTERN, new_id, read_saved_dir
from server.store import SavedDrawingStore, render_png

STROKES = [[[10, 110, 210], [20, 70, 20], [0, 50, 100]], [[60], [40], [150]]]


def record(word="cat") -> dict:
    return {
        "word": word,
        "countrycode": None,
        "timestamp": "2026-01-01 00:00:00.000000 UTC",
        "recognized": False,
        "key_id": "123",
        "drawing": STROKES,
        "mode": "free",
        "guesses": [],
    }


@pytest.fixture
def store(tmp_path):
    return SavedDrawingStore(tmp_path / "saved")


def test_new_ids_match_the_pattern_and_differ():
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100 and all(ID_PATTERN.match(i) for i in ids)


def test_save_writes_png_and_one_record_line(store):
    drawing_id = store.save(record(), render_png(STROKES))
    files = sorted(p.name for p in store.directory.iterdir())
    assert files == [f"{drawing_id}.ndjson", f"{drawing_id}.png"]
    lines = (store.directory / f"{drawing_id}.ndjson").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == record()


def test_save_uses_the_given_id(store):
    assert store.save(record(), b"png", "20260101T000000-0123456789ab") == "20260101T000000-0123456789ab"


def test_save_refuses_a_bad_id_and_writes_nothing(store):
    with pytest.raises(ValueError):
        store.save(record(), b"png", "../escape")
    assert not store.directory.exists() or not any(store.directory.iterdir())


def test_failed_record_write_leaves_no_file(store, monkeypatch):
    real_replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(target)
        if str(target).endswith(".ndjson"):
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        store.save(record(), b"png")
    assert len(calls) == 2 and list(store.directory.iterdir()) == []


def test_recent_is_newest_first_with_ids_limit_and_offset(store):
    ids = [store.save(record(w), b"png", f"2026010{i}T000000-0123456789ab") for i, w in enumerate("abcd", 1)]
    assert [r["id"] for r in store.recent(10)] == ids[::-1]
    assert [r["word"] for r in store.recent(2, offset=1)] == ["c", "b"]


def test_recent_skips_unreadable_records_and_strangers(store):
    store.save(record(), b"png", "20260101T000000-0123456789ab")
    (store.directory / "20260102T000000-0123456789ab.ndjson").write_text("{not json")
    (store.directory / "notes.ndjson").write_text("{}")
    assert [r["id"] for r in store.recent(10)] == ["20260101T000000-0123456789ab"]


@pytest.mark.parametrize(
    "bad", ["../x", "20260101T000000-0123456789ab/../../etc", "x.png", "", None, "20260101T000000-0123456789AB"]
)
def test_png_path_rejects_non_ids(store, bad):
    with pytest.raises(ValueError):
        store.png_path(bad)


def test_record_reads_one_saved_drawing_or_none(store):
    drawing_id = store.save(record(), b"png")
    assert store.record(drawing_id) == {**record(), "id": drawing_id}
    assert store.record("20260101T000000-0123456789ab") is None  # never saved
    (store.directory / "20260102T000000-0123456789ab.ndjson").write_text("[1, 2]")  # JSON, not a record
    assert store.record("20260102T000000-0123456789ab") is None


@pytest.mark.parametrize("bad", ["../x", "x.ndjson", "", None, "1" * 500, "20260101T000000-0123456789AB"])
def test_record_rejects_non_ids(store, bad):
    with pytest.raises(ValueError):
        store.record(bad)


def test_png_path_of_a_saved_drawing(store):
    drawing_id = store.save(record(), render_png(STROKES))
    assert store.png_path(drawing_id).is_file()


def test_png_is_dark_ink_on_white_with_the_aspect_kept():
    image = cv2.imdecode(np.frombuffer(render_png(STROKES), np.uint8), cv2.IMREAD_GRAYSCALE)
    height, width = image.shape
    assert width == 384 and height < width  # the drawing is 200 wide, 50 tall
    assert np.median(image) == 255 and image.min() < 60


def test_png_of_a_single_dot_decodes():
    image = cv2.imdecode(np.frombuffer(render_png([[[5], [5]]]), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.min() < 60


def test_saved_records_read_back_as_training_samples(store):
    store.save(record("cat"), render_png(STROKES))
    samples = list(read_saved_dir(store.directory))
    assert len(samples) == 1 and samples[0].word == "cat"
    assert [s.shape for s in samples[0].drawing] == [(3, 3), (3, 1)]
