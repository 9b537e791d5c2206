"""Tests of sarfeat.network: the layer tables, output contract, receptive
radius and batch-norm folding of the Fast-R2D2 and full R2D2 networks.

All inputs are small (at most 72x72) so that the module runs in seconds on
two CPU cores.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sarfeat.network import R2D2Net, fold_batchnorm

ARCHITECTURES = ["fast_r2d2", "r2d2"]

# The layer table of DESIGN.md section 3, written out by hand (not read from
# sarfeat) so that a change in sarfeat's table shows up here:
# (in_channels, out_channels, kernel) of the nine trunk convolutions.
TRUNK_CONVS = [
    (3, 32, 3),
    (32, 32, 3),
    (32, 64, 3),
    (64, 64, 3),
    (64, 128, 3),
    (128, 128, 3),
    (128, 128, 2),
    (128, 128, 2),
    (128, 128, 2),
]
FAST_DILATIONS = [1, 1, 1, 1, 1, 2, 2, 4, 8]
R2D2_DILATIONS = [1, 1, 1, 2, 2, 4, 4, 8, 16]

# Indices in ``ops`` of the original NAVER checkpoints (DESIGN.md section 3
# for Fast-R2D2; for R2D2 each conv is followed by BN and ReLU, except the
# last three which have no ReLU and the very last which has no BN).
FAST_CONV_IDX = [0, 3, 6, 10, 13, 16, 19, 21, 23]
FAST_BN_IDX = [1, 4, 7, 11, 14, 17, 20, 22]
R2D2_CONV_IDX = [0, 3, 6, 9, 12, 15, 18, 20, 22]
R2D2_BN_IDX = [1, 4, 7, 10, 13, 16, 19, 21]


def _count_by_hand() -> int:
    """Learnable parameters from the table: convs with bias + two 1x1 heads."""
    trunk = sum(cin * cout * k * k + cout for cin, cout, k in TRUNK_CONVS)
    # Written out: 896 + 9248 + 18496 + 36928 + 73856 + 147584 + 3 * 65664
    assert trunk == 896 + 9248 + 18496 + 36928 + 73856 + 147584 + 3 * 65664 == 484_000
    clf = 128 * 2 + 2  # reliability head, 1x1 conv to 2 channels
    sal = 128 * 1 + 1  # repeatability head, 1x1 conv to 1 channel
    return trunk + clf + sal


def _n_learnable(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _random_net(architecture: str, seed: int = 0) -> R2D2Net:
    """A randomly initialised network in eval mode with random BN statistics."""
    torch.manual_seed(seed)
    net = R2D2Net(architecture)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.25, 2.0)
    return net.eval()


# --------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------


def test_fast_r2d2_has_484387_learnable_parameters():
    net = R2D2Net("fast_r2d2")
    assert _n_learnable(net) == 484_387
    assert _count_by_hand() == 484_387


def test_default_architecture_is_fast_r2d2():
    assert R2D2Net().architecture == "fast_r2d2"


def test_r2d2_parameter_count_matches_layer_table():
    net = R2D2Net("r2d2")
    # Same channel/kernel table as Fast-R2D2: only dilations and the pool differ.
    assert _n_learnable(net) == _count_by_hand() == 484_387


def test_both_architectures_have_the_same_parameter_shapes():
    fast = [tuple(p.shape) for p in R2D2Net("fast_r2d2").parameters()]
    full = [tuple(p.shape) for p in R2D2Net("r2d2").parameters()]
    assert fast == full
    assert len(fast) == 2 * 9 + 4  # nine convs and two heads, each weight + bias


@pytest.mark.parametrize(
    "architecture, conv_idx, bn_idx",
    [("fast_r2d2", FAST_CONV_IDX, FAST_BN_IDX), ("r2d2", R2D2_CONV_IDX, R2D2_BN_IDX)],
)
def test_state_dict_keys_follow_original_checkpoint_indices(architecture, conv_idx, bn_idx):
    keys = set(R2D2Net(architecture).state_dict())
    expected = set()
    for i in conv_idx:
        expected |= {f"ops.{i}.weight", f"ops.{i}.bias"}
    for i in bn_idx:
        expected |= {f"ops.{i}.running_mean", f"ops.{i}.running_var",
                     f"ops.{i}.num_batches_tracked"}
    expected |= {"clf.weight", "clf.bias", "sal.weight", "sal.bias"}
    assert keys == expected


@pytest.mark.parametrize(
    "architecture, dilations", [("fast_r2d2", FAST_DILATIONS), ("r2d2", R2D2_DILATIONS)]
)
def test_conv_kernels_dilations_and_padding(architecture, dilations):
    net = R2D2Net(architecture)
    convs = [op for op in net.ops if isinstance(op, nn.Conv2d)]
    assert len(convs) == 9
    for conv, (cin, cout, k), d in zip(convs, TRUNK_CONVS, dilations):
        assert (conv.in_channels, conv.out_channels) == (cin, cout)
        assert conv.kernel_size == (k, k)
        assert conv.dilation == (d, d)
        assert conv.padding == (((k - 1) * d) // 2,) * 2
        assert conv.bias is not None


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_batchnorm_is_not_affine(architecture):
    bns = [op for op in R2D2Net(architecture).ops if isinstance(op, nn.BatchNorm2d)]
    assert len(bns) == 8
    assert all(not bn.affine and bn.weight is None and bn.bias is None for bn in bns)


def test_fast_r2d2_has_one_pool_and_one_upsample():
    ops = list(R2D2Net("fast_r2d2").ops)
    assert [i for i, op in enumerate(ops) if isinstance(op, nn.MaxPool2d)] == [9]
    ups = [op for op in ops if isinstance(op, nn.Upsample)]
    assert len(ups) == 1 and ops[-1] is ups[0]
    assert ups[0].mode == "bilinear" and not ups[0].align_corners


def test_r2d2_has_no_pool_nor_upsample():
    ops = R2D2Net("r2d2").ops
    assert not any(isinstance(op, (nn.MaxPool2d, nn.Upsample)) for op in ops)


def test_unknown_architecture_raises():
    with pytest.raises(ValueError, match="unknown architecture"):
        R2D2Net("quad_l2net")


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


def _check_outputs(out: dict, batch: int, height: int, width: int) -> None:
    assert set(out) == {"descriptors", "reliability", "repeatability"}
    assert out["descriptors"].shape == (batch, 128, height, width)
    assert out["reliability"].shape == (batch, 1, height, width)
    assert out["repeatability"].shape == (batch, 1, height, width)
    for value in out.values():
        assert torch.isfinite(value).all()
    norms = out["descriptors"].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-5, rtol=0)
    for name in ("reliability", "repeatability"):
        assert out[name].min() >= 0 and out[name].max() <= 1, name


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(64, 64), (63, 65), (64, 63), (1, 1), (1, 5)])
def test_outputs_have_input_size_and_valid_ranges(architecture, shape):
    net = _random_net(architecture)
    torch.manual_seed(1)
    x = torch.randn(2, 3, *shape)
    with torch.no_grad():
        out = net(x)
    _check_outputs(out, 2, *shape)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_does_not_modify_input(architecture):
    net = _random_net(architecture)
    x = torch.randn(1, 3, 33, 31)
    before = x.clone()
    with torch.no_grad():
        net(x)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_odd_sizes_are_padded_to_even_and_cropped_back():
    """DESIGN: odd sizes are padded to even and the outputs cropped back."""
    net = _random_net("fast_r2d2")
    torch.manual_seed(2)
    x = torch.randn(1, 3, 31, 33)
    padded = F.pad(x, (0, 1, 0, 1), mode="replicate")
    with torch.no_grad():
        odd = net(x)
        even = net(padded)
    for name, value in odd.items():
        torch.testing.assert_close(value, even[name][..., :31, :33], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_batch_items_are_independent(architecture):
    net = _random_net(architecture)
    torch.manual_seed(3)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        both = net(x)
        first = net(x[:1])
    for name, value in first.items():
        torch.testing.assert_close(both[name][:1], value, rtol=1e-4, atol=1e-5)


def test_heads_follow_the_design_formulas():
    """Reliability = softmax channel 1, repeatability = s/(1+s) of softplus,
    both read from the squared features; descriptors = L2-normalised features."""
    net = _random_net("fast_r2d2")
    torch.manual_seed(4)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        features = net.trunk(x)
        out = net(x)
        squared = features**2
        logits = F.conv2d(squared, net.clf.weight, net.clf.bias)
        reliability = torch.softmax(logits, dim=1)[:, 1:2]
        s = F.softplus(F.conv2d(squared, net.sal.weight, net.sal.bias))
        descriptors = features / features.norm(dim=1, keepdim=True)
    torch.testing.assert_close(out["reliability"], reliability)
    torch.testing.assert_close(out["repeatability"], s / (1 + s))
    torch.testing.assert_close(out["descriptors"], descriptors, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# Receptive radius
# --------------------------------------------------------------------------


def _empirical_radius(net: R2D2Net, size: int, pixel: tuple[int, int]) -> int:
    """Largest distance (Chebyshev, per axis) from `pixel` to an input pixel
    on which its outputs depend, measured by autograd."""
    torch.manual_seed(5)
    x = torch.randn(1, 3, size, size, requires_grad=True)
    out = net(x)
    py, px = pixel
    value = (
        out["descriptors"][0, :, py, px].sum()
        + out["reliability"][0, 0, py, px]
        + out["repeatability"][0, 0, py, px]
    )
    (grad,) = torch.autograd.grad(value, x)
    support = (grad[0].abs().sum(dim=0) > 0).nonzero()
    assert len(support) > 0
    dy = (support[:, 0] - py).abs().max().item()
    dx = (support[:, 1] - px).abs().max().item()
    return int(max(dy, dx))


@pytest.mark.parametrize(
    "architecture, pixels",
    # Fast-R2D2 reaches differently from even and odd positions (pool and
    # upsampling); full R2D2 is translation-equivariant, one pixel suffices.
    [("fast_r2d2", [(32, 32), (31, 33)]), ("r2d2", [(32, 31)])],
)
def test_receptive_radius_bounds_the_true_dependence(architecture, pixels):
    net = _random_net(architecture)
    radius = net.receptive_radius
    assert isinstance(radius, int) and radius > 0
    size = 64
    # Far enough from the borders that a dependence one pixel beyond the
    # radius would still be inside the image.
    assert all(radius + 1 <= min(c, size - 1 - c) for p in pixels for c in p)
    measured = max(_empirical_radius(net, size, p) for p in pixels)
    assert measured <= radius
    # And the bound is not loose: at most one pixel more than measured.
    assert measured >= radius - 1


def test_fast_r2d2_receptive_radius_is_larger_than_its_pool_free_trunk():
    # Sanity on the formula: the pool doubles the reach of the later layers.
    assert R2D2Net("fast_r2d2").receptive_radius >= 27
    assert R2D2Net("r2d2").receptive_radius >= 25


# --------------------------------------------------------------------------
# Batch-norm folding
# --------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(64, 64), (31, 33)])
def test_fold_batchnorm_preserves_outputs(architecture, shape):
    net = _random_net(architecture, seed=7)
    # The BN statistics are far from identity, so skipping or misapplying
    # them would show.
    bn = next(op for op in net.ops if isinstance(op, nn.BatchNorm2d))
    assert bn.running_var.min() < 0.9 and bn.running_var.max() > 1.1
    folded = fold_batchnorm(net)
    torch.manual_seed(8)
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        expected = net(x)
        got = folded(x)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_fold_batchnorm_removes_bn_and_leaves_original_untouched(architecture):
    net = _random_net(architecture, seed=9)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    assert folded is not net
    assert not any(isinstance(op, nn.BatchNorm2d) for op in folded.modules())
    assert sum(isinstance(op, nn.Conv2d) for op in folded.ops) == 9
    assert not folded.training
    # The original network keeps its batch norms and its weights.
    assert sum(isinstance(op, nn.BatchNorm2d) for op in net.ops) == 8
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_fold_batchnorm_differs_from_ignoring_bn():
    """Guard: with these statistics a net whose BNs are dropped (not folded)
    gives different outputs, so the equality test above can fail."""
    net = _random_net("fast_r2d2", seed=7)
    stripped = R2D2Net("fast_r2d2")
    stripped.load_state_dict(net.state_dict())
    stripped.ops = nn.ModuleList(op for op in stripped.ops if not isinstance(op, nn.BatchNorm2d))
    stripped.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a = net(x)["reliability"]
        b = stripped(x)["reliability"]
    assert (a - b).abs().max() > 1e-3


def test_fold_batchnorm_keeps_dtype():
    net = _random_net("fast_r2d2", seed=10).double()
    folded = fold_batchnorm(net)
    assert all(p.dtype == torch.float64 for p in folded.parameters())
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = net(x)
        got = folded(x)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-10, atol=1e-10, msg=name)
