"""sarfeat.io: one reader with no-data and georeferencing, one gray rule, atomic writers."""

from __future__ import annotations

import os
import pickle
import re
import stat
import warnings

import numpy as np
import pytest
import tifffile
from skimage.color import rgb2gray
from skimage.io import imsave

from sarfeat import io
from sarfeat.data import load_sar_scene

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

UTM = CRS.from_epsg(32633)
GEO = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)


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
    monkeypatch.setattr(io, "rasterio_or_none", lambda: None)
    with pytest.raises(io.RasterError, match=r"sarfeat\[geotiff\]"):
        io.read_raster(tmp_path / "geo.tif")
    image = io.read_image(plain)  # GDAL's nodata tag is still honoured
    assert np.isnan(image[:3]).all() and np.isfinite(image[3:]).all()
    raster = io.Raster(values[None], np.ones((1, 64, 80), bool), crs=UTM, transform=GEO)
    with pytest.raises(io.RasterError, match="geotiff"):
        io.write_raster(tmp_path / "out.tif", raster)
    assert not (tmp_path / "out.tif").exists()


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


def test_write_geotiff_is_tiled_compressed_and_keeps_dtype(tmp_path):
    data = np.arange(2 * 300 * 280, dtype=np.int16).reshape(2, 300, 280)
    raster = io.Raster(data, data > 5, nodata=-1.0, crs=UTM, transform=GEO)
    note = io.write_raster(tmp_path / "o.tif", raster)
    assert "tiled" in note
    with rasterio.open(tmp_path / "o.tif") as written:
        assert written.block_shapes[0] == (256, 256)
        assert written.compression.name.lower() == "deflate"
        assert written.dtypes == ("int16", "int16") and written.nodata == -1
        assert written.crs == UTM and written.transform == GEO
        np.testing.assert_array_equal(written.read(), data)


def test_writing_into_a_missing_folder_names_it(tmp_path):
    """No folder is made; the error names the missing folder (it was tempfile's error, on a
    random temporary name)."""
    raster = io.Raster(np.ones((1, 4, 4)), np.ones((1, 4, 4), bool))
    missing = tmp_path / "no" / "such"
    for suffix in (".npy", ".tif", ".png"):
        with pytest.raises(FileNotFoundError, match=re.escape(f"the folder '{missing}' does not exist")):
            io.write_raster(missing / f"out{suffix}", raster)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=re.escape(f"'{tmp_path / 'file'}' is not a folder")):
        io.write_raster(tmp_path / "file" / "out.npy", raster)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as temporary:
            temporary.write_bytes(b"new but incomplete")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.npy"]


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


def test_outputs_honour_the_umask(tmp_path):
    raster = io.Raster(np.ones((1, 8, 8), np.float32), np.ones((1, 8, 8), bool))
    previous = os.umask(0o027)
    try:
        for name in ("a.tif", "a.npy", "a.png"):
            io.write_raster(tmp_path / name, raster)
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name
    finally:
        os.umask(previous)
    (tmp_path / "a.npy").chmod(0o604)  # a file that is replaced keeps its mode
    io.write_raster(tmp_path / "a.npy", raster)
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o604


def test_temporaries_are_named_and_those_of_dead_writers_removed(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    stale = tmp_path / f".x.tif{io.TEMPORARY_MARK}{host}-{dead}-abc_12.tif"
    alive = tmp_path / f".y.tif{io.TEMPORARY_MARK}{host}-{os.getpid()}-abc_12.tif"
    other = tmp_path / f".z.tif{io.TEMPORARY_MARK}elsewhere-{dead}-abc_12.tif"
    for path in (stale, alive, other):
        path.write_bytes(b"partial")
    io.write_raster(tmp_path / "out.npy", io.Raster(np.ones((1, 4, 4)), np.ones((1, 4, 4), bool)))
    assert not stale.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["out.npy"]


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


def test_uint16_display_is_16_bit_png_and_8_bit_jpeg(tmp_path):
    data = np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64) * 15
    raster = io.Raster(data, np.ones(data.shape, bool))
    assert "uint16" in io.write_raster(tmp_path / "a.png", raster)
    assert io.read_raster(tmp_path / "a.png").data.dtype == np.uint16
    assert "JPG uint8" in io.write_raster(tmp_path / "a.jpg", raster)  # JPEG has no 16 bits
    assert io.read_raster(tmp_path / "a.jpg").data.dtype == np.uint8


@pytest.mark.parametrize("nodata", [-9999.0, -1.5])
def test_without_rasterio_a_plain_tiff_keeps_its_nodata(tmp_path, monkeypatch, nodata):
    monkeypatch.setattr(io, "rasterio_or_none", lambda: None)
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
    monkeypatch.setattr(io, "rasterio_or_none", lambda: None)
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


def test_float16_is_written_to_tiff_as_float32(tmp_path):
    data = np.linspace(0, 100, 2 * 30 * 40, dtype=np.float16).reshape(2, 30, 40)
    data[:, 0] = np.nan
    assert "float32" in io.write_raster(tmp_path / "half.tif", io.Raster(data, ~np.isnan(data)))
    back = io.read_raster(tmp_path / "half.tif")
    np.testing.assert_array_equal(back.data, data.astype(np.float32))


@pytest.mark.parametrize(("dtype", "suffix", "stored"), [
    (np.float16, ".tif", np.float32), (np.float16, ".npy", np.float16),
    (np.float32, ".tif", np.float32), (np.complex64, ".tif", np.complex64),
    (np.float16, ".png", np.uint8), (np.float32, ".jpg", np.uint8),
    (np.uint16, ".png", np.uint16), (np.uint16, ".jpg", np.uint8), (np.uint8, ".png", np.uint8)])
def test_written_dtype_is_what_the_file_holds(tmp_path, dtype, suffix, stored):
    data = (np.arange(30 * 40).reshape(1, 30, 40) % 200 + 1).astype(dtype)
    raster = io.Raster(data, np.ones(data.shape, bool))
    assert io.written_dtype(raster, tmp_path / f"a{suffix.upper()}") == stored
    io.write_raster(tmp_path / f"a{suffix}", raster)
    assert io.read_raster(tmp_path / f"a{suffix}").data.dtype == stored


def test_integer_values_are_rounded_into_the_dtype_whatever_the_nodata_value():
    """An integer raster is rounded and clipped into its dtype's range with a finite nodata
    value, without one and with a NaN one (a file may declare NaN for an integer band)."""
    from sarfeat.nodata_steps import off_nodata

    values, good = np.array([300.6, -5.2, 12.5, 13.4]), np.ones(4, bool)
    for nodata in (None, float("nan")):
        np.testing.assert_array_equal(off_nodata(values, good, nodata, np.uint8),
                                      [255, 0, 12, 13])
    np.testing.assert_array_equal(off_nodata(values, good, 13.0, np.uint8), [255, 0, 12, 14])
