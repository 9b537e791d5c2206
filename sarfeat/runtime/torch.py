"""The network on torch: fp32, or bf16 autocast; the CPU when asked for, or a GPU.

torch is optional (``pip install 'sarfeat[train]'`` or ``sarfeat[gpu]``): the
CPU default is ONNX Runtime (:mod:`sarfeat.runtime.onnx`). Importing this
module imports torch.

The runner folds batch norm into the convolutions, uses the channels-last
layout, runs the trunk in fp32 or under bf16 autocast, and hands the
low-resolution features to :func:`sarfeat.runtime.maps.maps_from_features`
(heads in fp32, in numpy).

bf16 is never run on thin tiles: oneDNN's bf16 dilated convolutions crash
(a segmentation fault) on feature maps of a few rows, seen on tiles from
1 x 256 to 64 x 2048 pixels. A tile whose shorter side is under
:data:`BF16_MIN_SIDE` pixels runs in fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..architecture import NetworkWeights
from ..network import fold_batchnorm, imagenet_normalize, network_from_weights
from .maps import DenseMaps, maps_from_features

__all__ = ["BF16_MIN_SIDE", "DenseRunner", "native_bf16", "resolve_device"]

#: Tiles with a shorter side below this many pixels run in fp32 under precision 'bf16'.
BF16_MIN_SIDE = 128


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``'auto'``/None into cuda when available, else cpu."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but torch sees no CUDA GPU; "
                         "use device='cpu'")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 convolutions natively (so bf16 is faster)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


class DenseRunner:
    """Evaluates a network on gray tiles with torch.

    Parameters
    ----------
    weights : NetworkWeights
        Trained network values.
    device : str or torch.device
        Where to run.
    precision : {'fp32', 'bf16'}
        Arithmetic of the trunk; the heads are always fp32.
    """

    runtime = "torch"

    def __init__(self, weights: NetworkWeights, device, precision: str) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"torch runs precision 'fp32' or 'bf16', not {precision!r}")
        self.device = torch.device(device)
        self.precision = precision
        net = network_from_weights(weights)
        self.net = fold_batchnorm(net).to(self.device).to(memory_format=torch.channels_last)
        # the final x2 upsampling is folded into the heads (sarfeat.runtime.maps)
        self.body = list(self.net.ops)[:-1] if net.has_pool else list(self.net.ops)
        self.stride = 2 if net.has_pool else 1
        self.halo = net.receptive_radius + net.receptive_radius % 2
        self.head_weight, self.head_bias = weights.head_projection()

    def _autocast(self, height: int, width: int):
        enabled = self.precision == "bf16" and min(height, width) >= BF16_MIN_SIDE
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    @torch.inference_mode()
    def run(self, gray) -> DenseMaps:
        """Maps of one (H, W) float32 gray tile (ndarray or tensor) with values in [0, 1]."""
        gray = torch.as_tensor(gray)
        height, width = gray.shape
        x = imagenet_normalize(gray.to(self.device, torch.float32).view(1, 1, height, width))
        x = x.contiguous(memory_format=torch.channels_last)
        pad_bottom, pad_right = height % 2, width % 2
        if self.stride > 1 and (pad_bottom or pad_right):
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
        with self._autocast(height, width):
            for op in self.body:
                x = op(x)
        features = x[0].float().permute(1, 2, 0).contiguous().cpu().numpy()  # (h, w, C)
        return maps_from_features(features, self.stride, self.head_weight, self.head_bias,
                                  height, width)
