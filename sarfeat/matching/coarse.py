"""The coarse stage: rotation hypotheses and the coarse model.

Image 1 is described once; image 2 is described at each turn tried, matched
against image 1 by mutual nearest neighbour with Lowe's ratio test, and a
model is fitted by RANSAC (:func:`sarfeat.matching.models.ransac`). The turns
are tried in the order of the module documentation of
:mod:`sarfeat.matching`: the first of ``rotations``, then the turns that an
orientation estimate proposes, then the rest of ``rotations``, then
intermediate turns every ``angle_step`` degrees; the search stops at the first
strong hypothesis.

*Orientation estimate.* The histograms of gradient orientations of the two
coarse images (weighted by the gradient magnitude) differ by a circular shift
equal to the turn between them; the peaks of their circular
cross-correlation are the turns most worth trying. It costs two gradient
images, against one network run and one RANSAC per turn for the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.feature import match_descriptors

from ..detector import NoKeypointsError
from .geometry import angle_difference, apply_matrix, rotation_scale, turn, warp_nan
from .models import ransac

__all__ = ["CoarseSettings", "Hypothesis", "CoarseSearch", "estimate_turns", "invariant_turn"]

#: Pyramid step of the coarse detection.
_COARSE_SCALE_FACTOR = 2 ** 0.5

#: Inlier ratio at which a hypothesis with at least min_coarse_inliers is strong.
_STRONG_RATIO = 0.5

#: A hypothesis is also strong when it has _DOMINANCE times the inliers (counted as at
#: least _DOMINANCE_FLOOR, about what chance gives) of every hypothesis tried at a turn
#: more than _DOMINANCE_SEPARATION degrees away, once at least three such turns were tried.
_DOMINANCE = 2.5
_DOMINANCE_FLOOR = 3
_DOMINANCE_SEPARATION = 15.0

#: Least coarse inliers of a hypothesis whose angle estimate is refined.
_MIN_REFINE_INLIERS = 5

#: Orientation histogram: bins over 360 degrees and the smoothing of the gradients.
_ORIENTATION_BINS = 180
_GRADIENT_SIGMA = 4.0


@dataclass(frozen=True)
class CoarseSettings:
    """Parameters of the coarse stage: those of :class:`~sarfeat.CoarseFineMatcher` of the same
    names, whose Parameters section says more (each field documented at its declaration)."""

    model: str = "affine"
    """str: the matcher's ``model``; the coarse model is a similarity for ``'similarity'``,
    affine otherwise."""
    ratio: float = 0.9
    """float: Lowe's ratio test of the coarse mutual nearest neighbours; 1 disables it."""
    ransac_threshold: float = 5.0
    """float: RANSAC residual of the coarse stage, in coarse pixels."""
    max_trials: int = 2000
    """int: most RANSAC samples per model fit."""
    rotations: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
    """tuple of float: turns of image 2, in degrees, tried first, in this order."""
    angle_step: float | None = 30.0
    """float or None: turns tried every ``angle_step`` degrees when none of :attr:`rotations`
    gives a strong hypothesis; None never."""
    refine_angle: float | None = 5.0
    """float or None: match again at the turn the best hypothesis estimates when it is more
    than this many degrees from the turn tried; None never."""
    strong_inliers: int | None = 40
    """int or None: coarse inliers that make a hypothesis strong and stop the angle search;
    None never stops early."""
    min_coarse_inliers: int = 8
    """int: fewer coarse inliers than this is no hypothesis."""
    estimated_turns: int = 2
    """int: turns of the orientation estimate tried after the first of :attr:`rotations` when
    that is not strong; 0 never estimates."""
    coarse_size: int = 512
    """int: longest side, in pixels, of the downsampled coarse images."""
    coarse_keypoints: int = 5000
    """int: keypoints kept per coarse image."""
    max_scale_change: float = 2.0
    """float: models scaling by more than this (or its inverse) are implausible; the coarse
    pyramid reaches down to ``coarse_size / max_scale_change``."""

    def detector_settings(self) -> dict:
        """The coarse detector's pyramid and budget: levels sqrt(2) apart from full size down
        to ``1 / max_scale_change`` of it (at least to half of it).

        Both coarse images are downsampled by one factor, set by the larger, so when
        one image shows the scene ``r`` times larger than the other the smaller coarse
        image is about ``coarse_size / r`` pixels wide. A pyramid down to
        ``coarse_size / max_scale_change`` pixels gives both images levels that meet at
        any scale change allowed (down to half the size, the smaller image of a pair
        zoomed twice had one level, and pair l zoomed twice was refused).
        """
        smallest = min(self.coarse_size // 2, int(self.coarse_size / self.max_scale_change))
        return dict(max_keypoints=self.coarse_keypoints, max_size=self.coarse_size,
                    min_size=max(16, smallest), min_scale=0.0, max_scale=1.0,
                    scale_factor=_COARSE_SCALE_FACTOR)


@dataclass
class Hypothesis:
    """A coarse model found with image 2 turned by ``angle`` degrees."""

    angle: float  # turn applied to coarse image 2
    matrix: np.ndarray | None  # image-1 full (x, y) -> image-2 full (x, y)
    inliers: int
    candidates: int
    coarse_keypoints2: np.ndarray | None = None
    coarse_matches: np.ndarray | None = None
    coarse_inliers: np.ndarray | None = None
    strong: bool = False


def _orientation_histogram(image: np.ndarray) -> np.ndarray:
    """Gradient-magnitude-weighted histogram of gradient orientations (skimage's turn sense)."""
    values = np.nan_to_num(np.asarray(image, np.float64), nan=float(np.nanmedian(image)))
    smooth = ndimage.gaussian_filter(values, _GRADIENT_SIGMA)
    grad_rows, grad_cols = np.gradient(smooth)
    magnitude = np.hypot(grad_rows, grad_cols)
    # angle of the gradient as (x, y) with y down: a turn by t (skimage) adds t
    angle = np.degrees(np.arctan2(grad_rows, grad_cols)) % 360
    bins = (angle * (_ORIENTATION_BINS / 360)).astype(int) % _ORIENTATION_BINS
    valid = np.isfinite(np.asarray(image, np.float64))
    return np.bincount(bins[valid], magnitude[valid], _ORIENTATION_BINS)


def estimate_turns(image1: np.ndarray, image2: np.ndarray, count: int = 2) -> list[float]:
    """Turns of image 2 (degrees, as tried by the search) that best make it upright with image 1.

    The peaks of the circular cross-correlation of the two gradient-orientation
    histograms, best first, at least 20 degrees apart.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from skimage.transform import rotate
    >>> image = ndimage.gaussian_filter(np.random.default_rng(0).random((128, 128)), 3)
    >>> turned = rotate(image, -40, resize=True, cval=np.nan)
    >>> [round(angle) for angle in estimate_turns(image, turned, 1)]
    [320]
    """
    h1 = _orientation_histogram(image1)
    h2 = _orientation_histogram(image2)
    h1, h2 = h1 - h1.mean(), h2 - h2.mean()
    # correlation[k]: h2 shifted back by k bins against h1, i.e. image 2 turned by -k bins
    correlation = np.real(np.fft.ifft(np.fft.fft(h2) * np.conj(np.fft.fft(h1))))
    step = 360 / _ORIENTATION_BINS
    turns: list[float] = []
    for index in np.argsort(correlation)[::-1]:
        left, centre = correlation[index - 1], correlation[index]
        right = correlation[(index + 1) % _ORIENTATION_BINS]
        if centre < max(left, right):
            continue  # not a local peak
        curvature = left - 2 * centre + right
        offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        angle = float((-(index + offset) * step) % 360)
        if all(angle_difference(angle, other) >= 20 for other in turns):
            turns.append(angle)
        if len(turns) == count:
            break
    return turns


def invariant_turn(keypoints1: np.ndarray, descriptors1: np.ndarray, keypoints2: np.ndarray,
                   descriptors2: np.ndarray, settings: CoarseSettings,
                   rng: np.random.Generator, min_inliers: int | None = None
                   ) -> tuple[float, int] | None:
    """The turn of image 2 (degrees, as the search tries it) that rotation-invariant features give.

    Mutual nearest neighbours (``settings.ratio``) of the two coarse images'
    rotation-invariant descriptors, and a RANSAC similarity on them; its
    rotation, negated, is the turn that makes image 2 upright with image 1.

    Parameters
    ----------
    keypoints1, keypoints2 : (N, 2) ndarray
        Coarse keypoints (row, col) of each image, both downsampled by one factor.
    descriptors1, descriptors2 : (N, D) ndarray
        Their rotation-invariant descriptors.
    settings : CoarseSettings
        ``ratio``, ``ransac_threshold`` and ``max_trials``.
    rng : numpy.random.Generator
    min_inliers : int, optional
        Fewer inliers than this give None (default ``settings.min_coarse_inliers``).

    Returns
    -------
    (turn, inliers) or None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> points = rng.uniform(0, 200, (40, 2))
    >>> angle = np.deg2rad(30)  # image 2 is image 1 turned by 30 degrees (skimage's sense)
    >>> rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    >>> turned = (points[:, ::-1] @ rotation.T)[:, ::-1]
    >>> descriptors = rng.normal(size=(40, 16))
    >>> turn, inliers = invariant_turn(points, descriptors, turned, descriptors,
    ...                                CoarseSettings(), rng)
    >>> round(turn), inliers
    (330, 40)
    """
    needed = settings.min_coarse_inliers if min_inliers is None else min_inliers
    matches = match_descriptors(descriptors1, descriptors2, cross_check=True,
                                max_ratio=settings.ratio)
    if len(matches) < max(3, needed):
        return None
    fitted = ransac(keypoints1[matches[:, 0], ::-1].astype(np.float64),
                    keypoints2[matches[:, 1], ::-1].astype(np.float64), "similarity",
                    threshold=settings.ransac_threshold, max_trials=settings.max_trials,
                    plausible=None, rng=rng)
    if fitted is None or fitted[1].sum() < needed:
        return None
    return float((-rotation_scale(fitted[0])[0]) % 360), int(fitted[1].sum())


@dataclass
class CoarseSearch:
    """The rotation search over coarse image 2 against coarse image 1.

    Parameters
    ----------
    settings : CoarseSettings
        The search's parameters.
    describe : callable
        ``describe(image, check)`` -> ((N, 2) keypoints (row, col), (N, D)
        descriptors) of a coarse image; raises
        :class:`~sarfeat.detector.NoKeypointsError` when it finds nothing
        (``check`` asks for the featureless-image test).
    plausible : callable
        (B, 3, 3) full-resolution matrices -> (B,) bool.
    keypoints1, descriptors1 : ndarray
        The features of coarse image 1.
    small2 : ndarray
        Coarse image 2.
    scale1, scale2 : (3, 3) ndarray
        Coarse (x, y) -> full-resolution (x, y) of each image.
    rng : numpy.random.Generator
        RANSAC's sampling.
    """

    settings: CoarseSettings
    describe: Callable
    plausible: Callable[[np.ndarray], np.ndarray]
    keypoints1: np.ndarray
    descriptors1: np.ndarray
    small2: np.ndarray
    scale1: np.ndarray
    scale2: np.ndarray
    rng: np.random.Generator
    hypotheses: list[Hypothesis] = field(default_factory=list)
    keypoint_counts: list[int] = field(default_factory=list)
    intermediate_skipped: bool = False

    def attempt(self, angle: float) -> Hypothesis:
        """The hypothesis of image 2 turned by ``angle`` degrees."""
        upright = angle % 360 == 0
        rotation, shape = turn(self.small2.shape, angle)
        if upright:
            turned = self.small2
        else:
            exact = abs(angle % 90) < 1e-9
            turned = warp_nan(self.small2, np.linalg.inv(rotation), shape,
                              order=0 if exact else 1)
        try:
            keypoints2, descriptors2 = self.describe(turned, upright)
        except NoKeypointsError:  # a featureless turn; any other error is a bug and shows
            if upright:
                raise
            return Hypothesis(angle, None, 0, 0)
        self.keypoint_counts.append(len(keypoints2))
        matches = match_descriptors(self.descriptors1, descriptors2, cross_check=True,
                                    max_ratio=self.settings.ratio)
        back = self.scale2 @ np.linalg.inv(rotation)
        hypothesis = Hypothesis(angle, None, 0, len(matches),
                                coarse_keypoints2=apply_matrix(back, keypoints2[:, ::-1])[:, ::-1],
                                coarse_matches=matches)
        if len(matches) < max(3, self.settings.min_coarse_inliers):
            return hypothesis
        source = self.keypoints1[matches[:, 0], ::-1]
        target = keypoints2[matches[:, 1], ::-1]
        to_full = np.linalg.inv(self.scale1)
        name = "similarity" if self.settings.model == "similarity" else "affine"
        fitted = ransac(source, target, name, threshold=self.settings.ransac_threshold,
                        max_trials=self.settings.max_trials, rng=self.rng,
                        plausible=lambda m: self.plausible(back @ m @ to_full))
        if fitted is None:
            return hypothesis
        matrix, inliers = fitted
        hypothesis.matrix = back @ matrix @ to_full
        hypothesis.inliers = int(inliers.sum())
        hypothesis.coarse_inliers = inliers
        return hypothesis

    def best(self) -> Hypothesis:
        """The hypothesis with the most inliers so far."""
        return max(self.hypotheses, key=lambda h: h.inliers)

    def is_strong(self, hypothesis: Hypothesis) -> bool:
        """Many inliers, enough making up most matches, or clearly ahead of other turns."""
        s = self.settings
        if s.strong_inliers is None or hypothesis.matrix is None:
            return False
        count = hypothesis.inliers
        if count >= s.strong_inliers or (
            count >= s.min_coarse_inliers and count >= _STRONG_RATIO * hypothesis.candidates
        ):
            return True
        others = [o.inliers for o in self.hypotheses
                  if angle_difference(o.angle, hypothesis.angle) > _DOMINANCE_SEPARATION]
        return len(others) >= 3 and count >= max(
            s.min_coarse_inliers, _DOMINANCE * max(max(others), _DOMINANCE_FLOOR)
        )

    def refine(self, hypothesis: Hypothesis) -> None:
        """Match again at the turn the hypothesis estimates, when it is off its own angle.

        A hypothesis below ``min_coarse_inliers`` may still point at the right turn.
        """
        if self.settings.refine_angle is None or hypothesis.matrix is None or \
                hypothesis.inliers < _MIN_REFINE_INLIERS:
            return
        estimated = (-rotation_scale(hypothesis.matrix)[0]) % 360
        if angle_difference(estimated, hypothesis.angle) > self.settings.refine_angle:
            self.search([estimated], refining=False)

    def search(self, angles, refining: bool = True) -> bool:
        """Try ``angles`` in order until a strong hypothesis; returns whether one was found."""
        for angle in angles:
            if any(angle_difference(angle, h.angle) < 1e-6 for h in self.hypotheses):
                continue
            self.hypotheses.append(self.attempt(float(angle)))
            if refining and self.settings.min_coarse_inliers <= self.hypotheses[-1].inliers:
                self.refine(self.hypotheses[-1])
            if self.is_strong(self.best()):
                return True
        return False

    def run(self, estimated: list[float] | Callable[[], list[float]] = (),
            settled: Callable[[], bool] | None = None) -> Hypothesis:
        """The whole search; returns the best hypothesis (``strong`` set).

        ``estimated`` are the turns to try right after the first of
        ``rotations``, or a function giving them, called only when that first
        turn is not strong (an upright pair never pays for the estimate).
        ``settled``, when given, is asked before the intermediate turns (the
        costliest part: one coarse match per ``angle_step``) are tried; when it
        answers True (the matcher found the pair registered another way), they
        are skipped.
        """
        s = self.settings
        first, rest = s.rotations[:1], s.rotations[1:]
        found = self.search(first)
        if not found:
            turns = estimated() if callable(estimated) else estimated
            # turns within refine_angle of a right angle are tried at the right angle
            found = self.search([self._snap(angle) for angle in turns]) or self.search(rest)
        if not found:
            self.refine(self.best())
            found = self.is_strong(self.best())
        self.intermediate_skipped = False
        if not found and s.angle_step is not None and settled is not None and settled():
            self.intermediate_skipped = True
        elif not found and s.angle_step is not None:
            # intermediate turns, the nearest to the best hypothesis' first
            steps = np.arange(0.0, 360.0, s.angle_step)
            centre = self.best().angle if self.best().inliers else 0.0
            distance = np.abs((steps - centre + 180) % 360 - 180)
            if not self.search(steps[np.argsort(distance, kind="stable")]):
                self.refine(self.best())
        best = self.best()
        best.strong = self.is_strong(best)
        return best

    def _snap(self, angle: float) -> float:
        tolerance = self.settings.refine_angle or 0.0
        for right in self.settings.rotations:
            if angle_difference(angle, right) <= tolerance:
                return float(right)
        return angle
