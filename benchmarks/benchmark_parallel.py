"""asv: registering a stack on Dask with :func:`sarfeat.parallel.register_stack`.

Eight pairs: the bundled Sentinel-1 Labrador scene (VV fixed, VH under small
known similarities as the moving images, 256 px), on a LocalCluster of 1 or 2
single-threaded worker processes. The cluster is started and the network
loaded in ``setup`` (not timed). Larger runs, and the peak worker memory of
:func:`sarfeat.parallel.detect_tiled` on a 16384 x 16384 scene, are in the
plain script ``benchmarks/bench_parallel.py``. Skipped without
``dask.distributed``.
"""

from __future__ import annotations

import time

import numpy as np

PAIRS = 8


def _stack():
    from skimage.transform import SimilarityTransform, warp

    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")
    images = []
    for k in range(PAIRS):
        truth = SimilarityTransform(scale=1 + 0.01 * (k % 4), rotation=np.deg2rad(k - 4),
                                    translation=(k - 4.0, 3.0 - k))
        images.append(warp(scene[..., 1], truth.inverse, order=1, cval=np.nan,
                           preserve_range=True).astype(np.float32))
    return scene[..., 0], images


class StackRegistration:
    """Registering PAIRS pairs on 1 and 2 workers."""

    params = [1, 2]
    param_names = ["workers"]
    timeout = 600
    number = 1
    repeat = 2
    warmup_time = 0

    def setup(self, workers):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise NotImplementedError("dask.distributed is not installed") from None
        self.reference, self.images = _stack()
        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=":0")
        self.client = Client(self.cluster)
        self._run(self.images[:workers])  # load the network in every worker

    def teardown(self, workers):
        self.client.close()
        self.cluster.close()

    def _run(self, images):
        from sarfeat.parallel import register_stack

        return register_stack(self.reference, images, client=self.client, progress=False)

    def time_register_stack(self, workers):
        self._run(self.images)

    def track_pairs_per_minute(self, workers):
        started = time.perf_counter()
        self._run(self.images)
        return 60 * PAIRS / (time.perf_counter() - started)

    track_pairs_per_minute.unit = "pairs/min"
