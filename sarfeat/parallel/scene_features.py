"""What :func:`sarfeat.parallel.detect_tiled` returns, and how the best keypoints become it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["SceneFeatures", "scene_features"]


@dataclass
class SceneFeatures:
    """Keypoints and descriptors of a scene detected by :func:`detect_tiled`.

    The attributes follow :class:`~sarfeat.SARR2D2Detector` after
    ``detect_and_extract``; each is documented at its declaration.
    """

    keypoints: np.ndarray
    """(N, 2) ndarray: (row, col) in scene pixels, sub-pixel refined; best response first."""
    scales: np.ndarray
    """(N,) ndarray: patch diameter in pixels (32: one level at full resolution)."""
    orientations: np.ndarray
    """(N,) ndarray: zeros (R2D2 descriptors have no orientation)."""
    responses: np.ndarray
    """(N,) ndarray: reliability times repeatability at each keypoint."""
    reliabilities: np.ndarray
    """(N,) ndarray: the reliability map at each keypoint."""
    repeatabilities: np.ndarray
    """(N,) ndarray: the repeatability map at each keypoint."""
    descriptors: np.ndarray
    """(N, 128) ndarray of float32: L2-normalised descriptors."""
    shape: tuple[int, int]
    """tuple of int: the scene's (rows, cols)."""
    tiles: int
    """int: tiles that were run."""
    seconds: float
    """float: wall-clock time of the call."""


def scene_features(best: dict | None, shape: tuple[int, int], tiles: int, float_dtype,
                   started: float) -> SceneFeatures:
    """The features of ``best``, the keypoints kept over the tiles, in ``float_dtype``.

    Parameters
    ----------
    best : dict or None
        Per-keypoint arrays (``keypoints``, ``scales``, ``reliabilities``,
        ``repeatabilities``, ``descriptors``), best first; None when no tile found any.
    shape : (int, int)
        The scene's (rows, cols).
    tiles : int
        Tiles that were run.
    float_dtype : numpy dtype
        The dtype of the keypoint attributes (descriptors stay float32).
    started : float
        :func:`time.perf_counter` when the call began.

    Raises
    ------
    RuntimeError
        When no keypoint was found.
    """
    if best is None or len(best["keypoints"]) == 0:
        raise RuntimeError(
            "detect_tiled found no keypoint: the scene may be flat or mostly no-data; try "
            "lower reliability_threshold/repeatability_threshold"
        )
    count = len(best["keypoints"])
    return SceneFeatures(
        keypoints=best["keypoints"].astype(float_dtype),
        scales=best["scales"].astype(float_dtype),
        orientations=np.zeros(count, dtype=float_dtype),
        responses=(best["reliabilities"] * best["repeatabilities"]).astype(float_dtype),
        reliabilities=best["reliabilities"].astype(float_dtype),
        repeatabilities=best["repeatabilities"].astype(float_dtype),
        descriptors=best["descriptors"].astype(np.float32),
        shape=shape,
        tiles=tiles,
        seconds=time.perf_counter() - started,
    )
