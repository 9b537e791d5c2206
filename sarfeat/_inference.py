"""Running the network fast and in bounded memory: precision, layout and tiles.

The detector never calls the network directly; it asks a :class:`DenseRunner`
for the maps of one tile. The runner

- folds batch norm into the convolutions and uses the channels-last layout;
- runs the trunk under bf16 autocast where the hardware does bf16 natively
  (CPUs with AVX-512 BF16 or AMX, CUDA GPUs with bf16), fp32 elsewhere;
- computes the two score heads in fp32, in row chunks, and never builds the
  dense 128-channel descriptor map in fp32: descriptors are sampled at the
  keypoints only.

:func:`tile_grid` cuts a level into tiles whose halo covers the network's
receptive field, so that the maps of a tile's core equal those of the whole
image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .network import R2D2Net, fold_batchnorm, imagenet_normalize

PRECISIONS = ("auto", "fp32", "bf16")
_STRIP_VALUES = 1 << 20  # fp32 values of one strip of upsampled features (4 MB)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``'auto'``/None into cuda when available, else cpu."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch sees no CUDA GPU; use device='cpu'")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 convolutions natively (so bf16 is faster)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn ``'auto'`` into ``'bf16'`` where it is native, else ``'fp32'``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


@dataclass(frozen=True)
class Tile:
    """A window of a level: ``outer`` is what the network sees, ``core`` what it keeps.

    Both are (row0, row1, col0, col1) in level pixels, half-open.
    """

    outer: tuple[int, int, int, int]
    core: tuple[int, int, int, int]


def _axis_windows(length: int, core: int, halo: int) -> list[tuple[int, int, int, int]]:
    if length <= core + 2 * halo:
        return [(0, length, 0, length)]
    windows = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        outer0 = max(0, start - halo)
        outer1 = min(length, stop + halo)
        # keep every window the same size (fewer shapes) by sliding it inside the level
        size = core + 2 * halo
        if outer1 - outer0 < size:
            outer0 = max(0, min(outer0, length - size))
            outer1 = min(length, outer0 + size)
        outer0 -= outer0 % 2  # 2x2 pooling must see the same pixel pairs as the whole image
        windows.append((outer0, outer1, start, stop))
    return windows


def tile_grid(height: int, width: int, tile_size: int | None, halo: int) -> list[Tile]:
    """Tiles covering a (height, width) level; one tile when ``tile_size`` is None."""
    if tile_size is None:
        return [Tile((0, height, 0, width), (0, height, 0, width))]
    rows = _axis_windows(height, tile_size, halo)
    cols = _axis_windows(width, tile_size, halo)
    return [
        Tile((r0, r1, c0, c1), (cr0, cr1, cc0, cc1))
        for r0, r1, cr0, cr1 in rows
        for c0, c1, cc0, cc1 in cols
    ]


@dataclass
class DenseMaps:
    """What the network says about one tile.

    Attributes
    ----------
    features : Tensor, shape (C, h, w)
        Raw descriptor features at 1/``stride`` of the tile resolution (before
        Fast-R2D2's final upsampling), bf16 or fp32.
    stride : int
        Tile pixels per feature pixel (2 for Fast-R2D2, 1 for R2D2).
    reliability, repeatability : Tensor, shape (H, W), float32
    """

    features: torch.Tensor
    stride: int
    reliability: torch.Tensor
    repeatability: torch.Tensor

    def descriptors_at(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """L2-normalised (N, C) fp32 descriptors at float tile positions.

        Sampling is bilinear in the feature grid, the same interpolation the
        network's own upsampling uses, so at integer pixels the result equals
        the upsampled map.
        """
        channels, height, width = self.features.shape
        if self.stride > 1:
            rows = (rows + 0.5) / self.stride - 0.5
            cols = (cols + 0.5) / self.stride - 0.5
        rows = rows.to(torch.float32).clamp(0, height - 1)
        cols = cols.to(torch.float32).clamp(0, width - 1)
        row0 = rows.floor().long()
        col0 = cols.floor().long()
        row1 = (row0 + 1).clamp(max=height - 1)
        col1 = (col0 + 1).clamp(max=width - 1)
        wr = (rows - row0).unsqueeze(1)
        wc = (cols - col0).unsqueeze(1)
        table = self.features.permute(1, 2, 0)  # (h, w, C), contiguous for channels_last

        def at(r, c):
            return table[r, c].float()

        sampled = (at(row0, col0) * (1 - wr) + at(row1, col0) * wr) * (1 - wc) + (
            at(row0, col1) * (1 - wr) + at(row1, col1) * wr
        ) * wc
        return F.normalize(sampled, p=2, dim=1)


class DenseRunner:
    """Evaluates an :class:`~sarfeat.network.R2D2Net` on gray images.

    Parameters
    ----------
    net : R2D2Net
        Trained network (left untouched; an inference copy is made).
    device : torch.device
        Where to run.
    precision : {'fp32', 'bf16'}
        Arithmetic of the trunk; the heads are always fp32.
    """

    def __init__(self, net: R2D2Net, device: torch.device, precision: str) -> None:
        self.device = device
        self.precision = precision
        self.net = fold_batchnorm(net).to(device).to(memory_format=torch.channels_last)
        # the final x2 upsampling is done strip by strip in _head_logits
        self.body = list(self.net.ops)[:-1] if net.has_pool else list(self.net.ops)
        self.stride = 2 if net.has_pool else 1
        self.halo = net.receptive_radius + net.receptive_radius % 2
        with torch.no_grad():
            clf_w = self.net.clf.weight
            clf_b = self.net.clf.bias
            # softmax over two channels, channel 1 == sigmoid of the logit difference
            self.head_weight = torch.cat([clf_w[1:2] - clf_w[0:1], self.net.sal.weight]).float()
            self.head_bias = torch.cat([clf_b[1:2] - clf_b[0:1], self.net.sal.bias]).float()

    def _autocast(self):
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    @torch.inference_mode()
    def run(self, gray: torch.Tensor) -> DenseMaps:
        """Maps of one gray tile with values in [0, 1].

        Parameters
        ----------
        gray : Tensor, shape (H, W), float32

        Returns
        -------
        DenseMaps
        """
        height, width = gray.shape
        x = imagenet_normalize(gray.to(self.device, torch.float32).view(1, 1, height, width))
        x = x.contiguous(memory_format=torch.channels_last)
        pad_bottom, pad_right = height % 2, width % 2
        if self.stride > 1 and (pad_bottom or pad_right):
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode="replicate")
        with self._autocast():
            for op in self.body:
                x = op(x)
        logits = self._head_logits(x, height, width)
        reliability = torch.sigmoid(logits[0])
        saliency = F.softplus(logits[1])
        return DenseMaps(x[0], self.stride, reliability, saliency / (1 + saliency))

    def _head_logits(self, features: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The two head logits at full resolution, upsampling a strip of rows at a time.

        The 128-channel map is never materialised at full resolution: each strip
        is upsampled from the rows it needs (plus one on each side, so that the
        bilinear weights equal those of the whole map), squared and projected.
        """
        stride = self.stride
        padded_width = features.shape[-1] * stride
        rows_per_strip = max(2, 2 * (_STRIP_VALUES // (2 * padded_width * features.shape[1])))
        logits = torch.empty((2, height, width), device=self.device)
        low_height = features.shape[-2]
        for row in range(0, height, rows_per_strip):
            stop = min(row + rows_per_strip, height)
            if stride == 1:
                strip, offset = features[..., row:stop, :].float(), 0
            else:
                first = max(row // 2 - 1, 0)
                last = min(stop // 2 + 1, low_height)
                strip = F.interpolate(
                    features[..., first:last, :].float(), scale_factor=2, mode="bilinear",
                    align_corners=False,
                )
                offset = row - 2 * first
            strip = strip[..., offset:offset + stop - row, :width].square()
            logits[:, row:stop] = F.conv2d(strip, self.head_weight, self.head_bias)[0]
        return logits
