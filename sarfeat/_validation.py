"""Parameter checks shared by sarfeat's estimators.

Each check raises at once, naming the parameter, the value received and what
would be accepted, so that a constructor can reject a bad argument before any
work is done (scikit-image's estimators check in ``__init__`` too).
"""

from __future__ import annotations

import numbers
import os
import warnings


import numpy as np

from .argument_checks import DEVICES, is_device_name
from .geometry import check_order
from .image_checks import MIN_VALID_FRACTION
from .runtime.choice import PRECISIONS, RUNTIMES, resolve_device
from .preprocess import INPUT_KINDS, check_nodata
from .weights import check_weights
from .tensor_input import tensor_values

__all__ = [
    "alias_property",
    "check_bool",
    "check_choice",
    "check_detector_parameters",
    "check_device",
    "check_integer",
    "check_keypoints",
    "check_options",
    "check_number",
    "check_register_options",
    "real_values",
    "resolve_alias",
    "same_keypoints",
]

#: Smallest keypoint scale (patch diameter, pixels) that ``extract`` accepts: half the
#: network's smallest patch. Smaller values are foreign scales (ORB's pyramid factors,
#: SIFT's sigmas) that would otherwise be silently misread.
MIN_KEYPOINT_SCALE = 16.0
#: Devices that ``device=`` accepts (plus ``'cuda:N'`` and torch.device objects).


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {tuple(choices)}")


def check_bool(name: str, value) -> None:
    """Raise TypeError unless ``value`` is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_integer(name: str, value, low: int = 1, *, optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``low`` (or None when optional)."""
    if optional and value is None:
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        allowed = f"an integer >= {low}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_number(
    name: str,
    value,
    low: float = -np.inf,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a finite real number in the given interval."""
    if optional and value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) \
        and bool(np.isfinite(value))
    if ok:
        ok = (value > low if low_open else value >= low) and \
            (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        allowed = f"a finite number in {interval}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_device(device) -> None:
    """Raise ValueError for a device that cannot be used here, listing the valid ones.

    A ``torch.device`` is accepted too (it is read as its string). cuda needs
    torch (an ImportError names the extra when it is missing).
    """
    if device is None:
        resolve_device(device)
        return
    if type(device).__name__ == "device" and type(device).__module__.startswith("torch"):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be a string or a torch.device, got {device!r}")
    if not is_device_name(device):
        hint = " (torch calls NVIDIA GPUs 'cuda')" if device.lower().startswith("gpu") else ""
        raise ValueError(f"unknown device {device!r}{hint}; choose one of {DEVICES} or 'cuda:N'")
    resolve_device(device)


def alias_property(target: str) -> property:
    """A read-write alias of the attribute ``target``, under the name skimage's ORB uses.

    Parameters
    ----------
    target : str
        The attribute the alias reads and writes.

    Returns
    -------
    property
    """
    return property(lambda self: getattr(self, target),
                    lambda self, value: setattr(self, target, value),
                    doc=f"Alias of ``{target}`` under the name :class:`skimage.feature.ORB` uses.")


def resolve_alias(name: str, value, alias: str, alias_value, default):
    """The value of a parameter that may also be given under a foreign ``alias``.

    ``default`` is the parameter's default: an alias given with the parameter
    left at its default wins; both given with different values is an error.
    """
    if alias_value is None:
        return value
    if value != default and value != alias_value:
        raise ValueError(
            f"{name}={value!r} and {alias}={alias_value!r} disagree; {alias} is scikit-image's "
            f"name for {name}: give only one"
        )
    return alias_value


def check_options(options: dict, accepted, who: str) -> None:
    """Raise ValueError for keys of ``options`` that are not in ``accepted``, listing those."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown matcher or detector option(s) {unknown} given to {who}; the detector's "
            f"options are {sorted(accepted)}"
        )


def check_detector_parameters(params) -> None:
    """Check the parameters of a :class:`~sarfeat.SARR2D2Detector` (its attributes).

    Parameters
    ----------
    params : object
        Anything with the detector's parameter attributes.

    Raises
    ------
    ValueError, TypeError, FileNotFoundError
        The first parameter that is wrong, with the accepted values.
    """
    check_weights(params.weights)
    check_integer("max_keypoints", params.max_keypoints)
    check_number("scale_factor", params.scale_factor, 1, low_open=True)
    check_integer("min_size", params.min_size, optional=True)
    check_integer("max_size", params.max_size)
    if params.min_size is not None and params.min_size > params.max_size:
        # the pyramid would have one level, at max_size: min_size would be ignored
        raise ValueError(f"min_size {params.min_size} is larger than max_size "
                         f"{params.max_size}: give min_size <= max_size (equal sizes give one "
                         "pyramid level), or leave min_size out (None: 256, or one level at a "
                         "smaller max_size)")
    check_number("max_scale", params.max_scale, 0, 1, low_open=True)
    check_number("min_scale", params.min_scale, 0, params.max_scale)
    for name in ("reliability_threshold", "repeatability_threshold"):
        check_number(name, getattr(params, name), 0, 1, optional=True)
    check_choice("input_kind", params.input_kind, INPUT_KINDS)
    check_nodata(params.nodata)  # NaN too: a float GeoTIFF's usual nodata (rasterio's .nodata)
    check_device(params.device)
    check_choice("precision", params.precision, PRECISIONS)
    check_choice("runtime", params.runtime, RUNTIMES)
    check_integer("tile_size", params.tile_size, 16, optional=True)
    check_bool("upright", params.upright)
    check_choice("turned_maps", params.turned_maps, ("auto", "distilled", "average"))
    check_orientation(params.orientation)
    check_choice("descriptor", getattr(params, "descriptor", "patch"), ("patch", "polar"))
    check_bool("trust", params.trust)
    check_bool("progress", params.progress)


def check_register_options(order: int = 1,
                           min_valid_fraction: float = MIN_VALID_FRACTION) -> None:
    """Refuse the ``order`` and ``min_valid_fraction`` that :func:`sarfeat.register` refuses.

    Parameters
    ----------
    order : int
        Spline order of the resampling: an integer 0 to 5, as
        ``sarfeat.geometry.check_order`` takes (the warp's own check).
    min_valid_fraction : float
        Fraction in [0, 1).

    Raises
    ------
    ValueError
        For a value out of range or of another type (3.0, True), saying which.

    Examples
    --------
    >>> from sarfeat.registration import check_register_options
    >>> check_register_options(order=3, min_valid_fraction=0.1)
    """
    check_number("min_valid_fraction", min_valid_fraction, 0, 1, high_open=True)
    check_order(order)


def check_orientation(value) -> None:
    """Raise unless ``value`` is 'gradient', an existing ``.npz`` file or a callable
    with a ``reach()`` method (the pixels it reads around a keypoint)."""
    if callable(value):
        if not callable(getattr(value, "reach", None)):
            raise TypeError(
                "an orientation callable needs a reach() method giving how many pixels it "
                "reads around a keypoint (the detector reads that much more around each "
                "tile); see sarfeat.learned_orientation.LearnedOrientation")
        return
    if isinstance(value, str) and value == "gradient":
        return
    if isinstance(value, (str, os.PathLike)) and str(value).endswith(".npz"):
        if not os.path.isfile(value):
            raise FileNotFoundError(f"orientation file {str(value)!r} does not exist")
        return
    raise ValueError(f"unknown orientation {value!r}; choose 'gradient', an .npz file of a "
                     "learned orientation or a callable")


def real_values(name: str, values) -> np.ndarray:
    """``values`` as a float64 array; ValueError naming ``name`` unless they are real numbers.

    Complex values (whose imaginary part a cast would drop), strings, booleans,
    objects and ragged sequences are refused; an empty sequence is accepted.
    """
    try:
        array = np.asarray(tensor_values(values))
    except ValueError as error:  # a ragged sequence
        raise ValueError(f"{name} cannot be read as an array: {error}") from None
    if array.size and array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be real numbers, got an array of dtype {array.dtype}")
    return array.astype(np.float64)


def check_keypoints(keypoints, scales, orientations, who: str, *, upright: bool = True,
                    own_orientations=None):
    """(keypoints, scales) of ``who.extract`` as float64 arrays, checked.

    Scales must be finite patch diameters of at least ``MIN_KEYPOINT_SCALE``
    pixels. Orientations are not used: descriptors are read upright or, when
    ``upright`` is False, at the orientation estimated at each keypoint. Given
    ones are ignored with a warning, unless they are all zero or equal to
    ``own_orientations`` (the estimator's own, from its last detection: ORB's
    call ``extract(image, keypoints, scales, orientations)`` with them is no mistake).
    """
    keypoints = real_values("keypoints", keypoints)
    if keypoints.ndim != 2 or keypoints.shape[1] != 2:
        raise ValueError(f"keypoints must have shape (N, 2), got {keypoints.shape}")
    count = len(keypoints)
    if scales is not None:
        scales = real_values("scales", scales)
        if scales.shape != (count,):
            raise ValueError(f"scales must have shape ({count},), got {scales.shape}")
        if not np.isfinite(scales).all() or (count and scales.min() <= 0):
            raise ValueError("scales must be finite and positive (patch diameters in pixels)")
        if count and scales.min() < MIN_KEYPOINT_SCALE:
            raise ValueError(
                f"scales are patch diameters in pixels, 32 / s at pyramid scale s (at least 32 "
                f"for sarfeat's keypoints); got values down to {scales.min():g}. ORB's pyramid "
                f"factors must be multiplied by 32; SIFT's sigmas have no equivalent (pass "
                f"scales=None to describe at full resolution)"
            )
    if orientations is not None:
        orientations = real_values("orientations", orientations)
        if orientations.shape != (count,):
            raise ValueError(f"orientations must have shape ({count},), got {orientations.shape}")
        if np.any(orientations != 0) and not _same_values(orientations, own_orientations):
            how = ("reads descriptors upright" if upright else
                   "estimates each keypoint's orientation itself")
            warnings.warn(f"{who}.extract {how}: the orientations given are ignored",
                          UserWarning, stacklevel=3)
    return keypoints, scales


def same_keypoints(keypoints, scales, own_keypoints, own_scales) -> bool:
    """Whether ``extract``'s ``keypoints`` and ``scales`` are an estimator's own ones.

    True only when both equal, value for value, those of the estimator's last
    detection (``own_keypoints``, ``own_scales``, None before one): its other
    per-keypoint results (``responses``, ...) then still describe the keypoints
    given. Anything that is not such an array (a bad input, checked later) is
    not the estimator's own.
    """
    if own_keypoints is None or scales is None or own_scales is None:
        return False
    try:
        given = np.asarray(tensor_values(keypoints), dtype=np.float64)
        given_scales = np.asarray(tensor_values(scales), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: torch's, as __array__ fails
        return False
    return (np.array_equal(given, np.asarray(own_keypoints, dtype=np.float64))
            and np.array_equal(given_scales, np.asarray(own_scales, dtype=np.float64)))


def _same_values(values: np.ndarray, own) -> bool:
    """Whether ``values`` are ``own`` (an estimator's orientations, possibly float32)."""
    if own is None:
        return False
    own = np.asarray(own, dtype=np.float64)
    return own.shape == values.shape and np.allclose(values, own, rtol=0, atol=1e-6,
                                                      equal_nan=True)
