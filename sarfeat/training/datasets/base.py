"""What the pair datasets share: reading images, and the index handling of one dataset."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sarfeat.io import read_raster, rgb_to_gray
from sarfeat.training.augment import PairAugmentation, PairSource, make_pair, sample_rng

__all__ = ["PairDataset", "as_array", "display_float", "finite_filled", "probabilities",
           "random_window", "read_image", "to_gray", "to_intensity"]


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB(A) to gray by sarfeat's one rule (:func:`sarfeat.io.rgb_to_gray`, Rec. 709);
    gray+alpha to its first channel."""
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return rgb_to_gray(image[..., :3])
    if image.ndim == 3 and image.shape[-1] in (1, 2):
        return np.asarray(image[..., 0])
    return image


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
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


def display_float(image: np.ndarray) -> np.ndarray:
    """Integers divided by their dtype's maximum, floats as float32."""
    if np.issubdtype(image.dtype, np.integer):
        return np.asarray(image, dtype=np.float32) / np.float32(np.iinfo(image.dtype).max)
    return np.asarray(image, dtype=np.float32)


def finite_filled(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A finite float32 copy, no-data filled with the median of the valid pixels."""
    out = np.array(image, dtype=np.float32)
    if not valid.all():
        out[~valid] = np.median(out[valid]) if valid.any() else 0.0
    return out


def random_window(
    rng: np.random.Generator, shape: tuple[int, int], window: int | None
) -> tuple[slice, slice]:
    rows, cols = shape[:2]
    if window is None:
        return slice(0, rows), slice(0, cols)
    h, w = min(rows, window), min(cols, window)
    r0 = int(rng.integers(0, rows - h + 1))
    c0 = int(rng.integers(0, cols - w + 1))
    return slice(r0, r0 + h), slice(c0, c0 + w)


def to_intensity(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "amplitude":
        return values * values
    if kind == "db":
        return np.power(np.float32(10.0), values / np.float32(10.0))
    return np.maximum(values, 0.0)  # intensity, or a display image read as intensity


class PairDataset(Dataset):
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
        rng = sample_rng(self.seed, index)
        source = self._source(rng)
        return make_pair(rng, source, self.crop_size, self.augmentation, self.with_matrix)

    def _source(self, rng: np.random.Generator) -> PairSource:  # pragma: no cover - abstract
        raise NotImplementedError


def as_array(item: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    return read_image(item) if isinstance(item, (str, os.PathLike)) else np.asarray(item)


def probabilities(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(weights, dtype=np.float64)
    if p.shape != (n,) or np.any(p < 0) or not p.sum() > 0:
        raise ValueError(
            f"weights must be {n} non-negative numbers with a positive sum, got {weights!r}"
        )
    return p / p.sum()
