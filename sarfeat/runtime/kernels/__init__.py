"""numba kernels of the detector and the descriptors; each module says whether it can run.

numba is optional (``pip install 'sarfeat[fast]'``); every kernel has a numpy
or scipy twin that gives the same values: the same bits for the heads, the maps
and the peaks (:mod:`sarfeat.runtime.head_arithmetic`), up to float rounding
for steering and the descriptors (their tests say how close).
"""
