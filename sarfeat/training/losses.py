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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# the descriptor sampler has its own module; its names stay importable from here
from .descriptor_sampler import (DescriptorPairs, SamplerConfig, full_precision, inside_image,
                                 ring_offsets, sample_descriptor_pairs, to_grid)

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
    """float: weight of the reliability (AP) term, :func:`reliability_loss`."""
    cosim: float = 2.0
    """float: weight of the repeatability maps' cosine similarity, :func:`cosim_loss`."""
    peaky: float = 1.5
    """float: weight of the peakiness term, :func:`peaky_loss`."""
    sharpen: float = 1.0
    """float: weight of the sharpen-peak term, :func:`sharpen_peak_loss`."""
    #: Weight of an extra plain ``1 - AP`` term (not in the paper: 0 by default).
    #: In ``1 - AP*R - kappa*(1 - R)`` the descriptors learn at a rate scaled by
    #: R, which collapses towards 0 early in training from scratch (AP < kappa
    #: everywhere); this term keeps them learning meanwhile.
    plain_ap: float = 0.0


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
    with full_precision(scores.device):
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
    with full_precision(ap.device):
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
    with full_precision(rep1.device):
        rep1, rep2, flow = rep1.float(), rep2.float(), flow.float()
        if flow.shape[-2:] != rep1.shape[-2:]:
            raise ValueError(f"flow {tuple(flow.shape)} does not match rep1 {tuple(rep1.shape)}")
        height2, width2 = rep2.shape[-2:]
        xy = flow.permute(0, 2, 3, 1)  # (B, H, W, 2)
        valid = inside_image(xy[..., 0], xy[..., 1], height2, width2)
        grid = torch.where(valid[..., None], to_grid(xy, height2, width2), torch.zeros_like(xy))
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
    with full_precision(rep.device):
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
    with full_precision(rep1.device):
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
    The peaky term is the mean of ``peaky_loss`` over the two images, as in
    R2D2.
    """
    with full_precision(flow.device):
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
