"""The R2D2 family of networks (Fast-R2D2 and full R2D2) in PyTorch.

Both networks keep every map at input resolution. Their layers are listed in
one table each (:data:`FAST_R2D2_LAYERS`, :data:`R2D2_LAYERS`) so that the
architecture reads top to bottom; the layer indices in ``ops`` are those of
the original R2D2 checkpoints, which lets them load without renaming.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .architecture import (
    ARCHITECTURES, FAST_R2D2_LAYERS, FAST_R2D2_LITE_LAYERS, IMAGENET_MEAN, IMAGENET_STD,
    KEYPOINT_MAPS_LAYERS, R2D2_LAYERS, ConvSpec, NetworkWeights, multiply_adds_per_pixel,
    receptive_radius,
)

__all__ = [
    "ARCHITECTURES", "ConvSpec", "R2D2Net", "FAST_R2D2_LAYERS", "FAST_R2D2_LITE_LAYERS",
    "KEYPOINT_MAPS_LAYERS",
    "R2D2_LAYERS", "fold_batchnorm", "imagenet_normalize", "multiply_adds_per_pixel",
    "IMAGENET_MEAN", "IMAGENET_STD", "NetworkWeights", "loadable_network",
    "network_from_weights", "weights_of_network",
]

def imagenet_normalize(gray: torch.Tensor) -> torch.Tensor:
    """Turn a (B, 1, H, W) gray batch in [0, 1] into the network's (B, 3, H, W) input.

    The gray channel is replicated to three and normalised with
    :data:`~sarfeat.architecture.IMAGENET_MEAN` and
    :data:`~sarfeat.architecture.IMAGENET_STD`, as the released checkpoints expect.

    Parameters
    ----------
    gray : (B, 1, H, W) torch.Tensor
        The gray batch, in [0, 1].

    Returns
    -------
    (B, 3, H, W) torch.Tensor
        The network's input, on ``gray``'s device and in its dtype.

    Raises
    ------
    ValueError
        For a tensor that is not (B, 1, H, W).
    """
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected a (B, 1, H, W) gray batch, got shape {tuple(gray.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, device=gray.device, dtype=gray.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=gray.device, dtype=gray.dtype).view(1, 3, 1, 1)
    return (gray - mean) / std


class R2D2Net(nn.Module):
    """R2D2-style fully convolutional network with three dense outputs.

    Parameters
    ----------
    architecture : {'fast_r2d2', 'fast_r2d2_lite', 'keypoint_maps', 'r2d2'}
        Which layer table to build (a key of ``ARCHITECTURES``).

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
        return receptive_radius(self.architecture)

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


def loadable_network(architecture: str) -> R2D2Net:
    """An :class:`R2D2Net` to load values into, built without drawing from torch's generator.

    A new network draws its initial values from torch's global random generator,
    which a user's ``torch.manual_seed`` set up for their own work; a network
    built to be overwritten by stored values leaves that generator as it found it.

    Parameters
    ----------
    architecture : str
        A key of :data:`~sarfeat.architecture.ARCHITECTURES`.

    Returns
    -------
    R2D2Net
        A new network in training mode, on the CPU, its values arbitrary.
    """
    with torch.random.fork_rng(devices=[]):
        return R2D2Net(architecture)


def fold_batchnorm(net: R2D2Net) -> nn.Module:
    """Return an inference copy of ``net`` with every batch norm folded into its conv.

    The folded network computes the same function (up to float rounding) with
    fewer passes over memory; it cannot be trained.

    Parameters
    ----------
    net : R2D2Net
        The network, left unchanged.

    Returns
    -------
    torch.nn.Module
        The folded copy, in eval mode, on ``net``'s device and in its dtype.
    """
    reference = next(net.parameters())
    folded = loadable_network(net.architecture).to(device=reference.device, dtype=reference.dtype)
    folded.load_state_dict(net.state_dict())
    folded.eval()
    new_ops = []
    ops = list(folded.ops)
    i = 0
    while i < len(ops):
        op = ops[i]
        if (isinstance(op, nn.Conv2d) and i + 1 < len(ops)
                and isinstance(ops[i + 1], nn.BatchNorm2d)):
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


def weights_of_network(net: R2D2Net) -> NetworkWeights:
    """The values of ``net`` as :class:`~sarfeat.architecture.NetworkWeights` (numpy copies).

    Parameters
    ----------
    net : R2D2Net
        The network; its ``metadata`` (the detection thresholds of a checkpoint,
        say), when it has some, go with its values.

    Returns
    -------
    NetworkWeights
        Its architecture, state dict as numpy arrays on the CPU, and metadata.
    """
    state = {name: value.detach().to("cpu").numpy().copy()
             for name, value in net.state_dict().items()}
    return NetworkWeights(net.architecture, state, dict(getattr(net, "metadata", None) or {}))


def network_from_weights(weights: NetworkWeights) -> R2D2Net:
    """An :class:`R2D2Net` in eval mode holding ``weights``' values and metadata.

    Parameters
    ----------
    weights : NetworkWeights
        The values, as :func:`weights_of_network` or a ``.npz`` file gives them.

    Returns
    -------
    R2D2Net
        The network, on the CPU, with ``weights.metadata`` as its ``metadata``.
    """
    net = loadable_network(weights.architecture)
    net.load_state_dict({name: torch.from_numpy(np.array(value))
                         for name, value in weights.state.items()}, strict=True)
    net.metadata = dict(weights.metadata)
    return net.eval()
