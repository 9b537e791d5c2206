"""SAR input checking and normalisation to [0, 1].

Every image that enters sarfeat passes through :func:`normalize_sar`. What it
does, in order:

1. check that the input is a non-empty 2-D numeric array (complex allowed) and
   never modify it;
2. take the amplitude of complex data;
3. mark no-data: NaN and infinite values, pixels equal to ``nodata`` when it
   is given (Sentinel-1 GRD products, for example, use 0 outside the swath),
   and pixels outside a user mask;
4. bring values to a perceptual scale according to ``input_kind``:

   - ``'intensity'`` or ``'amplitude'``: ``10 log10`` (dB). Amplitude and
     intensity differ by a factor 2 in dB, which the stretch below removes, so
     both give the same result. Values <= 0 (dark pixels quantised to zero,
     or made negative by noise subtraction) are raised to the smallest
     positive value: they are dark, not missing;
   - ``'db'``: already logarithmic, used as is;
   - ``'display'``: an 8/16-bit or [0, 1] display image (a quick-look PNG or
     JPEG); integers are divided by their dtype's maximum, floats used as is,
     and no stretch is applied;

5. for the first three kinds, a robust linear stretch maps the 1st and 99th
   percentiles of the valid pixels to 0 and 1, clipping outside.

``input_kind='auto'`` picks ``'display'`` for uint8 (quick-looks), ``'db'`` for
real data of which more than a quarter is negative, and ``'intensity'`` for
everything else (uint16 digital numbers, floats, complex). Pass the kind
explicitly when you know it, in particular ``'display'`` for float quick-looks
in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["InputKind", "NormalizedImage", "normalize_sar", "INPUT_KINDS"]

INPUT_KINDS = ("auto", "intensity", "amplitude", "db", "display")
InputKind = str

#: Percentiles of the valid pixels mapped to 0 and 1 by the robust stretch.
STRETCH_PERCENTILES = (1.0, 99.0)
#: At most this many pixels are used to estimate the stretch percentiles.
_PERCENTILE_SAMPLE = 1 << 20


@dataclass
class NormalizedImage:
    """A SAR image brought to [0, 1] with its valid-pixel mask.

    Attributes
    ----------
    image : ndarray of float32, shape (H, W)
        Normalised values in [0, 1]; invalid pixels are filled with the median
        of the valid ones so that the network sees no artificial edges there.
    valid : ndarray of bool, shape (H, W), or None
        False where the pixel is no-data or masked out; None when every pixel
        is valid.
    kind : str
        The input kind that was applied (never ``'auto'``).
    """

    image: np.ndarray
    valid: np.ndarray | None
    kind: str


def _check_array(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool or not (
        np.issubdtype(image.dtype, np.number)
    ):
        raise ValueError(
            f"image dtype {image.dtype} is not supported: pass a numeric array "
            "(uint8, uint16, float32, float64 or complex)"
        )
    if image.ndim != 2:
        hint = ""
        if image.ndim == 3 and image.shape[-1] in (3, 4):
            hint = " For an RGB(A) quick-look, convert it first, e.g. skimage.color.rgb2gray(image[..., :3])."
        raise ValueError(
            f"expected a 2-D single-channel image, got an array of shape {image.shape}.{hint}"
        )
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); pass an image with pixels")
    return image


def _resolve_kind(image: np.ndarray, input_kind: str) -> str:
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"unknown input_kind {input_kind!r}; choose one of {INPUT_KINDS}")
    if input_kind != "auto":
        return input_kind
    if image.dtype == np.uint8:
        return "display"
    if np.iscomplexobj(image):
        return "intensity"
    if np.issubdtype(image.dtype, np.signedinteger) or np.issubdtype(image.dtype, np.floating):
        finite = image[np.isfinite(image)] if np.issubdtype(image.dtype, np.floating) else image
        # dB images are mostly negative; intensity after noise subtraction only occasionally
        if finite.size and np.count_nonzero(finite < 0) > 0.25 * finite.size:
            return "db"
    return "intensity"


def _valid_sample(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """At most about a million valid values, taken on a regular stride (no full copy)."""
    step = max(1, values.size // _PERCENTILE_SAMPLE)
    sample = values.ravel()[::step]
    return sample if valid is None else sample[valid.ravel()[::step]]


def _robust_stretch(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Map the 1st and 99th percentiles of the valid values to 0 and 1, in place."""
    sample = _valid_sample(values, valid)
    if sample.size == 0:  # the stride missed every valid pixel of a sparse mask
        sample = values[valid]
    low, high = np.percentile(sample, STRETCH_PERCENTILES)
    if not high > low:
        low, high = float(sample.min()), float(sample.max())
    scale = 1.0 / (high - low) if high > low else 0.0
    with np.errstate(invalid="ignore"):  # invalid pixels (refilled later) may be inf
        values -= np.float32(low)
        values *= np.float32(scale)
    return np.clip(values, 0.0, 1.0, out=values)


def normalize_sar(
    image, input_kind: InputKind = "auto", mask=None, nodata: float | None = None
) -> NormalizedImage:
    """Check a SAR image and bring it to [0, 1] (see the module docstring).

    Parameters
    ----------
    image : array_like, shape (H, W)
        uint8, uint16, float or complex SAR data; NaN marks no-data. The array
        is never modified.
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}
        What the values are.
    mask : array_like of bool, shape (H, W), optional
        True where pixels may be used.
    nodata : float, optional
        A value that marks missing pixels (in the input's units), besides NaN.

    Returns
    -------
    NormalizedImage

    Raises
    ------
    ValueError
        For a non-2-D, empty or non-numeric image, a mask of another shape,
        an unknown ``input_kind``, or an image with no valid pixel.
    """
    image = _check_array(image)
    kind = _resolve_kind(image, input_kind)
    if np.iscomplexobj(image):
        values = np.abs(image).astype(np.float32)
    else:
        values = image.astype(np.float32)  # always a copy: the input stays untouched
    valid = np.isfinite(values)
    if nodata is not None:
        valid &= (np.abs(image) if np.iscomplexobj(image) else image) != nodata
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
        valid &= mask.astype(bool)

    if kind in ("intensity", "amplitude"):
        positive = valid & (values > 0)
        if positive.any():
            floor = values[positive].min()
        else:
            floor = np.float32(1.0)  # nothing above zero: a flat image, whatever its level
        np.maximum(values, floor, out=values)  # NaN stays NaN; masked zeros give no -inf
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log10(values, out=values)
        values *= 10.0
    elif kind == "display" and np.issubdtype(image.dtype, np.integer):
        values /= np.float32(np.iinfo(image.dtype).max)

    if not valid.any():
        raise ValueError(
            "image has no valid pixel (all NaN, equal to nodata, or masked out); "
            "check the data, the mask and nodata"
        )
    all_valid = bool(valid.all())
    if kind == "display":
        np.clip(values, 0.0, 1.0, out=values)
    else:
        values = _robust_stretch(values, None if all_valid else valid)
    if not all_valid:
        sample = _valid_sample(values, valid)
        values[~valid] = np.median(sample if sample.size else values[valid])
    return NormalizedImage(image=values, valid=None if all_valid else valid, kind=kind)
