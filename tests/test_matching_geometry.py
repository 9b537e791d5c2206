"""The pure geometry of the matcher (``sarfeat.matching.geometry``)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, SimilarityTransform

from sarfeat.matching.geometry import (
    angle_difference,
    apply_matrix,
    deviation,
    downsample,
    overlap_box,
    plausible_matrices,
    rotation_scale,
    tiles,
    turn,
    warp_nan,
)


def test_rotation_scale_reads_skimage_similarity():
    matrix = SimilarityTransform(scale=1.3, rotation=np.deg2rad(-25), translation=(4, 5)).params
    angle, scale, det = rotation_scale(matrix)
    assert angle == pytest.approx(-25) and scale == pytest.approx(1.3)
    assert det == pytest.approx(1.69)


@pytest.mark.parametrize("angle", [90.0, 180.0, 270.0, 33.0])
def test_turn_keeps_the_whole_image_on_its_canvas(angle):
    shape = (40, 70)
    matrix, canvas = turn(shape, angle)
    corners = np.array([[0, 0], [69, 0], [0, 39], [69, 39]], float)
    mapped = apply_matrix(matrix, corners)
    assert mapped.min() >= -1e-9
    assert mapped[:, 0].max() <= canvas[1] - 1 + 1e-9 and mapped[:, 1].max() <= canvas[0] - 1 + 1e-9
    assert angle_difference(rotation_scale(matrix)[0], angle) == pytest.approx(0, abs=1e-9)
    if angle in (90.0, 270.0):
        assert canvas == (70, 40)
        # a right angle maps pixel centres onto pixel centres: an exact resampling
        np.testing.assert_allclose(mapped, np.round(mapped), atol=1e-9)


def test_warp_nan_spreads_no_data_and_keeps_values():
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    image[4, 4] = np.nan
    # the output is the input moved right by 2 pixels: output (x, y) -> input (x - 2, y)
    out = warp_nan(image, AffineTransform(translation=(-2, 0)).params, (10, 10), 1)
    np.testing.assert_allclose(out[0, 2:], image[0, :8])
    assert np.isnan(out[:, :2]).all() and np.isnan(out[4, 6])
    # a failed (NaN) model warps to nothing, as it did before the warp refused it
    failed = warp_nan(image, np.full((3, 3), np.nan), (6, 7), 1)
    assert failed.shape == (6, 7) and failed.dtype == np.float32 and np.isnan(failed).all()


def test_downsample_maps_its_pixels_back():
    image = np.zeros((200, 300), np.float32)
    image[100, 150] = 1.0
    small, matrix = downsample(image, 0.25)
    assert small.shape == (50, 75)
    peak = np.unravel_index(np.argmax(small), small.shape)
    back = apply_matrix(matrix, np.array([[peak[1], peak[0]]], float))[0]
    assert np.abs(back - (150, 100)).max() <= 2.5


@pytest.mark.parametrize("shape, factor", [((1000, 1001), 0.256), ((999, 1003), 0.5),
                                           ((2047, 1999), 0.125), ((1203, 1001), 1 / 8.6)])
def test_downsample_s_matrix_puts_each_pixel_at_the_centre_it_averages(shape, factor):
    """The convention the fine stage's placements rest on: a working pixel is the mean of the
    image about the point its matrix gives (pixel centres at integers, a factor whole or not,
    the block-mean path of large reductions too). A ramp is kept by the averaging, so the
    interior of the small image must read its own coordinates back through the matrix; a
    centre-vs-corner mix-up would be off by a quarter of an image pixel or more."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    for axis, ramp in ((0, cols), (1, rows)):
        small, matrix = downsample(ramp, factor)
        y, x = np.mgrid[0:small.shape[0], 0:small.shape[1]]
        back = apply_matrix(matrix, np.c_[x.ravel(), y.ravel()])[:, axis].reshape(small.shape)
        h, w = small.shape
        inside = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))  # borders reflected
        np.testing.assert_allclose(small[inside], back[inside], atol=2e-3)


def test_a_large_reduction_averages_blocks_first_and_keeps_the_geometry():
    from scipy import ndimage
    from skimage.transform import rescale

    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.standard_normal((1203, 1001)), 6).astype(np.float32)
    image[600, 403] = 50.0  # a bright point, 6 px from a block edge
    image[:80, :90] = np.nan  # no-data corner
    small, matrix = downsample(image, 1 / 8)  # blocks of 4, then a reduction by 2
    assert small.shape == (150, 125)
    direct = rescale(np.nan_to_num(image, nan=float(np.nanmedian(image))), 1 / 8,
                     anti_aliasing=True, order=1, preserve_range=True)
    valid = np.isfinite(small)
    assert np.corrcoef(small[valid], direct[:150, :125][valid])[0, 1] > 0.95
    peak = np.unravel_index(np.nanargmax(small), small.shape)
    back = apply_matrix(matrix, np.array([[peak[1], peak[0]]], float))[0]
    assert np.abs(back - (403, 600)).max() <= 8  # one coarse pixel
    assert np.isnan(small[:8, :9]).all() and valid[20:, 20:].all()


def test_a_side_shorter_than_the_reduction_s_blocks_is_downsampled():
    """A strip thinner than the blocks that a large reduction averages first (1/20: blocks
    of 10) keeps one row: its pixels read the strip, not a ValueError of an empty array."""
    ramp = np.tile(np.arange(400, dtype=np.float32), (4, 1))
    small, matrix = downsample(ramp, 0.05)
    assert small.shape == (1, 20)
    back = apply_matrix(matrix, np.c_[np.arange(20.0), np.zeros(20)])
    np.testing.assert_allclose(back[:, 1], 1.5)  # the middle of the strip's 4 rows
    np.testing.assert_allclose(small[0, 2:-2], back[2:-2, 0], atol=1e-3)


def test_plausible_matrices_rejects_mirrors_and_extreme_scales():
    good = SimilarityTransform(scale=1.5, rotation=1.0).params
    mirror = np.diag([-1.0, 1.0, 1.0])
    big = SimilarityTransform(scale=5.0).params
    squashed = np.diag([3.0, 0.5, 1.0])  # singular values 6 apart
    broken = np.full((3, 3), np.nan)
    np.testing.assert_array_equal(
        plausible_matrices(np.stack([good, mirror, big, squashed, broken]), 4.0),
        [True, False, False, False, False])


def test_tiles_partition_the_box():
    box = (3, 1003, 10, 777)
    cores = tiles(box, 256)
    covered = np.zeros((1010, 800), int)
    for r0, r1, c0, c1 in cores:
        assert r1 - r0 <= 256 and c1 - c0 <= 256
        covered[r0:r1, c0:c1] += 1
    assert (covered[3:1003, 10:777] == 1).all() and covered.sum() == 1000 * 767


def test_overlap_box_and_deviation_of_a_shift():
    shift = AffineTransform(translation=(-100, 0)).params  # image 1 x -> x - 100 in image 2
    box = overlap_box(shift, (200, 400), (200, 400))
    assert box[0] == 0 and box[1] == 200 and 92 <= box[2] <= 100 and box[3] == 400
    assert overlap_box(AffineTransform(translation=(1000, 0)).params, (50, 50), (50, 50)) is None
    assert deviation(shift, shift, (200, 400), (200, 400)) == 0
    other = AffineTransform(translation=(-97, 4)).params
    assert deviation(other, shift, (200, 400), (200, 400)) == pytest.approx(5.0)


def test_angle_difference_wraps():
    assert angle_difference(350, 10) == pytest.approx(20)
    assert angle_difference(-90, 270) == pytest.approx(0)
    assert angle_difference(0, 180) == pytest.approx(180)
