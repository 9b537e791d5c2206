"""The orchestrator of the coarse-to-fine matcher: :class:`CoarseFineMatcher`.

The method is described in the documentation of :mod:`sarfeat.matching`; its
stages live in :mod:`~sarfeat.matching.coarse`, :mod:`~sarfeat.matching.fine`,
``models`` and :mod:`~sarfeat.matching.geometry`;
each match drives them through :mod:`~sarfeat.matching.coarse_driver` and
:mod:`~sarfeat.matching.fine_driver`.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from functools import partial

import numpy as np

from ..detector import SARR2D2Detector
from ..handover import Handover, handed_on, taken
from ..tensor_input import tensor_values
from .coarse import CoarseSettings
from .coarse_driver import coarse_stage, turn_detector_options
from .dense import checked_scales, dense_matcher_for, parse_modality, structure_result
from .fine import FineSettings
from .fine_driver import FineDriver
from .geometry import plausible_matrices
from .inputs import normalized_input
from .options import (ATTRIBUTE_OF, MATCHER_SETS, detector_as_options, settings_as_keywords,
                      stage_settings)
from .result import RESULT_FIELDS, MatchResult
from .stage_detectors import StageDetectors, stage_options
from .subpixel import refine_result
from .validation import check_matcher_parameters, sequence_parameters, warn_scales_beyond

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from ..network import R2D2Net

__all__ = ["CoarseFineMatcher", "MatchResult", "MATCHER_SETS"]

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
        The network, as for :class:`~sarfeat.SARR2D2Detector` (None: its default).
    detector : SARR2D2Detector, optional
        The detector whose settings (weights, runtime, thresholds,
        ``upright``...) both stages use, as they are set; the matcher sets each
        stage's pyramid, budget and input (``MATCHER_SETS``) itself. Not
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
        RANSAC residual of the coarse stage, in coarse pixels (5 in the paper's code).
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
        residual shift measured by sub-pixel cross-correlation (windows whose
        two sides hardly correlate left out); the model is refitted to those
        correspondences when they fit it more tightly than the keypoint
        matches did (``sarfeat.matching.subpixel``). Keypoint
        matches locate a feature to about 1.5 px on speckled SAR; the
        correlated ones to a few tenths.
    select_model : bool
        Choose, among the models nested in ``model`` (translation, rigid
        motion, similarity, affine, homography), the one the matches support
        best by Torr's GRIC (``sarfeat.matching.models``); ``model`` stays the
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
        (``estimate_turns``) are tried right after
        the first of ``rotations``, when that is not strong; before them, the
        turn that the rotation-invariant detector of ``weights``
        (``upright=False``, that release's maps and descriptor) gives
        (``invariant_turn``: polar descriptors on
        both coarse images, a RANSAC similarity on their matches, 5 inliers at
        least; ``diagnostics['invariant_turn']``, ``['turn_network']``). 0 never estimates.
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
        When the coarse stage has no strong hypothesis, or the fine stage
        finds no model around it, also run the fine stage around the identity
        (images already roughly aligned) and keep the result with more inliers.
    max_scale_change : float
        A model whose scale lies outside ``[1 / max_scale_change,
        max_scale_change]``, or that mirrors the image, is rejected as
        implausible. The coarse pyramid reaches down to ``coarse_size /
        max_scale_change`` pixels, so that a pair zoomed that much still
        finds levels that meet. The default, 2, keeps the coarse stage of
        same-scale pairs as it was; pass 4 for larger zooms (a deeper
        pyramid: on the bundled example 0.27 px against 0.38 px). Measured
        with 4: development pair l with image 2 zoomed 2x registers, pair m
        with image 2 reduced 3 and 4 times registers, but image 2 enlarged 3
        times is refused (the coarse images are sized by the larger one).
    descriptors : sequence of str or str
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
        A pixel value marking no-data besides NaN, compared as NumPy compares
        (:func:`sarfeat.preprocess.valid_mask`).
    progress : bool, optional
        Show a tqdm progress bar over the fine stage's patches (on standard
        error; for a pair with an optical image, over the dense matcher's steps).
        None: only when standard error is a terminal; False: quiet.
    **detector_options
        Other :class:`~sarfeat.SARR2D2Detector` parameters (``device``,
        ``precision``, ``reliability_threshold``, ``repeatability_threshold``,
        ``tile_size``, ``trust``, ...). The keypoint budgets and pyramids are
        the matcher's (``coarse_keypoints``, ``fine_keypoints``,
        ``coarse_size``, ``fine_min_scale``): the detector's ``max_keypoints``
        (``n_keypoints``), ``min_size``, ``max_size``, ``min_scale``,
        ``max_scale`` and ``scale_factor`` (``downscale``) are refused here
        (ValueError), as they would be ignored. With ``upright=False`` the
        stages detect and describe exactly as ``SARR2D2Detector(weights,
        upright=False, ...)`` does (a release's distilled maps and polar
        weighting included); on the development pairs
        (``benchmarks/eval_registration.py``'s) sarfeat-sar-v2 so registers 5
        of 7 (pair j refused), and 6 of 7 with ``turned_maps='average'``, as
        the upright default does.
    modality : str or (str, str)
        What the two images are: ``'sar'`` (both SAR, the default: the method
        above), ``'optical-sar'`` / ``'sar-optical'`` (image 1 optical and
        image 2 SAR, or the other way round), ``'optical'`` (two optical
        images), or a pair of ``'optical'`` and ``'sar'``. A pair with an
        optical image is matched on dense
        structure maps by :class:`~sarfeat.matching.dense.DenseStructuralMatcher`,
        which fills the same attributes; the network is not used. Of the
        parameters above it then follows ``model``, ``max_scale_change``,
        ``input_kind``, ``rng`` and, with ``angle_step=None``, ``rotations``:
        the only turns its global search tries (``rotations=(0,),
        angle_step=None`` for upright, georeferenced pairs); by default it
        searches turns within +-90 degrees. The keypoint matcher's other
        parameters (``weights``, ``detector``, detector options, ``patch_size``,
        ``descriptors``, ``model='projective'``, ...) would be ignored: given
        other than their defaults with an optical image they are refused
        (ValueError), as ``dense_scales`` and ``dense_model`` are with two SAR
        images.
    dense_scales : sequence of float, optional
        Scales of image 2 the dense matcher searches (an optical pair); None:
        0.59-2, :data:`~sarfeat.matching.dense.DENSE_SCALES` (0.52-2.3 refined);
        :data:`~sarfeat.matching.dense.WIDE_SCALES` adds 0.5 at about 1.2 times the
        time; none beyond ``max_scale_change`` (a UserWarning names those given beyond it).
    dense_model : {'similarity', 'affine'}
        For a pair with an optical image, the dense matcher's ``model`` ('affine' tries a
        stretch on every pair, 1.1 CPU s more; 'similarity' where the templates drift,
        ``stretch_check``); ``model='similarity'`` rules: never a stretch.
    border_fill : bool
        For a pair with an optical image: whether a constant fill around an
        image turned or scaled onto its canvas (all four corners of one value)
        is no-data (:func:`sarfeat.preprocess.border_fill`; the dense matcher's
        ``diagnostics['border_fill']`` gives each image's share). False is refused for two
        SAR images, whose exact zeros connected to the border are always no-data.

    Attributes
    ----------
    keypoints1, keypoints2, matches, votes, inliers, model : object
        The last match's fine stage: keypoints (row, col) at full resolution in each
        image's keypoint type, the voted index pairs, their votes, which of them agree
        with the fine model (``match`` returns ``matches[inliers]``) and that model (None
        when none was found), each documented as the field of the same name of
        :class:`~sarfeat.matching.MatchResult` (say
        :attr:`~sarfeat.matching.MatchResult.keypoints1`).
    coarse_model, coarse_angle, coarse_keypoints1, coarse_keypoints2 : object
        The coarse stage's prior (the identity when the identity prior won), the turn
        of image 2 it was found at, and its keypoints, as
        :attr:`~sarfeat.matching.MatchResult.coarse_model` and the fields after it.
    coarse_matches, coarse_inliers : ndarray or None
        Its mutual nearest neighbours, and which agree with the coarse model.
    diagnostics : dict
        Counts, residuals, timings and ``failure`` of the last match, as
        :attr:`~sarfeat.matching.MatchResult.diagnostics` lists them.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat import CoarseFineMatcher
    >>> from sarfeat.data import load_sar_scene
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> matcher = CoarseFineMatcher(rng=0)  # sarfeat's bundled SAR weights
    >>> matches = matcher.match(scene[..., 0], scene[..., 1])
    >>> matches.shape[1], matches.dtype.kind  # (Q, 2) indices, as match_descriptors gives
    (2, 'i')
    >>> bool(len(matches) >= matcher.min_fine_inliers)
    True
    >>> model = matcher.model.params  # image-1 (x, y) -> image-2 (x, y)
    >>> bool(np.allclose(model, np.eye(3), atol=1))
    True
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
        max_scale_change: float = 2.0,
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
        dense_scales: tuple[float, ...] | None = None,
        dense_model: str = "similarity",
        border_fill: bool = True,
        **detector_options,
    ) -> None:
        parse_modality(modality)  # a bad modality (or scale) is refused at once
        self.modality = modality
        self.dense_scales = None if dense_scales is None else checked_scales(dense_scales)
        self.dense_model = dense_model
        self.border_fill = border_fill
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
        flat.update(settings_as_keywords(flat, _KEYWORD_DEFAULTS, coarse, fine))
        if detector is not None:
            weights, detector_options = detector_as_options(detector, weights, detector_options)
        self.weights = weights
        for name, value in flat.items():  # attributes of the keywords' names, but two
            setattr(self, ATTRIBUTE_OF.get(name, name), value)
        self.rotations, self.descriptor_names = sequence_parameters(self.rotations,
                                                                    self.descriptor_names)
        self.subpixel, self.identity_prior = subpixel, identity_prior
        self.rng, self.input_kind, self.nodata, self.progress = rng, input_kind, nodata, progress
        self.detector_options = detector_options
        # shared by every call and thread: the network and one detector per setting
        self._lock = threading.Lock()
        self._stages = StageDetectors(self._lock)
        self._fill(MatchResult.empty())
        check_matcher_parameters(self)
        warn_scales_beyond(self)

    def __getstate__(self) -> dict:
        """Parameters and results, not the lock nor the loaded network (for pickle and copy)."""
        state = dict(self.__dict__)
        state.update(_lock=None, _stages=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._stages = StageDetectors(self._lock)

    # -- the stages' settings ---------------------------------------------------------------------

    @property
    def coarse_settings(self) -> CoarseSettings:
        """The coarse stage's parameters, as the matcher's attributes give them."""
        return stage_settings(CoarseSettings, self)

    @property
    def fine_settings(self) -> FineSettings:
        """The fine stage's parameters, as the matcher's attributes give them."""
        return stage_settings(FineSettings, self)

    # -- public API -------------------------------------------------------------------------------

    def _fill(self, result: MatchResult) -> None:
        """Copy a result onto the attributes ``match`` documents."""
        for name in RESULT_FIELDS:
            setattr(self, name, getattr(result, name))

    def match(self, image1, image2) -> np.ndarray:
        """Match two images; fills the attributes and returns the verified matches.

        Parameters
        ----------
        image1, image2 : (H, W) array_like
            SAR images (uint8/uint16 quick-looks, float intensity, amplitude or
            dB, complex); NaN marks no-data. With ``modality``, an optical image
            may also be (H, W, 3) RGB or (H, W, 4) RGBA (matched on its gray
            values, :func:`sarfeat.structural.optical_gray`).

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

    def match_result(self, image1, image2, *, progress: bool | None = None) -> MatchResult:
        """Match two images and return what was found, leaving the matcher as it is.

        As :meth:`match`, but the results come back as a ``MatchResult``
        (the attributes :meth:`match` fills) and nothing is stored on the
        matcher, so that threads can share it. ``progress`` overrides the
        matcher's for this call only. An image may come in a
        :class:`sarfeat.handover.Handover`: a pair with an optical image lets it go
        once its working copy is made (the caller holds the box, not the image).
        """
        self.check_parameters()
        image1, image2 = handed_on(image1, tensor_values), handed_on(image2, tensor_values)
        if parse_modality(self.modality) != ("sar", "sar"):  # the dense structural matcher's
            # an image handed over is let go while matching: its dtype gives its keypoints'
            kinds = [np.empty(0, image.dtype) if isinstance(image, Handover) else image
                     for image in (image1, image2)]
            found = structure_result(dense_matcher_for(self, progress), image1, image2)
            return found.in_keypoint_dtypes(*kinds)
        image1, image2 = taken(image1), taken(image2)  # the keypoint matcher reads them late
        inputs = image1, image2  # their dtypes give the keypoints' (in_keypoint_dtypes)
        started = time.perf_counter()
        # independent streams: how many angles the coarse stage tries does not change the
        # fine stage's sampling; rng=None is a fixed seed, as OpenCV's RANSAC has
        seed = _DEFAULT_SEED if self.rng is None else self.rng
        with self._lock:  # a Generator given as rng is drawn from by one call at a time
            seeds = np.random.default_rng(seed).integers(2 ** 63, size=3)
        coarse_rng, fine_rng, identity_rng = (np.random.default_rng(s) for s in seeds)
        image1 = self._normalized(image1, "image1")
        image2 = self._normalized(image2, "image2")
        found = MatchResult()
        found.diagnostics.update(failure=None)
        # this match's own fine stage, which the coarse search may ask about the identity
        fine = self.fine_settings
        plausible = partial(plausible_matrices, max_scale_change=self.max_scale_change)
        driver = FineDriver(fine, self._detector(**fine.detector_settings()), plausible,
                            self.identity_prior, self.progress if progress is None else progress)
        coarse = self.coarse_settings
        hypothesis = coarse_stage(
            found, coarse, self._detector(**coarse.detector_settings()), plausible,
            image1, image2, coarse_rng,
            settled=lambda: driver.identity_settles(image1, image2, identity_rng),
            turn_detector=partial(self._turn_detector, coarse))
        found.diagnostics["seconds_coarse"] = time.perf_counter() - started
        result = driver.run(image1, image2, hypothesis, fine_rng, identity_rng,
                            found.diagnostics.get("failure"))
        if result.model is not None and self.subpixel:
            refine_result(image1, image2, result, self.model_type, self.fine_threshold,
                          self.min_fine_inliers)
        found.take_fine(result)
        found.in_keypoint_dtypes(*inputs)
        elapsed = time.perf_counter() - started
        found.diagnostics.update(seconds_fine=elapsed - found.diagnostics["seconds_coarse"],
                                 seconds=elapsed)
        return found

    # -- checks and set-up ------------------------------------------------------------------------

    def check_parameters(self) -> None:
        """Check every parameter (as ``__init__`` does): ValueError if one is wrong."""
        check_matcher_parameters(self)

    def _normalized(self, image, which: str):
        """The image in [0, 1] as float32, NaN where invalid (:func:`normalized_input`)."""
        return normalized_input(image, self.input_kind, self.nodata, which)

    def detector_settings(self, **stage) -> dict:
        """The options of the matcher's detectors: the one place they are built.

        The user's ``detector_options`` (less those the matcher sets itself,
        ``MATCHER_SETS``), then the stage's own pyramid and budget. The
        detectors run upright unless ``detector_options`` says otherwise: the
        matcher's own rotation search turns the images, and the network's R2D2
        descriptor is what its votes are built on.
        """
        return stage_options(self.detector_options, stage)

    def _detector(self, **stage) -> SARR2D2Detector:
        """A detector of its own for a stage (``stage``: its pyramid and budget), a copy of
        one kept (:meth:`~sarfeat.matching.stage_detectors.StageDetectors.stage_detector`)."""
        return self._stages.stage_detector(self.weights, self.detector_options, stage)

    def _turn_detector(self, coarse) -> SARR2D2Detector | None:
        """A copy of the detector that estimates the turn (``turn_detector_options``, on
        the matcher's ``weights``), kept."""
        return self._stages.turn_detector(self.weights, turn_detector_options(
            self.detector_settings(**coarse.detector_settings()), coarse.estimated_turns))


#: The defaults of the flat keywords, which a settings object may replace.
_KEYWORD_DEFAULTS = {name: parameter.default for name, parameter in
                     inspect.signature(CoarseFineMatcher).parameters.items()}
