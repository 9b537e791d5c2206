"""Distillation of a narrower network from trained weights (a teacher).

The student (by default :data:`~sarfeat.network.FAST_R2D2_LITE_LAYERS`)
learns to reproduce the teacher's dense outputs on single images: its
descriptors by cosine distance (weighted by the teacher's reliability), its
reliability and repeatability maps by binary cross-entropy against the
teacher's, with extra weight around the teacher's keypoints (local maxima of
repeatability above a threshold), where the detector's thresholds decide.

Images are single crops from the open training mixture
(:func:`~sarfeat.training.pairs.default_training_sources`: open SAR scenes
and speckled open optical images, with its scale, rotation, speckle and
8-bit display augmentations); both views of every pair are used. The
Shanghai scene and the image pairs of :mod:`sarfeat.data` are never used.

With ``target='turned_maps'`` the student learns only the two maps, and the
teacher's are first averaged over the four quarter turns of the input (as the
rotation-invariant detector averages them, :func:`sarfeat.orientation.quarter_turn_maps`),
so that one run of the student stands for four of the teacher
(architecture ``'keypoint_maps'``). Each batch is then also turned by a
quarter turn more than the one before; the averaged target turns with it.

A run lives in one folder, like :class:`~sarfeat.training.trainer.Trainer`'s:
``last.pt`` (resumable state, written every few minutes) and ``final.pt``
(the student in sarfeat's format, with the teacher's detection thresholds).
Training is bounded by time: the learning rate follows a cosine over the
minutes given, with a short warm-up.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoint import save_checkpoint
from ..network import R2D2Net, fold_batchnorm, imagenet_normalize
from ..weights import TURNED_MAPS_KIND, resolve_weights
from . import pairs
from .config_checks import check_values, from_plain
from .trainer import RUN_STATE, code_version, config_changes, load_run_state, save_run_state

__all__ = [
    "DistillConfig", "DistillWeights", "Distiller", "distillation_images", "distillation_loss",
    "teacher_peaks",
]

#: Options that a resumed run may change (the time budget, where things are).
RESUMABLE_CHANGES = ("output", "minutes", "checkpoint_minutes", "data_dir")
#: Mixture of the open training sources for distillation (more real SAR than training's).
SOURCE_WEIGHTS = {"sar_channels": 0.5, "sar_tiles": 0.1, "optical": 0.4}


@dataclass
class DistillWeights:
    """Weights of the distillation loss terms.

    Each field is documented at its declaration.
    """

    descriptor: float = 1.0
    """float: weight of the cosine distance to the teacher's descriptors, weighted per pixel by
    ``descriptor_floor + teacher reliability``."""
    reliability: float = 1.0
    """float: weight of the binary cross-entropy against the teacher's reliability map."""
    repeatability: float = 1.0
    """float: weight of the binary cross-entropy against the teacher's repeatability map."""
    peak: float = 10.0
    """float: extra per-pixel weight of both map terms around the teacher's peaks."""
    peak_threshold: float = 0.5
    """float: a teacher peak is a 3x3 local maximum of repeatability where both maps reach this
    value (below the detector's usual thresholds)."""
    descriptor_floor: float = 0.25
    """float: weight of the descriptor term where the teacher is not reliable."""


@dataclass
class DistillConfig:
    """Everything that defines a distillation run.

    Each field is documented at its declaration.
    """

    output: str = "runs/distill"
    """str: folder of the run."""
    teacher: str = "sarfeat-sar-v1"
    """str: weights of the teacher (a registry name, alias or checkpoint path)."""
    architecture: str = "fast_r2d2_lite"
    """str: the student's architecture (a key of :data:`sarfeat.network.ARCHITECTURES`)."""
    minutes: float = 30.0
    """float: training time in total, summed over resumed sessions."""
    batch_size: int = 8
    """int: images per batch (an even number: both views of each pair)."""
    crop_size: int = 160
    """int: the side of each image, in pixels."""
    lr: float = 1e-3
    """float: Adam's peak learning rate."""
    weight_decay: float = 0.0
    """float: Adam's weight decay."""
    warmup: int = 50
    """int: iterations of linear warm-up."""
    seed: int = 0
    """int: seed of the initial weights and of every batch."""
    checkpoint_minutes: float = 3.0
    """float: minutes between writes of ``last.pt``."""
    loss: DistillWeights = field(default_factory=DistillWeights)
    """DistillWeights: weights of the loss terms."""
    target: str = "outputs"
    """{'outputs', 'turned_maps'}: what the student learns: the teacher's three outputs, or its
    two maps averaged over quarter turns (the descriptor term is then unused)."""
    data_dir: str | None = None
    """str or None: folder of sarfeat's shared data (default: :func:`sarfeat.data.fetch`)."""

    def __post_init__(self) -> None:
        """Refuse out-of-range values at once (ValueError naming the option)."""
        if self.target not in ("outputs", "turned_maps"):
            raise ValueError(f"target must be 'outputs' or 'turned_maps', not {self.target!r}")
        check_values(self, integers=(("batch_size", 2), ("crop_size", 8), ("warmup", 0),
                                     ("seed", 0)),
                     positive=("minutes", "lr", "checkpoint_minutes"),
                     non_negative=("weight_decay",))
        if self.batch_size % 2:
            raise ValueError(f"batch_size (--batch-size) must be an even number >= 2 (both "
                             f"views of each pair), got {self.batch_size}")

    def to_dict(self) -> dict:
        """Plain-data form (JSON and checkpoint metadata)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DistillConfig:
        """Inverse of :meth:`to_dict`; unknown keys (of ``loss`` too) are a ValueError."""
        return from_plain(cls, values, "distillation options")


def distillation_images(
    shared_data_dir: str | os.PathLike[str] | None = None, *, crop_size: int = 160, seed: int = 0
) -> pairs.MixedPairs:
    """The open training mixture as pairs, of which both views serve as single images.

    Parameters
    ----------
    shared_data_dir : str or path-like, optional
        Folder holding ``sar_images/``; default: :func:`sarfeat.data.fetch`.
    crop_size : int
        Side of the crops.
    seed : int
        Base seed.

    Returns
    -------
    MixedPairs
        Deterministic samples ``{'image1', 'image2', ...}`` weighted by
        ``SOURCE_WEIGHTS``.
    """
    sources = pairs.default_training_sources(shared_data_dir, crop_size=crop_size, seed=seed,
                                             length=10_000_000)
    mixed = {name: (dataset, SOURCE_WEIGHTS[name]) for name, (dataset, _) in sources.items()}
    return pairs.MixedPairs.from_sources(mixed, length=10_000_000, seed=seed)


def teacher_peaks(repeatability: Tensor, reliability: Tensor, threshold: float) -> Tensor:
    """Pixels within one pixel of a teacher keypoint (float mask, same shape as the maps).

    A keypoint is a 3x3 local maximum of repeatability where repeatability and
    reliability both reach ``threshold``, as the detector finds them.

    Parameters
    ----------
    repeatability, reliability : (B, 1, H, W) torch.Tensor
        The teacher's maps.
    threshold : float
        The detection threshold of both maps.

    Returns
    -------
    (B, 1, H, W) torch.Tensor
        1.0 within one pixel (3 x 3) of a keypoint, else 0.0.
    """
    local_max = repeatability == F.max_pool2d(repeatability, 3, stride=1, padding=1)
    peaks = local_max & (repeatability >= threshold) & (reliability >= threshold)
    return F.max_pool2d(peaks.float(), 3, stride=1, padding=1)


def _bce(student: Tensor, teacher: Tensor, weight: Tensor) -> Tensor:
    student = student.clamp(1e-6, 1 - 1e-6)
    loss = F.binary_cross_entropy(student, teacher, reduction="none")
    floor = F.binary_cross_entropy(teacher.clamp(1e-6, 1 - 1e-6), teacher, reduction="none")
    return ((loss - floor) * weight).sum() / weight.sum()  # zero when student == teacher


def distillation_loss(
    student: dict[str, Tensor], teacher: dict[str, Tensor], weights: DistillWeights
) -> tuple[Tensor, dict[str, float]]:
    """The student's distance to the teacher's dense outputs.

    Parameters
    ----------
    student, teacher : dict of Tensor
        Outputs of :meth:`sarfeat.network.R2D2Net.forward` on the same batch
        (the teacher's without gradient).
    weights : DistillWeights
        Weights of the terms.

    Returns
    -------
    total : Tensor
        The weighted sum (a scalar to minimise; 0 when the outputs agree).
    values : dict of str to float
        Each term and the total, for logs.
    """
    rel_t, rep_t = teacher["reliability"].float(), teacher["repeatability"].float()
    rel_s, rep_s = student["reliability"].float(), student["repeatability"].float()
    terms = {}
    if "descriptors" in teacher:  # absent when the target is the turned maps
        cosine = (student["descriptors"].float() * teacher["descriptors"].float()).sum(
            dim=1, keepdim=True)
        desc_weight = weights.descriptor_floor + rel_t
        terms["descriptor"] = ((1 - cosine) * desc_weight).sum() / desc_weight.sum()
    map_weight = 1 + weights.peak * teacher_peaks(rep_t, rel_t, weights.peak_threshold)
    terms["reliability"] = _bce(rel_s, rel_t, map_weight)
    terms["repeatability"] = _bce(rep_s, rep_t, map_weight)
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    values = {name: float(value.detach()) for name, value in terms.items()}
    values["total"] = float(total.detach())
    return total, values


class Distiller:
    """Trains a student network to reproduce a teacher's outputs.

    Parameters
    ----------
    config : DistillConfig
        The run's settings.
    dataset : torch.utils.data.Dataset, optional
        Deterministic samples with ``image1`` and ``image2`` (1, H, W) in
        [0, 1]; default: :func:`distillation_images`.
    teacher : R2D2Net, optional
        The teacher; default: ``config.teacher`` resolved by
        :func:`sarfeat.weights.resolve_weights`.

    Attributes
    ----------
    student : R2D2Net
        The network being trained.
    iteration : int
        Optimiser steps done so far.
    elapsed : float
        Seconds of training so far, over resumed sessions.
    history : list of dict
        Logged loss values.
    """

    def __init__(self, config: DistillConfig, dataset=None, teacher: R2D2Net | None = None):
        self.config = config
        self.output = Path(config.output)
        self.dataset = dataset if dataset is not None else distillation_images(
            config.data_dir, crop_size=config.crop_size, seed=config.seed)
        self.teacher_net = teacher if teacher is not None else resolve_weights(config.teacher)
        self.teacher = fold_batchnorm(self.teacher_net.float().cpu()).eval().to(
            memory_format=torch.channels_last)
        torch.manual_seed(config.seed)
        self.student = R2D2Net(config.architecture).to(memory_format=torch.channels_last).train()
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.iteration = 0
        self.elapsed = 0.0
        self.history: list[dict] = []

    # -- state -----------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue where the run stands."""
        return {"iteration": self.iteration, "elapsed": self.elapsed, "history": self.history,
                "model": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "config": self.config.to_dict()}

    def save(self) -> Path:
        """Write ``last.pt`` atomically and return its path."""
        return save_run_state(self.output, self.state_dict())

    def resume(self) -> bool:
        """Load ``last.pt`` if the run folder has one; True when it did.

        Raises ValueError when ``last.pt`` was written with other options than
        this distiller's (only those of ``RESUMABLE_CHANGES`` may change).
        """
        state = load_run_state(self.output, "cpu")
        if state is None:
            return False
        changed = config_changes(state["config"], self.config.to_dict(), RESUMABLE_CHANGES)
        if changed:
            raise ValueError(f"{self.output / RUN_STATE} is a run with other options "
                             f"({'; '.join(changed)}): resume it with the same options, "
                             "or start a new run in another folder")
        self.student.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.elapsed = float(state["elapsed"])
        self.history = list(state["history"])
        return True

    # -- training --------------------------------------------------------------------------------

    def batch(self, iteration: int) -> Tensor:
        """The (B, 3, H, W) network input of an iteration (a pure function of it)."""
        half = self.config.batch_size // 2
        first = iteration * half
        samples = [self.dataset[(first + k) % len(self.dataset)] for k in range(half)]
        gray = torch.stack([s[key] for s in samples for key in ("image1", "image2")])
        if self.config.target == "turned_maps":
            gray = torch.rot90(gray, iteration % 4, (2, 3))
        return imagenet_normalize(gray).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def teacher_target(self, images: Tensor) -> dict[str, Tensor]:
        """The teacher's outputs on a batch, or its maps averaged over quarter turns."""
        if self.config.target == "outputs":
            return self.teacher(images)
        total = {"reliability": 0.0, "repeatability": 0.0}
        for turns in range(4):
            out = self.teacher(torch.rot90(images, turns, (2, 3)))
            for name in total:
                total[name] = total[name] + torch.rot90(out[name], -turns, (2, 3))
        return {name: value / 4 for name, value in total.items()}

    def learning_rate(self) -> float:
        """Warm-up, then a cosine over the time budget down to 5 % of the peak."""
        budget = max(self.config.minutes * 60.0, 1e-9)
        progress = min(self.elapsed / budget, 1.0)
        warm = min(1.0, (self.iteration + 1) / max(self.config.warmup, 1))
        return self.config.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def step(self) -> dict[str, float]:
        """One optimiser step on the next batch; returns the logged loss values."""
        images = self.batch(self.iteration)
        target = self.teacher_target(images)
        total, values = distillation_loss(self.student(images), target, self.config.loss)
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"loss is {values['total']} at iteration {self.iteration}")
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.iteration += 1
        return values

    def fit(self, print_every: int = 10, stream=sys.stdout) -> None:
        """Train until ``config.minutes`` of training time; checkpoint every few minutes."""
        budget = self.config.minutes * 60.0
        last_save, running = time.monotonic(), {}
        while self.elapsed < budget:
            started = time.perf_counter()
            values = self.step()
            self.elapsed += time.perf_counter() - started
            for key, value in values.items():
                running[key] = value if key not in running else 0.9 * running[key] + 0.1 * value
            if self.iteration % print_every == 0:
                self.history.append({"iteration": self.iteration,
                                     "elapsed": round(self.elapsed, 1), **running})
                print(json.dumps({**self.history[-1], "lr": self.learning_rate()},
                                 default=lambda v: round(v, 5)), file=stream, flush=True)
            if time.monotonic() - last_save >= self.config.checkpoint_minutes * 60:
                self.save()
                last_save = time.monotonic()
        self.save()

    def export(self, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
        """Write the student in sarfeat's format, with the teacher's detection thresholds."""
        teacher_meta = getattr(self.teacher_net, "metadata", {}) or {}
        metadata = {
            "distillation": {"config": self.config.to_dict(), "iterations": self.iteration,
                             "training_seconds": round(self.elapsed, 1),
                             "history": self.history[-20:]},
            "data": {"sources": SOURCE_WEIGHTS, "attribution": pairs.TRAINING_ATTRIBUTION},
            "code_version": code_version(), "torch": torch.__version__, "numpy": np.__version__,
            **({"detector": teacher_meta["detector"]} if "detector" in teacher_meta else {}),
            **({"maps": TURNED_MAPS_KIND} if self.config.target == "turned_maps" else {}),
            **(extra_metadata or {}),
        }
        net = R2D2Net(self.student.architecture)
        net.load_state_dict({k: v.detach().float().contiguous() if v.is_floating_point() else v
                             for k, v in self.student.state_dict().items()})
        return save_checkpoint(net.eval(), path, metadata=json.loads(json.dumps(metadata)))
