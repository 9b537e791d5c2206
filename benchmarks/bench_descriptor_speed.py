"""Speed of the default detector with each rotation-invariant descriptor, beside OpenCV SIFT.

``SARR2D2Detector()`` (``descriptor='polar'``, the default) and
``SARR2D2Detector(descriptor='patch')`` time ``detect_and_extract`` on
development image m1 (1000 x 1000, 8-bit), interleaved with OpenCV SIFT's
``detectAndCompute`` in one run, after a warm-up of each; the median of
``--repeats`` runs and the descriptor's own share (the time of the
descriptor alone on the detector's keypoints). ``--threads N`` gives every
part the same number of threads: OpenCV (``cv2.setNumThreads``), ONNX
Runtime's intra-op pool (:func:`sarfeat.runtime.onnx.set_threads`) and
numba; by default each keeps its own default (on a 2-core machine, 2 each).
Run::

    PYTHONPATH=. SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_descriptor_speed.py
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of OpenCV, ONNX Runtime and numba (default: their own)")
    args = parser.parse_args(argv)
    import cv2

    from sarfeat import SARR2D2Detector
    from sarfeat.runtime.choice import cpu_name

    if args.threads is not None:
        _set_threads(args.threads)

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
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; threads: OpenCV {cv2.getNumThreads()}, "
          f"ONNX Runtime {_onnx_threads(detectors['polar'])}, numba {_numba_threads()}")
    reference = statistics.median(times["opencv sift"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:12s} {median:.3f} s  ({median / reference:.2f}x OpenCV SIFT)")
    for name, detector in detectors.items():
        print(f"{name:12s} {len(detector.keypoints)} keypoints, "
              f"{detector.descriptors.shape[1]}-D descriptors")
    _descriptor_share(image, detectors["polar"])
    return 0


def _set_threads(threads: int) -> None:
    """The same number of threads for OpenCV, ONNX Runtime's sessions and numba."""
    import cv2

    from sarfeat.runtime.onnx import set_threads

    cv2.setNumThreads(threads)
    set_threads(threads)
    try:
        import numba
    except ImportError:
        return
    from sarfeat.runtime.kernels import start_sleeping_threads

    start_sleeping_threads()  # as the detector's first parallel kernel would
    numba.set_num_threads(threads)


def _onnx_threads(detector) -> str:
    """The intra-op threads of the detector's ONNX Runtime session (0: ONNX Runtime's default)."""
    session = getattr(detector._runner, "session", None)
    if session is None:
        return "n/a"
    threads = session.get_session_options().intra_op_num_threads
    return str(threads) if threads else f"default ({os.cpu_count()} CPUs)"


def _numba_threads() -> str:
    try:
        import numba
    except ImportError:
        return "n/a"
    return str(numba.get_num_threads())


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
