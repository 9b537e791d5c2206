"""Optical-SAR matching on dense feature maps: :class:`DenseStructuralMatcher`.

Keypoint descriptors rarely agree across a change of modality; dense maps of
where structure is and which way it runs do, when they are compared densely:
gradient orientation histograms (:func:`sarfeat.structural.gradient_maps`, the
default) or log-Gabor orientation energy
(:func:`sarfeat.structural.structure_maps`). The matcher works in five steps,
each on those maps:

1. **Global search** (coarse images, longest side ``coarse_size``): image 2 is
   turned by every ``angle_step`` degrees and scaled by each of ``scales``, its
   maps are computed, and each (turn, scale) is correlated with image 1's maps
   over all shifts at once (a masked, multi-channel normalised
   cross-correlation in the Fourier domain, the turned image cut to its valid
   pixels first; shifts leaving less than ``min_overlap`` of an image in the
   overlap are not considered). The best peaks, a few turns or scales apart,
   are the hypotheses.
2. **Refinement** (longest side ``refine_size``): around each hypothesis,
   neighbouring turns and scales are correlated again at shifts near its own,
   and around each of those again with half the steps; the best (turn, scale,
   shift) is the prior. (Steps 1 and 2:
   :class:`~sarfeat.matching.dense_search.DenseSearch`.)
3. **Whole overlap** (longest side ``fine_size``): image 2 is resampled onto
   image 1's grid through the prior, turned and scaled a little about the
   centre (three levels of smaller steps), and correlated with image 1 over the
   whole overlap; the best peak, with a sub-pixel shift, polishes the prior
   into the transform returned: a similarity made from all the structure at
   once.
4. **Templates, the check**: templates of image 1 on a regular grid are placed
   in image 2, resampled through that transform, within ``search_radius``
   pixels by the same normalised correlation; each placement is an
   independent local estimate, and those within ``fine_threshold`` of the
   transform are its inliers (the tie points). A model fitted to the templates
   themselves is not returned: on the 3MOS tuning pairs their affine fits
   strayed 4-14 px where the whole overlap was within 3 px. But where their
   affine fit strays from the similarity, the stretched polish is tried
   (``stretch_check``, :mod:`~sarfeat.matching.stretch_check`).
   When image 1 is smaller than ``fine_size`` and the prior puts image 2's
   pixels more than 1.25 times finer (a small optical image against a SAR
   one), steps 3 and 4 run the other way round, on image 2's grid with its
   templates, and their results are turned back (``diagnostics
   ['fine_on_image2']``): image 1's few coarse templates decided too little.
5. **Full resolution** (images larger than ``fine_size``): the accepted
   transform is polished again over the whole overlap at each doubling of the
   working size up to image 1's own
   (:func:`~sarfeat.matching.dense_refine.refine_to_full`), so that its error
   is that of the image's pixels, not the fine stage's
   (``diagnostics['refined_size']`` and ``['refined_levels']``). Where that level
   is at least ``TIE_MIN_RATIO`` times the working size, the inliers' templates
   are then placed again there
   (:mod:`~sarfeat.matching.dense_ties`), so that the tie points and their
   residuals are those of the transform returned, not of the fine stage's
   placements scaled up (``diagnostics['ties_size']``, ``['ties_placed_again']``).

The matcher refuses rather than guesses (``model`` None,
``diagnostics['failure']`` says why) when the global search finds no turn and
scale that stands out (``min_coarse_score``), when the whole overlap correlates
weakly at the result (``min_verify_score``) or its peak does not stand out
(``min_verify_margin``), or when fewer than ``min_inliers`` templates or fewer
than ``min_inlier_ratio`` of them agree with it, or when the gray values' mutual
information peaks clearly elsewhere (``gray_check``). A constant image it refuses
before any search, ``diagnostics['failure']`` saying what :func:`sarfeat.register` says
of it (:func:`~sarfeat.image_checks.unusable_reason`); a refusal of an image that register
would refuse otherwise (mostly no-data) is led by register's words.

The candidates of steps 1, 2, 3 and 5 (turns and scales, neighbours, polish
candidates) do not depend on one another and run on threads
(``dense_threads``: the count given to
:func:`sarfeat.set_dense_threads`, else ``OMP_NUM_THREADS`` when set, else
every CPU the process may use); the answer is the same, to the bit, at any
number of threads.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from skimage.transform import AffineTransform

from .._validation import check_bool, check_number
from ..handover import handed_on, shape_of, taken
from ..preprocess import check_nodata
from ..structural import FEATURES, optical_gray
from .dense_fine import DenseFineStage
from .dense_inputs import check_sizes, feature_maps, prepared_image
from .dense_options import (DENSE_SCALES, MIN_COARSE_SCORE, MIN_VERIFY_SCORE, STRETCH_CHECK,
                            WIDE_SCALES, checked_scales, checked_turns, parse_modality,
                            scales_within)
from .dense_progress import STEP_NAMES, StepBar
from .dense_result import structure_result
from .dense_search import DenseSearch
from .geometry import rotation_scale
from .models import MODELS

__all__ = ["DenseStructuralMatcher", "parse_modality", "checked_scales", "dense_matcher_for",
           "structure_result", "DENSE_SCALES", "WIDE_SCALES", "STRETCH_CHECK", "STAGES",
           "STEP_NAMES"]

#: What :class:`DenseStructuralMatcher` runs, in a line (the five steps above), for a console.
STAGES = ("dense structure maps, without the keypoint network: global search over turns and "
          "scales on downsampled images (masked correlation in the Fourier domain), refined, "
          "then the whole overlap correlated and templates placed to check it, polished up to "
          "full resolution")
#: A prior with image 2's pixels this much finer than a small image 1's (shorter than
#: ``fine_size``) runs the fine stage on image 2's grid.
_SWAP_SCALE = 1.25


class DenseStructuralMatcher(DenseFineStage):
    """Register an optical image and a SAR image (either way round), or two optical images,
    on structure maps.

    Parameters
    ----------
    modality : str or (str, str)
        The modalities of image 1 and image 2: ``'optical-sar'``,
        ``'sar-optical'``, ``'optical'`` (both optical) or a pair of ``'optical'`` /
        ``'sar'``.
    model : {'similarity', 'affine', 'projective'}
        The model returned: the whole-overlap similarity, or with ``'affine'``
        (``'projective'``: its affine part) that similarity stretched by
        ``[[1 + p, q], [q, 1 - p]]`` about image 1's centre where the whole
        overlap correlates ``AFFINE_GAIN`` times better
        (``diagnostics['selected_model']``, ``['affine_gain']``); the stretch
        more than doubles the fine stage's time (benchmarks/README.md, fourteenth session).
    coarse_size, refine_size, fine_size : int
        Longest side of the working images of the global search, the refinement
        and the fine stage (smaller images are used as they are). The global
        search brings the longer of the two images' sides to its size (image 2
        is downsampled by image 1's factor): an image 2 larger than image 1
        would otherwise make every turned canvas larger (a 129 px optical image
        against a 256 px SAR one took 7 CPU s instead of 4). The refinement
        resamples image 2 onto image 1's grid and keeps image 1's own size
        (brought down too, it registered one canvas tuning pair of 40 fewer). The
        thresholds were chosen with the fine stage at 256. A transform found
        on a larger image is then refined up to its full resolution.
    angle_step, max_angle : float
        The global search turns image 2 every ``angle_step`` degrees within
        +-``max_angle``.
    turns : sequence of float, optional
        The turns (degrees) the global search tries instead, for pairs whose
        orientation is known: ``(0,)`` for upright pairs (georeferenced images),
        which the refinement can then turn by up to 11.25 degrees (its steps,
        ``_REFINE_ANGLES`` of :mod:`~sarfeat.matching.dense_search`, 7.5 then
        3.75 degrees) and the polish by up to 3.5 more.
    scales : sequence of float
        Scales of image 2 relative to image 1 tried by the global search.
    min_overlap : float
        Least fraction of the smaller image that a shift must overlap.
    min_coarse_score : float, optional
        A best global correlation (overlap-weighted, at ``refine_size``) below
        this is a refusal: no turn and scale stands out. None: 0.11 for
        ``'gradient'`` features, 0.21 for ``'log-gabor'`` (chosen on the tuning
        split of the 3MOS development pairs: with gradient features, priors
        within 10 px scored 0.10-0.38 there, priors more than 20 px wrong
        0.08-0.18; those above 0.11 were refused by the checks of the fine
        stage).
    template : int
        Half side of the fine templates, in fine pixels (side ``2 * template + 1``).
    grid_step : int
        Spacing of the fine templates, in fine pixels.
    search_radius : int
        How far from the prior a template is looked for, in fine pixels.
    min_score : float
        Least normalised correlation of a placed template.
    fine_threshold : float
        Largest distance, in pixels of image 2, of a placed template from the
        transform for it to count as an inlier.
    min_inliers : int
        Fewer inliers than this is a refusal.
    min_inlier_ratio : float
        A smaller share of the placed templates agreeing with the transform is a
        refusal.
    min_verify_score : float, optional
        Least whole-overlap correlation (weighted by the overlap's share) at the
        polished model (the check, see
        the module documentation). None: 0.14 for ``'gradient'`` features
        (on the tuning split every transform more than 20 px wrong scored 0.127
        or less, those within 3 px 0.129 or more, 0.142 or more but two, which
        ``clear_peak`` accepts), 0.21 for ``'log-gabor'`` (not measured).
    min_verify_margin : float
        Least relative margin of that correlation peak over the best one more
        than 6 working pixels away.
    clear_peak : (float, float) or None
        A whole-overlap correlation below ``min_verify_score`` is accepted all
        the same when it is at least ``clear_peak[0]`` and its peak is at least
        ``clear_peak[1]`` times the best one more than 6 working pixels away (a
        peak that stands out is not chance). None: never. On the tuning split
        the wrong transforms that reached the check had peaks 1.10-1.35 times
        the next one; the two right ones between 0.12 and 0.14 had 1.6 and 1.8.
        The floor matters: a prior 184 px wrong (let through with no global
        threshold) had a peak 1.57 times the next one, at 0.083. Such a
        transform also needs twice ``min_inliers`` agreeing templates: on the
        canvas tuning pairs (a small optical image, few templates) two passed
        with 15 and 19 (170 and 5.9 px wrong), where the three right ones of the
        3MOS tuning split had 25-35.
    gray_check : (float, float) or None
        A transform is refused when the mutual information of the two images' gray
        values (:mod:`~sarfeat.matching.gray_check`, blind to the structure maps),
        measured with image 2 shifted by up to 6 fine pixels about it, peaks more than
        ``gray_check[0]`` fine pixels away (pixels of the fine stage's working image:
        image 1's own up to ``fine_size``, or image 2's when the fine stage runs on its
        grid; the transform is found, and checked, to that precision before the
        full-resolution refinement) at ``gray_check[1]`` nats or more
        (``diagnostics['gray_offset']``, ``['gray_information']``). None: never.
        Chosen on the 3MOS tuning pairs (both sets, 240): of the default search's
        answers it refused 2 of the 7 off (4.2 and 6.3 px) and none of the 138 within
        3 px; see benchmarks/README.md, fifteenth session.
    stretch_check : float or None
        With ``model='similarity'``, an accepted similarity whose placed templates'
        affine fit strays more than this many fine pixels from it
        (:mod:`~sarfeat.matching.stretch_check`, ``diagnostics['template_stretch']``)
        gives way to the stretched polish of ``model='affine'`` where that correlates
        ``AFFINE_GAIN`` times better and passes the checks. None: never.
    max_scale_change : float
        The global search tries no scale beyond this (or below its inverse).
    features : {'gradient', 'log-gabor'}
        The dense feature maps compared: gradient orientation histograms
        (:func:`~sarfeat.structural.gradient_maps`, the default: more right
        answers on the 3MOS tuning pairs, and faster) or log-Gabor orientation
        energy (:func:`~sarfeat.structural.structure_maps`).
    input_kind : str
        How the SAR image's values are read (:func:`sarfeat.normalize_sar`).
    nodata : float, optional
        Pixel value that marks no-data in either image (NaN and a masked array's
        mask always do).
    border_fill : bool
        Whether a constant fill around an image turned or scaled onto its canvas
        (all four corners of one value; :func:`sarfeat.preprocess.border_fill`)
        is no-data too (``diagnostics['border_fill']``: the share of each image's
        pixels it took). A GRD product's zero slice edges need ``nodata=0``: zeros
        connected to the border were tried as fill and cost right answers on tiles of
        8-bit levels, whose darkest (0) is calm water. On the 3MOS tuning tiles turned and
        scaled onto canvases with black corners, 16 pairs of 40 registered within 3 px with
        it and 14 without.
    rng : int or numpy.random.Generator, optional
        Accepted for the interface of :class:`~sarfeat.matching.CoarseFineMatcher`;
        the dense matcher has no random step.

    Attributes
    ----------
    model : skimage.transform.ProjectiveTransform or None
        Image-1 (x, y) -> image-2 (x, y); None when the pair was refused.
    keypoints1, keypoints2 : (N, 2) ndarray
        The template centres (row, col) of image 1 and where they were placed
        in image 2 (full-resolution pixels; an inlier's placement is that of the
        finest level the transform was refined to, where it could be placed there);
        ``matches`` pairs them one to one.
    matches, votes, inliers, coarse_model, coarse_angle, diagnostics : object
        As :class:`~sarfeat.matching.MatchResult` documents them (``votes`` holds the
        placement's correlation in hundredths; ``diagnostics['failure']`` says
        why a pair was refused, and ``['too_small']`` which images, if any, are too
        small for the fine stage's templates). The global search matches no points: its
        figure is ``diagnostics['coarse_score']`` (the best structure
        correlation), and ``['coarse_candidates']`` and ``['coarse_inliers']``
        are None; ``['fine_candidates']`` and ``['fine_inliers']`` count the
        templates placed and those that agree with the model.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.data import load_optical_sar_tile
    >>> from sarfeat.matching import DenseStructuralMatcher
    >>> optical, sar = load_optical_sar_tile()  # bundled 3MOS tile, co-registered
    >>> matcher = DenseStructuralMatcher("optical-sar", turns=(0,))  # an upright pair
    >>> matches = matcher.match(optical, sar)
    >>> matches.shape[1], bool(len(matches) > 20)  # (Q, 2) indices of keypoints1, keypoints2
    (2, True)
    >>> centre = matcher.model(np.array([[128.0, 128.0]]))  # image-1 (x, y) -> image-2 (x, y)
    >>> bool(np.allclose(centre, 128, atol=2))
    True
    """

    def __init__(self, modality="optical-sar", *, model: str = "similarity",
                 coarse_size: int = 128, refine_size: int = 128, fine_size: int = 256,
                 angle_step: float = 15.0, max_angle: float = 90.0, turns=None,
                 scales: tuple[float, ...] = DENSE_SCALES,
                 min_overlap: float = 0.35, min_coarse_score: float | None = None,
                 template: int = 24, grid_step: int = 16,
                 search_radius: int = 6, min_score: float = 0.15, fine_threshold: float = 2.0,
                 min_inliers: int = 12, min_inlier_ratio: float = 0.3,
                 min_verify_score: float | None = None, min_verify_margin: float = 0.1,
                 clear_peak: tuple[float, float] | None = (0.12, 1.5),
                 gray_check: tuple[float, float] | None = (4.0, 0.15),
                 stretch_check: float | None = STRETCH_CHECK,
                 max_scale_change: float = 4.0, features: str = "gradient",
                 input_kind: str = "auto", nodata: float | None = None,
                 border_fill: bool = True, rng=None) -> None:
        self.modality = parse_modality(modality)
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        self.features = features
        if model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
        self.model_type = model
        self.coarse_size = coarse_size
        self.refine_size = refine_size
        self.fine_size = fine_size
        self.angle_step = angle_step
        self.max_angle = max_angle
        self.turns = None if turns is None else checked_turns(turns)
        self.scales = checked_scales(scales)
        self.min_overlap = min_overlap
        self.min_coarse_score = (MIN_COARSE_SCORE[features] if min_coarse_score is None
                                 else min_coarse_score)
        self.template = template
        self.grid_step = grid_step
        self.search_radius = search_radius
        self.min_score = min_score
        self.fine_threshold = fine_threshold
        self.min_inliers = min_inliers
        self.min_inlier_ratio = min_inlier_ratio
        self.min_verify_score = (MIN_VERIFY_SCORE[features] if min_verify_score is None
                                 else min_verify_score)
        self.min_verify_margin = min_verify_margin
        self.clear_peak = None if clear_peak is None else tuple(clear_peak)
        self.gray_check = None if gray_check is None else tuple(gray_check)
        check_number("stretch_check", stretch_check, 0, optional=True)
        self.stretch_check = None if stretch_check is None else float(stretch_check)
        self.max_scale_change = max_scale_change
        self.input_kind = input_kind
        check_nodata(nodata)
        check_bool("border_fill", border_fill)
        self.nodata = nodata
        self.border_fill = border_fill
        self.rng = rng
        #: A tqdm bar over the steps (:data:`STEP_NAMES`) on stderr: True, False, or None
        #: (when stderr is a terminal); a large pair takes minutes.
        self.progress: bool | None = None
        self._reset()

    def _reset(self) -> None:
        self.model = self.coarse_model = self.coarse_angle = None
        self.keypoints1 = self.keypoints2 = np.empty((0, 2))
        self.matches = np.empty((0, 2), int)
        self.votes = np.empty(0, int)
        self.inliers = np.empty(0, bool)
        self.diagnostics: dict = {}

    # -- the three steps -------------------------------------------------------------------------

    def match(self, image1, image2) -> np.ndarray:
        """Match image 1 and image 2; fills the attributes, returns the inlier matches.

        Parameters
        ----------
        image1, image2 : (H, W) array_like or sarfeat.handover.Handover
            The images, of the modalities given by ``modality``; NaN is no-data. An
            optical image may be (H, W, 3) RGB or (H, W, 4) RGBA
            (:func:`sarfeat.structural.optical_gray`). One given in a Handover is taken
            out of it and let go once its working copy is made.

        Returns
        -------
        (Q, 2) ndarray of int
            ``matches[inliers]`` (empty when the pair is refused).
        """
        self._reset()
        self._check_sizes(shape_of(image1)[:2], shape_of(image2)[:2])
        # a colour optical image is read as register reads it (a zero alpha is no-data)
        image1, image2 = (handed_on(image, optical_gray) if role == "optical" else image
                          for image, role in zip((image1, image2), self.modality))
        started = time.perf_counter()
        steps = StepBar(self.progress)
        # one at a time: an image handed over is let go once prepared, before the other is
        prepared1, fill1, valid1, why1, flat1 = self._prepared(taken(image1), self.modality[0],
                                                               "image1")
        prepared2, fill2, valid2, why2, flat2 = self._prepared(taken(image2), self.modality[1],
                                                               "image2")
        del image1, image2  # their copies with no-data marked are freed; the callers' kept
        self.diagnostics.update(border_fill=[fill1, fill2], valid_fraction=[valid1, valid2])
        # what register would have refused either image for: said with a refusal
        said = "; ".join(f"{name} {why}" for name, why in (("image1", why1), ("image2", why2))
                         if why is not None)
        steps.advance()
        if flat1 or flat2:  # constant: no search matches it (it cost the whole search, 3 s)
            self.diagnostics.update(failure=said, seconds_coarse=time.perf_counter() - started)
        else:
            self._searched(prepared1, prepared2, said, steps, started)
        steps.close()
        if self.model is None:  # images too small for the fine stage's templates, which no
            # wider search helps
            self.diagnostics["too_small"] = self.too_small_for_templates(prepared1.shape,
                                                                         prepared2.shape)
        self.diagnostics["seconds"] = time.perf_counter() - started
        self.diagnostics["seconds_fine"] = (self.diagnostics["seconds"]
                                            - self.diagnostics["seconds_coarse"])
        return self.matches[self.inliers]

    def _searched(self, prepared1: np.ndarray, prepared2: np.ndarray, said: str,
                  steps: StepBar, started: float) -> None:
        """The global search, its refinement and the fine stage on the prepared images; a
        refusal is led by ``said``, what register would have refused them for."""
        search = DenseSearch(lambda image: self.feature_maps(image, "coarse"), self.min_overlap,
                             self.angles(), self.searched_scales(), self.coarse_size,
                             self.refine_size)
        try:
            hypotheses = search.hypotheses(prepared1, prepared2)
        except ValueError as error:  # a coarse map without a valid pixel
            if not said:
                raise
            raise ValueError(f"{said}: the global search cannot be made ({error})") from None
        self.diagnostics["coarse_hypotheses"] = search.described(hypotheses)
        steps.advance()
        prior, score = search.refine(prepared1, prepared2, hypotheses)
        steps.advance()
        self.coarse_model = AffineTransform(matrix=prior)
        self.coarse_angle = rotation_scale(prior)[0]
        # its figure is a correlation: it matches no points, so it has no matches to count
        self.diagnostics.update(coarse_score=score, coarse_candidates=None, coarse_inliers=None,
                                seconds_coarse=time.perf_counter() - started)
        if score >= self.min_coarse_score:
            if (max(prepared1.shape) < self.fine_size
                    and rotation_scale(prior)[1] > _SWAP_SCALE):
                self.fine_stage_swapped(prepared1, prepared2, prior)
            else:
                self.fine_stage(prepared1, prepared2, prior)
        else:
            self.diagnostics["failure"] = (
                f"no turn and scale stands out in the global search (best structure "
                f"correlation {score:.3f}, {self.min_coarse_score} needed): refused rather "
                "than guessed")
        if self.model is None and said:  # the refusal, led by what register would have said
            self.diagnostics["failure"] = f"{said}; {self.diagnostics['failure']}"

    def _prepared(self, image, role: str, name: str) -> tuple[np.ndarray, float, float,
                                                              str | None, bool]:
        """An image as the steps read it, its border fill's and valid shares, what would make
        :func:`sarfeat.register` refuse it (or None), and whether it is constant
        (:func:`~sarfeat.matching.dense_inputs.prepared_image`); its refusal says ``name``."""
        return prepared_image(image, role, name, self.nodata, self.border_fill,
                              self.input_kind)

    def _check_sizes(self, shape1, shape2) -> None:
        """Refuse images too small for the global search
        (:func:`~sarfeat.matching.dense_inputs.check_sizes`)."""
        check_sizes(self.coarse_size, shape1, shape2)

    def angles(self) -> np.ndarray:
        """Turns of image 2 tried by the global search: ``turns`` when given, otherwise
        every ``angle_step`` degrees within +-``max_angle``."""
        if self.turns is not None:
            return np.unique(np.mod(self.turns, 360.0))
        count = int(math.floor(self.max_angle / self.angle_step))
        turns = self.angle_step * np.arange(-count, count + 1, dtype=float)
        return np.unique(np.mod(turns, 360.0))

    def searched_scales(self) -> tuple[float, ...]:
        """Scales of image 2 tried by the global search: ``scales`` within
        ``max_scale_change``."""
        return scales_within(self.scales, self.max_scale_change)

    def feature_maps(self, image: np.ndarray, stage: str) -> np.ndarray:
        """The feature maps (kind ``self.features``) of a working image for a stage."""
        return feature_maps(image, self.features, stage)


def dense_matcher_for(matcher: Any, progress: bool | None = None) -> DenseStructuralMatcher:
    """The dense structural matcher of a :class:`~sarfeat.CoarseFineMatcher`'s parameters,
    for a pair with an optical image.

    Parameters
    ----------
    matcher : CoarseFineMatcher
        Its ``model``, ``max_scale_change``, ``rotations`` when ``angle_step`` is None,
        ``dense_scales``, ``dense_model``, ``input_kind``, ``nodata``, ``border_fill`` and
        ``rng`` are read (not named in the annotation: sarfeat.matching.matcher imports
        this module).
    progress : bool or None
        Its progress bar's (None: the matcher's).

    Returns
    -------
    DenseStructuralMatcher
    """
    dense = DenseStructuralMatcher(
        matcher.modality, max_scale_change=matcher.max_scale_change,
        model="similarity" if matcher.model_type == "similarity" else matcher.dense_model,
        stretch_check=None if matcher.model_type == "similarity" else STRETCH_CHECK,
        turns=matcher.rotations if matcher.angle_step is None else None,
        scales=matcher.dense_scales or DENSE_SCALES, input_kind=matcher.input_kind,
        nodata=matcher.nodata, border_fill=matcher.border_fill, rng=matcher.rng)
    dense.progress = matcher.progress if progress is None else progress
    return dense
