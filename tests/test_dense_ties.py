"""The dense matcher's tie points placed again where its transform was refined to
(sarfeat.matching.dense_ties).

The pair is the bundled 3MOS tile (Apache-2.0), its SAR tile moved by a known
similarity; the fine stage is made to work at 128 px, so that, as on a large
image, the transform is refined beyond the fine stage's working size (to the
tile's own 256 px) and a fine-stage placement scaled up is off by a fraction of
a fine pixel, two image pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

from sarfeat.data import load_optical_sar_tile
from sarfeat.matching import DenseStructuralMatcher
from sarfeat.matching.dense_refine import image_pyramid
from sarfeat.matching import dense_fine, dense_ties
from sarfeat.matching.dense_ties import place_again
from sarfeat.metrics import registration_rmse
from sarfeat.structural import gradient_maps, prepare_modality

SIDE = 256


def _about_centre(degrees: float, scale: float, shift) -> SimilarityTransform:
    """A turn and scale about the tile's centre, then a shift."""
    centre = (SIDE - 1) / 2
    turned = SimilarityTransform(rotation=np.deg2rad(degrees), scale=scale)
    return SimilarityTransform(matrix=turned.params @ SimilarityTransform(
        translation=(-centre, -centre)).params + np.pad([[0, 0, centre + shift[0]],
                                                           [0, 0, centre + shift[1]]],
                                                          ((0, 1), (0, 0))))


#: fixed (optical) (x, y) -> moving (SAR) (x, y): turned 3 degrees, scaled 0.95, shifted.
TRUTH = _about_centre(3.0, 0.95, (5.3, -3.7))


@pytest.fixture(scope="module")
def pair():
    optical, sar = load_optical_sar_tile()
    moved = warp(np.asarray(sar, np.float32), TRUTH.inverse, order=1, cval=np.nan,
                 preserve_range=True).astype(np.float32)
    return optical, moved


def _tie_errors(matcher) -> np.ndarray:
    inliers = matcher.inliers
    source = matcher.keypoints1[inliers][:, ::-1]
    return np.hypot(*(TRUTH(source) - matcher.keypoints2[inliers][:, ::-1]).T)


def _matched(pair) -> DenseStructuralMatcher:
    matcher = DenseStructuralMatcher("optical-sar", turns=(0,), fine_size=128, template=12,
                                     grid_step=8, search_radius=4)
    matcher.match(*pair)
    return matcher


def test_tie_points_are_placed_at_the_level_the_transform_was_refined_to(pair, monkeypatch):
    # refined twice the fine stage's size: placed again once the least ratio is 2
    monkeypatch.setattr(dense_fine, "TIE_MIN_RATIO", 2)
    matcher = _matched(pair)
    diagnostics = matcher.diagnostics
    assert matcher.model is not None, diagnostics["failure"]
    assert diagnostics["refined_size"] == SIDE
    # the tile's own optical-SAR alignment is 1-2 px: the transform is about 3 px off
    # the known warp; the fine stage's placements, scaled up, were 4.2 px off at the median
    # (the report's residual median 2.9 px), those placed at 256 px are 2.4 px off
    assert registration_rmse(matcher.model, TRUTH.params, (SIDE, SIDE), (SIDE, SIDE)) < 3.5
    assert np.median(_tie_errors(matcher)) < 3.0
    # the residuals reported are those of the tie points returned, against the model
    residuals = matcher.model.residuals(matcher.keypoints1[matcher.inliers][:, ::-1],
                                        matcher.keypoints2[matcher.inliers][:, ::-1])
    assert diagnostics["residual_median"] == pytest.approx(np.median(residuals))
    assert diagnostics["residual_median"] < 2.0
    assert diagnostics["ties_size"] == SIDE
    assert diagnostics["ties_placed_again"] >= 0.75 * matcher.inliers.sum()


def test_tie_points_refined_less_than_the_least_ratio_keep_the_fine_stage_placements(pair):
    """Refined to 2 times the fine stage's working size, under ``TIE_MIN_RATIO``: the
    placements are the fine stage's, as is the transform (the same as placed again)."""
    assert dense_fine.TIE_MIN_RATIO > 2
    matcher = _matched(pair)
    assert matcher.diagnostics["refined_size"] == SIDE
    assert "ties_size" not in matcher.diagnostics
    residuals = matcher.model.residuals(matcher.keypoints1[matcher.inliers][:, ::-1],
                                        matcher.keypoints2[matcher.inliers][:, ::-1])
    assert matcher.diagnostics["residual_median"] == pytest.approx(np.median(residuals))


@pytest.mark.parametrize("whole_level", [True, False], ids=["whole level", "windows"])
def test_place_again_finds_a_known_offset_and_refuses_what_it_cannot_place(
        pair, whole_level, monkeypatch):
    """Both ways of making the maps: the whole level's once (many points on a small level)
    and a window's per point (a large level)."""
    optical, moved = pair
    level1 = image_pyramid(prepare_modality(optical, "optical"), SIDE)[0]
    level2 = image_pyramid(prepare_modality(moved, "sar"), SIDE)[0]
    if not whole_level:
        monkeypatch.setattr(dense_ties, "WHOLE_LEVEL_PIXELS", 0)
    shapes = []

    def maps(image):
        shapes.append(image.shape)
        return gradient_maps(image, scales=(1.0, 2.0), cell=2.0, context=8.0)

    source = np.array([[x, y] for x in range(60, 200, 20) for y in range(60, 200, 20)]
                      + [[2.0, 2.0]], float)
    found = {}
    for shift in (0.0, 2.5):  # from the warp, and from a model 2.5 px off it
        model = TRUTH.params @ SimilarityTransform(translation=(shift, 0)).params
        found[shift] = place_again(level1, level2, model, source, maps, 24, 6, 0.15)
    assert (set(shapes) == {level1[0].shape}) == whole_level
    (target, scores, placed), (moved_target, _, moved_placed) = found[0.0], found[2.5]
    assert placed[:-1].mean() > 0.7 and not placed[-1]  # the last one's window leaves it
    assert np.isnan(target[-1]).all() and np.isnan(scores[-1])
    both = placed & moved_placed
    # each template is placed where the images agree, wherever the model put it: the same
    # place from either model, and about where the warp puts it (the tile's own
    # alignment is 1-2 px), not where the model 2.5 px off puts it
    assert np.median(np.hypot(*(target[both] - moved_target[both]).T)) < 0.5
    assert np.median(np.hypot(*(moved_target[both] - TRUTH(source[both])).T)) < 2.5
