"""The matcher's parameters: settings objects against flat keywords, and a given detector.

:class:`~sarfeat.CoarseFineMatcher` takes its parameters either as flat
keywords or as :class:`~sarfeat.matching.coarse.CoarseSettings`,
:class:`~sarfeat.matching.fine.FineSettings` and a detector; this module
reconciles the two.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import TypeVar

from ..detector import SARR2D2Detector
from .coarse import CoarseSettings
from .fine import FineSettings

__all__ = ["MATCHER_SETS", "PYRAMID_DEFAULTS", "ATTRIBUTE_OF", "KEYWORD_OF",
           "settings_as_keywords", "stage_settings", "detector_as_options"]

#: The matcher's attribute of each flat keyword whose name differs.
ATTRIBUTE_OF = {"model": "model_type", "descriptors": "descriptor_names"}

#: The flat keyword of each settings field whose name differs.
KEYWORD_OF = {"max_patches": "max_fine_patches"}

Settings = TypeVar("Settings", CoarseSettings, FineSettings)

#: Detector parameters that the matcher sets itself, per stage.
MATCHER_SETS = ("max_keypoints", "min_size", "max_size", "min_scale", "max_scale",
                "scale_factor", "input_kind", "nodata")

#: The detector's pyramid and budget, which each stage sets (the detector's own defaults
#: unless the stage gives them).
PYRAMID_DEFAULTS = {
    name: inspect.signature(SARR2D2Detector).parameters[name].default
    for name in ("max_keypoints", "min_size", "max_size", "min_scale", "max_scale",
                 "scale_factor")
}


def settings_as_keywords(flat: dict, defaults: dict, coarse: CoarseSettings | None,
                         fine: FineSettings | None) -> dict:
    """The flat keywords that ``coarse`` and ``fine`` give; ValueError when both say one.

    ``defaults`` are the keywords' defaults. A keyword left at its default gives
    way to the settings; one given with a value of its own, or two settings that
    disagree, is refused.
    """
    given: dict = {}
    for label, settings, kind in (("coarse", coarse, CoarseSettings),
                                  ("fine", fine, FineSettings)):
        if settings is None:
            continue
        if not isinstance(settings, kind):
            raise TypeError(f"{label} must be a {kind.__name__}, got {type(settings).__name__}")
        for item in fields(settings):
            name = KEYWORD_OF.get(item.name, item.name)
            value = getattr(settings, item.name)
            if name in given and given[name] != value:
                raise ValueError(f"coarse and fine settings disagree on {name}: "
                                 f"{given[name]!r} and {value!r}")
            if flat[name] != defaults[name] and flat[name] != value:
                raise ValueError(f"{name} given both as a keyword ({flat[name]!r}) and in "
                                 f"{label}= ({value!r}): give it once")
            given[name] = value
    return given


def stage_settings(kind: type[Settings], matcher) -> Settings:
    """The settings of one stage (``kind``: CoarseSettings or FineSettings), as the
    matcher's attributes give them (each field's keyword, :data:`ATTRIBUTE_OF` renamed)."""
    values = {}
    for item in fields(kind):
        keyword = KEYWORD_OF.get(item.name, item.name)
        values[item.name] = getattr(matcher, ATTRIBUTE_OF.get(keyword, keyword))
    return kind(**values)


def detector_as_options(detector: SARR2D2Detector, weights, options: dict):
    """(weights, detector options) of a detector given to the matcher: its settings, as set.

    The matcher sets the pyramid, budget and input of each stage itself
    (:data:`MATCHER_SETS`); the rest (weights, runtime, thresholds, ``upright``...)
    are the detector's.
    """
    if not isinstance(detector, SARR2D2Detector):
        raise TypeError(f"detector must be a SARR2D2Detector, got {type(detector).__name__}")
    if weights is not None or options:
        raise ValueError("give either detector= or weights= and detector options, not both")
    names = [name for name in inspect.signature(SARR2D2Detector).parameters
             if name not in ("weights", "n_keypoints", "downscale") and name not in MATCHER_SETS]
    return detector.weights, {name: getattr(detector, name) for name in names}
