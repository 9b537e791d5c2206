"""The detector's compiled peak finding (sarfeat.runtime.kernels.peaks) against numpy's.

Each comparison runs the same function twice, once with numba and once with
``peaks.available`` patched to False (the numpy/scipy path, max pooling's rules).
"""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat import SARR2D2Detector
from sarfeat.runtime.kernels import peaks as fused_peaks
from sarfeat import peaks as detector_peaks
from sarfeat.data import load_pair

needs_numba = pytest.mark.skipif(not fused_peaks.available(), reason="numba is not installed")
THRESHOLD = 0.7  # not a float32: compared as float32(0.7)


def both_paths(monkeypatch, function, *args):
    """(numba result, numpy result) of ``function(*args)``."""
    fast = function(*args)
    with monkeypatch.context() as patch:
        patch.setattr(fused_peaks, "available", lambda: False)
        slow = function(*args)
    return fast, slow


def maps_with_ties(shape, seed, nan=False):
    """Quantised random maps (many equal neighbours), some pixels exactly at the threshold."""
    rng = np.random.default_rng(seed)
    repeatability = np.round(rng.uniform(0.5, 1.0, shape) * 20) / 20
    repeatability = repeatability.astype(np.float32)
    repeatability.ravel()[::7] = np.float32(THRESHOLD)
    reliability = rng.uniform(0.6, 1.0, shape).astype(np.float32)
    reliability.ravel()[::5] = np.float32(THRESHOLD)
    if nan:
        repeatability[shape[0] // 2, shape[1] // 3] = np.nan
        reliability[shape[0] // 3, shape[1] // 2] = np.nan
    return repeatability, reliability


CORES = [
    (slice(None), slice(None)),
    (slice(0, 30), slice(5, 41)),
    (slice(17, 90), slice(20, 23)),
    (slice(30, 30), slice(0, 50)),  # empty
]


@needs_numba
@pytest.mark.parametrize("shape", [(64, 70), (25, 40), (24, 90), (13, 13), (1, 1), (100, 31)])
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("nan", [False, True])
def test_peaks_equal_numpy(monkeypatch, shape, core, nan):
    repeatability, reliability = maps_with_ties(shape, sum(shape), nan)
    fast, slow = both_paths(monkeypatch, detector_peaks.find_peaks, repeatability, reliability,
                            THRESHOLD, THRESHOLD, core)
    for f, s in zip(fast, slow):
        assert f.dtype == s.dtype == np.int64
        np.testing.assert_array_equal(f, s)


@needs_numba
def test_a_plateau_is_all_peaks(monkeypatch):
    """Ties are peaks (equality with the pooled map): more peaks than a first guess."""
    flat = np.full((60, 50), 0.9, np.float32)
    fast, slow = both_paths(monkeypatch, detector_peaks.find_peaks, flat, flat, THRESHOLD,
                            THRESHOLD, CORES[0])
    margin = detector_peaks.edge_margin((60, 50))  # 6 on maps this small
    assert fast[0].size == (60 - 2 * margin) * (50 - 2 * margin)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


@needs_numba
def test_detection_equals_numpy_peaks(monkeypatch):
    image = load_pair("l")[0]

    def detect():
        found = SARR2D2Detector(max_keypoints=500)
        found.detect(image)
        return found

    fast, slow = both_paths(monkeypatch, detect)
    assert len(fast.keypoints) > 50
    for name in ("keypoints", "scales", "responses"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))


def test_numpy_path_without_numba(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the numba kernel was called")

    monkeypatch.setattr(fused_peaks, "available", lambda: False)
    monkeypatch.setattr(fused_peaks, "peaks", refuse)
    repeatability, reliability = maps_with_ties((40, 40), 1)
    rows, cols = detector_peaks.find_peaks(repeatability, reliability, THRESHOLD, THRESHOLD,
                                           CORES[0])
    assert rows.size > 0 and (rows >= detector_peaks.edge_margin((40, 40))).all()


@needs_numba
@pytest.mark.parametrize("threshold", [0.0, 0.3, THRESHOLD, 0.99, 0.995, 1.0])
@pytest.mark.parametrize("core", CORES[:3])
def test_peaks_from_logits_equal_peaks_of_the_maps(threshold, core):
    """Peaks found from the logits, the maps evaluated only where read, are those of the
    full maps, with the same values at and around them."""
    from sarfeat.runtime.kernels import heads as fused_heads

    rng = np.random.default_rng(7)
    logits = (np.round(rng.uniform(-4, 24, (2, 64, 70)) * 4) / 4).astype(np.float32)  # ties
    logits[1, 20, 30] = np.nan
    logits[0, 40, 10] = np.nan
    logits[1, 50:53, 50:53] = [[-200, -150, -300], [-120, -110, -400], [2000, 3000, 1e6]]
    maps = fused_heads.head_maps(logits)
    window = detector_peaks.peak_window(maps.shape[1:], core)
    rows, cols = fused_peaks.peaks(maps[1], maps[0], threshold, threshold, window)
    got_rows, got_cols, reliability, around = fused_peaks.peaks_from_logits(
        logits, threshold, threshold, window)
    np.testing.assert_array_equal(got_rows, rows)
    np.testing.assert_array_equal(got_cols, cols)
    np.testing.assert_array_equal(reliability, maps[0][rows, cols])
    height, width = maps.shape[1:]
    np.testing.assert_array_equal(around, np.stack([
        maps[1][rows, cols], maps[1][np.maximum(rows - 1, 0), cols],
        maps[1][np.minimum(rows + 1, height - 1), cols], maps[1][rows, np.maximum(cols - 1, 0)],
        maps[1][rows, np.minimum(cols + 1, width - 1)]]))
    if 0 < threshold <= THRESHOLD:
        assert 0 < len(rows) < 64 * 70 / 4


@needs_numba
@pytest.mark.parametrize("shape, size", [((1, 1), (1, 2)), ((33, 20), (65, 39)),
                                         ((40, 37), (80, 74))])
def test_peaks_from_features_equal_peaks_from_the_full_logits(shape, size):
    """The saliency head alone and the reliability logit computed where it is read
    (odd, edge and one-pixel crops; channels not a multiple of 4) give the dense heads'
    bits, and the same peaks and values."""
    from sarfeat.runtime.kernels import heads as fused_heads

    rng = np.random.default_rng(3)
    features = np.abs(rng.standard_normal((*shape, 18))).astype(np.float32)
    weight = rng.standard_normal((2, 18)).astype(np.float32)
    bias = np.array([0.5, -1.0], np.float32)
    logits = fused_heads.cropped_head_logits(features, weight, bias, *size)
    saliency = fused_heads.saliency_logits(features, weight, bias, *size)
    np.testing.assert_array_equal(saliency.view(np.uint32), logits[1].view(np.uint32))
    logit_at = fused_heads.logit_function()
    every = np.array([[logit_at(features, weight[0], bias[0], fused_heads.COEFFICIENTS, y, x)
                       for x in range(size[1])] for y in range(size[0])], np.float32)
    np.testing.assert_array_equal(every.view(np.uint32), logits[0].view(np.uint32))
    threshold = float(np.float32(0.5))
    window = detector_peaks.peak_window(size, (slice(0, size[0]), slice(0, size[1])), 1)
    expected = fused_peaks.peaks_from_logits(logits, threshold, threshold, window)
    got = fused_peaks.peaks_from_features(saliency, features, weight, bias, threshold,
                                          threshold, window)
    for value, reference in zip(got, expected):
        np.testing.assert_array_equal(value, reference)
    assert size == (1, 2) or len(expected[0]) > 0


@needs_numba
def test_fused_maps_are_the_numpy_activations(monkeypatch):
    from sarfeat.runtime.kernels import heads as fused_heads
    from sarfeat.runtime.maps import head_activations

    logits = np.linspace(-30, 30, 2 * 400, dtype=np.float32).reshape(2, 20, 20)
    maps = fused_heads.head_maps(logits)
    monkeypatch.setattr(fused_heads, "available", lambda: False)
    reliability, repeatability = head_activations(logits)
    np.testing.assert_array_equal(maps[0], reliability)  # one float order: the same bits
    np.testing.assert_array_equal(maps[1], repeatability)
