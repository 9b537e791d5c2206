"""The ROEWA ratio gradient and the GLOH histograms of ``'ratio_hog'``, compiled with numba.

:func:`sarfeat.descriptors.roewa_gradient` runs eight first-order recursive
filters (numpy, one slice at a time: ``scipy.signal.lfilter``'s values) over a
stacked (weighted sum, weight) image and combines them with full-size numpy
temporaries. :func:`roewa_gradient` here
does the same float32 arithmetic, in the same order, in four passes that keep
the rows being filtered in the CPU's cache, and takes the ratio of the means
as the last filter produces them (numpy's float32 log follows), so its
gradients are the numpy code's to the bit. :func:`gloh_histograms` accumulates the
log-polar orientation histograms of all keypoints in one loop over the
samples, where numpy needs four ``bincount`` calls over (N, K) temporaries,
and :func:`bilinear_pair` samples both gradient components in one loop.

numba is optional (``pip install sarfeat[fast]``); :func:`available` says
whether it imports. The kernels are compiled on first use and cached on disk
by numba. They run on one thread and without fastmath; the histograms differ
from numpy's only in the last bits (the order of their float64 sums, and the
gradient magnitude as a square root, not ``hypot``).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

__all__ = ["available", "roewa_gradient", "gloh_histograms", "bilinear_pair"]

_kernels = None


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _compile():
    # helpers the kernels call are module globals, not closure cells: numba's disk cache
    # then really hits in a new process (a kernel that captures a dispatcher is compiled again)
    global ratio, wrap
    import numba

    @numba.njit(cache=True, inline="always")
    def ratio(p_sum, p_weight, m_sum, m_weight, tiny):  # pragma: no cover - compiled
        """mean_plus / mean_minus as the numpy code takes it; 1 where undefined."""
        if p_weight > tiny and m_weight > tiny and p_sum > 0 and m_sum > 0:
            value = np.float32(p_sum * m_weight) / np.float32(m_sum * p_weight)
            if 0 < value < np.inf:  # an overflowed product has no finite log
                return value
        return np.float32(1.0)

    @numba.njit(cache=True, inline="always")
    def wrap(angle, two_pi):  # pragma: no cover - compiled
        """``numpy.mod(angle, two_pi)``, without its division for angles in [-2 pi, 2 pi)."""
        if 0 <= angle < two_pi:
            return angle
        if -two_pi <= angle < 0:
            return angle + two_pi
        return angle % two_pi

    @numba.njit(cache=True)
    def along_columns(sums, weights, decay, smooth):  # pragma: no cover - compiled
        """Two-sided exponential smoothing of each row, of the sums and the weights."""
        height, width = sums.shape
        causal = np.empty((2, width), np.float32)
        for row in range(height):
            acc_s = acc_w = np.float32(0.0)
            for col in range(width):
                acc_s = decay * acc_s + sums[row, col]
                acc_w = decay * acc_w + weights[row, col]
                causal[0, col], causal[1, col] = acc_s, acc_w
            acc_s = acc_w = np.float32(0.0)
            for col in range(width - 1, -1, -1):
                acc_s = decay * acc_s + sums[row, col]
                acc_w = decay * acc_w + weights[row, col]
                smooth[0, row, col] = causal[0, col] + acc_s - sums[row, col]
                smooth[1, row, col] = causal[1, col] + acc_w - weights[row, col]

    @numba.njit(cache=True)
    def along_rows(sums, weights, decay, smooth):  # pragma: no cover - compiled
        """Two-sided exponential smoothing of each column (row vectors, in cache)."""
        height, width = sums.shape
        acc = np.zeros((2, width), np.float32)
        for row in range(height):  # causal, kept in ``smooth``
            for col in range(width):
                acc[0, col] = decay * acc[0, col] + sums[row, col]
                acc[1, col] = decay * acc[1, col] + weights[row, col]
                smooth[0, row, col], smooth[1, row, col] = acc[0, col], acc[1, col]
        acc[:] = 0
        for row in range(height - 1, -1, -1):
            for col in range(width):
                acc[0, col] = decay * acc[0, col] + sums[row, col]
                acc[1, col] = decay * acc[1, col] + weights[row, col]
                smooth[0, row, col] = smooth[0, row, col] + acc[0, col] - sums[row, col]
                smooth[1, row, col] = smooth[1, row, col] + acc[1, col] - weights[row, col]

    @numba.njit(cache=True)
    def ratio_down_rows(smooth, decay, tiny, out):  # pragma: no cover - compiled
        """Ratio of the means below and above each pixel (one-sided filters down the rows)."""
        _, height, width = smooth.shape
        minus = np.empty((2, height, width), np.float32)
        acc = np.zeros((2, width), np.float32)
        for row in range(height):
            for col in range(width):
                for k in range(2):
                    acc[k, col] = decay * acc[k, col] + smooth[k, row, col]
                    minus[k, row, col] = acc[k, col] - smooth[k, row, col]
        acc[:] = 0
        for row in range(height - 1, -1, -1):
            for col in range(width):
                s_sum, s_weight = smooth[0, row, col], smooth[1, row, col]
                acc[0, col] = decay * acc[0, col] + s_sum
                acc[1, col] = decay * acc[1, col] + s_weight
                out[row, col] = ratio(acc[0, col] - s_sum, acc[1, col] - s_weight,
                                          minus[0, row, col], minus[1, row, col], tiny)

    @numba.njit(cache=True)
    def ratio_along_columns(smooth, decay, tiny, out):  # pragma: no cover - compiled
        """Ratio of the means right and left of each pixel (one-sided filters along rows)."""
        _, height, width = smooth.shape
        minus = np.empty((2, width), np.float32)
        for row in range(height):
            acc_s = acc_w = np.float32(0.0)
            for col in range(width):
                acc_s = decay * acc_s + smooth[0, row, col]
                acc_w = decay * acc_w + smooth[1, row, col]
                minus[0, col] = acc_s - smooth[0, row, col]
                minus[1, col] = acc_w - smooth[1, row, col]
            acc_s = acc_w = np.float32(0.0)
            for col in range(width - 1, -1, -1):
                s_sum, s_weight = smooth[0, row, col], smooth[1, row, col]
                acc_s = decay * acc_s + s_sum
                acc_w = decay * acc_w + s_weight
                out[row, col] = ratio(acc_s - s_sum, acc_w - s_weight,
                                          minus[0, col], minus[1, col], tiny)

    @numba.njit(cache=True)
    def gloh(grad_row, grad_col, direction, ring, angle, theta, bins, sectors):  # pragma: no cover
        """(N, (1 + 2 sectors) bins) raw histograms, with the numpy code's bilinear weights."""
        count, samples = grad_row.shape
        two_pi = 2 * np.pi
        hist = np.zeros((count, (1 + 2 * sectors) * bins))
        for n in range(count):
            for j in range(samples):
                gr, gc = grad_row[n, j], grad_col[n, j]
                magnitude = math.sqrt(gr * gr + gc * gc)
                position = wrap(direction[n, j] - theta[n], two_pi) * (bins / two_pi)
                if not (math.isfinite(magnitude) and math.isfinite(position)):
                    continue  # a non-finite sample has no bin: int(nan) would index anywhere
                low = math.floor(position)
                frac = position - low
                o_low = min(max(int(low), 0), bins)  # in [0, bins]
                if o_low >= bins:
                    o_low -= bins
                o_high = o_low + 1 if o_low + 1 < bins else 0
                if ring[j] == 0:  # the central disc: one cell
                    hist[n, o_low] += magnitude * (1 - frac)
                    hist[n, o_high] += magnitude * frac
                    continue
                # sector centres at (s + 0.5) * 2 pi / sectors, relative to the orientation
                spos = wrap(angle[j] - theta[n], two_pi) * (sectors / two_pi) - 0.5
                s_floor = math.floor(spos)
                s_frac = spos - s_floor
                s_low = min(max(int(s_floor), -1), sectors)  # in [-1, sectors]
                if s_low < 0:
                    s_low += sectors
                elif s_low >= sectors:
                    s_low -= sectors
                s_high = s_low + 1 if s_low + 1 < sectors else 0
                first = 1 + (ring[j] - 1) * sectors
                low_cell = (first + s_low) * bins
                high_cell = (first + s_high) * bins
                weight = magnitude * (1 - s_frac)
                hist[n, low_cell + o_low] += weight * (1 - frac)
                hist[n, low_cell + o_high] += weight * frac
                weight = magnitude * s_frac
                hist[n, high_cell + o_low] += weight * (1 - frac)
                hist[n, high_cell + o_high] += weight * frac
        return hist

    @numba.njit(cache=True)
    def bilinear_pair(first, second, rows, cols):  # pragma: no cover - compiled
        """Bilinear samples of two images at the same positions (clamped to the image)."""
        height, width = first.shape
        out_first = np.empty(rows.size, np.float32)
        out_second = np.empty(rows.size, np.float32)
        for i in range(rows.size):
            row = min(max(rows[i], 0.0), height - 1.0)
            col = min(max(cols[i], 0.0), width - 1.0)
            top, left = int(math.floor(row)), int(math.floor(col))
            bottom, right = min(top + 1, height - 1), min(left + 1, width - 1)
            fr, fc = row - top, col - left
            for image, out in ((first, out_first), (second, out_second)):
                upper = (1 - fc) * image[top, left] + fc * image[top, right]
                lower = (1 - fc) * image[bottom, left] + fc * image[bottom, right]
                out[i] = (1 - fr) * upper + fr * lower
        return out_first, out_second

    return along_columns, along_rows, ratio_down_rows, ratio_along_columns, gloh, bilinear_pair


def _get_kernels():
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def roewa_gradient(
    sums: np.ndarray, weights: np.ndarray, decay: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """ROEWA log-ratio gradients from the weighted intensity and its weights.

    Parameters
    ----------
    sums : ndarray, shape (H, W), float32
        Intensity times weight (0 at no-data pixels).
    weights : ndarray, shape (H, W), float32
        1 at valid pixels, 0 elsewhere.
    decay : float32
        ``exp(-1 / alpha)``.

    Returns
    -------
    grad_row, grad_col : ndarray, shape (H, W), float32
        As :func:`sarfeat.descriptors.roewa_gradient`.
    """
    along_columns, along_rows, ratio_down_rows, ratio_along_columns, *_ = _get_kernels()
    sums = np.ascontiguousarray(sums, np.float32)
    weights = np.ascontiguousarray(weights, np.float32)
    decay = np.float32(decay)
    tiny = np.float32(1e-6)
    smooth = np.empty((2, *sums.shape), np.float32)
    grad_row = np.empty(sums.shape, np.float32)
    grad_col = np.empty(sums.shape, np.float32)
    along_columns(sums, weights, decay, smooth)
    ratio_down_rows(smooth, decay, tiny, grad_row)
    along_rows(sums, weights, decay, smooth)
    ratio_along_columns(smooth, decay, tiny, grad_col)
    # numpy's vectorised float32 log: the numpy code's values, and faster than a compiled one
    return np.log(grad_row, out=grad_row), np.log(grad_col, out=grad_col)


def gloh_histograms(
    grad_row: np.ndarray,
    grad_col: np.ndarray,
    ring: np.ndarray,
    angle: np.ndarray,
    orientations: np.ndarray,
    orientation_bins: int,
    sectors: int,
) -> np.ndarray:
    """Raw (not yet normalised) log-polar orientation histograms.

    Parameters
    ----------
    grad_row, grad_col : ndarray, shape (N, K)
        Gradient samples of each keypoint.
    ring : ndarray, shape (K,), int
        Ring of each sample: 0 (the central disc), 1 or 2.
    angle : ndarray, shape (K,)
        Polar angle of each sample in the upright disc.
    orientations : ndarray, shape (N,)
        Angles positions and gradient orientations are measured from.
    orientation_bins, sectors : int
        Orientation bins per cell; angular sectors per ring.

    Returns
    -------
    ndarray, shape (N, (1 + 2 * sectors) * orientation_bins), float64
    """
    gloh = _get_kernels()[4]
    grad_row = np.ascontiguousarray(grad_row, np.float64)
    grad_col = np.ascontiguousarray(grad_col, np.float64)
    return gloh(
        grad_row, grad_col,
        np.arctan2(grad_row, grad_col),  # numpy's vectorised atan2 is three times numba's
        np.ascontiguousarray(ring, np.int64),
        np.ascontiguousarray(angle, np.float64),
        np.ascontiguousarray(orientations, np.float64),
        int(orientation_bins),
        int(sectors),
    )


def bilinear_pair(
    first: np.ndarray, second: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of two same-shape images at float positions of any shape.

    Positions are clamped to the image, as ``scipy.ndimage.map_coordinates``
    with ``order=1, mode='nearest'`` does for positions within one pixel of it.

    Parameters
    ----------
    first, second : ndarray, shape (H, W), float32
    rows, cols : ndarray
        Positions, both of one shape.

    Returns
    -------
    first_samples, second_samples : ndarray of float32, shape of ``rows``
    """
    sample = _get_kernels()[5]
    shape = np.shape(rows)
    images = (np.ascontiguousarray(image, np.float32) for image in (first, second))
    positions = (np.ascontiguousarray(p, np.float64).ravel() for p in (rows, cols))
    a, b = sample(*images, *positions)
    return a.reshape(shape), b.reshape(shape)
