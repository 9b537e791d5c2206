"""Training of the learned polar descriptor (:mod:`sarfeat.learned_polar`).

Two ways, both starting at the polar descriptor exactly (the mixing at the
identity, unit weights), both on open SAR training scenes only (Labrador
Sentinel-1 VV/VH, San Francisco AIRSAR, the HydroSAR tiles, pyroSAR's
Sentinel-1 VV: :func:`sarfeat.training.invariant_descriptor.open_scenes`), both
judged on the held-out scenes (PiSAR Tsukuba HH/VV and HH/HV, BigEarthNet-S1
VV/VH) by MMA@3 of mutual nearest neighbours, the benchmark's figure
(``benchmarks/eval_invariant_descriptor.py``; its warps cached as ring samples
with ``save_warps`` for a score in seconds). Shanghai and the pairs of
:mod:`sarfeat.data` are never read.

**Gradient training** (:func:`train`): the mixing ``W`` and per-feature log
weights by Adam, pulled back to the start by ``decay * |W - I|^2``, the best
held-out score kept (early stopping). Data: the ring-pair pools of
:mod:`sarfeat.training.invariant_descriptor` with distractors (first- and
second-side samples whose partners are left out of the batch) under HardNet's
loss (:func:`distractor_hardnet_loss`), or whole detected warps
(:func:`detected_warps`: the default detector on both images, so the
keypoints with no correspondent are there) under HardNet's loss or a soft
precision of mutual nearest neighbours (:func:`warp_loss`).

**Weight search** (``search``): 24 log weights, one per group of
invariants (:func:`sarfeat.learned_polar.feature_groups`: the means, and per
frequency the magnitudes, the cross-ring products, the bispectrum terms),
found by coordinate search on the *hard* MMA@3 of detected training warps,
with the correct matches kept at 98 % of polar's at least
(:func:`search_weights`); then shrunk towards zero by a factor chosen on the
held-out scenes.

**Measured** (2026-12-05, shared 2-core AMD EPYC, one thread). Held-out mean
MMA@3 of the cached warps (polar 0.728 = 0.922 / 0.886 / 0.375; Labrador and
San Francisco 0.743 / 0.873), best of the run (early stopping) and at its end::

    design                                               best    end     Tsukuba/HV/BEN at end
    pairs + distractors, HardNet, 6 ch, decay 1 (lp6a)   0.731   0.719   0.902 / 0.881 / 0.375
    detected warps, HardNet (w6h)                        0.728   0.718   0.904 / 0.879 / 0.371
    detected warps, soft precision, tau 0.05 (w6p)       0.731   0.714   0.904 / 0.880 / 0.357
    same, 16 warps a batch, lr 3e-3, decay 0.1 (w6p2)    0.728   0.699   0.899 / 0.876 / 0.322

Every gradient run made *more* mutual matches (Tsukuba HH/HV 1737 -> 1830)
and lost precision, on the training scenes' benchmark warps too (Labrador
0.743 -> 0.723 under HardNet): the losses do not follow the hard figure.

The weight search does (739-1492 warps, 3-6 minutes)::

    search (keep 0.98)          shrink  held-out  Tsukuba  HV     BEN (correct)  Lab    SF
    seed 1 warps (s98)          0.5     0.740     0.939    0.897  0.384 (237)    0.764  0.885
                                0.75    0.747     0.948    0.912  0.380 (222)    0.769  0.888
                                1       0.750     0.953    0.924  0.371 (199)    0.783  0.892
    seed 2 warps (s98b)         0.75    0.750     0.950    0.913  0.387 (227)    0.772  0.892
                                1       0.760     0.954    0.920  0.405 (210)    0.775  0.898
    both (sboth, chosen)        0.5     0.741     0.943    0.898  0.383 (239)    0.762  0.883
                                0.75    0.752     0.948    0.913  0.394 (225)    0.769  0.892
                                1       0.753     0.955    0.927  0.378 (200)    0.790  0.890

(polar: BigEarthNet 239 correct.) Six more weights, one a ring (features of
two rings: the mean of theirs; 30 in all, a script outside the package, same
warps): training 0.773 against 0.775, held-out 0.741 / 0.750 / 0.746 at
shrinks 0.5 / 0.75 / 1: no better, not kept. The two independent warp sets find nearly
the same weights (magnitudes at k = 2, 3 down, cross-ring products at k = 1, 2
down and at k = 5..8 up, low bispectrum terms down). The shrink of the combined
search was chosen on the held-out scenes by a rule set after the first two
searches, before the combined one: the best held-out mean whose correct
matches stay at 90 % of polar's or more on every held-out scene (0.75; at 1
BigEarthNet keeps 84 %). The held-out figures of the chosen weights are
therefore those of a choice among four shrinks. Those weights are
``sarfeat.learned_polar.TUNED_LOG_WEIGHTS``.

Commands (``RUNS`` = /work/h18e_runs; the detected warps: 3000 drawn a seed,
1478 and 1506 kept, 6 minutes each; ``evalcache.npz``: ``save_warps`` of the
benchmark's ``ring_warps`` for the held-out and training scenes)::

    python -m sarfeat.training.learned_polar --detect-warps 3000 --seed 1 \\
        --open-data RUNS/open --pool RUNS/detected_3000_1.npz --output RUNS/unused
    python -m sarfeat.training.learned_polar --search --output RUNS/sboth --keep 0.98 \\
        --pool RUNS/detected_3000_1.npz RUNS/detected_3000_2.npz --every-warp 2 \\
        --select RUNS/evalcache.npz
    python -m sarfeat.training.learned_polar --output RUNS/w6p --pool RUNS/detected_3000_1.npz \\
        --select RUNS/evalcache.npz --minutes 6 --every 100 --images 4 --loss precision
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import write_npz_atomically
from ..learned_polar import LearnedPolar, invariant_length
from ..polar_descriptor import MEAN_WEIGHT, POLAR_FREQUENCIES, POLAR_RADII, ring_spectra
from .config_checks import number, whole_number
from .polar_search import (hard_precision, load_pool, score, search, search_weights,
                           warp_features)
from .trainer import (atomic_save_json, benchmark_module, positive_minutes, refuse_existing,
                      set_threads, thread_count)

__all__ = ["LearnedPolarModule", "detected_warps", "distractor_hardnet_loss", "hard_precision",
           "score", "search_weights", "spectra_tensors", "train", "warp_features", "warp_loss"]


class LearnedPolarModule(torch.nn.Module):
    """:class:`sarfeat.learned_polar.LearnedPolar` in torch, to train.

    ``channels`` beyond the rings start as small random mixings (``spread``);
    the first ``rings`` channels start as the identity.
    """

    def __init__(self, channels: int = len(POLAR_RADII), rings: int = len(POLAR_RADII),
                 frequencies: int = POLAR_FREQUENCIES, mean_weight: float = MEAN_WEIGHT,
                 spread: float = 1e-2, seed: int = 0) -> None:
        super().__init__()
        start = torch.zeros(frequencies + 1, channels, rings, dtype=torch.float64)
        eye = torch.eye(min(channels, rings), dtype=torch.float64)
        start[:, : len(eye), : len(eye)] = eye
        if channels > rings:
            generator = torch.Generator().manual_seed(seed)
            start[:, rings:] = spread * torch.randn(frequencies + 1, channels - rings, rings,
                                                    generator=generator, dtype=torch.float64)
        self.register_buffer("start", start.float())
        self.mix = torch.nn.Parameter(start.float().clone())
        self.log_weights = torch.nn.Parameter(
            torch.zeros(invariant_length(channels, frequencies)))
        self.mean_weight = mean_weight
        first, second = np.triu_indices(channels, 1)
        self.register_buffer("first", torch.from_numpy(first))
        self.register_buffer("second", torch.from_numpy(second))

    def forward(self, means: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
        """(N, D) unit descriptors of (N, R) means and (N, R, K) complex spectra."""
        count = len(means)
        mixed_means = means @ self.mix[0].T
        ac = torch.einsum("kcr,nrk->nck", self.mix[1:].to(spectrum.dtype), spectrum)
        magnitude = torch.sqrt(ac.real ** 2 + ac.imag ** 2 + 1e-20)
        parts = [self.mean_weight * mixed_means, magnitude.reshape(count, -1)]
        halved = ac / torch.sqrt(magnitude + 1e-12)
        cross = halved[:, self.first] * torch.conj(halved[:, self.second])
        parts += [cross.real.reshape(count, -1), cross.imag.reshape(count, -1)]
        third = ac / torch.pow(magnitude * magnitude + 1e-18, 1.0 / 3.0)
        triple = third[:, :, :-1] * third[:, :, :1] * torch.conj(third[:, :, 1:])
        parts += [triple.real.reshape(count, -1), triple.imag.reshape(count, -1)]
        out = torch.cat(parts, dim=1) * torch.exp(self.log_weights)
        return torch.nn.functional.normalize(out, dim=1, eps=1e-12)

    def penalty(self) -> torch.Tensor:
        """``|W - W0|^2 + |log w|^2 / D``: the pull back to the start (the polar descriptor)."""
        return ((self.mix - self.start) ** 2).sum() + (self.log_weights ** 2).mean()

    def export(self) -> LearnedPolar:
        """The NumPy model of the current weights."""
        return LearnedPolar(self.mix.detach().double().numpy(),
                            torch.exp(self.log_weights).detach().double().numpy(),
                            self.mean_weight)


def spectra_tensors(samples: np.ndarray, frequencies: int = POLAR_FREQUENCIES,
                    chunk: int = 20000) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, R) float32 means and (N, R, K) complex64 spectra of ring samples, in chunks.

    Parameters
    ----------
    samples : (N, R, A) ndarray
        Ring samples.
    frequencies, chunk : int
        Frequencies kept (K); samples per chunk.

    Returns
    -------
    means, spectra : tensor
    """
    means, spectra = [], []
    for start in range(0, len(samples), chunk):
        m, s = ring_spectra(samples[start:start + chunk].astype(np.float64), frequencies)
        means.append(m.astype(np.float32))
        spectra.append(s.astype(np.complex64))
    return torch.from_numpy(np.concatenate(means)), torch.from_numpy(np.concatenate(spectra))


def distractor_hardnet_loss(anchors: torch.Tensor, positives: torch.Tensor,
                            near: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """HardNet's triplet loss with distractors.

    Parameters
    ----------
    anchors : (P + Da, D) tensor
        The pairs' first sides, then first-side distractors (no partner).
    positives : (P + Db, D) tensor
        The pairs' second sides, then second-side distractors.
    near : (P + Da, P + Db) bool tensor
        Rows and columns of one place: never each other's negatives.
    margin : float

    Returns
    -------
    tensor
        The mean over the ``P`` pairs of ``relu(margin + d(a_i, b_i) - d_neg)``,
        ``d_neg`` the least distance of row ``i`` or column ``i`` to anything
        but its partner, distractors included.
    """
    pairs = min(len(anchors), len(positives))
    distance = torch.cdist(anchors, positives)
    positive = distance.diagonal()[:pairs]
    own = torch.zeros_like(near)
    own[torch.arange(pairs), torch.arange(pairs)] = True
    masked = distance + 10.0 * (near | own)
    negative = torch.minimum(masked[:pairs].min(dim=1).values,
                             masked[:, :pairs].min(dim=0).values)
    return torch.relu(margin + positive - negative).mean()


def detected_warps(cubes: list[np.ndarray], warps: int, seed: int = 0,
                   speckle: float = 0.3) -> dict:
    """Random warps of training cubes with the default detector's keypoints on both sides.

    Each warp: a channel pair (:func:`sarfeat.training.patch_descriptor.channel_pair`,
    extra speckle with probability ``speckle``), the second turned by any angle,
    scaled by 0.8-1.25 and shifted by up to 10 px; the detector
    (``min_size=128``, as the benchmarks) runs on both, so the keypoints
    without a correspondent are there as they are when matching.

    Parameters
    ----------
    cubes : list of ndarray
        Training scenes (H, W, channels).
    warps, seed : int
        How many warps (W); the seed of their draw.
    speckle : float
        The probability of extra speckle.

    Returns
    -------
    dict
        ``samples1``, ``keypoints1``, ``warp1`` (the warp of each keypoint), the same
        with ``2``, ``matrices`` (W, 3, 3) (first image to second, x-y) and ``cubes``
        (W,), the index of each warp's cube.
    """
    from skimage.transform import warp as warp_image

    from .. import SARR2D2Detector
    from ..detector import NoKeypointsError
    from ..learned_polar import detected_rings
    from ..metrics import turn_about_centre
    from .patch_descriptor import channel_pair

    rng = np.random.default_rng(seed)
    detector = SARR2D2Detector(min_size=128)
    out: dict = {key: [] for key in ("samples1", "keypoints1", "warp1", "samples2",
                                     "keypoints2", "warp2", "matrices", "cubes")}
    for _ in range(warps):
        cube, _, image_a, image_b = channel_pair(cubes, rng, speckle)
        transform = turn_about_centre(image_a.shape, rng.uniform(0, 360), scale=float(np.exp(
            rng.uniform(np.log(0.8), np.log(1.25)))), shift=tuple(rng.uniform(-10, 10, 2)))
        moved = warp_image(image_b, transform.inverse, order=1, cval=np.nan,
                           preserve_range=True).astype(np.float32)
        try:
            keypoints1, samples1 = detected_rings(detector, image_a)
            keypoints2, samples2 = detected_rings(detector, moved)
        except NoKeypointsError:
            continue
        if len(keypoints1) < 8 or len(keypoints2) < 8:
            continue
        index = len(out["matrices"])
        out["matrices"].append(transform.params)
        out["cubes"].append(cube)
        for side, keypoints, samples in ((1, keypoints1, samples1), (2, keypoints2, samples2)):
            out[f"samples{side}"].append(samples.astype(np.float16))
            out[f"keypoints{side}"].append(keypoints.astype(np.float32))
            out[f"warp{side}"].append(np.full(len(keypoints), index, np.int32))
    return {key: (np.stack(value) if key == "matrices" else
                  np.array(value) if key == "cubes" else np.concatenate(value))
            for key, value in out.items()}


def warp_loss(first: torch.Tensor, second: torch.Tensor, error: torch.Tensor,
              kind: str = "hardnet", margin: float = 1.0, near: float = 4.0,
              temperature: float = 0.05, recall: float = 0.0) -> torch.Tensor:
    """The loss of one warp's descriptors (all keypoints of both images).

    Parameters
    ----------
    first, second : (N1, D), (N2, D) tensors
        Unit descriptors of the keypoints of the first and second image.
    error : (N1, N2) tensor
        Distance in px between each first keypoint under the warp and each second.
    kind : {'hardnet', 'precision'}
        ``'hardnet'``: for each pair of keypoints that are each other's nearest
        within 3 px, the triplet loss against the hardest of its row and column
        (every other keypoint, those with no correspondent included; keypoints
        within ``near`` px are not negatives). ``'precision'``: minus the log
        of the soft precision of mutual nearest neighbours (the product of the
        row and column softmaxes of the similarities over ``temperature``,
        correct within 3 px), less ``recall`` times the log of its soft recall.
    margin, near, temperature, recall : float
        As ``kind`` uses them.

    Returns
    -------
    tensor
        A scalar.
    """
    if kind == "precision":
        logits = first @ second.T / temperature
        mutual = torch.softmax(logits, dim=1) * torch.softmax(logits, dim=0)
        correct = (mutual * (error <= 3.0)).sum()
        loss = -torch.log(correct / (mutual.sum() + 1e-9) + 1e-9)
        if recall:
            possible = float(((error <= 3.0).any(dim=1)).sum().clamp(min=1))
            loss = loss - recall * torch.log(correct / possible + 1e-9)
        return loss
    forward, backward = error.argmin(dim=1), error.argmin(dim=0)
    rows = torch.arange(len(error))
    paired = (backward[forward] == rows) & (error[rows, forward] <= 3.0)
    if not bool(paired.any()):
        return first.sum() * 0.0
    distance = torch.sqrt(torch.clamp(2.0 - 2.0 * first @ second.T, min=1e-8))
    masked = distance + 10.0 * (error <= near)
    i, j = rows[paired], forward[paired]
    negative = torch.minimum(masked[i].min(dim=1).values, masked[:, j].min(dim=0).values)
    return torch.relu(margin + distance[i, j] - negative).mean()


def _members(warp_ids: np.ndarray, least: int) -> list[np.ndarray]:
    order = np.argsort(warp_ids, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(warp_ids[order])) + 1)
    return [g for g in groups if len(g) >= least]


def _batch(members, images: int, pairs: int, distractors: int, rng) -> tuple:
    """Per warp: ``pairs`` pairs, ``distractors`` first-side and as many second-side
    distractors (the partners of each left out). Returns indices (pairs, first
    distractors, second distractors)."""
    chosen = rng.choice(len(members), min(images, len(members)), replace=False)
    kept, first, second = [], [], []
    for index in chosen:
        order = rng.permutation(members[index])
        kept.append(order[:pairs])
        rest = order[pairs:]
        first.append(rest[:distractors])
        second.append(rest[distractors: 2 * distractors])
    return np.concatenate(kept), np.concatenate(first), np.concatenate(second)


def train(output: Path, pool: Path, select: Path | None, minutes: float, channels: int = 6,
          images: int = 4, pairs: int = 128, distractors: int = 64, lr: float = 1e-3,
          decay: float = 1.0, margin: float = 1.0, gap: float = 6.0, every: int = 200,
          seed: int = 0, loss_options: dict | None = None) -> dict:
    """Train in ``output`` (``best.npz``, ``final.npz``, ``history.json``).

    Parameters
    ----------
    output : Path
        The run's folder (its files are never overwritten).
    pool : Path
        The training pool.
    select : Path or None
        Cached eval warps that choose ``best.npz``.
    minutes : float
        The training time.
    channels, images, pairs, distractors : int
        The module's mixed channels; per batch, warps, and pairs and distractors (a side)
        of each.
    lr, decay : float
        Adam's learning rate (cosine-annealed); the pull towards the start.
    margin, gap : float
        The triplet margin; ring pairs closer than ``gap`` px are not negatives.
    every, seed : int
        Steps between checkpoints; the seed.
    loss_options : dict, optional
        :func:`warp_loss`'s options, for a detected-warps pool.

    Returns
    -------
    dict
        The history's summary.
    """
    load_warps = benchmark_module("eval_invariant_descriptor").load_warps

    refuse_existing(*(output / name for name in ("best.npz", "last.npz", "final.npz")))
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    loss_options = {"margin": margin, **(loss_options or {})}
    data = _TrainingPool.of(load_pool(pool), pairs, distractors)
    warps = load_warps(select) if select else {}
    net = LearnedPolarModule(channels=channels, seed=seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history, running = [], []
    best = _checkpoint(net, warps, history, running, 0, 0.0)
    net.export().save(output / "best.npz")
    spent, step, budget = 0.0, 0, minutes * 60.0
    while spent < budget:
        tick = time.time()
        for group in optimiser.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, spent / budget)))
        mirror = rng.random() < 0.5  # a mirror of both sides: conjugate spectra
        if data.detected:
            loss = _warps_loss(net, data, rng.choice(data.count, images, replace=False), mirror,
                               loss_options)
        else:
            loss = _pairs_loss(net, data, _batch(data.members, images, pairs, distractors, rng),
                               mirror, gap, margin)
        total = loss + decay * net.penalty()
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        running.append(loss.item())
        step += 1
        spent += time.time() - tick
        if step % every == 0 or spent >= budget:
            row = _checkpoint(net, warps, history, running, step, spent)
            running = []
            net.export().save(output / "last.npz")
            if row["held_out"] > best["held_out"]:
                best = row
                net.export().save(output / "best.npz")
    net.export().save(output / "final.npz")
    summary = {"best": best, "history": history, "channels": channels, "images": images,
               "pairs": pairs, "distractors": distractors, "lr": lr, "decay": decay,
               "margin": margin, "gap": gap, "pool": str(pool), "minutes": minutes,
               "loss": loss_options}
    atomic_save_json(summary, output / "history.json")
    return summary


@dataclass
class _TrainingPool:
    """A pool's ring spectra as tensors (side a, side b), with what batches are drawn from:
    whole detected warps (``detected``: per warp its keypoints' ``bounds`` on each side,
    their ``points`` and the warp ``matrices``), or ring pairs (their positions ``where``,
    ``warp_ids`` and the ``members`` of each warp with enough pairs)."""

    means_a: torch.Tensor
    spec_a: torch.Tensor
    means_b: torch.Tensor
    spec_b: torch.Tensor
    detected: bool
    count: int = 0
    bounds: list | None = None
    points: list | None = None
    matrices: torch.Tensor | None = None
    where: torch.Tensor | None = None
    warp_ids: np.ndarray | None = None
    members: list | None = None

    @classmethod
    def of(cls, data: dict, pairs: int, distractors: int) -> _TrainingPool:
        """The tensors of ``data`` (:func:`~sarfeat.training.polar_search.load_pool`)."""
        if "matrices" in data:  # whole warps: all keypoints of both images
            means_a, spec_a = spectra_tensors(data["samples1"])
            means_b, spec_b = spectra_tensors(data["samples2"])
            count = len(data["matrices"])
            bounds = [np.searchsorted(data[f"warp{side}"], np.arange(count + 1))
                      for side in (1, 2)]
            points = [torch.from_numpy(data[f"keypoints{side}"][:, ::-1].astype(np.float64)
                                       .copy()) for side in (1, 2)]
            return cls(means_a, spec_a, means_b, spec_b, True, count=count, bounds=bounds,
                       points=points, matrices=torch.from_numpy(data["matrices"]))
        means_a, spec_a = spectra_tensors(data["first"])
        means_b, spec_b = spectra_tensors(data["second"])
        where = torch.from_numpy(data["where"].astype(np.float32))
        warp_ids = data["warp"]
        members = _members(warp_ids, pairs + 2 * distractors if distractors else pairs)
        return cls(means_a, spec_a, means_b, spec_b, False, where=where, warp_ids=warp_ids,
                   members=members)


def _mirrored(sa: torch.Tensor, sb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The spectra of both sides mirrored: conjugated."""
    return torch.conj(sa).resolve_conj(), torch.conj(sb).resolve_conj()


def _warps_loss(net: LearnedPolarModule, data: _TrainingPool, chosen: np.ndarray,
                mirror: bool, loss_options: dict) -> torch.Tensor:
    """The mean :func:`warp_loss` of the ``chosen`` detected warps."""
    losses = []
    for index in chosen:
        a = slice(data.bounds[0][index], data.bounds[0][index + 1])
        b = slice(data.bounds[1][index], data.bounds[1][index + 1])
        sa, sb = data.spec_a[a], data.spec_b[b]
        if mirror:
            sa, sb = _mirrored(sa, sb)
        moved = data.points[0][a] @ data.matrices[index][:2, :2].T + data.matrices[index][:2, 2]
        error = torch.cdist(moved, data.points[1][b]).float()
        losses.append(warp_loss(net(data.means_a[a], sa), net(data.means_b[b], sb), error,
                                **loss_options))
    return torch.stack(losses).mean()


def _pairs_loss(net: LearnedPolarModule, data: _TrainingPool, batch: tuple, mirror: bool,
                gap: float, margin: float) -> torch.Tensor:
    """:func:`distractor_hardnet_loss` of a :func:`_batch` of ring pairs: of the same warp
    and closer than ``gap`` px are not negatives."""
    kept, first, second = (torch.from_numpy(i) for i in batch)
    rows, cols = torch.cat([kept, first]), torch.cat([kept, second])
    ma, sa, mb, sb = data.means_a[rows], data.spec_a[rows], data.means_b[cols], data.spec_b[cols]
    if mirror:
        sa, sb = _mirrored(sa, sb)
    same = torch.from_numpy(data.warp_ids[rows.numpy()][:, None]
                            == data.warp_ids[cols.numpy()][None])
    near = same & (torch.cdist(data.where[rows], data.where[cols]) < gap)
    return distractor_hardnet_loss(net(ma, sa), net(mb, sb), near, margin)


def _checkpoint(net: LearnedPolarModule, warps: dict, history: list, running: list,
                step: int, spent: float) -> dict:
    """Score the network on the held-out ``warps`` (NaN without), log the row (appended to
    ``history``, printed as JSON) and return it."""
    found = score(net.export(), warps) if warps else {"held_out": float("nan")}
    row = {"step": step, "minutes": spent / 60, "loss": float(np.mean(running or [0])),
           "held_out": found["held_out"],
           **{s: found[s]["mma3"] for s in found if s != "held_out"},
           **{f"{s}_matches": found[s]["matches"] for s in found if s != "held_out"}}
    history.append(row)
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--pool", required=True, type=Path, nargs="+",
                        help="a ring-pair pool of training.invariant_descriptor (groups), or "
                             "detected-warps pools (several: merged)")
    parser.add_argument("--detect-warps", type=whole_number(0), default=0,
                        help="first write a detected-warps pool of that many warps to --pool")
    parser.add_argument("--open-data", help="with --detect-warps: the open SAR folder")
    parser.add_argument("--select", type=Path, help="cached eval warps for early stopping")
    parser.add_argument("--minutes", type=positive_minutes, default=10.0)
    parser.add_argument("--channels", type=whole_number(1), default=6)
    parser.add_argument("--images", type=whole_number(1), default=4)
    parser.add_argument("--pairs", type=whole_number(1), default=128,
                        help="pairs a warp in a batch")
    parser.add_argument("--distractors", type=whole_number(0), default=64, help="a side, a warp")
    parser.add_argument("--lr", type=number(0, low_open=True), default=1e-3)
    parser.add_argument("--decay", type=number(0), default=1.0, help="pull towards the start")
    parser.add_argument("--margin", type=number(0), default=1.0)
    parser.add_argument("--gap", type=number(0), default=6.0)
    parser.add_argument("--every", type=whole_number(1), default=200)
    parser.add_argument("--loss", choices=["hardnet", "precision"], default="hardnet",
                        help="with detected warps: the loss of each warp (see warp_loss)")
    parser.add_argument("--temperature", type=number(0, low_open=True),
                        default=0.05)
    parser.add_argument("--recall", type=number(0), default=0.0)
    parser.add_argument("--near", type=number(0), default=4.0)
    parser.add_argument("--seed", type=whole_number(0), default=0)
    parser.add_argument("--threads", type=thread_count, default=1)
    parser.add_argument("--search", action="store_true",
                        help="search group weights on a detected-warps pool instead of training")
    parser.add_argument("--keep", type=number(0, 1), default=0.98,
                        help="with --search: correct matches kept, at least, of polar's")
    parser.add_argument("--every-warp", type=whole_number(1), default=2,
                        help="with --search: every that many warps of the pool")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if not (args.detect_warps or args.search) and len(args.pool) > 1:
        parser.error("training reads one pool")
    try:
        if args.detect_warps:
            from .invariant_descriptor import open_scenes
            refuse_existing(args.pool[0])
            training, _ = open_scenes(args.open_data)
            write_npz_atomically(args.pool[0], detected_warps(training, args.detect_warps,
                                                              seed=args.seed))
        elif args.search:
            search(args.output, args.pool, args.select, args.keep, args.every_warp)
        else:
            summary = train(args.output, args.pool[0], args.select, args.minutes,
                            args.channels, args.images, args.pairs, args.distractors, args.lr,
                            args.decay, args.margin, args.gap, args.every, args.seed,
                            {"kind": args.loss, "temperature": args.temperature,
                             "recall": args.recall, "near": args.near})
            print(json.dumps({"best": summary["best"]}))
    except (FileExistsError, ModuleNotFoundError) as error:  # ModuleNotFoundError: benchmarks/
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
