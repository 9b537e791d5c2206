"""Tests of :func:`sarfeat.register`: results that can be trusted, or a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, SimilarityTransform, warp

from sarfeat import CoarseFineMatcher, RegistrationError, RegistrationResult, register
from sarfeat.detector import NoKeypointsError
from sarfeat.metrics import registration_rmse

TRUTH = SimilarityTransform(scale=1.05, rotation=np.deg2rad(-4), translation=(-9.0, 14.0))


def _moved(image: np.ndarray, truth) -> np.ndarray:
    """``image`` seen through ``truth`` (fixed (x, y) -> moving (x, y)), NaN outside."""
    return warp(image, truth.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def registered(naver_net, airsar_cube):
    """Register HV (moved by TRUTH) onto HH of the AIRSAR scene."""
    fixed = airsar_cube[..., 0]
    moving = _moved(airsar_cube[..., 1], TRUTH)
    return register(fixed, moving, weights=naver_net, rng=0), fixed, moving


def _log_correlation(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    return float(np.corrcoef(np.log(a[both]), np.log(b[both]))[0, 1])


# -- a registration that works ------------------------------------------------------------------


def test_transform_maps_fixed_to_moving(registered):
    result, fixed, moving = registered
    assert isinstance(result, RegistrationResult)
    assert isinstance(result.transform, AffineTransform)  # model='affine' by default
    assert registration_rmse(result.transform, TRUTH.params, fixed.shape, moving.shape) < 1.0
    np.testing.assert_allclose(result.moving_to_fixed.params,
                               np.linalg.inv(result.transform.params), atol=1e-9)


def test_warped_moving_aligns_with_fixed(registered, airsar_cube):
    result, fixed, moving = registered
    warped = result.warped
    assert warped.shape == fixed.shape and warped.dtype == np.float32
    # NaN exactly where the fixed grid falls outside the moving image
    outside = ~np.isfinite(warp(np.ones(moving.shape), result.transform, output_shape=fixed.shape,
                                order=0, cval=np.nan))
    assert np.isnan(warped[outside]).all()
    assert 0.05 < np.isnan(warped).mean() < 0.6
    # the registered HV lies on HH's grid: as well correlated with HH as the original HV,
    # far better than the unregistered one
    original = airsar_cube[..., 1]
    assert _log_correlation(fixed, warped) > 0.9 * _log_correlation(fixed, original)
    assert _log_correlation(fixed, warped) > _log_correlation(fixed, moving) + 0.2
    # and reproduces skimage's warp with the transform it reports
    again = warp(np.nan_to_num(moving, nan=0.0), result.transform, output_shape=fixed.shape,
                 order=1, cval=np.nan, preserve_range=True)
    inner = np.isfinite(warped)
    np.testing.assert_allclose(warped[inner], again[inner], rtol=1e-3, atol=1e-5)


def test_result_reports_matches_and_diagnostics(registered):
    result, _, _ = registered
    q = len(result.matches)
    assert result.matches.shape == (q, 2) and result.inliers.shape == (q,)
    assert (result.matches[:, 0] < len(result.keypoints_fixed)).all()
    assert (result.matches[:, 1] < len(result.keypoints_moving)).all()
    np.testing.assert_array_equal(result.inlier_matches, result.matches[result.inliers])
    d = result.diagnostics
    for key in ("coarse_candidates", "coarse_inliers", "fine_candidates", "fine_inliers",
                "residual_median", "residual_rms", "overlap_fraction", "spread"):
        assert key in d, key
    assert d["coarse_inliers"] <= d["coarse_candidates"]
    assert d["fine_inliers"] == int(result.inliers.sum()) >= 30
    assert d["fine_inliers"] <= d["fine_candidates"] == q
    assert 0 < d["residual_median"] <= d["residual_rms"] * 1.5 and d["residual_rms"] < 3
    assert 0.5 < result.confidence <= 1
    assert result.seconds > 0


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("default_weights", [False, True], ids=["naver", "sarfeat-sar-v1"])
def test_two_different_scenes_raise(naver_net, airsar_cube, default_weights):
    """Labrador (Sentinel-1) against San Francisco (AIRSAR): no overlap at all."""
    from sarfeat.data import load_sar_scene

    labrador = load_sar_scene("labrador")[..., 0]
    weights = None if default_weights else naver_net
    with pytest.raises(RegistrationError, match="may not overlap") as raised:
        register(labrador, airsar_cube[..., 0], weights=weights, rng=0)
    assert "inliers" in str(raised.value) or "voted matches" in str(raised.value)


def test_constant_input_raises(naver_net, airsar_cube):
    with pytest.raises(RegistrationError, match="fixed image is constant"):
        register(np.full((128, 128), 3.0), airsar_cube[..., 0], weights=naver_net)
    with pytest.raises(RegistrationError, match="moving image is constant"):
        register(airsar_cube[..., 0], np.zeros((128, 128), np.uint8), weights=naver_net)


def test_nan_heavy_input_raises(naver_net, airsar_cube):
    mostly_nan = airsar_cube[..., 0].copy()
    mostly_nan[:, 8:] = np.nan
    with pytest.raises(RegistrationError, match=r"moving image is mostly no-data: only 3\.1 %"):
        register(airsar_cube[..., 0], mostly_nan, weights=naver_net)
    with pytest.raises(RegistrationError, match="no valid pixel"):
        register(np.full((64, 64), np.nan), airsar_cube[..., 0], weights=naver_net)
    # no-data given by value counts too
    zeros = np.zeros((64, 64), np.float32)
    zeros[:4, :4] = 1
    with pytest.raises(RegistrationError, match="fixed image is mostly no-data"):
        register(zeros, airsar_cube[..., 0], weights=naver_net, nodata=0)


def test_featureless_input_raises(naver_net, airsar_cube):
    rows, cols = np.mgrid[:256, :256]
    ramp = (1.0 + rows + cols).astype(np.float32)  # smooth: no keypoint away from the border
    with pytest.raises(RegistrationError, match="fixed image: .*featureless"):
        register(ramp, airsar_cube[..., 0], weights=naver_net)
    with pytest.raises(RegistrationError, match="moving image: .*featureless"):
        register(airsar_cube[..., 0], ramp, weights=naver_net)


def test_bad_arguments_raise_value_error(naver_net, airsar_cube):
    image = airsar_cube[..., 0]
    with pytest.raises(ValueError, match="fixed image"):
        register(airsar_cube, image, weights=naver_net)
    with pytest.raises(ValueError, match="either matcher"):
        register(image, image, weights=naver_net, matcher=CoarseFineMatcher(naver_net))
    with pytest.raises(ValueError, match="min_valid_fraction"):
        register(image, image, weights=naver_net, min_valid_fraction=1.5)
    for order in (7, -1, 1.5, True, 3.0, np.True_):  # by the call, not when warped is read
        with pytest.raises(ValueError, match="spline order 0-5"):
            register(image, image, weights=naver_net, order=order)


@pytest.mark.parametrize("order", [0, 1, 3, 5, np.int64(2), 3.0, np.float32(1), True, np.True_,
                                   1.5, -1, 6, "1", None])
def test_register_takes_the_orders_that_the_warp_takes(order):
    """check_register_options had its own test of ``order`` (``order in range(6)``), which took
    3.0 and np.True_: register() accepted them and result.warped then raised (geometry's
    check_order refuses them); one check now, with one message."""
    from sarfeat.cli.common import ORDERS
    from sarfeat.geometry import check_order
    from sarfeat.registration import check_register_options

    outcomes = []
    for check in (check_order, check_register_options):
        try:
            check(order)
            outcomes.append(None)
        except ValueError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
    if order in ORDERS and type(order) is int:  # what the command line offers is taken
        assert outcomes == [None, None]


def test_the_default_min_valid_fraction_is_one_constant():
    """The command line's --min-valid-fraction default and check_register_options' wrote 0.05
    again beside sarfeat.image_checks.MIN_VALID_FRACTION (register()'s default): changing
    the constant left them behind. They are the constant itself now, and so is the help's
    number."""
    import argparse
    import inspect

    from sarfeat.cli.search_options import add_matching_options
    from sarfeat.image_checks import MIN_VALID_FRACTION
    from sarfeat.registration import check_register_options

    parser = argparse.ArgumentParser()
    add_matching_options(parser)
    option = next(action for action in parser._actions if action.dest == "min_valid_fraction")
    # the same object, not an equal literal written again
    assert option.default is MIN_VALID_FRACTION
    assert f"(default {MIN_VALID_FRACTION:g})" in option.help
    default = inspect.signature(check_register_options).parameters["min_valid_fraction"]
    assert default.default is MIN_VALID_FRACTION
    assert inspect.signature(register).parameters["min_valid_fraction"].default \
        is MIN_VALID_FRACTION
    from sarfeat.cli import register as register_command  # the command line's own call

    assert inspect.signature(register_command._register).parameters[
        "min_valid_fraction"].default is MIN_VALID_FRACTION


@pytest.mark.parametrize("keywords, error, message", [
    ({"matcher": "affine"}, TypeError, "matcher must be a CoarseFineMatcher"),  # AttributeError
    ({"min_valid_fraction": "0.1"}, ValueError, "min_valid_fraction must be"),  # '<=' TypeError
    ({"min_valid_fraction": None}, ValueError, "min_valid_fraction must be"),
])
def test_wrong_types_of_matcher_and_fraction_are_named(keywords, error, message):
    image = np.ones((8, 8))  # refused before the images are looked at
    with pytest.raises(error, match=message):
        register(image, image, **keywords)


def test_registration_error_is_a_runtime_error():
    assert issubclass(RegistrationError, RuntimeError)


def test_only_a_featureless_image_is_blamed_on_an_input(monkeypatch):
    matcher = CoarseFineMatcher(None)
    image = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64)).astype(np.float32)

    def fails(error):
        def match_result(*args, **kwargs):
            raise error
        monkeypatch.setattr(matcher, "match_result", match_result)

    fails(NoKeypointsError("image2: the image is flat"))
    with pytest.raises(RegistrationError, match="moving image: the image is flat") as refused:
        register(image, image, matcher=matcher)
    assert refused.value.image == "moving"
    # another runtime failure (a GPU out of memory, a bug) shows as itself, blaming no input
    fails(RuntimeError("CUDA out of memory"))
    with pytest.raises(RuntimeError, match="CUDA out of memory") as failed:
        register(image, image, matcher=matcher)
    assert not isinstance(failed.value, RegistrationError)


# -- the repeatability metric (sarfeat.metrics) ---------------------------------------------------


def test_repeatability_counts_both_directions():
    from sarfeat.metrics import repeatability

    shift = np.array([[1, 0, 10.0], [0, 1, 0], [0, 0, 1]])  # image 2 = image 1 moved 10 px right
    keypoints1 = np.array([[5.0, 5.0], [5.0, 50.0], [20.0, 95.0]])  # the last lands outside
    keypoints2 = np.array([[5.0, 16.0], [30.0, 30.0], [5.0, 2.0]])  # the last comes from outside
    # counted: image 1 -> (5, 15) repeated, (5, 60) not; image 2 -> (5, 6) repeated, (30, 20) not
    assert repeatability(keypoints1, keypoints2, shift, (100, 100), (100, 100)) == 0.5
    assert repeatability(keypoints1, keypoints2, AffineTransform(matrix=shift), (100, 100),
                         (100, 100), threshold=0.5) == 0.0
    assert np.isnan(repeatability(np.empty((0, 2)), np.empty((0, 2)), shift, (10, 10), (10, 10)))


def test_progress_bar_over_the_fine_patches(naver_net, airsar_cube, capsys):
    fixed = airsar_cube[..., 0]
    moving = _moved(airsar_cube[..., 1], TRUTH)
    matcher = CoarseFineMatcher(naver_net, rng=0, patch_size=128, progress=False)
    register(fixed, moving, matcher=matcher, progress=True)
    assert "fine stage, image-1 patches around the coarse model" in capsys.readouterr().err
    assert matcher.progress is False  # the call's setting did not stick
    register(fixed, moving, matcher=matcher)
    assert "image-1 patches" not in capsys.readouterr().err


def test_masked_arrays_keep_their_mask(naver_net, airsar_cube):
    """A fully masked moving image is refused, as CoarseFineMatcher.match refuses it."""
    fixed = airsar_cube[..., 0]
    with pytest.raises(RegistrationError, match="no valid pixel") as raised:
        register(fixed, np.ma.masked_all_like(fixed), weights=naver_net)
    assert raised.value.image == "moving"
    mostly = np.ma.masked_array(fixed, mask=np.ones(fixed.shape, bool))
    mostly.mask[:10] = False
    with pytest.raises(RegistrationError, match="mostly no-data"):
        register(fixed, mostly, weights=naver_net)


def test_nodata_nan_is_taken_as_rasterio_gives_it(registered, naver_net):
    """``nodata=src.nodata`` of a float GeoTIFF is NaN: taken, and the same as no nodata
    (NaN already marks no-data), as the detector and the extractor take it."""
    result, fixed, moving = registered
    again = register(fixed, moving, weights=naver_net, rng=0, nodata=np.nan)
    np.testing.assert_array_equal(again.transform.params, result.transform.params)
    np.testing.assert_array_equal(again.warped, result.warped)
    assert np.isnan(CoarseFineMatcher(naver_net, nodata=float("nan")).nodata)
    with pytest.raises(ValueError, match="nodata must be one real number"):
        register(fixed, moving, weights=naver_net, nodata="nan")


def test_warped_is_made_only_when_read(registered, monkeypatch):
    """The command line resamples every band itself: register() must not warp for it."""
    import sarfeat.registration_result as registration_result  # where RegistrationResult is

    result, fixed, moving = registered
    calls = []
    monkeypatch.setattr(registration_result, "warp", lambda *a, **k: calls.append(1) or
                        np.zeros(fixed.shape))
    lazy = RegistrationResult(result.transform, result.matches, result.inliers,
                              result.keypoints_fixed, result.keypoints_moving,
                              resampling=(moving, 1, None, fixed.shape))
    assert calls == []
    assert lazy.warped.shape == fixed.shape and lazy.warped is lazy.warped and calls == [1]
    lazy.warped = None  # what a worker that does not send it back does
    assert lazy.warped is None and calls == [1]


def test_footprints_that_do_not_overlap_are_named_for_the_caller():
    """The library's refusal speaks of the fixed and moving images (not the command line's
    FIXED and MOVING), or names them as the caller does."""
    pytest.importorskip("rasterio")
    from affine import Affine
    from rasterio.crs import CRS

    from sarfeat.io import Raster
    from sarfeat.registration import prepare_pair

    data = np.ones((1, 32, 32), np.float32)
    utm = CRS.from_epsg(32633)
    fixed = Raster(data, data > 0, crs=utm, transform=Affine(10, 0, 500000, 0, -10, 5600000))
    far = Raster(data, data > 0, crs=utm, transform=Affine(10, 0, 600000, 0, -10, 5600000))
    with pytest.raises(RegistrationError, match="100000 metre") as raised:
        prepare_pair(fixed, far)
    assert str(raised.value).startswith(
        "the footprints of the fixed image and the moving image do not overlap")
    assert "FIXED" not in str(raised.value)
    with pytest.raises(RegistrationError, match="footprints of the reference and b.tif do"):
        prepare_pair(fixed, far, names=("the reference", "b.tif"))


def test_a_refusal_after_matching_keeps_the_matchers_diagnostics():
    """A RegistrationError said why, but not what ran the keypoint network: a failed
    report could not say it (``diagnostics`` of the matcher that found no model)."""
    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")[..., 0]
    noise = np.random.default_rng(0).gamma(1.0, 1.0, scene.shape).astype(np.float32)
    with pytest.raises(RegistrationError, match="cannot register") as refused:
        register(scene, noise, rng=0, progress=False)
    network = refused.value.diagnostics["network"]
    assert set(network) == {"runtime", "precision", "device"}
    assert "no consistent transform" in refused.value.diagnostics["failure"]
    with pytest.raises(RegistrationError, match="constant") as early:  # before any matching
        register(scene, np.ones_like(scene), progress=False)
    assert early.value.diagnostics is None


def test_a_coarse_image_without_keypoints_keeps_what_ran():
    """When the detector ran on a coarse image and found nothing usable, the RegistrationError
    carried no diagnostics: a failed report said ``network: null`` although the network ran."""
    from scipy import ndimage

    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")[..., 0]
    rows, cols = np.mgrid[:scene.shape[0], :scene.shape[1]]
    ramp = (1 + rows + cols).astype(np.float32)  # no keypoint at all (image 2)
    smooth = ndimage.gaussian_filter(scene, 8)  # keypoints on its border only (image 1)
    for fixed, moving, which, reason in ((scene, ramp, "moving", "found no keypoint"),
                                         (smooth, scene, "fixed", "looks featureless")):
        with pytest.raises(RegistrationError, match=reason) as refused:
            register(fixed, moving, rng=0, progress=False)
        assert refused.value.image == which
        diagnostics = refused.value.diagnostics
        assert set(diagnostics["network"]) == {"runtime", "precision", "device"}
        assert reason in diagnostics["failure"] and diagnostics["coarse_factor"] == 1.0

