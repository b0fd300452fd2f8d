"""Data-parallel training through tf.distribute: two CPU workers on loopback train one model together."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from server.classifier import Classifier
from tests.conftest import ROOT
from training import loop
from training.cli import main


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def data_dir(tmp_path):
    """Two words of the bucket's layout whose bitmaps are easy to tell apart (a bar and a block)."""
    directory = tmp_path / "numpy_bitmap"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for word, rows in (("bar", slice(12, 16)), ("block", slice(6, 22))):
        images = np.zeros((200, 28, 28), np.uint8)
        images[:, rows, 6:22] = 255
        images = np.clip(images + rng.integers(0, 40, images.shape), 0, 255).astype(np.uint8)
        np.save(directory / f"{word}.npy", images.reshape(-1, 784))
    return tmp_path


def test_two_workers_train_one_model_over_loopback(data_dir, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "training",
                    "train",
                    "--data",
                    str(data_dir),
                    "--out",
                    str(tmp_path / f"m{index}"),
                    "--distribute",
                    "multiworker",
                    "--epochs",
                    "2",
                    "--steps-per-epoch",
                    "3",
                    "--batch-size",
                    "32",
                    "--width",
                    "4",
                    "--no-quantize",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert all("on 2 replica(s)" in out for out in outputs), outputs
    assert not (tmp_path / "m1").exists()  # only the chief writes the model
    card = json.loads((tmp_path / "m0" / "model_card.json").read_text())
    assert card["replicas"] == 2 and card["config"]["distribute"] == "multiworker"
    classifier = Classifier(tmp_path / "m0")
    try:
        assert classifier.labels == ["bar", "block"]
    finally:
        classifier.close()


def test_multiworker_without_tf_config_is_a_one_line_error(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "--data", str(data_dir), "--out", str(tmp_path / "m"), "--distribute", "multiworker"]) == 1
    assert "needs TF_CONFIG" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (None, (0, True)),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, (1, False)),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, (0, True)),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, (1, False)),
    ],
)
def test_the_chief_is_worker_0_unless_the_cluster_names_one(tf_config, expected, monkeypatch):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert loop.worker() == expected
