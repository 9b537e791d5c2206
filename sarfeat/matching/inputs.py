"""The matcher's inputs: both images normalised to [0, 1], NaN where invalid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..preprocess import (ScaledImage, as_float32, border_fill, check_image, normalize_sar,
                          sar_scaling, valid_mask)

__all__ = ["LOGGED_KINDS", "border_zeros", "normalized_input", "nodata_marked",
           "nodata_marked_valid", "without_border_fill"]

#: Input kinds whose values are logged: there an exact zero is far below every other value,
#: and zeros connected to the border are taken for fill (:func:`without_border_fill`).
LOGGED_KINDS = ("intensity", "amplitude")


def normalized_input(image, input_kind: str, nodata: float | None, which: str):
    """The image in [0, 1] as float32, NaN where invalid (``which`` names it in errors).

    A lazily normalised view (:class:`~sarfeat.preprocess.ScaledImage`: windows
    are normalised as they are read, the same values as normalising the whole
    image) when it can be, so no normalised copy of a large scene is held.
    """
    try:
        if not np.ma.isMaskedArray(image):
            raw = check_image(image)
            scaling = sar_scaling(raw, input_kind, nodata=nodata)
            if scaling is not None and scaling.kind in LOGGED_KINDS:
                filled = without_border_fill(raw)
                if filled is not None:  # the stretch, from the image's own pixels
                    raw, scaling = filled, sar_scaling(filled, scaling.kind, nodata)
            if scaling is not None:
                return ScaledImage(raw, scaling)
        normalized = normalize_sar(image, input_kind, nodata=nodata)
    except ValueError as error:
        raise ValueError(f"{which}: {error}") from None
    values = normalized.image
    if normalized.valid is not None:
        values[~normalized.valid] = np.nan
    return values


def without_border_fill(raw: np.ndarray) -> np.ndarray | None:
    """A float32 copy of ``raw`` with NaN on its border fill, or None when it has none.

    The border fill is the exact zeros connected to the image border: what a
    resampling (``skimage.transform.warp`` of a turned image, ``cval=0``) or a
    product's swath edge puts there. In linear intensity or amplitude a zero is
    no measurement (its log is -inf, and the stretch raises it to the darkest
    value): taken as data, the corners of a turned image make edges stronger
    than the scene's (pair l with image 2 turned by 15 degrees was refused).
    They may reach the border through NaN (an image brought onto another grid).
    Zeros inside the scene stay dark pixels.
    """
    fill = border_zeros(raw, through_nodata=True)
    if fill is None:
        return None
    values = raw.astype(np.float32)
    values[fill] = np.nan
    return values


def border_zeros(raw: np.ndarray, through_nodata: bool = False) -> np.ndarray | None:
    """The exact zeros of ``raw`` connected to its border (4-connected), or None if none.

    With ``through_nodata``, they may reach the border through NaN pixels too: the
    zeros of a swath edge in an image brought onto another grid, NaN beyond its
    footprint (:func:`sarfeat.georeferencing.reproject_band`).
    """
    if np.iscomplexobj(raw):
        return None
    zero = raw == 0
    passable = zero | np.isnan(raw) if through_nodata and raw.dtype.kind == "f" else zero
    seeds = np.zeros_like(passable)
    seeds[[0, -1], :] = passable[[0, -1], :]
    seeds[:, [0, -1]] |= passable[:, [0, -1]]
    if not seeds.any():
        return None
    fill = ndimage.binary_propagation(seeds, mask=passable) & zero
    return fill if fill.any() else None


def nodata_marked(image, nodata: float | None,
                  fill_is_nodata: bool) -> tuple[np.ndarray, float, float]:
    """The image with NaN wherever it is no-data (NaN, a masked array's mask, ``nodata``,
    and with ``fill_is_nodata`` a canvas's fill around it, see
    :func:`sarfeat.preprocess.border_fill`); the share of its pixels that fill is, and the
    share left valid (both rounded to 4 decimals). The image itself is returned when every
    pixel is valid, or when it is float32 and NaN on every pixel that is not (a scene brought
    onto another grid): no copy of a large image is made to mark what is marked already."""
    marked, share, left = nodata_marked_valid(image, nodata, fill_is_nodata)
    return marked, share, round(left, 4)


def nodata_marked_valid(image, nodata: float | None,
                        fill_is_nodata: bool) -> tuple[np.ndarray, float, float]:
    """:func:`nodata_marked`, with the share of valid pixels exact (not rounded): what
    :func:`sarfeat.image_checks.marked_unusable_reason` takes with the image marked."""
    data = np.asarray(np.ma.getdata(image))
    valid = valid_mask(image, nodata)
    if valid.ndim == 3:  # colour: a pixel is valid when all its channels are
        valid = valid.all(axis=-1)
    fill = border_fill(data, valid) if fill_is_nodata else None
    if fill is not None:
        valid &= ~fill
    share = 0.0 if fill is None else round(float(fill.mean()), 4)
    count = np.count_nonzero(valid)
    left = count / valid.size  # valid.mean(), to the bit, without its float sum
    if count == valid.size or (data.dtype == np.float32 and np.array_equal(np.isnan(data), ~valid)):
        return data, share, left
    # real values beyond float32 refused (as_float32), not made inf (no-data) or 0
    marked = data.astype(np.complex64) if np.iscomplexobj(data) else as_float32(data)
    marked[~valid] = np.nan
    return marked, share, left
