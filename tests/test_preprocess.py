"""Tests of sarfeat.preprocess.normalize_sar: range, input kinds, no-data and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sarfeat.preprocess import INPUT_KINDS, normalize_sar


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
