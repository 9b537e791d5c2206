"""Settings shared by sarfeat's asv benchmarks (no benchmark here)."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

#: The distilled narrow network (``fast_r2d2_lite``); benchmarks of it are skipped on
#: versions of sarfeat that do not have it.
LITE_WEIGHTS = "sarfeat-sar-lite"


def require_lite_weights() -> None:
    """Raise NotImplementedError (asv: skipped) when this sarfeat has no lite weights."""
    from sarfeat.weights import weight_names

    if LITE_WEIGHTS not in weight_names():
        raise NotImplementedError(f"no {LITE_WEIGHTS} weights in this version")


class SlowTiming:
    """asv timing attributes for calls of a second or more.

    One call per sample (``number = 1``), at most three samples within
    ``repeat[2]`` seconds, one round and no warm-up loop: each benchmark warms
    up what it needs in ``setup``. ``asv run --quick`` takes a single sample.
    """

    number = 1
    repeat = (1, 3, 30.0)
    rounds = 1
    min_run_count = 1
    warmup_time = 0.0
    timeout = 900


def use_shared_data() -> None:
    """Make ``SARFEAT_DATA_DIR`` absolute, or point it at ``../shared/data`` when unset.

    asv runs benchmarks in a temporary folder: a relative ``SARFEAT_DATA_DIR``
    (``../shared/data``, as in the README) is read from the repository root.
    """
    root = Path(__file__).resolve().parents[1]
    value = os.environ.get("SARFEAT_DATA_DIR")
    if value and not Path(value).expanduser().is_absolute():
        os.environ["SARFEAT_DATA_DIR"] = str((root / value).resolve())
    elif not value and (root.parent / "shared" / "data").is_dir():
        os.environ["SARFEAT_DATA_DIR"] = str(root.parent / "shared" / "data")


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this
    process's own address space. ``ru_maxrss`` is only the fallback: after
    fork + exec it also counts the parent's resident memory at the fork.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
