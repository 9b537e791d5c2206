"""The fine stage of a match: around each prior, guided rounds and the last local search.

One :class:`FineDriver` serves one match (never the matcher, so that threads
can share a matcher): it holds the match's
:class:`~sarfeat.matching.fine.FineStage`, whose described patches every prior
and round reuse, and the attempt around the identity, which the coarse search
may ask for before the fine stage proper.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from ..descriptors import MultiDescriptorExtractor
from ..detector import SARR2D2Detector
from .coarse import Hypothesis
from .coarse_driver import describing_workers
from .fine import FineResult, FineSettings, FineStage
from .geometry import deviation, overlap_box

__all__ = ["FineDriver", "progress_bar"]

#: The identity prior settles the rotation search with this many times min_fine_inliers.
_SETTLING_FACTOR = 2

#: Fine stages run again around the fine model when it strays from the prior; a round is
#: kept when it has this many times the inliers of the previous one.
_GUIDED_ROUNDS = 2
_GUIDED_GAIN = 1.25

#: The identity prior is evidence only when its fine stage finds this many times the inliers
#: of the same stage around the identity shifted by _DECOY_SHIFT search radii (each of four
#: directions): matches searched within a radius of a prior always agree on some model by
#: chance (a pair 987 px from the identity gave 17 inliers there, the shifted priors 12-21)
_DECOY_FACTOR = 2
_DECOY_SHIFT = 3

#: What each prior is, in the fine stage's progress bars.
_PRIOR_WORDS = {"coarse": "the coarse model", "identity": "the identity (images as aligned)"}


class FineDriver:
    """The fine stage of one match.

    Parameters
    ----------
    settings : FineSettings
        The stage's parameters.
    detector : SARR2D2Detector
        The stage's detector (its pyramid and budget set by ``settings``); each
        describing thread uses a copy of it.
    plausible : callable
        (B, 3, 3) matrices -> (B,) bool: the models that may be kept.
    identity_prior : bool
        Whether the identity is also a prior when the coarse hypothesis is not strong
        or gives no fine model.
    progress : bool or None
        Progress bars over the patches (None: when standard error is a terminal).
    """

    def __init__(self, settings: FineSettings, detector: SARR2D2Detector,
                 plausible: Callable[[np.ndarray], np.ndarray], identity_prior: bool,
                 progress: bool | None) -> None:
        self.settings = settings
        self.detector = detector
        self.plausible = plausible
        self.identity_prior = identity_prior
        self.progress = progress
        self._stage: FineStage | None = None
        self._identity: FineResult | None = None
        self._identity_final: FineResult | None = None
        self._chance_counts: list[int] = []  # inliers around each decoy prior run so far

    @property
    def stage(self) -> FineStage:
        """The match's fine stage (one, so that its described patches are shared)."""
        if self._stage is None:
            template = self.detector
            names = self.settings.descriptors
            local = threading.local()

            def describe(patch, budget):
                # each thread describes with its own copy of the detector (sharing the runtime)
                if not hasattr(local, "extractor"):
                    local.extractor = MultiDescriptorExtractor(detector=template.thread_copy(),
                                                               descriptors=names)
                extractor = local.extractor
                extractor.detector.max_keypoints = budget  # this thread's own copy
                extractor.detect_and_extract(patch)
                return (extractor.keypoints, extractor.scales, extractor.descriptors,
                        extractor.masks)

            self._stage = FineStage(self.settings, describe, self.plausible,
                                    progress_bar(self.progress),
                                    workers=describing_workers(template))
        return self._stage

    # -- the identity prior -----------------------------------------------------------------------

    def identity_usable(self, image1, image2) -> bool:
        """Whether the identity is a prior: asked for, and the images overlap under it."""
        return self.identity_prior and \
            overlap_box(np.eye(3), image1.shape, image2.shape) is not None

    def identity_attempt(self, image1, image2, rng) -> FineResult:
        """The fine stage around the identity prior, run once per match."""
        if self._identity is None:
            self._identity = self.guided(image1, image2, np.eye(3), rng, "identity")
            self._identity.prior = "identity"
        return self._identity

    def beyond_chance(self, attempt: FineResult, image1, image2) -> bool:
        """Whether the first round of ``attempt`` (around the identity) found more than
        :data:`_DECOY_FACTOR` times the inliers that chance gives (:meth:`chance_inliers`);
        the decoys stop once one of them settles the answer (no)."""
        first = attempt.diagnostics.get("first_round_inliers", 0)
        chance = self.chance_inliers(image1, image2, enough=first // _DECOY_FACTOR + 1)
        attempt.diagnostics["identity_chance_inliers"] = chance
        return first >= _DECOY_FACTOR * chance

    def chance_inliers(self, image1, image2, enough: int | None = None) -> int:
        """The most inliers of the fine stage around the identity shifted by
        :data:`_DECOY_SHIFT` search radii left, right, up and down (where the images
        still overlap): what matches searched around a wrong prior give by chance.

        With ``enough``, the decoys stop as soon as one gives that many (the most of
        those run so far is returned: at least ``enough``); each decoy runs once.
        """
        shift = _DECOY_SHIFT * self.settings.radius
        decoys = [(shift, 0), (-shift, 0), (0, shift), (0, -shift)]
        counts = self._chance_counts
        while len(counts) < len(decoys) and (enough is None or max(counts, default=0) < enough):
            dx, dy = decoys[len(counts)]
            decoy = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
            found = None
            if overlap_box(decoy, image1.shape, image2.shape) is not None:
                found = self.stage.run(image1, image2, decoy, np.random.default_rng(0),
                                       "fine patches around a shifted identity (chance level)")
            counts.append(0 if found is None or found.model is None else int(found.inliers.sum()))
        return max(counts, default=0)

    def identity_settles(self, image1, image2, rng) -> bool:
        """Whether the identity prior registers the pair well enough to stop turning image 2.

        Asked by the coarse search before its intermediate turns, when no right
        angle gave a strong hypothesis: many products are co-registered already,
        and a fine model around the identity with at least twice
        ``min_fine_inliers`` inliers (after the last local search), and more than
        chance gives (:meth:`beyond_chance`), makes a turn of 30 degrees or more
        implausible.
        """
        if not self.identity_usable(image1, image2):
            return False
        first = self.identity_attempt(image1, image2, rng)
        if first.model is None:
            return False
        attempt = first
        if self.settings.final_radius is not None:  # as run() would finish it (no new network run)
            attempt = self.final_search(attempt)
        return (attempt.inliers.sum() >= _SETTLING_FACTOR * self.settings.min_fine_inliers
                and self.beyond_chance(first, image1, image2))

    def final_search(self, result: FineResult) -> FineResult:
        """The last local search around ``result``; the identity attempt's runs once a match."""
        if result is not self._identity:
            return self.stage.final_search(result)
        if self._identity_final is None:
            self._identity_final = self.stage.final_search(result)
        return self._identity_final

    # -- the fine stage ---------------------------------------------------------------------------

    def run(self, image1, image2, hypothesis: Hypothesis, rng, identity_rng,
            coarse_failure: str | None = None) -> FineResult:
        """The fine stage around each prior, guided rounds, and the last local search.

        ``coarse_failure`` (why the coarse stage gave no model) joins the reasons
        given when no model is found.
        """
        stage = self.stage
        reasons = [f"coarse stage: {coarse_failure}"] if coarse_failure else []
        result = FineResult.empty(None, self.settings.descriptors)
        if hypothesis.matrix is not None:
            result = self.guided(image1, image2, hypothesis.matrix, rng, "coarse")
            result.prior = "coarse"
            if result.failure:
                reasons.append(f"fine stage around the coarse prior: {result.failure}")
        # the identity too when the coarse hypothesis is not strong, or gave no fine model
        if (not hypothesis.strong or result.model is None) and \
                self.identity_usable(image1, image2):
            attempt = self.identity_attempt(image1, image2, identity_rng)
            if attempt.better_than(result) and attempt.model is not None and \
                    not self.beyond_chance(attempt, image1, image2):
                first = attempt.diagnostics.get("first_round_inliers", 0)
                chance = attempt.diagnostics["identity_chance_inliers"]
                attempt = FineResult.empty(
                    f"its {first} inliers are no more than chance gives ({chance} around the "
                    f"identity shifted by {_DECOY_SHIFT} search radii)", self.settings.descriptors)
                attempt.prior = "identity"
            if attempt.failure:
                reasons.append(f"fine stage around the identity prior: {attempt.failure}")
            if attempt.better_than(result):
                result = attempt
        if result.model is None:
            result.failure = (
                "no consistent transform: the images may not overlap, or differ too much ("
                + "; ".join(reasons) + ")"
            )
        elif self.settings.final_radius is not None:
            result = self.final_search(result)
        result.diagnostics.update(fine_patches_used=stage.diagnostics.get("fine_patches_used"),
                                  fine_patches_total=stage.diagnostics.get("fine_patches_total"),
                                  patches_described=stage.diagnostics["patches_described"],
                                  patches_reused=stage.diagnostics["patches_reused"],
                                  patches_redescribed=stage.store.redescribed)
        return result

    def guided(self, image1, image2, matrix, rng, prior: str) -> FineResult:
        """The fine stage around ``matrix``, then again around its own model while it strays.

        ``prior`` ('coarse' or 'identity') names the progress bars of its rounds.

        When the fine model moves part of the overlap by more than half the search
        radius from the prior, the local search was off-centre there; the search runs
        again around the fine model and is kept when it has more inliers.
        """
        stage = self.stage
        attempt = stage.run(image1, image2, matrix, rng, bar_label(prior, 0))
        first = 0 if attempt.model is None else int(attempt.inliers.sum())
        for round_ in range(1, _GUIDED_ROUNDS + 1):
            if attempt.model is None or deviation(
                attempt.model.params, matrix, image1.shape, image2.shape
            ) <= self.settings.radius / 2:
                break
            matrix = attempt.model.params
            again = stage.run(image1, image2, matrix, rng, bar_label(prior, round_))
            gained = again.inliers.sum() if again.model is not None else 0
            if gained < _GUIDED_GAIN * attempt.inliers.sum():
                break
            again.diagnostics["guided_rounds"] = attempt.diagnostics.get("guided_rounds", 0) + 1
            attempt = again
        attempt.diagnostics["first_round_inliers"] = first
        return attempt


def bar_label(prior: str, round_: int) -> str:
    """The label of a fine-stage progress bar: which image's patches, around which prior."""
    label = f"fine stage, image-1 patches around {_PRIOR_WORDS[prior]}"
    return label if round_ == 0 else f"{label}, guided round {round_}"


def progress_bar(progress: bool | None):
    """A tqdm wrapper over patches, or None (``progress`` None: when stderr is a terminal)."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None

    def wrap(items, description):
        return tqdm(items, desc=description, unit="patch", leave=False)

    return wrap
