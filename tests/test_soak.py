"""A small soak through bench/soak.py: 20 clients, 4 s, two rounds of connections; nothing lost, nothing refused.

Too short to judge a slope; the peak RSS is bounded."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_short_soak_loses_nothing(quickdraw_dir):
    done = subprocess.run(
        [
            sys.executable,
            "bench/soak.py",
            "--clients",
            "20",
            "--seconds",
            "4",
            "--rounds",
            "2",
            "--drain-s",
            "0",
            "--ndjson",
            str(quickdraw_dir / "strokes" / "raw.ndjson.gz"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["drawings_finished"] > 0 and result["errors"] == {} and result["closes"] == {}
    assert result["strokes"] == result["strokes_sent"]  # every stroke got its guess
    assert (
        result["saved_messages"]
        == result["ndjson_files"]
        == result["png_files"]
        == result["records_parsed"]
        == result["drawings_finished"]
    )
    assert result["other_files"] == 0 and result["server_exit"] == 0 and result["log_errors"] == 0
    assert result["deflate"] is True  # offered by default, as browsers do
    # 20 clients for 4 s add ~10 MB here (measured); a gross leak breaks this bound, not a slow one
    assert result["rss_start_mb"] <= result["rss_max_mb"] < result["rss_start_mb"] + 60
