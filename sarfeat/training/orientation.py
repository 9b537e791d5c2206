"""Self-supervised training of the learned orientation of :mod:`sarfeat.learned_orientation`.

Pairs of patches come from the open training scenes only (those of
:func:`sarfeat.training.patch_descriptor.open_training_scenes`: Sentinel-1
VV/VH of Labrador, AIRSAR HH/HV/VV of San Francisco, the asf-tools tiles;
never Shanghai or the image pairs, see ``tests/test_training_provenance.py``).
Each pair is one position of a scene seen twice: on one channel and on
another (independent speckle between channels; a single-channel scene is
paired with itself, re-speckled), each side at its own pyramid level (the
second one's scale jittered by up to 1.18x), sampled on a grid turned by its
own random angle, the second side shifted by a fraction of a pixel. Scenes
are also mirrored. Positions are the default detector's keypoints on the
scene, and a third of them random.

If the regressor gives angles ``a1``, ``a2`` on patches sampled on grids
turned by ``psi1``, ``psi2``, the orientations it assigns in the image are
``a1 + psi1`` and ``a2 + psi2``; the loss is ``1 - cos`` of their difference.

Run (one thread, resumable, bounded by time)::

    PYTHONPATH=. python -m sarfeat.training.orientation --output runs/ori --minutes 45
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import write_npz_atomically
from ..learned_orientation import ORI_PIXELS, ORI_SCALE, orientation_patches
from ..orientation import (ORIENTATION_SIGMA, PATCH_SCALE, PATCH_SIGMA, PATCH_SIZE,
                           LevelSteering)
from ..preprocess import normalize_sar
from ..resample import resize_bilinear
from .config_checks import number, whole_number
from .trainer import atomic_save, positive_minutes, resume_state, set_threads, thread_count

__all__ = ["OrientationNet", "OrientationPairs", "CorrespondencePairs", "angle_loss", "export_npz",
           "train"]

_DIAMETER = 32.0
#: Side (level pixels) and samples per side of the context patches of the descriptor loss:
#: they hold the descriptor's square (``PATCH_SCALE`` diameters) at any turn.
CONTEXT_SIDE = 60.0
CONTEXT_PIXELS = 40
#: The descriptor's prefilter (PATCH_SIGMA of its grid spacing), in context grid spacings.
_CONTEXT_PREFILTER = PATCH_SIGMA * (PATCH_SCALE * _DIAMETER / PATCH_SIZE) / (
    CONTEXT_SIDE / CONTEXT_PIXELS)
#: The detector's pyramid scales between 256 and 128 px (min_size=128 on the bundled scenes).
_LEVELS = tuple(2.0 ** (-k / 4) for k in range(5))


class OrientationNet(nn.Module):
    """(N, 1, P, P) patches -> (N, 2) vectors whose angle is the orientation.

    Parameters
    ----------
    widths : tuple of int
        Channels of the four convolutions (strides 2, 2, 2, 1).
    skip : bool
        Add a linear map of the patch to the output, initialised to the
        gradient orientation (``gradient_kernels``) while the convolutional
        path starts at zero: training starts from the gradient orientation.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 32, 32), skip: bool = True) -> None:
        super().__init__()
        layers, previous = [], 1
        self.strides = (2, 2, 2, 1)
        for index, (channels, stride) in enumerate(zip(widths, self.strides)):
            kernel = 5 if index == 0 else 3
            layers += [nn.Conv2d(previous, channels, kernel, stride, kernel // 2), nn.ReLU()]
            previous = channels
        self.features = nn.Sequential(*layers)
        side = ORI_PIXELS // 8
        self.head = nn.Linear(previous * side * side, 2)
        self.widths = tuple(widths)
        self.skip = None
        if skip:
            self.skip = nn.Linear(ORI_PIXELS * ORI_PIXELS, 2, bias=False)
            with torch.no_grad():
                self.skip.weight.copy_(torch.from_numpy(gradient_kernels()))
                self.head.weight.zero_()
                self.head.bias.zero_()

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(patches).flatten(1))
        if self.skip is not None:
            out = out + self.skip(patches.flatten(1))
        return out


def gradient_kernels(sigma: float = ORIENTATION_SIGMA * _DIAMETER) -> np.ndarray:
    """(2, P * P) float32 weights whose products with a patch are its (d_col, d_row) at the centre.

    The derivatives of a Gaussian of ``sigma`` level pixels, as the default
    orientation takes them, on the regressor's grid; scaled to give vectors
    of about unit length on the training patches.
    """
    offsets = np.arange(ORI_PIXELS) - (ORI_PIXELS - 1) / 2
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    spacing = ORI_SCALE * _DIAMETER / ORI_PIXELS
    window = np.exp(-(rows ** 2 + cols ** 2) * spacing ** 2 / (2 * sigma ** 2))
    kernels = np.stack([(cols * window).ravel(), (rows * window).ravel()])
    return (kernels / np.abs(kernels).sum(axis=1, keepdims=True) * 4).astype(np.float32)


def export_npz(net: OrientationNet, path: Path, metadata: dict | None = None) -> None:
    """Write the weights for :class:`sarfeat.learned_orientation.OrientationRegressor`.

    Parameters
    ----------
    net : OrientationNet
        The trained network.
    path : Path
        The ``.npz`` file, written atomically.
    metadata : dict, optional
        Stored as JSON beside the weights.
    """
    arrays = {}
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    for index, conv in enumerate(convs):
        arrays[f"conv{index}_weight"] = conv.weight.detach().numpy().astype(np.float32)
        arrays[f"conv{index}_bias"] = conv.bias.detach().numpy().astype(np.float32)
        arrays[f"conv{index}_stride"] = np.array(conv.stride[0])
    if net.skip is not None:
        arrays["skip_weight"] = net.skip.weight.detach().numpy().astype(np.float32)
    arrays["linear_weight"] = net.head.weight.detach().numpy().astype(np.float32)
    arrays["linear_bias"] = net.head.bias.detach().numpy().astype(np.float32)
    arrays["metadata"] = np.array(json.dumps(metadata or {}))
    write_npz_atomically(path, arrays)


def angle_loss(vectors1: torch.Tensor, vectors2: torch.Tensor, psi1: torch.Tensor,
               psi2: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos((a1 + psi1) - (a2 + psi2))`` of the vectors' angles ``a1``, ``a2``.

    Parameters
    ----------
    vectors1, vectors2 : (N, 2) tensor
        The regressor's outputs on the two patches of each pair.
    psi1, psi2 : (N,) tensor
        The angles of the grids the patches were sampled on.

    Returns
    -------
    tensor
        A scalar.
    """
    a1 = torch.atan2(vectors1[:, 1], vectors1[:, 0] + 1e-12)
    a2 = torch.atan2(vectors2[:, 1], vectors2[:, 0] + 1e-12)
    return (1 - torch.cos(a1 + psi1 - a2 - psi2)).mean()


def turned_descriptors(context: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """The default detector's turned log patches, read from context patches at predicted angles.

    Parameters
    ----------
    context : (N, C, C) tensor
        Context patches of :meth:`OrientationPairs.chunk`.
    vectors : (N, 2) tensor
        The regressor's output on the same grids (its angle turns the patch).

    Returns
    -------
    (N, PATCH_SIZE ** 2) tensor
        Zero-mean, unit-norm samples, differentiable in ``vectors``.
    """
    unit = vectors / (vectors.norm(dim=1, keepdim=True) + 1e-8)
    cos, sin = unit[:, 0, None, None], unit[:, 1, None, None]
    offsets = ((torch.arange(PATCH_SIZE) + 0.5) / PATCH_SIZE - 0.5) * (PATCH_SCALE * _DIAMETER)
    v, u = torch.meshgrid(offsets, offsets, indexing="ij")  # u along the grid's x axis
    x = cos * u - sin * v
    y = sin * u + cos * v
    half = CONTEXT_SIDE / 2.0
    grid = torch.stack([x / half, y / half], dim=-1)
    values = nn.functional.grid_sample(context[:, None], grid, mode="bilinear",
                                       align_corners=False).flatten(1)
    values = values - values.mean(dim=1, keepdim=True)
    return values / (values.norm(dim=1, keepdim=True) + 1e-6)


def _resized(gray: np.ndarray, scale: float) -> np.ndarray:
    """The image at a pyramid scale, resized as the detector resizes its levels."""
    height, width = gray.shape
    return resize_bilinear(gray, (max(8, round(height * scale)), max(8, round(width * scale))))


class OrientationPairs:
    """Random pairs of turned patches of the same positions on the training scenes.

    Parameters
    ----------
    cubes : list of (H, W, C) ndarray
        Intensity cubes (``open_training_scenes``).
    seed : int
    respeckled : int
        Re-speckled copies of each channel (1 to 4 looks of gamma speckle).
    keypoints : list of (K, 2) ndarray, optional
        Positions (row, col) to draw from in each cube; the default detector's when None.
    """

    def __init__(self, cubes: list[np.ndarray], seed: int = 0, respeckled: int = 2,
                 keypoints: list[np.ndarray] | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.channels = []  # per cube, per channel: list of normalised versions
        for cube in cubes:
            versions = []
            for channel in range(cube.shape[-1]):
                intensity = cube[..., channel]
                copies = [intensity] + [
                    intensity * self.rng.gamma(looks, 1.0 / looks, intensity.shape)
                    for looks in self.rng.integers(1, 5, respeckled)]
                versions.append([np.ascontiguousarray(normalize_sar(
                    c.astype(np.float32), input_kind="intensity").image, np.float32)
                    for c in copies])
            self.channels.append(versions)
        self.keypoints = keypoints if keypoints is not None else [
            self._detector_keypoints(c) for c in cubes]

    @staticmethod
    def _detector_keypoints(cube: np.ndarray) -> np.ndarray:
        from .. import SARR2D2Detector

        detector = SARR2D2Detector(min_size=96)
        found = []
        for channel in range(cube.shape[-1]):
            detector.detect(cube[..., channel])
            found.append(detector.keypoints.astype(np.float64))
        return np.concatenate(found)

    def chunk(self, count: int, context: bool = False) -> tuple:
        """``count`` pairs of one scene: patches1, patches2 (N, P, P), angles psi1, psi2 (N,).

        With ``context``, also the two sides' ``CONTEXT_PIXELS`` square
        context patches (prefiltered as the descriptor is), on the same grids.
        """
        rng = self.rng
        index = int(rng.integers(len(self.channels)))
        versions = self.channels[index]
        a = int(rng.integers(len(versions)))
        if len(versions) > 1 and rng.random() < 0.8:
            b = int((a + rng.integers(1, len(versions))) % len(versions))
            va, vb = int(rng.integers(len(versions[a]))), int(rng.integers(len(versions[b])))
        else:
            b = a
            va, vb = rng.choice(len(versions[a]), 2, replace=False)
        image_a, image_b = versions[a][va], versions[b][vb]
        height, width = image_a.shape
        flip = rng.random() < 0.5
        if flip:
            image_a, image_b = image_a[:, ::-1], image_b[:, ::-1]
        levels = [s for s in _LEVELS if s * max(height, width) >= 90] or [1.0]
        scale_a = float(rng.choice(levels))
        scale_b = scale_a * float(np.exp(rng.uniform(-0.17, 0.17)))
        known = self.keypoints[index]
        from_detector = rng.random(count) < 2 / 3
        rows = rng.uniform(0.15, 0.85, count) * height
        cols = rng.uniform(0.15, 0.85, count) * width
        if len(known):
            pick = known[rng.integers(len(known), size=count)]
            rows = np.where(from_detector, pick[:, 0], rows)
            cols = np.where(from_detector, pick[:, 1], cols)
        if flip:
            cols = width - 1 - cols
        psi = rng.uniform(-np.pi, np.pi, (2, count))
        shift = rng.normal(0.0, 0.7, (2, count))
        out = []
        for image, scale, jitter, angles in ((image_a, scale_a, 0.0, psi[0]),
                                             (image_b, scale_b, 1.0, psi[1])):
            level = _resized(np.ascontiguousarray(image), scale)
            level_rows = (rows + 0.5) * (level.shape[0] / height) - 0.5 + jitter * shift[0]
            level_cols = (cols + 0.5) * (level.shape[1] / width) - 0.5 + jitter * shift[1]
            out.append(orientation_patches(level, level_rows, level_cols, angles))
            if context:
                steering = LevelSteering(level, 1.0, side=CONTEXT_SIDE, size=CONTEXT_PIXELS,
                                         prefilter=_CONTEXT_PREFILTER)
                out.append(steering.describe(level_rows, level_cols, angles).reshape(
                    -1, CONTEXT_PIXELS, CONTEXT_PIXELS))
        if context:
            return out[0], out[2], psi[0], psi[1], out[1], out[3]
        return out[0], out[1], psi[0], psi[1]

    def batch(self, size: int, chunk: int = 32, context: bool = False):
        """Torch tensors of ``size`` pairs: patches1, patches2 (N, 1, P, P), psi1, psi2
        (and context1, context2 (N, C, C) with ``context``)."""
        parts = [self.chunk(chunk, context) for _ in range(max(1, size // chunk))]
        arrays = [torch.from_numpy(np.concatenate(p)) for p in zip(*parts)]
        arrays[0], arrays[1] = arrays[0][:, None], arrays[1][:, None]
        arrays[2], arrays[3] = arrays[2].float(), arrays[3].float()
        return tuple(arrays)


class CorrespondencePairs:
    """Pairs of the default detector's own keypoints, found independently on both sides.

    Each draw of the pool warps one channel of a training scene by a random
    similarity (any angle, scale 0.8 to 1.15, a shift of up to 10 px) and
    detects keypoints on it and on another channel (or, for a single-channel
    scene, on a re-speckled copy); keypoints that are mutual nearest
    neighbours within ``tolerance`` px under the warp make the pairs. So the
    pairs have the position errors, pyramid levels and resampling of the
    detector at run time. Batches then sample each side's patch at its own
    keypoint and level, on a grid turned by a random angle, as
    :class:`OrientationPairs` does; the second angle returned also holds the
    warp's turn, so that the loss needs no change.

    Parameters
    ----------
    cubes : list of (H, W, C) ndarray
        Intensity cubes of the open training scenes.
    warps : int
        Random warps in the pool.
    seed : int
    tolerance : float
        Largest distance (px) between a warped keypoint and its partner.
    """

    def __init__(self, cubes: list[np.ndarray], warps: int = 200, seed: int = 0,
                 tolerance: float = 1.5) -> None:
        from scipy.spatial import cKDTree
        from skimage.transform import warp as warp_image

        from .. import SARR2D2Detector
        from ..metrics import turn_about_centre

        self.rng = rng = np.random.default_rng(seed)
        detector = SARR2D2Detector(min_size=128)
        # scenes drawn by their area, cross-channel ones three times as often
        weights = np.array([c.shape[0] * c.shape[1] * (3 if c.shape[-1] > 1 else 1)
                            for c in cubes], np.float64)
        self.pool = []
        for _ in range(warps):
            cube = cubes[int(rng.choice(len(cubes), p=weights / weights.sum()))]
            channels = cube.shape[-1]
            a = int(rng.integers(channels))
            b = int((a + rng.integers(1, channels)) % channels) if channels > 1 else a
            image_a, image_b = cube[..., a], cube[..., b]
            if channels == 1 or rng.random() < 0.2:
                image_a = image_a * rng.gamma(4, 0.25, image_a.shape).astype(np.float32)
                image_b = image_b * rng.gamma(4, 0.25, image_b.shape).astype(np.float32)
            degrees = float(rng.uniform(0, 360))
            transform = turn_about_centre(image_a.shape, degrees,
                                          scale=float(rng.uniform(0.8, 1.15)),
                                          shift=tuple(rng.uniform(-10, 10, 2)))
            moved = warp_image(image_b, transform.inverse, order=1, cval=np.nan,
                               preserve_range=True).astype(np.float32)
            found = []
            for image in (image_a, moved):
                try:
                    detector.detect(image)
                except RuntimeError:  # no keypoint (NoKeypointsError)
                    break
                found.append((detector.keypoints.astype(np.float64),
                               _DIAMETER / detector.scales.astype(np.float64)))
            if len(found) < 2:
                continue
            (k1, s1), (k2, s2) = found
            projected = transform(k1[:, ::-1])[:, ::-1]
            distance, nearest = cKDTree(k2).query(projected)
            back = cKDTree(projected).query(k2)[1]
            keep = (distance < tolerance) & (back[nearest] == np.arange(len(k1)))
            if keep.sum() < 4:
                continue
            self.pool.append({
                "images": [normalize_sar(image_a, input_kind="intensity").image.astype(np.float32),
                           normalize_sar(moved, input_kind="intensity").image.astype(np.float32)],
                "keypoints": [k1[keep], k2[nearest[keep]]],
                "levels": [s1[keep], s2[nearest[keep]]],
                "turn": np.deg2rad(degrees)})

    def __len__(self) -> int:
        return int(sum(len(entry["levels"][0]) for entry in self.pool))

    def chunk(self, count: int, context: bool = False) -> tuple:
        """As :meth:`OrientationPairs.chunk`, for ``count`` pairs of one warp."""
        rng = self.rng
        entry = self.pool[int(rng.integers(len(self.pool)))]
        chosen = rng.integers(len(entry["levels"][0]), size=count)
        psi = rng.uniform(-np.pi, np.pi, (2, count))
        patches, contexts = [], []
        for side in (0, 1):
            image = entry["images"][side]
            keypoints, levels = entry["keypoints"][side][chosen], entry["levels"][side][chosen]
            out = np.zeros((count, ORI_PIXELS, ORI_PIXELS), np.float32)
            around = np.zeros((count, CONTEXT_PIXELS, CONTEXT_PIXELS), np.float32)
            for level in np.unique(levels):
                here = np.flatnonzero(levels == level)
                resized = _resized(image, level)
                rows = (keypoints[here, 0] + 0.5) * (resized.shape[0] / image.shape[0]) - 0.5
                cols = (keypoints[here, 1] + 0.5) * (resized.shape[1] / image.shape[1]) - 0.5
                out[here] = orientation_patches(resized, rows, cols, psi[side, here])
                if context:
                    around[here] = LevelSteering(
                        resized, 1.0, side=CONTEXT_SIDE, size=CONTEXT_PIXELS,
                        prefilter=_CONTEXT_PREFILTER).describe(
                        rows, cols, psi[side, here]).reshape(-1, CONTEXT_PIXELS, CONTEXT_PIXELS)
            patches.append(out)
            contexts.append(around)
        # the warp turns orientations by its angle: a1 + psi1 + turn == a2 + psi2
        result = (patches[0], patches[1], psi[0], psi[1] - entry["turn"])
        return result + (contexts[0], contexts[1]) if context else result

    batch = OrientationPairs.batch


def _wrapped_degrees(angle: np.ndarray) -> np.ndarray:
    return np.degrees(np.abs((angle + np.pi) % (2 * np.pi) - np.pi))


def validation_errors(net: OrientationNet, pairs: list) -> np.ndarray:
    """Absolute angle errors (degrees) of ``net`` on fixed (p1, p2, psi1, psi2) batches."""
    net.eval()
    errors = []
    with torch.no_grad():
        for first, second, psi1, psi2 in pairs:
            v1, v2 = net(first), net(second)
            a1 = torch.atan2(v1[:, 1], v1[:, 0]) + psi1
            a2 = torch.atan2(v2[:, 1], v2[:, 0]) + psi2
            errors.append(_wrapped_degrees((a1 - a2).numpy()))
    net.train()
    return np.concatenate(errors)


def pair_loss(net: OrientationNet, pairs: tuple, loss: str = "angle") -> torch.Tensor:
    """The training loss of a batch of :meth:`OrientationPairs.batch`.

    ``'angle'``: :func:`angle_loss`. ``'descriptor'``: one minus the
    correlation of the two sides' turned log patches
    (:func:`turned_descriptors`; the batch must hold context patches), which
    weighs each orientation error by what it costs the descriptor. ``'both'``:
    their sum.
    """
    first, second, psi1, psi2 = pairs[:4]
    v1, v2 = net(first), net(second)
    total = 0.0
    if loss in ("angle", "both"):
        total = total + angle_loss(v1, v2, psi1, psi2)
    if loss in ("descriptor", "both"):
        d1, d2 = turned_descriptors(pairs[4], v1), turned_descriptors(pairs[5], v2)
        total = total + (1 - (d1 * d2).sum(dim=1)).mean()
    return total


def train(output: Path, cubes: list[np.ndarray], minutes: float, batch: int = 256,
          lr: float = 2e-3, seed: int = 0, widths: tuple[int, ...] = (16, 32, 32, 32),
          loss: str = "angle", correspondences: int = 0,
          held_out: list[np.ndarray] | None = None) -> Path:
    """Train (or resume) an :class:`OrientationNet` in ``output``.

    Parameters
    ----------
    output : Path
        The run's folder (its ``last.pt`` resumes it).
    cubes : list of ndarray
        The training scenes.
    minutes : float
        The training time.
    batch : int
        Pairs per step.
    lr : float
        Adam's learning rate, cosine-annealed over the time.
    seed : int
        Seed of the pairs and of the initial weights.
    widths : tuple of int
        As for :class:`OrientationNet`.
    loss : {'angle', 'descriptor', 'both'}
        As for :func:`pair_loss`.
    correspondences : int
        The number of warps of a :class:`CorrespondencePairs` pool to train on; 0
        trains on :class:`OrientationPairs`.
    held_out : list of ndarray, optional
        Scenes kept out of training, whose correspondences are the validation (else
        other warps of the training scenes).

    Returns
    -------
    Path
        The ``.npz`` file written (:func:`export_npz`).
    """
    output.mkdir(parents=True, exist_ok=True)
    if correspondences:
        sampler = CorrespondencePairs(cubes, warps=correspondences, seed=seed)
        held = CorrespondencePairs(held_out or cubes, warps=40, seed=seed + 1000)
        print(f"{len(sampler)} training and {len(held)} held-out correspondences", flush=True)
    else:
        sampler = OrientationPairs(cubes, seed=seed)
        held = OrientationPairs(held_out or cubes, seed=seed + 1000,
                                keypoints=None if held_out else sampler.keypoints)
    validation = [held.batch(256) for _ in range(4)]
    torch.manual_seed(seed)
    net = OrientationNet(widths)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    state_path = output / "last.pt"
    config = {"scenes": len(cubes), "held_out": len(held_out or []), "batch": batch, "lr": lr,
              "seed": seed, "widths": list(widths), "loss": loss,
              "correspondences": correspondences}
    spent, step, history = resume_state(state_path, net, optimiser, config=config)
    if step:
        sampler.rng = np.random.default_rng(seed + step)
    budget, saved_at, running = minutes * 60.0, time.time(), []
    final = output / "orientation.npz"
    net.train()
    while spent < budget:
        tick = time.time()
        for group in optimiser.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, spent / budget)))
        value = pair_loss(net, sampler.batch(batch, context=loss != "angle"), loss)
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
        running.append(value.item())
        step += 1
        spent += time.time() - tick
        if step % 200 == 0:
            errors = validation_errors(net, validation)
            history.append((step, spent, float(np.mean(running)), float(np.mean(errors < 10)),
                            float(np.median(errors))))
            print(f"step {step} {spent / 60:.1f} min loss {np.mean(running):.4f} "
                  f"val <10deg {np.mean(errors < 10):.3f} <20deg {np.mean(errors < 20):.3f} "
                  f"median {np.median(errors):.1f}", flush=True)
            running = []
        if time.time() - saved_at > 120 or spent >= budget:
            atomic_save({"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                         "seconds": spent, "step": step, "history": history, "config": config},
                        state_path)
            export_npz(net, final, {"steps": step, "seconds": spent, "batch": batch,
                                    "widths": list(widths), "loss": loss, "history": history})
            saved_at = time.time()
    return final


def main(argv=None) -> int:
    from .patch_descriptor import open_training_scenes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--minutes", type=positive_minutes, default=45.0)
    parser.add_argument("--batch", type=whole_number(1), default=256)
    parser.add_argument("--lr", type=number(0, low_open=True), default=2e-3)
    parser.add_argument("--threads", type=thread_count, default=1)
    parser.add_argument("--open-data", help="folder of the extra open SAR (sarfeat.data names, "
                                            "python -m sarfeat.training.open_sar FOLDER)")
    parser.add_argument("--hold-out", type=whole_number(0), default=0,
                        help="keep the last N scenes (with --open-data: BigEarthNet-S1 patches) "
                             "out of training, for validation")
    parser.add_argument("--loss", choices=("angle", "descriptor", "both"), default="angle")
    parser.add_argument("--correspondences", type=whole_number(0), default=0,
                        help="train on the detector's own keypoints matched across this many "
                             "random warps (CorrespondencePairs) instead of OrientationPairs")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cubes = open_training_scenes(args.open_data)
    held_out = None
    if args.hold_out:
        # the BigEarthNet patches come just before the last (single-channel) scene
        keep = len(cubes) - 1 if args.open_data else len(cubes)
        held_out = cubes[keep - args.hold_out:keep]
        cubes = cubes[:keep - args.hold_out] + cubes[keep:]
    try:
        final = train(args.output, cubes, args.minutes, batch=args.batch, lr=args.lr,
                      loss=args.loss, correspondences=args.correspondences, held_out=held_out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"final": str(final)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
