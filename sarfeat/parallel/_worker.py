"""What lives inside a Dask worker process: the network, matchers and detectors.

A worker loads each network once (:func:`network`) and keeps it for the
life of the process; detectors built on it, and matchers (which load their
own, once), are kept per thread, because they hold per-call state (a thread
of a multi-threaded worker never sees another thread's matcher). Nothing here
imports Dask, so the same code runs in the client process when there is no worker.

Nothing made here draws a progress bar (``progress=False``, whatever the
options say): a worker's standard error may be the client's terminal, where
its bars would garble the client's own bar over the tasks, and a tqdm bar,
even a disabled one, makes tqdm's multiprocessing lock, a named semaphore
that a killed worker leaks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

from ..architecture import NetworkWeights
from ..detector import SARR2D2Detector
from ..matching import CoarseFineMatcher, set_dense_threads
from ..matching.dense_threads import checked_threads
from ..runtime.onnx import set_threads
from ..weights import is_torch_network, resolve_network_weights, weights_key

__all__ = ["network", "matcher", "detector", "prepare_process", "load_count", "matcher_count",
           "worker_name"]

_LOCK = threading.Lock()
_NETWORKS: dict = {}
_LOCAL = threading.local()
_LOADS = 0
_MATCHERS = 0
_MALLOC_TUNED = False
#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def network(weights, trust: bool = False) -> NetworkWeights:
    """The network of ``weights``, loaded at most once per process.

    Parameters
    ----------
    weights : str, path-like, R2D2Net or None
        As for :func:`sarfeat.weights.resolve_weights`; None is the default
        (``'sarfeat-sar-v1'``, bundled).
    trust : bool
        Allow a legacy pickled checkpoint the registry does not know.

    Returns
    -------
    NetworkWeights or R2D2Net
        An R2D2Net given is returned as it is.
    """
    if isinstance(weights, NetworkWeights) or is_torch_network(weights):
        return weights
    key = weights_key(weights) + (trust,)
    with _LOCK:
        if key not in _NETWORKS:
            global _LOADS
            _NETWORKS[key] = resolve_network_weights(weights, trust=trust)
            _LOADS += 1
        return _NETWORKS[key]


def _cached(kind: str, key: tuple, build):
    cache = getattr(_LOCAL, kind, None)
    if cache is None:
        cache = {}
        setattr(_LOCAL, kind, cache)
    if key not in cache:
        cache[key] = build()
    return cache[key]


def matcher(weights, options: dict) -> CoarseFineMatcher:
    """A :class:`~sarfeat.CoarseFineMatcher` with ``options``, kept for this thread.

    It is given ``weights`` as they are, as :func:`sarfeat.register` gives
    them (a release name brings what goes with the name beside its network:
    sarfeat-sar-v2's polar weighting, the distilled maps of the turn
    estimate), and loads its network once, on its first pair. It shows no
    progress bar (``progress=False``: see the module's notes).
    """
    options = {**options, "progress": False}
    key = (weights_key(weights), repr(sorted(options.items())))

    def build() -> CoarseFineMatcher:
        global _MATCHERS
        with _LOCK:
            _MATCHERS += 1
        return CoarseFineMatcher(weights, **options)

    return _cached("matchers", key, build)


def detector(weights, options: dict) -> SARR2D2Detector:
    """A :class:`~sarfeat.SARR2D2Detector` with ``options``, its runner ready, kept per thread;
    it shows no progress bar (``progress=False``: see the module's notes)."""
    options = {**options, "progress": False}
    key = (weights_key(weights), repr(sorted(options.items())))

    def build() -> SARR2D2Detector:
        net = network(weights, bool(options.get("trust", False)))
        made = SARR2D2Detector(net, **options)
        return made.load()  # thresholds recommended by the weights need the runtime

    return _cached("detectors", key, build)


def prepare_process(threads: int | None) -> None:
    """Set up this process for its tasks: its threads and, once, glibc's allocator.

    Parameters
    ----------
    threads : int or None
        Intra-op threads of ONNX Runtime sessions made from now on, of torch
        when it is loaded, and of the dense (optical-SAR) matcher's pool
        (:func:`sarfeat.set_dense_threads`, which ``OMP_NUM_THREADS`` does not
        override): a worker of a cluster that does not set ``OMP_NUM_THREADS``
        then runs no pool of every CPU. None leaves all three alone.

    Raises
    ------
    TypeError, ValueError
        When ``threads`` is neither None nor a positive int.

    Notes
    -----
    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    turns off glibc's adaptive mmap threshold: every buffer above 128 kB is
    then mapped and unmapped afresh, and registration runs slower on CPU
    (measured in one process, one thread, 2026-12-07, ``benchmarks/README.md``:
    4.99-5.16 CPU s against 3.67-3.87 s with this tuning for four 512-pixel
    registrations, 1.33-1.36 times; 4.09-4.44 s without the variable). On glibc,
    the first call sets the mmap threshold to its
    adaptive maximum (32 MB) and the trim threshold to 256 MB, which
    restores the speed; freed memory above that is still returned.
    """
    global _MALLOC_TUNED
    threads = checked_threads(threads)  # a bad count changes nothing
    if threads is not None:
        set_dense_threads(threads)
        set_threads(threads)
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    if not _MALLOC_TUNED:
        _MALLOC_TUNED = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
            libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
        except (OSError, AttributeError):  # not glibc: nothing to tune
            pass


def load_count() -> int:
    """How many networks :func:`network` has loaded from files in this process (for tests
    and benchmarks)."""
    return _LOADS


def matcher_count() -> int:
    """How many matchers :func:`matcher` has built in this process (for tests): each loads
    its network once."""
    return _MATCHERS


def worker_name() -> str | None:
    """Address of the Dask worker running the caller, or None outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None
