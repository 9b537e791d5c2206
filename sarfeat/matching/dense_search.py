"""The dense matcher's global search and refinement: :class:`DenseSearch`.

Steps 1 and 2 of :class:`~sarfeat.matching.DenseStructuralMatcher` (see
:mod:`sarfeat.matching.dense`): image 2 turned and scaled over a grid of turns
and scales, each correlated with image 1 over all shifts on coarse maps; the
best peaks, a few turns or scales apart, are the hypotheses; around each,
neighbouring turns and scales at shifts near its own, then half those steps:
the best is the prior of the fine stage.
"""

from __future__ import annotations

import math

import numpy as np

from .dense_correlation import (
    Reference,
    crop_valid,
    similarity,
    translation,
    turn_canvas,
)
from ..structural import LEAST_SIDE
from .dense_threads import parallel_map
from .geometry import downsample, warp_nan

__all__ = ["DenseSearch", "working", "working_factor"]

#: Hypotheses of the global search carried to the refinement, and how far apart: turns
#: (degrees) or scales (octaves, log2 of their ratio). The same turn at a scale two steps
#: away is another hypothesis: on the 3MOS tuning pair SEN_rural_0 the right turn at a
#: wrong scale (0.71 for 1.25) hid the right one, 0.7 octaves away, when only turns counted.
_HYPOTHESES = 6
_DISTINCT_ANGLE = 15.0
_DISTINCT_SCALE = 0.5
#: Turns and scale steps tried around each hypothesis by the refinement, then around the
#: best of them.
_REFINE_ANGLES = (-7.5, 0.0, 7.5)
_REFINE_SCALES = (2 ** -0.125, 1.0, 2 ** 0.125)
#: How far (working pixels) the refinement may move the shift of image 1's centre from the
#: hypothesis it refines: it refines a peak and does not search anew (on the 3MOS tuning
#: pair SEN_rural_0 the right turn's peak, 9 px from the truth at 256 px, jumped 119 px away
#: when every shift counted).
_REFINE_REACH = 8.0
#: Refined hypotheses refined again with half the steps (the best ones): all of them. The
#: right peak can be narrower than a full step: on SEN_rural_0 the right hypothesis scored
#: 0.099 after full steps (fifth of six) and 0.138 after half steps, above every other.
_HALF_STEPPED = _HYPOTHESES
#: Pixels around image 1's grid that the refinement resamples image 2 onto and cuts off
#: after making its maps (the maps' filters then see past the grid's edge).
_CANVAS_MARGIN = 8


def _distinct(angle: float, scale: float, other_angle: float, other_scale: float) -> bool:
    """Whether two (turn, scale) peaks of the global search are different hypotheses:
    turns ``_DISTINCT_ANGLE`` degrees apart, or scales ``_DISTINCT_SCALE`` octaves apart."""
    turned = abs((angle - other_angle + 180) % 360 - 180) >= _DISTINCT_ANGLE
    return turned or abs(math.log2(scale / other_scale)) >= _DISTINCT_SCALE - 1e-9


def working_factor(size: int, *shapes: tuple[int, ...]) -> float:
    """The factor that brings the longest side of ``shapes`` to ``size`` (at most 1).

    Parameters
    ----------
    size : int
        The working images' longest side.
    *shapes : tuple of int
        The images' shapes.

    Returns
    -------
    float
    """
    return min(1.0, size / max(side for shape in shapes for side in shape))


def working(image: np.ndarray, size: int, other: np.ndarray | None = None,
            restore: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The image downsampled to longest side ``size`` (not enlarged), and its map back.

    Parameters
    ----------
    image : (H, W) ndarray
        The image.
    size : int
        The longest side wanted.
    other : ndarray, optional
        The image that will be downsampled by the same factor: the longer of the two
        sides is brought to ``size``.
    restore : bool
        As :func:`~sarfeat.matching.geometry.downsample` takes it: the NaN of ``image``
        filled in place and put back (no copy of a large image; not while another thread
        reads it).

    Returns
    -------
    working : ndarray
    to_full : (3, 3) ndarray
        The working -> full (x, y) matrix.
    """
    shapes = (image.shape,) if other is None else (image.shape, other.shape)
    return downsample(image, working_factor(size, *shapes), restore=restore)


class DenseSearch:
    """The global search and refinement over coarse maps.

    Parameters
    ----------
    maps : callable
        The coarse feature maps of a working image (``(C, H, W)``, NaN where invalid).
    min_overlap : float
        Least fraction of the smaller image that a shift must overlap.
    angles, scales : sequence of float
        The turns (degrees) and scales of image 2 tried by the global search.
    coarse_size, refine_size : int
        Longest side of the working images of the global search and the refinement.
    """

    def __init__(self, maps, min_overlap: float, angles, scales, coarse_size: int,
                 refine_size: int) -> None:
        self.maps = maps
        self.min_overlap = min_overlap
        self.angles = tuple(float(angle) for angle in angles)
        self.scales = tuple(scales)
        self.coarse_size = coarse_size
        self.refine_size = refine_size
        self._pair: tuple | None = None  # the working images made last (_working_pair)

    def _working_pair(self, image1: np.ndarray, image2: np.ndarray, factor: float) -> tuple:
        """(small1, to_full1, small2, to_full2): image 1 downsampled by ``factor`` and
        image 2 by the factor image 1's rows were brought by, with their maps back (NaN
        filled in place and put back: :func:`~sarfeat.matching.geometry.downsample`'s
        ``restore``). The pair made last is given again for the same images and factor:
        the global search and the refinement work at one size by default (when image 2
        is no longer than image 1), and each downsampling reads a large image whole
        (the median of its valid pixels, its blocks' means). Neither step writes into
        the working images."""
        made = self._pair
        if made is not None and made[0] == factor and made[1] is image1 and made[2] is image2:
            return made[3]
        small1, to_full1 = downsample(image1, factor, restore=True)
        small2, to_full2 = downsample(image2, small1.shape[0] / image1.shape[0], restore=True)
        self._pair = (factor, image1, image2, (small1, to_full1, small2, to_full2))
        return self._pair[3]

    @staticmethod
    def described(hypotheses) -> list[dict]:
        """The hypotheses as the diagnostics list them: turn, scale and score."""
        return [{"angle": float(a), "scale": round(float(s), 3), "score": round(float(c), 3)}
                for c, _, a, s in hypotheses]

    def _search_near(self, reference: Reference, image2, angle: float, scales, anchor):
        """Correlate image 2 turned by ``angle`` at each of ``scales`` at shifts within
        ``_REFINE_REACH`` pixels of the one that maps image 1's centre where ``anchor``
        (such a matrix) does: [(score, matrix, angle, scale)], ``matrix`` mapping
        image-1 working (x, y) to image-2 working (x, y).

        Image 2 is resampled onto image 1's grid (and a margin of
        ``_CANVAS_MARGIN`` pixels, cut off after its maps are made), its centre
        where ``anchor`` puts it, so that only the overlap is mapped and correlated
        (``reference`` is made with ``reach=_REFINE_REACH``).
        """
        height, width = reference.shape
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        target = (anchor @ np.r_[centre, 1.0])[:2]
        margin = _CANVAS_MARGIN
        found = []
        for scale in scales:
            matrix = np.eye(3)  # image-1 x -> image-2 x
            matrix[:2, :2] = similarity(angle, scale)
            matrix[:2, 2] = target - matrix[:2, :2] @ centre
            canvas = warp_nan(image2, matrix @ translation(margin, margin),
                              (height + 2 * margin, width + 2 * margin), order=1)
            if not np.isfinite(canvas).any():
                continue
            maps = self.maps(canvas)[:, margin:-margin, margin:-margin]
            score, shift = reference.correlate(maps, (0.0, 0.0), _REFINE_REACH)
            moved = matrix @ translation(*shift)
            found.append((score, moved, angle, scale))
        return found

    def hypotheses(self, image1, image2) -> list:
        """The global search (step 1): the best (score, matrix, turn, scale) peaks, a few
        turns or scales apart; ``matrix`` maps image-1 (x, y) to image-2 (x, y)."""
        small1, to_full1, small2, to_full2 = self._working_pair(
            image1, image2, working_factor(self.coarse_size, image1.shape, image2.shape))
        reference = Reference(self.maps(small1), self.min_overlap)
        to_working1 = np.linalg.inv(to_full1)
        keys = [(angle, scale) for angle in self.angles for scale in self.scales]
        # a turn half a circle from an earlier one reuses its maps (_canvas_maps): those
        # turned over after the others, every candidate on the threads (dense_threads)
        earlier, flipped = set(), set()
        for angle, scale in keys:
            if ((angle + 180.0) % 360.0, scale) in earlier:
                flipped.add((angle, scale))
            earlier.add((angle, scale))
        made = {}  # (turn, scale) -> (maps, canvas (x, y) -> image-2 (x, y), score, shift)

        def correlated(key):
            maps, turned = self._canvas_maps(small2, *key, made)
            return (maps, turned) + (() if maps is None else reference.correlate(maps))

        for group in ([key for key in keys if key not in flipped], sorted(flipped)):
            made.update(zip(group, parallel_map(correlated, group)))
        found = []
        for angle, scale in keys:
            maps, turned, *scored = made[angle, scale]
            if maps is None:
                continue
            # canvas (x, y) q -> image 2; image-1 x = q + shift -> q = x - shift
            score, shift = scored
            matrix = turned.copy()
            matrix[:2, 2] = turned[:2, 2] - turned[:2, :2] @ np.array(shift)
            found.append((score, to_full2 @ matrix @ to_working1, angle, scale))
        found.sort(key=lambda item: -item[0])
        chosen = []
        for item in found:
            if all(_distinct(item[2], item[3], a, s) for _, _, a, s in chosen):
                chosen.append(item)
            if len(chosen) == _HYPOTHESES:
                break
        return chosen

    def _canvas_maps(self, image2, angle: float, scale: float, made: dict):
        """The maps of image 2 turned by ``angle`` and scaled by ``scale`` on a canvas cut to
        its valid pixels, and the canvas (x, y) -> image-2 (x, y) matrix; (None, matrix)
        when nothing is valid, or too little for maps (``LEAST_SIDE``).

        A turn half a circle from one in ``made`` (at the same scale) reuses its maps
        turned over: the canvas is the other turned over, and the maps (orientation
        modulo 180 degrees, symmetric filters and borders) follow it.
        """
        opposite = made.get(((angle + 180.0) % 360.0, scale))
        if opposite is not None and opposite[0] is not None:
            maps, turned = opposite[:2]
            rows, cols = maps.shape[1:]
            over = np.array([[-1.0, 0.0, cols - 1], [0.0, -1.0, rows - 1], [0.0, 0.0, 1.0]])
            return np.ascontiguousarray(maps[:, ::-1, ::-1]), turned @ over
        turned, shape = turn_canvas(image2.shape, similarity(angle, scale))
        canvas, turned = crop_valid(warp_nan(image2, turned, shape, order=1), turned)
        if canvas is None or min(canvas.shape) < LEAST_SIDE:  # too small to have maps
            return None, turned
        return self.maps(canvas), turned

    def refine(self, image1, image2, hypotheses) -> tuple[np.ndarray, float]:
        """The refinement (step 2): (prior matrix, its score) from the hypotheses."""
        small1, to_full1, small2, to_full2 = self._working_pair(
            image1, image2, working_factor(self.refine_size, image1.shape))
        self._pair = None  # the last step to read them
        reference = Reference(self.maps(small1), self.min_overlap, reach=_REFINE_REACH)
        anchors = [np.linalg.inv(to_full2) @ hypothesis[1] @ to_full1
                   for hypothesis in hypotheses]
        refined = sorted(parallel_map(
            lambda item: self._around(reference, small2, item[0][2], item[0][3], 1.0, item[1]),
            zip(hypotheses, anchors)), key=lambda item: -item[0])
        # half the steps around each: a right turn and scale may overtake a wrong one only
        # there
        again = [found for found in refined[:_HALF_STEPPED] if found[1] is not None]
        halved = parallel_map(
            lambda found: self._around(reference, small2, found[2], found[3], 0.5, found[1]),
            again)
        best = (-np.inf, None, 0.0, 1.0)
        for found, half in zip(again, halved):
            best = max(best, found, half, key=lambda item: item[0])
        score, matrix = best[0], best[1]
        if matrix is None:
            matrix = hypotheses[0][1] if hypotheses else np.eye(3)
        else:
            matrix = to_full2 @ matrix @ np.linalg.inv(to_full1)
        return matrix, float(score)

    def _around(self, reference, image2, angle, scale, fraction, anchor):
        """The best (score, matrix, angle, scale) of the turns and scales around one,
        at shifts near those of ``anchor`` (its working matrix)."""
        best = (-np.inf, None, angle, scale)
        for turn in _REFINE_ANGLES:
            scales = [scale * s ** fraction for s in _REFINE_SCALES]
            for found in self._search_near(reference, image2, angle + turn * fraction,
                                           scales, anchor):
                if found[0] > best[0]:
                    best = found
        return best
