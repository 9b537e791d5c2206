"""The numba kernels of 'ratio_hog' (sarfeat.runtime.kernels.descriptors) against the
numpy/scipy code.

Each comparison runs the same public function twice, once with numba and once
with ``_fused_descriptors.available`` patched to False (the numpy fallback).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sarfeat import MultiDescriptorExtractor
from sarfeat.runtime.kernels import descriptors as fused
from sarfeat import hand_descriptors as descriptors
from sarfeat.data import load_pair
from sarfeat.descriptors import roewa_gradient

needs_numba = pytest.mark.skipif(not fused.available(), reason="numba is not installed")


def both_paths(monkeypatch, function, *args, **kwargs):
    """(numba result, numpy result) of ``function(*args, **kwargs)``."""
    fast = function(*args, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(fused, "available", lambda: False)
        slow = function(*args, **kwargs)
    return fast, slow


@pytest.fixture(scope="module")
def pair_l():
    first, second = load_pair("l")
    return [(np.asarray(x, np.float32) + 1) ** 2 for x in (first, second)]  # positive intensity


def nodata_block(intensity):
    """The intensity with a NaN block, and its validity."""
    image = intensity.copy()
    image[120:190, 40:260] = np.nan
    image[:, -9:] = np.nan
    return image, np.isfinite(image)


@needs_numba
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("alpha", [4 / 3, 9.5])
@pytest.mark.parametrize("nodata", [False, True], ids=["all-valid", "nan-block"])
def test_roewa_gradient_equals_numpy(monkeypatch, pair_l, which, alpha, nodata):
    intensity = pair_l[which]
    valid = None
    if nodata:
        intensity, valid = nodata_block(intensity)
    fast, slow = both_paths(monkeypatch, roewa_gradient, intensity, alpha, valid)
    for f, s in zip(fast, slow):
        assert f.dtype == np.float32 and f.shape == intensity.shape
        assert np.isfinite(f).all()
        np.testing.assert_array_equal(f, s)  # the same float32 arithmetic, to the bit
    if nodata:  # a column band with no valid pixel on its right: no column gradient
        assert (fast[1][:, -10:] == 0).all() and (fast[1][:, :-10] != 0).any()


@needs_numba
@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3), (17, 6), (33, 29)])
def test_roewa_gradient_equals_numpy_on_awkward_shapes(monkeypatch, shape):
    rng = np.random.default_rng(sum(shape))
    intensity = rng.exponential(size=shape).astype(np.float32)
    valid = rng.random(shape) > 0.3
    for mask in (None, valid):
        fast, slow = both_paths(monkeypatch, roewa_gradient, intensity, 2.0, mask)
        for f, s in zip(fast, slow):
            assert f.shape == shape and f.dtype == np.float32
            np.testing.assert_array_equal(f, s)


def random_gradients(count, samples, seed):
    rng = np.random.default_rng(seed)
    grad = rng.normal(size=(2, count, samples))
    grad[:, 0] = 0  # a keypoint without gradient
    grad[:, 1, ::3] = 0  # and samples without
    grad[0, 2, :] = 0  # gradients exactly on a bin boundary
    return grad


@needs_numba
@pytest.mark.parametrize("bins", [8, 5])
@pytest.mark.parametrize("rotated", [False, True])
def test_gloh_histograms_equal_numpy(monkeypatch, bins, rotated):
    lattice = descriptors._disc_lattice(descriptors._HOG_LATTICE)
    grad_row, grad_col = random_gradients(50, len(lattice), bins)
    rng = np.random.default_rng(7)
    theta = np.zeros(50)
    if rotated:  # random, and the awkward angles
        theta = np.concatenate([[0.0, np.pi, 2 * np.pi - 1e-12], rng.uniform(0, 2 * np.pi, 47)])
    fast, slow = both_paths(
        monkeypatch, descriptors._gloh_histograms, grad_row, grad_col, lattice, theta, bins
    )
    assert fast.shape == (50, 17 * bins)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert (fast[0] == 0).all() and (fast[1:] > 0).any(axis=1).all()


@needs_numba
def test_bilinear_pair_equals_map_coordinates():
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(2, 23, 31)).astype(np.float32)
    rows = np.concatenate([rng.uniform(0, 22, 500), [0.0, 22.0, 22.0, 0.0]]).reshape(8, 63)
    cols = np.concatenate([rng.uniform(0, 30, 500), [0.0, 30.0, 0.0, 30.0]]).reshape(8, 63)
    got = fused.bilinear_pair(first, second, rows, cols)
    for image, values in zip((first, second), got):
        expected = ndimage.map_coordinates(image, [rows.ravel(), cols.ravel()], order=1,
                                           mode="nearest").reshape(rows.shape)
        assert values.shape == rows.shape and values.dtype == np.float32
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


def grid_keypoints(shape, step=37, margin=40):
    rows, cols = np.mgrid[margin:shape[0] - margin:step, margin:shape[1] - margin:step]
    keypoints = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64) + 0.3
    scales = np.resize([32.0, 45.3, 64.0, 20.0], len(keypoints))
    return keypoints, scales


@needs_numba
@pytest.mark.parametrize("rotation_invariant", [False, True])
@pytest.mark.parametrize("nodata", [False, True], ids=["all-valid", "nan-block"])
def test_ratio_hog_equals_numpy(monkeypatch, rotation_invariant, nodata):
    image = load_pair("l")[1].astype(np.float32)
    if nodata:
        image[120:190, 40:260] = np.nan
    keypoints, scales = grid_keypoints(image.shape)

    def describe():
        extractor = MultiDescriptorExtractor(descriptors="ratio_hog",
                                             rotation_invariant=rotation_invariant)
        extractor.extract(image, keypoints, scales)
        return extractor

    fast, slow = both_paths(monkeypatch, describe)
    np.testing.assert_array_equal(fast.masks["ratio_hog"], slow.masks["ratio_hog"])
    assert fast.masks["ratio_hog"].sum() > 20 and (~fast.masks["ratio_hog"]).any() == nodata
    np.testing.assert_allclose(fast.descriptors["ratio_hog"], slow.descriptors["ratio_hog"],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.orientations, slow.orientations, rtol=1e-4, atol=1e-5)


def test_fallback_without_numba(monkeypatch, pair_l):
    """With numba unavailable no compiled kernel is called, and the results are still there."""
    def refuse(*args, **kwargs):
        raise AssertionError("a numba kernel was called")

    monkeypatch.setattr(fused, "available", lambda: False)
    for name in ("roewa_gradient", "gloh_histograms", "bilinear_pair"):
        monkeypatch.setattr(fused, name, refuse)
    grad_row, grad_col = roewa_gradient(pair_l[0][:60, :70], 2.0)
    assert grad_row.shape == (60, 70) and grad_row.dtype == np.float32 and grad_col.any()
    extractor = MultiDescriptorExtractor(descriptors="ratio_hog")
    extractor.extract(load_pair("l")[0], *grid_keypoints((400, 400), step=90))
    assert extractor.masks["ratio_hog"].all()


@pytest.mark.parametrize("numba", [True, False], ids=["numba", "numpy"])
def test_gloh_histograms_skip_non_finite_samples(monkeypatch, numba):
    """A NaN or infinite gradient sample adds nothing (it used to index out of the histogram)."""
    if numba and not fused.available():
        pytest.skip("numba is not installed")
    if not numba:
        monkeypatch.setattr(fused, "available", lambda: False)
    lattice = descriptors._disc_lattice(descriptors._HOG_LATTICE)
    grad_row, grad_col = random_gradients(6, len(lattice), 8)
    bad = np.zeros(grad_row.shape, bool)
    bad[2:, ::5] = True
    spoiled_row, spoiled_col = grad_row.copy(), grad_col.copy()
    spoiled_row[bad] = np.resize([np.nan, np.inf, -np.inf, 1.0], bad.sum())
    spoiled_col[bad] = np.resize([0.5, np.nan, np.inf, np.nan], bad.sum())
    theta = np.array([0.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    got = descriptors._gloh_histograms(spoiled_row, spoiled_col, lattice, theta, 8)
    grad_row[bad] = grad_col[bad] = 0
    expected = descriptors._gloh_histograms(grad_row, grad_col, lattice, theta, 8)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert (got[-1] == 0).all()  # no orientation, no histogram


@pytest.mark.parametrize("axis", [0, 1])
def test_the_recursive_filter_is_lfilter_to_the_bit(axis):
    """The numpy ROEWA's first-order filter gives scipy.signal.lfilter's float32 values
    exactly, without importing scipy.signal (0.4 s at every start of a plain install)."""
    from scipy.signal import lfilter

    from sarfeat.hand_descriptors import _exp_causal

    rng = np.random.default_rng(axis)
    values = (rng.exponential(size=(90, 70)) * 300).astype(np.float32)
    decay = np.float32(np.exp(-1 / 4.5))
    expected = lfilter(np.ones(1, np.float32), np.array([1, -decay], np.float32), values,
                       axis=axis)
    np.testing.assert_array_equal(_exp_causal(values, decay, axis), expected)


def test_the_numpy_descriptors_do_not_import_scipy_signal():
    import subprocess
    import sys

    script = ("import sys, numpy as np; from sarfeat.runtime.kernels import descriptors as k; "
              "k.available = lambda: False; from sarfeat.descriptors import roewa_gradient; "
              "roewa_gradient(np.ones((40, 50), np.float32), 2.0); "
              "assert 'scipy.signal' not in sys.modules, 'scipy.signal imported'")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

