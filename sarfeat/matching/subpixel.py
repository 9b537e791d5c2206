"""Area-based refinement of a fitted transform: each inlier keypoint, correlated.

A keypoint match says where a feature is to about a pixel and a half in SAR
(speckle moves the repeatability peak); the transform fitted to many matches
averages that out only as the square root of their number. Once the
transform is known, the image itself says more: around each inlier keypoint
of the fixed image, the moving image is resampled through the transform onto
the fixed grid, and the residual shift between the two windows is measured
by cross-correlation with sub-pixel upsampling
(:func:`skimage.registration.phase_cross_correlation`, the plain correlation
of Hann-windowed, mean-free windows: whitened phase correlation was less
precise on speckle). The fixed point and the moving point it correlates with
become a new correspondence, and the transform is refitted to them by least
squares with median-based outlier rejection.

The refit is kept only when the correlated correspondences fit it clearly
more tightly than the keypoint matches fit the original transform (median
residuals, by the factor ``max_residual_ratio``), enough of them survive, and
enough of the windows look alike on both sides (``min_correlated_share``: a
few tight windows among many that do not are not trusted over the keypoints);
otherwise the transform is returned unchanged.
Correlation measures a shift precisely where both images show the same
structure (the same channel at two dates: a few hundredths of a pixel on the
bundled scene); between channels that image different scattering (VV against
VH) it scatters by about a pixel (on the bundled Labrador scene: median
residual 1.04 px, median offset under 0.1 px, 2026-12-07). That scatter comes
from the windows whose two sides look alike only weakly, so a window is used
only when the normalised correlation of its two tapered sides under the
transform reaches ``min_correlation`` (on the Labrador VV/VH pair, windows
below 0.2 placed their peak 2.6 px from the truth at the median, those from
0.4 up 0.7 px, 2026-12-08). The matched keypoints themselves can be biased
there (Labrador: VH's 0.66 px to the right of VV's, where the two channels are
aligned to 0.1 px), and only the correlation can take that out. Everything
here is pure numpy/scipy/scikit-image and runs without the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from .fine import FineResult
from .geometry import apply_matrix
from .models import NESTED

__all__ = ["SubpixelSettings", "correlated_points", "correlation_shifts", "refine_by_correlation",
           "refine_result", "spread_subset", "window_correlations"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class SubpixelSettings:
    """Parameters of :func:`refine_by_correlation`.

    Attributes
    ----------
    radius : int
        Half-size of the correlated windows (a window is ``2 * radius + 1`` px).
    upsample : int
        Sub-pixel resolution of the correlation peak: 1 / ``upsample`` px.
    max_shift : float
        Correlation shifts larger than this (px) are discarded: the keypoint
        match already placed the point within its localisation error.
    rejection : float
        Outliers of the refit: residual above ``rejection`` robust standard
        deviations (median absolute deviation x 1.4826).
    min_points : int
        Fewest correlated correspondences for a refit.
    max_residual_ratio : float
        The refit is kept when the median residual of the correlated
        correspondences is at most this fraction of the keypoint matches'.
    max_points : int
        Most keypoints correlated, spread over the image (a large scene has
        tens of thousands of inliers; a few hundred well-spread ones fix an
        affine model to a few hundredths of a pixel).
    min_correlation : float
        Windows whose normalised correlation (of the two tapered, mean-free
        sides, the moving one resampled through the transform) is below this
        are not used: their peak lies anywhere within ``max_shift``. -1 uses
        every window.
    min_correlated_share : float
        Least share of the correlated windows (those whose peak lies within
        ``max_shift``) that must reach ``min_correlation`` for a refit.
    """

    radius: int = 12
    upsample: int = 20
    max_shift: float = 3.0
    rejection: float = 3.0
    min_points: int = 8
    max_residual_ratio: float = 0.75
    max_points: int = 400
    min_correlation: float = 0.3
    min_correlated_share: float = 0.4


def spread_subset(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of at most ``count`` of ``points`` (N, 2), spread over their bounding box.

    The box is cut into about ``count`` cells; every cell gives its first
    point, then its second, and so on, until ``count`` are chosen (in the
    points' order within a cell: deterministic).
    """
    points = np.asarray(points, dtype=float)
    if len(points) <= count:
        return np.arange(len(points))
    side = max(1, int(np.ceil(np.sqrt(count))))
    low, span = points.min(axis=0), np.ptp(points, axis=0) + 1e-9
    cells = np.minimum((points - low) / span * side, side - 1).astype(int)
    cell = cells[:, 1] * side + cells[:, 0]
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], cell[order], side="left")
    rank = np.empty(len(points), int)
    rank[order] = np.arange(len(points)) - starts  # position of each point within its cell
    chosen = np.lexsort((np.arange(len(points)), rank))[:count]
    return np.sort(chosen)


def _moving_window(moving: np.ndarray, matrix: np.ndarray, x: int, y: int,
                   offsets: np.ndarray) -> np.ndarray | None:
    """The moving image sampled (bilinear) at ``matrix`` of the fixed window around (x, y)."""
    grid_x, grid_y = np.meshgrid(x + offsets, y + offsets)
    mapped = apply_matrix(matrix, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    if not np.all(np.isfinite(mapped)):
        return None
    col0, row0 = np.floor(mapped.min(axis=0)).astype(int)
    col1, row1 = np.floor(mapped.max(axis=0)).astype(int) + 2
    if row0 < 0 or col0 < 0 or row1 > moving.shape[0] or col1 > moving.shape[1]:
        return None
    window = np.asarray(moving[row0:row1, col0:col1], dtype=np.float64)
    sampled = map_coordinates(window, [mapped[:, 1] - row0, mapped[:, 0] - col0], order=1)
    return sampled.reshape(grid_x.shape)


def correlated_points(
    fixed: np.ndarray, moving: np.ndarray, matrix: np.ndarray, points: np.ndarray,
    settings: SubpixelSettings = SubpixelSettings(),
) -> tuple[np.ndarray, np.ndarray]:
    """Moving-image points that correlate with fixed-image ``points`` under ``matrix``.

    Parameters
    ----------
    fixed, moving : (H, W) ndarray, or any object with ``shape`` and 2-D slicing
        The two images on one radiometric scale (for example normalised to
        [0, 1], or :class:`sarfeat.preprocess.ScaledImage` views); NaN marks
        no-data (a window touching it is skipped). Only windows are read.
    matrix : (3, 3) ndarray
        Fixed (x, y) to moving (x, y).
    points : (N, 2) ndarray
        Fixed-image (x, y); each is rounded to its pixel.
    settings : SubpixelSettings

    Returns
    -------
    fixed_points, moving_points : (M, 2) ndarray
        The rounded fixed points that could be correlated and their moving
        (x, y) counterparts.
    """
    fixed_points, moving_points, correlations = _correlate(fixed, moving, matrix, points, settings)
    alike = correlations >= settings.min_correlation
    return fixed_points[alike], moving_points[alike]


def _correlate(fixed, moving, matrix: np.ndarray, points: np.ndarray,
               settings: SubpixelSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`correlated_points` before ``min_correlation``, with each window's correlation."""
    radius = settings.radius
    offsets = np.arange(-radius, radius + 1)
    taper = np.outer(np.hanning(2 * radius + 1), np.hanning(2 * radius + 1))
    height, width = fixed.shape
    centres, fixed_windows, moving_windows = [], [], []
    for x, y in np.rint(np.asarray(points, dtype=float)).astype(int):
        if not (radius <= y < height - radius and radius <= x < width - radius):
            continue
        window_fixed = np.asarray(fixed[y - radius:y + radius + 1, x - radius:x + radius + 1],
                                  dtype=np.float64)
        window_moving = _moving_window(moving, matrix, x, y, offsets)
        if window_moving is None or not (np.all(np.isfinite(window_fixed))
                                         and np.all(np.isfinite(window_moving))):
            continue
        if np.ptp(window_fixed) == 0 or np.ptp(window_moving) == 0:
            continue
        centres.append((x, y))
        fixed_windows.append((window_fixed - window_fixed.mean()) * taper)
        moving_windows.append((window_moving - window_moving.mean()) * taper)
    if not centres:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0)
    fixed_windows, moving_windows = np.array(fixed_windows), np.array(moving_windows)
    # the fixed window's centre lies at minus the shift in the moving one
    d_row, d_col = -correlation_shifts(fixed_windows, moving_windows, settings.upsample).T
    near = np.maximum(np.abs(d_row), np.abs(d_col)) <= settings.max_shift
    fixed_points = np.array(centres, dtype=float)[near]
    moving_points = fixed_points + np.column_stack([d_col[near], d_row[near]])
    correlations = window_correlations(fixed_windows, moving_windows)[near]
    if not len(fixed_points):
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0)
    return fixed_points, apply_matrix(matrix, moving_points), correlations


def window_correlations(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """(N,) normalised correlation at zero shift of each pair of (N, n, n) windows.

    The windows are taken as they are (already mean-free and tapered by the
    caller); a window without variance gives 0.
    """
    product = np.einsum("nij,nij->n", reference, moving)
    energy = np.sqrt(np.einsum("nij,nij->n", reference, reference)
                     * np.einsum("nij,nij->n", moving, moving))
    return np.divide(product, energy, out=np.zeros_like(product), where=energy > 0)


def correlation_shifts(reference: np.ndarray, moving: np.ndarray, upsample: int) -> np.ndarray:
    """(N, 2) (row, col) shifts registering each moving window onto its reference window.

    The plain (unnormalised) cross-correlation of each pair of (N, n, n) windows,
    its integer peak by FFT, then refined to 1/``upsample`` pixel by a
    matrix-multiply DFT over 1.5 pixels around it (Guizar-Sicairos et al., 2008):
    what :func:`skimage.registration.phase_cross_correlation` gives with
    ``normalization=None`` for one pair, for all pairs at once.
    """
    count, size = reference.shape[0], reference.shape[-1]
    product = np.fft.fft2(reference) * np.fft.fft2(moving).conj()
    correlation = np.abs(np.fft.ifft2(product)).reshape(count, -1)
    peak = np.column_stack(np.unravel_index(correlation.argmax(axis=1), (size, size)))
    shifts = np.where(peak > size // 2, peak - size, peak).astype(float)
    shifts = np.round(shifts * upsample) / upsample
    region = int(np.ceil(upsample * 1.5))
    centre = region // 2
    frequencies = np.fft.fftfreq(size, upsample)
    # kernels[k, axis]: (region, size) samples of the DFT around each window's shift
    positions = np.arange(region)[None, None, :] - (centre - shifts * upsample)[:, :, None]
    kernels = np.exp(-2j * np.pi * positions[..., None] * frequencies)
    upsampled = np.einsum("nir,nrc,njc->nij", kernels[:, 0], product.conj(), kernels[:, 1],
                          optimize=True)
    fine = np.column_stack(np.unravel_index(np.abs(upsampled).reshape(count, -1).argmax(axis=1),
                                            (region, region)))
    return shifts + (fine - centre) / upsample


def _robust_least_squares(source, target, name: str, settings: SubpixelSettings):
    """Least squares with median-based rejection: (transform, kept) or None."""
    model_class, min_samples, _ = NESTED[name]
    kept = np.ones(len(source), dtype=bool)
    transform = None
    for _ in range(4):
        if kept.sum() < max(min_samples, settings.min_points):
            return None
        transform = model_class.from_estimate(source[kept], target[kept])
        if not transform:
            return None
        residuals = transform.residuals(source, target)
        spread = _MAD_TO_SIGMA * np.median(np.abs(residuals[kept]))
        updated = residuals <= max(settings.rejection * spread, 1.0 / settings.upsample)
        if np.array_equal(updated, kept):
            break
        kept = updated
    return transform, kept


def refine_by_correlation(
    fixed: np.ndarray, moving: np.ndarray, transform, name: str,
    source: np.ndarray, target: np.ndarray, settings: SubpixelSettings = SubpixelSettings(),
) -> tuple[object, dict]:
    """Refit ``transform`` on correlated correspondences at the inlier keypoints.

    Parameters
    ----------
    fixed, moving : (H, W) ndarray, or any object with ``shape`` and 2-D slicing
        The images, on one radiometric scale; NaN marks no-data.
    transform : skimage.transform.ProjectiveTransform
        Fitted fixed (x, y) to moving (x, y).
    name : str
        Its model (a key of :data:`sarfeat.matching.models.NESTED`); the refit
        keeps it.
    source, target : (N, 2) ndarray
        The inlier keypoint matches (x, y) it was fitted to.
    settings : SubpixelSettings

    Returns
    -------
    transform : skimage.transform.ProjectiveTransform
        The refitted transform, or ``transform`` itself when the refit is not
        better supported (see the module docstring).
    diagnostics : dict
        ``subpixel_windows`` (windows correlated within ``max_shift``),
        ``subpixel_points`` (those reaching ``min_correlation``: the
        correspondences), ``subpixel_kept`` (after rejection),
        ``subpixel_residual_median`` (px, of the kept ones under the refit),
        ``keypoint_residual_median`` (px) and ``subpixel_refined`` (whether
        the refit was kept).
    """
    keypoint_median = float(np.median(transform.residuals(source, target))) if len(source) else 0.0
    diagnostics = {"subpixel_windows": 0, "subpixel_points": 0, "subpixel_kept": 0,
                   "subpixel_residual_median": None,
                   "keypoint_residual_median": keypoint_median, "subpixel_refined": False}
    chosen = spread_subset(source, settings.max_points)
    fixed_points, moving_points, correlations = _correlate(fixed, moving, transform.params,
                                                           source[chosen], settings)
    alike = correlations >= settings.min_correlation
    fixed_points, moving_points = fixed_points[alike], moving_points[alike]
    diagnostics.update(subpixel_windows=len(alike), subpixel_points=len(fixed_points))
    enough = len(fixed_points) > 0 and alike.mean() >= settings.min_correlated_share
    fitted = _robust_least_squares(fixed_points, moving_points, name, settings) \
        if enough else None
    if fitted is None:
        return transform, diagnostics
    refitted, kept = fitted
    median = float(np.median(refitted.residuals(fixed_points[kept], moving_points[kept])))
    diagnostics.update(subpixel_kept=int(kept.sum()), subpixel_residual_median=median)
    if median > settings.max_residual_ratio * keypoint_median:
        return transform, diagnostics
    diagnostics["subpixel_refined"] = True
    return refitted, diagnostics


def refine_result(fixed, moving, result: FineResult, model: str, fine_threshold: float,
                  min_inliers: int) -> None:
    """Refit the model of a fine-stage result in place, when :func:`refine_by_correlation` keeps it.

    The result's keypoint matches must still agree with the refit: at least
    ``min_inliers`` and half of its inliers within ``fine_threshold``; then
    its model, inliers and residual diagnostics are replaced. ``model`` is the
    matcher's model, used when the result names no selected one.
    """
    source, target = result.matched_points()
    transform, report = refine_by_correlation(
        fixed, moving, result.model, result.model_name or model,
        source[result.inliers], target[result.inliers])
    result.diagnostics.update(report)
    if not report["subpixel_refined"]:
        return
    residuals = transform.residuals(source, target)
    inliers = residuals <= fine_threshold
    if inliers.sum() < max(min_inliers, result.inliers.sum() // 2):
        result.diagnostics["subpixel_refined"] = False
        return
    result.model = type(result.model)(matrix=transform.params)
    result.inliers = inliers
    result.diagnostics.update(
        fine_inliers=int(inliers.sum()), residual_median=float(np.median(residuals[inliers])),
        residual_rms=float(np.sqrt(np.mean(residuals[inliers] ** 2))))
