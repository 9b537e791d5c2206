"""The detector's pyramid: its scales, its levels and where keypoints may lie on them.

:class:`PyramidLevel` holds one level's image and the ratios back to the
input; :func:`edge_margin` is how far from a level's edge the network's maps
can be trusted; :func:`usable_keypoints` drops keypoints on or near no-data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .orientation import ORIENTATION_SIGMA, PATCH_SCALE, LevelSteering
from .preprocess import NormalizedImage
from .resample import any_in_cells, resize_many

__all__ = ["EDGE_MARGIN", "PATCH_DIAMETER", "PyramidLevel", "edge_margin", "level_shape",
           "pyramid_levels", "pyramid_scales", "resized_level", "usable_keypoints"]

#: Keypoint scale (patch diameter in pixels) at pyramid scale 1.
PATCH_DIAMETER = 32.0

#: Keypoints closer than this many pixels of their pyramid level to the image edge are
#: dropped by detection and flagged by ``extract``: the network's maps there answer the
#: zero padding of its convolutions (measured: repeatability deviates from the interior
#: up to 11-12 pixels from the edges, with a spurious ridge 8-10 pixels from the left edge).
EDGE_MARGIN = 12


def edge_margin(shape: tuple[int, ...]) -> int:
    """The edge margin of maps of ``shape``: ``EDGE_MARGIN``, less on small ones.

    An eighth of the shorter side below 96 pixels (8 pixels on a 64 x 64 image,
    whose 12-pixel margin left too small an interior to find keypoints in, where
    ORB finds a few); at least 1.

    Parameters
    ----------
    shape : tuple of int
        The maps' shape; its last two entries count.

    Returns
    -------
    int
        Pixels.
    """
    return max(1, min(EDGE_MARGIN, min(shape[-2:]) // 8))


def pyramid_scales(
    shape: tuple[int, int],
    scale_factor: float = 2 ** 0.25,
    min_size: int | None = 256,
    max_size: int = 1024,
    min_scale: float = 0.0,
    max_scale: float = 1.0,
) -> list[float]:
    """Scales of the detection pyramid for an image of ``shape``.

    Scale starts at 1 and is divided by ``scale_factor`` at each level; a level
    is kept while ``max(min_scale, min_size / maxdim) <= s <= min(max_scale,
    max_size / maxdim)``, to within 1e-3 (1/64 of a bound under 0.064, on an
    image longer than 16 times ``min_size`` or ``max_size``). An image smaller
    than ``min_size`` gets one level, at the largest allowed scale, instead of
    none.

    Parameters
    ----------
    shape : tuple of int
        The image's (rows, cols).
    scale_factor : float
        Ratio of two levels' scales, > 1.
    min_size : int or None
        Smallest longer side of a level; None is 256 (the detector's default).
    max_size : int
        Largest longer side of a level; below ``min_size`` it gives one level, at
        ``max_size``.
    min_scale, max_scale : float
        Bounds of the scales.

    Returns
    -------
    list of float
        Largest first.

    Raises
    ------
    ValueError
        For a ``scale_factor`` of at most 1, or bounds that are not positive.
    """
    min_size = 256 if min_size is None else min_size
    if scale_factor <= 1:
        raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
    maxdim = max(shape)
    lower = max(min_scale, min_size / maxdim)
    upper = min(max_scale, max_size / maxdim)
    if upper <= 0:
        raise ValueError("max_scale and max_size must be positive")
    if lower <= 0:  # the scales only tend to 0: the pyramid would never end
        raise ValueError("min_scale or min_size must be positive, got "
                         f"min_scale={min_scale}, min_size={min_size}")
    # a scale within 1e-3 of a bound is on it; under bounds of 0.064 (an image longer than
    # 16 times min_size or max_size) within 1/64 of the bound: an absolute 1e-3 would let
    # levels far past max_size in, and keep the scales, which only tend to 0, above a
    # ``lower`` under 1e-3 for ever
    slack_low, slack_high = min(1e-3, lower / 64), min(1e-3, upper / 64)
    scales = []
    s = 1.0
    while s + slack_low >= lower:
        if s - slack_high <= upper:
            scales.append(s)
        s /= scale_factor
    if not scales:
        scales = [min(1.0, upper)]
    return scales


@dataclass
class PyramidLevel:
    """One level of the detector's pyramid: its scale, image and the ratios back to the input."""

    scale: float
    """float: the level's size over the input's (:func:`level_shape`)."""
    image: np.ndarray
    """(h, w) ndarray of float32: the level's image, values in [0, 1]."""
    row_ratio: float
    """float: input rows per level row."""
    col_ratio: float
    """float: input columns per level column."""
    invalid_distance: np.ndarray | None = None
    """(h, w) ndarray of float32 or None: each cell's distance, in level pixels, to the
    nearest cell that covers large no-data; None when the image has none."""

    def steering(self, box: tuple[int, int, int, int], orienter=None,
                 descriptor: str = "patch") -> LevelSteering:
        """Orientations and descriptors of keypoints in ``box`` (upright=False)."""
        return LevelSteering.around(
            self.image, box, ORIENTATION_SIGMA * PATCH_DIAMETER, PATCH_SCALE * PATCH_DIAMETER,
            orienter=orienter, descriptor=descriptor,
        )

    def far_from_invalid(self, rows: np.ndarray, cols: np.ndarray, reach: float) -> np.ndarray:
        """Which original-image positions lie more than ``reach`` level pixels from no-data."""
        if self.invalid_distance is None:
            return np.ones(len(rows), dtype=bool)
        level_rows, level_cols = self.from_original(rows, cols)
        height, width = self.invalid_distance.shape
        level_rows = np.clip(np.rint(level_rows).astype(int), 0, height - 1)
        level_cols = np.clip(np.rint(level_cols).astype(int), 0, width - 1)
        return self.invalid_distance[level_rows, level_cols] > reach

    def away_from_edge(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Which original-image positions lie at least :func:`edge_margin` level pixels inside."""
        level_rows, level_cols = self.from_original(rows, cols)
        height, width = self.image.shape
        margin = edge_margin((height, width)) - 0.5
        return (
            (level_rows >= margin) & (level_rows <= height - 1 - margin)
            & (level_cols >= margin) & (level_cols <= width - 1 - margin)
        )

    def to_original(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (rows + 0.5) * self.row_ratio - 0.5, (cols + 0.5) * self.col_ratio - 0.5

    def from_original(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (rows + 0.5) / self.row_ratio - 0.5, (cols + 0.5) / self.col_ratio - 0.5


def level_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(height, width) of the level of ``scale`` of an image of ``shape`` (at least 1 x 1).

    Parameters
    ----------
    shape : tuple of int
        The image's (rows, cols).
    scale : float
        The level's scale.

    Returns
    -------
    tuple of int
    """
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def resized_level(shape: tuple[int, int], scale: float, resized: np.ndarray,
            invalid: np.ndarray | None = None) -> PyramidLevel:
    """The level of ``scale`` of an image of ``shape``, from the image ``resized`` to it.

    Parameters
    ----------
    shape : tuple of int
        The image's (rows, cols), as for :func:`level_shape`.
    scale : float
        As for :func:`level_shape`.
    resized : ndarray
        The image resized to :func:`level_shape`.
    invalid : ndarray of bool, optional
        The image's large no-data; the level then knows each cell's distance to it.

    Returns
    -------
    PyramidLevel
    """
    (height, width), (new_h, new_w) = shape, resized.shape
    level = PyramidLevel(scale, resized, height / new_h, width / new_w)
    if invalid is not None:
        # a level cell is invalid when any pixel it covers is; distances in level pixels
        invalid_cells = any_in_cells(invalid, (new_h, new_w))
        level.invalid_distance = ndimage.distance_transform_edt(~invalid_cells).astype(np.float32)
    return level


def pyramid_levels(normalized: NormalizedImage, scale_factor: float = 2 ** 0.25,
                   min_size: int | None = 256, max_size: int = 1024, min_scale: float = 0.0,
                   max_scale: float = 1.0) -> Iterator[PyramidLevel]:
    """Yield the levels of a normalised image's pyramid, largest first, as they are made.

    Parameters
    ----------
    normalized : NormalizedImage
        The image.
    scale_factor, min_size, max_size, min_scale, max_scale : float or int
        As for :func:`pyramid_scales`.

    Yields
    ------
    PyramidLevel
        A level knows how far its cells lie from the image's large no-data regions
        (the small ones exclude only themselves).
    """
    scales = pyramid_scales(
        normalized.image.shape, scale_factor, min_size, max_size, min_scale, max_scale,
    )
    image = np.asarray(normalized.image, np.float32)
    large = normalized.large_invalid  # small no-data regions exclude only themselves
    shapes = [level_shape(image.shape, s) for s in scales]
    for s, resized in zip(scales, resize_many(image, shapes)):
        yield resized_level(image.shape, s, resized, large)


def usable_keypoints(level: PyramidLevel, normalized: NormalizedImage, points: np.ndarray,
                     reach: float) -> np.ndarray:
    """Keypoints off no-data pixels and beyond ``reach`` level pixels of large no-data.

    Parameters
    ----------
    level : PyramidLevel
        The level whose distances to large no-data count.
    normalized : NormalizedImage
        The image, with its valid pixels.
    points : (N, 2) ndarray
        (row, col) in the image.
    reach : float
        Level pixels.

    Returns
    -------
    (N,) ndarray of bool
    """
    keep = level.far_from_invalid(points[:, 0], points[:, 1], reach)
    height, width = normalized.valid.shape
    rows = np.clip(np.rint(points[:, 0]).astype(int), 0, height - 1)
    cols = np.clip(np.rint(points[:, 1]).astype(int), 0, width - 1)
    return keep & normalized.valid[rows, cols]
