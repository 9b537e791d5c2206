"""The detector's input: how an image is prepared for it, and the images it refuses.

:func:`prepare_image` normalises an image as :class:`~sarfeat.SARR2D2Detector`
detects on it (and says the float dtype of its results); :func:`refuse_flat`
refuses an image whose valid pixels all have one value, which the coarse stage
of the matcher asks too, before its network runs. Both raise
:class:`NoKeypointsError`, the error of an image that gives no keypoint
(importable from :mod:`sarfeat.detector` and :mod:`sarfeat` as well).
"""

from __future__ import annotations

import numpy as np

from .preprocess import NormalizedImage, normalize_sar

__all__ = ["NoKeypointsError", "prepare_image", "refuse_flat"]


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
    sarfeat.detector_input.NoKeypointsError: image1: the image is flat (all valid pixels have one value): there is nothing to detect
    """
    if values.max() == values.min():
        raise NoKeypointsError(("" if which is None else f"{which}: ") + "the image is flat "
                               "(all valid pixels have one value): there is nothing to detect")


def prepare_image(image, input_kind: str = "auto", mask=None, nodata: float | None = None
                  ) -> tuple[NormalizedImage, type]:
    """An image normalised for detection, and the float dtype of the keypoints found in it.

    Parameters are those of :func:`sarfeat.preprocess.normalize_sar`. The
    dtype is float32 for a float32, float16 or complex64 image, else float64.

    Raises
    ------
    ValueError
        For an image :func:`~sarfeat.preprocess.normalize_sar` refuses.
    NoKeypointsError
        For a flat image (:func:`refuse_flat`).
    """
    dtype = np.asarray(image).dtype
    float_dtype = np.float32 if dtype in (np.float32, np.float16, np.complex64) else np.float64
    normalized = normalize_sar(image, input_kind, mask, nodata)
    values = normalized.image if normalized.valid is None else normalized.image[normalized.valid]
    refuse_flat(values)
    return normalized, float_dtype
