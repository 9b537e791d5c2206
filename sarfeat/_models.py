"""Robust estimation of a 2-D transform from matches, with model selection.

:func:`fit_model` runs RANSAC several times, refines the best run by least
squares on its inliers, and, when asked, picks among nested models (a
translation, a rigid motion, a similarity, an affine map, a homography) the
one that the matches support best by Torr's Geometric Robust Information
Criterion (GRIC): a richer model must lower the robust residual cost by more
than its extra parameters cost. On pairs that differ by a shift only, an
affine fit to matches bunched in part of the image extrapolates poorly; the
criterion keeps the translation there and the affine map where the matches
call for it.

Reference: P. H. S. Torr, "Geometric motion segmentation and model selection",
Phil. Trans. R. Soc. A 356 (1998), 1321-1340.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from skimage.measure import ransac
from skimage.transform import (
    AffineTransform,
    EuclideanTransform,
    ProjectiveTransform,
    SimilarityTransform,
)

__all__ = ["MODELS", "NESTED", "TranslationTransform", "FittedModel", "fit_model"]


# Closed-form least-squares estimators for RANSAC and refinement: scikit-image's own go
# through an SVD of a (2N, 2N) matrix, which costs milliseconds for a few hundred matches,
# and the fine stage refits thousands of times. Each returns None for degenerate samples.


class TranslationTransform(EuclideanTransform):
    """A pure shift, estimated as the mean displacement (for :func:`skimage.measure.ransac`)."""

    @classmethod
    def from_estimate(cls, src, dst):
        src = np.asarray(src, dtype=np.float64)
        dst = np.asarray(dst, dtype=np.float64)
        return cls(translation=np.mean(dst - src, axis=0))


def _complex_fit(src, dst, unit: bool):
    """Least-squares ``w = a z + b`` in complex numbers (z = x + iy): (a, b) or None.

    ``|a|`` is the scale and ``arg a`` the rotation; ``unit`` fixes the scale to 1.
    """
    z = np.asarray(src, np.float64) @ (1.0, 1j)
    w = np.asarray(dst, np.float64) @ (1.0, 1j)
    z_mean, w_mean = z.mean(), w.mean()
    spread = np.sum(np.abs(z - z_mean) ** 2)
    if not spread > 1e-12:
        return None
    a = np.sum(np.conj(z - z_mean) * (w - w_mean)) / spread
    if unit:
        if abs(a) < 1e-12:
            return None
        a /= abs(a)
    return a, w_mean - a * z_mean


def _complex_matrix(a: complex, b: complex) -> np.ndarray:
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag], [0.0, 0.0, 1.0]])


class _RigidFit(EuclideanTransform):
    @classmethod
    def from_estimate(cls, src, dst):
        fitted = _complex_fit(src, dst, unit=True)
        return None if fitted is None else cls(matrix=_complex_matrix(*fitted))


class _SimilarityFit(SimilarityTransform):
    @classmethod
    def from_estimate(cls, src, dst):
        fitted = _complex_fit(src, dst, unit=False)
        return None if fitted is None else cls(matrix=_complex_matrix(*fitted))


class _AffineFit(AffineTransform):
    @classmethod
    def from_estimate(cls, src, dst):
        src = np.asarray(src, np.float64)
        design = np.c_[src, np.ones(len(src))]
        solution, _, rank, _ = np.linalg.lstsq(design, np.asarray(dst, np.float64), rcond=None)
        if rank < 3:
            return None
        return cls(matrix=np.r_[solution.T, [[0.0, 0.0, 1.0]]])


#: Model names accepted by the matcher and their transform classes.
MODELS: dict[str, type[ProjectiveTransform]] = {
    "similarity": SimilarityTransform,
    "affine": AffineTransform,
    "projective": ProjectiveTransform,
}

#: Every model of the selection, simplest first: (class, minimal sample, parameters).
NESTED: dict[str, tuple[type[ProjectiveTransform], int, int]] = {
    "translation": (TranslationTransform, 1, 2),
    "euclidean": (_RigidFit, 2, 3),
    "similarity": (_SimilarityFit, 2, 4),
    "affine": (_AffineFit, 3, 6),
    "projective": (ProjectiveTransform, 4, 8),
}

#: GRIC constants for a 2-D to 2-D point map: data dimension, model manifold dimension,
#: and the robust cap of a squared standardised residual, lambda3 * (r - d).
_GRIC_R, _GRIC_D = 4, 2
_GRIC_CAP = 2.0 * (_GRIC_R - _GRIC_D)
#: Median of a chi-square variable with two degrees of freedom (2 ln 2).
_CHI2_2_MEDIAN = 2 * math.log(2)
#: Least noise level assumed (pixels), so that a handful of perfect matches cannot make
#: every extra parameter look expensive.
_MIN_SIGMA = 0.1
#: A RANSAC run whose inlier ratio reaches this makes further runs pointless.
_CLEAR_CONSENSUS = 0.8


@dataclass
class FittedModel:
    """A robustly fitted transform.

    Attributes
    ----------
    transform : skimage.transform.ProjectiveTransform
        The fitted transform, source (x, y) to target (x, y).
    inliers : (N,) ndarray of bool
        Matches within the threshold of ``transform``.
    name : str
        The model of ``transform`` (a key of :data:`NESTED`).
    gric : dict
        GRIC score of every model tried (lower is better); empty without selection.
    """

    transform: ProjectiveTransform
    inliers: np.ndarray
    name: str
    gric: dict


def _ransac_runs(source, target, name, threshold, max_trials, restarts, plausible, rng):
    """Best of ``restarts`` RANSAC runs by MSAC cost: (transform, inliers) or None."""
    model_class, min_samples, _ = NESTED[name]
    if len(source) < min_samples:
        return None
    best = None
    for _ in range(restarts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "No inliers found"
            model, inliers = ransac(
                (source, target), model_class, min_samples=min_samples,
                residual_threshold=threshold, max_trials=max_trials, stop_probability=0.999,
                is_model_valid=lambda m, *_: plausible(m.params), rng=rng,
            )
        if not model or inliers is None or inliers.sum() < min_samples:
            continue
        residuals = model.residuals(source, target)
        cost = float(np.sum(np.minimum(residuals, threshold) ** 2))
        if best is None or cost < best[2]:
            best = (model, inliers, cost)
        if inliers.mean() >= _CLEAR_CONSENSUS:
            break
    return None if best is None else best[:2]


def refine(source, target, name: str, transform, inliers, threshold: float,
           plausible: Callable[[np.ndarray], bool]):
    """Least squares on the inliers, repeated until the inlier set is stable.

    Returns the refined (transform, inliers); the input ones when a refit is
    implausible or would leave fewer inliers than a minimal sample.
    """
    model_class, min_samples, _ = NESTED[name]
    for _ in range(5):
        refitted = model_class.from_estimate(source[inliers], target[inliers])
        if not refitted or not plausible(refitted.params):
            break
        updated = refitted.residuals(source, target) <= threshold
        if updated.sum() < min_samples:
            break
        transform = refitted
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return transform, inliers


def _gric(residuals: np.ndarray, sigma2: float, parameters: int) -> float:
    """Torr's GRIC without the term shared by all models of one data dimension."""
    robust = np.minimum(residuals ** 2 / sigma2, _GRIC_CAP)
    return float(np.sum(robust) + math.log(_GRIC_R * len(residuals)) * parameters)


def fit_model(
    source: np.ndarray,
    target: np.ndarray,
    model: str,
    *,
    threshold: float,
    max_trials: int,
    restarts: int,
    plausible: Callable[[np.ndarray], bool],
    rng: np.random.Generator,
    select: bool = True,
) -> FittedModel | None:
    """Robustly fit ``model`` (source (x, y) -> target (x, y)), or a simpler one.

    Parameters
    ----------
    source, target : (N, 2) ndarray
        Matched points (x, y).
    model : {'similarity', 'affine', 'projective'}
        The richest model allowed.
    threshold : float
        RANSAC residual and inlier distance, in target pixels.
    max_trials, restarts : int
        RANSAC iterations per run, and runs per model (the lowest MSAC cost wins).
    plausible : callable
        Takes a 3x3 matrix, returns whether it is an acceptable transform.
    rng : numpy.random.Generator
        RANSAC's sampling.
    select : bool
        Choose among the nested models up to ``model`` by GRIC; False fits
        ``model`` only.

    Returns
    -------
    FittedModel or None
        ``transform`` is an instance of ``MODELS[model]`` whatever was selected
        (a translation is an affine map too); None when RANSAC finds nothing.
    """
    fitted = _ransac_runs(source, target, model, threshold, max_trials, restarts, plausible, rng)
    if fitted is None:
        return None
    transform, inliers = refine(source, target, model, *fitted, threshold, plausible)
    best = FittedModel(transform, inliers, model, {})
    if not select:
        return best
    # noise level from the richest model's inliers (a 2-D residual: sigma^2 chi-square(2))
    residuals = transform.residuals(source, target)
    sigma2 = max(float(np.median(residuals[inliers] ** 2)) / _CHI2_2_MEDIAN, _MIN_SIGMA ** 2)
    names = list(NESTED)
    best.gric[model] = _gric(residuals, sigma2, NESTED[model][2])
    for name in names[:names.index(model)]:
        fitted = _ransac_runs(source, target, name, threshold, max_trials, restarts, plausible,
                              rng)
        if fitted is None:
            continue
        candidate, candidate_inliers = refine(source, target, name, *fitted, threshold, plausible)
        score = _gric(candidate.residuals(source, target), sigma2, NESTED[name][2])
        best.gric[name] = score
        if score < best.gric[best.name]:
            best = FittedModel(candidate, candidate_inliers, name, best.gric)
    best.transform = MODELS[model](matrix=best.transform.params)
    return best
