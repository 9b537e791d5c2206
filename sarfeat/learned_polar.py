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
Inference is NumPy only; the weights are an ``.npz`` (no pickles). The
default detector's keypoints are described by it as by the learned invariant
network: ``invariant_descriptors(gray, keypoints, scales, model)``
(:func:`sarfeat.invariant_descriptor.invariant_descriptors`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .polar_descriptor import (
    MEAN_WEIGHT, POLAR_FREQUENCIES, POLAR_RADII, ring_spectra, spectrum_invariants,
)

__all__ = ["LearnedPolar", "detected_rings", "invariant_length"]


def invariant_length(channels: int, frequencies: int) -> int:
    """Length of the descriptor of ``channels`` channels and ``frequencies`` frequencies."""
    pairs = channels * (channels - 1) // 2
    return (channels + channels * frequencies + 2 * pairs * frequencies
            + 2 * channels * (frequencies - 1))


class LearnedPolar:
    """Polar's invariants of a learned real per-frequency mixing of the rings (NumPy).

    Parameters
    ----------
    mix : (K + 1, C, R) array_like
        ``W[k, c, r]``: frequency ``k`` (0: the ring means) of channel ``c``
        from ring ``r``; ``K`` frequencies, ``C`` channels, ``R`` rings (those of
        :data:`~sarfeat.polar_descriptor.POLAR_RADII` for the detector's keypoints).
    weights : (D,) array_like, optional
        Per-feature weights before the L2 normalisation (default ones), ``D`` =
        :func:`invariant_length` ``(C, K)``.
    mean_weight : float
        Weight of the channel means (polar's :data:`~sarfeat.polar_descriptor.MEAN_WEIGHT`).

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
        self.weights = (np.ones(self.dim) if weights is None
                        else np.asarray(weights, np.float64).reshape(-1))
        if len(self.weights) != self.dim:
            raise ValueError(f"{len(self.weights)} weights for {self.dim} features")
        self.mean_weight = float(mean_weight)
        self._first, self._second = np.triu_indices(self.channels, 1)

    @classmethod
    def identity(cls, frequencies: int = POLAR_FREQUENCIES) -> LearnedPolar:
        """The mixing that is the polar descriptor: ``W[k] = I``, unit weights."""
        return cls(np.tile(np.eye(len(POLAR_RADII)), (frequencies + 1, 1, 1)))

    @classmethod
    def load(cls, path: str | Path) -> LearnedPolar:
        """Read the weights from an ``.npz`` file (``mix``, ``weights``, ``mean_weight``;
        no pickles)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(arrays["mix"], arrays["weights"], float(arrays["mean_weight"]))

    def save(self, path: str | Path) -> Path:
        """Write the weights as the ``.npz`` :meth:`load` reads."""
        with open(path, "wb") as handle:
            np.savez(handle, mix=self.mix.astype(np.float32),
                     weights=self.weights.astype(np.float32),
                     mean_weight=np.float32(self.mean_weight))
        return Path(path)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(N, D) float32 unit descriptors of (N, R, A) ring samples (zero rows for flat ones)."""
        samples = np.asarray(samples)
        if samples.ndim != 3 or samples.shape[1] != self.rings:
            raise ValueError(f"samples must be (N, {self.rings}, A), got {samples.shape}")
        means, spectrum = ring_spectra(samples, self.frequencies)
        return self.invariants(means, spectrum)

    def invariants(self, means: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
        """The descriptors of the rings' :func:`~sarfeat.polar_descriptor.ring_spectra`."""
        # G (N, C, K) = sum_r W[k, c, r] F (N, R, K); the means likewise with W[0]
        mixed = np.einsum("kcr,nrk->nck", self.mix[1:], spectrum)
        return spectrum_invariants(means @ self.mix[0].T, mixed, self.mean_weight, self.weights)


def detected_rings(detector, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) keypoints of ``detector`` on an intensity image and their (N, R, A) float32
    ring samples at their levels (:func:`sarfeat.invariant_descriptor.keypoint_ring_samples`)."""
    from .invariant_descriptor import keypoint_ring_samples
    from .preprocess import normalize_sar

    detector.detect(image)
    keypoints = detector.keypoints.astype(np.float64)
    samples = keypoint_ring_samples(normalize_sar(image).image, keypoints[:, 0],
                                    keypoints[:, 1], 32.0 / detector.scales)
    return keypoints, samples
