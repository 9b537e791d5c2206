"""Resident memory of ``sarfeat.register`` stage by stage, on the large synthetic pair.

A thread samples the process's resident set size (``VmRSS``) every 20 ms while
``register(fixed, moving, rng=0, progress=False)`` runs on the pair of
``bench_large_registration.py``; the stages (input checks, normalisation, coarse
stage, the fine stage's sweep over its patches, votes, fit, last local search,
final warp) are marked by wrapping them, and the highest RSS between two marks
is printed. Linux only (``/proc/self/status``).

Run from the repository root (the 4096² pair takes one to three minutes)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/profile_large_memory.py --size 4096

With ``--folder DIR`` the pair is read from ``DIR/fixed.npy``, ``DIR/moving.npy``
and ``DIR/truth.npy`` (as ``bench_large_registration.py``'s child process does),
so the peak is not that of generating it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

#: (module, owner, attribute, label) of the wrapped stages.
STAGES = (
    ("sarfeat.registration", None, "_check_input", "input check"),
    ("sarfeat.matching.matcher", None, "normalized_input", "normalisation"),
    ("sarfeat.matching.matcher", None, "coarse_stage", "coarse stage"),
    ("sarfeat.matching.fine", "FineStage", "_sweep", "fine patches"),
    ("sarfeat.matching.fine", "FineStage", "voted", "votes"),
    ("sarfeat.matching.fine", "FineStage", "fit", "fit"),
    ("sarfeat.matching.fine", "FineStage", "final_search", "last local search"),
    ("sarfeat.registration", None, "warp", "final warp"),
)


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """RSS samples and stage marks, with their times."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss()))
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        time.sleep(0.05)
        self._stop.set()
        self._thread.join()

    def mark(self, label: str) -> None:
        self.marks.append((time.perf_counter(), label))

    def wrap(self, owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def wrapped(*args, **kwargs):
            self.mark(f"{label} start")
            try:
                return original(*args, **kwargs)
            finally:
                self.mark(f"{label} end")

        setattr(owner, attribute, wrapped)

    def report(self) -> list[tuple[str, str, float, float]]:
        """(from, to, seconds, peak MiB) between consecutive marks with samples."""
        times = np.array([t for t, _ in self.samples])
        values = np.array([v for _, v in self.samples])
        rows = []
        for (t0, a), (t1, b) in zip(self.marks, self.marks[1:]):
            inside = (times >= t0) & (times <= t1)
            if inside.any():
                rows.append((a, b, t1 - t0, values[inside].max() / 2 ** 20))
        return rows


def main(argv=None) -> int:
    import importlib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--folder", help="read fixed.npy, moving.npy, truth.npy from here")
    args = parser.parse_args(argv)
    if args.folder:
        folder = Path(args.folder)
        fixed, moving = np.load(folder / "fixed.npy"), np.load(folder / "moving.npy")
        truth = np.load(folder / "truth.npy")
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_large_registration import large_pair

        fixed, moving, truth = large_pair(args.size)
    from sarfeat import register
    from sarfeat.metrics import registration_rmse

    sampler = Sampler()
    for module, owner, attribute, label in STAGES:
        target = importlib.import_module(module)
        sampler.wrap(getattr(target, owner) if owner else target, attribute, label)
    baseline = _rss()
    sampler.start()
    sampler.mark("begin")
    started, cpu = time.perf_counter(), time.process_time()
    result = register(fixed, moving, rng=0, progress=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    sampler.mark("done")
    sampler.stop()
    rmse = registration_rmse(result.transform.params, truth, fixed.shape, moving.shape)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{fixed.shape[0]}² pair: {seconds:.1f} s (CPU {cpu:.1f} s), RMSE {rmse:.3f} px; "
          f"RSS {baseline / 2 ** 20:.0f} MiB before register (libraries, the inputs), "
          f"peak of the process {peak:.0f} MiB")
    for first, last, span, high in sampler.report():
        print(f"{first:>24s} -> {last:<24s} {span:7.1f} s  peak {high:7.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
