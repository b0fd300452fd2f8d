"""What the client needs to know of protocol version 1, as plain values, and the errors it raises.

The server defines the protocol in ``server/protocol.py``; this package does not import it, so that a
script needs only ``websockets``. ``docs/PROTOCOL.md`` is the contract both follow.
"""

VERSION = 1
SUBPROTOCOL = "quickdraw.v1"

# Error codes the client acts on (the others reach the caller as ServerError.code).
RATE_LIMITED = "rate_limited"  # sent again after ``retry_after``
NO_DRAWING = "no_drawing"  # no open drawing: before start, or after the drawing ended
DRAWING_ENDED = "drawing_ended"  # the server ended the drawing (recognized, timeout, room round over)


class ServerError(Exception):
    """The server refused a request with an ``error``; ``code`` says why (docs/PROTOCOL.md, error codes)."""

    def __init__(self, error: dict):
        super().__init__(f"{error['code']}: {error['message']}")
        self.code, self.message = error["code"], error["message"]


class ServerClosed(ConnectionError):
    """The server closed the socket; ``code`` is its close code (1000 idle, 1001 shutdown, 1008 flood…)."""

    def __init__(self, code: int):
        super().__init__(f"the server closed the connection with {code}")
        self.code = code
