"""``sarfeat register`` on GeoTIFF pairs with a known warp: grids, CRSs, bands, dtypes, nodata.

The pairs are built from the bundled Sentinel-1 Labrador scene: the fixed image
is VV on a 10 m UTM 33N grid; the moving one is VH (independent speckle) under
a known warp, written with its own grid, CRS, dtype and nodata. The truth is
the map from fixed pixels to the moving file's own pixels; every registration
must come within 1 px of it, and the written files must carry the right
georeferencing, dtype and nodata.
"""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import tifffile
from skimage.transform import AffineTransform, warp

from sarfeat.cli import main
from sarfeat.data import load_sar_scene
from sarfeat.io import Raster, pixel_map
from sarfeat.metrics import registration_rmse

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402
from rasterio.warp import Resampling, reproject, transform_bounds  # noqa: E402

UTM = CRS.from_epsg(32633)
FIXED_GEO = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)


def write_geotiff(path, bands, *, crs, transform, nodata):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs=crs,
                       transform=transform, nodata=nodata) as target:
        target.write(bands)


def moved(image, truth, shape, nodata, dtype=np.float32):
    """``image`` (on the fixed grid) as seen in a moving file where fixed p -> truth(p)."""
    out = warp(image, AffineTransform(matrix=np.linalg.inv(truth)), output_shape=shape, order=1,
               cval=np.nan, preserve_range=True)
    if np.issubdtype(dtype, np.integer):
        out = np.rint(out)
    return np.where(np.isfinite(out), out, nodata).astype(dtype)


def same_grid_pair(folder, vv, vh):
    """Multi-band int16 amplitude DN with nodata -9999, on the fixed grid; a turn and a shift."""
    truth = AffineTransform(rotation=np.deg2rad(2), translation=(6.5, -4.25)).params
    bands = np.stack([moved(np.minimum(10 * np.sqrt(x), 32767), truth, vv.shape, -9999, np.int16)
                      for x in (vh, vv, vv + vh)])
    bands[:, :20] = -9999
    path = folder / "moving_multi.tif"
    write_geotiff(path, bands, crs=UTM, transform=FIXED_GEO, nodata=-9999)
    return path, truth, ["--moving-band", "0"]


def coarse_pair(folder, vv, vh):
    """float32 at 20 m (VH at its own resolution), nodata -9999, off by (3.3, -2.1) pixels.

    Its fixed image is VV brought to 10 m (512 x 512): the matcher's pyramid needs a scene
    of some size, and the bundled one is 256 px across.
    """
    half = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1.0]])  # 10 m px -> 20 m px
    fixed = warp(vv, AffineTransform(matrix=half), output_shape=(512, 512), order=1,
                 preserve_range=True).astype(np.float32)
    fixed_path = folder / "fixed_10m.tif"
    write_geotiff(fixed_path, fixed, crs=UTM, transform=FIXED_GEO, nodata=-9999.0)
    shift = AffineTransform(translation=(3.3, -2.1)).params
    path = folder / "moving_20m.tif"
    write_geotiff(path, moved(vh, shift, (256, 256), -9999.0),
           crs=UTM, transform=Affine(20.0, 0, 500000.0, 0, -20.0, 5600000.0), nodata=-9999.0)
    return path, shift @ half, ["--fixed", str(fixed_path)]


def geographic_pair(folder, vv, vh):
    """float32 with NaN nodata in EPSG:4326, its georeferencing 37 m east, 23 m south off."""
    wgs84 = CRS.from_epsg(4326)
    west, south, east, north = transform_bounds(UTM, wgs84, 500000, 5597440, 502560, 5600000)
    step = 10 / 111_200
    width = int(np.ceil((east - west) * np.cos(np.deg2rad((south + north) / 2)) / step))
    height = int(np.ceil((north - south) / step))
    geo = Affine((east - west) / width, 0, west, 0, -(north - south) / height, north)
    actual = FIXED_GEO * Affine.translation(3.7, 2.3)  # VH's true place: 37 m E, 23 m S
    band = np.full((height, width), np.nan, np.float32)
    reproject(vh, band, src_transform=actual, src_crs=UTM, dst_transform=geo, dst_crs=wgs84,
              dst_nodata=np.nan, resampling=Resampling.bilinear)
    path = folder / "moving_4326.tif"
    write_geotiff(path, band, crs=wgs84, transform=geo, nodata=np.nan)
    blank = np.zeros((1, 256, 256))
    truth = pixel_map(Raster(blank, blank > 0, crs=UTM, transform=actual),
                      Raster(band[None], band[None] > 0, crs=wgs84, transform=geo))
    return path, truth, []


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("geotiff")
    scene = load_sar_scene("labrador")
    vv, vh = scene[..., 0].astype(np.float64), scene[..., 1].astype(np.float64)
    fixed = folder / "fixed.tif"
    fixed_band = vv.astype(np.float32)
    fixed_band[230:, :40] = -9999.0
    write_geotiff(fixed, fixed_band, crs=UTM, transform=FIXED_GEO, nodata=-9999.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = {"same-grid": same_grid_pair(folder, vv, vh), "20m": coarse_pair(folder, vv, vh),
                 "4326": geographic_pair(folder, vv, vh)}
    return folder, fixed, built


def _corners_to_map(geo, xy):
    """Map coordinates of (N, 2) corner-based pixel positions under the geotransform ``geo``."""
    return np.column_stack([geo.a * xy[:, 0] + geo.b * xy[:, 1] + geo.c,
                            geo.d * xy[:, 0] + geo.e * xy[:, 1] + geo.f])


def _check_tie_points(columns, truth):
    fixed_xy = np.column_stack([columns["fixed_col"], columns["fixed_row"]]).astype(float)
    moving_xy = np.column_stack([columns["moving_col"], columns["moving_row"]]).astype(float)
    predicted = AffineTransform(matrix=truth)(fixed_xy)
    errors = np.hypot(*(predicted - moving_xy).T)
    assert len(errors) >= 10
    # keypoints of two channels with independent speckle: about 1.5 px each, as the residuals
    assert np.median(errors) < 2.0 and np.mean(errors < 3) > 0.8
    assert np.median(columns["residual_px"]) < 2.5
    expected_map = _corners_to_map(FIXED_GEO, fixed_xy + 0.5)
    np.testing.assert_allclose(np.column_stack([columns["fixed_x"], columns["fixed_y"]]),
                               expected_map, atol=1e-3)


CASES = {  # name: (output dtype, output nodata, bands, tie-point suffix, extra options)
    "same-grid": ("int16", -9999, 3, ".csv", []),
    "20m-no-resample": ("float32", -9999.0, 1, ".csv", ["--no-resample"]),
    "4326": ("float32", None, 1, ".geojson", ["--plot", "residuals.png"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_register_geotiff_pair(pairs, case, capsys):
    folder, fixed, built = pairs
    moving, truth, options = built[case.replace("-no-resample", "")]
    dtype, nodata, count, suffix, extra = CASES[case]
    if options[:1] == ["--fixed"]:
        fixed, options = options[1], options[2:]
    out, report, ties = (folder / f"{case}.tif", folder / f"{case}.json",
                         folder / f"{case}{suffix}")
    extra = [str(folder / x) if x.endswith(".png") else x for x in extra]
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--json", str(report),
                   "--tie-points", str(ties), "-q", *options, *extra])
    assert status == 0, capsys.readouterr().err
    assert capsys.readouterr().out == ""  # -q
    saved = json.loads(report.read_text())
    if "--weights" not in options:
        assert saved["weights"] == "sarfeat-sar-v2"  # the release run, not its network's file
    estimate = np.array(saved["transform_fixed_to_moving"])
    with rasterio.open(moving) as source:
        moving_shape = source.shape
    with rasterio.open(fixed) as source:
        fixed_shape = source.shape
    assert registration_rmse(estimate, truth, fixed_shape, moving_shape) < 1.0
    geography = saved["geography"]
    assert geography["fixed_crs"] == "EPSG:32633"
    assert geography["rmse_map_units"] == pytest.approx(10 * saved["residuals_px"]["rms"])
    assert saved["residuals_px"]["frame"].startswith(
        "pixels of the fixed grid" if saved["moving_resampled_for_matching"]
        else "pixels of the moving file, which lies on the fixed grid")
    with rasterio.open(out) as written:
        assert written.crs == UTM and written.count == count
        assert written.dtypes[0] == dtype
        assert (written.nodata == nodata) if nodata is not None else np.isnan(written.nodata)
        assert written.block_shapes[0] == (256, 256) or "no-resample" in case
        assert written.compression.name.lower() == "deflate"
        data, geo = written.read(), written.transform
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages[0].is_tiled or "no-resample" in case
    if "no-resample" in case:  # the moving pixels unchanged, their geotransform corrected
        with rasterio.open(moving) as source:
            np.testing.assert_array_equal(data, source.read())
        corners = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], float)
        truth_fixed = AffineTransform(matrix=np.linalg.inv(truth))(corners - 0.5) + 0.5
        expected = _corners_to_map(FIXED_GEO, truth_fixed)
        assert np.abs(_corners_to_map(geo, corners) - expected).max() < 10
    else:
        assert geo == FIXED_GEO and data.shape == (count, 256, 256)
        outside = data[0] == nodata if nodata is not None else np.isnan(data[0])
        assert 0.01 < outside.mean() < 0.5
    if case == "same-grid":  # the corrected geotransform puts the moving pixels in place
        updated = Affine(*geography["updated_geotransform"]["affine"])
        corners = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], float)
        for matrix, tolerance in ((estimate, 1e-6), (truth, 20)):  # exact; 2 px at corners
            fixed_corners = AffineTransform(matrix=np.linalg.inv(matrix))(corners - 0.5) + 0.5
            assert np.abs(_corners_to_map(updated, corners)
                          - _corners_to_map(FIXED_GEO, fixed_corners)).max() < tolerance
    if case == "same-grid":  # every band warped with the one transform: VV comes back
        with rasterio.open(fixed) as source:
            vv = source.read(1)
        valid = (data[1] != nodata) & (vv != -9999.0)
        # speckle decorrelates within a pixel: aligned 0.6 here, 1 px off 0.4
        assert np.corrcoef(data[1][valid] ** 2.0, vv[valid])[0, 1] > 0.5
    if case == "4326":  # the moving file puts the ground 37 m east, 23 m south of the fixed
        shift = geography["shift_map_units"]
        assert shift["east"] == pytest.approx(37, abs=10)
        assert shift["north"] == pytest.approx(-23, abs=10)
        features = json.loads(ties.read_text())["features"]
        columns = {k: [f["properties"][k] for f in features] for k in features[0]["properties"]}
        lon, lat = features[0]["geometry"]["coordinates"]
        assert 14 < lon < 16 and 50 < lat < 51
        plot = (folder / "residuals.png").read_bytes()  # matches, overlay, residual vectors
        assert plot[:8] == b"\x89PNG\r\n\x1a\n" and len(plot) > 20_000
    else:
        with open(ties, newline="") as stream:
            rows = list(csv.DictReader(stream))
        columns = {k: [float(r[k]) for r in rows] for k in rows[0]}
        assert {"residual_px", "votes", "score", "moving_x", "residual_map"} <= set(columns)
    _check_tie_points(columns, truth)


def test_georeferenced_optical_and_sar_are_searched_upright(tmp_path, capsys):
    # a georeferenced optical tile and its SAR tile 6 px east and 4 px north of where its
    # georeferencing says: upright, so only the upright turn is searched
    from sarfeat.data import load_optical_sar_tile

    optical, sar = load_optical_sar_tile()
    truth = AffineTransform(translation=(6, -4)).params
    fixed, moving = tmp_path / "optical.tif", tmp_path / "sar.tif"
    write_geotiff(fixed, optical.astype(np.float32), crs=UTM, transform=FIXED_GEO, nodata=None)
    write_geotiff(moving, moved(sar.astype(np.float32), truth, sar.shape, -1.0), crs=UTM,
                  transform=FIXED_GEO, nodata=-1.0)
    report = tmp_path / "report.json"
    status = main(["register", str(fixed), str(moving), "--modality", "optical-sar",
                   "--json", str(report)])
    assert status == 0, capsys.readouterr().err
    assert "only the upright turn is searched" in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["upright_search"] is True
    assert {h["angle"] for h in saved["diagnostics"]["coarse_hypotheses"]} == {0.0}
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, sar.shape, sar.shape) < 3.0
    # --turns any searches every turn
    status = main(["register", str(fixed), str(moving), "--modality", "optical-sar",
                   "--turns", "any", "--json", str(report), "--overwrite"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["upright_search"] is False
    assert len({h["angle"] for h in saved["diagnostics"]["coarse_hypotheses"]}) > 1


def test_fixed_georeferenced_by_gcps_gives_them_to_the_output(tmp_path, capsys):
    # a SAR image in its own geometry (as a Sentinel-1 GRD) is georeferenced by GCPs alone
    from rasterio.control import GroundControlPoint

    vv, vh = np.moveaxis(load_sar_scene("labrador"), -1, 0)
    truth = AffineTransform(translation=(6, -4)).params
    fixed, moving, out = tmp_path / "grd.tif", tmp_path / "moving.tif", tmp_path / "out.tif"
    gcps = [GroundControlPoint(row, col, 500000.0 + 10 * col, 5600000.0 - 10 * row, id=str(i))
            for i, (row, col) in enumerate([(0, 0), (0, 255), (255, 0), (255, 255)])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(fixed, "w", driver="GTiff", height=256, width=256, count=1,
                           dtype="float32", gcps=gcps, crs=UTM) as target:
            target.write(vv[None].astype(np.float32))
        write_geotiff(moving, moved(vh, truth, vh.shape, np.nan), crs=None, transform=None,
                      nodata=np.nan)
        assert main(["register", str(fixed), str(moving), "-o", str(out)]) == 0, \
            capsys.readouterr().err
        with rasterio.open(out) as written:
            points, crs = written.gcps
    assert crs == UTM and [(p.row, p.col, p.x, p.y) for p in points] == \
        [(p.row, p.col, p.x, p.y) for p in gcps]
    # said: the GCPs do not place the images (nothing was said when neither had a CRS)
    assert "note: the fixed image has 4 GCPs without a geotransform and the moving image has " \
           "no georeferencing; matching from pixels alone" in capsys.readouterr().out


def test_map_residuals_of_a_plain_moving_image_are_in_its_own_pixel_size():
    # fixed: 10 m pixels; moving: a plain array at twice the resolution (5 m pixels), whose
    # matched keypoints lie 1 moving pixel (5 m on the ground) from the model
    from sarfeat.cli.report import Inputs, registration_report, tie_points
    from sarfeat.registration import RegistrationResult

    fixed = Raster(np.ones((1, 64, 64), np.float32), np.ones((1, 64, 64), bool), crs=UTM,
                   transform=FIXED_GEO)
    moving = Raster(np.ones((1, 128, 128), np.float32), np.ones((1, 128, 128), bool))
    model = AffineTransform(matrix=[[2.0, 0, 0.5], [0, 2.0, 0.5], [0, 0, 1]])
    keypoints_fixed = np.array([[10.0, 10], [40, 12], [20, 50], [50, 45]])  # (row, col)
    keypoints_moving = model(keypoints_fixed[:, ::-1])[:, ::-1] + [0.0, 1.0]
    result = RegistrationResult(
        transform=model, matches=np.repeat(np.arange(4)[:, None], 2, axis=1),
        inliers=np.ones(4, bool), keypoints_fixed=keypoints_fixed,
        keypoints_moving=keypoints_moving,
        diagnostics={"residual_rms": 1.0, "residual_median": 1.0})
    inputs = Inputs(fixed, moving, fixed.data[0], moving.data[0], np.eye(3), False)
    report = registration_report(result, model.params, inputs, {})
    assert report["geography"]["rmse_map_units"] == pytest.approx(5.0)
    columns = tie_points(result, inputs, model.params)
    np.testing.assert_allclose(columns["residual_px"], 1.0)
    np.testing.assert_allclose(columns["residual_map"], 5.0)
    assert report["residuals_px"]["frame"] == "pixels of the moving file"


def test_residuals_of_a_georeferenced_moving_image_beside_a_plain_fixed_one(pairs, tmp_path):
    # the moving GeoTIFF (20 m pixels) is matched as it is, the fixed image having no
    # georeferencing: its residuals are in the moving file's pixels (the report said "pixels
    # of the fixed grid", 10 m ones), as its tie points' residual_px are
    moving, _, options = pairs[2]["20m"]
    with rasterio.open(options[1]) as source:
        np.save(tmp_path / "fixed.npy", source.read(1))
    report_path, ties = tmp_path / "report.json", tmp_path / "ties.csv"
    assert main(["register", str(tmp_path / "fixed.npy"), str(moving), "--json",
                 str(report_path), "--tie-points", str(ties)]) == 0
    report = json.loads(report_path.read_text())
    assert report["moving_resampled_for_matching"] is False
    assert report["residuals_px"]["frame"] == "pixels of the moving file"
    with open(ties, newline="") as stream:
        residuals = np.array([float(row["residual_px"]) for row in csv.DictReader(stream)])
    assert len(residuals) == report["matches"]["fine_inliers"] >= 10
    # float32 keypoints in the matcher, float64 in the tie points: equal to 1e-5
    assert report["residuals_px"]["rms"] == pytest.approx(np.sqrt(np.mean(residuals ** 2)), 1e-5)
    assert report["residuals_px"]["median"] == pytest.approx(np.median(residuals), 1e-5)


@pytest.mark.parametrize("grid", [Affine(0.0, 10.0, 500000.0, 10.0, 0.0, 5600000.0),
                                  Affine(9.8, 1.7, 500000.0, 1.7, -9.8, 5600000.0)])
def test_no_resample_measures_a_rotated_grid_in_its_own_pixel_size(grid):
    """--no-resample measured the fixed pixel as sqrt(|a e|): 0 on a grid turned a quarter
    turn (a = e = 0), where any rounding refused a shift ('off by up to inf pixels'), and
    too small on a rotated grid, which tightened the tolerance."""
    from sarfeat.cli.register import SHIFT_TOLERANCE_PX, _shift_only

    data = np.zeros((1, 100, 100), np.float32)
    fixed = Raster(data, data > -1, crs=UTM, transform=grid)
    moving = Raster(data, data > -1, crs=UTM, transform=grid * Affine.translation(3, 2))
    near_shift = np.array([[1 + 1e-7, 0, 2.5], [0, 1, 1.5], [0, 0, 1]])  # off by 1e-5 px
    shifted = _shift_only(fixed, moving, near_shift)
    np.testing.assert_allclose([shifted.c, shifted.f], grid * (-2.5, -1.5), atol=1e-3)
    # a stretch that moves the far corner by 0.4 of a pixel along the rows' axis is a shift
    # within the tolerance; 0.6 of one is not, measured in the grid's own pixel size
    for stretch, kept in ((0.8 * SHIFT_TOLERANCE_PX, True), (1.2 * SHIFT_TOLERANCE_PX, False)):
        total = np.array([[1 + 2 * stretch / 100, 0, 2.5], [0, 1, 1.5], [0, 0, 1]])
        if kept:
            _shift_only(fixed, moving, total)
        else:
            with pytest.raises(RuntimeError, match=r"off by up to 0\.[56]\d fixed pixels"):
                _shift_only(fixed, moving, total)


def test_nodata_option_marks_a_complex_file_as_its_own_nodata_value_does(tmp_path, capsys):
    """--nodata V was compared as NumPy compares (a complex pixel equal only with imaginary
    part 0, a float only exactly), while V in the file's metadata is read as GDAL reads it
    (a complex pixel whose real part is V, whatever its imaginary part; a float within
    GDAL's tolerance). The two now mark the same pixels: register's and register-stack's
    rasters (with_nodata), the pair matched (prepare_pair) and register-stack's check that
    the reference has a valid pixel."""
    from sarfeat.cli.common import with_nodata
    from sarfeat.io import read_raster
    from sarfeat.registration import prepare_pair

    values = (np.arange(64).reshape(1, 8, 8) + 10 + 3j).astype(np.complex64)
    values[0, 0, :4] = [5 + 2j, 5 + 0j, 5 * (1 + 1e-7) - 1j, 5.001]  # the last one valid
    expected = np.ones(values.shape, bool)
    expected[0, 0, :3] = False
    marked, plain = tmp_path / "marked.tif", tmp_path / "plain.tif"
    write_geotiff(marked, values, crs=UTM, transform=FIXED_GEO, nodata=5.0)
    write_geotiff(plain, values, crs=UTM, transform=FIXED_GEO, nodata=None)
    own = read_raster(marked)
    np.testing.assert_array_equal(own.valid, expected)
    given = with_nodata(read_raster(plain), 5.0)
    np.testing.assert_array_equal(given.valid, expected)
    assert given.nodata == 5.0  # written copies mark their no-data with it
    np.testing.assert_array_equal(with_nodata(own, 5.0).valid, expected)
    pair = prepare_pair(read_raster(plain), read_raster(plain), nodata=5.0)
    np.testing.assert_array_equal(np.isfinite(pair.fixed_image), expected[0])
    # a reference whose every pixel's real part is V: no valid pixel, said before any work
    pytest.importorskip("distributed")
    write_geotiff(plain, np.full((1, 8, 8), 5 + 1j, np.complex64), crs=UTM,
                  transform=FIXED_GEO, nodata=None)
    status = main(["register-stack", str(plain), str(marked), "-o", str(tmp_path / "out"),
                   "--nodata", "5", "--no-progress", "-q", "--workers", "1"])
    assert status == 2
    assert "has no valid pixel: all NaN or no-data (--nodata 5)" in capsys.readouterr().err


def test_detect_writes_the_keypoints_map_coordinates_at_pixel_centres(tmp_path, capsys):
    """detect's .npz had pixel (row, col) only, and nothing of the file's georeferencing: a
    rasterio user had to guess the convention. map_xy is now rasterio's own answer,
    ``transform.xy(..., offset='center')``, on a turned grid (every coefficient non-zero, so a
    swapped axis or a corner convention shows), with the CRS and geotransform beside it."""
    from rasterio.transform import xy

    vv = load_sar_scene("labrador")[..., 0].copy()
    vv[:40, :60] = 0  # no-data: no keypoint there
    geo = Affine.rotation(20) @ Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 6000000.0)
    image, plain = tmp_path / "vv.tif", tmp_path / "vv.npy"
    write_geotiff(image, vv, crs=UTM, transform=geo, nodata=0)
    assert main(["detect", str(image), "-o", str(tmp_path / "kp.npz"), "-q"]) == 0
    saved = np.load(tmp_path / "kp.npz")
    rows, cols = saved["keypoints"].astype(np.float64).T
    assert not np.any((rows < 40) & (cols < 60))
    x, y = xy(geo, rows, cols, offset="center")
    np.testing.assert_allclose(saved["map_xy"], np.column_stack([x, y]), rtol=0, atol=1e-6)
    assert CRS.from_wkt(str(saved["crs"])) == UTM
    np.testing.assert_array_equal(saved["geotransform"], list(geo)[:6])
    # a file without georeferencing has no map coordinates rather than pixel ones under the name
    np.save(plain, vv)
    assert main(["detect", str(plain), "-o", str(tmp_path / "plain.npz"), "-q"]) == 0
    assert "map_xy" not in np.load(tmp_path / "plain.npz").files


@pytest.mark.parametrize("modality", ["sar", "optical-sar"])
def test_register_names_the_file_band_and_nodata_of_an_input_without_valid_pixel(
        tmp_path, modality, capsys):
    """A band that its file's nodata covers was 'moving image has no valid pixel' (exit 1),
    naming neither the file nor its nodata: now refused before any work, as register-stack
    refuses such a REFERENCE."""
    image, blank = tmp_path / "image.tif", tmp_path / "blank.tif"
    write_geotiff(image, load_sar_scene("labrador")[:64, :64, 0], crs=UTM, transform=FIXED_GEO,
                  nodata=None)
    write_geotiff(blank, np.stack([np.ones((64, 64)), np.zeros((64, 64))]).astype(np.float32),
                  crs=UTM, transform=FIXED_GEO, nodata=0)
    argv = ["register", str(image), str(blank), "--json", str(tmp_path / "r.json"), "-q",
            "--modality", modality, "--moving-band", "1"]
    assert main(argv) == 2
    assert (f"MOVING {str(blank)!r} has no valid pixel in band 1: all NaN or no-data "
            "(nodata 0 in the file)") in capsys.readouterr().err
    assert main([*argv, "--nodata", "1"]) == 2  # either one named, as it covers the band
    assert "(nodata 0 in the file, --nodata 1)" in capsys.readouterr().err
    assert main(["register", str(blank), str(image), "--fixed-band", "1", "-q", "--json",
                 str(tmp_path / "r.json"), "--modality", modality]) == 2
    assert f"FIXED {str(blank)!r} has no valid pixel in band 1" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
