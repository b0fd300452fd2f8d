"""The one sketch pipeline: strokes in, the network's 28×28 input out.

Serving and training both import this module; nothing else rasterizes.
A *drawing* is a list of strokes, each a float64 array of shape (2, n) or
(3, n): rows x, y and optionally t (ms since the drawing began), exactly the
Quick, Draw! ``[[x…], [y…], [t…]]`` layout.

    image = to_model_input(validate(raw_strokes))

The steps follow Google's description of the dataset (see DATA.md in the
data package): ``simplify`` makes the dataset's "simplified" drawing and
``rasterize`` draws it the way the official ``numpy_bitmap`` files were drawn.
"""

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import cv2
import numpy as np

# Simplification (Google's "simplified" ndjson).
BOX = 255  # the longer side of a simplified drawing spans 0..BOX
POINT_WORK = 14  # a point costs the pipeline as much as 14 units of ink (fitted on scribbles and random walks)
RESAMPLE_SPACING = 1.0  # resample strokes every 1 unit before RDP
RDP_EPSILON = 2.0  # Ramer–Douglas–Peucker tolerance

# Rasterization (Google's numpy_bitmap, drawn with cairo).
SIZE = 28  # output bitmap side in pixels
CANVAS = 256  # the simplified drawing is centred in a 256-unit box ...
PADDING = 16  # ... padded by 16 units on each side, plus one line width in all
LINE_WIDTH = 16  # lines are 16 units wide
SUPERSAMPLE = 16  # draw at 16× and area-average down: anti-aliasing like cairo's
_SUBPIXEL_BITS = 4  # OpenCV fixed-point coordinates: 1/16 pixel precision
_SCALE = SIZE / (CANVAS + 2 * PADDING + LINE_WIDTH)  # units → output pixels (28/304)
_OFFSET = PADDING + LINE_WIDTH / 2  # translation into the padded box, in units
# OpenCV's anti-aliased thick lines come out wider than asked: for the 23.6 pixels wanted on the big canvas,
# thickness 22 draws 0.99 of the ink of Google's bitmaps (parity pairs: median MAE 0.56/255); 23 and 24 draw
# 1.06-1.07 of it (2.7-2.9/255), a brighter edge a net can learn to tell apart from Google's.
_THICKNESS = 22  # line width on the big canvas, as OpenCV counts it
MAX_COORDINATE = 1e9  # |x|, |y|, |t| bound: pixels and ms are far below; beyond, float arithmetic overflows


@dataclass(frozen=True)
class Limits:
    """Bounds on what a drawing may hold, and one message may add to it; beyond them input is rejected, not clipped."""

    max_strokes: int = 256
    max_points_per_stroke: int = 4096
    max_points: int = 20_000
    max_points_per_message: int = 1024  # a pointer batch is tens of points; 1,024 leaves room for script clients


class SketchError(ValueError):
    """A drawing that the pipeline refuses; ``str(error)`` says why."""


def validate(strokes: object, limits: Limits = Limits()) -> list[np.ndarray]:
    """Check raw ``[[x…], [y…], [t…]?]`` strokes and return them as float arrays.

    Raises:
        SketchError: not a non-empty list of strokes of equal-length finite
            numbers, or over ``limits``.
    """
    if not isinstance(strokes, (list, tuple)) or not strokes:
        raise SketchError("a drawing must be a non-empty list of strokes")
    if len(strokes) > limits.max_strokes:
        raise SketchError(f"too many strokes: {len(strokes)} > {limits.max_strokes}")
    drawing, total = [], 0
    for i, stroke in enumerate(strokes):
        array = validate_stroke(stroke, limits, name=f"stroke {i}")
        total += array.shape[1]
        if total > limits.max_points:
            raise SketchError(f"too many points in the drawing: more than {limits.max_points}")
        drawing.append(array)
    return drawing


def work(drawing: list[np.ndarray]) -> int:
    """What classifying a drawing costs, in units of ~0.13 µs on one core: ``POINT_WORK`` per point (each may
    become a thick anti-aliased segment to draw) plus one per unit of ink in the dataset's 256 box (what
    ``simplify`` resamples and ``rasterize`` covers). A few hundred scribbled points can hold more ink than
    thousands drawn by hand, and cost as much more (bench/fair_share.py)."""
    points = np.concatenate([s[:2] for s in drawing], axis=1)
    extent = float((points.max(axis=1) - points.min(axis=1)).max())
    scale = BOX / extent if extent > 0 else 0.0
    steps = np.hypot(*np.diff(points, axis=1))  # one pass over the whole drawing: it runs on the event loop
    steps[np.cumsum([s.shape[1] for s in drawing])[:-1] - 1] = 0.0  # no step from a stroke's end to the next
    return POINT_WORK * int(points.shape[1]) + math.ceil(float(steps.sum()) * scale)


def validate_stroke(stroke: object, limits: Limits = Limits(), name: str = "stroke") -> np.ndarray:
    """Check one ``[[x…], [y…], [t…]?]`` stroke and return it as a (2|3, n) float array.

    Raises:
        SketchError: wrong shape, ragged rows, non-numbers, NaN/inf or too many points.
    """
    if not isinstance(stroke, (list, tuple)) or len(stroke) not in (2, 3):
        raise SketchError(f"{name} must be [[x…], [y…]] or [[x…], [y…], [t…]]")
    for row in stroke:
        if not isinstance(row, (list, tuple)):
            raise SketchError(f"{name}: x, y and t must be lists of numbers")
    n = len(stroke[0])
    if n == 0:
        raise SketchError(f"{name} has no points")
    if n > limits.max_points_per_stroke:
        raise SketchError(f"{name} has too many points: {n} > {limits.max_points_per_stroke}")
    if any(len(row) != n for row in stroke):
        raise SketchError(f"{name}: x, y and t must have the same length")
    # JSON gives exactly int or float, checked at C speed; anything else gets the exact (slow) check.
    if not all(set(map(type, row)) <= _PLAIN_NUMBERS for row in stroke) and not all(
        _is_number(v) for row in stroke for v in row
    ):
        raise SketchError(f"{name}: coordinates must be numbers")
    try:
        array = np.array(stroke, dtype=np.float64)
    except OverflowError:  # an integer of 400 digits cannot even become a float
        array = None
    if array is None or not (np.abs(array) <= MAX_COORDINATE).all():  # NaN fails the comparison too
        raise SketchError(f"{name}: coordinates must be finite and within ±{MAX_COORDINATE:g} (no NaN or infinity)")
    return array


_PLAIN_NUMBERS = {int, float}  # not bool: type(True) is bool


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def simplify(drawing: list[np.ndarray]) -> list[np.ndarray]:
    """Turn a drawing in any coordinates into the dataset's simplified form.

    Align to the top-left, scale uniformly so the longer side spans 0..255,
    resample every unit and apply RDP (ε = 2). Returns (2, n) float arrays.
    """
    points = np.concatenate([s[:2] for s in drawing], axis=1)
    low = points.min(axis=1, keepdims=True)
    extent = float((points.max(axis=1, keepdims=True) - low).max())
    scale = BOX / extent if extent > BOX / np.finfo(np.float64).max else 1.0  # a subnormal extent is a dot
    sizes = [s.shape[1] for s in drawing]
    lines = _resample(((points - low) * scale).T, sizes)
    return [
        np.round(cv2.approxPolyDP(line, RDP_EPSILON, closed=False).reshape(-1, 2).T.astype(np.float64))
        for line in lines
    ]


def _resample(points: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Each stroke's points every RESAMPLE_SPACING units along it, ends kept, as (n, 1, 2) float32.

    All strokes at once (one numpy pass, not one per stroke): ``points`` holds
    them back to back, ``sizes`` their lengths. Positions along stroke k are
    offset by k·GAP so one interpolation over the whole drawing never mixes strokes.
    """
    ends = np.cumsum(sizes)
    starts = ends - sizes
    steps = np.hypot(*np.diff(points, axis=0).T)
    steps[ends[:-1] - 1] = 0.0  # no step from one stroke's end to the next one's start
    along = np.concatenate([[0.0], np.cumsum(steps)])
    base = along[starts]
    lengths = along[ends - 1] - base
    counts = np.where(lengths > 0, np.ceil(lengths / RESAMPLE_SPACING).astype(np.int64) + 1, 1)
    stroke = np.repeat(np.arange(len(sizes)), counts)
    first = np.cumsum(counts) - counts
    at = (np.arange(counts.sum()) - first[stroke]) * RESAMPLE_SPACING
    last = first + counts - 1
    at[last] = lengths  # the stroke's end exactly
    gap = 2.0 ** np.ceil(np.log2(lengths.max() + 2 * RESAMPLE_SPACING))
    offset = np.arange(len(sizes)) * gap - base
    domain = along + np.repeat(offset, sizes)
    at += stroke * gap
    resampled = np.column_stack([np.interp(at, domain, points[:, 0]), np.interp(at, domain, points[:, 1])])
    return np.split(resampled.astype(np.float32).reshape(-1, 1, 2), first[1:])


def rasterize(simplified: list[np.ndarray]) -> np.ndarray:
    """Draw a simplified drawing as a 28×28 uint8 bitmap, white ink on black.

    Matches Google's ``numpy_bitmap``: centred on the bounding box in a 256
    box, padded, round-capped anti-aliased lines 16 units wide.
    """
    top = np.concatenate([s[:2] for s in simplified], axis=1).max(axis=1)
    shift = (CANVAS - top) / 2 + _OFFSET  # centre on the bounding box, then pad
    canvas = np.zeros((SIZE * SUPERSAMPLE, SIZE * SUPERSAMPLE), np.uint8)
    lines = []
    for stroke in simplified:
        # OpenCV puts integer coordinates on pixel centres, hence the -0.5.
        big = ((stroke[:2].T + shift) * _SCALE * SUPERSAMPLE - 0.5) * (1 << _SUBPIXEL_BITS)
        line = np.round(big).astype(np.int32)
        lines.append(line if len(line) > 1 else np.repeat(line, 2, axis=0))  # a dot
    cv2.polylines(canvas, lines, False, 255, _THICKNESS, cv2.LINE_AA, _SUBPIXEL_BITS)
    return cv2.resize(canvas, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def to_model_input(drawing: list[np.ndarray]) -> np.ndarray:
    """A validated drawing in any coordinates → the 28×28 uint8 bitmap the model sees."""
    return rasterize(simplify(drawing))


def preprocessing_parameters() -> dict[str, Any]:
    """The constants above, stored in the model card and checked when a model loads."""
    return {
        "box": BOX,
        "resample_spacing": RESAMPLE_SPACING,
        "rdp_epsilon": RDP_EPSILON,
        "size": SIZE,
        "canvas": CANVAS,
        "padding": PADDING,
        "line_width": LINE_WIDTH,
        "supersample": SUPERSAMPLE,
        "opencv_thickness": _THICKNESS,
        "ink": "white on black, uint8 0..255",
    }
