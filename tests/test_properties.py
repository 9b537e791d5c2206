"""Property tests of SARR2D2Detector on random shapes, dtypes, no-data and masks.

Whatever the input, the detector either raises one of its documented errors
(ValueError when no pixel is valid, RuntimeError when no keypoint is found)
or returns consistent arrays whose keypoints lie inside the image and away
from invalid pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from sarfeat import SARR2D2Detector

DTYPES = ("uint8", "uint16", "float32", "float64", "complex64", "int16_db")
PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def detector(naver_net):
    return SARR2D2Detector(naver_net, min_size=64, max_size=256)


# -- input generation ----------------------------------------------------------------------------


def _side(max_side):
    """A side length in 1..max_side, more often large enough for keypoints."""
    return st.one_of(st.integers(1, max_side), st.integers(max(1, max_side // 2), max_side))


def _rectangle(draw, height, width):
    """(row0, row1, col0, col1) of a non-empty rectangle, often small, possibly everything."""
    r0 = draw(st.integers(0, height - 1))
    c0 = draw(st.integers(0, width - 1))
    r1 = r0 + draw(st.one_of(st.integers(1, min(12, height - r0)), st.integers(1, height - r0)))
    c1 = c0 + draw(st.one_of(st.integers(1, min(12, width - c0)), st.integers(1, width - c0)))
    return r0, r1, c0, c1


def _convert(intensity, dtype, rng):
    """Store a positive intensity image as ``dtype`` the way SAR products do."""
    if dtype == "uint8":  # display quick-look of the dB image
        db = 10 * np.log10(intensity)
        low, high = np.percentile(db, [1, 99])
        scaled = (db - low) / (high - low) if high > low else np.zeros_like(db)
        return np.clip(255 * scaled, 0, 255).astype(np.uint8)
    if dtype == "uint16":  # digital numbers; the darkest pixels may round to 0
        return np.clip(intensity * 2000, 0, 65535).astype(np.uint16)
    if dtype == "complex64":  # single-look complex with random phase
        phase = rng.uniform(-np.pi, np.pi, intensity.shape)
        return (np.sqrt(intensity) * np.exp(1j * phase)).astype(np.complex64)
    if dtype == "int16_db":  # decibels times ten, negative for dark pixels
        return np.round(100 * np.log10(intensity)).astype(np.int16)
    return intensity.astype(dtype)


@st.composite
def sar_inputs(draw, cube, max_side=96, nan=True, mask=True):
    """An (image, mask) pair: a real AIRSAR crop or gamma speckle, in one of DTYPES."""
    height = draw(_side(max_side), label="height")
    width = draw(_side(max_side), label="width")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    if draw(st.booleans(), label="real SAR"):
        row = draw(st.integers(0, cube.shape[0] - height))
        col = draw(st.integers(0, cube.shape[1] - width))
        channel = draw(st.integers(0, cube.shape[2] - 1))
        intensity = cube[row:row + height, col:col + width, channel].astype(np.float64)
    else:
        intensity = rng.gamma(1.0, 1.0, (height, width))
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    image = _convert(intensity, dtype, rng)
    if nan and np.issubdtype(image.dtype, np.inexact) and draw(st.booleans(), label="nan"):
        r0, r1, c0, c1 = _rectangle(draw, height, width)
        image[r0:r1, c0:c1] = np.nan
    user_mask = None
    if mask and draw(st.booleans(), label="mask"):
        inside = draw(st.booleans(), label="mask inside")  # True: only the rectangle is usable
        r0, r1, c0, c1 = _rectangle(draw, height, width)
        user_mask = np.full((height, width), not inside)
        user_mask[r0:r1, c0:c1] = inside
    return image, user_mask


def surely_invalid(image, mask):
    """Pixels that are no-data under any reading of the input: non-finite or masked out."""
    magnitude = np.abs(image) if np.iscomplexobj(image) else image.astype(np.float64)
    invalid = ~np.isfinite(magnitude)
    if mask is not None:
        invalid |= ~mask
    return invalid


def maybe_invalid(image, mask):
    """Also the pixels whose logarithm is undefined (<= 0), unless the image is 8-bit display.

    Whether these count as no-data is sarfeat's choice (``nodata=``); a ValueError
    for "no valid pixel" is acceptable only when every pixel is at least maybe invalid.
    """
    invalid = surely_invalid(image, mask)
    if image.dtype != np.uint8:
        magnitude = np.abs(image) if np.iscomplexobj(image) else image.astype(np.float64)
        with np.errstate(invalid="ignore"):
            invalid |= ~(magnitude > 0)
    return invalid


# -- the checks ---------------------------------------------------------------------------------


def check_detection(detector, image, mask):
    """Run detect_and_extract and check the outcome; returns 'ok', 'no valid' or 'no keypoint'."""
    invalid = surely_invalid(image, mask)
    before = image.copy()
    try:
        detector.detect_and_extract(image, mask=mask)
    except ValueError as error:
        assert maybe_invalid(image, mask).all(), f"ValueError with valid pixels left: {error}"
        return "no valid"
    except RuntimeError:
        return "no keypoint"
    finally:
        np.testing.assert_array_equal(image, before)
    assert not invalid.all(), "an image without valid pixels must raise ValueError"

    height, width = image.shape
    keypoints = detector.keypoints
    count = len(keypoints)
    assert count > 0 and keypoints.shape == (count, 2)
    for name in PER_KEYPOINT:
        assert getattr(detector, name).shape == (count,), name
    assert detector.descriptors.shape[0] == count
    assert np.isfinite(detector.descriptors).all()
    assert np.isfinite(keypoints).all()

    rows, cols = keypoints[:, 0], keypoints[:, 1]
    assert rows.min() >= 0 and rows.max() <= height - 1
    assert cols.min() >= 0 and cols.max() <= width - 1
    cell_rows = np.rint(rows).astype(int)
    cell_cols = np.rint(cols).astype(int)
    assert not invalid[cell_rows, cell_cols].any(), "keypoint on an invalid pixel"

    if invalid.any():
        # none within the network's reach (halo, in original pixels of its level); the
        # detector measures it on the level's own grid, so allow one level pixel of rounding
        distance = ndimage.distance_transform_edt(~invalid)[cell_rows, cell_cols]
        level_scale = 32.0 / detector.scales.astype(np.float64)
        level_h = np.maximum(1, np.round(height * level_scale))
        level_w = np.maximum(1, np.round(width * level_scale))
        ratio = np.maximum(height / level_h, width / level_w)
        reach = (detector._runner.halo - 1) * ratio
        assert np.all(distance > reach), "keypoint within the halo of an invalid pixel"
    return "ok"


@pytest.fixture(scope="module")
def outcomes():
    """Counts of outcomes over all examples, to check that most examples find keypoints."""
    return {"ok": 0, "no valid": 0, "no keypoint": 0}


@SETTINGS
@given(data=st.data())
def test_random_images(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    outcomes[check_detection(detector, image, mask)] += 1


@SETTINGS
@given(data=st.data())
def test_random_images_with_nan_and_masks(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube))
    outcomes[check_detection(detector, image, mask)] += 1


@SETTINGS
@given(
    length=st.integers(1, 96),
    vertical=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_lines_and_tiny_images(detector, length, vertical, dtype, seed, outcomes):
    """1xN and Nx1 images, the hardest shapes for pooling and padding."""
    shape = (length, 1) if vertical else (1, length)
    rng = np.random.default_rng(seed)
    image = _convert(rng.gamma(1.0, 1.0, shape), dtype, rng)
    check_detection(detector, image, None)


@SETTINGS
@given(data=st.data())
def test_all_invalid_raises_value_error(detector, airsar_cube, data):
    """All-NaN images and all-False masks raise ValueError, whatever the shape and dtype."""
    image, _ = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    if np.issubdtype(image.dtype, np.inexact) and data.draw(st.booleans(), label="use nan"):
        image = image.copy()
        image[...] = np.nan
        mask = None
    else:
        mask = np.zeros(image.shape, dtype=bool)
    with pytest.raises(ValueError, match="no valid pixel"):
        detector.detect_and_extract(image, mask=mask)


def test_most_examples_find_keypoints(outcomes):
    """Runs after the property tests: the generated images are not all featureless."""
    total = sum(outcomes.values())
    if total == 0:
        pytest.skip("property tests did not run")
    assert outcomes["ok"] >= 0.3 * total, outcomes
