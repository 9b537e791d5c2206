"""Synthetic images and a network-free feature function for the matcher stage tests.

The image is smooth random texture; keypoints are its local maxima and the
descriptor is the normalised 9 x 9 patch around each keypoint (not rotation
invariant, like the R2D2 descriptor), so the stages can be tested on known
geometry without the network.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.transform import ProjectiveTransform, warp

from sarfeat.detector import NoKeypointsError

_OFFSETS = np.stack(np.meshgrid(np.arange(-4, 5), np.arange(-4, 5), indexing="ij"), -1)
_OFFSETS = _OFFSETS.reshape(-1, 2).astype(float)


def texture(shape, seed: int = 0) -> np.ndarray:
    """Smooth random texture in [0, 1] (float32)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    field += 0.5 * ndimage.gaussian_filter(rng.standard_normal(shape), 6.0)
    field = (field - field.min()) / np.ptp(field)
    return field.astype(np.float32)


def moved(image: np.ndarray, matrix: np.ndarray, shape=None) -> np.ndarray:
    """``image`` seen through ``matrix`` (image-1 (x, y) -> image-2 (x, y)), NaN outside."""
    return warp(image, ProjectiveTransform(matrix=np.linalg.inv(matrix)), output_shape=shape,
                order=1, cval=np.nan, preserve_range=True).astype(np.float32)


def describe(image: np.ndarray, budget: int = 400):
    """(keypoints (row, col), descriptors (N, 81)) of an image with NaN outside."""
    values = np.nan_to_num(image, nan=0.0)
    smooth = ndimage.gaussian_filter(values, 1.0)
    invalid = ndimage.binary_dilation(np.isnan(image), iterations=6)
    smooth[invalid] = -np.inf
    keypoints = peak_local_max(np.where(invalid, 0, smooth), min_distance=3,
                               num_peaks=budget, exclude_border=6).astype(float)
    if len(keypoints) < 3:
        raise NoKeypointsError("no keypoint")
    coords = keypoints[:, None, :] + _OFFSETS[None]
    patches = ndimage.map_coordinates(values, coords.reshape(-1, 2).T, order=1)
    patches = patches.reshape(len(keypoints), -1)
    patches -= patches.mean(axis=1, keepdims=True)
    patches /= np.linalg.norm(patches, axis=1, keepdims=True) + 1e-9
    return keypoints, patches.astype(np.float32)
