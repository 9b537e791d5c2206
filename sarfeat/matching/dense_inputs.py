"""The dense optical-SAR matcher's inputs: the sizes it takes, each image as its steps read
it, and the feature maps it compares.

:class:`~sarfeat.matching.dense.DenseStructuralMatcher` refuses a pair whose images its
global search would bring below the maps' least size (:func:`check_sizes`), prepares each
image with its no-data marked and says what :func:`sarfeat.register` would have refused it
for (:func:`prepared_image`), and computes the maps of a kind for a stage
(:func:`feature_maps`).
"""

from __future__ import annotations

import math

import numpy as np

from ..image_checks import MIN_VALID_FRACTION, marked_unusable_reason
from ..structural import LEAST_SIDE, gradient_maps, prepare_modality, structure_maps
from .dense_search import working_factor
from .inputs import nodata_marked_valid

__all__ = ["check_sizes", "feature_maps", "prepared_image"]

#: Feature maps per kind, for the global search and refinement (coarse) and for the fine
#: stage: log-Gabor wavelengths or gradient sigmas in pixels of the working image.
_MAPS = {
    ("log-gabor", "coarse"): lambda image: structure_maps(image, wavelengths=(3.0, 6.0, 12.0)),
    ("log-gabor", "fine"): lambda image: structure_maps(image, wavelengths=(4.0, 8.0, 16.0)),
    # finer gradients than one might choose at these sizes: on the 3MOS tuning pairs the
    # true pose stood out from the best wrong one 1.4 times or more on 30 of 40 pairs with
    # sigmas (0.7, 1.4) at 128 px, on 27 with (1, 2); and a fine stage without sigma 4
    # polished closer (22 of 40 within 3 px, 1 wrong, against 21 and 3)
    ("gradient", "coarse"): lambda image: gradient_maps(image, scales=(0.7, 1.4), cell=1.5,
                                                        context=6.0),
    ("gradient", "fine"): lambda image: gradient_maps(image, scales=(1.0, 2.0), cell=2.0,
                                                      context=8.0),
}
#: Least side (pixels) of an image's working copy in the global search: the maps' least.
_LEAST_SIDE = LEAST_SIDE


def feature_maps(image: np.ndarray, features: str, stage: str) -> np.ndarray:
    """The feature maps of a working image for a stage of the dense matcher.

    Parameters
    ----------
    image : (H, W) ndarray
        The working image, NaN where invalid.
    features : str
        Their kind, one of :data:`sarfeat.structural.FEATURES`.
    stage : {'coarse', 'fine'}
        The global search and refinement, or the fine stage.

    Returns
    -------
    ndarray
        The maps, as :func:`~sarfeat.structural.gradient_maps` or
        :func:`~sarfeat.structural.structure_maps` give them.
    """
    return _MAPS[features, stage](image)


def check_sizes(coarse_size: int, shape1: tuple[int, ...], shape2: tuple[int, ...]) -> None:
    """Refuse images that the global search would bring below the maps' least size (it
    brings the longest side of the two to ``coarse_size``).

    Parameters
    ----------
    coarse_size : int
        The global search's longest side.
    shape1, shape2 : tuple of int
        The images' (rows, columns).

    Raises
    ------
    ValueError
        Naming the image that is too small and the least side needed.
    """
    factor = working_factor(coarse_size, shape1, shape2)
    least = math.ceil(_LEAST_SIDE / factor)
    for which, shape in (("image1", shape1), ("image2", shape2)):
        if min(shape) < least:
            raise ValueError(
                f"{which} is too small for the optical-SAR matcher beside the other image: "
                f"{shape[0]} x {shape[1]} pixels, at least {least} a side needed here (the "
                f"global search brings the longest side of the two to {coarse_size})")


def prepared_image(image, role: str, name: str, nodata: float | None, border_fill: bool,
                   input_kind: str) -> tuple[np.ndarray, float, float, str | None, bool]:
    """An image as the dense matcher's steps read it, and what register would say of it.

    Parameters
    ----------
    image : array_like
        The image (a masked array's mask is no-data).
    role : {'optical', 'sar'}
        Its modality.
    name : str
        How a refusal calls it.
    nodata : float or None
        The value that marks no-data, besides NaN.
    border_fill : bool
        Whether a canvas's fill around it is no-data too
        (:func:`sarfeat.preprocess.border_fill`).
    input_kind : str
        How a SAR image's values are read (:func:`sarfeat.normalize_sar`).

    Returns
    -------
    prepared : ndarray
        :func:`~sarfeat.structural.prepare_modality` of it, no-data marked.
    fill, valid : float
        The shares of its pixels that are border fill and that are valid (rounded to 4
        decimals).
    why : str or None
        What would make :func:`sarfeat.register` refuse it
        (:func:`~sarfeat.image_checks.unusable_reason` at its default
        ``min_valid_fraction``, worded alike; worked out by
        :func:`~sarfeat.image_checks.marked_unusable_reason` from the valid share and the
        marked image's NaN-ignoring extremes, with no mask of it), or None.
    flat : bool
        Whether it is constant (or has no valid pixel): nothing in it can be matched, at any
        ``min_valid_fraction`` of register's; the matcher refuses it before its search.

    Raises
    ------
    ValueError
        For an image that cannot be prepared, the message led by ``name``.
    """
    try:
        marked, fill, valid = nodata_marked_valid(image, nodata, border_fill)
        # the share of valid pixels known and no-data NaN: no mask of the image is made
        why = marked_unusable_reason(marked, valid, MIN_VALID_FRACTION)
        # constant, whatever share of valid pixels register was told to take: nothing to match
        flat = why is not None and marked_unusable_reason(marked, valid) is not None
        return prepare_modality(marked, role, input_kind), fill, round(valid, 4), why, flat
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
