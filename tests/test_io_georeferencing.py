"""sarfeat.io as a GDAL user meets georeferencing and band metadata: RPCs, a band's scale and
offset, pixel-is-point files, south-up grids and nodata values that their dtype cannot hold.
Each test builds its GeoTIFFs from the bundled Sentinel-1 Labrador scene."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest
import tifffile

from sarfeat import io
from sarfeat.data import load_sar_scene

rasterio = pytest.importorskip("rasterio")

from _io_helpers import GEO, UTM  # noqa: E402
from rasterio.rpc import RPC  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

#: Rational polynomials of a 64 x 80 scene near 50 N 15 E: column with longitude, row against
#: latitude (the rest of the 20 terms of each polynomial 0).
RPCS = RPC(height_off=300.0, height_scale=500.0, lat_off=50.5, lat_scale=0.01, long_off=15.0,
           long_scale=0.01, line_off=32.0, line_scale=32.0, samp_off=40.0, samp_scale=40.0,
           line_num_coeff=[0.0, 0.0, -1.0] + [0.0] * 17, line_den_coeff=[1.0] + [0.0] * 19,
           samp_num_coeff=[0.0, 1.0] + [0.0] * 18, samp_den_coeff=[1.0] + [0.0] * 19)


@pytest.fixture(scope="module")
def scene():
    return load_sar_scene("labrador")[:64, :80]


def _write(path, bands, scaling=None, **profile):
    """A GeoTIFF of ``bands`` with ``profile``; ``scaling``: its bands' scales, offsets, units."""
    bands = np.asarray(bands)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1],
                           width=bands.shape[2], count=bands.shape[0], dtype=bands.dtype.name,
                           **profile) as target:
            target.write(bands)
            if scaling is not None:
                target.scales, target.offsets, target.units = scaling
            return target.name


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path)


def test_a_band_s_scale_offset_and_unit_stay_with_its_stored_values(scene, tmp_path):
    """Sentinel-2 L2A style: int16 digital numbers, reflectance = DN * 1e-4 - 0.1. The
    values were read and resampled as stored (as GDAL reads them) but written without their
    scale, offset and unit, which changed what they meant."""
    stored = np.round(1000 * np.moveaxis(scene, -1, 0) + 1000).astype(np.int16)
    path = tmp_path / "l2a.tif"
    _write(path, stored, ((1e-4, 1.0), (-0.1, 0.0), ("reflectance", "")), crs=UTM,
           transform=GEO, nodata=0)
    raster = io.read_raster(path)
    np.testing.assert_array_equal(raster.data, stored)  # the stored values, unscaled
    assert raster.scaling == ((1e-4, -0.1, "reflectance"), (1.0, 0.0, None))
    shift = np.array([[1, 0, 2.0], [0, 1, 0], [0, 0, 1]])
    note = io.write_raster(tmp_path / "out.tif", io.warp_onto(raster, raster, shift))
    assert "scale and offset kept" in note
    with rasterio.open(tmp_path / "out.tif") as written:
        assert written.dtypes == ("int16", "int16")
        assert written.scales == (1e-4, 1.0) and written.offsets == (-0.1, 0.0)
        assert written.units[0] == "reflectance" and not written.units[1]
        np.testing.assert_array_equal(written.read(1)[:, :70], stored[0, :, 2:72])
    # a plain file has no scaling to keep
    _write(tmp_path / "plain.tif", stored, crs=UTM, transform=GEO)
    assert io.read_raster(tmp_path / "plain.tif").scaling is None


def test_rpcs_are_written_with_the_pixels_they_describe(scene, tmp_path):
    """A fixed image in its sensor geometry, georeferenced by RPCs (as GCPs already were):
    the registered image lies on its pixels, and was written without them."""
    fixed = _write(tmp_path / "rpc.tif", scene[None, ..., 0].copy(), rpcs=RPCS)
    raster = io.read_raster(fixed)
    assert not raster.georeferenced and raster.rpcs is not None
    moving = io.Raster(scene[None, ..., 1].copy(), np.ones((1, 64, 80), bool))
    shift = np.array([[1, 0, 1.5], [0, 1, -2.0], [0, 0, 1]])
    assert io.warp_raster(raster, shift, (64, 80)).rpcs is None  # not on its pixels any more
    note = io.write_raster(tmp_path / "out.tif", io.warp_onto(moving, raster, shift))
    assert "georeferenced by RPCs" in note
    with _open(tmp_path / "out.tif") as written:
        assert written.rpcs is not None and written.crs is None
        assert written.transform.is_identity  # no geotransform that RPCs do not give
        got = written.rpcs.to_dict()
    for key, value in RPCS.to_dict().items():
        if value is not None:
            np.testing.assert_allclose(got[key], value)


def test_the_readers_take_a_nodata_value_outside_the_dtype_for_none(scene, tmp_path,
                                                                    monkeypatch):
    """GDAL (and rasterio) reads a nodata value that the band's dtype cannot hold as no
    nodata value; the reader without rasterio took it, and the warp then wrote it into the
    dtype (-1 as 255, NaN as 0) where it read back as data."""
    levels = np.round(np.clip(50 * np.sqrt(scene[None, ..., 0]), 1, 250)).astype(np.uint8)
    for text, dtype in (("-1", np.uint8), ("nan", np.int16), ("70000", np.uint16)):
        path = tmp_path / f"{dtype.__name__}.tif"
        tifffile.imwrite(path, levels[0].astype(dtype),
                         extratags=[(42113, "s", 0, text, False)])  # GDAL's nodata tag
        with _open(path) as source:
            assert source.nodata is None  # GDAL's reading
        with monkeypatch.context() as patched:
            patched.setitem(sys.modules, "rasterio", None)  # not installed
            plain = io.read_raster(path)
        assert plain.nodata is None and plain.valid.all(), text
        assert io.read_raster(path).nodata is None


@pytest.mark.parametrize("dtype, nodata", [(np.uint8, -1.0), (np.int16, float("nan")),
                                           (np.uint16, 0.5), (np.float32, 1e40)])
def test_a_nodata_value_that_the_dtype_cannot_hold_is_refused(tmp_path, dtype, nodata):
    data = np.full((1, 16, 16), 7, dtype)
    raster = io.Raster(data, np.ones(data.shape, bool), nodata=nodata)
    shift = np.array([[1, 0, 4.0], [0, 1, 0], [0, 0, 1]])
    stated = re.escape(f"nodata {nodata} cannot be stored in {data.dtype} pixels")
    with pytest.raises(ValueError, match=stated):
        io.warp_raster(raster, shift, (16, 16))
    with pytest.raises(io.RasterError, match="cannot be stored"):
        io.write_raster(tmp_path / "out.tif", raster)
    assert not (tmp_path / "out.tif").exists()


def test_without_rasterio_band_scaling_and_rpcs_are_not_dropped(scene, tmp_path, monkeypatch):
    """A TIFF whose bands carry a GDAL scale and offset, or that carries RPCs, is refused
    without rasterio (naming the extra), as a georeferenced one is: read and written by
    tifffile, both would be lost."""
    values = np.round(1000 * scene[None, ..., 0]).astype(np.int16)
    scaled = _write(tmp_path / "scaled.tif", values, ((0.001,), (-5.0,), ("",)))
    rpc = _write(tmp_path / "rpc.tif", values, rpcs=RPCS)
    monkeypatch.setitem(sys.modules, "rasterio", None)  # not installed
    with pytest.raises(io.RasterError, match=r"scale and offset.*sarfeat\[geotiff\]"):
        io.read_raster(scaled)
    with pytest.raises(io.RasterError, match=r"RPCCoefficient.*sarfeat\[geotiff\]"):
        io.read_raster(rpc)
    raster = io.Raster(values, np.ones(values.shape, bool), scaling=((0.001, -5.0, None),))
    with pytest.raises(io.RasterError, match="scale and offset needs rasterio"):
        io.write_raster(tmp_path / "out.tif", raster)


def test_a_pixel_is_point_file_is_placed_without_a_second_half_pixel(scene, tmp_path):
    """GDAL reads a PixelIsPoint GeoTIFF's tie point (a pixel centre) as a geotransform of
    pixel corners, and writes that geotransform back as PixelIsArea: the registered image
    on a pixel-is-point fixed grid lies where GDAL puts the fixed pixels, not half a pixel
    off (sarfeat adds no shift of its own for AREA_OR_POINT)."""
    path = tmp_path / "point.tif"
    with rasterio.open(path, "w", driver="GTiff", height=64, width=80, count=1,
                       dtype="float32", crs=UTM, transform=GEO) as target:
        target.update_tags(AREA_OR_POINT="Point")
        target.write(scene[None, ..., 0])
    with tifffile.TiffFile(path) as tiff:  # the file holds the centre of pixel (0, 0)
        assert tiff.pages[0].geotiff_tags["GTRasterTypeGeoKey"] == 2  # RasterPixelIsPoint
        np.testing.assert_allclose(tiff.pages[0].tags["ModelTiepointTag"].value[3:5],
                                   GEO @ (0.5, 0.5))
    fixed = io.read_raster(path)
    assert fixed.transform == GEO
    moving = io.Raster(scene[None, ..., 1].copy(), np.ones((1, 64, 80), bool))
    io.write_raster(tmp_path / "out.tif", io.warp_onto(moving, fixed, np.eye(3)))
    with rasterio.open(tmp_path / "out.tif") as written:
        assert written.transform == GEO and written.tags().get("AREA_OR_POINT") != "Point"
        np.testing.assert_array_equal(written.read(1), scene[..., 1])


def test_a_south_up_moving_grid_is_matched_the_right_way_up(scene, tmp_path):
    """A south-up raster (positive row step, as some netCDF exports write): the prior flips
    it onto the fixed north-up grid, and the transform reaches its own rows."""
    from sarfeat.registration import prepare_pair

    fixed = _write(tmp_path / "north.tif", scene[None, ..., 0].copy(), crs=UTM,
                   transform=GEO)
    south = GEO @ Affine.translation(0, 64) @ Affine.scale(1, -1)  # row 0 the southern edge
    moving = _write(tmp_path / "south.tif", scene[None, ::-1, :, 0].copy(), crs=UTM,
                    transform=south)
    pair = prepare_pair(io.read_raster(fixed), io.read_raster(moving), margin=0)
    assert pair.resampled and pair.window == (0, 64, 0, 80)
    np.testing.assert_allclose(pair.moving_image, scene[..., 0], rtol=1e-5)
    np.testing.assert_allclose(pair.total(np.eye(3)), [[1, 0, 0], [0, -1, 63], [0, 0, 1]],
                               atol=1e-9)


def test_a_raster_given_for_an_array_is_refused_with_what_to_pass(scene):
    from sarfeat import register

    raster = io.Raster(scene[None, ..., 0].copy(), np.ones((1, 64, 80), bool), crs=UTM,
                       transform=GEO)
    with pytest.raises(ValueError, match=r"image is a sarfeat.io.Raster.*prepare_pair"):
        register(raster, scene[..., 1])
