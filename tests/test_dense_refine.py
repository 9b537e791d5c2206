"""The optical-SAR transform brought to full resolution (sarfeat.matching.dense_refine).

The pair is the bundled 3MOS tile (Apache-2.0) enlarged twice (512 x 512), the
SAR tile moved by a known similarity: the dense matcher works at 256 px and
then refines its transform at 512 px.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, resize, warp

from sarfeat.data import load_optical_sar_tile
from sarfeat.matching import DenseStructuralMatcher
from sarfeat.matching.dense_correlation import Reference
from sarfeat.matching import dense_refine
from sarfeat.matching.dense_refine import image_pyramid, nearest_level, refine_to_full
from sarfeat.metrics import registration_rmse
from sarfeat.structural import gradient_maps, prepare_modality

SIDE = 512
CENTRE = np.array([(SIDE - 1) / 2] * 2)
#: fixed (optical) (x, y) -> moving (SAR) (x, y) at 512 px: turned 20 degrees, scaled 0.9.
TRUTH = (SimilarityTransform(translation=-CENTRE)
         + SimilarityTransform(rotation=np.deg2rad(20), scale=0.9)
         + SimilarityTransform(translation=CENTRE + (16, -10)))


@pytest.fixture(scope="module")
def pair():
    optical, sar = (resize(image, (SIDE, SIDE), order=3, preserve_range=True).astype(np.float32)
                    for image in load_optical_sar_tile())
    moved = warp(sar, TRUTH.inverse, order=1, cval=np.nan, preserve_range=True)
    return optical, moved.astype(np.float32)


@pytest.fixture(scope="module")
def matched(pair):
    matcher = DenseStructuralMatcher("optical-sar")
    matcher.match(*pair)
    return matcher


def _fine_maps(image):
    return gradient_maps(image, scales=(1.0, 2.0), cell=2.0, context=8.0)


def test_a_large_pair_is_refined_at_full_resolution(matched):
    diagnostics = matched.diagnostics
    assert matched.model is not None, diagnostics["failure"]
    assert diagnostics["refined_size"] == SIDE
    assert [level["size"] for level in diagnostics["refined_levels"]] == [SIDE]
    assert diagnostics["refined_levels"][0]["kept"]
    # the tile's own alignment is about 1.4 px at 256 px: 3 px at 512 (doubled) allows it
    assert registration_rmse(matched.model, TRUTH.params, (SIDE, SIDE), (SIDE, SIDE)) < 3.5
    # the residuals reported are those of the tie points against the returned model
    inliers = matched.inliers
    residuals = matched.model.residuals(matched.keypoints1[inliers][:, ::-1],
                                        matched.keypoints2[inliers][:, ::-1])
    assert diagnostics["residual_rms"] == pytest.approx(np.sqrt(np.mean(residuals ** 2)))


@pytest.mark.parametrize("max_side", [1024, 320])  # 320: polished on a box of the level
def test_refinement_converges_from_a_displaced_start(pair, matched, max_side, monkeypatch):
    monkeypatch.setattr(dense_refine, "MAX_SIDE", max_side)
    pyramid1 = image_pyramid(prepare_modality(pair[0], "optical"), 2 * 256)
    pyramid2 = image_pyramid(prepare_modality(pair[1], "sar"), 64)
    answer = matched.model.params
    start = answer @ SimilarityTransform(translation=(4, 2)).params
    before = registration_rmse(start, answer, (SIDE, SIDE), (SIDE, SIDE))
    model, found = refine_to_full(pyramid1, pyramid2, start, 256, _fine_maps, 0.35)
    assert found["refined_size"] == SIDE
    after = registration_rmse(model, answer, (SIDE, SIDE), (SIDE, SIDE))
    # on the whole level it comes back to the answer; on a 320 px box (less structure than
    # the whole 512 px tile) most of the way
    assert before > 4 and after < (1.0 if max_side >= SIDE else before / 1.5)
    # a start farther than a refinement may move is left as it was
    far = answer @ SimilarityTransform(translation=(12, 0)).params
    model, found = refine_to_full(pyramid1, pyramid2, far, 256, _fine_maps, 0.35)
    assert found["refined_size"] == 256 and not found["refined_levels"][0]["kept"]
    np.testing.assert_array_equal(model, far)


def test_image_pyramid_halves_and_maps_back():
    image = np.arange(200 * 120, dtype=np.float32).reshape(200, 120)
    image[:10, :10] = np.nan
    levels = image_pyramid(image, 50)
    assert [level.shape for level, _ in levels] == [(200, 120), (100, 60), (50, 30)]
    assert np.isnan(levels[1][0][0, 0]) and np.isfinite(levels[1][0][-1, -1])
    # a level's pixel centre maps to the centre of the image's block it averages
    np.testing.assert_allclose(levels[1][1] @ [0, 0, 1], [0.5, 0.5, 1])
    assert nearest_level(levels, 2.5)[0].shape == (100, 60)
    assert nearest_level(levels, 0.5)[0].shape == (200, 120)
    assert nearest_level(levels, 10)[0].shape == (50, 30)


def test_reach_limited_correlation_is_exact_within_its_reach():
    rng = np.random.default_rng(0)
    maps1 = rng.random((3, 40, 48)).astype(np.float32)
    maps2 = np.roll(maps1, (2, -3), axis=(1, 2)) + 0.3 * rng.random((3, 40, 48)).astype(np.float32)
    reference = Reference(maps1, 0.3)
    full, _ = reference.correlation(maps2)
    near, _ = reference.correlation(maps2, reach=5)
    assert near.shape[0] < full.shape[0]
    for dv in range(-5, 6):
        for du in range(-5, 6):
            assert near[dv % near.shape[0], du % near.shape[1]] == pytest.approx(
                full[dv % full.shape[0], du % full.shape[1]], abs=1e-6)  # float32 FFTs
    row, col = np.unravel_index(np.argmax(near), near.shape)
    # maps2 is maps1 moved by (dx, dy) = (-3, 2): x1 = x2 + (3, -2)
    assert reference.shift((row, col), near.shape) == (3.0, -2.0)


def _box_of_every_sample(level1, to_full1, image2_shape, model):
    """The box as ``_box`` found it before, from every fourth pixel's point at once."""
    height, width = level1.shape
    rows, cols = np.mgrid[0:height:4, 0:width:4]
    points = np.c_[cols.ravel(), rows.ravel(), np.ones(rows.size)]
    inside = (model @ to_full1 @ points.T).T
    keep = ((inside[:, 0] >= 0) & (inside[:, 0] <= image2_shape[1] - 1)
            & (inside[:, 1] >= 0) & (inside[:, 1] <= image2_shape[0] - 1))
    if not keep.any():
        return None
    kept = points[keep, :2]
    margin = dense_refine.POLISH_REACH + 8
    low = np.maximum(kept.min(axis=0) - margin, 0)
    high = np.minimum(kept.max(axis=0) + margin, [width - 1, height - 1])
    return low, high, kept.mean(axis=0)


def test_box_is_found_in_bounded_memory_and_the_same():
    import tracemalloc

    level = np.zeros((4000, 4000), np.float32)  # 1 million samples
    model = np.eye(3)
    model[:2, 2] = (-1000, -500)
    tracemalloc.start()
    try:
        part, to_full = dense_refine._box(level, np.eye(3), (3000, 3500), model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # all the samples' points and their images at once took 61 MB
    assert peak < 16 * 2 ** 20
    assert np.shares_memory(part, level) and part.shape == (1024, 1024)
    low, high, centre = _box_of_every_sample(level, np.eye(3), (3000, 3500), model)
    left = int(np.clip(round(centre[0]) - 512, 0, 4000 - 1024))
    top = int(np.clip(round(centre[1]) - 512, 0, 4000 - 1024))
    np.testing.assert_array_equal(to_full[:2, 2], (left, top))


def test_box_is_the_box_of_every_sample():
    rng = np.random.default_rng(5)
    for _ in range(40):
        height, width = (int(n) for n in rng.integers(20, 1500, 2))
        level = np.zeros((height, width), np.float32)
        to_full = np.diag([2.0, 2.0, 1.0])
        turn, scale = rng.normal(0, 0.05), rng.uniform(0.7, 1.3)
        model = np.eye(3)
        model[:2, :2] = scale * np.array([[np.cos(turn), -np.sin(turn)],
                                          [np.sin(turn), np.cos(turn)]])
        model[:2, 2] = rng.normal(0, 1.0, 2) * (width, height)
        shape2 = tuple(int(n) for n in rng.integers(10, 5 * max(height, width), 2))
        part, to_part = dense_refine._box(level, to_full, shape2, model)
        found = _box_of_every_sample(level, to_full, shape2, model)
        if found is None:  # no sample lands in image 2: the whole level
            assert part is level and np.array_equal(to_part, to_full)
            continue
        low, high, centre = found
        corner = []
        for axis, side in ((0, width), (1, height)):
            first, last = int(low[axis]), int(high[axis]) + 1
            if last - first > dense_refine.MAX_SIDE:
                first = int(np.clip(round(centre[axis]) - dense_refine.MAX_SIDE // 2, 0,
                                    side - dense_refine.MAX_SIDE))
                last = first + dense_refine.MAX_SIDE
            corner.append((first, last))
        (left, right), (top, bottom) = corner
        assert part.shape == (bottom - top, right - left)
        np.testing.assert_array_equal(to_part, to_full @ [[1, 0, left], [0, 1, top], [0, 0, 1]])
