"""Run sarfeat on Dask: stacks of image pairs, and scenes too large for one machine.

:func:`register_stack` and :func:`register_pairs` register many pairs as Dask
tasks (:func:`iter_register_pairs` yields each outcome as it finishes);
:func:`detect_tiled` detects keypoints in a large scene tile by tile across
the workers. All of them take a ``distributed.Client`` (by default they start
a ``LocalCluster``: :func:`client_for`, which a program of its own may use too, as
``sarfeat register-stack`` does). Install the extra: ``pip install 'sarfeat[parallel]'``
(:func:`require_distributed` says so when it is missing).

Each worker process loads a network once and keeps it; its tasks run with
``torch_threads`` threads (1 by default: one worker per core): ONNX Runtime's
and torch's for the network, and the optical-SAR matcher's for its candidates
(:func:`sarfeat.set_dense_threads`, set in the worker whatever its
``OMP_NUM_THREADS``), so that a ``distributed.Client`` of your own whose
workers leave ``OMP_NUM_THREADS`` unset does not run a pool of every CPU in
each worker. ``torch_threads=None`` leaves the workers' settings as they are. On
glibc, a worker also undoes the allocator setting that Dask's nanny gives it
(``MALLOC_TRIM_THRESHOLD_``), which otherwise makes the network about twice
as slow on CPU.
"""

from ._client import client_for, require_distributed
from .scene import SceneFeatures, detect_tiled
from .stack import PairOutcome, iter_register_pairs, register_pairs, register_stack

__all__ = [
    "register_stack",
    "register_pairs",
    "iter_register_pairs",
    "PairOutcome",
    "detect_tiled",
    "SceneFeatures",
    "client_for",
    "require_distributed",
]
