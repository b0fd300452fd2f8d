"""Readers: bitmaps, simplified/raw ndjson (plain and gzip'd) and the saved-drawing directory."""

import gzip
import json

import numpy as np
import pytest

from core import records

SIMPLIFIED = {
    "word": "banana",
    "countrycode": "DE",
    "timestamp": "2017-03-01 10:00:00.1 UTC",
    "recognized": True,
    "key_id": "5000000000000001",
    "drawing": [[[0, 100, 255], [0, 50, 10]], [[10, 20], [200, 255]]],
}
RAW = {
    "word": "umbrella",
    "countrycode": "US",
    "timestamp": "2017-03-02 11:00:00.2 UTC",
    "recognized": False,
    "key_id": "5000000000000002",
    "drawing": [[[-3.5, 120.25, 400.0], [17.0, 80.5, 33.0], [0, 16, 40]]],
}


def write_ndjson(path, records, gz=False):
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as sink:
            sink.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")
    return path


def test_bitmap_file_becomes_28x28_images(tmp_path):
    rows = np.arange(3 * 784, dtype=np.int64).reshape(3, 784).astype(np.uint8)
    np.save(tmp_path / "house plant.npy", rows)
    images = records.read_bitmaps(tmp_path / "house plant.npy")
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images[1].ravel(), rows[1])


def test_bitmap_of_wrong_shape_or_type_is_rejected(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 100), np.uint8))
    with pytest.raises(ValueError, match="784"):
        records.read_bitmaps(tmp_path / "bad.npy")
    np.save(tmp_path / "float.npy", np.zeros((2, 784), np.float32))
    with pytest.raises(ValueError):
        records.read_bitmaps(tmp_path / "float.npy")


@pytest.mark.parametrize("gz", [False, True])
def test_simplified_and_raw_ndjson_give_the_same_record_type(tmp_path, gz):
    path = write_ndjson(tmp_path / ("d.ndjson.gz" if gz else "d.ndjson"), [SIMPLIFIED, RAW], gz=gz)
    first, second = list(records.read_ndjson(path))
    assert (first.word, first.key_id, first.countrycode, first.recognized) == ("banana", "5000000000000001", "DE", True)
    assert [s.shape for s in first.drawing] == [(2, 3), (2, 2)]
    assert second.word == "umbrella" and second.recognized is False
    assert second.drawing[0].shape == (3, 3) and second.drawing[0][0, 0] == -3.5
    assert second.timestamp == RAW["timestamp"]


def test_bad_lines_are_skipped_and_counted(tmp_path):
    nan_drawing = dict(SIMPLIFIED, key_id="3", drawing=[[[0, float("nan")], [1, 2]]])
    ragged = dict(SIMPLIFIED, key_id="4", drawing=[[[0, 1, 2], [1, 2]]])
    path = write_ndjson(
        tmp_path / "d.ndjson",
        [SIMPLIFIED, "{not json", dict(SIMPLIFIED, drawing=[]), nan_drawing, ragged, [1, 2], RAW, ""],
    )
    stats = records.ReadStats()
    samples = list(records.read_ndjson(path, stats))
    assert [s.key_id for s in samples] == ["5000000000000001", "5000000000000002"]
    assert stats.read == 2 and stats.n_skipped == 5


def saved_record(key_id, word="banana", mode="game"):
    return dict(RAW, word=word, key_id=key_id, mode=mode, guesses=[{"word": "banana", "p": 0.9}])


def test_saved_drawing_directory(tmp_path):
    write_ndjson(tmp_path / "20260101T120000-aaaaaaaaaaaa.ndjson", [saved_record("111")])
    write_ndjson(tmp_path / "20260101T120001-bbbbbbbbbbbb.ndjson", [saved_record("222", word=None, mode="free")])
    (tmp_path / "20260101T120002-cccccccccccc.ndjson").write_text("{half a rec", encoding="utf-8")
    (tmp_path / "20260101T120000-aaaaaaaaaaaa.png").write_bytes(b"\x89PNG")
    stats = records.ReadStats()
    samples = list(records.read_drawings(tmp_path, stats))
    assert [(s.key_id, s.word) for s in samples] == [("111", "banana"), ("222", None)]
    assert samples[0].drawing[0].shape == (3, 3)
    assert stats.read == 2 and stats.n_skipped == 1


def test_saved_directory_ignores_files_the_server_did_not_name(tmp_path):
    write_ndjson(tmp_path / "20260101T120000-aaaaaaaaaaaa.ndjson", [saved_record("111")])
    write_ndjson(tmp_path / ".tmp-k2j3h4.ndjson", [saved_record("222")])  # a save in progress
    write_ndjson(tmp_path / "notes.ndjson", [saved_record("333")])
    assert [s.key_id for s in records.read_saved_dir(tmp_path)] == ["111"]


def test_missing_stroke_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such"):
        records.read_drawings(tmp_path / "nope.ndjson")


def test_real_raw_and_simplified_files_read_without_skips(quickdraw_dir):
    for name in ("simplified.ndjson.gz", "raw.ndjson.gz"):
        stats = records.ReadStats()
        words = {s.word for s in records.read_ndjson(quickdraw_dir / "strokes" / name, stats)}
        assert stats.n_skipped == 0 and stats.read > 8000
        assert {"grapes", "pineapple", "banana", "umbrella"} <= words
