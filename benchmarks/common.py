"""Settings shared by sarfeat's asv benchmarks (no benchmark here)."""

from __future__ import annotations


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
