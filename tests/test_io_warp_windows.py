"""A moving raster resampled onto a fixed grid a window at a time (sarfeat.io.WarpedWindows)
and written a strip at a time (write_raster_windows): the file ``register -o`` wrote whole,
to the byte, without the whole grid in memory; atomic as before."""

from __future__ import annotations

import argparse
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from sarfeat import io
from sarfeat.geometry import WARP_BLOCK, warp

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from _io_helpers import GEO, UTM  # noqa: E402

#: Fixed pixels -> moving pixels: turned, scaled and shifted so that the moving image covers
#: a part of a grid of several strips.
TURNED = np.array([[0.55, 0.12, -180.0], [-0.1, 0.6, -330.0], [0, 0, 1.0]])


def _moving(dtype, count: int, nodata, shape=(300, 260), seed: int = 0) -> io.Raster:
    rng = np.random.default_rng(seed)
    high = 1.0 if np.dtype(dtype).kind == "f" else min(np.iinfo(dtype).max, 5000)
    data = (rng.random((count,) + shape) * high + (np.dtype(dtype).kind != "f")).astype(dtype)
    valid = np.ones(data.shape, bool)
    valid[:, 40:60, 100:130] = False  # a hole of no-data
    if nodata is not None:
        data[~valid] = nodata
    return io.Raster(data, valid, nodata)


def _grid(shape=(1300, 1100), georeferenced: bool = True) -> io.Raster:
    blank = np.zeros((0,) + shape, np.uint8)
    return io.Raster(blank, blank.astype(bool), crs=UTM if georeferenced else None,
                     transform=GEO if georeferenced else None)


def _as_before(moving: io.Raster, grid: io.Raster, inverse: np.ndarray, order: int):
    """What warp_onto returned before it was made by windows: one warp of the whole grid."""
    whole = io.warp_raster(moving, inverse, grid.shape, order=order)
    return replace(whole, crs=grid.crs, transform=grid.transform, gcps=grid.gcps,
                   rpcs=grid.rpcs)


CASES = {
    "float32, NaN": (np.float32, 1, float("nan"), 1, {}),
    "uint16, 3 bands, nodata 0, cubic, scaled and named": (np.uint16, 3, 0.0, 3, {}),
    "int16 without nodata, nearest": (np.int16, 2, None, 0, {}),
    "float32, zstd, overviews": (np.float32, 1, float("nan"), 1,
                                 {"creation_options": {"COMPRESS": "ZSTD"}, "overviews": True}),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("georeferenced", [True, False])
def test_strips_write_the_file_that_the_whole_raster_wrote(tmp_path, case, georeferenced):
    dtype, count, nodata, order, keywords = CASES[case]
    moving = _moving(dtype, count, nodata)
    if count == 3:
        moving = replace(moving, scaling=((0.5, 1.0, "dB"),) * 3,
                         bands=(("VV", "undefined"), ("VH", "undefined"), (None, "undefined")))
    grid = _grid(georeferenced=georeferenced)
    before, now = tmp_path / "before.tif", tmp_path / "now.tif"
    io.write_raster(before, _as_before(moving, grid, TURNED, order), **keywords)
    windows = io.warp_onto_windows(moving, grid, TURNED, order=order)
    note = io.write_raster_windows(now, windows, **keywords)
    assert now.read_bytes() == before.read_bytes()
    assert note == io.write_raster(tmp_path / "again.tif", io.warp_onto(moving, grid, TURNED,
                                                                         order=order), **keywords)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.tif", "before.tif", "now.tif"]


def test_a_picture_with_alpha_writes_the_same_file_by_strips(tmp_path):
    """An RGBA picture: its colour weighted by its alpha, window by window as whole."""
    moving = _moving(np.uint8, 4, None)
    moving.data[3] = np.where(moving.valid[3], 1 + moving.data[3] % 255, 0)
    moving = replace(moving, valid=np.broadcast_to(moving.data[3] > 0, moving.data.shape).copy(),
                     picture=True, bands=tuple((None, c) for c in ("red", "green", "blue",
                                                                   "alpha")))
    grid = _grid((700, 600))
    io.write_raster(tmp_path / "before.tif", _as_before(moving, grid, TURNED, 1))
    io.write_raster_windows(tmp_path / "now.tif", io.warp_onto_windows(moving, grid, TURNED))
    assert (tmp_path / "now.tif").read_bytes() == (tmp_path / "before.tif").read_bytes()


def _geographic_over(grid: io.Raster, step: float = 0.002) -> io.Raster:
    """An EPSG:4326 raster over ``grid`` (UTM) holding the longitude and latitude of its
    pixel centres, a corner of it no-data."""
    from rasterio.warp import transform_bounds

    rows, cols = grid.shape
    t = grid.transform
    west, south, east, north = transform_bounds(grid.crs, CRS.from_epsg(4326), t.c,
                                                t.f + t.e * rows, t.c + t.a * cols, t.f)
    width, height = int((east - west) / step) + 4, int((north - south) / step) + 4
    transform = Affine(step, 0, west - 2 * step, 0, -step, north + 2 * step)
    lon = transform.c + step * (np.arange(width) + 0.5)
    lat = transform.f - step * (np.arange(height) + 0.5)
    data = np.stack(np.meshgrid(lon, lat)).astype(np.float32)
    data[:, :height // 3, :width // 4] = np.nan
    return io.Raster(data, np.isfinite(data), float("nan"), CRS.from_epsg(4326), transform)


def test_across_crs_strips_write_the_file_of_the_whole_curved_raster(tmp_path):
    utm = CRS.from_epsg(32630)
    grid = io.Raster(np.zeros((0, 900, 700), np.uint8), np.zeros((0, 900, 700), bool),
                     crs=utm, transform=Affine(200.0, 0, 600000, 0, -200.0, 4300000))
    moving = _geographic_over(grid)
    correction = np.array([[1, 0, 2.5], [0, 1, -1.5], [0, 0, 1.0]])
    # small blocks: several in a strip, split where the fit is off
    whole = io.warp_onto_curved(moving, grid, correction, block=128)
    assert np.isnan(whole.data).any() and np.isfinite(whole.data).any()
    io.write_raster(tmp_path / "before.tif", whole)
    windows = io.warp_onto_curved_windows(moving, grid, correction, block=128)
    assert windows.rows == 128
    io.write_raster_windows(tmp_path / "now.tif", windows)
    assert (tmp_path / "now.tif").read_bytes() == (tmp_path / "before.tif").read_bytes()


def test_windows_hold_what_the_whole_raster_holds():
    moving = _moving(np.float32, 2, float("nan"))
    grid = _grid()
    whole = _as_before(moving, grid, TURNED, 1)
    windows = io.warp_onto_windows(moving, grid, TURNED)
    assert windows.rows == WARP_BLOCK
    for window in [(512, 1024, 0, 1100), (1024, 1300, 512, 1100)]:  # aligned: to the bit
        r0, r1, c0, c1 = window
        part = windows.window(window)
        assert part.crs is None and part.transform is None
        np.testing.assert_array_equal(part.data, whole.data[:, r0:r1, c0:c1])
        np.testing.assert_array_equal(part.valid, whole.valid[:, r0:r1, c0:c1])
    # not aligned: the same pixels, to the rounding of their blocks' own maps
    part = windows.window((100, 700, 333, 901))
    np.testing.assert_array_equal(part.valid, whole.valid[:, 100:700, 333:901])
    np.testing.assert_allclose(part.data, whole.data[:, 100:700, 333:901], atol=1e-4)
    header = windows.header
    assert (header.shape, header.count, header.data.dtype) == (grid.shape, 2, np.float32)
    assert header.crs == grid.crs and header.transform == grid.transform
    assert np.isnan(header.nodata) and header.data.base is not None  # a view: no pixels
    with pytest.raises(ValueError, match="not a non-empty part"):
        windows.window((0, 1400, 0, 10))


def test_warp_of_a_window_is_that_part_of_the_whole_warp():
    image = np.random.default_rng(1).random((200, 180))
    whole = warp(image, TURNED @ np.diag([0.3, 0.3, 1.0]), (900, 800), block=128)
    part = warp(image, TURNED @ np.diag([0.3, 0.3, 1.0]), (900, 800), block=128,
                window=(256, 640, 128, 800))
    np.testing.assert_array_equal(part, whole[256:640, 128:800])
    for bad in [(0, 0, 0, 10), (0, 10, 5, 801), (1, 2, 3), (0.5, 2, 0, 3)]:
        with pytest.raises(ValueError, match="window"):
            warp(image, np.eye(3), (900, 800), window=bad)


def test_a_small_image_onto_a_long_grid_never_holds_the_grid(tmp_path):
    """tracemalloc's peak while a 300 px chip is resampled onto a 300 x 40000 grid and written:
    a few strips' worth, not the grid's 48 MB of float32 pixels (and their float64 warp)."""
    grid = _grid((40000, 300))
    moving = _moving(np.float32, 1, float("nan"), (300, 300))
    inverse = np.array([[1.0, 0, -3.0], [0, 1.0, -20000.0], [0, 0, 1.0]])  # a whole shift
    windows = io.warp_onto_windows(moving, grid, inverse)
    grid_bytes = 4 * grid.shape[0] * grid.shape[1]
    tracemalloc.start()
    try:
        io.write_raster_windows(tmp_path / "out.tif", windows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < grid_bytes / 4, f"{peak / 1e6:.1f} MB held for a {grid_bytes / 1e6} MB grid"
    written = io.read_raster(tmp_path / "out.tif")
    assert written.shape == grid.shape and np.isnan(written.nodata)
    assert not written.valid[0, :20000].any() and not written.valid[0, 20300:].any()
    np.testing.assert_array_equal(written.data[0, 20000:20300, 3:], moving.data[0, :, :297])


def test_register_writes_its_output_a_strip_at_a_time(tmp_path):
    """`sarfeat register -o`'s output (cli.register._output) is made a window at a time,
    and the writer asks for strips of whole blocks, never the whole grid."""
    from sarfeat.cli import register as register_command
    from sarfeat.registration import prepare_pair

    grid = replace(_grid((2100, 900)), data=np.ones((1, 2100, 900), np.float32),
                   valid=np.ones((1, 2100, 900), bool))
    chip = replace(_moving(np.float32, 1, float("nan"), (200, 200)), crs=UTM,
                   transform=GEO @ Affine.translation(300, 1500))
    inputs = prepare_pair(grid, chip, 0, 0)
    total = inputs.total(np.eye(3))
    output = register_command._output(argparse.Namespace(no_resample=False, order=1),
                                      inputs, total)
    assert isinstance(output, io.WarpedWindows)
    asked = []
    spied = replace(output, make=lambda window: asked.append(window) or output.make(window))
    io.write_raster_windows(tmp_path / "out.tif", spied)
    assert asked == [(0, 512, 0, 900), (512, 1024, 0, 900), (1024, 1536, 0, 900),
                     (1536, 2048, 0, 900), (2048, 2100, 0, 900)]
    io.write_raster(tmp_path / "whole.tif", inputs.warped_moving(total))
    assert (tmp_path / "out.tif").read_bytes() == (tmp_path / "whole.tif").read_bytes()


def test_a_failure_amid_the_strips_leaves_no_file(tmp_path):
    """A strip that cannot be made (an interruption, memory) fails the write: no file at
    OUT, no temporary, and within written_together the set's other files are not kept."""
    moving = _moving(np.float32, 1, float("nan"))
    windows = io.warp_onto_windows(moving, _grid(), TURNED)
    made = windows.make

    def failing(window):
        if window[0] > 0:
            raise KeyboardInterrupt
        return made(window)

    broken = replace(windows, make=failing)
    out = tmp_path / "out.tif"
    with pytest.raises(KeyboardInterrupt):
        with io.written_together():
            io.write_raster(tmp_path / "first.tif", io.warp_onto(moving, _grid((300, 300)),
                                                                 TURNED))
            io.write_raster_windows(out, broken)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"an earlier run's")
    with pytest.raises(KeyboardInterrupt):
        io.write_raster_windows(out, broken)
    assert out.read_bytes() == b"an earlier run's" and list(tmp_path.iterdir()) == [out]


def test_register_stack_writes_each_image_a_strip_at_a_time(tmp_path, monkeypatch):
    """register-stack's tasks (cli.stack_report.save_outcome) write NAME.registered.tif
    from the windows of warp_onto_windows, in strips: the file a whole write makes."""
    from skimage.transform import AffineTransform

    from sarfeat import RegistrationResult
    from sarfeat.cli import register_stack
    from sarfeat.parallel import PairOutcome

    moving = np.random.default_rng(3).random((64, 48)).astype(np.float32)
    shift = AffineTransform(translation=(-10, -1000))  # the image lies on rows 1000-1063
    result = RegistrationResult(shift, np.zeros((0, 2), int), np.zeros(0, bool),
                                np.zeros((0, 2)), np.zeros((0, 2)),
                                resampling=(moving, 1, None, (1300, 300)))
    outcome = PairOutcome(0, "date1", result=result,
                          extra={"fixed_shape": (1300, 300), "moving_shape": moving.shape})
    image = tmp_path / "date1.npy"
    np.save(image, moving)
    out = tmp_path / "out"
    out.mkdir()
    reference = _grid((1300, 300), georeferenced=False)
    asked, made = [], io.warp_onto_windows

    def spied(*args, **kwargs):
        windows = made(*args, **kwargs)
        return replace(windows, make=lambda window: asked.append(window) or windows.make(window))

    monkeypatch.setattr(io, "warp_onto_windows", spied)
    saved = register_stack._save(
        outcome, output_dir=str(out), suffix=".tif", reference=reference, input_kind="auto",
        reference_path="ref.npy", images=[str(image)], weights="w", model="affine")
    assert saved.ok, saved.extra
    assert asked == [(0, 512, 0, 300), (512, 1024, 0, 300), (1024, 1300, 0, 300)]
    whole = io.warp_onto(io.read_raster(image), reference, shift.params)
    io.write_raster(tmp_path / "whole.tif", whole)
    assert (out / "date1.registered.tif").read_bytes() == (tmp_path / "whole.tif").read_bytes()
