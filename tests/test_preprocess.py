"""Tests of sarfeat.preprocess.normalize_sar: range, input kinds, no-data and errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from sarfeat.preprocess import INPUT_KINDS, ScaledImage, normalize_sar, sar_scaling


@pytest.fixture(scope="module")
def speckle():
    """A 64x64 float64 intensity image of positive speckle with some structure."""
    rng = np.random.default_rng(42)
    ramp = np.linspace(1.0, 20.0, 64)[None, :] * np.ones((64, 1))
    return ramp * rng.gamma(1.0, 1.0, (64, 64))


def _check_range(result):
    assert result.image.dtype == np.float32
    assert np.all(np.isfinite(result.image))
    assert result.image.min() >= 0.0
    assert result.image.max() <= 1.0


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64, np.complex64]
)
def test_output_is_float32_in_unit_range(dtype, speckle):
    """Every supported dtype ends up as float32 values in [0, 1]."""
    image = (speckle * 10).astype(dtype)
    result = normalize_sar(image)
    _check_range(result)
    assert result.image.shape == image.shape
    assert result.kind in INPUT_KINDS and result.kind != "auto"


def test_stretch_uses_the_full_range(speckle):
    """The robust stretch maps the bulk of the data onto [0, 1], both ends reached."""
    result = normalize_sar(speckle, "intensity")
    assert result.image.min() == 0.0
    assert result.image.max() == 1.0
    assert result.valid is None


def test_intensity_and_amplitude_agree(speckle):
    """An intensity image and its square root (amplitude) normalise identically."""
    from_intensity = normalize_sar(speckle, "intensity").image
    from_amplitude = normalize_sar(np.sqrt(speckle), "amplitude").image
    np.testing.assert_allclose(from_intensity, from_amplitude, atol=1e-5)


def test_auto_treats_float_as_intensity(speckle):
    """Positive float data defaults to the intensity (dB) conversion."""
    auto = normalize_sar(speckle)
    assert auto.kind == "intensity"
    np.testing.assert_array_equal(auto.image, normalize_sar(speckle, "intensity").image)


def test_auto_takes_tiny_intensity_for_intensity_not_black_pixels(speckle):
    """Intensity in small units (below 1/255000) is not an 8-bit picture of zeros."""
    for gain in (1e-8, 1e-12, 1e-20):
        tiny = normalize_sar(speckle * np.float32(gain))
        assert tiny.kind == "intensity", gain
        np.testing.assert_allclose(tiny.image, normalize_sar(speckle).image, atol=1e-5)
    assert normalize_sar(np.zeros((8, 8), np.float32) + np.eye(8, dtype=np.float32) / 255
                         ).kind == "display"


def test_auto_leaves_zeros_out_of_the_tail_rule(speckle):
    """A picture warped onto a zero fill stays a picture; SAR with zero no-data stays SAR."""
    from skimage import data, transform

    camera = data.camera().astype(np.float32) / 255
    warped = transform.warp(camera, transform.AffineTransform(
        scale=(1.3, 1.1), rotation=0.5, translation=(0, -200))).astype(np.float32)
    assert np.mean(warped == 0) > 0.2  # the fill that made it look heavy-tailed
    assert normalize_sar(camera).kind == "display"
    assert normalize_sar(warped).kind == "display"
    with_nodata = speckle.copy()
    with_nodata[:, :24] = 0
    assert normalize_sar(with_nodata).kind == "intensity"


def test_auto_treats_negative_values_as_db(speckle):
    """Real data that is mostly negative is taken as already logarithmic (dB)."""
    db = 10 * np.log10(speckle / 100)  # backscatter in dB is mostly below 0
    assert np.mean(db < 0) > 0.5
    result = normalize_sar(db)
    assert result.kind == "db"
    # a stretch of the dB image equals the stretch after the intensity conversion
    np.testing.assert_allclose(result.image, normalize_sar(speckle, "intensity").image, atol=1e-5)


def test_auto_keeps_noise_subtracted_intensity(speckle):
    """A few negative values (thermal-noise subtraction) do not make an image dB."""
    image = speckle.copy()
    image[::16, ::16] = -0.01
    assert normalize_sar(image).kind == "intensity"


def test_complex_uses_amplitude(speckle):
    """Complex data is normalised through its modulus, whatever the phase."""
    rng = np.random.default_rng(1)
    amplitude = np.sqrt(speckle)
    phase = rng.uniform(-np.pi, np.pi, speckle.shape)
    slc = (amplitude * np.exp(1j * phase)).astype(np.complex64)
    from_complex = normalize_sar(slc, "amplitude").image
    from_modulus = normalize_sar(amplitude.astype(np.float32), "amplitude").image
    np.testing.assert_allclose(from_complex, from_modulus, atol=1e-5)
    # 'auto' on complex behaves like intensity/amplitude (same after the stretch)
    np.testing.assert_allclose(normalize_sar(slc).image, from_modulus, atol=1e-5)


def test_nan_and_inf_are_invalid(speckle):
    """NaN and inf become invalid pixels with a finite fill value; the input is untouched."""
    image = speckle.copy()
    image[0, 0] = np.nan
    image[5, 6] = np.inf
    image[7, 1] = -np.inf
    before = image.copy()
    result = normalize_sar(image, "intensity")
    _check_range(result)
    assert result.valid is not None and result.valid.dtype == bool
    expected = np.ones(image.shape, dtype=bool)
    expected[[0, 5, 7], [0, 6, 1]] = False
    np.testing.assert_array_equal(result.valid, expected)
    np.testing.assert_array_equal(image, before)  # NaN compare equal here


@pytest.mark.parametrize("kind", ["intensity", "amplitude"])
def test_nonpositive_are_dark_not_missing(speckle, kind):
    """Zero and negative intensities are the darkest valid pixels, not no-data."""
    image = speckle.copy()
    image[1, 2] = 0.0
    image[3, 4] = -5.0
    result = normalize_sar(image, kind)
    _check_range(result)
    assert result.valid is None
    assert result.image[1, 2] == result.image[3, 4] == result.image.min()
    with pytest.raises(ValueError, match="no valid pixel"):
        normalize_sar(np.zeros((8, 8)), kind, nodata=0)


@pytest.mark.parametrize("kind", ["intensity", "amplitude"])
def test_nonpositive_give_finite_output(speckle, kind):
    """Whatever their validity, zero and negative values never give NaN or inf."""
    image = speckle.copy()
    image[1, 2] = 0.0
    image[3, 4] = -5.0
    _check_range(normalize_sar(image, kind))


def test_nodata_value_is_invalid(speckle):
    """``nodata`` marks a fill value (0 outside a Sentinel-1 swath) as missing."""
    image = speckle.astype(np.float32)
    image[:, :5] = 0.0
    result = normalize_sar(image, nodata=0)
    _check_range(result)
    expected = np.ones(image.shape, dtype=bool)
    expected[:, :5] = False
    np.testing.assert_array_equal(result.valid, expected)
    # the fill does not take part in the stretch
    reference = normalize_sar(speckle.astype(np.float32), mask=expected)
    np.testing.assert_allclose(result.image[expected], reference.image[expected], atol=1e-6)


def test_db_keeps_nonpositive_values_valid(speckle):
    """In dB, zero and negative numbers are ordinary values, only NaN is no-data."""
    db = 10 * np.log10(speckle)
    db[2, 2] = np.nan
    result = normalize_sar(db, "db")
    assert not result.valid[2, 2]
    assert result.valid.sum() == db.size - 1


def test_mask_is_honoured(speckle):
    """Pixels outside the user mask are invalid and do not change the stretch."""
    mask = np.ones(speckle.shape, dtype=bool)
    mask[:10, :] = False
    image = speckle.copy()
    image[:10, :] = 1e6  # would move the stretch if it were used
    result = normalize_sar(image, "intensity", mask=mask)
    np.testing.assert_array_equal(result.valid, mask)
    _check_range(result)
    # valid pixels equal those of the image without the outliers under the same mask
    reference = normalize_sar(speckle, "intensity", mask=mask)
    np.testing.assert_allclose(result.image[mask], reference.image[mask], atol=1e-6)


def test_mask_accepts_integers(speckle):
    """A 0/1 integer mask works like a boolean one."""
    mask = np.ones(speckle.shape, dtype=np.uint8)
    mask[5:9, 5:9] = 0
    result = normalize_sar(speckle, mask=mask)
    np.testing.assert_array_equal(result.valid, mask.astype(bool))


def test_mask_shape_mismatch_raises(speckle):
    with pytest.raises(ValueError, match="mask"):
        normalize_sar(speckle, mask=np.ones((3, 3), dtype=bool))


def test_uint8_auto_is_display():
    """uint8 quick-looks are divided by 255 and not stretched."""
    rng = np.random.default_rng(3)
    image = rng.integers(10, 200, (32, 48)).astype(np.uint8)
    result = normalize_sar(image)
    assert result.kind == "display"
    np.testing.assert_allclose(result.image, image / 255.0, atol=1e-6)
    assert result.valid is None


def test_uint16_display_divides_by_dtype_max():
    image = np.array([[0, 1000], [65535, 30000]], dtype=np.uint16)
    result = normalize_sar(image, "display")
    np.testing.assert_allclose(result.image, image / 65535.0, atol=1e-6)


@pytest.mark.parametrize("kind", ["auto", "intensity", "amplitude", "db", "display"])
def test_all_nan_raises(kind):
    with pytest.raises(ValueError, match="no valid pixel"):
        normalize_sar(np.full((8, 8), np.nan), kind)


def test_all_masked_raises(speckle):
    with pytest.raises(ValueError, match="no valid pixel"):
        normalize_sar(speckle, mask=np.zeros(speckle.shape, dtype=bool))


def test_bool_dtype_raises():
    with pytest.raises(ValueError, match="dtype"):
        normalize_sar(np.ones((8, 8), dtype=bool))


def test_non_numeric_raises():
    with pytest.raises(ValueError):
        normalize_sar(np.array([["a", "b"], ["c", "d"]]))


def test_rgb_raises_with_hint():
    """A 3-channel quick-look is rejected with a pointer to rgb2gray."""
    with pytest.raises(ValueError, match="rgb2gray"):
        normalize_sar(np.ones((16, 16, 3), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(16,), (2, 3, 4, 5), (4, 4, 2)])
def test_non_2d_raises(shape):
    with pytest.raises(ValueError, match="2-D"):
        normalize_sar(np.ones(shape))


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_empty_raises(shape):
    with pytest.raises(ValueError, match="empty"):
        normalize_sar(np.ones(shape))


def test_unknown_kind_raises(speckle):
    with pytest.raises(ValueError, match="input_kind"):
        normalize_sar(speckle, "linear")


def test_constant_image_is_finite():
    """A flat image gives a finite, constant output instead of a division by zero."""
    result = normalize_sar(np.full((8, 8), 3.0))
    _check_range(result)
    assert np.ptp(result.image) == 0


def test_input_not_modified(speckle):
    image = speckle.astype(np.float32)
    image[4:8, 4:8] = np.nan
    before = image.copy()
    normalize_sar(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("how", ["mask", "nodata"])
def test_flat_valid_pixels_with_zero_fill_warn_nothing(how):
    """Constant valid pixels next to a zero fill give a constant result without warnings."""
    image = np.array([[0.0, 5.0, 5.0], [5.0, 5.0, 5.0]])
    kwargs = {"mask": image > 0} if how == "mask" else {"nodata": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = normalize_sar(image, **kwargs)
    _check_range(result)
    assert not result.valid[0, 0]


# -- input_kind='auto' decides from the values ----------------------------------------------------


@pytest.fixture(scope="module")
def airsar_hh(airsar_cube):
    return np.ascontiguousarray(airsar_cube[:, :, 0])


def _display(intensity):
    """An 8-bit quick-look of a SAR intensity image (its stretched dB)."""
    db = 10 * np.log10(intensity)
    low, high = np.percentile(db, [1, 99])
    return np.clip(255 * (db - low) / (high - low), 0, 255).astype(np.uint8)


def test_display_image_same_whatever_the_dtype(airsar_hh):
    """uint8, float 0-255 and float 0-1 (img_as_float) of one picture normalise alike."""
    from skimage.util import img_as_float, img_as_float32

    picture = _display(airsar_hh)
    reference = normalize_sar(picture)
    assert reference.kind == "display"
    for same in (picture.astype(np.float32), picture.astype(np.float64),
                 picture.astype(np.uint16), img_as_float(picture), img_as_float32(picture)):
        result = normalize_sar(same)
        assert result.kind == "display", same.dtype
        np.testing.assert_allclose(result.image, reference.image, atol=1e-6)


def test_float_photograph_in_unit_range_is_display():
    """A float picture in [0, 1] that is not 8-bit quantised (rgb2gray) is not logged."""
    from skimage import color
    from skimage import data as skdata

    gray = color.rgb2gray(skdata.astronaut())
    result = normalize_sar(gray)
    assert result.kind == "display"
    np.testing.assert_allclose(result.image, gray, atol=1e-6)


@pytest.mark.parametrize("channel", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_intensity_and_amplitude_recognised(airsar_cube, channel, dtype):
    """Real SAR intensity and amplitude, even in [0, 1], are logged (heavy right tail)."""
    intensity = airsar_cube[:, :, channel].astype(dtype)
    scaled = intensity / intensity.max()  # calibrated sigma0 often lies in [0, 1]
    for linear in (intensity, np.sqrt(intensity), scaled, np.sqrt(scaled)):
        assert normalize_sar(linear).kind == "intensity"
    expected = normalize_sar(intensity, "intensity").image
    np.testing.assert_allclose(normalize_sar(np.sqrt(scaled)).image, expected, atol=1e-4)


def test_noise_subtracted_intensity_is_not_db(airsar_hh):
    """A third of the values negative after noise removal: still intensity, not dB."""
    noise = np.percentile(airsar_hh, 45)
    subtracted = airsar_hh - noise
    assert 0.3 < np.mean(subtracted < 0) < 0.5
    assert normalize_sar(subtracted).kind == "intensity"
    assert normalize_sar(10 * np.log10(airsar_hh)).kind == "db"
    # decibels of a scene whose median is positive (uncalibrated DN) are still not linear
    assert normalize_sar(10 * np.log10(airsar_hh * 1e4)).kind == "db"


# -- no-data ----------------------------------------------------------------------------------


def test_masked_array_mask_is_honoured(speckle):
    """The masked values (here huge) neither enter the stretch nor count as valid."""
    data = speckle.copy()
    data[10:20, 10:20] = 1e12
    masked = np.ma.masked_array(data, mask=data > 1e11)
    with_nan = speckle.copy()
    with_nan[10:20, 10:20] = np.nan
    result = normalize_sar(masked)
    expected = normalize_sar(with_nan)
    np.testing.assert_array_equal(result.valid, expected.valid)
    np.testing.assert_allclose(result.image, expected.image, atol=1e-6)
    assert not result.valid[15, 15]


def test_isolated_invalid_pixels_are_filled_from_neighbours(speckle):
    """Scattered NaN/inf are filled near their neighbours' mean; only large holes are 'large'."""
    image = np.tile(np.linspace(1.0, 100.0, 64), (64, 1))  # a smooth ramp
    image[5, 40] = np.nan
    image[30, 10] = np.inf
    image[50, 50] = -np.inf
    image[20:30, 20:30] = np.nan  # a large hole
    result = normalize_sar(image)
    clean = normalize_sar(np.tile(np.linspace(1.0, 100.0, 64), (64, 1)))
    for row, col in ((5, 40), (30, 10), (50, 50)):
        assert not result.valid[row, col]
        assert not result.large_invalid[row, col]
        assert abs(result.image[row, col] - clean.image[row, col]) < 0.02
    assert result.large_invalid[20:30, 20:30].all()
    assert result.large_invalid.sum() == 100


def test_no_large_invalid_without_holes(speckle):
    image = speckle.copy()
    image[::9, ::7] = np.nan  # 1.6 % of the pixels, all isolated
    result = normalize_sar(image)
    assert result.large_invalid is None and result.valid.sum() < image.size


# -- input checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["missing.tif", Path("scene.tif")])
def test_path_is_refused_with_a_hint(path):
    with pytest.raises(ValueError, match=r"path.*imread"):
        normalize_sar(path)


def test_register_refuses_a_path():
    from sarfeat import register

    with pytest.raises(ValueError, match=r"fixed image.*path.*imread"):
        register("missing.tif", np.ones((64, 64)))


def test_mask_of_strings_is_refused(speckle):
    with pytest.raises(ValueError, match="mask dtype"):
        normalize_sar(speckle, mask=np.full(speckle.shape, "no"))


def test_a_mask_with_nan_is_refused_not_taken_as_all_valid(speckle):
    """``np.where(keep, 1.0, np.nan)`` as a mask: NaN cast to bool is True, so every
    pixel was used and the mask silently ignored."""
    keep = np.zeros(speckle.shape, bool)
    keep[:, : speckle.shape[1] // 2] = True
    with pytest.raises(ValueError, match="mask has NaN"):
        normalize_sar(speckle, mask=np.where(keep, 1.0, np.nan))
    kept = normalize_sar(speckle, mask=np.where(keep, 1.0, 0.0))
    np.testing.assert_array_equal(kept.valid, keep)



@pytest.mark.parametrize("nodata", ["0", [0, 1], 1j, True])
def test_nodata_that_is_not_one_real_number_is_refused(speckle, nodata):
    # '0' failed in np.isnan; a list was broadcast along the columns; 1j compared complex
    from sarfeat.geometry import warp
    from sarfeat.preprocess import valid_mask

    for call in (lambda: normalize_sar(speckle, nodata=nodata),
                 lambda: sar_scaling(speckle, nodata=nodata),
                 lambda: valid_mask(speckle[:, :2], nodata),
                 lambda: warp(speckle, np.eye(3), (8, 8), nodata=nodata)):
        with pytest.raises(ValueError, match="nodata must be one real number"):
            call()



def test_a_ragged_list_is_named():  # numpy's "setting an array element with a sequence"
    from sarfeat import register

    with pytest.raises(ValueError, match="^image cannot be read as an array"):
        normalize_sar([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="^fixed image: image cannot be read as an array"):
        register([[1.0, 2.0], [3.0]], np.ones((8, 8)))

def test_nodata_of_numpy_scalars_and_nan_is_accepted(speckle):
    from sarfeat.preprocess import valid_mask

    image = speckle.copy()
    image[0, 0] = 0
    assert not valid_mask(image, np.float32(0))[0, 0]
    assert valid_mask(image, np.nan)[0, 0]
    assert valid_mask(image, np.array(0)).sum() == image.size - 1

# -- window by window: sar_scaling and ScaledImage --------------------------------------------


def _scaled_cases():
    rng = np.random.default_rng(3)
    shape = (300, 257)
    intensity = rng.gamma(1.0, 1.0, shape).astype(np.float32)
    intensity[rng.random(shape) < 0.01] = np.nan
    intensity[100:180, 50:120] = np.nan
    intensity[:, :2] = 0  # dark pixels, raised to the smallest positive value
    picture = np.clip(rng.normal(120, 40, shape), 0, 255).astype(np.uint8)
    complex_ = (intensity * np.exp(1j * rng.random(shape))).astype(np.complex64)
    return [
        ("auto", intensity, None), ("amplitude", np.sqrt(intensity), None),
        ("db", 10 * np.log10(np.abs(np.nan_to_num(intensity)) + 1e-3), None),
        ("auto", picture, 0), ("auto", rng.gamma(1.0, 300.0, shape).astype(np.uint16), None),
        ("auto", complex_, None), ("auto", picture / 255.0, None),
    ]


@pytest.mark.parametrize("case", range(7))
def test_scaled_windows_are_the_whole_images_values(case):
    kind, image, nodata = _scaled_cases()[case]
    whole = normalize_sar(image, kind, nodata=nodata)
    expected = whole.image.copy()
    if whole.valid is not None:
        expected[~whole.valid] = np.nan
    scaling = sar_scaling(image, kind, nodata=nodata)
    assert scaling.kind == whole.kind
    lazy = ScaledImage(image, scaling)
    assert lazy.shape == image.shape
    for window in ((slice(0, 37), slice(5, 99)), (slice(13, 200), slice(None)),
                   (slice(223, 300), slice(31, 250)), (slice(3, 4), slice(3, 4))):
        values = lazy[window]
        assert values.dtype == np.float32
        np.testing.assert_array_equal(values, expected[window])
    np.testing.assert_array_equal(np.asarray(lazy), expected)


def test_sar_scaling_refuses_what_normalize_sar_refuses():
    with pytest.raises(ValueError, match="no valid pixel"):
        sar_scaling(np.full((20, 20), np.nan))
    with pytest.raises(ValueError, match="unknown input_kind"):
        sar_scaling(np.ones((20, 20)), "linear")


# -- issue 19: one no-data rule, no silent change ------------------------------------------------


def test_valid_mask_is_one_rule_for_every_input():
    from sarfeat.preprocess import valid_mask

    real = np.array([[1.0, np.nan, 0.0, np.inf, -9999.0]])
    assert valid_mask(real).tolist() == [[True, False, True, False, True]]
    assert valid_mask(real, nodata=-9999).tolist() == [[True, False, True, False, False]]
    assert valid_mask(real, nodata=np.nan).tolist() == valid_mask(real).tolist()
    complex_ = np.array([1 + 1j, complex(np.nan, 1), complex(1, np.inf), 0j, 5 + 0j])
    assert valid_mask(complex_, nodata=0).tolist() == [True, False, False, False, True]
    assert valid_mask(complex_, nodata=5).tolist() == [True, False, False, True, False]
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])
    assert valid_mask(masked, mask=[True, True, False]).tolist() == [True, False, False]
    assert valid_mask(np.array([0, 255], np.uint8), nodata=0).tolist() == [False, True]
    # normalize_sar applies the same rule: a complex nodata-like amplitude is not no-data
    amplitude_five = np.full((16, 16), 5 + 0j)
    amplitude_five[0] = 3j + 4  # |3j + 4| == 5, but it is not the value 5
    amplitude_five[1] = np.linspace(1, 9, 16)
    assert normalize_sar(amplitude_five, nodata=5).valid[0].all()


def test_time_arrays_and_float32_overflow_are_refused():
    with pytest.raises(ValueError, match="timedelta64"):
        normalize_sar(np.arange(64 * 64).reshape(64, 64).astype("timedelta64[s]"))
    with pytest.raises(ValueError, match="datetime64"):
        normalize_sar(np.arange(64 * 64).reshape(64, 64).astype("datetime64[s]"))
    huge = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64)) * 1e39  # beyond float32
    with pytest.raises(ValueError, match="beyond float32's range"):
        normalize_sar(huge)
    with pytest.raises(ValueError, match="beyond float32's range"):
        sar_scaling(huge)
    # within float32's range, float64 values are used as they are
    assert normalize_sar(huge / 1e10).valid is None


def test_float64_values_too_small_for_float32_are_refused_not_called_flat():
    # an intensity image in absurd units: its values all became 0 in float32, and the
    # detector said the image was flat
    from sarfeat.detector_input import prepare_image

    tiny = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64)) * 1e-50
    for refuse in (normalize_sar, sar_scaling, prepare_image):
        with pytest.raises(ValueError, match="(?s)below float32's smallest positive value"
                                             ".*scale the data up"):
            refuse(tiny)
    with pytest.raises(ValueError, match="scale the data up"):
        normalize_sar(tiny * (1 + 1j))
    # scaled up into float32's range they are used as they are, and zeros stay zeros
    scaled = tiny * 1e10
    scaled[0] = 0.0
    assert normalize_sar(scaled).kind == "intensity"


def test_a_nodata_value_beyond_the_dtype_marks_nothing_and_warns_nothing():
    # 1e300 cannot be a float32 pixel: no pixel is no-data, and the cast says nothing
    from sarfeat.preprocess import valid_mask

    image = np.array([[1.0, 2.0], [3.0, np.inf]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        valid = valid_mask(image, nodata=1e300)
    np.testing.assert_array_equal(valid, [[True, True], [True, False]])


def test_normalize_sar_holds_no_mask_of_positive_values_while_it_fills_no_data():
    import tracemalloc

    rng = np.random.default_rng(0)
    valid = np.ones((3000, 2500), bool)
    valid[:, :700] = False  # outside a footprint, and 3000 isolated holes
    valid[rng.integers(0, 3000, 3000), rng.integers(0, 2500, 3000)] = False
    image = rng.gamma(1.0, 1.0, valid.shape).astype(np.float32)
    image[~valid] = np.nan
    tracemalloc.start()
    try:
        normalized = normalize_sar(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # its values (4 bytes a pixel), the valid mask and fill_invalid's masks and sample: the
    # mask of the positive values, held to the end, made it 10.2 bytes a pixel
    assert peak < 9.6 * valid.size
    np.testing.assert_array_equal(normalized.valid, valid)
