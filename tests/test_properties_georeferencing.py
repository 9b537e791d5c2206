"""Property tests of georeferencing (sarfeat.georeferencing, re-exported by sarfeat.io): pixel
centres to map coordinates and between two grids, the moving footprint on the fixed grid,
the pair that ``sarfeat register`` matches, and the GeoTIFF that ``warp_onto`` writes.

Grids are drawn north-up, turned, south-up (a positive row step) and of other resolutions,
in one CRS; rasters are small and examples few (derandomised), so the file runs in seconds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarfeat import io
from sarfeat.matching.geometry import apply_matrix
from sarfeat.registration import RegistrationError, prepare_pair

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402

from _io_helpers import UTM  # noqa: E402

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def grids(draw, spread: float = 300.0) -> Affine:
    """A geotransform with its origin within ``spread`` m of 500 km E, 5600 km N: any turn
    (quarter turns often), a pixel of 2-30 m, north-up (negative row step) or south-up."""
    turn = draw(st.one_of(st.sampled_from([0.0, 90.0, 180.0, 270.0]), st.floats(-180, 180)))
    size = draw(st.floats(2.0, 30.0))
    south_up = draw(st.booleans())
    origin = (500000 + draw(st.floats(-spread, spread)),
              5600000 + draw(st.floats(-spread, spread)))
    return Affine.translation(*origin) @ Affine.rotation(turn) \
        @ Affine.scale(size, size if south_up else -size)


def sides(low: int = 1, high: int = 30):
    return st.tuples(st.integers(low, high), st.integers(low, high))


def raster(shape, transform, values=None) -> io.Raster:
    data = np.zeros((1,) + tuple(shape), np.float32) if values is None \
        else np.asarray(values, np.float32)[None]
    return io.Raster(data, np.ones(data.shape, bool), crs=UTM, transform=transform)


@FAST
@given(fixed=grids(), moving=grids(), fixed_shape=sides(), moving_shape=sides())
def test_pixel_map_puts_each_fixed_pixel_on_the_moving_pixel_at_its_map_point(
        fixed, moving, fixed_shape, moving_shape):
    """Whatever the two grids (one row or column included): the map point of a fixed pixel
    centre is that of the moving pixel ``pixel_map`` sends it to, and a pixel centre (x, y)
    lies at ``transform * (x + 0.5, y + 0.5)``."""
    one, other = raster(fixed_shape, fixed), raster(moving_shape, moving)
    matrix = io.pixel_map(one, other)
    xy = np.random.default_rng(0).uniform(-5, 35, (12, 2))
    on_map = io.map_coordinates(one, xy)
    np.testing.assert_allclose(io.map_coordinates(other, apply_matrix(matrix, xy)), on_map,
                               atol=1e-6)
    np.testing.assert_allclose(on_map, [fixed @ (x + 0.5, y + 0.5) for x, y in xy], atol=1e-6)
    np.testing.assert_allclose(apply_matrix(io.pixel_map(other, one), apply_matrix(matrix, xy)),
                               xy, atol=1e-6)


@FAST
@given(grid=grids(), shape=sides(), data=st.data(), margin=st.integers(0, 3))
def test_the_footprint_of_a_crop_of_the_fixed_grid_is_that_crop(grid, shape, data, margin):
    """A moving raster on the fixed grid, rows r0:r1 and columns c0:c1 of it, covers exactly
    those (widened by ``margin``, clipped to the fixed image)."""
    r0 = data.draw(st.integers(0, shape[0] - 1))
    r1 = data.draw(st.integers(r0 + 1, shape[0]))
    c0 = data.draw(st.integers(0, shape[1] - 1))
    c1 = data.draw(st.integers(c0 + 1, shape[1]))
    crop = raster((r1 - r0, c1 - c0), grid @ Affine.translation(c0, r0))
    assert io.footprint_window(raster(shape, grid), crop, margin) == (
        max(0, r0 - margin), min(shape[0], r1 + margin),
        max(0, c0 - margin), min(shape[1], c1 + margin))


@settings(FAST, max_examples=15)
@given(fixed=grids(), moving=grids(), fixed_shape=sides(8), moving_shape=sides(8),
       slope=st.tuples(st.floats(-1, 1), st.floats(-1, 1)))
def test_the_matched_pair_is_placed_as_its_georeferencing_says(fixed, moving, fixed_shape,
                                                               moving_shape, slope):
    """``prepare_pair``: the identity between the matched images is the files'
    georeferencing (:meth:`PairInputs.total`), and a moving image brought onto the fixed crop
    reads, at each pixel, the moving file where ``prior`` sends it (a ramp: no bias, and
    within a small fraction of a pixel; half a pixel of another convention would show)."""
    rows, cols = np.mgrid[:moving_shape[0], :moving_shape[1]]
    ramp = 100 + slope[0] * cols + slope[1] * rows
    one, other = raster(fixed_shape, fixed, np.ones(fixed_shape)), raster(moving_shape, moving,
                                                                          ramp)
    try:
        pair = prepare_pair(one, other, margin=0)
    except RegistrationError as error:  # footprints apart: said so, nothing matched
        assert "overlap" in str(error)
        return
    np.testing.assert_allclose(pair.total(np.eye(3)), io.pixel_map(one, other), atol=1e-6)
    if not pair.resampled:
        return
    rows, cols = np.nonzero(np.isfinite(pair.moving_image))
    xy = apply_matrix(pair.prior, np.c_[cols, rows])
    reach = 2 * np.sqrt(abs(np.linalg.det(pair.prior[:2, :2]))) + 1  # GDAL's kernel
    inner = (xy[:, 0] > reach) & (xy[:, 0] < moving_shape[1] - 1 - reach) \
        & (xy[:, 1] > reach) & (xy[:, 1] < moving_shape[0] - 1 - reach)
    error = (pair.moving_image[rows, cols] - 100 - xy @ slope)[inner]
    steep = abs(slope[0]) + abs(slope[1])
    if error.size:
        assert abs(error.mean()) <= 0.03 * steep + 1e-4
        assert np.abs(error).max() <= 0.15 * steep + 1e-4


def _write(path, transform, values, point: bool):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0],
                       width=values.shape[1], count=1, dtype="float32", crs=UTM,
                       transform=transform) as target:
        if point:
            target.update_tags(AREA_OR_POINT="Point")
        target.write(values[None].astype(np.float32))


@settings(FAST, max_examples=10)
@given(fixed=grids(50), moving=grids(50), fixed_shape=sides(4, 16), moving_shape=sides(4, 16),
       points=st.tuples(st.booleans(), st.booleans()), order=st.sampled_from([0, 1]),
       slope=st.tuples(st.floats(-0.1, 0.1), st.floats(-0.1, 0.1)))
def test_the_written_moving_image_lies_on_the_fixed_pixels(tmp_path_factory, fixed, moving,
                                                           fixed_shape, moving_shape, points,
                                                           order, slope):
    """Files of either AREA_OR_POINT (GDAL reads both as pixel-corner geotransforms): the
    moving file warped onto the fixed grid by ``pixel_map`` and written is read back with the
    fixed file's geotransform, and its pixel (row, col) holds the moving value at the map
    point of the fixed pixel (row, col) (a ramp in map coordinates, exact for order 0 at
    pixel centres up to the nearest neighbour's reach)."""
    folder = tmp_path_factory.mktemp("written")
    moving_centres = np.stack(np.meshgrid(np.arange(moving_shape[1]),
                                          np.arange(moving_shape[0])), -1).reshape(-1, 2)
    east_north = io.map_coordinates(raster(moving_shape, moving), moving_centres)
    field = (east_north - (500000, 5600000)) @ slope
    _write(folder / "fixed.tif", fixed, np.ones(fixed_shape), points[0])
    _write(folder / "moving.tif", moving, field.reshape(moving_shape), points[1])
    one, other = io.read_raster(folder / "fixed.tif"), io.read_raster(folder / "moving.tif")
    assert (one.transform, other.transform) == (fixed, moving)
    io.write_raster(folder / "out.tif", io.warp_onto(other, one, io.pixel_map(one, other),
                                                     order=order))
    with warnings.catch_warnings(), rasterio.open(folder / "out.tif") as written:
        assert written.transform.almost_equals(fixed, precision=1e-9)
        assert written.crs == UTM and written.shape == fixed_shape
        values = written.read(1, masked=True)
    centres = np.stack(np.meshgrid(np.arange(fixed_shape[1]),
                                   np.arange(fixed_shape[0])), -1).reshape(-1, 2)
    expected = (io.map_coordinates(one, centres) - (500000, 5600000)) @ slope
    valid = ~np.ma.getmaskarray(values).ravel()
    size = np.sqrt(abs(moving.determinant))  # a moving pixel, in metres
    reach = 0 if order == 1 else size * 0.75 * (abs(slope[0]) + abs(slope[1]))
    np.testing.assert_allclose(values.data.ravel()[valid], expected[valid],
                               atol=reach + 1e-3)
