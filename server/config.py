"""Server settings: defaults → ``QUICKDRAW_*`` environment → an explicit mapping.

Every limit lives here once, with why it has its value, and is checked at
start-up so a bad value fails before the first player connects.
"""

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Mapping

from core import sketch

ENV_PREFIX = "QUICKDRAW"
EVENT_LOOPS = ("uvloop", "asyncio")


class ConfigError(ValueError):
    """A setting with the wrong type or out of range; ``str(error)`` names it."""


@dataclass(frozen=True)
class Settings:
    """All tunables of the server; field names are the config keys in upper case."""

    host: str = "127.0.0.1"  # loopback unless asked: a game server is opened on purpose
    port: int = 5000
    model_dir: str = "model"
    saved_dir: str = "saved_pictures"  # the drawings, or with STORE_URL the spool for what the database cannot take yet
    store_url: str = ""  # postgresql://…: keep drawings in PostgreSQL (core/db.py) instead of SAVED_DIR
    redis_url: str = ""  # redis://…: rooms shared by every instance through Redis; empty: rooms in this process
    max_rooms: int = 1000  # rooms open at once (across instances, with REDIS_URL); ~8 sockets each at most
    room_break_s: float = 5.0  # before each room round: "get ready", and the last round's results
    max_frame_bytes: int = 64 * 1024  # a 1,000-point message is ~25 KB; larger frames are closed on the wire (1009)
    max_body_bytes: int = 1024 * 1024  # POST /api/guess carries a whole drawing
    max_points_per_message: int = sketch.Limits.max_points_per_message
    max_points_per_stroke: int = sketch.Limits.max_points_per_stroke
    max_points: int = sketch.Limits.max_points  # per drawing
    max_strokes: int = sketch.Limits.max_strokes  # per drawing
    messages_per_second: float = 200.0  # pointer events come at ≤ 120 Hz; beyond this is a flood
    message_burst: int = 400  # a script client may send a stroke's batches back to back
    max_refused_messages: int = 100  # refusals (error answers but drawing_ended) per 10 s; one more closes it (1008)
    live_guess_interval_ms: int = 100  # guesses while a stroke is drawn, at most this often
    # A fair share of the classifier: every classification costs its drawing's work (core.sketch.work, units of
    # ~0.13 µs of CPU, plus a fixed 200 for the network). A real drawing's guess costs 2,000-12,000, a connection
    # drawing at full speed with live guesses up to ~100,000/s; beyond the budget its guesses wait, and so does the
    # reading of its messages. A cost over the burst is taken from a full bucket, which then owes the rest: the
    # connection is not read until it has paid.
    classify_points_per_second: float = 150_000.0  # ~20 ms of CPU a second
    classify_points_burst: int = 1_000_000  # ~7 s of it (the biggest drawing the limits allow costs ~3 million)
    api_points_per_second: float = 150_000.0  # the same budget for POST /api/guess, per client address
    live_guess_max_backlog: int = 1  # live guesses only when no inference is waiting: owed guesses come first
    game_time_limit_s: float = 20.0  # Quick, Draw!'s own limit; load() caps it at MAX_DRAWING_S, which ends any drawing
    # The win rule, chosen for the shipped model by bench/recognition_rule.py (docs/MODEL.md, "The game's trade-off").
    recognition_threshold: float = 0.45  # p(prompt) at or above this counts as recognized ...
    first_stroke_threshold: float = 0.7  # ... but a drawing of one stroke needs this: a lone arc is not yet a banana
    recognition_top_guess: bool = True  # ... and the prompt must also be the network's top guess
    ping_interval_s: float = 20.0  # WebSocket pings keep idle sockets alive through proxies ...
    ping_timeout_s: float = 20.0  # ... and a peer that answers none for this long is closed (1011)
    max_connections: int = 500  # open sockets at once; beyond it new ones are closed with 1013 (try again later)
    idle_timeout_s: float = 300.0  # a socket with no message for this long is closed with 1000 ("idle")
    head_timeout_s: float = 10.0  # a connection must send a whole request head (the handshake) within this
    max_drawing_s: float = 600.0  # a drawing open this long is ended (timeout) and saved, in any mode
    heap_trim_interval_s: float = 10.0  # how often freed heap goes back to the system (server/memory.py)
    workers: int = 1  # server processes sharing the port; each uses at most ~1 core (the GIL), so ≤ the cores to spare
    event_loop: str = "uvloop"  # "uvloop" (less CPU per message; falls back when not installed) or "asyncio"
    secret: str = ""  # signs resume tokens: instances that share players (and restarts) need the same one
    forwarded_allow_ips: str = "127.0.0.1"  # proxies (nginx) whose X-Forwarded-For/-Proto are believed
    allowed_origins: str = ""  # comma-separated extra origins for /ws ("*" = any); same-origin always allowed

    @property
    def limits(self) -> sketch.Limits:
        """The drawing limits in the sketch pipeline's terms."""
        return sketch.Limits(self.max_strokes, self.max_points_per_stroke, self.max_points, self.max_points_per_message)

    def check(self) -> "Settings":
        """Raise ConfigError unless every value has its type and a sensible range."""
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, field.type) or (isinstance(value, bool) and field.type is not bool):
                raise ConfigError(f"{field.name.upper()} must be {field.type.__name__}, got {value!r}")
            if field.type not in (str, bool) and value <= 0 and field.name != "port":
                raise ConfigError(f"{field.name.upper()} must be positive, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"PORT must be 0..65535, got {self.port}")
        for name in ("recognition_threshold", "first_stroke_threshold"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name.upper()} must be in (0, 1], got {getattr(self, name)}")
        if self.max_points_per_message > self.max_points_per_stroke:
            raise ConfigError("MAX_POINTS_PER_MESSAGE must not exceed MAX_POINTS_PER_STROKE")
        if self.store_url and not self.store_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"STORE_URL must be a postgresql:// URL, got {self.store_url[:40]!r}")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"REDIS_URL must be a redis:// URL, got {self.redis_url[:40]!r}")
        if self.event_loop not in EVENT_LOOPS:
            raise ConfigError(f"EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}")
        if self.message_burst < 1:
            raise ConfigError("MESSAGE_BURST must be at least 1")
        if self.classify_points_burst < self.max_points:
            raise ConfigError(
                "CLASSIFY_POINTS_BURST must be at least MAX_POINTS, or a big drawing could never be classified"
            )
        return self

    def to_config(self) -> dict:
        return {key.upper(): value for key, value in asdict(self).items()}


KEYS = {field.name.upper(): field.name for field in fields(Settings)}


def load(overrides: Mapping | None = None, environ: Mapping | None = None) -> Settings:
    """Defaults, then ``QUICKDRAW_<KEY>`` variables, then ``overrides`` (unknown keys rejected).

    Environment values are parsed as JSON when they can be (like Quart's
    ``Config.from_prefixed_env``), so ``QUICKDRAW_PORT=5001`` is a number.

    Raises:
        ConfigError: an unknown key in ``overrides`` or a value of the wrong type or range.
    """
    values = {}
    for key, text in (os.environ if environ is None else environ).items():
        name = key.removeprefix(ENV_PREFIX + "_")
        if key.startswith(ENV_PREFIX + "_") and name in KEYS:  # other QUICKDRAW_* vars (DATA) are not ours
            values[KEYS[name]] = _parse_env(text, _TYPES[KEYS[name]])
    for key, value in (overrides or {}).items():
        if key.upper() not in KEYS:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(KEYS))}")
        values[KEYS[key.upper()]] = value
    for name, value in values.items():
        if _TYPES[name] is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)  # 20 means 20.0
    settings = Settings(**values).check()
    # A round is a drawing, so MAX_DRAWING_S ends it too: the limit announced (hello, round, room, page) is the one kept.
    return replace(settings, game_time_limit_s=min(settings.game_time_limit_s, settings.max_drawing_s))


_TYPES = {field.name: field.type for field in fields(Settings)}


def _parse_env(text: str, kind: type):
    """A string setting stays as written; others are read as JSON (kept as text if not JSON)."""
    if kind is str:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


SECRET_FILE = ".secret"  # in SAVED_DIR: without SECRET, tokens still survive a restart of this host


def stored_secret(directory: Path | str) -> str:
    """The secret kept in ``directory``/.secret, made on first use (readable by this user only), so resume and
    seat tokens survive a restart when ``SECRET`` is not set. An unwritable directory gets a secret of this
    process's own (tokens then die with it)."""
    path = Path(directory) / SECRET_FILE
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
            try:
                with os.fdopen(fd, "w") as file:
                    file.write(secrets.token_hex(32))
                os.link(temporary, path)  # atomic; another process may have made it first, and its one wins
            except FileExistsError:
                pass
            finally:
                os.unlink(temporary)
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    except OSError:
        pass
    return secrets.token_hex(32)
