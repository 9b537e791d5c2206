"""What the property tests share (test_properties*.py): the derandomised settings, and
random SAR inputs (shapes, dtypes, no-data, masks) with the rules for which pixels are
invalid."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DTYPES = ("uint8", "uint16", "float32", "float64", "complex64", "int16_db")
# derandomised: every run (CI's included) draws the same examples
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


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
