"""Step 6 of :mod:`sarfeat.preprocess`'s documentation: no-data pixels filled for the network.

Pixels of small no-data regions (isolated pixels, lines and blobs that a
``LARGE_NODATA`` square does not fit in) take the Gaussian-weighted mean of their
valid neighbours, so the network sees no artificial structure there; pixels of
larger regions take the median of the valid pixels, and :func:`fill_invalid`
returns them. :mod:`sarfeat.preprocess` re-exports :func:`fill_invalid`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .value_scale import valid_sample

__all__ = ["LARGE_NODATA", "fill_invalid"]

#: No-data regions that a square of this side fits in are large: they disturb the network.
LARGE_NODATA = 5
#: Standard deviation, in pixels, of the weights that fill small no-data regions.
_FILL_SIGMA = 2.0
#: Reach of that filter in sigmas (scipy's default), and rows filled at once.
_FILL_TRUNCATE = 4.0
_FILL_BAND = 512


def fill_invalid(values: np.ndarray, valid: np.ndarray, median: float | None = None
                 ) -> np.ndarray | None:
    """Fill invalid pixels in place, as the module documentation says.

    Parameters
    ----------
    values : (H, W) ndarray of float32
        Normalised values; those where ``valid`` is False are replaced.
    valid : (H, W) ndarray of bool
        Valid pixels.
    median : float, optional
        The value for large no-data regions; by default the median of the
        valid values (a window of a larger scene passes the scene's).

    Returns
    -------
    large : (H, W) ndarray of bool or None
        The pixels of large no-data regions, or None when there are none.
    """
    invalid = ~valid
    large = invalid
    # opening by a square, done as two 1-D passes each way (the square is separable)
    for operation in (ndimage.binary_erosion, ndimage.binary_dilation):
        for shape in ((LARGE_NODATA, 1), (1, LARGE_NODATA)):
            large = operation(large, np.ones(shape, dtype=bool))
    large &= invalid
    values[invalid] = np.median(valid_sample(values, valid)) if median is None else median
    del invalid
    _fill_small(values, valid, large)
    return large if large.any() else None


def _fill_small(values: np.ndarray, valid: np.ndarray, large: np.ndarray) -> None:
    """Small holes (invalid, not ``large``) get the Gaussian-weighted mean of their valid
    neighbours, in place.

    Computed in bands of rows with a halo of the filter's reach, only where there
    are holes: the same values as filtering the whole image, in bounded memory (the
    holes too are found band by band: no image-sized mask of them).
    """
    reach = int(_FILL_TRUNCATE * _FILL_SIGMA + 0.5)
    height = values.shape[0]
    for top in range(0, height, _FILL_BAND):
        bottom = min(height, top + _FILL_BAND)
        small = ~valid[top:bottom] & ~large[top:bottom]
        if not small.any():
            continue
        lo, hi = max(0, top - reach), min(height, bottom + reach)
        inner = slice(top - lo, bottom - lo)
        band_valid = valid[lo:hi]
        weights = ndimage.gaussian_filter(band_valid.astype(np.float32), _FILL_SIGMA,
                                          truncate=_FILL_TRUNCATE)[inner]
        total = ndimage.gaussian_filter(np.where(band_valid, values[lo:hi], 0).astype(np.float32),
                                        _FILL_SIGMA, truncate=_FILL_TRUNCATE)[inner]
        reached = small & (weights > 1e-3)
        values[top:bottom][reached] = total[reached] / weights[reached]
