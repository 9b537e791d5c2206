"""The coarse pyramid that reaches ``max_scale_change``: its cost on a same-scale pair, its
gain on zooms.

Since issue 19 the coarse detector's pyramid reaches down to ``coarse_size /
max_scale_change`` (128 px by default) instead of half of ``coarse_size``.

- *Cost*: development pair i (1602 x 1597, same scale), ``register`` with the
  default matcher against one whose coarse pyramid stops at half the size
  (``coarse=CoarseSettings(max_scale_change=2)``, which also makes scale changes
  beyond 2 implausible: none on this pair), in the same process, interleaved
  (A B, B A, ...), the network loaded once. Medians of the wall-clock time and
  of the coarse stage's time.
- *Gain*: pair l with image 2 zoomed 1.5, 2 and 3 times (``skimage``'s
  ``rescale``, float32), RMSE of the default matcher against the reference
  transform in the fixed image's pixels, or 'refused' (before the change, the
  zoom of 2 was refused).

Run from the repository root (about 10 minutes on an idle 2-core CPU)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_zoom_pyramid.py --rounds 4
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from skimage.transform import rescale

from sarfeat import CoarseFineMatcher, RegistrationError, register
from sarfeat.data import load_pair, load_reference_transform
from sarfeat.matching import CoarseSettings
from sarfeat.metrics import registration_rmse


def _cost(rounds: int) -> None:
    fixed, moving = load_pair("i")
    matchers = {"half (before)": CoarseFineMatcher(coarse=CoarseSettings(max_scale_change=2.0),
                                                   progress=False),
                "to max_scale_change": CoarseFineMatcher(progress=False)}
    for matcher in matchers.values():
        register(fixed, moving, matcher=matcher)  # loads the network, warms the runtime
    times: dict = {name: [] for name in matchers}
    coarse: dict = {name: [] for name in matchers}
    names = list(matchers)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            result = register(fixed, moving, matcher=matchers[name])
            times[name].append(time.perf_counter() - started)
            coarse[name].append(result.diagnostics["seconds_coarse"])
            print(f"  {name:20s} {times[name][-1]:6.1f} s (coarse {coarse[name][-1]:5.1f} s), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    for name in names:
        print(f"pair i, {name:20s}: median {np.median(times[name]):6.1f} s, "
              f"coarse stage {np.median(coarse[name]):5.1f} s")
    print(f"ratio (to max_scale_change / half): "
          f"{np.median(times[names[1]]) / np.median(times[names[0]]):.3f}")


def _gain(zooms) -> None:
    fixed, moving = load_pair("l")
    reference = load_reference_transform("l")
    matcher = CoarseFineMatcher(progress=False)
    for zoom in zooms:
        zoomed = rescale(moving.astype(np.float32), zoom, order=1, preserve_range=True,
                         anti_aliasing=False).astype(np.float32)
        truth = np.diag([zoom, zoom, 1.0]) @ reference
        try:
            result = register(fixed, zoomed, matcher=matcher)
        except RegistrationError as refusal:
            print(f"pair l zoomed {zoom}: refused ({str(refusal)[:100]}...)")
            continue
        error = registration_rmse(result.transform, truth, fixed.shape, zoomed.shape) / zoom
        print(f"pair l zoomed {zoom}: RMSE {error:.2f} px (fixed image's pixels), "
              f"confidence {result.confidence:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds on pair i")
    parser.add_argument("--zooms", type=float, nargs="*", default=[1.5, 2.0, 3.0])
    args = parser.parse_args()
    _cost(args.rounds)
    _gain(args.zooms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
