"""The detector's pyramid scales (sarfeat.pyramid.pyramid_scales) at their bounds."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from sarfeat.pyramid import pyramid_scales


def _pyramid_apart(line: str) -> subprocess.CompletedProcess:
    """Run ``line`` (pyramid_scales imported) in a child under a 4 GiB memory cap, so that a
    pyramid that never ends cannot take the suite with it."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
            "from sarfeat.pyramid import pyramid_scales\n" + line)
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **threads})  # BLAS buffers: small


def test_no_lower_bound_is_refused_rather_than_a_pyramid_without_end():
    """min_size=0 with min_scale=0 (the default) left 0 as the lower bound, which the scales
    reach only by underflow and then keep: the list grew until memory ran out."""
    done = _pyramid_apart("pyramid_scales((300, 300), min_size=0)")
    assert "ValueError: min_scale or min_size must be positive" in done.stderr, \
        done.stderr[-500:]


def test_a_small_min_size_on_a_long_image_ends_the_pyramid():
    """min_size=16 on a Sentinel-1 GRD scene (25000 px): its bound 6.4e-4 lay under the
    absolute slack 1e-3, so the scales (only tending to 0) never fell below it and the list
    grew until memory ran out. Run apart, under a memory cap, so that a hang cannot take
    the suite with it."""
    done = _pyramid_apart("print([round(25000 * s) for s in "
                          "pyramid_scales((25000, 16000), min_size=16)])")
    assert done.returncode == 0, done.stderr[-500:]
    sizes = ast.literal_eval(done.stdout)
    assert sizes[0] <= 1024 and 16 <= sizes[-1] < 16 * 2 ** 0.25


def test_equal_small_min_and_max_sizes_give_one_level_on_a_long_image():
    """min_size == max_size gives one level (as documented), on a 10000 px image too: the
    absolute slack 1e-3 on the bound 1.6e-3 kept levels of up to 26 px for max_size 16."""
    scales = pyramid_scales((10000, 3000), min_size=16, max_size=16)
    assert [round(10000 * s) for s in scales] == [16]
