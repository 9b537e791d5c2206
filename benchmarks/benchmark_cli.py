"""asv: how fast the ``sarfeat`` command answers (target: under 1 s).

Each figure is the wall time of a fresh ``python -m sarfeat ...`` process, as a
user sees it: ``--help``, and a usage error (a missing argument) that must be
reported before torch or the network is loaded. Run alone::

    asv run -E existing --bench benchmark_cli --show-stderr
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sarfeat", *args], cwd=ROOT, capture_output=True,
                   check=False, timeout=120)
    return time.perf_counter() - started


class CommandLineStartup:
    """Seconds until ``sarfeat --help`` and a usage error have answered."""

    timeout = 300
    repeat = 5
    number = 1

    def track_help_seconds(self):
        return min(_run("--help") for _ in range(3))

    track_help_seconds.unit = "seconds"

    def track_usage_error_seconds(self):
        return min(_run("register", "only-one.tif") for _ in range(3))

    track_usage_error_seconds.unit = "seconds"

    def track_register_help_seconds(self):
        return min(_run("register", "--help") for _ in range(3))

    track_register_help_seconds.unit = "seconds"


class ExampleStartup:
    """Wall seconds of ``sarfeat register --example`` in a fresh HOME, then again
    (targets: 3 s and 1.5 s; ``benchmarks/bench_startup.py`` prints the same table)."""

    timeout = 600
    repeat = 1
    number = 1

    def track_fresh_home_seconds(self):
        from .bench_startup import measure

        return min(measure(3)["fresh HOME"])

    track_fresh_home_seconds.unit = "seconds"

    def track_again_seconds(self):
        from .bench_startup import measure

        return min(measure(3)["again"])

    track_again_seconds.unit = "seconds"
