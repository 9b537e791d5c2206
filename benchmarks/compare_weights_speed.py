"""Detector time of several weights beside OpenCV SIFT, interleaved, on development image m1.

``bench_detector.py`` times one set of weights over every runtime; on a shared
machine whose load changes from minute to minute, two of its runs are hard to
compare. This script times ``detect_and_extract`` of each set of weights (the
same detector settings, ``runtime='auto'`` unless told) and OpenCV SIFT in
turn, round after round, so that all see the same load, and prints the median
of each and its ratio to SIFT's.

Run from the repository root::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/compare_weights_speed.py \\
        --weights weights/sarfeat-sar-v1.pt weights/sarfeat-sar-lite-v1.pt --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

try:  # run from a checkout without installing sarfeat
    import sarfeat  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timer(function, image):
    def run() -> float:
        started = time.perf_counter()
        function(image)
        return time.perf_counter() - started
    return run


def main(argv=None) -> int:
    import cv2
    from skimage.util import img_as_ubyte

    from sarfeat import SARR2D2Detector
    from sarfeat.data import load_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", required=True, help="checkpoints or registry names")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after a warm-up")
    parser.add_argument("--upright", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    image = img_as_ubyte(load_pair("m")[0])
    methods = {}
    for weights in args.weights:
        detector = SARR2D2Detector(weights, upright=args.upright, runtime=args.runtime,
                                   precision=args.precision)
        methods[weights] = _timer(detector.detect_and_extract, image)
    sift = cv2.SIFT_create()
    methods["OpenCV SIFT"] = _timer(lambda im: sift.detectAndCompute(im, None), image)
    for run in methods.values():  # warm-up (and the runtime choice of 'auto')
        run()
    times = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, run in methods.items():
            times[name].append(run())
    reference = statistics.median(times["OpenCV SIFT"])
    print(f"m1 ({image.shape[0]} x {image.shape[1]}), upright={args.upright}, runtime "
          f"{args.runtime}, precision {args.precision}; median of {args.rounds} interleaved rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name[-48:]:48s} {median:8.3f} s  {median / reference:6.2f}x OpenCV SIFT  "
              f"(min {min(values):.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
