"""The sketch pipeline: validation, simplification and parity with Google's bitmaps."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from core import sketch
from core.sketch import SketchError

SQUARE = [[[0, 100, 100, 0, 0], [0, 0, 100, 100, 0]]]


def test_valid_drawing_becomes_float_arrays():
    drawing = sketch.validate([[[1, 2.5], [3, 4], [0, 17]]])
    assert len(drawing) == 1
    assert drawing[0].dtype == np.float64
    assert drawing[0].tolist() == [[1, 2.5], [3, 4], [0, 17]]


@pytest.mark.parametrize(
    "strokes",
    [
        [],
        None,
        "strokes",
        [[[0, 1]]],  # only x
        [[[0, 1], [0, 1], [0, 1], [0, 1]]],  # four rows
        [[[0, 1], [0]]],  # ragged
        [[[0, 1], [0, 1], [0]]],  # ragged t
        [[[], []]],  # no points
        [[[0, "1"], [0, 1]]],  # string
        [[[0, True], [0, 1]]],  # bool is not a coordinate
        [[[0, None], [0, 1]]],
        [[[0, [1]], [0, 1]]],  # nested
        [[[0, math.nan], [0, 1]]],
        [[[0, math.inf], [0, 1]]],
        [[[0, 1], [0, -math.inf]]],
        [[[0, 10**400], [0, 1]]],  # an integer no float can hold
        [[[0, 1e9 + 1], [0, 1]]],  # beyond MAX_COORDINATE
        [[{"x": 1}, [0]]],
    ],
)
def test_bad_drawing_is_rejected_with_sketch_error(strokes):
    with pytest.raises(SketchError):
        sketch.validate(strokes)


def test_numbers_of_other_real_types_are_accepted_and_converted():
    drawing = sketch.validate([[[np.float32(1.5), np.int64(2)], [Fraction(1, 2), 3]]])
    assert drawing[0].dtype == np.float64 and drawing[0].tolist() == [[1.5, 2.0], [0.5, 3.0]]


def test_million_points_are_rejected_before_conversion():
    xs = list(range(1_000_000))
    with pytest.raises(SketchError, match="too many points"):
        sketch.validate([[xs, xs]])


def test_too_many_strokes_and_total_points_are_rejected():
    limits = sketch.Limits(max_strokes=3, max_points_per_stroke=10, max_points=15)
    with pytest.raises(SketchError, match="too many strokes"):
        sketch.validate([[[0], [0]]] * 4, limits)
    with pytest.raises(SketchError, match="too many points in the drawing"):
        sketch.validate([[list(range(8)), list(range(8))]] * 2, limits)


def test_simplify_aligns_and_scales_the_longer_side_to_255():
    drawing = sketch.validate([[[1000, 1400, 1400], [-50, -50, 150]]])
    (stroke,) = sketch.simplify(drawing)
    assert stroke.min(axis=1).tolist() == [0, 0]
    assert stroke.max(axis=1).tolist() == [255, 128]  # aspect ratio kept


def test_simplify_does_not_depend_on_origin_or_scale():
    base = sketch.validate(SQUARE + [[[10, 90], [50, 50]]])
    moved = [np.vstack([s[0] * 3.7 - 500, s[1] * 3.7 + 12]) for s in base]
    for a, b in zip(sketch.simplify(base), sketch.simplify(moved)):
        np.testing.assert_array_equal(a, b)


def test_simplify_drops_collinear_points_with_rdp():
    xs = list(range(0, 256))
    (stroke,) = sketch.simplify(sketch.validate([[xs, [0.0] * len(xs)]]))
    assert stroke.tolist() == [[0, 255], [0, 0]]


def test_single_point_and_zero_size_drawings_still_rasterize():
    image = sketch.to_model_input(sketch.validate([[[5], [5]]]))
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image.max() > 0  # a dot is visible


def test_rasterize_is_white_ink_on_black_and_centred():
    image = sketch.to_model_input(sketch.validate(SQUARE))
    assert image[0, 0] == 0 and image[14, 14] == 0  # background, inside of the square
    assert image.max() == 255
    cols = np.nonzero(image.max(axis=0))[0]
    rows = np.nonzero(image.max(axis=1))[0]
    assert cols[0] + cols[-1] == 27 and rows[0] + rows[-1] == 27  # symmetric margins


def test_a_flat_drawing_is_centred_vertically():
    flat = [[[0, 255, 255, 0, 0], [0, 0, 40, 40, 0]]]  # wide and low: simplify puts it at the top of the box
    image = sketch.to_model_input(sketch.validate(flat))
    rows = np.nonzero(image.max(axis=1))[0]
    assert rows[0] > 5 and abs(rows[0] + rows[-1] - 27) <= 1  # as far from the top as from the bottom


def _parity_maes(quickdraw_dir, render):
    lines = (quickdraw_dir / "parity" / "strokes.ndjson").read_text().splitlines()
    official = np.load(quickdraw_dir / "parity" / "bitmaps.npy").reshape(-1, 28, 28)
    assert len(lines) == len(official) > 500
    maes = []
    for line, target in zip(lines, official):
        image = render(sketch.validate(json.loads(line)["drawing"]))
        maes.append(np.abs(image.astype(int) - target.astype(int)).mean())
    return np.array(maes)


def test_rasterizer_matches_official_bitmaps(quickdraw_dir):
    maes = _parity_maes(quickdraw_dir, sketch.rasterize)
    assert np.median(maes) <= 1.0, f"median MAE {np.median(maes):.2f}/255"
    assert maes.max() <= 3.0, f"worst MAE {maes.max():.2f}/255"


def test_whole_pipeline_stays_close_to_official_bitmaps(quickdraw_dir):
    # Re-simplifying an already simplified drawing may re-align it when RDP
    # dropped its extreme point, so the whole pipeline is a little further off.
    maes = _parity_maes(quickdraw_dir, sketch.to_model_input)
    assert np.median(maes) <= 1.5, f"median MAE {np.median(maes):.2f}/255"
    assert np.percentile(maes, 99) <= 5.0


def test_work_counts_points_and_the_ink_in_the_256_box_whatever_the_drawing_size():
    square = sketch.validate(SQUARE)
    ink = 4 * sketch.BOX  # the square's four sides, scaled to span the box
    assert sketch.work(square) == 5 * sketch.POINT_WORK + ink
    assert sketch.work([stroke * 7 for stroke in square]) == sketch.work(square)  # the scale does not count
    dot = sketch.validate([[[3], [4]]])
    assert sketch.work(dot) == sketch.POINT_WORK  # no ink, no extent: no division by zero


def test_a_scribble_costs_more_work_than_as_many_points_drawn_by_hand():
    rng = np.random.default_rng(1)
    scribble = [np.array([rng.random(200) * 1000, rng.random(200) * 1000])]
    walk = [np.cumsum(rng.integers(-3, 4, (2, 200)), axis=1).astype(float)]
    assert sketch.work(scribble) > 3 * sketch.work(walk)  # ~400 ms against ~45 ms at 20,000 points
