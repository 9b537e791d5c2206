"""Fast-R2D2's two heads in one pass over the features, compiled with numba.

The heads are ``a . up(f) ** 2`` (a 1x1 projection of the squared, x2
bilinearly upsampled features; see
:func:`sarfeat.runtime.maps.quadratic_upsampling_kernels`). Each upsampled pixel
mixes the four feature pixels of a 2x2 block, so its projection is a
quadratic form in five weighted neighbour products per feature pixel
(the square and the right, down, down-right and down-left pairs). This
module computes those products while the features are in the CPU's cache
and combines them into full-resolution logits: no full-size temporary is
ever written, where torch needs one per product.

numba is optional (``pip install sarfeat[fast]``); :func:`available` says
whether it imports. The kernels are compiled on first use and cached on disk
by numba.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

__all__ = ["activation_functions", "available", "cropped_head_logits", "head_logits",
           "head_maps"]

#: bilinear x2 (half-pixel) weights of the block's first and second row (or column), by parity
_WEIGHTS = np.array([[0.75, 0.25], [0.25, 0.75]], np.float32)

_kernels = None
_LOCK = threading.Lock()


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _compile():
    import numba

    @numba.njit(parallel=True, fastmath=True, cache=True)
    def products(table, weight):  # pragma: no cover - compiled
        """(5, 2, h + 2, w + 2) weighted products on the replicate-padded grid."""
        height, width, channels = table.shape
        out = np.empty((5, 2, height + 2, width + 2), np.float32)  # every element is written
        weight0, weight1 = weight[0].copy(), weight[1].copy()
        for prange_row in numba.prange(height + 2):
            row = np.int64(prange_row)  # prange indices are unsigned: mixed with signed, float
            top = min(max(row - 1, 0), height - 1)
            bottom = min(row, height - 1)
            for col in range(width + 2):
                left = min(max(col - 1, 0), width - 1)
                right = min(col, width - 1)
                here, east = table[top, left], table[top, right]
                south, southeast = table[bottom, left], table[bottom, right]
                # float32 accumulators: a float64 one (a plain 0.0) stops vectorisation
                s0 = h0 = v0 = d0 = a0 = np.float32(0.0)
                s1 = h1 = v1 = d1 = a1 = np.float32(0.0)
                for c in range(channels):
                    x = here[c]
                    x0, x1 = weight0[c] * x, weight1[c] * x
                    s0 += x0 * x
                    s1 += x1 * x
                    h0 += x0 * east[c]
                    h1 += x1 * east[c]
                    v0 += x0 * south[c]
                    v1 += x1 * south[c]
                    d0 += x0 * southeast[c]
                    d1 += x1 * southeast[c]
                    e = east[c] * south[c]
                    a0 += weight0[c] * e
                    a1 += weight1[c] * e
                out[0, 0, row, col], out[0, 1, row, col] = s0, s1
                out[1, 0, row, col], out[1, 1, row, col] = h0, h1
                out[2, 0, row, col], out[2, 1, row, col] = v0, v1
                out[3, 0, row, col], out[3, 1, row, col] = d0, d1
                out[4, 0, row, col], out[4, 1, row, col] = a0, a1
        return out

    @numba.njit(cache=True, inline="always")
    def logit_at(prods, bias, weights, y, x, k):  # pragma: no cover - compiled
        """Head ``k``'s logit at output pixel (y, x): a quadratic form in its block's products."""
        i, by = (y + 1) // 2, (y + 1) % 2
        j, bx = (x + 1) // 2, (x + 1) % 2
        r0, r1 = weights[by, 0], weights[by, 1]
        c0, c1 = weights[bx, 0], weights[bx, 1]
        pa, pb, pc, pd = r0 * c0, r0 * c1, r1 * c0, r1 * c1  # the block's four pixels
        value = (pa * pa * prods[0, k, i, j] + pb * pb * prods[0, k, i, j + 1]
                 + pc * pc * prods[0, k, i + 1, j] + pd * pd * prods[0, k, i + 1, j + 1])
        value += 2 * (pa * pb * prods[1, k, i, j] + pc * pd * prods[1, k, i + 1, j]
                      + pa * pc * prods[2, k, i, j] + pb * pd * prods[2, k, i, j + 1]
                      + pa * pd * prods[3, k, i, j] + pb * pc * prods[4, k, i, j])
        return value + bias[k]

    @numba.njit(parallel=True, fastmath=True, cache=True)
    def combine(prods, bias, weights, out_height, out_width):  # pragma: no cover - compiled
        """(2, out_height, out_width) logits, the first pixels of the (2h, 2w) output."""
        out = np.empty((2, out_height, out_width), np.float32)
        for prange_y in numba.prange(out_height):
            y = np.int64(prange_y)
            for x in range(out_width):
                for k in range(2):
                    out[k, y, x] = logit_at(prods, bias, weights, y, x, k)
        return out

    return products, combine


def head_logits(features: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Full-resolution head logits from (h, w, C) channels-last float32 features.

    Parameters
    ----------
    features : ndarray, shape (h, w, C), float32
        Low-resolution trunk features.
    weight : ndarray, shape (2, C)
        1x1 projection of the two heads.
    bias : ndarray, shape (2,)

    Returns
    -------
    ndarray, shape (2, 2h, 2w), float32
    """
    return _evaluate(features, weight, bias, None)
def cropped_head_logits(features: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                        height: int, width: int) -> np.ndarray:
    """:func:`head_logits` of the first (height, width) pixels only (``<= (2h, 2w)``)."""
    if not (0 < height <= 2 * features.shape[0] and 0 < width <= 2 * features.shape[1]):
        raise ValueError(f"maps of {height} x {width} pixels need more than features "
                         f"{features.shape[:2]}")
    return _evaluate(features, weight, bias, (height, width))


def _evaluate(features, weight, bias, size: tuple[int, int] | None) -> np.ndarray:
    """The logits of all pixels (``size`` None) or of the first ``size`` pixels."""
    global _kernels
    if weight.shape[0] != 2:
        raise ValueError(f"the fused heads compute exactly two heads, not {weight.shape[0]}")
    table = np.ascontiguousarray(features, np.float32)
    if size is None:
        size = (2 * table.shape[0], 2 * table.shape[1])
    # one caller at a time: numba's parallel kernels are not safe to enter from several
    # threads under every threading layer (its 'workqueue' fallback), and the matcher
    # describes patches in two threads
    with _LOCK:
        if _kernels is None:
            _kernels = _compile()
        products, combine = _kernels
        prods = products(table, np.ascontiguousarray(weight, np.float32))
        return combine(prods, np.ascontiguousarray(bias, np.float32), _WEIGHTS, *size)


# -- activations -----------------------------------------------------------------------------

_activations = None


def activation_functions():
    """The compiled (reliability_of, repeatability_of) of one float32 logit each.

    Reliability is the sigmoid of logit 0, repeatability ``s / (1 + s)`` with
    ``s`` the softplus (torch's, linear above 20) of logit 1, as
    :func:`sarfeat.runtime.maps.head_activations` computes them. Compiled without
    fastmath, so that every kernel that calls them gets the same bits: the
    dense maps (:func:`head_maps`) and the detector's peaks found from the
    logits (:func:`sarfeat.runtime.kernels.peaks.peaks_from_logits`).
    """
    global _activations
    if _activations is None:
        import numba

        @numba.njit(cache=True)
        def reliability_of(logit):  # pragma: no cover - compiled
            one = np.float32(1.0)
            return one / (one + np.exp(-logit))

        @numba.njit(cache=True)
        def repeatability_of(logit):  # pragma: no cover - compiled
            saliency = logit
            if saliency <= 20:
                saliency = np.log1p(np.exp(saliency))
            return saliency / (np.float32(1.0) + saliency)

        _activations = reliability_of, repeatability_of
    return _activations


_activate = None


def head_maps(logits: np.ndarray) -> np.ndarray:
    """(2, H, W) float32 reliability and repeatability from the (2, H, W) head logits."""
    global _activate
    with _LOCK:
        if _activate is None:
            _activate = _compile_activate()
        return _activate(np.ascontiguousarray(logits, np.float32))


def _compile_activate():
    import numba

    reliability_of, repeatability_of = activation_functions()

    @numba.njit(cache=True, parallel=True)
    def activate(logits):  # pragma: no cover - compiled
        _, height, width = logits.shape
        out = np.empty((2, height, width), np.float32)
        for row in numba.prange(height):
            for col in range(width):
                out[0, row, col] = reliability_of(logits[0, row, col])
                out[1, row, col] = repeatability_of(logits[1, row, col])
        return out

    return activate
