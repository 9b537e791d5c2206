"""Pairs of two dates of co-registered multi-temporal SAR stacks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sarfeat.preprocess import resolve_input_kind, valid_mask
from sarfeat.training.augment import PairAugmentation, PairSource
from sarfeat.training.datasets.base import (
    PairDataset, display_float, finite_filled, random_window, read_image, to_gray,
)

__all__ = ["IMAGE_SUFFIXES", "StackPairs"]

#: File suffixes that :class:`StackPairs` and the path inputs read.
IMAGE_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


class StackPairs(PairDataset):
    """Pairs of two dates of co-registered multi-temporal SAR stacks.

    ``root`` holds one folder per area, each with two or more co-registered
    acquisitions of the same shape (files with a suffix of
    ``IMAGE_SUFFIXES``, sorted by name). A ``root`` with image files and
    no such sub-folder is one area. An area folder with a single image, and
    images beside area folders, are refused (ValueError naming them) rather
    than left out. Each sample picks an area, two different
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

        found = {d: images_in(d) for d in sorted(root.iterdir()) if d.is_dir()}
        areas = [a for a in found.values() if len(a) >= 2]
        loose = images_in(root)
        if not areas and len(loose) >= 2:
            areas, found, loose = [loose], {}, []
        if not areas:
            raise ValueError(
                f"no area with two or more images ({', '.join(IMAGE_SUFFIXES)}) in {root}: "
                "put each stack's co-registered dates in one sub-folder"
            )
        # what the areas leave out would be data silently not trained on
        single = [str(d) for d, images in found.items() if len(images) == 1]
        if single:
            raise ValueError(f"{', '.join(single)}: one image where an area needs two or more "
                             f"co-registered dates; add dates, or move it out of {root}")
        if loose:
            raise ValueError(f"{', '.join(map(str, loose))}: images beside the area folders of "
                             f"{root}, in no area; move them into an area's folder or out")
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
            image = read_image(path)
            if image.ndim == 3:
                image = to_gray(image)
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

    def _source(self, rng: np.random.Generator) -> PairSource:
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
        rows, cols = random_window(rng, first.shape, self.window)
        views, valid = [], None
        for image in (first[rows, cols], second[rows, cols]):
            values = display_float(image) if kind == "display" else np.asarray(image, np.float32)
            ok = valid_mask(values, self.nodata)
            valid = ok if valid is None else valid & ok
            views.append(values)
        assert valid is not None
        views = [finite_filled(v, valid) for v in views]
        return PairSource(
            views[0], views[1], None if valid.all() else valid.astype(np.float32), kind, False
        )
