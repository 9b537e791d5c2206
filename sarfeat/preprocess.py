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

The parts live in modules of their own, whose public names this module
re-exports: the input checks and the no-data rule in :mod:`sarfeat.image_checks`,
steps 4 and 5 in :mod:`sarfeat.value_scale`, step 6 in :mod:`sarfeat.nodata_fill`,
and the same normalisation window by window (:func:`sar_scaling`) in
:mod:`sarfeat.windowed_scaling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .canvas_fill import BORDER_FILL_CONVEXITY, border_fill  # moved there, as these:
from .image_checks import (MIN_VALID_FRACTION, as_float32, check_image, check_nodata,
                           check_numeric_dtype, unusable_reason, valid_mask)
from .input_kinds import (  # their old import path keeps working
    INPUT_KINDS, LINEAR_TAIL, InputKind, auto_input_kind, check_input_kind, display_divisor,
)
from .nodata_fill import LARGE_NODATA, fill_invalid
from .value_scale import (PERCENTILE_SAMPLE, STRETCH_PERCENTILES, perceptual, resolve_input_kind,
                          stretch_bounds, to_unit, valid_sample)
from .windowed_scaling import SARScaling, ScaledImage, sample_scaling, sar_scaling

__all__ = [
    "INPUT_KINDS", "LARGE_NODATA", "LINEAR_TAIL", "PERCENTILE_SAMPLE", "STRETCH_PERCENTILES",
    "InputKind", "NormalizedImage",
    "SARScaling", "ScaledImage", "as_float32", "auto_input_kind", "check_image", "check_nodata",
    "check_input_kind", "display_divisor", "fill_invalid", "normalize_sar", "resolve_input_kind",
    "border_fill", "sample_scaling", "sar_scaling", "valid_mask", "BORDER_FILL_CONVEXITY",
    "MIN_VALID_FRACTION", "unusable_reason", "check_numeric_dtype",
]


@dataclass
class NormalizedImage:
    """A SAR image brought to [0, 1] with its valid-pixel mask (each field documented at its
    declaration)."""

    image: np.ndarray
    """(H, W) ndarray of float32: normalised values in [0, 1]; invalid pixels are filled
    (see the module documentation) so that the network sees no artificial edges there."""
    valid: np.ndarray | None
    """(H, W) ndarray of bool or None: False where the pixel is no-data or masked out; None
    when every pixel is valid."""
    kind: str
    """str: the input kind that was applied (never ``'auto'``)."""
    large_invalid: np.ndarray | None = None
    """(H, W) ndarray of bool or None: the invalid pixels that belong to no-data regions
    large enough to disturb the network (a ``LARGE_NODATA`` square fits in them); None when
    there are none."""


def _robust_stretch(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Map the 1st and 99th percentiles of the valid values to 0 and 1, in place."""
    low, scale = stretch_bounds(valid_sample(values, valid))
    return to_unit(values, "stretch", low, scale)


def normalize_sar(
    image: ArrayLike, input_kind: InputKind = "auto", mask: ArrayLike | None = None,
    nodata: float | None = None,
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
        compared as :func:`~sarfeat.preprocess.valid_mask` compares.

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
        del positive  # an image-sized mask, not held while the no-data is filled
        floor = floor if np.isfinite(floor) else np.float32(1.0)
    elif kind == "display":
        divisor = display_divisor(valid_sample(values, None if all_valid else valid))
    perceptual(values, kind, floor, divisor)
    if kind == "display":
        values = to_unit(values, kind, None, None)
    else:
        values = _robust_stretch(values, None if all_valid else valid)
    large = None if all_valid else fill_invalid(values, valid)
    return NormalizedImage(image=values, valid=None if all_valid else valid, kind=kind,
                           large_invalid=large)
