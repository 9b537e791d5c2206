"""numba kernels of the detector and the descriptors; each module says whether it can run.

numba is optional (``pip install 'sarfeat[fast]'``); every kernel has a numpy
or scipy twin that gives the same values up to float rounding.
"""
