"""Optical-SAR registration: structure maps, the dense matcher, register() and the CLI.

The pair is the bundled 3MOS tile (Apache-2.0): an optical tile and its
co-registered SAR tile, the SAR one moved by a known similarity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.io import imsave
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.cli import main
from sarfeat.data import load_optical_sar_tile, load_sar_scene
from sarfeat.matching import CoarseFineMatcher, DenseStructuralMatcher
from sarfeat.matching.dense import STRETCH_CHECK, parse_modality
from sarfeat.matching.stretch_check import AFFINE_GAIN
from sarfeat.metrics import registration_rmse
from sarfeat.structural import gradient_maps, prepare_modality, structure_maps

SHAPE = (256, 256)
CENTRE = np.array([127.5, 127.5])
#: fixed (optical) (x, y) -> moving (SAR) (x, y): turned 20 degrees, scaled 0.9, shifted.
TRUTH = (SimilarityTransform(translation=-CENTRE)
         + SimilarityTransform(rotation=np.deg2rad(20), scale=0.9)
         + SimilarityTransform(translation=CENTRE + (8, -5)))


@pytest.fixture(scope="module")
def tile():
    return load_optical_sar_tile()


@pytest.fixture(scope="module")
def moved_sar(tile):
    return warp(tile[1], TRUTH.inverse, order=1, cval=np.nan,
                preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def registered(tile, moved_sar):
    return sarfeat.register(tile[0], moved_sar, modality="optical-sar", rng=0, progress=False)


def test_structure_maps_ignore_the_sign_of_contrast(tile):
    # what the change of modality does to an edge: bright on dark becomes dark on bright
    optical = prepare_modality(tile[0], "optical")
    maps = structure_maps(optical)
    inverted = structure_maps(1 - optical)
    assert maps.shape == (6, *SHAPE) and maps.dtype == np.float32
    np.testing.assert_allclose(inverted, maps, rtol=1e-3, atol=1e-4)
    # and they are not constant: the orientations differ across the tile
    assert maps.std(axis=(1, 2)).min() > 0.05


def test_structure_maps_mark_invalid_pixels(tile):
    image = prepare_modality(tile[1], "sar")
    image[:40] = np.nan
    maps = structure_maps(image)
    assert np.isnan(maps[:, :40]).all() and np.isfinite(maps[:, 100:]).all()


def test_gradient_maps_ignore_the_sign_of_contrast_and_turn_with_the_image(tile):
    optical = prepare_modality(tile[0], "optical")
    maps = gradient_maps(optical)
    assert maps.shape == (8, *SHAPE) and maps.dtype == np.float32
    np.testing.assert_allclose(gradient_maps(1 - optical), maps, rtol=1e-4, atol=1e-5)
    assert maps.std(axis=(1, 2)).min() > 0.05
    # a quarter turn of the image turns the maps and moves each orientation by 90 degrees
    # (4 of the 8 bins of 22.5 degrees)
    turned = gradient_maps(np.rot90(optical).copy())
    expected = np.roll(np.rot90(maps, axes=(1, 2)), 4, axis=0)
    inner = (slice(None), slice(20, -20), slice(20, -20))  # away from the reflected border
    np.testing.assert_allclose(turned[inner], expected[inner], rtol=1e-3, atol=1e-3)


def test_gradient_maps_share_an_orientation_between_its_two_nearest_bins():
    # a ramp whose gradient points 30 degrees from the x axis: 30 / 22.5 = 1 + 1/3, so
    # bin 1 gets two thirds of the magnitude and bin 2 one third (square roots after the
    # cell sum), and no other bin anything
    rows, cols = np.mgrid[0:64, 0:64]
    ramp = (np.cos(np.deg2rad(30)) * cols + np.sin(np.deg2rad(30)) * rows).astype(np.float32)
    maps = gradient_maps(ramp)[:, 24:40, 24:40]
    assert np.allclose(maps[1] / maps[2], np.sqrt(2), rtol=1e-3)
    others = np.delete(maps, [1, 2], axis=0)
    assert np.abs(others).max() < 1e-3 * maps[1].min()


def test_gradient_maps_mark_invalid_pixels(tile):
    image = prepare_modality(tile[1], "sar")
    image[:, :30] = np.nan
    maps = gradient_maps(image)
    assert np.isnan(maps[:, :, :30]).all() and np.isfinite(maps[:, :, 60:]).all()
    with pytest.raises(ValueError, match="2-D"):
        gradient_maps(np.zeros((4, 4)))


def test_prepare_modality_fills_small_no_data_and_keeps_large_regions(tile):
    rng = np.random.default_rng(3)
    for image, modality in ((tile[0], "optical"), (tile[1], "sar")):
        holed = image.astype(np.float32)
        scattered = rng.random(SHAPE) < 0.02
        holed[scattered] = np.nan
        holed[:, :20] = np.nan  # a large region: stays no-data
        prepared = prepare_modality(holed, modality)
        assert np.isnan(prepared[:, :20]).all()
        # (holes next to the region or on the image's border are part of the outside)
        inside = np.zeros(SHAPE, bool)
        inside[3:-3, 30:-3] = scattered[3:-3, 30:-3]
        assert np.isfinite(prepared[3:-3, 30:-3]).all()
        # filled from their neighbours: near what the clean image has there
        clean = prepare_modality(image, modality)
        assert np.median(np.abs(prepared[inside] - clean[inside])) < 0.1
    # a thin sliver along the border (a canvas's fill at a small turn) stays no-data
    sliver = tile[0].astype(np.float32)
    sliver[:3, :100] = np.nan
    assert np.isnan(prepare_modality(sliver, "optical")[:3, :100]).all()
    with pytest.raises(ValueError, match="complex"):
        prepare_modality(tile[0].astype(np.complex64), "optical")


def test_prepare_modality_reads_a_colour_optical_image_as_register_does(tile):
    from sarfeat.io import rgb_to_gray

    rgba = np.dstack([_colour(tile[0]), np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0  # transparent: no-data, not a fourth channel of data
    prepared = prepare_modality(rgba, "optical")
    assert np.isnan(prepared[:, :40]).all() and np.isfinite(prepared[:, 40:]).all()
    gray = prepare_modality(rgb_to_gray(_colour(tile[0])), "optical")
    assert np.corrcoef(prepared[:, 40:].ravel(), gray[:, 40:].ravel())[0, 1] > 0.999
    with pytest.raises(ValueError, match=r"\(H, W, 4\) RGBA, got shape \(256, 256, 2\)"):
        prepare_modality(rgba[..., :2], "optical")
    with pytest.raises(ValueError):  # SAR is one channel
        prepare_modality(rgba[..., :3], "sar")


def test_scattered_no_data_in_both_images_still_registers(tile, moved_sar):
    # half a percent of NaN pixels used to leave no template to place: every NaN took
    # the maps' reach around it out of the comparison
    rng = np.random.default_rng(5)
    optical, sar = tile[0].astype(np.float32), moved_sar.copy()
    optical[rng.random(SHAPE) < 0.02] = np.nan
    sar[rng.random(SHAPE) < 0.02] = np.nan
    found = sarfeat.register(optical, sar, modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert found.diagnostics["fine_inliers"] >= 12


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


def test_a_pair_of_different_places_is_refused(tile):
    # a Sentinel-1 scene of Labrador against the optical 3MOS tile: nothing in common
    scene = load_sar_scene("labrador")[..., 0]
    with pytest.raises(sarfeat.RegistrationError, match="refused"):
        sarfeat.register(tile[0], scene, modality="optical-sar", rng=0, progress=False)


def test_dense_matcher_alone_refuses_rather_than_guesses(tile):
    rng = np.random.default_rng(0)
    noise = rng.gamma(1.0, 1.0, SHAPE).astype(np.float32)  # pure speckle, no structure
    matcher = DenseStructuralMatcher("optical-sar")
    matches = matcher.match(tile[0], noise)
    assert matcher.model is None and len(matches) == 0
    assert "refused" in matcher.diagnostics["failure"]


def test_cli_registers_optical_and_sar_files(tile, moved_sar, tmp_path, capsys, monkeypatch):
    def no_network(*args):
        raise AssertionError("an optical pair is matched without the network")

    monkeypatch.setattr("sarfeat.cli.common.checked_weights", no_network)
    monkeypatch.setattr("sarfeat.detector_network.resolve_network_weights", no_network)
    fixed, moving = tmp_path / "optical.png", tmp_path / "sar_moved.npy"
    imsave(fixed, np.clip(tile[0], 0, 255).astype(np.uint8), check_contrast=False)
    np.save(moving, moved_sar)
    out, report = tmp_path / "registered.npy", tmp_path / "report.json"
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--modality",
                   "optical-sar", "--json", str(report)])
    assert status == 0, capsys.readouterr().err
    saved = json.loads(report.read_text(encoding="utf-8"))
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert np.load(out).shape == SHAPE
    assert saved["weights"] is None


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


def test_dense_matcher_returns_the_checked_whole_overlap_estimate(tile, moved_sar):
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(tile[0], moved_sar)
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


def test_the_gray_check_passes_a_right_answer_and_can_be_tightened(tile, moved_sar):
    matcher = DenseStructuralMatcher("optical-sar", rng=0)
    matcher.match(tile[0], moved_sar)
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


def _cli_pair(tile, truth, folder):
    """The optical tile and its SAR tile moved by ``truth`` as files: ``sarfeat register``'s
    arguments (optical-sar, a JSON report) and the report's path."""
    moving_image = warp(tile[1].astype(np.float32), np.linalg.inv(truth), order=1,
                        cval=np.nan, preserve_range=True).astype(np.float32)
    fixed, moving = folder / "optical.png", folder / "sar_moved.npy"
    imsave(fixed, np.clip(tile[0], 0, 255).astype(np.uint8), check_contrast=False)
    np.save(moving, moving_image)
    report = folder / "report.json"
    return ["register", str(fixed), str(moving), "--modality", "optical-sar",
            "--json", str(report)], report


def test_cli_turns_any_searches_the_whole_circle_for_an_optical_pair(tile, tmp_path, capsys):
    # the SAR tile turned by 150 degrees: beyond the +-90 degrees searched by default, found
    # when --turns any asks for every turn
    truth = (SimilarityTransform(translation=CENTRE + (5, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(150)).params
             @ SimilarityTransform(translation=-CENTRE).params)
    command, report = _cli_pair(tile, truth, tmp_path)
    assert main(command) != 0  # the default search does not reach 150 degrees
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert "refused" in json.dumps(saved)
    # the refusal says what was searched and how to widen it
    assert "turns within +-90 degrees were searched" in capsys.readouterr().out
    status = main(command + ["--turns", "any"])
    assert status == 0, capsys.readouterr().err
    assert "the whole circle is searched" in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["whole_circle_search"] is True and saved["upright_search"] is False
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0


def test_the_default_search_reaches_a_sar_image_at_055_of_the_optical_scale(tile):
    # below the 0.71-1.41 that the default search covered before (0.59-2 now)
    truth = (SimilarityTransform(translation=CENTRE + (4, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(20), scale=0.55).params
             @ SimilarityTransform(translation=-CENTRE).params)
    moving = warp(tile[1].astype(np.float32), np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    result = sarfeat.register(tile[0], moving, modality="optical-sar")
    assert registration_rmse(result.transform.params, truth, SHAPE, SHAPE) < 3.0


def test_cli_wide_scales_reach_a_sar_image_below_half_the_optical_scale(tile, tmp_path,
                                                                       capsys):
    # the SAR tile at 0.46 of the optical image's scale: below the 0.59-2 searched by
    # default (and its refinement), found when --scales wide adds 0.5
    truth = (SimilarityTransform(translation=CENTRE + (4, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(20), scale=0.46).params
             @ SimilarityTransform(translation=-CENTRE).params)
    command, report = _cli_pair(tile, truth, tmp_path)
    assert main(command) != 0
    status = main(command + ["--scales", "wide"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["wide_scale_search"] is True and saved["whole_circle_search"] is False
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0


def test_dense_scales_are_checked():
    with pytest.raises(ValueError, match="scales must be finite and positive"):
        CoarseFineMatcher(modality="optical-sar", dense_scales=(1.0, -0.5))
    with pytest.raises(ValueError, match="scales must be finite and positive"):
        DenseStructuralMatcher("optical-sar", scales=())


def _stretched_truth(p: float, q: float) -> np.ndarray:
    """TRUTH after a stretch [[1 + p, q], [q, 1 - p]] about the tile's centre: an affine
    map that no similarity fits (a SAR image in its own geometry, say)."""
    from benchmarks.optical_sar_pairs import stretch_about_centre

    return TRUTH.params @ stretch_about_centre(p, q, SHAPE)


def test_a_stretched_sar_image_registers_with_the_affine_dense_model(tile):
    truth = _stretched_truth(0.06, 0.0)
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    # a similarity fits 6 % of stretch nowhere well: refused by default (the stretch
    # check turns an accepted similarity into an affine map, never a refusal into one)
    with pytest.raises(sarfeat.RegistrationError):
        sarfeat.register(tile[0], moving, modality="optical-sar", rng=0, progress=False)
    result = sarfeat.register(tile[0], moving, modality="optical-sar", rng=0,
                              progress=False, dense_model="affine")
    assert registration_rmse(result.transform, truth, SHAPE, SHAPE) < 3.0
    assert type(result.transform).__name__ == "AffineTransform"
    assert result.diagnostics["selected_model"] == "affine"
    assert result.diagnostics["affine_gain"] >= 1.07
    # the stretch found (TRUTH's turn and scale taken out): x longer than y by about 12 %
    turn = SimilarityTransform(rotation=np.deg2rad(20), scale=0.9).params[:2, :2]
    stretch = np.linalg.solve(turn, result.transform.params[:2, :2])
    assert stretch[0, 0] - stretch[1, 1] == pytest.approx(0.12, abs=0.03)


def test_a_similarity_whose_templates_drift_gives_way_to_the_stretch(tile):
    truth = _stretched_truth(0.0, 0.03)  # sheared by 3 %
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    # the nearest similarity passes the checks, over 3 px off, its templates drifting
    alone = DenseStructuralMatcher("optical-sar", stretch_check=None, rng=0)
    alone.match(tile[0], moving)
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


def test_a_stretch_that_fails_the_checks_leaves_the_similarity_standing(tile, monkeypatch):
    import sarfeat.matching.dense_fine as dense_fine

    truth = _stretched_truth(0.0, 0.03)
    moving = warp(tile[1], np.linalg.inv(truth), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    alone = DenseStructuralMatcher("optical-sar", stretch_check=None, rng=0)
    alone.match(tile[0], moving)

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


def test_dense_model_is_checked():
    with pytest.raises(ValueError, match="dense_model"):
        CoarseFineMatcher(modality="optical-sar", dense_model="projective")
    with pytest.raises(ValueError, match="model must be one of"):
        DenseStructuralMatcher("optical-sar", model="shear")


def test_cli_dense_model_affine_registers_a_stretched_pair(tile, tmp_path, capsys):
    truth = _stretched_truth(0.04, 0.04)
    command, report = _cli_pair(tile, truth, tmp_path)
    status = main(command + ["--dense-model", "affine"])
    assert status == 0, capsys.readouterr().err
    assert ": affine," in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["dense_model"] == "affine"
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0
    # two SAR images take --model: --dense-model is refused for them, with the reason
    sar_command = [part if part != "optical-sar" else "sar" for part in command]
    assert main(sar_command + ["--dense-model", "affine"]) == 2
    assert "--dense-model is for a pair with an optical image" in capsys.readouterr().err


def test_images_too_small_for_the_dense_matcher_are_refused_with_a_reason(tile):
    # the global search brings the longer side of the two to 128 px: beside a 256 px
    # image, one of 12 px would be 6 px there, below the maps' least size
    with pytest.raises(ValueError, match=r"image1 is too small .* 12 x 256 pixels, at least 16"):
        DenseStructuralMatcher("optical-sar").match(tile[0][:12], tile[1])
    # large enough for the search, too small for one fine template: said so
    with pytest.raises(sarfeat.RegistrationError, match="no template could be placed"):
        sarfeat.register(tile[0][:20, :20], tile[1], modality="optical-sar", progress=False)


def _colour(gray):
    """An RGB image whose channels differ, made from a gray tile."""
    gray = np.asarray(gray, np.float32)
    return np.clip(np.dstack([gray, 0.8 * gray + 30, 255 - 0.5 * gray]), 0, 255).astype(np.uint8)


def test_register_reads_a_colour_optical_image_as_its_gray_values(tile, moved_sar):
    from sarfeat.io import rgb_to_gray

    rgb = _colour(tile[0])
    found = sarfeat.register(rgb, moved_sar, modality="optical-sar", rng=0, progress=False)
    gray = sarfeat.register(rgb_to_gray(rgb), moved_sar, modality="optical-sar", rng=0,
                            progress=False)
    np.testing.assert_allclose(found.transform.params, gray.transform.params)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    # a zero alpha is no-data: the pair still registers, with that share left out
    rgba = np.dstack([rgb, np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0
    holed = sarfeat.register(rgba, moved_sar, modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(holed.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert holed.diagnostics["valid_fraction"][0] == pytest.approx(1 - 40 / 256, abs=1e-3)
    # the dense matcher called directly reads the alpha alike (not as a fourth gray channel)
    direct = DenseStructuralMatcher("optical-sar")
    direct.match(rgba, moved_sar)
    np.testing.assert_allclose(direct.model.params, holed.transform.params)
    assert direct.diagnostics["valid_fraction"][0] == pytest.approx(1 - 40 / 256, abs=1e-3)
    # the estimator reads it alike (the drop-in API of the matching module)
    matched = CoarseFineMatcher(modality="optical-sar", rng=0).match_result(rgb, moved_sar)
    np.testing.assert_allclose(matched.model.params, found.transform.params)
    # a colour SAR image is still refused: SAR is one channel
    with pytest.raises(ValueError, match="single-channel"):
        sarfeat.register(rgb, np.dstack([moved_sar] * 3), modality="optical-sar")


def test_a_colour_moving_optical_image_is_warped_channel_by_channel(tile, moved_sar):
    # SAR fixed, the optical image moving: warped keeps the optical image's channels
    rgb = warp(_colour(tile[0]), TRUTH.inverse, order=1, preserve_range=True).astype(np.uint8)
    found = sarfeat.register(tile[1], rgb, modality="sar-optical", rng=0, progress=False)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert found.warped.shape == (*SHAPE, 3)
    inside = np.isfinite(found.warped).all(axis=-1)
    assert inside.mean() > 0.5
    # each channel lies back on the fixed grid: near the unmoved colour tile
    error = np.abs(found.warped[inside] - _colour(tile[0])[inside].astype(np.float32))
    assert np.median(error) < 12


def test_a_zero_alpha_of_a_colour_moving_image_is_no_data_in_warped(tile):
    """warped of an RGBA moving image is NaN in every channel where its alpha is zero, as the
    matching reads it, not the colour hidden there."""
    rgba = np.dstack([_colour(tile[0]), np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0
    found = sarfeat.register(tile[1], rgba, modality="sar-optical", rng=0, progress=False)
    assert np.abs(found.transform.params - np.eye(3)).max() < 3  # the tiles are co-registered
    assert found.warped.shape == (*SHAPE, 4)
    assert np.isnan(found.warped[:, :36]).all()
    assert np.isfinite(found.warped[4:-4, 44:-4]).all()


def test_cli_tie_point_scores_of_an_optical_pair_are_template_correlations(tile, tmp_path,
                                                                           capsys):
    """The tie points' score lies in [0, 1], as documented: for an optical pair the placed
    template's correlation (its votes are that correlation in hundredths)."""
    import csv

    command, report = _cli_pair(tile, TRUTH.params, tmp_path)
    ties = tmp_path / "ties.csv"
    assert main(command + ["--tie-points", str(ties)]) == 0, capsys.readouterr().err
    with open(ties, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) >= 12
    scores = np.array([float(row["score"]) for row in rows])
    votes = np.array([float(row["votes"]) for row in rows])
    assert ((scores > 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, votes / 100)


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
