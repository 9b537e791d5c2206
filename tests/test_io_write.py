"""sarfeat.io's atomic writers: tiled GeoTIFFs, missing folders named, an old file kept
after a failed write, the umask, temporaries, the dtype a file holds."""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest

from sarfeat import io

rasterio = pytest.importorskip("rasterio")

from _io_helpers import GEO, UTM  # noqa: E402


def test_write_geotiff_is_tiled_compressed_and_keeps_dtype(tmp_path):
    data = np.arange(2 * 300 * 280, dtype=np.int16).reshape(2, 300, 280)
    raster = io.Raster(data, data > 5, nodata=-1.0, crs=UTM, transform=GEO)
    note = io.write_raster(tmp_path / "o.tif", raster)
    assert "tiled" in note
    with rasterio.open(tmp_path / "o.tif") as written:
        assert written.block_shapes[0] == (256, 256)
        assert written.compression.name.lower() == "deflate"
        assert written.dtypes == ("int16", "int16") and written.nodata == -1
        assert written.crs == UTM and written.transform == GEO
        np.testing.assert_array_equal(written.read(), data)


def test_writing_into_a_missing_folder_names_it(tmp_path):
    """No folder is made; the error names the missing folder (it was tempfile's error, on a
    random temporary name)."""
    raster = io.Raster(np.ones((1, 4, 4)), np.ones((1, 4, 4), bool))
    missing = tmp_path / "no" / "such"
    for suffix in (".npy", ".tif", ".png"):
        with pytest.raises(FileNotFoundError, match=re.escape(f"the folder '{missing}' does not exist")):
            io.write_raster(missing / f"out{suffix}", raster)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=re.escape(f"'{tmp_path / 'file'}' is not a folder")):
        io.write_raster(tmp_path / "file" / "out.npy", raster)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as temporary:
            temporary.write_bytes(b"new but incomplete")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.npy"]


def test_outputs_honour_the_umask(tmp_path):
    raster = io.Raster(np.ones((1, 8, 8), np.float32), np.ones((1, 8, 8), bool))
    previous = os.umask(0o027)
    try:
        for name in ("a.tif", "a.npy", "a.png"):
            io.write_raster(tmp_path / name, raster)
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name
    finally:
        os.umask(previous)
    (tmp_path / "a.npy").chmod(0o604)  # a file that is replaced keeps its mode
    io.write_raster(tmp_path / "a.npy", raster)
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o604


def test_temporaries_are_named_and_those_of_dead_writers_removed(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    stale = tmp_path / f".x.tif{io.TEMPORARY_MARK}{host}-{dead}-abc_12.tif"
    alive = tmp_path / f".y.tif{io.TEMPORARY_MARK}{host}-{os.getpid()}-abc_12.tif"
    other = tmp_path / f".z.tif{io.TEMPORARY_MARK}elsewhere-{dead}-abc_12.tif"
    for path in (stale, alive, other):
        path.write_bytes(b"partial")
    io.write_raster(tmp_path / "out.npy", io.Raster(np.ones((1, 4, 4)), np.ones((1, 4, 4), bool)))
    assert not stale.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["out.npy"]


def test_float16_is_written_to_tiff_as_float32(tmp_path):
    data = np.linspace(0, 100, 2 * 30 * 40, dtype=np.float16).reshape(2, 30, 40)
    data[:, 0] = np.nan
    assert "float32" in io.write_raster(tmp_path / "half.tif", io.Raster(data, ~np.isnan(data)))
    back = io.read_raster(tmp_path / "half.tif")
    np.testing.assert_array_equal(back.data, data.astype(np.float32))


@pytest.mark.parametrize(("dtype", "suffix", "stored"), [
    (np.float16, ".tif", np.float32), (np.float16, ".npy", np.float16),
    (np.float32, ".tif", np.float32), (np.complex64, ".tif", np.complex64),
    (np.float16, ".png", np.uint8), (np.float32, ".jpg", np.uint8),
    (np.uint16, ".png", np.uint16), (np.uint16, ".jpg", np.uint8), (np.uint8, ".png", np.uint8)])
def test_written_dtype_is_what_the_file_holds(tmp_path, dtype, suffix, stored):
    data = (np.arange(30 * 40).reshape(1, 30, 40) % 200 + 1).astype(dtype)
    raster = io.Raster(data, np.ones(data.shape, bool))
    assert io.written_dtype(raster, tmp_path / f"a{suffix.upper()}") == stored
    io.write_raster(tmp_path / f"a{suffix}", raster)
    assert io.read_raster(tmp_path / f"a{suffix}").data.dtype == stored


def test_integer_values_are_rounded_into_the_dtype_whatever_the_nodata_value():
    """An integer raster is rounded and clipped into its dtype's range with a finite nodata
    value, without one and with a NaN one (a file may declare NaN for an integer band)."""
    from sarfeat.nodata_steps import off_nodata

    values, good = np.array([300.6, -5.2, 12.5, 13.4]), np.ones(4, bool)
    for nodata in (None, float("nan")):
        np.testing.assert_array_equal(off_nodata(values, good, nodata, np.uint8),
                                      [255, 0, 12, 13])
    np.testing.assert_array_equal(off_nodata(values, good, 13.0, np.uint8), [255, 0, 12, 14])


@pytest.mark.parametrize("suffix", [".npy", ".png", ".jpg"])
def test_a_format_without_georeferencing_says_what_it_did_not_keep(tmp_path, suffix):
    data = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    valid = np.ones((8, 8), bool)
    placed = io.Raster(data, valid, None, crs=UTM, transform=GEO)
    note = io.write_raster(tmp_path / f"placed{suffix}", placed)
    assert note.endswith("; its CRS and geotransform not kept (a .tif keeps them)")
    crs_only = io.Raster(data, valid, None, unused_crs=UTM)
    assert io.write_raster(tmp_path / f"crs{suffix}", crs_only).endswith(
        "; its CRS not kept (a .tif keeps them)")
    plain = io.write_raster(tmp_path / f"plain{suffix}", io.Raster(data, valid, None))
    assert "not kept" not in plain
    assert "not kept" not in io.write_raster(tmp_path / "placed.tif", placed)  # a GeoTIFF keeps
