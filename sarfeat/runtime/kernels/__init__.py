"""numba kernels of the detector and the descriptors; each module says whether it can run.

numba is optional (``pip install 'sarfeat[fast]'``); every kernel has a numpy
or scipy twin that gives the same values: the same bits for the heads, the maps,
the peaks and the steering (:mod:`sarfeat.runtime.head_arithmetic`,
:mod:`sarfeat.runtime.steering_arithmetic`), so the detector's keypoints and
descriptors do not depend on numba; the ``'ratio_hog'`` descriptor's kernels
agree with their twins to float rounding (their tests say how close).
"""

import sys

__all__ = ["MIN_COMPILED_WORK", "worth_compiling"]

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
        return True
    return exact and "numba" in sys.modules

