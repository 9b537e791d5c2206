"""sarfeat.io's pictures: one gray rule for every reader, colour pictures (PNG or RGB(A)
GeoTIFF) read as gray with their alpha as no-data, display images written as such."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.io import imsave

from sarfeat import io

rasterio = pytest.importorskip("rasterio")

from _io_helpers import GEO, UTM  # noqa: E402


def test_one_gray_rule_for_every_reader(tmp_path):
    from sarfeat.data import _read_gray  # noqa: PLC2701 - the data module's reader

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    imsave(tmp_path / "rgb.png", rgb, check_contrast=False)
    gray = io.read_image(tmp_path / "rgb.png")
    assert gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, np.rint(255 * rgb2gray(rgb)).astype(np.uint8))
    np.testing.assert_array_equal(_read_gray(tmp_path / "rgb.png"), gray)


@pytest.mark.parametrize("rgb", [
    np.ones((20, 30)),  # a gray image: was read as 20 rows of colours, shape (20,)
    np.ones((20, 30, 2)),  # failed in matmul
    np.full((4, 4, 3), "a"),
    np.ones((2, 20, 30, 3)),
])
def test_rgb_to_gray_refuses_what_is_not_rgb(rgb):
    with pytest.raises(ValueError, match=r"rgb must be an \(H, W, 3\)"):
        io.rgb_to_gray(rgb)


def test_rgb_to_gray_reads_lists_and_leaves_alpha_out():
    rgba = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    np.testing.assert_array_equal(io.rgb_to_gray(rgba), io.rgb_to_gray(rgba[..., :3]))
    np.testing.assert_array_equal(io.rgb_to_gray(rgba[..., :3].tolist()),
                                  io.rgb_to_gray(rgba[..., :3]))


def test_the_gray_band_of_a_colour_picture_keeps_its_no_data(tmp_path):
    """A zero alpha is no-data in the gray values read from an RGBA picture (as the
    optical-SAR matcher reads an RGBA array), not gray pixels to match."""
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(1, 256, (20, 30, 3), dtype=np.uint8),
                      np.full((20, 30), 255, np.uint8)])
    rgba[:, :7, 3] = 0
    imsave(tmp_path / "rgba.png", rgba, check_contrast=False)
    gray = io.read_image(tmp_path / "rgba.png")
    assert np.isnan(gray[:, :7]).all() and np.isfinite(gray[:, 7:]).all()
    np.testing.assert_array_equal(gray[:, 7:], io.rgb_to_gray(rgba[:, 7:, :3]))


def test_an_rgb_geotiff_is_a_colour_picture_and_written_back_as_one(tmp_path):
    """An RGB(A) orthophoto GeoTIFF is read as colour (gray by default, its alpha no-data),
    as a PNG is, and a colour raster is written back tagged as RGB(A)."""
    rng = np.random.default_rng(0)
    rgba = rng.integers(1, 256, (4, 20, 30), dtype=np.uint8)
    rgba[3] = 255
    rgba[3, :, :7] = 0
    with rasterio.open(tmp_path / "rgba.tif", "w", driver="GTiff", height=20, width=30,
                       count=4, dtype="uint8", crs=UTM, transform=GEO, photometric="RGB",
                       alpha="YES") as target:
        target.write(rgba)
    raster = io.read_raster(tmp_path / "rgba.tif")
    assert raster.picture and raster.georeferenced
    gray = raster.band()
    assert np.isnan(gray[:, :7]).all()
    np.testing.assert_array_equal(gray[:, 7:], io.rgb_to_gray(np.moveaxis(rgba[:3], 0, -1))[:, 7:])
    rgb = io.Raster(raster.data[:3], raster.valid[:3], None, UTM, GEO, picture=True)
    io.write_raster(tmp_path / "copy.tif", rgb)
    assert io.read_raster(tmp_path / "copy.tif").picture
    # bands that are measurements, not colour, stay bands to choose from
    with rasterio.open(tmp_path / "bands.tif", "w", driver="GTiff", height=20, width=30,
                       count=3, dtype="uint16", crs=UTM, transform=GEO) as target:
        target.write(rgba[:3].astype(np.uint16))
    with pytest.raises(io.RasterError, match="choose one with --band") as refused:
        io.read_raster(tmp_path / "bands.tif").band()
    # a command names the option of the side at fault; the error survives pickling (Dask)
    assert refused.value.choose_with("--image-band").endswith("with --image-band 0..2")
    copy = pickle.loads(pickle.dumps(refused.value))
    assert isinstance(copy, io.BandChoiceError) and str(copy) == str(refused.value)


def test_uint16_display_is_16_bit_png_and_8_bit_jpeg(tmp_path):
    data = np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64) * 15
    raster = io.Raster(data, np.ones(data.shape, bool))
    assert "uint16" in io.write_raster(tmp_path / "a.png", raster)
    assert io.read_raster(tmp_path / "a.png").data.dtype == np.uint16
    assert "JPG uint8" in io.write_raster(tmp_path / "a.jpg", raster)  # JPEG has no 16 bits
    assert io.read_raster(tmp_path / "a.jpg").data.dtype == np.uint8
