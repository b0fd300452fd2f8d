"""The project as a real package: a built wheel, installed into a fresh venv, serves from any directory; and the
client library's own wheel, which needs only websockets."""

import json
import os
import site
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest
from websockets.sync.client import connect

from tests.serving import MODEL, ROOT, free_port


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the wheel installed (not editable); the dependencies come from this environment."""
    tmp = tmp_path_factory.mktemp("package")
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (wheel,) = wheels.glob("quickdraw_live-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, str(wheel)],
        check=True,
        capture_output=True,
    )
    with open(os.path.join(target, "deps.pth"), "w") as link:  # dependencies: this environment's site-packages
        link.write("\n".join(site.getsitepackages()) + "\n")
    return python, target


def test_the_wheel_carries_the_page_and_the_core(installed):
    _, target = installed
    for part in (
        "server/templates/index.html",
        "server/assets/js/main.js",
        "server/assets/css/app.css",
        "core/sketch.py",
        "training/train.py",
        "quickdraw_client/client.py",
    ):
        assert os.path.isfile(os.path.join(target, part)), part


def test_the_installed_server_serves_page_assets_and_socket_from_any_directory(installed, tmp_path):
    python, target = installed
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen(
        [
            python,
            "-m",
            "server",
            "--port",
            str(port),
            "--model-dir",
            str(MODEL),
            "--saved-dir",
            str(tmp_path / "saved"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed server did not start"
                time.sleep(0.2)
        origin = subprocess.run(
            [python, "-c", "import server; print(server.__file__)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert origin.startswith(target), origin  # the installed copy, not the checkout
        page = urllib.request.urlopen(f"{base}/", timeout=5).read().decode()
        assert "/assets/js/main.js" in page
        for asset in ("/assets/js/main.js", "/assets/css/app.css", "/assets/favicon.svg"):
            assert urllib.request.urlopen(base + asset, timeout=5).status == 200, asset
        with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            ws.send(json.dumps({"type": "start", "mode": "free"}))
            ws.send(json.dumps({"type": "stroke", "x": [0, 50, 100], "y": [0, 40, 80]}))
            while (message := json.loads(ws.recv(timeout=10)))["type"] != "guess":
                pass
            assert len(message["guesses"]) == 5
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


def test_the_client_wheel_holds_the_client_alone_and_needs_only_websockets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT / "client")],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("quickdraw_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    assert requires == ["Requires-Dist: websockets>=13"]
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"quickdraw_client"}
