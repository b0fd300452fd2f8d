"""The saved drawings in PostgreSQL: the table both the server and the training CLI use.

One row per drawing: its id, the record exactly as a directory store keeps it
in ``<id>.ndjson`` (the raw format plus ``mode``, ``guesses``, ``ended_ms``),
and its PNG. Saving the same id again keeps the version with the most points
(a tie goes to the later save), so a drawing resumed after a reconnect is
stored once, whole, whatever the client's clock said.
"""

from typing import Iterator

from core import records

CREATE = """
CREATE TABLE IF NOT EXISTS drawings (
    id text PRIMARY KEY,
    record jsonb NOT NULL,
    png bytea NOT NULL,
    ended_ms bigint,
    saved_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE drawings ADD COLUMN IF NOT EXISTS points integer"""
UPSERT = """
INSERT INTO drawings (id, record, png, ended_ms, points) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, png = EXCLUDED.png, ended_ms = EXCLUDED.ended_ms,
    points = EXCLUDED.points, saved_at = now()
WHERE drawings.points IS NULL OR EXCLUDED.points >= drawings.points"""
RECENT = "SELECT id, record FROM drawings ORDER BY id DESC LIMIT %s OFFSET %s"
RECENT_OF_WORD = "SELECT id, record FROM drawings WHERE record->>'word' = %s ORDER BY id DESC LIMIT %s OFFSET %s"
RECORD = "SELECT record FROM drawings WHERE id = %s"
PNG = "SELECT png FROM drawings WHERE id = %s"
ALL = "SELECT record FROM drawings ORDER BY id"


def read_samples(url: str, stats: records.ReadStats) -> Iterator[records.Sample]:
    """Samples from the drawings table at ``url``, oldest first, streamed with a server-side cursor."""
    import psycopg  # only a reader of a database needs the driver

    with psycopg.connect(url) as connection, connection.cursor(name="drawings") as cursor:
        cursor.execute(ALL)
        for (record,) in cursor:
            try:
                sample = records.parse_record(record)
            except (ValueError, TypeError) as error:
                stats.skipped[type(error).__name__] += 1
                continue
            stats.read += 1
            yield sample
