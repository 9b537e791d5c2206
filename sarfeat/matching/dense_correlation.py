"""Correlation of dense feature maps, for :mod:`sarfeat.matching.dense`.

FFT correlation of a reference's maps against others' with a minimum overlap,
template placement with a sub-pixel peak, and the small geometric helpers of
the dense matcher (similarity matrices, model distances, zooms of maps).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from .dense_threads import parallel_map
from .geometry import warp_nan

__all__ = ["CANDIDATE_REACH", "OVERLAP_WEIGHT", "POLISH_GRID", "POLISH_REACH", "Reference",
           "crop_valid", "distances", "masked", "model_distance", "parabola", "peak_offset",
           "place_templates", "similarity", "translation", "turn_canvas",
           "whole_overlap_affine", "whole_overlap_estimate", "zoom_maps"]

#: Exponent of the overlap fraction that weighs the correlation score (small overlaps
#: correlate by chance).
OVERLAP_WEIGHT = 0.5
#: Shifts (working pixels) beyond which a correlation peak counts as another one.
DISTINCT_SHIFT = 6.0
#: Turns (degrees) and scales of the fitted model tried by the whole-overlap check.
POLISH_TURNS = (-1.0, 0.0, 1.0)
POLISH_SCALES = (0.99, 1.0, 1.01)
POLISH_STEPS = (2.0, 1.0, 0.5)
#: The (turn, scale) candidates of each step: every turn with every scale.
POLISH_GRID = tuple((turn, scale) for turn in POLISH_TURNS for scale in POLISH_SCALES)
#: Farthest shift (working pixels) of the whole-overlap peak from the model it polishes.
POLISH_REACH = 8.0
#: The reach of the candidates' correlation surfaces (exact shifts, see
#: :meth:`Reference.correlation`): one pixel past ``POLISH_REACH`` for the sub-pixel peak.
CANDIDATE_REACH = POLISH_REACH + 1
#: Steps of the stretch (a fraction of the side, see :func:`whole_overlap_affine`) tried
#: about a polished similarity, each level around the best of the one before.
AFFINE_STEPS = (0.04, 0.02, 0.01, 0.005)
#: Steps (of ``POLISH_TURNS`` and ``POLISH_SCALES``) of the turn and scale polished again
#: about the stretched map.
AFFINE_REPOLISH_STEPS = (1.0, 0.5)
#: Correlation shapes whose reference spectra are kept (the canvases are cut to their
#: valid pixels, so their shapes vary).
SPECTRA_CACHED = 16

def masked(maps: np.ndarray):
    """Channels with their valid mean removed and zeros where invalid, and the mask."""
    valid = np.all(np.isfinite(maps), axis=0)
    if not valid.any():
        return np.zeros_like(maps), valid.astype(np.float32)
    mean = maps[:, valid].mean(axis=1)
    centred = (maps - mean[:, None, None]).astype(np.float32, copy=False)
    np.copyto(centred, 0.0, where=~valid)  # in place: no further copy of the channels
    return centred, valid.astype(np.float32)


class Reference:
    """Image 1's maps in the Fourier domain, for correlation against many images 2."""

    def __init__(self, maps: np.ndarray, min_overlap: float, reach: float | None = None):
        self.values, self.mask = masked(maps)
        self.reach = reach
        self.shape = maps.shape[1:]
        self.area = float(self.mask.sum())
        self.min_overlap = min_overlap
        self._cache: dict = {}
        self._lock = threading.Lock()

    def spectra(self, shape):
        with self._lock:  # threads share a reference (dense_threads)
            return self._spectra(shape)

    def _spectra(self, shape):
        if shape not in self._cache:
            if len(self._cache) >= SPECTRA_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[shape] = (
                sfft.rfft2(self.values, s=shape, workers=1),
                sfft.rfft2((self.values ** 2).sum(0), s=shape),
                sfft.rfft2(self.mask, s=shape),
            )
        return self._cache[shape]

    def correlation(self, maps: np.ndarray, reach: float | None = None):
        """(ncc, fraction): normalised correlation over all shifts (-1 where unusable)
        and the share of image 1 in the overlap.

        Index (row, col) is the shift (dv, du) with x1 = x2 + shift; negative
        shifts wrap around to the end (:meth:`shift` reads an index). With
        ``reach`` (or the reference's ``reach``) set, only shifts within ``reach``
        pixels are exact (the transforms are that much smaller); the others wrap.
        """
        values, mask = masked(maps)
        reach = self.reach if reach is None else reach
        if reach is None:  # rounded up to a multiple of 32: few shapes (and reference
            # spectra) occur among canvases cut to their valid pixels
            sides = [-(-(a + b) // 32) * 32 for a, b in zip(self.shape, maps.shape[1:])]
        else:  # maps on image 1's grid, one shape
            sides = [max(a, b) + math.ceil(reach) + 1
                     for a, b in zip(self.shape, maps.shape[1:])]
        shape = tuple(sfft.next_fast_len(side) for side in sides)
        area2 = float(mask.sum())
        ncc = np.full(shape, -1.0)
        if area2 == 0:
            return ncc, np.zeros(shape)
        f, f2, m1 = self.spectra(shape)
        g = sfft.rfft2(values, s=shape)
        numerator = sfft.irfft2((f * np.conj(g)).sum(0), s=shape)
        mask_spectrum = np.conj(sfft.rfft2(mask, s=shape))
        energy1 = sfft.irfft2(f2 * mask_spectrum, s=shape)
        energy2 = sfft.irfft2(m1 * np.conj(sfft.rfft2((values ** 2).sum(0), s=shape)), s=shape)
        count = sfft.irfft2(m1 * mask_spectrum, s=shape)
        least = self.min_overlap * min(self.area, area2)
        usable = (count >= least) & (energy1 > 1e-6) & (energy2 > 1e-6)
        # the quotient of every shift (float32, as the surfaces are), kept where usable:
        # cheaper than gathering the usable ones; elsewhere it may be inf or NaN
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            quotient = numerator / np.sqrt(energy1 * energy2)
        np.copyto(ncc, quotient, where=usable)
        return ncc, np.clip(count / self.area, 0, 1)

    def surface(self, maps: np.ndarray) -> np.ndarray:
        """The correlation weighted by the overlap's share (small overlaps correlate
        by chance), -1 where unusable; indexed as :meth:`correlation`."""
        ncc, fraction = self.correlation(maps)
        return np.where(ncc > -1, ncc * fraction ** OVERLAP_WEIGHT, -1.0)

    def correlate(self, maps: np.ndarray, near=None, reach: float = math.inf):
        """(score, (du, dv)): best normalised correlation and its shift (x1 = x2 + shift).

        With ``near`` (a shift (du, dv)), only shifts within ``reach`` pixels of it
        are considered.
        """
        score = self.surface(maps)
        if near is not None:
            index = (int(round(near[1])) % score.shape[0], int(round(near[0])) % score.shape[1])
            score = np.where(_within(score.shape, index, reach), score, -1.0)
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[row, col] <= -1:
            return -1.0, (0.0, 0.0)
        return float(score[row, col]), self.shift((row, col), score.shape)

    def shift(self, index, shape) -> tuple[float, float]:
        """(du, dv) of a correlation surface's (row, col) index (negative ones wrap)."""
        row, col = index
        shift_row = row - shape[0] if row >= self.shape[0] else row
        shift_col = col - shape[1] if col >= self.shape[1] else col
        return float(shift_col), float(shift_row)


def crop_valid(canvas: np.ndarray, matrix: np.ndarray, margin: int = 2):
    """The canvas cut to the box of its finite pixels (plus ``margin``), and its matrix.

    ``matrix`` maps canvas (x, y) to image-2 (x, y); the matrix returned maps the
    cut canvas's (x, y) there. (None, matrix) when no pixel is finite.
    """
    finite = np.isfinite(canvas)
    rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
    if rows.size == 0:
        return None, matrix
    r0, c0 = max(0, rows[0] - margin), max(0, cols[0] - margin)
    r1, c1 = rows[-1] + margin + 1, cols[-1] + margin + 1
    moved = matrix.copy()
    moved[:2, 2] = matrix[:2, 2] + matrix[:2, :2] @ np.array([c0, r0], float)
    return canvas[r0:r1, c0:c1], moved


def turn_canvas(shape2, linear: np.ndarray):
    """Matrix of canvas (x, y) -> image-2 (x, y) = linear @ q + c0, and the canvas shape.

    The canvas is a square of the image's diagonal (over the scale of ``linear``),
    centred on the image, so that it holds image 2 at any turn and has one shape
    for all of them.
    """
    h, w = shape2
    scale = math.sqrt(abs(np.linalg.det(linear)))
    side = int(math.ceil(math.hypot(h, w) / scale)) + 1
    centre2 = np.array([(w - 1) / 2, (h - 1) / 2])
    centre = np.array([(side - 1) / 2, (side - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre2 - linear @ centre
    return matrix, (side, side)


def similarity(angle: float, scale: float) -> np.ndarray:
    theta = math.radians(angle)
    return scale * np.array([[math.cos(theta), -math.sin(theta)],
                             [math.sin(theta), math.cos(theta)]])


def zoom_maps(maps: np.ndarray, factor: float) -> np.ndarray:
    """Maps resampled by ``factor`` about the origin; NaN spreads."""
    if abs(factor - 1) < 1e-9:
        return maps
    valid = np.all(np.isfinite(maps), axis=0).astype(np.float32)
    filled = np.nan_to_num(maps)
    out = np.stack([ndimage.zoom(c, factor, order=1, grid_mode=True, mode="grid-constant")
                    for c in filled])
    keep = ndimage.zoom(valid, factor, order=1, grid_mode=True, mode="grid-constant") > 0.99
    out[:, ~keep] = np.nan
    return out


def place_templates(maps1: np.ndarray, maps2: np.ndarray, step: int, half: int,
                     radius: int, min_score: float):
    """Place templates of ``maps1`` (grid of ``step``) in ``maps2`` within ``radius``.

    Returns (N, 2) points (x, y) of image 1, their (N, 2) shifts in image 2's
    frame (same grid) and the (N,) peak scores.
    """
    _, height, width = maps1.shape
    reach = half + radius
    places, templates, norms, searches = [], [], [], []  # (row, col) and what is placed
    for row in range(reach, height - reach, step):
        for col in range(reach, width - reach, step):
            template = maps1[:, row - half:row + half + 1, col - half:col + half + 1]
            search = maps2[:, row - reach:row + reach + 1, col - reach:col + reach + 1]
            if not (np.isfinite(template).all() and np.isfinite(search).all()):
                continue
            centred = template - template.mean()
            norm = float((centred ** 2).sum())
            if norm > 1e-9:
                places.append((row, col))
                templates.append(centred)
                norms.append(norm)
                searches.append(search)
    points, shifts, scores = [], [], []
    surfaces = (_template_correlations(np.stack(templates), np.array(norms),
                                       np.stack(searches)) if places else ())
    for (row, col), surface in zip(places, surfaces):
        i, j = np.unravel_index(int(np.argmax(surface)), surface.shape)
        peak = float(surface[i, j])
        if peak < min_score or i in (0, 2 * radius) or j in (0, 2 * radius):
            continue
        dj, di = peak_offset(surface[i - 1:i + 2, j - 1:j + 2])
        points.append((col, row))
        shifts.append((j + dj - radius, i + di - radius))
        scores.append(peak)
    return (np.array(points, float).reshape(-1, 2), np.array(shifts, float).reshape(-1, 2),
            np.array(scores, float))


def _template_correlations(templates: np.ndarray, norms: np.ndarray,
                           searches: np.ndarray) -> np.ndarray:
    """(N, P, P) normalised correlations of N centred (C, S, S) templates (``norms``: their
    sums of squares) at every position of their (C, S + P - 1, S + P - 1) search windows:
    the products by FFT (all templates at once), the windows' sums and squares from
    summed-area tables."""
    size = templates.shape[-1]
    positions = searches.shape[-1] - size + 1
    side = sfft.next_fast_len(searches.shape[-1], real=True)
    products = sfft.irfft2((sfft.rfft2(searches, s=(side, side))
                            * np.conj(sfft.rfft2(templates, s=(side, side)))).sum(axis=1),
                           s=(side, side))[:, :positions, :positions]

    def window_sums(values):  # (N, H, W) -> sums over every size x size window
        table = np.zeros((values.shape[0], values.shape[1] + 1, values.shape[2] + 1))
        table[:, 1:, 1:] = values.cumsum(axis=1, dtype=float).cumsum(axis=2)
        return (table[:, size:, size:] - table[:, :-size, size:] - table[:, size:, :-size]
                + table[:, :-size, :-size])

    count = templates[0].size
    sums = window_sums(searches.sum(axis=1, dtype=float))
    squares = window_sums((searches.astype(float) ** 2).sum(axis=1))
    variance = np.maximum(squares - sums ** 2 / count, 1e-12)
    return products / np.sqrt(variance * norms[:, None, None])


def distances(shape, index) -> np.ndarray:
    """Distance of every index of a wrapped (circular) correlation surface to ``index``."""
    away = [np.abs(np.arange(n) - k) for n, k in zip(shape, index)]
    away = [np.minimum(a, n - a) for a, n in zip(away, shape)]
    return np.hypot(away[0][:, None], away[1][None, :])


@lru_cache(maxsize=32)
def _within(shape: tuple[int, int], index: tuple[int, int], reach: float) -> np.ndarray:
    """The (read-only) mask of the shifts within ``reach`` of ``index`` on a wrapped
    surface of ``shape``: kept, as the refinement's candidates ask for the same one."""
    near = distances(shape, index) <= reach
    near.flags.writeable = False
    return near


def translation(du: float, dv: float) -> np.ndarray:
    """The matrix of working (x, y) -> (x - du, y - dv): image 1's x matches the
    resampled image 2's x - shift (the shift of :meth:`Reference.correlate`)."""
    matrix = np.eye(3)
    matrix[:2, 2] = (-du, -dv)
    return matrix


def model_distance(first: np.ndarray, second: np.ndarray, shape) -> float:
    """RMS distance, in image-2 pixels, between two image-1 -> image-2 matrices on a
    10 x 10 grid over an image of ``shape`` (image 1's)."""
    rows = np.linspace(0, shape[0] - 1, 10)
    cols = np.linspace(0, shape[1] - 1, 10)
    grid = np.stack(np.meshgrid(cols, rows), -1).reshape(-1, 2)
    points = np.c_[grid, np.ones(len(grid))]
    a, b = (points @ m.T for m in (first, second))
    difference = a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]
    return float(np.sqrt(np.mean(np.sum(difference ** 2, axis=1))))


#: The (y, x) of the 3 x 3 pixels about a peak, row-major.
_ROWS, _COLS = np.mgrid[-1:2, -1:2].reshape(2, 9)
#: Least-squares solution of the quadratic c0 + c1 x + c2 y + c3 x² + c4 xy + c5 y² on the
#: 3 x 3 values about a peak: (6, 9).
_QUADRATIC = np.linalg.pinv(np.c_[np.ones(9), _COLS, _ROWS, _COLS ** 2, _COLS * _ROWS,
                                  _ROWS ** 2])


def peak_offset(window: np.ndarray) -> tuple[float, float]:
    """Sub-pixel (dx, dy) of a correlation peak from the 3 x 3 values about its pixel.

    The peak of the quadratic fitted to all nine: a peak whose axes are turned from the
    pixel grid (an elongated structure at an angle) is found where it is, which two
    parabolas along the row and the column through the pixel are not (each reads the ridge
    where it crosses that line, drawn towards the whole pixel: 0.25 px read 0.17-0.19 on the
    smooth random maps of tests/test_dense_correlation.py). Where the fit has no maximum
    (a saddle, a flat top) the two parabolas are used.

    Parameters
    ----------
    window : (3, 3) ndarray
        The values about the peak, which is at the centre.

    Returns
    -------
    tuple of float
        (dx, dy), each within [-1, 1].
    """
    _, cx, cy, xx, xy, yy = _QUADRATIC @ np.asarray(window, float).ravel()
    hessian = np.array([[2 * xx, xy], [xy, 2 * yy]])
    if hessian[0, 0] < 0 and np.linalg.det(hessian) > 1e-12:
        dx, dy = np.linalg.solve(hessian, [-cx, -cy])
        return float(np.clip(dx, -1, 1)), float(np.clip(dy, -1, 1))
    return parabola(*window[1]), parabola(*window[:, 1])


def parabola(left: float, centre: float, right: float) -> float:
    denominator = left - 2 * centre + right
    if denominator >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / denominator, -0.5, 0.5))


def _about_centre(linear: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The 3x3 matrix of ``linear`` (2x2) applied about ``centre`` (x, y)."""
    about = np.eye(3)
    about[:2, :2] = linear
    about[:2, 2] = centre - linear @ centre
    return about


def _best_candidate(reference: Reference, image2, start: np.ndarray, fine_maps, levels,
                    best=None):
    """The best of candidate resamplings, level by level, each level around the best
    of the one before: (correlation, maps, (du, dv), resample) or None.

    ``start`` maps image 1's working grid to image 2; ``levels`` holds, per level,
    the 2x2 linear maps tried about image 1's centre; ``best`` (maps None) is a
    result to beat. A candidate's result also holds its correlation surface and overlap
    shares (:meth:`Reference.correlation` with reach ``CANDIDATE_REACH``)."""
    height, width = reference.shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    near = None

    def correlated(resample):
        maps2 = fine_maps(warp_nan(image2, resample, reference.shape, order=1))
        # shifts within the reach only (smaller transforms); the whole surface of the
        # best candidate is made once, at the end
        return maps2, reference.correlation(maps2, reach=CANDIDATE_REACH)

    for linears in levels:
        resamples = [start @ _about_centre(linear, centre) for linear in linears]
        # the candidates on the threads (dense_threads), compared in their order
        for resample, (maps2, surface) in zip(resamples, parallel_map(correlated, resamples)):
            ncc = surface[0]
            if near is None:
                near = _within(ncc.shape, (0, 0), POLISH_REACH)
            # candidates are compared unweighted: the overlap weight would favour models
            # that stretch image 2 over image 1
            index = np.unravel_index(int(np.argmax(np.where(near, ncc, -1))), ncc.shape)
            if best is None or ncc[index] > best[0]:
                best = (float(ncc[index]), maps2, reference.shift(index, ncc.shape), resample,
                        surface)
        if best[0] <= -1:
            return None
        start = best[3] @ translation(*best[2])
    return best


def _polished(reference: Reference, best, matrix: np.ndarray, to_full1: np.ndarray) -> dict:
    """The figures of the best candidate (see :func:`whole_overlap_estimate`)."""
    _, maps2, (du, dv), resample = best[:4]
    # the whole surface, unless the candidate's already is: a reference whose own reach
    # is the candidates' (dense_refine's) makes the same surface again
    ncc, share = (best[4] if reference.reach == CANDIDATE_REACH
                  else reference.correlation(maps2))
    i, j = int(round(dv)) % ncc.shape[0], int(round(du)) % ncc.shape[1]
    score = float(ncc[i, j])
    rows, cols = ncc.shape
    # the 3 x 3 about the peak (the surface wraps: shifts are circular)
    ddu, ddv = peak_offset(ncc[np.ix_(np.arange(i - 1, i + 2) % rows,
                                      np.arange(j - 1, j + 2) % cols)])
    du, dv = du + ddu, dv + ddv
    polished = resample @ translation(du, dv) @ np.linalg.inv(to_full1)
    weighted = np.where(ncc > -1, ncc * share ** OVERLAP_WEIGHT, -1.0)
    far = distances(ncc.shape, (i, j)) > DISTINCT_SHIFT
    return dict(
        verify_score=score, verify_weighted=float(weighted[i, j]),
        verify_second=float(weighted[far].max()),
        verify_rmse=model_distance(polished, matrix, _full_size(reference, to_full1)),
        polished=polished.tolist())


def _full_size(reference: Reference, to_full1: np.ndarray) -> tuple[int, int]:
    """(rows, cols) of image 1 at full resolution."""
    height, width = reference.shape
    return tuple(int(round(v)) for v in (to_full1 @ [width, height, 0])[1::-1])


def whole_overlap_estimate(reference: Reference, image2: np.ndarray, matrix: np.ndarray,
                           to_full1: np.ndarray, fine_maps,
                           steps: tuple[float, ...] = POLISH_STEPS,
                           candidates: tuple[tuple[float, float], ...] = POLISH_GRID,
                           ) -> dict | None:
    """The whole overlap correlated around a model: the model polished, and how sure.

    Image 2 is resampled through the model turned and scaled about image 1's
    centre by each of ``candidates`` ((degrees, factor); by default every one of
    ``POLISH_TURNS`` with every one of ``POLISH_SCALES``), in steps shrinking by
    ``steps`` (each level around
    the best of the one before); each is correlated with image 1 over all
    shifts (the whole overlap at once, not templates) and the best peak,
    with a sub-pixel shift (:func:`peak_offset`), gives the polished model
    (``diagnostics['polished']``; candidates are compared by unweighted
    correlation, ``verify_score``). Its correlation weighted by the
    overlap's share as in the global search (``verify_weighted``), the best
    weighted correlation more than ``DISTINCT_SHIFT`` working pixels from it
    (``verify_second``) say whether it is to be trusted; ``verify_rmse`` is
    how far the polish moved the model it started from (image-2 pixels).

    ``fine_maps`` computes the matcher's fine feature maps of a resampled
    image 2. Returns those figures as a dict, or None when no overlap
    correlates.
    """
    levels = [[similarity(turn * fraction, scale ** fraction) for turn, scale in candidates]
              for fraction in steps]
    best = _best_candidate(reference, image2, matrix @ to_full1, fine_maps, levels)
    return None if best is None else _polished(reference, best, matrix, to_full1)


def whole_overlap_affine(reference: Reference, image2: np.ndarray, matrix: np.ndarray,
                         to_full1: np.ndarray, fine_maps, score: float,
                         steps: tuple[float, ...] = AFFINE_STEPS) -> dict | None:
    """A polished similarity (``matrix``, correlating ``score`` unweighted) stretched
    into an affine map where the whole overlap correlates better.

    The part of a linear map that a similarity lacks is a stretch along one axis
    with a shrink along the other: ``[[1 + p, q], [q, 1 - p]]`` about image 1's
    centre. Every ``p`` and ``q`` of -s, 0 and s (but both 0) is tried for each s
    of ``steps``, each level around the best so far, as
    :func:`whole_overlap_estimate` tries turns and scales; turn and scale are then
    polished again about it (``AFFINE_REPOLISH_STEPS``). Returns its figures for
    the best affine map (``verify_rmse`` from ``matrix``), or None when no stretch
    correlates better than ``score``.
    """
    levels = [[np.array([[1 + p, q], [q, 1 - p]]) for p in (-step, 0.0, step)
               for q in (-step, 0.0, step) if p or q] for step in steps]
    start = matrix @ to_full1
    best = _best_candidate(reference, image2, start, fine_maps, levels,
                           best=(score, None, (0.0, 0.0), start))
    if best is None or best[1] is None:
        return None
    stretched = _polished(reference, best, matrix, to_full1)
    # turn and scale polished again about the stretched map (the two interact): on 3MOS
    # tuning pairs stretched by up to 3 %, 59 within 3 px against 55 without, 13 off
    # against 16 (told the pose); the similarity pairs' answers unchanged
    again = whole_overlap_estimate(reference, image2, np.array(stretched["polished"]),
                                   to_full1, fine_maps, steps=AFFINE_REPOLISH_STEPS)
    if again is None or again["verify_score"] <= stretched["verify_score"]:
        return stretched
    return {**again, "verify_rmse": model_distance(np.array(again["polished"]), matrix,
                                                   _full_size(reference, to_full1))}
