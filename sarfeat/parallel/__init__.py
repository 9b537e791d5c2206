"""Run sarfeat on Dask: stacks of image pairs, and scenes too large for one machine.

:func:`register_stack` and :func:`register_pairs` register many pairs as Dask
tasks (:func:`iter_register_pairs` yields each outcome as it finishes);
:func:`detect_tiled` detects keypoints in a large scene tile by tile across
the workers. All of them take a ``distributed.Client`` (by default they start
a ``LocalCluster``). Install the extra: ``pip install 'sarfeat[parallel]'``.
"""

from .scene import SceneFeatures, detect_tiled
from .stack import PairOutcome, iter_register_pairs, register_pairs, register_stack

__all__ = [
    "register_stack",
    "register_pairs",
    "iter_register_pairs",
    "PairOutcome",
    "detect_tiled",
    "SceneFeatures",
]
