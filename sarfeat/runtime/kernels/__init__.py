"""numba kernels of the detector and the descriptors; each module says whether it can run.

numba is optional (``pip install 'sarfeat[fast]'``); every kernel has a numpy
or scipy twin that gives the same values: the same bits for the heads, the maps,
the peaks and the steering (:mod:`sarfeat.runtime.head_arithmetic`,
:mod:`sarfeat.runtime.steering_arithmetic`), so the detector's keypoints and
descriptors do not depend on numba; the ``'ratio_hog'`` descriptor's kernels
agree with their twins to float rounding (their tests say how close).
"""

import os
import sys
import warnings

__all__ = ["MIN_COMPILED_WORK", "numba_imports", "start_sleeping_threads", "worth_compiling"]

#: Kernels run compiled for work of at least this many elements (a 512 x 512 image); below,
#: their numpy twins run unless numba is loaded already. Loading numba and its cached
#: kernels costs about 0.45 s in every new process: more than the numpy twins take on a
#: small pair (``sarfeat register --example``: 1.1 s in all without numba).
MIN_COMPILED_WORK = 512 * 512


def worth_compiling(work: int, exact: bool = True) -> bool:
    """Whether a kernel should run compiled on ``work`` elements (numba installed).

    Parameters
    ----------
    work : int
        Elements the call processes (pixels, samples).
    exact : bool
        Whether the kernel's numpy twin gives the same bits: then small work runs
        compiled too once numba is loaded. A kernel that agrees only to float
        rounding decides by ``work`` alone, so that its answer for an input never
        depends on what the process ran before.
    """
    if work >= MIN_COMPILED_WORK:
        return numba_imports()
    return exact and "numba" in sys.modules


_IMPORTS: list[bool] = []


def numba_imports() -> bool:
    """Whether numba, found installed, also imports (tried once per process).

    numba often lags NumPy releases, and then raises ImportError when imported;
    the numpy twins run instead (the same results, slower), and a
    RuntimeWarning says so once.
    """
    if not _IMPORTS:
        try:
            import numba  # noqa: F401
        except (ImportError, OSError) as error:
            warnings.warn(f"numba is installed but cannot be imported ({error}); sarfeat runs "
                          "its numpy twins instead (the same results, slower)", RuntimeWarning,
                          stacklevel=3)
            _IMPORTS.append(False)
        else:
            _IMPORTS.append(True)
    return _IMPORTS[0]



_STARTED = [False]


def start_sleeping_threads() -> None:
    """Start numba's worker threads so that, idle, they sleep instead of spinning.

    numba's threading layer here is OpenMP (libgomp), whose idle workers
    spin after each parallel kernel (``GOMP_SPINCOUNT``, 300,000 polls by
    default), waiting for the next. Between the detector's kernels, ONNX
    Runtime's threads and the Python side need those cores (ONNX Runtime's
    sessions are made with spinning off for that reason). In an older run on a
    busy 2-core machine, one that ``benchmarks/README.md`` does not record and
    that has not been repeated, ``SARR2D2Detector()`` on development image m1
    took 1.8 times OpenCV SIFT's time with spinning workers and 1.2 times with
    sleeping ones (2 threads each, interleaved; OpenCV SIFT itself ran 10 %
    faster).
    numba's threads are started here, before the first parallel kernel, with
    ``OMP_WAIT_POLICY=PASSIVE``, which libgomp reads once, when it is
    loaded; the variable is restored right after, so that processes and
    libraries started later see the user's environment. A library that
    shares that libgomp (torch's has the same soname and reuses one already
    loaded) shares its policy too. Nothing changes when ``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT`` is set, or when numba's threads or a libgomp were
    started before (for example by importing torch first): their settings
    stand, and exporting ``OMP_WAIT_POLICY=PASSIVE`` gives the same effect.
    Results never depend on it. Starting numba's OpenMP threads sets that
    libgomp's thread count to numba's (all the CPUs); torch, when imported,
    reads its own count from the same place, so its ``torch.set_num_threads``
    is put back as it was.
    """
    if _STARTED[0]:
        return
    import numba

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    chosen = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    if not chosen:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba.get_num_threads()  # starts the threading layer (loads libgomp) if not started
    finally:
        if not chosen:
            del os.environ["OMP_WAIT_POLICY"]
        if torch_threads is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    _STARTED[0] = True
