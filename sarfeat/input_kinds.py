"""The input kinds of :func:`sarfeat.normalize_sar`, and what ``'auto'`` decides.

What the pixel values of an image are, among ``INPUT_KINDS``:
``'intensity'`` or ``'amplitude'`` (linear SAR), ``'db'`` (already
logarithmic) or ``'display'`` (an 8/16-bit or [0, 1] picture); see
:mod:`sarfeat.preprocess` for what each kind does to the values.

``input_kind='auto'`` decides from the values, never from the dtype, on (a
regular sample of) the valid pixels, in this order:

1. complex data is ``'intensity'``;
2. data whose values are all integers in [0, 255], or all multiples of 1/255
   in [0, 1], or 8-bit levels scaled to 16 bits (``skimage.img_as_uint``,
   ``skimage.img_as_int``), is ``'display'``: an 8-bit picture, given as
   uint8, as float 0-255, as float 0-1 (``skimage.img_as_float``) or as
   16-bit integers, gives the same result;
3. data with a negative median is ``'db'``;
4. data with a heavy right tail, ``(p99 - p50) > 1.5 (p50 - p1)`` (percentiles
   of the nonzero values: zeros are most often no-data, or the fill around a
   warped picture), is ``'intensity'``: linear SAR intensity and amplitude have
   it (speckle is multiplicative; measured 1.8-60 on single scenes, 1.2-1.5 only
   on homogeneous multi-look speckle), perceptual scales do not (0.4-1.2 for dB
   images and photographs). Noise-subtracted intensity, whose negative values
   are small next to its bright tail, is intensity, not dB;
5. anything else within [0, 1] is ``'display'``; the rest (dB, or another
   perceptual scale) is ``'db'``.

Ambiguous cases are decided by these rules alone: a uint8 or uint16 image
holding only values 0-255 is a display image even if it was linear amplitude;
a picture with a heavy right tail (mostly dark, a few bright spots) that is not
8-bit quantised is taken as linear intensity. Pass ``input_kind`` explicitly
when you know it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INPUT_KINDS", "LINEAR_TAIL", "InputKind", "auto_input_kind", "check_input_kind",
           "display_divisor", "pair_input_kind"]

INPUT_KINDS = ("auto", "intensity", "amplitude", "db", "display")
InputKind = str

#: ``(p99 - p50) / (p50 - p1)`` above which ``'auto'`` takes values as linear intensity.
LINEAR_TAIL = 1.5


def check_input_kind(input_kind: str) -> None:
    """Raise ValueError unless ``input_kind`` is one of ``INPUT_KINDS``.

    Parameters
    ----------
    input_kind : str
        What was given.
    """
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"unknown input_kind {input_kind!r}; choose one of {INPUT_KINDS}")


def display_divisor(sample: np.ndarray) -> float:
    """What a display image is divided by to reach [0, 1]: 1, 255, 32767 or 65535.

    Parameters
    ----------
    sample : ndarray
        Valid values of the display image.

    Returns
    -------
    float
        By the largest value; 32767 for 8-bit levels scaled to int16's range
        (``skimage.img_as_int`` of a uint8 picture), 65535 for other 16-bit values (the
        largest value itself beyond).
    """
    top = float(sample.max()) if sample.size else 1.0
    if top <= 1:
        return 1.0
    if top <= 255:
        return 255.0
    return _sixteen_bit_white(sample) or (65535.0 if top <= 65535 else top)


def _sixteen_bit_white(sample: np.ndarray) -> float | None:
    """The white of 8-bit levels given as 16-bit integers, or None when they are not.

    65535 for k * 257 (``skimage.img_as_uint`` of a uint8 picture), tried first;
    32767 for round(k * 32767 / 255) (``skimage.img_as_int``). Non-negative
    integers only.
    """
    high = sample.max()
    if sample.min() < 0 or high > 65535 or not np.all(sample == np.round(sample)):
        return None
    values = sample.astype(np.float64)
    if np.all(values % 257 == 0):
        return 65535.0
    levels = values * (255.0 / 32767)
    # rounded to the unit: at most half a unit, 0.5 * 255 / 32767 levels, from a level
    if high <= 32767 and np.all(np.abs(levels - np.round(levels)) <= 0.5 * 255 / 32767 + 1e-9):
        return 32767.0
    return None


def _eight_bit(sample: np.ndarray) -> bool:
    """Whether every value is an 8-bit level, whatever the dtype it was converted to.

    An integer in [0, 255]; k / 255 in [0, 1] (``img_as_float``); k * 257 in
    [0, 65535] (``img_as_uint``); round(k * 32767 / 255) in [0, 32767]
    (``img_as_int``).
    """
    low, high = sample.min(), sample.max()
    if low < 0:
        return False
    if high > 255:  # a uint8 picture converted to 16 bits
        return _sixteen_bit_white(sample) is not None
    if np.all(sample == np.round(sample)):
        return True
    if high > 1:
        return False
    levels = sample.astype(np.float64) * 255
    # level 0 is 0 itself: a value near it but not 0 (intensity in small units) is no level
    return bool(np.all(np.abs(levels - np.round(levels)) < 1e-3)
                and not np.any((np.round(levels) == 0) & (sample != 0)))


def auto_input_kind(sample: np.ndarray) -> str:
    """The input kind ``'auto'`` picks for real values (see the module documentation).

    Parameters
    ----------
    sample : ndarray
        Finite, valid, real values of the image (a sample is enough).

    Returns
    -------
    str
        ``'display'``, ``'db'`` or ``'intensity'``.
    """
    sample = np.asarray(sample).ravel()
    if sample.size == 0:
        return "intensity"
    if _eight_bit(sample):
        return "display"
    # zeros are left out of the percentiles: an image's no-data or the fill around a
    # warped picture is not part of its distribution of values
    nonzero = sample[sample != 0]
    if nonzero.size:
        sample = nonzero
    p1, p50, p99 = np.percentile(sample.astype(np.float64), (1.0, 50.0, 99.0))
    if p50 < 0:
        return "db"
    if p99 - p50 > LINEAR_TAIL * (p50 - p1):
        return "intensity"
    return "display" if sample.min() >= 0 and sample.max() <= 1 else "db"


def pair_input_kind(input_kind: str, fixed: object, moving: object) -> str:
    """The input kind of a pair as ``sarfeat register`` matches it: ``'display'`` for
    ``'auto'`` and two uint8 images, ``input_kind`` otherwise.

    A uint8 image is an 8-bit picture (not where its file gives it a scale or
    offset: :attr:`sarfeat.io.Raster.scaled`); brought onto the other's grid
    (:func:`sarfeat.registration.prepare_pair`), its values are no longer 8-bit levels, which
    ``'auto'`` would read as linear SAR.

    Parameters
    ----------
    input_kind : str
        As given (``--input-kind``).
    fixed, moving : sarfeat.io.Raster or array_like
        The two images, as read (before any band is chosen or resampled).

    Returns
    -------
    str
        ``'display'`` or ``input_kind``.

    Examples
    --------
    >>> import numpy as np
    >>> picture = np.zeros((4, 4), np.uint8)
    >>> pair_input_kind("auto", picture, picture), pair_input_kind("auto", picture, 1.0 * picture)
    ('display', 'auto')
    """
    # a raster whose file scales or offsets its bands is matched in its physical values
    dtypes = {np.dtype(np.float32) if getattr(image, "scaled", False)
              else np.asarray(getattr(image, "data", image)).dtype for image in (fixed, moving)}
    return "display" if input_kind == "auto" and dtypes == {np.dtype(np.uint8)} else input_kind
