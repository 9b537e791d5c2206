"""Plain-pipeline accuracy on the development pairs, for one or more sets of weights.

For each pair of ``sarfeat.data.DEVELOPMENT_PAIRS``: ``detect_and_extract`` on both
images, mutual nearest neighbours (``match_descriptors(cross_check=True)``),
RANSAC of an affine model (3 samples, 3 px, 2000 trials, fixed seed), then NCM /
CMR of the inliers against the reference transform and the registration RMSE
on a 20x20 grid (success: RMSE < 3 px). OpenCV SIFT with the same matching and
RANSAC runs beside it as a peer.

Run from the repository root::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/eval_dev_pairs.py \\
        --weights weights/faster2d2_WASF_N16.pt sarfeat/_bundled/weights/sarfeat-sar-v1.pt
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from skimage.feature import match_descriptors
from skimage.measure import ransac
from skimage.transform import AffineTransform

from sarfeat import SARR2D2Detector
from sarfeat.data import DEVELOPMENT_PAIRS, load_pair, load_reference_transform
from sarfeat.metrics import correct_match_counts, registration_rmse


def _register(keypoints1, keypoints2, matches, seed: int = 0):
    if len(matches) < 3:
        return None, np.empty((0, 2), int)
    source = keypoints1[matches[:, 0]][:, ::-1]
    target = keypoints2[matches[:, 1]][:, ::-1]
    model, inliers = ransac((source, target), AffineTransform, min_samples=3,
                            residual_threshold=3, max_trials=2000, rng=seed)
    if not model or inliers is None or inliers.sum() < 3:
        return None, np.empty((0, 2), int)
    return model, matches[inliers]


def _sift(image):
    import cv2

    keypoints, descriptors = cv2.SIFT_create().detectAndCompute(image, None)
    points = np.array([kp.pt[::-1] for kp in keypoints]).reshape(-1, 2)  # (row, col)
    return points, descriptors


def evaluate(method, name: str, pairs=DEVELOPMENT_PAIRS) -> list[dict]:
    """Rows of the per-pair table for one method ``image -> (keypoints, descriptors)``,
    on ``pairs`` (all the development pairs by default)."""
    rows = []
    for pair in pairs:
        image1, image2 = load_pair(pair)
        reference = load_reference_transform(pair)
        started = time.perf_counter()
        try:
            keypoints1, descriptors1 = method(image1)
            keypoints2, descriptors2 = method(image2)
            matches = match_descriptors(descriptors1, descriptors2, cross_check=True)
            model, inliers = _register(keypoints1, keypoints2, matches)
        except RuntimeError:
            model, inliers, keypoints1, keypoints2 = None, np.empty((0, 2), int), None, None
        seconds = time.perf_counter() - started
        ncm, cmr = (correct_match_counts(keypoints1, keypoints2, inliers, reference)
                    if len(inliers) else (0, 0.0))
        rmse = registration_rmse(model, reference, image1.shape, image2.shape)
        rows.append({"method": name, "pair": pair, "matches": int(len(inliers)), "ncm": ncm,
                     "cmr": round(cmr, 3), "rmse": round(rmse, 3), "success": rmse < 3,
                     "seconds": round(seconds, 2)})
    return rows


def _detector_method(weights: str, **options):
    # upright: the development pairs are upright, and this compares the networks themselves
    detector = SARR2D2Detector(weights, **{"upright": True, **options})

    def method(image):
        detector.detect_and_extract(image)
        return detector.keypoints, detector.descriptors

    return method


def _summary(rows: list[dict]) -> dict:
    rmse = np.array([r["rmse"] for r in rows])
    return {"successes": int(sum(r["success"] for r in rows)),
            "mean_cmr": round(float(np.mean([r["cmr"] for r in rows])), 3),
            "median_rmse": float(np.median(rmse)),
            "seconds": round(sum(r["seconds"] for r in rows), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", required=True,
                        help="checkpoint paths or registry names to compare")
    parser.add_argument("--threshold", type=float, nargs="*", default=[],
                        help="reliability=repeatability thresholds, one per weights (default: "
                             "those the checkpoint recommends, 0.7 where it recommends none)")
    parser.add_argument("--no-sift", action="store_true", help="skip the OpenCV SIFT peer")
    parser.add_argument("--json", help="write all rows and summaries here")
    args = parser.parse_args(argv)
    results = {}
    for index, weights in enumerate(args.weights):
        options = {}
        if index < len(args.threshold):
            options = {"reliability_threshold": args.threshold[index],
                       "repeatability_threshold": args.threshold[index]}
        results[weights] = evaluate(_detector_method(weights, **options), weights)
    if not args.no_sift:
        results["OpenCV SIFT"] = evaluate(_sift, "OpenCV SIFT")
    print(f"{'method':48s} {'pair':4s} {'matches':>7s} {'NCM':>5s} {'CMR':>6s} "
          f"{'RMSE':>8s} {'ok':>3s} {'time':>6s}")
    for name, rows in results.items():
        for r in rows:
            print(f"{name[-48:]:48s} {r['pair']:4s} {r['matches']:7d} {r['ncm']:5d} "
                  f"{r['cmr']:6.3f} {r['rmse']:8.2f} {'yes' if r['success'] else 'no':>3s} "
                  f"{r['seconds']:6.2f}")
    print()
    for name, rows in results.items():
        print(f"{name[-48:]:48s} {json.dumps(_summary(rows))}")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({name: {"rows": rows, "summary": _summary(rows)}
                       for name, rows in results.items()}, stream, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
