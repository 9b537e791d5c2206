"""Throughput of stack registration and memory of tiled detection on Dask.

A plain script (not asv: it starts clusters and takes minutes). Two parts:

``--throughput``
    Registers a stack of real SAR pairs (the HV and VV channels of the AIRSAR
    scene under known similarity warps, onto HH; ``--size`` pixels, built by
    mirroring the 256-pixel scene) with :func:`sarfeat.parallel.register_stack`
    on LocalClusters of 1 and 2 single-threaded workers, and reports pairs per
    minute. Each cluster first registers one pair per worker (loading the
    network), which is not timed; cluster start-up is reported apart. The
    serial path (:func:`sarfeat.register` with one matcher, one torch thread)
    is timed on the same pairs as the baseline.

``--memory``
    Writes a ``--scene``-pixel square scene (default 16384) as a ``.npy``
    file in a temporary folder (a mosaic of the real 256-pixel scenes, turned
    and mirrored, float32 intensity, 1 GiB at 16384), runs
    :func:`sarfeat.parallel.detect_tiled` on it, memory-mapped, with 2 workers,
    and reports each worker's peak resident memory (RSS sampled every 20 ms in
    the worker process; it includes Python, torch and the loaded network),
    the RSS of the workers with the network loaded before the run, the
    client's RSS before and at its peak during the run (sampled the same
    way), and the time.

Run from the repository root, e.g.::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_parallel.py --throughput
    SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_parallel.py --memory

Results are printed as JSON (and written to ``--json`` when given).

Measured on 2026-11-27 on the project's 2-core CPU VM (AVX-512 BF16, so the
network runs in bf16; torch 2.13, dask/distributed 2026.8.0), while two other
jobs shared the cores (load average 4-7), so the 2-worker figure understates
the scaling of an idle machine:

- throughput, 16 pairs of 512 px (default matcher options): serial 25.6
  pairs/min; Dask 1 worker 23.9; 2 workers 27.4 (cluster start-up about 1 s);
- memory, 16384 x 16384 float32 scene (1 GiB ``.npy``), tiles of 1024 px (256
  tiles of 1080 px with halos), 2 workers: peak RSS per worker 769 and 779
  MiB, of which 326 MiB is Python, torch and the loaded network before the
  run; client peak 357 MiB; 443 s (36 megapixels a minute).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _start_sampler(period: float = 0.02) -> float:
    """Start a thread in this process that keeps the peak of its RSS; return the RSS now."""
    import threading

    import psutil

    process = psutil.Process()

    def sample() -> None:
        while not thread.stop:
            thread.peak = max(thread.peak, process.memory_info().rss)
            time.sleep(period)

    thread = threading.Thread(target=sample, name="sarfeat-rss-sampler", daemon=True)
    thread.peak, thread.stop = process.memory_info().rss, False
    thread.start()
    return thread.peak / 2 ** 20


def _load_network() -> None:
    """Import torch and load the default network in this worker, as a task would."""
    from sarfeat.parallel import _worker

    _worker.network(None)


def _stop_sampler() -> float:
    """Stop the sampler thread of this process; return the peak RSS it saw, in MiB."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "sarfeat-rss-sampler":
            thread.stop = True
            thread.join()
            return thread.peak / 2 ** 20
    raise RuntimeError("no RSS sampler runs in this process")


def _cluster(workers: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", memory_limit=0)
    return cluster, Client(cluster)


def _stack(count: int, size: int):
    from skimage.transform import SimilarityTransform, warp

    from sarfeat.data import load_sar_scene

    cube = load_sar_scene("sanfrancisco")
    big = np.pad(cube, ((0, size - 256), (0, size - 256), (0, 0)), mode="symmetric")
    reference = big[..., 0]
    images = []
    for k in range(count):
        truth = SimilarityTransform(scale=1 + 0.01 * (k % 5), rotation=np.deg2rad(k % 7 - 3),
                                    translation=(2.0 * (k % 6) - 5, 4.0 - k % 9))
        images.append(warp(big[..., 1 + k % 2], truth.inverse, order=1, cval=np.nan,
                           preserve_range=True).astype(np.float32))
    return reference, images


def throughput(pairs: int, size: int, worker_counts: list[int]) -> dict:
    import torch

    from sarfeat import CoarseFineMatcher, register
    from sarfeat.parallel import register_stack

    reference, images = _stack(pairs, size)
    out = {"pairs": pairs, "size": size, "runs": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    matcher = CoarseFineMatcher(rng=0)
    register(reference, images[0], matcher=matcher)  # load the network, warm up
    started = time.perf_counter()
    for image in images:
        register(reference, image, matcher=matcher)
    seconds = time.perf_counter() - started
    torch.set_num_threads(threads)
    out["runs"].append({"path": "serial, 1 torch thread", "seconds": seconds,
                        "pairs_per_minute": 60 * pairs / seconds})
    print(json.dumps(out["runs"][-1]), flush=True)
    for workers in worker_counts:
        started = time.perf_counter()
        cluster, client = _cluster(workers)
        startup = time.perf_counter() - started
        try:
            register_stack(reference, images[:workers], client=client, progress=False)  # warm
            started = time.perf_counter()
            outcomes = register_stack(reference, images, client=client, progress=False)
            seconds = time.perf_counter() - started
        finally:
            client.close()
            cluster.close()
        out["runs"].append({
            "path": f"dask, {workers} worker(s) x 1 thread", "seconds": seconds,
            "pairs_per_minute": 60 * pairs / seconds, "cluster_startup_seconds": startup,
            "registered": sum(o.ok for o in outcomes),
        })
        print(json.dumps(out["runs"][-1]), flush=True)
    return out


def _write_scene(path: Path, size: int) -> None:
    """A ``size`` x ``size`` float32 mosaic of real SAR scenes, written block by block."""
    from sarfeat.data import load_sar_scene

    scenes = [load_sar_scene(n) for n in ("sanfrancisco", "labrador", "shanghai")]
    pieces = [np.rot90(s[..., c], k)[::f] for s in scenes for c in range(s.shape[-1])
              for k in range(4) for f in (1, -1)]
    scene = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, size))
    rng = np.random.default_rng(0)
    for r in range(0, size, 256):
        row = [pieces[i] for i in rng.integers(len(pieces), size=-(-size // 256))]
        scene[r:r + 256] = np.concatenate(row, axis=1)[: min(256, size - r), :size]
    scene.flush()
    del scene


def memory(size: int, tile_size: int, workers: int) -> dict:
    from sarfeat.parallel import detect_tiled

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.npy"
        started = time.perf_counter()
        _write_scene(path, size)
        written = time.perf_counter() - started
        cluster, client = _cluster(workers)
        try:
            client.run(_load_network)
            before = client.run(_start_sampler)
            client_before = _start_sampler()
            started = time.perf_counter()
            features = detect_tiled(path, client=client, tile_size=tile_size, progress=False)
            seconds = time.perf_counter() - started
            peaks = client.run(_stop_sampler)
            client_peak = _stop_sampler()
        finally:
            client.close()
            cluster.close()
    return {
        "scene": [size, size], "scene_file_mib": size * size * 4 / 2 ** 20,
        "tile_size": tile_size, "tiles": features.tiles, "workers": workers,
        "keypoints": len(features.keypoints), "seconds": seconds,
        "megapixels_per_minute": 60 * size * size / 1e6 / seconds,
        "scene_write_seconds": written,
        "worker_peak_rss_mib": sorted(peaks.values()),
        "worker_rss_before_mib": sorted(before.values()),
        "client_rss_before_mib": client_before,
        "client_peak_rss_mib": client_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--size", type=int, default=512, help="pair size (pixels)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scene", type=int, default=16384, help="side of the memory scene")
    parser.add_argument("--tile-size", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = {}
    if args.throughput:
        results["throughput"] = throughput(args.pairs, args.size, args.workers)
    if args.memory:
        results["memory"] = memory(args.scene, args.tile_size, max(args.workers))
    text = json.dumps(results, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
