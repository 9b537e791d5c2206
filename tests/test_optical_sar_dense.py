"""The dense structural matcher of optical-SAR pairs: it refuses rather than guesses (weak
whole overlaps, the gray values' check, images too small), on the bundled 3MOS tile and on
tuning pairs of benchmarks/optical_sar_pairs.py (canvas, development and Sentinel-1/2 pairs,
skipped when their data is absent); its search's scales and crops."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.matching import CoarseFineMatcher, DenseStructuralMatcher
from sarfeat.metrics import registration_rmse

from _optical_sar_helpers import SHAPE, TRUTH


def test_dense_matcher_alone_refuses_rather_than_guesses(tile):
    rng = np.random.default_rng(0)
    noise = rng.gamma(1.0, 1.0, SHAPE).astype(np.float32)  # pure speckle, no structure
    matcher = DenseStructuralMatcher("optical-sar")
    matches = matcher.match(tile[0], noise)
    assert matcher.model is None and len(matches) == 0
    assert "refused" in matcher.diagnostics["failure"]


def test_a_weak_whole_overlap_needs_a_clear_peak_and_twice_the_templates():
    # below min_verify_score (0.14) a transform passes only with a clear peak (0.12 or
    # more, 1.5 times the next) and 2 * min_inliers agreeing templates: on a canvas
    # tuning pair one 170 px wrong passed with 15 of 15 small-image templates
    matcher = DenseStructuralMatcher("optical-sar")
    matcher.diagnostics = dict(verify_weighted=0.127, verify_second=0.082, fine_inliers=15)
    assert "24 agreeing templates" in matcher._unverified()
    matcher.diagnostics["fine_inliers"] = 25
    assert matcher._unverified() is None
    matcher.diagnostics["verify_second"] = 0.1  # a peak 1.27 times the next: no
    assert "too weakly" in matcher._unverified()
    matcher.diagnostics.update(verify_weighted=0.15, fine_inliers=12)  # above 0.14
    assert matcher._unverified() is None
    # the gray values' mutual information: refused where it peaks clearly (0.15 nats or
    # more) more than 4 px away
    matcher.diagnostics.update(gray_offset=5.2, gray_information=0.18)
    assert "gray values agree best 5.2 px" in matcher._unverified()
    matcher.diagnostics.update(gray_offset=5.2, gray_information=0.12)  # not clearly
    assert matcher._unverified() is None
    matcher.diagnostics.update(gray_offset=3.9, gray_information=0.5)  # near
    assert matcher._unverified() is None


@pytest.fixture(scope="module")
def dense_matched(tile, moved_sar):
    """``DenseStructuralMatcher("optical-sar", rng=0)`` after matching the optical tile with
    the moved SAR tile, once a module (two tests read it and never change it)."""
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(tile[0], moved_sar)
    return matcher


def test_dense_matcher_returns_the_checked_whole_overlap_estimate(dense_matched):
    matcher = dense_matched
    diagnostics = matcher.diagnostics
    assert matcher.model is not None, diagnostics["failure"]
    # the returned transform is the whole-overlap estimate, a similarity
    np.testing.assert_allclose(matcher.model.params, diagnostics["polished"])
    assert diagnostics["selected_model"] == "similarity"
    assert diagnostics["verify_score"] >= matcher.min_verify_score
    assert registration_rmse(matcher.model, TRUTH.params, SHAPE, SHAPE) < 3.0
    # the tie points called inliers agree with the returned transform
    assert matcher.inliers.sum() >= 12
    fixed_xy = matcher.keypoints1[matcher.inliers][:, ::-1]
    moving_xy = matcher.keypoints2[matcher.inliers][:, ::-1]
    assert np.all(np.hypot(*(matcher.model(fixed_xy) - moving_xy).T) <= 2.0 + 1e-9)
    with pytest.raises(ValueError, match="features"):
        DenseStructuralMatcher("optical-sar", features="sift")


def _development_pair(strip: str, tile_index: int):
    """A 3MOS tuning pair of benchmarks/optical_sar_pairs.py (skip when the strip is absent)."""
    from benchmarks.optical_sar_pairs import random_similarity, strip_tiles, warp_pair
    from sarfeat.data import OPTICAL_SAR_STRIPS, DataUnavailableError

    name = f"optical_sar/3mos/{strip}.png"
    try:
        tiles = strip_tiles(name)
    except DataUnavailableError:
        pytest.skip(f"{name} is not available (set SARFEAT_DATA_DIR to a folder holding it)")
    rng = np.random.default_rng([21, OPTICAL_SAR_STRIPS.index(name), tile_index])
    return warp_pair(*tiles[tile_index], random_similarity(rng))


def _canvas_pair(strip: str, tile_index: int):
    """A canvas tuning pair of benchmarks/optical_sar_pairs.py (skip when the strip is
    absent): (optical canvas, SAR tile, canvas -> SAR matrix)."""
    from benchmarks.optical_sar_pairs import CANVAS_SCALE_RANGE, MAX_ANGLE, onto_canvas, strip_tiles
    from sarfeat.data import OPTICAL_SAR_STRIPS, DataUnavailableError

    name = f"optical_sar/3mos/{strip}.png"
    try:
        optical, sar = strip_tiles(name)[tile_index]
    except DataUnavailableError:
        pytest.skip(f"{name} is not available (set SARFEAT_DATA_DIR to a folder holding it)")
    rng = np.random.default_rng([7, OPTICAL_SAR_STRIPS.index(name), tile_index])
    angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
    scale = float(np.exp(rng.uniform(*np.log(CANVAS_SCALE_RANGE))))
    canvas, truth = onto_canvas(optical, angle, scale)
    return canvas, sar, truth


@pytest.mark.parametrize(("strip", "tile_index"), [("SEN_city", 6), ("GF3_rural", 6)])
def test_canvas_pairs_register_or_are_refused_never_wrong(strip, tile_index):
    # the optical tile turned and scaled onto a black-cornered canvas (1.63 times, 444 px;
    # 0.64 times, 164 px), the SAR tile as it is: the first registers, the second (15
    # templates of a small image agreed with a transform 170 px wrong at a weak
    # whole-overlap score) is refused
    canvas, sar, truth = _canvas_pair(strip, tile_index)
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(canvas, sar)
    assert matcher.diagnostics["border_fill"][0] > 0.01
    if strip == "GF3_rural":
        assert matcher.model is None and "refused" in matcher.diagnostics["failure"]
    else:
        assert matcher.model is not None, matcher.diagnostics["failure"]
        assert registration_rmse(matcher.model, truth, canvas.shape, sar.shape) < 3.0


@pytest.mark.parametrize(("strip", "tile_index"),
                         [("RCM_city", 4), ("GF3_water", 2), ("SEN_rural", 0)])
def test_development_pairs_register_or_are_refused_never_wrong(strip, tile_index):
    # three pairs of the tuning split: a city tile whose true pose only the finer coarse maps
    # find (its whole overlap correlates 0.15 there), a shore tile whose best prior is
    # 115 px wrong and reaches the fine stage, where the whole-overlap check refuses it, and
    # a rural tile whose right turn at a wrong scale outscores the right scale in the global
    # search: found only when scales count as hypotheses, refined near their own shifts and
    # all refined again with half the steps
    fixed, moving, truth = _development_pair(strip, tile_index)
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(fixed, moving)
    if strip == "GF3_water":
        assert "polished" in matcher.diagnostics  # refused by the check, not by the search
        assert matcher.model is None and "refused" in matcher.diagnostics["failure"]
    else:
        assert matcher.model is not None, matcher.diagnostics["failure"]
        assert registration_rmse(matcher.model, truth.params, fixed.shape, moving.shape) < 3.0


def test_the_gray_values_refuse_what_the_structure_maps_place_6_px_off():
    # a tuning pair (GF3 rural, its SAR tile far coarser than its optical one) whose
    # structure maps agree best about 6 px from the truth, a wrong answer that passes their
    # checks; the gray values' mutual information peaks 6-7 px away, clearly: refused
    fixed, moving, truth = _development_pair("GF3_rural", 8)
    unchecked = DenseStructuralMatcher("optical-sar", rng=0, gray_check=None)
    unchecked.match(fixed, moving)
    assert unchecked.model is not None, unchecked.diagnostics["failure"]
    assert registration_rmse(unchecked.model, truth.params, fixed.shape, moving.shape) > 3.0
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(fixed, moving)
    diagnostics = matcher.diagnostics
    assert matcher.model is None and "gray values agree best" in diagnostics["failure"]
    assert diagnostics["gray_offset"] > 4.0 and diagnostics["gray_information"] >= 0.15


def test_the_gray_check_passes_a_right_answer_and_can_be_tightened(tile, moved_sar,
                                                                   dense_matched):
    matcher = dense_matched
    assert matcher.model is not None, matcher.diagnostics["failure"]
    assert matcher.diagnostics["gray_offset"] < 2.0
    strict = DenseStructuralMatcher("optical-sar", rng=0, gray_check=(0.0, 0.0))
    strict.match(tile[0], moved_sar)
    assert strict.model is None and "gray values agree best" in strict.diagnostics["failure"]


def test_the_gray_check_counts_fine_pixels_on_a_large_image(tile, monkeypatch):
    # the transform is checked at the fine stage's precision, before its refinement to full
    # resolution: on a 512 px pair a peak 3 fine pixels away (6 of the image's) passes
    import sarfeat.matching.dense_fine as dense_fine
    from sarfeat.matching.gray_check import GrayPeak

    monkeypatch.setattr(dense_fine, "information_peak", lambda *args: GrayPeak(3.0, 0.0, 3.0, 0.5))
    zoom = np.diag([2.0, 2.0, 1.0])
    truth = SimilarityTransform(matrix=zoom @ TRUTH.params @ np.linalg.inv(zoom))
    optical, sar = (np.kron(image, np.ones((2, 2))).astype(np.float32) for image in tile)
    moving = warp(sar, truth.inverse, order=1, cval=np.nan, preserve_range=True)
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(optical, moving.astype(np.float32))
    assert matcher.model is not None, matcher.diagnostics["failure"]
    assert matcher.diagnostics["gray_offset"] == 3.0
    assert registration_rmse(matcher.model, truth.params, optical.shape, moving.shape) < 6.0


def test_the_global_search_keeps_to_max_scale_change():
    matcher = DenseStructuralMatcher("optical-sar", max_scale_change=1.2)
    assert matcher.searched_scales() == (2 ** -0.25, 1.0, 2 ** 0.25)
    # by default 0.59-2 in quarter octaves
    assert DenseStructuralMatcher("optical-sar").searched_scales() == tuple(
        2 ** (k / 4) for k in range(-3, 5))


def test_crop_valid_keeps_where_canvas_pixels_come_from():
    from sarfeat.matching.dense_correlation import crop_valid

    canvas = np.full((40, 50), np.nan, np.float32)
    canvas[10:20, 5:30] = 1.0
    matrix = np.array([[0.5, -0.2, 3.0], [0.2, 0.5, -4.0], [0.0, 0.0, 1.0]])
    cut, moved = crop_valid(canvas, matrix, margin=2)
    assert cut.shape == (14, 29) and np.isfinite(cut).sum() == np.isfinite(canvas).sum()
    # cut pixel (x, y) is canvas pixel (x + 3, y + 8): both map to the same image-2 point
    np.testing.assert_allclose(moved @ [4.0, 6.0, 1.0], matrix @ [7.0, 14.0, 1.0])
    assert crop_valid(np.full((4, 4), np.nan), matrix)[0] is None


def test_dense_scales_are_checked():
    with pytest.raises(ValueError, match="scales must be finite and positive"):
        CoarseFineMatcher(modality="optical-sar", dense_scales=(1.0, -0.5))
    with pytest.raises(ValueError, match="scales must be finite and positive"):
        DenseStructuralMatcher("optical-sar", scales=())


def test_images_too_small_for_the_dense_matcher_are_refused_with_a_reason(tile):
    # the global search brings the longer side of the two to 128 px: beside a 256 px
    # image, one of 12 px would be 6 px there, below the maps' least size
    with pytest.raises(ValueError, match=r"image1 is too small .* 12 x 256 pixels, at least 16"):
        DenseStructuralMatcher("optical-sar").match(tile[0][:12], tile[1])
    # large enough for the search, too small for one fine template: said so
    with pytest.raises(sarfeat.RegistrationError, match="no template could be placed"):
        sarfeat.register(tile[0][:20, :20], tile[1], modality="optical-sar", progress=False)


def test_a_sentinel_1_tile_registers_onto_its_sentinel_2_canvas():
    # a tuning pair of the Sentinel-1 / Sentinel-2 fragments (10 m; tiles='s1s2'): the
    # optical tile turned and scaled onto a canvas, the SAR tile as it is; its two
    # alignment measures put the published truth within 1.1 px
    from benchmarks.optical_sar_pairs import (CANVAS_SCALE_RANGE, MAX_ANGLE, S1S2_TILE_CORNERS,
                                              onto_canvas, s1s2_fragments)
    from sarfeat.data import DataUnavailableError, fetch
    from sarfeat.io import read_image

    fragment, tile_index = "268", 3
    try:
        optical, sar = (read_image(fetch(f"optical_sar/s1s2/{kind}/{fragment}.png"))
                        .astype(np.float32) for kind in ("opt", "sar"))
    except DataUnavailableError:
        pytest.skip("optical_sar/s1s2 is not available (set SARFEAT_DATA_DIR to a folder "
                    "holding it)")
    y, x = S1S2_TILE_CORNERS[tile_index]
    optical, sar = optical[y:y + 256, x:x + 256], sar[y:y + 256, x:x + 256]
    rng = np.random.default_rng([7, s1s2_fragments().index(fragment), tile_index])
    angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
    scale = float(np.exp(rng.uniform(*np.log(CANVAS_SCALE_RANGE))))
    canvas, truth = onto_canvas(optical, angle, scale)
    result = sarfeat.register(canvas, sar, modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(result.transform.params, truth, canvas.shape, sar.shape) < 1.5
