"""The keypoint orientation computed at the keypoints only (sarfeat.runtime.kernels.steering)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sarfeat.runtime import steering_arithmetic
from sarfeat.runtime.kernels import steering as _fused_steering
from sarfeat.orientation import LevelSteering

pytestmark = pytest.mark.skipif(not _fused_steering.available(), reason="numba not installed")


def test_kernels_are_scipy_s():
    """Filtering with the kernels as a convolution gives scipy's Gaussian and derivative."""
    rng = np.random.default_rng(3)
    signal = rng.random(200)
    smooth, derivative = _fused_steering.gaussian_kernels(3.0)
    padded = np.pad(signal, len(smooth) // 2, mode="edge")
    for kernel, order in ((smooth, 0), (derivative, 1)):
        expected = ndimage.gaussian_filter1d(signal, 3.0, order=order, mode="nearest")
        np.testing.assert_allclose(np.convolve(padded, kernel, mode="valid"), expected,
                                   atol=1e-12)
    ramp = np.arange(100.0)
    assert np.convolve(ramp, derivative, mode="valid") == pytest.approx(1.0, rel=1e-3)  # sign


@pytest.mark.parametrize("sigma", [1.5, 8.0])
def test_gradients_at_positions_equal_filtering_the_image(sigma):
    rng = np.random.default_rng(0)
    image = rng.random((90, 130)).astype(np.float32)
    rows = np.concatenate([rng.uniform(0, 89, 300), [0.0, 89.0, 44.0, 0.5]])
    cols = np.concatenate([rng.uniform(0, 129, 300), [0.0, 129.0, 0.0, 128.7]])
    coords = np.stack([rows, cols])
    for order, got in zip(((1, 0), (0, 1)),
                          _fused_steering.smoothed_gradients(image, rows, cols, sigma)):
        filtered = ndimage.gaussian_filter(image, sigma, order=order, mode="nearest")
        expected = ndimage.map_coordinates(filtered, coords, order=1, mode="nearest")
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_steering_takes_the_cheaper_path_with_the_same_orientations():
    rng = np.random.default_rng(1)
    image = rng.random((200, 240)).astype(np.float32)
    few = (rng.uniform(20, 180, 50), rng.uniform(20, 220, 50))
    assert _fused_steering.cheaper_than_filtering(50, image.shape, 8.0)
    assert not _fused_steering.cheaper_than_filtering(5000, image.shape, 8.0)
    sparse = LevelSteering(image, 8.0)
    theta = sparse.orientations(*few)
    assert sparse._gradient is None  # the level was not filtered
    many = (rng.uniform(20, 180, 5000), rng.uniform(20, 220, 5000))
    dense = LevelSteering(image, 8.0)
    dense.orientations(*many)
    assert dense._gradient is not None
    difference = np.angle(np.exp(1j * (dense.orientations(*few) - theta)))
    np.testing.assert_allclose(difference, 0.0, atol=1e-4)


def test_turned_patches_equal_the_numpy_path(monkeypatch):
    rng = np.random.default_rng(2)
    image = rng.random((120, 150)).astype(np.float32)
    image[:, :60] = 0.4  # flat: zero rows
    rows = np.concatenate([rng.uniform(0, 119, 200), [60.0, 0.0]])
    # away from the flat part (nearly flat patches amplify rounding), one flat, one on the edge
    cols = np.concatenate([rng.uniform(100, 149, 200), [20.0, 149.0]])
    theta = rng.uniform(-np.pi, np.pi, len(rows))
    fused = LevelSteering(image, 8.0, side=40.0).describe(rows, cols, theta)
    monkeypatch.setattr(_fused_steering, "available", lambda: False)
    expected = LevelSteering(image, 8.0, side=40.0).describe(rows, cols, theta)
    assert fused.dtype == np.float32 and fused.shape == expected.shape == (202, 121)
    np.testing.assert_array_equal(fused[200], 0.0)
    np.testing.assert_array_equal(fused, expected)  # the numpy twin: the same bits


@pytest.mark.parametrize("shape", [(1, 1), (5, 40), (97, 130)])
@pytest.mark.parametrize("sigma", [0.7, 1.82, 6.0])
def test_gaussian_smooth_equals_scipy(shape, sigma):
    rng = np.random.default_rng(4)
    image = rng.random(shape).astype(np.float32)
    expected = ndimage.gaussian_filter(image, sigma, mode="nearest")
    got = _fused_steering.gaussian_smooth(image, sigma)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sigma", [1.5, 8.0])
def test_numpy_twins_give_the_kernels_bits(sigma):
    """Without numba the gradients at positions and the prefilter are the same bits
    (sarfeat.runtime.steering_arithmetic), at the edges too; a sum in another order, a fused
    multiply-add or scipy's float32 rounding between passes would move the last bits."""
    rng = np.random.default_rng(5)
    image = (rng.random((90, 130)) ** 3).astype(np.float32)
    rows = np.concatenate([rng.uniform(0, 89, 300), [0.0, 89.0, 44.0, 0.5, -3.0]])
    cols = np.concatenate([rng.uniform(0, 129, 300), [0.0, 129.0, 0.0, 128.7, 140.0]])
    for got, expected in zip(steering_arithmetic.smoothed_gradients(image, rows, cols, sigma),
                             _fused_steering.smoothed_gradients(image, rows, cols, sigma)):
        np.testing.assert_array_equal(got, expected)
    for crop in (image[:1, :1], image[:5, :40], image):
        np.testing.assert_array_equal(steering_arithmetic.gaussian_smooth(crop, sigma / 4),
                                      _fused_steering.gaussian_smooth(crop, sigma / 4))
