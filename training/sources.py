"""What a data directory holds, in either layout, without loading it.

Two layouts are read as they are, never renamed:

* the bucket's, as ``python -m training fetch --out D`` writes it:
  ``D/numpy_bitmap/<word>.npy``, ``D/simplified/<word>.ndjson``, ``D/raw/<word>.ndjson``;
* the data package's: ``D/bitmaps/<word>.npy`` and the multi-word evaluation
  files ``D/strokes/simplified.ndjson.gz`` and ``D/strokes/raw.ndjson.gz``.

A word's bitmaps are opened memory-mapped, so a 300 MB file costs nothing
until rows are read. Per-word stroke files are training data for words with no
bitmaps; the package's multi-word stroke files are evaluation data.
"""

from dataclasses import dataclass, field
from pathlib import Path

BITMAP_DIRS = ("numpy_bitmap", "bitmaps")  # the bucket's name, the data package's name
WORD_STROKE_DIRS = ("simplified", "raw")  # the bucket's per-word ndjson files
EVALUATION_FILES = ("strokes/simplified.ndjson.gz", "strokes/raw.ndjson.gz")  # the data package's


@dataclass
class Sources:
    bitmaps: dict[str, Path] = field(default_factory=dict)  # word → .npy file
    word_strokes: dict[str, list[Path]] = field(default_factory=dict)  # word → its .ndjson files
    evaluation: list[Path] = field(default_factory=list)  # multi-word stroke files

    @property
    def stroke_words(self) -> list[str]:
        """Words that have per-word stroke files and no bitmaps: trained from their drawings."""
        return sorted(set(self.word_strokes) - set(self.bitmaps))


def find(data_dir: Path | str) -> Sources:
    """The bitmap and stroke files under ``data_dir`` in the bucket's or the package's layout.

    Raises:
        FileNotFoundError: nothing to train on (no bitmaps and no per-word stroke files).
        ValueError: one word has bitmap files in both layouts.
    """
    root = Path(data_dir)
    found = Sources()
    for name in BITMAP_DIRS:
        for path in sorted((root / name).glob("*.npy")):
            if path.stem in found.bitmaps:
                raise ValueError(f"{path.stem!r} has bitmaps in both {found.bitmaps[path.stem]} and {path}")
            found.bitmaps[path.stem] = path
    for name in WORD_STROKE_DIRS:
        for path in sorted((root / name).glob("*.ndjson")):
            found.word_strokes.setdefault(path.stem, []).append(path)
    found.evaluation = [root / name for name in EVALUATION_FILES if (root / name).is_file()]
    if not found.bitmaps and not found.word_strokes:
        raise FileNotFoundError(
            f"no training data in {root}: expected numpy_bitmap/<word>.npy or simplified|raw/<word>.ndjson "
            f"(as `python -m training fetch --out {root}` writes them) or bitmaps/<word>.npy (the data package)"
        )
    return found
