"""The descriptor sampler of the AP (reliability) loss: :func:`sample_descriptor_pairs`.

Queries on a grid of image 1 meet positives and negatives around their ground
truth in image 2, and distractors on a grid of every image 2 of the batch. The
batch convention (``out1``, ``out2``, ``flow``) is that of
:mod:`sarfeat.training.losses`, which re-exports these names.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SamplerConfig", "DescriptorPairs", "full_precision", "ring_offsets",
           "sample_descriptor_pairs", "to_grid", "inside_image"]


@dataclass(frozen=True)
class SamplerConfig:
    """Parameters of the descriptor sampler and of the AP (reliability) loss.

    Each field is documented at its declaration.
    """

    grid_step: int = 8
    """int: spacing in pixels of the query grid on image 1."""
    border: int = 16
    """int: no query closer than this to the edge of image 1."""
    positive_radius: int = 3
    """int: positives are image-2 descriptors at every integer offset (dx, dy) with dx² + dy²
    <= r² around the ground truth (29 offsets for r = 3)."""
    negative_radius_min: int = 5
    """int: negatives are the integer offsets with r_min² <= dx² + dy² <= r_max² (80 offsets
    for 5..7); this is r_min."""
    negative_radius_max: int = 7
    """int: r_max of the negatives' ring (:attr:`negative_radius_min`)."""
    distractor_step: int = 8
    """int: spacing of the distractor grid on every image 2 of the batch."""
    distractor_min_distance: float = 5.0
    """float: distractors of the query's own image closer than this (strictly) to the ground
    truth are left out."""
    max_distractors: int | None = None
    """int or None: when set, keep a random subset of at most this many distractors (the same
    subset for every query), which bounds the cost at large crops."""
    ap_bins: int = 20
    """int: number of quantisation bins of the differentiable AP."""
    base_reliability: float = 0.5
    """float: the kappa of ``1 - AP*R - kappa*(1 - R)``: the AP below which a query gains by
    declaring itself unreliable."""


@dataclass
class DescriptorPairs:
    """What :func:`sample_descriptor_pairs` returns, for Q = B x (queries per image).

    Columns of ``scores``, ``labels`` and ``mask`` are laid out as
    ``[P positives | N negatives | D distractors]``.

    Attributes
    ----------
    scores : Tensor
        (Q, P+N+D) cosine similarity between query and candidate, clamped to [0, 1].
    labels : Tensor
        (Q, P+N+D) bool, True for the positives.
    mask : Tensor
        (Q, P+N+D) bool, False for entries to ignore: neighbours that fall
        outside image 2, excluded distractors, every entry of an invalid query.
    query_reliability, positive_reliability : Tensor
        (Q,) reliability of image 1 at the query and of image 2 at its ground truth.
    valid : Tensor
        (Q,) bool, True where the query has a ground truth inside image 2.
    query_xy, target_xy : Tensor
        (Q, 2) (x, y) of the query in image 1 and of its ground truth in image 2
        (0 for invalid queries).
    batch_index : Tensor
        (Q,) image of the batch that each query comes from.
    positive_offsets, negative_offsets : Tensor
        (P, 2) and (N, 2) integer (dx, dy) offsets from the ground truth.
    distractor_xy, distractor_batch : Tensor
        (D, 2) (x, y) and (D,) batch index of each distractor.
    """

    scores: Tensor
    labels: Tensor
    mask: Tensor
    query_reliability: Tensor
    positive_reliability: Tensor
    valid: Tensor
    query_xy: Tensor
    target_xy: Tensor
    batch_index: Tensor
    positive_offsets: Tensor
    negative_offsets: Tensor
    distractor_xy: Tensor
    distractor_batch: Tensor


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Turn autocast off on ``device`` for the duration of the block (every loss and the
    sampler work in float32).

    Parameters
    ----------
    device : torch.device
        The device whose autocast is turned off.
    """
    if torch.amp.is_autocast_available(device.type):
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    else:
        yield


def ring_offsets(radius_min: float, radius_max: float) -> Tensor:
    """Integer offsets (dx, dy) with ``radius_min² <= dx² + dy² <= radius_max²``.

    Returns a (K, 2) float32 tensor, sorted by distance then by (dy, dx).
    """
    r = int(math.floor(radius_max))
    d = torch.arange(-r, r + 1)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    dist2 = dx**2 + dy**2
    keep = (dist2 >= radius_min**2) & (dist2 <= radius_max**2)
    dx, dy, dist2 = dx[keep], dy[keep], dist2[keep]
    order = torch.argsort(dist2 * (2 * r + 1) ** 2 + (dy + r) * (2 * r + 1) + (dx + r))
    return torch.stack((dx[order], dy[order]), dim=1).float()


def to_grid(xy: Tensor, height: int, width: int) -> Tensor:
    """Pixel (x, y) in the last dimension to grid_sample's [-1, 1] (align_corners=True)."""
    scale = xy.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return xy * scale - 1.0


def inside_image(x: Tensor, y: Tensor, height: int, width: int) -> Tensor:
    """Whether (x, y) lies within the pixel centres of an image (NaN gives False)."""
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def sample_descriptor_pairs(
    out1: dict[str, Tensor],
    out2: dict[str, Tensor],
    flow: Tensor,
    config: SamplerConfig = SamplerConfig(),
) -> DescriptorPairs:
    """Sample query, positive, negative and distractor descriptors for the AP loss.

    Queries sit on a grid (``config.grid_step``, ``config.border``) of image 1.
    For each, positives and negatives are read in image 2 at integer offsets
    around the ground-truth position ``flow[:, :, y, x]``; the ground truth is
    kept at its exact float position and neighbours are read with bilinear
    interpolation (``grid_sample``, align_corners=True), then re-normalised.
    Distractors are image-2 descriptors on a grid (``config.distractor_step``,
    starting at step // 2) of every image of the batch, read without
    interpolation; those of the query's own image closer than
    ``config.distractor_min_distance`` to its ground truth are masked out.

    Scores follow R2D2: the plain cosine similarity (dot product of unit
    descriptors), clamped to the AP quantiser's range [0, 1], so that
    dissimilar pairs (cosine <= 0) all land in the lowest bin.

    Parameters
    ----------
    out1, out2 : dict of Tensor
        Network outputs for image 1 and image 2 (see the module docstring).
    flow : Tensor
        (B, 2, H, W) position in image 2 of each pixel of image 1, NaN if none.
    config : SamplerConfig, optional
        Sampler parameters.

    Returns
    -------
    DescriptorPairs
        Scores, labels and masks of shape (Q, M) and per-query values.
    """
    with full_precision(flow.device):
        desc1 = out1["descriptors"].float()
        desc2 = out2["descriptors"].float()
        rel1 = out1["reliability"].float()
        rel2 = out2["reliability"].float()
        flow = flow.float()
        batch, channels, height1, width1 = desc1.shape
        if flow.shape != (batch, 2, height1, width1):
            raise ValueError(
                f"flow must have shape {(batch, 2, height1, width1)} (B, 2, H, W of image 1), "
                f"got {tuple(flow.shape)}"
            )
        device = desc1.device
        qx, qy, query_desc, query_rel, target, valid = _queries(desc1, rel1, flow,
                                                                desc2.shape[-2:], config)
        pos_off = ring_offsets(0, config.positive_radius).to(device)
        neg_off = ring_offsets(config.negative_radius_min, config.negative_radius_max).to(device)
        offsets = torch.cat((pos_off, neg_off))  # (K, 2)
        near_scores, inside, positive_rel = _near(desc2, rel2, query_desc, target, offsets)
        distractors, distractor_xy, distractor_batch = _distractors(desc2, config, device)

        # Flatten queries to Q = B * G rows.
        query_desc = query_desc.permute(0, 2, 1).reshape(-1, channels)
        target_xy = target.permute(0, 2, 1).reshape(-1, 2)
        batch_index = torch.arange(batch, device=device).repeat_interleave(qy.numel())
        far_scores = query_desc @ distractors.T  # (Q, D)
        too_close = _too_close(target_xy, batch_index, distractor_xy, distractor_batch,
                               config.distractor_min_distance)
        valid = valid.reshape(-1)
        n_near = offsets.shape[0]
        scores = torch.cat((near_scores.reshape(-1, n_near), far_scores), dim=1).clamp(0.0, 1.0)
        labels = torch.zeros(scores.shape, dtype=torch.bool, device=device)
        labels[:, : pos_off.shape[0]] = True
        mask = torch.cat((inside.reshape(-1, n_near), ~too_close), dim=1) & valid[:, None]
        query_xy = torch.stack((qx, qy), dim=1).float().repeat(batch, 1)
        return DescriptorPairs(
            scores=scores,
            labels=labels,
            mask=mask,
            query_reliability=query_rel.reshape(-1),
            positive_reliability=positive_rel.reshape(-1),
            valid=valid,
            query_xy=query_xy,
            target_xy=target_xy,
            batch_index=batch_index,
            positive_offsets=pos_off,
            negative_offsets=neg_off,
            distractor_xy=distractor_xy,
            distractor_batch=distractor_batch,
        )


def _queries(desc1: Tensor, rel1: Tensor, flow: Tensor, shape2: tuple[int, int],
             config: SamplerConfig) -> tuple[Tensor, ...]:
    """Queries on a grid of image 1: (qx, qy) (G,), their descriptors (B, C, G) and
    reliabilities (B, G), ground truths (B, 2, G; 0 where invalid) and validity (B, G)."""
    height1, width1 = desc1.shape[-2:]
    height2, width2 = shape2
    if min(height1, width1) <= 2 * config.border:
        raise ValueError(
            f"image of {height1}x{width1} pixels has no query with border={config.border}; "
            "use larger crops or a smaller border"
        )
    border, step = config.border, config.grid_step
    qy_axis = torch.arange(border, height1 - border, step, device=desc1.device)
    qx_axis = torch.arange(border, width1 - border, step, device=desc1.device)
    qy, qx = (g.reshape(-1) for g in torch.meshgrid(qy_axis, qx_axis, indexing="ij"))
    query_desc = desc1[:, :, qy, qx]  # (B, C, G)
    query_rel = rel1[:, 0, qy, qx]  # (B, G)
    target = flow[:, :, qy, qx]  # (B, 2, G)
    valid = inside_image(target[:, 0], target[:, 1], height2, width2)  # (B, G)
    target = torch.where(valid[:, None], target, torch.zeros_like(target))
    return qx, qy, query_desc, query_rel, target, valid


def _near(desc2: Tensor, rel2: Tensor, query_desc: Tensor, target: Tensor,
          offsets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Positives and negatives around the ground truth, bilinear in image 2: their scores
    (B, G, K), whether they are inside image 2 (B, G, K), and image 2's reliability at the
    ground truth (B, G)."""
    height2, width2 = desc2.shape[-2:]
    neighbours = target.permute(0, 2, 1)[:, :, None, :] + offsets  # (B, G, K, 2)
    inside = inside_image(neighbours[..., 0], neighbours[..., 1], height2, width2)
    grid = to_grid(neighbours, height2, width2)
    sampled = F.grid_sample(desc2, grid, mode="bilinear", padding_mode="border",
                            align_corners=True)
    sampled = F.normalize(sampled, p=2, dim=1)  # (B, C, G, K)
    near_scores = torch.einsum("bcg,bcgk->bgk", query_desc, sampled)
    target_grid = to_grid(target.permute(0, 2, 1)[:, :, None, :], height2, width2)
    positive_rel = F.grid_sample(rel2, target_grid, mode="bilinear", padding_mode="border",
                                 align_corners=True)[:, 0, :, 0]  # (B, G)
    return near_scores, inside, positive_rel


def _distractors(desc2: Tensor, config: SamplerConfig,
                 device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Distractors on a grid of every image 2 of the batch: descriptors (D, C), (x, y) (D, 2)
    and batch index (D,); a random subset (``torch.randperm``) beyond
    ``config.max_distractors``."""
    batch, channels, height2, width2 = desc2.shape
    start = config.distractor_step // 2
    dy_axis = torch.arange(start, height2, config.distractor_step, device=device)
    dx_axis = torch.arange(start, width2, config.distractor_step, device=device)
    dy, dx = (g.reshape(-1) for g in torch.meshgrid(dy_axis, dx_axis, indexing="ij"))
    distractors = desc2[:, :, dy, dx].permute(0, 2, 1).reshape(-1, channels)  # (B*Gd, C)
    distractor_xy = torch.stack((dx, dy), dim=1).float().repeat(batch, 1)
    distractor_batch = torch.arange(batch, device=device).repeat_interleave(dy.numel())
    if config.max_distractors is not None and distractors.shape[0] > config.max_distractors:
        keep = torch.randperm(distractors.shape[0], device=device)[: config.max_distractors]
        keep = keep.sort().values
        distractors = distractors[keep]
        distractor_xy = distractor_xy[keep]
        distractor_batch = distractor_batch[keep]
    return distractors, distractor_xy, distractor_batch


def _too_close(target_xy: Tensor, batch_index: Tensor, distractor_xy: Tensor,
               distractor_batch: Tensor, min_distance: float) -> Tensor:
    """(Q, D): distractors of the query's own image closer than ``min_distance`` (strictly)
    to its ground truth."""
    distance2 = (target_xy[:, 0, None] - distractor_xy[None, :, 0]) ** 2 + (
        target_xy[:, 1, None] - distractor_xy[None, :, 1]
    ) ** 2
    return (batch_index[:, None] == distractor_batch[None, :]) & (distance2 < min_distance**2)
