"""The coarse stage of a match: both images downsampled, described, and the rotation search.

:func:`coarse_stage` runs :class:`~sarfeat.matching.coarse.CoarseSearch` on
the downsampled images with the stage's own detector and fills the coarse
fields of a :class:`~sarfeat.matching.result.MatchResult`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from skimage.transform import AffineTransform

from ..detector import NoKeypointsError, SARR2D2Detector
from ..detector_input import refuse_flat
from .coarse import CoarseSearch, CoarseSettings, Hypothesis, estimate_turns, invariant_turn
from .geometry import apply_matrix, downsample, overlap_box
from .result import MatchResult

__all__ = ["coarse_stage", "coarse_features", "describing_workers", "turn_detector_options",
           "CoarseKeypointsError"]

#: An image with fewer coarse keypoints than this at least _BORDER coarse pixels from its
#: border is featureless (a smooth ramp gives none: its keypoints sit on the border).
_MIN_CONTENT_KEYPOINTS = 10
_BORDER = 16
#: Seed of the invariant turn estimate's RANSAC.
_TURN_SEED = 0
#: Inliers that make the invariant turn estimate worth a try (a wrong one costs one turn
#: of the search; pair l turned by 30 degrees gave the right turn with 6 inliers of 7
#: matches with fp32 maps, 8 with the int8 maps).
_MIN_TURN_INLIERS = 5


class CoarseKeypointsError(NoKeypointsError):
    """A coarse image gave no usable keypoint: a :class:`~sarfeat.NoKeypointsError` that says
    what ran.

    Attributes
    ----------
    diagnostics : dict
        The match's diagnostics when the coarse stage stopped: ``'coarse_factor'``,
        ``'network'`` (what ran the keypoint network, as
        :attr:`~sarfeat.SARR2D2Detector.runtime_used`; None when image 1 was refused
        before it ran: no valid pixel, or flat) and ``'failure'`` (the message).
    """

    def __init__(self, message: str, diagnostics: dict) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@contextmanager
def _stopped_with(diagnostics: dict) -> Iterator[None]:
    """A :class:`NoKeypointsError` raised inside, as a :class:`CoarseKeypointsError`."""
    try:
        yield
    except NoKeypointsError as error:
        raise CoarseKeypointsError(str(error), dict(diagnostics, failure=str(error))) from None


def coarse_stage(found: MatchResult, settings: CoarseSettings, detector: SARR2D2Detector,
                 plausible: Callable[[np.ndarray], np.ndarray], image1: np.ndarray,
                 image2: np.ndarray, rng: np.random.Generator,
                 settled: Callable[[], bool] | None = None,
                 turn_detector: Callable[[], SARR2D2Detector | None] | None = None
                 ) -> Hypothesis:
    """Rotation search and coarse model; fills the coarse fields of ``found``.

    ``detector`` is the stage's own (its pyramid and budget set by
    ``settings``); ``plausible`` says which (B, 3, 3) models are plausible;
    ``settled`` is :meth:`CoarseSearch.run`'s: asked before the intermediate turns.
    ``turn_detector`` gives a rotation-invariant detector (``upright=False``, or
    None), asked for only when the upright turn is not strong (an upright pair
    never loads its network): its features give the first estimated turn
    (:func:`~sarfeat.matching.coarse.invariant_turn`); the orientation
    histogram's follow. A coarse image without usable keypoints raises
    :class:`CoarseKeypointsError`, with what ran.
    """
    diagnostics = found.diagnostics
    factor = min(1.0, settings.coarse_size / max(max(image1.shape), max(image2.shape)))
    # each image normalised whole only for its downsampling, one at a time
    small1, scale1 = downsample(image1, factor)
    small2, scale2 = downsample(image2, factor)
    keypoints1, descriptors1, describe = _first_features(found, settings, detector, factor,
                                                         small1, small2)
    found.coarse_keypoints1 = apply_matrix(scale1, keypoints1[:, ::-1])[:, ::-1]
    search = CoarseSearch(settings, describe, plausible, keypoints1, descriptors1,
                          small2, scale1, scale2, rng)
    estimated: list[float] = []
    estimate = _turn_estimator(settings, diagnostics, small1, small2, turn_detector, estimated)
    with _stopped_with(diagnostics):
        best = search.run(estimate, settled)
    diagnostics.update(
        intermediate_turns_skipped=search.intermediate_skipped,
        coarse_keypoints=(len(keypoints1), *search.keypoint_counts),
        coarse_candidates=best.candidates, coarse_inliers=best.inliers,
        angles_tried=[h.angle for h in search.hypotheses if h.coarse_matches is not None],
        estimated_turns=[round(a, 1) for a in estimated],
        coarse_hypotheses=[{"angle": h.angle, "candidates": h.candidates,
                            "inliers": h.inliers} for h in search.hypotheses],
    )
    _fill_coarse_fields(found, best, settings, image1.shape, image2.shape)
    return best


def _first_features(found: MatchResult, settings: CoarseSettings, detector: SARR2D2Detector,
                    factor: float, small1: np.ndarray, small2: np.ndarray):
    """(keypoints, descriptors) of coarse image 1, and the search's ``describe(image, check)``
    of image 2's turns.

    On a CPU, upright image 2 (the first turn tried) is described in a second thread, with a
    copy of the stage's detector, while image 1 is; ``describe`` gives that result first.
    """
    diagnostics = found.diagnostics
    copy = detector.thread_copy()
    upright_first = settings.rotations[0] % 360 == 0 and describing_workers(copy) > 1
    diagnostics.update(coarse_factor=factor, network=None)
    with ThreadPoolExecutor(1) as pool, _stopped_with(diagnostics):
        describable(small1, "image1")
        # what runs the network from here (the fine stage's detector shares this runtime)
        diagnostics["network"] = detector.runtime_used
        prefetched = [pool.submit(coarse_features, copy, small2, "image2", True)] \
            if upright_first else []
        keypoints1, descriptors1 = coarse_features(detector, small1, "image1", check=True)

    def describe(image, check):
        if prefetched and image is small2:
            return prefetched.pop().result()
        return coarse_features(detector, image, "image2", check)

    return keypoints1, descriptors1, describe


def _turn_estimator(settings: CoarseSettings, diagnostics: dict, small1: np.ndarray,
                    small2: np.ndarray,
                    turn_detector: Callable[[], SARR2D2Detector | None] | None,
                    estimated: list[float]) -> Callable[[], list[float]]:
    """The search's ``estimate()``: the invariant detector's turn first (when there is one),
    then the orientation histogram's, appended to ``estimated``."""

    def estimate() -> list[float]:  # only when the first turn is not strong
        if settings.estimated_turns:
            invariant = turn_detector() if turn_detector is not None else None
            if invariant is not None:
                found_turn = _invariant_estimate(invariant, small1, small2, settings)
                diagnostics.update(invariant_turn=found_turn, turn_network=invariant.runtime_used)
                estimated.extend(found_turn[:1] if found_turn else [])
            estimated.extend(estimate_turns(small1, small2, settings.estimated_turns))
        return estimated

    return estimate


def _fill_coarse_fields(found: MatchResult, best: Hypothesis, settings: CoarseSettings,
                        shape1: tuple, shape2: tuple) -> None:
    """Fill the coarse fields of ``found`` from ``best``; its matrix set to None (and the
    failure said) when it has too few inliers or leaves no overlap."""
    found.coarse_keypoints2 = best.coarse_keypoints2
    found.coarse_matches = best.coarse_matches
    found.coarse_inliers = best.coarse_inliers
    if best.matrix is None or best.inliers < settings.min_coarse_inliers:
        found.diagnostics["failure"] = (
            f"the best hypothesis has {best.inliers} RANSAC inliers among "
            f"{best.candidates} matches, {settings.min_coarse_inliers} needed"
        )
        best.matrix = None
    elif overlap_box(best.matrix, shape1, shape2) is None:
        found.diagnostics["failure"] = "under its best hypothesis the images do not overlap"
        best.matrix = None
    else:
        found.coarse_model = AffineTransform(matrix=best.matrix / best.matrix[2, 2])
        found.coarse_angle = best.angle


def turn_detector_options(options: dict, estimated_turns: int) -> dict | None:
    """Options of the rotation-invariant detector that estimates the turn, from the matcher's.

    The detector is built on the matcher's own ``weights``: that release's
    rotation-invariant detector as it comes (``upright=False``; the maps,
    descriptor and orientation that release gives by default, e.g.
    sarfeat-sar-v2's distilled maps and weighted polar descriptor,
    sarfeat-sar-v1's unweighted one), with the coarse stage's pyramid and the
    user's other options (runtime, device, precision, thresholds, trust); None
    when ``estimated_turns`` is 0 or the matcher's detectors are rotation
    invariant themselves.
    """
    if not estimated_turns or not options.get("upright", True):
        return None
    dropped = ("upright", "turned_maps", "descriptor", "orientation")
    kept = {name: value for name, value in options.items() if name not in dropped}
    return {**kept, "upright": False, "input_kind": "display"}


def _invariant_estimate(detector: SARR2D2Detector, small1: np.ndarray, small2: np.ndarray,
                        settings: CoarseSettings) -> tuple[float, int] | None:
    """(turn, inliers) of :func:`invariant_turn` on both coarse images, or None.

    Its RANSAC has a generator of its own, seeded alike on every call, so the
    search's draws are those it had without it.
    """
    try:
        keypoints1, descriptors1 = coarse_features(detector, small1, "image1")
        keypoints2, descriptors2 = coarse_features(detector, small2, "image2")
    except NoKeypointsError:
        return None
    return invariant_turn(keypoints1, descriptors1, keypoints2, descriptors2, settings,
                          np.random.default_rng(_TURN_SEED), _MIN_TURN_INLIERS)


def coarse_features(detector: SARR2D2Detector, image: np.ndarray, which: str,
                    check: bool = False):
    """Keypoints and descriptors of a coarse image; ``check`` refuses a featureless one."""
    describable(image, which)
    try:
        detector.detect_and_extract(image)
    except NoKeypointsError as error:
        raise NoKeypointsError(f"{which}: {error}") from None
    keypoints = detector.keypoints.astype(np.float64)
    if check:
        # keypoints on the image border or next to no-data say nothing about content
        height, width = image.shape
        away = (
            (keypoints[:, 0] >= _BORDER) & (keypoints[:, 0] <= height - 1 - _BORDER)
            & (keypoints[:, 1] >= _BORDER) & (keypoints[:, 1] <= width - 1 - _BORDER)
        )
        if away.sum() < _MIN_CONTENT_KEYPOINTS:
            raise NoKeypointsError(
                f"{which}: only {int(away.sum())} keypoints away from the image border "
                f"({len(keypoints)} in all; at least {_MIN_CONTENT_KEYPOINTS} needed): the "
                "image looks featureless"
            )
    return keypoints, detector.descriptors


def describable(image: np.ndarray, which: str) -> None:
    """Refuse a coarse image that the detector refuses before its network runs.

    Raises
    ------
    sarfeat.NoKeypointsError
        When ``image`` has no valid (finite) pixel, which a turn may leave, or
        when its valid pixels have one value (:func:`sarfeat.detector_input.refuse_flat`).
    """
    valid = image[np.isfinite(image)]
    if valid.size == 0:
        raise NoKeypointsError(f"{which}: no valid pixel")
    refuse_flat(valid, which)


def describing_workers(detector: SARR2D2Detector) -> int:
    """Fine patches described at once: two on a CPU with two cores or more, else one.

    On the CPU the network of one patch then runs while the descriptors of the
    other are computed (measured on 2 cores: two concurrent runs of ONNX
    Runtime's int8 trunk take 9 % less time than the same runs one after the
    other, and the Python side of one patch overlaps the other's network).
    """
    return 2 if detector.runtime_device == "cpu" and (os.cpu_count() or 1) >= 2 else 1
