"""Coarse-to-fine matching of two SAR images: :class:`CoarseFineMatcher`.

The method of DESIGN.md section 6 (Norouzi et al. 2024), in two stages.

**Coarse stage.** Both images are downsampled with a Gaussian prefilter
(:func:`skimage.transform.rescale` with anti-aliasing) so that the longest side
is ``coarse_size`` pixels; Fast-R2D2 keypoints and descriptors (a three-level
pyramid, full to half size) are matched by mutual nearest neighbour with
Lowe's ratio test and a model (affine, or a similarity for
``model='similarity'``) is fitted with :func:`skimage.measure.ransac`
(``ransac_threshold`` coarse pixels); it is scaled back to full resolution.

*Rotation.* The R2D2 network is not rotation invariant (with the published
weights matching breaks down near 19 degrees), so rotation is handled here, in
the coarse stage, not by the network. Image 1 is matched against image 2 turned
by each angle of ``rotations`` (by default the four right angles, exact
resamplings), and the hypothesis with the most RANSAC inliers is kept; the turn
is composed back into the model, which always maps the original images. The
search stops at the first *strong* hypothesis (``strong_inliers`` inliers, at
least ``min_coarse_inliers`` making up half of the matches, or 2.5 times the
inliers of every other turn once the right angles are tried); 0 degrees comes
first, so an upright pair costs one coarse match. A hypothesis estimates the
residual turn: when it is more than ``refine_angle`` degrees from the angle the
hypothesis was found at, image 2 is turned by the estimate and matched once
more (a pair turned by 15 degrees is found at 0 and refined at 15). When no
right angle gives a strong hypothesis, intermediate turns every ``angle_step``
degrees are tried too (30 by default, so that every angle is within 15 degrees
of a tried one, inside the network's tolerance), nearest to the best so far
first. Weak pairs pay for the search; upright and right-angle pairs do not.

*Identity prior.* SAR products of one area are often roughly co-registered
already (geocoded, or from one orbit), and on such pairs with large changes the
coarse stage can fail. When the coarse stage has no strong hypothesis, the fine
stage is also run around the identity (``identity_prior``), and the result
with more fine inliers wins.

**Fine stage.** The part of image 1 that the prior maps into image 2 is cut
into patches of at most ``patch_size`` pixels a side, each given to the network
with a halo of context and with its own keypoint budget (``fine_keypoints``),
which spreads keypoints over the whole overlap. Image 2 is cut the same way
over the prior's image of that region, reaching ``radius`` beyond it; when the
prior turns by more than 10 degrees or scales by more than 20 %, image 2 is
first resampled into image 1's frame through the prior, so that the network
sees upright content at image 1's scale (the resampling is composed into the
coordinates: keypoints are reported in image 2's own pixels). Keypoints are
detected at full resolution (``fine_min_scale`` = 1: one pyramid level, since
the prior has already brought the scales together) and described by every
descriptor of a :class:`~sarfeat.descriptors.MultiDescriptorExtractor`.

The candidates of an image-1 keypoint are the image-2 keypoints that the prior
brings back within ``radius`` pixels of it (a k-d tree query). Every
descriptor votes in both directions: each image-1 keypoint gives a vote to its
nearest candidate in descriptor space, and each image-2 keypoint to the nearest
image-1 keypoint it is a candidate of; with ``local_ratio`` < 1 a keypoint
votes only when its nearest candidate is clearly nearer than the second
(Lowe's test among the local candidates, which silences periodic texture such
as field strips). A pair's score is its number of votes, at most twice the
number of descriptors. Pairs with at least ``vote_threshold`` votes (by default
a majority: the number of descriptors plus one, which is the mutual nearest
neighbour for the R2D2 descriptor alone) go to RANSAC (``fine_threshold``
pixels). RANSAC runs several times, each run refined by least squares on its
inliers (``Transform.from_estimate``), and the model with the lowest MSAC cost
(squared residuals truncated at the threshold) wins: with clustered support,
consensus sets of nearly equal size can give affine models pixels apart away
from the matches, and the truncated cost prefers the tightest fit.

*Model selection.* ``model`` is the richest model allowed: a translation, a
rigid motion and a similarity (and the affine map, for ``'affine'``) are each
fitted the same way, and Torr's GRIC keeps the one whose fit pays for its
parameters (``sarfeat._models``). On a pair that differs by a shift, an affine
fit to matches bunched in part of the image extrapolates pixels off elsewhere.

*Guided rounds.* When the fine model moves part of the overlap by more than
half the radius away from the prior, the local search was off-centre there;
the fine stage runs again around the fine model (up to twice) and is kept when
it finds at least 25 % more inliers. This is what turns a rough identity prior
into an accurate model on a pair that is scaled or turned by a few degrees.

*Last local search.* Around the fine model, the local search runs once more
within ``final_radius`` pixels: with fewer candidates per keypoint, votes are less
ambiguous and more true matches reach the threshold. The selected model is
refitted on the new inliers and kept when they are at least as many.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from skimage.feature import match_descriptors
from skimage.measure import ransac
from skimage.transform import AffineTransform, ProjectiveTransform

from ._geometry import _apply, _downsample, _rotation_scale, _turn, _warp_nan
from ._matcher_validation import check_matcher_parameters
from ._models import MODELS, NESTED, fit_model, refine
from ._votes import _Features, _full_rows, count_votes
from .descriptors import MultiDescriptorExtractor
from .detector import SARR2D2Detector
from .network import R2D2Net
from .preprocess import normalize_sar

__all__ = ["CoarseFineMatcher", "MODELS"]

#: Pixels around a patch given to the network for context (its receptive radius is 28).
_HALO = 32

#: Detector parameters that the matcher sets itself, per stage.
_MATCHER_SETS = ("max_keypoints", "min_size", "max_size", "min_scale", "max_scale",
                 "scale_factor", "input_kind", "nodata")

#: Pyramid of the coarse detection: levels sqrt(2) apart from full size to half of it
#: (three levels; relative scales from 1/2 to 2 between the images are matched).
_COARSE_SCALE_FACTOR = 2 ** 0.5

#: An image with fewer coarse keypoints than this at least _BORDER coarse pixels from its
#: border is featureless (a smooth ramp gives none: its keypoints sit on the border).
_MIN_CONTENT_KEYPOINTS = 10
_BORDER = 16

#: Inlier ratio at which a hypothesis with at least min_coarse_inliers is strong.
_STRONG_RATIO = 0.5

#: RANSAC runs of the fine stage; the lowest MSAC cost wins.
_FINE_RESTARTS = 6

#: Fine stages run again around the fine model when it strays from the prior; a round is
#: kept when it has this many times the inliers of the previous one.
_GUIDED_ROUNDS = 2
_GUIDED_GAIN = 1.25

#: A hypothesis is also strong when it has _DOMINANCE times the inliers (counted as at
#: least _DOMINANCE_FLOOR, about what chance gives) of every hypothesis tried at a turn
#: more than _DOMINANCE_SEPARATION degrees away, once at least three such turns were tried.
_DOMINANCE = 2.5
_DOMINANCE_FLOOR = 3
_DOMINANCE_SEPARATION = 15.0

#: Least coarse inliers of a hypothesis whose angle estimate is refined.
_MIN_REFINE_INLIERS = 5

#: Patch resampling threshold: image 2 is resampled into image 1's frame when the coarse
#: model turns by more than this many degrees or scales outside [1/x, x].
_UPRIGHT_ANGLE = 10.0
_UPRIGHT_SCALE = 1.2


# -- the matcher ----------------------------------------------------------------------------------


@dataclass
class _Hypothesis:
    angle: float  # turn applied to coarse image 2
    matrix: np.ndarray | None  # image-1 full (x, y) -> image-2 full (x, y)
    inliers: int
    candidates: int
    coarse_keypoints2: np.ndarray | None = None
    coarse_matches: np.ndarray | None = None
    coarse_inliers: np.ndarray | None = None
    strong: bool = False


class CoarseFineMatcher:
    """Match two SAR images coarse to fine, with descriptor votes (DESIGN.md section 6).

    The two stages are described in the module documentation of
    :mod:`sarfeat.matching`. ``match`` returns index pairs as
    :func:`skimage.feature.match_descriptors` does, into ``keypoints1`` and
    ``keypoints2`` ((row, col) at full resolution), so the result goes
    unchanged to :func:`skimage.feature.plot_matched_features`.

    Parameters
    ----------
    weights : str, path-like or R2D2Net, optional
        The network, as for :class:`~sarfeat.SARR2D2Detector` (None: the
        detector's default).
    model : {'affine', 'similarity', 'projective'}
        The class of the fine model, and the richest model it may be (see
        ``select_model``). The coarse model is a similarity for
        ``'similarity'`` and affine otherwise.
    coarse_size : int
        Longest side, in pixels, of the downsampled coarse images (images
        already smaller are used as they are).
    ratio : float
        Lowe's ratio test of the coarse mutual nearest neighbours (0.9 in the
        paper's code); 1 disables it.
    ransac_threshold : float
        RANSAC residual of the coarse stage, in coarse pixels (5 in the paper's
        code).
    fine_threshold : float
        RANSAC residual and inlier distance of the fine stage, in full-resolution
        pixels of image 2.
    patch_size : int
        Side of the fine-stage patches of image 1, in pixels.
    radius : float
        Local search radius, in image-1 pixels: an image-2 keypoint is a
        candidate for an image-1 keypoint when the prior (the coarse model)
        brings it back within this distance.
    vote_threshold : int or None
        Least number of votes of a pair sent to the fine RANSAC (each
        descriptor gives at most two votes to a pair). None: a majority, the
        number of descriptors plus one (4 for three descriptors; 2, the mutual
        nearest neighbour, for one). On the development pairs a threshold of
        2 with three descriptors lets through up to 20 times more pairs than
        are correct, and RANSAC fails on the hardest pair.
    local_ratio : float
        A keypoint votes only when its nearest candidate's descriptor distance
        is below ``local_ratio`` times the second nearest's; 1 disables it.
    final_radius : float or None
        Radius, in image-1 pixels, of a last local search around the fine
        model's own projections (twice ``fine_threshold`` by default); the
        model is refitted on its inliers and kept when they are at least as
        many. None skips it.
    select_model : bool
        Choose, among the models nested in ``model`` (translation, rigid
        motion, similarity, affine, homography), the one the matches support
        best by Torr's GRIC (``sarfeat._models``); ``model`` stays the
        class of the result. False always fits ``model`` itself.
    rotations : sequence of float
        Turns of image 2, in degrees, tried by the coarse stage, in this order.
        ``(0,)`` assumes upright pairs.
    angle_step : float or None
        When no hypothesis from ``rotations`` is strong, also try turns every
        ``angle_step`` degrees; None never does.
    refine_angle : float or None
        Match once more at the turn the best hypothesis estimates when that is
        more than this many degrees from the tried turn; None never does.
    strong_inliers : int or None
        Coarse inliers that make a hypothesis strong (so do
        ``min_coarse_inliers`` inliers making up half of the matches, or 2.5
        times the inliers of the hypotheses at all other turns tried, at least
        three of them): the angle search stops there. None never stops early:
        every angle of ``rotations`` and every ``angle_step`` is tried.
    min_coarse_inliers : int
        Fewer coarse inliers than this is no hypothesis at all.
    min_fine_inliers : int
        Fewer fine inliers than this leaves ``model`` None.
    identity_prior : bool
        When the coarse stage has no strong hypothesis, also run the fine stage
        around the identity (images already roughly aligned) and keep the
        result with more inliers.
    max_scale_change : float
        A model whose scale lies outside ``[1 / max_scale_change,
        max_scale_change]``, or that mirrors the image, is rejected as
        implausible.
    descriptors : sequence of str
        Descriptors that vote in the fine stage, among those of
        :class:`~sarfeat.descriptors.MultiDescriptorExtractor` (``'r2d2'``,
        ``'ratio_hog'``, ``'log_patch'``).
    coarse_keypoints : int
        Keypoints kept per coarse image.
    fine_keypoints : int
        Keypoints kept per fine patch of ``patch_size`` squared pixels (fewer in
        proportion for smaller patches).
    fine_min_scale : float
        Smallest pyramid scale of the fine detection (1 = full resolution only).
    max_trials : int
        RANSAC iterations per run (each run stops earlier at 99.9 % confidence).
    rng : int or numpy.random.Generator, optional
        Seed of RANSAC's sampling; fixed for reproducible results.
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}
        What the pixel values of both images are (see
        :func:`sarfeat.normalize_sar`); both are normalised once, as a whole.
    nodata : float, optional
        A pixel value marking no-data besides NaN.
    **detector_options
        Other :class:`~sarfeat.SARR2D2Detector` parameters (``device``,
        ``precision``, ``reliability_threshold``, ``repeatability_threshold``,
        ``tile_size``, ``trust``, ...). The keypoint budgets and pyramids are
        the matcher's (``coarse_keypoints``, ``fine_keypoints``,
        ``coarse_size``, ``fine_min_scale``).

    Attributes
    ----------
    keypoints1, keypoints2 : (N1, 2), (N2, 2) ndarray
        Fine-stage keypoints (row, col) of image 1 and image 2, at full resolution.
    matches : (Q, 2) ndarray of int
        Candidate pairs with enough votes, indices into ``keypoints1`` and
        ``keypoints2``: the fine RANSAC's input.
    votes : (Q,) ndarray of int
        Votes of each pair of ``matches``.
    inliers : (Q,) ndarray of bool
        Pairs of ``matches`` consistent with ``model`` within ``fine_threshold``.
        ``match`` returns ``matches[inliers]``.
    coarse_model : skimage.transform.AffineTransform or None
        The prior of the fine stage, image-1 (x, y) -> image-2 (x, y) at full
        resolution: the coarse model, or the identity when the identity prior won.
    coarse_angle : float or None
        The turn of image 2 (degrees, skimage's convention) at which the coarse
        hypothesis was found.
    coarse_keypoints1, coarse_keypoints2 : ndarray or None
        Coarse keypoints (row, col) in full-resolution pixels of each image (of
        the best hypothesis' turn for image 2).
    coarse_matches : (P, 2) ndarray of int or None
        Coarse mutual nearest neighbours, indices into the coarse keypoints.
    coarse_inliers : (P,) ndarray of bool or None
        Which coarse matches agree with the coarse model.
    model : skimage.transform.ProjectiveTransform or None
        The fine model (class by ``model``), image-1 (x, y) -> image-2 (x, y);
        None when no consistent model was found.
    diagnostics : dict
        Counts per stage (``coarse_keypoints``, ``coarse_candidates`` (coarse
        matches), ``coarse_inliers``, ``fine_keypoints``, ``fine_pairs`` (pairs
        within the radius), ``fine_candidates`` (voted matches),
        ``fine_inliers``; after the last local search these describe it, and
        ``first_pass_pairs``, ``first_pass_candidates``, ``first_pass_inliers``
        the search around the prior), ``final_search`` (whether the last local
        search was kept), ``selected_model`` and ``gric`` (the model chosen and the
        score of each model tried), inlier residuals (``residual_median``,
        ``residual_rms``, pixels), ``coarse_hypotheses`` (angle, matches and
        inliers of each turn tried), ``prior`` (``'coarse'`` or
        ``'identity'``), ``guided_rounds``, ``fine_resampled``, timings
        (``seconds_coarse``, ``seconds_fine``, ``seconds``) and ``failure``
        (None, or a sentence saying why no model was found).

    Examples
    --------
    >>> from sarfeat import CoarseFineMatcher
    >>> matcher = CoarseFineMatcher(weights=my_weights, rng=0)  # doctest: +SKIP
    >>> matches = matcher.match(image1, image2)  # doctest: +SKIP
    >>> matcher.model.params  # image-1 (x, y) -> image-2 (x, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        weights: str | os.PathLike | R2D2Net | None = None,
        *,
        model: str = "affine",
        coarse_size: int = 512,
        ratio: float = 0.9,
        ransac_threshold: float = 5.0,
        fine_threshold: float = 3.0,
        patch_size: int = 512,
        radius: float = 20.0,
        vote_threshold: int | None = None,
        local_ratio: float = 0.9,
        final_radius: float | None = 6.0,
        select_model: bool = True,
        rotations: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0),
        angle_step: float | None = 30.0,
        refine_angle: float | None = 5.0,
        strong_inliers: int | None = 40,
        min_coarse_inliers: int = 8,
        min_fine_inliers: int = 10,
        identity_prior: bool = True,
        max_scale_change: float = 4.0,
        descriptors: tuple[str, ...] = ("r2d2", "ratio_hog", "log_patch"),
        coarse_keypoints: int = 5000,
        fine_keypoints: int = 2000,
        fine_min_scale: float = 1.0,
        max_trials: int = 2000,
        rng: int | np.random.Generator | None = None,
        input_kind: str = "auto",
        nodata: float | None = None,
        **detector_options,
    ) -> None:
        self.weights = weights
        self.model_type = model
        self.coarse_size = coarse_size
        self.ratio = ratio
        self.ransac_threshold = ransac_threshold
        self.fine_threshold = fine_threshold
        self.patch_size = patch_size
        self.radius = radius
        self.vote_threshold = vote_threshold
        self.local_ratio = local_ratio
        self.final_radius = final_radius
        self.select_model = select_model
        self.rotations = tuple(rotations)
        self.angle_step = angle_step
        self.refine_angle = refine_angle
        self.strong_inliers = strong_inliers
        self.min_coarse_inliers = min_coarse_inliers
        self.min_fine_inliers = min_fine_inliers
        self.identity_prior = identity_prior
        self.max_scale_change = max_scale_change
        self.descriptor_names = tuple(descriptors)
        self.coarse_keypoints = coarse_keypoints
        self.fine_keypoints = fine_keypoints
        self.fine_min_scale = fine_min_scale
        self.max_trials = max_trials
        self.rng = rng
        self.input_kind = input_kind
        self.nodata = nodata
        self.detector_options = detector_options
        self._net = None
        self._net_key = None
        self._detectors: dict = {}
        self._reset()
        check_matcher_parameters(self)

    # -- public API -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.keypoints1 = self.keypoints2 = None
        self.matches = None
        self.votes = None
        self.inliers = None
        self.coarse_model = None
        self.coarse_angle = None
        self.model = None
        self.coarse_keypoints1 = self.coarse_keypoints2 = self.coarse_matches = None
        self.coarse_inliers = None
        self.diagnostics: dict = {}

    def match(self, image1, image2) -> np.ndarray:
        """Match two images; fills the attributes and returns the verified matches.

        Parameters
        ----------
        image1, image2 : (H, W) array_like
            SAR images (uint8/uint16 quick-looks, float intensity, amplitude or
            dB, complex); NaN marks no-data.

        Returns
        -------
        matches : (Q, 2) ndarray of int
            ``self.matches[self.inliers]``: pairs of indices into ``keypoints1``
            and ``keypoints2`` that agree with ``model``. Empty when no model
            was found (then ``model`` is None and ``diagnostics['failure']``
            says why).

        Raises
        ------
        ValueError
            For bad parameters or an image that is not a non-empty 2-D numeric
            array with valid pixels.
        RuntimeError
            When a coarse image has no keypoint, or fewer than 10 away from its
            border (a flat or featureless image); the message starts with
            ``image1`` or ``image2``.
        """
        self._check_parameters()
        self._reset()
        started = time.perf_counter()
        # independent streams: how many angles the coarse stage tries does not change the
        # fine stage's sampling
        coarse_seed, fine_seed = np.random.default_rng(self.rng).integers(2 ** 63, size=2)
        rng = np.random.default_rng(coarse_seed)
        fine_rng = np.random.default_rng(fine_seed)
        image1 = self._normalized(image1, "image1")
        image2 = self._normalized(image2, "image2")
        diagnostics = self.diagnostics
        diagnostics.update(failure=None, angles_tried=[])

        hypothesis = self._coarse(image1, image2, rng)
        diagnostics["seconds_coarse"] = time.perf_counter() - started
        priors = []
        if hypothesis.matrix is not None:
            priors.append(("coarse", hypothesis.matrix))
        weak = not hypothesis.strong
        if self.identity_prior and weak:
            if self._overlap_box(np.eye(3), image1.shape, image2.shape) is not None:
                priors.append(("identity", np.eye(3)))
        result = _FineResult.empty(None, self.descriptor_names)
        reasons = [f"coarse stage: {diagnostics['failure']}"] if diagnostics.get("failure") else []
        for name, matrix in priors:
            attempt = self._fine(image1, image2, matrix, fine_rng)
            attempt.prior = name
            if attempt.failure:
                reasons.append(f"fine stage around the {name} prior: {attempt.failure}")
            # guided rounds: when the fine model moves part of the overlap by more than half
            # the search radius from the prior, the local search was off-centre there; search
            # again around the fine model and keep the result when it has more inliers
            for _ in range(_GUIDED_ROUNDS):
                if attempt.model is None or self._deviation(
                    attempt.model.params, matrix, image1.shape, image2.shape
                ) <= self.radius / 2:
                    break
                matrix = attempt.model.params
                again = self._fine(image1, image2, matrix, fine_rng)
                gained = again.inliers.sum() if again.model is not None else 0
                if gained < _GUIDED_GAIN * attempt.inliers.sum():
                    break
                again.prior = name
                again.diagnostics["guided_rounds"] = attempt.diagnostics.get("guided_rounds", 0) + 1
                attempt = again
            if attempt.better_than(result):
                result = attempt
        if result.model is None:
            result.failure = (
                "no consistent transform: the images may not overlap, or differ too much ("
                + "; ".join(reasons) + ")"
            )
        elif self.final_radius is not None:
            result = self._final_search(result)
        self.keypoints1, self.keypoints2 = result.keypoints1, result.keypoints2
        self.matches, self.votes, self.inliers = result.matches, result.votes, result.inliers
        self.model = result.model
        if self.model is None:  # as documented: no model, no verified match
            self.inliers = np.zeros(len(self.matches), dtype=bool)
        if result.prior == "identity":
            self.coarse_model = AffineTransform()
            self.coarse_angle = 0.0
        diagnostics.update(result.diagnostics)
        diagnostics["prior"] = result.prior
        diagnostics["failure"] = result.failure
        diagnostics["seconds_fine"] = time.perf_counter() - started - diagnostics["seconds_coarse"]
        diagnostics["seconds"] = time.perf_counter() - started
        return self.matches[self.inliers]

    # -- checks and set-up ------------------------------------------------------------------------

    def _check_parameters(self) -> None:
        if self.model_type not in MODELS:
            raise ValueError(f"unknown model {self.model_type!r}; choose one of {tuple(MODELS)}")
        for name in ("coarse_size", "patch_size", "coarse_keypoints", "fine_keypoints",
                     "max_trials", "min_coarse_inliers", "min_fine_inliers"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vote_threshold is not None and not (
            isinstance(self.vote_threshold, (int, np.integer)) and self.vote_threshold >= 1
        ):
            raise ValueError(f"vote_threshold must be None or a positive integer, "
                             f"got {self.vote_threshold!r}")
        if not 0 < self.local_ratio <= 1:
            raise ValueError(f"local_ratio must lie in (0, 1], got {self.local_ratio}")
        if self.coarse_size < 32 or self.patch_size < 32:
            raise ValueError("coarse_size and patch_size must be at least 32 pixels")
        for name in ("ransac_threshold", "fine_threshold", "radius") + (
            ("final_radius",) if self.final_radius is not None else ()
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, got {value!r}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio must lie in (0, 1], got {self.ratio}")
        if not 0 < self.fine_min_scale <= 1:
            raise ValueError(f"fine_min_scale must lie in (0, 1], got {self.fine_min_scale}")
        if not self.rotations:
            raise ValueError("rotations is empty: give at least (0,)")
        if not self.max_scale_change > 1:
            raise ValueError(f"max_scale_change must be > 1, got {self.max_scale_change}")
        if self.angle_step is not None and not 0 < self.angle_step < 360:
            raise ValueError(f"angle_step must lie in (0, 360) or be None, got {self.angle_step}")
        if len(self.descriptor_names) == 0:
            raise ValueError("descriptors is empty; give at least ('r2d2',)")

    def _normalized(self, image, which: str) -> np.ndarray:
        """The image in [0, 1] as float32, NaN where invalid."""
        try:
            normalized = normalize_sar(image, self.input_kind, nodata=self.nodata)
        except ValueError as error:
            raise ValueError(f"{which}: {error}") from None
        values = normalized.image
        if normalized.valid is not None:
            values[~normalized.valid] = np.nan
        return values

    def _network(self):
        key = (id(self.weights), str(self.weights))
        if self._net is None or self._net_key != key:
            trust = self.detector_options.get("trust", False)
            # None: whatever SARR2D2Detector uses by default
            loader = SARR2D2Detector(trust=trust) if self.weights is None else \
                SARR2D2Detector(self.weights, trust=trust)
            self._net = loader._load_net()
            self._net_key = key
        return self._net

    def _detector(self, **settings) -> SARR2D2Detector:
        """A detector on the normalised images, kept between calls (its network stays ready)."""
        options = {k: v for k, v in self.detector_options.items()
                   if k not in _MATCHER_SETS}
        options.update(settings)
        net = self._network()
        key = (id(net), repr(sorted(options.items())))
        if key not in self._detectors:
            self._detectors[key] = SARR2D2Detector(net, input_kind="display", **options)
        return self._detectors[key]

    # -- coarse stage -----------------------------------------------------------------------------

    def _coarse_features(self, detector: SARR2D2Detector, image: np.ndarray, which: str,
                         check: bool = False):
        try:
            detector.detect_and_extract(image)
        except RuntimeError as error:
            raise RuntimeError(f"{which}: {error}") from None
        keypoints = detector.keypoints.astype(np.float64)
        if check:
            # keypoints on the image border or next to no-data say nothing about content
            height, width = image.shape
            away = (
                (keypoints[:, 0] >= _BORDER) & (keypoints[:, 0] <= height - 1 - _BORDER)
                & (keypoints[:, 1] >= _BORDER) & (keypoints[:, 1] <= width - 1 - _BORDER)
            )
            if away.sum() < _MIN_CONTENT_KEYPOINTS:
                raise RuntimeError(
                    f"{which}: only {int(away.sum())} keypoints away from the image border "
                    f"({len(keypoints)} in all; at least {_MIN_CONTENT_KEYPOINTS} needed): the "
                    "image looks featureless"
                )
        return keypoints, detector.descriptors

    def _coarse(self, image1: np.ndarray, image2: np.ndarray, rng) -> _Hypothesis:
        diagnostics = self.diagnostics
        factor = min(1.0, self.coarse_size / max(max(image1.shape), max(image2.shape)))
        small1, scale1 = _downsample(image1, factor)
        small2, scale2 = _downsample(image2, factor)
        detector = self._detector(
            max_keypoints=self.coarse_keypoints, max_size=self.coarse_size,
            min_size=max(16, self.coarse_size // 2), scale_factor=_COARSE_SCALE_FACTOR,
        )
        keypoints1, descriptors1 = self._coarse_features(detector, small1, "image1", check=True)
        self.coarse_keypoints1 = _apply(scale1, keypoints1[:, ::-1])[:, ::-1]
        diagnostics["coarse_factor"] = factor
        keypoint_counts = [len(keypoints1)]

        def attempt(angle: float) -> _Hypothesis:
            turn, shape = _turn(small2.shape, angle)
            if angle % 360 == 0:
                turned = small2
            else:
                exact = abs(angle % 90) < 1e-9
                turned = _warp_nan(small2, np.linalg.inv(turn), shape, order=0 if exact else 1)
            try:
                keypoints2, descriptors2 = self._coarse_features(
                    detector, turned, "image2", check=angle % 360 == 0
                )
            except (RuntimeError, ValueError):
                if angle % 360 == 0:
                    raise
                return _Hypothesis(angle, None, 0, 0)
            keypoint_counts.append(len(keypoints2))
            diagnostics["angles_tried"].append(float(angle))
            matches = match_descriptors(descriptors1, descriptors2, cross_check=True,
                                        max_ratio=self.ratio)
            back = scale2 @ np.linalg.inv(turn)
            hypothesis = _Hypothesis(angle, None, 0, len(matches),
                                     coarse_keypoints2=_apply(back, keypoints2[:, ::-1])[:, ::-1],
                                     coarse_matches=matches)
            if len(matches) < max(3, self.min_coarse_inliers):
                return hypothesis
            source = keypoints1[matches[:, 0], ::-1]
            target = keypoints2[matches[:, 1], ::-1]
            model_class = NESTED["similarity" if self.model_type == "similarity" else "affine"][0]

            def plausible(candidate, *_):
                full = scale2 @ np.linalg.inv(turn) @ candidate.params @ np.linalg.inv(scale1)
                return self._plausible(full)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "No inliers found"
                model, inliers = ransac(
                    (source, target), model_class, min_samples=3,
                    residual_threshold=self.ransac_threshold, max_trials=self.max_trials,
                    stop_probability=0.999, is_model_valid=plausible, rng=rng,
                )
            if not model or inliers is None:
                return hypothesis
            count = int(inliers.sum())
            matrix = scale2 @ np.linalg.inv(turn) @ model.params @ np.linalg.inv(scale1)
            hypothesis.matrix = matrix
            hypothesis.inliers = count
            hypothesis.coarse_inliers = inliers
            return hypothesis

        hypotheses: list[_Hypothesis] = []

        def strong(h: _Hypothesis) -> bool:
            # many inliers, or enough of them making up most of the matches (small images)
            if self.strong_inliers is None or h.matrix is None:
                return False
            if h.inliers >= self.strong_inliers or (
                h.inliers >= self.min_coarse_inliers and h.inliers >= _STRONG_RATIO * h.candidates
            ):
                return True
            # or clearly ahead of the hypotheses at every other turn tried (at least three)
            others = [o.inliers for o in hypotheses
                      if abs((o.angle - h.angle + 180) % 360 - 180) > _DOMINANCE_SEPARATION]
            return len(others) >= 3 and h.inliers >= max(
                self.min_coarse_inliers, _DOMINANCE * max(max(others), _DOMINANCE_FLOOR)
            )

        def best() -> _Hypothesis:
            return max(hypotheses, key=lambda h: h.inliers)

        def refine(current: _Hypothesis) -> None:
            # match again with image 2 turned by the angle the hypothesis estimates (the
            # turn that makes image 2 upright with image 1); a hypothesis below
            # min_coarse_inliers may still point at the right turn
            if self.refine_angle is None or current.matrix is None or \
                    current.inliers < _MIN_REFINE_INLIERS:
                return
            estimated = (-_rotation_scale(current.matrix)[0]) % 360
            if abs((estimated - current.angle + 180) % 360 - 180) > self.refine_angle:
                search([estimated], refining=False)

        def search(angles, refining: bool = True) -> None:
            for angle in angles:
                if any(abs((angle - h.angle + 180) % 360 - 180) < 1e-6 for h in hypotheses):
                    continue
                hypotheses.append(attempt(float(angle)))
                if refining and self.min_coarse_inliers <= hypotheses[-1].inliers:
                    refine(hypotheses[-1])
                if strong(best()):
                    return

        search(self.rotations)
        if not strong(best()):
            refine(best())
        if not strong(best()) and self.angle_step is not None:
            # intermediate turns, the nearest to the best hypothesis' first
            steps = np.arange(0.0, 360.0, self.angle_step)
            centre = best().angle if best().inliers else 0.0
            steps = steps[np.argsort(np.abs((steps - centre + 180) % 360 - 180), kind="stable")]
            search(steps)
            if not strong(best()):
                refine(best())
        best = best()
        best.strong = strong(best)

        diagnostics["coarse_keypoints"] = tuple(keypoint_counts)
        diagnostics["coarse_candidates"] = best.candidates
        diagnostics["coarse_inliers"] = best.inliers
        diagnostics["coarse_hypotheses"] = [
            {"angle": h.angle, "candidates": h.candidates, "inliers": h.inliers}
            for h in hypotheses
        ]
        self.coarse_keypoints2 = best.coarse_keypoints2
        self.coarse_matches = best.coarse_matches
        self.coarse_inliers = best.coarse_inliers
        if best.matrix is None or best.inliers < self.min_coarse_inliers:
            diagnostics["failure"] = (
                f"the best hypothesis has {best.inliers} RANSAC inliers among "
                f"{best.candidates} matches, {self.min_coarse_inliers} needed"
            )
            best.matrix = None
            return best
        if self._overlap_box(best.matrix, image1.shape, image2.shape) is None:
            diagnostics["failure"] = "under its best hypothesis the images do not overlap"
            best.matrix = None
            return best
        self.coarse_model = AffineTransform(matrix=best.matrix / best.matrix[2, 2])
        self.coarse_angle = best.angle
        return best

    def _deviation(self, matrix, prior, shape1, shape2) -> float:
        """Largest distance (image-2 pixels) between two models over their overlap in image 1."""
        box = self._overlap_box(matrix, shape1, shape2)
        if box is None:
            return 0.0
        r0, r1, c0, c1 = box
        rows, cols = np.linspace(r0, r1 - 1, 9), np.linspace(c0, c1 - 1, 9)
        grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
        return float(np.max(np.linalg.norm(_apply(matrix, grid) - _apply(prior, grid), axis=1)))

    def _plausible(self, matrix: np.ndarray) -> bool:
        if not np.all(np.isfinite(matrix)):
            return False
        _, scale, det = _rotation_scale(matrix)
        if det <= 0:
            return False
        linear = matrix[:2, :2] / matrix[2, 2]
        singular = np.linalg.svd(linear, compute_uv=False)
        limit = self.max_scale_change
        return bool(1 / limit <= scale <= limit and singular[0] / singular[1] <= limit)

    # -- fine stage -------------------------------------------------------------------------------

    def _overlap_box(self, matrix, shape1, shape2, step: int = 8):
        """(r0, r1, c0, c1) of image 1 whose points the model maps into image 2, or None."""
        rows = np.unique(np.r_[np.arange(0, shape1[0], step, dtype=float), shape1[0] - 1])
        cols = np.unique(np.r_[np.arange(0, shape1[1], step, dtype=float), shape1[1] - 1])
        grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
        mapped = _apply(matrix, grid)
        inside = (
            (mapped[:, 0] >= -0.5) & (mapped[:, 0] <= shape2[1] - 0.5)
            & (mapped[:, 1] >= -0.5) & (mapped[:, 1] <= shape2[0] - 0.5)
        )
        if inside.sum() < 4:
            return None
        xy = grid[inside]
        r0 = max(0, int(xy[:, 1].min()) - step)
        r1 = min(shape1[0], int(xy[:, 1].max()) + step + 1)
        c0 = max(0, int(xy[:, 0].min()) - step)
        c1 = min(shape1[1], int(xy[:, 0].max()) + step + 1)
        if r1 - r0 < 16 or c1 - c0 < 16:
            return None
        return r0, r1, c0, c1

    def _tiles(self, box) -> list[tuple[int, int, int, int]]:
        """Cores of at most ``patch_size`` pixels a side that partition ``box``."""
        r0, r1, c0, c1 = box
        n_rows = max(1, math.ceil((r1 - r0) / self.patch_size))
        n_cols = max(1, math.ceil((c1 - c0) / self.patch_size))
        row_edges = np.linspace(r0, r1, n_rows + 1).round().astype(int)
        col_edges = np.linspace(c0, c1, n_cols + 1).round().astype(int)
        return [
            (row_edges[i], row_edges[i + 1], col_edges[j], col_edges[j + 1])
            for i in range(n_rows) for j in range(n_cols)
        ]

    def _tile_features(self, image: np.ndarray, box) -> _Features:
        """Features of ``image`` inside ``box``, detected patch by patch at full resolution.

        Each patch is a core of at most ``patch_size`` pixels a side, given to the
        network with a halo of context; keypoints are kept in the core only, so
        every pixel of ``box`` belongs to one patch. Each patch has its own keypoint
        budget, which spreads keypoints over the whole overlap.
        """
        height, width = image.shape
        detector = self._detector(
            max_keypoints=self.fine_keypoints, min_size=1, max_size=1 << 30,
            min_scale=self.fine_min_scale, max_scale=1.0,
        )
        extractor = MultiDescriptorExtractor(detector=detector,
                                             descriptors=self.descriptor_names)
        names = self.descriptor_names
        parts = []
        for r0, r1, c0, c1 in self._tiles(box):
            o_r0, o_r1 = max(0, r0 - _HALO), min(height, r1 + _HALO)
            o_c0, o_c1 = max(0, c0 - _HALO), min(width, c1 + _HALO)
            patch = image[o_r0:o_r1, o_c0:o_c1]
            core = patch[r0 - o_r0:r1 - o_r0, c0 - o_c0:c1 - o_c0]
            if np.isnan(core).mean() > 0.95:
                continue
            budget = self.fine_keypoints * (r1 - r0) * (c1 - c0) / self.patch_size ** 2
            detector.max_keypoints = max(50, int(round(budget)))
            try:
                extractor.detect_and_extract(patch)
            except (RuntimeError, ValueError):  # nothing to detect in this patch
                continue
            keypoints = np.asarray(extractor.keypoints, np.float64) + (o_r0, o_c0)
            rows, cols = keypoints[:, 0], keypoints[:, 1]
            keep = (rows >= r0 - 0.5) & (rows < r1 - 0.5) & (cols >= c0 - 0.5) & (cols < c1 - 0.5)
            parts.append(_Features(
                keypoints[keep], np.asarray(extractor.scales, np.float64)[keep],
                {n: _full_rows(extractor.descriptors[n], extractor.masks[n])[keep] for n in names},
                {n: np.asarray(extractor.masks[n], bool)[keep] for n in names},
            ))
        return _Features.concatenate(parts, names)

    def _fine_features(self, image1: np.ndarray, image2: np.ndarray, matrix: np.ndarray):
        """Patch-wise features of both images over their overlap under ``matrix``.

        Returns the features of image 1, those of image 2 (keypoints in image 2's
        own pixels) and the (N2, 2) (row, col) of the image-2 keypoints brought
        back into image 1 by ``matrix``.
        """
        inverse = np.linalg.inv(matrix)
        angle, scale, _ = _rotation_scale(matrix)
        upright = abs(angle) > _UPRIGHT_ANGLE or not 1 / _UPRIGHT_SCALE <= scale <= _UPRIGHT_SCALE
        self.diagnostics["fine_resampled"] = bool(upright)
        box1 = self._overlap_box(matrix, image1.shape, image2.shape)
        features1 = self._tile_features(image1, box1)
        # image 2 over the same overlap, reaching ``radius`` beyond it
        margin = int(math.ceil(self.radius)) + 1
        r0, r1, c0, c1 = box1
        if upright:
            # image 2 resampled onto image 1's grid, so the network sees it upright at
            # image 1's scale; keypoints go back to image 2's pixels through ``matrix``
            g_r0, g_c0 = r0 - margin - _HALO, c0 - margin - _HALO
            shape = (r1 - r0 + 2 * (margin + _HALO), c1 - c0 + 2 * (margin + _HALO))
            shift = np.array([[1, 0, g_c0], [0, 1, g_r0], [0, 0, 1.0]])
            resampled = _warp_nan(image2, matrix @ shift, shape, order=1)
            inner = (_HALO, shape[0] - _HALO, _HALO, shape[1] - _HALO)
            features2 = self._tile_features(resampled, inner)
            back2 = features2.keypoints + (g_r0, g_c0)
            features2.keypoints = _apply(matrix, back2[:, ::-1])[:, ::-1]
        else:
            corners = np.array([[c0 - margin, r0 - margin], [c1 + margin, r0 - margin],
                                [c0 - margin, r1 + margin], [c1 + margin, r1 + margin]], float)
            mapped = _apply(matrix, corners)
            height2, width2 = image2.shape
            box2 = (
                max(0, int(math.floor(mapped[:, 1].min()))),
                min(height2, int(math.ceil(mapped[:, 1].max())) + 1),
                max(0, int(math.floor(mapped[:, 0].min()))),
                min(width2, int(math.ceil(mapped[:, 0].max())) + 1),
            )
            if box2[1] - box2[0] < 8 or box2[3] - box2[2] < 8:
                features2 = _Features.empty(self.descriptor_names)
            else:
                features2 = self._tile_features(image2, box2)
            back2 = _apply(inverse, features2.keypoints[:, ::-1])[:, ::-1]
        finite = np.all(np.isfinite(back2), axis=1)
        return features1, features2.subset(finite), back2[finite]

    @staticmethod
    def _candidate_pairs(keypoints1: np.ndarray, back2: np.ndarray, radius: float) -> np.ndarray:
        """(i, j) pairs with image-2 keypoint j brought back within ``radius`` of keypoint i."""
        if len(keypoints1) == 0 or len(back2) == 0:
            return np.empty((0, 2), dtype=np.intp)
        tree1, tree2 = cKDTree(keypoints1), cKDTree(back2)
        distances = tree1.sparse_distance_matrix(tree2, radius, output_type="ndarray")
        return np.stack([distances["i"], distances["j"]], axis=1).astype(np.intp)

    def _votes_needed(self) -> int:
        if self.vote_threshold is None:
            return len(self.descriptor_names) + 1  # a majority of the 2 x descriptors votes
        return int(self.vote_threshold)

    def _fine(self, image1, image2, matrix, rng) -> "_FineResult":
        """The fine stage around the prior ``matrix`` (image-1 -> image-2 (x, y))."""
        features1, features2, back2 = self._fine_features(image1, image2, matrix)
        result = self._voted(features1, features2, back2, self.radius)
        result.diagnostics.update(
            fine_keypoints=(len(features1.keypoints), len(features2.keypoints)), fine_inliers=0,
        )
        self._fine_model(result, rng)
        return result

    def _voted(self, features1, features2, back2, radius: float) -> "_FineResult":
        """Pairs within ``radius`` (image 2 brought back as ``back2``) with enough votes."""
        pairs = self._candidate_pairs(features1.keypoints, back2, radius)
        votes = count_votes(pairs, features1, features2, self.local_ratio)
        keep = votes >= self._votes_needed()
        result = _FineResult(features1, features2, pairs[keep], votes[keep],
                             np.zeros(int(keep.sum()), bool))
        result.diagnostics.update(fine_pairs=int(len(pairs)), fine_candidates=int(keep.sum()))
        return result

    def _fine_model(self, result: "_FineResult", rng) -> None:
        """RANSAC, least-squares refinement and model selection on the voted matches."""
        diagnostics = result.diagnostics
        count = len(result.matches)
        needed = max(NESTED[self.model_type][1], self.min_fine_inliers)
        if count < needed:
            result.failure = f"{count} voted matches, {needed} needed"
            return
        source, target = result.matched_points()
        # several RANSAC runs (each refits its model to its consensus set); the model with the
        # lowest MSAC cost (squared residuals truncated at the threshold) wins: with clustered
        # support, consensus sets of nearly equal size can give models pixels apart away from
        # the matches, and the truncated cost prefers the tightest fit
        fitted = fit_model(
            source, target, self.model_type, threshold=self.fine_threshold,
            max_trials=self.max_trials, restarts=_FINE_RESTARTS, plausible=self._plausible,
            rng=rng, select=self.select_model,
        )
        if fitted is None:
            result.failure = (
                f"RANSAC found no plausible {self.model_type} model among {count} voted matches"
            )
            return
        result.inliers = fitted.inliers
        result.model_name = fitted.name
        diagnostics["selected_model"] = fitted.name
        diagnostics["gric"] = {name: round(score, 1) for name, score in fitted.gric.items()}
        self._record_fit(result, fitted.transform, source, target)

    def _record_fit(self, result: "_FineResult", transform, source, target) -> None:
        """Store ``transform`` in ``result`` with its inlier counts and residuals."""
        inliers = result.inliers
        residuals = transform.residuals(source, target)
        result.diagnostics["fine_inliers"] = int(inliers.sum())
        result.diagnostics["residual_median"] = float(np.median(residuals[inliers]))
        result.diagnostics["residual_rms"] = float(np.sqrt(np.mean(residuals[inliers] ** 2)))
        if inliers.sum() < self.min_fine_inliers:
            result.failure = (
                f"{int(inliers.sum())} RANSAC inliers among {len(result.matches)} voted "
                f"matches, {self.min_fine_inliers} needed"
            )
            result.model = None
            return
        result.model = transform

    def _final_search(self, result: "_FineResult") -> "_FineResult":
        """Local search once more, within ``final_radius`` of the fine model's projections.

        Around an accurate model the candidates of a keypoint are few, so descriptor
        votes are less ambiguous and more true matches reach the vote threshold. The
        model is refitted (least squares, the selected model) on the new inliers; the
        new result is kept when it has at least as many inliers.
        """
        result.diagnostics["final_search"] = False
        features1, features2 = result.features1, result.features2
        inverse = np.linalg.inv(result.model.params)
        back2 = _apply(inverse, features2.keypoints[:, ::-1])[:, ::-1]
        final = self._voted(features1, features2, back2, self.final_radius)
        final.prior, final.model_name = result.prior, result.model_name
        first = result.diagnostics
        final.diagnostics = dict(
            first, **final.diagnostics, first_pass_pairs=first["fine_pairs"],
            first_pass_candidates=first["fine_candidates"],
            first_pass_inliers=first["fine_inliers"],
        )
        if len(final.matches) < NESTED[result.model_name][1]:
            return result
        source, target = final.matched_points()
        inliers = result.model.residuals(source, target) <= self.fine_threshold
        if inliers.sum() < max(self.min_fine_inliers, NESTED[result.model_name][1]):
            return result
        transform, final.inliers = refine(source, target, result.model_name, result.model,
                                          inliers, self.fine_threshold, self._plausible)
        self._record_fit(final, MODELS[self.model_type](matrix=transform.params), source, target)
        if final.model is None or final.inliers.sum() < result.inliers.sum():
            return result
        final.diagnostics["final_search"] = True
        return final


@dataclass
class _FineResult:
    """The fine stage around one prior: features, voted matches and the model."""

    features1: _Features
    features2: _Features
    matches: np.ndarray  # (Q, 2) voted pairs, indices into the two feature sets
    votes: np.ndarray
    inliers: np.ndarray
    model: ProjectiveTransform | None = None
    model_name: str | None = None  # the selected model (a key of sarfeat._models.NESTED)
    failure: str | None = None
    prior: str | None = None
    diagnostics: dict = field(default_factory=dict)

    @property
    def keypoints1(self) -> np.ndarray:
        return self.features1.keypoints

    @property
    def keypoints2(self) -> np.ndarray:
        return self.features2.keypoints

    def matched_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the matched keypoints in image 1 and in image 2."""
        return (self.keypoints1[self.matches[:, 0], ::-1],
                self.keypoints2[self.matches[:, 1], ::-1])

    @classmethod
    def empty(cls, failure: str | None, names) -> "_FineResult":
        result = cls(_Features.empty(names), _Features.empty(names), np.empty((0, 2), np.intp),
                     np.empty(0, np.int64), np.empty(0, bool), failure=failure)
        result.diagnostics.update(fine_keypoints=(0, 0), fine_pairs=0, fine_candidates=0,
                                  fine_inliers=0)
        return result

    def better_than(self, other: "_FineResult") -> bool:
        if self.model is None:
            return other.model is None and other.prior is None
        return other.model is None or self.inliers.sum() > other.inliers.sum()
