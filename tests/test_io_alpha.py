"""sarfeat.io's alpha bands, read as GDAL reads them (a zero alpha is no-data in every band, by
every reader, with rasterio or without) and resampled as gdalwarp resamples them (the colour
weighted by its alpha)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from skimage.io import imsave

from sarfeat import io
from sarfeat.geometry import warp

rasterio = pytest.importorskip("rasterio")

RGBA = ("red", "green", "blue", "alpha")
#: output x reads input x + 0.5
HALF = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1.0]])
#: a turn of 10 degrees and a zoom of 1.1 about the centre of a 40 x 50 image
TURN = np.array([[1.1 * np.cos(0.17), -1.1 * np.sin(0.17), 4.0],
                 [1.1 * np.sin(0.17), 1.1 * np.cos(0.17), -6.0], [0, 0, 1.0]])


def _picture(alpha: np.ndarray, seed: int = 0) -> np.ndarray:
    """(4, H, W) uint8 RGBA of random colour and ``alpha``; colour 255 (garbage) under a
    zero alpha."""
    rgb = np.random.default_rng(seed).integers(20, 230, (3,) + alpha.shape, dtype=np.uint8)
    rgb[:, alpha == 0] = 255
    return np.concatenate([rgb, alpha[None].astype(np.uint8)])


def _write_geotiff(path, data: np.ndarray, **profile) -> None:
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=data.dtype.name, **profile) as target:
        target.write(data)


def _read_each_way(tmp_path, data: np.ndarray, monkeypatch) -> dict:
    """The RGBA ``data`` written as a GeoTIFF and a PNG, read with rasterio and without."""
    _write_geotiff(tmp_path / "rgba.tif", data, photometric="RGB", alpha="YES")
    imsave(tmp_path / "rgba.png", np.moveaxis(data, 0, -1), check_contrast=False)
    read = {"rasterio": io.read_raster(tmp_path / "rgba.tif")}
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "rasterio", None)  # not installed
        read["tifffile"] = io.read_raster(tmp_path / "rgba.tif")
        read["png"] = io.read_raster(tmp_path / "rgba.png")
    return read


def test_every_reader_reads_a_zero_alpha_as_no_data_in_every_band(tmp_path, monkeypatch):
    """With rasterio the alpha band itself was valid everywhere (GDAL masks the colour
    bands only), and a PNG had no colours (its alpha an ordinary band when resampled)."""
    alpha = np.full((20, 30), 255)
    alpha[:, :7], alpha[:, 7] = 0, 90
    data = _picture(alpha)
    for reader, raster in _read_each_way(tmp_path, data, monkeypatch).items():
        np.testing.assert_array_equal(raster.data, data, err_msg=reader)
        np.testing.assert_array_equal(raster.valid, np.broadcast_to(alpha > 0, data.shape),
                                      err_msg=reader)
        assert raster.picture and [colour for _, colour in raster.bands] == list(RGBA), reader
        assert raster.nodata is None


def test_only_an_8_or_16_bit_alpha_masks_as_gdal_reads_it(tmp_path, monkeypatch):
    """GDAL reads an int16 RGBA as valid everywhere; without rasterio it was masked."""
    data = _picture(np.where(np.arange(30) < 7, 0, 255)[None].repeat(20, 0)).astype(np.int16)
    _write_geotiff(tmp_path / "int16.tif", data, photometric="RGB", alpha="YES")
    assert io.read_raster(tmp_path / "int16.tif").valid.all()
    monkeypatch.setitem(sys.modules, "rasterio", None)
    raster = io.read_raster(tmp_path / "int16.tif")
    assert raster.valid.all() and raster.bands[3][1] == "alpha"


def test_a_tiff_s_extra_samples_say_which_band_is_alpha_without_rasterio(tmp_path, monkeypatch):
    """Without rasterio, any 2- or 4-band integer TIFF was a picture whose last band masked
    the others; GDAL reads an alpha band only where the TIFF's ExtraSamples tag says so."""
    import tifffile

    data = np.random.default_rng(1).integers(0, 3, (4, 20, 30)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "bands.tif", data, photometric="minisblack",
                     planarconfig="separate", extrasamples=[0, 0, 0])
    tifffile.imwrite(tmp_path / "gray_alpha.tif", data[:2], photometric="minisblack",
                     planarconfig="separate", extrasamples=[2])
    tifffile.imwrite(tmp_path / "small.tif", data[:, :5, :6], photometric="rgb",
                     planarconfig="separate", extrasamples=[2])  # planar, under 16 pixels
    expected = {}
    for name in ("bands", "gray_alpha", "small"):
        raster = io.read_raster(tmp_path / f"{name}.tif")
        expected[name] = raster.valid, raster.picture, raster.bands
    monkeypatch.setitem(sys.modules, "rasterio", None)
    for name, (valid, picture, bands) in expected.items():
        raster = io.read_raster(tmp_path / f"{name}.tif")
        np.testing.assert_array_equal(raster.valid, valid, err_msg=name)
        assert (raster.picture, raster.bands) == (picture, bands), name
    assert expected["bands"][0].all() and not expected["bands"][1]
    np.testing.assert_array_equal(expected["gray_alpha"][0], np.broadcast_to(data[1] > 0,
                                                                              (2, 20, 30)))
    np.testing.assert_array_equal(io.read_raster(tmp_path / "small.tif").data, data[:, :5, :6])


def test_the_writer_without_rasterio_writes_the_colours_gdal_reads(tmp_path, monkeypatch):
    """tifffile guessed RGBA for four bands: a 4-band measurement written without rasterio
    was read back (by GDAL) with its fourth band as alpha, its zeros no-data everywhere."""
    data = np.random.default_rng(2).integers(0, 4, (4, 20, 30)).astype(np.uint16)
    measured = io.Raster(data, np.ones(data.shape, bool))
    picture = io.Raster(data, np.broadcast_to(data[3] > 0, data.shape).copy(), picture=True,
                        bands=tuple((None, colour) for colour in RGBA))
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "rasterio", None)
        io.write_raster(tmp_path / "measured.tif", measured)
        io.write_raster(tmp_path / "picture.tif", picture)
    back = io.read_raster(tmp_path / "measured.tif")
    assert back.valid.all() and not back.picture
    back = io.read_raster(tmp_path / "picture.tif")
    assert back.picture and [colour for _, colour in back.bands] == list(RGBA)
    np.testing.assert_array_equal(back.valid, picture.valid)


@pytest.mark.parametrize("order", [1, 3])
def test_a_nearly_transparent_edge_lends_its_colour_by_its_alpha(tmp_path, monkeypatch,
                                                                  order):
    """gdalwarp weights colour by alpha; sarfeat did not: an edge of alpha 20 whose colour
    is black (as anti-aliased edges often are) darkened its opaque neighbour by half."""
    alpha = np.full((20, 30), 255)
    alpha[:, :7], alpha[:, 7] = 0, 20
    data = _picture(alpha)
    data[:3] = 200
    data[:3, :, 7] = 0  # black under alpha 20
    for reader, raster in _read_each_way(tmp_path, data, monkeypatch).items():
        warped = io.warp_raster(raster, HALF, (20, 30), order=order)
        # x 7 reads 7.5: (0 * 20 + 200 * 255) / (20 + 255) by the bilinear weights
        assert warped.data[:3, 10, 7].tolist() == [185] * 3, reader
        assert warped.data[3, 10, 7] == 138, reader  # (20 + 255) / 2, as before
        # the garbage under the zero alpha appears nowhere, the edge stays no-data
        assert (warped.data[:3, :, :7] == 0).all() and not warped.valid[:, :, :7].any()
        # its neighbours keep their colour (a cubic's negative lobe reaches the edge: within
        # a level; unweighted, its black made them 212)
        assert np.abs(warped.data[:3, :, 8:29].astype(int) - 200).max() <= order - 1, reader


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("outside", [False, True])
def test_an_opaque_picture_is_resampled_to_the_bit_as_before(order, outside):
    """One alpha under all the colour (255, perhaps 0 outside): each band is resampled as
    any band is (:func:`sarfeat.geometry.warp`, rounded), not divided by its alpha."""
    alpha = np.full((40, 50), 255)
    if outside:
        alpha[:, :9] = alpha[:6] = 0
    data = _picture(alpha, seed=3)
    valid = np.broadcast_to(alpha > 0, data.shape)
    raster = io.Raster(data, valid.copy(), picture=True,
                       bands=tuple((None, colour) for colour in RGBA))
    warped = io.warp_raster(raster, TURN, (40, 50), order=order)
    for band in range(3):
        alone = warp(data[band], TURN, (40, 50), order=order, valid=valid[band])
        kept = warped.valid[band]
        assert kept.sum() > 500
        np.testing.assert_array_equal(warped.data[band][kept],
                                      np.clip(np.rint(alone[kept]), 0, 255))


def test_nearest_neighbour_takes_each_colour_as_it_is():
    """order=0 mixes no pixels: a partly transparent picture's colour is not weighted."""
    alpha = np.random.default_rng(4).integers(0, 256, (40, 50))
    data = _picture(alpha, seed=4)
    valid = np.broadcast_to(alpha > 0, data.shape)
    raster = io.Raster(data, valid.copy(), picture=True,
                       bands=tuple((None, colour) for colour in RGBA))
    warped = io.warp_raster(raster, TURN, (40, 50), order=0)
    kept = warped.valid[0]
    for band in range(4):
        alone = warp(data[band], TURN, (40, 50), order=0, valid=valid[band])
        np.testing.assert_array_equal(warped.data[band][kept], alone[kept])
    assert (warped.data[:3, ~kept] == 0).all() and (warped.data[3, kept] >= 1).all()
