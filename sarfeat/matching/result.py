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

    Each field is documented at its declaration (linkable as
    ``sarfeat.matching.MatchResult.<name>``); the matcher's attributes of the same names
    hold the last match's. :attr:`verified` is what ``match`` returns, ``matches[inliers]``.
    For a pair with an optical image (:class:`~sarfeat.matching.DenseStructuralMatcher`)
    the keypoints are template centres and where they were placed, and no coarse keypoints
    are matched.
    """

    keypoints1: np.ndarray | None = None
    """(N1, 2) ndarray: fine-stage keypoints (row, col) of image 1, at full resolution.
    Each image's keypoints (these and the coarse ones) are float32 when it is float32,
    float16 or complex64 and float64 otherwise
    (:func:`sarfeat.detector_input.keypoint_dtype`, DESIGN.md section 8); the models are
    fitted in float64 before they are stored."""
    keypoints2: np.ndarray | None = None
    """(N2, 2) ndarray: fine-stage keypoints (row, col) of image 2, at full resolution (in
    its keypoint type, as :attr:`keypoints1`)."""
    matches: np.ndarray | None = None
    """(Q, 2) ndarray of int: candidate pairs with enough votes, indices into
    :attr:`keypoints1` and :attr:`keypoints2`: the fine RANSAC's input."""
    votes: np.ndarray | None = None
    """(Q,) ndarray of int: votes of each pair of :attr:`matches` (for the dense matcher,
    each placement's correlation in hundredths)."""
    inliers: np.ndarray | None = None
    """(Q,) ndarray of bool: pairs of :attr:`matches` consistent with :attr:`model` within
    ``fine_threshold`` (all False without a model)."""
    model: ProjectiveTransform | None = None
    """skimage.transform.ProjectiveTransform or None: the fine model (class by the
    matcher's ``model``), image-1 (x, y) -> image-2 (x, y); None when no consistent model
    was found."""
    coarse_model: AffineTransform | None = None
    """skimage.transform.AffineTransform or None: the prior of the fine stage, image-1
    (x, y) -> image-2 (x, y) at full resolution: the coarse model, or the identity when
    the identity prior won."""
    coarse_angle: float | None = None
    """float or None: the turn of image 2 (degrees, skimage's convention) at which the
    coarse hypothesis was found."""
    coarse_keypoints1: np.ndarray | None = None
    """ndarray or None: coarse keypoints (row, col) of image 1, in full-resolution
    pixels."""
    coarse_keypoints2: np.ndarray | None = None
    """ndarray or None: coarse keypoints (row, col) of image 2 at the best hypothesis'
    turn, in full-resolution pixels."""
    coarse_matches: np.ndarray | None = None
    """(P, 2) ndarray of int or None: coarse mutual nearest neighbours, indices into
    :attr:`coarse_keypoints1` and :attr:`coarse_keypoints2`."""
    coarse_inliers: np.ndarray | None = None
    """(P,) ndarray of bool or None: which :attr:`coarse_matches` agree with
    :attr:`coarse_model`."""
    diagnostics: dict = field(default_factory=dict)
    """dict: counts per stage (``coarse_keypoints``, ``coarse_candidates`` (coarse
    matches), ``coarse_inliers``, ``fine_keypoints``, ``fine_pairs`` (pairs within the
    radius), ``fine_candidates`` (voted matches), ``fine_inliers``; after the last local
    search these describe it, and ``first_pass_pairs``, ``first_pass_candidates``,
    ``first_pass_inliers`` the search around the prior), ``final_search`` (whether the
    last local search was kept), ``selected_model`` and ``gric`` (the model chosen and the
    score of each model tried), inlier residuals (``residual_median``, ``residual_rms``,
    pixels), ``coarse_hypotheses`` (angle, matches and inliers of each turn tried),
    ``estimated_turns`` (the orientation estimate's turns), ``intermediate_turns_skipped``
    (the identity prior registered the pair before the turns between right angles were
    tried), ``prior`` (``'coarse'`` or ``'identity'``), ``guided_rounds``,
    ``fine_resampled``, the correlation refinement's ``subpixel_windows``, ``subpixel_points``,
    ``subpixel_kept``, ``subpixel_residual_median``, ``keypoint_residual_median`` and
    ``subpixel_refined`` (whether the model was refitted), ``fine_patches_used`` and
    ``fine_patches_total`` (image-1 patches of the last fine stage, see
    ``max_fine_patches``), ``patches_described``, ``patches_reused`` and
    ``patches_redescribed`` (fine patches run through the network, those reused from an
    earlier prior or round, and those run again because their descriptors had been
    dropped to bound memory), ``network`` (:attr:`~sarfeat.SARR2D2Detector.runtime_used`;
    None for a pair with an optical image), timings (``seconds_coarse``,
    ``seconds_fine``, ``seconds``), ``failure`` (None, or why no model was found). The
    dense matcher's are described in :class:`~sarfeat.matching.DenseStructuralMatcher`."""

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
