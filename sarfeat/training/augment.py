"""Warps, speckle and augmentation of training pairs (one pair sample at a time).

A *pair sample* is a dict of torch tensors (DESIGN.md section 5; see
:mod:`sarfeat.training.pairs`). Every geometric step (random affine, rescale,
crop, flip) is an affine map, so :func:`make_pair` composes them into one
matrix per side and samples each image once (bilinear, Gaussian anti-aliasing
when it shrinks): the flow is exact, never interpolated. Photometric steps
(speckle, normalisation, contrast, gamma, 8-bit quantisation) act on each side
independently and leave the flow unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from sarfeat.geometry import warp
from sarfeat.preprocess import normalize_sar, valid_mask

__all__ = ["PairAugmentation", "PairSource", "add_speckle", "make_pair", "random_affine",
           "sample_rng", "similarity_matrix", "warp_with_flow"]

Range = tuple[float, float]


# --------------------------------------------------------------------------- geometry


def _as_range(value: float | Sequence[float]) -> Range:
    """``v -> (-v, v)`` for a scalar, ``(lo, hi)`` unchanged."""
    if np.ndim(value) == 0:
        return (-abs(float(value)), abs(float(value)))
    lo, hi = (float(v) for v in value)
    if hi < lo:
        raise ValueError(f"range {value!r} has its upper bound below its lower bound")
    return lo, hi


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    lo, hi = bounds
    if not 0 < lo <= hi:
        raise ValueError(f"a log-uniform range needs 0 < lo <= hi, got {bounds!r}")
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _rescaling(s: float) -> np.ndarray:
    """Scale by ``s`` with pixel areas aligned: ``x' = s (x + 0.5) - 0.5``."""
    return np.array([[s, 0.0, 0.5 * (s - 1.0)], [0.0, s, 0.5 * (s - 1.0)], [0.0, 0.0, 1.0]])


def _flip(size: int, horizontal: bool, vertical: bool) -> np.ndarray:
    matrix = np.eye(3)
    if horizontal:
        matrix[0, 0], matrix[0, 2] = -1.0, size - 1.0
    if vertical:
        matrix[1, 1], matrix[1, 2] = -1.0, size - 1.0
    return matrix


def _about(
    linear: np.ndarray, centre: tuple[float, float], shift: tuple[float, float]
) -> np.ndarray:
    """3x3 matrix ``v = linear (u - centre) + centre + shift``."""
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    c = np.asarray(centre, dtype=float)
    matrix[:2, 2] = c - linear @ c + np.asarray(shift, dtype=float)
    return matrix


def random_affine(
    rng: np.random.Generator,
    shape: tuple[int, int],
    rotation_deg: float | Sequence[float] = (-10.0, 10.0),
    scale: Sequence[float] = (0.8, 1.0),
    translation: float | Sequence[float] = 0.05,
    shear_deg: float | Sequence[float] = 0.1,
    centre: Sequence[float] = (0.2, 0.8),
) -> np.ndarray:
    """Draw a random affine map of image-1 ``(x, y)`` onto image-2 ``(x, y)``.

    ``v = R S_h s (u - c) + c + t``: rotation and shear about a random centre
    ``c``, isotropic scale ``s``, then a translation ``t``. Defaults are the
    values of DESIGN.md section 5.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        ``(rows, cols)`` of image 1.
    rotation_deg : float or (float, float)
        Rotation range in degrees (uniform); a scalar ``r`` means ``(-r, r)``.
    scale : (float, float)
        Scale range (log-uniform), > 0.
    translation : float or (float, float)
        Translation range as a fraction of the width (x) and height (y),
        drawn independently per axis; a scalar ``t`` means ``(-t, t)``.
    shear_deg : float or (float, float)
        Shear angle range in degrees (uniform).
    centre : (float, float) or float
        Range of the rotation centre as a fraction across each axis (drawn
        per axis); a scalar fixes it.

    Returns
    -------
    matrix : ndarray of float64, shape (3, 3)
        Maps homogeneous ``(x, y, 1)`` of image 1 to image 2.
    """
    rows, cols = int(shape[0]), int(shape[1])
    centre = _as_range(centre) if np.ndim(centre) else (float(centre), float(centre))
    cx = _uniform(rng, centre) * (cols - 1)
    cy = _uniform(rng, centre) * (rows - 1)
    angle = math.radians(_uniform(rng, _as_range(rotation_deg)))
    shear = math.radians(_uniform(rng, _as_range(shear_deg)))
    s = _log_uniform(rng, tuple(float(v) for v in scale))  # type: ignore[arg-type]
    trange = _as_range(translation)
    tx = _uniform(rng, trange) * cols
    ty = _uniform(rng, trange) * rows
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, math.tan(shear)], [0.0, 1.0]])
    return _about(s * linear, (cx, cy), (tx, ty))


def similarity_matrix(
    shape: tuple[int, int],
    angle_deg: float,
    scale: float = 1.0,
    translation: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Rotation and scale about the image centre, then a translation.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the image.
    angle_deg : float
        Rotation in degrees (counter-clockwise on screen is negative, as
        rows point down).
    scale : float
        Isotropic scale factor.
    translation : (float, float)
        ``(tx, ty)`` as fractions of the width and height.

    Returns
    -------
    matrix : ndarray of float64, shape (3, 3)
        Maps homogeneous ``(x, y, 1)`` of the image to the warped image.
    """
    rows, cols = shape
    a = math.radians(angle_deg)
    linear = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = ((cols - 1) / 2.0, (rows - 1) / 2.0)
    return _about(linear, centre, (translation[0] * cols, translation[1] * rows))


def _apply(matrix: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 3x3 matrix (affine or projective) to coordinate arrays."""
    u = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]
    v = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]
    if matrix[2, 0] != 0.0 or matrix[2, 1] != 0.0 or matrix[2, 2] != 1.0:
        w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
        u, v = u / w, v / w
    return u, v


def _grid(shape: tuple[int, int], step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0 : shape[0] : step, 0 : shape[1] : step]
    return xs.astype(np.float64), ys.astype(np.float64)


def _inside(
    x: np.ndarray, y: np.ndarray, shape: tuple[int, int], tol: float = 1e-6
) -> np.ndarray:
    return (x >= -tol) & (x <= shape[1] - 1 + tol) & (y >= -tol) & (y <= shape[0] - 1 + tol)


def _interpolate(
    source: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: float = 0.0, order: int = 1
) -> np.ndarray:
    """Sample ``source`` at points (all inside its bounds), on a sub-window only."""
    if x.size == 0:
        return np.empty(0, np.float32)
    margin = int(math.ceil(4.0 * sigma)) + 2
    rows, cols = source.shape
    x0 = max(0, int(math.floor(x.min())) - margin)
    x1 = min(cols, int(math.ceil(x.max())) + margin + 1)
    y0 = max(0, int(math.floor(y.min())) - margin)
    y1 = min(rows, int(math.ceil(y.max())) + margin + 1)
    window = np.asarray(source[y0:y1, x0:x1], dtype=np.float32)
    if sigma > 0.05:
        window = ndimage.gaussian_filter(window, sigma, mode="nearest")
    return ndimage.map_coordinates(
        window, [y - y0, x - x0], order=order, mode="nearest", output=np.float32
    )


def _sample(
    source: np.ndarray,
    out_to_source: np.ndarray,
    out_shape: tuple[int, int],
    order: int = 1,
    antialias: bool = True,
) -> np.ndarray:
    """Resample ``source`` through an output-to-source matrix; NaN outside it (float32)."""
    return warp(source, out_to_source, out_shape, order=order,
                antialias=antialias).astype(np.float32, copy=False)


def warp_with_flow(
    image: np.ndarray,
    matrix: np.ndarray,
    out_shape: tuple[int, int] | None = None,
    *,
    valid: np.ndarray | None = None,
    order: int = 1,
    antialias: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image by a known map and return the dense flow of the pair.

    Parameters
    ----------
    image : array_like, shape (H, W)
        Content on the grid of image 1; NaN marks no-data.
    matrix : array_like, shape (3, 3)
        Maps ``(x, y, 1)`` of image 1 to image 2 (affine or projective).
    out_shape : tuple of int, optional
        ``(rows, cols)`` of image 2; default: the shape of `image`.
    valid : array_like of bool, shape (H, W), optional
        False on no-data pixels of image 1.
    order : int
        Spline order of the resampling (1: bilinear).
    antialias : bool
        Gaussian pre-filter where the warp shrinks the image.

    Returns
    -------
    warped : ndarray of float32, shape out_shape
        Image 2: ``warped[matrix @ p] ~ image[p]``; NaN where its source point
        falls outside `image` (or on NaN).
    flow : ndarray of float32, shape (2, H, W)
        ``matrix`` applied to the pixel grid of image 1, ``(x, y)``; NaN
        where it falls outside image 2 or `image` has no data.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"matrix must be 3x3, got shape {matrix.shape}")
    out_shape = tuple(image.shape) if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
    if valid is not None and np.shape(valid) != image.shape:
        raise ValueError(f"valid shape {np.shape(valid)} differs from image shape {image.shape}")
    bad = ~valid_mask(image, mask=valid)
    warped = warp(image, np.linalg.inv(matrix), out_shape, order=order, valid=~bad,
                  antialias=antialias).astype(np.float32, copy=False)
    fx, fy = _apply(matrix, *_grid(image.shape))
    flow = np.stack([fx, fy]).astype(np.float32)
    flow[:, ~_inside(fx, fy, out_shape) | bad] = np.nan
    return warped, flow


# --------------------------------------------------------------------------- speckle


def add_speckle(intensity: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply an intensity image by fully developed speckle.

    Parameters
    ----------
    intensity : array_like
        Noise-free (or despeckled) intensity, >= 0; NaN stays NaN.
    looks : float
        Number of looks ``L`` > 0: the noise is Gamma(L, 1/L), mean 1,
        variance ``1 / L``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    speckled : ndarray
        ``intensity * noise``, float32 (float64 for float64 input).
    """
    if not looks > 0:
        raise ValueError(f"looks must be > 0, got {looks!r}")
    intensity = np.asarray(intensity)
    dtype = np.float64 if intensity.dtype == np.float64 else np.float32
    noise = rng.gamma(shape=float(looks), scale=1.0 / float(looks), size=intensity.shape)
    return (intensity * noise).astype(dtype, copy=False)


# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class PairAugmentation:
    """Random geometry and photometry of a training pair.

    Each field is documented at its declaration.
    """

    rotation_deg: float | tuple[float, float] = (-10.0, 10.0)
    """float or (float, float): range of ``random_affine``'s turn, degrees (image 1 to image
    2)."""
    scale: tuple[float, float] = (0.8, 1.0)
    """(float, float): range of ``random_affine``'s scale."""
    translation: float | tuple[float, float] = 0.05
    """float or (float, float): range of ``random_affine``'s shift."""
    shear_deg: float | tuple[float, float] = 0.1
    """float or (float, float): range of ``random_affine``'s shear, degrees."""
    centre: tuple[float, float] = (0.2, 0.8)
    """(float, float): range of ``random_affine``'s centre."""
    short_side: tuple[float, float] | None = (256.0, 1024.0)
    """(float, float) or None: image 2 is rescaled so that its short side is log-uniform in
    this range (pixels), as R2D2 does (DESIGN: 256..1024)."""
    relative_scale: tuple[float, float] | None = None
    """(float, float) or None: when set, replaces `short_side`: image 2 is rescaled by a
    log-uniform factor in this range relative to image 1 (for small scenes, e.g.
    ``(0.7, 1.3)``)."""
    min_cover: float = 1.25
    """float: image 1 (and with it image 2) is upscaled when its short side is below
    ``min_cover * crop_size``, so that small tiles fill the crop; with `short_side`, image
    2's short side is at least that much too."""
    n_windows: int = 5
    """int: the crop of image 1 is the best of this many random windows by flow coverage
    (fraction of finite flow)."""
    crop_jitter: float = 0.1
    """float: random shift of the image-2 window around the image of the image-1 window centre,
    as a fraction of the crop size."""
    subpixel: bool = True
    """bool: crop at sub-pixel offsets, so that both sides are interpolated alike."""
    flip: bool = True
    """bool: flip the pair horizontally and/or vertically (both sides together: the content is
    mirrored, the correspondence is kept)."""
    gamma: tuple[float, float] | None = (0.7, 1.4)
    """(float, float) or None: per-side photometric jitter
    ``(x ** gamma - 0.5) * gain + 0.5 + bias`` (gamma log-uniform in this range), then
    clipped to [0, 1]; None disables the term."""
    gain: tuple[float, float] | None = (0.8, 1.25)
    """(float, float) or None: the range of ``gain`` in :attr:`gamma`'s jitter; None disables
    the term."""
    bias: tuple[float, float] | None = (-0.1, 0.1)
    """(float, float) or None: the range of ``bias`` in :attr:`gamma`'s jitter; None disables
    the term."""
    quantize_prob: float = 0.2
    """float: probability that one side (chosen at random) is quantised to 8 bits, like a
    display quick-look."""
    looks: tuple[int, int] = (1, 4)
    """(int, int): range of the number of looks of simulated speckle, drawn per side."""

    @classmethod
    def identity(cls) -> PairAugmentation:
        """No warp, no rescale, no flip, no photometric change (for tests).

        Returns
        -------
        PairAugmentation
            Settings under which image 2 is image 1's crop (flow = identity).
        """
        return cls(
            rotation_deg=0.0, scale=(1.0, 1.0), translation=0.0, shear_deg=0.0,
            short_side=None, relative_scale=(1.0, 1.0), n_windows=1, crop_jitter=0.0,
            subpixel=False, flip=False, gamma=None, gain=None, bias=None, quantize_prob=0.0,
        )


@dataclass
class PairSource:
    """Two views of one scene on the same grid, before warping and cropping."""

    first: np.ndarray  # (H, W) float32, finite
    second: np.ndarray  # (H, W) float32, finite
    valid: np.ndarray | None  # (H, W) float32, 1 where both views have data
    kind: str  # normalize_sar input kind of the sampled values
    speckle: bool  # draw speckle on each output grid (the views are clean intensity)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def _window_offset(
    rng: np.random.Generator, extent: float, s: float, crop: int, subpixel: bool
) -> float:
    """Random top-left of a crop inside an image of ``extent`` source pixels rescaled by ``s``."""
    lo = 0.5 * (s - 1.0)
    hi = s * extent - 0.5 * (s + 1.0) - (crop - 1)
    if hi < lo:
        return float(round((lo + hi) / 2.0))
    if subpixel:
        return _uniform(rng, (lo, hi))
    return float(rng.integers(math.ceil(lo), math.floor(hi) + 1))


def _clip_offset(value: float, extent: float, s: float, crop: int, subpixel: bool) -> float:
    lo = 0.5 * (s - 1.0)
    hi = s * extent - 0.5 * (s + 1.0) - (crop - 1)
    value = (lo + hi) / 2.0 if hi < lo else min(max(value, lo), hi)
    return value if subpixel else float(round(value))


def _valid_at(
    valid: np.ndarray | None, x: np.ndarray, y: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    ok = _inside(x, y, shape)
    if valid is not None and ok.any():
        ok[ok] = _interpolate(valid, x[ok], y[ok]) > 0.999
    return ok


def _photometry(image: np.ndarray, rng: np.random.Generator, aug: PairAugmentation) -> np.ndarray:
    if aug.gamma is not None:
        image = np.power(image, np.float32(_log_uniform(rng, aug.gamma)))
    gain = _uniform(rng, aug.gain) if aug.gain is not None else 1.0
    bias = _uniform(rng, aug.bias) if aug.bias is not None else 0.0
    if gain != 1.0 or bias != 0.0:
        image = (image - np.float32(0.5)) * np.float32(gain) + np.float32(0.5 + bias)
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


def _normalise(image: np.ndarray, kind: str) -> np.ndarray:
    if not np.isfinite(image).any():
        return np.zeros_like(image, dtype=np.float32)
    return normalize_sar(image, input_kind=kind).image


def make_pair(
    rng: np.random.Generator,
    source: PairSource,
    crop: int,
    aug: PairAugmentation,
    with_matrix: bool = False,
) -> dict[str, torch.Tensor]:
    """Warp, rescale, crop, flip and jitter one pair (see the module docstring)."""
    rows, cols = source.first.shape
    matrix = random_affine(
        rng, (rows, cols), aug.rotation_deg, aug.scale, aug.translation, aug.shear_deg, aug.centre
    )
    s1, s2 = _rescales(rng, aug, crop, min(rows, cols))
    crop1, crop2 = _best_windows(rng, source, aug, crop, s1, s2, matrix)
    if aug.flip:
        flips = _flip(crop, bool(rng.random() < 0.5), bool(rng.random() < 0.5))
        crop1, crop2 = flips @ crop1, flips @ crop2
    images, pair_matrix, flow, mask = _cropped_pair(source, crop, crop1, crop2)
    _jitter(rng, source, aug, images)
    sample = {
        "image1": torch.from_numpy(np.ascontiguousarray(images[0], dtype=np.float32)[None]),
        "image2": torch.from_numpy(np.ascontiguousarray(images[1], dtype=np.float32)[None]),
        "flow": torch.from_numpy(flow),
        "mask": torch.from_numpy(mask),
    }
    if with_matrix:
        sample["matrix"] = torch.from_numpy(pair_matrix)
    return sample


def _rescales(rng: np.random.Generator, aug: PairAugmentation, crop: int,
              short: int) -> tuple[float, float]:
    """The rescaling factors of image 1 and image 2: image 1 covers ``aug.min_cover`` crops,
    image 2 by ``aug.relative_scale`` to it, or to a short side of ``aug.short_side``."""
    s1 = max(1.0, aug.min_cover * crop / short)
    if aug.relative_scale is not None:
        s2 = s1 * _log_uniform(rng, aug.relative_scale)
    elif aug.short_side is not None:
        s2 = max(_log_uniform(rng, aug.short_side), aug.min_cover * crop) / short
    else:
        s2 = s1
    return s1, s2


def _best_windows(rng: np.random.Generator, source: PairSource, aug: PairAugmentation,
                  crop: int, s1: float, s2: float,
                  matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop1, crop2): frame 1 -> each crop, of the best covered of ``aug.n_windows`` windows
    (the first of equals): a window of image 1 and the window of image 2 around its centre's
    image, jittered by ``aug.crop_jitter``."""
    rows, cols = source.first.shape
    to1 = _rescaling(s1)  # frame 1 -> rescaled image 1
    to2 = _rescaling(s2) @ matrix  # frame 1 -> rescaled image 2
    one_to_two = to2 @ np.linalg.inv(to1)

    step = max(1, crop // 32)
    gx, gy = _grid((crop, crop), step)
    half = (crop - 1) / 2.0
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(max(1, aug.n_windows)):
        ox1 = _window_offset(rng, cols, s1, crop, aug.subpixel)
        oy1 = _window_offset(rng, rows, s1, crop, aug.subpixel)
        cx, cy = _apply(one_to_two, np.array([ox1 + half]), np.array([oy1 + half]))
        jx, jy = (_uniform(rng, _as_range(aug.crop_jitter * crop)) for _ in range(2))
        ox2 = _clip_offset(float(cx[0]) - half + jx, cols, s2, crop, aug.subpixel)
        oy2 = _clip_offset(float(cy[0]) - half + jy, rows, s2, crop, aug.subpixel)
        crop1 = _translation(-ox1, -oy1) @ to1
        crop2 = _translation(-ox2, -oy2) @ to2
        ux, uy = _apply(np.linalg.inv(crop1), gx, gy)
        fx, fy = _apply(crop2, ux, uy)
        covered = _valid_at(source.valid, ux, uy, (rows, cols)) & _inside(fx, fy, (crop, crop))
        coverage = float(covered.mean())
        if best is None or coverage > best[0]:
            best = (coverage, crop1, crop2)
    assert best is not None
    return best[1], best[2]


def _cropped_pair(source: PairSource, crop: int, crop1: np.ndarray,
                  crop2: np.ndarray) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """(images, pair matrix, flow, mask): both crops sampled, crop 1 -> crop 2, and the flow
    of crop 1's pixels into crop 2, NaN (and ``mask`` False) where they have no valid
    correspondent."""
    rows, cols = source.first.shape
    from1, from2 = np.linalg.inv(crop1), np.linalg.inv(crop2)
    images = [
        _sample(source.first, from1, (crop, crop)),
        _sample(source.second, from2, (crop, crop)),
    ]
    pair_matrix = crop2 @ from1
    ux, uy = _apply(from1, *_grid((crop, crop)))
    fx, fy = _apply(pair_matrix, *_grid((crop, crop)))
    mask = _valid_at(source.valid, ux, uy, (rows, cols)) & _inside(fx, fy, (crop, crop))
    flow = np.stack([fx, fy]).astype(np.float32)
    flow[:, ~mask] = np.nan
    return images, pair_matrix, flow, mask


def _jitter(rng: np.random.Generator, source: PairSource, aug: PairAugmentation,
            images: list) -> None:
    """Speckle (when ``source.speckle``), normalise and jitter both ``images`` in place; then
    quantise one of them to 8 bits with probability ``aug.quantize_prob``."""
    for side in range(2):
        image = images[side]
        if source.speckle:
            looks = int(rng.integers(aug.looks[0], aug.looks[1] + 1))
            image = add_speckle(image, looks, rng)
        images[side] = _photometry(_normalise(image, source.kind), rng, aug)
    if aug.quantize_prob > 0 and rng.random() < aug.quantize_prob:
        side = int(rng.integers(2))
        images[side] = np.round(images[side] * np.float32(255.0)) / np.float32(255.0)
