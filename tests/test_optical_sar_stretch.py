"""Optical-SAR pairs that no similarity fits: the affine dense model, and the stretch tried
when a similarity's templates drift (the bundled 3MOS tile, stretched)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.matching import CoarseFineMatcher, DenseStructuralMatcher
from sarfeat.matching.dense import STRETCH_CHECK
from sarfeat.matching.stretch_check import AFFINE_GAIN
from sarfeat.metrics import registration_rmse

from _optical_sar_helpers import SHAPE
from _optical_sar_helpers import stretched_truth as _stretched_truth


@pytest.mark.parametrize("dense_model", [None, "affine"])
def test_a_stretched_sar_image_registers_by_default_and_with_the_affine_dense_model(
        tile, dense_model):
    truth = _stretched_truth(0.06, 0.0)
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    options = {} if dense_model is None else {"dense_model": dense_model}
    result = sarfeat.register(tile[0], moving, modality="optical-sar", rng=0,
                              progress=False, **options)
    assert registration_rmse(result.transform, truth, SHAPE, SHAPE) < 3.0
    assert type(result.transform).__name__ == "AffineTransform"
    assert result.diagnostics["selected_model"] == "affine"
    assert result.diagnostics["affine_gain"] >= 1.07
    if dense_model is None:
        # by default the nearest similarity is accepted (its templates placed to the
        # sub-pixel top of their 3 x 3 correlations: 55 of 92 agree; with two parabolas
        # 23 of 80, refused) and drifts: the stretch check turns it into the affine map
        assert result.diagnostics["template_stretch"] > STRETCH_CHECK
    # the stretch found (TRUTH's turn and scale taken out): x longer than y by about 12 %
    turn = SimilarityTransform(rotation=np.deg2rad(20), scale=0.9).params[:2, :2]
    stretch = np.linalg.solve(turn, result.transform.params[:2, :2])
    assert stretch[0, 0] - stretch[1, 1] == pytest.approx(0.12, abs=0.03)


@pytest.fixture(scope="module")
def sheared(tile):
    """The SAR tile sheared by 3 % (truth, moving image) and the dense matcher's similarity
    for it without the stretch check (``alone``), which two tests compare against."""
    truth = _stretched_truth(0.0, 0.03)  # sheared by 3 %
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    alone = DenseStructuralMatcher("optical-sar", stretch_check=None, rng=0)
    alone.match(tile[0], moving)
    return truth, moving, alone


def test_a_similarity_whose_templates_drift_gives_way_to_the_stretch(tile, sheared):
    truth, moving, alone = sheared
    # the nearest similarity passes the checks, over 3 px off, its templates drifting
    assert registration_rmse(alone.model, truth, SHAPE, SHAPE) > 3.0
    assert "template_stretch" not in alone.diagnostics
    found = sarfeat.register(tile[0], moving, modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(found.transform, truth, SHAPE, SHAPE) < 2.5
    assert type(found.transform).__name__ == "AffineTransform"
    assert found.diagnostics["template_stretch"] > 3.0
    assert found.diagnostics["affine_gain"] >= 1.07
    # model='similarity' rules: no stretch, checked or not
    similar = CoarseFineMatcher(modality="optical-sar", model="similarity", rng=0)
    similar_result = similar.match_result(tile[0], moving)
    assert "affine_gain" not in similar_result.diagnostics
    np.testing.assert_array_equal(similar_result.model.params, alone.model.params)


def test_the_stretch_is_tried_from_two_fine_pixels_of_drift(tile):
    # stretched by 1.5 % each way the similarity is still within 3 px and its templates
    # drift between 2 and 3 fine px: the stretch is tried (the default's 2 px), and where
    # it correlates less than AFFINE_GAIN times better the similarity stands
    truth = _stretched_truth(0.015, 0.015)
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(tile[0], moving)
    assert STRETCH_CHECK == 2.0
    assert STRETCH_CHECK < matcher.diagnostics["template_stretch"] < 3.0
    assert 1.0 < matcher.diagnostics["affine_gain"] < AFFINE_GAIN
    assert matcher.diagnostics["selected_model"] == "similarity"
    assert registration_rmse(matcher.model, truth, SHAPE, SHAPE) < 3.0


def test_a_stretch_that_fails_the_checks_leaves_the_similarity_standing(tile, sheared,
                                                                        monkeypatch):
    import sarfeat.matching.dense_fine as dense_fine

    _, moving, alone = sheared

    def stretched_far_off(found, *args):  # a "stretch" 15 px away that correlates better
        moved = dict(found)
        moved["polished"] = (np.array(found["polished"]) + [[0, 0, 15], [0, 0, 0], [0, 0, 0]]
                             ).tolist()
        return moved, 1.2, True

    monkeypatch.setattr(dense_fine, "stretched_polish", stretched_far_off)
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(tile[0], moving)
    assert "placed templates agree" in matcher.diagnostics["stretch_refused"]
    assert matcher.diagnostics["failure"] is None
    assert matcher.diagnostics["selected_model"] == "similarity"
    np.testing.assert_array_equal(matcher.model.params, alone.model.params)
    np.testing.assert_array_equal(matcher.inliers, alone.inliers)
    assert matcher.diagnostics["polished"] == alone.diagnostics["polished"]


def test_dense_model_is_checked():
    with pytest.raises(ValueError, match="dense_model"):
        CoarseFineMatcher(modality="optical-sar", dense_model="projective")
    with pytest.raises(ValueError, match="model must be one of"):
        DenseStructuralMatcher("optical-sar", model="shear")
