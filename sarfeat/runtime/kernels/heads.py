"""Fast-R2D2's two heads in one pass over the features, compiled with numba.

The heads are ``a . up(f) ** 2`` (a 1x1 projection of the squared, x2
bilinearly upsampled features; see
:func:`sarfeat.runtime.head_arithmetic.quadratic_upsampling_kernels`). Each
upsampled pixel mixes the four feature pixels of a 2x2 block, so its
projection is a quadratic form in five weighted neighbour products per
feature pixel (the square and the right, down, down-right and down-left
pairs). This module computes those products one padded row at a time, the
row's channels transposed into a buffer in the CPU's cache, and combines
them into full-resolution logits: no full-size temporary of channels is
ever written, where torch needs one per product.

Every float operation is the one :mod:`sarfeat.runtime.head_arithmetic`
prescribes, in its order and without fastmath (no reassociation, no fused
multiply-add): the numpy fallback in :mod:`sarfeat.runtime.maps` gives the
same bits. The products are vectorised across the pixels of a row, each
accumulated over the channels in order.

The detector needs the saliency head (repeatability) at every pixel, but the
reliability head only where a peak may be: :func:`saliency_logits` computes
the first alone (the same bits as both heads together), and
:func:`logit_function` gives one head's logit at one pixel from the four
feature pixels its block reads, with the same operations in the same order
(:func:`sarfeat.runtime.kernels.peaks.peaks_from_features` calls it).

numba is optional (``pip install sarfeat[fast]``); :func:`available` says
whether it imports. The kernels are compiled on first use and cached on disk
by numba.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

from .. import head_arithmetic as arithmetic
from . import start_sleeping_threads

__all__ = ["COEFFICIENTS", "activation_functions", "available", "cropped_head_logits",
           "head_logits", "head_maps", "logit_function", "saliency_logits"]

#: (4, 10) float32 coefficients of each parity's ten terms, in the order they are added
COEFFICIENTS = arithmetic.term_coefficients()
#: padded rows per parallel task of the products kernel
_ROWS_PER_TASK = 16

_kernels = None
_LOCK = threading.Lock()


def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


def _compile():
    # helpers the kernels call are module globals, not closure cells: numba's disk cache
    # then really hits in a new process (a kernel that captures a dispatcher is compiled again)
    global padded_row, one_channel, four_channels
    import numba

    start_sleeping_threads()  # before the first parallel kernel

    @numba.njit(cache=True)
    def padded_row(table, row, out):  # pragma: no cover - compiled
        """Padded row ``row`` of (h, w, C) ``table`` (edges repeated) as (C, w + 2) ``out``."""
        height, width, channels = table.shape
        source = table[min(max(row - 1, 0), height - 1)]
        for col in range(width):  # the inner columns without clamping, then the two edges
            pixel = source[col]
            for c in range(channels):
                out[c, col + 1] = pixel[c]
        for c in range(channels):
            out[c, 0] = source[0, c]
            out[c, width + 1] = source[width - 1, c]

    @numba.njit(cache=True)
    def one_channel(sums, factor, here, below):  # pragma: no cover - compiled
        """Add one channel's terms to the five (w + 2,) sums of a padded row."""
        square, horizontal, vertical, diagonal, antidiagonal = sums
        cols = here.size
        for col in range(cols):
            weighted = factor * here[col]
            square[col] += weighted * here[col]
            vertical[col] += weighted * below[col]
        for col in range(cols - 1):
            weighted, east = factor * here[col], factor * here[col + 1]
            horizontal[col] += weighted * here[col + 1]
            diagonal[col] += weighted * below[col + 1]
            antidiagonal[col] += east * below[col]

    @numba.njit(cache=True)
    def four_channels(sums, factors, upper, lower):  # pragma: no cover - compiled
        """Add the terms of channels 0 .. C - C % 4, four at a time (each sum read and
        written once for four additions, in channel order), to the five (w + 2,) sums."""
        square, horizontal, vertical, diagonal, antidiagonal = sums
        cols = upper.shape[1]
        for c in range(0, upper.shape[0] - 3, 4):
            f0, f1, f2, f3 = factors[c], factors[c + 1], factors[c + 2], factors[c + 3]
            h0, h1, h2, h3 = upper[c], upper[c + 1], upper[c + 2], upper[c + 3]
            b0, b1, b2, b3 = lower[c], lower[c + 1], lower[c + 2], lower[c + 3]
            for col in range(cols):
                x0, x1, x2, x3 = f0 * h0[col], f1 * h1[col], f2 * h2[col], f3 * h3[col]
                square[col] = (((square[col] + x0 * h0[col]) + x1 * h1[col]) + x2 * h2[col]) \
                    + x3 * h3[col]
                vertical[col] = (((vertical[col] + x0 * b0[col]) + x1 * b1[col])
                                 + x2 * b2[col]) + x3 * b3[col]
            for col in range(cols - 1):
                x0, x1, x2, x3 = f0 * h0[col], f1 * h1[col], f2 * h2[col], f3 * h3[col]
                e0, e1 = f0 * h0[col + 1], f1 * h1[col + 1]
                e2, e3 = f2 * h2[col + 1], f3 * h3[col + 1]
                horizontal[col] = (((horizontal[col] + x0 * h0[col + 1]) + x1 * h1[col + 1])
                                   + x2 * h2[col + 1]) + x3 * h3[col + 1]
                diagonal[col] = (((diagonal[col] + x0 * b0[col + 1]) + x1 * b1[col + 1])
                                 + x2 * b2[col + 1]) + x3 * b3[col + 1]
                antidiagonal[col] = (((antidiagonal[col] + e0 * b0[col]) + e1 * b1[col])
                                     + e2 * b2[col]) + e3 * b3[col]

    @numba.njit(parallel=True, cache=True)
    def products(table, weight):  # pragma: no cover - compiled
        """(5, K, h + 2, w + 2) projected products of the (K, C) heads on the padded grid.

        Product ``P`` of head ``k`` at padded pixel (i, j) is ``P += (weight[k, c] * a) * b``
        over the channels in order, ``a`` and ``b`` its factors; the last row and column
        of the pairs are zero or unused.
        """
        height, width, channels = table.shape
        rows, cols, heads = height + 2, width + 2, weight.shape[0]
        out = np.zeros((5, heads, rows, cols), np.float32)
        for task in numba.prange((rows + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK):
            first = np.int64(task) * _ROWS_PER_TASK  # prange indices are unsigned
            upper = np.empty((channels, cols), np.float32)
            lower = np.empty((channels, cols), np.float32)
            padded_row(table, first, upper)
            for row in range(first, min(first + _ROWS_PER_TASK, rows)):
                padded_row(table, min(row + 1, rows - 1), lower)
                for k in range(heads):
                    sums = (out[0, k, row], out[1, k, row], out[2, k, row], out[3, k, row],
                            out[4, k, row])
                    four_channels(sums, weight[k], upper, lower)
                    for c in range(channels - channels % 4, channels):
                        one_channel(sums, weight[k, c], upper[c], lower[c])
                upper, lower = lower, upper
        return out

    @numba.njit(parallel=True, cache=True)
    def combine(prods, bias, coefficients, out_height, out_width):  # pragma: no cover
        """(K, out_height, out_width) logits, the first pixels of the (2h, 2w) output.

        Output pixel (y, x) is block (i, j) = ((y + 1) // 2, (x + 1) // 2), parity
        ``2 * by + bx`` with by, bx = (y + 1) % 2, (x + 1) % 2: its bias plus the ten
        terms of head_arithmetic.TERMS, in that order.
        """
        heads = prods.shape[1]
        out = np.empty((heads, out_height, out_width), np.float32)
        for prange_y in numba.prange(out_height):
            y = np.int64(prange_y)
            i, by = (y + 1) // 2, (y + 1) % 2
            for k in range(heads):
                square0, square1 = prods[0, k, i], prods[0, k, i + 1]
                horizontal0, horizontal1 = prods[1, k, i], prods[1, k, i + 1]
                vertical, diagonal, antidiagonal = prods[2, k, i], prods[3, k, i], prods[4, k, i]
                line = out[k, y]
                for bx in range(2):
                    t = coefficients[2 * by + bx]
                    for j in range(1 - bx, (out_width + 2 - bx) // 2):  # x = 2j - 1 + bx
                        value = bias[k]
                        value += t[0] * square0[j]
                        value += t[1] * square0[j + 1]
                        value += t[2] * square1[j]
                        value += t[3] * square1[j + 1]
                        value += t[4] * horizontal0[j]
                        value += t[5] * horizontal1[j]
                        value += t[6] * vertical[j]
                        value += t[7] * vertical[j + 1]
                        value += t[8] * diagonal[j]
                        value += t[9] * antidiagonal[j]
                        line[2 * j - 1 + bx] = value
        return out

    @numba.njit(cache=True)
    def logit_at(table, factors, bias, coefficients, y, x):  # pragma: no cover - compiled
        """One head's logit at output pixel (y, x), as products and combine compute it.

        Its block's ten terms read four feature pixels: padded (i, j), (i, j + 1),
        (i + 1, j) and (i + 1, j + 1), i.e. table rows i - 1, i and columns j - 1, j
        (clamped). Each of the five products is summed over the channels in order from
        zero, as ``products`` sums it, and the terms are added to the bias in
        ``combine``'s order: the same float32 operations, so the same bits.
        """
        height, width, channels = table.shape
        i, by = (y + 1) // 2, (y + 1) % 2
        j, bx = (x + 1) // 2, (x + 1) % 2
        row0, row1 = min(max(i - 1, 0), height - 1), min(i, height - 1)
        col0, col1 = min(max(j - 1, 0), width - 1), min(j, width - 1)
        a, b = table[row0, col0], table[row0, col1]  # padded row i: columns j, j + 1
        c, d = table[row1, col0], table[row1, col1]  # padded row i + 1
        zero = np.float32(0.0)
        square_a, square_b, square_c, square_d = zero, zero, zero, zero
        horizontal_ab, horizontal_cd, vertical_ac, vertical_bd = zero, zero, zero, zero
        diagonal_ad, antidiagonal_bc = zero, zero
        for channel in range(channels):
            factor = factors[channel]
            fa, fb = factor * a[channel], factor * b[channel]
            fc, fd = factor * c[channel], factor * d[channel]
            square_a += fa * a[channel]
            square_b += fb * b[channel]
            square_c += fc * c[channel]
            square_d += fd * d[channel]
            horizontal_ab += fa * b[channel]
            horizontal_cd += fc * d[channel]
            vertical_ac += fa * c[channel]
            vertical_bd += fb * d[channel]
            diagonal_ad += fa * d[channel]
            antidiagonal_bc += fb * c[channel]
        t = coefficients[2 * by + bx]
        value = bias
        value += t[0] * square_a
        value += t[1] * square_b
        value += t[2] * square_c
        value += t[3] * square_d
        value += t[4] * horizontal_ab
        value += t[5] * horizontal_cd
        value += t[6] * vertical_ac
        value += t[7] * vertical_bd
        value += t[8] * diagonal_ad
        value += t[9] * antidiagonal_bc
        return value

    return products, combine, logit_at


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
        products, combine, _ = _kernels
        prods = products(table, np.ascontiguousarray(weight, np.float32))
        return combine(prods, np.ascontiguousarray(bias, np.float32), COEFFICIENTS, *size)


def saliency_logits(features: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                    height: int, width: int) -> np.ndarray:
    """The saliency head's logits (head 1) of the first (height, width) pixels, alone.

    The same bits as ``cropped_head_logits(...)[1]`` (each head's sums are its
    own), at half the work; the reliability logits are then computed only
    where they are read (:func:`logit_function`).

    Returns
    -------
    ndarray, shape (height, width), float32
    """
    global _kernels
    if weight.shape[0] != 2:
        raise ValueError(f"the fused heads compute exactly two heads, not {weight.shape[0]}")
    if not (0 < height <= 2 * features.shape[0] and 0 < width <= 2 * features.shape[1]):
        raise ValueError(f"maps of {height} x {width} pixels need more than features "
                         f"{features.shape[:2]}")
    table = np.ascontiguousarray(features, np.float32)
    with _LOCK:  # one caller at a time, as in _evaluate
        if _kernels is None:
            _kernels = _compile()
        products, combine, _ = _kernels
        prods = products(table, np.ascontiguousarray(weight[1:], np.float32))
        return combine(prods, np.ascontiguousarray(bias[1:], np.float32), COEFFICIENTS,
                       height, width)[0]


def logit_function():
    """The compiled ``logit_at(table, factors, bias, coefficients, y, x)`` of one head.

    ``table`` the (h, w, C) float32 features, ``factors`` the head's (C,) float32
    weights, ``bias`` its float32 bias and ``coefficients`` :data:`COEFFICIENTS`:
    the head's logit at output pixel (y, x), the bits of :func:`head_logits`.
    """
    global _kernels
    with _LOCK:
        if _kernels is None:
            _kernels = _compile()
        return _kernels[2]


# -- activations -----------------------------------------------------------------------------

_activations = None


def activation_functions():
    """The compiled (reliability_of, repeatability_of) of one float32 logit each.

    Reliability is the sigmoid of logit 0, repeatability ``s / (1 + s)`` with
    ``s`` the softplus (torch's, linear above 20) of logit 1, with the
    float64 operations of :func:`sarfeat.runtime.head_arithmetic.activations`
    (same bits), rounded to float32. Every kernel that calls them gets those
    bits: the dense maps (:func:`head_maps`) and the detector's peaks found
    from the logits (:func:`sarfeat.runtime.kernels.peaks.peaks_from_logits`).
    """
    global _activations, exp_of_reduced, log1p_series, exp_of_minus_abs
    if _activations is None:
        import numba

        exp_of_reduced = numba.njit(cache=True)(arithmetic.exp_of_reduced)
        log1p_series = numba.njit(cache=True)(arithmetic.log1p_series)

        @numba.njit(cache=True)
        def exp_of_minus_abs(x):  # pragma: no cover - compiled
            """exp(-min(|x|, EXP_ARGUMENT_LIMIT)) of a float64 that is not NaN."""
            a = min(abs(x), arithmetic.EXP_ARGUMENT_LIMIT)
            n = np.floor(a * arithmetic.LOG2E + 0.5)
            reduced = -((a - n * arithmetic.LN2_HI) - n * arithmetic.LN2_LO)
            return exp_of_reduced(reduced) * arithmetic.POWERS_OF_HALF[int(n)]

        @numba.njit(cache=True)
        def reliability_of(logit):  # pragma: no cover - compiled
            if logit != logit:
                return np.float32(np.nan)
            x = np.float64(logit)
            e = exp_of_minus_abs(x)
            return np.float32(1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e))

        @numba.njit(cache=True)
        def repeatability_of(logit):  # pragma: no cover - compiled
            if logit != logit:
                return np.float32(np.nan)
            x = np.float64(logit)
            if x > arithmetic.SOFTPLUS_LINEAR_ABOVE:
                saliency = x
            else:
                saliency = max(x, 0.0) + log1p_series(exp_of_minus_abs(x))
            return np.float32(saliency / (1.0 + saliency))

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
    global reliability_of, repeatability_of
    import numba

    start_sleeping_threads()  # before the first parallel kernel

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
