"""How far a registration can be trusted: the overlap, the inliers' spread, the confidence.

:func:`sarfeat.register` measures the transform it found with
:func:`overlap_fraction` (how much of the fixed image it carries into the
moving image) and :func:`inlier_spread` (how much of that overlap its inliers
cover), and gives ``confidence`` by
:func:`registration_confidence`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import ConvexHull, QhullError

__all__ = ["CONFIDENCE_COUNT", "CONFIDENCE_RATIO", "CONFIDENCE_SPREAD",
           "CONFIDENCE_COARSE_FAILED", "overlap_fraction", "inlier_spread",
           "registration_confidence"]

#: Inlier count at which the count part of the confidence reaches 1 - 1/e.
CONFIDENCE_COUNT = 25.0
#: Inlier ratio (fine inliers / voted matches) from which the ratio part is 1.
CONFIDENCE_RATIO = 0.5
#: Fraction of the overlap covered by the inliers' convex hull from which the spread part is 1.
CONFIDENCE_SPREAD = 0.25
#: Factor of the confidence when the coarse stage failed (the model rests on the local search
#: around the initial transform alone, which a periodic texture can fool).
CONFIDENCE_COARSE_FAILED = 0.5


def overlap_fraction(transform: Callable[[np.ndarray], np.ndarray],
                     fixed_shape: tuple[int, ...], moving_shape: tuple[int, ...],
                     step: int = 8) -> float:
    """Fraction of the fixed image that ``transform`` carries into the moving image.

    Parameters
    ----------
    transform : callable
        Fixed (x, y) -> moving (x, y), on (N, 2) arrays.
    fixed_shape, moving_shape : tuple of int
        The images' (rows, cols).
    step : int
        The fraction is counted on a grid of every ``step``-th fixed pixel.

    Returns
    -------
    float
        In [0, 1].
    """
    rows = np.arange(0, fixed_shape[0], step, dtype=float)
    cols = np.arange(0, fixed_shape[1], step, dtype=float)
    grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    mapped = transform(grid)
    inside = (
        (mapped[:, 0] >= -0.5) & (mapped[:, 0] <= moving_shape[1] - 0.5)
        & (mapped[:, 1] >= -0.5) & (mapped[:, 1] <= moving_shape[0] - 0.5)
    )
    return float(inside.mean()) if len(inside) else 0.0


def inlier_spread(points: np.ndarray, overlap_pixels: float) -> float:
    """Area of the convex hull of ``points`` over ``overlap_pixels``, at most 1.

    Parameters
    ----------
    points : (N, 2) ndarray
        The inliers' positions.
    overlap_pixels : float
        The area of the images' overlap.

    Returns
    -------
    float
        0 for fewer than three points, collinear ones, or no overlap.
    """
    if len(points) < 3 or overlap_pixels <= 0:
        return 0.0
    try:
        area = ConvexHull(points).volume  # in 2-D, "volume" is the area
    except QhullError:  # collinear points
        return 0.0
    return float(min(1.0, area / overlap_pixels))


def registration_confidence(inliers: int, candidates: int, spread: float,
                            coarse_failed: bool) -> float:
    """The confidence of a registration, in [0, 1].

    The product of three terms, each 1 when that evidence is ample: the number
    of ``inliers`` n (``1 - exp(-n / CONFIDENCE_COUNT)``), the inlier ratio
    among the ``candidates`` (the voted matches; saturating at
    ``CONFIDENCE_RATIO``) and the ``spread`` (:func:`inlier_spread`, saturating
    at ``CONFIDENCE_SPREAD``), times ``CONFIDENCE_COARSE_FAILED`` when
    ``coarse_failed``.

    Parameters
    ----------
    inliers, candidates : int
        The inliers and the voted matches they were found among.
    spread : float
        :func:`inlier_spread` of the inliers.
    coarse_failed : bool
        Whether the coarse stage failed.

    Returns
    -------
    float

    Examples
    --------
    >>> from sarfeat.confidence import registration_confidence
    >>> round(registration_confidence(50, 80, 0.3, coarse_failed=False), 3)
    0.865
    """
    candidates = max(1, candidates)
    return float(
        (1 - np.exp(-inliers / CONFIDENCE_COUNT))
        * min(1.0, inliers / candidates / CONFIDENCE_RATIO)
        * min(1.0, spread / CONFIDENCE_SPREAD)
        * (CONFIDENCE_COARSE_FAILED if coarse_failed else 1.0)
    )
