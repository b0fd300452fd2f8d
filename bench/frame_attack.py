"""Oversized frames against a real ``python -m server``: does the frame limit hold before the frame is buffered?

N raw sockets do the WebSocket handshake, then each sends ONE text frame of
SIZE bytes in one piece (compression off), as fast as the server reads it.
Per size it reports how many sockets were closed with 1009 within 1 s of
starting to send (a close frame, or a reset when the server drops it with
bytes still arriving), how many got nothing at all (left open), the server's RSS
before and at its peak, and whether a normal player beside them still gets
its guess. Run it from the repository root:

    python bench/frame_attack.py --sockets 200 --sizes 70000 200000 4000000 16000000
"""

import argparse
import asyncio
import base64
import json
import os
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import Server  # noqa: E402

CHUNK = 64 * 1024
CLOSE_WITHIN_S = 1.0
GIVE_UP_S = 5.0  # a socket with no close by then counts as left open


async def handshake(port: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def close_code(reader) -> int | None:
    """Read server frames until a close frame (its code) or the end of the stream (None)."""
    while True:
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if head[0] & 0x0F == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


async def one_socket(port: int, size: int, chunk: bytes) -> tuple[int | str, float]:
    """Send one SIZE-byte frame (mask key 0: the payload goes as it is); returns (how it ended, seconds to it).

    It ends with a close code, "reset" (the server dropped the connection while unread bytes were still
    arriving, so the kernel reset it and the close frame may be lost), or "open" (nothing by GIVE_UP_S).
    """
    reader, writer = await handshake(port)
    began = time.monotonic()
    header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", size) + b"\0\0\0\0"

    async def send():
        writer.write(header)
        left = size
        while left > 0:
            writer.write(chunk[: min(left, CHUNK)])
            left -= CHUNK
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        code = await asyncio.wait_for(close_code(reader), GIVE_UP_S)
    except TimeoutError:
        code = "open"
    except (asyncio.IncompleteReadError, ConnectionError):
        code = "reset"
    seconds = time.monotonic() - began
    sender.cancel()
    writer.transport.abort()
    await asyncio.gather(sender, return_exceptions=True)
    return code, seconds


async def normal_player(url: str) -> bool:
    async with connect(url, open_timeout=10) as ws:
        await ws.send('{"type":"start"}')
        await ws.send('{"type":"stroke","x":[0,50,100],"y":[0,80,0]}')
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "guess" and not message.get("live"):
                    return True


def peak_rss(process: psutil.Process, stop: threading.Event, out: list) -> None:
    while not stop.is_set():
        try:
            out[0] = max(out[0], process.memory_info().rss)
        except psutil.Error:
            return
        time.sleep(0.02)


async def attack(server: Server, size: int, sockets: int) -> dict:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    peak, stop = [before], threading.Event()
    sampler = threading.Thread(target=peak_rss, args=(process, stop, peak))
    sampler.start()
    chunk = b"a" * CHUNK
    results = await asyncio.gather(*(one_socket(server.port, size, chunk) for _ in range(sockets)))
    answered = await normal_player(server.url)
    stop.set()
    sampler.join()
    return {
        "size": size,
        "sockets": sockets,
        "closed_within_1s": sum(code in (1009, "reset") and s <= CLOSE_WITHIN_S for code, s in results),
        "closed_1009": sum(code == 1009 for code, _ in results),
        "reset": sum(code == "reset" for code, _ in results),
        "left_open": sum(code == "open" for code, _ in results),
        "other_close": sum(code not in ("open", "reset", 1009) for code, _ in results),
        "rss_before_mb": round(before / 2**20),
        "rss_peak_mb": round(peak[0] / 2**20),
        "normal_player_answered": answered,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=40, help="attacking sockets per size (default 40)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[70_000, 200_000, 4_000_000, 16_000_000])
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:  # a fresh server per size: each row starts from the same memory
            server = Server(Path(tmp), Path(tmp) / "saved").start()
            try:
                rows.append(asyncio.run(attack(server, size, args.sockets)))
            finally:
                server.stop()
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
