"""The dense matcher's global search and refinement (sarfeat.matching.dense_search)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

from sarfeat.data import load_optical_sar_tile
from sarfeat.matching.dense_search import DenseSearch, working
from sarfeat.matching.geometry import downsample, rotation_scale
from sarfeat.metrics import registration_rmse
from sarfeat.structural import gradient_maps, prepare_modality

CENTRE = np.array([127.5, 127.5])
#: optical (x, y) -> SAR (x, y): turned 35 degrees, scaled 1.1, shifted.
TRUTH = (SimilarityTransform(translation=-CENTRE)
         + SimilarityTransform(rotation=np.deg2rad(35), scale=1.1)
         + SimilarityTransform(translation=CENTRE + (6, -4)))


def coarse_maps(image):
    return gradient_maps(image, scales=(0.7, 1.4), cell=1.5, context=6.0)


@pytest.fixture(scope="module")
def prepared():
    optical, sar = load_optical_sar_tile()
    moving = warp(sar, TRUTH.inverse, order=1, cval=np.nan, preserve_range=True)
    return prepare_modality(optical, "optical"), prepare_modality(moving, "sar")


def test_the_search_finds_the_turn_and_scale_and_refines_the_shift(prepared):
    search = DenseSearch(coarse_maps, 0.35, np.arange(-90, 91, 15.0),
                         2.0 ** np.array([-0.5, -0.25, 0, 0.25, 0.5]), 128, 128)
    hypotheses = search.hypotheses(*prepared)
    assert 1 <= len(hypotheses) <= 6
    described = search.described(hypotheses)
    assert [h["score"] for h in described] == sorted((h["score"] for h in described),
                                                     reverse=True)
    # the turn nearest the truth (30 of every 15 degrees) is among the hypotheses
    assert any(abs(h["angle"] - 30.0) < 1e-9 for h in described)
    prior, score = search.refine(*prepared, hypotheses)
    angle, scale, _ = rotation_scale(prior)
    assert abs(angle - 35) < 5 and abs(scale / 1.1 - 1) < 0.06 and score > 0.11
    assert registration_rmse(prior, TRUTH.params, (256, 256), (256, 256)) < 6  # 4.0 here


def test_only_the_given_turns_are_searched(prepared):
    search = DenseSearch(coarse_maps, 0.35, (0.0,), (1.0,), 128, 128)
    assert {h["angle"] for h in search.described(search.hypotheses(*prepared))} == {0.0}


def test_working_images_are_reduced_never_enlarged():
    image = np.zeros((300, 200), np.float32)
    small, to_full = working(image, 150)
    assert small.shape == (150, 100) and to_full[0, 0] == pytest.approx(2.0)
    same, identity = working(image, 400)
    assert same.shape == image.shape and np.array_equal(identity, np.eye(3))


def test_a_scale_below_one_is_found_and_mapped_to_full_coordinates():
    # SAR drawn at 0.6 of the optical scale: a hypothesis at the nearest turn and scale
    # maps full image-1 (x, y) near the truth, and its refinement nearer
    truth = (SimilarityTransform(translation=-CENTRE)
             + SimilarityTransform(rotation=np.deg2rad(-50), scale=0.6)
             + SimilarityTransform(translation=CENTRE + (-5, 8)))
    optical, sar = load_optical_sar_tile()
    moving = warp(sar, truth.inverse, order=1, cval=np.nan, preserve_range=True)
    images = prepare_modality(optical, "optical"), prepare_modality(moving, "sar")
    search = DenseSearch(coarse_maps, 0.35, np.arange(-90, 91, 15.0),
                         2.0 ** np.arange(-1, 1.01, 0.25), 128, 128)
    hypotheses = search.hypotheses(*images)
    near = [h for h in hypotheses if abs(h[2] + 45) < 1e-9 and abs(h[3] - 2 ** -0.75) < 1e-9]
    assert near, search.described(hypotheses)
    assert registration_rmse(near[0][1], truth.params, (256, 256), (256, 256)) < 12
    prior, _ = search.refine(*images, hypotheses)
    angle, scale, _ = rotation_scale(prior)
    assert abs(angle + 50) < 5 and abs(scale / 0.6 - 1) < 0.06
    assert registration_rmse(prior, truth.params, (256, 256), (256, 256)) < 6


def test_the_refinement_stays_near_the_hypothesis_it_refines(prepared):
    # a hypothesis at the true turn and scale, 6 working pixels off: refined onto the
    # truth; the same 30 pixels off cannot reach it (shifts within 8 working pixels)
    search = DenseSearch(coarse_maps, 0.35, (35.0,), (1.1,), 128, 128)
    for offset, reached in ((6.0, True), (30.0, False)):
        moved = TRUTH.params @ np.array([[1, 0, 2 * offset], [0, 1, 0], [0, 0, 1.0]])
        prior, _ = search.refine(*prepared, [(0.2, moved, 35.0, 1.1)])
        error = registration_rmse(prior, TRUTH.params, (256, 256), (256, 256))
        assert (error < 4) == reached, (offset, error)


def test_a_turn_half_a_circle_away_reuses_the_maps_turned_over(prepared):
    search = DenseSearch(coarse_maps, 0.35, (30.0, 210.0), (1.19,), 128, 128)
    small, _ = working(prepared[1], 128)
    made = {(30.0, 1.19): search._canvas_maps(small, 30.0, 1.19, {})}
    reused, over = search._canvas_maps(small, 210.0, 1.19, made)
    direct, turned = search._canvas_maps(small, 210.0, 1.19, {})
    assert reused.shape == direct.shape
    # the same canvas: its corners map to the same image-2 points, the maps agree
    corners = np.array([[0, 0, 1], [direct.shape[2] - 1, direct.shape[1] - 1, 1.0]]).T
    np.testing.assert_allclose(over @ corners, turned @ corners, atol=1e-6)
    finite = np.isfinite(direct) & np.isfinite(reused)
    assert finite.mean() > 0.3 and np.array_equal(np.isfinite(direct), np.isfinite(reused))
    np.testing.assert_allclose(reused[finite], direct[finite], atol=1e-4)  # maps up to 2.8


def test_a_canvas_too_small_for_maps_is_skipped_not_an_error(prepared):
    # image 2 at the working size's least side (8 px): at scale 2 its canvas is 7 px, which
    # has no maps; that (turn, scale) is passed over, as an empty canvas is
    small2 = prepared[1][100:108, 100:108]
    search = DenseSearch(coarse_maps, 0.35, (0.0,), (1.0, 2.0), 128, 128)
    hypotheses = search.hypotheses(prepared[0][:64, :64], small2)
    assert [scale for _, _, _, scale in hypotheses] == [1.0]


def test_the_refinement_reuses_the_search_s_working_images_when_their_sizes_agree(
        prepared, monkeypatch):
    import sarfeat.matching.dense_search as dense_search

    made = []

    def counted(image, factor, **options):
        made.append(factor)
        return downsample(image, factor, **options)

    monkeypatch.setattr(dense_search, "downsample", counted)
    search = DenseSearch(coarse_maps, 0.35, (30.0, 45.0), (1.0, 1.1), 128, 128)
    hypotheses = search.hypotheses(*prepared)
    prior, score = search.refine(*prepared, hypotheses)
    assert len(made) == 2  # each image downsampled once, for both steps
    # the same answer as a refinement that makes its own working images
    alone = DenseSearch(coarse_maps, 0.35, (30.0, 45.0), (1.0, 1.1), 128, 128)
    again, again_score = alone.refine(*prepared, hypotheses)
    assert len(made) == 4 and np.array_equal(again, prior) and again_score == score
    # another refinement size: its own working images
    made.clear()
    other = DenseSearch(coarse_maps, 0.35, (30.0, 45.0), (1.0, 1.1), 128, 96)
    other.refine(*prepared, other.hypotheses(*prepared))
    assert len(made) == 4 and made[0] != made[2]
