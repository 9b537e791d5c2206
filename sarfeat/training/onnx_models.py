"""The ONNX models shipped with sarfeat's weights: how they are built and checked.

Run ``python -m sarfeat.training.onnx_models`` (with ``SARFEAT_DATA_DIR``
naming the development pairs) after changing a bundled network, the graph
(``sarfeat.runtime.onnx.BUILD_VERSION``) or the quantisation recipe. It
rewrites ``sarfeat/_bundled/weights/onnx``: the fp32 and int8 models and
``models.json``, which holds their sha256 and the accuracy check of each
int8 model (:func:`int8_check`). ``precision='auto'`` picks int8 only for
weights whose check passed (:func:`sarfeat.runtime.choice.plan`).
tests/test_runtime.py rebuilds the models and compares them with the
shipped ones, so they cannot go stale unnoticed.

The check runs on the development pairs only (never on the paper's test
pairs, which stay unseen).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from ..architecture import NetworkWeights
from ..data import (
    DEFAULT_WEIGHTS, DEVELOPMENT_PAIRS, LITE_WEIGHTS, TURNED_MAPS_WEIGHTS, load_pair,
    load_reference_transform,
)

from ..detector import SARR2D2Detector
from ..runtime.onnx import write_bundled_models
from ..weights import gives_turned_maps, resolve_network_weights

__all__ = ["BUNDLED", "TOLERANCE", "bundled_weights", "int8_check", "main"]

#: Name of the shipped models -> the registry name of their weights.
BUNDLED = {
    "sarfeat-sar-v1": DEFAULT_WEIGHTS,
    "sarfeat-sar-lite-v1": LITE_WEIGHTS,
    "sarfeat-sar-v1-turned-maps": TURNED_MAPS_WEIGHTS,
}
#: How much lower than fp32's an int8 model's repeatability and matching precision may be.
TOLERANCE = 0.03
#: Pixels within which a keypoint counts as found again (or a match as correct).
RADIUS = 3.0
#: The development pairs of the check (a subset, so that a rebuild takes minutes).
CHECK_PAIRS = tuple(letter for letter in DEVELOPMENT_PAIRS if letter in "ilm")


def bundled_weights() -> dict[str, NetworkWeights]:
    """The weights whose models sarfeat ships, by model name.

    Returns
    -------
    dict of str to NetworkWeights
    """
    return {name: resolve_network_weights(registry) for name, registry in BUNDLED.items()}


def _scores(weights: NetworkWeights, precision: str, letter: str) -> tuple[float, float | None]:
    """(repeatability, matching precision or None) of ``weights`` on development pair ``letter``."""
    turned = gives_turned_maps(weights)
    options = dict(precision=precision, runtime="onnxruntime", device="cpu")
    options.update(turned_maps="distilled", upright=False) if turned else options.update(
        upright=True)
    found = []
    for image in load_pair(letter):
        detector = SARR2D2Detector(weights, **options)
        detector.detect_and_extract(image)
        found.append((detector.keypoints.astype(np.float64), detector.descriptors, image.shape))
    (points1, descriptors1, _), (points2, descriptors2, shape2) = found
    matrix = load_reference_transform(letter)
    xy = np.c_[points1[:, ::-1], np.ones(len(points1))] @ matrix.T
    projected = (xy[:, :2] / xy[:, 2:])[:, ::-1]  # (row, col) in image 2
    inside = ((projected >= 0) & (projected < np.array(shape2) - 1)).all(axis=1)
    distance, _ = cKDTree(points2).query(projected[inside])
    repeatability = float(np.mean(distance <= RADIUS)) if inside.any() else 0.0
    if turned:
        return repeatability, None
    similarity = descriptors1 @ descriptors2.T
    forward, backward = similarity.argmax(axis=1), similarity.argmax(axis=0)
    mutual = np.flatnonzero(backward[forward] == np.arange(len(forward)))
    error = np.linalg.norm(projected[mutual] - points2[forward[mutual]], axis=1)
    return repeatability, float(np.mean(error <= RADIUS)) if len(mutual) else 0.0


def int8_check(weights: NetworkWeights, pairs: Sequence[str] = CHECK_PAIRS) -> dict:
    """Whether ``weights``' int8 model keeps its fp32 model's accuracy on the development pairs.

    For each precision, the mean over ``pairs`` of the keypoint
    repeatability (share of image 1's keypoints, mapped by the reference
    transform, with a keypoint of image 2 within 3 px) and, for networks
    with descriptors, of the matching precision (share of mutual nearest
    neighbours within 3 px of the truth). int8 passes when neither is lower
    than fp32's by more than ``TOLERANCE``.

    Parameters
    ----------
    weights : NetworkWeights
        The network whose models are compared.
    pairs : sequence of str
        Development pairs of the registry (by letter).

    Returns
    -------
    dict
        ``fp32`` and ``int8`` (``repeatability``, ``precision``), ``pairs``
        and ``passes``.
    """
    result = {"pairs": "".join(pairs)}
    for precision in ("fp32", "int8"):
        scores = np.array([_scores(weights, precision, letter) for letter in pairs], dtype=float)
        means = np.nanmean(scores, axis=0) if not np.isnan(scores).all() else scores[0]
        result[precision] = {"repeatability": round(float(means[0]), 4),
                             "precision": None if np.isnan(means[1]) else round(float(means[1]), 4)}
    passes = result["int8"]["repeatability"] >= result["fp32"]["repeatability"] - TOLERANCE
    if result["fp32"]["precision"] is not None:
        passes &= result["int8"]["precision"] >= result["fp32"]["precision"] - TOLERANCE
    result["passes"] = bool(passes)
    return result


def main() -> None:
    """Rebuild the shipped models and their manifest, checking each int8 model first."""
    entries = bundled_weights()
    checks = {}
    for name, weights in entries.items():
        checks[name] = int8_check(weights)
        print(f"{name}: {checks[name]}", flush=True)
    write_bundled_models(entries, checks)


if __name__ == "__main__":
    main()
