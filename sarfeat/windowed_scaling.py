"""The normalisation of :func:`sarfeat.preprocess.normalize_sar`, window by window.

:func:`sar_scaling` reads an image in bands of rows and returns its value map as
numbers (:class:`SARScaling`); :meth:`SARScaling.apply` then gives any window
exactly the values :func:`~sarfeat.preprocess.normalize_sar` gives it in the
whole image, and :class:`ScaledImage` is an image normalised that way on slicing.
:func:`sample_scaling` is the part of :func:`sar_scaling` that turns the image's
regular sample into those numbers, for an image read another way (by
:func:`sarfeat.parallel.detect_tiled`'s workers). :mod:`sarfeat.preprocess`
re-exports all four.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .image_checks import as_float32, check_image, check_nodata, valid_mask
from .input_kinds import InputKind, check_input_kind, display_divisor
from .value_scale import perceptual, resolve_input_kind, stretch_bounds, to_unit
from . import value_scale

__all__ = ["SARScaling", "ScaledImage", "sample_scaling", "sar_scaling", "scaling_sample"]

#: Pixels of the input read at once when :func:`sar_scaling` passes over a whole image.
_SCAN_PIXELS = 1 << 22


@dataclass(frozen=True)
class SARScaling:
    """The value map of :func:`normalize_sar` for one image, as numbers.

    :meth:`apply` gives, for any window of the image, exactly the values
    :func:`normalize_sar` gives there for the whole image, with NaN on invalid
    pixels (instead of the filled values), so a large image can be normalised
    window by window without a full-size float copy.

    Each field is documented at its declaration.
    """

    kind: str
    """str: the input kind applied (never ``'auto'``)."""
    nodata: float | None = None
    """float or None: the no-data value besides NaN."""
    floor: np.float32 | None = None
    """numpy.float32 or None: the smallest positive valid value (intensity, amplitude)."""
    divisor: float | None = None
    """float or None: the display divisor."""
    low: np.float32 | None = None
    """numpy.float32 or None: the robust stretch's low end (``(v - low) * scale``; not for
    display)."""
    scale: np.float32 | None = None
    """numpy.float32 or None: the robust stretch's factor (``(v - low) * scale``; not for
    display)."""

    def apply(self, window) -> np.ndarray:
        """(h, w) float32 values in [0, 1] of a window of the image; NaN where invalid."""
        raw = np.asarray(window)
        values = as_float32(raw)
        valid = valid_mask(raw, self.nodata)
        perceptual(values, self.kind, self.floor, self.divisor)
        values = to_unit(values, self.kind, self.low, self.scale)
        values[~valid] = np.nan
        return values


def sar_scaling(image: ArrayLike, input_kind: InputKind = "auto", nodata: float | None = None
                ) -> SARScaling | None:
    """The value map :func:`normalize_sar` would apply to ``image``, in bounded memory.

    The image is read in bands of rows (at most a few million pixels of float32
    at a time) and on the regular sample :func:`normalize_sar` uses.

    Parameters
    ----------
    image : array_like
        A 2-D SAR image, as for :func:`normalize_sar`.
    input_kind : str
        What its values are, as for :func:`normalize_sar`.
    nodata : float, optional
        A value that marks no-data, as for :func:`normalize_sar`.

    Returns
    -------
    SARScaling or None
        None in the rare case that needs every valid pixel (the sample holds no
        valid pixel): then use :func:`normalize_sar`.

    Raises
    ------
    ValueError
        As :func:`normalize_sar` (a bad image or ``input_kind``, no valid pixel).

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.preprocess import normalize_sar, sar_scaling
    >>> speckle = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64))
    >>> scaling = sar_scaling(speckle)
    >>> window = scaling.apply(speckle[8:40, 5:9])
    >>> bool(np.array_equal(window, normalize_sar(speckle).image[8:40, 5:9]))
    True
    """
    raw = check_image(image)
    check_input_kind(input_kind)
    check_nodata(nodata)
    any_valid, all_valid, floor = False, True, np.float32(np.inf)
    rows = max(1, _SCAN_PIXELS // raw.shape[1])
    for top in range(0, raw.shape[0], rows):
        band = raw[top:top + rows]
        values = as_float32(band)
        valid = valid_mask(band, nodata)
        any_valid |= bool(valid.any())
        all_valid &= bool(valid.all())
        floor = min(floor, np.min(values, where=valid & (values > 0), initial=np.inf))
    if not any_valid:
        raise ValueError(
            "image has no valid pixel (all NaN, equal to nodata, or masked out); "
            "check the data, the mask and nodata"
        )
    picked = scaling_sample(raw)
    floor = floor if np.isfinite(floor) else None
    return sample_scaling(picked, valid_mask(picked, nodata), floor, input_kind, nodata)


def scaling_sample(image: np.ndarray) -> np.ndarray:
    """The pixels of ``image`` that :func:`sar_scaling` (and :func:`normalize_sar`) sample:
    every ``max(1, size // PERCENTILE_SAMPLE)``-th pixel of the row-major image
    (:data:`sarfeat.value_scale.PERCENTILE_SAMPLE`), as it holds them.

    Parameters
    ----------
    image : (H, W) ndarray
        The image (its data: a masked array's mask is not read).

    Returns
    -------
    (n,) ndarray
        The sample, in the image's dtype.
    """
    raw = np.ma.getdata(image)
    step = max(1, raw.size // value_scale.PERCENTILE_SAMPLE)
    flat = np.arange(0, raw.size, step)
    return raw[flat // raw.shape[1], flat % raw.shape[1]]


def sample_scaling(sample: np.ndarray, valid: np.ndarray, floor: np.float32 | None,
                   input_kind: InputKind = "auto", nodata: float | None = None
                   ) -> SARScaling | None:
    """The value map of an image from its regular sample and its smallest positive value.

    What :func:`sar_scaling` computes once it has read the image, for a caller that
    gathers these numbers another way (:func:`sarfeat.parallel.detect_tiled`, block by
    block on its workers).

    Parameters
    ----------
    sample : (n,) ndarray
        The pixels :func:`normalize_sar` samples, as the image holds them (complex
        stays complex): every ``max(1, size // PERCENTILE_SAMPLE)``-th pixel of the
        row-major image (:data:`sarfeat.value_scale.PERCENTILE_SAMPLE`).
    valid : (n,) ndarray of bool
        The valid pixels of ``sample`` (:func:`~sarfeat.preprocess.valid_mask`).
    floor : numpy.float32 or None
        The smallest positive valid value of the whole image (of its amplitude, for
        complex data); None where it has none.
    input_kind : str
        As for :func:`sar_scaling`.
    nodata : float, optional
        As for :func:`sar_scaling`.

    Returns
    -------
    SARScaling or None
        None where ``sample`` holds no valid pixel.
    """
    values = as_float32(sample)
    chosen = values if valid.all() else values[valid]
    if chosen.size == 0:
        return None
    # the sample is under 2 * PERCENTILE_SAMPLE pixels: resolve_input_kind takes it whole
    kind = resolve_input_kind(sample if np.iscomplexobj(sample) else values, input_kind, valid)
    if kind == "display":
        return SARScaling(kind, nodata, divisor=display_divisor(chosen))
    if kind not in ("intensity", "amplitude"):
        floor = None
    elif floor is None:  # no positive valid value: 1, as normalize_sar takes
        floor = np.float32(1.0)
    perceptual(chosen, kind, floor, None)
    low, scale = stretch_bounds(chosen)
    return SARScaling(kind, nodata, floor=floor, low=low, scale=scale)


class ScaledImage:
    """A lazily normalised image, sliced through :meth:`~sarfeat.preprocess.SARScaling.apply`.

    Holds the input and its :class:`SARScaling`, never a normalised copy;
    ``shape`` and 2-D slicing (``image[r0:r1, c0:c1]``) are all it offers,
    and ``numpy.asarray`` normalises the whole image.
    """

    def __init__(self, raw: np.ndarray, scaling: SARScaling) -> None:
        self.raw, self.scaling = raw, scaling
        self.shape = raw.shape
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __getitem__(self, key) -> np.ndarray:
        return self.scaling.apply(self.raw[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.scaling.apply(self.raw)
        return values if dtype is None else values.astype(dtype)
