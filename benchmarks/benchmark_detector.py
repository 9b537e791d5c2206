"""asv: speed and peak memory of ``SARR2D2Detector.detect_and_extract`` beside its peers.

Every method runs on the same square image at 512, 1024 and 2048 px, in the
same asv run, so that ratios can be read from one table:

``sarfeat``
    ``SARR2D2Detector()`` (bundled ``sarfeat-sar-v1`` weights, default
    pyramid up to ``max_size=1024``, 5000 keypoints, ``precision='auto'``) on
    the float32 intensity image itself: its own normalisation is timed.
``skimage_sift``
    ``skimage.feature.SIFT().detect_and_extract``.
``skimage_orb``
    ``skimage.feature.ORB(n_keypoints=5000).detect_and_extract`` (the budget
    of sarfeat).
``opencv_sift``
    ``cv2.SIFT_create().detectAndCompute``.

The image is the bundled Sentinel-1 Labrador VV scene upsampled to the size
and multiplied by unit-mean Gamma(1, 1) speckle (single-look-like,
:func:`bench_detector.speckled_scene`); the peers get it as 8 bits after
sarfeat's own normalisation (dB, 1-99 % stretch), not timed. Nothing here
needs ``SARFEAT_DATA_DIR``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .bench_detector import speckled_scene, to_display_uint8
from .common import LITE_WEIGHTS, SlowTiming, require_lite_weights, use_shared_data

SIZES = [512, 1024, 2048]
METHODS = ["sarfeat", "skimage_sift", "skimage_orb", "opencv_sift"]

#: Keypoint budget of sarfeat's detector, given to ORB too.
KEYPOINTS = 5000


@functools.lru_cache(maxsize=None)
def benchmark_image(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` x ``size`` float32 speckled scene and its 8-bit version for the peers.

    Parameters
    ----------
    size : int
        Side of the square image, in pixels.

    Returns
    -------
    image : (size, size) ndarray of float32
        Intensity, single-look-like speckle.
    image8 : (size, size) ndarray of uint8
        ``image`` normalised by sarfeat (dB, 1-99 % stretch), for the SIFT and ORB peers.
    """
    image = speckled_scene(size)
    return image, to_display_uint8(image)


@functools.lru_cache(maxsize=None)
def _detector():
    from sarfeat import SARR2D2Detector

    return SARR2D2Detector()


def make_runner(method: str, size: int) -> Callable[[], int]:
    """A function that runs ``method`` once on the image of ``size`` and returns its keypoint count.

    Parameters
    ----------
    method : {'sarfeat', 'skimage_sift', 'skimage_orb', 'opencv_sift'}
        What to run.
    size : int
        Side of the image.

    Returns
    -------
    callable
        ``run() -> int``.
    """
    image, image8 = benchmark_image(size)
    if method == "sarfeat":
        detector = _detector()

        def run() -> int:
            detector.detect_and_extract(image)
            return len(detector.keypoints)
    elif method == "skimage_sift":
        from skimage.feature import SIFT

        def run() -> int:
            sift = SIFT()
            sift.detect_and_extract(image8)
            return len(sift.keypoints)
    elif method == "skimage_orb":
        from skimage.feature import ORB

        def run() -> int:
            orb = ORB(n_keypoints=KEYPOINTS)
            orb.detect_and_extract(image8)
            return len(orb.keypoints)
    elif method == "opencv_sift":
        import cv2

        sift = cv2.SIFT_create()

        def run() -> int:
            return len(sift.detectAndCompute(image8, None)[0])
    else:
        raise ValueError(f"unknown method {method!r}; methods are {METHODS}")
    return run


_warm: set[tuple[str, int]] = set()


def _warm_up(method: str, size: int, run: Callable[[], int]) -> None:
    """Run sarfeat once per image size and process, untimed.

    The first call loads the weights and lets the convolution library plan for
    the pyramid's shapes; the peers have no such first-call cost.
    """
    if method == "sarfeat" and (method, size) not in _warm:
        run()
        _warm.add((method, size))


class DetectAndExtract(SlowTiming):
    """Wall time of one ``detect_and_extract`` (or its peer's equivalent)."""

    params = (SIZES, METHODS)
    param_names = ["size", "method"]

    def setup(self, size: int, method: str) -> None:
        self.run = make_runner(method, size)
        _warm_up(method, size, self.run)

    def time_detect_and_extract(self, size: int, method: str) -> None:
        self.run()


class DetectAndExtractMemory:
    """Peak resident memory of a process that runs one ``detect_and_extract``.

    The figure includes the Python interpreter, numpy, torch and sarfeat
    (every method's process imports them), the image and, for sarfeat, its
    weights: compare methods at one size, or one method across sizes.
    """

    params = (SIZES, METHODS)
    param_names = ["size", "method"]
    timeout = 600

    def setup(self, size: int, method: str) -> None:
        self.run = make_runner(method, size)

    def peakmem_detect_and_extract(self, size: int, method: str) -> None:
        self.run()


class Keypoints:
    """Keypoints each method finds (context for the times: sarfeat stops at 5000)."""

    params = ([1024], METHODS)
    param_names = ["size", "method"]
    unit = "keypoints"
    timeout = 600

    def setup(self, size: int, method: str) -> None:
        self.run = make_runner(method, size)

    def track_keypoints(self, size: int, method: str) -> int:
        return self.run()


#: The detectors of :class:`RatioToOpenCVSift`, by what each runs. The upright rows run one
#: network, the trunk of the default weights, and its 128-D descriptor (what registration's
#: matcher runs), each with the runtime and precision named (``auto auto``: what
#: ``SARR2D2Detector(upright=True)`` picks here): they compare runtimes and precisions. The
#: rotation-invariant rows run other work: ``SARR2D2Detector()`` (the default) one run of a
#: small network distilled from the trunk's quarter-turn average (about 85 times fewer
#: multiply-adds than the trunk) and the polar descriptor, so its ratio is not an upright
#: row's plus the cost of invariance (it is below theirs); ``turned_maps='average'`` the
#: trunk on the four quarter turns (four runs). ``lite ...``: the same for the
#: sarfeat-sar-lite weights (no distilled maps: four runs when rotation invariant).
#: Before 2026-12-07 these rows were named by runtime and precision alone: ``default``,
#: ``average``, ``auto auto``, ..., ``lite default``, ``lite auto``.
DETECTORS = ["rotation-invariant default (distilled maps, polar)",
             "rotation-invariant 4-run average", "upright auto auto", "upright torch fp32",
             "upright torch bf16", "upright onnxruntime fp32", "upright onnxruntime int8",
             "lite rotation-invariant 4-run average", "lite upright auto auto"]


class RatioToOpenCVSift:
    """``detect_and_extract`` on development image m1 (1000 x 1000) over OpenCV SIFT's time,
    per detector of :data:`DETECTORS`.

    Both run in the same process and sample, the median of three calls each
    after a warm-up. The rows compare like with like only within a kind:
    the upright rows, one network (the default weights' trunk) under each
    runtime and precision (OpenCV SIFT orients its keypoints, they do not);
    the rotation-invariant rows, which are invariant as OpenCV SIFT is, but
    run other networks and another descriptor (the default its distilled
    maps network, far smaller than the trunk, and the polar descriptor: a
    lower ratio than every upright row, which is not rotation invariance
    for free). ``lite ...``: the distilled ``sarfeat-sar-lite`` weights.
    Needs ``SARFEAT_DATA_DIR`` (the benchmark is skipped without it), and
    ``sarfeat[fast]`` for the ONNX Runtime rows.
    """

    params = DETECTORS
    param_names = ["detector"]
    unit = "ratio"
    timeout = 900

    def setup(self, detector: str) -> None:
        import cv2
        import torch

        from sarfeat import SARR2D2Detector
        from sarfeat.runtime.torch import native_bf16
        from sarfeat.data import DataUnavailableError

        from .bench_detector import development_image

        use_shared_data()
        try:
            self.image = development_image("m")
        except DataUnavailableError as error:
            raise NotImplementedError(f"development image m1 not available: {error}")
        upright = "upright" in detector.split()
        if detector.startswith("lite"):
            require_lite_weights()
            made = SARR2D2Detector(LITE_WEIGHTS, upright=upright)
        elif detector == DETECTORS[0]:
            made = SARR2D2Detector()
        elif detector == DETECTORS[1]:
            made = SARR2D2Detector(turned_maps="average")
        else:
            runtime, precision = detector.split()[1:]
            if precision == "bf16" and not native_bf16(torch.device("cpu")):
                raise NotImplementedError("this CPU has no native bf16 (emulated, not chosen)")
            made = SARR2D2Detector(runtime=runtime, precision=precision, upright=True)
        try:
            made.detect_and_extract(self.image)
        except ImportError as error:
            raise NotImplementedError(str(error))
        self.detector, self.sift = made, cv2.SIFT_create()
        self.sift.detectAndCompute(self.image, None)

    def track_ratio_to_opencv_sift(self, detector: str) -> float:
        import statistics
        import time

        def median_time(run) -> float:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        ours = median_time(lambda: self.detector.detect_and_extract(self.image))
        sift = median_time(lambda: self.sift.detectAndCompute(self.image, None))
        return ours / sift
