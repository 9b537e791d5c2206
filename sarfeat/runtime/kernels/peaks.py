"""The detector's peak finding (3 x 3 non-maximum suppression and thresholds), compiled with numba.

:meth:`sarfeat.SARR2D2Detector` keeps a pixel of a tile's core when its
repeatability is the maximum of its 3 x 3 neighbourhood (``max_pool2d`` with
``-inf`` padding, so the image's edges have smaller neighbourhoods) and both
maps reach their thresholds. torch computes the pooled map, three full-size
boolean maps and ``nonzero``; :func:`peaks` visits the core once and looks at
a pixel's neighbours only when it passes the thresholds, with the same
comparisons (float32 thresholds, a NaN neighbour wins as torch's pooling
lets it). :func:`peaks_from_logits` and :func:`peaks_from_features` find the
same peaks from the heads' logits, evaluating the maps only where they are
read; a pixel with a clearly larger (or NaN) neighbour logit is dropped
before any map value is computed, and :func:`peaks_from_features` computes
the reliability logit itself only at the pixels that remain.

numba is optional (``pip install sarfeat[fast]``); :func:`available` says
whether it imports. The kernel is compiled on first use and cached on disk
by numba.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

__all__ = ["available", "logit_cut", "peaks", "peaks_from_features", "peaks_from_logits"]

_kernel = None
_logit_kernel = None


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _storage():
    """Compiled (start, append) of the peak lists, shared by both kernels."""
    import numba

    @numba.njit(cache=True)
    def start(window):  # pragma: no cover - compiled
        row0, row1, col0, col1 = window
        capacity = max(row1 - row0, 0) * max(col1 - col0, 0) // 8 + 16  # grown when full
        return np.empty(capacity, np.int64), np.empty(capacity, np.int64)

    @numba.njit(cache=True)
    def append(rows, cols, found, row, col):  # pragma: no cover - compiled
        if found == rows.size:  # a plateau: ties are all peaks
            rows = np.concatenate((rows, np.empty_like(rows)))
            cols = np.concatenate((cols, np.empty_like(cols)))
        rows[found], cols[found] = row, col
        return rows, cols

    return start, append


def _compile():
    global start, append  # module globals: see _compile_from_logits
    import numba

    start, append = _storage()

    @numba.njit(cache=True)
    def find(repeatability, reliability, rep_threshold, rel_threshold, window):  # pragma: no cover
        """(rows, cols) of the peaks in ``window`` = (row0, row1, col0, col1), row-major."""
        height, width = repeatability.shape
        row0, row1, col0, col1 = window
        rows, cols = start(window)
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
                    rows, cols = append(rows, cols, found, row, col)
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


def logit_cut(threshold: float, kind: str) -> float:
    """A logit below which a map value cannot reach ``threshold`` (with a margin), or -inf.

    ``kind`` is ``'reliability'`` (sigmoid) or ``'repeatability'`` (``s / (1 + s)``
    of the softplus). The margin (0.01 in logit units) exceeds what float32
    rounding of the maps can move a threshold crossing by, for thresholds up to
    0.99; beyond that, and at 0 or below, there is no cut.
    """
    if not 0 < threshold <= 0.99:
        return -math.inf
    if kind == "reliability":
        exact = math.log(threshold / (1 - threshold))
    else:
        exact = math.log(math.expm1(threshold / (1 - threshold)))
    return exact - 0.01


def _compile_from_logits():
    # helpers the kernels call are module globals, not closure cells: numba's disk cache
    # then really hits in a new process (a kernel that captures a dispatcher is compiled again)
    global reliability_of, repeatability_of, start, append, beaten, logit_at, reliability_logit
    import numba

    from .heads import activation_functions, logit_function

    reliability_of, repeatability_of = activation_functions()
    logit_at = logit_function()
    start, append = _storage()

    @numba.njit(cache=True)
    def beaten(saliency, up, down, left, right, bound):  # pragma: no cover - compiled
        """Whether a logit of rows up..down, columns left..right is NaN or above ``bound``."""
        for r in range(up, down + 1):
            line = saliency[r]
            for c in range(left, right + 1):
                other = line[c]
                if other != other or other > bound:
                    return True
        return False

    @numba.njit(cache=True)
    def reliability_logit(dense, table, factors, bias, coefficients, row, col):  # pragma: no cover
        """The reliability logit at (row, col): read from ``dense``, or computed from the
        features where ``dense`` is empty (the same bits)."""
        if dense.shape[0] > 0:
            return dense[row, col]
        return logit_at(table, factors, bias, coefficients, row, col)

    @numba.njit(cache=True)
    def find(saliency, dense, table, factors, bias, coefficients, rep_threshold, rel_threshold,
             rep_cut, rel_cut, window):  # pragma: no cover - compiled
        height, width = saliency.shape
        row0, row1, col0, col1 = window
        rows, cols = start(window)
        found = 0
        for row in range(row0, row1):
            up, down = max(row - 1, 0), min(row + 1, height - 1)
            line = saliency[row]
            for col in range(col0, col1):
                centre = line[col]
                if not centre >= rep_cut:
                    continue  # cannot reach the threshold: the maps are not needed here
                # a neighbour's logit far from the centre's decides the comparison (the
                # map is increasing, and this margin dwarfs its float32 rounding); only
                # close ones are compared as map values, as peaks() compares them. Where
                # the map flattens to a few float32 values (very large or very negative
                # logits) every neighbour is compared as a map value
                margin = 1e-3 * max(1.0, abs(centre)) if -80.0 < centre < 1000.0 else np.inf
                left, right = max(col - 1, 0), min(col + 1, width - 1)
                if beaten(saliency, up, down, left, right, centre + margin):
                    continue  # not a peak, whatever the maps' values: none are computed
                value = repeatability_of(centre)
                if not value >= rep_threshold:
                    continue  # before the reliability logit, which may cost more
                logit = reliability_logit(dense, table, factors, bias, coefficients, row, col)
                if not (logit >= rel_cut and reliability_of(logit) >= rel_threshold):
                    continue
                peak = True
                for r in range(up, down + 1):
                    for c in range(left, right + 1):
                        other = saliency[r, c]
                        if other != other or other > centre + margin:  # NaN or larger
                            peak = False
                        elif other >= centre - margin and repeatability_of(other) > value:
                            peak = False
                        if not peak:
                            break
                    if not peak:
                        break
                if peak:
                    rows, cols = append(rows, cols, found, row, col)
                    found += 1
        rows, cols = rows[:found].copy(), cols[:found].copy()
        # the maps at the peaks: reliability, and repeatability at the peak and its four
        # neighbours (up, down, left, right; edges repeated) for the sub-pixel offsets
        reliability = np.empty(found, np.float32)
        repeatability = np.empty((5, found), np.float32)
        for k in range(found):
            row, col = rows[k], cols[k]
            reliability[k] = reliability_of(
                reliability_logit(dense, table, factors, bias, coefficients, row, col))
            repeatability[0, k] = repeatability_of(saliency[row, col])
            repeatability[1, k] = repeatability_of(saliency[max(row - 1, 0), col])
            repeatability[2, k] = repeatability_of(saliency[min(row + 1, height - 1), col])
            repeatability[3, k] = repeatability_of(saliency[row, max(col - 1, 0)])
            repeatability[4, k] = repeatability_of(saliency[row, min(col + 1, width - 1)])
        return rows, cols, reliability, repeatability

    return find


def _run(saliency, dense, table, factors, bias, thresholds, window):
    """The peak kernel on float32 inputs; ``thresholds`` = (repeatability, reliability)."""
    global _logit_kernel
    if _logit_kernel is None:
        _logit_kernel = _compile_from_logits()
    from .heads import COEFFICIENTS

    repeatability_threshold, reliability_threshold = thresholds
    return _logit_kernel(
        np.ascontiguousarray(saliency, np.float32), np.ascontiguousarray(dense, np.float32),
        np.ascontiguousarray(table, np.float32), np.ascontiguousarray(factors, np.float32),
        np.float32(bias), COEFFICIENTS, np.float32(repeatability_threshold),
        np.float32(reliability_threshold),
        np.float32(logit_cut(repeatability_threshold, "repeatability")),
        np.float32(logit_cut(reliability_threshold, "reliability")),
        tuple(int(w) for w in window),
    )


def peaks_from_logits(
    logits: np.ndarray,
    repeatability_threshold: float,
    reliability_threshold: float,
    window: tuple[int, int, int, int],
):
    """:func:`peaks` of the maps of the (2, H, W) head logits, computing the maps only where read.

    The maps are evaluated (with the compiled functions that
    :func:`sarfeat.runtime.kernels.heads.head_maps` uses, so with the same bits as
    those maps and as numpy's, :func:`sarfeat.runtime.head_arithmetic.activations`) at
    the pixels whose logits pass :func:`logit_cut` and at their neighbours;
    the peaks are then exactly those of :func:`peaks` on the full maps.

    Returns
    -------
    rows, cols : ndarray of int64
        The peaks, row-major.
    reliability : ndarray of float32
        Reliability at the peaks.
    repeatability : ndarray, shape (5, N), float32
        Repeatability at the peaks and at their up, down, left and right
        neighbours (the edge pixel where a neighbour would lie outside).
    """
    logits = np.asarray(logits, np.float32)
    return _run(logits[1], logits[0], np.zeros((0, 0, 1), np.float32), np.zeros(1, np.float32),
                0.0, (repeatability_threshold, reliability_threshold), window)


def peaks_from_features(
    saliency: np.ndarray,
    features: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    repeatability_threshold: float,
    reliability_threshold: float,
    window: tuple[int, int, int, int],
):
    """:func:`peaks_from_logits` from the saliency logits alone and the trunk's features.

    The reliability logit (head 0) is computed from the (h, w, C) ``features``
    only at the pixels where it is read, with the bits of the dense heads
    (:func:`sarfeat.runtime.kernels.heads.logit_function`); ``saliency`` is
    :func:`sarfeat.runtime.kernels.heads.saliency_logits`. The same peaks and
    values as :func:`peaks_from_logits` on the full logits, for a small share
    of the reliability head's work.

    Parameters
    ----------
    saliency : ndarray, shape (H, W), float32
        The saliency logits (head 1).
    features : ndarray, shape (h, w, C), float32
        The low-resolution trunk features.
    weight, bias : ndarray, shapes (2, C) and (2,)
        The heads' 1x1 projection.
    repeatability_threshold, reliability_threshold : float
    window : tuple of int
        As :func:`peaks`.

    Returns
    -------
    rows, cols, reliability, repeatability
        As :func:`peaks_from_logits`.
    """
    weight = np.asarray(weight, np.float32)
    return _run(saliency, np.zeros((0, 0), np.float32), features, weight[0],
                np.asarray(bias, np.float32)[0], (repeatability_threshold, reliability_threshold),
                window)
