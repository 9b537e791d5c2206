"""The value map of :func:`sarfeat.preprocess.normalize_sar`: perceptual scale, then [0, 1].

Steps 4 and 5 of :mod:`sarfeat.preprocess`'s documentation, as parts that the
whole-image normalisation and the window-by-window one
(:mod:`sarfeat.windowed_scaling`) share, so that both give the same values bit for
bit: the regular sample of valid pixels the statistics are taken on
(:func:`valid_sample`), the robust stretch's bounds (:func:`stretch_bounds`), the
perceptual scale of each input kind (:func:`perceptual`) and the map to [0, 1]
(:func:`to_unit`); :func:`resolve_input_kind` decides ``'auto'`` on the same sample.
"""

from __future__ import annotations

import numpy as np

from .input_kinds import auto_input_kind, check_input_kind

__all__ = ["PERCENTILE_SAMPLE", "STRETCH_PERCENTILES", "perceptual", "resolve_input_kind",
           "stretch_bounds", "to_unit", "valid_sample"]

#: Percentiles of the valid pixels mapped to 0 and 1 by the robust stretch.
STRETCH_PERCENTILES = (1.0, 99.0)
#: At most this many pixels are used to estimate the stretch percentiles.
PERCENTILE_SAMPLE = 1 << 20


def valid_sample(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """At most about ``PERCENTILE_SAMPLE`` valid values, on a regular stride (no full copy).

    Parameters
    ----------
    values : ndarray, shape (H, W)
        The image's values.
    valid : ndarray of bool, shape (H, W), or None
        Valid pixels; None when all are.

    Returns
    -------
    ndarray
        Every ``step``-th value of the row-major image that is valid, ``step`` being
        ``max(1, size // PERCENTILE_SAMPLE)``; every valid value when the stride
        misses them all.
    """
    step = max(1, values.size // PERCENTILE_SAMPLE)
    sample = values.ravel()[::step]
    sample = sample if valid is None else sample[valid.ravel()[::step]]
    if sample.size == 0 and valid is not None:  # the stride missed every valid pixel
        sample = values[valid]
    return sample


def stretch_bounds(sample: np.ndarray) -> tuple[np.float32, np.float32]:
    """(low, scale) of the robust stretch from a sample of valid (perceptual) values.

    Parameters
    ----------
    sample : ndarray
        Valid values, after :func:`perceptual`.

    Returns
    -------
    low, scale : numpy.float32
        ``low`` is the 1st percentile, ``scale`` one over the distance to the 99th (the
        minimum and maximum when those two are equal; a scale of 0 for a flat sample).
    """
    low, high = np.percentile(sample, STRETCH_PERCENTILES)
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
    scale = 1.0 / (high - low) if high > low else 0.0
    return np.float32(low), np.float32(scale)


def perceptual(values: np.ndarray, kind: str, floor: np.float32 | None, divisor: float | None
               ) -> None:
    """Step 4 of :mod:`sarfeat.preprocess`'s documentation, in place on float32 values.

    Parameters
    ----------
    values : ndarray of float32
        Changed in place.
    kind : str
        The input kind (never ``'auto'``).
    floor : numpy.float32 or None
        For intensity and amplitude: the value smaller ones are raised to before dB.
    divisor : float or None
        For display images: what the values are divided by
        (:func:`sarfeat.input_kinds.display_divisor`).
    """
    if kind in ("intensity", "amplitude"):
        np.maximum(values, floor, out=values)  # NaN stays NaN; masked zeros give no -inf
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log10(values, out=values)
        values *= 10.0
    elif kind == "display" and divisor == 32767:  # img_as_int: back to the 8-bit level k / 255
        values *= np.float32(255 / 32767)
        np.rint(values, out=values)
        values /= np.float32(255)
    elif kind == "display":
        values /= np.float32(divisor)


def to_unit(values: np.ndarray, kind: str, low: np.float32, scale: np.float32) -> np.ndarray:
    """Step 5, in place: the robust stretch by (low, scale), or a clip for display images.

    Parameters
    ----------
    values : ndarray of float32
        After :func:`perceptual`; changed in place.
    kind : str
        As for :func:`perceptual`.
    low, scale : numpy.float32
        The stretch (:func:`stretch_bounds`); not used for display images.

    Returns
    -------
    ndarray
        ``values``, in [0, 1] (NaN stays NaN).
    """
    if kind != "display":
        with np.errstate(invalid="ignore"):  # invalid pixels (refilled later) may be inf
            values -= low
            values *= scale
    with np.errstate(invalid="ignore"):
        return np.clip(values, 0.0, 1.0, out=values)


def resolve_input_kind(image: np.ndarray, input_kind: str, valid: np.ndarray | None = None
                       ) -> str:
    """``input_kind``, with ``'auto'`` decided from the values of ``image``.

    Parameters
    ----------
    image : ndarray
        Real or complex values.
    input_kind : str
        One of :data:`sarfeat.input_kinds.INPUT_KINDS`.
    valid : ndarray of bool, optional
        The pixels whose values decide (default: all).

    Returns
    -------
    str
        ``input_kind``, or for ``'auto'`` the kind that the values show.
    """
    check_input_kind(input_kind)
    if input_kind != "auto":
        return input_kind
    if np.iscomplexobj(image):
        return "intensity"
    sample = valid_sample(image, valid)
    if np.issubdtype(sample.dtype, np.floating):
        sample = sample[np.isfinite(sample)]
    return auto_input_kind(sample)
