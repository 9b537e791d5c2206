"""Pure geometry of the matcher: 3x3 homogeneous matrices on (x, y) points.

Points are (x, y) = (col, row), as in :mod:`skimage.transform`; matrices map
them in homogeneous coordinates. Images carry NaN where they are invalid.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.transform import rescale

from ..geometry import warp_lenient

__all__ = ["apply_matrix", "rotation_scale", "scaling", "turn", "warp_nan", "downsample",
           "mask_coverage", "overlap_box", "deviation", "plausible_matrices", "tiles",
           "angle_difference"]


def apply_matrix(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homogeneous matrix to (N, 2) points (x, y)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.c_[xy, np.ones(len(xy))] @ matrix.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return out[:, :2] / out[:, 2:3]


def rotation_scale(matrix: np.ndarray) -> tuple[float, float, float]:
    """(rotation in degrees, scale, determinant) of the linear part of an affine matrix.

    The rotation is the angle of the image of the x axis in skimage's convention
    (``SimilarityTransform(rotation=r)`` gives ``r``).
    """
    linear = matrix[:2, :2] / matrix[2, 2]
    det = float(np.linalg.det(linear))
    # closest similarity (its rotation and scale) to the linear part
    a = 0.5 * (linear[0, 0] + linear[1, 1])
    b = 0.5 * (linear[1, 0] - linear[0, 1])
    angle = math.degrees(math.atan2(b, a))
    scale = math.sqrt(abs(det))
    return angle, scale, det


def scaling(ratio_rows: float, ratio_cols: float) -> np.ndarray:
    """Matrix mapping downsampled (x, y) to original (x, y) for pixel-centred resampling."""
    return np.array([
        [ratio_cols, 0.0, 0.5 * ratio_cols - 0.5],
        [0.0, ratio_rows, 0.5 * ratio_rows - 0.5],
        [0.0, 0.0, 1.0],
    ])


def turn(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Turn of an image about its centre onto a canvas that holds all of it.

    Returns the 3x3 matrix mapping original (x, y) to turned (x, y) (skimage's
    rotation convention) and the (rows, cols) of the canvas.
    """
    height, width = shape
    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    if abs(c) < 1e-12:
        c = 0.0
    if abs(s) < 1e-12:
        s = 0.0
    new_w = abs(c) * width + abs(s) * height
    new_h = abs(s) * width + abs(c) * height
    new_w = int(round(new_w)) if abs(new_w - round(new_w)) < 1e-6 else int(math.ceil(new_w))
    new_h = int(round(new_h)) if abs(new_h - round(new_h)) < 1e-6 else int(math.ceil(new_h))
    to_origin = np.array([[1, 0, -(width - 1) / 2], [0, 1, -(height - 1) / 2], [0, 0, 1.0]])
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    to_canvas = np.array([[1, 0, (new_w - 1) / 2], [0, 1, (new_h - 1) / 2], [0, 0, 1.0]])
    return to_canvas @ rotation @ to_origin, (new_h, new_w)


def warp_nan(
    image: np.ndarray, inverse: np.ndarray, shape: tuple[int, int], order: int
) -> np.ndarray:
    """Resample ``image`` (NaN = invalid) with ``inverse`` (output (x, y) -> input (x, y)).

    :func:`sarfeat.geometry.warp`, sarfeat's one warp, as float32; NaN everywhere for an
    ``inverse`` with non-finite entries (a failed model), which that warp refuses. An
    empty ``shape`` or a singular ``inverse`` (a degenerate candidate) is resampled as
    it is (:func:`sarfeat.geometry.warp_lenient`), not refused as the public warp does.
    """
    if not np.all(np.isfinite(inverse)):
        return np.full(shape, np.nan, np.float32)
    return warp_lenient(image, inverse, shape, order=order).astype(np.float32, copy=False)


def downsample(image, factor: float, overwrite: bool = False, restore: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-prefiltered downsampling of a NaN-marked image.

    Returns the image and the 3x3 matrix mapping its (x, y) to the original's.
    ``image`` may be any array-like (a lazily normalised image is read once);
    ``overwrite`` lets it fill the NaN of an ``image`` array in place. ``restore``
    fills them in place too and puts the NaN back before returning (the same
    values, without a copy of a large image; nothing else may read ``image``
    meanwhile, a thread included); a read-only ``image`` is copied as without it.
    """
    values = np.asarray(image)
    if factor >= 1:
        return values, np.eye(3)
    own = overwrite or values is not image  # an array made here may be filled in place
    invalid = np.isnan(values)
    lent = None  # an array filled in place whose NaN are put back
    if invalid.any():
        # nanmedian's value, from one copy of the valid pixels partitioned in place (it
        # made a copy of the whole image and an int64 index of its NaN)
        fill = (np.median(values[~invalid], overwrite_input=True) if not invalid.all()
                else np.float32(np.nan))
        if not own:
            if restore and values.flags.writeable:
                lent = values
            else:
                values = values.copy()
        values[invalid] = fill
    # a large reduction first averages blocks of ``step`` pixels (its own anti-aliasing, in
    # float32), so the Gaussian prefilter runs on an image ``step``² times smaller; a block
    # is never longer than the image's shorter side (which would leave no block to rescale)
    step = max(1, min(int(1 / factor // 2), min(values.shape)))
    try:
        reduced = _block_mean(values, step) if step > 1 else values
        small = rescale(reduced, factor * step, anti_aliasing=True, order=1,
                        preserve_range=True).astype(np.float32)
    finally:
        if lent is not None:
            lent[invalid] = np.nan
    # pixels of the image the reduction kept (up to step - 1 rows and columns are dropped)
    ratios = (reduced.shape[0] * step / small.shape[0],
              reduced.shape[1] * step / small.shape[1])
    del values, reduced  # a full-size array made here is freed before the mask is resampled
    if step > 1:
        invalid = _block_mean(invalid, step)
    if invalid.any():
        small[mask_coverage(invalid, factor * step) > 0.05] = np.nan
    return small, scaling(*ratios)


def mask_coverage(mask: np.ndarray, factor: float) -> np.ndarray:
    """A no-data mask downsampled by ``factor`` as ``downsample`` resamples an image: the
    share of no-data about each small pixel (float32).

    Every value is that of skimage's ``rescale(mask.astype(np.float32), factor,
    anti_aliasing=True, order=1, preserve_range=True)``, to the bit, made by the same steps
    (its Gaussian prefilter, bilinear zoom and clip to the mask's range) without its float
    copy of the mask: the prefilter reads ``mask`` (boolean or float32) as it is and filters
    into one float32 array in place, axis by axis (each line of an axis is filtered from a
    copy of itself). At full size that is one float32 image instead of two.

    Parameters
    ----------
    mask : (H, W) ndarray of bool or float32
        True (or the share of no-data) where the image is invalid.
    factor : float
        The scale, below 1.

    Returns
    -------
    (h, w) ndarray of float32
        ``h, w`` = ``H * factor, W * factor`` rounded, at least 1.
    """
    shape = np.asarray(mask.shape)
    factors = np.divide(shape, np.maximum(np.round(factor * shape), 1))
    filtered = np.empty(mask.shape, np.float32)
    ndimage.gaussian_filter(mask, np.maximum(0, (factors - 1) / 2), output=filtered,
                            mode="mirror", cval=0)
    small = ndimage.zoom(filtered, [1 / f for f in factors], order=1, mode="mirror", cval=0,
                         grid_mode=True)
    del filtered
    low, high = np.float32(mask.min()), np.float32(mask.max())
    return np.clip(small, low, high, out=small)


def _block_mean(values: np.ndarray, step: int) -> np.ndarray:
    """Means (float32) of the ``step`` x ``step`` blocks of a 2-D array (a partial last row or
    column of blocks is dropped)."""
    rows, cols = values.shape[0] // step, values.shape[1] // step
    blocks = values[:rows * step, :cols * step].reshape(rows, step, cols, step)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def angle_difference(a: float, b: float) -> float:
    """Absolute difference of two angles in degrees, in [0, 180]."""
    return abs((a - b + 180) % 360 - 180)


def overlap_box(matrix: np.ndarray, shape1, shape2, step: int = 8):
    """(r0, r1, c0, c1) of image 1 whose points ``matrix`` maps into image 2, or None."""
    rows = np.unique(np.r_[np.arange(0, shape1[0], step, dtype=float), shape1[0] - 1])
    cols = np.unique(np.r_[np.arange(0, shape1[1], step, dtype=float), shape1[1] - 1])
    grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    mapped = apply_matrix(matrix, grid)
    inside = (
        (mapped[:, 0] >= -0.5) & (mapped[:, 0] <= shape2[1] - 0.5)
        & (mapped[:, 1] >= -0.5) & (mapped[:, 1] <= shape2[0] - 0.5)
    )
    if inside.sum() < 4:
        return None
    xy = grid[inside]
    r0 = max(0, int(xy[:, 1].min()) - step)
    r1 = min(shape1[0], int(xy[:, 1].max()) + step + 1)
    c0 = max(0, int(xy[:, 0].min()) - step)
    c1 = min(shape1[1], int(xy[:, 0].max()) + step + 1)
    if r1 - r0 < 16 or c1 - c0 < 16:
        return None
    return r0, r1, c0, c1


def deviation(matrix: np.ndarray, prior: np.ndarray, shape1, shape2) -> float:
    """Largest distance (image-2 pixels) between two models over their overlap in image 1."""
    box = overlap_box(matrix, shape1, shape2)
    if box is None:
        return 0.0
    r0, r1, c0, c1 = box
    rows, cols = np.linspace(r0, r1 - 1, 9), np.linspace(c0, c1 - 1, 9)
    grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    return float(np.max(np.linalg.norm(apply_matrix(matrix, grid) - apply_matrix(prior, grid),
                                       axis=1)))


def plausible_matrices(matrices: np.ndarray, max_scale_change: float) -> np.ndarray:
    """Which of (B, 3, 3) affine matrices are plausible models.

    A plausible model keeps orientation (positive determinant), has a scale
    (square root of the determinant) within ``[1/m, m]`` and singular values
    less than ``m`` apart, ``m`` being ``max_scale_change``.
    """
    matrices = np.asarray(matrices, np.float64).reshape(-1, 3, 3)
    finite = np.all(np.isfinite(matrices), axis=(1, 2)) & (matrices[:, 2, 2] != 0)
    safe = np.where(finite[:, None, None], matrices, np.eye(3))
    linear = safe[:, :2, :2] / safe[:, 2:3, 2:3]
    det = np.linalg.det(linear)
    singular = np.linalg.svd(linear, compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(np.abs(det))
        spread = singular[:, 0] / singular[:, 1]
    return finite & (det > 0) & (scale >= 1 / max_scale_change) & \
        (scale <= max_scale_change) & (spread <= max_scale_change)


def tiles(box, size: int) -> list[tuple[int, int, int, int]]:
    """Cores of at most ``size`` pixels a side that partition ``box`` (r0, r1, c0, c1)."""
    r0, r1, c0, c1 = box
    n_rows = max(1, math.ceil((r1 - r0) / size))
    n_cols = max(1, math.ceil((c1 - c0) / size))
    row_edges = np.linspace(r0, r1, n_rows + 1).round().astype(int)
    col_edges = np.linspace(c0, c1, n_cols + 1).round().astype(int)
    return [
        (int(row_edges[i]), int(row_edges[i + 1]), int(col_edges[j]), int(col_edges[j + 1]))
        for i in range(n_rows) for j in range(n_cols)
    ]
