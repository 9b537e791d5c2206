"""What a runtime gives for a tile, in numpy: tiles, the two heads and :class:`DenseMaps`.

Every runtime (:mod:`sarfeat.runtime.onnx`, :mod:`sarfeat.runtime.torch`)
computes the trunk's low-resolution features of a tile; this module turns
them into the maps the detector reads:

- the two score heads are evaluated in fp32 at full resolution without
  the upsampled 128-channel map (:func:`upsampled_head_logits`), with
  numba's compiled pass when it is installed
  (:mod:`sarfeat.runtime.kernels.heads`), else in numpy strips; with
  numba, :class:`DenseMaps` keeps the features and computes the logits
  when they are read, and :meth:`DenseMaps.peaks` needs only the saliency
  head at every pixel;
- descriptors are sampled at the keypoints only (:meth:`DenseMaps.descriptors_at`).

:func:`tile_grid` cuts a level into tiles whose halo covers the network's
receptive field, so that the maps of a tile's core equal those of the whole
image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import head_arithmetic as arithmetic
from .head_arithmetic import quadratic_upsampling_kernels
from .kernels import heads as fused_heads
from .kernels import peaks as fused_peaks
from .kernels import worth_compiling

__all__ = ["DenseMaps", "PRECISIONS", "Tile", "head_activations", "maps_from_features",
           "quadratic_upsampling_kernels", "tile_grid", "upsampled_head_logits"]

#: Every precision a runner knows; which runtime runs which is decided in
#: :mod:`sarfeat.runtime.choice`.
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def _padded_strip(table: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Padded rows ``start .. stop`` of (h, w, C) ``table``, replicate-padded by one.

    Padded row r is table row r - 1, clamped to the table; columns likewise.
    """
    height, width = table.shape[:2]
    rows = np.clip(np.arange(start - 1, stop), 0, height - 1)
    cols = np.clip(np.arange(-1, width + 1), 0, width - 1)
    return table[rows][:, cols]


def upsampled_head_logits(features: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                          rows_per_strip: int | None = None) -> np.ndarray:
    """``conv1x1(up(features) ** 2)`` without building ``up(features)`` (x2 bilinear, half-pixel).

    With numba installed this is :func:`sarfeat.runtime.kernels.heads.head_logits`
    (one compiled pass). Otherwise the features are read as strips of a few
    hundred kB, channels first, and each neighbour product of a strip is
    accumulated over the channels in order. Both follow the float32
    operations of :mod:`sarfeat.runtime.head_arithmetic`: the same bits.

    Parameters
    ----------
    features : ndarray, shape (h, w, C), float32
        Low-resolution trunk features, channels last.
    weight : ndarray, shape (K, C)
        1x1 projection of the heads.
    bias : ndarray, shape (K,)
    rows_per_strip : int, optional
        Low-resolution rows per strip (bounds the temporary products); by
        default about 16k pixels a strip.

    Returns
    -------
    ndarray, shape (K, 2 * h, 2 * w), float32
    """
    features = np.asarray(features, np.float32)
    weight, bias = np.asarray(weight, np.float32), np.asarray(bias, np.float32)
    if weight.shape[0] == 2 and fused_heads.available() and \
            worth_compiling(4 * features.shape[0] * features.shape[1]):
        return fused_heads.head_logits(features, weight, bias)
    height, width, _ = features.shape
    heads = weight.shape[0]
    rows_per_strip = rows_per_strip or max(2, (1 << 14) // (width + 2))
    coefficients = arithmetic.term_coefficients()  # (parity, term)
    # block row i mixes padded rows i and i + 1 (parity 2 * by + bx is output pixel (2i-1+by, ...))
    parities = np.empty((4, heads, height + 1, width + 1), np.float32)
    parities[:] = bias[None, :, None, None]
    for start in range(0, height + 1, rows_per_strip):
        stop = min(start + rows_per_strip, height + 1)
        strip = _padded_strip(features, start, stop)  # (stop - start + 1, width + 2, C)
        projected = _projected_products(np.ascontiguousarray(np.moveaxis(strip, -1, 0)), weight)
        block = parities[:, :, start:stop]
        for term, (name, ky, kx) in enumerate(arithmetic.TERMS):
            shifted = projected[name][:, ky:ky + stop - start, kx:kx + width + 1]
            for parity in range(4):
                block[parity] += coefficients[parity, term] * shifted
    full = parities.reshape(2, 2, heads, height + 1, width + 1).transpose(2, 3, 0, 4, 1).reshape(
        heads, 2 * height + 2, 2 * width + 2)
    return np.ascontiguousarray(full[:, 1:-1, 1:-1])


def _projected_products(strip: np.ndarray, weight: np.ndarray) -> dict[str, np.ndarray]:
    """Each neighbour product of a (C, rows, cols) strip, projected on the (K, C) heads.

    ``P += (weight[k, c] * a[c]) * b[c]`` over the channels in order, elementwise over
    the pixels (no BLAS: its summation order is its own).
    """
    channels, rows, cols = strip.shape
    heads = weight.shape[0]
    weighted = np.empty((heads, rows, cols), np.float32)
    sums, jobs = {}, []
    for name, ((rows_a, cols_a), (rows_b, cols_b)) in arithmetic.PRODUCT_FACTORS.items():
        first = weighted[:, rows_a, cols_a]  # the weighted factor a, both heads at once
        sums[name] = np.zeros(first.shape, np.float32)
        jobs.append((first, (rows_b, cols_b), np.empty(first.shape, np.float32), sums[name]))
    per_channel = weight.T[:, :, None, None]  # (C, K, 1, 1)
    for c in range(channels):
        plane = strip[c]
        np.multiply(plane, per_channel[c], out=weighted)
        for first, second, term, total in jobs:
            np.multiply(first, plane[second], out=term)
            np.add(total, term, out=total)
    return sums


def head_activations(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reliability, repeatability) float32 maps from the (2, H, W) head logits.

    Reliability is the softmax of two logits, i.e. the sigmoid of their
    difference (logit 0); repeatability is ``s / (1 + s)`` with ``s`` the
    softplus of the saliency logit (logit 1; linear above 20, as torch's).
    numba's kernel and numpy give the same bits
    (:func:`sarfeat.runtime.head_arithmetic.activations`).
    """
    if fused_heads.available() and worth_compiling(np.shape(logits)[-1] * np.shape(logits)[-2]):
        maps = fused_heads.head_maps(np.ascontiguousarray(logits, np.float32))
        return maps[0], maps[1]
    return arithmetic.activations(logits)


@dataclass(frozen=True)
class Tile:
    """A window of a level: :attr:`outer` is what the network sees, :attr:`core` what it
    keeps."""

    outer: tuple[int, int, int, int]
    """(row0, row1, col0, col1): the window the network sees, in level pixels, half-open."""
    core: tuple[int, int, int, int]
    """(row0, row1, col0, col1): the part of it whose keypoints are kept, in level pixels,
    half-open."""


def _axis_windows(length: int, core: int, halo: int) -> list[tuple[int, int, int, int]]:
    if length <= core + 2 * halo:
        return [(0, length, 0, length)]
    windows = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        outer0 = max(0, start - halo)
        outer1 = min(length, stop + halo)
        # keep every window the same size (fewer shapes) by sliding it inside the level
        size = core + 2 * halo
        if outer1 - outer0 < size:
            outer0 = max(0, min(outer0, length - size))
            outer1 = min(length, outer0 + size)
        outer0 -= outer0 % 2  # 2x2 pooling must see the same pixel pairs as the whole image
        windows.append((outer0, outer1, start, stop))
    return windows


def tile_grid(height: int, width: int, tile_size: int | None, halo: int) -> list[Tile]:
    """Tiles covering a (height, width) level; one tile when ``tile_size`` is None.

    Parameters
    ----------
    height, width : int
        The level's size.
    tile_size : int or None
        Core side of the tiles.
    halo : int
        Pixels each tile reads beyond its core.

    Returns
    -------
    list of Tile
    """
    if tile_size is None:
        return [Tile((0, height, 0, width), (0, height, 0, width))]
    rows = _axis_windows(height, tile_size, halo)
    cols = _axis_windows(width, tile_size, halo)
    return [
        Tile((r0, r1, c0, c1), (cr0, cr1, cc0, cc1))
        for r0, r1, cr0, cr1 in rows
        for c0, c1, cc0, cc1 in cols
    ]


class DenseMaps:
    """What the network says about one tile, as numpy arrays.

    Parameters
    ----------
    features : ndarray, shape (h, w, C), float32
        Raw descriptor features at 1/``stride`` of the tile resolution (before
        Fast-R2D2's final upsampling), channels last.
    stride : int
        Tile pixels per feature pixel (2 for Fast-R2D2, 1 for R2D2).
    reliability, repeatability : ndarray, shape (H, W), float32, optional
        The maps; computed from ``logits`` when first read if not given.
    logits : ndarray, shape (2, H, W), float32, optional
        The heads' logits (reliability, saliency). Setting a map drops them
        (they no longer describe the maps).
    heads : tuple, optional
        ``(weight (2, C), bias (2,), height, width)``: the logits of the
        (height, width) tile are computed from ``features`` when first read
        (numba's fused heads), and :meth:`peaks` computes only the saliency
        head densely.
    """

    def __init__(self, features: np.ndarray, stride: int,
                 reliability: np.ndarray | None = None,
                 repeatability: np.ndarray | None = None,
                 logits: np.ndarray | None = None,
                 heads: tuple | None = None) -> None:
        if (reliability is None or repeatability is None) and logits is None and heads is None:
            raise ValueError("DenseMaps needs both maps, the logits or the heads")
        self.features = features
        self.stride = stride
        self._logits = logits
        self._heads = heads
        self._reliability = reliability
        self._repeatability = repeatability

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the maps."""
        if self._heads is not None:
            return int(self._heads[2]), int(self._heads[3])
        if self._logits is not None:
            return tuple(self._logits.shape[1:])
        return tuple(self._repeatability.shape)

    @property
    def logits(self) -> np.ndarray | None:
        """The (2, H, W) head logits; None once a map has been set."""
        if self._logits is None and self._heads is not None:
            weight, bias, height, width = self._heads
            self._logits = fused_heads.cropped_head_logits(self.features, weight, bias,
                                                           height, width)
        return self._logits

    @logits.setter
    def logits(self, value: np.ndarray | None) -> None:
        self._logits, self._heads = value, None

    def peaks(self, repeatability_threshold: float, reliability_threshold: float,
              window: tuple[int, int, int, int]):
        """The maps' peaks in ``window``, compiled, or None where the logits are not kept.

        With ``heads``, only the saliency head is evaluated at every pixel and the
        reliability head where it is read
        (``sarfeat.runtime.kernels.peaks.peaks_from_features``); with logits,
        ``peaks_from_logits``. The same peaks
        and values either way.

        Returns
        -------
        tuple or None
            (rows, cols, reliability, repeatability (5, N)), as
            ``peaks_from_logits``.
        """
        if not fused_peaks.available():
            return None
        thresholds = (repeatability_threshold, reliability_threshold)
        if self._logits is None and self._heads is not None:
            weight, bias, height, width = self._heads
            saliency = fused_heads.saliency_logits(self.features, weight, bias, height, width)
            return fused_peaks.peaks_from_features(saliency, self.features, weight, bias,
                                                   *thresholds, window)
        if self._logits is not None:
            return fused_peaks.peaks_from_logits(self._logits, *thresholds, window)
        return None

    def _materialize(self) -> None:
        """Compute both maps from the logits, unless both are there."""
        if self._reliability is None or self._repeatability is None:
            self._reliability, self._repeatability = head_activations(self.logits)

    @property
    def reliability(self) -> np.ndarray:
        self._materialize()
        return self._reliability

    @reliability.setter
    def reliability(self, value: np.ndarray) -> None:
        self._materialize()  # the other map, before the logits go
        self._reliability, self.logits = value, None

    @property
    def repeatability(self) -> np.ndarray:
        self._materialize()
        return self._repeatability

    @repeatability.setter
    def repeatability(self, value: np.ndarray) -> None:
        self._materialize()
        self._repeatability, self.logits = value, None

    def descriptors_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """L2-normalised (N, C) float32 descriptors at float tile positions.

        Sampling is bilinear in the feature grid, the same interpolation the
        network's own upsampling uses, so at integer pixels the result equals
        the upsampled map.
        """
        height, width, _ = self.features.shape
        rows = np.asarray(rows, np.float32)
        cols = np.asarray(cols, np.float32)
        if self.stride > 1:
            rows = (rows + np.float32(0.5)) / np.float32(self.stride) - np.float32(0.5)
            cols = (cols + np.float32(0.5)) / np.float32(self.stride) - np.float32(0.5)
        rows = np.clip(rows, 0, height - 1)
        cols = np.clip(cols, 0, width - 1)
        row0 = np.floor(rows).astype(np.int64)
        col0 = np.floor(cols).astype(np.int64)
        row1 = np.minimum(row0 + 1, height - 1)
        col1 = np.minimum(col0 + 1, width - 1)
        wr = (rows - row0)[:, None].astype(np.float32)
        wc = (cols - col0)[:, None].astype(np.float32)
        table = self.features

        def at(r, c):
            return table[r, c].astype(np.float32)

        sampled = (at(row0, col0) * (1 - wr) + at(row1, col0) * wr) * (1 - wc) + (
            at(row0, col1) * (1 - wr) + at(row1, col1) * wr
        ) * wc
        norm = np.maximum(np.linalg.norm(sampled, axis=1, keepdims=True), 1e-12)
        return (sampled / norm).astype(np.float32)


def maps_from_features(features: np.ndarray, stride: int, weight: np.ndarray, bias: np.ndarray,
                       height: int, width: int) -> DenseMaps:
    """:class:`DenseMaps` of a (height, width) tile from its (h, w, C) trunk features.

    The heads (weight (2, C), bias (2,)) are evaluated in fp32 at full
    resolution without the upsampled feature map (:func:`upsampled_head_logits`).
    """
    features = np.asarray(features, np.float32)
    if stride == 1:
        logits = np.moveaxis(np.square(features) @ weight.T, -1, 0) + bias[:, None, None]
        return DenseMaps(features, stride, *head_activations(logits.astype(np.float32)))
    if weight.shape[0] == 2 and fused_heads.available() and worth_compiling(height * width):
        # nothing yet: the detector's peaks need the saliency logits and the reliability
        # logits at a few pixels (DenseMaps.peaks); the maps follow when read
        heads = (np.asarray(weight, np.float32), np.asarray(bias, np.float32), height, width)
        if not (0 < height <= 2 * features.shape[0] and 0 < width <= 2 * features.shape[1]):
            raise ValueError(f"maps of {height} x {width} pixels need more than features "
                             f"{features.shape[:2]}")
        return DenseMaps(features, stride, heads=heads)
    logits = upsampled_head_logits(features, weight, bias)[:, :height, :width]
    return DenseMaps(features, stride, *head_activations(logits))
