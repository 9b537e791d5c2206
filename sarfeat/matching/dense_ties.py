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
kept as they are; the transform is not fitted to the new placements. The feature
maps are most of the cost: on a small level that the points' windows would cover
more than once, they are made once for the whole level (image 2 resampled onto
it), else a window a point.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dense_correlation import place_templates
from .geometry import warp_nan

__all__ = ["MAP_MARGIN", "WHOLE_LEVEL_PIXELS", "place_again"]

#: Pixels around a window whose maps are computed and cut off (the maps' context).
MAP_MARGIN = 16
#: Largest level (pixels) whose maps are made whole, once, when the points' windows would
#: cover more pixels than it holds (their maps are most of the cost); a larger level (its
#: maps 8 float32 channels, 64 MiB at this size) is read a window a point.
WHOLE_LEVEL_PIXELS = 2 ** 21


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
    to_level1 = np.linalg.inv(to_image1)
    level2_of_level1 = np.linalg.inv(to_image2) @ model @ to_image1
    centres = [(to_level1 @ [x, y, 1.0])[:2] for x, y in np.asarray(source, float)]
    windows = (2 * (reach + MAP_MARGIN) + 1) ** 2 * len(centres)
    whole = image1.size <= WHOLE_LEVEL_PIXELS and windows > image1.size
    cuts = (_cuts_of_whole_level if whole else _cuts_of_windows)(
        image1, image2, level2_of_level1, centres, maps, reach)
    target = np.full((len(centres), 2), np.nan)
    scores = np.full(len(centres), np.nan)
    side = 2 * reach + 1
    for index, (centre, cut) in enumerate(zip(centres, cuts)):
        if cut is None:
            continue
        _, shifts, peaks = place_templates(*cut, side, half, radius, min_score)
        if len(peaks):
            moved = to_image1 @ [centre[0] + shifts[0, 0], centre[1] + shifts[0, 1], 1.0]
            target[index] = (model @ moved)[:2]
            scores[index] = peaks[0]
    return target, scores, np.isfinite(scores)


def _cuts_of_windows(image1, image2, level2_of_level1, centres, maps, reach):
    """(maps of image 1, of image 2 resampled onto it) about each centre (level-1 x, y),
    each from a window resampled about it, its maps cut of their margin; None where a
    window holds no-data. Cheaper than :func:`_cuts_of_whole_level` for a few points on a
    large level."""
    side = 2 * (reach + MAP_MARGIN) + 1
    cut = slice(MAP_MARGIN, side - MAP_MARGIN)
    for centre in centres:
        window = np.eye(3)  # window (x, y) -> level-1 (x, y): the point at the centre
        window[:2, 2] = centre - (reach + MAP_MARGIN)
        crop1 = warp_nan(image1, window, (side, side), order=1)
        crop2 = warp_nan(image2, level2_of_level1 @ window, (side, side), order=1)
        if not (np.isfinite(crop1).all() and np.isfinite(crop2).all()):
            yield None
            continue
        yield maps(crop1)[:, cut, cut], maps(crop2)[:, cut, cut]


def _cuts_of_whole_level(image1, image2, level2_of_level1, centres, maps, reach):
    """As :func:`_cuts_of_windows`, from the maps of the whole level (image 2 resampled
    onto it once), cut about each centre rounded to a pixel: cheaper where the windows
    of many points overlap on a level of at most ``WHOLE_LEVEL_PIXELS``."""
    maps1 = maps(image1)
    maps2 = maps(warp_nan(image2, level2_of_level1, image1.shape, order=1))
    height, width = image1.shape
    for x, y in centres:
        row, col = int(round(y)), int(round(x))
        if not (reach <= row < height - reach and reach <= col < width - reach):
            yield None
            continue
        rows, cols = slice(row - reach, row + reach + 1), slice(col - reach, col + reach + 1)
        yield maps1[:, rows, cols], maps2[:, rows, cols]
