"""fetch against a real HTTP server on 127.0.0.1 serving files this test writes."""

import http.server
import re
import socket
import threading

import pytest

from training import fetch
from training.cli import main

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, several chunks


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` by URL path, honouring ``Range: bytes=N-`` unless told not to."""

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and self.server.ranges else 0
        if start >= len(body) and match:
            self.send_error(416, "Range Not Satisfiable")
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def bucket():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.files, server.requests, server.ranges = {}, [], True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def base_url(server):
    return f"http://127.0.0.1:{server.server_address[1]}/quickdraw"


def test_category_names_are_quoted_in_urls():
    url = fetch.url_for("https://example.org/full/", "numpy_bitmap", "house plant")
    assert url == "https://example.org/full/numpy_bitmap/house%20plant.npy"
    assert fetch.url_for("x", "raw", "The Mona Lisa").endswith("/raw/The%20Mona%20Lisa.ndjson")


def test_fetch_downloads_each_category_and_format(bucket, tmp_path):
    bucket.files["/quickdraw/numpy_bitmap/house%20plant.npy"] = PAYLOAD
    bucket.files["/quickdraw/simplified/house%20plant.ndjson"] = b'{"word": "house plant"}\n'
    rc = main(
        [
            "fetch",
            "--categories",
            "house plant",
            "--format",
            "numpy_bitmap",
            "simplified",
            "--out",
            str(tmp_path),
            "--base-url",
            base_url(bucket),
        ]
    )
    assert rc == 0
    assert (tmp_path / "numpy_bitmap" / "house plant.npy").read_bytes() == PAYLOAD
    assert (tmp_path / "simplified" / "house plant.ndjson").read_bytes() == b'{"word": "house plant"}\n'
    assert not list(tmp_path.rglob("*.part"))


def test_interrupted_download_resumes_with_a_range_request(bucket, tmp_path):
    bucket.files["/quickdraw/numpy_bitmap/cat.npy"] = PAYLOAD
    target = tmp_path / "numpy_bitmap" / "cat.npy"
    target.parent.mkdir()
    (target.parent / "cat.npy.part").write_bytes(PAYLOAD[:100_000])
    fetch.download(f"{base_url(bucket)}/numpy_bitmap/cat.npy", target, progress=False)
    assert target.read_bytes() == PAYLOAD
    assert bucket.requests == [("/quickdraw/numpy_bitmap/cat.npy", "bytes=100000-")]
    assert not (target.parent / "cat.npy.part").exists()


def test_server_ignoring_range_restarts_from_zero(bucket, tmp_path):
    bucket.files["/quickdraw/numpy_bitmap/cat.npy"] = PAYLOAD
    bucket.ranges = False
    target = tmp_path / "cat.npy"
    (tmp_path / "cat.npy.part").write_bytes(b"stale bytes")
    fetch.download(f"{base_url(bucket)}/numpy_bitmap/cat.npy", target, progress=False)
    assert target.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_refetching(bucket, tmp_path):
    bucket.files["/quickdraw/numpy_bitmap/cat.npy"] = PAYLOAD
    target = tmp_path / "cat.npy"
    (tmp_path / "cat.npy.part").write_bytes(PAYLOAD)
    fetch.download(f"{base_url(bucket)}/numpy_bitmap/cat.npy", target, progress=False)
    assert target.read_bytes() == PAYLOAD


def test_unknown_category_is_a_one_line_error(bucket, tmp_path, capsys):
    rc = main(["fetch", "--categories", "unicornz", "--out", str(tmp_path), "--base-url", base_url(bucket)])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("error:") and "404" in err and "unicornz" in err and "\n" not in err
    assert not list(tmp_path.rglob("unicornz*"))


def test_offline_is_a_one_line_error(tmp_path, capsys):
    with socket.socket() as probe:  # a port with nobody listening: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc = main(["fetch", "--categories", "cat", "--out", str(tmp_path), "--base-url", f"http://127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("error:") and "offline" in err and "\n" not in err
    assert not (tmp_path / "numpy_bitmap" / "cat.npy").exists()


def test_fetch_then_train_on_exactly_what_fetch_wrote(
    bucket, tmp_path, quickdraw_dir, raw_drawings, simplified_drawings
):
    """A fake bucket of real drawings in the bucket's formats → fetch → train one short epoch → serve."""
    import io
    import json
    import urllib.parse

    import numpy as np

    from server.classifier import Classifier

    def serve(fmt, word, body):
        bucket.files[f"/quickdraw/{fmt}/{urllib.parse.quote(word)}{fetch.FORMATS[fmt]}"] = body

    for word in ("banana", "The Eiffel Tower"):
        rows = io.BytesIO()
        np.save(rows, np.load(quickdraw_dir / "bitmaps" / f"{word}.npy")[:300])
        serve("numpy_bitmap", word, rows.getvalue())
    for fmt, drawings in (("simplified", simplified_drawings), ("raw", raw_drawings)):
        for word in ("banana", "The Eiffel Tower", "grapes"):
            serve(fmt, word, "".join(json.dumps(d) + "\n" for d in drawings if d["word"] == word).encode())
    data = tmp_path / "data"
    fetched = [
        main(
            [
                "fetch",
                "--categories",
                "banana",
                "The Eiffel Tower",
                "--format",
                "numpy_bitmap",
                "--out",
                str(data),
                "--base-url",
                base_url(bucket),
            ]
        ),
        main(
            [
                "fetch",
                "--categories",
                "banana",
                "The Eiffel Tower",
                "grapes",
                "--format",
                "simplified",
                "raw",
                "--out",
                str(data),
                "--base-url",
                base_url(bucket),
            ]
        ),
    ]
    assert fetched == [0, 0]
    model = tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--out",
                str(model),
                "--epochs",
                "1",
                "--steps-per-epoch",
                "5",
                "--batch-size",
                "32",
                "--width",
                "4",
                "--stroke-renderings",
                "50",
            ]
        )
        == 0
    )
    card = json.loads((model / "model_card.json").read_text())
    assert card["counts"]["banana"] == {"bitmaps": 300}
    assert card["counts"]["grapes"]["augmented_renderings"] == 50  # no bitmaps: trained from its drawings
    classifier = Classifier(model)
    try:
        assert classifier.labels == ["The Eiffel Tower", "banana", "grapes"]
        assert classifier.probabilities(np.zeros((28, 28), np.uint8)).shape == (3,)
    finally:
        classifier.close()
