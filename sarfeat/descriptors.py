"""Several descriptors at the same keypoints: :class:`MultiDescriptorExtractor`.

sarfeat's registration lets every descriptor vote for a match (DESIGN.md
section 6), so each keypoint is described several ways, all computed at the
same (row, col) positions and patch diameters (``scales``):

``'r2d2'``
    The network's 128-D descriptor, read by :class:`~sarfeat.SARR2D2Detector`
    at the pyramid level nearest to the keypoint's scale. Learned; not
    rotation invariant.

``'ratio_hog'``
    A SAR-SIFT-style histogram of gradient orientations (Dellinger et al.,
    "SAR-SIFT: a SIFT-like algorithm for SAR images", IEEE TGRS 2015). The
    gradient is the ROEWA ratio gradient (:func:`roewa_gradient`): along each
    axis, the log of the ratio of the exponentially weighted means of the
    *linear intensity* on the two sides of the pixel. A ratio of local means is
    unbiased under multiplicative speckle, where a difference of pixel values
    is not, and is exactly invariant to a gain on the intensity. The
    histogram uses SAR-SIFT's GLOH-like log-polar grid over the keypoint's
    disc (radius ``patch_scale * scales / 2``): a central disc of 0.25 of the
    radius, and two rings (to 0.73 and 1.0 of the radius) of 8 angular
    sectors each, so 17 cells, times 8 gradient orientations: 136 values,
    with linear interpolation between neighbouring sectors and orientations.
    It is L2-normalised, clipped at 0.2 and renormalised, as SIFT does.
    The gradient is sampled on a 20 x 20 lattice over the disc (bilinear),
    with decay length ``roewa_alpha * scales / 32`` (4/3 px at scale 32:
    SAR-SIFT's descriptor radius of 12 alpha for a 16-px radius).

    Which intensity: ROEWA runs on the linear intensity recovered from the
    raw input, not from the stretched dB image (whose clipping at the 1st and
    99th percentiles would distort the ratios): intensity as is, amplitude
    squared, complex ``|z|**2``, dB as ``10 ** (x / 10)``; values <= 0 are
    raised to the smallest positive one, as :func:`sarfeat.normalize_sar`
    does. Only a ``'display'`` quick-look, whose dB scale is unknown, is
    mapped back as ``10 ** (x * DISPLAY_DB_RANGE / 10)`` from the normalised
    image ``x`` in [0, 1].

``'log_patch'``
    The normalised log-intensity patch: a ``log_patch_size`` x
    ``log_patch_size`` grid of samples over the keypoint's square support
    (side ``patch_scale * scales``), read from the dB image of
    :func:`sarfeat.normalize_sar` after a Gaussian anti-aliasing prefilter of
    ``log_patch_sigma`` sample spacings; the samples minus their mean, divided
    by their norm (a zero-mean, unit-norm vector). A gain on the intensity is
    an offset in dB, which the mean removes, so the descriptor is brightness
    invariant; its dot product is the normalised cross-correlation of the two
    log patches. Default: 11 x 11 = 121 values, prefilter of half a spacing.

Rotation: with ``rotation_invariant=True``, each keypoint gets a dominant
orientation, as in SAR-SIFT: the peak of a 36-bin histogram of ROEWA gradient
orientations in the keypoint's disc, weighted by the gradient magnitude (and a
Gaussian of 1.5 disc radii), with parabolic interpolation of the peak. For
speckle robustness the gradient for the orientation uses a decay length three
times the descriptor's, and the histogram is smoothed by a circular binomial
kernel (about 28 degrees wide); both were measured to halve the orientation
errors between independent speckle realisations. The orientation is stored in
``orientations``; ``'ratio_hog'`` measures positions and gradient orientations
relative to it and ``'log_patch'`` turns its sampling grid with it, so both
are rotation invariant (a keypoint without an orientation, i.e. without any
gradient, is then not described by either). ``'r2d2'`` never is. The default,
False, keeps every descriptor upright (orientations are 0), which is what
matching with the R2D2 descriptor expects and what is most discriminative
when the images are not rotated.

Every descriptor is computed for all keypoints at once with array operations:
the images are filtered once per distinct keypoint scale (a handful of
pyramid levels, never once per keypoint), the samples of all keypoints are
gathered in one :func:`scipy.ndimage.map_coordinates` call and histograms are
accumulated with :func:`numpy.bincount`. There is no Python loop over
keypoints. With numba installed (``pip install sarfeat[fast]``) the ROEWA
gradient, the sampling and the histograms run as compiled loops instead
(``sarfeat.runtime.kernels.descriptors``), with the same arithmetic. The ROEWA
means are exact recursive (IIR) filters, so their cost does not grow with the
decay length; each scale level costs a few passes over the whole image (for
1024 x 1024 on one CPU core, about 0.2 s with scipy, 0.02 s with numba), and
memory is a few float32 copies of the image.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from .runtime.kernels import descriptors as fused
from .runtime.kernels import worth_compiling
from ._validation import check_bool, check_choice, check_keypoints, check_number, check_options
from .detector import PATCH_DIAMETER, SARR2D2Detector
from .preprocess import INPUT_KINDS, NormalizedImage, normalize_sar

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from .network import R2D2Net

__all__ = ["MultiDescriptorExtractor", "roewa_gradient", "DESCRIPTOR_NAMES"]

#: The descriptors :class:`MultiDescriptorExtractor` knows.
DESCRIPTOR_NAMES = ("r2d2", "ratio_hog", "log_patch")

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


def _valid_at(valid: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``valid`` at the pixel nearest to each keypoint (False for non-finite positions)."""
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


# -- the extractor --------------------------------------------------------------------------------


class MultiDescriptorExtractor:
    """Several descriptors at the same keypoints, with scikit-image's API.

    Detection (``detect``, ``detect_and_extract``) and the ``'r2d2'``
    descriptor use a :class:`~sarfeat.SARR2D2Detector`; ``'ratio_hog'`` and
    ``'log_patch'`` are computed from the image alone, so ``extract`` with only
    those needs no weights and describes keypoints of any detector (give their
    patch diameters as ``scales``). The descriptors are defined in the module
    documentation of :mod:`sarfeat.descriptors`.

    Parameters
    ----------
    weights : str, path-like or R2D2Net, optional
        The network, as for :class:`~sarfeat.SARR2D2Detector`, for detection
        and for ``'r2d2'``; None: the detector's default (sarfeat-sar-v1).
    descriptors : sequence of str or str
        Which descriptors to compute, among ``'r2d2'``, ``'ratio_hog'`` and
        ``'log_patch'``.
    detector : SARR2D2Detector, optional
        A configured detector to use instead of building one from ``weights``
        and ``detector_options`` (then give neither). The extractor always
        runs it upright (``upright=True``, on a copy if needed): ``'r2d2'`` is
        the network's upright descriptor.
    rotation_invariant : bool
        Rotate ``'ratio_hog'`` and ``'log_patch'`` to each keypoint's dominant
        ROEWA gradient orientation (see the module documentation). The R2D2
        descriptor is never rotation invariant.
    patch_scale : float
        Support of the patch descriptors, as a multiple of the keypoint's patch
        diameter ``scales``: the ``'ratio_hog'`` disc has diameter
        ``patch_scale * scales`` and the ``'log_patch'`` square that side.
    roewa_alpha : float
        Decay length, in pixels, of the ROEWA weights for a keypoint of scale
        32 (the detector's full-resolution level), proportional to the scale
        for others. The default 4/3 keeps SAR-SIFT's ratio of 12 between the
        descriptor radius and alpha; larger values resist speckle better but
        blur the structure (measured on AIRSAR channel pairs: 1.33 > 2 > 3).
    orientation_bins : int
        Gradient-orientation bins of ``'ratio_hog'``, per spatial cell.
    log_patch_size : int
        Samples per side of the ``'log_patch'`` grid (descriptor length is its
        square).
    log_patch_sigma : float
        Standard deviation of the Gaussian anti-aliasing prefilter of
        ``'log_patch'``, in grid spacings (``patch_scale * scales /
        log_patch_size`` pixels).
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}, optional
        What the pixel values are (see :func:`sarfeat.normalize_sar`). None
        uses the detector's setting (``'auto'`` by default); a value given
        here is also passed to the detector built from ``weights``.
    nodata : float, optional
        A pixel value marking no-data besides NaN; None uses the detector's.
    **detector_options
        Other :class:`~sarfeat.SARR2D2Detector` parameters (``max_keypoints``,
        ``min_size``, ``device``, ...).

    Attributes
    ----------
    keypoints : (N, 2) ndarray
        (row, col) of the described keypoints.
    scales : (N,) ndarray
        Their patch diameters in pixels.
    orientations : (N,) ndarray
        Dominant orientations in radians, the angle ``atan2(d/drow, d/dcol)``
        of the ROEWA gradient direction in (x = col, y = row) coordinates;
        zeros unless ``rotation_invariant``.
    responses : (N,) ndarray or None
        The detector's responses after ``detect`` or ``detect_and_extract``;
        None after ``extract`` alone.
    descriptors : dict of str to (N, D) ndarray of float32
        One row per keypoint for every descriptor; rows of keypoints the
        descriptor could not describe are zero.
    masks : dict of str to (N,) ndarray of bool
        Which keypoints each descriptor described. A patch descriptor cannot
        describe a keypoint whose support leaves the image or comes within a
        pixel of no-data; ``'r2d2'`` follows the detector's ``mask``.
        Keypoints are never dropped: use ``descriptors[name][masks[name]]``
        and ``keypoints[masks[name]]`` to match one descriptor.

    Examples
    --------
    >>> from skimage.feature import match_descriptors
    >>> from sarfeat import MultiDescriptorExtractor
    >>> extractor = MultiDescriptorExtractor(weights=my_weights)  # doctest: +SKIP
    >>> extractor.detect_and_extract(image1)  # doctest: +SKIP
    >>> d1, m1 = extractor.descriptors, extractor.masks  # doctest: +SKIP
    >>> extractor.extract(image2, keypoints2, scales2)  # doctest: +SKIP
    >>> d2, m2 = extractor.descriptors, extractor.masks  # doctest: +SKIP
    >>> matches = match_descriptors(d1["ratio_hog"][m1["ratio_hog"]],
    ...                             d2["ratio_hog"][m2["ratio_hog"]])  # doctest: +SKIP
    """

    def __init__(
        self,
        weights: str | os.PathLike | R2D2Net | None = None,
        *,
        descriptors: Iterable[str] | str = DESCRIPTOR_NAMES,
        detector: SARR2D2Detector | None = None,
        rotation_invariant: bool = False,
        patch_scale: float = 1.0,
        roewa_alpha: float = 4 / 3,
        orientation_bins: int = 8,
        log_patch_size: int = 11,
        log_patch_sigma: float = 0.5,
        input_kind: str | None = None,
        nodata: float | None = None,
        **detector_options,
    ) -> None:
        self.weights = weights
        self.descriptor_names = _check_names(descriptors)
        self.detector = detector
        self.rotation_invariant = rotation_invariant
        self.patch_scale = patch_scale
        self.roewa_alpha = roewa_alpha
        self.orientation_bins = orientation_bins
        self.log_patch_size = log_patch_size
        self.log_patch_sigma = log_patch_sigma
        self.input_kind = input_kind
        self.nodata = nodata
        self.detector_options = detector_options
        self._own_detector: SARR2D2Detector | None = None
        self._own_key = None
        self.keypoints = self.scales = self.orientations = self.responses = None
        self.descriptors: dict[str, np.ndarray] | None = None
        self.masks: dict[str, np.ndarray] | None = None
        self._check_parameters()
        if detector is None:
            self._get_detector()  # checks weights and detector options; loads nothing

    # -- setup ------------------------------------------------------------------------------------

    def _check_parameters(self) -> None:
        self.descriptor_names = _check_names(self.descriptor_names)
        if self.detector is not None:
            if not isinstance(self.detector, SARR2D2Detector):
                raise TypeError(
                    f"detector must be a SARR2D2Detector, got {type(self.detector).__name__}"
                )
            if self.weights is not None or self.detector_options:
                raise ValueError(
                    "give either detector= or weights= and detector options, not both"
                )
        check_bool("rotation_invariant", self.rotation_invariant)
        if self.input_kind is not None:
            check_choice("input_kind", self.input_kind, INPUT_KINDS)
        check_number("nodata", self.nodata, optional=True)
        if not (np.isfinite(self.patch_scale) and self.patch_scale > 0):
            raise ValueError(f"patch_scale must be positive, got {self.patch_scale}")
        if not (np.isfinite(self.roewa_alpha) and self.roewa_alpha > 0):
            raise ValueError(f"roewa_alpha must be positive, got {self.roewa_alpha}")
        for name, low in (("orientation_bins", 2), ("log_patch_size", 2)):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (np.isfinite(self.log_patch_sigma) and self.log_patch_sigma >= 0):
            raise ValueError(f"log_patch_sigma must be >= 0, got {self.log_patch_sigma}")

    def _get_detector(self) -> SARR2D2Detector:
        if self.detector is not None:
            if getattr(self.detector, "upright", True):
                return self.detector
            # 'r2d2' is the network's upright descriptor: a copy runs upright (same network)
            upright = copy.copy(self.detector)
            upright.upright = True
            return upright
        if not self.detector_options.get("upright", True):
            raise ValueError(
                "upright=False: the extractor runs its detector upright ('r2d2' is the "
                "network's upright descriptor); use rotation_invariant=True for rotation-"
                "invariant 'ratio_hog' and 'log_patch', or SARR2D2Detector() alone"
            )
        options = {**self.detector_options, "upright": True}
        if self.input_kind is not None:
            options["input_kind"] = self.input_kind
        if self.nodata is not None:
            options["nodata"] = self.nodata
        key = (id(self.weights), str(self.weights), sorted(options.items(), key=str))
        if self._own_detector is None or self._own_key != repr(key):
            # None: the detector's default weights (sarfeat-sar-v1, bundled)
            accepted = inspect.signature(SARR2D2Detector).parameters
            check_options(options, [name for name in accepted if name != "weights"],
                          "MultiDescriptorExtractor")
            self._own_detector = SARR2D2Detector(self.weights, **options)
            self._own_key = repr(key)
        return self._own_detector

    def _input_settings(self) -> tuple[str, float | None]:
        """(input_kind, nodata) for the patch descriptors: ours, else the detector's."""
        detector = self.detector
        kind = self.input_kind
        nodata = self.nodata
        if kind is None:
            kind = getattr(detector, "input_kind", "auto") if detector is not None else "auto"
        if nodata is None and detector is not None:
            nodata = detector.nodata
        return kind, nodata

    # -- public API -------------------------------------------------------------------------------

    def detect(self, image, mask=None) -> None:
        """Detect keypoints with the SAR R2D2 detector; fills ``keypoints``, ``scales``, ...

        Parameters
        ----------
        image : (H, W) array_like
            SAR image (see :meth:`sarfeat.SARR2D2Detector.detect`).
        mask : (H, W) array_like of bool, optional
            True where keypoints may be found.

        Raises
        ------
        ValueError
            For an unusable image or missing weights.
        RuntimeError
            When no keypoint is found.
        """
        self._check_parameters()
        detector = self._get_detector()
        detector.detect(image, mask)
        self._take_keypoints(detector)
        self.descriptors = None
        self.masks = None

    def detect_and_extract(self, image, mask=None) -> None:
        """Detect keypoints and compute every descriptor at them.

        Parameters and errors are those of :meth:`detect`. The R2D2
        descriptors come from the detection pass itself.
        """
        self._check_parameters()
        detector = self._get_detector()
        if "r2d2" in self.descriptor_names:
            detector.detect_and_extract(image, mask)
            r2d2 = (np.asarray(detector.descriptors, np.float32), np.asarray(detector.mask))
        else:
            detector.detect(image, mask)
            r2d2 = None
        self._take_keypoints(detector)
        self._describe(image, mask, r2d2)

    def extract(self, image, keypoints=None, scales=None, orientations=None, *, mask=None) -> None:
        """Compute every descriptor at given keypoints.

        The call shapes of scikit-image's ``ORB.extract`` and ``SIFT.extract``
        work: ``extract(image, keypoints, scales, orientations)``.

        Parameters
        ----------
        image : (H, W) array_like
            The image the keypoints belong to (any input :func:`sarfeat.normalize_sar`
            accepts).
        keypoints : (N, 2) array_like, optional
            (row, col) positions; by default those of the last :meth:`detect`.
        scales : (N,) array_like, optional
            Patch diameters in pixels (the detector's ``scales``: 32 at full
            resolution), at least 16. Default: those of the last :meth:`detect`
            when ``keypoints`` is omitted, else 32 for every keypoint. ORB's
            pyramid factors must be multiplied by 32 first.
        orientations : (N,) array_like, optional
            Accepted for scikit-image's call shape; descriptors are upright (or
            turned to their own dominant orientation with
            ``rotation_invariant=True``), so non-zero values are ignored with a
            warning.
        mask : (H, W) array_like of bool, optional
            True where pixels are valid (keyword only).

        Raises
        ------
        ValueError
            For an unusable image, keypoints or scales of the wrong shape,
            scales not finite or below 16, or ``'r2d2'`` without weights.
        RuntimeError
            With ``'r2d2'``, for a flat image (all valid pixels have one value).
        """
        self._check_parameters()
        if keypoints is None:
            if self.keypoints is None:
                raise ValueError("no keypoints: pass keypoints= or call detect() first")
            responses = self.responses
            scales = self.scales if scales is None else scales
            given = self.keypoints
        else:
            responses = None
            given = keypoints
        keypoints, scales = check_keypoints(given, scales, orientations,
                                            "MultiDescriptorExtractor")
        if given is self.keypoints:
            keypoints = self.keypoints
        if scales is None:
            scales = np.full(len(keypoints), PATCH_DIAMETER, dtype=keypoints.dtype)
        elif given is self.keypoints and self.scales is not None:
            scales = scales.astype(np.asarray(self.scales).dtype)
        self.keypoints = keypoints
        self.scales = scales
        self.responses = responses
        r2d2 = None
        if "r2d2" in self.descriptor_names:
            detector = self._get_detector()
            detector.extract(image, keypoints, scales, mask=mask)
            r2d2 = (np.asarray(detector.descriptors, np.float32), np.asarray(detector.mask))
        self._describe(image, mask, r2d2)

    # -- computation ------------------------------------------------------------------------------

    def _take_keypoints(self, detector: SARR2D2Detector) -> None:
        self.keypoints = detector.keypoints
        self.scales = detector.scales
        self.responses = detector.responses
        self.orientations = np.zeros(len(detector.keypoints), dtype=detector.keypoints.dtype)

    def _describe(self, image, mask, r2d2) -> None:
        """Fill ``descriptors``, ``masks`` and ``orientations`` for the current keypoints."""
        keypoints = np.asarray(self.keypoints, dtype=np.float64)
        scales = np.asarray(self.scales, dtype=np.float64)
        count = len(keypoints)
        descriptors: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        if r2d2 is not None:
            values, described = r2d2
            full = np.zeros((count, values.shape[1] if values.ndim == 2 else 128), np.float32)
            full[described] = values
            descriptors["r2d2"], masks["r2d2"] = full, described.astype(bool)

        patch_names = [n for n in self.descriptor_names if n != "r2d2"]
        orientations = np.zeros(count)
        if patch_names or self.rotation_invariant:
            kind, nodata = self._input_settings()
            normalized = normalize_sar(image, kind, mask, nodata)
            invalid_distance = None
            if normalized.large_invalid is not None:  # small no-data regions are filled
                invalid_distance = ndimage.distance_transform_edt(~normalized.large_invalid)
            needs_hog = "ratio_hog" in patch_names or self.rotation_invariant
            if needs_hog:
                hog, hog_ok, orientations = self._ratio_hog(
                    image, normalized, keypoints, scales, invalid_distance
                )
                if "ratio_hog" in patch_names:
                    descriptors["ratio_hog"], masks["ratio_hog"] = hog, hog_ok
            if "log_patch" in patch_names:
                values, described = self._log_patch(
                    normalized, keypoints, scales, orientations, invalid_distance
                )
                if self.rotation_invariant:  # no orientation, no rotation-invariant patch
                    values[~hog_ok] = 0
                    described &= hog_ok
                descriptors["log_patch"], masks["log_patch"] = values, described
            if normalized.valid is not None:  # a no-data pixel is not described itself
                on_invalid = ~_valid_at(normalized.valid, keypoints)
                for name in patch_names:
                    descriptors[name][on_invalid] = 0
                    masks[name] &= ~on_invalid
        dtype = self.keypoints.dtype if np.issubdtype(self.keypoints.dtype, np.floating) else float
        self.orientations = orientations.astype(dtype)
        self.descriptors = {name: descriptors[name] for name in self.descriptor_names}
        self.masks = {name: masks[name] for name in self.descriptor_names}

    def _ratio_hog(self, image, normalized, keypoints, scales, invalid_distance):
        """(descriptors, mask, orientations) of the ROEWA log-polar histogram."""
        count = len(keypoints)
        size = (1 + 2 * _GLOH_SECTORS) * self.orientation_bins
        out = np.zeros((count, size), np.float32)
        orientations = np.zeros(count)
        radii = 0.5 * self.patch_scale * scales
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
        ori_row = np.empty_like(grad_row) if self.rotation_invariant else None
        ori_col = np.empty_like(grad_row) if self.rotation_invariant else None
        # one ROEWA computation per scale level; all keypoints of a level sampled at once
        for level, level_scale in enumerate(level_scales):
            members = np.flatnonzero(group == level)
            index = todo[members]
            alpha = self.roewa_alpha * level_scale / PATCH_DIAMETER
            g_row, g_col = roewa_gradient(intensity, alpha, normalized.valid)
            rows = keypoints[index, 0, None] + radii[index, None] * lattice[None, :, 1]
            cols = keypoints[index, 1, None] + radii[index, None] * lattice[None, :, 0]
            grad_row[members], grad_col[members] = _sample_pair(g_row, g_col, rows, cols)
            if self.rotation_invariant:  # smoother gradients for a steadier orientation
                g_row, g_col = roewa_gradient(
                    intensity, alpha * _ORIENTATION_ALPHA, normalized.valid
                )
                ori_row[members], ori_col[members] = _sample_pair(g_row, g_col, rows, cols)
        if self.rotation_invariant:
            theta = _dominant_orientations(ori_row, ori_col, radius_u)
        else:
            theta = np.zeros(todo.size)
        hist = _gloh_histograms(grad_row, grad_col, lattice, theta, self.orientation_bins)
        described = np.linalg.norm(hist, axis=1) > 0  # a gradient-free patch says nothing
        out[todo] = hist
        ok[todo] = described
        orientations[todo] = theta
        return out, ok, orientations

    def _log_patch(self, normalized, keypoints, scales, orientations, invalid_distance):
        """(descriptors, mask) of the normalised log-intensity patch."""
        count = len(keypoints)
        p = self.log_patch_size
        out = np.zeros((count, p * p), np.float32)
        sides = self.patch_scale * scales
        grid = ((np.arange(p) + 0.5) / p - 0.5)  # in units of the side
        gx, gy = np.meshgrid(grid, grid)
        gx, gy = gx.ravel(), gy.ravel()
        # farthest sample from the keypoint: a corner, which a rotation can turn anywhere
        corner = (0.5 - 0.5 / p) * sides
        reach = corner * (math.sqrt(2) if self.rotation_invariant else 1.0)
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
            sigma = self.log_patch_sigma * self.patch_scale * level_scale / p
            smooth = normalized.image
            if sigma > 0:
                smooth = ndimage.gaussian_filter(smooth, sigma)
            values[members] = _sample(smooth, rows[members], cols[members])
        values -= values.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(values, axis=1, keepdims=True)
        flat = norm[:, 0] <= 1e-6 * p  # a flat (e.g. saturated) patch has no pattern
        values = np.divide(values, norm, out=np.zeros_like(values), where=~flat[:, None])
        out[todo] = values
        ok[todo] = ~flat
        return out, ok


def _check_names(names: Iterable[str] | str) -> tuple[str, ...]:
    """Validate descriptor names; a single string is one name."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ValueError(f"descriptors is empty; choose among {DESCRIPTOR_NAMES}")
    unknown = [n for n in names if n not in DESCRIPTOR_NAMES]
    if unknown:
        raise ValueError(
            f"unknown descriptor name(s) {unknown}; "
            f"known descriptors: {', '.join(DESCRIPTOR_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"descriptor names repeat: {names}")
    return names
