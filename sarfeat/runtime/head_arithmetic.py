"""The heads' arithmetic, one float order that numba's kernels and numpy both follow.

Fast-R2D2's two score heads project the squared, x2 bilinearly upsampled
features, then turn the two logits into the reliability and repeatability
maps. sarfeat computes them with numba when it is installed
(:mod:`sarfeat.runtime.kernels.heads`) and in numpy otherwise
(:mod:`sarfeat.runtime.maps`). Both must give the same bits, so that an
install with numba and one without find the same keypoints: this module
fixes every rounding step and holds what both read.

The logits, in float32 (no fused multiply-add anywhere):

1. For each of the five neighbour products of :func:`quadratic_upsampling_kernels`
   (square, horizontal, vertical, diagonal, antidiagonal, with factors ``a``
   and ``b`` from the replicate-padded feature grid) and each head ``k``:
   ``P = 0``, then for every channel ``c`` in order, ``P += (weight[k, c] * a[c]) * b[c]``.
2. Each output pixel starts from the head's bias and adds its block's ten
   terms ``coefficient * P`` in the order of :data:`TERMS` (the coefficients
   are :func:`term_coefficients`, products of 0.75 and 0.25: exact).

The maps (:func:`activations`) are computed in float64 from elementary
operations only (``+ - * /`` and floor) and rounded to float32 once:
library ``exp`` and ``log1p`` differ between numpy (its own SIMD code),
numba (the C library) and machines, these polynomials do not.
:func:`exp_of_reduced` and :func:`log1p_series` run unchanged on numpy
arrays and, compiled, on numba's scalars.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["EXP_ARGUMENT_LIMIT", "LN2_HI", "LN2_LO", "LOG2E", "POWERS_OF_HALF",
           "PRODUCT_FACTORS", "SOFTPLUS_LINEAR_ABOVE", "TERMS", "activations",
           "exp_of_reduced", "log1p_series", "quadratic_upsampling_kernels", "term_coefficients"]


def quadratic_upsampling_kernels() -> dict[str, np.ndarray]:
    """Kernels that give ``a . up(f)**2`` from products of neighbouring low-resolution features.

    Fast-R2D2's heads project the squared, x2 bilinearly upsampled features.
    An upsampled pixel mixes the four low-resolution pixels of its 2x2 block
    (replicate-padded by one) with weights ``wr[i] * wc[j]`` (0.75 and 0.25),
    so its squared projection is a quadratic form in those four pixels: a
    weighted sum of five per-block products (the squares and the horizontal,
    vertical, diagonal and anti-diagonal pairs), each projected on ``a``
    first. Each product map becomes the four sub-pixels (parities) of a block
    through one small convolution; these are its kernels, shape
    (4, 1, kh, kw), parity ``2 * by + bx`` (pixel-shuffle order) where the
    block at padded row ``i`` gives output rows ``2i - 1`` (by=0) and ``2i``.

    Returns
    -------
    dict
        ``'square'`` (2x2), ``'horizontal'`` (2x1), ``'vertical'`` (1x2),
        ``'diagonal'`` and ``'antidiagonal'`` (1x1) kernels, float32.
    """
    kernels = {
        "square": np.zeros((4, 1, 2, 2)), "horizontal": np.zeros((4, 1, 2, 1)),
        "vertical": np.zeros((4, 1, 1, 2)), "diagonal": np.zeros((4, 1, 1, 1)),
        "antidiagonal": np.zeros((4, 1, 1, 1)),
    }
    weights = (np.array([0.75, 0.25]), np.array([0.25, 0.75]))
    for by in range(2):
        for bx in range(2):
            alpha = np.outer(weights[by], weights[bx])  # alpha[i, j]: pixel (i, j) of the block
            parity = 2 * by + bx
            kernels["square"][parity, 0] = alpha ** 2
            kernels["horizontal"][parity, 0, :, 0] = 2 * alpha[:, 0] * alpha[:, 1]
            kernels["vertical"][parity, 0, 0, :] = 2 * alpha[0, :] * alpha[1, :]
            kernels["diagonal"][parity] = 2 * alpha[0, 0] * alpha[1, 1]
            kernels["antidiagonal"][parity] = 2 * alpha[0, 1] * alpha[1, 0]
    return {name: kernel.astype(np.float32) for name, kernel in kernels.items()}


#: (rows, cols) slices of the factors ``a`` and ``b`` of each neighbour product in a padded
#: grid; the product at (i, j) has its block's top-left pixel at (i, j)
PRODUCT_FACTORS = {
    "square": ((slice(None), slice(None)), (slice(None), slice(None))),
    "horizontal": ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    "vertical": ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    "diagonal": ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
    "antidiagonal": ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
}

#: The ten terms of an output pixel, in the order they are added to the bias: (product, ky, kx),
#: the product read at block (i + ky, j + kx)
TERMS = tuple((name, ky, kx) for name, (kh, kw) in
              (("square", (2, 2)), ("horizontal", (2, 1)), ("vertical", (1, 2)),
               ("diagonal", (1, 1)), ("antidiagonal", (1, 1)))
              for ky in range(kh) for kx in range(kw))


def term_coefficients() -> np.ndarray:
    """(4, 10) float32: the coefficient of each of :data:`TERMS` for each parity ``2 * by + bx``."""
    kernels = quadratic_upsampling_kernels()
    return np.array([[kernels[name][parity, 0, ky, kx] for name, ky, kx in TERMS]
                     for parity in range(4)], np.float32)


# -- activations ----------------------------------------------------------------------------

#: exp(-a) is computed for a = min(|logit|, this): beyond, both maps are 0 or 1 in float32
EXP_ARGUMENT_LIMIT = 200.0
#: softplus is linear above this logit, as torch's
SOFTPLUS_LINEAR_ABOVE = 20.0
LOG2E = 1.4426950408889634
#: ln 2 in two parts (fdlibm's): n * LN2_HI is exact for the n used here
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
#: 2 ** -n for n = 0 .. 289 (exact), the scale of exp(-a) = 2 ** -n * exp(-r)
POWERS_OF_HALF = np.ldexp(1.0, -np.arange(int(EXP_ARGUMENT_LIMIT * LOG2E) + 2))
#: Taylor coefficients of exp, highest first (degree 13: below 1e-17 on |r| <= ln(2) / 2)
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))
#: 1 / (2k + 1), highest k first (k <= 17: log1p below 1e-17 relative for z <= 1/3)
_ATANH_COEFFICIENTS = tuple(1.0 / (2 * k + 1) for k in range(17, -1, -1))


def exp_of_reduced(r):
    """exp(r) for float64 ``|r| <= ln(2) / 2`` (an array, or a scalar in numba), by Horner."""
    value = _EXP_COEFFICIENTS[0]
    for index in range(1, len(_EXP_COEFFICIENTS)):
        value = value * r + _EXP_COEFFICIENTS[index]
    return value


def log1p_series(e):
    """log(1 + e) for float64 ``0 <= e <= 1``.

    Computed as ``2 atanh(z)``, ``z = e / (2 + e)``, by Horner in z**2.
    """
    z = e / (2.0 + e)
    square = z * z
    value = _ATANH_COEFFICIENTS[0]
    for index in range(1, len(_ATANH_COEFFICIENTS)):
        value = value * square + _ATANH_COEFFICIENTS[index]
    return 2.0 * z * value


def activations(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reliability, repeatability) float32 maps of (2, ...) logits, in numpy.

    Reliability is the sigmoid of logit 0; repeatability is ``s / (1 + s)``
    with ``s`` the softplus of logit 1 (linear above 20, as torch's). Both
    come from ``e = exp(-|x|)``: the sigmoid is ``1 / (1 + e)`` (x >= 0) or
    ``e / (1 + e)``, the softplus ``max(x, 0) + log1p(e)``. NaN stays NaN.
    The compiled twin is :func:`sarfeat.runtime.kernels.heads.activation_functions`.
    """
    x = np.asarray(logits, np.float32).astype(np.float64)
    nan = np.isnan(x)
    a = np.minimum(np.abs(np.where(nan, 0.0, x)), EXP_ARGUMENT_LIMIT)
    n = np.floor(a * LOG2E + 0.5)
    e = exp_of_reduced(-((a - n * LN2_HI) - n * LN2_LO)) * POWERS_OF_HALF[n.astype(np.int64)]
    reliability = np.where(x[0] >= 0, 1.0 / (1.0 + e[0]), e[0] / (1.0 + e[0]))
    saliency = np.where(x[1] > SOFTPLUS_LINEAR_ABOVE, x[1],
                        np.maximum(x[1], 0.0) + log1p_series(e[1]))
    repeatability = saliency / (1.0 + saliency)
    return (np.where(nan[0], np.nan, reliability).astype(np.float32),
            np.where(nan[1], np.nan, repeatability).astype(np.float32))
