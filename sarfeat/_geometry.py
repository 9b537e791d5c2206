"""Small geometric helpers of the matcher: 3x3 homogeneous matrices on (x, y) points.

Points are (x, y) = (col, row), as in :mod:`skimage.transform`; matrices map
them in homogeneous coordinates. Images carry NaN where they are invalid.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.transform import ProjectiveTransform, rescale, warp


def _apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homogeneous matrix to (N, 2) points (x, y)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.c_[xy, np.ones(len(xy))] @ matrix.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return out[:, :2] / out[:, 2:3]


def _rotation_scale(matrix: np.ndarray) -> tuple[float, float, float]:
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


def _scaling(ratio_rows: float, ratio_cols: float) -> np.ndarray:
    """Matrix mapping downsampled (x, y) to original (x, y) for pixel-centred resampling."""
    return np.array([
        [ratio_cols, 0.0, 0.5 * ratio_cols - 0.5],
        [0.0, ratio_rows, 0.5 * ratio_rows - 0.5],
        [0.0, 0.0, 1.0],
    ])


def _turn(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
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


def _warp_nan(
    image: np.ndarray, inverse: np.ndarray, shape: tuple[int, int], order: int
) -> np.ndarray:
    """Resample ``image`` (NaN = invalid) with ``inverse`` (output (x, y) -> input (x, y))."""
    invalid = np.isnan(image)
    filled = np.where(invalid, 0.0, image) if invalid.any() else image
    out = warp(filled, ProjectiveTransform(matrix=inverse), output_shape=shape, order=order,
               cval=np.nan, preserve_range=True).astype(np.float32)
    if invalid.any():
        spread = warp(invalid.astype(np.float32), ProjectiveTransform(matrix=inverse),
                      output_shape=shape, order=1, cval=1.0, preserve_range=True)
        out[spread > 1e-3] = np.nan
    return out


def _downsample(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-prefiltered downsampling of a NaN-marked image.

    Returns the image and the 3x3 matrix mapping its (x, y) to the original's.
    """
    if factor >= 1:
        return image, np.eye(3)
    invalid = np.isnan(image)
    filled = np.where(invalid, np.nanmedian(image), image) if invalid.any() else image
    small = rescale(filled, factor, anti_aliasing=True, order=1, preserve_range=True)
    small = small.astype(np.float32)
    if invalid.any():
        coverage = rescale(invalid.astype(np.float32), factor, anti_aliasing=True, order=1,
                           preserve_range=True)
        small[coverage > 0.05] = np.nan
    ratios = (image.shape[0] / small.shape[0], image.shape[1] / small.shape[1])
    return small, _scaling(*ratios)
