"""The detectors of a matcher's stages: one network, one detector kept per set of options.

:class:`StageDetectors` is what a :class:`~sarfeat.CoarseFineMatcher` shares
between its calls and threads: the network its weights name, loaded once, and
one :class:`~sarfeat.SARR2D2Detector` per set of options; each stage detects
with a copy of one of them, so all share one network runtime and no stage
changes another's settings.
"""

from __future__ import annotations

import os
import threading

from ..detector import SARR2D2Detector
from ..weights import resolve_network_weights
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
    """The network and the detectors that a matcher's stages copy, kept between calls.

    Parameters
    ----------
    lock : threading.Lock
        Held while the network or a kept detector is read or replaced (the
        matcher's own, so that threads may share the matcher).

    Attributes
    ----------
    network : object or None
        The network last loaded (:func:`sarfeat.weights.resolve_network_weights`).
    kept : dict
        The detectors kept, by network and options: the stages' (one at a time)
        and the turn estimate's.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.network = None
        self.network_key = None
        self.kept: dict = {}

    def network_of(self, weights, trust: bool = False):
        """The network of ``weights``, loaded when they differ from the last ones."""
        # names and paths by value; any other weights object by identity (the key holds it,
        # so its id is not reused; its repr would print every array it holds)
        named = isinstance(weights, (str, os.PathLike))
        key = (str(weights) if named else id(weights), None if named else weights)
        with self.lock:
            if self.network is None or self.network_key is None or self.network_key[0] != key[0]:
                self.network = resolve_network_weights(weights, trust=trust)
                self.network_key = key
            return self.network

    def stage_detector(self, weights, detector_options: dict, stage: dict) -> SARR2D2Detector:
        """A detector of its own for a stage, on the network of ``weights``.

        ``detector_options`` are the matcher's, ``stage`` the stage's pyramid
        and budget (the detector's defaults for those it leaves out); see
        :func:`stage_options`. The copy is of one detector kept per network and
        options less the stage's, so all share one network runtime, with its
        working memory, and the network stays ready between calls.
        """
        stage = {**PYRAMID_DEFAULTS, **stage}  # a stage sets every one of these
        options = stage_options(detector_options, stage)
        net = self.network_of(weights, detector_options.get("trust", False))
        shared = {k: v for k, v in options.items() if k not in stage}
        key = (id(net), repr(sorted(shared.items())))
        with self.lock:
            if key not in self.kept:
                self.kept = {key: SARR2D2Detector(net, input_kind="display", **shared)}
            base = self.kept[key]
        copy = base.thread_copy()  # loads the runtime once; the copy shares it
        for name, value in stage.items():
            setattr(copy, name, value)
        return copy

    def turn_detector(self, options: dict | None) -> SARR2D2Detector | None:
        """A copy of the detector of ``options`` that estimates the turn, kept; None for None."""
        if options is None:
            return None
        key = ("turn", repr(sorted(options.items())))
        with self.lock:
            base = self.kept.get(key) or self.kept.setdefault(key, SARR2D2Detector(**options))
        return base.thread_copy()
