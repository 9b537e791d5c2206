"""sarfeat.io: one reader with no-data and georeferencing. Gray pictures are tested in
test_io_pictures.py, the atomic writers in test_io_write.py, pixel maps and the warp in
test_io_warp.py."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
import tifffile

from sarfeat import io
from sarfeat.data import load_sar_scene

rasterio = pytest.importorskip("rasterio")

from _io_helpers import GEO, UTM  # noqa: E402


@pytest.fixture(scope="module")
def scene():
    return load_sar_scene("labrador")[:64, :80]


def _geotiff(path, bands, nodata=None, crs=UTM, transform=GEO):
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs=crs,
                       transform=transform, nodata=nodata) as target:
        target.write(bands)


def test_geotiff_bands_nodata_and_georeferencing(scene, tmp_path):
    bands = np.round(100 * np.moveaxis(scene, -1, 0)).astype(np.int16)
    bands[:, :5] = -9999
    _geotiff(tmp_path / "a.tif", bands, nodata=-9999)
    raster = io.read_raster(tmp_path / "a.tif")
    assert raster.count == 2 and raster.shape == (64, 80) and raster.data.dtype == np.int16
    assert raster.crs == UTM and raster.transform == GEO and raster.nodata == -9999
    assert not raster.valid[:, :5].any() and raster.valid[:, 5:].all()
    band = io.read_image(tmp_path / "a.tif", band=1)  # what `sarfeat detect` reads
    assert band.dtype == np.float32 and np.isnan(band[:5]).all()
    np.testing.assert_array_equal(band[5:], bands[1, 5:])
    with pytest.raises(io.RasterError, match="--band 0..1"):
        raster.band()


def test_internal_mask_is_no_data(scene, tmp_path):
    path = tmp_path / "masked.tif"
    with rasterio.open(path, "w", driver="GTiff", height=64, width=80, count=1,
                       dtype="float32", crs=UTM, transform=GEO) as target:
        target.write(scene[None, ..., 0])
        mask = np.full((64, 80), 255, np.uint8)
        mask[10:20] = 0
        target.write_mask(mask)
    image = io.read_image(path)
    assert np.isnan(image[10:20]).all() and np.isfinite(image[20:]).all()


def test_without_rasterio_georeferencing_is_never_dropped(scene, tmp_path, monkeypatch):
    _geotiff(tmp_path / "geo.tif", scene[None, ..., 0].copy(), nodata=-9999.0)
    plain = tmp_path / "plain.tif"
    values = scene[..., 0].copy()
    values[:3] = -9999.0
    tifffile.imwrite(plain, values, extratags=[(42113, "s", 0, "-9999", False)])
    monkeypatch.setitem(sys.modules, "rasterio", None)  # not installed
    with pytest.raises(io.RasterError, match=r"sarfeat\[geotiff\]"):
        io.read_raster(tmp_path / "geo.tif")
    image = io.read_image(plain)  # GDAL's nodata tag is still honoured
    assert np.isnan(image[:3]).all() and np.isfinite(image[3:]).all()
    raster = io.Raster(values[None], np.ones((1, 64, 80), bool), crs=UTM, transform=GEO)
    with pytest.raises(io.RasterError, match="geotiff"):
        io.write_raster(tmp_path / "out.tif", raster)
    assert not (tmp_path / "out.tif").exists()


def test_arguments_of_the_wrong_type_are_named(tmp_path):
    raster = io.Raster(np.ones((1, 8, 8), np.float32), np.ones((1, 8, 8), bool))
    image = np.ones((8, 8))
    for call, message in [  # each failed deep in pathlib or with an AttributeError
        (lambda: io.read_image(image), "path must be a str or os.PathLike, got ndarray"),
        (lambda: io.read_raster(None), "path must be a str"),
        (lambda: io.write_raster(tmp_path / "out.npy", image), "raster must be a sarfeat.io"),
        (lambda: io.warp_raster(image, np.eye(3), (8, 8)), "raster must be a sarfeat.io"),
        (lambda: io.warp_onto(raster, image, np.eye(3)), "grid must be a sarfeat.io"),
    ]:
        with pytest.raises(TypeError, match=message):
            call()


@pytest.mark.parametrize("band", ["1", 1.5, True])  # '<=' TypeError, IndexError, band 1
def test_a_band_that_is_not_an_integer_is_refused(tmp_path, band):
    np.save(tmp_path / "bands.npy", np.ones((4, 5, 3)))
    with pytest.raises(io.RasterError, match="band must be an integer index") as error:
        io.read_image(tmp_path / "bands.npy", band)
    # the error says how the index counts: negative indices are allowed (-1 the last band)
    assert "0-based; a negative index counts from the end, -1 the last band" in str(error.value)
    assert io.read_image(tmp_path / "bands.npy", np.int64(1)).shape == (4, 5)
    assert io.read_image(tmp_path / "bands.npy", -1).shape == (4, 5)
    with pytest.raises(io.RasterError, match="out of range") as error:
        io.read_image(tmp_path / "bands.npy", -4)
    assert str(error.value).endswith("has 3 bands (0..2, or -3..-1 from the end)")
    np.save(tmp_path / "one.npy", np.ones((4, 5)))
    with pytest.raises(io.RasterError, match="out of range") as error:
        io.read_image(tmp_path / "one.npy", 1)
    assert str(error.value).endswith("has 1 band (0..0, or -1..-1 from the end)")


# -- issue 19: nothing lost, nothing silently changed ----------------------------------------


def test_complex_geotiff_keeps_its_phase_with_and_without_nodata(scene, tmp_path):
    rng = np.random.default_rng(0)
    slc = (np.sqrt(scene[..., 0] + 1) * np.exp(1j * rng.uniform(-np.pi, np.pi, scene.shape[:2])))
    slc = slc.astype(np.complex64)[None]
    for nodata in (0.0, None):
        data = slc.copy()
        data[:, :, :3] = 0
        _geotiff(tmp_path / "slc.tif", data, nodata=nodata)
        band = io.read_raster(tmp_path / "slc.tif").band()
        assert band.dtype == np.complex64
        np.testing.assert_array_equal(band[:, 3:], data[0, :, 3:])
        assert np.isnan(band[:, :3]).all() == (nodata is not None)
        # resampled with its phase: the imaginary part is not dropped
        raster = io.read_raster(tmp_path / "slc.tif")
        shift = np.array([[1, 0, 0.5], [0, 1, 0.25], [0, 0, 1.0]])
        warped = io.warp_raster(raster, shift, raster.shape)
        assert warped.data.dtype == np.complex64 and np.abs(warped.data.imag).max() > 0
        assert io.write_raster(tmp_path / "out.tif", warped).startswith("GeoTIFF complex64")
        back = io.read_raster(tmp_path / "out.tif")
        np.testing.assert_array_equal(back.data[back.valid], warped.data[warped.valid])


def test_a_fifo_is_reported_as_what_it_is(tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    with pytest.raises(io.RasterError, match="FIFO"):
        io.read_raster(fifo)
    with pytest.raises(io.RasterError, match="folder"):
        io.read_raster(tmp_path)
    with pytest.raises(io.RasterError, match="does not exist"):
        io.read_raster(tmp_path / "missing.tif")


def test_planar_npy_is_read_as_bands(tmp_path):
    planar = np.arange(3 * 40 * 50, dtype=np.float32).reshape(3, 40, 50)
    np.save(tmp_path / "planar.npy", planar)
    raster = io.read_raster(tmp_path / "planar.npy")
    assert raster.count == 3 and raster.shape == (40, 50)
    np.testing.assert_array_equal(raster.data, planar)
    np.save(tmp_path / "last.npy", np.moveaxis(planar, 0, -1))  # (H, W, bands) as before
    assert io.read_raster(tmp_path / "last.npy").count == 3


def test_only_the_expected_rasterio_warning_is_silenced(tmp_path, monkeypatch):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.ones((8, 8), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NotGeoreferencedWarning would raise here
        io.read_raster(plain)
    opened = rasterio.open

    def noisy(*args, **kwargs):
        warnings.warn("something unexpected", UserWarning)
        return opened(*args, **kwargs)

    monkeypatch.setattr(rasterio, "open", noisy)
    with pytest.warns(UserWarning, match="something unexpected"):
        io.read_raster(plain)
    with pytest.warns(UserWarning, match="something unexpected"):
        io.write_raster(tmp_path / "out.tif", io.Raster(np.ones((1, 8, 8), np.float32),
                                                        np.ones((1, 8, 8), bool)))


def test_gcps_are_read_written_and_not_carried_by_a_warp(scene, tmp_path):
    from rasterio.control import GroundControlPoint

    gcps = [GroundControlPoint(0, 0, 500000.0, 5600000.0), GroundControlPoint(63, 79, 500800.0,
                                                                               5599360.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tmp_path / "in.tif", "w", driver="GTiff", height=64, width=80,
                           count=1, dtype="float32", gcps=gcps, crs=UTM) as target:
            target.write(scene[None, ..., 0])
        raster = io.read_raster(tmp_path / "in.tif")
        assert not raster.georeferenced and raster.gcps[1] == UTM and len(raster.gcps[0]) == 2
        assert "2 GCPs" in io.write_raster(tmp_path / "out.tif", raster)
        assert len(io.read_raster(tmp_path / "out.tif").gcps[0]) == 2
    assert io.warp_raster(raster, np.eye(3), (64, 80)).gcps is None


@pytest.mark.parametrize("nodata", [-9999.0, -1.5])
def test_without_rasterio_a_plain_tiff_keeps_its_nodata(tmp_path, monkeypatch, nodata):
    monkeypatch.setitem(sys.modules, "rasterio", None)  # not installed
    data = np.arange(2 * 40 * 50, dtype=np.float32).reshape(2, 40, 50)
    data[:, :3] = nodata
    io.write_raster(tmp_path / "plain.tif", io.Raster(data, data != nodata, nodata=nodata))
    back = io.read_raster(tmp_path / "plain.tif")
    assert back.nodata == nodata and not back.valid[:, :3].any() and back.valid[:, 3:].all()


@pytest.mark.parametrize("dtype", ["complex64", "float32"])
def test_both_tiff_readers_read_a_files_nodata_as_gdal_does(tmp_path, monkeypatch, dtype):
    """A complex pixel whose real part is the nodata value is no-data whatever its imaginary
    part, and a float within GDAL's tolerance of it is no-data: GDAL's (and the rasterio
    reader's) meaning; the plain reader applied NumPy's equality alone."""
    nodata = 5.0
    values = np.full((1, 4, 24), 2.0, dtype)
    values[0, 0, :4] = [5, 3, 5 * (1 + 1e-7), 5 * (1 + 1e-5)]  # the last two: floats near it
    if dtype == "complex64":
        values[0, 1, :3] = [5 + 2j, 5 - 1j, 3 + 5j]  # no-data, no-data, valid
    path = tmp_path / "nodata.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=4, width=24, count=1, dtype=dtype,
                           nodata=nodata) as target:
            target.write(values)
        with rasterio.open(path) as source:
            gdal = source.read_masks() > 0
    expected = np.ones(values.shape, bool)
    expected[0, 0, [0, 2]] = False
    if dtype == "complex64":
        expected[0, 1, :2] = False
    np.testing.assert_array_equal(gdal, expected)  # what GDAL itself says
    with_rasterio = io.read_raster(path)
    monkeypatch.setitem(sys.modules, "rasterio", None)  # not installed
    plain = io.read_raster(path)
    assert plain.nodata == with_rasterio.nodata == nodata
    np.testing.assert_array_equal(with_rasterio.valid, expected)
    np.testing.assert_array_equal(plain.valid, expected)


def test_a_geotransform_without_crs_is_kept_but_not_georeferencing(scene, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        _geotiff(tmp_path / "local.tif", scene[None, ..., 0].copy(), crs=None)
        raster = io.read_raster(tmp_path / "local.tif")
        assert raster.transform == GEO and not raster.georeferenced  # not matched by it
        warped = io.warp_raster(raster, np.eye(3), raster.shape)
        from dataclasses import replace

        io.write_raster(tmp_path / "out.tif", replace(warped, transform=raster.transform))
        with rasterio.open(tmp_path / "out.tif") as written:
            assert written.transform == GEO and written.crs is None
