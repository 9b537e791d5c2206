"""Property tests of what reads SAR inputs: ``normalize_sar``, sarfeat.io's round trip, the
warp by whole pixels and the one no-data rule, on random shapes, dtypes, no-data and masks."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from _property_helpers import SETTINGS, sar_inputs, surely_invalid


# -- normalize_sar ----------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), nodata=st.sampled_from([None, 0.0]), masked=st.booleans())
def test_normalize_sar_properties(airsar_cube, data, nodata, masked):
    """[0, 1] float32 out, the input untouched, or ValueError only when nothing is valid."""
    from sarfeat import normalize_sar
    from sarfeat.preprocess import INPUT_KINDS

    image, mask = data.draw(sar_inputs(airsar_cube))
    kind = data.draw(st.sampled_from(INPUT_KINDS), label="input_kind")
    if masked:
        image = np.ma.masked_array(image, mask=np.zeros(image.shape, bool))
        image.mask[: image.shape[0] // 3] = True
    before = np.ma.getdata(image).copy()
    try:
        result = normalize_sar(image, kind, mask=mask, nodata=nodata)
    except ValueError as error:
        assert "no valid pixel" in str(error)
        return
    finally:
        np.testing.assert_array_equal(np.ma.getdata(image), before)
    assert result.image.dtype == np.float32 and result.image.shape == image.shape
    assert np.isfinite(result.image).all()
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.kind in INPUT_KINDS and result.kind != "auto"
    if result.valid is not None:
        invalid = ~result.valid
        assert surely_invalid(np.ma.getdata(image), mask)[~np.ma.getmaskarray(image)].sum() \
            <= invalid.sum()
        if result.large_invalid is not None:
            assert not (result.large_invalid & result.valid).any()


# -- sarfeat.io and the one warp -------------------------------------------------------------

IO_DTYPES = ("uint8", "int16", "uint16", "float32", "float64", "complex64")


@st.composite
def rasters(draw, max_side=40):
    """A 1-3 band raster of a random dtype with NaN, a nodata value or neither."""
    from sarfeat.io import Raster
    from sarfeat.preprocess import valid_mask

    dtype = np.dtype(draw(st.sampled_from(IO_DTYPES), label="dtype"))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, max_side)),
             draw(st.integers(1, max_side)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    values = rng.gamma(1.0, 50.0, shape)
    if dtype.kind == "c":
        values = values * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    data = values.astype(dtype)
    holes = rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.6]))
    nodata = draw(st.sampled_from([None, 0.0, "nan"] if dtype.kind in "fc" else [None, 0.0]))
    if nodata == "nan":
        nodata = float("nan")
        data[holes] = np.nan
    elif nodata is not None:
        data[holes] = 0
    return Raster(data, valid_mask(data, nodata), nodata)


@SETTINGS
@given(raster=rasters(), suffix=st.sampled_from([".tif", ".npy"]))
def test_io_round_trip_keeps_values_dtype_and_no_data(tmp_path_factory, raster, suffix):
    """What is written is read back: dtype, valid pixels and their values (complex too)."""
    from sarfeat import io

    folder = tmp_path_factory.mktemp("io")
    data_before = raster.data.copy()
    io.write_raster(folder / f"r{suffix}", raster)
    back = io.read_raster(folder / f"r{suffix}")
    np.testing.assert_array_equal(raster.data, data_before)  # the input is untouched
    assert back.data.dtype == raster.data.dtype and back.data.shape == raster.data.shape
    if suffix == ".tif":  # .npy keeps no nodata value: NaN alone marks no-data there
        np.testing.assert_array_equal(back.valid, raster.valid)
    np.testing.assert_array_equal(back.data[raster.valid], raster.data[raster.valid])
    band = back.band(0)
    assert band.dtype == (raster.data.dtype if back.valid[0].all()
                          else np.result_type(raster.data.dtype, np.float32))
    assert [p.name for p in folder.iterdir()] == [f"r{suffix}"]  # no temporary left


@SETTINGS
@given(raster=rasters(), dx=st.integers(-5, 5), dy=st.integers(-5, 5),
       order=st.sampled_from([0, 1, 3]))
def test_warp_raster_by_whole_pixels_moves_the_pixels(raster, dx, dy, order):
    """A whole-pixel shift moves every valid pixel unchanged, in every dtype and order."""
    from sarfeat import io

    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])  # output (x, y) reads (x+dx, y+dy)
    warped = io.warp_raster(raster, shift, raster.shape, order=order)
    assert warped.data.dtype == raster.data.dtype
    rows, cols = raster.shape
    start = max(0, -dx)  # the output columns that read an input column, clamped when |dx| >= cols
    out_cols = slice(start, max(start, min(cols, cols - dx)))
    in_cols = slice(out_cols.start + dx, out_cols.stop + dx)
    for index in range(raster.count):
        for r in range(max(0, -dy), min(rows, rows - dy)):
            source_valid = raster.valid[index, r + dy, in_cols]
            out_valid = warped.valid[index, r, out_cols]
            assert not (out_valid & ~source_valid).any()  # no-data never becomes data
            # at whole pixels the interpolation reads one pixel: data stays data
            np.testing.assert_array_equal(out_valid, source_valid)
            kept = out_valid
            expected = raster.data[index, r + dy, in_cols][kept]
            if expected.dtype.kind in "iu":  # a valid value on the nodata moves off it
                expected = np.where(expected == warped.nodata,
                                    expected + (1 if warped.nodata < 1 else -1), expected)
            np.testing.assert_array_equal(warped.data[index, r, out_cols][kept], expected)
    # pixels that come from outside the input are no-data
    if dy > 0:
        assert not warped.valid[:, rows - dy:].any()
    if dx < 0:
        assert not warped.valid[:, :, :min(cols, -dx)].any()


@SETTINGS
@given(data=st.data())
def test_one_no_data_rule_for_nan_nodata_masks_and_masked_arrays(data):
    """NaN, a nodata value, a mask and a masked array mark the same pixels, complex or not."""
    from sarfeat.geometry import warp
    from sarfeat.preprocess import valid_mask

    dtype = data.draw(st.sampled_from(["float32", "float64", "complex64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = (data.draw(st.integers(2, 40)), data.draw(st.integers(2, 40)))
    values = (rng.gamma(1.0, 1.0, shape) + 0.1).astype(dtype)
    holes = rng.random(shape) < data.draw(st.sampled_from([0.0, 0.05, 0.5, 1.0]))
    with_nan = np.where(holes, np.nan, values)
    with_nodata = np.where(holes, -1, values).astype(dtype)
    masked = np.ma.masked_array(values, mask=holes)
    expected = ~holes
    for valid in (valid_mask(with_nan), valid_mask(with_nodata, -1), valid_mask(masked),
                  valid_mask(values, mask=~holes)):
        np.testing.assert_array_equal(valid, expected)
    matrix = np.array([[1, 0.1, data.draw(st.floats(-3, 3))],
                       [-0.1, 1, data.draw(st.floats(-3, 3))], [0, 0, 1.0]])
    reference = warp(with_nan, matrix, shape)
    for other in (warp(with_nodata, matrix, shape, nodata=-1), warp(masked, matrix, shape),
                  warp(values, matrix, shape, valid=~holes)):
        np.testing.assert_array_equal(np.isnan(other), np.isnan(reference))
        np.testing.assert_allclose(other, reference, equal_nan=True, rtol=1e-6)
