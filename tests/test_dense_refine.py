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
