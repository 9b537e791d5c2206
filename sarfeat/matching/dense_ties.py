"""The dense matcher's tie points placed again at the level its transform was refined to.

The fine stage of :class:`~sarfeat.matching.DenseStructuralMatcher` places its
templates on working images of longest side ``fine_size`` (256 px), and the
transform it accepts is then refined up to image 1's full resolution
(:mod:`~sarfeat.matching.dense_refine`). On a large image a working pixel is many
image pixels (43 on a 10980 px tile), and the placements, scaled up, stray from
the refined transform by a fraction of a working pixel: their residuals then
describe the fine stage's precision, not that of the transform returned.
:func:`place_again` places each tie point's template again on the finest level
kept, in a small window about where the refined transform puts it, so that
the tie points and their residuals are those of that level. Image 1's points are
kept as they are; the transform is not fitted to the new placements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dense_correlation import place_templates
from .geometry import warp_nan

__all__ = ["MAP_MARGIN", "place_again"]

#: Pixels around a window whose maps are computed and cut off (the maps' context).
MAP_MARGIN = 16


def place_again(level1: tuple[np.ndarray, np.ndarray], level2: tuple[np.ndarray, np.ndarray],
                model: np.ndarray, source: np.ndarray, maps: Callable[[np.ndarray], np.ndarray],
                half: int, radius: int, min_score: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place a template of image 1 about each of ``source`` again, on one level.

    Parameters
    ----------
    level1, level2 : (ndarray, (3, 3) ndarray)
        A level of each image's pyramid and its level (x, y) -> image (x, y) matrix
        (:func:`~sarfeat.matching.dense_refine.image_pyramid`); NaN where invalid.
    model : (3, 3) ndarray
        Image-1 (x, y) -> image-2 (x, y), full resolution.
    source : (N, 2) ndarray
        Image 1's points (x, y), full resolution.
    maps : callable
        The feature maps of a window.
    half, radius : int
        Half side of a template and how far it is looked for, in pixels of the level.
    min_score : float
        Least normalised correlation of a placement.

    Returns
    -------
    target : (N, 2) ndarray
        Where each point was placed in image 2 (x, y, full resolution); NaN where it
        could not be (a window with no-data, a weak peak or one on the window's edge).
    scores : (N,) ndarray
        The placements' correlation (NaN where none).
    placed : (N,) ndarray of bool
        Which points were placed.
    """
    image1, to_image1 = level1
    image2, to_image2 = level2
    reach = half + radius
    side = 2 * (reach + MAP_MARGIN) + 1
    to_level1 = np.linalg.inv(to_image1)
    to_level2 = np.linalg.inv(to_image2)
    target = np.full((len(source), 2), np.nan)
    scores = np.full(len(source), np.nan)
    cut = slice(MAP_MARGIN, side - MAP_MARGIN)
    for index, point in enumerate(np.asarray(source, float)):
        centre = (to_level1 @ [point[0], point[1], 1.0])[:2]
        window = np.eye(3)  # window (x, y) -> level-1 (x, y): the point at the centre
        window[:2, 2] = centre - (reach + MAP_MARGIN)
        crop1 = warp_nan(image1, window, (side, side), order=1)
        crop2 = warp_nan(image2, to_level2 @ model @ to_image1 @ window, (side, side),
                         order=1)
        if not (np.isfinite(crop1).all() and np.isfinite(crop2).all()):
            continue
        maps1, maps2 = maps(crop1)[:, cut, cut], maps(crop2)[:, cut, cut]
        _, shifts, peaks = place_templates(maps1, maps2, side, half, radius, min_score)
        if len(peaks):
            moved = to_image1 @ [centre[0] + shifts[0, 0], centre[1] + shifts[0, 1], 1.0]
            target[index] = (model @ moved)[:2]
            scores[index] = peaks[0]
    return target, scores, np.isfinite(scores)
