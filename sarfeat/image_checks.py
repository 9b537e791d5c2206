"""The checks every image passes on entering sarfeat, and its one no-data rule.

:func:`check_image` accepts a non-empty 2-D numeric array (complex allowed) and
refuses a path, a :class:`sarfeat.io.Raster` or anything else with a hint on what
to pass; :func:`valid_mask` says which pixels may be used (NaN, infinite, masked,
``nodata`` and user-masked pixels may not); :func:`check_nodata` checks a
``nodata`` value; :func:`unusable_reason` says why an image cannot be matched at
all (no valid pixel, mostly no-data, constant), and :func:`marked_unusable_reason` says it
of an image with its no-data marked NaN already, cheaply; :func:`as_float32` gives the
float32 values sarfeat computes in, refusing values that float32 cannot hold.
:mod:`sarfeat.preprocess` re-exports them all but :func:`marked_unusable_reason` (the
matchers' own).
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .tensor_input import tensor_values

if TYPE_CHECKING:
    import torch

__all__ = ["MIN_VALID_FRACTION", "as_float32", "check_image", "check_nodata",
           "check_numeric_dtype", "marked_unusable_reason", "unusable_reason", "valid_mask"]

#: The least share of valid pixels that :func:`sarfeat.register` takes by default (its
#: ``min_valid_fraction``).
MIN_VALID_FRACTION = 0.05


def check_image(image: ArrayLike | torch.Tensor, name: str = "image") -> np.ndarray:
    """Return ``image`` as an array after checking it is a non-empty 2-D numeric image.

    Parameters
    ----------
    image : array_like or torch.Tensor
        The input (a masked array's mask is not looked at here; a tensor is read
        as :func:`sarfeat.tensor_input.tensor_values` reads it).
    name : str
        How error messages call it.

    Returns
    -------
    ndarray
        A view of the input, never a modified copy.

    Raises
    ------
    ValueError
        For a path, a sarfeat.io.Raster, a ragged sequence, a non-numeric or boolean array,
        or one that is not 2-D or is empty; the message says what to pass instead.
    """
    if isinstance(image, (str, bytes, os.PathLike)):
        raise ValueError(
            f"{name} is a path ({os.fsdecode(image)!r}), not an array: read it first, e.g. "
            "skimage.io.imread(path) or rasterio.open(path).read(1), or use the command "
            "line (python -m sarfeat register FIXED MOVING), which reads files"
        )
    if hasattr(image, "valid") and callable(getattr(image, "band", None)):  # a sarfeat Raster
        raise ValueError(
            f"{name} is a sarfeat.io.Raster, not an array: pass one band (raster.band(0)), or "
            "for two rasters matched with their georeferencing as the prior, "
            "sarfeat.registration.prepare_pair(fixed, moving) and its fixed_image and "
            "moving_image (pair.in_file_pixels(result) gives the result in the files' pixels)"
        )
    try:
        image = np.asarray(tensor_values(image))
    except ValueError as error:  # a ragged nested list
        raise ValueError(f"{name} cannot be read as an array: {error}") from None
    check_numeric_dtype(image.dtype, name)
    if image.ndim != 2:
        hint = ""
        if image.ndim == 3 and image.shape[-1] in (3, 4):
            hint = (" For an RGB(A) quick-look, convert it first, e.g. "
                    "skimage.color.rgb2gray(image[..., :3]).")
        raise ValueError(
            f"expected a 2-D single-channel {name}, got an array of shape {image.shape}.{hint}"
        )
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape}); pass an image with pixels")
    return image


def check_numeric_dtype(dtype: np.dtype, name: str = "image") -> None:
    """Refuse a dtype that is not one of numbers (bool, dates, strings), as :func:`check_image`
    does; files read by :func:`sarfeat.io.read_raster` alike.

    Parameters
    ----------
    dtype : numpy.dtype
        The image's dtype.
    name : str
        How the message calls the image.

    Raises
    ------
    ValueError
        For such a dtype.
    """
    dtype = np.dtype(dtype)
    if dtype == bool or dtype.kind in "mM" or not np.issubdtype(dtype, np.number):
        raise ValueError(f"{name} dtype {dtype} is not supported: pass a numeric array "
                         "(uint8, uint16, float32, float64 or complex)")


def valid_mask(values: ArrayLike, nodata: float | None = None, mask: ArrayLike | None = None
               ) -> np.ndarray:
    """sarfeat's one no-data rule: True on the pixels that may be used.

    A pixel is invalid when it is NaN or infinite (for complex values, when
    either part is), masked (a :class:`numpy.ma.MaskedArray`'s mask), equal to
    ``nodata`` (compared as NumPy compares: a complex pixel equals a real
    ``nodata`` when its real part does and its imaginary part is 0; a NaN
    ``nodata`` adds nothing to the NaN rule), or False in ``mask``. Files read
    by :func:`sarfeat.io.read_raster` add GDAL's reading of their nodata value
    (a complex pixel whose real part equals it, a float within GDAL's tolerance).

    Parameters
    ----------
    values : array_like or numpy.ma.MaskedArray
        Pixel values of any numeric dtype, any shape.
    nodata : float, optional
        The value that marks missing pixels, besides NaN.
    mask : array_like of bool, optional
        Same shape as ``values``; True where pixels may be used.

    Returns
    -------
    valid : ndarray of bool, the shape of ``values``

    Raises
    ------
    ValueError
        For a ``nodata`` that is not one real number (a string, a list, a complex
        number), or a ``mask`` of another shape or of non-numeric values.

    Examples
    --------
    >>> import numpy as np
    >>> valid_mask(np.array([1.0, np.nan, 0.0, np.inf]), nodata=0).tolist()
    [True, False, False, False]
    >>> valid_mask(np.array([1 + 1j, complex(np.nan, 0), 0j])).tolist()
    [True, False, True]
    """
    check_nodata(nodata)
    data = np.ma.getdata(values)
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    valid = np.isfinite(data) if data.dtype.kind in "fc" else np.ones(data.shape, bool)
    if np.ma.isMaskedArray(values):
        valid &= ~np.ma.getmaskarray(values)
    if nodata is not None and not np.isnan(nodata):
        # a no-data value beyond the dtype's range (1e300 for float32 data) casts to inf,
        # which no finite pixel equals: the answer is right, the cast's warning is noise
        with np.errstate(over="ignore"):
            valid &= data != nodata
    if mask is not None:
        valid &= _check_mask(mask, data.shape)
    return valid


def unusable_reason(image: ArrayLike, nodata: float | None = None,
                    min_valid_fraction: float = 0.0) -> str | None:
    """Why ``image`` cannot be matched, worded to follow its name; None when it can.

    The reasons, in this order: no valid pixel (:func:`valid_mask`), fewer valid pixels
    than ``min_valid_fraction`` of them, every valid pixel equal (a constant image: nothing
    to match; a complex image's magnitudes are compared).

    Parameters
    ----------
    image : array_like or numpy.ma.MaskedArray
        The image (a masked array's mask is no-data).
    nodata : float, optional
        The value that marks missing pixels, besides NaN.
    min_valid_fraction : float
        The least share of valid pixels taken (:data:`MIN_VALID_FRACTION`: what
        :func:`sarfeat.register` takes by default).

    Returns
    -------
    str or None
        For example ``"is constant (every valid pixel equals 0): there is nothing to
        match"``.

    Examples
    --------
    >>> import numpy as np
    >>> unusable_reason(np.zeros((4, 4)))
    'is constant (every valid pixel equals 0): there is nothing to match'
    >>> unusable_reason(np.eye(4)) is None
    True
    """
    valid = valid_mask(image, nodata)

    def extremes():  # of the valid pixels, without a copy of them
        values = np.asarray(np.ma.getdata(image))
        values = np.abs(values) if np.iscomplexobj(values) else values
        info = np.iinfo(values.dtype) if np.issubdtype(values.dtype, np.integer) else \
            np.finfo(values.dtype)
        return (np.min(values, where=valid, initial=info.max),
                np.max(values, where=valid, initial=info.min))

    return _worded(float(valid.mean()), min_valid_fraction, extremes)


def marked_unusable_reason(marked: np.ndarray, valid_fraction: float,
                           min_valid_fraction: float = 0.0) -> str | None:
    """What :func:`unusable_reason` says of an image whose no-data is marked NaN already,
    when the share of its valid pixels is known: no mask of the image is made.

    Parameters
    ----------
    marked : ndarray
        The image, NaN on every pixel that is not valid and on no other (infinite pixels
        NaN too; :func:`sarfeat.matching.inputs.nodata_marked_valid` gives it so).
    valid_fraction : float
        The share of its pixels that are valid, exactly (not rounded).
    min_valid_fraction : float
        As :func:`unusable_reason` takes it.

    Returns
    -------
    str or None
        :func:`unusable_reason` ``(marked, None, min_valid_fraction)``, word for word. A
        complex image is handed to it (its magnitudes would be a full-size copy).

    Examples
    --------
    >>> marked_unusable_reason(np.array([[np.nan, 2.0], [2.0, 2.0]]), 0.75)
    'is constant (every valid pixel equals 2): there is nothing to match'
    """
    if np.iscomplexobj(marked):
        return unusable_reason(marked, None, min_valid_fraction)
    # NaN-ignoring extremes, reduced in place: no boolean mask of a large image
    return _worded(float(valid_fraction), min_valid_fraction,
                   lambda: (np.fmin.reduce(marked, axis=None),
                            np.fmax.reduce(marked, axis=None)))


def _worded(fraction: float, min_valid_fraction: float, extremes) -> str | None:
    """:func:`unusable_reason`'s words for an image with ``fraction`` of its pixels valid and
    ``extremes()`` (the least and greatest valid value, worked out only when needed)."""
    if fraction == 0:
        return "has no valid pixel (all NaN, infinite, masked or equal to nodata)"
    if fraction < min_valid_fraction:
        return (f"is mostly no-data: only {100 * fraction:.1f} % of its pixels are valid "
                f"(finite, not masked, not nodata), less than the {100 * min_valid_fraction:.0f}"
                " % required (min_valid_fraction of sarfeat.register, --min-valid-fraction on "
                "the command line)")
    low, high = extremes()
    if low == high:
        return f"is constant (every valid pixel equals {low:g}): there is nothing to match"
    return None


def check_nodata(nodata: object) -> None:
    """Raise ValueError unless ``nodata`` is None or one real number (NaN allowed).

    Parameters
    ----------
    nodata : object
        What was given as ``nodata``.

    Examples
    --------
    >>> check_nodata(0), check_nodata(None), check_nodata(np.float32(-9999))
    (None, None, None)
    """
    if nodata is None:
        return
    value = np.asarray(nodata)
    if value.ndim != 0 or value.dtype.kind not in "iuf":
        raise ValueError(f"nodata must be one real number (the value that marks missing "
                         f"pixels) or None, got {nodata!r}")


def as_float32(raw: np.ndarray) -> np.ndarray:
    """float32 values of ``raw`` (the amplitude of complex data), always a copy.

    Parameters
    ----------
    raw : ndarray
        Numeric values, complex too.

    Returns
    -------
    ndarray
        float32, of ``raw``'s shape.

    Raises
    ------
    ValueError
        When finite values lie beyond float32's range: they would become
        infinite, and so no-data, silently; or when nonzero values are too small
        for float32 (below about 1e-45): they would become 0, and an image of
        such values a flat one.
    """
    raw = np.ma.getdata(raw)
    magnitude = np.abs(raw) if np.iscomplexobj(raw) else raw
    with np.errstate(over="ignore"):
        values = magnitude.astype(np.float32)
    if raw.dtype.itemsize > 4 or np.iscomplexobj(raw):
        overflow = np.isinf(values)
        if overflow.any() and np.isfinite(magnitude[overflow]).any():
            top = float(np.max(np.abs(magnitude[overflow]), initial=0.0,
                               where=np.isfinite(magnitude[overflow])))
            raise ValueError(
                f"image values reach {top:.3g}, beyond float32's range "
                f"({np.finfo(np.float32).max:.3g}), in which sarfeat computes: scale the "
                "data down (for example to dB, or divided by a power of ten) before passing it"
            )
        _refuse_underflow(magnitude, values)
    return values


def _refuse_underflow(magnitude: np.ndarray, values: np.ndarray) -> None:
    """Raise ValueError when nonzero ``magnitude`` values became 0 in float32 ``values``."""
    zero = values == 0
    if not zero.any():
        return
    lost = magnitude[zero]
    lost = np.abs(lost[lost != 0])
    if lost.size:
        raise ValueError(
            f"{lost.size} image values (the largest {lost.max():.3g}) are below float32's "
            f"smallest positive value ({np.finfo(np.float32).smallest_subnormal:.3g}), in "
            "which sarfeat computes, and would become 0: scale the data up (for example to "
            "dB, or multiplied by a power of ten) before passing it"
        )


def _check_mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(tensor_values(mask))
    if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
        raise ValueError(f"mask dtype {mask.dtype} is not supported: pass booleans")
    if mask.dtype.kind in "fc" and np.isnan(mask).any():  # NaN is True to astype(bool)
        raise ValueError("mask has NaN values: pass booleans, True where pixels may be used "
                         "(NaN in the image itself marks no-data)")
    if mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {shape}")
    return mask.astype(bool)
