"""The detector's peak finding (3 x 3 non-maximum suppression and thresholds), compiled with numba.

:meth:`sarfeat.SARR2D2Detector` keeps a pixel of a tile's core when its
repeatability is the maximum of its 3 x 3 neighbourhood (``max_pool2d`` with
``-inf`` padding, so the image's edges have smaller neighbourhoods) and both
maps reach their thresholds. torch computes the pooled map, three full-size
boolean maps and ``nonzero``; :func:`peaks` visits the core once and looks at
a pixel's neighbours only when it passes the thresholds, with the same
comparisons (float32 thresholds, a NaN neighbour wins as torch's pooling
lets it).

numba is optional (``pip install sarfeat[fast]``); :func:`available` says
whether it imports. The kernel is compiled on first use and cached on disk
by numba.
"""

from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["available", "peaks"]

_kernel = None


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _compile():
    import numba

    @numba.njit(cache=True)
    def find(repeatability, reliability, rep_threshold, rel_threshold, window):  # pragma: no cover
        """(rows, cols) of the peaks in ``window`` = (row0, row1, col0, col1), row-major."""
        height, width = repeatability.shape
        row0, row1, col0, col1 = window
        capacity = max(row1 - row0, 0) * max(col1 - col0, 0) // 8 + 16  # grown when full
        rows = np.empty(capacity, np.int64)
        cols = np.empty_like(rows)
        found = 0
        for row in range(row0, row1):
            up, down = max(row - 1, 0), min(row + 1, height - 1)
            for col in range(col0, col1):
                value = repeatability[row, col]
                if not (value >= rep_threshold and reliability[row, col] >= rel_threshold):
                    continue
                left, right = max(col - 1, 0), min(col + 1, width - 1)
                peak = True
                for r in range(up, down + 1):
                    for c in range(left, right + 1):
                        other = repeatability[r, c]
                        if other > value or other != other:  # a larger or NaN neighbour
                            peak = False
                if peak:
                    if found == rows.size:  # a plateau: ties are all peaks
                        rows = np.concatenate((rows, np.empty_like(rows)))
                        cols = np.concatenate((cols, np.empty_like(cols)))
                    rows[found], cols[found] = row, col
                    found += 1
        return rows[:found].copy(), cols[:found].copy()

    return find


def peaks(
    repeatability: np.ndarray,
    reliability: np.ndarray,
    repeatability_threshold: float,
    reliability_threshold: float,
    window: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of the repeatability that pass both thresholds, inside a window.

    Parameters
    ----------
    repeatability, reliability : ndarray, shape (H, W), float32
        The detector's maps.
    repeatability_threshold, reliability_threshold : float
        Compared as float32, as torch compares a float32 map with a Python float.
    window : tuple of int
        ``(row0, row1, col0, col1)``: the half-open range of pixels that may be
        peaks; the neighbourhoods extend over the whole map.

    Returns
    -------
    rows, cols : ndarray of int64
        The peaks, in row-major order (that of ``torch.nonzero``).
    """
    global _kernel
    if repeatability.shape != reliability.shape:
        raise ValueError(f"map shapes differ: {repeatability.shape} and {reliability.shape}")
    if _kernel is None:
        _kernel = _compile()
    return _kernel(
        np.asarray(repeatability, np.float32), np.asarray(reliability, np.float32),
        np.float32(repeatability_threshold), np.float32(reliability_threshold),
        tuple(int(w) for w in window),
    )
