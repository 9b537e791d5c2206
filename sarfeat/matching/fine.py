"""The fine stage: tiling, local search, descriptor votes and the fine model.

Image 1 is cut, over its overlap with image 2 under a prior, into patches on a
grid anchored at the image origin (``patch_size`` pixels a side at most), each
described with a halo of context and its own keypoint budget. Image 2 is cut
the same way over the prior's image of that region, or, when the prior turns
or scales too much, resampled patch by patch into image 1's frame. Patches are
read one at a time, so memory does not grow with the images beyond their
features. A large overlap is not described whole: at most ``max_patches`` of
image 1's patches, spread evenly over it on a sub-grid that keeps its first and
last rows and columns, and image 2 only where it can reach them (a global model
needs well-spread matches, not all of them). The features of a patch are kept:
a second prior, a guided round or the last local search reuses every patch it
shares with an earlier one instead of running the network again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from scipy.spatial import cKDTree
from skimage.transform import ProjectiveTransform

from ..detector import NoKeypointsError
from .geometry import apply_matrix, overlap_box, rotation_scale, tiles, warp_nan
from .models import MODELS, NESTED, fit_model, refine
from .store import DESCRIPTOR_BUDGET, PatchEntry, PatchStore
from .votes import Features, count_votes, full_rows

__all__ = ["FineSettings", "FineResult", "FineStage", "candidate_pairs", "describe_core",
           "ImageWindows", "ResampledWindows", "spread_cores"]

#: Pixels around a patch given to the network for context (its receptive radius is 28).
HALO = 32

#: Patch resampling threshold: image 2 is resampled into image 1's frame when the prior
#: turns by more than this many degrees or scales outside [1/x, x].
_UPRIGHT_ANGLE = 10.0
_UPRIGHT_SCALE = 1.2


@dataclass(frozen=True)
class FineSettings:
    """Parameters of the fine stage: those of :class:`~sarfeat.CoarseFineMatcher` of the same
    names, whose Parameters section says more (each field documented at its declaration)."""

    descriptors: tuple[str, ...] = ("r2d2", "ratio_hog", "log_patch")
    """tuple of str: the descriptors that vote (of
    :class:`~sarfeat.descriptors.MultiDescriptorExtractor`)."""
    model: str = "affine"
    """str: the class of the fine model, and the richest model :attr:`select_model` may choose."""
    patch_size: int = 512
    """int: side of the fine-stage patches of image 1, in pixels."""
    radius: float = 20.0
    """float: local search radius around the prior, in image-1 pixels."""
    fine_threshold: float = 3.0
    """float: RANSAC residual and inlier distance, in full-resolution pixels of image 2."""
    fine_keypoints: int = 2000
    """int: keypoints kept per patch of ``patch_size`` squared pixels."""
    vote_threshold: int | None = None
    """int or None: least votes of a pair sent to RANSAC; None: a majority, :meth:`votes_needed`."""
    local_ratio: float = 0.9
    """float: a keypoint votes only when its nearest candidate's descriptor distance is below
    this times the second nearest's; 1 disables it."""
    final_radius: float | None = 6.0
    """float or None: radius (image-1 pixels) of a last search around the fine model; None: none."""
    select_model: bool = True
    """bool: choose among the models nested in :attr:`model` by GRIC; False fits it alone."""
    min_fine_inliers: int = 10
    """int: fewer fine inliers than this leaves no model."""
    max_trials: int = 2000
    """int: most RANSAC samples per model fit."""
    max_patches: int | None = 16
    """int or None: most image-1 patches described around a prior (the matcher's
    ``max_fine_patches``); None describes the whole overlap."""
    fine_min_scale: float = 1.0
    """float: smallest pyramid scale of the fine detection (1: full resolution only)."""

    def detector_settings(self) -> dict:
        """The fine detector's pyramid and budget (per patch of ``patch_size`` squared)."""
        return dict(max_keypoints=self.fine_keypoints, min_size=1, max_size=1 << 30,
                    min_scale=self.fine_min_scale, max_scale=1.0, scale_factor=2 ** 0.25)

    def votes_needed(self) -> int:
        """Least votes of a pair sent to RANSAC (a majority by default)."""
        if self.vote_threshold is None:
            return len(self.descriptors) + 1
        return int(self.vote_threshold)


@dataclass
class FineResult:
    """The fine stage around one prior: features, voted matches and the model."""

    features1: Features
    features2: Features
    matches: np.ndarray  # (Q, 2) voted pairs, indices into the two feature sets
    votes: np.ndarray
    inliers: np.ndarray
    model: ProjectiveTransform | None = None
    model_name: str | None = None  # the selected model (a key of NESTED)
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
    def empty(cls, failure: str | None, names) -> "FineResult":
        result = cls(Features.empty(names), Features.empty(names), np.empty((0, 2), np.intp),
                     np.empty(0, np.int64), np.empty(0, bool), failure=failure)
        result.diagnostics.update(fine_keypoints=(0, 0), fine_pairs=0, fine_candidates=0,
                                  fine_inliers=0)
        return result

    def better_than(self, other: "FineResult") -> bool:
        if self.model is None:
            return other.model is None and other.prior is None
        return other.model is None or self.inliers.sum() > other.inliers.sum()


def candidate_pairs(keypoints1: np.ndarray, back2: np.ndarray, radius: float) -> np.ndarray:
    """(i, j) pairs with image-2 keypoint j brought back within ``radius`` of keypoint i."""
    if len(keypoints1) == 0 or len(back2) == 0:
        return np.empty((0, 2), dtype=np.intp)
    tree1, tree2 = cKDTree(keypoints1), cKDTree(back2)
    found = tree1.sparse_distance_matrix(tree2, radius, output_type="ndarray")
    pairs = np.empty((len(found), 2), np.intp)  # one copy, column by column
    pairs[:, 0] = found["i"]
    pairs[:, 1] = found["j"]
    return pairs


def describe_core(settings: FineSettings, describe: Callable, windows, core
                  ) -> Features | None:
    """Features of one patch core (keypoints in the windows' frame), or None when empty."""
    r0, r1, c0, c1 = core
    patch, (o_r0, o_c0) = windows.read(r0 - HALO, r1 + HALO, c0 - HALO, c1 + HALO)
    inner = patch[r0 - o_r0:r1 - o_r0, c0 - o_c0:c1 - o_c0]
    if np.isnan(inner).mean() > 0.95:
        return None
    budget = settings.fine_keypoints * (r1 - r0) * (c1 - c0)
    budget = max(50, int(round(budget / settings.patch_size ** 2)))
    try:
        keypoints, scales, descriptors, masks = describe(patch, budget)
    except NoKeypointsError:  # nothing to detect in this patch; any other error shows
        return None
    keypoints = np.asarray(keypoints, np.float64) + (o_r0, o_c0)
    rows, cols = keypoints[:, 0], keypoints[:, 1]
    keep = (rows >= r0 - 0.5) & (rows < r1 - 0.5) & (cols >= c0 - 0.5) & (cols < c1 - 0.5)
    names = settings.descriptors
    return Features(
        keypoints[keep], np.asarray(scales, np.float64)[keep],
        {n: full_rows(descriptors[n], masks[n])[keep] for n in names},
        {n: np.asarray(masks[n], bool)[keep] for n in names},
    )


class ImageWindows:
    """Windows of an image read as they are (clipped to the image)."""

    def __init__(self, image: np.ndarray, key: str) -> None:
        self.image, self.key = image, key
        self.shape = image.shape

    def read(self, r0: int, r1: int, c0: int, c1: int):
        """The pixels of rows r0:r1 and columns c0:c1 that exist, and their (row, col) origin."""
        r0, c0 = max(0, r0), max(0, c0)
        return self.image[r0:min(self.shape[0], r1), c0:min(self.shape[1], c1)], (r0, c0)

    def to_image(self, keypoints: np.ndarray) -> np.ndarray:
        return keypoints


class ResampledWindows:
    """Windows of image 2 resampled into image 1's frame by ``matrix`` (image 1 -> image 2).

    Each window is resampled alone (from the part of image 2 it needs), so no
    resampled copy of the whole image is ever held.
    """

    def __init__(self, image2: np.ndarray, matrix: np.ndarray) -> None:
        self.image2, self.matrix = image2, matrix
        self.key = ("resampled", matrix.tobytes())
        self.shape = (math.inf, math.inf)

    def read(self, r0: int, r1: int, c0: int, c1: int):
        corners = np.array([[c0, r0], [c1, r0], [c0, r1], [c1, r1]], float)
        mapped = apply_matrix(self.matrix, corners)
        height, width = self.image2.shape
        s_r0 = int(np.clip(math.floor(np.nanmin(mapped[:, 1])) - 2, 0, height))
        s_r1 = int(np.clip(math.ceil(np.nanmax(mapped[:, 1])) + 3, 0, height))
        s_c0 = int(np.clip(math.floor(np.nanmin(mapped[:, 0])) - 2, 0, width))
        s_c1 = int(np.clip(math.ceil(np.nanmax(mapped[:, 0])) + 3, 0, width))
        shape = (r1 - r0, c1 - c0)
        if s_r1 - s_r0 < 2 or s_c1 - s_c0 < 2:
            return np.full(shape, np.nan, np.float32), (r0, c0)
        shift = np.array([[1, 0, c0], [0, 1, r0], [0, 0, 1.0]])
        crop = np.array([[1, 0, -s_c0], [0, 1, -s_r0], [0, 0, 1.0]])
        source = self.image2[s_r0:s_r1, s_c0:s_c1]
        return warp_nan(source, crop @ self.matrix @ shift, shape, order=1), (r0, c0)

    def to_image(self, keypoints: np.ndarray) -> np.ndarray:
        """(row, col) in image 1's frame -> (row, col) in image 2's pixels."""
        return apply_matrix(self.matrix, keypoints[:, ::-1])[:, ::-1]


class FineStage:
    """Features over the overlap, local search, votes and the fine model.

    Parameters
    ----------
    settings : FineSettings
        The stage's parameters.
    describe : callable
        ``describe(patch, max_keypoints)`` -> (keypoints (row, col), scales,
        descriptors dict, masks dict) of one patch; raises
        :class:`~sarfeat.detector.NoKeypointsError` when it finds nothing.
    plausible : callable
        (B, 3, 3) matrices -> (B,) bool.
    progress : callable, optional
        Wraps an iterable of rows of patches (a progress bar); None shows nothing.
    descriptor_budget : int
        Bytes of descriptors the stage's :class:`~sarfeat.matching.store.PatchStore`
        keeps (a smaller budget describes dropped patches again when a later local
        search needs them; the results do not change).
    workers : int
        Patches described at once, each in its own thread (``describe`` must then
        be safe to call from several threads); the results do not change.
    """

    def __init__(self, settings: FineSettings, describe: Callable,
                 plausible: Callable[[np.ndarray], np.ndarray],
                 progress: Callable[[Iterable, str], Iterable] | None = None,
                 descriptor_budget: int = DESCRIPTOR_BUDGET, workers: int = 1) -> None:
        self.settings = settings
        self.workers = workers
        self.describe = describe
        self.plausible = plausible
        self.progress = progress
        self.store = PatchStore(settings.descriptors, descriptor_budget)
        self.diagnostics: dict = {"patches_described": 0, "patches_reused": 0,
                                  "patches_redescribed": 0}

    # -- features -------------------------------------------------------------------------------

    def _cores(self, windows, box):
        """Patch cores over ``box``: the image grid's tiles cut by the box."""
        r0, r1, c0, c1 = box
        if math.isinf(windows.shape[0]):
            grid = tiles(box, self.settings.patch_size)
        else:
            grid = tiles((0, windows.shape[0], 0, windows.shape[1]), self.settings.patch_size)
        cores = []
        for t0, t1, u0, u1 in grid:
            core = (max(t0, r0), min(t1, r1), max(u0, c0), min(u1, c1))
            if core[1] - core[0] >= 8 and core[3] - core[2] >= 8:
                cores.append(core)
        return cores

    def _patches(self, jobs: list) -> list[PatchEntry | None]:
        """The stored patches of ``jobs`` ((windows, core) pairs), describing the new ones.

        New patches are described ``workers`` at a time (the network of one runs
        while the descriptors of another are computed) and stored in the order
        of ``jobs``, so the results do not depend on ``workers``.
        """
        reads = {}
        for windows, core in jobs:
            key = (windows.key, core)
            if key in self.store.entries or key in reads:
                self.diagnostics["patches_reused"] += 1
            else:
                self.diagnostics["patches_described"] += 1
                # the store describes a dropped patch again without holding the stage
                reads[key] = partial(describe_core, self.settings, self.describe, windows, core)
        if self.workers > 1 and len(reads) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                described = list(pool.map(lambda read: read(), reads.values()))
        else:
            described = [read() for read in reads.values()]
        for (key, read), features in zip(reads.items(), described):
            self.store.add(key, features, read)
        return [self.store.entries[(windows.key, core)] for windows, core in jobs]

    def _sweep(self, windows1, cores1, windows2, cores2, back,
               label: str = "fine patches") -> tuple[list, list]:
        """Describe the patches band by band, computing each band's pair distances.

        Image-2 patches are described just before the first band of image-1
        patches that can reach them (``back`` maps their keypoints into image 1's
        frame), and the distances of every pair within the radius are memoised as
        soon as both sides are described, so the store can drop descriptors of
        finished patches: memory stays bounded by a band, not by the scene.
        """
        reach = self.settings.radius + 1
        spans = [_row_span(back, core) for core in cores2]
        order2 = sorted(range(len(cores2)), key=lambda i: spans[i][0])
        entries1, entries2, live = [], {}, {}
        pointer = 0
        for band in _bands(self.progress(cores1, label) if self.progress else cores1):
            bottom = band[0][1]
            pulled = []
            while pointer < len(order2) and spans[order2[pointer]][0] < bottom + reach:
                pulled.append(order2[pointer])
                pointer += 1
            described = self._patches([(windows1, core) for core in band]
                                      + [(windows2, cores2[index]) for index in pulled])
            parts = described[:len(band)]
            entries1.extend(parts)
            for index, entry in zip(pulled, described[len(band):]):
                entries2[index] = live[index] = entry
            self._band_distances([p for p in parts if p is not None],
                                 [e for e in live.values() if e is not None], back)
            for index in [i for i in live if spans[i][1] < bottom - reach]:
                del live[index]  # no later band (rows from ``bottom`` on) reaches it
        beyond = order2[pointer:]  # beyond every band: no pair, keypoints only
        for index, entry in zip(beyond, self._patches([(windows2, cores2[i]) for i in beyond])):
            entries2[index] = entry
        return entries1, [entries2[i] for i in range(len(cores2))]

    def _band_distances(self, parts1: list, parts2: list, back) -> None:
        """Memoise the distances of the pairs within the radius between two patch sets."""
        if not parts1 or not parts2:
            return
        keypoints1 = np.concatenate([p.features.keypoints for p in parts1])
        ids1 = np.concatenate([p.ids for p in parts1])
        back2 = back(np.concatenate([p.features.keypoints for p in parts2]))
        ids2 = np.concatenate([p.ids for p in parts2])
        finite = np.all(np.isfinite(back2), axis=1)
        pairs = candidate_pairs(keypoints1, back2[finite], self.settings.radius)
        self.store.distances(ids1[pairs[:, 0]], ids2[finite][pairs[:, 1]], keep=parts2)
        self.store.release(keep=parts2)

    def overlap_features(self, image1: np.ndarray, image2: np.ndarray, matrix: np.ndarray,
                         label: str = "fine patches"):
        """Features of both images over their overlap under the prior ``matrix``.

        ``label`` names the progress bar over image 1's patches.

        Returns the features of image 1, those of image 2 (keypoints in image 2's
        own pixels) and the (N2, 2) (row, col) of the image-2 keypoints brought
        back into image 1 by ``matrix``. The features carry keypoint ids of
        :attr:`store` instead of descriptors.
        """
        angle, scale, _ = rotation_scale(matrix)
        resample = abs(angle) > _UPRIGHT_ANGLE or not 1 / _UPRIGHT_SCALE <= scale <= _UPRIGHT_SCALE
        self.diagnostics["fine_resampled"] = bool(resample)
        box1 = overlap_box(matrix, image1.shape, image2.shape)
        windows1 = ImageWindows(image1, "image1")
        margin = int(math.ceil(self.settings.radius)) + 1
        r0, r1, c0, c1 = box1
        wide = (r0 - margin, r1 + margin, c0 - margin, c1 + margin)
        if resample:
            # image 2 seen upright at image 1's scale, over the overlap and ``radius`` beyond
            windows2 = ResampledWindows(image2, matrix)
            cores2 = self._cores(windows2, wide)

            def back(keypoints):
                return keypoints
        else:
            windows2 = ImageWindows(image2, "image2")
            box2 = _mapped_box(matrix, wide, image2.shape)
            small = box2[1] - box2[0] < 8 or box2[3] - box2[2] < 8
            cores2 = [] if small else self._cores(windows2, box2)
            inverse = np.linalg.inv(matrix)

            def back(keypoints):
                return apply_matrix(inverse, keypoints[:, ::-1])[:, ::-1]
        every1 = self._cores(windows1, box1)
        cores1 = spread_cores(every1, self.settings.max_patches)
        if len(cores1) < len(every1):  # image 2 only where it can match the patches kept
            near = [(r0 - margin, r1 + margin, c0 - margin, c1 + margin)
                    for r0, r1, c0, c1 in cores1]
            if not resample:
                near = [_mapped_box(matrix, box, image2.shape) for box in near]
            cores2 = _clipped(cores2, near)
        self.diagnostics["fine_patches_total"] = len(every1)
        self.diagnostics["fine_patches_used"] = len(cores1)
        entries1, entries2 = self._sweep(windows1, cores1, windows2, cores2, back, label)
        names = self.settings.descriptors
        features1 = _stored_features(entries1, names)
        features2 = _stored_features(entries2, names)
        back2 = back(features2.keypoints)
        if resample:
            features2.keypoints = windows2.to_image(features2.keypoints)
        self.diagnostics["patches_redescribed"] = self.store.redescribed
        finite = np.all(np.isfinite(back2), axis=1)
        return features1, features2.subset(finite), back2[finite]

    # -- votes and model ------------------------------------------------------------------------

    def voted(self, features1: Features, features2: Features, back2: np.ndarray,
              radius: float) -> FineResult:
        """Pairs within ``radius`` (image 2 brought back as ``back2``) with enough votes."""
        pairs = candidate_pairs(features1.keypoints, back2, radius)
        distances = self.store.distances(features1.ids[pairs[:, 0]], features2.ids[pairs[:, 1]])
        votes = count_votes(pairs, features1, features2, self.settings.local_ratio, distances)
        keep = votes >= self.settings.votes_needed()
        result = FineResult(features1, features2, pairs[keep], votes[keep],
                            np.zeros(int(keep.sum()), bool))
        result.diagnostics.update(fine_pairs=int(len(pairs)), fine_candidates=int(keep.sum()))
        return result

    def run(self, image1: np.ndarray, image2: np.ndarray, matrix: np.ndarray,
            rng: np.random.Generator, label: str = "fine patches") -> FineResult:
        """The fine stage around the prior ``matrix`` (image-1 -> image-2 (x, y)).

        ``label`` names the progress bar over image 1's patches (which prior, which round).
        """
        features1, features2, back2 = self.overlap_features(image1, image2, matrix, label)
        result = self.voted(features1, features2, back2, self.settings.radius)
        result.diagnostics.update(
            fine_keypoints=(len(features1.keypoints), len(features2.keypoints)), fine_inliers=0,
            fine_resampled=self.diagnostics["fine_resampled"],
        )
        self.fit(result, rng)
        return result

    def fit(self, result: FineResult, rng: np.random.Generator) -> None:
        """RANSAC, least-squares refinement and model selection on the voted matches."""
        s = self.settings
        count = len(result.matches)
        needed = max(NESTED[s.model][1], s.min_fine_inliers)
        if count < needed:
            result.failure = f"{count} voted matches, {needed} needed"
            return
        source, target = result.matched_points()
        fitted = fit_model(source, target, s.model, threshold=s.fine_threshold,
                           max_trials=s.max_trials, plausible=self.plausible, rng=rng,
                           select=s.select_model)
        if fitted is None:
            result.failure = (f"RANSAC found no plausible {s.model} model among {count} "
                              "voted matches")
            return
        result.inliers = fitted.inliers
        result.model_name = fitted.name
        result.diagnostics["selected_model"] = fitted.name
        result.diagnostics["gric"] = {name: round(v, 1) for name, v in fitted.gric.items()}
        self._record(result, fitted.transform, source, target)

    def _record(self, result: FineResult, transform, source, target) -> None:
        """Store ``transform`` in ``result`` with its inlier counts and residuals."""
        inliers = result.inliers
        residuals = transform.residuals(source, target)
        result.diagnostics["fine_inliers"] = int(inliers.sum())
        result.diagnostics["residual_median"] = float(np.median(residuals[inliers]))
        result.diagnostics["residual_rms"] = float(np.sqrt(np.mean(residuals[inliers] ** 2)))
        if inliers.sum() < self.settings.min_fine_inliers:
            result.failure = (
                f"{int(inliers.sum())} RANSAC inliers among {len(result.matches)} voted "
                f"matches, {self.settings.min_fine_inliers} needed"
            )
            result.model = None
            return
        result.model = transform

    def final_search(self, result: FineResult) -> FineResult:
        """Local search once more, within ``final_radius`` of the fine model's projections.

        Around an accurate model the candidates of a keypoint are few, so descriptor
        votes are less ambiguous and more true matches reach the vote threshold. The
        model is refitted (least squares, the selected model) on the new inliers; the
        new result is kept when it has at least as many inliers.
        """
        s = self.settings
        result.diagnostics["final_search"] = False
        features1, features2 = result.features1, result.features2
        back2 = apply_matrix(np.linalg.inv(result.model.params),
                             features2.keypoints[:, ::-1])[:, ::-1]
        final = self.voted(features1, features2, back2, s.final_radius)
        final.prior, final.model_name = result.prior, result.model_name
        first = result.diagnostics
        final.diagnostics = dict(
            first, **final.diagnostics, first_pass_pairs=first["fine_pairs"],
            first_pass_candidates=first["fine_candidates"],
            first_pass_inliers=first["fine_inliers"],
        )
        minimal = NESTED[result.model_name][1]
        if len(final.matches) < minimal:
            return result
        source, target = final.matched_points()
        inliers = result.model.residuals(source, target) <= s.fine_threshold
        if inliers.sum() < max(s.min_fine_inliers, minimal):
            return result
        transform, final.inliers = refine(source, target, result.model_name, result.model,
                                          inliers, s.fine_threshold, self.plausible)
        self._record(final, MODELS[s.model](matrix=transform.params), source, target)
        if final.model is None or final.inliers.sum() < result.inliers.sum():
            return result
        final.diagnostics["final_search"] = True
        return final


def _mapped_box(matrix: np.ndarray, box, shape) -> tuple[int, int, int, int]:
    """Bounding box, clipped to ``shape``, of image-1 ``box`` mapped by ``matrix``."""
    r0, r1, c0, c1 = box
    corners = np.array([[c0, r0], [c1, r0], [c0, r1], [c1, r1]], float)
    mapped = apply_matrix(matrix, corners)
    height, width = shape
    return (
        max(0, int(math.floor(mapped[:, 1].min()))),
        min(height, int(math.ceil(mapped[:, 1].max())) + 1),
        max(0, int(math.floor(mapped[:, 0].min()))),
        min(width, int(math.ceil(mapped[:, 0].max())) + 1),
    )


def spread_cores(cores: list, limit: int | None) -> list:
    """At most ``limit`` of a grid's ``cores``, evenly spread (all when ``limit`` is None).

    The cores form a grid of rows and columns (their first rows and first
    columns); a sub-grid of them is kept, as square as the grid allows, that
    takes its first and last rows and columns and those evenly between.
    """
    if limit is None or len(cores) <= limit:
        return list(cores)
    row_starts = sorted({core[0] for core in cores})
    col_starts = sorted({core[2] for core in cores})
    n_rows, n_cols = len(row_starts), len(col_starts)
    keep_rows = min(n_rows, max(1, round(math.sqrt(limit * n_rows / n_cols))))
    keep_cols = min(n_cols, max(1, limit // keep_rows))
    keep_rows = min(n_rows, max(1, limit // keep_cols))
    rows = {row_starts[i] for i in np.linspace(0, n_rows - 1, keep_rows).round().astype(int)}
    cols = {col_starts[i] for i in np.linspace(0, n_cols - 1, keep_cols).round().astype(int)}
    return [core for core in cores if core[0] in rows and core[2] in cols]


def _clipped(cores: list, boxes: list) -> list:
    """Each core cut to the bounding box of its parts within ``boxes``; cores outside all dropped.

    The cores partition an image, so the cut cores never overlap (no keypoint
    is described twice) even where boxes do.
    """
    kept = []
    for r0, r1, c0, c1 in cores:
        parts = [(max(r0, b0), min(r1, b1), max(c0, d0), min(c1, d1)) for b0, b1, d0, d1 in boxes]
        parts = [p for p in parts if p[1] - p[0] >= 8 and p[3] - p[2] >= 8]
        if parts:
            kept.append((min(p[0] for p in parts), max(p[1] for p in parts),
                         min(p[2] for p in parts), max(p[3] for p in parts)))
    return kept


def _row_span(back, core) -> tuple[float, float]:
    """Rows of image 1's frame that keypoints of an image-2 patch ``core`` can reach."""
    r0, r1, c0, c1 = core
    corners = np.array([[r0 - 1, c0 - 1], [r0 - 1, c1], [r1, c0 - 1], [r1, c1]], float)
    rows = back(corners)[:, 0]
    if not np.all(np.isfinite(rows)):
        return -math.inf, math.inf
    return float(rows.min()), float(rows.max())


def _bands(cores: Iterable) -> Iterator[list]:
    """Consecutive cores with the same first row (a row of the grid), as lists."""
    band: list = []
    for core in cores:
        if band and core[0] != band[0][0]:
            yield band
            band = []
        band.append(core)
    if band:
        yield band


def _stored_features(entries: list, names) -> Features:
    """Keypoints, scales, masks and ids of stored patches, in order (no descriptors)."""
    parts = [Features(e.features.keypoints, e.features.scales, {}, e.features.masks, e.ids)
             for e in entries if e is not None]
    features = Features.concatenate(parts, names)
    if features.ids is None:
        features.ids = np.empty(0, np.int64)
    features.descriptors = {}
    return features
