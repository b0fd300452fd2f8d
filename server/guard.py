"""Who may hold a socket: the Origin check, the connection limit, and shutdown.

The ``Gate`` lives in ``app.extensions["gate"]``; ``/ws`` holds a place
through it while a socket is open, and the shutdown trigger in
``server.hosting`` closes every open socket through it with 1001.
"""

import asyncio
import logging
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from server import protocol
from server.config import Settings

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

log = logging.getLogger("server.guard")


def allowed_origins(setting: str) -> frozenset[str]:
    """``"https://a.example, http://b:8000"`` → normalised origins; ``"*"`` allows any."""
    return frozenset(_origin(item) for item in setting.split(",") if item.strip())


def same_origin(origin: str, host: str | None) -> bool:
    """True when the Origin's host:port is the Host the socket was asked on (a page of this server)."""
    parts = urlsplit(origin)
    if not host:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def _origin(text: str) -> str:
    return text.strip().rstrip("/").lower()


class Closable(Protocol):
    """What the gate needs of an open socket's connection (``server.ws.Connection``)."""

    def close_soon(self, code: int, reason: str) -> "asyncio.Task[None]": ...


class Gate:
    """Admission to ``/ws``: browsers only from allowed origins, at most MAX_CONNECTIONS at once.

    ``open_total`` counts the sockets open in every worker process (a
    ``multiprocessing.Value`` they share); by default this process has its own.
    """

    def __init__(self, settings: Settings, open_total: "Synchronized[int] | None" = None) -> None:
        self.max_connections = settings.max_connections
        self.origins = allowed_origins(settings.allowed_origins)
        self.open: set[Closable] = set()  # this process's Connection objects, closed with 1001 at shutdown
        self.open_total = open_total if open_total is not None else multiprocessing.Value("i", 0)
        self.closing = False

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """No Origin (a script, not a browser) is fine; a browser's must be this site or listed."""
        if origin is None:
            return True
        return "*" in self.origins or _origin(origin) in self.origins or same_origin(origin, host)

    @contextmanager
    def admission(self, connection: Closable) -> Iterator[tuple[int, str] | None]:
        """Yields None while ``connection`` holds a place, or the (close code, reason) it may not stay with."""
        with self.open_total.get_lock():  # check and take a place in one step: workers admit at the same time
            refusal = self._refusal()
            if refusal is None:
                self.open_total.value += 1
        if refusal is not None:
            yield refusal
            return
        self.open.add(connection)
        try:
            yield None
        finally:
            self.open.discard(connection)
            with self.open_total.get_lock():
                self.open_total.value -= 1

    def _refusal(self) -> tuple[int, str] | None:
        if self.closing:
            return protocol.CloseCode.GOING_AWAY, "the server is shutting down"
        if self.open_total.value >= self.max_connections:
            return protocol.CloseCode.TRY_AGAIN_LATER, "the server is full, try again later"
        return None

    async def shut_down(self) -> None:
        """Refuse new sockets and close the open ones with 1001 (their drawings are saved as they end)."""
        self.closing = True
        log.info("shutting down: closing %d open sockets", len(self.open))
        await asyncio.gather(
            *(c.close_soon(protocol.CloseCode.GOING_AWAY, "the server is shutting down") for c in list(self.open)),
            return_exceptions=True,
        )
