"""Running the network with torch, in bounded memory: layout, heads and tiles.

The detector never calls the network directly; it asks a runner for the maps
of one tile (:mod:`sarfeat._runtime` picks torch's :class:`DenseRunner` or
ONNX Runtime's :class:`sarfeat._onnx.OnnxRunner`). The torch runner

- folds batch norm into the convolutions and uses the channels-last layout;
- runs the trunk in fp32 or under bf16 autocast;
- computes the two score heads in fp32 at low resolution
  (:func:`upsampled_head_logits`): the 128-channel map is never upsampled,
  and descriptors are sampled at the keypoints only.

:func:`tile_grid` cuts a level into tiles whose halo covers the network's
receptive field, so that the maps of a tile's core equal those of the whole
image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import _fused_heads as fused_heads
from .network import R2D2Net, fold_batchnorm, imagenet_normalize

#: Every precision a runner knows; which runtime runs which is decided in :mod:`sarfeat._runtime`.
PRECISIONS = ("auto", "fp32", "bf16", "int8")


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


def quadratic_upsampling_kernels() -> dict[str, np.ndarray]:
    """Kernels that give ``a . up(f)**2`` from products of neighbouring low-resolution features.

    Fast-R2D2's heads project the squared, x2 bilinearly upsampled features.
    An upsampled pixel mixes the four low-resolution pixels of its 2x2 block
    (replicate-padded by one) with weights ``wr[i] * wc[j]`` (0.75 and 0.25),
    so its squared projection is a quadratic form in those four pixels: a
    weighted sum of five per-block products (the squares and the horizontal,
    vertical, diagonal and anti-diagonal pairs), each projected on ``a``
    first. Each product map becomes the four sub-pixels (parities) of a block
    through one small convolution; these are its kernels, shape
    (4, 1, kh, kw), parity ``2 * by + bx`` (pixel-shuffle order) where the
    block at padded row ``i`` gives output rows ``2i - 1`` (by=0) and ``2i``.

    Returns
    -------
    dict
        ``'square'`` (2x2), ``'horizontal'`` (2x1), ``'vertical'`` (1x2),
        ``'diagonal'`` and ``'antidiagonal'`` (1x1) kernels, float32.
    """
    kernels = {
        "square": np.zeros((4, 1, 2, 2)), "horizontal": np.zeros((4, 1, 2, 1)),
        "vertical": np.zeros((4, 1, 1, 2)), "diagonal": np.zeros((4, 1, 1, 1)),
        "antidiagonal": np.zeros((4, 1, 1, 1)),
    }
    weights = (np.array([0.75, 0.25]), np.array([0.25, 0.75]))
    for by in range(2):
        for bx in range(2):
            alpha = np.outer(weights[by], weights[bx])  # alpha[i, j]: pixel (i, j) of the block
            parity = 2 * by + bx
            kernels["square"][parity, 0] = alpha ** 2
            kernels["horizontal"][parity, 0, :, 0] = 2 * alpha[:, 0] * alpha[:, 1]
            kernels["vertical"][parity, 0, 0, :] = 2 * alpha[0, :] * alpha[1, :]
            kernels["diagonal"][parity] = 2 * alpha[0, 0] * alpha[1, 1]
            kernels["antidiagonal"][parity] = 2 * alpha[0, 1] * alpha[1, 0]
    return {name: kernel.astype(np.float32) for name, kernel in kernels.items()}


#: (rows, cols) slices of the two factors of each neighbour product in a padded strip
_PRODUCT_FACTORS = {
    "square": ((slice(None), slice(None)), (slice(None), slice(None))),
    "horizontal": ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    "vertical": ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    "diagonal": ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
    "antidiagonal": ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
}


def _padded_strip(table: torch.Tensor, start: int, stop: int, buffer: torch.Tensor) -> torch.Tensor:
    """Padded rows ``start .. stop`` of (h, w, C) ``table``, replicate-padded by one, in ``buffer``.

    Padded row r is table row r - 1, clamped to the table; columns likewise.
    """
    height = table.shape[0]
    strip = buffer[:stop - start + 1]
    first, last = max(start - 1, 0), min(stop, height)  # table rows present in the strip
    offset = first - (start - 1)  # 1 for the top strip (its row 0 replicates table row 0)
    strip[offset:offset + last - first, 1:-1] = table[first:last]
    if offset:
        strip[0] = strip[1]
    if offset + last - first < len(strip):
        strip[-1] = strip[-2]
    strip[:, 0], strip[:, -1] = strip[:, 1], strip[:, -2]
    return strip


def upsampled_head_logits(
    features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
    rows_per_strip: int | None = None,
) -> torch.Tensor:
    """``conv1x1(up(features) ** 2)`` without building ``up(features)``.

    On the CPU with numba installed this is :func:`sarfeat._fused_heads.head_logits`
    (one compiled pass). Otherwise the features are read as (rows, cols, C)
    strips of a few MB (channels-last features are read in place), and each
    neighbour product of a strip is projected on the heads at once.

    Parameters
    ----------
    features : Tensor, shape (1, C, h, w), float32
        Low-resolution trunk features, any memory format.
    weight : Tensor, shape (K, C)
        1x1 projection of the heads.
    bias : Tensor, shape (K,)
    stride : {1, 2}
        2: features are upsampled x2 (bilinear, half-pixel) before squaring.
    rows_per_strip : int, optional
        Low-resolution rows per strip (bounds the temporary products); by
        default about 4 MB of features.

    Returns
    -------
    Tensor, shape (1, K, stride * h, stride * w)
    """
    if stride == 1:
        return F.conv2d(features.square(), weight[:, :, None, None], bias)
    table = features[0].float().permute(1, 2, 0)  # (h, w, C), a view when channels last
    if table.device.type == "cpu" and weight.shape[0] == 2 and fused_heads.available():
        logits = fused_heads.head_logits(table.numpy(), weight.float().numpy(), bias.float().numpy())
        return torch.from_numpy(logits)[None]
    height, width, channels = table.shape
    # strips of about 4 MB: fewer, larger torch calls (each one costs a thread barrier)
    rows_per_strip = rows_per_strip or max(2, (1 << 22) // (4 * channels * (width + 2)))
    device = table.device
    projection = weight.to(device, torch.float32).contiguous()  # (K, C)
    taps = {name: torch.from_numpy(kernel[:, 0]).to(device)[..., None, None, None]
            for name, kernel in quadratic_upsampling_kernels().items()}  # (4, kh, kw, 1, 1, 1)
    product = torch.empty((rows_per_strip + 1) * (width + 2) * channels, device=device)
    buffer = torch.empty(rows_per_strip + 1, width + 2, channels, device=device)
    # block row i mixes padded rows i and i + 1 (parity 2 * by + bx is output pixel (2i-1+by, ...))
    parities = torch.empty(4, weight.shape[0], height + 1, width + 1, device=device)
    parities[:] = bias.to(parities)[:, None, None]
    for start in range(0, height + 1, rows_per_strip):
        stop = min(start + rows_per_strip, height + 1)
        strip = _padded_strip(table, start, stop, buffer)  # (stop - start + 1, width + 2, C)
        block = parities[:, :, start:stop]
        for name, ((rows_a, cols_a), (rows_b, cols_b)) in _PRODUCT_FACTORS.items():
            first, second = strip[rows_a, cols_a], strip[rows_b, cols_b]
            out = product[:first.numel()].view(first.shape)
            torch.mul(first, second, out=out)
            projected = torch.mm(projection, out.view(-1, channels).T).view(-1, *first.shape[:2])
            kernel = taps[name]
            for ky in range(kernel.shape[1]):
                for kx in range(kernel.shape[2]):
                    shifted = projected[:, ky:ky + stop - start, kx:kx + width + 1]
                    block.addcmul_(kernel[:, ky, kx], shifted)
    heads = weight.shape[0]
    full = parities.view(2, 2, heads, height + 1, width + 1).permute(2, 3, 0, 4, 1).reshape(
        1, heads, 2 * height + 2, 2 * width + 2)
    return full[..., 1:-1, 1:-1]


def head_projection(net: R2D2Net) -> tuple[torch.Tensor, torch.Tensor]:
    """The two heads as one fp32 1x1 projection: weight (2, C) and bias (2,).

    Row 0 is the reliability logit difference (class 1 minus class 0: a
    softmax over two channels is the sigmoid of that difference), row 1 the
    saliency logit.
    """
    with torch.no_grad():
        clf_w, clf_b = net.clf.weight[:, :, 0, 0], net.clf.bias
        weight = torch.cat([clf_w[1:2] - clf_w[0:1], net.sal.weight[:, :, 0, 0]])
        bias = torch.cat([clf_b[1:2] - clf_b[0:1], net.sal.bias])
    return weight.float(), bias.float()


def head_activations(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reliability, repeatability) maps from the (2, H, W) head logits.

    Reliability is the softmax of two logits, i.e. the sigmoid of their
    difference (logit 0); repeatability is ``s / (1 + s)`` with ``s`` the
    softplus of the saliency logit (logit 1).
    """
    saliency = F.softplus(logits[1])
    return torch.sigmoid(logits[0]), saliency / (1 + saliency)


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


class DenseMaps:
    """What the network says about one tile.

    Parameters
    ----------
    features : Tensor, shape (C, h, w)
        Raw descriptor features at 1/``stride`` of the tile resolution (before
        Fast-R2D2's final upsampling), bf16 or fp32.
    stride : int
        Tile pixels per feature pixel (2 for Fast-R2D2, 1 for R2D2).
    reliability, repeatability : Tensor, shape (H, W), float32, optional
        The maps; computed from ``logits`` when first read if not given.
    logits : Tensor, shape (2, H, W), float32, optional
        The heads' logits (reliability, saliency), from the compiled heads.
        Setting a map drops them (they no longer describe the maps).
    """

    def __init__(self, features: torch.Tensor, stride: int,
                 reliability: torch.Tensor | None = None,
                 repeatability: torch.Tensor | None = None,
                 logits: torch.Tensor | None = None) -> None:
        if (reliability is None or repeatability is None) and logits is None:
            raise ValueError("DenseMaps needs both maps or the logits")
        self.features = features
        self.stride = stride
        self.logits = logits
        self._reliability = reliability
        self._repeatability = repeatability

    def _materialize(self) -> None:
        """Compute both maps from the logits, unless both are there."""
        if self._reliability is None or self._repeatability is None:
            maps = torch.from_numpy(fused_heads.head_maps(self.logits.numpy()))
            self._reliability, self._repeatability = maps[0], maps[1]

    @property
    def reliability(self) -> torch.Tensor:
        self._materialize()
        return self._reliability

    @reliability.setter
    def reliability(self, value: torch.Tensor) -> None:
        self._materialize()  # the other map, before the logits go
        self._reliability, self.logits = value, None

    @property
    def repeatability(self) -> torch.Tensor:
        self._materialize()
        return self._repeatability

    @repeatability.setter
    def repeatability(self, value: torch.Tensor) -> None:
        self._materialize()
        self._repeatability, self.logits = value, None

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
        if self.features.is_contiguous():  # (C, h, w): gather from each channel's plane
            planes = self.features.reshape(channels, height * width)

            def at(r, c):
                return planes[:, r * width + c].T.float()
        else:  # channels_last: (h, w, C) rows are contiguous
            table = self.features.permute(1, 2, 0)

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

    runtime = "torch"

    def __init__(self, net: R2D2Net, device: torch.device, precision: str) -> None:
        self.device = device
        self.precision = precision
        self.net = fold_batchnorm(net).to(device).to(memory_format=torch.channels_last)
        # the final x2 upsampling is folded into the heads (upsampled_head_logits)
        self.body = list(self.net.ops)[:-1] if net.has_pool else list(self.net.ops)
        self.stride = 2 if net.has_pool else 1
        self.halo = net.receptive_radius + net.receptive_radius % 2
        self.head_weight, self.head_bias = head_projection(self.net)

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
        return maps_from_features(x[0], self.stride, self.head_weight, self.head_bias,
                                  height, width)


def maps_from_features(
    features: torch.Tensor, stride: int, weight: torch.Tensor, bias: torch.Tensor,
    height: int, width: int,
) -> DenseMaps:
    """:class:`DenseMaps` of a (height, width) tile from its (C, h, w) trunk features.

    The heads (:func:`head_projection`) are evaluated in fp32 at full
    resolution without the upsampled feature map (:func:`upsampled_head_logits`).
    """
    if (stride == 2 and features.device.type == "cpu" and weight.shape[0] == 2
            and fused_heads.available()):
        # the logits only: the maps follow when read, and the detector's peaks need them
        # at a few pixels (sarfeat._fused_peaks.peaks_from_logits)
        table = features.float().permute(1, 2, 0)  # (h, w, C), a view when channels last
        logits = torch.from_numpy(fused_heads.cropped_head_logits(
            table.numpy(), weight.float().numpy(), bias.float().numpy(), height, width))
        return DenseMaps(features, stride, logits=logits)
    logits = upsampled_head_logits(features[None], weight, bias, stride)
    reliability, repeatability = head_activations(logits[0, :, :height, :width])
    return DenseMaps(features, stride, reliability, repeatability)
