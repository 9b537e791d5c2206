"""The gray-value check of the optical-SAR matcher: mutual information about an answer.

The images are the bundled 3MOS tile pair (Apache-2.0): an optical tile and its
co-registered SAR tile.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sarfeat.data import load_optical_sar_tile
from sarfeat.matching import gray_check
from sarfeat.matching.dense_correlation import parabola
from sarfeat.matching.gray_check import (BINS, information_peak, information_surface,
                                         rank_levels)


@pytest.fixture(scope="module")
def tile():
    optical, sar = load_optical_sar_tile()
    return optical.astype(np.float64), sar.astype(np.float64)


def test_rank_levels_share_the_valid_pixels_equally_and_leave_the_rest_at_zero():
    values = np.random.default_rng(0).normal(size=(64, 64))
    valid = np.ones(values.shape, bool)
    valid[:8] = False
    levels = rank_levels(values, valid)
    counts = np.bincount(levels[valid], minlength=BINS)
    assert np.abs(counts - valid.sum() / BINS).max() <= 1
    assert (levels[~valid] == 0).all()
    # the levels follow the values' order, and equal values share a level
    order = np.argsort(values[valid])
    assert (np.diff(levels[valid][order]) >= 0).all()
    tied = np.repeat(np.arange(8.0), 512).reshape(64, 64)
    tied_levels = rank_levels(tied, np.ones(tied.shape, bool))
    assert all(len(np.unique(tied_levels[tied == v])) == 1 for v in range(8))


def test_the_information_is_blind_to_a_monotonic_stretch(tile):
    optical, sar = tile
    plain = information_surface(optical, sar, 2)
    logged = information_surface(optical, np.log(np.maximum(sar, 1e-3) + 1.0), 2)
    np.testing.assert_array_equal(plain, logged)


def test_the_peak_follows_a_known_shift_of_the_sar_tile(tile):
    optical, sar = tile
    unshifted = information_peak(optical, sar, 6)
    # image 2 moved by (dy, dx) = (3, -2): image 1's (y, x) now shows at (y + 3, x - 2)
    shifted = ndimage.shift(sar, (3, -2), order=1, cval=np.nan)
    peak = information_peak(optical, shifted, 6)
    assert unshifted is not None and peak is not None
    assert abs(peak.dy - unshifted.dy - 3) < 0.5 and abs(peak.dx - unshifted.dx + 2) < 0.5
    assert peak.offset == pytest.approx(np.hypot(peak.dy, peak.dx))
    # the same place: the peak stands well above the shifts 6 px away (little as a hilly
    # tile's grey values share: 0.058 nats against 0.031-0.034 at the corners)
    surface = information_surface(optical, shifted, 6)
    assert peak.information == pytest.approx(np.nanmax(surface))
    assert peak.information > 1.5 * max(surface[0, 0], surface[0, -1], surface[-1, 0],
                                        surface[-1, -1])


def test_the_peak_is_read_where_a_turned_information_peak_is(monkeypatch):
    """A peak turned from the grid of shifts (a quadratic with a cross term, its top at
    (dy, dx) = (1.3, -0.35)) is read at its top, not towards the whole shift where two
    parabolas along the row and the column through the best shift cross it; next to a shift
    not measured each axis is read alone."""
    rows, cols = np.mgrid[-3:4, -3:4].astype(float)
    y, x = rows - 1.3, cols + 0.35
    surface = 0.5 - 0.02 * (2 * x ** 2 + 1.5 * x * y + y ** 2)
    monkeypatch.setattr(gray_check, "information_surface", lambda *args: surface)
    peak = information_peak(np.zeros((8, 8)), np.zeros((8, 8)), 3)
    assert (peak.dy, peak.dx) == pytest.approx((1.3, -0.35))
    # a shift next to the best one unmeasured: a parabola along the row and the column
    surface[3, 2] = np.nan  # the best is (4, 3)
    peak = information_peak(np.zeros((8, 8)), np.zeros((8, 8)), 3)
    assert (peak.dy, peak.dx) == pytest.approx((1 + parabola(*surface[3:6, 3]),
                                                parabola(*surface[4, 2:5])))


def test_nan_is_no_data_and_too_little_overlap_gives_no_peak(tile):
    optical, sar = tile
    holed = sar.copy()
    holed[:, :128] = np.nan
    surface = information_surface(optical, holed, 3)
    assert np.isfinite(surface).all()
    assert not np.array_equal(surface, information_surface(optical, sar, 3))
    assert information_peak(np.full((40, 40), np.nan), np.ones((40, 40)), 2) is None
    with pytest.raises(ValueError, match="shape"):
        information_surface(optical, sar[:100], 2)


def test_each_shift_counts_the_pixel_pairs_valid_in_both_images():
    # the surface against the mutual information of each shift's overlap, measured
    # directly: pixels invalid in either image (here scattered in both, and a block of
    # image 1) are left out of the joint histogram, whatever the other image holds there
    rng = np.random.default_rng(11)
    image1 = rng.random((60, 70))
    image2 = image1 + 0.5 * rng.random((60, 70))
    image1[:20, :25] = np.nan
    image1[rng.random(image1.shape) < 0.1] = np.nan
    image2[rng.random(image2.shape) < 0.1] = np.nan
    reach = 2
    surface = information_surface(image1, image2, reach)
    levels1, levels2 = (rank_levels(image, np.isfinite(image)) for image in (image1, image2))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            moved2 = np.full(image2.shape, np.nan)  # image 2's (y + dy, x + dx) at (y, x)
            moved2[max(0, -dy):60 - max(0, dy), max(0, -dx):70 - max(0, dx)] = \
                image2[max(0, dy):60 + min(0, dy), max(0, dx):70 + min(0, dx)]
            moved_levels = np.zeros(levels2.shape, int)
            moved_levels[max(0, -dy):60 - max(0, dy), max(0, -dx):70 - max(0, dx)] = \
                levels2[max(0, dy):60 + min(0, dy), max(0, dx):70 + min(0, dx)]
            both = np.isfinite(image1) & np.isfinite(moved2)
            joint = np.zeros((BINS, BINS))
            np.add.at(joint, (levels1[both], moved_levels[both]), 1)
            joint /= joint.sum()
            outer = np.outer(joint.sum(1), joint.sum(0))
            present = joint > 0
            expected = (joint[present] * np.log(joint[present] / outer[present])).sum()
            assert surface[reach + dy, reach + dx] == pytest.approx(expected, rel=1e-12)
