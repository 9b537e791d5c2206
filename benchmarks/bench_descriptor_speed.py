"""Speed of the default detector with each rotation-invariant descriptor, beside OpenCV SIFT.

``SARR2D2Detector()`` (``descriptor='polar'``, the default) and
``SARR2D2Detector(descriptor='patch')`` time ``detect_and_extract`` on
development image m1 (1000 x 1000, 8-bit), interleaved with OpenCV SIFT's
``detectAndCompute`` in one run, after a warm-up of each; the median of
``--repeats`` runs and the descriptor's own share (the time of the
descriptor alone on the detector's keypoints). Run::

    PYTHONPATH=. SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_descriptor_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/, sarfeat/
from benchmarks.bench_detector import development_image  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import cv2

    from sarfeat import SARR2D2Detector

    image = development_image("m")
    detectors = {name: SARR2D2Detector(descriptor=name) for name in ("polar", "patch")}
    sift = cv2.SIFT_create()
    runs = {**{name: (lambda d=d: d.detect_and_extract(image)) for name, d in detectors.items()},
            "opencv sift": lambda: sift.detectAndCompute(image, None)}
    times = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run()
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["opencv sift"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:12s} {median:.3f} s  ({median / reference:.2f}x OpenCV SIFT)")
    for name, detector in detectors.items():
        print(f"{name:12s} {len(detector.keypoints)} keypoints, "
              f"{detector.descriptors.shape[1]}-D descriptors")
    _descriptor_share(image, detectors["polar"])
    return 0


def _descriptor_share(image: np.ndarray, detector) -> None:
    """Time of each descriptor alone on the full-resolution keypoints of ``image``."""
    from sarfeat import normalize_sar
    from sarfeat.orientation import PATCH_SCALE, LevelSteering

    gray = normalize_sar(image).image.astype(np.float32)
    level = np.isclose(detector.scales, 32.0)
    rows, cols = detector.keypoints[level, 0], detector.keypoints[level, 1]
    for name in ("polar", "patch"):
        steering = LevelSteering(gray, 8.0, side=32.0 * PATCH_SCALE, descriptor=name)
        orientations = steering.orientations(rows, cols)
        steering.describe(rows[:10], cols[:10], orientations[:10])  # prefilter, compile
        start = time.perf_counter()
        steering.describe(rows, cols, orientations)
        print(f"{name:12s} descriptor alone: {time.perf_counter() - start:.4f} s "
              f"for {level.sum()} full-resolution keypoints")


if __name__ == "__main__":
    sys.exit(main())
