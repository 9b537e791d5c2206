"""The orchestrator of the coarse-to-fine matcher: :class:`CoarseFineMatcher`.

The method is described in the documentation of :mod:`sarfeat.matching`; its
stages live in :mod:`~sarfeat.matching.coarse`, :mod:`~sarfeat.matching.fine`,
:mod:`~sarfeat.matching.models` and :mod:`~sarfeat.matching.geometry`.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import partial

import numpy as np
from scipy import ndimage
from skimage.transform import AffineTransform, ProjectiveTransform
from tqdm.auto import tqdm

from ..descriptors import MultiDescriptorExtractor
from ..detector import NoKeypointsError, SARR2D2Detector
from ..preprocess import ScaledImage, check_image, normalize_sar, sar_scaling
from ..weights import resolve_network_weights
from .dense import DenseStructuralMatcher, parse_modality
from .coarse import CoarseSearch, CoarseSettings, Hypothesis, estimate_turns
from .fine import FineResult, FineSettings, FineStage
from .geometry import apply_matrix, deviation, downsample, overlap_box, plausible_matrices
from .subpixel import refine_result
from .validation import check_matcher_parameters

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from ..network import R2D2Net

__all__ = ["CoarseFineMatcher", "MatchResult", "MATCHER_SETS"]

#: Detector parameters that the matcher sets itself, per stage.
MATCHER_SETS = ("max_keypoints", "min_size", "max_size", "min_scale", "max_scale",
                "scale_factor", "input_kind", "nodata")

#: The detector's pyramid and budget, which each stage sets (the detector's own defaults
#: unless the stage gives them).
_PYRAMID_DEFAULTS = {
    name: inspect.signature(SARR2D2Detector).parameters[name].default
    for name in ("max_keypoints", "min_size", "max_size", "min_scale", "max_scale",
                 "scale_factor")
}

#: The identity prior settles the rotation search with this many times min_fine_inliers.
_SETTLING_FACTOR = 2

#: An image with fewer coarse keypoints than this at least _BORDER coarse pixels from its
#: border is featureless (a smooth ramp gives none: its keypoints sit on the border).
_MIN_CONTENT_KEYPOINTS = 10
_BORDER = 16

#: Fine stages run again around the fine model when it strays from the prior; a round is
#: kept when it has this many times the inliers of the previous one.
_GUIDED_ROUNDS = 2
_GUIDED_GAIN = 1.25

#: RANSAC's seed when ``rng`` is None, so that results are reproducible.
_DEFAULT_SEED = 0


class CoarseFineMatcher:
    """Match two SAR images coarse to fine, with descriptor votes (DESIGN.md section 6).

    The two stages are described in the module documentation of
    :mod:`sarfeat.matching`. ``match`` returns index pairs as
    :func:`skimage.feature.match_descriptors` does, into ``keypoints1`` and
    ``keypoints2`` ((row, col) at full resolution), so the result goes
    unchanged to :func:`skimage.feature.plot_matched_features`.

    The matcher is composed of its parts: a detector, the coarse stage's
    settings and the fine stage's, ``CoarseFineMatcher(detector=SARR2D2Detector(...),
    coarse=CoarseSettings(...), fine=FineSettings(...))``; each stage runs a
    detector of its own (copies sharing one network runtime) with its own
    pyramid and keypoint budget. The flat keyword arguments below say the same
    (a keyword may not contradict a settings object given with it).

    Parameters
    ----------
    weights : str, path-like or R2D2Net, optional
        The network, as for :class:`~sarfeat.SARR2D2Detector` (None: the
        detector's default).
    detector : SARR2D2Detector, optional
        The detector whose settings (weights, runtime, thresholds,
        ``upright``...) both stages use, as they are set; the matcher sets each
        stage's pyramid, budget and input (:data:`MATCHER_SETS`) itself. Not
        with ``weights`` or ``**detector_options``.
    coarse : CoarseSettings, optional
        The coarse stage's parameters (:class:`~sarfeat.matching.coarse.CoarseSettings`),
        instead of the keywords of the same names.
    fine : FineSettings, optional
        The fine stage's parameters (:class:`~sarfeat.matching.fine.FineSettings`;
        its ``max_patches`` is ``max_fine_patches``), instead of the keywords.
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
    subpixel : bool
        Refine the final model on the images themselves: around each inlier
        keypoint of image 1, image 2 is resampled through the model and the
        residual shift measured by sub-pixel cross-correlation; the model is
        refitted to those correspondences when they fit it more tightly than
        the keypoint matches did (:mod:`sarfeat.matching.subpixel`). Keypoint
        matches locate a feature to about 1.5 px on speckled SAR; the
        correlated ones to a few tenths.
    select_model : bool
        Choose, among the models nested in ``model`` (translation, rigid
        motion, similarity, affine, homography), the one the matches support
        best by Torr's GRIC (:mod:`sarfeat.matching.models`); ``model`` stays the
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
    estimated_turns : int
        How many turns of the orientation estimate
        (:func:`~sarfeat.matching.coarse.estimate_turns`) are tried right after
        the first of ``rotations``; 0 never estimates.
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
        implausible. The coarse pyramid reaches down to ``coarse_size /
        max_scale_change`` pixels, so that a pair zoomed that much still
        finds levels that meet.
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
    max_fine_patches : int or None
        Most image-1 patches the fine stage describes around a prior. A larger
        overlap (more than 16 patches of 512 pixels: beyond about 2048 x 2048)
        is described on an evenly spread sub-grid of its patches, which keeps
        its first and last rows and columns, and image 2 only where it can
        reach them: a global model needs well-spread matches, not every one, and
        the fine stage's time then stops growing with the scene. None describes
        the whole overlap. ``diagnostics['fine_patches_used']`` and
        ``['fine_patches_total']`` say how many were described of how many.
    max_trials : int
        Most RANSAC samples per model fit (a fit stops earlier at 99.9 %
        confidence, after at least 256 samples).
    rng : int or numpy.random.Generator, optional
        Seed of RANSAC's sampling. None: a fixed seed (0), so that results are
        reproducible, as with OpenCV's RANSAC.
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}
        What the pixel values of both images are (see
        :func:`sarfeat.normalize_sar`); both are normalised once, as a whole.
    nodata : float, optional
        A pixel value marking no-data besides NaN.
    progress : bool, optional
        Show a tqdm progress bar over the fine stage's patches (on standard
        error). None: only when standard error is a terminal; False: quiet.
    **detector_options
        Other :class:`~sarfeat.SARR2D2Detector` parameters (``device``,
        ``precision``, ``reliability_threshold``, ``repeatability_threshold``,
        ``tile_size``, ``trust``, ...). The keypoint budgets and pyramids are
        the matcher's (``coarse_keypoints``, ``fine_keypoints``,
        ``coarse_size``, ``fine_min_scale``).
    modality : str or (str, str)
        What the two images are: ``'sar'`` (both SAR, the default: the method
        above), or ``'optical-sar'`` / ``'sar-optical'`` (image 1 optical and
        image 2 SAR, or the other way round; or a pair of ``'optical'`` and
        ``'sar'``). A pair with an optical image is matched on dense
        structure maps by :class:`~sarfeat.matching.dense.DenseStructuralMatcher`,
        which fills the same attributes; the network is not used.

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
        inliers of each turn tried), ``estimated_turns`` (the orientation
        estimate's turns), ``intermediate_turns_skipped`` (the identity prior
        registered the pair before the turns between right angles were tried),
        ``prior`` (``'coarse'`` or ``'identity'``),
        ``guided_rounds``, ``fine_resampled``, the correlation refinement's
        ``subpixel_points``, ``subpixel_kept``, ``subpixel_residual_median``,
        ``keypoint_residual_median`` and ``subpixel_refined`` (whether the
        model was refitted), ``fine_patches_used`` and ``fine_patches_total``
        (image-1 patches of the last fine stage, see ``max_fine_patches``),
        ``patches_described``, ``patches_reused`` and ``patches_redescribed``
        (fine patches run through the network, those reused from an earlier
        prior or round, and those run again because their descriptors had been
        dropped to bound memory), timings
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
        detector: SARR2D2Detector | None = None,
        coarse: CoarseSettings | None = None,
        fine: FineSettings | None = None,
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
        subpixel: bool = True,
        select_model: bool = True,
        rotations: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0),
        angle_step: float | None = 30.0,
        refine_angle: float | None = 5.0,
        estimated_turns: int = 2,
        strong_inliers: int | None = 40,
        min_coarse_inliers: int = 8,
        min_fine_inliers: int = 10,
        identity_prior: bool = True,
        max_scale_change: float = 4.0,
        descriptors: tuple[str, ...] = ("r2d2", "ratio_hog", "log_patch"),
        coarse_keypoints: int = 5000,
        fine_keypoints: int = 2000,
        fine_min_scale: float = 1.0,
        max_fine_patches: int | None = 16,
        max_trials: int = 2000,
        rng: int | np.random.Generator | None = None,
        input_kind: str = "auto",
        nodata: float | None = None,
        progress: bool | None = None,
        modality: str | tuple[str, str] = "sar",
        **detector_options,
    ) -> None:
        parse_modality(modality)  # a bad modality is refused at once
        self.modality = modality
        flat = dict(
            model=model, coarse_size=coarse_size, ratio=ratio, ransac_threshold=ransac_threshold,
            fine_threshold=fine_threshold, patch_size=patch_size, radius=radius,
            vote_threshold=vote_threshold, local_ratio=local_ratio, final_radius=final_radius,
            select_model=select_model, rotations=rotations, angle_step=angle_step,
            refine_angle=refine_angle, estimated_turns=estimated_turns,
            strong_inliers=strong_inliers, min_coarse_inliers=min_coarse_inliers,
            min_fine_inliers=min_fine_inliers, descriptors=descriptors,
            coarse_keypoints=coarse_keypoints, fine_keypoints=fine_keypoints,
            fine_min_scale=fine_min_scale, max_fine_patches=max_fine_patches,
            max_trials=max_trials, max_scale_change=max_scale_change,
        )
        flat.update(_settings_as_keywords(flat, coarse, fine))
        if detector is not None:
            weights, detector_options = _detector_as_options(detector, weights, detector_options)
        self.weights = weights
        self.model_type = flat["model"]
        self.coarse_size = flat["coarse_size"]
        self.ratio = flat["ratio"]
        self.ransac_threshold = flat["ransac_threshold"]
        self.fine_threshold = flat["fine_threshold"]
        self.patch_size = flat["patch_size"]
        self.radius = flat["radius"]
        self.vote_threshold = flat["vote_threshold"]
        self.local_ratio = flat["local_ratio"]
        self.final_radius = flat["final_radius"]
        self.subpixel = subpixel
        self.select_model = flat["select_model"]
        self.rotations = tuple(flat["rotations"])
        self.angle_step = flat["angle_step"]
        self.refine_angle = flat["refine_angle"]
        self.estimated_turns = flat["estimated_turns"]
        self.strong_inliers = flat["strong_inliers"]
        self.min_coarse_inliers = flat["min_coarse_inliers"]
        self.min_fine_inliers = flat["min_fine_inliers"]
        self.identity_prior = identity_prior
        self.max_scale_change = flat["max_scale_change"]
        self.descriptor_names = tuple(flat["descriptors"])
        self.coarse_keypoints = flat["coarse_keypoints"]
        self.fine_keypoints = flat["fine_keypoints"]
        self.fine_min_scale = flat["fine_min_scale"]
        self.max_fine_patches = flat["max_fine_patches"]
        self.max_trials = flat["max_trials"]
        self.rng = rng
        self.input_kind = input_kind
        self.nodata = nodata
        self.progress = progress
        self.detector_options = detector_options
        # shared by every call and thread: the network and one detector per setting
        self._lock = threading.Lock()
        self._net = None
        self._net_key = None
        self._detectors: dict = {}
        self._fill(MatchResult.empty())
        check_matcher_parameters(self)

    def __getstate__(self) -> dict:
        """Parameters and results, not the lock nor the loaded network (for pickle and copy)."""
        state = dict(self.__dict__)
        state.update(_lock=None, _net=None, _net_key=None, _detectors={})
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- the stages' settings ---------------------------------------------------------------------

    @property
    def coarse_settings(self) -> CoarseSettings:
        """The coarse stage's parameters, as the matcher's attributes give them."""
        return CoarseSettings(
            model=self.model_type, ratio=self.ratio, ransac_threshold=self.ransac_threshold,
            max_trials=self.max_trials, rotations=self.rotations, angle_step=self.angle_step,
            refine_angle=self.refine_angle, strong_inliers=self.strong_inliers,
            min_coarse_inliers=self.min_coarse_inliers, estimated_turns=self.estimated_turns,
            coarse_size=self.coarse_size, coarse_keypoints=self.coarse_keypoints,
            max_scale_change=self.max_scale_change,
        )

    @property
    def fine_settings(self) -> FineSettings:
        """The fine stage's parameters, as the matcher's attributes give them."""
        return FineSettings(
            descriptors=self.descriptor_names, model=self.model_type, patch_size=self.patch_size,
            radius=self.radius, fine_threshold=self.fine_threshold,
            fine_keypoints=self.fine_keypoints, vote_threshold=self.vote_threshold,
            local_ratio=self.local_ratio, final_radius=self.final_radius,
            select_model=self.select_model, min_fine_inliers=self.min_fine_inliers,
            max_trials=self.max_trials, max_patches=self.max_fine_patches,
            fine_min_scale=self.fine_min_scale,
        )

    # -- public API -------------------------------------------------------------------------------

    def _fill(self, result: "MatchResult") -> None:
        """Copy a result onto the attributes ``match`` documents."""
        for name in _RESULT_FIELDS:
            setattr(self, name, getattr(result, name))

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

        Notes
        -----
        One matcher may serve several threads at once; each call's result is
        its own, but the attributes hold the last call's to finish. Threads
        that share a matcher read their results from :meth:`match_result`.
        """
        result = self.match_result(image1, image2)
        with self._lock:
            self._fill(result)
        return result.verified

    def match_result(self, image1, image2, *, progress: bool | None = None) -> "MatchResult":
        """Match two images and return what was found, leaving the matcher as it is.

        As :meth:`match`, but the results come back as a :class:`MatchResult`
        (the attributes :meth:`match` fills) and nothing is stored on the
        matcher, so that threads can share it. ``progress`` overrides the
        matcher's for this call only.
        """
        self.check_parameters()
        if parse_modality(self.modality) != ("sar", "sar"):
            return self._structure_result(image1, image2)
        started = time.perf_counter()
        run = _Run(self.progress if progress is None else progress)
        # independent streams: how many angles the coarse stage tries does not change the
        # fine stage's sampling; rng=None is a fixed seed, as OpenCV's RANSAC has
        seed = _DEFAULT_SEED if self.rng is None else self.rng
        with self._lock:  # a Generator given as rng is drawn from by one call at a time
            seeds = np.random.default_rng(seed).integers(2 ** 63, size=3)
        coarse_rng, fine_rng, identity_rng = (np.random.default_rng(s) for s in seeds)
        image1 = self._normalized(image1, "image1")
        image2 = self._normalized(image2, "image2")
        found = run.result
        found.diagnostics.update(failure=None)
        hypothesis = self._coarse(
            run, image1, image2, coarse_rng,
            settled=lambda: self._identity_settles(run, image1, image2, identity_rng))
        found.diagnostics["seconds_coarse"] = time.perf_counter() - started
        result = self._fine(run, image1, image2, hypothesis, fine_rng, identity_rng)
        if result.model is not None and self.subpixel:
            refine_result(image1, image2, result, self.model_type, self.fine_threshold,
                          self.min_fine_inliers)
        found.keypoints1, found.keypoints2 = result.keypoints1, result.keypoints2
        found.matches, found.votes, found.inliers = result.matches, result.votes, result.inliers
        found.model = result.model
        if found.model is None:  # as documented: no model, no verified match
            found.inliers = np.zeros(len(found.matches), dtype=bool)
        if result.prior == "identity":
            found.coarse_model = AffineTransform()
            found.coarse_angle = 0.0
        found.diagnostics.update(result.diagnostics, prior=result.prior, failure=result.failure)
        elapsed = time.perf_counter() - started
        found.diagnostics.update(seconds_fine=elapsed - found.diagnostics["seconds_coarse"],
                                 seconds=elapsed)
        return found

    # -- checks and set-up ------------------------------------------------------------------------

    def _structure_result(self, image1, image2) -> "MatchResult":
        """A pair with an optical image: the dense structural matcher's result."""
        for which, image in (("image1", image1), ("image2", image2)):
            try:
                check_image(image)
            except ValueError as error:
                raise ValueError(f"{which}: {error}") from None
        dense = DenseStructuralMatcher(
            self.modality, model=self.model_type, max_scale_change=self.max_scale_change,
            input_kind=self.input_kind, rng=self.rng)
        dense.match(image1, image2)
        found = MatchResult(**{name: getattr(dense, name) for name in (
            "keypoints1", "keypoints2", "matches", "votes", "inliers", "model",
            "coarse_model", "coarse_angle")})
        found.diagnostics = dict(dense.diagnostics, prior="coarse",
                                 modality="-".join(parse_modality(self.modality)))
        found.diagnostics.setdefault("failure", None)
        return found

    def check_parameters(self) -> None:
        """Check every parameter (as ``__init__`` does): ValueError if one is wrong."""
        check_matcher_parameters(self)

    def _normalized(self, image, which: str):
        """The image in [0, 1] as float32, NaN where invalid.

        A lazily normalised view (:class:`~sarfeat.preprocess.ScaledImage`: windows
        are normalised as they are read, the same values as normalising the whole
        image) when it can be, so no normalised copy of a large scene is held.
        """
        try:
            if not np.ma.isMaskedArray(image):
                raw = check_image(image)
                scaling = sar_scaling(raw, self.input_kind, nodata=self.nodata)
                if scaling is not None and scaling.kind in _LOGGED_KINDS:
                    filled = _without_border_fill(raw)
                    if filled is not None:  # the stretch, from the image's own pixels
                        raw, scaling = filled, sar_scaling(filled, scaling.kind, self.nodata)
                if scaling is not None:
                    return ScaledImage(raw, scaling)
            normalized = normalize_sar(image, self.input_kind, nodata=self.nodata)
        except ValueError as error:
            raise ValueError(f"{which}: {error}") from None
        values = normalized.image
        if normalized.valid is not None:
            values[~normalized.valid] = np.nan
        return values

    def _network(self):
        key = (id(self.weights), str(self.weights))
        with self._lock:
            if self._net is None or self._net_key != key:
                trust = self.detector_options.get("trust", False)
                self._net = resolve_network_weights(self.weights, trust=trust)
                self._net_key = key
            return self._net

    def detector_settings(self, **stage) -> dict:
        """The options of the matcher's detectors: the one place they are built.

        The user's ``detector_options`` (less those the matcher sets itself,
        :data:`MATCHER_SETS`), then the stage's own pyramid and budget. The
        detectors run upright unless ``detector_options`` says otherwise: the
        matcher's own rotation search turns the images, and the network's R2D2
        descriptor is what its votes are built on.
        """
        options = {k: v for k, v in self.detector_options.items() if k not in MATCHER_SETS}
        options.setdefault("upright", True)
        options.update(stage)
        return options

    def _detector(self, **stage) -> SARR2D2Detector:
        """A detector of its own for a stage (``stage``: its pyramid and budget).

        Every stage's detector is a copy of one detector kept per network and
        options, so all share one network runtime, with its working memory, and
        the network stays ready between calls; no stage changes another's settings.
        """
        stage = {**_PYRAMID_DEFAULTS, **stage}  # a stage sets every one of these
        options = self.detector_settings(**stage)
        net = self._network()
        shared = {k: v for k, v in options.items() if k not in stage}
        key = (id(net), repr(sorted(shared.items())))
        with self._lock:
            if key not in self._detectors:
                self._detectors = {key: SARR2D2Detector(net, input_kind="display", **shared)}
            base = self._detectors[key]
        copy = base.thread_copy()  # loads the runtime once; the copy shares it
        for name, value in stage.items():
            setattr(copy, name, value)
        return copy

    def _plausible(self, matrices: np.ndarray) -> np.ndarray:
        """Which of (B, 3, 3) matrices keep orientation and a scale within max_scale_change."""
        return plausible_matrices(matrices, self.max_scale_change)

    # -- coarse stage -----------------------------------------------------------------------------

    def _coarse(self, run: "_Run", image1: np.ndarray, image2: np.ndarray, rng,
                settled=None) -> Hypothesis:
        """Rotation search and coarse model; fills the coarse fields of ``run.result``.

        ``settled`` is :meth:`CoarseSearch.run`'s: asked before the intermediate turns.
        """
        found = run.result
        diagnostics = found.diagnostics
        settings = self.coarse_settings
        factor = min(1.0, self.coarse_size / max(max(image1.shape), max(image2.shape)))
        # each image normalised whole only for its downsampling, one at a time
        small1, scale1 = downsample(image1, factor)
        small2, scale2 = downsample(image2, factor)
        # the coarse stage's own detector; on a CPU, upright image 2 (the first turn tried) is
        # described in a second thread, with a copy, while image 1 is
        detector = self._detector(**settings.detector_settings())
        copy = detector.thread_copy()
        upright_first = self.rotations[0] % 360 == 0 and _describing_workers(copy) > 1
        with ThreadPoolExecutor(1) as pool:
            prefetched = [pool.submit(_coarse_features, copy, small2, "image2", True)] \
                if upright_first else []
            keypoints1, descriptors1 = _coarse_features(detector, small1, "image1", check=True)
        found.coarse_keypoints1 = apply_matrix(scale1, keypoints1[:, ::-1])[:, ::-1]
        diagnostics["coarse_factor"] = factor

        def describe(image, check):
            if prefetched and image is small2:
                return prefetched.pop().result()
            return _coarse_features(detector, image, "image2", check)

        search = CoarseSearch(settings, describe, self._plausible, keypoints1, descriptors1,
                              small2, scale1, scale2, rng)
        estimated: list[float] = []

        def estimate() -> list[float]:  # only when the first turn is not strong
            if self.estimated_turns:
                estimated.extend(estimate_turns(small1, small2, self.estimated_turns))
            return estimated

        best = search.run(estimate, settled)
        diagnostics.update(
            intermediate_turns_skipped=search.intermediate_skipped,
            coarse_keypoints=(len(keypoints1), *search.keypoint_counts),
            coarse_candidates=best.candidates, coarse_inliers=best.inliers,
            angles_tried=[h.angle for h in search.hypotheses if h.coarse_matches is not None],
            estimated_turns=[round(a, 1) for a in estimated],
            coarse_hypotheses=[{"angle": h.angle, "candidates": h.candidates,
                                "inliers": h.inliers} for h in search.hypotheses],
        )
        found.coarse_keypoints2 = best.coarse_keypoints2
        found.coarse_matches = best.coarse_matches
        found.coarse_inliers = best.coarse_inliers
        if best.matrix is None or best.inliers < self.min_coarse_inliers:
            diagnostics["failure"] = (
                f"the best hypothesis has {best.inliers} RANSAC inliers among "
                f"{best.candidates} matches, {self.min_coarse_inliers} needed"
            )
            best.matrix = None
        elif overlap_box(best.matrix, image1.shape, image2.shape) is None:
            diagnostics["failure"] = "under its best hypothesis the images do not overlap"
            best.matrix = None
        else:
            found.coarse_model = AffineTransform(matrix=best.matrix / best.matrix[2, 2])
            found.coarse_angle = best.angle
        return best

    # -- fine stage -------------------------------------------------------------------------------

    def _fine_stage(self, progress: bool | None) -> FineStage:
        settings = self.fine_settings
        # each thread describes with its own copy of the fine stage's detector (the copies
        # share the network runtime)
        template = self._detector(**settings.detector_settings())
        names = self.descriptor_names
        local = threading.local()

        def describe(patch, budget):
            if not hasattr(local, "extractor"):
                local.extractor = MultiDescriptorExtractor(detector=template.thread_copy(),
                                                           descriptors=names)
            extractor = local.extractor
            extractor.detector.max_keypoints = budget  # this thread's own copy
            extractor.detect_and_extract(patch)
            return extractor.keypoints, extractor.scales, extractor.descriptors, extractor.masks

        plausible = partial(plausible_matrices, max_scale_change=self.max_scale_change)
        return FineStage(settings, describe, plausible, _progress_bar(progress),
                         workers=_describing_workers(template))

    def _stage_of_match(self, run: "_Run") -> FineStage:
        """The fine stage of the current match (one, so that its described patches are shared)."""
        if run.stage is None:
            run.stage = self._fine_stage(run.progress)
        return run.stage

    def _identity_attempt(self, run: "_Run", image1, image2, rng) -> FineResult:
        """The fine stage around the identity prior, run once per match."""
        if run.identity is None:
            stage = self._stage_of_match(run)
            run.identity = self._guided(stage, image1, image2, np.eye(3), rng, "identity")
            run.identity.prior = "identity"
        return run.identity

    def _identity_usable(self, image1, image2) -> bool:
        return self.identity_prior and \
            overlap_box(np.eye(3), image1.shape, image2.shape) is not None

    def _identity_settles(self, run: "_Run", image1, image2, rng) -> bool:
        """Whether the identity prior registers the pair well enough to stop turning image 2.

        Asked by the coarse search before its intermediate turns, when no right
        angle gave a strong hypothesis: many products are co-registered already,
        and a fine model around the identity with at least twice
        ``min_fine_inliers`` inliers (after the last local search) makes a turn
        of 30 degrees or more implausible.
        """
        if not self._identity_usable(image1, image2):
            return False
        attempt = self._identity_attempt(run, image1, image2, rng)
        if attempt.model is None:
            return False
        if self.final_radius is not None:  # as _fine would finish it (no new network run)
            attempt = self._final_search(run, self._stage_of_match(run), attempt)
        return attempt.inliers.sum() >= _SETTLING_FACTOR * self.min_fine_inliers

    def _final_search(self, run: "_Run", stage: FineStage, result: FineResult) -> FineResult:
        """The last local search around ``result``; the identity attempt's runs once a match."""
        if result is not run.identity:
            return stage.final_search(result)
        if run.identity_final is None:
            run.identity_final = stage.final_search(result)
        return run.identity_final

    def _fine(self, run: "_Run", image1, image2, hypothesis: Hypothesis, rng,
              identity_rng) -> FineResult:
        """The fine stage around each prior, guided rounds, and the last local search."""
        stage = self._stage_of_match(run)
        priors = [("coarse", hypothesis.matrix)] if hypothesis.matrix is not None else []
        if not hypothesis.strong and self._identity_usable(image1, image2):
            priors.append(("identity", np.eye(3)))
        failure = run.result.diagnostics.get("failure")
        reasons = [f"coarse stage: {failure}"] if failure else []
        result = FineResult.empty(None, self.descriptor_names)
        for name, matrix in priors:
            if name == "identity":
                attempt = self._identity_attempt(run, image1, image2, identity_rng)
            else:
                attempt = self._guided(stage, image1, image2, matrix, rng, name)
                attempt.prior = name
            if attempt.failure:
                reasons.append(f"fine stage around the {name} prior: {attempt.failure}")
            if attempt.better_than(result):
                result = attempt
        if result.model is None:
            result.failure = (
                "no consistent transform: the images may not overlap, or differ too much ("
                + "; ".join(reasons) + ")"
            )
        elif self.final_radius is not None:
            result = self._final_search(run, stage, result)
        result.diagnostics.update(fine_patches_used=stage.diagnostics.get("fine_patches_used"),
                                  fine_patches_total=stage.diagnostics.get("fine_patches_total"),
                                  patches_described=stage.diagnostics["patches_described"],
                                  patches_reused=stage.diagnostics["patches_reused"],
                                  patches_redescribed=stage.store.redescribed)
        return result

    def _guided(self, stage: FineStage, image1, image2, matrix, rng,
                prior: str) -> FineResult:
        """The fine stage around ``matrix``, then again around its own model while it strays.

        ``prior`` ('coarse' or 'identity') names the progress bars of its rounds.

        When the fine model moves part of the overlap by more than half the search
        radius from the prior, the local search was off-centre there; the search runs
        again around the fine model and is kept when it has more inliers.
        """
        attempt = stage.run(image1, image2, matrix, rng, _bar_label(prior, 0))
        for round_ in range(1, _GUIDED_ROUNDS + 1):
            if attempt.model is None or deviation(
                attempt.model.params, matrix, image1.shape, image2.shape
            ) <= self.radius / 2:
                break
            matrix = attempt.model.params
            again = stage.run(image1, image2, matrix, rng, _bar_label(prior, round_))
            gained = again.inliers.sum() if again.model is not None else 0
            if gained < _GUIDED_GAIN * attempt.inliers.sum():
                break
            again.diagnostics["guided_rounds"] = attempt.diagnostics.get("guided_rounds", 0) + 1
            attempt = again
        return attempt


#: The attributes a match fills, in the order of :class:`MatchResult`.
_RESULT_FIELDS = ("keypoints1", "keypoints2", "matches", "votes", "inliers", "model",
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


class _Run:
    """The state of one call of :meth:`CoarseFineMatcher.match_result` (never on the matcher)."""

    def __init__(self, progress: bool | None) -> None:
        self.progress = progress
        self.result = MatchResult()
        self.stage: FineStage | None = None
        self.identity: FineResult | None = None
        self.identity_final: FineResult | None = None


def _settings_as_keywords(flat: dict, coarse: CoarseSettings | None,
                          fine: FineSettings | None) -> dict:
    """The flat keywords that ``coarse`` and ``fine`` give; ValueError when both say one.

    A keyword left at its default gives way to the settings; one given with a
    value of its own, or two settings that disagree, is refused.
    """
    defaults = {name: parameter.default for name, parameter in
                inspect.signature(CoarseFineMatcher).parameters.items()}
    given: dict = {}
    renamed = {"max_patches": "max_fine_patches"}
    for label, settings, kind in (("coarse", coarse, CoarseSettings),
                                  ("fine", fine, FineSettings)):
        if settings is None:
            continue
        if not isinstance(settings, kind):
            raise TypeError(f"{label} must be a {kind.__name__}, got {type(settings).__name__}")
        for item in fields(settings):
            name = renamed.get(item.name, item.name)
            value = getattr(settings, item.name)
            if name in given and given[name] != value:
                raise ValueError(f"coarse and fine settings disagree on {name}: "
                                 f"{given[name]!r} and {value!r}")
            if flat[name] != defaults[name] and flat[name] != value:
                raise ValueError(f"{name} given both as a keyword ({flat[name]!r}) and in "
                                 f"{label}= ({value!r}): give it once")
            given[name] = value
    return given


def _detector_as_options(detector: SARR2D2Detector, weights, options: dict):
    """(weights, detector options) of a detector given to the matcher: its settings, as set.

    The matcher sets the pyramid, budget and input of each stage itself
    (:data:`MATCHER_SETS`); the rest (weights, runtime, thresholds, ``upright``...)
    are the detector's.
    """
    if not isinstance(detector, SARR2D2Detector):
        raise TypeError(f"detector must be a SARR2D2Detector, got {type(detector).__name__}")
    if weights is not None or options:
        raise ValueError("give either detector= or weights= and detector options, not both")
    names = [name for name in inspect.signature(SARR2D2Detector).parameters
             if name not in ("weights", "n_keypoints", "downscale") and name not in MATCHER_SETS]
    return detector.weights, {name: getattr(detector, name) for name in names}


#: Input kinds whose values are logged: there an exact zero is far below every other value.
_LOGGED_KINDS = ("intensity", "amplitude")


def _without_border_fill(raw: np.ndarray) -> np.ndarray | None:
    """A float32 copy of ``raw`` with NaN on its border fill, or None when it has none.

    The border fill is the exact zeros connected to the image border: what a
    resampling (``skimage.transform.warp`` of a turned image, ``cval=0``) or a
    product's swath edge puts there. In linear intensity or amplitude a zero is
    no measurement (its log is -inf, and the stretch raises it to the darkest
    value): taken as data, the corners of a turned image make edges stronger
    than the scene's (pair l with image 2 turned by 15 degrees was refused).
    Zeros inside the scene stay dark pixels.
    """
    if np.iscomplexobj(raw):
        return None
    edges = np.concatenate([raw[0], raw[-1], raw[:, 0], raw[:, -1]])
    if not (edges == 0).any():
        return None
    zero = raw == 0
    seeds = np.zeros_like(zero)
    seeds[[0, -1], :] = zero[[0, -1], :]
    seeds[:, [0, -1]] |= zero[:, [0, -1]]
    fill = ndimage.binary_propagation(seeds, mask=zero)
    values = raw.astype(np.float32)
    values[fill] = np.nan
    return values


def _coarse_features(detector: SARR2D2Detector, image: np.ndarray, which: str,
                     check: bool = False):
    """Keypoints and descriptors of a coarse image; ``check`` refuses a featureless one."""
    if not np.isfinite(image).any():  # a turn may leave no valid pixel: nothing to detect
        raise NoKeypointsError(f"{which}: no valid pixel")
    try:
        detector.detect_and_extract(image)
    except NoKeypointsError as error:
        raise NoKeypointsError(f"{which}: {error}") from None
    keypoints = detector.keypoints.astype(np.float64)
    if check:
        # keypoints on the image border or next to no-data say nothing about content
        height, width = image.shape
        away = (
            (keypoints[:, 0] >= _BORDER) & (keypoints[:, 0] <= height - 1 - _BORDER)
            & (keypoints[:, 1] >= _BORDER) & (keypoints[:, 1] <= width - 1 - _BORDER)
        )
        if away.sum() < _MIN_CONTENT_KEYPOINTS:
            raise NoKeypointsError(
                f"{which}: only {int(away.sum())} keypoints away from the image border "
                f"({len(keypoints)} in all; at least {_MIN_CONTENT_KEYPOINTS} needed): the "
                "image looks featureless"
            )
    return keypoints, detector.descriptors


def _describing_workers(detector: SARR2D2Detector) -> int:
    """Fine patches described at once: two on a CPU with two cores or more, else one.

    On the CPU the network of one patch then runs while the descriptors of the
    other are computed (measured on 2 cores: two concurrent runs of ONNX
    Runtime's int8 trunk take 9 % less time than the same runs one after the
    other, and the Python side of one patch overlaps the other's network).
    """
    return 2 if detector.runtime_device == "cpu" and (os.cpu_count() or 1) >= 2 else 1


#: What each prior is, in the fine stage's progress bars.
_PRIOR_WORDS = {"coarse": "the coarse model", "identity": "the identity (images as aligned)"}


def _bar_label(prior: str, round_: int) -> str:
    """The label of a fine-stage progress bar: which image's patches, around which prior."""
    label = f"fine stage, image-1 patches around {_PRIOR_WORDS[prior]}"
    return label if round_ == 0 else f"{label}, guided round {round_}"


def _progress_bar(progress: bool | None):
    """A tqdm wrapper over patches, or None (``progress`` None: when stderr is a terminal)."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None

    def wrap(items, description):
        return tqdm(items, desc=description, unit="patch", leave=False)

    return wrap
