"""Augmentation that fits sketches.

Bitmaps: a small random affine (shift, scale, rotate, shear) and a mirror,
drawn here and applied in the input pipeline by TensorFlow (``random_transforms``;
``augment_bitmap`` does the same with OpenCV, as a reference). Strokes (classes that exist only
as drawings): distort the coordinates, jitter points, drop or cut strokes, and
always render through ``core.sketch.to_model_input``, the serving path.
"""

import cv2
import numpy as np

from core import sketch

CENTRE = (sketch.SIZE - 1) / 2


def _affine(rng: np.random.Generator, rotate: float, scale: tuple, shear: float) -> np.ndarray:
    """A random 2×2 linear map: rotation, per-axis scale and shear."""
    angle = np.deg2rad(rng.uniform(-rotate, rotate))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    shearing = np.array([[1.0, rng.uniform(-shear, shear)], [0.0, 1.0]])
    scaling = np.diag(rng.uniform(*scale, size=2))
    return rotation @ shearing @ scaling


def bitmap_affine(rng: np.random.Generator) -> np.ndarray:
    """A random 2×3 affine map of 28×28 pixel coordinates: mirrored half the time, warped a little around the centre.

    Kept small on purpose: the serving path always centres and scales a drawing
    to fill the box, so large shifts or zooms would teach a distribution never served.
    """
    linear = _affine(rng, rotate=8, scale=(0.92, 1.06), shear=0.08)
    if rng.random() < 0.5:
        linear = linear @ np.diag([-1.0, 1.0])  # mirror: most sketched things face either way
    shift = rng.uniform(-1.0, 1.0, size=2)
    return np.column_stack([linear, CENTRE - linear @ [CENTRE, CENTRE] + shift])


def augment_bitmap(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 28×28 uint8 image warped by ``bitmap_affine`` (the reference for ``random_transforms``)."""
    return cv2.warpAffine(
        image,
        bitmap_affine(rng),
        image.shape[::-1],
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def random_transforms(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` maps from ``bitmap_affine`` as TensorFlow's projective transforms (output → input pixel), (n, 8) float32."""
    transforms = np.zeros((n, 8), np.float32)
    for i in range(n):
        matrix = bitmap_affine(rng)
        inverse = np.linalg.inv(matrix[:, :2])
        transforms[i, [0, 1, 3, 4]] = inverse.ravel()
        transforms[i, [2, 5]] = -inverse @ matrix[:, 2]
    return transforms


def identity(n: int) -> np.ndarray:
    """``n`` transforms that leave an image as it is."""
    return np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (n, 1))


def augment_strokes(drawing: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A randomly distorted copy of a validated drawing (x, y rows only)."""
    strokes = [s[:2].copy() for s in drawing]
    if len(strokes) > 1:
        keep = rng.random(len(strokes)) > 0.12  # drop a stroke now and then ...
        keep[rng.integers(len(strokes))] = True  # ... but never all of them
        strokes = [s for s, k in zip(strokes, keep) if k]
    if rng.random() < 0.3:  # an unfinished last stroke, as while drawing
        last = strokes[-1]
        strokes[-1] = last[:, : max(1, int(np.ceil(last.shape[1] * rng.uniform(0.5, 1.0))))]
    points = np.concatenate(strokes, axis=1)
    extent = float(np.ptp(points, axis=1).max()) or 1.0
    centre = points.mean(axis=1, keepdims=True)
    linear = _affine(rng, rotate=12, scale=(0.8, 1.2), shear=0.2)
    if rng.random() < 0.5:
        linear = linear @ np.diag([-1.0, 1.0])
    jitter = 0.004 * extent  # more makes wiggly lines that no bitmap has: a cue for the class
    return [linear @ (s - centre) + rng.normal(0.0, jitter, size=s.shape) for s in strokes]


def render_augmented(drawing: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """An augmented drawing rendered by the serving pipeline: (28, 28) uint8."""
    return sketch.to_model_input(augment_strokes(drawing, rng))
