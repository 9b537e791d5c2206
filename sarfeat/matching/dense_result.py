"""A dense matcher's answer as :class:`~sarfeat.matching.CoarseFineMatcher` returns it:
:func:`structure_result`."""

from __future__ import annotations

from functools import partial
from typing import Any

from numpy.typing import ArrayLike

from ..handover import handed_on, looked_at
from ..preprocess import check_image
from ..structural import modality_image
from .result import MatchResult

__all__ = ["structure_result"]


def structure_result(matcher: Any, image1: ArrayLike, image2: ArrayLike) -> MatchResult:
    """Match a pair with an optical image by ``matcher``.

    Parameters
    ----------
    matcher : DenseStructuralMatcher
        The matcher (:func:`~sarfeat.matching.dense.dense_matcher_for`; not named in the
        annotation: sarfeat.matching.dense imports this module).
    image1, image2 : array_like or sarfeat.handover.Handover
        The pair; an optical image may be RGB or RGBA (its gray values are matched). One
        in a Handover is let go once the matcher has made its working copy.

    Returns
    -------
    MatchResult
        The matcher's attributes, what :class:`~sarfeat.matching.CoarseFineMatcher`
        returns for such a pair.

    Raises
    ------
    ValueError
        For an image that :func:`sarfeat.preprocess.check_image` refuses, naming it.
    """
    modality = "-".join(matcher.modality)
    image1, image2 = (handed_on(image, partial(modality_image, role=role, which=which,
                                               modality=modality))
                      for image, role, which in zip((image1, image2), matcher.modality,
                                                    ("image1", "image2")))
    for which, image in (("image1", image1), ("image2", image2)):
        try:
            check_image(looked_at(image))
        except ValueError as error:
            raise ValueError(f"{which}: {error}") from None
    matcher.match(image1, image2)
    found = MatchResult(**{name: getattr(matcher, name) for name in (
        "keypoints1", "keypoints2", "matches", "votes", "inliers", "model",
        "coarse_model", "coarse_angle")})
    found.diagnostics = dict(matcher.diagnostics, prior="coarse", network=None,
                             modality=modality)  # no network runs
    found.diagnostics.setdefault("failure", None)
    return found
