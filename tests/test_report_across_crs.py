"""``sarfeat register``'s tie points and report, and ``PairInputs.in_file_pixels``'s keypoints,
for files in two CRSs: the moving pixels and residuals by the exact map between the CRSs, the
transform's departure from it said, and files in one CRS as before."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.io import Raster
from sarfeat.registration import RegistrationResult, prepare_pair

rasterio = pytest.importorskip("rasterio")
from affine import Affine  # noqa: E402 - rasterio's, after its skip
from rasterio.crs import CRS  # noqa: E402
from rasterio.warp import transform as transform_points  # noqa: E402
from rasterio.warp import transform_bounds  # noqa: E402

UTM, GEOGRAPHIC = CRS.from_epsg(32630), CRS.from_epsg(4326)
#: The correction the registration finds, on the fixed grid (fixed pixels).
SHIFT = np.array([[1, 0, 2.5], [0, 1, -1.5], [0, 0, 1.0]])


def _pair(side: int = 300, pixel: float = 700.0, same_crs: bool = False, start: int = 0):
    """A fixed UTM grid of ``side`` px over 210 km and a moving raster over it (over its
    rows and columns from ``start`` on): in EPSG:4326 at 0.006 degrees (the affine fit of the
    map between their pixels is px off), or in the fixed CRS at 1.5 times the pixel size."""
    fixed_geo = Affine(pixel, 0, 600000, 0, -pixel, 4300000)
    fixed = Raster(np.ones((1, side, side), np.float32), np.ones((1, side, side), bool), None,
                   UTM, fixed_geo)
    if same_crs:
        crs, geo, shape = UTM, Affine(1.5 * pixel, 0, 601000, 0, -1.5 * pixel, 4299000), \
            (side * 2 // 3, side * 2 // 3)
    else:
        west, south, east, north = transform_bounds(UTM, GEOGRAPHIC, 600000 + start * pixel,
                                                    4300000 - side * pixel,
                                                    600000 + side * pixel,
                                                    4300000 - start * pixel)
        step = 0.006
        crs, geo = GEOGRAPHIC, Affine(step, 0, west - 2 * step, 0, -step, north + 2 * step)
        shape = (int((north - south) / step) + 4, int((east - west) / step) + 4)
    moving = Raster(np.ones((1, *shape), np.float32), np.ones((1, *shape), bool), None, crs,
                    geo)
    return fixed, moving


def _result(inputs, matched: np.ndarray) -> RegistrationResult:
    """A registration of the matched images by ``matched`` (fixed -> moving), its keypoints
    exactly on it, spread over the matched window (corners included)."""
    rows, cols = inputs.fixed_image.shape
    xy = np.stack(np.meshgrid(np.linspace(2, cols - 3, 6), np.linspace(2, rows - 3, 6)),
                  -1).reshape(-1, 2)
    moved = (xy @ matched[:2, :2].T) + matched[:2, 2]
    from skimage.transform import AffineTransform

    return RegistrationResult(
        transform=AffineTransform(matrix=matched), matches=np.repeat(
            np.arange(len(xy))[:, None], 2, axis=1), inliers=np.ones(len(xy), bool),
        keypoints_fixed=xy[:, ::-1], keypoints_moving=moved[:, ::-1],
        diagnostics={"residual_rms": 0.0, "residual_median": 0.0})


def _moving_pixels(fixed: Raster, moving: Raster, xy: np.ndarray) -> np.ndarray:
    """Moving pixels of fixed pixels ``xy``, by the two georeferencings (rasterio alone)."""
    east, north = fixed.transform @ (xy[:, 0] + 0.5, xy[:, 1] + 0.5)
    x, y = transform_points(fixed.crs, moving.crs, east, north)
    col, row = ~moving.transform @ (np.asarray(x), np.asarray(y))
    return np.column_stack([col, row]) - 0.5


def _fixed_xy(columns) -> np.ndarray:
    return np.column_stack([columns["fixed_col"], columns["fixed_row"]])


def test_tie_points_across_crss_lie_on_the_exact_map():
    from sarfeat.cli.report import tie_points

    fixed, moving = _pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    assert inputs.curved
    result = _result(inputs, SHIFT)
    columns = tie_points(result, inputs, inputs.total(SHIFT))
    moving_xy = np.column_stack([columns["moving_col"], columns["moving_row"]])
    # each moving keypoint, matched on the fixed grid at fixed point + (2.5, -1.5), is the
    # moving pixel that the georeferencing puts there; the affine prior was 2.5 px off
    expected = _moving_pixels(fixed, moving, _fixed_xy(columns) + SHIFT[:2, 2])
    np.testing.assert_allclose(moving_xy, expected, atol=1e-6)
    # the keypoints lie on the registration: residuals of nothing but float error (2.5 px
    # against the affine fit)
    assert np.abs(columns["residual_px"]).max() < 1e-6
    lon, lat = transform_points(UTM, GEOGRAPHIC, *(fixed.transform @ (
        _fixed_xy(columns) + SHIFT[:2, 2] + 0.5).T))
    np.testing.assert_allclose(columns["moving_x"], lon, atol=1e-9)
    np.testing.assert_allclose(columns["moving_y"], lat, atol=1e-9)


def test_tie_point_residuals_across_crss_are_in_moving_pixels_against_the_exact_map():
    from sarfeat.cli.report import tie_points

    fixed, moving = _pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    result = _result(inputs, SHIFT)
    # the registration found is 1 fixed pixel east of the matches: a moving pixel east is
    # about 700 m / (0.006 degrees at 38 N: 527 m), 1.33 moving pixels, the sign as the
    # registration's place minus the match
    columns = tie_points(result, inputs, inputs.total(SHIFT @ np.array(
        [[1, 0, 1.0], [0, 1, 0], [0, 0, 1]])))
    expected = _moving_pixels(fixed, moving, _fixed_xy(columns) + SHIFT[:2, 2] + (1, 0)) \
        - _moving_pixels(fixed, moving, _fixed_xy(columns) + SHIFT[:2, 2])
    np.testing.assert_allclose(columns["residual_col"], expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(columns["residual_row"], expected[:, 1], atol=1e-6)
    assert 1.2 < np.median(columns["residual_px"]) < 1.5


def test_the_report_says_how_far_the_transform_departs_from_the_exact_map():
    from sarfeat.cli.report import registration_report

    fixed, moving = _pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    total = inputs.total(SHIFT)
    report = registration_report(_result(inputs, SHIFT), total, inputs, {})
    fit = report["transform_fit_error_px"]
    # the departure at a fine lattice of fixed pixels that land in the moving file
    xy = np.stack(np.meshgrid(np.linspace(0, 299, 61), np.linspace(0, 299, 61)),
                  -1).reshape(-1, 2)
    exact = _moving_pixels(fixed, moving, xy + SHIFT[:2, 2])
    rows, cols = moving.shape
    inside = np.all((exact >= -0.5) & (exact <= (cols - 0.5, rows - 0.5)), axis=1)
    departure = np.hypot(*(xy @ total[:2, :2].T + total[:2, 2] - exact).T)[inside]
    assert departure.max() > 2  # the curvature: pixels over 210 km
    assert departure.max() * 0.9 < fit["max"] <= departure.max() + 1e-9
    assert fit["mean"] == pytest.approx(departure.mean(), rel=0.1)
    assert fit["points"] > 400


def test_the_report_across_crss_places_the_centre_and_the_moving_pixels_exactly():
    from sarfeat.cli.report import registration_report

    fixed, moving = _pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    report = registration_report(_result(inputs, SHIFT), inputs.total(SHIFT), inputs, {})
    geography = report["geography"]
    # the correction on the fixed grid: (2.5, -1.5) pixels of 700 m
    shift = geography["shift_px_at_centre"]
    assert (shift["x"], shift["y"]) == pytest.approx((2.5, -1.5), abs=1e-6)
    shift = geography["shift_map_units"]
    assert (shift["east"], shift["north"]) == pytest.approx((1750, 1050), abs=1e-3)
    # the corrected geotransform, in the moving CRS, puts each moving pixel at the ground of
    # the fixed pixel that the registration pairs with it
    updated = geography["updated_geotransform"]
    assert updated["crs"] == "EPSG:4326" and updated["fit_error_px"] < 0.01
    xy = np.stack(np.meshgrid(np.linspace(0, 299, 9), np.linspace(0, 299, 9)),
                  -1).reshape(-1, 2)
    paired = _moving_pixels(fixed, moving, xy + SHIFT[:2, 2])
    lon, lat = Affine(*updated["affine"][:6]) @ (paired[:, 0] + 0.5, paired[:, 1] + 0.5)
    east, north = transform_points(GEOGRAPHIC, UTM, lon, lat)
    ground = np.column_stack(fixed.transform @ (xy[:, 0] + 0.5, xy[:, 1] + 0.5))
    assert np.abs(np.column_stack([east, north]) - ground).max() < 0.01 * 700


def test_the_centre_shift_across_crss_is_the_correction_on_the_fixed_grid():
    from sarfeat.cli.report import registration_report

    # the moving file over the lower right of the fixed one: the fit of the map over the
    # whole fixed image (the georeferencing) and over the window matched (the prior) differ
    fixed, moving = _pair(start=100)
    inputs = prepare_pair(fixed, moving, 0, 0)
    assert inputs.window[0] > 0
    report = registration_report(_result(inputs, SHIFT), inputs.total(SHIFT), inputs, {})
    shift = report["geography"]["shift_px_at_centre"]
    assert (shift["x"], shift["y"]) == pytest.approx((2.5, -1.5), abs=1e-6)


def _old_tie_points(result, inputs, total):
    """The moving pixels and residuals of a pair in one CRS as the tie points had them
    before the exact map (the prior and ``total``: exact in one CRS)."""
    def apply(matrix, xy):
        homogeneous = np.column_stack([xy, np.ones(len(xy))]) @ np.asarray(matrix).T
        return homogeneous[:, :2] / homogeneous[:, 2:]

    pairs = result.inlier_matches
    fixed_xy = apply(np.linalg.inv(inputs.crop), result.keypoints_fixed[pairs[:, 0], ::-1])
    moving_xy = apply(inputs.prior, result.keypoints_moving[pairs[:, 1], ::-1])
    return moving_xy, apply(total, fixed_xy) - moving_xy


def test_files_in_one_crs_keep_their_tie_points_and_report():
    from sarfeat.cli.report import registration_report, tie_points

    fixed, moving = _pair(same_crs=True)
    inputs = prepare_pair(fixed, moving, 0, 0)
    assert inputs.resampled and not inputs.curved
    result, total = _result(inputs, SHIFT), inputs.total(SHIFT)
    columns = tie_points(result, inputs, total)
    moving_xy, residual = _old_tie_points(result, inputs, total)
    assert np.array_equal(np.column_stack([columns["moving_col"], columns["moving_row"]]),
                          moving_xy)
    assert np.array_equal(np.column_stack([columns["residual_col"], columns["residual_row"]]),
                          residual)
    report = registration_report(result, total, inputs, {})
    assert "transform_fit_error_px" not in report
    assert report["geography"]["updated_geotransform"]["crs"] == "EPSG:32630"


def test_the_fit_note_is_said_over_half_a_pixel_alone():
    from sarfeat.cli.report import transform_fit_note

    inputs = prepare_pair(*_pair(), 0, 0)
    note = transform_fit_note(inputs, inputs.total(SHIFT))
    assert note.startswith("note: the report's transform is an affine fit of the map between "
                           "the two CRSs, off by up to 2.")
    inputs = prepare_pair(*_pair(side=60), 0, 0)  # 42 km: within half a pixel
    assert transform_fit_note(inputs, inputs.total(SHIFT)) is None
    inputs = prepare_pair(*_pair(same_crs=True), 0, 0)
    assert transform_fit_note(inputs, inputs.total(SHIFT)) is None


def test_in_file_pixels_places_the_moving_keypoints_across_crss_by_the_exact_map():
    fixed, moving = _pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    result = _result(inputs, SHIFT)
    placed = inputs.in_file_pixels(result)
    fixed_xy = placed.keypoints_fixed[:, ::-1]
    # each moving keypoint, matched on the fixed grid at fixed point + (2.5, -1.5), is the
    # moving pixel that the georeferencing puts there, as in the tie points
    expected = _moving_pixels(fixed, moving, fixed_xy + SHIFT[:2, 2])
    np.testing.assert_allclose(placed.keypoints_moving[:, ::-1], expected, atol=1e-6)
    affine = _old_tie_points(result, inputs, inputs.total(SHIFT))[0]
    assert np.hypot(*(affine - expected).T).max() > 2  # the prior's affine fit: px off
    np.testing.assert_array_equal(placed.transform.params, inputs.total(SHIFT))


def test_in_file_pixels_in_one_crs_keeps_the_prior():
    fixed, moving = _pair(same_crs=True)
    inputs = prepare_pair(fixed, moving, 0, 0)
    result = _result(inputs, SHIFT)
    moving_xy = _old_tie_points(result, inputs, inputs.total(SHIFT))[0]
    assert np.array_equal(inputs.in_file_pixels(result).keypoints_moving[:, ::-1], moving_xy)


def _ramp(moving: Raster) -> Raster:
    """``moving`` holding its own column (float32): resampled bilinearly, a pixel's value
    is the moving column it was read from."""
    from dataclasses import replace

    rows, cols = moving.shape
    columns = np.broadcast_to(np.arange(cols, dtype=np.float32), (1, rows, cols)).copy()
    return replace(moving, data=columns)


def test_in_file_pixels_warps_across_crss_by_the_exact_map_as_register_writes():
    import pickle

    fixed, moving = _pair()
    moving = _ramp(moving)
    inputs = prepare_pair(fixed, moving, 0, 0)
    placed = inputs.in_file_pixels(_result(inputs, SHIFT))
    warped = placed.warped
    # each fixed pixel reads the moving column that the georeferencing puts at it once
    # corrected by (2.5, -1.5): within the blocks' fit of the exact map (0.05 px)
    xy = np.stack(np.meshgrid(np.arange(0, 300, 7), np.arange(0, 300, 7)), -1).reshape(-1, 2)
    expected = _moving_pixels(fixed, moving, xy + SHIFT[:2, 2])[:, 0]
    got = warped[xy[:, 1], xy[:, 0]].astype(float)
    inside = np.isfinite(got)
    assert inside.mean() > 0.9
    assert np.abs(got - expected)[inside].max() < 0.06
    # through the affine total, the corners were px off
    total = inputs.total(SHIFT)
    affine = xy @ total[:2, :2].T + total[:2, 2]
    assert np.abs(affine[:, 0] - expected)[inside].max() > 2
    # what register -o writes, to the bit, NaN outside included
    np.testing.assert_array_equal(warped, inputs.warped_moving(total).data[0])
    # made when read, from rasters that hold no band; it travels unread (Dask's workers)
    lazy = inputs.in_file_pixels(_result(inputs, SHIFT))
    assert lazy._warped is None
    assert [raster.count for raster in lazy.resampling[4][:2]] == [0, 0]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy)).warped, warped)


def test_in_file_pixels_in_one_crs_warps_by_the_transform():
    from sarfeat.geometry import warp

    fixed, moving = _pair(same_crs=True)
    moving = _ramp(moving)
    inputs = prepare_pair(fixed, moving, 0, 0)
    placed = inputs.in_file_pixels(_result(inputs, SHIFT))
    assert len(placed.resampling) == 4
    np.testing.assert_array_equal(
        placed.warped, warp(moving.band(), inputs.total(SHIFT), fixed.shape))
