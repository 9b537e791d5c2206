"""Run sarfeat on Dask: stacks of image pairs, and scenes too large for one machine.

:func:`register_stack` and :func:`register_pairs` register many pairs as Dask
tasks (:func:`iter_register_pairs` yields each outcome as it finishes);
:func:`detect_tiled` detects keypoints in a large scene tile by tile across
the workers. All of them take a ``distributed.Client`` (by default they start
a ``LocalCluster``). Install the extra: ``pip install 'sarfeat[parallel]'``.

Each worker process loads a network once and keeps it; its tasks run with
``torch_threads`` torch threads (1 by default: one worker per core). On
glibc, a worker also undoes the allocator setting that Dask's nanny gives it
(``MALLOC_TRIM_THRESHOLD_``), which otherwise makes the network about twice
as slow on CPU.
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
