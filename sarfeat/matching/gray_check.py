"""A check of the dense matcher's answer that shares nothing with its structure maps.

The optical-SAR matcher finds its transform on structure maps and checks it on
the same maps, so a tile whose maps agree best at a wrong shift passes its own
checks. The **mutual information** of the two images' gray values is the
classic multimodal similarity and blind to those maps. Each image is
quantised into ``BINS`` levels by its quantiles (so any monotonic stretch, the log
of a SAR image or not, gives the same levels), and the information of the joint
histogram is measured with image 2 resampled through the answer and shifted by
every whole pixel within ``reach``. Where it peaks clearly and far from the
answer, the gray values say the answer is off: :func:`information_peak` gives
where and how much, the matcher decides (``gray_check``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .dense_correlation import parabola, peak_offset

__all__ = ["BINS", "GrayPeak", "information_peak", "information_surface", "rank_levels"]

#: Gray levels of each image in the joint histogram.
BINS = 32
#: Least share of the unshifted overlap that a shift must keep to be measured.
_LEAST_OVERLAP = 0.5


class GrayPeak(NamedTuple):
    """Where the mutual information peaks: image 1's pixel (y, x) agrees best with image
    2's (y + dy, x + dx)."""

    dy: float
    """float: the shift along the rows, in pixels."""
    dx: float
    """float: the shift along the columns, in pixels."""
    offset: float
    """float: the distance of (dy, dx) from (0, 0), in pixels."""
    information: float
    """float: the mutual information at the peak, in nats."""


def rank_levels(values: np.ndarray, valid: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each valid pixel's gray level 0 .. ``bins`` - 1 by the valid values' quantiles.

    Parameters
    ----------
    values : ndarray
        The image.
    valid : ndarray of bool
        Its valid pixels.
    bins : int
        Gray levels.

    Returns
    -------
    ndarray of int
        Equal shares per level, equal values on one level (a monotonic stretch changes
        nothing); 0 elsewhere.
    """
    levels = np.zeros(values.shape, np.intp)
    picked = values[valid]
    if picked.size:
        edges = np.quantile(picked, np.arange(1, bins) / bins, method="inverted_cdf")
        levels[valid] = np.searchsorted(edges, picked, side="right")
    return levels


def _information(joint: np.ndarray) -> float:
    joint = joint / joint.sum()
    outer = np.outer(joint.sum(1), joint.sum(0))
    present = joint > 0
    return float((joint[present] * np.log(joint[present] / outer[present])).sum())


def information_surface(image1: np.ndarray, image2: np.ndarray, reach: int) -> np.ndarray:
    """Mutual information of ``image1`` and ``image2`` with image 2 shifted by (dy, dx).

    Parameters
    ----------
    image1, image2 : (H, W) ndarray
        Same shape, NaN where invalid.
    reach : int
        Each shift within +-``reach``.

    Returns
    -------
    (2 reach + 1, 2 reach + 1) ndarray
        Indexed [reach + dy, reach + dx]; NaN where the shift keeps less than half the
        overlap.
    """
    if image1.shape != image2.shape:
        raise ValueError(f"the images differ in shape: {image1.shape} and {image2.shape}")
    valid1, valid2 = np.isfinite(image1), np.isfinite(image2)
    # a pixel pair's code: image 1's level * BINS + image 2's, from BINS * BINS up where
    # either is invalid (counted apart, then dropped): no mask to gather by at each shift
    outside = BINS * BINS
    codes1 = np.where(valid1, rank_levels(image1, valid1) * BINS, outside).astype(np.int16)
    codes2 = np.where(valid2, rank_levels(image2, valid2), outside).astype(np.int16)
    height, width = image1.shape
    least = max(_LEAST_OVERLAP * np.count_nonzero(valid1 & valid2), BINS * BINS)
    surface = np.full((2 * reach + 1, 2 * reach + 1), np.nan)
    for row, dy in enumerate(range(-reach, reach + 1)):
        rows1 = slice(max(0, -dy), height - max(0, dy))
        rows2 = slice(max(0, dy), height + min(0, dy))
        for col, dx in enumerate(range(-reach, reach + 1)):
            cols1 = slice(max(0, -dx), width - max(0, dx))
            cols2 = slice(max(0, dx), width + min(0, dx))
            codes = codes1[rows1, cols1] + codes2[rows2, cols2]
            joint = np.bincount(codes.ravel(), minlength=3 * outside)[:outside]
            if joint.sum() < least:  # the pixels valid in both
                continue
            surface[row, col] = _information(joint.reshape(BINS, BINS))
    return surface


def information_peak(image1: np.ndarray, image2: np.ndarray, reach: int) -> GrayPeak | None:
    """The shift of image 2 at which the mutual information of the two images peaks.

    Parameters
    ----------
    image1, image2 : (H, W) ndarray
        As for :func:`information_surface`.
    reach : int
        As for :func:`information_surface`.

    Returns
    -------
    GrayPeak or None
        To a fraction of a pixel (the top of the quadratic fitted to the 3 x 3 values about
        the best shift; a parabola along each axis where those are not all measured);
        None when no shift keeps enough overlap.
    """
    surface = information_surface(image1, image2, reach)
    if not np.isfinite(surface).any():
        return None
    filled = np.where(np.isfinite(surface), surface, -np.inf)
    row, col = np.unravel_index(int(np.argmax(filled)), surface.shape)
    sub = [float(row), float(col)]
    window = surface[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
    if window.shape == (3, 3) and np.isfinite(window).all():
        # the top of the quadratic through the 3 x 3 (a tilted peak read where it is)
        offset_x, offset_y = peak_offset(window)
        sub = [sub[0] + offset_y, sub[1] + offset_x]
    else:  # at the edge of the surface or of the measured shifts: each axis alone
        for axis, (index, line) in enumerate(((row, surface[:, col]), (col, surface[row, :]))):
            if 0 < index < len(line) - 1 and np.isfinite(line[index - 1:index + 2]).all():
                sub[axis] += parabola(*line[index - 1:index + 2])
    dy, dx = sub[0] - reach, sub[1] - reach
    return GrayPeak(dy, dx, float(np.hypot(dy, dx)), float(surface[row, col]))
