"""The checks of :class:`~sarfeat.CoarseFineMatcher`'s parameters, run in its ``__init__``.

Kept apart from the matcher itself so that the matcher stays an orchestrator;
every message names the parameter, the value received and what is accepted.
"""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from .._validation import check_bool, check_choice, check_integer, check_number, check_options
from ..descriptors import DESCRIPTOR_NAMES
from ..detector import SARR2D2Detector
from ..preprocess import INPUT_KINDS, check_nodata
from ..weights import check_weights
from .dense_options import parse_modality, scales_within
from .models import MODELS
from .options import ATTRIBUTE_OF

__all__ = ["check_matcher_parameters", "sequence_parameters", "warn_scales_beyond"]

_POSITIVE_INTEGERS = ("coarse_keypoints", "fine_keypoints", "max_trials", "min_coarse_inliers",
                      "min_fine_inliers")
_POSITIVE_NUMBERS = ("ransac_threshold", "fine_threshold", "radius")
_UNIT_FRACTIONS = ("ratio", "local_ratio", "fine_min_scale")
#: Detector options that each stage sets itself (MATCHER_SETS, with skimage's aliases),
#: and the matcher's parameter to give instead.
_STAGE_SET = {"max_keypoints": "coarse_keypoints= and fine_keypoints=",
              "n_keypoints": "coarse_keypoints= and fine_keypoints=",
              "min_size": "coarse_size=", "max_size": "coarse_size=",
              "min_scale": "fine_min_scale=", "max_scale": "fine_min_scale=",
              "scale_factor": None, "downscale": None}
#: The parameters of :class:`~sarfeat.CoarseFineMatcher` that a pair with an optical image
#: follows (:func:`~sarfeat.matching.dense.dense_matcher_for`; ``rotations`` only with
#: ``angle_step=None``); every other one is the keypoint matcher's, for two SAR images.
_DENSE_FOLLOWS = ("model", "max_scale_change", "input_kind", "nodata", "rng", "progress",
                  "modality", "dense_scales", "dense_model", "border_fill", "rotations",
                  "angle_step")
#: The detector's parameters, with their defaults.
_DETECTOR_PARAMETERS = inspect.signature(SARR2D2Detector).parameters
#: Parameters that are no attribute of the matcher: folded into the others by ``__init__``.
_FOLDED = ("detector", "coarse", "fine", "detector_options")


def _check_sequences(matcher) -> None:
    rotations = matcher.rotations
    if len(rotations) == 0 or not all(
        isinstance(angle, numbers.Real) and np.isfinite(angle) for angle in rotations
    ):
        raise ValueError(
            f"rotations must be a non-empty sequence of finite angles in degrees, e.g. (0,), "
            f"got {rotations!r}"
        )
    names = matcher.descriptor_names
    if len(names) == 0 or not set(names) <= set(DESCRIPTOR_NAMES) or len(set(names)) < len(names):
        raise ValueError(
            f"descriptors must be distinct names among {DESCRIPTOR_NAMES}, got {names!r}"
        )


def sequence_parameters(rotations, descriptors) -> tuple[tuple, tuple]:
    """``rotations`` and ``descriptors`` as tuples (a single descriptor name is one name).

    Raises
    ------
    ValueError
        For a value that is not a sequence (None, a number), naming the parameter.
    """
    if isinstance(descriptors, str):
        descriptors = (descriptors,)
    checked = []
    for name, value, example in (("rotations", rotations, "(0, 90, 180, 270)"),
                                 ("descriptors", descriptors, "('r2d2', 'ratio_hog')")):
        try:
            checked.append(tuple(value))
        except TypeError:
            raise ValueError(f"{name} must be a sequence, e.g. {example}, got {value!r}") from None
    return checked[0], checked[1]


def _check_detector_options(options: dict) -> None:
    """Refuse unknown detector options, and those each stage sets itself (which would be
    ignored: a skimage user's ``n_keypoints=500`` changed nothing)."""
    for name in options:
        if name in _STAGE_SET:
            instead = _STAGE_SET[name]
            raise ValueError(
                f"{name} is set by CoarseFineMatcher for each stage, so a detector option "
                f"{name}={options[name]!r} would be ignored; "
                + (f"give {instead} instead" if instead else "the pyramids are the stages' own")
            )
    accepted = inspect.signature(SARR2D2Detector).parameters
    check_options(options, [name for name in accepted if name != "weights"], "CoarseFineMatcher")
    SARR2D2Detector(**options)  # checks every value; loads nothing


def check_matcher_parameters(matcher) -> None:
    """Check every parameter of a :class:`~sarfeat.CoarseFineMatcher` (its attributes).

    Raises
    ------
    ValueError, TypeError, FileNotFoundError
        The first parameter that is wrong, with the accepted values.
    """
    check_choice("model", matcher.model_type, tuple(MODELS))
    check_choice("dense_model", matcher.dense_model, ("similarity", "affine"))
    for name in _POSITIVE_INTEGERS:
        check_integer(name, getattr(matcher, name))
    check_integer("coarse_size", matcher.coarse_size, 32)
    check_integer("patch_size", matcher.patch_size, 32)
    check_integer("vote_threshold", matcher.vote_threshold, optional=True)
    check_integer("strong_inliers", matcher.strong_inliers, optional=True)
    check_integer("max_fine_patches", matcher.max_fine_patches, 1, optional=True)
    for name in _POSITIVE_NUMBERS:
        check_number(name, getattr(matcher, name), 0, low_open=True)
    check_number("final_radius", matcher.final_radius, 0, low_open=True, optional=True)
    for name in _UNIT_FRACTIONS:
        check_number(name, getattr(matcher, name), 0, 1, low_open=True)
    check_number("max_scale_change", matcher.max_scale_change, 1, low_open=True)
    check_number("angle_step", matcher.angle_step, 0, 360, low_open=True, high_open=True,
                 optional=True)
    check_number("refine_angle", matcher.refine_angle, 0, optional=True)
    check_bool("select_model", matcher.select_model)
    check_bool("subpixel", matcher.subpixel)
    check_bool("identity_prior", matcher.identity_prior)
    check_bool("border_fill", matcher.border_fill)
    check_integer("estimated_turns", matcher.estimated_turns, 0)
    if matcher.progress is not None:
        check_bool("progress", matcher.progress)
    _check_sequences(matcher)
    rng = matcher.rng
    if not (rng is None or isinstance(rng, (numbers.Integral, np.random.Generator))) \
            or isinstance(rng, bool) or (isinstance(rng, numbers.Integral) and rng < 0):
        raise ValueError(f"rng must be None, an integer seed >= 0 or a numpy Generator, got "
                         f"{rng!r}")
    check_choice("input_kind", matcher.input_kind, INPUT_KINDS)
    check_nodata(matcher.nodata)
    # before the weights are looked for: a pair with an optical image runs no network, and
    # weights given for it are refused as such, not as a file that is not there
    _check_modality_options(matcher)
    check_weights(matcher.weights)
    _check_detector_options(matcher.detector_options)


def _check_modality_options(matcher) -> None:
    """Refuse the options that the pair's modality would ignore, as the command line does:
    the keypoint matcher's (given other than their defaults) with an optical image, the
    dense matcher's with two SAR images."""
    parameters = inspect.signature(type(matcher)).parameters
    if parse_modality(matcher.modality) == ("sar", "sar"):
        given = _given({name: getattr(matcher, name)
                        for name in ("dense_scales", "dense_model", "border_fill")}, parameters)
        if given:
            raise ValueError(
                f"{', '.join(given)}: for a pair with an optical image (modality='optical-sar', "
                "'sar-optical' or 'optical'); two SAR images are matched by the keypoint "
                "matcher, whose transform model= sets, whose detector's pyramid covers the "
                "scales and which always leaves out the exact zeros of a linear image "
                "connected to its border")
        return
    given = _given({name: getattr(matcher, ATTRIBUTE_OF.get(name, name)) for name in parameters
                    if name not in _DENSE_FOLLOWS + _FOLDED}, parameters)
    given += _given({name: value for name, value in matcher.detector_options.items()
                     if name in _DETECTOR_PARAMETERS}, _DETECTOR_PARAMETERS)
    if matcher.model_type == "projective":
        given.append("model='projective'")
    if matcher.angle_step is not None:
        given += _given({name: getattr(matcher, name) for name in ("angle_step", "rotations")},
                        parameters)
    if given:
        raise ValueError(
            f"{', '.join(given)}: for two SAR images (the keypoint matcher), ignored by a pair "
            "with an optical image, which is matched on dense structure maps without the "
            "network: it follows model ('similarity' or 'affine'), max_scale_change, "
            "input_kind, nodata, rng, dense_scales, dense_model, border_fill and, with "
            "angle_step=None, rotations (the turns searched)")


def warn_scales_beyond(matcher) -> None:
    """Warn of the ``dense_scales`` of a :class:`~sarfeat.CoarseFineMatcher` that lie beyond
    its ``max_scale_change``: the dense matcher's search leaves them out (all of them: it
    tries none, and refuses every pair). Called once, when the matcher is made."""
    scales, most = matcher.dense_scales, matcher.max_scale_change
    if scales is None:
        return
    beyond = [scale for scale in scales if scale not in scales_within(scales, most)]
    if beyond:
        warnings.warn(
            f"dense_scales beyond max_scale_change={most:g} (only {1 / most:.3g}-{most:g} is "
            f"searched) are left out of the search: {', '.join(f'{s:g}' for s in beyond)}"
            + (", all that were given (every pair will be refused)"
               if len(beyond) == len(scales) else "")
            + "; raise max_scale_change to search them", UserWarning, stacklevel=3)


def _given(values: dict, parameters) -> list[str]:
    """``name=value`` of each of ``values`` that is not its parameter's default."""
    given = []
    for name, value in values.items():
        default = parameters[name].default
        try:
            same = value is default or bool(value == default)
        except (TypeError, ValueError):  # an array, compared element by element
            same = False
        if not same:
            given.append(f"{name}={value!r}")
    return given
