"""Bring a dense optical-SAR transform from the fine stage's resolution to full resolution.

The dense matcher (:mod:`sarfeat.matching.dense`) finds and checks its
transform on working images of longest side ``fine_size`` (256 px). On a
larger image every working pixel is several image pixels, and so is the error
of that transform. :func:`refine_to_full` takes it through image 1's pyramid,
one doubling at a time up to the image itself: at each level the transform is
polished over the whole overlap exactly as the fine stage polishes its prior
(``whole_overlap_estimate``: image 2
resampled through the transform turned and scaled a little, correlated with
image 1 by the fine feature maps, the best peak with a sub-pixel shift), with
turns of half a degree each way and shifts of a few pixels of the level. Image
2 is resampled from the level of its own pyramid nearest in pixel size, so
that its speckle is not aliased. Each level is polished on the box of image 1
that overlaps image 2, at most ``MAX_SIDE`` pixels a side about the overlap's
centre (a whole-overlap correlation costs about four times more at each
doubling).

A level is kept when its polish lies within ``MAX_CHANGE`` pixels of the level
from the transform it refines (three pixels of the level before: a larger
move is another peak, not a refinement); otherwise the refinement stops there
and the last kept transform is returned. Nothing here accepts or refuses a
pair: the fine stage's checks have done so.

Measured on the 3MOS tuning pairs (every third pair) with the fine stage
forced to 128 px and its checks switched off, then this refinement to 256
px, against the fine stage at 256 px on the 25 pairs it registers: median
RMSE 2.97 px unrefined, 1.99 px refined (1.49 px at 256), 13 / 23 / 25 within
3 px; polishing the shift alone gave 2.32 px and 21, and windows placed on a
grid with a similarity fitted to them 2.57 px and 14.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dense_correlation import (CANDIDATE_REACH, POLISH_REACH, Reference, model_distance,
                                whole_overlap_estimate)
from .geometry import downsample, rotation_scale

__all__ = ["MAX_CHANGE", "MAX_SIDE", "image_pyramid", "nearest_level", "refine_to_full"]

#: The polish at each level: one step as fine as the fine stage's finest
#: (``LEVEL_STEPS``), trying the transform as it is and turned half a degree each way
#: (``LEVEL_CANDIDATES``, (turn, scale) in steps). With the 0.5 % scale steps as well (nine
#: candidates) the tuning pairs of the module documentation gave 1.89 px against 1.99 px,
#: at three times the cost.
LEVEL_STEPS = (0.5,)
LEVEL_CANDIDATES = ((0.0, 1.0), (-1.0, 1.0), (1.0, 1.0))
#: Longest side (pixels of the level) of the box of image 1 polished at each level.
MAX_SIDE = 1024
#: Sample rows (every fourth row of a level) that :func:`_box` looks at together.
_BOX_ROWS = 64
#: Largest move (pixels of the level, RMS over image 1) a level may make and be kept: three
#: pixels of the level before (whose templates the fine stage accepts within two).
MAX_CHANGE = 6.0


def image_pyramid(image: np.ndarray, smallest: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(level, level (x, y) -> image (x, y)) from the image down to longest side ``smallest``.

    Each level halves the one before (Gaussian-prefiltered, NaN kept as NaN):
    the first is the image itself with the identity. The NaN of ``image`` are filled
    while it is read and put back (:func:`~sarfeat.matching.geometry.downsample`'s
    ``restore``): no other thread may read it meanwhile.

    Parameters
    ----------
    image : (H, W) ndarray
        NaN where invalid.
    smallest : int
        The longest side of the smallest level.

    Returns
    -------
    list of (ndarray, (3, 3) ndarray)
    """
    levels = [(np.asarray(image, dtype=np.float32), np.eye(3))]
    while max(levels[-1][0].shape) > smallest and min(levels[-1][0].shape) >= 16:
        level, to_image = levels[-1]
        half, to_level = downsample(level, 0.5, restore=True)  # no copy of a level
        levels.append((half, to_image @ to_level))
    return levels


def nearest_level(pyramid: list[tuple[np.ndarray, np.ndarray]], size: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The coarsest level of a pyramid whose pixels are no larger than ``size`` image pixels.

    Parameters
    ----------
    pyramid : list of (ndarray, (3, 3) ndarray)
        As :func:`image_pyramid` gives it.
    size : float
        Image pixels.

    Returns
    -------
    tuple of (ndarray, (3, 3) ndarray)
        (level, level -> image matrix); the image itself when no level's pixels are
        that small.
    """
    best = pyramid[0]
    for level in pyramid:
        if rotation_scale(level[1])[1] <= size * 1.0001:
            best = level
    return best


def _box(level1: np.ndarray, to_full1: np.ndarray, image2_shape, model: np.ndarray):
    """The part of a level of image 1 to polish, and its (x, y) -> full image 1 matrix:
    the box of the level's pixels that land in image 2 (and a margin), at most
    ``MAX_SIDE`` pixels a side about the overlap's centre.

    The level's pixels are sampled every fourth row and column, ``_BOX_ROWS`` sample rows
    at a time (a level of 9465 x 8483 pixels has 5 million samples: their points and
    images took 240 MiB at once); the samples' coordinates are whole numbers, so their
    sums, and the centre, are exact in any order."""
    height, width = level1.shape
    matrix = model @ to_full1
    low = high = None
    total, count = np.zeros(2), 0
    for start in range(0, height, 4 * _BOX_ROWS):
        rows, cols = np.mgrid[start:min(height, start + 4 * _BOX_ROWS):4, 0:width:4]
        points = np.c_[cols.ravel(), rows.ravel(), np.ones(rows.size)]
        inside = (matrix @ points.T).T
        keep = ((inside[:, 0] >= 0) & (inside[:, 0] <= image2_shape[1] - 1)
                & (inside[:, 1] >= 0) & (inside[:, 1] <= image2_shape[0] - 1))
        if not keep.any():
            continue
        kept = points[keep, :2]
        low = kept.min(axis=0) if low is None else np.minimum(low, kept.min(axis=0))
        high = kept.max(axis=0) if high is None else np.maximum(high, kept.max(axis=0))
        total += kept.sum(axis=0)
        count += len(kept)
    if count == 0:
        return level1, to_full1
    margin = POLISH_REACH + 8
    low = np.maximum(low - margin, 0)
    high = np.minimum(high + margin, [width - 1, height - 1])
    centre = total / count
    corner = []
    for axis, side in ((0, width), (1, height)):  # x, then y
        first, last = int(low[axis]), int(high[axis]) + 1
        if last - first > MAX_SIDE:
            first = int(np.clip(round(centre[axis]) - MAX_SIDE // 2, 0, side - MAX_SIDE))
            last = first + MAX_SIDE
        corner.append((first, last))
    (left, right), (top, bottom) = corner
    origin = np.eye(3)
    origin[:2, 2] = (left, top)
    return level1[top:bottom, left:right], to_full1 @ origin


def refine_to_full(pyramid1: list[tuple[np.ndarray, np.ndarray]],
                   pyramid2: list[tuple[np.ndarray, np.ndarray]],
                   model: np.ndarray, start: int, maps: Callable[[np.ndarray], np.ndarray],
                   min_overlap: float) -> tuple[np.ndarray, dict]:
    """Refine ``model`` (image-1 (x, y) -> image-2 (x, y), full resolution) level by level.

    Parameters
    ----------
    pyramid1, pyramid2 : list of (ndarray, ndarray)
        :func:`image_pyramid` of the prepared images.
    model : (3, 3) ndarray
        The transform found on working images of longest side ``start``.
    start : int
        That longest side: the levels of image 1 larger than it are refined, from
        the smallest to the image itself.
    maps : callable
        The fine feature maps of a working image.
    min_overlap : float
        As the matcher's: least share of the smaller image a shift must overlap.

    Returns
    -------
    model : (3, 3) ndarray
        The transform at the finest level kept (``model`` when none was).
    found : dict
        ``refined_levels``: one dict per level tried (its longest side, the
        correlation of its polish, its move in pixels of the level, whether it
        was kept); ``refined_size``: the longest side of the finest level kept
        (``start`` when none was).
    """
    levels = [level for level in pyramid1 if max(level[0].shape) > start * 1.01][::-1]
    found: dict = {"refined_levels": [], "refined_size": start}
    shape1 = pyramid1[0][0].shape
    for level1, to_full1 in levels:
        part1, to_full_part = _box(level1, to_full1, pyramid2[0][0].shape, model)
        level_pixel = rotation_scale(model @ to_full1)[1]  # one level pixel, in image 2's
        level2, to_full2 = nearest_level(pyramid2, level_pixel)
        to_level2 = np.linalg.inv(to_full2)
        reference = Reference(maps(part1), min_overlap, reach=CANDIDATE_REACH)
        polish = whole_overlap_estimate(reference, level2, to_level2 @ model, to_full_part,
                                        maps, steps=LEVEL_STEPS,
                                        candidates=LEVEL_CANDIDATES)
        record = {"size": int(max(level1.shape)), "score": None, "change": None, "kept": False}
        found["refined_levels"].append(record)
        if polish is None:
            break
        refined = to_full2 @ np.array(polish["polished"])
        change = model_distance(refined, model, shape1) / level_pixel
        record.update(score=round(float(polish["verify_score"]), 3),
                      change=round(float(change), 3), kept=bool(change <= MAX_CHANGE))
        if not record["kept"]:
            break
        model = refined
        found["refined_size"] = record["size"]
    return model, found
