"""What one match finds: :class:`MatchResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.transform import AffineTransform, ProjectiveTransform

from ..detector_input import keypoint_dtype

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

    def take_fine(self, fine) -> None:
        """Take the fine stage's keypoints, matches, votes, inliers, model and diagnostics.

        ``fine`` is the fine stage's ``FineResult``.
        Without a model no match is verified; when the identity prior won, the
        identity is the coarse model (at turn 0).
        """
        self.keypoints1, self.keypoints2 = fine.keypoints1, fine.keypoints2
        self.matches, self.votes, self.inliers = fine.matches, fine.votes, fine.inliers
        self.model = fine.model
        if self.model is None:  # as documented: no model, no verified match
            self.inliers = np.zeros(len(self.matches), dtype=bool)
        if fine.prior == "identity":
            self.coarse_model = AffineTransform()
            self.coarse_angle = 0.0
        self.diagnostics.update(fine.diagnostics, prior=fine.prior, failure=fine.failure)

    def in_keypoint_dtypes(self, image1, image2) -> "MatchResult":
        """Store the keypoints of each image as :func:`~sarfeat.detector_input.keypoint_dtype`
        of its dtype says (float32 for a float32, float16 or complex64 image, else float64);
        returns this result. Called last: the models were fitted in float64 before."""
        for image, names in ((image1, ("keypoints1", "coarse_keypoints1")),
                             (image2, ("keypoints2", "coarse_keypoints2"))):
            dtype = keypoint_dtype(np.asarray(image).dtype)
            for name in names:
                if getattr(self, name) is not None:
                    setattr(self, name, np.asarray(getattr(self, name)).astype(dtype, copy=False))
        return self

    @property
    def verified(self) -> np.ndarray:
        """The matches that agree with ``model`` (indices into the keypoints)."""
        return self.matches[self.inliers]
