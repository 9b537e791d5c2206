"""Whether the placed templates call for a stretch: :func:`template_stretch`.

The dense matcher (:mod:`sarfeat.matching.dense`) returns a similarity by
default. A pair that no similarity fits (a SAR image in its own geometry, whose
two axes have different pixel sizes) still polishes to the similarity nearest
to it, a few pixels off at the corners, and its templates, placed within a
few pixels of that similarity, drift across the image with the stretch: an
affine map fitted to them strays from the similarity. :func:`template_stretch`
measures that drift; where it is large the matcher tries the stretched polish
that ``model='affine'`` always tries (``DenseStructuralMatcher(stretch_check=...)``).

On the 3MOS tuning pairs told their pose (``benchmarks/README.md``, sixteenth
session), an affine map fitted to the templates within 5 px strays from right
similarities by 1.5-1.8 px (median; more than 3 px on 10 of 141) and from the
similarities returned 3 px or more off on pairs stretched by up to 3 % by 3.6 px
(more than 3 px on 15 of 22): too loose a fit to be returned (step 4 of
:mod:`sarfeat.matching.dense`: such fits strayed 4-14 px from right answers),
but a sign of when to try the stretch. With the check at 3 fine pixels, tried
on accepted similarities only, the stretched pairs went from 41 within 3 px, 22
off and 57 refused to 51, 12 and 57 (the stretch tried on every pair: 59, 12
and 49), and on the unstretched ones every answer stayed the same but one (7.0
px off, then 7.4). The default is 2 fine pixels (seventeenth session): on
three more stretch draws of the tuning split after the default search (360
pairs) 138 within 3 px and 28 off against 132 and 34 at 3 px, no answer worse;
on 600 unstretched tuning pairs (five draws) every answer the same. Tried on
refused similarities too, it turned refusals of unstretched pairs into answers
5-8 px off, and on those 360 stretched pairs it let in 9 answers off with 14
right ones (4 with 11 under the best guard found: a gain of 1.1 and the
stretch's own templates within 2.5 px of it): refusals stay refusals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dense_correlation import Reference, whole_overlap_affine
from .geometry import apply_matrix

__all__ = ["AFFINE_GAIN", "STRETCH_REACH", "stretched_polish", "template_stretch"]

#: The factor by which the whole overlap must correlate better (unweighted) stretched
#: than at the similarity for the affine map to be returned.
AFFINE_GAIN = 1.07

#: Templates farther than this (pixels) from the similarity, then from the affine fit,
#: are left out of the fit.
STRETCH_REACH = 5.0
#: Least RMS spread of the fitted templates across their thinnest direction, a fraction of
#: image 1's shorter side.
LEAST_SPREAD = 0.1
#: Rounds of the fit, each on the templates near the fit before.
_ROUNDS = 3


def _affine_fit(source: np.ndarray, target: np.ndarray, least_spread: float):
    """The least-squares affine (3, 3) matrix taking ``source`` (N, 2) to ``target``; None
    when the points spread less than ``least_spread`` (RMS) across their thinnest
    direction (a line of templates fixes no stretch across it)."""
    centred = source - source.mean(axis=0)
    if np.linalg.svd(centred, compute_uv=False)[-1] / np.sqrt(len(source)) < least_spread:
        return None
    design = np.c_[source, np.ones(len(source))]
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    matrix = np.eye(3)
    matrix[:2] = solution.T
    return matrix


def template_stretch(source: np.ndarray, target: np.ndarray, matrix: np.ndarray,
                     shape: tuple[int, int], least: int = 12,
                     reach: float = STRETCH_REACH) -> float | None:
    """How far (RMS over image 1, in the points' pixels) an affine map fitted to the
    templates strays from ``matrix``; None with fewer than ``least`` templates near.

    Parameters
    ----------
    source, target : (N, 2) ndarray
        The templates' (x, y) in image 1 and where they were placed in image 2.
    matrix : (3, 3) ndarray
        The transform they were placed about (image 1 (x, y) -> image 2 (x, y)).
    shape : (int, int)
        Image 1's (rows, cols) in the points' pixels: where the distance is measured
        (a 9 x 9 grid over it).
    least : int
        Fewest templates the fit needs.
    reach : float
        Templates within this many pixels of ``matrix``, then of the fit, are fitted.

    Returns
    -------
    float or None
        None also when the templates near lie close to a line (spread across it less
        than ``LEAST_SPREAD`` of image 1's shorter side).

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(8, 250, 16.0), np.arange(8, 250, 16.0)), -1)
    >>> source = grid.reshape(-1, 2)
    >>> stretch = np.array([[1.03, 0, -3.8], [0, 0.97, 3.8], [0, 0, 1]])
    >>> target = source @ stretch[:2, :2].T + stretch[:2, 2]
    >>> round(template_stretch(source, target, np.eye(3), (256, 256)), 1)
    3.5
    >>> template_stretch(source, source, np.eye(3), (256, 256))
    0.0
    """
    source = np.asarray(source, float)
    target = np.asarray(target, float)
    rows, cols = shape
    spread = LEAST_SPREAD * min(rows, cols)
    near = np.linalg.norm(apply_matrix(matrix, source) - target, axis=1) <= reach
    fitted = _affine_fit(source[near], target[near], spread) if near.sum() >= least else None
    if fitted is None:
        return None
    for _ in range(_ROUNDS - 1):
        near = np.linalg.norm(apply_matrix(fitted, source) - target, axis=1) <= reach
        refitted = (_affine_fit(source[near], target[near], spread) if near.sum() >= least
                    else None)
        if refitted is None:
            break
        fitted = refitted
    grid = np.stack(np.meshgrid(np.linspace(0, cols - 1, 9), np.linspace(0, rows - 1, 9)),
                    -1).reshape(-1, 2)
    drift = apply_matrix(fitted, grid) - apply_matrix(matrix, grid)
    return round(float(np.sqrt(np.mean(np.sum(drift ** 2, axis=1)))), 3)


def stretched_polish(found: dict, reference: Reference, level2: np.ndarray,
                     to_full1: np.ndarray, fine_maps: Callable[[np.ndarray], np.ndarray]
                     ) -> tuple[dict, float | None, bool]:
    """``found`` stretched into an affine map where that correlates better.

    Parameters
    ----------
    found : dict
        A whole-overlap polish (``polished``, ``verify_score``...).
    reference : Reference
        Image 1's maps in the Fourier domain, as the polish correlated them.
    level2 : ndarray
        Image 2's level the polish ran on.
    to_full1 : (3, 3) ndarray
        Image 1's level (x, y) -> full image 1 (x, y).
    fine_maps : callable
        The fine feature maps of a working image.

    Returns
    -------
    found : dict
        Stretched by ``whole_overlap_affine`` where that correlates ``AFFINE_GAIN``
        times better, else ``found``.
    gain : float or None
        The best stretch's gain; None when none did better.
    stretched : bool
        Whether the affine map is the one returned.
    """
    stretched = whole_overlap_affine(reference, level2, np.array(found["polished"]), to_full1,
                                     fine_maps, found["verify_score"])
    if stretched is None:
        return found, None, False
    gain = stretched["verify_score"] / max(found["verify_score"], 1e-9)
    return (stretched, gain, True) if gain >= AFFINE_GAIN else (found, gain, False)
