"""sarfeat.io's pixel maps across resolutions and CRSs, and the one warp: dtype, no-data
and masks kept, bad orders and maps refused."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat import io

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from _io_helpers import GEO, UTM  # noqa: E402


def test_pixel_map_across_resolution_and_crs():
    blank = np.zeros((1, 100, 100))
    fixed = io.Raster(blank, blank == 0, crs=UTM, transform=GEO)
    coarse = io.Raster(blank, blank == 0, crs=UTM,
                       transform=Affine(20.0, 0, 500000.0, 0, -20.0, 5600000.0))
    np.testing.assert_allclose(io.pixel_map(fixed, coarse),
                               [[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]], atol=1e-9)
    wgs84 = CRS.from_epsg(4326)
    lonlat = io.map_coordinates(fixed, np.array([[0.0, 0.0]]), wgs84)[0]
    geographic = io.Raster(blank, blank == 0, crs=wgs84,
                           transform=Affine(1e-4, 0, lonlat[0] - 5e-5, 0, -1e-4, lonlat[1] + 5e-5))
    matrix = io.pixel_map(fixed, geographic)
    np.testing.assert_allclose(matrix[:2, 2], 0, atol=0.02)  # pixel centre (0, 0) on (0, 0)
    points = np.array([[10.0, 90.0], [75.0, 3.0]])
    mapped = io.map_coordinates(fixed, points, wgs84)
    expected = (mapped - [geographic.transform.c, geographic.transform.f]) \
        / [1e-4, -1e-4] - 0.5
    got = points @ matrix[:2, :2].T + matrix[:2, 2]
    np.testing.assert_allclose(got, expected, atol=0.01)


def test_pixel_map_of_a_single_row_or_column_is_not_singular():
    """A raster one row (column) high keeps its row (column) coefficients: sampled on its one
    row, they were left undetermined, 0, and the map singular."""
    for shape in ((1, 30), (30, 1)):
        blank = np.zeros((1,) + shape)
        fixed = io.Raster(blank, blank == 0, crs=UTM, transform=GEO)
        coarse = io.Raster(blank, blank == 0, crs=UTM,
                           transform=Affine(20.0, 0, 500000.0, 0, -20.0, 5600000.0))
        np.testing.assert_allclose(io.pixel_map(fixed, coarse),
                                   [[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]], atol=1e-9)


def test_the_footprint_of_a_crop_of_a_turned_grid_is_that_crop():
    """A moving grid that is rows 3:13, columns 2:14 of a turned fixed grid covers those
    pixels, not one row and column more (rounding of its corners through two geotransforms
    put them a hair past the fixed pixel edges)."""
    turned = Affine.translation(500000.0, 5600000.0) @ Affine.rotation(30) \
        @ Affine.scale(3.0, -3.0)
    fixed = io.Raster(np.zeros((1, 40, 40)), np.ones((1, 40, 40), bool), crs=UTM,
                      transform=turned)
    crop = io.Raster(np.zeros((1, 10, 12)), np.ones((1, 10, 12), bool), crs=UTM,
                     transform=turned @ Affine.translation(2, 3))
    assert io.footprint_window(fixed, crop) == (3, 13, 2, 14)
    assert io.footprint_window(fixed, crop, margin=2) == (1, 15, 0, 16)


def test_warp_raster_keeps_dtype_and_nodata():
    data = np.full((2, 40, 40), 7, np.int16)
    data[:, :, :10] = -9999
    raster = io.Raster(data, data != -9999, nodata=-9999.0)
    shift = np.array([[1, 0, 5.0], [0, 1, 0], [0, 0, 1]])  # output x -> input x + 5
    warped = io.warp_raster(raster, shift, (40, 40))
    assert warped.data.dtype == np.int16 and warped.nodata == -9999.0
    assert (warped.data[:, :, :4] == -9999).all() and (warped.data[:, :, 6:34] == 7).all()
    assert (warped.data[:, :, 36:] == -9999).all()  # beyond the input
    unset = io.warp_raster(io.Raster(data[:1], np.ones((1, 40, 40), bool)), shift, (40, 40))
    assert unset.nodata == np.iinfo(np.int16).min and (unset.data[0, :, 36:] == -32768).all()


@pytest.mark.parametrize("dtype, nodata", [("uint8", 0.0), ("uint16", None), ("int16", 5.0)])
def test_warp_raster_never_writes_a_valid_pixel_on_the_nodata_value(tmp_path, dtype, nodata):
    # a step 0 | 40 overshoots below 0 under cubic; a pixel of 5 or 0 next to 6 or 1 rounds onto
    # the nodata value; each would read back as no-data
    data = np.full((1, 24, 24), 40, dtype)
    data[0, :, :12] = 0 if nodata is None or nodata == 0 else 5
    data[0, :12, :] = 1 if nodata is None or nodata == 0 else 6
    valid = np.ones(data.shape, bool) if nodata is None else data != nodata
    raster = io.Raster(data, valid, nodata=nodata)
    half = np.array([[1, 0, 0.4], [0, 1, 0.3], [0, 0, 1.0]])
    for order in (0, 1, 3):
        for target in (raster, io.Raster(data[:, ::-1].copy(), valid[:, ::-1].copy(), nodata)):
            warped = io.warp_raster(target, half, (24, 24), order=order)
            assert warped.valid.any()
            assert not (warped.data[warped.valid] == warped.nodata).any(), order
            io.write_raster(tmp_path / "out.tif", warped)
            back = io.read_raster(tmp_path / "out.tif")
            np.testing.assert_array_equal(back.valid, warped.valid)
    # the step is toward the valid range: off the dtype's maximum, downward
    top = io.Raster(np.full((1, 8, 8), 255, np.uint8), np.ones((1, 8, 8), bool), nodata=255.0)
    top.data[0, :, :4] = 250
    moved = io.warp_raster(top, half, (8, 8), order=0)
    assert moved.data[moved.valid].max() == 254


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nodata", [-9999.0, 0.0])
def test_warp_raster_never_writes_a_valid_float_pixel_on_the_nodata_value(tmp_path, dtype,
                                                                           nodata):
    from sarfeat.nodata_steps import off_nodata, taken_for_nodata

    # columns either side of nodata, shifted half a pixel: bilinear gives nodata itself;
    # rows 6-7 hold valid values within GDAL's no-data tolerance (-9999.001), 8- far from it
    near = 1e-3 if nodata else 1e-30
    data = np.full((1, 12, 16), nodata + 1, dtype)
    data[0, :, 1::2] = nodata - 1
    data[0, 6, :], data[0, 7, :] = nodata + near, nodata - near
    data[0, 8:] = np.linspace(-50, 50, 64, dtype=dtype).reshape(4, 16)
    raster = io.Raster(data, np.ones(data.shape, bool), nodata=nodata)
    half = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1.0]])

    def nearest_kept(values, side):  # one float each side of nodata, the nearest GDAL keeps
        value = values.ravel()[0]
        assert (values == value).all() and (value - nodata) * side > 0
        nearer = np.nextafter(value, np.array(nodata, dtype))
        return not taken_for_nodata(value, nodata) and taken_for_nodata(nearer, nodata)

    for order, inverse in ((1, half), (3, half), (0, np.eye(3))):
        warped = io.warp_raster(raster, inverse, (12, 16), order=order)
        assert warped.data.dtype == dtype and warped.nodata == nodata
        assert warped.valid[0, :, :-1].all()
        assert not taken_for_nodata(warped.data[warped.valid], nodata).any(), order
        io.write_raster(tmp_path / "out.tif", warped)
        back = io.read_raster(tmp_path / "out.tif")
        np.testing.assert_array_equal(back.valid, warped.valid)
        np.testing.assert_array_equal(back.data, warped.data)
        onto = io.warp_onto(raster, raster, inverse, order=order)
        np.testing.assert_array_equal(onto.data, warped.data)
        np.testing.assert_array_equal(onto.valid, warped.valid)
    assert nearest_kept(io.warp_raster(raster, half, (12, 16)).data[0, :6, :-1], 1)
    moved = io.warp_raster(raster, np.eye(3), (12, 16), order=0).data[0]
    if nodata:  # within the tolerance: out of it, on its own side
        assert nearest_kept(moved[6], 1) and nearest_kept(moved[7], -1)
    np.testing.assert_array_equal(moved[8:], data[0, 8:])  # far from nodata: as it was
    # at the dtype's largest float there is none above: the step is down
    top = np.finfo(dtype).max
    stepped = off_nodata(np.array([top], dtype), np.array([True]), float(top), np.dtype(dtype))
    assert stepped.dtype == dtype and np.nextafter(top, 0) > stepped[0] > top * (1 - 1e-6)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("nodata", [-9999.0, 0.0])
def test_warp_raster_never_writes_a_valid_complex_pixel_on_the_nodata_value(tmp_path, dtype,
                                                                             nodata):
    """GDAL reads a complex pixel as no-data when its real part is the nodata value (within
    the float tolerance), whatever its imaginary part; warp_raster had no step for complex
    rasters, so an SLC pixel whose real part crossed nodata read back as no-data."""
    from sarfeat.nodata_steps import taken_for_nodata

    part = np.finfo(np.dtype(dtype)).dtype
    data = np.full((1, 12, 16), complex(nodata + 1, 2.0), dtype)
    data[0, :, 1::2] = complex(nodata - 1, 4.0)  # bilinear halfway: nodata + 3j
    data[0, 6, :] = complex(nodata + (1e-3 if nodata else 1e-30), -1.0)  # within tolerance
    data[0, 8:] = (np.linspace(-50, 50, 64) + 1j * np.linspace(3, 9, 64)).reshape(4, 16)
    raster = io.Raster(data, np.ones(data.shape, bool), nodata=nodata)
    half = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1.0]])
    for order, inverse in ((1, half), (3, half), (0, np.eye(3))):
        warped = io.warp_raster(raster, inverse, (12, 16), order=order)
        assert warped.data.dtype == dtype and warped.valid[0, :, :-1].all()
        assert not taken_for_nodata(warped.data.real[warped.valid], nodata).any(), order
        io.write_raster(tmp_path / "out.tif", warped)
        back = io.read_raster(tmp_path / "out.tif")
        np.testing.assert_array_equal(back.valid, warped.valid)
        np.testing.assert_array_equal(back.data[back.valid], warped.data[warped.valid])
    # the real part steps to the nearest float kept, on its side; the imaginary part stays
    moved = io.warp_raster(raster, half, (12, 16)).data[0, :6, :-1]
    np.testing.assert_array_equal(moved.imag, 3.0)
    above = np.nextafter(moved.real, part.type(nodata))
    assert (moved.real > nodata).all() and taken_for_nodata(above, nodata).all()
    kept = io.warp_raster(raster, np.eye(3), (12, 16), order=0).data[0]
    np.testing.assert_array_equal(kept[8:], data[0, 8:])  # far from nodata: as it was
    np.testing.assert_array_equal(kept[6].imag, -1.0)


@pytest.mark.parametrize("bands", [1, 0])
def test_warp_raster_checks_the_order_before_any_band(bands):
    raster = io.Raster(np.ones((bands, 8, 8)), np.ones((bands, 8, 8), bool))
    for order in (7, -1, 1.5, "cubic", True):
        with pytest.raises(ValueError, match="order must be a spline order 0-5"):
            io.warp_raster(raster, np.eye(3), (8, 8), order=order)
        with pytest.raises(ValueError, match="order must be a spline order 0-5"):
            io.warp_onto(raster, raster, np.eye(3), order=order)


@pytest.mark.parametrize("bands", [1, 0])  # a raster without bands is checked alike
def test_warp_raster_and_warp_onto_refuse_an_empty_output_and_a_bad_map(bands):
    raster = io.Raster(np.ones((bands, 8, 8)), np.ones((bands, 8, 8), bool))
    with pytest.raises(ValueError, match=r"shape must be .*integers >= 1"):
        io.warp_raster(raster, np.eye(3), (0, 0))
    with pytest.raises(ValueError, match="inverse_map is singular"):
        io.warp_raster(raster, np.zeros((3, 3)), (8, 8))
    with pytest.raises(ValueError, match="NaN or infinite"):
        io.warp_raster(raster, np.full((3, 3), np.nan), (8, 8))
    empty_grid = io.Raster(np.ones((0, 0, 8)), np.ones((0, 0, 8), bool))
    with pytest.raises(ValueError, match=r"grid has no pixels .*\(0, 8\)"):
        io.warp_onto(raster, empty_grid, np.eye(3))


def test_warp_raster_moves_a_bool_mask_by_nearest_neighbour_and_refuses_interpolation():
    mask = np.zeros((1, 40, 40), bool)
    mask[0, 10:20, 12:30] = True
    raster = io.Raster(mask, np.ones_like(mask))
    shift = np.array([[1, 0, 5.0], [0, 1, 2.0], [0, 0, 1]])  # output (x, y) -> (x + 5, y + 2)
    warped = io.warp_raster(raster, shift, (40, 40), order=0)
    assert warped.data.dtype == bool and warped.nodata is None
    expected = np.zeros((40, 40), bool)
    expected[8:18, 7:25] = True
    inside = np.zeros((40, 40), bool)
    inside[:38, :35] = True  # the input reaches output x < 35, y < 38
    np.testing.assert_array_equal(warped.valid[0], inside)
    np.testing.assert_array_equal(warped.data[0], expected & inside)
    with pytest.raises(ValueError, match=r"bool raster \(a mask\).*order=0, not order=1"):
        io.warp_raster(raster, shift, (40, 40))



def _rgba(alpha: np.ndarray) -> io.Raster:
    """An RGBA uint8 picture of ``alpha``, its colour valid where alpha is not 0 (as GDAL
    masks it) and its alpha band valid everywhere."""
    rgb = np.full((3,) + alpha.shape, 50, np.uint8)
    valid = np.concatenate([np.broadcast_to(alpha > 0, rgb.shape), np.ones((1,) + alpha.shape,
                                                                           bool)])
    colours = ("red", "green", "blue", "alpha")
    return io.Raster(np.concatenate([rgb, alpha[None].astype(np.uint8)]), valid,
                     bands=tuple((None, colour) for colour in colours), picture=True)


#: output x reads input x + 0.5
HALF = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1.0]])


@pytest.mark.parametrize("order, expected", [(0, [0, 0, 0, 0, 101, 255, 255, 255, 255, 255, 55]),
                                             (1, [0, 0, 0, 0, 178, 255, 255, 255, 255, 155, 155])])
def test_warp_raster_resamples_a_partial_alpha_as_its_colour(order, expected):
    """An RGBA picture's alpha between 0 and the maximum (anti-aliased edges) is resampled
    as the colour it covers, 0 where the colour is no-data or outside (it was 0 or 255)."""
    alpha = np.full((6, 12), 255)
    alpha[:, :4], alpha[:, 4], alpha[:, 10] = 0, 101, 55
    warped = io.warp_raster(_rgba(alpha), HALF if order else np.eye(3), (6, 12), order=order)
    assert warped.nodata is None and warped.data.dtype == np.uint8
    np.testing.assert_array_equal(warped.data[3, 2, :11], expected)
    assert warped.data[3, 2, 11] == (0 if order else 255)  # outside the input (x 11.5)
    for band in warped.valid:
        np.testing.assert_array_equal(band, warped.data[3] > 0)
    assert (warped.data[:3, warped.data[3] == 0] == 0).all()


def test_warp_raster_never_makes_a_valid_pixel_transparent():
    """A cubic alpha that undershoots to 0 where the colour is valid is written 1, not 0."""
    alpha = np.full((6, 12), 255)
    alpha[:, :4], alpha[:, 4:6] = 0, 1
    warped = io.warp_raster(_rgba(alpha), HALF, (6, 12), order=3)
    assert warped.valid[:, 2, 4].all() and warped.data[3, 2, 4] == 1  # cubic: about -15
