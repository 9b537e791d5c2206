"""A learned SAR descriptor that is rotation invariant by construction (issue 18).

It reads the same ring samples as the polar descriptor
(:func:`sarfeat.polar_descriptor.polar_samples`: the prefiltered log-intensity
level image on ``len(POLAR_RADII)`` rings, ``POLAR_ANGLES`` samples a ring),
normalised as the polar descriptor normalises them (less their mean, over their
norm), and runs a small network on them in NumPy:

- **circular convolutions along the angle** (rings as input channels, weights
  shared over the angle, circular padding): a turn of the image by ``j``
  sample steps shifts every output channel by ``j`` steps (equivariance);
- **invariant pooling**: the magnitudes of the angular Fourier coefficients
  ``0..frequencies`` of each output channel, which a circular shift leaves
  unchanged;
- optionally the 378 polar invariants of :mod:`sarfeat.polar_descriptor`
  beside them;
- a linear layer (with one hidden ReLU layer when the weights have one) to the
  output length, L2-normalised.

A quarter turn of the image moves the samples exactly onto each other
(``POLAR_ANGLES`` is a multiple of 4), so the descriptor is unchanged by
:func:`numpy.rot90` to float rounding; any turn by a multiple of
``360 / POLAR_ANGLES`` degrees likewise, up to the bilinear sampling; other
angles up to the interpolation between samples.

The weights are trained by :mod:`sarfeat.training.invariant_descriptor` on open
SAR only, and read without torch (:func:`load_invariant_net`).

**Not bundled, not wired into the detector: it did not beat the polar
descriptor.** Measured (``benchmarks/eval_invariant_descriptor.py``, the
warps of ``eval_polar_descriptor.py``: MMA@3 of mutual nearest neighbours, 8
turns x both directions a scene, correct/all matches pooled), the default
detector's keypoints described by the polar descriptor against the best
learned network (43 k parameters; widths 32, 32, 5 taps, 9 frequencies, 128-D;
trained 6 minutes on one thread on 2000 warps of the training scenes with
random positions, extra speckle and position/level jitter):

==============  ========================  ========================
scene           polar                     learned
==============  ========================  ========================
tsukuba HH/VV   0.918 (1722/1876)         0.861 (1685/1955)
tsukuba HH/HV   0.880 (1545/1757)         0.838 (1667/1990)
BigEarthNet-S1  0.373 (235/624)           0.320 (267/809)
labrador        0.748 (1071/1431)         0.696 (1253/1801)
sanfrancisco    0.877 (1319/1503)         0.828 (1319/1589)
==============  ========================  ========================

(Tsukuba and BigEarthNet held out; Labrador and San Francisco in training.)
The learned descriptors find as many correct matches or more (up to 17 %
more on Labrador) but more wrong ones too, so their precision, the figure the
issue's bars are set on, is 0.04-0.06 lower everywhere; every variant tried
(see the training module) did the same.

Speed (NumPy, one thread, 2000 ring-sample sets as on development image m1,
the shared 2-core AMD EPYC under load, minimum of 5): the chosen network
(widths 32, 32) 79 ms, widths 16, 16 24 ms, against 16 ms for the polar
invariants it would replace: only the narrower one is within the issue's
budget, and it matched worse still (held-out 0.658).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .polar_descriptor import (
    POLAR_ANGLES, POLAR_LENGTH, POLAR_RADII, polar_invariants, polar_samples,
)

__all__ = ["InvariantNet", "invariant_descriptors", "keypoint_ring_samples",
           "load_invariant_net", "normalised_samples"]

#: The detector's keypoint diameter at scale 1 (level pixels).
_DIAMETER = 32.0


def normalised_samples(samples: np.ndarray) -> np.ndarray:
    """Ring samples less their mean, over their norm (zero for flat samples).

    Parameters
    ----------
    samples : (N, R, A) ndarray
        Ring samples (:func:`keypoint_ring_samples`).

    Returns
    -------
    (N, R, A) ndarray of float32
    """
    values = np.asarray(samples, np.float64)
    values = values - values.mean(axis=(1, 2), keepdims=True)
    norm = np.sqrt((values * values).sum(axis=(1, 2)))
    textured = norm > 1e-6
    values[textured] /= norm[textured, None, None]
    values[~textured] = 0.0
    return values.astype(np.float32)


class InvariantNet:
    """The network's forward pass in NumPy (float32).

    Parameters
    ----------
    arrays : mapping of str to ndarray
        ``convN.weight`` (out, in, taps) and ``convN.bias`` for N = 0, 1, ...;
        ``head0.weight`` (out, in) and ``head0.bias``, optionally ``head1.*``
        (then ``head0`` is a hidden ReLU layer); ``config`` = [frequencies,
        uses_polar]; optionally ``mix``, an angle: the output is then the polar
        descriptor times ``cos(mix)`` beside the learned one times ``sin(mix)``.
        The names and shapes are those of the torch module that
        trains it (:class:`sarfeat.training.invariant_descriptor.InvariantModule`).
    """

    def __init__(self, arrays) -> None:
        self.convs = []
        index = 0
        while f"conv{index}.weight" in arrays:
            weight = np.asarray(arrays[f"conv{index}.weight"], np.float32)
            out, width, taps = weight.shape
            # (taps * in, out), taps outermost, as the shifted copies are stacked
            matrix = np.ascontiguousarray(weight.transpose(2, 1, 0).reshape(taps * width, out))
            self.convs.append((matrix, np.asarray(arrays[f"conv{index}.bias"], np.float32), taps))
            index += 1
        self.heads = []
        index = 0
        while f"head{index}.weight" in arrays:
            self.heads.append((np.ascontiguousarray(np.asarray(arrays[f"head{index}.weight"],
                                                               np.float32).T),
                               np.asarray(arrays[f"head{index}.bias"], np.float32)))
            index += 1
        config = np.asarray(arrays["config"]).astype(int)
        self.frequencies, self.uses_polar = int(config[0]), bool(config[1])
        self.mix = float(arrays["mix"]) if "mix" in arrays else None
        self.dim = self.heads[-1][0].shape[1] + (POLAR_LENGTH if self.mix is not None else 0)

    def _dft(self, angles: int) -> np.ndarray:
        """(A, 2 (frequencies + 1)) cosines and sines over ``angles``, divided by ``angles``."""
        steps = np.outer(np.arange(angles), np.arange(self.frequencies + 1)) * (2 * np.pi / angles)
        return (np.concatenate([np.cos(steps), np.sin(steps)], axis=1) / angles).astype(np.float32)

    def _pooled(self, values: np.ndarray) -> np.ndarray:
        """(N, C (frequencies + 1)): the convolutions, then |DFT| over the angle."""
        count, rings, angles = values.shape
        hidden = values.transpose(0, 2, 1) * np.float32(np.sqrt(rings * angles))  # (N, A, C)
        for matrix, bias, taps in self.convs:
            pad = taps // 2
            order = (np.arange(angles)[:, None] + np.arange(taps)[None, :] - pad) % angles
            stacked = np.take(hidden, order, axis=1).reshape(count * angles, -1)  # (N A, taps C)
            hidden = np.maximum(stacked @ matrix + bias, 0.0).reshape(count, angles, -1)
        # |DFT| at 0..frequencies as a matrix product: (N C, A) @ (A, 2 (frequencies + 1))
        channels = hidden.shape[2]
        hidden = np.ascontiguousarray(hidden.transpose(0, 2, 1)).reshape(-1, angles)
        parts = hidden @ self._dft(angles)
        half = self.frequencies + 1
        spectrum = np.sqrt(parts[:, :half] ** 2 + parts[:, half:] ** 2 + 1e-12)
        return spectrum.reshape(count, channels * half)

    @classmethod
    def load(cls, path: str | Path) -> InvariantNet:
        """Read the weights from an ``.npz`` file (no pickles)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls({name: arrays[name] for name in arrays.files})

    def parameters(self) -> int:
        """Number of weights."""
        return int(sum(m.size + b.size for m, b, _ in self.convs)
                   + sum(m.size + b.size for m, b in self.heads))

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(N, D) float32 unit descriptors of (N, R, A) ring samples (zero rows for flat ones)."""
        samples = np.asarray(samples)
        count, rings, angles = samples.shape
        values = normalised_samples(samples)
        flat = ~values.any(axis=(1, 2))
        features = [self._pooled(values)] if self.convs else []
        if self.uses_polar:
            features.append(polar_invariants(samples) * np.float32(np.sqrt(rings * angles)))
        out = np.concatenate(features, axis=1) if len(features) > 1 else features[0]
        for index, (matrix, bias) in enumerate(self.heads):
            out = out @ matrix + bias
            if index < len(self.heads) - 1:
                out = np.maximum(out, 0.0)
        length = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(length, 1e-12)
        if self.mix is not None:  # beside the polar descriptor: cos(mix) polar, sin(mix) learned
            out = np.concatenate([np.cos(self.mix) * polar_invariants(samples),
                                  np.sin(self.mix) * out], axis=1)
        out[flat] = 0.0
        return out.astype(np.float32)


def load_invariant_net(source: str | Path) -> InvariantNet:
    """The network of an ``.npz`` weights file (see :class:`InvariantNet`).

    Parameters
    ----------
    source : str or Path
        The file.

    Returns
    -------
    InvariantNet
    """
    return InvariantNet.load(source)


def keypoint_ring_samples(gray: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                          levels: np.ndarray) -> np.ndarray:
    """(N, R, A) ring samples at image positions, as the detector's steering reads them.

    Each position is sampled on ``gray`` resized by its level (OpenCV's area
    interpolation when shrinking), after the patch's Gaussian prefilter, on
    the polar descriptor's rings (``POLAR_RADII``
    times half the patch side of ``PATCH_SCALE * 32`` level pixels).

    Parameters
    ----------
    gray : (H, W) ndarray
        The normalised image (:func:`sarfeat.normalize_sar`).
    rows, cols : (N,) ndarray
        Positions in ``gray``, fractional allowed.
    levels : (N,) ndarray
        Resize factor of each position's pyramid level (``32 / scale`` for
        the detector's keypoint ``scales``); rounded to 0.01.

    Returns
    -------
    (N, R, A) ndarray of float32
    """
    import cv2

    from .orientation import PATCH_SCALE, PATCH_SIGMA, PATCH_SIZE
    from .runtime import steering_arithmetic

    side = PATCH_SCALE * _DIAMETER
    gray = np.asarray(gray, np.float32)
    rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
    out = np.zeros((len(rows), len(POLAR_RADII), POLAR_ANGLES), np.float32)
    rounded = np.round(np.asarray(levels, np.float64), 2)
    height, width = gray.shape
    radii = 0.5 * side * np.asarray(POLAR_RADII)
    for level in np.unique(rounded):
        chosen = np.flatnonzero(rounded == level)
        size = (max(8, round(width * level)), max(8, round(height * level)))
        image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if level < 1
                           else cv2.INTER_LINEAR)
        smooth = steering_arithmetic.gaussian_smooth(image, PATCH_SIGMA * side / PATCH_SIZE)
        r = (rows[chosen] + 0.5) * (size[1] / height) - 0.5
        c = (cols[chosen] + 0.5) * (size[0] / width) - 0.5
        out[chosen] = polar_samples(smooth, r, c, radii)
    return out


def invariant_descriptors(gray: np.ndarray, keypoints: np.ndarray, scales: np.ndarray,
                          net: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Learned invariant descriptors of keypoints of a normalised image.

    Parameters
    ----------
    gray : (H, W) ndarray
        The normalised image (:func:`sarfeat.normalize_sar`).
    keypoints : (N, 2) ndarray
        (row, col) positions, e.g. :class:`sarfeat.SARR2D2Detector`'s ``keypoints``.
    scales : (N,) ndarray
        The detector's keypoint ``scales`` (diameters): each keypoint is read
        at the level ``32 / scale``, as the detector's own descriptors are.
    net : InvariantNet or LearnedPolar
        The network (:func:`load_invariant_net`), or any callable from (N, R, A)
        ring samples to (N, D) descriptors, such as
        :class:`sarfeat.learned_polar.LearnedPolar`.

    Returns
    -------
    (N, D) ndarray of float32
        Unit rows (zero rows for flat samples).

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.invariant_descriptor import InvariantNet, keypoint_ring_samples
    >>> image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> rings = keypoint_ring_samples(image, np.array([32.0]), np.array([30.0]), np.ones(1))
    >>> turned = keypoint_ring_samples(np.rot90(image), np.array([33.0]), np.array([32.0]),
    ...                                np.ones(1))  # (32, 30) lands on (33, 32)
    >>> rings.shape, bool(np.allclose(np.sort(rings, axis=2), np.sort(turned, axis=2), atol=1e-5))
    ((1, 6, 32), True)
    """
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
    levels = _DIAMETER / np.asarray(scales, np.float64)
    return net(keypoint_ring_samples(gray, keypoints[:, 0], keypoints[:, 1], levels))
