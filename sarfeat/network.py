"""The R2D2 family of networks (Fast-R2D2 and full R2D2) in PyTorch.

Both networks keep every map at input resolution. Their layers are listed in
one table each (:data:`FAST_R2D2_LAYERS`, :data:`R2D2_LAYERS`) so that the
architecture reads top to bottom; the layer indices in ``ops`` are those of
the original R2D2 checkpoints, which lets them load without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ARCHITECTURES", "ConvSpec", "R2D2Net", "FAST_R2D2_LAYERS", "FAST_R2D2_LITE_LAYERS",
    "KEYPOINT_MAPS_LAYERS",
    "R2D2_LAYERS", "fold_batchnorm", "imagenet_normalize", "multiply_adds_per_pixel",
]

#: The released checkpoints expect the gray image replicated to 3 channels and
#: normalised with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(gray: torch.Tensor) -> torch.Tensor:
    """Turn a (B, 1, H, W) gray batch in [0, 1] into the network's (B, 3, H, W) input."""
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected a (B, 1, H, W) gray batch, got shape {tuple(gray.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, device=gray.device, dtype=gray.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=gray.device, dtype=gray.dtype).view(1, 3, 1, 1)
    return (gray - mean) / std


@dataclass(frozen=True)
class ConvSpec:
    """One convolution of the trunk.

    Attributes
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel : int
        Square kernel size.
    dilation : int
        Dilation; padding is ``((kernel - 1) * dilation) // 2``.
    batchnorm, relu : bool
        Whether a (non-affine) batch norm and a ReLU follow the convolution.
    pool_after : bool
        Whether a 2x2 max pool follows (Fast-R2D2 only).
    stride : int
        1, or 2 for a convolution that halves the resolution itself (instead
        of a pool; with ``kernel`` 4 and padding 1 its output pixel ``i``
        covers input pixels ``2i - 1 .. 2i + 2``, centred where a 2x2 pool's
        would be).
    """

    in_channels: int
    out_channels: int
    kernel: int
    dilation: int
    batchnorm: bool = True
    relu: bool = True
    pool_after: bool = False
    stride: int = 1

    @property
    def halves(self) -> bool:
        """Whether the resolution is halved after this convolution (pool or stride)."""
        return self.pool_after or self.stride == 2


#: Fast-R2D2: a 2x2 max pool after layer 3, a bilinear x2 upsampling at the end.
FAST_R2D2_LAYERS: tuple[ConvSpec, ...] = (
    ConvSpec(3, 32, 3, 1),
    ConvSpec(32, 32, 3, 1),
    ConvSpec(32, 64, 3, 1, pool_after=True),
    ConvSpec(64, 64, 3, 1),
    ConvSpec(64, 128, 3, 1),
    ConvSpec(128, 128, 3, 2),
    ConvSpec(128, 128, 2, 2, relu=False),
    ConvSpec(128, 128, 2, 4, relu=False),
    ConvSpec(128, 128, 2, 8, batchnorm=False, relu=False),
)

#: Fast-R2D2 lite: Fast-R2D2's pattern (pool, dilations, x2 upsampling) with
#: about half the channels and the same 128-D output, for distillation from
#: Fast-R2D2 (:mod:`sarfeat.training.distill`); about 3.5 times cheaper.
FAST_R2D2_LITE_LAYERS: tuple[ConvSpec, ...] = (
    ConvSpec(3, 16, 3, 1),
    ConvSpec(16, 16, 3, 1),
    ConvSpec(16, 32, 3, 1, pool_after=True),
    ConvSpec(32, 32, 3, 1),
    ConvSpec(32, 64, 3, 1),
    ConvSpec(64, 64, 3, 2),
    ConvSpec(64, 64, 2, 2, relu=False),
    ConvSpec(64, 64, 2, 4, relu=False),
    ConvSpec(64, 128, 2, 8, batchnorm=False, relu=False),
)

#: Full R2D2: no pooling, strides turned into growing dilations.
R2D2_LAYERS: tuple[ConvSpec, ...] = (
    ConvSpec(3, 32, 3, 1),
    ConvSpec(32, 32, 3, 1),
    ConvSpec(32, 64, 3, 1),
    ConvSpec(64, 64, 3, 2),
    ConvSpec(64, 128, 3, 2),
    ConvSpec(128, 128, 3, 4),
    ConvSpec(128, 128, 2, 4, relu=False),
    ConvSpec(128, 128, 2, 8, relu=False),
    ConvSpec(128, 128, 2, 16, batchnorm=False, relu=False),
)

#: Keypoint maps only: a trunk that reproduces the quarter-turn averaged
#: reliability and repeatability of a Fast-R2D2 (the rotation-invariant
#: detector's keypoint maps) in one run, for distillation
#: (:mod:`sarfeat.training.distill`, ``target='turned_maps'``). The first
#: convolution halves the resolution itself, so that no layer runs at full
#: resolution; the later ones keep Fast-R2D2's dilations. Its 32-D output is
#: not a descriptor. 21 times fewer multiply-adds than Fast-R2D2.
KEYPOINT_MAPS_LAYERS: tuple[ConvSpec, ...] = (
    ConvSpec(3, 16, 4, 1, stride=2),
    ConvSpec(16, 32, 3, 1),
    ConvSpec(32, 32, 3, 2),
    ConvSpec(32, 32, 2, 2, relu=False),
    ConvSpec(32, 32, 2, 4, relu=False),
    ConvSpec(32, 32, 2, 8, batchnorm=False, relu=False),
)

ARCHITECTURES: dict[str, tuple[ConvSpec, ...]] = {
    "fast_r2d2": FAST_R2D2_LAYERS,
    "fast_r2d2_lite": FAST_R2D2_LITE_LAYERS,
    "keypoint_maps": KEYPOINT_MAPS_LAYERS,
    "r2d2": R2D2_LAYERS,
}


def multiply_adds_per_pixel(architecture: str) -> float:
    """Multiply-adds of the trunk per input pixel (convolutions only, heads excluded).

    Parameters
    ----------
    architecture : str
        A key of :data:`ARCHITECTURES`.

    Returns
    -------
    float
        Layers after a pool count a quarter per input pixel.

    Examples
    --------
    >>> round(multiply_adds_per_pixel("fast_r2d2") / 1000)
    142
    """
    total, area = 0.0, 1.0
    for spec in ARCHITECTURES[architecture]:
        if spec.stride == 2:
            area /= 4
        total += area * spec.in_channels * spec.out_channels * spec.kernel ** 2
        if spec.pool_after:
            area /= 4
    return total


class R2D2Net(nn.Module):
    """R2D2-style fully convolutional network with three dense outputs.

    Parameters
    ----------
    architecture : {'fast_r2d2', 'fast_r2d2_lite', 'keypoint_maps', 'r2d2'}
        Which layer table to build (a key of :data:`ARCHITECTURES`).

    Notes
    -----
    ``forward`` takes an (B, 3, H, W) ImageNet-normalised batch and returns a
    dict with ``descriptors`` (B, 128, H, W, L2-normalised over channels),
    ``reliability`` and ``repeatability`` (B, 1, H, W, in [0, 1]). Fast-R2D2
    needs even H and W; :meth:`forward` pads odd sizes and crops back.
    """

    def __init__(self, architecture: str = "fast_r2d2") -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}"
            )
        self.architecture = architecture
        self.layers = ARCHITECTURES[architecture]
        self.ops = nn.ModuleList()
        for spec in self.layers:
            padding = ((spec.kernel - 1) * spec.dilation) // 2
            self.ops.append(
                nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel,
                          padding=padding, dilation=spec.dilation, stride=spec.stride)
            )
            if spec.batchnorm:
                self.ops.append(nn.BatchNorm2d(spec.out_channels, affine=False))
            if spec.relu:
                self.ops.append(nn.ReLU(inplace=True))
            if spec.pool_after:
                self.ops.append(nn.MaxPool2d(2))
        # True when the trunk works at half resolution (a pool or a strided convolution)
        self.has_pool = any(spec.halves for spec in self.layers)
        if self.has_pool:
            self.ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        self.clf = nn.Conv2d(self.layers[-1].out_channels, 2, kernel_size=1)
        self.sal = nn.Conv2d(self.layers[-1].out_channels, 1, kernel_size=1)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that an output pixel depends on."""
        radius, stride = 0, 1
        for spec in self.layers:
            if spec.stride == 2:  # reads input pixels 2i - 1 .. 2i + 2
                radius += 2
                stride *= 2
                continue
            radius += stride * (((spec.kernel - 1) * spec.dilation) // 2)
            if spec.pool_after:
                radius += stride
                stride *= 2
        if self.has_pool:
            radius += stride  # the final upsampling reads one more low-resolution pixel
        return radius

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Run the convolutional trunk, returning its raw features (128 channels for Fast-R2D2)."""
        for op in self.ops:
            x = op(x)
        return x

    def heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Turn trunk features into descriptors, reliability and repeatability."""
        features = features.to(self.clf.weight.dtype)  # heads stay in full precision
        squared = features ** 2
        reliability = torch.softmax(self.clf(squared), dim=1)[:, 1:2]
        saliency = F.softplus(self.sal(squared))
        return {
            "descriptors": F.normalize(features, p=2, dim=1),
            "reliability": reliability,
            "repeatability": saliency / (1 + saliency),
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Dense outputs of an ImageNet-normalised (B, 3, H, W) batch; see the class Notes."""
        height, width = x.shape[-2:]
        pad_bottom = height % 2 if self.has_pool else 0
        pad_right = width % 2 if self.has_pool else 0
        if pad_bottom or pad_right:
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
        out = self.heads(self.trunk(x))
        if pad_bottom or pad_right:
            out = {k: v[..., :height, :width] for k, v in out.items()}
        return out


def fold_batchnorm(net: R2D2Net) -> nn.Module:
    """Return an inference copy of ``net`` with every batch norm folded into its conv.

    The folded network computes the same function (up to float rounding) with
    fewer passes over memory; it cannot be trained.
    """
    reference = next(net.parameters())
    folded = R2D2Net(net.architecture).to(device=reference.device, dtype=reference.dtype)
    folded.load_state_dict(net.state_dict())
    folded.eval()
    new_ops = []
    ops = list(folded.ops)
    i = 0
    while i < len(ops):
        op = ops[i]
        if isinstance(op, nn.Conv2d) and i + 1 < len(ops) and isinstance(ops[i + 1], nn.BatchNorm2d):
            bn = ops[i + 1]
            inv_std = torch.rsqrt(bn.running_var + bn.eps)
            with torch.no_grad():
                op.weight.mul_(inv_std[:, None, None, None])
                op.bias.copy_((op.bias - bn.running_mean) * inv_std)
            new_ops.append(op)
            i += 2
        else:
            new_ops.append(op)
            i += 1
    folded.ops = nn.ModuleList(new_ops)
    return folded
