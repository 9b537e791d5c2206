"""A learned keypoint orientation for SAR (experimental, issue 18).

The default detector turns each keypoint's descriptor patch to the direction
of the smoothed log-intensity gradient (:mod:`sarfeat.orientation`). Between
cross-polarised channels that direction often differs, since the two channels
do not share their contrasts. :class:`LearnedOrientation` replaces it with a
small convolutional regressor in the manner of OriNet: the upright
``ORI_PIXELS`` x ``ORI_PIXELS`` patch of the normalised log-intensity image
around the keypoint (a square of ``ORI_SCALE`` times its diameter on its
pyramid level, zero mean, unit variance, under a soft disc window) goes
through four 3 x 3 or 5 x 5 convolutions and a linear layer to a vector whose
angle is the orientation. It is trained self-supervised on the open training
scenes only: a patch and its turned copy from another channel of the same
scene must give angles that differ by the turn
(:mod:`sarfeat.training.orientation`).

Inference is plain NumPy (the weights are an ``.npz`` file); no torch. With
``turns=4`` the prediction is averaged over the patch's four exact quarter
turns, each turned back, which makes the angle exactly equivariant under
quarter turns of the image at four times the cost.

Angles follow :mod:`sarfeat.orientation`: radians, ``atan2(d_row, d_col)``.

Measured (2026-12-05, 2-core AMD EPYC, one thread; ``benchmarks/eval_rotation.py
--orientation FILE``, MMA@3 of mutual nearest neighbours): it does **not** beat
the gradient orientation, so no weights ship and the default is unchanged.
Trained for 10 or 30 minutes on correspondences of the detector's own keypoints
(:class:`~sarfeat.training.orientation.CorrespondencePairs`), it gains 4 to 7
points on the training scenes (Labrador VV/VH 0.64/0.58/0.62 -> 0.70/0.63/0.66
at 10/60/135 degrees; AIRSAR HH/VV 0.74/0.76 -> 0.77/0.78 at 60/135, but 0.84
-> 0.80 at 10, 0.84-0.87 with ``turns=4``) but nothing on the unseen Shanghai
scene (0.20/0.20/0.22 -> 0.19-0.24 at each angle), nor on PiSAR Tsukuba when
that scene stayed out of training (0.78 to 0.89 either way). With the exact
orientation (known from the warp) the same patch descriptor reaches
0.72/0.67/0.69 on the pooled Sentinel-1 pairs and 0.65 to 0.69 on Shanghai
alone, against 0.42/0.40/0.42 and 0.20 to 0.22 with the gradient: the
orientation is what limits the default, and what the small open training set
does not teach. Cost: 26,626 weights; about 0.35 ms a
keypoint in NumPy on one thread (the gradient: 0.012 ms), 1.2 ms with
``turns=4``.
"""

from __future__ import annotations

import os

import numpy as np

from .orientation import LevelSteering

__all__ = ["ORI_PIXELS", "ORI_SCALE", "orientation_patches", "OrientationRegressor",
           "LearnedOrientation"]

#: Samples per side of the regressor's input patch.
ORI_PIXELS = 32
#: Side of the input patch as a multiple of the keypoint's diameter (32 level pixels).
ORI_SCALE = 1.5
_DIAMETER = 32.0


def _disc_window(size: int) -> np.ndarray:
    """(size, size) float32 window: 1 inside the inscribed disc, falling to 0 over one sample."""
    centre = (size - 1) / 2.0
    r = np.hypot(*np.meshgrid(np.arange(size) - centre, np.arange(size) - centre))
    return np.clip(size / 2.0 - r, 0.0, 1.0).astype(np.float32)


def orientation_patches(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                        angles: np.ndarray | None = None, side: float = ORI_SCALE * _DIAMETER,
                        steering: LevelSteering | None = None) -> np.ndarray:
    """(N, ORI_PIXELS, ORI_PIXELS) float32 input patches of the regressor.

    Parameters
    ----------
    image : (H, W) ndarray
        A pyramid level of the normalised log-intensity image.
    rows, cols : (N,) ndarray
        Level positions.
    angles : (N,) ndarray, optional
        Turn of each sampling grid (radians, as orientations); upright when
        None. Training samples turned grids; the regressor's angle on a patch
        sampled at ``angles`` plus ``angles`` is the orientation in the image.
    side : float
        Side of the patch, in level pixels.
    steering : LevelSteering, optional
        A steering of ``image`` with this side and size, to reuse its prefilter.

    Returns
    -------
    (N, ORI_PIXELS, ORI_PIXELS) ndarray of float32
    """
    if angles is None:
        angles = np.zeros(len(rows))
    if steering is None:
        steering = LevelSteering(image, 1.0, side=side, size=ORI_PIXELS)
    patches = steering.describe(rows, cols, angles).reshape(-1, ORI_PIXELS, ORI_PIXELS)
    return patches * (np.float32(ORI_PIXELS) * _disc_window(ORI_PIXELS))


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """2-D convolution (cross-correlation, as torch's) with 'same' zero padding, then ReLU."""
    k = weight.shape[-1]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, k, k)
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
    out += bias
    np.maximum(out, 0, out=out)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class OrientationRegressor:
    """NumPy forward pass of the trained network: (N, P, P) patches -> (N, 2) (cos, sin).

    Parameters
    ----------
    arrays : mapping
        ``conv{i}_weight``, ``conv{i}_bias``, ``conv{i}_stride`` for i = 0, 1, ...,
        ``linear_weight``, ``linear_bias`` and optionally ``skip_weight`` (a
        linear map of the flattened patch added to the output), as written by
        :func:`sarfeat.training.orientation.export_npz`.
    """

    def __init__(self, arrays) -> None:
        self.layers = []
        index = 0
        while f"conv{index}_weight" in arrays:
            self.layers.append((np.asarray(arrays[f"conv{index}_weight"], np.float32),
                                np.asarray(arrays[f"conv{index}_bias"], np.float32),
                                int(arrays[f"conv{index}_stride"])))
            index += 1
        self.linear_weight = np.asarray(arrays["linear_weight"], np.float32)
        self.linear_bias = np.asarray(arrays["linear_bias"], np.float32)
        self.skip_weight = (np.asarray(arrays["skip_weight"], np.float32)
                            if "skip_weight" in arrays else None)

    @property
    def parameter_count(self) -> int:
        """Number of trained weights."""
        skip = 0 if self.skip_weight is None else self.skip_weight.size
        return int(sum(w.size + b.size for w, b, _ in self.layers)
                   + self.linear_weight.size + self.linear_bias.size + skip)

    def vectors(self, patches: np.ndarray, batch: int = 512) -> np.ndarray:
        """(N, 2) float32 output vectors (x = along +col, y = along +row)."""
        out = np.zeros((len(patches), 2), np.float32)
        for start in range(0, len(patches), batch):
            flat = np.asarray(patches[start:start + batch], np.float32)
            x = flat[:, None]
            for weight, bias, stride in self.layers:
                x = _conv(x, weight, bias, stride)
            out[start:start + batch] = x.reshape(len(x), -1) @ self.linear_weight.T \
                + self.linear_bias
            if self.skip_weight is not None:
                out[start:start + batch] += flat.reshape(len(flat), -1) @ self.skip_weight.T
        return out


class LearnedOrientation:
    """Keypoint orientations from a trained :class:`OrientationRegressor`.

    Call it as ``orienter(level_image, rows, cols)``, the signature of
    :meth:`sarfeat.orientation.LevelSteering.orientations`'s learned branch.

    Parameters
    ----------
    regressor : OrientationRegressor
    turns : {1, 4}
        4 averages the prediction over the patch's quarter turns (exactly
        equivariant under quarter turns, four times the cost).
    """

    def __init__(self, regressor: OrientationRegressor, turns: int = 1) -> None:
        if turns not in (1, 4):
            raise ValueError(f"turns must be 1 or 4, got {turns}")
        self.regressor = regressor
        self.turns = turns

    @classmethod
    def load(cls, path: str | os.PathLike, turns: int = 1) -> LearnedOrientation:
        """From an ``.npz`` file of :func:`sarfeat.training.orientation.export_npz`."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(OrientationRegressor(dict(arrays)), turns=turns)

    @staticmethod
    def reach() -> int:
        """Level pixels around a position that its orientation reads."""
        side = ORI_SCALE * _DIAMETER
        return LevelSteering.reach(0.0, side, size=ORI_PIXELS)

    def patch_angles(self, patches: np.ndarray) -> np.ndarray:
        """(N,) angles (radians) the regressor gives upright patches."""
        if self.turns == 1:
            vectors = self.regressor.vectors(patches)
        else:
            vectors = np.zeros((len(patches), 2), np.float32)
            for k in range(4):
                turned = self.regressor.vectors(np.rot90(patches, k, axes=(1, 2)))
                # np.rot90 turns the patch by k quarter turns counter-clockwise as displayed,
                # which subtracts k * pi / 2 from the angles: add it back
                angle = np.arctan2(turned[:, 1], turned[:, 0]) + k * np.pi / 2
                norm = np.hypot(turned[:, 0], turned[:, 1])
                vectors += np.stack([np.cos(angle), np.sin(angle)], axis=1) * norm[:, None]
        return np.arctan2(vectors[:, 1], vectors[:, 0]).astype(np.float64)

    def __call__(self, image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(N,) orientations (radians, [-pi, pi]) at level positions of ``image``."""
        if len(rows) == 0:
            return np.zeros(0)
        return self.patch_angles(orientation_patches(image, rows, cols))
