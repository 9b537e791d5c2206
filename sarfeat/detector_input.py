"""The detector's input: how an image is prepared for it, and the images it refuses.

:func:`prepare_image` normalises an image as :class:`~sarfeat.SARR2D2Detector`
detects on it (and says the float dtype of its results); :func:`refuse_flat`
refuses an image whose valid pixels all have one value, which the coarse stage
of the matcher asks too, before its network runs. Both raise
:class:`NoKeypointsError`, the error of an image that gives no keypoint
(importable from :mod:`sarfeat.detector` and :mod:`sarfeat` as well).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .preprocess import NormalizedImage, normalize_sar
from .tensor_input import tensor_values

if TYPE_CHECKING:
    import torch

__all__ = ["NoKeypointsError", "keypoint_dtype", "no_keypoint_error", "prepare_image",
           "refuse_flat"]

#: A level whose shorter side is below this many pixels (a patch of the network's training)
#: leaves it too little image to find keypoints in.
SMALL_LEVEL = 32


class NoKeypointsError(RuntimeError):
    """An image gives no keypoint: it is flat, featureless, too small or mostly masked.

    A :class:`RuntimeError`; the matcher's stages catch this class alone. Public as
    ``sarfeat.NoKeypointsError``; like sarfeat's other errors (``RegistrationError``:
    ``sarfeat.registration``) it names the module that defines it in a traceback,
    ``sarfeat.detector_input``, which ``import sarfeat`` reaches as an attribute too.
    """


def refuse_flat(values: np.ndarray, which: str | None = None) -> None:
    """Refuse an image whose valid pixels all have one value, as the detector does.

    Parameters
    ----------
    values : ndarray
        The image's valid pixel values (at least one).
    which : str, optional
        What the message calls the image (``'image1'``), said first.

    Raises
    ------
    NoKeypointsError
        When every value is the same: the image is flat, there is nothing to detect.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.detector_input import refuse_flat
    >>> refuse_flat(np.array([0.2, 0.7]))  # not flat: nothing happens
    >>> refuse_flat(np.full(4, 0.5), "image1")
    Traceback (most recent call last):
    ...
    sarfeat.detector_input.NoKeypointsError: image1: the image is flat (all valid pixels have
    one value): there is nothing to detect
    """
    if values.max() == values.min():
        raise NoKeypointsError(("" if which is None else f"{which}: ") + "the image is flat "
                               "(all valid pixels have one value): there is nothing to detect")


def no_keypoint_error(shape: tuple[int, int], largest: tuple[int, int], scale: float
                      ) -> NoKeypointsError:
    """The error of a detection that found no keypoint, saying why it may have found none.

    Parameters
    ----------
    shape : tuple of int
        The image's (height, width).
    largest : tuple of int
        (height, width) of the pyramid's largest level.
    scale : float
        That level's scale (1: full resolution; less when ``max_size`` or
        ``max_scale`` shrank it).

    Returns
    -------
    NoKeypointsError

    Examples
    --------
    >>> from sarfeat.detector_input import no_keypoint_error
    >>> print(no_keypoint_error((30, 4000), (8, 1024), 0.256))
    SARR2D2Detector found no keypoint in the 30 x 4000 image: its largest pyramid level is
    8 x 1024 pixels (scale 0.256, set by max_size or max_scale), likely too thin for the
    network (under 32 pixels a side); raise max_size to 4000 (or max_scale to 1) to detect
    at full resolution
    """
    text = f"SARR2D2Detector found no keypoint in the {shape[0]} x {shape[1]} image"
    if min(largest) >= SMALL_LEVEL:
        return NoKeypointsError(
            f"{text}: it may be flat, featureless or mostly masked; try lower "
            "reliability_threshold/repeatability_threshold")
    if scale < 1:
        return NoKeypointsError(
            f"{text}: its largest pyramid level is {largest[0]} x {largest[1]} pixels (scale "
            f"{scale:.3g}, set by max_size or max_scale), likely too thin for the network (under "
            f"{SMALL_LEVEL} pixels a side); raise max_size to {max(shape)} (or max_scale to 1) "
            "to detect at full resolution")
    return NoKeypointsError(f"{text}: it is likely too small for the network (under "
                            f"{SMALL_LEVEL} pixels a side); pass a larger image")


def keypoint_dtype(dtype: DTypeLike) -> type:
    """The float type of the keypoints found in an image of ``dtype``.

    float32 for float16, float32 and complex64 images in either byte order (a
    big-endian ``'>f4'`` read from a FITS or ENVI file is float32 too), else
    float64: the rule scikit-image states for its features (its ``float_dtype``),
    which sarfeat keeps for every per-keypoint array (scikit-image 0.26's SIFT
    and ORB themselves return several of theirs as float64 whatever the image).

    Parameters
    ----------
    dtype : dtype_like
        The image's dtype.

    Returns
    -------
    type
        ``numpy.float32`` or ``numpy.float64``.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.detector_input import keypoint_dtype
    >>> keypoint_dtype(np.dtype(">f4")), keypoint_dtype(np.uint16)
    (<class 'numpy.float32'>, <class 'numpy.float64'>)
    """
    dtype = np.dtype(dtype)
    single = (dtype.kind == "f" and dtype.itemsize <= 4) or (dtype.kind == "c" and
                                                               dtype.itemsize <= 8)
    return np.float32 if single else np.float64


def prepare_image(image: ArrayLike | torch.Tensor, input_kind: str = "auto",
                  mask: ArrayLike | None = None, nodata: float | None = None
                  ) -> tuple[NormalizedImage, type]:
    """An image normalised for detection, and the float dtype of the keypoints found in it.

    Parameters
    ----------
    image : array_like or torch.Tensor
        As for :func:`sarfeat.preprocess.normalize_sar` (a tensor's values are read).
    input_kind : str
        As for :func:`sarfeat.preprocess.normalize_sar`.
    mask : array_like of bool, optional
        As for :func:`sarfeat.preprocess.normalize_sar`.
    nodata : float, optional
        As for :func:`sarfeat.preprocess.normalize_sar`.

    Returns
    -------
    NormalizedImage
    type
        float32 for a float32, float16 or complex64 image, else float64.

    Raises
    ------
    ValueError
        For an image :func:`~sarfeat.preprocess.normalize_sar` refuses.
    NoKeypointsError
        For a flat image (:func:`refuse_flat`).
    """
    float_dtype = keypoint_dtype(np.asarray(tensor_values(image)).dtype)
    normalized = normalize_sar(image, input_kind, mask, nodata)
    values = normalized.image if normalized.valid is None else normalized.image[normalized.valid]
    refuse_flat(values)
    return normalized, float_dtype
