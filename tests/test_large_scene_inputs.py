"""A large optical map and a SAR scene in another CRS: memory of the steps, and the output
resampled through the exact map between the CRSs (``benchmarks/large_optical_sar.py``
measures the same at 10980 px)."""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np
import pytest
from skimage.transform import rescale

from sarfeat.io import Raster
from sarfeat.matching.geometry import downsample, mask_coverage
from sarfeat.matching.inputs import nodata_marked
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


def test_prepare_pair_converts_only_the_fixed_window():
    pytest.importorskip("rasterio")
    from affine import Affine
    from rasterio.crs import CRS

    from sarfeat.registration import prepare_pair

    fixed = _uint16_raster(2000)
    fixed.crs, fixed.transform = CRS.from_epsg(32630), Affine(10, 0, 600000, 0, -10, 4300000)
    chip = np.random.default_rng(1).random((1, 100, 100)).astype(np.float32)
    moving = Raster(chip, np.ones(chip.shape, bool), float("nan"), fixed.crs,
                    fixed.transform @ Affine.translation(900, 900))
    pair, peak = _peak(lambda: prepare_pair(fixed, moving, 0, 0))
    assert pair.fixed_image.shape < fixed.shape
    # the window holds no no-data: it stays in the file's dtype, as a band without any does
    assert pair.fixed_image.dtype == np.uint16
    # the whole band in float64 (32 MB) and float32 (16 MB) before cropping, before the fix
    assert peak < fixed.data.nbytes


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


def _across_crs_pair(side: int = 1000, pixel: float = 200.0):
    """A fixed UTM grid (``side`` px of ``pixel`` m: 200 km) and a moving EPSG:4326 raster
    over it whose two bands are the longitude and latitude of their pixel centres."""
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    utm, geographic = CRS.from_epsg(32630), CRS.from_epsg(4326)
    fixed_transform = Affine(pixel, 0, 600000, 0, -pixel, 4300000)
    fixed = Raster(np.ones((1, side, side), np.uint16), np.ones((1, side, side), bool), 0.0,
                   utm, fixed_transform)
    west, south, east, north = transform_bounds(utm, geographic, 600000, 4300000 - side * pixel,
                                                600000 + side * pixel, 4300000)
    step = 0.002
    cols, rows = int((east - west) / step) + 4, int((north - south) / step) + 4
    transform = Affine(step, 0, west - 2 * step, 0, -step, north + 2 * step)
    lon = transform.c + step * (np.arange(cols) + 0.5)
    lat = transform.f - step * (np.arange(rows) + 0.5)
    data = np.stack(np.meshgrid(lon, lat)).astype(np.float64)
    moving = Raster(data, np.ones(data.shape, bool), float("nan"), geographic, transform)
    return fixed, moving, step


def _error_px(output: Raster, fixed: Raster, step: float) -> np.ndarray:
    """How far each output pixel's longitude and latitude are from the fixed pixel's own,
    in moving pixels, at a lattice of fixed pixels."""
    from rasterio.warp import transform as transform_points

    rows, cols = np.mgrid[10:fixed.shape[0] - 10:37, 10:fixed.shape[1] - 10:37]
    t = fixed.transform
    east, north = t.c + t.a * (cols.ravel() + 0.5), t.f + t.e * (rows.ravel() + 0.5)
    lon, lat = transform_points(fixed.crs, "EPSG:4326", east, north)
    found = output.data[:, rows.ravel(), cols.ravel()]
    return np.hypot(found[0] - np.asarray(lon), found[1] - np.asarray(lat)) / step


def test_register_writes_a_scene_in_another_crs_through_the_exact_map():
    pytest.importorskip("rasterio")
    from sarfeat.cli import register as register_command
    from sarfeat.io import warp_onto
    from sarfeat.registration import prepare_pair

    fixed, moving, step = _across_crs_pair()
    inputs = prepare_pair(fixed, moving, 0, 0)
    assert inputs.resampled and inputs.curved
    total = inputs.total(np.eye(3))  # the georeferencing alone, as a registration of 0 px
    args = argparse.Namespace(no_resample=False, order=1)
    output = register_command._output(args, inputs, total).whole()
    assert output.crs == fixed.crs and output.transform == fixed.transform
    assert output.data.dtype == np.float64
    assert _error_px(output, fixed, step).max() < 0.05
    # the affine fit of the map (what -o wrote before) is pixels off over 200 km
    assert _error_px(warp_onto(moving, fixed, total), fixed, step).max() > 1.0


def test_a_found_correction_moves_the_curved_output_as_it_moves_the_affine_one():
    pytest.importorskip("rasterio")
    from sarfeat.registration import prepare_pair

    fixed, moving, step = _across_crs_pair(400)
    inputs = prepare_pair(fixed, moving, 0, 0)
    shift = np.array([[1, 0, 2.5], [0, 1, -1.5], [0, 0, 1.0]])  # fixed pixels, on the crop
    output = inputs.warped_moving(inputs.total(shift))
    plain = inputs.warped_moving(inputs.total(np.eye(3)))
    # the output at p is the plain output at p + (2.5, -1.5): the georeferencing corrected
    np.testing.assert_allclose(output.data[:, 50:300, 50:300],
                               _shifted(plain.data, 2.5, -1.5)[:, 50:300, 50:300], atol=step / 10)


def _shifted(data: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``data`` read at (x + dx, y + dy), bilinear (exact for the linear bands here)."""
    from scipy.ndimage import shift

    return np.stack([shift(band, (-dy, -dx), order=1, mode="nearest") for band in data])


def test_an_optical_sar_match_shows_its_steps_with_progress(tile, moved_sar, capsys,
                                                           optical_sar_registration):
    from sarfeat.matching import CoarseFineMatcher
    from sarfeat.matching.dense import dense_matcher_for

    found = CoarseFineMatcher(modality="optical-sar", rng=0, progress=True).match_result(
        tile[0], moved_sar)
    shown = capsys.readouterr().err
    assert "optical-SAR matching" in shown and "global search" in shown
    # the same match without progress (the session's register(..., progress=False)): the
    # same transform, and nothing shown
    registered, shown = optical_sar_registration
    np.testing.assert_allclose(found.model.params, registered.transform.params)
    assert shown == ""
    # a matcher made with progress=False shows none when its call does not say
    assert dense_matcher_for(CoarseFineMatcher(modality="optical-sar", progress=False),
                             None).progress is False


@pytest.mark.parametrize("whole", [False, True])
def test_register_lets_the_fixed_bands_go_before_matching(tmp_path, monkeypatch, whole):
    """A 4-band optical tile: only its band matched, cropped, is held while matching; read
    by its window (tests/test_windowed_fixed_read.py), or ``whole`` (as a file that rasterio
    does not read is), its bands let go."""
    import gc
    import weakref

    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    import sarfeat.io
    from sarfeat.cli import main
    from sarfeat.cli import register as register_command

    _four_band_tiff(tmp_path / "fixed.tif", 300)
    chip = np.random.default_rng(2).random((150, 150)).astype(np.float32)
    with rasterio.open(tmp_path / "moving.tif", "w", driver="GTiff", width=150, height=150,
                       count=1, dtype="float32", nodata=float("nan"), crs="EPSG:32630",
                       transform=Affine(10, 0, 600500, 0, -10, 4299500)) as out:
        out.write(chip, 1)
    bands, reader = [], sarfeat.io.read_raster

    def read(path):
        raster = reader(path)
        if raster.count == 4:
            bands.append(weakref.ref(raster.data))
        return raster

    seen = []

    def matched(fixed_image, *args, **kwargs):
        gc.collect()
        seen.append((fixed_image.shape, all(band() is None for band in bands)))
        raise RuntimeError("stopped by the test before matching")

    monkeypatch.setattr(sarfeat.io, "read_raster", read)
    if whole:
        monkeypatch.setattr(sarfeat.io, "read_raster_header", lambda path: None)
    monkeypatch.setattr(register_command, "_register", matched)
    main(["register", "--modality", "optical-sar", "--fixed-band", "2",
          str(tmp_path / "fixed.tif"), str(tmp_path / "moving.tif"),
          "--json", str(tmp_path / "r.json")])  # exits 1: stopped
    # the footprint (columns and rows 50-200) and its 64 px margin; the file's bands gone
    assert seen == [((264, 264), True)]
    assert len(bands) == whole  # read whole only when asked to


# -- the optical-SAR matcher's full-size steps: no needless copy of a large image (a
# 9465 x 8483 px overlap is 321 MB a float32 copy; benchmarks/README.md, "The optical-SAR
# matcher's copies of the overlap")

#: Larger than the percentile sample (2**20 values), so that the copies, not the sample,
#: make the peak.
SIDE = 2048


def _scene(side: int = SIDE) -> np.ndarray:
    """A float32 SAR intensity scene with NaN outside a footprint and scattered NaN pixels,
    as a scene brought onto an optical tile's grid is."""
    rng = np.random.default_rng(0)
    scene = rng.gamma(1.0, 1.0, (side, side)).astype(np.float32)
    scene[: side // 8] = np.nan
    scene[:, -side // 10:] = np.nan
    scene[rng.random((side, side)) < 0.001] = np.nan
    return scene


def test_a_scene_marked_with_nan_already_is_not_copied_to_mark_it():
    scene = _scene(256)
    marked, _, valid = nodata_marked(scene, None, True)
    assert marked is scene and 0 < valid < 1
    # other no-data is still marked on a copy, the caller's image left as it is
    with_inf = scene.copy()
    with_inf[0, 0] = np.inf
    marked, _, _ = nodata_marked(with_inf, None, True)
    assert marked is not with_inf and np.isnan(marked[0, 0]) and np.isinf(with_inf[0, 0])
    counts = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) % 1000 + 1
    counts[:10] = 0
    marked, _, _ = nodata_marked(counts, 0, False)
    assert marked.dtype == np.float32 and np.isnan(marked[:10]).all() and counts[0, 0] == 0


def test_a_sar_scene_is_prepared_with_one_float32_copy_at_a_time():
    scene = _scene()
    prepared, peak = _peak(lambda: prepare_modality(scene, "sar"))
    assert prepared.dtype == np.float32 and np.isnan(prepared[0]).all()
    assert np.isfinite(prepared[SIDE // 2, : SIDE // 2]).all()
    # 3.3 here: the normalised copy and normalize_sar's masks; 4.95 when the copy was
    # copied again and the no-data regions were picked by np.isin (sorted copies of labels)
    assert peak < 4.0 * scene.nbytes


def test_an_optical_uint16_tile_is_prepared_from_one_copy_of_its_valid_values():
    counts = np.random.default_rng(1).integers(1, 4000, (SIDE, SIDE)).astype(np.uint16)
    prepared, peak = _peak(lambda: prepare_modality(counts, "optical"))
    low, high = np.percentile(counts, [1, 99])
    assert prepared.dtype == np.float32 and abs(prepared.max() - (4000 - low) / (high - low)) < 1e-3
    # 2.25: the result and the valid values partitioned in place; 3.25 with np.percentile's
    # own copy of them
    assert peak < 2.75 * prepared.nbytes


def test_a_downsampling_that_restores_fills_the_image_in_place_and_puts_its_nan_back():
    scene = _scene()
    before = scene.copy()
    copied = downsample(scene, 1 / 8)
    (small, matrix), peak = _peak(lambda: downsample(scene, 1 / 8, restore=True))
    np.testing.assert_array_equal(small, copied[0])  # NaN at the same places too
    np.testing.assert_array_equal(matrix, copied[1])
    np.testing.assert_array_equal(scene, before)
    # 1.3: the valid values for their median and the small image's masks; 2.2 with a
    # filled copy of the image and nanmedian's copy of it
    assert peak < 1.75 * scene.nbytes
    scene.flags.writeable = False  # a read-only image is copied instead
    np.testing.assert_array_equal(downsample(scene, 0.5, restore=True)[0],
                                  downsample(before, 0.5)[0])


@pytest.mark.parametrize("shape", [(101, 67), (37, 530)])
@pytest.mark.parametrize("factor", [0.5, 0.137])
def test_a_mask_is_downsampled_as_rescale_downsamples_its_float_copy(shape, factor):
    rng = np.random.default_rng(3)
    mask = rng.random(shape) < 0.05
    mask[: shape[0] // 3, : shape[1] // 4] = True  # a region of no-data and scattered pixels
    shares = mask * rng.random(shape, dtype=np.float32)  # a block mean's shares of no-data
    for given in (mask, shares, np.ones(shape, bool)):
        expected = rescale(given.astype(np.float32), factor, anti_aliasing=True, order=1,
                           preserve_range=True)
        coverage = mask_coverage(given, factor)
        assert coverage.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(coverage, expected)  # every value, to the bit
        np.testing.assert_array_equal(coverage > 0.05, expected > 0.05)


def test_halving_a_scene_costs_one_filtered_copy_not_two():
    scene = _scene()
    before = scene.copy()
    (small, matrix), peak = _peak(lambda: downsample(scene, 0.5, restore=True))
    expected = rescale(np.where(np.isnan(before), np.nanmedian(before), before), 0.5,
                       anti_aliasing=True, order=1, preserve_range=True)
    coverage = rescale(np.isnan(before).astype(np.float32), 0.5, anti_aliasing=True, order=1,
                       preserve_range=True)
    expected[coverage > 0.05] = np.nan
    np.testing.assert_array_equal(small, expected)
    np.testing.assert_array_equal(scene, before)
    # 1.75: the image's Gaussian copy beside its mask, then the mask's filtered float32 copy;
    # 2.5 when the mask was made float32 and rescale filtered that into a second copy
    assert peak < 2.1 * scene.nbytes
