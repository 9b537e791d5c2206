"""Optical-SAR registration with register(): a known warp, known turns, the roles swapped,
scattered no-data, the SAR path unchanged by the modality.

The pair is the bundled 3MOS tile (Apache-2.0): an optical tile and its
co-registered SAR tile, the SAR one moved by a known similarity. Its structure maps are
tested in test_optical_sar_structure.py, the dense matcher's checks and tuning pairs in
test_optical_sar_dense.py, the stretched (affine) model in test_optical_sar_stretch.py,
colour optical images in test_optical_sar_colour.py, the command line in
test_optical_sar_cli.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.data import load_sar_scene
from sarfeat.matching import CoarseFineMatcher, DenseStructuralMatcher
from sarfeat.matching.dense import STRETCH_CHECK, parse_modality
from sarfeat.metrics import registration_rmse

from _optical_sar_helpers import CENTRE, SHAPE, TRUTH


@pytest.fixture(scope="module")
def registered(optical_sar_registered):
    """register(tile[0], moved_sar, modality="optical-sar", rng=0) (conftest.py: shared)."""
    return optical_sar_registered


def test_scattered_no_data_in_both_images_still_registers(tile, moved_sar):
    # half a percent of NaN pixels used to leave no template to place: every NaN took
    # the maps' reach around it out of the comparison
    rng = np.random.default_rng(5)
    optical, sar = tile[0].astype(np.float32), moved_sar.copy()
    optical[rng.random(SHAPE) < 0.02] = np.nan
    sar[rng.random(SHAPE) < 0.02] = np.nan
    given = optical.copy(), sar.copy()
    found = sarfeat.register(optical, sar, modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert found.diagnostics["fine_inliers"] >= 12
    # float32 images with NaN on their no-data are matched as given, not copied to mark
    # it: nothing writes into them
    np.testing.assert_array_equal(optical, given[0])
    np.testing.assert_array_equal(sar, given[1])


def test_parse_modality():
    assert parse_modality("optical-sar") == ("optical", "sar")
    assert parse_modality("SAR_optical") == ("sar", "optical")
    assert parse_modality("sar") == ("sar", "sar")
    assert parse_modality(("optical", "sar")) == ("optical", "sar")
    with pytest.raises(ValueError, match="modality"):
        parse_modality("optical-lidar")
    with pytest.raises(ValueError, match="modality"):
        CoarseFineMatcher(modality="infrared")


def test_register_optical_onto_sar_with_a_known_warp(registered):
    assert registration_rmse(registered.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert registered.diagnostics["modality"] == "optical-sar"
    assert registered.diagnostics["fine_inliers"] >= 12
    assert registered.warped.shape == SHAPE
    assert 0 < registered.confidence <= 1
    # the inlier tie points agree with the truth
    fixed_xy = registered.keypoints_fixed[registered.inlier_matches[:, 0], ::-1]
    moving_xy = registered.keypoints_moving[registered.inlier_matches[:, 1], ::-1]
    assert np.median(np.hypot(*(TRUTH(fixed_xy) - moving_xy).T)) < 3.0


def test_the_global_search_counts_no_matches_it_did_not_make(registered):
    """The coarse stage of an optical pair correlates structure maps: its figure is a score,
    and the fine stage's template counts are not copied in as coarse matches."""
    d = registered.diagnostics
    assert d["coarse_candidates"] is None and d["coarse_inliers"] is None
    assert 0 < d["coarse_score"] <= 1
    assert d["fine_inliers"] == int(registered.inliers.sum()) <= d["fine_candidates"]


def test_known_orientation_limits_the_search_to_the_given_turns(tile, moved_sar):
    # an upright pair (georeferenced images): rotations=(0,) with angle_step=None
    shift = SimilarityTransform(translation=(6, -4))
    upright = warp(tile[1], shift.inverse, order=1, cval=np.nan,
                   preserve_range=True).astype(np.float32)
    result = sarfeat.register(tile[0], upright, modality="optical-sar", rotations=(0,),
                              angle_step=None, rng=0, progress=False)
    assert registration_rmse(result.transform, shift.params, SHAPE, SHAPE) < 3.0
    assert {h["angle"] for h in result.diagnostics["coarse_hypotheses"]} == {0.0}
    # the 20-degree pair is out of reach of a search told the pair is upright: refused
    with pytest.raises(sarfeat.RegistrationError):
        sarfeat.register(tile[0], moved_sar, modality="optical-sar", rotations=(0,),
                         angle_step=None, rng=0, progress=False)
    with pytest.raises(ValueError, match="turns"):
        DenseStructuralMatcher("optical-sar", turns=[])


def test_sar_as_the_fixed_image(tile):
    # the roles swapped: SAR fixed, the optical tile moved by TRUTH
    optical = warp(tile[0], TRUTH.inverse, order=1, cval=np.nan, preserve_range=True)
    result = sarfeat.register(tile[1], optical.astype(np.float32), modality="sar-optical",
                              rng=0, progress=False)
    assert registration_rmse(result.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert result.diagnostics["modality"] == "sar-optical"


def test_a_pair_of_different_places_is_refused(unrelated_optical_sar):
    # a Sentinel-1 scene of Labrador against the optical 3MOS tile: nothing in common
    # (registered once a session: conftest.py)
    assert isinstance(unrelated_optical_sar, sarfeat.RegistrationError), unrelated_optical_sar
    assert "refused" in str(unrelated_optical_sar)


def test_sar_pair_is_unchanged_by_the_modality_parameter():
    # the SAR-SAR path: modality='sar' (the default) runs the network's matcher as before
    scene = load_sar_scene("labrador")
    truth = SimilarityTransform(rotation=np.deg2rad(5), translation=(6, -4))
    moving = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    # (two calls of the SAR path already differ by up to about 0.7 px from run to run, so
    # each is checked against the truth rather than against the other)
    explicit = sarfeat.register(scene[..., 0], moving, rng=0, progress=False, modality="sar")
    assert registration_rmse(explicit.transform, truth.params, SHAPE, SHAPE) < 1.5
    assert "modality" not in explicit.diagnostics  # the network's coarse-to-fine path
    assert explicit.diagnostics["prior"] in ("coarse", "identity")
    assert "fine_patches_used" in explicit.diagnostics


def test_the_default_search_reaches_a_sar_image_at_055_of_the_optical_scale(tile):
    # below the 0.71-1.41 that the default search covered before (0.59-2 now)
    truth = (SimilarityTransform(translation=CENTRE + (4, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(20), scale=0.55).params
             @ SimilarityTransform(translation=-CENTRE).params)
    moving = warp(tile[1].astype(np.float32), np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    result = sarfeat.register(tile[0], moving, modality="optical-sar")
    assert registration_rmse(result.transform.params, truth, SHAPE, SHAPE) < 3.0


def test_the_affine_dense_model_keeps_the_similarity_of_an_unstretched_pair(
        tile, moved_sar, registered):
    result = sarfeat.register(tile[0], moved_sar, modality="optical-sar", rng=0,
                              progress=False, dense_model="affine")
    assert result.diagnostics["selected_model"] == "similarity"
    assert result.diagnostics["affine_gain"] is None or result.diagnostics["affine_gain"] < 1.07
    np.testing.assert_array_equal(result.transform.params, registered.transform.params)
    # nor do the default's templates drift from it: no stretch tried
    assert registered.diagnostics["template_stretch"] < STRETCH_CHECK
    assert "affine_gain" not in registered.diagnostics
    # the richest model allowed still rules: model='similarity' never stretches
    matcher = CoarseFineMatcher(modality="optical-sar", model="similarity",
                                dense_model="affine", rng=0)
    assert "affine_gain" not in matcher.match_result(tile[0], moved_sar).diagnostics
