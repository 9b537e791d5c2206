"""Optical gray images as training pairs: simulated speckle, and the open images sarfeat may use."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from sarfeat.training.augment import PairAugmentation, PairSource
from sarfeat.training.datasets.base import (
    PairDataset, as_array, display_float, probabilities, random_window, read_image, to_gray,
)

__all__ = ["SpeckledOpticalPairs", "open_optical_images"]


class SpeckledOpticalPairs(PairDataset):
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
        self.weights = probabilities(weights, len(self.images))
        self._gray: dict[int, np.ndarray] = {}

    def _prepare(self, k: int) -> np.ndarray:
        if k not in self._gray:
            array = to_gray(as_array(self.images[k]))
            if array.ndim != 2:
                raise ValueError(
                    f"image {k}: expected a gray or RGB(A) image, got shape {array.shape}"
                )
            gray = np.clip(np.nan_to_num(display_float(array), nan=0.0), 0.0, 1.0)
            self._gray[k] = (gray + np.float32(self.floor)).astype(np.float32)
        return self._gray[k]

    def _source(self, rng: np.random.Generator) -> PairSource:
        k = int(rng.choice(len(self.images), p=self.weights))
        intensity = self._prepare(k)
        rows, cols = random_window(rng, intensity.shape, self.window)
        clean = np.ascontiguousarray(intensity[rows, cols])
        return PairSource(clean, clean, None, "intensity", True)


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
        gray = np.clip(display_float(read_image(path)), 0.0, 1.0)
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
