"""A large optical map and a SAR scene in another CRS: memory of the steps, and the output
resampled through the exact map between the CRSs (``benchmarks/large_optical_sar.py``
measures the same at 10980 px)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sarfeat.io import Raster
from sarfeat.structural import prepare_modality


def _peak(call):
    """(result, peak traced memory in bytes) of ``call()``."""
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def _uint16_raster(side: int, bands: int = 1) -> Raster:
    data = np.random.default_rng(0).integers(1, 4000, (bands, side, side)).astype(np.uint16)
    valid = np.ones(data.shape, bool)
    valid[:, :5, :5] = False  # a corner of no-data: the band is given as float32 with NaN
    return Raster(data, valid, nodata=0.0)


def test_a_uint16_band_with_nodata_is_made_in_float32_without_a_float64_copy():
    raster = _uint16_raster(1000)
    band, peak = _peak(lambda: raster.band(0))
    assert band.dtype == np.float32 and np.isnan(band[0, 0]) and band[9, 9] == raster.data[0, 9, 9]
    # the band itself (4 MB) and a mask; a float64 copy first would be 8 MB more
    assert peak < 1.5 * band.nbytes


def test_a_window_of_a_band_costs_the_window_not_the_band():
    raster = _uint16_raster(2000)
    crop, peak = _peak(lambda: raster.band(0, window=(0, 200, 100, 400)))
    assert crop.shape == (200, 300)
    np.testing.assert_array_equal(crop[10:], raster.data[0, 10:200, 100:400])
    assert np.isnan(crop[:5, :]).sum() == 0  # the no-data corner lies outside the window
    assert peak < 2 * crop.nbytes + 1e5  # the whole band in float32 would be 16 MB


def test_an_optical_image_is_scaled_in_float32():
    image = np.random.default_rng(0).random((1000, 1000)).astype(np.float32) * 3000
    prepared, peak = _peak(lambda: prepare_modality(image, "optical"))
    assert prepared.dtype == np.float32
    low, high = np.percentile(image, [1, 99])
    np.testing.assert_allclose(prepared, (image - low) / (high - low), rtol=1e-5, atol=1e-6)
    assert image.max() > 2000  # the caller's image is not changed in place
    # the result and the valid values' percentile (2.25 results' worth); float64
    # intermediates made it 4.25
    assert peak < 3 * prepared.nbytes


def _four_band_tiff(path, side: int = 1000):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    data = np.random.default_rng(0).integers(1, 4000, (4, side, side)).astype(np.uint16)
    data[:, :3, :3] = 0  # no-data by the nodata value
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=4,
                       dtype="uint16", nodata=0, crs="EPSG:32630", tiled=True,
                       transform=Affine(10, 0, 600000, 0, -10, 4300000)) as out:
        out.write(data)
    return data


def test_a_multiband_geotiff_is_masked_a_band_at_a_time(tmp_path):
    from sarfeat.io import read_raster

    data = _four_band_tiff(tmp_path / "four.tif")
    raster, peak = _peak(lambda: read_raster(tmp_path / "four.tif"))
    np.testing.assert_array_equal(raster.data, data)
    np.testing.assert_array_equal(raster.valid, data != 0)
    # the pixels and their mask (1.17 times them here); the masks of every band at once, as
    # uint8 then bool, made it 1.67
    assert peak < 1.35 * (raster.data.nbytes + raster.valid.nbytes)


def test_a_geotiff_is_read_with_a_small_block_cache_unless_one_is_set(tmp_path, monkeypatch):
    rasterio = pytest.importorskip("rasterio")
    from sarfeat import raster_read
    from sarfeat.io import read_raster

    _four_band_tiff(tmp_path / "four.tif", 64)
    seen = []
    opened = rasterio.open

    def spy(*args, **kwargs):
        seen.append(rasterio.env.get_gdal_config("GDAL_CACHEMAX"))
        return opened(*args, **kwargs)

    monkeypatch.setattr(rasterio, "open", spy)
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    read_raster(tmp_path / "four.tif")
    with rasterio.Env(GDAL_CACHEMAX=300):  # the user's choice is kept
        read_raster(tmp_path / "four.tif")
    assert [int(v) for v in seen] == [raster_read.READ_CACHE_MB, 300]
