"""A learned descriptor of orientation-normalised SAR patches (experimental, issue 18).

:class:`PatchNet` is a small HardNet-style network: a 16 x 16 patch of the
normalised log-intensity image, sampled on a grid turned by the keypoint's
orientation over a square of ``PATCH_SCALE`` times the keypoint's diameter
(as :class:`~sarfeat.orientation.LevelSteering` samples the default
detector's hand-made 11 x 11 patch), goes through five 3 x 3 convolutions
(two of stride 2) and a linear layer to a 128-D unit vector.
:class:`LearnedPatchDescriptor` describes a detector's keypoints with it,
at the pyramid level of each keypoint's scale. Training:
:mod:`sarfeat.training.patch_descriptor`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .orientation import ORIENTATION_SIGMA, PATCH_SCALE, LevelSteering

__all__ = ["PATCH_PIXELS", "PatchNet", "LearnedPatchDescriptor", "keypoint_patches"]

#: Samples per side of the network's input patch.
PATCH_PIXELS = 16
#: The detector's keypoint diameter at scale 1 (its ``scales`` are 32 / level scale).
_DIAMETER = 32.0


class PatchNet(nn.Module):
    """Small convolutional descriptor of (N, 1, 16, 16) patches -> (N, dim) unit vectors.

    Parameters
    ----------
    width : int
        Channels of the first two convolutions (doubled twice further on).
    dim : int
        Descriptor length.
    """

    def __init__(self, width: int = 16, dim: int = 128) -> None:
        super().__init__()
        w = width
        layers, previous = [], 1
        for channels, stride in ((w, 1), (2 * w, 2), (2 * w, 1), (4 * w, 2), (4 * w, 1)):
            layers += [nn.Conv2d(previous, channels, 3, stride, 1, bias=False),
                       nn.BatchNorm2d(channels, affine=False), nn.ReLU(inplace=True)]
            previous = channels
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(previous * 16, dim)
        self.width, self.dim = width, dim

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        # each patch to zero mean and unit variance: invariant to gain (an offset in dB)
        flat = patches.flatten(1)
        flat = (flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)
        x = self.features(flat.view(-1, 1, PATCH_PIXELS, PATCH_PIXELS))
        return nn.functional.normalize(self.project(x.flatten(1)), dim=1)


def keypoint_patches(gray: np.ndarray, keypoints: np.ndarray, scales: np.ndarray,
                     orientations: np.ndarray) -> np.ndarray:
    """(N, 16, 16) float32 turned patches of a normalised image at keypoints.

    Each keypoint is sampled on the image resized to its pyramid scale
    (``32 / scales``), over a square of ``PATCH_SCALE * 32`` level pixels
    turned by its orientation, as the detector's steering does.
    """
    out = np.zeros((len(keypoints), PATCH_PIXELS * PATCH_PIXELS), np.float32)
    level_scales = _DIAMETER / np.asarray(scales, dtype=np.float64)
    for level in np.unique(np.round(level_scales, 4)):
        chosen = np.flatnonzero(np.isclose(np.round(level_scales, 4), level))
        image = _resized(gray, level)
        steering = LevelSteering(image, ORIENTATION_SIGMA * _DIAMETER, PATCH_SCALE * _DIAMETER,
                                 size=PATCH_PIXELS)
        rows = (keypoints[chosen, 0].astype(np.float64) + 0.5) * level - 0.5
        cols = (keypoints[chosen, 1].astype(np.float64) + 0.5) * level - 0.5
        out[chosen] = steering.describe(rows, cols, np.asarray(orientations)[chosen])
    return out.reshape(-1, PATCH_PIXELS, PATCH_PIXELS)


def _resized(gray: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-4:
        return np.ascontiguousarray(gray, dtype=np.float32)
    import cv2

    height, width = gray.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray.astype(np.float32), size, interpolation=cv2.INTER_AREA)


class LearnedPatchDescriptor:
    """Describe keypoints (with scales and orientations) by a trained :class:`PatchNet`.

    Parameters
    ----------
    net : PatchNet
        Trained network (set to evaluation mode here).
    """

    def __init__(self, net: PatchNet) -> None:
        self.net = net.eval()

    @classmethod
    def load(cls, path) -> LearnedPatchDescriptor:
        """From a file written by :mod:`sarfeat.training.patch_descriptor` (weights_only)."""
        content = torch.load(path, map_location="cpu", weights_only=True)
        net = PatchNet(**content["config"])
        net.load_state_dict(content["state_dict"])
        return cls(net)

    @torch.inference_mode()
    def describe(self, gray: np.ndarray, keypoints: np.ndarray, scales: np.ndarray,
                 orientations: np.ndarray) -> np.ndarray:
        """(N, dim) float32 descriptors of ``keypoints`` (row, col) of the [0, 1] image ``gray``."""
        if len(keypoints) == 0:
            return np.zeros((0, self.net.dim), np.float32)
        patches = keypoint_patches(gray, keypoints, scales, orientations)
        return self.net(torch.from_numpy(patches)[:, None]).numpy()
