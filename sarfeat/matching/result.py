"""What one match finds: :class:`MatchResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.transform import AffineTransform, ProjectiveTransform

__all__ = ["MatchResult", "RESULT_FIELDS"]

#: The attributes a match fills, in the order of :class:`MatchResult`.
RESULT_FIELDS = ("keypoints1", "keypoints2", "matches", "votes", "inliers", "model",
                 "coarse_model", "coarse_angle", "coarse_keypoints1", "coarse_keypoints2",
                 "coarse_matches", "coarse_inliers", "diagnostics")


@dataclass
class MatchResult:
    """What one match found: the attributes :meth:`CoarseFineMatcher.match` fills.

    The fields are those attributes, described in :class:`CoarseFineMatcher`;
    ``verified`` is what ``match`` returns, ``matches[inliers]``.
    """

    keypoints1: np.ndarray | None = None
    keypoints2: np.ndarray | None = None
    matches: np.ndarray | None = None
    votes: np.ndarray | None = None
    inliers: np.ndarray | None = None
    model: ProjectiveTransform | None = None
    coarse_model: AffineTransform | None = None
    coarse_angle: float | None = None
    coarse_keypoints1: np.ndarray | None = None
    coarse_keypoints2: np.ndarray | None = None
    coarse_matches: np.ndarray | None = None
    coarse_inliers: np.ndarray | None = None
    diagnostics: dict = field(default_factory=dict)

    @classmethod
    def empty(cls) -> "MatchResult":
        return cls()

    @property
    def verified(self) -> np.ndarray:
        """The matches that agree with ``model`` (indices into the keypoints)."""
        return self.matches[self.inliers]
