"""Start-up clean-up of the saved directory after a crash.

``store.SavedDrawingStore`` writes ``.tmp-*`` files and renames them into
place, PNG first and record last; a process killed in between leaves a temp
file or a PNG without its record. Neither is a saved drawing, so both go.
"""

import logging
from pathlib import Path

from core.records import ID_PATTERN

log = logging.getLogger("server.recovery")
TEMP_PREFIX = ".tmp-"  # store._write's mkstemp prefix


def sweep(directory: Path | str) -> list[Path]:
    """Remove temp files and record-less PNGs left by a killed server; returns what was removed.

    Run it before serving only: during serving a PNG may legitimately wait for its record.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    leftovers = [p for p in directory.glob(TEMP_PREFIX + "*") if p.is_file()]
    leftovers += [
        p for p in directory.glob("*.png") if ID_PATTERN.match(p.stem) and not p.with_suffix(".ndjson").exists()
    ]
    removed = []
    for path in leftovers:
        try:
            path.unlink()
            removed.append(path)
        except OSError as error:
            log.warning("could not remove a leftover file %s: %s", path.name, error)
    if removed:
        log.warning(
            "removed %d unfinished files from %s (an earlier run was killed while saving)", len(removed), directory
        )
    return removed
