"""The R2D2 family's layer tables and their weights as numpy arrays: no torch needed.

This module is what inference needs to know about a network: its layers
(:data:`ARCHITECTURES`), how far an output pixel sees (:func:`receptive_radius`)
and its trained values (:class:`NetworkWeights`, read from a ``.npz`` file or
taken from a torch :class:`~sarfeat.network.R2D2Net`). The torch module itself
lives in :mod:`sarfeat.network`, which re-exports these names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ARCHITECTURES", "BATCHNORM_EPS", "ConvSpec", "FAST_R2D2_LAYERS", "FAST_R2D2_LITE_LAYERS",
    "IMAGENET_MEAN", "IMAGENET_STD", "KEYPOINT_MAPS_LAYERS", "NetworkWeights", "R2D2_LAYERS",
    "has_pool", "multiply_adds_per_pixel", "op_layout", "receptive_radius",
]

#: The released checkpoints expect the gray image replicated to 3 channels and
#: normalised with ImageNet's statistics: these means (R, G, B)...
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: ...and these standard deviations (R, G, B).
IMAGENET_STD = (0.229, 0.224, 0.225)
#: torch's BatchNorm2d default epsilon, which every sarfeat network uses.
BATCHNORM_EPS = 1e-5


@dataclass(frozen=True)
class ConvSpec:
    """One convolution of the trunk.

    Each field is documented at its declaration.
    """

    in_channels: int
    """int: the convolution's input channels."""
    out_channels: int
    """int: its output channels."""
    kernel: int
    """int: square kernel size."""
    dilation: int
    """int: dilation; padding is ``((kernel - 1) * dilation) // 2``."""
    batchnorm: bool = True
    """bool: whether a (non-affine) batch norm follows the convolution."""
    relu: bool = True
    """bool: whether a ReLU follows the convolution (after the batch norm)."""
    pool_after: bool = False
    """bool: whether a 2x2 max pool follows (Fast-R2D2 only)."""
    stride: int = 1
    """int: 1, or 2 for a convolution that halves the resolution itself (instead of a pool;
    with ``kernel`` 4 and padding 1 its output pixel ``i`` covers input pixels
    ``2i - 1 .. 2i + 2``, centred where a 2x2 pool's would be)."""

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

#: The layer tables by architecture name, the name that a checkpoint records
#: and that :func:`op_layout` and the functions below take.
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
        The multiply-adds per input pixel: a layer after a pool (or a strided
        convolution) counts a quarter of its own per pixel.

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


def op_layout(architecture: str) -> list[tuple[str, ConvSpec | None]]:
    """The trunk's operations in order, as (kind, spec): 'conv', 'bn', 'relu', 'pool', 'up'.

    The position in this list is the index of the operation in
    ``R2D2Net.ops`` (and in its state-dict keys, ``ops.<index>.weight``).

    Parameters
    ----------
    architecture : str
        The network's name, as :data:`ARCHITECTURES` lists them.

    Returns
    -------
    list of (str, ConvSpec or None)
        Each operation's kind and the layer it belongs to (None for the final
        upsampling).

    Raises
    ------
    ValueError
        For an unknown architecture.
    """
    layers = _layers(architecture)
    ops: list[tuple[str, ConvSpec | None]] = []
    for spec in layers:
        ops.append(("conv", spec))
        if spec.batchnorm:
            ops.append(("bn", spec))
        if spec.relu:
            ops.append(("relu", spec))
        if spec.pool_after:
            ops.append(("pool", spec))
    if has_pool(architecture):
        ops.append(("up", None))
    return ops


def _layers(architecture: str) -> tuple[ConvSpec, ...]:
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}"
        )
    return ARCHITECTURES[architecture]


def has_pool(architecture: str) -> bool:
    """Whether the trunk works at half resolution (a pool or a strided convolution).

    Parameters
    ----------
    architecture : str
        Which layer table of :data:`ARCHITECTURES` (ValueError for a name it lacks).

    Returns
    -------
    bool
        True when the outputs are upsampled back to the input's resolution.
    """
    return any(spec.halves for spec in _layers(architecture))


def receptive_radius(architecture: str) -> int:
    """Pixels of context on each side that an output pixel depends on.

    Parameters
    ----------
    architecture : str
        The layer table's name in :data:`ARCHITECTURES` (ValueError for another).

    Returns
    -------
    int
        The radius in input pixels, the final upsampling included.

    Examples
    --------
    >>> receptive_radius("fast_r2d2")
    28
    """
    radius, stride = 0, 1
    for spec in _layers(architecture):
        if spec.stride == 2:  # reads input pixels 2i - 1 .. 2i + 2
            radius += 2
            stride *= 2
            continue
        radius += stride * (((spec.kernel - 1) * spec.dilation) // 2)
        if spec.pool_after:
            radius += stride
            stride *= 2
    if has_pool(architecture):
        radius += stride  # the final upsampling reads one more low-resolution pixel
    return radius


@dataclass
class NetworkWeights:
    """A trained network as numpy arrays: what inference needs, without torch.

    Each field is documented at its declaration.

    Examples
    --------
    >>> from sarfeat.weights import resolve_network_weights
    >>> weights = resolve_network_weights("sarfeat-sar-v1")
    >>> weights.architecture, weights.receptive_radius
    ('fast_r2d2', 28)
    """

    architecture: str
    """str: a key of :data:`ARCHITECTURES`."""
    state: dict[str, np.ndarray]
    """dict of str to ndarray: the values under the key names of ``R2D2Net.state_dict()``."""
    metadata: dict = field(default_factory=dict)
    """dict: what the checkpoint says about itself (recommended thresholds, ...)."""

    def __post_init__(self) -> None:
        _layers(self.architecture)

    @property
    def has_pool(self) -> bool:
        """Whether the trunk works at half resolution."""
        return has_pool(self.architecture)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that an output pixel depends on."""
        return receptive_radius(self.architecture)

    @property
    def out_channels(self) -> int:
        """Channels of the trunk's features."""
        return int(_layers(self.architecture)[-1].out_channels)

    def folded_convolutions(self) -> list[tuple[str, ConvSpec | None, np.ndarray | None,
                                                np.ndarray | None]]:
        """The trunk with batch norms folded: (kind, spec, weight, bias) for 'conv' ops.

        Kinds are those of :func:`op_layout` less 'bn' (folded) and 'up' (the
        heads do the final upsampling); weight and bias are float32 and None
        for the other kinds.
        """
        layout = op_layout(self.architecture)
        out = []
        for index, (kind, spec) in enumerate(layout):
            if kind in ("bn", "up"):
                continue
            if kind != "conv":
                out.append((kind, spec, None, None))
                continue
            weight = self.state[f"ops.{index}.weight"].astype(np.float64)
            bias = self.state[f"ops.{index}.bias"].astype(np.float64)
            if index + 1 < len(layout) and layout[index + 1][0] == "bn":
                mean = self.state[f"ops.{index + 1}.running_mean"].astype(np.float64)
                var = self.state[f"ops.{index + 1}.running_var"].astype(np.float64)
                inv_std = 1.0 / np.sqrt(var + BATCHNORM_EPS)
                weight = weight * inv_std[:, None, None, None]
                bias = (bias - mean) * inv_std
            out.append((kind, spec, weight.astype(np.float32), bias.astype(np.float32)))
        return out

    def head_projection(self) -> tuple[np.ndarray, np.ndarray]:
        """The two heads as one float32 1x1 projection: weight (2, C) and bias (2,).

        Row 0 is the reliability logit difference (class 1 minus class 0), row
        1 the saliency logit.
        """
        clf_w = self.state["clf.weight"][:, :, 0, 0].astype(np.float32)
        clf_b = self.state["clf.bias"].astype(np.float32)
        weight = np.stack([clf_w[1] - clf_w[0], self.state["sal.weight"][0, :, 0, 0]])
        bias = np.array([clf_b[1] - clf_b[0], self.state["sal.bias"][0]])
        return weight.astype(np.float32), bias.astype(np.float32)

    def values_hash(self) -> str:
        """sha256 of the architecture and of every array (names, shapes, float32 values)."""
        digest = hashlib.sha256(self.architecture.encode())
        for name, values in sorted(self.state.items()):
            values = np.ascontiguousarray(values, dtype=np.float32)
            digest.update(f"{name}:{tuple(values.shape)}".encode())
            digest.update(values.tobytes())
        return digest.hexdigest()
