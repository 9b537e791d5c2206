"""SAR input checking and normalisation to [0, 1].

Every image that enters sarfeat passes through :func:`normalize_sar`. What it
does, in order:

1. check that the input is a non-empty 2-D numeric array (complex allowed) and
   never modify it; a file path is refused with a hint on how to read it;
2. take the amplitude of complex data;
3. mark no-data: NaN and infinite values, the mask of a
   :class:`numpy.ma.MaskedArray`, pixels equal to ``nodata`` when it is given
   (Sentinel-1 GRD products, for example, use 0 outside the swath), and
   pixels outside a user mask;
4. bring values to a perceptual scale according to ``input_kind``:

   - ``'intensity'`` or ``'amplitude'``: ``10 log10`` (dB). Amplitude and
     intensity differ by a factor 2 in dB, which the stretch below removes, so
     both give the same result. Values <= 0 (dark pixels quantised to zero,
     or made negative by noise subtraction) are raised to the smallest
     positive value: they are dark, not missing;
   - ``'db'``: already logarithmic, used as is;
   - ``'display'``: an 8/16-bit or [0, 1] display image (a quick-look PNG or
     JPEG, or a photograph), whatever its dtype: values in [0, 1] are used as
     they are, larger ones are divided by 255 when they fit in [0, 255], by
     32767 when they are 8-bit levels scaled to int16's range
     (``skimage.img_as_int``), by 65535 otherwise up to 65535 and by the
     largest value beyond; no stretch is applied;

5. for the first three kinds, a robust linear stretch maps the 1st and 99th
   percentiles of the valid pixels to 0 and 1, clipping outside;
6. fill no-data for the network: pixels of small no-data regions (isolated
   pixels, lines and blobs that a 5 x 5 square does not fit in) take the
   Gaussian-weighted mean of their valid neighbours, so the network sees no
   artificial structure there; pixels of larger regions take the median of
   the valid pixels. Only the larger regions are reported in
   ``NormalizedImage.large_invalid``: the detector keeps keypoints out of the
   network's reach of those, and only off the small ones themselves.

``input_kind='auto'`` decides from the values, never from the dtype, by the
rules of :mod:`sarfeat.input_kinds`; pass ``input_kind`` explicitly when you
know it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .canvas_fill import BORDER_FILL_CONVEXITY, border_fill  # moved there, as these:
from .input_kinds import (  # their old import path keeps working
    INPUT_KINDS, LINEAR_TAIL, InputKind, auto_input_kind, check_input_kind, display_divisor,
)
from .tensor_input import tensor_values

__all__ = [
    "INPUT_KINDS", "LINEAR_TAIL", "PERCENTILE_SAMPLE", "InputKind", "NormalizedImage",
    "SARScaling", "ScaledImage", "as_float32", "auto_input_kind", "check_image", "check_nodata",
    "check_input_kind", "display_divisor", "fill_invalid", "normalize_sar", "resolve_input_kind",
    "border_fill", "sar_scaling", "valid_mask", "BORDER_FILL_CONVEXITY",
]

#: Percentiles of the valid pixels mapped to 0 and 1 by the robust stretch.
STRETCH_PERCENTILES = (1.0, 99.0)
#: At most this many pixels are used to estimate the stretch percentiles.
PERCENTILE_SAMPLE = 1 << 20
#: No-data regions that a square of this side fits in are large: they disturb the network.
LARGE_NODATA = 5
#: Standard deviation, in pixels, of the weights that fill small no-data regions.
_FILL_SIGMA = 2.0
#: Reach of that filter in sigmas (scipy's default), and rows filled at once.
_FILL_TRUNCATE = 4.0
_FILL_BAND = 512


@dataclass
class NormalizedImage:
    """A SAR image brought to [0, 1] with its valid-pixel mask.

    Attributes
    ----------
    image : ndarray of float32, shape (H, W)
        Normalised values in [0, 1]; invalid pixels are filled (see the module
        documentation) so that the network sees no artificial edges there.
    valid : ndarray of bool, shape (H, W), or None
        False where the pixel is no-data or masked out; None when every pixel
        is valid.
    kind : str
        The input kind that was applied (never ``'auto'``).
    large_invalid : ndarray of bool, shape (H, W), or None
        The invalid pixels that belong to no-data regions large enough to
        disturb the network (a ``LARGE_NODATA`` square fits in them); None when
        there are none.
    """

    image: np.ndarray
    valid: np.ndarray | None
    kind: str
    large_invalid: np.ndarray | None = None


def check_image(image, name: str = "image") -> np.ndarray:
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
    if image.dtype == bool or image.dtype.kind in "mM" \
            or not np.issubdtype(image.dtype, np.number):
        raise ValueError(
            f"{name} dtype {image.dtype} is not supported: pass a numeric array "
            "(uint8, uint16, float32, float64 or complex)"
        )
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


def valid_mask(values, nodata: float | None = None, mask=None) -> np.ndarray:
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


def check_nodata(nodata) -> None:
    """Raise ValueError unless ``nodata`` is None or one real number (NaN allowed).

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

    Raises
    ------
    ValueError
        When finite values lie beyond float32's range: they would become
        infinite, and so no-data, silently.
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
    return values


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


def _valid_sample(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """At most about a million valid values, taken on a regular stride (no full copy)."""
    step = max(1, values.size // PERCENTILE_SAMPLE)
    sample = values.ravel()[::step]
    sample = sample if valid is None else sample[valid.ravel()[::step]]
    if sample.size == 0 and valid is not None:  # the stride missed every valid pixel
        sample = values[valid]
    return sample


def _stretch_bounds(sample: np.ndarray) -> tuple[np.float32, np.float32]:
    """(low, scale) of the robust stretch from a sample of valid (perceptual) values."""
    low, high = np.percentile(sample, STRETCH_PERCENTILES)
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
    scale = 1.0 / (high - low) if high > low else 0.0
    return np.float32(low), np.float32(scale)


def _perceptual(values: np.ndarray, kind: str, floor, divisor) -> None:
    """Step 4 of the module documentation, in place on float32 values."""
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


def _to_unit(values: np.ndarray, kind: str, low, scale) -> np.ndarray:
    """Step 5, in place: the robust stretch by (low, scale), or a clip for display images."""
    if kind != "display":
        with np.errstate(invalid="ignore"):  # invalid pixels (refilled later) may be inf
            values -= low
            values *= scale
    with np.errstate(invalid="ignore"):
        return np.clip(values, 0.0, 1.0, out=values)


def _robust_stretch(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Map the 1st and 99th percentiles of the valid values to 0 and 1, in place."""
    low, scale = _stretch_bounds(_valid_sample(values, valid))
    return _to_unit(values, "stretch", low, scale)


def resolve_input_kind(image: np.ndarray, input_kind: str, valid: np.ndarray | None = None
                       ) -> str:
    """``input_kind``, with ``'auto'`` decided from the values of ``image`` (real or complex)."""
    check_input_kind(input_kind)
    if input_kind != "auto":
        return input_kind
    if np.iscomplexobj(image):
        return "intensity"
    sample = _valid_sample(image, valid)
    if np.issubdtype(sample.dtype, np.floating):
        sample = sample[np.isfinite(sample)]
    return auto_input_kind(sample)


def fill_invalid(values: np.ndarray, valid: np.ndarray, median: float | None = None
                 ) -> np.ndarray | None:
    """Fill invalid pixels in place, as step 6 of the module docstring says.

    Parameters
    ----------
    values : (H, W) ndarray of float32
        Normalised values; those where ``valid`` is False are replaced.
    valid : (H, W) ndarray of bool
        Valid pixels.
    median : float, optional
        The value for large no-data regions; by default the median of the
        valid values (a window of a larger scene passes the scene's).

    Returns
    -------
    large : (H, W) ndarray of bool or None
        The pixels of large no-data regions, or None when there are none.
    """
    invalid = ~valid
    large = invalid
    # opening by a square, done as two 1-D passes each way (the square is separable)
    for operation in (ndimage.binary_erosion, ndimage.binary_dilation):
        for shape in ((LARGE_NODATA, 1), (1, LARGE_NODATA)):
            large = operation(large, np.ones(shape, dtype=bool))
    large &= invalid
    values[invalid] = np.median(_valid_sample(values, valid)) if median is None else median
    small = invalid & ~large
    if small.any():
        _fill_small(values, valid, small)
    return large if large.any() else None


def _fill_small(values: np.ndarray, valid: np.ndarray, small: np.ndarray) -> None:
    """Small holes get the Gaussian-weighted mean of their valid neighbours, in place.

    Computed in bands of rows with a halo of the filter's reach, only where there
    are holes: the same values as filtering the whole image, in bounded memory.
    """
    reach = int(_FILL_TRUNCATE * _FILL_SIGMA + 0.5)
    height = values.shape[0]
    rows = small.any(axis=1)
    for top in range(0, height, _FILL_BAND):
        bottom = min(height, top + _FILL_BAND)
        if not rows[top:bottom].any():
            continue
        lo, hi = max(0, top - reach), min(height, bottom + reach)
        inner = slice(top - lo, bottom - lo)
        band_valid = valid[lo:hi]
        weights = ndimage.gaussian_filter(band_valid.astype(np.float32), _FILL_SIGMA,
                                          truncate=_FILL_TRUNCATE)[inner]
        total = ndimage.gaussian_filter(np.where(band_valid, values[lo:hi], 0).astype(np.float32),
                                        _FILL_SIGMA, truncate=_FILL_TRUNCATE)[inner]
        reached = small[top:bottom] & (weights > 1e-3)
        values[top:bottom][reached] = total[reached] / weights[reached]


def normalize_sar(
    image, input_kind: InputKind = "auto", mask=None, nodata: float | None = None
) -> NormalizedImage:
    """Check a SAR image and bring it to [0, 1] (see the module docstring).

    Parameters
    ----------
    image : array_like or numpy.ma.MaskedArray, shape (H, W)
        uint8, uint16, float or complex SAR data; NaN, infinite and masked
        values mark no-data. The array is never modified.
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}
        What the values are; ``'auto'`` decides from the values.
    mask : array_like of bool, shape (H, W), optional
        True where pixels may be used (numbers: nonzero is True; NaN is refused).
    nodata : float, optional
        A value that marks missing pixels (in the input's units), besides NaN,
        compared as :func:`valid_mask` compares.

    Returns
    -------
    NormalizedImage

    Raises
    ------
    ValueError
        For a path, a non-2-D, empty or non-numeric image, a mask of another
        shape, of non-numeric or NaN values, an unknown ``input_kind``, a ``nodata``
        that is not one real number, or an image with no valid pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat import normalize_sar
    >>> picture = np.arange(256, dtype=np.uint8).reshape(16, 16)
    >>> normalize_sar(picture).kind, normalize_sar(picture / 255.0).kind
    ('display', 'display')
    >>> speckle = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64))
    >>> normalize_sar(speckle).kind
    'intensity'
    """
    image_in = image
    image = check_image(image)
    check_input_kind(input_kind)
    check_nodata(nodata)
    raw = np.ma.getdata(image_in) if np.ma.isMaskedArray(image_in) else image
    values = as_float32(raw)  # always a copy: the input stays untouched
    valid = valid_mask(image_in if np.ma.isMaskedArray(image_in) else raw, nodata, mask)
    if not valid.any():
        raise ValueError(
            "image has no valid pixel (all NaN, equal to nodata, or masked out); "
            "check the data, the mask and nodata"
        )
    all_valid = bool(valid.all())
    kind = resolve_input_kind(raw if np.iscomplexobj(raw) else values, input_kind,
                         None if all_valid else valid)

    floor = divisor = None
    if kind in ("intensity", "amplitude"):
        positive = valid & (values > 0)
        floor = np.min(values, where=positive, initial=np.inf)  # no copy of the values
        floor = floor if np.isfinite(floor) else np.float32(1.0)
    elif kind == "display":
        divisor = display_divisor(_valid_sample(values, None if all_valid else valid))
    _perceptual(values, kind, floor, divisor)
    if kind == "display":
        values = _to_unit(values, kind, None, None)
    else:
        values = _robust_stretch(values, None if all_valid else valid)
    large = None if all_valid else fill_invalid(values, valid)
    return NormalizedImage(image=values, valid=None if all_valid else valid, kind=kind,
                           large_invalid=large)


# -- the same normalisation, window by window --------------------------------------------------

#: Pixels of the input read at once when :func:`sar_scaling` passes over a whole image.
_SCAN_PIXELS = 1 << 22


@dataclass(frozen=True)
class SARScaling:
    """The value map of :func:`normalize_sar` for one image, as numbers.

    :meth:`apply` gives, for any window of the image, exactly the values
    :func:`normalize_sar` gives there for the whole image, with NaN on invalid
    pixels (instead of the filled values), so a large image can be normalised
    window by window without a full-size float copy.

    Attributes
    ----------
    kind : str
        The input kind applied (never ``'auto'``).
    nodata : float or None
        The no-data value besides NaN.
    floor, divisor, low, scale : numpy.float32 or None
        The smallest positive valid value (intensity, amplitude), the display
        divisor, and the robust stretch (``(v - low) * scale``, not for display).
    """

    kind: str
    nodata: float | None = None
    floor: np.float32 | None = None
    divisor: float | None = None
    low: np.float32 | None = None
    scale: np.float32 | None = None

    def apply(self, window) -> np.ndarray:
        """(h, w) float32 values in [0, 1] of a window of the image; NaN where invalid."""
        raw = np.asarray(window)
        values = as_float32(raw)
        valid = valid_mask(raw, self.nodata)
        _perceptual(values, self.kind, self.floor, self.divisor)
        values = _to_unit(values, self.kind, self.low, self.scale)
        values[~valid] = np.nan
        return values


def sar_scaling(image, input_kind: InputKind = "auto", nodata: float | None = None
                ) -> SARScaling | None:
    """The value map :func:`normalize_sar` would apply to ``image``, in bounded memory.

    The image is read in bands of rows (at most a few million pixels of float32
    at a time) and on the regular sample :func:`normalize_sar` uses.

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
    step = max(1, raw.size // PERCENTILE_SAMPLE)
    flat = np.arange(0, raw.size, step)
    picked = raw[flat // raw.shape[1], flat % raw.shape[1]]
    sample = as_float32(picked)
    valid = valid_mask(picked, nodata)
    chosen = sample if all_valid else sample[valid]
    if chosen.size == 0:
        return None
    kind = input_kind
    if kind == "auto":
        kind = "intensity" if np.iscomplexobj(raw) else \
            auto_input_kind(chosen[np.isfinite(chosen)])
    floor = floor if np.isfinite(floor) else np.float32(1.0)
    divisor = display_divisor(chosen) if kind == "display" else None
    if kind in ("intensity", "amplitude"):
        scaling = SARScaling(kind, nodata, floor=floor)
    else:
        scaling = SARScaling(kind, nodata, divisor=divisor)
    if kind == "display":
        return scaling
    _perceptual(chosen, kind, scaling.floor, None)
    low, scale = _stretch_bounds(chosen)
    return SARScaling(kind, nodata, floor=scaling.floor, low=low, scale=scale)


class ScaledImage:
    """A lazily normalised image: slicing it gives :meth:`SARScaling.apply` of the window.

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
