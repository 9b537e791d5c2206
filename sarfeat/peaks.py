"""Keypoints on the network's maps: 3 x 3 maxima above both thresholds, refined to sub-pixel.

:func:`find_peaks` compiles one pass with numba where it is installed (the
same peaks as the numpy path, max pooling's rules); :func:`peak_window` keeps
a tile's core less the level's :func:`~sarfeat.pyramid.edge_margin`;
:func:`quadratic_offset` places a peak between pixels;
:func:`refined_tile_peaks` does all three on a tile's maps.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .pyramid import edge_margin
from .runtime import DenseMaps, Tile
from .runtime.kernels import peaks as fused_peaks
from .runtime.kernels import worth_compiling

__all__ = ["find_peaks", "peak_window", "quadratic_offset", "refined_tile_peaks"]


def quadratic_offset(minus: np.ndarray, center: np.ndarray, plus: np.ndarray) -> np.ndarray:
    """Sub-pixel offset of the vertex of the parabola through three samples.

    Parameters
    ----------
    minus, center, plus : ndarray
        The samples at -1, 0 and +1.

    Returns
    -------
    ndarray of float32
        Within (-0.5, 0.5); 0 where the samples curve up or not at all.
    """
    curvature = minus - 2 * center + plus
    offset = np.where(curvature < 0,
                      np.float32(0.5) * (minus - plus) / np.minimum(curvature, np.float32(-1e-12)),
                      np.float32(0.0))
    # strictly inside half a pixel, so that rounding a refined keypoint finds its peak again
    return np.clip(offset, -0.499, 0.499).astype(np.float32)


def peak_window(shape: tuple[int, int], core: tuple[slice, slice], margin: int | None = None
                 ) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1): the pixels of ``core`` at least ``margin`` inside.

    Parameters
    ----------
    shape : tuple of int
        The maps' (rows, cols).
    core : (slice, slice)
        Rows and columns of the maps where peaks count.
    margin : int, optional
        The level's :func:`~sarfeat.pyramid.edge_margin` (by default, that of ``shape``).

    Returns
    -------
    tuple of int
    """
    bounds = []
    margin = edge_margin(shape) if margin is None else margin
    for size, part in zip(shape, core):
        inside, away = range(size)[part], range(size)[margin:-margin]
        bounds += [max(inside.start, away.start), min(inside.stop, away.stop)]
    return tuple(bounds)


def find_peaks(
    repeatability: np.ndarray,
    reliability: np.ndarray,
    repeatability_threshold: float,
    reliability_threshold: float,
    core: tuple[slice, slice],
    margin: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the 3 x 3 maxima of ``repeatability`` that pass both thresholds.

    Only pixels of ``core`` (row and column slices of the maps) count, less
    :func:`~sarfeat.pyramid.edge_margin` pixels along the maps' own edges (elsewhere the halo keeps
    those outside the core). Row-major order; with numba, one compiled pass
    gives the same peaks.

    Parameters
    ----------
    repeatability, reliability : (H, W) ndarray
        The network's maps.
    repeatability_threshold, reliability_threshold : float
        A peak's values are at least these.
    core : (slice, slice)
        As for :func:`peak_window`.
    margin : int, optional
        As for :func:`peak_window`.

    Returns
    -------
    rows, cols : ndarray of int
    """
    height, width = repeatability.shape
    if fused_peaks.available() and worth_compiling(height * width):
        found = fused_peaks.peaks(np.ascontiguousarray(repeatability, np.float32),
                                  np.ascontiguousarray(reliability, np.float32),
                                  repeatability_threshold, reliability_threshold,
                                  peak_window((height, width), core, margin))
        return found[0], found[1]
    # a 3 x 3 maximum with the outside as -inf (max pooling's padding); a NaN neighbour wins
    filled = np.where(np.isnan(repeatability), np.float32(np.inf), repeatability)
    local_max = ndimage.maximum_filter(filled, size=3, mode="constant", cval=-np.inf)
    peaks = (
        (repeatability == local_max)
        & (repeatability >= np.float32(repeatability_threshold))
        & (reliability >= np.float32(reliability_threshold))
    )
    allowed = np.zeros_like(peaks)
    allowed[core] = True
    margin = edge_margin((height, width)) if margin is None else margin
    allowed[:margin] = allowed[-margin:] = False
    allowed[:, :margin] = allowed[:, -margin:] = False
    return np.nonzero(peaks & allowed)


def refined_tile_peaks(maps: DenseMaps, tile: Tile, margin: int, reliability_threshold: float,
                       repeatability_threshold: float) -> tuple[np.ndarray, ...]:
    """Peaks of a tile's core, at the peak pixel and refined to sub-pixel.

    Parameters
    ----------
    maps : DenseMaps
        The network's maps of the tile (with its halo).
    tile : Tile
        Where the tile lies on its level: keypoints are kept in ``tile.core``.
    margin : int
        The level's :func:`~sarfeat.pyramid.edge_margin`.
    reliability_threshold, repeatability_threshold : float

    Returns
    -------
    rows, cols : (N,) ndarray of int
        Peak pixels in tile coordinates (where upright descriptors are read).
    level_rows, level_cols : (N,) ndarray of float64
        The peaks on the level, moved by the parabola through each peak and its
        neighbours (none at the maps' edge); the sums in float32, as the peak
        positions and offsets are.
    reliabilities, repeatabilities : (N,) ndarray of float32
        The maps' values at the peak pixels.

    Notes
    -----
    The peaks and the values around them are compiled from the logits when the
    maps have not been computed (:meth:`sarfeat.runtime.DenseMaps.peaks`: the
    same peaks and values, the maps evaluated only where read).
    """
    r0, _, c0, _ = tile.outer
    cr0, cr1, cc0, cc1 = tile.core
    core = (slice(cr0 - r0, cr1 - r0), slice(cc0 - c0, cc1 - c0))
    height, width = maps.shape
    found = maps.peaks(repeatability_threshold, reliability_threshold,
                       peak_window((height, width), core, margin))
    if found is not None:
        rows, cols, reliabilities, around = found
    else:
        reliability, repeatability = maps.reliability, maps.repeatability
        rows, cols = find_peaks(repeatability, reliability, repeatability_threshold,
                                reliability_threshold, core, margin)
        up, down = np.maximum(rows - 1, 0), np.minimum(rows + 1, height - 1)
        left, right = np.maximum(cols - 1, 0), np.minimum(cols + 1, width - 1)
        # repeatability at each peak and its up, down, left and right neighbours
        around = np.stack([repeatability[rows, cols], repeatability[up, cols],
                           repeatability[down, cols], repeatability[rows, left],
                           repeatability[rows, right]])
        reliabilities = reliability[rows, cols]
    centre = around[0]
    drow = quadratic_offset(around[1], centre, around[2])
    dcol = quadratic_offset(around[3], centre, around[4])
    drow = np.where((rows > 0) & (rows < height - 1), drow, np.float32(0.0))
    dcol = np.where((cols > 0) & (cols < width - 1), dcol, np.float32(0.0))
    level_rows = ((rows.astype(np.float32) + drow) + np.float32(r0)).astype(np.float64)
    level_cols = ((cols.astype(np.float32) + dcol) + np.float32(c0)).astype(np.float64)
    return (rows, cols, level_rows, level_cols, np.asarray(reliabilities, np.float32),
            np.asarray(centre, np.float32))
