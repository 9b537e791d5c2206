"""Resampling of images in numpy: the detector's pyramid levels and their no-data cells.

:func:`resize_bilinear` is torch's ``interpolate(mode='bilinear',
align_corners=False, antialias=True)`` (a triangle filter widened by the
scale factor when shrinking), written as two sparse matrix products, so that
the pyramid needs no torch. :func:`any_in_cells` is ``adaptive_max_pool2d``
of a boolean mask.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["any_in_cells", "resize_bilinear", "resize_many"]


def _axis_weights(size: int, new_size: int) -> sparse.csr_matrix:
    """(new_size, size) antialiased bilinear weights along one axis (half-pixel centres).

    Computed in float32 as torch computes them, so that the levels agree to float rounding.
    """
    f32 = np.float32
    scale = f32(size) / f32(new_size)
    support = scale if scale >= 1.0 else f32(1.0)  # the triangle's half-width, in input pixels
    inverse = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    centres = scale * (np.arange(new_size, dtype=f32) + f32(0.5))
    first = np.maximum((centres - support + f32(0.5)).astype(np.int64), 0)
    last = np.minimum((centres + support + f32(0.5)).astype(np.int64), size)
    span = int((last - first).max())
    taps = first[:, None] + np.arange(span)[None]
    weights = np.maximum(f32(0.0), f32(1.0) - np.abs(
        (taps.astype(f32) - centres[:, None] + f32(0.5)) * inverse)).astype(f32)
    weights[taps >= last[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True, dtype=f32)
    rows = np.repeat(np.arange(new_size), span)
    keep = weights.ravel() > 0
    return sparse.csr_matrix(
        (weights.ravel()[keep], (rows[keep], np.minimum(taps, size - 1).ravel()[keep])),
        shape=(new_size, size),
    )


def resize_bilinear(image: np.ndarray, shape: tuple[int, int],
                    transposed: np.ndarray | None = None) -> np.ndarray:
    """``image`` resized to ``shape`` with antialiased bilinear interpolation.

    Parameters
    ----------
    image : (H, W) ndarray
    shape : (int, int)
        The new (rows, cols).
    transposed : (W, H) ndarray of float32, optional
        ``image.T`` as a C-contiguous float32 array, which the first product
        reads (scipy copies a transposed view to that layout at every call):
        :func:`resize_many` passes it to resize one image to several shapes.
        The results are the same bits.

    Returns
    -------
    (rows, cols) ndarray of float32
        Equal, up to float rounding, to torch's
        ``F.interpolate(..., mode='bilinear', align_corners=False, antialias=True)``.
    """
    image = np.asarray(image, np.float32)
    if tuple(shape) == image.shape:
        return image
    if transposed is None:
        transposed = np.ascontiguousarray(image.T)
    rows = _axis_weights(image.shape[0], shape[0]).astype(np.float32)
    cols = _axis_weights(image.shape[1], shape[1]).astype(np.float32)
    across = (cols @ transposed).T  # (H, new W): columns first, as torch does
    return np.ascontiguousarray(rows @ across, dtype=np.float32)


def resize_many(image: np.ndarray, shapes: list[tuple[int, int]]):
    """Yield :func:`resize_bilinear` of ``image`` for each of ``shapes``, one at a time.

    The transposed image that every resize reads is copied once, when the
    first shape that differs from the image's needs it.
    """
    image = np.asarray(image, np.float32)
    transposed = None
    for shape in shapes:
        if tuple(shape) != image.shape and transposed is None:
            transposed = np.ascontiguousarray(image.T)
        yield resize_bilinear(image, shape, transposed)


def any_in_cells(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Whether any pixel of each of ``shape``'s cells is True (adaptive max pooling of ``mask``).

    Cell ``i`` of an axis covers pixels ``floor(i * n / m)`` to ``ceil((i + 1) * n / m)``.
    """
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    counts = np.zeros((height + 1, width + 1), np.int64)
    counts[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)

    def bounds(size, new_size):
        index = np.arange(new_size)
        return (index * size) // new_size, -((-(index + 1) * size) // new_size)

    r0, r1 = bounds(height, shape[0])
    c0, c1 = bounds(width, shape[1])
    total = (counts[r1][:, c1] - counts[r0][:, c1] - counts[r1][:, c0] + counts[r0][:, c0])
    return total > 0
