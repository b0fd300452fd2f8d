"""Who may hold a socket: the Origin check, the connection limit, and shutdown.

The ``Gate`` lives in ``app.extensions["gate"]``; ``/ws`` asks it before and
after accepting, and the shutdown trigger in ``__main__`` closes every open
socket through it with 1001.
"""

import asyncio
import logging
from contextlib import contextmanager
from urllib.parse import urlsplit

from server import protocol
from server.config import Settings

log = logging.getLogger("server.guard")


def allowed_origins(setting: str) -> frozenset[str]:
    """``"https://a.example, http://b:8000"`` → normalised origins; ``"*"`` allows any."""
    return frozenset(_origin(item) for item in setting.split(",") if item.strip())


def same_origin(origin: str, host: str | None) -> bool:
    """True when the Origin's host:port is the Host the socket was asked on (a page of this server)."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.strip().lower()


def _origin(text: str) -> str:
    return text.strip().rstrip("/").lower()


class Gate:
    """Admission to ``/ws``: browsers only from allowed origins, at most MAX_CONNECTIONS at once."""

    def __init__(self, settings: Settings):
        self.max_connections = settings.max_connections
        self.origins = allowed_origins(settings.allowed_origins)
        self.open: set = set()  # Connection objects, closed with 1001 at shutdown
        self.closing = False

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """No Origin (a script, not a browser) is fine; a browser's must be this site or listed."""
        if origin is None:
            return True
        return "*" in self.origins or _origin(origin) in self.origins or same_origin(origin, host)

    def refusal(self) -> tuple[int, str] | None:
        """The close code and reason for a socket that may not stay, or None if it may."""
        if self.closing:
            return protocol.GOING_AWAY, "the server is shutting down"
        if len(self.open) >= self.max_connections:
            return protocol.TRY_AGAIN_LATER, "the server is full, try again later"
        return None

    @contextmanager
    def admitted(self, connection):
        self.open.add(connection)
        try:
            yield
        finally:
            self.open.discard(connection)

    async def shut_down(self) -> None:
        """Refuse new sockets and close the open ones with 1001 (their drawings are saved as they end)."""
        self.closing = True
        log.info("shutting down: closing %d open sockets", len(self.open))
        await asyncio.gather(*(c.close(protocol.GOING_AWAY, "the server is shutting down") for c in list(self.open)),
                             return_exceptions=True)
