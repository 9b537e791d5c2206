"""The hand-made descriptors of :class:`sarfeat.MultiDescriptorExtractor`.

``'ratio_hog'`` (:func:`ratio_hog_descriptors`): SAR-SIFT's log-polar histogram
of ROEWA ratio-gradient orientations (:func:`roewa_gradient`), with its
dominant orientation; ``'log_patch'`` (:func:`log_patch_descriptors`): the
normalised log-intensity patch. The method, its parameters and what was
measured are described in :mod:`sarfeat.descriptors`. Every keypoint is
described at once with array operations (compiled loops with numba where it is
installed, ``sarfeat.runtime.kernels.descriptors``, with the same arithmetic).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .preprocess import NormalizedImage
from .pyramid import PATCH_DIAMETER
from .runtime.kernels import descriptors as fused
from .runtime.kernels import worth_compiling

__all__ = ["DISPLAY_DB_RANGE", "log_patch_descriptors", "ratio_hog_descriptors",
           "roewa_gradient", "valid_at_keypoints"]

#: dB span assumed for a ``'display'`` image (a stretched quick-look in [0, 1])
#: when linear intensity is recovered from it for the ROEWA gradient.
DISPLAY_DB_RANGE = 25.0

# SAR-SIFT's GLOH-like grid: ring radii as fractions of the disc radius
_GLOH_RADII = (0.25, 0.73)
_GLOH_SECTORS = 8
_ORIENTATION_BINS = 36  # dominant-orientation histogram
_ORIENTATION_SIGMA = 1.5  # its Gaussian weight, in disc radii (nearly flat over the disc)
_ORIENTATION_ALPHA = 3.0  # its ROEWA decay length, in multiples of the descriptor's
_ORIENTATION_SMOOTHING = 16  # passes of [1, 2, 1] / 4: a binomial kernel of about 28 degrees
_HOG_LATTICE = 20  # samples across the disc's diameter
_HOG_CLIP = 0.2
# linear intensity is brought below 2 ** this by a gain before the ROEWA sums (float32 headroom)
_INTENSITY_CEILING_LOG2 = 40
# keypoint scales are grouped on this log2 grid (the detector's pyramid step)
_SCALE_STEP = 0.25


# -- ROEWA ratio gradient -------------------------------------------------------------------------


def _exp_causal(values: np.ndarray, decay: np.float32, axis: int) -> np.ndarray:
    """sum_{k >= 0} decay**k * values[n - k] along ``axis`` (a first-order recursive filter).

    ``y[n] = decay * y[n - 1] + values[n]`` in the values' precision, one slice at a
    time: the arithmetic of ``scipy.signal.lfilter([1], [1, -decay])`` and of the
    compiled kernel, to the bit, without importing scipy.signal (0.4 s at every start).
    """
    moved = np.moveaxis(values, axis, 0)
    out = np.empty_like(moved)
    decay = moved.dtype.type(decay)
    total = np.zeros_like(moved[0])
    for index in range(moved.shape[0]):
        np.multiply(total, decay, out=total)
        np.add(total, moved[index], out=total)
        out[index] = total
    return np.moveaxis(out, 0, axis)


def _exp_anticausal(values: np.ndarray, decay: np.float32, axis: int) -> np.ndarray:
    """sum_{k >= 0} decay**k * values[n + k] along ``axis``."""
    flipped = np.flip(values, axis)
    return np.flip(_exp_causal(flipped, decay, axis), axis)


def roewa_gradient(
    intensity: np.ndarray, alpha: float, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ROEWA ratio gradient of a linear-intensity SAR image.

    For each pixel and axis, the exponentially weighted means of the intensity
    on the two sides of the pixel (weights ``exp(-(|dr| + |dc|) / alpha)`` over
    the half-plane ``dc >= 1``, respectively ``dc <= -1``, for the column
    direction; likewise for rows) give the gradient component
    ``log(M_plus / M_minus)``. This is SAR-SIFT's gradient by ratio; it is
    invariant to a gain on the intensity and unbiased under multiplicative
    speckle. The weights are separable, so the means are computed exactly with
    first-order recursive filters (cost independent of ``alpha``), and as
    normalised convolutions: pixels outside the image or outside ``valid``
    carry no weight.

    Parameters
    ----------
    intensity : (H, W) ndarray
        Linear intensity (power), positive where valid.
    alpha : float
        Decay length of the exponential weights, in pixels.
    valid : (H, W) ndarray of bool, optional
        False for pixels to ignore (no-data).

    Returns
    -------
    grad_row, grad_col : (H, W) ndarray of float32
        Log-ratio gradient along rows (downwards) and along columns
        (rightwards); 0 where one side has no valid pixel.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    decay = np.float32(math.exp(-1.0 / alpha))
    weight = np.ones(intensity.shape, np.float32) if valid is None else valid.astype(np.float32)
    values = np.where(weight > 0, intensity, 0).astype(np.float32)
    if fused.available() and worth_compiling(intensity.size):  # the same arithmetic, compiled
        return fused.roewa_gradient(values * weight, weight, decay)
    stack = np.stack([values * weight, weight])  # numerator and normaliser together
    gradients = []
    for across, along in ((2, 1), (1, 2)):  # (rows, cols) of the stack are axes 1, 2
        smooth = _exp_causal(stack, decay, across) + _exp_anticausal(stack, decay, across) - stack
        plus = _exp_anticausal(smooth, decay, along) - smooth
        minus = _exp_causal(smooth, decay, along) - smooth
        gradients.append(_log_ratio(plus, minus))
    return gradients[0], gradients[1]


def _log_ratio(plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """log(mean_plus / mean_minus) from stacked (weighted sum, weight) pairs; 0 if undefined."""
    tiny = np.float32(1e-6)
    ok = (plus[1] > tiny) & (minus[1] > tiny) & (plus[0] > 0) & (minus[0] > 0)
    ratio = np.ones_like(plus[0])
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(plus[0] * minus[1], minus[0] * plus[1], out=ratio, where=ok)
    ratio[~((ratio > 0) & (ratio < np.inf))] = 1  # an overflowed product has no finite log
    return np.log(ratio, out=ratio)


def _linear_intensity(image, normalized: NormalizedImage) -> np.ndarray:
    """Linear intensity for ROEWA, from the raw input (or from the dB image of a quick-look)."""
    valid = normalized.valid
    kind = normalized.kind
    raw = np.asarray(image)
    if kind == "display":
        # a quick-look is a stretched log image: undo an assumed stretch of DISPLAY_DB_RANGE dB
        return np.power(
            np.float32(10), normalized.image * np.float32(DISPLAY_DB_RANGE / 10), dtype=np.float32
        )
    with np.errstate(over="ignore", invalid="ignore"):
        if np.iscomplexobj(raw) or kind == "amplitude":
            amplitude = np.abs(raw).astype(np.float32)
            amplitude *= _gain_to_ceiling(amplitude, valid, 2.0 ** (_INTENSITY_CEILING_LOG2 / 2))
            values = amplitude * amplitude
        elif kind == "db":
            decibels = raw.astype(np.float32) / np.float32(10)
            top = _finite_max(decibels, valid)
            ceiling = np.float32(_INTENSITY_CEILING_LOG2 * math.log10(2))
            if top > ceiling:  # a gain (a shift in dB) keeps 10 ** (x / 10) finite
                decibels -= np.float32(top) - ceiling
            values = np.power(np.float32(10), decibels)
        else:
            values = raw.astype(np.float32)
            values *= _gain_to_ceiling(values, valid, 2.0 ** _INTENSITY_CEILING_LOG2)
    usable = np.isfinite(values) & (values > 0)
    if valid is not None:
        usable &= valid
    floor = values[usable].min() if usable.any() else np.float32(1)
    # dark pixels (zero or negative after noise removal) are dark, not missing
    return np.where(np.isfinite(values), np.maximum(values, floor), floor).astype(np.float32)


def _finite_max(values: np.ndarray, valid: np.ndarray | None) -> float:
    """Largest finite value (at valid pixels); -inf when there is none."""
    usable = np.isfinite(values)
    if valid is not None:
        usable &= valid
    return float(values[usable].max()) if usable.any() else -math.inf


def _gain_to_ceiling(values: np.ndarray, valid: np.ndarray | None, ceiling: float) -> np.float32:
    """A power of two (exact, so 1 for ordinary images) that brings the maximum below ``ceiling``.

    The ROEWA ratio is invariant to a gain; bounding the intensity keeps its
    exponentially weighted sums finite in float32 (pixels near float32's maximum).
    """
    top = _finite_max(values, valid)
    if not top > ceiling:
        return np.float32(1)
    return np.float32(2.0 ** -math.ceil(math.log2(top / ceiling)))


# -- sampling helpers -----------------------------------------------------------------------------


def valid_at_keypoints(valid: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``valid`` at the pixel nearest to each keypoint (False for non-finite positions).

    Parameters
    ----------
    valid : (H, W) ndarray of bool
        The image's valid pixels.
    keypoints : (N, 2) ndarray
        (row, col).

    Returns
    -------
    (N,) ndarray of bool
    """
    height, width = valid.shape
    finite = np.isfinite(keypoints).all(axis=1)
    rows = np.clip(np.rint(np.where(finite, keypoints[:, 0], 0)), 0, height - 1).astype(int)
    cols = np.clip(np.rint(np.where(finite, keypoints[:, 1], 0)), 0, width - 1).astype(int)
    return finite & valid[rows, cols]


def _disc_lattice(samples: int) -> np.ndarray:
    """(K, 2) offsets (x, y) of a lattice in the unit disc, symmetric under 90-degree turns."""
    axis = (np.arange(samples) + 0.5) / samples * 2 - 1
    x, y = np.meshgrid(axis, axis)
    inside = x * x + y * y <= 1
    return np.stack([x[inside], y[inside]], axis=1)


def _scale_groups(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group scales on a log2 grid: (representative scale per group, group of each keypoint)."""
    steps = np.rint(np.log2(scales / PATCH_DIAMETER) / _SCALE_STEP).astype(int)
    levels, group = np.unique(steps, return_inverse=True)
    return PATCH_DIAMETER * 2.0 ** (levels * _SCALE_STEP), group


def _sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at float positions of any shape."""
    coords = np.stack([rows.ravel(), cols.ravel()])
    return ndimage.map_coordinates(image, coords, order=1, mode="nearest").reshape(rows.shape)


def _sample_pair(
    first: np.ndarray, second: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of two same-shape images at the same positions (inside the image)."""
    if fused.available() and worth_compiling(rows.size, exact=False):
        return fused.bilinear_pair(first, second, rows, cols)
    return _sample(first, rows, cols), _sample(second, rows, cols)


def _support_ok(
    keypoints: np.ndarray,
    reach: np.ndarray,
    shape: tuple[int, int],
    invalid_distance: np.ndarray | None,
) -> np.ndarray:
    """Keypoints whose support (a disc of radius ``reach``) lies in the image, away from no-data."""
    height, width = shape
    rows, cols = keypoints[:, 0], keypoints[:, 1]
    with np.errstate(invalid="ignore"):
        ok = (
            np.isfinite(keypoints).all(axis=1)
            & np.isfinite(reach)
            & (rows - reach >= 0)
            & (rows + reach <= height - 1)
            & (cols - reach >= 0)
            & (cols + reach <= width - 1)
        )
    if invalid_distance is not None and ok.any():
        r = np.rint(rows[ok]).astype(int)
        c = np.rint(cols[ok]).astype(int)
        ok[ok] = invalid_distance[r, c] > reach[ok] + 1
    return ok


def _dominant_orientations(
    grad_row: np.ndarray, grad_col: np.ndarray, radius_u: np.ndarray
) -> np.ndarray:
    """SAR-SIFT dominant orientation per keypoint from its (N, K) gradient samples."""
    count = grad_row.shape[0]
    bins = _ORIENTATION_BINS
    weight = np.hypot(grad_row, grad_col) * np.exp(
        -(radius_u * radius_u) / (2 * _ORIENTATION_SIGMA ** 2)
    )
    position = np.mod(np.arctan2(grad_row, grad_col), 2 * np.pi) * (bins / (2 * np.pi))
    low = np.floor(position)
    frac = position - low
    low = low.astype(np.int64) % bins
    base = np.arange(count)[:, None] * bins
    hist = np.bincount((base + low).ravel(), (weight * (1 - frac)).ravel(), count * bins)
    hist += np.bincount((base + (low + 1) % bins).ravel(), (weight * frac).ravel(), count * bins)
    hist = hist.reshape(count, bins)
    for _ in range(_ORIENTATION_SMOOTHING):  # circular binomial smoothing
        hist = 0.25 * np.roll(hist, 1, axis=1) + 0.5 * hist + 0.25 * np.roll(hist, -1, axis=1)
    peak = hist.argmax(axis=1)
    rows = np.arange(count)
    left, center, right = hist[rows, peak - 1], hist[rows, peak], hist[rows, (peak + 1) % bins]
    curvature = left - 2 * center + right
    offset = np.divide(
        0.5 * (left - right), curvature, out=np.zeros(count), where=curvature < 0
    )
    return np.mod((peak + offset) * (2 * np.pi / bins), 2 * np.pi)


def _gloh_histograms(
    grad_row: np.ndarray,
    grad_col: np.ndarray,
    lattice: np.ndarray,
    orientations: np.ndarray,
    orientation_bins: int,
) -> np.ndarray:
    """(N, 17 * orientation_bins) log-polar orientation histograms, SIFT-normalised."""
    radius = np.hypot(lattice[:, 0], lattice[:, 1])
    ring = np.where(radius < _GLOH_RADII[0], 0, np.where(radius < _GLOH_RADII[1], 1, 2))
    angle = np.arctan2(lattice[:, 1], lattice[:, 0])
    if fused.available() and worth_compiling(grad_row.size, exact=False):  # one compiled loop
        hist = fused.gloh_histograms(
            grad_row, grad_col, ring, angle, orientations, orientation_bins, _GLOH_SECTORS
        )
    else:
        hist = _gloh_accumulate(grad_row, grad_col, ring, angle, orientations, orientation_bins)
    return _sift_normalize(hist)


def _gloh_accumulate(grad_row: np.ndarray, grad_col: np.ndarray, ring: np.ndarray,
                     angle: np.ndarray, orientations: np.ndarray, orientation_bins: int):
    """(N, 17 * orientation_bins) raw histograms with ``numpy.bincount`` (no numba)."""
    count = grad_row.shape[0]
    sectors = _GLOH_SECTORS
    size = (1 + 2 * sectors) * orientation_bins
    theta = orientations[:, None]
    two_pi = 2 * np.pi

    magnitude = np.hypot(grad_row, grad_col)
    opos = np.mod(np.arctan2(grad_row, grad_col) - theta, two_pi) * (orientation_bins / two_pi)
    finite = np.isfinite(magnitude) & np.isfinite(opos)  # a non-finite sample has no bin
    magnitude = np.where(finite, magnitude, 0.0)
    opos = np.where(finite, opos, 0.0)
    o_low = np.floor(opos)
    o_frac = opos - o_low
    o_low = o_low.astype(np.int64) % orientation_bins
    o_high = (o_low + 1) % orientation_bins

    ring = ring[None]
    # sector centres at (s + 0.5) * 2 pi / sectors, angles relative to the orientation
    spos = np.mod(angle[None] - np.where(np.isfinite(theta), theta, 0.0), two_pi)
    spos = spos * (sectors / two_pi) - 0.5
    s_low = np.floor(spos)
    s_frac = spos - s_low
    s_low = s_low.astype(np.int64) % sectors
    s_high = (s_low + 1) % sectors
    centre = ring == 0
    cell_low = np.where(centre, 0, 1 + (ring - 1) * sectors + s_low)
    cell_high = np.where(centre, 0, 1 + (ring - 1) * sectors + s_high)
    w_low = np.where(centre, 1.0, 1 - s_frac)
    w_high = np.where(centre, 0.0, s_frac)

    base = np.arange(count)[:, None] * size
    hist = np.zeros(count * size)
    for cell, w_cell in ((cell_low, w_low), (cell_high, w_high)):
        for obin, w_o in ((o_low, 1 - o_frac), (o_high, o_frac)):
            index = base + cell * orientation_bins + obin
            hist += np.bincount(index.ravel(), (magnitude * w_cell * w_o).ravel(), count * size)
    return hist.reshape(count, size)


def _sift_normalize(hist: np.ndarray) -> np.ndarray:
    """L2-normalise, clip at 0.2, renormalise; zero rows stay zero."""
    for clip in (_HOG_CLIP, None):
        norm = np.linalg.norm(hist, axis=1, keepdims=True)
        hist = np.divide(hist, norm, out=np.zeros_like(hist), where=norm > 0)
        if clip is not None:
            hist = np.minimum(hist, clip)
    return hist


# -- the descriptors -----------------------------------------------------------------------------


def ratio_hog_descriptors(
    image: np.ndarray,
    normalized: NormalizedImage,
    keypoints: np.ndarray,
    scales: np.ndarray,
    invalid_distance: np.ndarray | None,
    *,
    patch_scale: float,
    roewa_alpha: float,
    orientation_bins: int,
    rotation_invariant: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROEWA log-polar histograms of keypoints (``'ratio_hog'``).

    Parameters
    ----------
    image : ndarray
        The raw input (its linear intensity feeds the ROEWA gradient).
    normalized : NormalizedImage
        :func:`sarfeat.normalize_sar` of ``image``.
    keypoints : (N, 2) ndarray
        (row, col) positions.
    scales : (N,) ndarray
        Patch diameters.
    invalid_distance : ndarray or None
        Distance of each pixel to the nearest large no-data region.
    patch_scale, roewa_alpha : float
        As :class:`sarfeat.MultiDescriptorExtractor`'s parameters.
    orientation_bins : int
        As :class:`sarfeat.MultiDescriptorExtractor`'s parameter.
    rotation_invariant : bool
        As :class:`sarfeat.MultiDescriptorExtractor`'s parameter.

    Returns
    -------
    descriptors : (N, 17 * orientation_bins) ndarray of float32
    described : (N,) ndarray of bool
    orientations : (N,) ndarray
        The dominant orientations (zeros unless ``rotation_invariant``).
    """
    count = len(keypoints)
    size = (1 + 2 * _GLOH_SECTORS) * orientation_bins
    out = np.zeros((count, size), np.float32)
    orientations = np.zeros(count)
    radii = 0.5 * patch_scale * scales
    ok = _support_ok(keypoints, radii, normalized.image.shape, invalid_distance)
    if not ok.any():
        return out, ok, orientations
    intensity = _linear_intensity(image, normalized)
    lattice = _disc_lattice(_HOG_LATTICE)
    radius_u = np.hypot(lattice[:, 0], lattice[:, 1])[None]
    todo = np.flatnonzero(ok)
    level_scales, group = _scale_groups(scales[todo])
    grad_row = np.empty((todo.size, len(lattice)))
    grad_col = np.empty_like(grad_row)
    ori_row = np.empty_like(grad_row) if rotation_invariant else None
    ori_col = np.empty_like(grad_row) if rotation_invariant else None
    # one ROEWA computation per scale level; all keypoints of a level sampled at once
    for level, level_scale in enumerate(level_scales):
        members = np.flatnonzero(group == level)
        index = todo[members]
        alpha = roewa_alpha * level_scale / PATCH_DIAMETER
        g_row, g_col = roewa_gradient(intensity, alpha, normalized.valid)
        rows = keypoints[index, 0, None] + radii[index, None] * lattice[None, :, 1]
        cols = keypoints[index, 1, None] + radii[index, None] * lattice[None, :, 0]
        grad_row[members], grad_col[members] = _sample_pair(g_row, g_col, rows, cols)
        if rotation_invariant:  # smoother gradients for a steadier orientation
            g_row, g_col = roewa_gradient(
                intensity, alpha * _ORIENTATION_ALPHA, normalized.valid
            )
            ori_row[members], ori_col[members] = _sample_pair(g_row, g_col, rows, cols)
    if rotation_invariant:
        theta = _dominant_orientations(ori_row, ori_col, radius_u)
    else:
        theta = np.zeros(todo.size)
    hist = _gloh_histograms(grad_row, grad_col, lattice, theta, orientation_bins)
    described = np.linalg.norm(hist, axis=1) > 0  # a gradient-free patch says nothing
    out[todo] = hist
    ok[todo] = described
    orientations[todo] = theta
    return out, ok, orientations


def log_patch_descriptors(
    normalized: NormalizedImage,
    keypoints: np.ndarray,
    scales: np.ndarray,
    orientations: np.ndarray,
    invalid_distance: np.ndarray | None,
    *,
    patch_scale: float,
    size: int,
    sigma: float,
    rotation_invariant: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised log-intensity patches of keypoints (``'log_patch'``).

    Parameters
    ----------
    normalized : NormalizedImage
        :func:`sarfeat.normalize_sar` of the image (its dB image is sampled).
    keypoints : (N, 2) ndarray
        (row, col) positions.
    scales : (N,) ndarray
        Patch diameters.
    orientations : (N,) ndarray
        Angles the sampling grid is turned by.
    invalid_distance : ndarray or None
        Distance of each pixel to the nearest large no-data region.
    patch_scale : float
        Patch side over the keypoint's diameter.
    size : int
        Samples along a side (``log_patch_size``).
    sigma : float
        Gaussian prefilter in sample spacings (``log_patch_sigma``).
    rotation_invariant : bool
        Whether the grid may turn (its reach is then the corner's radius).

    Returns
    -------
    descriptors : (N, size * size) ndarray of float32
    described : (N,) ndarray of bool
    """
    count = len(keypoints)
    p = size
    out = np.zeros((count, p * p), np.float32)
    sides = patch_scale * scales
    grid = ((np.arange(p) + 0.5) / p - 0.5)  # in units of the side
    gx, gy = np.meshgrid(grid, grid)
    gx, gy = gx.ravel(), gy.ravel()
    # farthest sample from the keypoint: a corner, which a rotation can turn anywhere
    corner = (0.5 - 0.5 / p) * sides
    reach = corner * (math.sqrt(2) if rotation_invariant else 1.0)
    ok = _support_ok(keypoints, reach, normalized.image.shape, invalid_distance)
    todo = np.flatnonzero(ok)
    if todo.size == 0:
        return out, ok
    cos_t = np.cos(orientations[todo])[:, None]
    sin_t = np.sin(orientations[todo])[:, None]
    side = sides[todo, None]
    # grid (x, y) turned by the orientation, in image (col, row) coordinates
    rows = keypoints[todo, 0, None] + side * (sin_t * gx[None] + cos_t * gy[None])
    cols = keypoints[todo, 1, None] + side * (cos_t * gx[None] - sin_t * gy[None])
    values = np.empty((todo.size, p * p))
    level_scales, group = _scale_groups(scales[todo])
    for level, level_scale in enumerate(level_scales):
        members = np.flatnonzero(group == level)
        level_sigma = sigma * patch_scale * level_scale / p
        smooth = normalized.image
        if level_sigma > 0:
            smooth = ndimage.gaussian_filter(smooth, level_sigma)
        values[members] = _sample(smooth, rows[members], cols[members])
    values -= values.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(values, axis=1, keepdims=True)
    flat = norm[:, 0] <= 1e-6 * p  # a flat (e.g. saturated) patch has no pattern
    values = np.divide(values, norm, out=np.zeros_like(values), where=~flat[:, None])
    out[todo] = values
    ok[todo] = ~flat
    return out, ok
