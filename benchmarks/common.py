"""Settings shared by sarfeat's asv benchmarks (no benchmark here)."""

from __future__ import annotations

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
