"""The dense optical-SAR matcher's options: the defaults of its scales and thresholds, and
the modalities, turns and scales checked."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ..structural import MODALITIES

__all__ = ["DENSE_SCALES", "MIN_COARSE_SCORE", "MIN_VERIFY_SCORE", "STRETCH_CHECK",
           "WIDE_SCALES", "checked_scales", "checked_turns", "parse_modality", "scales_within"]

#: ``stretch_check``'s default (fine pixels); see :mod:`~sarfeat.matching.stretch_check`.
#: On three stretch draws of the 3MOS tuning pairs (360) 2 px put 6 more within 3 px than
#: 3 px did (6 fewer off); lower, no more; on 600 unstretched tuning pairs every answer the
#: same at 2 px, one right answer less precise (1.0 to 2.1 px) at 1.5 px or lower.
STRETCH_CHECK = 2.0
#: Scales of image 2 that the global search tries by default: 0.59-2, quarter octaves
#: (about 0.52-2.3 with the refinement). On 30 tuning pairs warped by 0.5-2 it registered 15
#: within 3 px where 0.71-1.41 (the default before) registered 9, and the same 24 of 40
#: pairs warped by 0.7-1.4; scale 0.5 (a canvas twice image 2's size, a quarter of the
#: global search's time) gained nothing there.
DENSE_SCALES = tuple(2 ** (k / 4) for k in range(-3, 5))
#: Scales 0.5-2 in quarter octaves: the default and 0.5.
WIDE_SCALES = tuple(2 ** (k / 4) for k in range(-4, 5))
#: Least best global correlation (``min_coarse_score=None``) and least whole-overlap
#: correlation at the polished model (``min_verify_score=None``), per feature kind. Chosen
#: on the tuning split of the 3MOS development pairs (see ``benchmarks/eval_optical_sar.py``).
MIN_COARSE_SCORE = {"log-gabor": 0.21, "gradient": 0.11}
MIN_VERIFY_SCORE = {"log-gabor": 0.21, "gradient": 0.14}


def _checked_values(values, least: float, message: str) -> tuple[float, ...]:
    """``values`` as a tuple of floats; ValueError(``message``) unless some, all finite and
    all above ``least``."""
    checked = tuple(float(value) for value in np.atleast_1d(values))
    if not checked or not all(math.isfinite(value) and value > least for value in checked):
        raise ValueError(f"{message}, got {values!r}")
    return checked


def checked_scales(scales: ArrayLike) -> tuple[float, ...]:
    """The global search's scales as a tuple of floats; ValueError unless finite, positive
    and some.

    Parameters
    ----------
    scales : array_like of float
        As given.

    Returns
    -------
    tuple of float
    """
    return _checked_values(scales, 0.0, "scales must be finite and positive, at least one")


def scales_within(scales: tuple[float, ...], max_scale_change: float) -> tuple[float, ...]:
    """Those of ``scales`` within ``[1 / max_scale_change, max_scale_change]`` (by a
    rounding's margin): the ones the dense matcher's global search tries.

    Examples
    --------
    >>> scales_within((0.25, 0.5, 1.0, 2.0, 3.0), 2.0)
    (0.5, 1.0, 2.0)
    """
    reach = max_scale_change * (1 + 1e-9)
    return tuple(scale for scale in scales if 1 / reach <= scale <= reach)


def checked_turns(turns: ArrayLike) -> tuple[float, ...]:
    """The global search's turns as a tuple of floats; ValueError unless finite and some.

    Parameters
    ----------
    turns : array_like of float
        Degrees, as given.

    Returns
    -------
    tuple of float
    """
    return _checked_values(turns, -math.inf, "turns must be finite degrees, at least one")


def parse_modality(modality: str | tuple[str, str]) -> tuple[str, str]:
    """The modalities of the two images of a pair, from a ``modality`` argument.

    Parameters
    ----------
    modality : str or (str, str)
        ``'optical-sar'`` (image 1 optical, image 2 SAR), a (m1, m2) pair, or one word
        for both (``'sar'``, ``'optical'``); case and ``_`` for ``-`` do not matter.

    Returns
    -------
    tuple of str
        Image 1's and image 2's modality, each in :data:`sarfeat.structural.MODALITIES`.

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(modality, str):
        parts = tuple(modality.lower().replace("_", "-").split("-"))
        if len(parts) == 1:
            parts = parts * 2
    else:
        try:
            parts = tuple(modality)
        except TypeError:  # None, a number: refused below with the accepted values
            parts = ()
    if len(parts) != 2 or any(p not in MODALITIES for p in parts):
        raise ValueError(
            "modality must be 'sar', 'optical-sar', 'sar-optical', 'optical' or a pair of "
            f"{MODALITIES}, got {modality!r}"
        )
    return parts  # type: ignore[return-value]
