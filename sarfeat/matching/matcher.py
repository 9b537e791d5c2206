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

import numpy as np
from skimage.transform import AffineTransform
from tqdm.auto import tqdm

from ..descriptors import MultiDescriptorExtractor
from ..detector import SARR2D2Detector
from ..network import R2D2Net
from ..preprocess import ScaledImage, check_image, normalize_sar, sar_scaling
from ..weights import resolve_weights
from .dense import DenseStructuralMatcher, parse_modality
from .coarse import CoarseSearch, CoarseSettings, Hypothesis, estimate_turns
from .fine import FineResult, FineSettings, FineStage
from .geometry import apply_matrix, deviation, downsample, overlap_box, plausible_matrices
from .subpixel import refine_result
from .validation import check_matcher_parameters

__all__ = ["CoarseFineMatcher", "MATCHER_SETS"]

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

#: Pyramid of the coarse detection: levels sqrt(2) apart from full size to half of it
#: (three levels; relative scales from 1/2 to 2 between the images are matched).
_COARSE_SCALE_FACTOR = 2 ** 0.5

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
        structure maps by :class:`~sarfeat.matching.dense.DenseStructuralMatcher`
        (its global turn and scale search, its template placement and RANSAC),
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
        self.modality = modality
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
        self.subpixel = subpixel
        self.select_model = select_model
        self.rotations = tuple(rotations)
        self.angle_step = angle_step
        self.refine_angle = refine_angle
        self.estimated_turns = estimated_turns
        self.strong_inliers = strong_inliers
        self.min_coarse_inliers = min_coarse_inliers
        self.min_fine_inliers = min_fine_inliers
        self.identity_prior = identity_prior
        self.max_scale_change = max_scale_change
        self.descriptor_names = tuple(descriptors)
        self.coarse_keypoints = coarse_keypoints
        self.fine_keypoints = fine_keypoints
        self.fine_min_scale = fine_min_scale
        self.max_fine_patches = max_fine_patches
        self.max_trials = max_trials
        self.rng = rng
        self.input_kind = input_kind
        self.nodata = nodata
        self.progress = progress
        self.detector_options = detector_options
        self._net = None
        self._net_key = None
        self._detectors: dict = {}
        self._reset()
        check_matcher_parameters(self)
        parse_modality(modality)  # a bad modality is refused at once

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
        self._stage = self._identity = self._identity_final = None

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
        if parse_modality(self.modality) != ("sar", "sar"):
            return self._match_structure(image1, image2)
        started = time.perf_counter()
        # independent streams: how many angles the coarse stage tries does not change the
        # fine stage's sampling; rng=None is a fixed seed, as OpenCV's RANSAC has
        seed = _DEFAULT_SEED if self.rng is None else self.rng
        streams = [np.random.default_rng(s)
                   for s in np.random.default_rng(seed).integers(2 ** 63, size=3)]
        coarse_rng, fine_rng, identity_rng = streams
        image1 = self._normalized(image1, "image1")
        image2 = self._normalized(image2, "image2")
        self.diagnostics.update(failure=None)
        hypothesis = self._coarse(
            image1, image2, coarse_rng,
            settled=lambda: self._identity_settles(image1, image2, identity_rng))
        self.diagnostics["seconds_coarse"] = time.perf_counter() - started
        result = self._fine(image1, image2, hypothesis, fine_rng, identity_rng)
        if result.model is not None and self.subpixel:
            refine_result(image1, image2, result, self.model_type, self.fine_threshold,
                          self.min_fine_inliers)
        self.keypoints1, self.keypoints2 = result.keypoints1, result.keypoints2
        self.matches, self.votes, self.inliers = result.matches, result.votes, result.inliers
        self.model = result.model
        if self.model is None:  # as documented: no model, no verified match
            self.inliers = np.zeros(len(self.matches), dtype=bool)
        if result.prior == "identity":
            self.coarse_model = AffineTransform()
            self.coarse_angle = 0.0
        self.diagnostics.update(result.diagnostics, prior=result.prior, failure=result.failure)
        elapsed = time.perf_counter() - started
        self.diagnostics.update(seconds_fine=elapsed - self.diagnostics["seconds_coarse"],
                                seconds=elapsed)
        return self.matches[self.inliers]

    def _match_structure(self, image1, image2) -> np.ndarray:
        """A pair with an optical image: the dense structural matcher, its results copied."""
        dense = DenseStructuralMatcher(
            self.modality, model=self.model_type, max_scale_change=self.max_scale_change,
            input_kind=self.input_kind, rng=self.rng)
        for which, image in (("image1", image1), ("image2", image2)):
            try:
                check_image(image)
            except ValueError as error:
                raise ValueError(f"{which}: {error}") from None
        matches = dense.match(image1, image2)
        for name in ("keypoints1", "keypoints2", "matches", "votes", "inliers", "model",
                     "coarse_model", "coarse_angle"):
            setattr(self, name, getattr(dense, name))
        self.diagnostics = dict(dense.diagnostics, prior="coarse",
                                modality="-".join(parse_modality(self.modality)))
        self.diagnostics.setdefault("failure", None)
        return matches

    # -- checks and set-up ------------------------------------------------------------------------

    def _check_parameters(self) -> None:
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
        if self._net is None or self._net_key != key:
            trust = self.detector_options.get("trust", False)
            self._net = resolve_weights(self.weights, trust=trust)
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
        """The matcher's one detector on the normalised images, set up for a stage.

        Both stages share it (its pyramid and keypoint budget are switched per
        stage), so one network runtime, with its working memory, serves the whole
        match; it is kept between calls (the network stays ready).
        """
        stage = {**_PYRAMID_DEFAULTS, **stage}  # a stage sets every one of these
        options = self.detector_settings(**stage)
        net = self._network()
        shared = {k: v for k, v in options.items() if k not in stage}
        key = (id(net), repr(sorted(shared.items())))
        if key not in self._detectors:
            self._detectors = {key: SARR2D2Detector(net, input_kind="display", **options)}
        detector = self._detectors[key]
        for name, value in stage.items():
            setattr(detector, name, value)
        return detector

    def _plausible(self, matrices: np.ndarray) -> np.ndarray:
        """Which of (B, 3, 3) matrices keep orientation and a scale within max_scale_change."""
        return plausible_matrices(matrices, self.max_scale_change)

    # -- coarse stage -----------------------------------------------------------------------------

    def _coarse(self, image1: np.ndarray, image2: np.ndarray, rng, settled=None) -> Hypothesis:
        """Rotation search and coarse model; fills the coarse attributes.

        ``settled`` is :meth:`CoarseSearch.run`'s: asked before the intermediate turns.
        """
        diagnostics = self.diagnostics
        factor = min(1.0, self.coarse_size / max(max(image1.shape), max(image2.shape)))
        # each image normalised whole only for its downsampling, one at a time
        small1, scale1 = downsample(image1, factor)
        small2, scale2 = downsample(image2, factor)
        coarse_stage = dict(
            max_keypoints=self.coarse_keypoints, max_size=self.coarse_size,
            min_size=max(16, self.coarse_size // 2), scale_factor=_COARSE_SCALE_FACTOR,
        )
        # the detector is shared with the fine stage, which may run in between (the identity
        # prior, asked by ``settled``): each coarse detection sets the coarse pyramid again.
        # On a CPU, upright image 2 (the first turn tried) is described in a second thread
        # while image 1 is
        copy = self._detector(**coarse_stage).thread_copy()
        upright_first = self.rotations[0] % 360 == 0 and _describing_workers(copy) > 1
        with ThreadPoolExecutor(1) as pool:
            prefetched = [pool.submit(_coarse_features, copy, small2, "image2", True)] \
                if upright_first else []
            keypoints1, descriptors1 = _coarse_features(self._detector(**coarse_stage), small1,
                                                        "image1", check=True)
        self.coarse_keypoints1 = apply_matrix(scale1, keypoints1[:, ::-1])[:, ::-1]
        diagnostics["coarse_factor"] = factor
        settings = CoarseSettings(
            model=self.model_type, ratio=self.ratio, ransac_threshold=self.ransac_threshold,
            max_trials=self.max_trials, rotations=self.rotations, angle_step=self.angle_step,
            refine_angle=self.refine_angle, strong_inliers=self.strong_inliers,
            min_coarse_inliers=self.min_coarse_inliers, estimated_turns=self.estimated_turns,
        )
        def describe(image, check):
            if prefetched and image is small2:
                return prefetched.pop().result()
            return _coarse_features(self._detector(**coarse_stage), image, "image2", check)

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
        self.coarse_keypoints2 = best.coarse_keypoints2
        self.coarse_matches = best.coarse_matches
        self.coarse_inliers = best.coarse_inliers
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
            self.coarse_model = AffineTransform(matrix=best.matrix / best.matrix[2, 2])
            self.coarse_angle = best.angle
        return best

    # -- fine stage -------------------------------------------------------------------------------

    def _fine_stage(self) -> FineStage:
        settings = FineSettings(
            descriptors=self.descriptor_names, model=self.model_type, patch_size=self.patch_size,
            radius=self.radius, fine_threshold=self.fine_threshold,
            fine_keypoints=self.fine_keypoints, vote_threshold=self.vote_threshold,
            local_ratio=self.local_ratio, final_radius=self.final_radius,
            select_model=self.select_model, min_fine_inliers=self.min_fine_inliers,
            max_trials=self.max_trials, max_patches=self.max_fine_patches,
        )
        fine_stage = dict(max_keypoints=self.fine_keypoints, min_size=1, max_size=1 << 30,
                          min_scale=self.fine_min_scale, max_scale=1.0)
        # each thread describes with its own copy of the matcher's detector, set to the fine
        # pyramid once (the copies share the network runtime)
        template = self._detector(**fine_stage).thread_copy()
        local = threading.local()

        def describe(patch, budget):
            if not hasattr(local, "extractor"):
                local.extractor = MultiDescriptorExtractor(detector=template.thread_copy(),
                                                           descriptors=self.descriptor_names)
            extractor = local.extractor
            extractor.detector.max_keypoints = budget
            extractor.detect_and_extract(patch)
            return extractor.keypoints, extractor.scales, extractor.descriptors, extractor.masks

        return FineStage(settings, describe, self._plausible, _progress_bar(self.progress),
                         workers=_describing_workers(template))

    def _stage_of_match(self) -> FineStage:
        """The fine stage of the current match (one, so that its described patches are shared)."""
        if self._stage is None:
            self._stage = self._fine_stage()
        return self._stage

    def _identity_attempt(self, image1, image2, rng) -> FineResult:
        """The fine stage around the identity prior, run once per match."""
        if self._identity is None:
            self._identity = self._guided(self._stage_of_match(), image1, image2, np.eye(3), rng)
            self._identity.prior = "identity"
        return self._identity

    def _identity_usable(self, image1, image2) -> bool:
        return self.identity_prior and \
            overlap_box(np.eye(3), image1.shape, image2.shape) is not None

    def _identity_settles(self, image1, image2, rng) -> bool:
        """Whether the identity prior registers the pair well enough to stop turning image 2.

        Asked by the coarse search before its intermediate turns, when no right
        angle gave a strong hypothesis: many products are co-registered already,
        and a fine model around the identity with at least twice
        ``min_fine_inliers`` inliers (after the last local search) makes a turn
        of 30 degrees or more implausible.
        """
        if not self._identity_usable(image1, image2):
            return False
        attempt = self._identity_attempt(image1, image2, rng)
        if attempt.model is None:
            return False
        if self.final_radius is not None:  # as _fine would finish it (no new network run)
            attempt = self._final_search(self._stage_of_match(), attempt)
        return attempt.inliers.sum() >= _SETTLING_FACTOR * self.min_fine_inliers

    def _final_search(self, stage: FineStage, result: FineResult) -> FineResult:
        """The last local search around ``result``; the identity attempt's runs once a match."""
        if result is not self._identity:
            return stage.final_search(result)
        if self._identity_final is None:
            self._identity_final = stage.final_search(result)
        return self._identity_final

    def _fine(self, image1, image2, hypothesis: Hypothesis, rng, identity_rng) -> FineResult:
        """The fine stage around each prior, guided rounds, and the last local search."""
        stage = self._stage_of_match()
        priors = [("coarse", hypothesis.matrix)] if hypothesis.matrix is not None else []
        if not hypothesis.strong and self._identity_usable(image1, image2):
            priors.append(("identity", np.eye(3)))
        failure = self.diagnostics.get("failure")
        reasons = [f"coarse stage: {failure}"] if failure else []
        result = FineResult.empty(None, self.descriptor_names)
        for name, matrix in priors:
            if name == "identity":
                attempt = self._identity_attempt(image1, image2, identity_rng)
            else:
                attempt = self._guided(stage, image1, image2, matrix, rng)
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
            result = self._final_search(stage, result)
        result.diagnostics.update(fine_patches_used=stage.diagnostics.get("fine_patches_used"),
                                  fine_patches_total=stage.diagnostics.get("fine_patches_total"),
                                  patches_described=stage.diagnostics["patches_described"],
                                  patches_reused=stage.diagnostics["patches_reused"],
                                  patches_redescribed=stage.store.redescribed)
        return result


    def _guided(self, stage: FineStage, image1, image2, matrix, rng) -> FineResult:
        """The fine stage around ``matrix``, then again around its own model while it strays.

        When the fine model moves part of the overlap by more than half the search
        radius from the prior, the local search was off-centre there; the search runs
        again around the fine model and is kept when it has more inliers.
        """
        attempt = stage.run(image1, image2, matrix, rng)
        for _ in range(_GUIDED_ROUNDS):
            if attempt.model is None or deviation(
                attempt.model.params, matrix, image1.shape, image2.shape
            ) <= self.radius / 2:
                break
            matrix = attempt.model.params
            again = stage.run(image1, image2, matrix, rng)
            gained = again.inliers.sum() if again.model is not None else 0
            if gained < _GUIDED_GAIN * attempt.inliers.sum():
                break
            again.diagnostics["guided_rounds"] = attempt.diagnostics.get("guided_rounds", 0) + 1
            attempt = again
        return attempt


def _coarse_features(detector: SARR2D2Detector, image: np.ndarray, which: str,
                     check: bool = False):
    """Keypoints and descriptors of a coarse image; ``check`` refuses a featureless one."""
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


def _describing_workers(detector: SARR2D2Detector) -> int:
    """Fine patches described at once: two on a CPU with two cores or more, else one.

    On the CPU the network of one patch then runs while the descriptors of the
    other are computed (measured on 2 cores: two concurrent runs of ONNX
    Runtime's int8 trunk take 9 % less time than the same runs one after the
    other, and the Python side of one patch overlaps the other's network).
    """
    return 2 if detector.runtime_device == "cpu" and (os.cpu_count() or 1) >= 2 else 1


def _progress_bar(progress: bool | None):
    """A tqdm wrapper over patches, or None (``progress`` None: when stderr is a terminal)."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None

    def wrap(items, description):
        return tqdm(items, desc=description, unit="patch", leave=False)

    return wrap
