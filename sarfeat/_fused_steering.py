"""The keypoint orientation of :mod:`sarfeat.orientation`, compiled with numba, at the keypoints only.

:meth:`sarfeat.orientation.LevelSteering.orientations` filters the whole
level with two Gaussian derivatives (scipy's ``gaussian_filter``, radius
``int(4 sigma + 0.5)``, edges repeated) and reads both at each keypoint by
bilinear interpolation. With ``sigma`` 8 px that is two 65-tap filters over
every pixel of every level, most of them far from any keypoint.
:func:`smoothed_gradients` computes the same two values from the 2 x 2 pixels
around each keypoint that the interpolation reads, filtering only the window
that those four pixels depend on: cheaper than the whole level while there
are fewer keypoints than about ``pixels / (2 * radius + 2)``
(:func:`cheaper_than_filtering`). It uses scipy's kernels in float64
throughout, where scipy rounds the filtered levels to float32, so the results
agree to about 1e-6 relative.

numba is optional; :func:`available` says whether it imports. The kernel is
compiled on first use, cached on disk, and runs on one thread.
"""

from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["available", "cheaper_than_filtering", "gaussian_kernels", "smoothed_gradients"]

_kernel = None


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def cheaper_than_filtering(count: int, shape: tuple[int, int], sigma: float) -> bool:
    """Whether :func:`smoothed_gradients` at ``count`` positions costs less than filtering ``shape``.

    Per position it filters ``2 * radius + 2`` rows of ``2 * radius + 1`` taps at two columns,
    twice; filtering the image costs two passes of ``2 * radius + 1`` taps per pixel, twice.
    """
    radius = int(4.0 * float(sigma) + 0.5)
    return count * (2 * radius + 2) < shape[0] * shape[1]


def gaussian_kernels(sigma: float, truncate: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """scipy's Gaussian and first-derivative kernels, as convolution weights.

    Returns
    -------
    smooth, derivative : (2 * radius + 1,) ndarray of float64
        ``radius = int(truncate * sigma + 0.5)``; index ``radius + x`` holds
        the weight of the pixel ``x`` before the output pixel (a convolution),
        so that filtering a ramp that rises by 1 a pixel gives a derivative of 1.
    """
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    smooth = np.exp(-0.5 / float(sigma) ** 2 * offsets ** 2)
    smooth /= smooth.sum()
    derivative = -offsets / float(sigma) ** 2 * smooth
    return smooth, derivative


def _compile():
    import numba

    @numba.njit(cache=True)
    def gradients(image, rows, cols, smooth, derivative):  # pragma: no cover - compiled
        height, width = image.shape
        radius = (smooth.shape[0] - 1) // 2
        span = 2 * radius + 2  # the rows that two neighbouring pixels' filters read
        count = rows.shape[0]
        d_row = np.empty(count)
        d_col = np.empty(count)
        # per keypoint: image rows filtered along columns at the two columns read
        smooth_cols = np.empty((span, 2))
        deriv_cols = np.empty((span, 2))
        for k in range(count):
            r = min(max(rows[k], 0.0), height - 1.0)
            c = min(max(cols[k], 0.0), width - 1.0)
            r0 = int(np.floor(r))
            c0 = int(np.floor(c))
            wr = r - r0
            wc = c - c0
            for i in range(span):
                row = min(max(r0 - radius + i, 0), height - 1)
                for j in range(2):
                    # convolution: the weight of offset x reads pixel centre - x; the
                    # derivative is odd and the Gaussian even, so the pixels at -x and +x
                    # are taken together (a flat image gives an exact zero)
                    centre = c0 + j
                    total_s = smooth[radius] * image[row, min(centre, width - 1)]
                    total_d = 0.0
                    for x in range(1, radius + 1):
                        before = image[row, min(max(centre - x, 0), width - 1)]
                        after = image[row, min(max(centre + x, 0), width - 1)]
                        total_s += smooth[radius + x] * (before + after)
                        total_d += derivative[radius + x] * (before - after)
                    smooth_cols[i, j] = total_s
                    deriv_cols[i, j] = total_d
            # along rows: pixel (r0 + a, c0 + j) reads filtered row r0 + a - x, index a + radius - x
            g_row = np.zeros((2, 2))
            g_col = np.zeros((2, 2))
            for a in range(2):
                middle = a + radius
                for j in range(2):
                    total_r = 0.0
                    total_c = smooth[radius] * deriv_cols[middle, j]
                    for x in range(1, radius + 1):
                        total_r += derivative[radius + x] * (smooth_cols[middle - x, j]
                                                             - smooth_cols[middle + x, j])
                        total_c += smooth[radius + x] * (deriv_cols[middle - x, j]
                                                         + deriv_cols[middle + x, j])
                    g_row[a, j] = total_r
                    g_col[a, j] = total_c
            d_row[k] = ((g_row[0, 0] * (1 - wc) + g_row[0, 1] * wc) * (1 - wr)
                        + (g_row[1, 0] * (1 - wc) + g_row[1, 1] * wc) * wr)
            d_col[k] = ((g_col[0, 0] * (1 - wc) + g_col[0, 1] * wc) * (1 - wr)
                        + (g_col[1, 0] * (1 - wc) + g_col[1, 1] * wc) * wr)
        return d_row, d_col

    return gradients


def smoothed_gradients(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-smoothed gradient of ``image`` at fractional (row, col) positions.

    Equals ``scipy.ndimage.gaussian_filter(image, sigma, order=(1, 0) or (0, 1),
    mode='nearest')`` read by ``map_coordinates(..., order=1, mode='nearest')``
    (to float rounding), computed only where it is read.

    Returns
    -------
    d_row, d_col : (N,) ndarray of float64
    """
    global _kernel
    if _kernel is None:
        _kernel = _compile()
    smooth, derivative = gaussian_kernels(sigma)
    return _kernel(np.ascontiguousarray(image, dtype=np.float32),
                   np.ascontiguousarray(rows, dtype=np.float64),
                   np.ascontiguousarray(cols, dtype=np.float64), smooth, derivative)
