"""Logging set-up for ``python -m server``: one line per event, as ``key=value`` text or JSON.

Fields passed with ``extra={...}`` (connection id, drawings, errors, close
code) are appended to the line, so each connection's open and close can be
grepped or parsed.
"""

import json
import logging
import sys

FORMATS = ("text", "json")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_STANDARD |= {"color_message"}  # Uvicorn's terminal-coloured copy of the message


def fields(record: logging.LogRecord) -> dict:
    """The ``extra`` fields of a record, in the order they were given."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class KeyValueFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 INFO server.ws: connection closed id=3f… drawings=2``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{key}={_value(value)}" for key, value in fields(record).items())
        return f"{line} {extra}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the extra fields, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO", fmt: str = "text", worker: str | None = None) -> None:
    """Send every log line to stderr in ``fmt`` at ``level`` and above (replaces earlier handlers).

    A worker process (``--workers``) names itself in a ``worker`` field on each line.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    if worker is not None:
        handler.addFilter(lambda record: setattr(record, "worker", worker) or True)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _value(value) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' ="') else text
