"""Training losses of Fast-R2D2 with the paper's "new loss" (DESIGN.md section 5).

The total loss is a weighted sum of four terms (:class:`LossWeights`)::

    1 x reliability (AP loss) + 2 x cosim + 1.5 x peaky + 1 x sharpen-peak

Batch convention
----------------
``out1`` and ``out2`` are the dicts that :meth:`sarfeat.network.R2D2Net.forward`
returns for image 1 and image 2: ``descriptors`` (B, 128, H, W, L2-normalised
over channels), ``reliability`` and ``repeatability`` (B, 1, H, W).

``flow`` is a (B, 2, H, W) float tensor on the grid of image 1: ``flow[b, :, i, j]``
is the position (x, y) in image 2 of pixel (row i, column j) of image 1, in
pixels, x along columns and y along rows, pixel centres at integer
coordinates. It is NaN where the pixel falls outside image 2 or has no
correspondence.

Precision
---------
Every loss turns autocast off and works in float32, so the whole module can be
called inside ``torch.autocast(..., dtype=torch.bfloat16)``; gradients flow back
to the lower-precision network outputs through the casts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LossWeights",
    "SamplerConfig",
    "DescriptorPairs",
    "ring_offsets",
    "differentiable_ap",
    "sample_descriptor_pairs",
    "reliability_loss",
    "cosim_loss",
    "peaky_loss",
    "sharpen_peak_loss",
    "r2d2_loss",
]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the four loss terms (the paper's "new loss").

    A weight of 0 removes its term: it is neither computed nor reported.
    """

    reliability: float = 1.0
    cosim: float = 2.0
    peaky: float = 1.5
    sharpen: float = 1.0
    #: Weight of an extra plain ``1 - AP`` term (not in the paper: 0 by default).
    #: In ``1 - AP*R - kappa*(1 - R)`` the descriptors learn at a rate scaled by
    #: R, which collapses towards 0 early in training from scratch (AP < kappa
    #: everywhere); this term keeps them learning meanwhile.
    plain_ap: float = 0.0


@dataclass(frozen=True)
class SamplerConfig:
    """Parameters of the descriptor sampler and of the AP (reliability) loss.

    Attributes
    ----------
    grid_step : int
        Spacing in pixels of the query grid on image 1.
    border : int
        No query closer than this to the edge of image 1.
    positive_radius : int
        Positives are image-2 descriptors at every integer offset (dx, dy) with
        dx² + dy² <= r² around the ground truth (29 offsets for r = 3).
    negative_radius_min, negative_radius_max : int
        Negatives are the integer offsets with r_min² <= dx² + dy² <= r_max²
        (80 offsets for 5..7).
    distractor_step : int
        Spacing of the distractor grid on every image 2 of the batch.
    distractor_min_distance : float
        Distractors of the query's own image closer than this (strictly) to the
        ground truth are left out.
    max_distractors : int or None
        When set, keep a random subset of at most this many distractors (the
        same subset for every query), which bounds the cost at large crops.
    ap_bins : int
        Number of quantisation bins of the differentiable AP.
    base_reliability : float
        The kappa of ``1 - AP*R - kappa*(1 - R)``: the AP below which a query
        gains by declaring itself unreliable.
    """

    grid_step: int = 8
    border: int = 16
    positive_radius: int = 3
    negative_radius_min: int = 5
    negative_radius_max: int = 7
    distractor_step: int = 8
    distractor_min_distance: float = 5.0
    max_distractors: int | None = None
    ap_bins: int = 20
    base_reliability: float = 0.5


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
def _full_precision(device: torch.device) -> Iterator[None]:
    """Turn autocast off on ``device`` for the duration of the block."""
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


def differentiable_ap(
    scores: Tensor, labels: Tensor, bins: int = 20, mask: Tensor | None = None
) -> Tensor:
    """Average precision of each query, made differentiable by soft quantisation.

    Each score in [0, 1] is shared between the two nearest of ``bins`` evenly
    spaced bin centres (0, 1/(bins-1), ..., 1) by linear interpolation, i.e.
    triangular bins. Precision and recall are then computed per bin, bins
    visited from the highest score down, as in R2D2's AP loss.

    Parameters
    ----------
    scores : Tensor
        (Q, M) similarities in [0, 1]; values outside are clamped.
    labels : Tensor
        (Q, M) bool, True for the relevant (positive) entries.
    bins : int, optional
        Number of quantisation bins (at least 2).
    mask : Tensor, optional
        (Q, M) bool; entries where it is False are ignored.

    Returns
    -------
    Tensor
        (Q,) float32 AP per query; 0 for a query without any positive.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if scores.shape != labels.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} differ")
    with _full_precision(scores.device):
        x = scores.float().clamp(0.0, 1.0) * (bins - 1)
        low = x.detach().floor().long().clamp(max=bins - 2)
        upper_share = x - low
        weight = labels.new_ones(labels.shape, dtype=torch.float32)
        if mask is not None:
            weight = mask.float()
        positive = weight * labels.float()

        def histogram(w: Tensor) -> Tensor:
            hist = w.new_zeros(w.shape[0], bins)
            hist = hist.scatter_add(1, low, w * (1.0 - upper_share))
            return hist.scatter_add(1, low + 1, w * upper_share)

        # Highest-score bin first.
        hist_all = histogram(weight).flip(1)
        hist_pos = histogram(positive).flip(1)
        precision = hist_pos.cumsum(1) / hist_all.cumsum(1).clamp_min(1e-12)
        recall = hist_pos / hist_pos.sum(1, keepdim=True).clamp_min(1e-12)
        return (precision * recall).sum(1)


def _to_grid(xy: Tensor, height: int, width: int) -> Tensor:
    """Pixel (x, y) in the last dimension to grid_sample's [-1, 1] (align_corners=True)."""
    scale = xy.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return xy * scale - 1.0


def _inside(x: Tensor, y: Tensor, height: int, width: int) -> Tensor:
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
    with _full_precision(flow.device):
        desc1 = out1["descriptors"].float()
        desc2 = out2["descriptors"].float()
        rel1 = out1["reliability"].float()
        rel2 = out2["reliability"].float()
        flow = flow.float()
        batch, channels, height1, width1 = desc1.shape
        height2, width2 = desc2.shape[-2:]
        if flow.shape != (batch, 2, height1, width1):
            raise ValueError(
                f"flow must have shape {(batch, 2, height1, width1)} (B, 2, H, W of image 1), "
                f"got {tuple(flow.shape)}"
            )
        device = desc1.device

        # Queries on a grid of image 1.
        if min(height1, width1) <= 2 * config.border:
            raise ValueError(
                f"image of {height1}x{width1} pixels has no query with border={config.border}; "
                "use larger crops or a smaller border"
            )
        border, step = config.border, config.grid_step
        qy_axis = torch.arange(border, height1 - border, step, device=device)
        qx_axis = torch.arange(border, width1 - border, step, device=device)
        qy, qx = (g.reshape(-1) for g in torch.meshgrid(qy_axis, qx_axis, indexing="ij"))
        n_query = qy.numel()
        query_desc = desc1[:, :, qy, qx]  # (B, C, G)
        query_rel = rel1[:, 0, qy, qx]  # (B, G)
        target = flow[:, :, qy, qx]  # (B, 2, G)
        valid = _inside(target[:, 0], target[:, 1], height2, width2)  # (B, G)
        target = torch.where(valid[:, None], target, torch.zeros_like(target))

        # Positives and negatives around the ground truth, bilinear in image 2.
        pos_off = ring_offsets(0, config.positive_radius).to(device)
        neg_off = ring_offsets(config.negative_radius_min, config.negative_radius_max).to(device)
        offsets = torch.cat((pos_off, neg_off))  # (K, 2)
        neighbours = target.permute(0, 2, 1)[:, :, None, :] + offsets  # (B, G, K, 2)
        inside = _inside(neighbours[..., 0], neighbours[..., 1], height2, width2)
        grid = _to_grid(neighbours, height2, width2)
        sampled = F.grid_sample(desc2, grid, mode="bilinear", padding_mode="border",
                                align_corners=True)
        sampled = F.normalize(sampled, p=2, dim=1)  # (B, C, G, K)
        near_scores = torch.einsum("bcg,bcgk->bgk", query_desc, sampled)
        target_grid = _to_grid(target.permute(0, 2, 1)[:, :, None, :], height2, width2)
        positive_rel = F.grid_sample(rel2, target_grid, mode="bilinear", padding_mode="border",
                                     align_corners=True)[:, 0, :, 0]  # (B, G)

        # Distractors on a grid of every image 2 of the batch.
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

        # Flatten queries to Q = B * G rows.
        query_desc = query_desc.permute(0, 2, 1).reshape(-1, channels)
        target_xy = target.permute(0, 2, 1).reshape(-1, 2)
        batch_index = torch.arange(batch, device=device).repeat_interleave(n_query)
        far_scores = query_desc @ distractors.T  # (Q, D)
        distance2 = (target_xy[:, 0, None] - distractor_xy[None, :, 0]) ** 2 + (
            target_xy[:, 1, None] - distractor_xy[None, :, 1]
        ) ** 2
        too_close = (batch_index[:, None] == distractor_batch[None, :]) & (
            distance2 < config.distractor_min_distance**2
        )

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


def _masked_mean(values: Tensor, keep: Tensor | None) -> Tensor:
    """Mean of ``values`` where ``keep``; a zero that keeps the graph when nothing is kept."""
    if keep is None:
        return values.mean()
    if not bool(keep.any()):
        return (values * 0).sum()
    return values[keep].mean()


def reliability_loss(
    ap: Tensor,
    query_reliability: Tensor,
    positive_reliability: Tensor,
    valid: Tensor | None = None,
    base_reliability: float = 0.5,
) -> Tensor:
    """R2D2's reliability-weighted AP loss, ``1 - AP*R - kappa*(1 - R)`` per query.

    Parameters
    ----------
    ap : Tensor
        (Q,) AP of each query (:func:`differentiable_ap`).
    query_reliability, positive_reliability : Tensor
        (Q,) reliability at the query (image 1) and at its ground truth (image 2);
        R is their mean.
    valid : Tensor, optional
        (Q,) bool; only these queries are averaged.
    base_reliability : float, optional
        kappa.

    Returns
    -------
    Tensor
        Scalar mean over the valid queries.
    """
    with _full_precision(ap.device):
        r = 0.5 * (query_reliability.float() + positive_reliability.float())
        per_query = 1.0 - ap.float() * r - base_reliability * (1.0 - r)
        return _masked_mean(per_query, valid)


def cosim_loss(
    rep1: Tensor,
    rep2: Tensor,
    flow: Tensor,
    patch: int = 16,
    stride: int = 8,
    min_valid: float = 0.5,
) -> Tensor:
    """Make repeatability follow the scene: 1 - mean patch cosine after warping.

    ``rep2`` is warped into the frame of image 1 with bilinear ``grid_sample``
    at the flow positions. Both maps are cut into ``patch`` x ``patch`` patches
    with ``stride`` (``F.unfold``); pixels without a correspondence are zeroed
    in both, and only patches with at least ``min_valid`` of their pixels valid
    count. Each patch is L2-normalised and the loss is 1 minus the mean cosine.

    Parameters
    ----------
    rep1, rep2 : Tensor
        (B, 1, H, W) repeatability of image 1 and (B, 1, H2, W2) of image 2.
    flow : Tensor
        (B, 2, H, W) positions in image 2 of the pixels of image 1, NaN if none.
    patch, stride : int, optional
        Patch size and spacing.
    min_valid : float, optional
        Smallest fraction of valid pixels for a patch to count.

    Returns
    -------
    Tensor
        Scalar loss in [0, 1] (0 when the warped maps agree up to a scale per patch).
    """
    with _full_precision(rep1.device):
        rep1, rep2, flow = rep1.float(), rep2.float(), flow.float()
        if flow.shape[-2:] != rep1.shape[-2:]:
            raise ValueError(f"flow {tuple(flow.shape)} does not match rep1 {tuple(rep1.shape)}")
        height2, width2 = rep2.shape[-2:]
        xy = flow.permute(0, 2, 3, 1)  # (B, H, W, 2)
        valid = _inside(xy[..., 0], xy[..., 1], height2, width2)
        grid = torch.where(valid[..., None], _to_grid(xy, height2, width2), torch.zeros_like(xy))
        warped = F.grid_sample(rep2, grid, mode="bilinear", padding_mode="border",
                               align_corners=True)
        weight = valid[:, None].float()
        patches1 = F.normalize(F.unfold(rep1 * weight, patch, stride=stride), p=2, dim=1)
        patches2 = F.normalize(F.unfold(warped * weight, patch, stride=stride), p=2, dim=1)
        fraction = F.unfold(weight, patch, stride=stride).mean(1)  # (B, L)
        cosine = (patches1 * patches2).sum(1)
        return 1.0 - _masked_mean(cosine, fraction >= min_valid)


def peaky_loss(rep: Tensor, window: int = 17) -> Tensor:
    """Make repeatability locally peaky: ``1 - mean(maxpool - avgpool)``.

    The map is first smoothed by a 3x3 average; then the max and the mean over
    ``window`` x ``window`` neighbourhoods (stride 1, "same" padding, as R2D2)
    are compared at every pixel. Unlike R2D2, padded cells are left out of the
    averages, so a flat map gives exactly 1 instead of rewarding its borders.

    Parameters
    ----------
    rep : Tensor
        (B, 1, H, W) repeatability in [0, 1] of one image.
    window : int, optional
        Odd neighbourhood size.

    Returns
    -------
    Tensor
        Scalar loss in [0, 1].
    """
    if window % 2 != 1:
        raise ValueError(f"window must be odd, got {window}")
    with _full_precision(rep.device):
        rep = F.avg_pool2d(rep.float(), 3, stride=1, padding=1, count_include_pad=False)
        pad = window // 2
        local_max = F.max_pool2d(rep, window, stride=1, padding=pad)
        local_mean = F.avg_pool2d(rep, window, stride=1, padding=pad, count_include_pad=False)
        return 1.0 - (local_max - local_mean).mean()


def _local_maxima(rep: Tensor, window: int) -> Tensor:
    """Binary float map of pixels equal to the max over their ``window`` neighbourhood."""
    return (F.max_pool2d(rep, window, stride=1, padding=window // 2) == rep).float()


def sharpen_peak_loss(rep1: Tensor, rep2: Tensor, window: int = 17) -> Tensor:
    """The paper's sharpen-peak loss: pull each repeatability map to its own local maxima.

    The target T of a map S is 1 where S equals its ``window`` x ``window`` max
    filter and 0 elsewhere, held constant (no gradient). The loss is
    ``mean((T1 - S1)²) + mean((T2 - S2)²)``, each map with its own target.

    Parameters
    ----------
    rep1, rep2 : Tensor
        (B, 1, H, W) repeatability maps of image 1 and image 2.
    window : int, optional
        Odd size of the max filter.

    Returns
    -------
    Tensor
        Scalar loss in [0, 2].
    """
    if window % 2 != 1:
        raise ValueError(f"window must be odd, got {window}")
    with _full_precision(rep1.device):
        total = rep1.new_zeros((), dtype=torch.float32)
        for rep in (rep1.float(), rep2.float()):
            target = _local_maxima(rep.detach(), window)
            total = total + ((target - rep) ** 2).mean()
        return total


def r2d2_loss(
    out1: dict[str, Tensor],
    out2: dict[str, Tensor],
    flow: Tensor,
    weights: LossWeights = LossWeights(),
    sampler: SamplerConfig = SamplerConfig(),
) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of the reliability, cosim, peaky and sharpen-peak losses.

    Parameters
    ----------
    out1, out2 : dict of Tensor
        Network outputs for image 1 and image 2 (see the module docstring).
    flow : Tensor
        (B, 2, H, W) positions in image 2 of the pixels of image 1, NaN if none.
    weights : LossWeights, optional
        Term weights; a zero weight skips its term.
    sampler : SamplerConfig, optional
        Parameters of the descriptor sampler and of the AP loss.

    Returns
    -------
    total : Tensor
        Scalar float32 loss to back-propagate.
    values : dict of str to float
        ``"total"``, the unweighted value of each computed term (``"reliability"``,
        ``"cosim"``, ``"peaky"``, ``"sharpen"``) and ``"ap"``, the mean AP of the
        valid queries (when the reliability term is computed), for logging.

    Notes
    -----
    The peaky term is the mean of :func:`peaky_loss` over the two images, as in
    R2D2.
    """
    with _full_precision(flow.device):
        rep1, rep2 = out1["repeatability"], out2["repeatability"]
        terms: dict[str, Tensor] = {}
        logged: dict[str, Tensor] = {}
        if weights.reliability:
            pairs = sample_descriptor_pairs(out1, out2, flow, sampler)
            ap = differentiable_ap(pairs.scores, pairs.labels, sampler.ap_bins, mask=pairs.mask)
            terms["reliability"] = reliability_loss(
                ap, pairs.query_reliability, pairs.positive_reliability, pairs.valid,
                sampler.base_reliability,
            )
            logged["ap"] = _masked_mean(ap.detach(), pairs.valid)
            if weights.plain_ap:
                terms["plain_ap"] = _masked_mean(1.0 - ap, pairs.valid)
        if weights.cosim:
            terms["cosim"] = cosim_loss(rep1, rep2, flow)
        if weights.peaky:
            terms["peaky"] = 0.5 * (peaky_loss(rep1) + peaky_loss(rep2))
        if weights.sharpen:
            terms["sharpen"] = sharpen_peak_loss(rep1, rep2)
        if not terms:
            raise ValueError("all loss weights are zero; set at least one LossWeights field")
        total = sum(getattr(weights, name) * value for name, value in terms.items())
        logged = {"total": total.detach(), **{k: v.detach() for k, v in terms.items()}, **logged}
        numbers = torch.stack(list(logged.values())).tolist()  # one device sync
        return total, dict(zip(logged, numbers))
