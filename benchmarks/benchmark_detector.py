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


#: (runtime, precision) of the detector in :class:`RatioToOpenCVSift`.
#: "default": SARR2D2Detector() as it stands (rotation invariant: one run of the distilled
#: turned-maps network); "average": the same with turned_maps='average' (four runs of the
#: network, the default before the distilled maps); the others run upright (one network run)
#: with the given runtime and precision.
RUNTIMES = ["default", "average", "auto auto", "torch fp32", "torch bf16", "onnxruntime fp32",
            "onnxruntime int8", "lite default", "lite auto"]


class RatioToOpenCVSift:
    """``detect_and_extract`` on development image m1 (1000 x 1000) over OpenCV SIFT's time.

    Both run in the same process and sample, the median of three calls each
    after a warm-up, for each runtime and precision of the detector (``auto``
    is what ``SARR2D2Detector()`` picks here), and for the distilled
    ``sarfeat-sar-lite`` weights (``lite default``: rotation invariant;
    ``lite auto``: upright, runtime and precision ``auto``). Needs ``SARFEAT_DATA_DIR``
    (the benchmark is skipped without it), and ``sarfeat[fast]`` for the
    ONNX Runtime rows.
    """

    params = RUNTIMES
    param_names = ["runtime_precision"]
    unit = "ratio"
    timeout = 900

    def setup(self, runtime_precision: str) -> None:
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
        if runtime_precision.startswith("lite"):
            require_lite_weights()
            upright = runtime_precision == "lite auto"
            detector = SARR2D2Detector(LITE_WEIGHTS, upright=upright)
        elif runtime_precision == "default":
            detector = SARR2D2Detector()
        elif runtime_precision == "average":
            detector = SARR2D2Detector(turned_maps="average")
        else:
            runtime, precision = runtime_precision.split()
            if precision == "bf16" and not native_bf16(torch.device("cpu")):
                raise NotImplementedError("this CPU has no native bf16 (emulated, not chosen)")
            detector = SARR2D2Detector(runtime=runtime, precision=precision, upright=True)
        try:
            detector.detect_and_extract(self.image)
        except ImportError as error:
            raise NotImplementedError(str(error))
        self.detector, self.sift = detector, cv2.SIFT_create()
        self.sift.detectAndCompute(self.image, None)

    def track_ratio_to_opencv_sift(self, runtime_precision: str) -> float:
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
