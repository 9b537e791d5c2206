"""Pairs from single-date SAR scenes: two channels, or two speckle draws of one."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from sarfeat.preprocess import valid_mask
from sarfeat.training.augment import PairAugmentation, PairSource
from sarfeat.training.datasets.base import (
    PairDataset, as_array, display_float, finite_filled, probabilities, random_window,
    to_intensity,
)

__all__ = ["SingleImagePairs"]


class SingleImagePairs(PairDataset):
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
        self.weights = probabilities(weights, len(self.images))
        self._prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _prepare(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, C) finite float32 views and the (H, W) joint valid mask of image ``k``."""
        if k not in self._prepared:
            array = as_array(self.images[k])
            if array.ndim == 2:
                array = array[..., None]
            if array.ndim != 3:
                raise ValueError(
                    f"image {k}: expected (H, W) or (H, W, C), got shape {array.shape}"
                )
            if self.input_kind == "display":
                values = display_float(array)
            else:
                values = np.asarray(array, np.float32)
            valid = valid_mask(values, self.nodata).all(axis=-1)
            if not valid.any():
                raise ValueError(f"image {k} has no valid pixel")
            channels = [finite_filled(values[..., c], valid) for c in range(values.shape[-1])]
            if len(channels) == 1:
                channels = [self._despeckled(channels[0], valid)]
            self._prepared[k] = (np.stack(channels, axis=-1), valid)
        return self._prepared[k]

    def _despeckled(self, channel: np.ndarray, valid: np.ndarray) -> np.ndarray:
        intensity = to_intensity(channel, self.input_kind).astype(np.float32)
        size = self.despeckle_size
        if self.despeckle == "median":
            return ndimage.median_filter(intensity, size=size, mode="reflect")
        weight = valid.astype(np.float32)
        total = ndimage.uniform_filter(intensity * weight, size=size, mode="reflect")
        count = ndimage.uniform_filter(weight, size=size, mode="reflect")
        return np.where(count > 1e-6, total / np.maximum(count, 1e-6), intensity).astype(np.float32)

    def _source(self, rng: np.random.Generator) -> PairSource:
        k = int(rng.choice(len(self.images), p=self.weights))
        views, valid = self._prepare(k)
        rows, cols = random_window(rng, views.shape, self.window)
        views, valid = views[rows, cols], valid[rows, cols]
        mask = None if valid.all() else valid.astype(np.float32)
        if views.shape[-1] >= 2:
            c1, c2 = (int(c) for c in rng.choice(views.shape[-1], size=2, replace=False))
            return PairSource(
                np.ascontiguousarray(views[..., c1]), np.ascontiguousarray(views[..., c2]),
                mask, self.input_kind, False,
            )
        clean = np.ascontiguousarray(views[..., 0])
        return PairSource(clean, clean, mask, "intensity", True)
