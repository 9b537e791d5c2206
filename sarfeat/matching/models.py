"""Robust estimation of a 2-D transform from matches, with model selection.

:func:`ransac` is a vectorised RANSAC: minimal samples are drawn in batches,
the models of a batch are solved in closed form and scored on every match at
once (MSAC: squared residuals truncated at the threshold), and each new best
model is refined by least squares on its inliers (local optimisation, as in
LO-RANSAC), which makes runs agree. :func:`fit_model` runs it, and, when asked,
picks among nested models (a translation, a rigid motion, a similarity, an
affine map, a homography) the one that the matches support best by Torr's
Geometric Robust Information Criterion (GRIC): a richer model must lower the
robust residual cost by more than its extra parameters cost. On pairs that
differ by a shift only, an affine fit to matches bunched in part of the image
extrapolates poorly; the criterion keeps the translation there and the affine
map where the matches call for it.

Reference: P. H. S. Torr, "Geometric motion segmentation and model selection",
Phil. Trans. R. Soc. A 356 (1998), 1321-1340.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from skimage.transform import (
    AffineTransform,
    EuclideanTransform,
    ProjectiveTransform,
    SimilarityTransform,
)

__all__ = ["MODELS", "NESTED", "TranslationTransform", "FittedModel", "fit_model", "ransac",
           "refine", "minimal_models", "transfer_errors"]


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
#: Hypotheses scored at once, at most (fewer for many matches, to bound memory).
_BATCH = 256
#: Elements of the (hypotheses, matches) residual array of one batch, at most.
_BATCH_ELEMENTS = 1 << 21
#: Success probability at which RANSAC stops drawing.
_CONFIDENCE = 0.999


#: A plausibility test: (B, 3, 3) matrices -> (B,) bool.
Plausible = Callable[[np.ndarray], np.ndarray]


def minimal_models(name: str, source: np.ndarray, target: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Models through batches of minimal samples, in closed form.

    Parameters
    ----------
    name : str
        A key of :data:`NESTED`.
    source, target : (B, s, 2) ndarray
        ``B`` samples of ``s`` = ``NESTED[name][1]`` matched points (x, y).

    Returns
    -------
    matrices : (B, 3, 3) ndarray
    valid : (B,) ndarray of bool
        False for degenerate samples (coincident or collinear points).
    """
    batch = len(source)
    matrices = np.tile(np.eye(3), (batch, 1, 1))
    if name == "translation":
        matrices[:, :2, 2] = target[:, 0] - source[:, 0]
        return matrices, np.ones(batch, bool)
    if name in ("euclidean", "similarity"):
        z = source[..., 0] + 1j * source[..., 1]
        w = target[..., 0] + 1j * target[..., 1]
        dz = z[:, 1] - z[:, 0]
        valid = np.abs(dz) > 1e-9
        a = (w[:, 1] - w[:, 0]) / np.where(valid, dz, 1)
        if name == "euclidean":
            valid &= np.abs(a) > 1e-12
            a = a / np.where(valid, np.abs(a), 1)
        a = np.where(valid, a, 1)
        # least squares through both points: b = mean(w) - a mean(z)
        b = w.mean(axis=1) - a * z.mean(axis=1)
        matrices[:, 0, :] = np.stack([a.real, -a.imag, b.real], axis=1)
        matrices[:, 1, :] = np.stack([a.imag, a.real, b.imag], axis=1)
        return matrices, valid
    if name == "affine":
        design = np.concatenate([source, np.ones(source.shape[:2] + (1,))], axis=2)
        det = np.linalg.det(design)
        valid = np.abs(det) > 1e-6 * np.maximum(1.0, np.abs(source).max(axis=(1, 2)) ** 2)
        design[~valid] = np.eye(3)
        solution = np.linalg.solve(design, target)  # (B, 3, 2)
        matrices[:, :2, :] = np.swapaxes(solution, 1, 2)
        return matrices, valid
    return _minimal_homographies(source, target)


def _minimal_homographies(source, target):
    """Homographies through four points (h33 = 1), batched."""
    batch = len(source)
    x, y = source[..., 0], source[..., 1]
    u, v = target[..., 0], target[..., 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y], axis=2)
    rows_v = np.stack([zero, zero, zero, x, y, one, -v * x, -v * y], axis=2)
    design = np.concatenate([rows_u, rows_v], axis=1)
    rhs = np.concatenate([u, v], axis=1)
    det = np.linalg.det(design)
    valid = np.isfinite(det) & (np.abs(det) > 1e-9)
    design[~valid] = np.eye(8)
    solution = np.linalg.solve(design, rhs[..., None])[..., 0]
    matrices = np.concatenate([solution, np.ones((batch, 1))], axis=1).reshape(batch, 3, 3)
    return matrices, valid & np.all(np.isfinite(matrices), axis=(1, 2))


def transfer_errors(matrices: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B, N) distances between ``target`` and ``source`` mapped by each of (B, 3, 3) matrices.

    Written out term by term (the same roundings as a matrix product of two
    terms plus the translation), in place, with the division skipped for affine
    rows (division by exactly 1 changes nothing).
    """
    x, y = source[:, 0], source[:, 1]

    def row(k):
        out = matrices[:, k, 0, None] * x
        out += matrices[:, k, 1, None] * y
        out += matrices[:, k, 2, None]
        return out

    mapped_x, mapped_y = row(0), row(1)
    if not np.all(matrices[:, 2] == (0.0, 0.0, 1.0)):
        w = row(2)
        with np.errstate(divide="ignore", invalid="ignore"):
            mapped_x /= w
            mapped_y /= w
    mapped_x -= target[:, 0]
    mapped_y -= target[:, 1]
    mapped_x *= mapped_x
    mapped_y *= mapped_y
    mapped_x += mapped_y
    distance = np.sqrt(mapped_x, out=mapped_x)
    distance[~np.isfinite(distance)] = np.inf
    return distance


def _samples(count: int, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """(batch', size) indices of distinct matches (rows with a repeated index dropped)."""
    indices = rng.integers(0, count, (batch, size))
    if size > 1:
        ordered = np.sort(indices, axis=1)
        indices = indices[np.all(ordered[:, 1:] != ordered[:, :-1], axis=1)]
    return indices


def _needed_trials(inlier_ratio: float, size: int) -> float:
    """Draws after which a clean sample was drawn with probability ``_CONFIDENCE``."""
    clean = inlier_ratio ** size
    if clean >= 1:
        return 0.0
    if clean <= 0:
        return math.inf
    return math.log(1 - _CONFIDENCE) / math.log(1 - clean)


def ransac(source: np.ndarray, target: np.ndarray, name: str, *, threshold: float,
           max_trials: int, plausible: Plausible | None, rng: np.random.Generator,
           min_trials: int = _BATCH):
    """Vectorised MSAC with local optimisation: (matrix, inliers) or None.

    Parameters
    ----------
    source, target : (N, 2) ndarray
        Matched points (x, y).
    name : str
        The model, a key of :data:`NESTED`.
    threshold : float
        Inlier distance in target pixels; residuals are truncated there (MSAC).
    max_trials : int
        Most minimal samples drawn.
    plausible : callable or None
        (B, 3, 3) matrices -> (B,) bool; implausible models are never kept.
    rng : numpy.random.Generator
        The sampling.
    min_trials : int
        Least samples drawn before the 99.9 % confidence stop may end the run.
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    count, size = len(source), NESTED[name][1]
    if count < size:
        return None
    batch = max(16, min(_BATCH, _BATCH_ELEMENTS // max(count, 1)))
    threshold2 = threshold ** 2
    best_cost, best = math.inf, None
    drawn, needed = 0, math.inf
    while drawn < max_trials and (drawn < min(min_trials, max_trials) or drawn < needed):
        indices = _samples(count, size, min(batch, max_trials - drawn), rng)
        drawn += min(batch, max_trials - drawn)
        matrices, valid = minimal_models(name, source[indices], target[indices])
        if plausible is not None and valid.any():
            valid[valid] = plausible(matrices[valid])
        if not valid.any():
            continue
        matrices = matrices[valid]
        errors = transfer_errors(matrices, source, target)
        costs = np.minimum(errors ** 2, threshold2).sum(axis=1)
        top = int(np.argmin(costs))
        if costs[top] >= best_cost:
            continue
        inliers = errors[top] <= threshold
        if inliers.sum() < size:
            continue
        matrix, refined = _local_optimisation(source, target, name, matrices[top], inliers,
                                              threshold, plausible)
        cost = float(np.minimum(transfer_errors(matrix[None], source, target)[0] ** 2,
                                threshold2).sum())
        if cost <= costs[top]:  # keep the optimised model only when it is the better one
            best_cost, best = cost, (matrix, refined)
        else:  # the model and the cost recorded are always each other's
            best_cost, best = float(costs[top]), (matrices[top], inliers)
        needed = _needed_trials(best[1].mean(), size)
    return best


def _local_optimisation(source, target, name, matrix, inliers, threshold, plausible):
    """Least-squares refits on the inliers until they are stable: (matrix, inliers)."""
    model_class = NESTED[name][0]
    start = model_class(matrix=matrix)
    refined, refined_inliers = refine(source, target, name, start, inliers, threshold, plausible)
    return refined.params, refined_inliers


def refine(source, target, name: str, transform, inliers, threshold: float,
           plausible: Plausible | None):
    """Least squares on the inliers, repeated until the inlier set is stable.

    Returns the refined (transform, inliers); the input ones when a refit is
    implausible or would leave fewer inliers than a minimal sample.
    """
    model_class, min_samples, _ = NESTED[name]
    for _ in range(5):
        refitted = model_class.from_estimate(source[inliers], target[inliers])
        if not refitted or (plausible is not None and not plausible(refitted.params[None])[0]):
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


def _robust_fit(source, target, name, threshold, max_trials, plausible, rng):
    """RANSAC then least-squares refinement: (transform, inliers) or None."""
    fitted = ransac(source, target, name, threshold=threshold, max_trials=max_trials,
                    plausible=plausible, rng=rng)
    if fitted is None:
        return None
    matrix, inliers = fitted
    return refine(source, target, name, NESTED[name][0](matrix=matrix), inliers, threshold,
                  plausible)


def fit_model(
    source: np.ndarray,
    target: np.ndarray,
    model: str,
    *,
    threshold: float,
    max_trials: int,
    plausible: Plausible | None,
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
    max_trials : int
        Most RANSAC samples per model.
    plausible : callable or None
        Takes (B, 3, 3) matrices, returns (B,) bool: which are acceptable.
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

    Examples
    --------
    >>> import numpy as np
    >>> source = np.random.default_rng(0).uniform(0, 100, (50, 2))
    >>> fitted = fit_model(source, source + (3.0, -2.0), "affine", threshold=1.0,
    ...                    max_trials=500, plausible=None, rng=np.random.default_rng(0))
    >>> fitted.name, np.round(fitted.transform.translation, 6).tolist()
    ('translation', [3.0, -2.0])
    """
    fitted = _robust_fit(source, target, model, threshold, max_trials, plausible, rng)
    if fitted is None:
        return None
    transform, inliers = fitted
    best = FittedModel(transform, inliers, model, {})
    if not select:
        return best
    # noise level from the richest model's inliers (a 2-D residual: sigma^2 chi-square(2))
    residuals = transform.residuals(source, target)
    sigma2 = max(float(np.median(residuals[inliers] ** 2)) / _CHI2_2_MEDIAN, _MIN_SIGMA ** 2)
    names = list(NESTED)
    best.gric[model] = _gric(residuals, sigma2, NESTED[model][2])
    for name in names[:names.index(model)]:
        fitted = _robust_fit(source, target, name, threshold, max_trials, plausible, rng)
        if fitted is None:
            continue
        candidate, candidate_inliers = fitted
        score = _gric(candidate.residuals(source, target), sigma2, NESTED[name][2])
        best.gric[name] = score
        if score < best.gric[best.name]:
            best = FittedModel(candidate, candidate_inliers, name, best.gric)
    best.transform = MODELS[model](matrix=best.transform.params)
    return best
