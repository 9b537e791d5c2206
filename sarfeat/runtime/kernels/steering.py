"""The keypoint orientation and turned patch of :mod:`sarfeat.orientation`, compiled with numba.

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
agree with scipy's to about 1e-6 relative.

Every kernel here has a numpy twin with the same operations in the same
order (:mod:`sarfeat.runtime.steering_arithmetic`): without numba the
orientations and patches are the same bits.

:func:`gaussian_smooth` is the descriptor's prefilter in float32 on numba's
threads, and :func:`turned_patches` samples the turned descriptor grids and normalises
them in one pass per keypoint, where ``describe`` builds (N, P * P)
coordinate and value arrays for scipy and numpy.

numba is optional; :func:`available` says whether it imports. The kernel is
compiled on first use and cached on disk; positions are shared among numba's threads.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

from . import start_sleeping_threads

__all__ = ["available", "cheaper_than_filtering", "gaussian_kernels", "smoothed_gradients",
           "gaussian_smooth", "turned_patches", "ring_samples"]

_kernel = None
_LOCK = threading.Lock()


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def cheaper_than_filtering(count: int, shape: tuple[int, int], sigma: float) -> bool:
    """Whether :func:`smoothed_gradients` at ``count`` positions costs less than filtering
    ``shape``.

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
    # helpers the kernels call are module globals, not closure cells: numba's disk cache
    # then really hits in a new process (a kernel that captures a dispatcher is compiled again)
    global at_one
    import numba

    start_sleeping_threads()  # before the first parallel kernel

    # no fastmath here or below: every sum runs in the order written, which
    # sarfeat.runtime.steering_arithmetic repeats in numpy (the same bits)
    @numba.njit(cache=True)
    def at_one(image, r, c, smooth, derivative):  # pragma: no cover - compiled
        """(d_row, d_col) at one position: the filtered 2 x 2 pixels, interpolated."""
        height, width = image.shape
        radius = (smooth.shape[0] - 1) // 2
        span = 2 * radius + 2  # the rows (and columns) that two neighbouring pixels read
        r = min(max(r, 0.0), height - 1.0)
        c = min(max(c, 0.0), width - 1.0)
        r0, c0 = int(np.floor(r)), int(np.floor(c))
        wr, wc = r - r0, c - c0
        # the span x span window, transposed: window[t, i] is row r0 - radius + i, column
        # c0 - radius + t (edges repeated), so that a column's taps are contiguous rows
        lines = np.empty(span, np.int64)
        for i in range(span):
            lines[i] = min(max(r0 - radius + i, 0), height - 1)
        window = np.empty((span, span), np.float32)
        for t in range(span):
            column = min(max(c0 - radius + t, 0), width - 1)
            target = window[t]
            for i in range(span):
                target[i] = image[lines[i], column]
        # image rows filtered along columns at columns c0 and c0 + 1 (index radius + j);
        # convolution: the weight of offset x reads pixel centre - x. The derivative is odd
        # and the Gaussian even, so pixels -x and +x are taken together (flat gives 0).
        # Each row's sums add the taps outwards in order; the rows are independent, so
        # they advance together (one tap at a time over all rows, vectorised)
        smooth_cols = np.empty((2, span))
        deriv_cols = np.empty((2, span))
        for j in range(2):
            middle = radius + j
            total_s, total_d = smooth_cols[j], deriv_cols[j]
            centre = window[middle]
            for i in range(span):
                total_s[i] = smooth[radius] * centre[i]
                total_d[i] = 0.0
            for x in range(1, radius + 1):
                before, after = window[middle - x], window[middle + x]
                weight_s, weight_d = smooth[radius + x], derivative[radius + x]
                for i in range(span):
                    total_s[i] += weight_s * (before[i] + after[i])
                    total_d[i] += weight_d * (before[i] - after[i])
        # along rows: pixel (r0 + a, c0 + j) reads filtered row index a + radius - x
        g_row = np.empty((2, 2))
        g_col = np.empty((2, 2))
        for a in range(2):
            middle = a + radius
            for j in range(2):
                total_r = 0.0
                total_c = smooth[radius] * deriv_cols[j, middle]
                for x in range(1, radius + 1):
                    total_r += derivative[radius + x] * (smooth_cols[j, middle - x]
                                                         - smooth_cols[j, middle + x])
                    total_c += smooth[radius + x] * (deriv_cols[j, middle - x]
                                                     + deriv_cols[j, middle + x])
                g_row[a, j] = total_r
                g_col[a, j] = total_c
        d_row = ((g_row[0, 0] * (1 - wc) + g_row[0, 1] * wc) * (1 - wr)
                 + (g_row[1, 0] * (1 - wc) + g_row[1, 1] * wc) * wr)
        d_col = ((g_col[0, 0] * (1 - wc) + g_col[0, 1] * wc) * (1 - wr)
                 + (g_col[1, 0] * (1 - wc) + g_col[1, 1] * wc) * wr)
        return d_row, d_col

    @numba.njit(cache=True, parallel=True)
    def gradients(image, rows, cols, smooth, derivative):  # pragma: no cover - compiled
        count = rows.shape[0]
        d_row = np.empty(count)
        d_col = np.empty(count)
        for k in numba.prange(count):
            d_row[k], d_col[k] = at_one(image, rows[k], cols[k], smooth, derivative)
        return d_row, d_col

    @numba.njit(cache=True, parallel=True)
    def patches(image, rows, cols, orientations, grid):  # pragma: no cover - compiled
        height, width = image.shape
        count, samples = rows.shape[0], grid.shape[0] ** 2
        side = grid.shape[0]
        out = np.zeros((count, samples), np.float32)
        for k in numba.prange(count):
            cos_t, sin_t = np.cos(orientations[k]), np.sin(orientations[k])
            values = np.empty(samples)
            for a in range(side):  # a: along the grid's y axis (rows), b: along x
                for b in range(side):
                    gx, gy = grid[b], grid[a]
                    r = min(max(rows[k] + sin_t * gx + cos_t * gy, 0.0), height - 1.0)
                    c = min(max(cols[k] + cos_t * gx - sin_t * gy, 0.0), width - 1.0)
                    r0, c0 = int(np.floor(r)), int(np.floor(c))
                    r1, c1 = min(r0 + 1, height - 1), min(c0 + 1, width - 1)
                    wr, wc = r - r0, c - c0
                    # rounded to float32, as map_coordinates returns the image's dtype
                    values[a * side + b] = np.float32(
                        (image[r0, c0] * (1 - wc) + image[r0, c1] * wc) * (1 - wr)
                        + (image[r1, c0] * (1 - wc) + image[r1, c1] * wc) * wr)
            mean = 0.0
            for i in range(samples):
                mean += values[i]
            mean /= samples
            norm = 0.0
            for i in range(samples):
                values[i] -= mean
                norm += values[i] * values[i]
            norm = np.sqrt(norm)
            if norm > 1e-6:
                for i in range(samples):
                    out[k, i] = values[i] / norm
        return out

    # no fastmath: a pixel's value must not depend on where it falls in a vectorised loop
    # (a window of a level gives the level's values). Each pass adds the taps outwards,
    # one tap at a time over a whole row: the same sums as tap by tap at each pixel, in
    # loops over contiguous pixels that the compiler vectorises
    @numba.njit(cache=True, parallel=True)
    def smooth_image(image, kernel):  # pragma: no cover - compiled
        height, width = image.shape
        radius = (kernel.shape[0] - 1) // 2
        weights = kernel.astype(np.float32)
        across = np.empty((height, width), np.float32)  # along axis 0 first, as scipy
        for row in numba.prange(height):
            line = across[row]
            centre = image[row]
            for col in range(width):
                line[col] = weights[radius] * centre[col]
            for x in range(1, radius + 1):
                above = image[max(row - x, 0)]
                below = image[min(row + x, height - 1)]
                w = weights[radius + x]
                for col in range(width):
                    line[col] += w * (above[col] + below[col])
        out = np.empty((height, width), np.float32)
        for row in numba.prange(height):
            line = across[row]
            padded = np.empty(width + 2 * radius, np.float32)  # the row, edges repeated
            for col in range(radius):
                padded[col] = line[0]
                padded[radius + width + col] = line[width - 1]
            for col in range(width):
                padded[radius + col] = line[col]
            target = out[row]
            for col in range(width):
                target[col] = weights[radius] * line[col]
            for x in range(1, radius + 1):
                w = weights[radius + x]
                before = padded[radius - x:radius - x + width]
                after = padded[radius + x:radius + x + width]
                for col in range(width):
                    target[col] += w * (before[col] + after[col])
        return out

    @numba.njit(cache=True, parallel=True)
    def rings(image, rows, cols, radii, sin_a, cos_a):  # pragma: no cover - compiled
        height, width = image.shape
        count, ring_count, angles = rows.shape[0], radii.shape[0], sin_a.shape[0]
        out = np.empty((count, ring_count, angles))
        for k in numba.prange(count):
            for i in range(ring_count):
                for j in range(angles):
                    r = min(max(rows[k] + radii[i] * sin_a[j], 0.0), height - 1.0)
                    c = min(max(cols[k] + radii[i] * cos_a[j], 0.0), width - 1.0)
                    r0, c0 = int(np.floor(r)), int(np.floor(c))
                    r1, c1 = min(r0 + 1, height - 1), min(c0 + 1, width - 1)
                    wr, wc = r - r0, c - c0
                    out[k, i, j] = ((image[r0, c0] * (1 - wc) + image[r0, c1] * wc) * (1 - wr)
                                    + (image[r1, c0] * (1 - wc) + image[r1, c1] * wc) * wr)
        return out

    return gradients, patches, smooth_image, rings


def _run(index: int, *args):
    """Call compiled kernel ``index`` (gradients, patches, smoothing, rings), compiling them first.

    One caller at a time: numba's parallel kernels are not safe to enter from several
    threads under every threading layer (its 'workqueue' fallback).
    """
    global _kernel
    with _LOCK:
        if _kernel is None:
            _kernel = _compile()
        return _kernel[index](*args)


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
    smooth, derivative = gaussian_kernels(sigma)
    return _run(0, np.ascontiguousarray(image, dtype=np.float32),
                np.ascontiguousarray(rows, dtype=np.float64),
                np.ascontiguousarray(cols, dtype=np.float64), smooth, derivative)


def turned_patches(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   orientations: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-norm samples of ``image`` on grids turned by ``orientations``.

    What :meth:`sarfeat.orientation.LevelSteering.describe` computes from its
    prefiltered image with ``map_coordinates(order=1, mode='nearest')`` and
    numpy, in one pass per keypoint.

    Parameters
    ----------
    image : (H, W) ndarray
        The prefiltered image.
    rows, cols, orientations : (N,) ndarray
        Positions in ``image`` and orientations (radians, ``atan2(d_row, d_col)``).
    grid : (P,) ndarray
        Sample offsets along each axis of the turned grid, in pixels.

    Returns
    -------
    (N, P * P) ndarray of float32
        Rows in the grid's row-major order; zero rows for flat patches.
    """
    return _run(1, np.ascontiguousarray(image, dtype=np.float32),
                np.ascontiguousarray(rows, dtype=np.float64),
                np.ascontiguousarray(cols, dtype=np.float64),
                np.ascontiguousarray(orientations, dtype=np.float64),
                np.ascontiguousarray(grid, dtype=np.float64))


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma, mode='nearest')`` in float32 arithmetic.

    The same kernel and order of passes, both on numba's threads; scipy sums
    in float64, so the two differ by float32 rounding (about 1e-6 relative).
    """
    smooth, _ = gaussian_kernels(sigma)
    return _run(2, np.ascontiguousarray(image, dtype=np.float32), smooth)


def ring_samples(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, radii: np.ndarray,
                 sin_a: np.ndarray, cos_a: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` on rings around (row, col) positions.

    What :func:`sarfeat.polar_descriptor.polar_samples` computes, one
    keypoint per loop: sample ``j`` of ring ``i`` lies at ``(row + radii[i] *
    sin_a[j], col + radii[i] * cos_a[j])``, clipped to the image.

    Returns
    -------
    (N, R, A) ndarray of float64
    """
    return _run(3, np.ascontiguousarray(image, dtype=np.float32),
                np.ascontiguousarray(rows, dtype=np.float64),
                np.ascontiguousarray(cols, dtype=np.float64),
                np.ascontiguousarray(radii, dtype=np.float64),
                np.ascontiguousarray(sin_a, dtype=np.float64),
                np.ascontiguousarray(cos_a, dtype=np.float64))
