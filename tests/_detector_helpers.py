"""What the tests of :class:`~sarfeat.SARR2D2Detector` share (test_detector*.py): the small
upright detector, the scene in other storage types, how many keypoints two detections share.
Their ``scene`` fixture is in conftest.py."""

from __future__ import annotations

import numpy as np

from sarfeat import SARR2D2Detector

PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")


def make_detector(net, **kwargs):
    """A detector with the small pyramid used throughout the tests, upright (the network's
    own maps and descriptors; the rotation-invariant default is tested in test_rotation.py)."""
    options = dict(min_size=128, max_size=256, upright=True)
    options.update(kwargs)
    return SARR2D2Detector(net, **options)


def as_dtype(intensity, dtype):
    """The same SAR scene in another storage type (display 8-bit, DN 16-bit, SLC, ...)."""
    if dtype == np.uint8:
        db = 10 * np.log10(intensity)
        low, high = np.percentile(db, [1, 99])
        return np.clip(255 * (db - low) / (high - low), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(intensity * 1000, 1, 65535).astype(np.uint16)
    if dtype == np.complex64:
        phase = np.random.default_rng(0).uniform(-np.pi, np.pi, intensity.shape)
        return (np.sqrt(intensity) * np.exp(1j * phase)).astype(np.complex64)
    return intensity.astype(dtype)


def share_within(points, reference, tolerance=1.0):
    """Fraction of ``reference`` keypoints with a keypoint of ``points`` within ``tolerance`` px."""
    distance = np.linalg.norm(reference[:, None] - points[None], axis=2).min(axis=1)
    return float(np.mean(distance <= tolerance))
