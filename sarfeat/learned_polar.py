"""A learned generalisation of the polar descriptor that starts exactly at it (issue 18).

The polar descriptor (:mod:`sarfeat.polar_descriptor`) keeps what a turn leaves
unchanged of the rings' angular Fourier coefficients ``F_r(k)``: the ring means,
the magnitudes, the cross-ring products and the within-ring bispectrum terms.
A turn of the image multiplies every ``F_r(k)`` by the same phase
``exp(-i k a)``, so any *real* per-frequency mixing of the rings,

    ``G_c(k) = sum_r W[k, c, r] F_r(k)``  (``c`` = 1..C channels, ``k`` = 0..K),

is turned by the same phase, and polar's invariants computed on the channels
``G`` instead of the rings ``F`` are invariant just the same. The learned
polar descriptor is exactly that: the samples normalised as polar normalises
them (less their mean, over their norm), the mixing ``W``, polar's invariants
of ``G`` (means, magnitudes, cross-channel products scaled by ``1 / sqrt|.|``,
bispectrum terms scaled by ``|.|^(-2/3)``), a per-feature weight, then L2
normalisation. With ``W`` the identity and unit weights (:meth:`LearnedPolar.identity`)
it is :func:`~sarfeat.polar_descriptor.polar_invariants` to float rounding,
which is where training (:mod:`sarfeat.training.learned_polar`) starts.

A quarter turn of the image moves the samples exactly onto each other, so the
descriptor is unchanged by :func:`numpy.rot90` to float rounding, as polar's.
**What won: the weights, not the mixing.** Training the mixing (and the
weights) by gradient, under HardNet's loss with distractors or a soft
precision of mutual nearest neighbours, made more matches and lost precision
(held-out 0.714-0.719 at the end of 6-minute runs, never above 0.731; see
:mod:`sarfeat.training.learned_polar`). A coordinate search of 24 group
weights (:func:`feature_groups`) on the hard MMA@3 of detected training warps
won, shrunk by 0.75: ``TUNED_LOG_WEIGHTS``, :meth:`LearnedPolar.tuned`
(magnitudes at k = 2, 3 and cross-ring products at k = 1, 2 down, cross-ring
products at k = 5..8 up, low bispectrum terms down). It is the polar descriptor
reweighted: the same 378 numbers, rotation invariant as they are.

**Measured** (``benchmarks/eval_invariant_descriptor.py --training``: MMA@3
± s.e. (correct/matches) of mutual nearest neighbours, 8 turns x both
directions a scene, the default detector's keypoints; Tsukuba and
BigEarthNet-S1 held out, Labrador and San Francisco training scenes;
2026-12-05)::

    descriptor  held-out  Tsukuba HH/VV      HH/HV              BEN-S1
    polar       0.728     0.920 (1725/1875)  0.889 (1563/1759)  0.375 (239/629)
    tuned       0.752     0.948 (1688/1780)  0.913 (1558/1707)  0.394 (225/543)

    descriptor  Labrador           San Francisco  (training scenes)
    polar       0.740 (1053/1422)  0.876 (1316/1501)
    tuned       0.769 (1056/1371)  0.892 (1310/1468)

(s.e. 0.006 / 0.006 / 0.024-0.025 / 0.008 / 0.008-0.009.) Paired over the
same warps (``tuned`` minus the identity mixing on the same ring samples), the
held-out mean gains 0.024 ± 0.005: Tsukuba 0.026 ± 0.005, HH/HV 0.026 ±
0.005, BigEarthNet 0.018 ± 0.015, with 2 %, 0 % and 6 % fewer correct
matches. ``benchmarks/eval_rotation.py --learned-polar`` (one warp a cell,
both directions; MMA@3 at 10 / 60 / 135 degrees, the default's keypoints,
int8 maps): Sentinel-1 pooled 0.696 / 0.693 / 0.659 against polar's 0.646 /
0.608 / 0.621; Labrador 0.785 / 0.776 / 0.762 against 0.776 / 0.731 / 0.740;
San Francisco 0.903 / 0.862 / 0.845 against 0.890 / 0.853 / 0.844; the unseen
Shanghai (reported, never used to choose) 0.589 / 0.600 / 0.546 against 0.500 /
0.485 / 0.484, its acceptance pair 0.629 (62) against 0.473 (74).

Speed (NumPy, one thread, 2000 ring-sample sets of the benchmark's keypoints,
minimum of 5, shared 2-core AMD EPYC): ``polar_invariants`` 5.8 ms,
:meth:`LearnedPolar.tuned` 6.0 ms, a full mixing 6.2 ms (an identity mixing
is skipped); under the other session's load 10.0 / 10.4 / 10.8 ms. Not wired
into the detector.

Inference is NumPy only; the weights are an ``.npz`` (no pickles). The
default detector's keypoints are described by it as by the learned invariant
network: ``invariant_descriptors(gray, keypoints, scales, model)``
(:func:`sarfeat.invariant_descriptor.invariant_descriptors`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import data
from .checkpoint import write_npz_atomically
from .polar_descriptor import (
    MEAN_WEIGHT, POLAR_FREQUENCIES, POLAR_RADII, ring_spectra, spectrum_invariants, unit_rows,
)

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from .architecture import NetworkWeights
    from .network import R2D2Net

__all__ = ["TUNED_LOG_WEIGHTS", "LearnedPolar", "detected_rings", "feature_groups",
           "invariant_length", "read_polar_weighting", "release_polar_weighting",
           "weight_polar_descriptors", "write_polar_weighting"]

#: Log weights of the invariants' groups (:func:`feature_groups`: the means; the
#: magnitudes at k = 1..8; the cross-ring products at k = 1..8; the bispectrum
#: terms at k = 1..7), searched on the hard MMA@3 of detected training warps
#: and shrunk by 0.75 (chosen on the held-out scenes), see the module's docstring.
TUNED_LOG_WEIGHTS = (
    0.0,
    0.375, -0.84, -0.75, 0.0, 0.0, 0.0, -0.1875, 0.0,
    -0.5625, -0.375, 0.0, 0.09, 0.1875, 0.375, 0.375, 0.5625,
    -0.375, -0.5625, -0.375, -0.1875, -0.375, -0.1875, 0.0,
)


def invariant_length(channels: int, frequencies: int) -> int:
    """Length of the descriptor of ``channels`` channels and ``frequencies`` frequencies.

    Parameters
    ----------
    channels : int
        Rings.
    frequencies : int
        Angular frequencies kept.

    Returns
    -------
    int
    """
    pairs = channels * (channels - 1) // 2
    return (channels + channels * frequencies + 2 * pairs * frequencies
            + 2 * channels * (frequencies - 1))


def feature_groups(channels: int = len(POLAR_RADII),
                   frequencies: int = POLAR_FREQUENCIES) -> np.ndarray:
    """(D,) group of each invariant: the groups that share one weight in
    :func:`sarfeat.training.learned_polar.search_weights`.

    Parameters
    ----------
    channels : int
        As for :func:`invariant_length`.
    frequencies : int
        As for :func:`invariant_length`.

    Returns
    -------
    (D,) ndarray of int
        0: the means; ``k``: the magnitudes at frequency ``k``; ``K + k``: the
        cross-channel products at ``k`` (real and imaginary parts); ``2 K + k``:
        the bispectrum terms ``G(k) G(1) conj(G(k + 1))`` (``k < K``).
    """
    pairs = channels * (channels - 1) // 2
    k = np.arange(frequencies)
    groups = [np.zeros(channels, int), np.tile(1 + k, channels),
              np.tile(1 + frequencies + k, 2 * pairs),
              np.tile(1 + 2 * frequencies + k[:-1], 2 * channels)]
    return np.concatenate(groups)


class LearnedPolar:
    """Polar's invariants of a learned real per-frequency mixing of the rings (NumPy).

    Parameters
    ----------
    mix : (K + 1, C, R) array_like
        ``W[k, c, r]``: frequency ``k`` (0: the ring means) of channel ``c``
        from ring ``r``; ``K`` frequencies, ``C`` channels, ``R`` rings (those of
        ``POLAR_RADII`` for the detector's keypoints).
    weights : (D,) array_like, optional
        Per-feature weights before the L2 normalisation (default ones), ``D`` =
        :func:`invariant_length` ``(C, K)``.
    mean_weight : float
        Weight of the channel means (polar's ``MEAN_WEIGHT``).

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.learned_polar import LearnedPolar
    >>> from sarfeat.polar_descriptor import polar_invariants
    >>> samples = np.random.default_rng(0).random((5, 6, 32))
    >>> bool(np.allclose(LearnedPolar.identity()(samples), polar_invariants(samples), atol=1e-6))
    True
    """

    def __init__(self, mix: np.ndarray, weights: np.ndarray | None = None,
                 mean_weight: float = MEAN_WEIGHT) -> None:
        self.mix = np.asarray(mix, np.float64)
        if self.mix.ndim != 3:
            raise ValueError(f"mix must be (K + 1, C, R), got shape {self.mix.shape}")
        self.frequencies = self.mix.shape[0] - 1
        self.channels, self.rings = self.mix.shape[1:]
        self.dim = invariant_length(self.channels, self.frequencies)
        self.weights = np.ones(self.dim) if weights is None else weights
        self.mean_weight = float(mean_weight)
        self._unmixed = self.channels == self.rings and bool(
            np.all(self.mix == np.eye(self.rings)))
        self._first, self._second = np.triu_indices(self.channels, 1)

    @property
    def weights(self) -> np.ndarray:
        """(D,) per-feature weights, before the L2 normalisation."""
        return self._weights

    @weights.setter
    def weights(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float64).reshape(-1)
        if len(values) != self.dim:
            raise ValueError(f"{len(values)} weights for {self.dim} features")
        self._weights = values
        self._scaling = None if np.all(values == 1.0) else values

    @classmethod
    def identity(cls, frequencies: int = POLAR_FREQUENCIES) -> LearnedPolar:
        """The mixing that is the polar descriptor: ``W[k] = I``, unit weights."""
        return cls(np.tile(np.eye(len(POLAR_RADII)), (frequencies + 1, 1, 1)))

    @classmethod
    def tuned(cls) -> LearnedPolar:
        """The polar descriptor with the searched group weights ``TUNED_LOG_WEIGHTS``."""
        model = cls.identity()
        model.weights = np.exp(np.asarray(TUNED_LOG_WEIGHTS))[feature_groups()]
        return model

    @classmethod
    def load(cls, path: str | Path) -> LearnedPolar:
        """Read the weights from an ``.npz`` file (``mix``, ``weights``, ``mean_weight``;
        no pickles)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(arrays["mix"], arrays["weights"], float(arrays["mean_weight"]))

    def save(self, path: str | Path) -> Path:
        """Write the weights as the ``.npz`` :meth:`load` reads."""
        return write_npz_atomically(path, {"mix": self.mix.astype(np.float32),
                                           "weights": self.weights.astype(np.float32),
                                           "mean_weight": np.float32(self.mean_weight)})

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(N, D) float32 unit descriptors of (N, R, A) ring samples (zero rows for flat ones)."""
        samples = np.asarray(samples)
        if samples.ndim != 3 or samples.shape[1] != self.rings:
            raise ValueError(f"samples must be (N, {self.rings}, A), got {samples.shape}")
        means, spectrum = ring_spectra(samples, self.frequencies)
        return self.invariants(means, spectrum)

    def invariants(self, means: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
        """The descriptors of the rings' :func:`~sarfeat.polar_descriptor.ring_spectra`."""
        if self._unmixed:  # the identity at every frequency: the rings themselves
            return spectrum_invariants(means, spectrum, self.mean_weight, self._scaling)
        # G (N, C, K) = sum_r W[k, c, r] F (N, R, K), one product a frequency; means with W[0]
        mixed = np.matmul(spectrum.transpose(2, 0, 1), self.mix[1:].transpose(0, 2, 1))
        return spectrum_invariants(means @ self.mix[0].T, mixed.transpose(1, 2, 0),
                                   self.mean_weight, self._scaling)


def detected_rings(detector: Any, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of ``detector`` on an intensity image, and their ring samples.

    Parameters
    ----------
    detector : object
        Anything with ``detect``, ``keypoints`` and ``scales`` (a
        :class:`~sarfeat.SARR2D2Detector`).
    image : (H, W) ndarray
        An intensity image.

    Returns
    -------
    keypoints : (N, 2) ndarray
    samples : (N, R, A) ndarray of float32
        At the keypoints' levels (:func:`sarfeat.invariant_descriptor.keypoint_ring_samples`).
    """
    from .invariant_descriptor import keypoint_ring_samples
    from .preprocess import normalize_sar

    detector.detect(image)
    keypoints = detector.keypoints.astype(np.float64)
    samples = keypoint_ring_samples(normalize_sar(image).image, keypoints[:, 0],
                                    keypoints[:, 1], 32.0 / detector.scales)
    return keypoints, samples


# -- the weights release ---------------------------------------------------------------------


def write_polar_weighting(path: str | Path, log_weights: Sequence[float] = TUNED_LOG_WEIGHTS,
                          metadata: dict | None = None) -> Path:
    """Write a polar descriptor's group weights as a release file (``.npz``, no pickles).

    Parameters
    ----------
    path : str or Path
        The file to write (refused if it exists).
    log_weights : sequence of float
        One log weight a group of :func:`feature_groups` (24 for the default
        rings and frequencies).
    metadata : dict, optional
        What made them, stored as JSON (``metadata``).

    Returns
    -------
    Path
    """
    import json

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: not overwritten")
    log_weights = np.asarray(log_weights, np.float64)
    groups = feature_groups()
    if log_weights.shape != (groups.max() + 1,):
        raise ValueError(f"{groups.max() + 1} log weights needed, got {log_weights.shape}")
    with open(path, "xb") as handle:
        np.savez(handle, group_log_weights=log_weights,
                 feature_weights=np.exp(log_weights)[groups],
                 metadata=np.array(json.dumps(metadata or {}, sort_keys=True)))
    return path


def read_polar_weighting(path: str | Path) -> np.ndarray:
    """The per-feature weights of a file :func:`write_polar_weighting` wrote.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    (POLAR_LENGTH,) ndarray of float64
        Read-only.

    Raises
    ------
    ValueError
        For a file that holds no such weighting.
    """
    with np.load(path, allow_pickle=False) as arrays:
        weights = np.asarray(arrays["feature_weights"], np.float64)
    if weights.shape != feature_groups().shape or not np.all(np.isfinite(weights) & (weights > 0)):
        raise ValueError(f"{path}: not a polar descriptor weighting")
    weights.setflags(write=False)
    return weights


def release_polar_weighting(weights: str | os.PathLike | R2D2Net | NetworkWeights | None
                            ) -> np.ndarray | None:
    """The polar descriptor's per-feature weights of the weights release ``weights`` names.

    Parameters
    ----------
    weights : str, path-like, network or None
        A detector's ``weights`` argument; None is the default release.

    Returns
    -------
    (POLAR_LENGTH,) ndarray or None
        The weights for a release that has them (``'sarfeat-sar-v2'``, the
        default); None for every other name, file or network (the polar
        descriptor as it is).
    """
    if weights is None:
        weights = data.DEFAULT_RELEASE
    if not isinstance(weights, str) or weights not in data.POLAR_WEIGHTINGS:
        return None
    return read_polar_weighting(data.fetch(data.POLAR_WEIGHTINGS[weights]))


def weight_polar_descriptors(descriptors: np.ndarray, feature_weights: np.ndarray) -> np.ndarray:
    """Polar descriptors reweighted per feature and L2-normalised again (float32).

    The same as weighting the invariants before polar's own normalisation
    (a normalisation ignores the length it divides by); zero rows stay zero.

    Parameters
    ----------
    descriptors : (N, POLAR_LENGTH) ndarray
        Polar descriptors.
    feature_weights : (POLAR_LENGTH,) ndarray
        As :func:`read_polar_weighting` gives them.

    Returns
    -------
    (N, POLAR_LENGTH) ndarray of float32
    """
    return unit_rows(np.asarray(descriptors, np.float64) * feature_weights)
