"""Wall time of ``sarfeat register --example`` as a user sees it: fresh HOME, then again.

Each run is a new ``python -m sarfeat register --example`` process (the bundled
256 x 256 Sentinel-1 pair, offline). Three cases:

- ``fresh HOME``: a new empty HOME and cache folder (sarfeat's and ONNX Runtime's
  caches empty), as on a user's first call;
- ``again``: the same HOME a second time;
- ``new kernels cache``: also an empty numba cache (``NUMBA_CACHE_DIR``), as on the
  first call after installing with numba (the ``fast`` or ``test`` extra): numba
  compiles the kernels once per install; a plain install has no numba.

Run from the repository root::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/bench_startup.py --repeats 5

Prints the median and the spread of each case and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def example_seconds(home: Path, numba_cache: Path | None = None) -> float:
    """Wall seconds of one ``sarfeat register --example`` process with ``home`` as HOME."""
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("SARFEAT_CACHE_DIR", None)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sarfeat", "register", "--example"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "RMSE against the truth" not in done.stdout:
        raise RuntimeError(f"the example failed: {done.stderr[-2000:]}")
    return seconds


def measure(repeats: int) -> dict[str, list[float]]:
    """Seconds of each case, ``repeats`` times, the cases interleaved."""
    times: dict[str, list[float]] = {"fresh HOME": [], "again": [], "new kernels cache": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder) / "home"
            home.mkdir()
            times["fresh HOME"].append(example_seconds(home))
            times["again"].append(example_seconds(home))
            times["new kernels cache"].append(
                example_seconds(Path(folder) / "other", Path(folder) / "numba"))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (default 3)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    from sarfeat.runtime.choice import cpu_name

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
    times = measure(args.repeats)
    print(f"{'case':<20} {'median [s]':>10} {'min [s]':>8} {'max [s]':>8}")
    for case, values in times.items():
        print(f"{case:<20} {statistics.median(values):>10.2f} {min(values):>8.2f} "
              f"{max(values):>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
