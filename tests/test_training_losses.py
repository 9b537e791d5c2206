"""Tests of sarfeat.training.losses: known answers for every loss and for the sampler."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sarfeat.network import R2D2Net
from sarfeat.training.losses import (
    LossWeights,
    SamplerConfig,
    cosim_loss,
    differentiable_ap,
    peaky_loss,
    r2d2_loss,
    reliability_loss,
    ring_offsets,
    sample_descriptor_pairs,
    sharpen_peak_loss,
)


def identity_flow(batch: int, height: int, width: int, shift: tuple[float, float] = (0.0, 0.0)):
    """Flow of a pure translation: pixel (x, y) of image 1 is at (x + sx, y + sy) in image 2."""
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(),
                            indexing="ij")
    flow = torch.stack((xx + shift[0], yy + shift[1]))[None].repeat(batch, 1, 1, 1)
    outside = ((flow[:, 0] < 0) | (flow[:, 0] > width - 1)
               | (flow[:, 1] < 0) | (flow[:, 1] > height - 1))
    flow[outside[:, None].expand_as(flow)] = float("nan")
    return flow


def outputs(desc: torch.Tensor, reliability: float = 0.5,
            repeatability: torch.Tensor | None = None):
    """A network-output dict around given descriptors."""
    batch, _, height, width = desc.shape
    rep = repeatability if repeatability is not None else torch.rand(batch, 1, height, width)
    return {
        "descriptors": desc,
        "reliability": torch.full((batch, 1, height, width), reliability),
        "repeatability": rep,
    }


def random_descriptors(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(batch, 128, height, width, generator=generator), dim=1)


# --------------------------------------------------------------------------- AP


def test_ring_offsets_counts_and_radii():
    positives = ring_offsets(0, 3)
    negatives = ring_offsets(5, 7)
    assert positives.shape == (29, 2)
    assert negatives.shape == (80, 2)
    d2_pos = (positives**2).sum(1)
    d2_neg = (negatives**2).sum(1)
    assert d2_pos.max() <= 9 and (d2_pos == 0).sum() == 1
    assert d2_neg.min() >= 25 and d2_neg.max() <= 49
    assert len({tuple(o) for o in positives.tolist()}) == 29


def test_ap_is_one_for_identical_descriptors_and_loss_zero_at_full_reliability():
    generator = torch.Generator().manual_seed(1)
    n_pos, n_neg = 29, 500
    scores = torch.cat((torch.ones(8, n_pos), 0.9 * torch.rand(8, n_neg, generator=generator)), 1)
    labels = torch.zeros_like(scores, dtype=torch.bool)
    labels[:, :n_pos] = True
    ap = differentiable_ap(scores, labels, bins=20)
    assert torch.allclose(ap, torch.ones(8), atol=1e-6)
    ones = torch.ones(8)
    assert reliability_loss(ap, ones, ones).item() == pytest.approx(0.0, abs=1e-6)


def test_ap_known_ranking_and_mask():
    # Centres of 20 bins are k/19: positive at 1, negative at 15/19, positive at 10/19.
    scores = torch.tensor([[1.0, 15 / 19, 10 / 19, 1.0]])
    labels = torch.tensor([[True, False, True, False]])
    mask = torch.tensor([[True, True, True, False]])  # the last, a top-scoring negative, is ignored
    ap = differentiable_ap(scores, labels, bins=20, mask=mask)
    assert ap.item() == pytest.approx((1 + 2 / 3) / 2, abs=1e-6)
    unmasked = differentiable_ap(scores, labels, bins=20)
    assert unmasked.item() == pytest.approx((1 / 2 + 2 / 4) / 2, abs=1e-6)


def test_ap_is_low_for_unrelated_descriptors():
    desc1 = random_descriptors(2, 64, 64, seed=0)
    desc2 = random_descriptors(2, 64, 64, seed=1)
    pairs = sample_descriptor_pairs(outputs(desc1), outputs(desc2), identity_flow(2, 64, 64))
    ap = differentiable_ap(pairs.scores, pairs.labels, mask=pairs.mask)
    assert pairs.valid.all()
    assert ap.mean().item() < 0.15


def test_ap_gradient_step_increases_ap():
    generator = torch.Generator().manual_seed(2)
    scores = (0.1 + 0.8 * torch.rand(16, 200, generator=generator)).requires_grad_()
    labels = torch.rand(16, 200, generator=generator) < 0.1
    labels[:, 0] = True
    ap = differentiable_ap(scores, labels)
    ap.sum().backward()
    grad = scores.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # On average the gradient raises positives and lowers negatives.
    assert grad[labels].mean() > 0 > grad[~labels].mean()
    with torch.no_grad():
        better = differentiable_ap(scores + 0.02 * grad / grad.abs().max(), labels)
    assert (better >= ap.detach() - 1e-7).all() and better.mean() > ap.mean() + 1e-3


def test_reliability_loss_values_and_valid_mask():
    ap = torch.tensor([1.0, 0.0, 0.0, 0.3])
    rel = torch.tensor([1.0, 0.0, 1.0, 0.2])
    valid = torch.tensor([True, True, True, False])
    per_query = 1 - ap * rel - 0.5 * (1 - rel)  # 0, 0.5, 1, (excluded)
    assert reliability_loss(ap, rel, rel, valid).item() == pytest.approx(1.5 / 3)
    assert reliability_loss(ap, rel, rel).item() == pytest.approx(per_query.mean().item())
    # R is the mean of the query and positive reliabilities.
    assert reliability_loss(ap[:1], torch.ones(1), torch.zeros(1)).item() == pytest.approx(0.25)


# ---------------------------------------------------------------- repeatability


def peak_grid(height: int = 64, width: int = 64, step: int = 8) -> torch.Tensor:
    """A binary map with ones on a grid: it equals its own 17x17 local-maximum map."""
    rep = torch.zeros(1, 1, height, width)
    rep[..., ::step, ::step] = 1.0
    return rep


def test_peaky_flat_map_is_one_and_a_peak_is_lower():
    flat = torch.full((1, 1, 48, 48), 0.3)
    assert peaky_loss(flat).item() == pytest.approx(1.0, abs=1e-6)
    peak = flat.clone()
    peak[..., 24, 24] = 1.0
    assert peaky_loss(peak).item() < 1.0 - 1e-3
    assert peaky_loss(peak_grid()).item() < peaky_loss(peak).item()
    with pytest.raises(ValueError, match="odd"):
        peaky_loss(flat, window=16)


def test_sharpen_peak_zero_on_own_maxima_and_pairs_each_map_with_its_target():
    peaks = peak_grid()
    flat = torch.full_like(peaks, 0.5)
    assert sharpen_peak_loss(peaks, peaks).item() == pytest.approx(0.0, abs=1e-7)
    # A flat map is its own local maximum everywhere: target 1, error (1 - 0.5)^2.
    assert sharpen_peak_loss(flat, flat).item() == pytest.approx(0.5)
    # T1 with S1 and T2 with S2; pairing T2 with S1 (the early bug) would give a larger value.
    assert sharpen_peak_loss(peaks, flat).item() == pytest.approx(0.25)
    assert sharpen_peak_loss(flat, peaks).item() == pytest.approx(0.25)


def test_sharpen_peak_target_is_constant():
    rep = torch.rand(1, 1, 32, 32, requires_grad=True)
    sharpen_peak_loss(rep, rep.detach()).backward()
    target = (F.max_pool2d(rep.detach(), 17, 1, 8) == rep.detach()).float()
    expected = 2 * (rep.detach() - target) / rep.numel()
    assert torch.allclose(rep.grad, expected, atol=1e-7)


def test_cosim_identity_is_zero_unrelated_is_positive_and_translation_is_followed():
    generator = torch.Generator().manual_seed(3)
    rep = torch.rand(2, 1, 64, 64, generator=generator)
    flow = identity_flow(2, 64, 64)
    assert cosim_loss(rep, rep, flow).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.rand(2, 1, 64, 64, generator=generator)
    assert cosim_loss(rep, other, flow).item() > 0.05
    # Image 2 is image 1 moved by (+5, -3): (x, y) in 1 is (x + 5, y - 3) in 2.
    moved = torch.rand(2, 1, 64, 64, generator=generator)  # garbage where image 1 has no pixel
    moved[..., : 64 - 3, 5:] = rep[..., 3:, : 64 - 5]
    shifted = identity_flow(2, 64, 64, shift=(5.0, -3.0))
    assert torch.isnan(shifted).any()
    assert cosim_loss(rep, moved, shifted).item() == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------- sampler


def test_sampler_geometry_offsets_and_distractor_exclusion():
    batch, size = 2, 64
    desc = random_descriptors(batch, size, size)
    shift = (1.5, 2.0)
    pairs = sample_descriptor_pairs(outputs(desc), outputs(desc),
                                    identity_flow(batch, size, size, shift))
    # Queries: step 8 from border 16 -> 16, 24, 32, 40 on each axis.
    assert pairs.query_xy[:, 0].unique().tolist() == [16.0, 24.0, 32.0, 40.0]
    assert pairs.valid.all()
    assert torch.allclose(pairs.target_xy, pairs.query_xy + torch.tensor(shift))
    n_pos, n_neg = len(pairs.positive_offsets), len(pairs.negative_offsets)
    assert n_pos == 29
    assert ((pairs.positive_offsets**2).sum(1) <= 9).all()
    neg_dist = pairs.negative_offsets.norm(dim=1)
    assert (neg_dist >= 5).all() and (neg_dist <= 7).all()
    assert pairs.labels[:, :n_pos].all() and not pairs.labels[:, n_pos:].any()
    # Distractors: a step-8 grid of both images; excluded iff same image and < 5 px from the truth.
    n_dis = pairs.scores.shape[1] - n_pos - n_neg
    assert n_dis == batch * (size // 8) ** 2
    distance = torch.cdist(pairs.target_xy, pairs.distractor_xy)
    same = pairs.batch_index[:, None] == pairs.distractor_batch[None, :]
    expected = ~(same & (distance < 5))
    assert torch.equal(pairs.mask[:, n_pos + n_neg:], expected)
    assert (~expected).sum() > 0
    assert pairs.mask[:, : n_pos + n_neg].all()  # every neighbour lies inside image 2


def test_sampler_reads_descriptors_at_ground_truth_plus_offsets():
    batch, size = 2, 64
    desc1 = random_descriptors(batch, size, size)
    # Image 2 is image 1 moved by (+3, -2); integer positions make bilinear sampling exact.
    desc2 = torch.zeros_like(desc1)
    desc2[..., : size - 2, 3:] = desc1[..., 2:, : size - 3]
    flow = identity_flow(batch, size, size, shift=(3.0, -2.0))
    pairs = sample_descriptor_pairs(outputs(desc1), outputs(desc2), flow)
    offsets = torch.cat((pairs.positive_offsets, pairs.negative_offsets)).long()
    q = pairs.query_xy.long()
    b = pairs.batch_index
    query = desc1[b, :, q[:, 1], q[:, 0]]  # (Q, C)
    for j, (dx, dy) in enumerate(offsets.tolist()):
        neighbour = desc1[b, :, q[:, 1] + dy, q[:, 0] + dx]
        expected = (query * neighbour).sum(1).clamp(0, 1)
        assert torch.allclose(pairs.scores[:, j], expected, atol=1e-5), (dx, dy)
    assert torch.allclose(pairs.scores[:, 0], torch.ones(len(q)), atol=1e-5)  # offset (0, 0) first


def test_sampler_bilinear_at_half_pixel():
    desc = random_descriptors(1, 48, 48)
    pairs = sample_descriptor_pairs(outputs(desc), outputs(desc),
                                    identity_flow(1, 48, 48, (0.5, 0.0)))
    q = pairs.query_xy.long()
    query = desc[0, :, q[:, 1], q[:, 0]]
    between = F.normalize(query + desc[0, :, q[:, 1], q[:, 0] + 1], dim=0)
    expected = (query * between).sum(0).clamp(0, 1)
    assert torch.allclose(pairs.scores[:, 0], expected, atol=1e-5)


def test_sampler_invalid_queries_and_neighbours_outside():
    size = 64
    desc = random_descriptors(1, size, size)
    flow = identity_flow(1, size, size)
    flow[:, :, 16, 16] = float("nan")  # no correspondence
    flow[:, 0, 24, 16] = -2.0  # falls left of image 2
    flow[:, 0, 32, 16] = 1.0  # inside, but the ring reaches past the left edge
    pairs = sample_descriptor_pairs(outputs(desc), outputs(desc), flow)
    row = {tuple(xy): i for i, xy in enumerate(pairs.query_xy.long().tolist())}
    for bad in ((16, 16), (16, 24)):
        assert not pairs.valid[row[bad]] and not pairs.mask[row[bad]].any()
    edge = row[(16, 32)]
    assert pairs.valid[edge]
    neighbours = torch.cat((pairs.positive_offsets, pairs.negative_offsets))
    inside = neighbours[:, 0] + 1.0 >= 0
    assert torch.equal(pairs.mask[edge, : len(neighbours)], inside)


def test_sampler_subsamples_distractors():
    desc = random_descriptors(2, 64, 64)
    config = SamplerConfig(max_distractors=50)
    pairs = sample_descriptor_pairs(outputs(desc), outputs(desc), identity_flow(2, 64, 64), config)
    assert pairs.distractor_xy.shape == (50, 2)
    assert pairs.scores.shape[1] == 29 + 80 + 50


def test_sampler_rejects_too_small_images():
    desc = random_descriptors(1, 24, 24)
    with pytest.raises(ValueError, match="border"):
        sample_descriptor_pairs(outputs(desc), outputs(desc), identity_flow(1, 24, 24))


# ---------------------------------------------------------------- combined loss


def test_reliability_term_zero_for_identical_descriptors_single_positive():
    desc = random_descriptors(2, 64, 64)
    out = outputs(desc, reliability=1.0)
    loss, values = r2d2_loss(out, out, identity_flow(2, 64, 64), LossWeights(1, 0, 0, 0),
                             SamplerConfig(positive_radius=0))
    assert values["ap"] == pytest.approx(1.0, abs=1e-6)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_weights_are_configurable_and_zero_removes_a_term():
    torch.manual_seed(4)
    desc1, desc2 = random_descriptors(2, 64, 64, 0), random_descriptors(2, 64, 64, 1)
    out1, out2 = outputs(desc1), outputs(desc2)
    flow = identity_flow(2, 64, 64)
    total, values = r2d2_loss(out1, out2, flow)
    default = LossWeights()
    expected = sum(getattr(default, k) * values[k]
                   for k in ("reliability", "cosim", "peaky", "sharpen"))
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert values["total"] == pytest.approx(total.item())
    no_peaky, values2 = r2d2_loss(out1, out2, flow, LossWeights(peaky=0.0))
    assert "peaky" not in values2
    assert no_peaky.item() == pytest.approx(total.item() - 1.5 * values["peaky"], rel=1e-5)
    only_cosim, values3 = r2d2_loss(out1, out2, flow, LossWeights(0, 3.0, 0, 0))
    assert set(values3) == {"total", "cosim"}
    assert only_cosim.item() == pytest.approx(3.0 * values["cosim"], rel=1e-5)
    with pytest.raises(ValueError, match="zero"):
        r2d2_loss(out1, out2, flow, LossWeights(0, 0, 0, 0))
    assert "plain_ap" not in values  # not in the paper's loss unless asked for
    with_plain, values4 = r2d2_loss(out1, out2, flow, LossWeights(plain_ap=0.5))
    assert values4["plain_ap"] == pytest.approx(1.0 - values4["ap"], rel=1e-5)
    assert with_plain.item() == pytest.approx(total.item() + 0.5 * values4["plain_ap"], rel=1e-5)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast-channels-last"])
def test_random_net_loss_and_gradients_are_finite(bf16):
    torch.manual_seed(5)
    net = R2D2Net("fast_r2d2")
    images = torch.randn(2, 2, 3, 64, 64)
    flow = identity_flow(2, 64, 64)
    if bf16:
        net = net.to(memory_format=torch.channels_last)
        images = [im.contiguous(memory_format=torch.channels_last) for im in images]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out1, out2 = net(images[0]), net(images[1])
        loss, values = r2d2_loss(out1, out2, flow)
    assert loss.dtype == torch.float32
    assert math.isfinite(loss.item()) and all(math.isfinite(v) for v in values.values())
    assert set(values) == {"total", "reliability", "cosim", "peaky", "sharpen", "ap"}
    loss.backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
