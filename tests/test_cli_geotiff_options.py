"""``--co KEY=VALUE``, ``--overviews`` and ``--overview-resampling`` of ``sarfeat register``
and ``register-stack``: real GeoTIFFs written with them, refusals before any work."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from sarfeat.cli import main
from sarfeat.data import load_sar_scene

rasterio = pytest.importorskip("rasterio")

from test_cli_geotiff import FIXED_GEO, UTM, coarse_pair, write_geotiff  # noqa: E402


@pytest.fixture(scope="module")
def scene_pair(tmp_path_factory):
    """A 512 x 512 float32 fixed image (10 m) and a 20 m moving one, nodata -9999; and an
    int16 moving image on the 256 x 256 fixed grid."""
    folder = tmp_path_factory.mktemp("co")
    scene = load_sar_scene("labrador")
    vv, vh = scene[..., 0].astype(np.float64), scene[..., 1].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moving, _, (_, fixed) = coarse_pair(folder, vv, vh)
    small = folder / "int16.tif"
    write_geotiff(small, np.rint(10 * np.sqrt(vh)).astype(np.int16), crs=UTM,
                  transform=FIXED_GEO, nodata=-1)
    return folder, fixed, moving, small


def _register(capsys, *argv):
    try:
        status = main(["register", *map(str, argv), "-q"])
    except SystemExit as stop:  # argparse's usage error
        status = stop.code
    return status, capsys.readouterr().err


def test_register_writes_creation_options_and_overviews(scene_pair, tmp_path, capsys):
    _, fixed, moving, _ = scene_pair
    out, report = tmp_path / "out.tif", tmp_path / "out.json"
    status, err = _register(capsys, fixed, moving, "-o", out, "--json", report,
                            "--co", "COMPRESS=ZSTD", "--co", "bigtiff=yes", "--overviews")
    assert status == 0, err
    assert out.read_bytes()[:4] == b"II+\x00"  # BigTIFF
    with rasterio.open(out) as written:
        assert written.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
        assert written.block_shapes[0] == (256, 256) and written.nodata == -9999
        assert written.overviews(1) == [2]  # 512 px: one level, to 256
        data = written.read(1)
        overview = written.read(1, out_shape=(256, 256))
    valid = data != -9999
    assert 0.01 < (~valid).mean() < 0.9  # the moving image does not cover the fixed grid
    blocks = valid.reshape(256, 2, 256, 2).sum(axis=(1, 3))
    sums = np.where(valid, data, 0).astype(np.float64).reshape(256, 2, 256, 2).sum(axis=(1, 3))
    # average of the valid pixels alone: no-data is never averaged in, nor made data
    np.testing.assert_array_equal(overview == -9999, blocks == 0)
    np.testing.assert_allclose(overview[blocks > 0], (sums / np.maximum(blocks, 1))[blocks > 0],
                               rtol=1e-4)
    saved = json.loads(report.read_text())
    assert saved["options"]["creation_options"] == {"COMPRESS": "ZSTD", "BIGTIFF": "yes"}
    assert saved["options"]["overviews"] is True
    assert saved["output_creation_options"] == {
        "COMPRESS": "ZSTD", "PREDICTOR": "3", "TILED": "YES", "BLOCKXSIZE": "256",
        "BLOCKYSIZE": "256", "BIGTIFF": "yes"}
    assert saved["output_overviews"] == [2] and saved["output_overview_resampling"] == "average"


def test_register_defaults_are_unchanged_and_reported(scene_pair, tmp_path, capsys):
    _, fixed, moving, _ = scene_pair
    out, report = tmp_path / "out.tif", tmp_path / "out.json"
    status, err = _register(capsys, fixed, moving, "-o", out, "--json", report, "--order", "0")
    assert status == 0, err
    with rasterio.open(out) as written:
        assert written.compression.name.lower() == "deflate" and written.overviews(1) == []
        assert written.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
    saved = json.loads(report.read_text())
    assert saved["options"]["creation_options"] is None and saved["output_overviews"] == []
    assert saved["output_creation_options"]["COMPRESS"] == "DEFLATE"


@pytest.mark.parametrize("argv, words", [
    (["--co", "COMPRESS=FOO"], ["--co: GDAL refused", "COMPRESS=FOO",
                                "'FOO' is an unexpected value for COMPRESS"]),
    (["--co", "NO_SUCH_OPTION=1"], ["does not support creation option NO_SUCH_OPTION"]),
    (["--co", "PREDICTOR=3"], ["PREDICTOR=3"]),  # int16 MOVING: found once it is read
    (["--co", "COMPRESS"], ["expected KEY=VALUE", "'COMPRESS'"]),
    (["--co", "COMPRESS=ZSTD", "--co", "compress=LZW"], ["--co COMPRESS given twice"]),
    (["--overview-resampling", "nearest"], ["--overview-resampling is for --overviews"]),
    (["--co", "COMPRESS=ZSTD", "--suffix", ".npy"], ["--co: for a GeoTIFF output"]),
    (["--overviews", "--suffix", ".png"], ["--overviews: for a GeoTIFF output"]),
])
def test_register_refuses_bad_geotiff_options_before_any_work(scene_pair, tmp_path, capsys,
                                                              argv, words):
    _, fixed, _, small = scene_pair
    suffix = argv[-1] if "--suffix" in argv else ".tif"
    argv = argv[:-2] if "--suffix" in argv else argv
    status, err = _register(capsys, fixed, small, "-o", tmp_path / f"out{suffix}", *argv)
    assert status == 2, err
    assert "Traceback" not in err and all(word in err for word in words), err
    assert list(tmp_path.iterdir()) == []


def test_register_takes_an_option_of_moving_s_integer_dtype(scene_pair, tmp_path, capsys):
    # NBITS=12 (no predictor) fits a uint16 image but no float32 band: it was refused
    # before MOVING was read, against one float32 band
    _, fixed, floats, _ = scene_pair
    with rasterio.open(floats) as source:
        values, profile = source.read(1), source.profile
    amplitude = np.where(values == -9999, 0, np.rint(100 * np.sqrt(np.abs(values))).clip(1, 4000))
    moving = tmp_path / "uint16.tif"
    profile.update(dtype="uint16", nodata=0, predictor=1)
    with rasterio.open(moving, "w", **profile) as target:
        target.write(amplitude.astype(np.uint16), 1)
    out = tmp_path / "out.tif"
    status, err = _register(capsys, fixed, moving, "-o", out, "--co", "NBITS=12",
                            "--co", "PREDICTOR=1")
    assert status == 0, err
    with rasterio.open(out) as written:
        assert written.dtypes[0] == "uint16"
        assert written.tags(1, ns="IMAGE_STRUCTURE").get("NBITS") == "12"


def test_help_shows_the_options_of_both_commands():
    from sarfeat.cli import build_parser
    from sarfeat.cli.geotiff_output import RESAMPLINGS
    from sarfeat.io import OVERVIEW_RESAMPLINGS

    assert RESAMPLINGS[1:] == OVERVIEW_RESAMPLINGS
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in ("register", "register-stack"):
        text = " ".join(commands[name].format_help().split())
        assert "--co KEY=VALUE" in text and "gdal_translate -co" in text, name
        assert "--overviews" in text and "as gdaladdo" in text, name


def test_register_stack_takes_the_options(scene_pair, tmp_path, capsys):
    pytest.importorskip("distributed")
    _, fixed, moving, _ = scene_pair
    out = tmp_path / "out"
    assert main(["register-stack", str(fixed), str(moving), "-o", str(out), "--format", "npy",
                 "--co", "COMPRESS=ZSTD", "--no-progress", "-q", "--workers", "1"]) == 2
    assert "--co: for a GeoTIFF output; give --format tif" in capsys.readouterr().err
    assert main(["register-stack", str(fixed), str(moving), "-o", str(out), "--co", "FOO=1",
                 "--no-progress", "-q", "--workers", "1"]) == 2
    assert "creation option FOO" in capsys.readouterr().err and not out.exists()
    assert main(["register-stack", str(fixed), str(moving), "-o", str(out), "--co",
                 "COMPRESS=LZW", "--co", "TILED=NO", "--overviews", "--no-progress", "-q",
                 "--workers", "1"]) == 0, capsys.readouterr().err
    with rasterio.open(out / "moving_20m.registered.tif") as written:
        assert written.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
        assert not written.profile["tiled"] and written.dtypes == ("float32",)
        assert written.overviews(1) == [2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["creation_options"] == {"COMPRESS": "LZW", "TILED": "NO"}
    assert summary["overviews"] is True and summary["overview_resampling"] == "auto"
    assert "lzw" in json.loads((out / "moving_20m.json").read_text())["output_format"]


def _stack(capsys, *argv):
    status = main(["register-stack", *map(str, argv), "--no-progress", "-q", "--workers", "1"])
    return status, capsys.readouterr().err


def test_register_stack_checks_co_for_each_image_s_dtype_before_any_work(scene_pair, tmp_path,
                                                                        capsys):
    """--co PREDICTOR=3 (floats only) was checked against one float32 band, then failed each
    int16 image after its matching; it is refused at once, naming the int16 images."""
    pytest.importorskip("distributed")
    _, fixed, moving, small = scene_pair
    other = tmp_path / "int16_b.tif"
    other.write_bytes(small.read_bytes())
    out = tmp_path / "out"
    status, err = _stack(capsys, fixed, moving, small, other, "-o", out, "--co", "PREDICTOR=3")
    assert status == 2 and "Traceback" not in err and not out.exists(), err
    assert "--co: GDAL refused the GeoTIFF creation options PREDICTOR=3: " in err
    assert "PREDICTOR=3 is only supported with Float32" in err  # GDAL's words
    assert f"1 band of int16, as IMAGES {str(small)!r}, {str(other)!r} are" in err, err
    assert str(moving) not in err  # float32: PREDICTOR=3 is fine for it


def test_register_stack_checks_co_for_the_outputs_not_float32(scene_pair, tmp_path, capsys):
    """--co NBITS=12 suits a uint16 stack but not float32: it was refused up front for one
    float32 band; now the run goes on (to the next check: REFERENCE without a valid pixel)."""
    pytest.importorskip("distributed")
    _, _, _, small = scene_pair
    with rasterio.open(small) as source:
        small = tmp_path / "uint16.tif"
        write_geotiff(small, np.clip(source.read(1), 0, 4095).astype(np.uint16), crs=UTM,
                      transform=FIXED_GEO, nodata=0)
    empty = tmp_path / "empty.tif"
    write_geotiff(empty, np.full((64, 64), np.nan, np.float32), crs=UTM, transform=FIXED_GEO,
                  nodata=None)
    argv = (empty, small, "-o", tmp_path / "out", "--co", "NBITS=12", "--co", "PREDICTOR=1")
    status, err = _stack(capsys, *argv)
    assert status == 2 and "has no valid pixel" in err and "--co" not in err, err
    status, err = _stack(capsys, empty, empty, *argv[2:])  # float32 output: refused at once
    assert status == 2 and "Only NBITS=16 is supported for data type Float32" in err, err
    assert f"1 band of float32, as IMAGES {str(empty)!r} are written" in err, err
