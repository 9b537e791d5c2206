"""The fine stage of :class:`~sarfeat.matching.DenseStructuralMatcher`: steps 3-5.

A prior from the global search is polished over the whole overlap, checked by
templates placed about the result and by the gray values' information
(:mod:`~sarfeat.matching.gray_check`), stretched where the templates drift from
a similarity (:mod:`~sarfeat.matching.stretch_check`), and refined up to full
resolution (:mod:`~sarfeat.matching.dense_refine`). See
:mod:`sarfeat.matching.dense` for the method; :class:`DenseFineStage` holds the
steps, and :class:`~sarfeat.matching.DenseStructuralMatcher` its parameters.
"""

from __future__ import annotations

import time

import numpy as np
from skimage.transform import AffineTransform, SimilarityTransform

from .dense_correlation import Reference, place_templates, whole_overlap_estimate
from .dense_refine import image_pyramid, nearest_level, refine_to_full
from .dense_search import working
from .dense_ties import place_again
from .geometry import rotation_scale, warp_nan
from .gray_check import information_peak
from .stretch_check import STRETCH_REACH, stretched_polish, template_stretch

__all__ = ["DenseFineStage", "GRAY_REACH", "TIE_HALF", "TIE_MIN_RATIO"]

#: How far (fine pixels) about the fitted transform ``gray_check`` shifts image 2.
GRAY_REACH = 6
#: The templates of the tie points placed again at the level the transform was refined to
#: (:mod:`~sarfeat.matching.dense_ties`) are this many times the fine stage's (in pixels of
#: their level). On the bundled 3MOS tuning tile with the fine stage at 128 px (the test of
#: tests/test_dense_ties.py) 18, 30 and 23 of 34 inliers were placed at 256 px with 1, 2
#: and 3 times (median error 3.1, 2.4, 1.8 px against the warp, the tile's own alignment
#: 1-2 px; 4.2 px as the fine stage placed them). The 2048 px set of
#: benchmarks/large_optical_sar.py (evaluation data) gave 1.40 px with 1 time (72 of 77
#: placed), 0.85 px with 2 (all); 3.81 px as the fine stage placed them.
TIE_HALF = 2
#: The tie points are placed again only where the transform was refined to a level at
#: least this many times the fine stage's working size: their scale-up error, a fraction of
#: a fine pixel, is then over a pixel of the image. On the 3MOS canvas tuning pairs
#: enlarged 2 and 4 times (every 6th, levels 1.0-5.4 times the working size) placing them
#: again moved their median error against the truth by under 0.8 px, either way, for 0.1-1 s
#: a pair; on the 2048 and 10980 px sets (8 and 43 times) from 3.8 and 10 px to 0.85 and 1.0.
TIE_MIN_RATIO = 4


class DenseFineStage:
    """Steps 3-5 of the dense matcher: the base class of
    :class:`~sarfeat.matching.DenseStructuralMatcher`, whose parameters and feature maps
    they use."""

    @property
    def template_window(self) -> int:
        """Side, in fine working pixels, of the window a template is placed in:
        ``2 * (template + search_radius) + 1``."""
        return 2 * (self.template + self.search_radius) + 1

    def too_small_for_templates(self, shape1, shape2) -> dict | None:
        """``{'images': [...], 'window': side}``: the images ('image1', 'image2') with a
        side shorter than :attr:`template_window` once brought to the fine stage's working
        size (longest side ``fine_size`` at most), where no template fits whatever the
        search finds; None when neither is."""
        small = [name for name, shape in (("image1", shape1), ("image2", shape2))
                 if min(shape) * min(1.0, self.fine_size / max(shape)) < self.template_window]
        return {"images": small, "window": self.template_window} if small else None

    def fine_stage_swapped(self, image1, image2, prior: np.ndarray) -> None:
        """The fine stage on image 2's grid (its pixels finer than a small image 1's):
        image 1 resampled onto it, image 2's templates; the results turned back."""
        self.fine_stage(image2, image1, np.linalg.inv(prior))
        self.diagnostics["fine_on_image2"] = True
        if "polished" in self.diagnostics:
            self.diagnostics["polished"] = np.linalg.inv(
                np.array(self.diagnostics["polished"])).tolist()
        if self.model is not None:
            self.model = type(self.model)(matrix=np.linalg.inv(self.model.params))
        self.keypoints1, self.keypoints2 = self.keypoints2, self.keypoints1

    def fine_stage(self, image1, image2, prior: np.ndarray) -> None:
        """Steps 3-5 from ``prior`` (image-1 (x, y) -> image-2 (x, y)), on image 1's grid:
        fills ``model`` (None: refused), the tie points and ``diagnostics``."""
        work1, to_full1 = working(image1, self.fine_size, restore=True)
        maps1 = self.feature_maps(work1, "fine")
        fine_maps = lambda warped: self.feature_maps(warped, "fine")  # noqa: E731
        pyramid2 = image_pyramid(image2, 32)  # resampled from a level, speckle not aliased
        level2, to_full2 = nearest_level(pyramid2, rotation_scale(prior @ to_full1)[1])
        to_level2 = np.linalg.inv(to_full2)
        # the prior polished over the whole overlap at once: the transform returned
        reference = Reference(maps1, self.min_overlap)
        found = whole_overlap_estimate(reference, level2, to_level2 @ prior, to_full1,
                                       fine_maps)
        if found is None:
            self.diagnostics["failure"] = ("the whole-overlap check could not be made: "
                                           "refused rather than guessed")
            return
        affine = False
        if self.model_type != "similarity":
            found, self.diagnostics["affine_gain"], affine = stretched_polish(
                found, reference, level2, to_full1, fine_maps)
        place = lambda fit: self._placed(  # noqa: E731
            work1, maps1, level2, to_full1, to_full2, fit, fine_maps)
        placed = place(found)
        self._accept(found, placed, affine, to_full2)
        if (self.model is not None and self.model_type == "similarity"
                and self.stretch_check is not None):
            placed = self._stretch_if_drifting(
                placed, lambda: stretched_polish(found, reference, level2, to_full1, fine_maps),
                place, rotation_scale(placed[0] @ to_full1)[1], image1.shape, to_full2)
        if self.model is not None and max(image1.shape) > max(work1.shape) * 1.01:
            self._to_full_resolution(image1, pyramid2, max(work1.shape), fine_maps, *placed[1:3])

    def _accept(self, found: dict, placed, affine: bool, to_full2) -> None:
        """``found`` (a whole-overlap polish, on image 2's level) and its placed templates
        through the checks; the diagnostics give its transform at full resolution."""
        self.diagnostics.update(found, polished=placed[0].tolist(),
                                verify_rmse=found["verify_rmse"] * rotation_scale(to_full2)[1])
        self._finish(*placed, affine)

    def _stretch_if_drifting(self, placed, stretch, place, unit, shape1, to_full2):
        """An accepted similarity whose templates drift from it (more than
        ``stretch_check`` fine pixels; ``unit``: image-2 pixels a fine pixel) replaced by
        the stretched polish, where that correlates ``AFFINE_GAIN`` times better and passes
        the checks; the placed templates of the transform kept."""
        drift = template_stretch(*placed[1:3], placed[0], shape1, self.min_inliers,
                                 STRETCH_REACH * unit)
        self.diagnostics["template_stretch"] = None if drift is None else round(drift / unit, 3)
        if drift is None or drift <= self.stretch_check * unit:
            return placed
        stretched, self.diagnostics["affine_gain"], affine = stretch()
        if not affine:
            return placed
        kept = {name: getattr(self, name) for name in (
            "model", "inliers", "keypoints1", "keypoints2", "matches", "votes")}
        diagnostics = dict(self.diagnostics)
        again = place(stretched)
        self.model = None  # set again only if the stretched polish passes
        self._accept(stretched, again, True, to_full2)
        if self.model is not None:
            return again
        # refused stretched: the similarity, which passed, stands
        failure = self.diagnostics["failure"]
        for name, value in kept.items():
            setattr(self, name, value)
        self.diagnostics.clear()
        self.diagnostics.update(diagnostics, stretch_refused=failure)
        return placed

    def _placed(self, work1, maps1, level2, to_full1, to_full2, found, fine_maps):
        """Templates placed about ``found``'s transform (transform, source, target, scores,
        threshold; full resolution) and the gray values' information about it."""
        polished = to_full2 @ np.array(found["polished"])
        resample = np.linalg.inv(to_full2) @ polished @ to_full1
        warped = warp_nan(level2, resample, work1.shape, order=1)
        points, shifts, scores = place_templates(
            maps1, fine_maps(warped), self.grid_step, self.template, self.search_radius,
            self.min_score)
        peak = information_peak(work1, warped, GRAY_REACH)  # in fine pixels, as found
        self.diagnostics.update(gray_offset=None if peak is None else peak.offset,
                                gray_information=None if peak is None else peak.information)
        source = (to_full1 @ np.c_[points, np.ones(len(points))].T).T[:, :2]
        target = (to_full2 @ resample @ np.c_[points + shifts, np.ones(len(points))].T).T[:, :2]
        threshold = self.fine_threshold * max(1.0, rotation_scale(to_full2 @ resample)[1])
        return polished, source, target, scores, threshold

    def _to_full_resolution(self, image1, pyramid2, start, fine_maps, source, target):
        """The accepted model refined up to image 1's full resolution (``refine_to_full``)."""
        pyramid1 = image_pyramid(image1, start)
        model, found = refine_to_full(pyramid1, pyramid2, self.model.params, start, fine_maps,
                                      self.min_overlap)
        self.model = type(self.model)(matrix=model)
        if found["refined_size"] >= TIE_MIN_RATIO * start:
            target = self._ties_placed_again(pyramid1, pyramid2, found["refined_size"], source,
                                             target, fine_maps)
        residuals = self.model.residuals(source, target)[self.inliers]
        self.diagnostics.update(
            refined_levels=found["refined_levels"], refined_size=found["refined_size"],
            residual_median=float(np.median(residuals)),
            residual_rms=float(np.sqrt(np.mean(residuals ** 2))))

    def _ties_placed_again(self, pyramid1, pyramid2, size: int, source, target, fine_maps):
        """The inliers' templates placed again on image 1's level of longest side ``size``
        (where the model was refined to), ``TIE_HALF`` times as large as the fine stage's:
        ``keypoints2``, ``votes`` and the target returned are theirs where they could be
        placed there (``diagnostics['ties_size']``, ``['ties_placed_again']``,
        ``['seconds_ties']``); the others keep the fine stage's placements."""
        started = time.perf_counter()
        level1 = next(level for level in pyramid1 if max(level[0].shape) == size)
        level2 = nearest_level(pyramid2, rotation_scale(self.model.params @ level1[1])[1])
        ties = self.inliers.nonzero()[0]
        again, scores, placed = place_again(level1, level2, self.model.params, source[ties],
                                            fine_maps, TIE_HALF * self.template,
                                            self.search_radius, self.min_score)
        target = target.copy()
        target[ties[placed]] = again[placed]
        self.keypoints2 = target[:, ::-1].copy()
        self.votes = self.votes.copy()
        self.votes[ties[placed]] = np.round(100 * scores[placed]).astype(int)
        self.diagnostics.update(ties_size=size, ties_placed_again=int(placed.sum()),
                                seconds_ties=time.perf_counter() - started)
        return target

    def _finish(self, polished, source, target, scores, threshold, affine: bool) -> None:
        diagnostics = self.diagnostics
        self.keypoints1 = source[:, ::-1].copy()
        self.keypoints2 = target[:, ::-1].copy()
        self.matches = np.repeat(np.arange(len(source))[:, None], 2, axis=1)
        self.votes = np.round(100 * scores).astype(int)
        model = (AffineTransform if affine else SimilarityTransform)(matrix=polished)
        residuals = model.residuals(source, target) if len(source) else np.empty(0)
        inliers = residuals <= threshold
        count = int(inliers.sum())
        ratio = count / max(1, len(inliers))
        diagnostics.update(
            fine_candidates=len(inliers), fine_inliers=count, inlier_ratio=round(ratio, 3),
            selected_model="affine" if affine else "similarity", gric={},
            residual_median=float(np.median(residuals[inliers])) if count else float("nan"),
            residual_rms=(float(np.sqrt(np.mean(residuals[inliers] ** 2))) if count
                          else float("nan")),
            failure=None,
        )
        self.inliers = np.zeros(len(inliers), bool)
        if not len(inliers):
            side = self.template_window
            diagnostics["failure"] = (
                f"no template could be placed: the overlap at the fine stage holds no valid "
                f"{side} x {side} pixel window (images too small, or mostly no-data there): "
                "refused rather than guessed")
            return
        if count < self.min_inliers or ratio < self.min_inlier_ratio:
            diagnostics["failure"] = (
                f"only {count} of {len(inliers)} placed templates agree with the whole-overlap "
                f"transform ({self.min_inliers} and {100 * self.min_inlier_ratio:.0f} % needed): "
                "refused rather than guessed"
            )
            return
        failure = self._unverified()
        if failure is not None:
            diagnostics["failure"] = failure + ": refused rather than guessed"
            return
        self.model = model
        self.inliers = inliers
        diagnostics["polished_inliers"] = count

    def _unverified(self) -> str | None:
        """Why the whole-overlap check rejects the fit, or None when it passes."""
        diagnostics = self.diagnostics
        score = diagnostics["verify_weighted"]  # as the global search weighs it
        least = self.min_verify_score
        standout = score / max(diagnostics["verify_second"], 1e-9)
        clear = (self.clear_peak is not None and score >= self.clear_peak[0]
                 and standout >= self.clear_peak[1]
                 and diagnostics["fine_inliers"] >= 2 * self.min_inliers)
        if score < least and not clear:
            weaker = ("" if self.clear_peak is None else
                      f", or {self.clear_peak[0]} with a peak {self.clear_peak[1]} times the "
                      f"next one and {2 * self.min_inliers} agreeing templates, {standout:.2f} "
                      f"and {diagnostics['fine_inliers']} here")
            return (f"the whole overlap correlates too weakly at the fitted model ({score:.3f}, "
                    f"{least} needed{weaker})")
        margin = (score - diagnostics["verify_second"]) / max(score, 1e-9)
        if margin < self.min_verify_margin:
            return (f"the whole-overlap correlation peak does not stand out ({100 * margin:.0f} "
                    f"% above the next one, {100 * self.min_verify_margin:.0f} % needed)")
        offset, information = diagnostics.get("gray_offset"), diagnostics.get("gray_information")
        if self.gray_check is not None and offset is not None:
            farthest, clear = self.gray_check
            if offset > farthest and information >= clear:
                return (f"the gray values agree best {offset:.1f} px from the fitted model "
                        f"(mutual information {information:.2f} there; at most {farthest} px "
                        f"away where it reaches {clear})")
        return None
