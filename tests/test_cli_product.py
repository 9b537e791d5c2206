"""``sarfeat register`` as a product: nothing lost, nothing said wrong (issue 19, items 1-5).

Every pair is built from the bundled Sentinel-1 Labrador scene (VV fixed, VH
moving: independent speckle) as GeoTIFFs on a 10 m UTM grid, with a known
truth: the map from fixed pixels to the moving file's own pixels.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from skimage.transform import AffineTransform, warp

from sarfeat.cli import main
from sarfeat.data import load_sar_scene
from sarfeat.metrics import registration_rmse

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

UTM = CRS.from_epsg(32633)
FIXED_GEO = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)


def write_geotiff(path, band, *, transform=FIXED_GEO, nodata=None):
    band = np.asarray(band)[None] if np.ndim(band) == 2 else np.asarray(band)
    with rasterio.open(path, "w", driver="GTiff", height=band.shape[1], width=band.shape[2],
                       count=band.shape[0], dtype=band.dtype.name, crs=UTM,
                       transform=transform, nodata=nodata) as target:
        target.write(band)
    return path


def moved(image, truth, shape):
    """``image`` (fixed grid) as a moving file where fixed p -> truth(p) shows it; NaN outside."""
    return warp(image, AffineTransform(matrix=np.linalg.inv(truth)), output_shape=shape,
                order=1, cval=np.nan, preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    data = load_sar_scene("labrador").astype(np.float64)
    return data[..., 0], data[..., 1]


def _run(capsys, *argv):
    status = main(["register", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _report(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("nodata", [0.0, None])
def test_complex_geotiff_is_registered_on_its_amplitude_and_written_complex(
        scene, tmp_path, capsys, nodata):
    """Item 1: an SLC-like complex64 moving file, with and without a nodata value."""
    vv, vh = scene
    truth = AffineTransform(translation=(3.5, -2.25)).params
    amplitude = np.sqrt(moved(vh, truth, vv.shape) + 1.0)
    phase = np.random.default_rng(1).uniform(-np.pi, np.pi, vv.shape)
    slc = np.where(np.isfinite(amplitude), amplitude * np.exp(1j * phase), 0).astype(np.complex64)
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    moving = write_geotiff(tmp_path / "slc.tif", slc, nodata=nodata)
    out, report = tmp_path / "out.tif", tmp_path / "out.json"
    status, _, err = _run(capsys, fixed, moving, "-o", out, "--json", report)
    assert status == 0, err
    estimate = np.array(_report(report)["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, vv.shape, vv.shape) < 1.0
    with rasterio.open(out) as written:
        data = written.read(1)
    assert data.dtype == np.complex64
    inside = np.isfinite(data) & (np.abs(data) > 0)
    assert inside.mean() > 0.8 and np.abs(data.imag[inside]).min() >= 0
    assert np.mean(np.abs(data.imag[inside]) > 0) > 0.95  # the phase is kept, not zeroed
    # the written pixels are the moving file's, resampled: amplitudes agree with the truth's
    expected = np.abs(warp(np.abs(slc).astype(np.float64), AffineTransform(matrix=truth),
                           output_shape=vv.shape, order=1, cval=np.nan))
    both = inside & np.isfinite(expected) & (expected > 0)
    assert np.corrcoef(np.abs(data[both]), expected[both])[0, 1] > 0.8


def test_outputs_are_written_with_the_umask_mode(scene, tmp_path, capsys):
    """Item 2: the image, report, tie points and plot get 0666 less the umask, not 0600."""
    vv, vh = scene
    truth = AffineTransform(translation=(2.0, 1.0)).params
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    moving = write_geotiff(tmp_path / "moving.tif", moved(vh, truth, vv.shape), nodata=np.nan)
    outputs = [tmp_path / name for name in ("out.tif", "out.json", "ties.csv", "plot.png")]
    previous = os.umask(0o022)
    try:
        status, _, err = _run(capsys, fixed, moving, "-o", outputs[0], "--json", outputs[1],
                              "--tie-points", outputs[2], "--plot", outputs[3], "-q")
    finally:
        os.umask(previous)
    assert status == 0, err
    for path in outputs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


@pytest.fixture(scope="module")
def chip_in_scene(scene, tmp_path_factory):
    """A 1280 x 1280 scene (VV, mirrored around) and the 256 x 256 VH chip at its centre.

    The chip covers 4 % of the scene; its georeferencing is off by (3.3, -2.1) pixels.
    """
    vv, vh = scene
    folder = tmp_path_factory.mktemp("chip")
    big = np.pad(vv, 512, mode="symmetric").astype(np.float32)
    scene_path = write_geotiff(folder / "scene.tif", big)
    error = np.array([3.3, -2.1])
    geo = FIXED_GEO @ Affine.translation(512 + error[0], 512 + error[1])
    chip_path = write_geotiff(folder / "chip.tif", vh.astype(np.float32), transform=geo)
    # scene pixel p shows what chip pixel p - 512 shows (the georeferencing says p - 512 - error)
    truth = np.array([[1, 0, -512.0], [0, 1, -512.0], [0, 0, 1]])
    return folder, scene_path, chip_path, truth


def test_chip_inside_a_scene_is_matched_on_its_footprint(chip_in_scene, capsys):
    """Item 3: the georeferenced chip as the moving image: the scene is cropped to it."""
    folder, scene_path, chip_path, truth = chip_in_scene
    report = folder / "chip.json"
    status, out, err = _run(capsys, scene_path, chip_path, "--json", report)
    assert status == 0, err
    saved = _report(report)
    window = saved["fixed_window_matched"]
    assert window["row0"] > 300 and window["row1"] < 980  # the footprint, not the scene
    estimate = np.array(saved["transform_fixed_to_moving"])
    # checked over the chip's footprint in the scene (elsewhere the chip has no pixel)
    shift = np.array([[1, 0, 512.0], [0, 1, 512.0], [0, 0, 1]])
    assert registration_rmse(estimate @ shift, truth @ shift, (256, 256), (256, 256)) < 1.0
    assert "footprint" in out
    assert saved["output"] is None  # -o is optional: the report alone was asked for


def test_min_valid_fraction_is_an_option(scene, tmp_path, capsys):
    """Item 3: the threshold that refuses mostly-no-data inputs is set on the command line."""
    vv, vh = scene
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    holed = vh.astype(np.float32)
    holed[:, :128] = np.nan  # half of it is no-data
    moving = write_geotiff(tmp_path / "moving.tif", holed, nodata=np.nan)
    report = tmp_path / "r.json"
    status, _, err = _run(capsys, fixed, moving, "--json", report, "--min-valid-fraction", "0.6")
    assert status == 1 and "min_valid_fraction" in err and "50.0 %" in err
    assert _report(report)["failed_image"] == "moving"
    with pytest.raises(SystemExit) as exited:  # argparse's usage error
        _run(capsys, fixed, moving, "--json", report, "--min-valid-fraction", "2")
    assert exited.value.code == 2 and "fraction in [0, 1)" in capsys.readouterr().err


def test_a_failed_coarse_stage_is_said_and_lowers_the_confidence(scene, tmp_path, capsys,
                                                                  monkeypatch):
    """Item 4: the model then rests on the local search alone: the result says so."""
    from sarfeat.cli import register as command

    vv, vh = scene
    truth = AffineTransform(translation=(1.5, -1.0)).params
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    moving = write_geotiff(tmp_path / "moving.tif", moved(vh, truth, vv.shape), nodata=np.nan)
    made = command.make_matcher

    def coarse_cannot_succeed(*args, **kwargs):
        matcher = made(*args, **kwargs)
        matcher.min_coarse_inliers = 10 ** 6
        return matcher

    monkeypatch.setattr(command, "make_matcher", coarse_cannot_succeed)
    report = tmp_path / "r.json"
    status, out, err = _run(capsys, fixed, moving, "--json", report)
    assert status == 0, err
    saved = _report(report)
    assert saved["coarse_failed"] is True and saved["diagnostics"]["prior"] == "identity"
    assert saved["confidence"] <= 0.5
    assert "coarse stage failed" in out


def test_footprints_that_do_not_overlap_have_their_own_reason(scene, tmp_path, capsys):
    """Item 5: two valid GeoTIFFs 100 km apart."""
    vv, vh = scene
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    far = FIXED_GEO @ Affine.translation(10_000, 0)  # 100 km east
    moving = write_geotiff(tmp_path / "far.tif", vh.astype(np.float32), transform=far)
    report = tmp_path / "r.json"
    status, _, err = _run(capsys, fixed, moving, "-o", tmp_path / "o.tif", "--json", report)
    assert status == 1
    assert "footprints" in err and "do not overlap" in err and "no valid pixel" not in err
    assert "the footprints of FIXED and MOVING" in err  # the command's own argument names
    assert "100000 metre" in err
    assert _report(report)["status"] == "failed"
    assert not (tmp_path / "o.tif").exists()


def test_footprints_apart_by_less_than_the_crop_margin_do_not_overlap(scene, tmp_path, capsys):
    """Two tiles 16 px apart (within the 64 px kept around a footprint for a georeferencing
    error): their own reason, not 'MOVING has no valid pixel'; nor do adjacent tiles."""
    vv, vh = scene
    fixed = write_geotiff(tmp_path / "fixed.tif", vv[:256, :256].astype(np.float32))
    for gap in (16, 0):
        near = FIXED_GEO @ Affine.translation(256 + gap, 0)
        moving = write_geotiff(tmp_path / "near.tif", vh[:256, :256].astype(np.float32),
                               transform=near)
        status, _, err = _run(capsys, fixed, moving, "--json", tmp_path / "r.json",
                              "--overwrite")
        assert status == 1 and "do not overlap" in err and "no valid pixel" not in err


def test_shift_at_centre_is_in_fixed_pixels_across_grids(scene, tmp_path, capsys):
    """Item 5: a moving file at 20 m whose georeferencing is 15 m off: the shift is 1.5 px."""
    vv, vh = scene
    half = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1.0]])  # 10 m px -> 20 m px
    fixed_band = warp(vv, AffineTransform(matrix=half), output_shape=(512, 512), order=1,
                      preserve_range=True).astype(np.float32)
    fixed = write_geotiff(tmp_path / "fixed.tif", fixed_band)
    geo = Affine(20.0, 0, 500000.0 + 15.0, 0, -20.0, 5600000.0)  # claims 15 m east of truth
    moving = write_geotiff(tmp_path / "moving.tif", vh.astype(np.float32), transform=geo)
    report = tmp_path / "r.json"
    status, out, err = _run(capsys, fixed, moving, "--json", report)
    assert status == 0, err
    # the console says why the moving image was resampled before matching
    assert "before matching (its pixels are 20 x 20 m, the fixed 10 x 10 m)" in out
    shift = _report(report)["geography"]["shift_px_at_centre"]
    # the moving file's georeferencing puts the fixed centre's ground 15 m (1.5 fixed pixels)
    # east of where it is (the frames differ: a fixed pixel is half a moving one; the
    # registration of VH at 20 m on VV at 10 m is right to about 0.3 moving pixels)
    assert shift["x"] == pytest.approx(1.5, abs=0.75) and abs(shift["y"]) < 0.75
    assert shift["frame"].startswith("fixed pixels")


def test_what_differs_between_two_grids_is_said():
    from types import SimpleNamespace

    from sarfeat.io import grid_difference, pixel_map

    fixed = SimpleNamespace(crs=UTM, transform=FIXED_GEO, shape=(64, 64))
    lonlat = SimpleNamespace(crs=CRS.from_epsg(4326), transform=Affine(
        1e-4, 0, 15.0, 0, -1e-4, 50.5), shape=(64, 64))
    assert grid_difference(fixed, lonlat, pixel_map(fixed, lonlat)) == (
        "its CRS is EPSG:4326, pixels 0.0001 x 0.0001 degrees; the fixed EPSG:32633, "
        "pixels 10 x 10 m")
    offset = SimpleNamespace(crs=UTM, transform=FIXED_GEO @ Affine.translation(2.5, -1))
    assert grid_difference(fixed, offset, pixel_map(fixed, offset)) == (
        "its grid is offset by (2.5, -1) fixed pixels (x, y)")


def test_output_folder_is_checked_before_the_work(scene, tmp_path, capsys):
    """Item 27: ``-o /proc/x.tif`` fails at once, with exit status 2."""
    vv, _ = scene
    fixed = write_geotiff(tmp_path / "fixed.tif", vv.astype(np.float32))
    status, _, err = _run(capsys, fixed, fixed, "-o", "/proc/x.tif")
    assert status == 2 and "not writable" in err
    status, _, err = _run(capsys, fixed, tmp_path / "fixed.tif")
    assert status == 2 and "nothing to write" in err


def test_help_agrees_with_the_user_guide():
    """--input-kind is decided from the values; registry weights are never found through
    SARFEAT_DATA_DIR or the working directory; -o is optional."""
    from sarfeat.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("detect", "register", "register-stack"):
        text = " ".join(commands[name].format_help().split())
        assert "SARFEAT_DATA_DIR" not in text, name
        assert "never the dtype" in text and "uint8 is a display" not in text, name
    text = " ".join(commands["register"].format_help().split())
    assert "optional when --json" in text and "--min-valid-fraction" in text
