"""sarfeat.io's pictures: one gray rule for every reader, colour pictures (PNG or RGB(A)
GeoTIFF) read as gray with their alpha as no-data, display images written as such."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.io import imread, imsave

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


_COLOURS = {2: ("gray", "alpha"), 3: ("red", "green", "blue"),
            4: ("red", "green", "blue", "alpha")}


def _picture(count: int, named: bool) -> io.Raster:
    """A uint8 picture of ``count`` channels (gray + alpha, RGB or RGBA): its alpha 0 in
    columns under 5 (no-data, 0 in every channel), 128 in column 5, 255 elsewhere."""
    rng = np.random.default_rng(count)
    data = rng.integers(1, 256, (count, 20, 30), dtype=np.uint8)
    valid = np.ones(data.shape, bool)
    if count in (2, 4):
        data[-1], data[-1, :, 5] = 255, 128
        data[:, :, :5], valid[:, :, :5] = 0, False
    bands = tuple((None, colour) for colour in _COLOURS[count]) if named else None
    return io.Raster(data, valid, picture=True, bands=bands)


@pytest.mark.parametrize("named", [True, False], ids=["colours", "by-count"])
@pytest.mark.parametrize("count", [2, 3, 4])
def test_a_colour_picture_is_written_to_png_with_its_colours_and_alpha(tmp_path, count, named):
    """A PNG held the first band alone, as a gray display image: the colour and alpha of
    a registered optical picture were lost. It now holds every channel, read back the same."""
    raster = _picture(count, named)
    note = io.write_raster(tmp_path / "p.png", raster)
    assert note.startswith("PNG uint8 " + {2: "gray + alpha", 3: "RGB", 4: "RGBA"}[count])
    back = io.read_raster(tmp_path / "p.png")
    np.testing.assert_array_equal(back.data, raster.data)
    np.testing.assert_array_equal(back.valid, raster.valid)
    assert back.picture and tuple(c for _, c in back.bands) == _COLOURS[count]


@pytest.mark.parametrize("count", [2, 4])
def test_a_jpeg_has_a_pictures_colour_composited_onto_black(tmp_path, count):
    """JPEG has no alpha: the colour is composited onto black (transparent: black; alpha 128:
    half the colour), gray or RGB, where it was the first band alone."""
    data = np.zeros((count, 32, 48), np.uint8)
    data[:-1] = np.array([200, 100, 60][:count - 1])[:, None, None]
    data[-1, :, 16:32], data[-1, :, 32:] = 128, 255
    valid = np.broadcast_to(data[-1] > 0, data.shape).copy()
    data[:, ~valid[0]] = 0
    note = io.write_raster(tmp_path / "p.jpg", io.Raster(data, valid, picture=True))
    assert "alpha composited onto black" in note
    shown = np.asarray(imread(tmp_path / "p.jpg"), float)
    shown = shown[..., None] if count == 2 else shown
    assert shown.shape == (32, 48, count - 1)
    expected = [0, 100, 200] if count == 2 else [[0, 0, 0], [100, 50, 30], [200, 100, 60]]
    for side, colour in zip(range(3), expected):  # the flat middle of each 16-column part
        middle = shown[8:24, 16 * side + 4:16 * side + 12]
        np.testing.assert_allclose(middle.mean(axis=(0, 1)), np.ravel(colour), atol=2)


def test_measurements_and_16_bit_pictures_are_not_written_as_colour(tmp_path):
    """Bands that are not a picture's colours stay a display image of the first band; a
    16-bit picture, which sarfeat writes to PNG and JPEG in 8 bits only, is refused before
    anything is written (GeoTIFF keeps it), rather than written as its first band."""
    data = np.random.default_rng(0).integers(1, 256, (3, 20, 30), dtype=np.uint8)
    io.write_raster(tmp_path / "bands.png", io.Raster(data, np.ones(data.shape, bool)))
    np.testing.assert_array_equal(imread(tmp_path / "bands.png"), data[0])
    sixteen = io.Raster(data.astype(np.uint16) * 257, np.ones(data.shape, bool), picture=True)
    for suffix in (".png", ".jpg"):
        with pytest.raises(io.RasterError, match=r"uint16 RGB picture .* write it to \.tif"):
            io.write_raster(tmp_path / f"sixteen{suffix}", sixteen)
        assert not (tmp_path / f"sixteen{suffix}").exists()
    assert "uint16" in io.write_raster(tmp_path / "sixteen.tif", sixteen)
