"""numba kernels of the detector and the descriptors; each module says whether it can run.

numba is optional (``pip install 'sarfeat[fast]'``); every kernel has a numpy
or scipy twin that gives the same values: the same bits for the heads, the maps,
the peaks and the steering (:mod:`sarfeat.runtime.head_arithmetic`,
:mod:`sarfeat.runtime.steering_arithmetic`), so the detector's keypoints and
descriptors do not depend on numba; the ``'ratio_hog'`` descriptor's kernels
agree with their twins to float rounding (their tests say how close).
"""
