"""numpy twins of the steering kernels: the same float operations, so the same bits.

:mod:`sarfeat.runtime.kernels.steering` computes the keypoint orientations'
gradients, the descriptor's prefilter and the turned patches with numba.
Without numba, :class:`sarfeat.orientation.LevelSteering` calls these
functions instead; each performs the kernel's operations in its order,
vectorised across keypoints (or pixels) instead of looping over them, so
that an install without numba gets the same orientations and descriptors
bit for bit (where scipy's filters and ``map_coordinates`` round and sum
in their own ways). Cosines and sines come from the C library (``math``),
as numba's do.
"""

from __future__ import annotations

import math

import numpy as np

from .kernels.steering import gaussian_kernels

__all__ = ["gaussian_smooth", "smoothed_gradients", "turned_patches", "ring_samples"]


def smoothed_gradients(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sarfeat.runtime.kernels.steering.smoothed_gradients` in numpy (the same bits).

    The Gaussian-smoothed gradient at fractional positions, from the
    ``2 * radius + 2`` rows and columns around each one: filtered along
    columns at the two columns the bilinear read needs, then along rows, in
    float64 with the kernel's pairing of the taps.

    Returns
    -------
    d_row, d_col : (N,) ndarray of float64
    """
    smooth, derivative = gaussian_kernels(sigma)
    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape
    radius = (smooth.shape[0] - 1) // 2
    span = 2 * radius + 2
    r = np.minimum(np.maximum(np.asarray(rows, np.float64), 0.0), height - 1.0)
    c = np.minimum(np.maximum(np.asarray(cols, np.float64), 0.0), width - 1.0)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    wr, wc = r - r0, c - c0
    offsets = np.arange(span) - radius
    columns = np.clip(c0[:, None] + offsets, 0, width - 1)  # (N, span)
    lines = np.clip(r0[:, None] + offsets, 0, height - 1)
    smooth_cols = np.empty((span, 2, r.size))
    deriv_cols = np.empty((span, 2, r.size))
    for i in range(span):
        values = image[lines[:, i, None], columns]  # (N, span) float32
        for j in range(2):
            middle = radius + j
            total_s = smooth[radius] * values[:, middle]
            total_d = np.zeros(r.size)
            for x in range(1, radius + 1):
                before, after = values[:, middle - x], values[:, middle + x]
                total_s = total_s + smooth[radius + x] * (before + after)
                total_d = total_d + derivative[radius + x] * (before - after)
            smooth_cols[i, j], deriv_cols[i, j] = total_s, total_d
    g_row = np.empty((2, 2, r.size))
    g_col = np.empty((2, 2, r.size))
    for a in range(2):
        middle = a + radius
        for j in range(2):
            total_r = np.zeros(r.size)
            total_c = smooth[radius] * deriv_cols[middle, j]
            for x in range(1, radius + 1):
                total_r = total_r + derivative[radius + x] * (smooth_cols[middle - x, j]
                                                              - smooth_cols[middle + x, j])
                total_c = total_c + smooth[radius + x] * (deriv_cols[middle - x, j]
                                                          + deriv_cols[middle + x, j])
            g_row[a, j], g_col[a, j] = total_r, total_c
    d_row = ((g_row[0, 0] * (1 - wc) + g_row[0, 1] * wc) * (1 - wr)
             + (g_row[1, 0] * (1 - wc) + g_row[1, 1] * wc) * wr)
    d_col = ((g_col[0, 0] * (1 - wc) + g_col[0, 1] * wc) * (1 - wr)
             + (g_col[1, 0] * (1 - wc) + g_col[1, 1] * wc) * wr)
    return d_row, d_col


def turned_patches(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   orientations: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """:func:`sarfeat.runtime.kernels.steering.turned_patches` in numpy (the same bits).

    Bilinear samples (float64, rounded to float32) on the turned grids, less
    their mean, over their norm; the sums run over the samples in order.

    Returns
    -------
    (N, P * P) ndarray of float32
        Zero rows for flat patches.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape
    grid = np.asarray(grid, np.float64)
    side = grid.shape[0]
    samples = side * side
    theta = np.asarray(orientations, np.float64)
    count = theta.shape[0]
    cos_t = np.array([math.cos(t) for t in theta], np.float64)[:, None]
    sin_t = np.array([math.sin(t) for t in theta], np.float64)[:, None]
    gx = np.tile(grid, side)[None]  # sample a * side + b: grid[b] along x, grid[a] along y
    gy = np.repeat(grid, side)[None]
    rows = np.asarray(rows, np.float64)[:, None]
    cols = np.asarray(cols, np.float64)[:, None]
    r = np.minimum(np.maximum(rows + sin_t * gx + cos_t * gy, 0.0), height - 1.0)
    c = np.minimum(np.maximum(cols + cos_t * gx - sin_t * gy, 0.0), width - 1.0)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, height - 1), np.minimum(c0 + 1, width - 1)
    wr, wc = r - r0, c - c0
    values = ((image[r0, c0] * (1 - wc) + image[r0, c1] * wc) * (1 - wr)
              + (image[r1, c0] * (1 - wc) + image[r1, c1] * wc) * wr)
    values = values.astype(np.float32).astype(np.float64)
    total = np.zeros(count)
    for i in range(samples):
        total = total + values[:, i]
    values -= (total / samples)[:, None]
    norm = np.zeros(count)
    for i in range(samples):
        norm = norm + values[:, i] * values[:, i]
    norm = np.sqrt(norm)
    out = np.zeros((count, samples), np.float32)
    textured = norm > 1e-6
    out[textured] = values[textured] / norm[textured, None]
    return out


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """:func:`sarfeat.runtime.kernels.steering.gaussian_smooth` in numpy (the same bits).

    scipy's kernel (edges repeated) in float32: along axis 0, then axis 1,
    each pixel the centre tap plus the pairs of taps ``x`` away, outwards.
    """
    smooth, _ = gaussian_kernels(sigma)
    weights = smooth.astype(np.float32)
    radius = (weights.shape[0] - 1) // 2
    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape
    padded = np.pad(image, ((radius, radius), (0, 0)), mode="edge")
    across = weights[radius] * image
    for x in range(1, radius + 1):
        across += weights[radius + x] * (padded[radius - x:radius - x + height]
                                         + padded[radius + x:radius + x + height])
    padded = np.pad(across, ((0, 0), (radius, radius)), mode="edge")
    out = weights[radius] * across
    for x in range(1, radius + 1):
        out += weights[radius + x] * (padded[:, radius - x:radius - x + width]
                                      + padded[:, radius + x:radius + x + width])
    return out


def ring_samples(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, radii: np.ndarray,
                 sin_a: np.ndarray, cos_a: np.ndarray) -> np.ndarray:
    """:func:`sarfeat.runtime.kernels.steering.ring_samples` in numpy (the same bits).

    Returns
    -------
    (N, R, A) ndarray of float64
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape
    radii = np.asarray(radii, np.float64)[None, :, None]
    rows = np.asarray(rows, np.float64)[:, None, None]
    cols = np.asarray(cols, np.float64)[:, None, None]
    r = np.minimum(np.maximum(rows + radii * np.asarray(sin_a, np.float64), 0.0), height - 1.0)
    c = np.minimum(np.maximum(cols + radii * np.asarray(cos_a, np.float64), 0.0), width - 1.0)
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, height - 1), np.minimum(c0 + 1, width - 1)
    wr, wc = r - r0, c - c0
    return ((image[r0, c0] * (1 - wc) + image[r0, c1] * wc) * (1 - wr)
            + (image[r1, c0] * (1 - wc) + image[r1, c1] * wc) * wr)
