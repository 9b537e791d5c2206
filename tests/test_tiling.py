"""Tests of the tiled inference path: the tile grid, and tiles against whole levels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from sarfeat import SARR2D2Detector
from sarfeat.network import weights_of_network
from sarfeat.runtime import tile_grid
from sarfeat.runtime.torch import DenseRunner


# -- tile_grid -------------------------------------------------------------------------------


def _check_grid(height, width, tile_size, halo):
    """Assert the documented properties of ``tile_grid(height, width, tile_size, halo)``."""
    tiles = tile_grid(height, width, tile_size, halo)
    assert len(tiles) >= 1
    cover = np.zeros((height, width), dtype=np.int32)
    for tile in tiles:
        r0, r1, c0, c1 = tile.outer
        cr0, cr1, cc0, cc1 = tile.core
        # windows lie in the level and are not empty
        assert 0 <= r0 <= cr0 < cr1 <= r1 <= height
        assert 0 <= c0 <= cc0 < cc1 <= c1 <= width
        # the outer window leaves at least `halo` pixels around the core, or all there is
        assert cr0 - r0 >= min(halo, cr0)
        assert cc0 - c0 >= min(halo, cc0)
        assert r1 - cr1 >= min(halo, height - cr1)
        assert c1 - cc1 >= min(halo, width - cc1)
        # even starts keep the 2x2 pooling aligned with that of the whole level
        assert r0 % 2 == 0 and c0 % 2 == 0
        if tile_size is not None:
            assert cr1 - cr0 <= max(tile_size, height) and cc1 - cc0 <= max(tile_size, width)
        cover[cr0:cr1, cc0:cc1] += 1
    # the cores partition the level: every pixel exactly once
    assert cover.min() == 1 and cover.max() == 1
    return tiles


@pytest.mark.parametrize(
    "height, width, tile_size, halo",
    [
        (2048, 2048, 512, 28),
        (1205, 1722, 512, 28),
        (600, 600, 512, 28),  # fits one tile plus halo
        (569, 567, 512, 28),  # one pixel too many for a single tile in rows
        (1, 5000, 512, 28),
        (37, 100, 16, 28),  # halo larger than the core
        (255, 255, 64, 0),
        (256, 256, None, 28),
    ],
)
def test_tile_grid_properties(height, width, tile_size, halo):
    _check_grid(height, width, tile_size, halo)


def test_tile_grid_none_is_one_tile():
    (tile,) = tile_grid(300, 200, None, 28)
    assert tile.outer == tile.core == (0, 300, 0, 200)


def test_tile_grid_tiles_large_levels():
    """A level much larger than a tile is really cut (several tiles per axis)."""
    tiles = _check_grid(2048, 1100, 512, 28)
    assert len({t.core[:2] for t in tiles}) == 4
    assert len({t.core[2:] for t in tiles}) == 3


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 1500),
    width=st.integers(1, 1500),
    tile_size=st.integers(16, 600),
    halo=st.integers(0, 40),
)
def test_tile_grid_properties_random(height, width, tile_size, halo):
    _check_grid(height, width, tile_size, halo)


# -- tiles against whole levels ----------------------------------------------------------------


@pytest.fixture(scope="module")
def runner(naver_net):
    return DenseRunner(weights_of_network(naver_net), "cpu", "fp32")


def test_tile_cores_equal_whole_maps(runner, airsar_cube):
    """With fp32, the maps kept from each tile's core equal those of the whole image."""
    image = np.ascontiguousarray(_stretch(airsar_cube[:203, :227, 1]), dtype=np.float32)
    whole = runner.run(image)
    height, width = image.shape
    tiles = tile_grid(height, width, 64, runner.halo)
    assert len(tiles) > 1
    for tile in tiles:
        r0, r1, c0, c1 = tile.outer
        cr0, cr1, cc0, cc1 = tile.core
        part = runner.run(image[r0:r1, c0:c1])
        in_tile = (slice(cr0 - r0, cr1 - r0), slice(cc0 - c0, cc1 - c0))
        in_whole = (slice(cr0, cr1), slice(cc0, cc1))
        np.testing.assert_allclose(
            part.reliability[in_tile], whole.reliability[in_whole], atol=2e-4, rtol=0
        )
        np.testing.assert_allclose(
            part.repeatability[in_tile], whole.repeatability[in_whole], atol=2e-4, rtol=0
        )
        # descriptors on a sub-grid of the core, at integer and half-integer positions
        rows, cols = np.meshgrid(
            np.arange(cr0, cr1, 5, dtype=np.float64), np.arange(cc0, cc1, 7, dtype=np.float64),
            indexing="ij",
        )
        rows, cols = rows.ravel(), cols.ravel()
        rows[::2] = np.minimum(rows[::2] + 0.5, cr1 - 1)
        from_tile = part.descriptors_at(rows - r0, cols - c0)
        from_whole = whole.descriptors_at(rows, cols)
        np.testing.assert_allclose(from_tile, from_whole, atol=1e-4, rtol=0)


def _stretch(intensity):
    """dB then a 1-99 % stretch to [0, 1], float32."""
    db = 10 * np.log10(intensity)
    low, high = np.percentile(db, [1, 99])
    return np.clip((db - low) / (high - low), 0, 1).astype(np.float32)


def _same_keypoints(a, b, tol=0.5):
    """Every keypoint of ``a`` has one within ``tol`` px in ``b``, and vice versa."""
    assert len(a) == len(b)
    dist_ab, _ = cKDTree(b).query(a)
    dist_ba, _ = cKDTree(a).query(b)
    assert dist_ab.max() <= tol, f"{(dist_ab > tol).sum()} keypoints without a counterpart"
    assert dist_ba.max() <= tol, f"{(dist_ba > tol).sum()} keypoints without a counterpart"


def test_small_tiles_match_untiled(naver_net, airsar_cube):
    """On a 192 px crop of the scene (three tiles a side at full resolution, levels whose
    side is no multiple of the tile below it), 64 px tiles give the keypoints of the untiled
    run (the whole 256 px scene cost twice as much, most of it in the tiles' halos)."""
    image = airsar_cube[:192, :192, 0]
    found = {}
    for tile_size in (64, None):
        detector = SARR2D2Detector(
            naver_net, min_size=128, max_size=256, precision="fp32", tile_size=tile_size,
            max_keypoints=100_000,
        )
        detector.detect_and_extract(image)
        found[tile_size] = detector
    tiled, whole = found[64], found[None]
    _same_keypoints(tiled.keypoints, whole.keypoints)
    order_t = np.lexsort(tiled.keypoints.T)
    order_w = np.lexsort(whole.keypoints.T)
    np.testing.assert_allclose(
        tiled.descriptors[order_t], whole.descriptors[order_w], atol=1e-3
    )


def _mosaic(cube, blocks_per_side: int):
    """A square float32 intensity scene of rotated/flipped AIRSAR channels, 256 px blocks."""
    blocks = []
    for channel in range(cube.shape[2]):
        for quarter in range(4):
            rotated = np.rot90(cube[:, :, channel], quarter)
            blocks += [rotated, np.fliplr(rotated)]
    n = blocks_per_side
    rows = [[blocks[(8 * i + 5 * j) % len(blocks)] for j in range(n)] for i in range(n)]
    return np.block(rows).astype(np.float32)


@pytest.mark.slow
def test_tiled_1024_matches_untiled(naver_net, airsar_cube):
    """A 1024 px scene in 256 px tiles gives the untiled keypoints within 0.5 px.

    Two levels: full resolution (16 tiles) and scale 1/1.7, whose 602 px side is
    not a multiple of the tile size. Upright: the quarter-turned tiles are checked
    by ``test_small_tiles_match_untiled``, and four network runs per level made this
    check cost minutes (at 2048 px in 512 px tiles, six minutes and 4 GB).
    """
    image = _mosaic(airsar_cube, 4)
    assert image.shape == (1024, 1024)
    found = {}
    for tile_size in (256, None):
        detector = SARR2D2Detector(
            naver_net, min_size=512, max_size=1024, precision="fp32", tile_size=tile_size,
            scale_factor=1.7, max_keypoints=10**7, upright=True,
        )
        detector.detect(image)
        found[tile_size] = detector.keypoints
    assert sorted(set(np.round(32 / detector.scales, 3))) == [0.588, 1.0]
    assert len(found[None]) > 1000
    _same_keypoints(found[256], found[None])


# -- the progress bar over tiles -------------------------------------------------------------


def test_progress_bar_over_tiles_shows_only_when_asked(capsys):
    image = np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32)
    for progress in (True, False):
        SARR2D2Detector(tile_size=64, progress=progress).detect(image)
        assert ("sarfeat" in capsys.readouterr().err) == progress


def test_a_killed_process_that_detected_leaves_no_semaphore():
    """A Dask worker (a spawned process) killed after a detection (test_parallel kills one)
    left a named semaphore: the tiles' bar, disabled, was made all the same, and tqdm's first
    bar creates a multiprocessing lock; the resource tracker then warned 'There appear to be
    1 leaked semaphore objects to clean up at shutdown'."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    import sarfeat

    code = textwrap.dedent("""
        import multiprocessing, os, signal
        import numpy as np
        multiprocessing.set_start_method("spawn")  # a named semaphore per lock, as in workers
        from sarfeat import SARR2D2Detector
        detector = SARR2D2Detector(tile_size=64)
        detector.detect(np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype("float32"))
        print(len(detector.keypoints), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no exit handler runs
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=os.path.dirname(os.path.dirname(sarfeat.__file__)))
    assert result.returncode == -signal.SIGKILL and int(result.stdout) > 0, result.stderr
    assert "leaked" not in result.stderr, result.stderr
