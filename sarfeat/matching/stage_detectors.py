"""The detectors of a matcher's stages: one detector kept per weights and set of options.

:class:`StageDetectors` is what a :class:`~sarfeat.CoarseFineMatcher` shares
between its calls and threads: one :class:`~sarfeat.SARR2D2Detector` per
weights and options, built on the matcher's ``weights`` argument as it was
given, so that a stage detects and describes exactly as that detector does
(a release name brings its polar weighting and distilled maps, which its
loaded network would not); each stage detects with a copy of it, so all
share one network runtime and no stage changes another's settings.
"""

from __future__ import annotations

import threading

from ..detector import SARR2D2Detector
from ..weights import weights_key
from .options import MATCHER_SETS, PYRAMID_DEFAULTS

__all__ = ["StageDetectors", "stage_options"]


def stage_options(detector_options: dict, stage: dict) -> dict:
    """The options of a matcher's detector: the one place they are built.

    The user's ``detector_options`` (less those the matcher sets itself,
    :data:`~sarfeat.matching.options.MATCHER_SETS`), then the stage's own
    pyramid and budget ``stage``. The detectors run upright unless
    ``detector_options`` says otherwise: the matcher's own rotation search
    turns the images, and the network's R2D2 descriptor is what its votes are
    built on.
    """
    options = {k: v for k, v in detector_options.items() if k not in MATCHER_SETS}
    options.setdefault("upright", True)
    options.update(stage)
    return options


class StageDetectors:
    """The detectors that a matcher's stages copy, kept between calls.

    Parameters
    ----------
    lock : threading.Lock
        Held while a kept detector is read or replaced (the matcher's own, so
        that threads may share the matcher).

    Attributes
    ----------
    kept : dict
        The detectors kept, by weights and options: the stages' (one at a time)
        and the turn estimate's. Each loads its network runtime once, on its
        first detection, and keeps it.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.kept: dict = {}

    def stage_detector(self, weights, detector_options: dict, stage: dict) -> SARR2D2Detector:
        """A detector of its own for a stage: ``SARR2D2Detector(weights, ...)``.

        ``detector_options`` are the matcher's, ``stage`` the stage's pyramid
        and budget (the detector's defaults for those it leaves out); see
        :func:`stage_options`. The copy is of one detector kept per weights and
        options less the stage's, so all share one network runtime, with its
        working memory, and the network stays ready between calls.
        """
        stage = {**PYRAMID_DEFAULTS, **stage}  # a stage sets every one of these
        options = stage_options(detector_options, stage)
        shared = {k: v for k, v in options.items() if k not in stage}
        # the kept detector holds the weights, so an object's id in the key is not reused
        key = (weights_key(weights), repr(sorted(shared.items())))
        with self.lock:
            if key not in self.kept:
                self.kept = {key: SARR2D2Detector(weights, input_kind="display", **shared)}
            base = self.kept[key]
        copy = base.thread_copy()  # loads the runtime once; the copy shares it
        for name, value in stage.items():
            setattr(copy, name, value)
        return copy

    def turn_detector(self, weights, options: dict | None) -> SARR2D2Detector | None:
        """A copy of ``SARR2D2Detector(weights, **options)``, which estimates the turn, kept;
        None for None."""
        if options is None:
            return None
        key = ("turn", weights_key(weights), repr(sorted(options.items())))
        with self.lock:
            base = self.kept.get(key) or self.kept.setdefault(
                key, SARR2D2Detector(weights, **options))
        return base.thread_copy()
