"""Optical-SAR development pairs with known warps, built from the 3MOS preview strips.

The 3MOS repository (3M-OS/3MOS, Apache-2.0) publishes, per SAR satellite and
scene type, a preview strip of ten co-registered tiles: optical on top, SAR
below, 256 x 256 pixels each (TerraSAR strips are stored 1.234 times larger
and are brought back to that grid). Each tile pair becomes a development pair:
the optical tile is the fixed image, the SAR tile is turned, scaled and
shifted by a known similarity (the moving image), NaN outside.

Split by tile: tiles 0, 2, 4, 6, 8 of every strip are the ``'tune'`` split
(parameters were chosen on them), tiles 1, 3, 5, 7, 9 the ``'held_out'`` split
(never looked at while tuning; the figures of the benchmark are on it).

The strips are fetched through :func:`sarfeat.data.fetch` (pinned URL and
SHA-256); set ``SARFEAT_DATA_DIR`` to a folder holding ``optical_sar/3mos/``
to work offline.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import SimilarityTransform, resize, warp

from sarfeat.data import OPTICAL_SAR_STRIPS, fetch
from sarfeat.io import read_image

#: Tile side and the stride of the tiles in a 2640 x 516 strip.
TILE = 256
_STRIDE = 264
_SAR_ROW = 260
#: Warps of the development pairs: turn, scale and shift ranges.
MAX_ANGLE = 90.0
SCALE_RANGE = (0.7, 1.4)
MAX_SHIFT = 20.0


def strip_tiles(name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ten (optical, SAR) gray tiles of one strip, float32 in [0, 255]."""
    image = read_image(fetch(name)).astype(np.float32)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    if image.shape != (516, 2640):  # the TerraSAR strips are stored larger
        image = resize(image, (516, 2640), order=1, anti_aliasing=True, preserve_range=True)
    tiles = []
    for k in range(10):
        c0 = k * _STRIDE
        tiles.append((image[:TILE, c0:c0 + TILE].astype(np.float32),
                      image[_SAR_ROW:_SAR_ROW + TILE, c0:c0 + TILE].astype(np.float32)))
    return tiles


def random_similarity(rng: np.random.Generator, shape=(TILE, TILE)) -> SimilarityTransform:
    """A similarity about the image centre: turn within +-MAX_ANGLE, scale, shift."""
    angle = np.deg2rad(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
    scale = float(np.exp(rng.uniform(*np.log(SCALE_RANGE))))
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
    centre = np.array([shape[1] - 1, shape[0] - 1]) / 2
    to_origin = SimilarityTransform(translation=-centre)
    turn = SimilarityTransform(scale=scale, rotation=angle)
    back = SimilarityTransform(translation=centre + shift)
    return SimilarityTransform(matrix=back.params @ turn.params @ to_origin.params)


def warp_pair(optical: np.ndarray, sar: np.ndarray, truth: SimilarityTransform,
              upscale: int = 1):
    """(fixed, moving): the optical tile and the SAR tile moved by ``truth``.

    ``truth`` maps fixed (x, y) to moving (x, y). ``upscale`` enlarges both
    tiles first (2 gives 512 x 512 pairs, for timing).
    """
    if upscale != 1:
        size = (optical.shape[0] * upscale, optical.shape[1] * upscale)
        optical = resize(optical, size, order=3, preserve_range=True).astype(np.float32)
        sar = resize(sar, size, order=3, preserve_range=True).astype(np.float32)
        zoom = np.diag([upscale, upscale, 1.0])
        truth = SimilarityTransform(matrix=zoom @ truth.params @ np.linalg.inv(zoom))
    moving = warp(sar, truth.inverse, order=1, cval=np.nan, preserve_range=True)
    return optical, moving.astype(np.float32), truth


def development_pairs(split: str = "held_out", seed: int = 21, upscale: int = 1):
    """Yield (name, fixed optical, moving SAR, truth) for one split.

    ``truth`` maps fixed (x, y) to moving (x, y), the direction of
    :attr:`sarfeat.RegistrationResult.transform`.
    """
    if split not in ("tune", "held_out"):
        raise ValueError(f"split must be 'tune' or 'held_out', got {split!r}")
    first = 0 if split == "tune" else 1
    for strip in OPTICAL_SAR_STRIPS:
        label = strip.rsplit("/", 1)[1].removesuffix(".png")
        for k, (optical, sar) in enumerate(strip_tiles(strip)):
            if k % 2 != first:
                continue
            rng = np.random.default_rng([seed, OPTICAL_SAR_STRIPS.index(strip), k])
            truth = random_similarity(rng)
            fixed, moving, truth = warp_pair(optical, sar, truth, upscale)
            yield f"{label}_{k}", fixed, moving, truth
