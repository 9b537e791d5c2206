"""The real optical-SAR evaluation pairs of benchmarks/real_optical_sar_pairs.py (issue 21).

Evaluation-only data (StaRainJ's SAR_Optical set, CFOG's and EOSS's data): the tests skip
when the files are not available (set SARFEAT_DATA_DIR to a folder holding
``optical_sar/starainj``, ``optical_sar/cfog`` and ``optical_sar/eoss``). They check the
loader's convention: each truth maps the published optical landmarks (or control points)
onto the SAR ones within the published accuracy; EOSS's, which come without landmarks, map
the optical image's centre onto the SAR image's (each pair was made by turning and scaling
one image about its centre).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.real_optical_sar_pairs import (
    EOSS_PAIRS,
    PAIR_NAMES,
    apply,
    landmark_rmse,
    load_pair,
)
from sarfeat.data import DataUnavailableError


@pytest.fixture(scope="module")
def pairs():
    """Every real pair, loaded once (skip when the files are absent)."""
    try:
        return {name: load_pair(name) for name in PAIR_NAMES}
    except DataUnavailableError:
        pytest.skip("the real optical-SAR pairs are not available (set SARFEAT_DATA_DIR to a "
                    "folder holding optical_sar/starainj, optical_sar/cfog and optical_sar/eoss)")


def _residuals(pair) -> np.ndarray:
    return np.hypot(*(apply(pair.truth, pair.optical_points) - pair.sar_points).T)


def test_starainj_truth_maps_the_landmarks_within_their_accuracy(pairs):
    """20 hand-placed landmarks a pair: the published transform puts them within a few px
    (RMS 1.4-2.9 px, the worst 8.6 px in SO2); the other direction is 4-200 px off."""
    for name in ("SO1", "SO2", "SO3", "SO4", "SO5", "SO6"):
        pair = pairs[name]
        assert pair.optical.ndim == 2 and pair.optical.shape == pair.sar.shape
        assert pair.optical.dtype == np.float32 and len(pair.optical_points) == 20
        residual = _residuals(pair)
        assert np.sqrt(np.mean(residual ** 2)) <= 3.0 and residual.max() <= 9.0, name
        reverse = np.hypot(*(apply(pair.truth, pair.sar_points) - pair.optical_points).T)
        assert np.sqrt(np.mean(reverse ** 2)) > 4.0, name


def test_cfog_truth_is_the_affine_map_through_the_control_points(pairs):
    """CFOG's control points sit within about 2 px of the affine truth (0.7-0.8 px RMS)."""
    for name in ("cfog1", "cfog2", "cfog3"):
        pair = pairs[name]
        assert pair.optical.ndim == pair.sar.ndim == 2 and len(pair.optical_points) >= 100
        assert np.allclose(pair.truth[2], [0, 0, 1])
        residual = _residuals(pair)
        assert np.sqrt(np.mean(residual ** 2)) <= 1.0 and residual.max() <= 2.5, name


def test_eoss_truth_is_a_turn_and_scale_about_the_centres(pairs):
    """Read in MATLAB's 1-based pixels (as the loader does), each EOSS truth is a similarity
    mapping the optical centre onto the SAR centre within 1.5 px (the canvas sizes are
    rounded) with the two images' size ratio as its scale; read 0-based, up to 3 px off."""
    raw_offsets, angles = [], []
    for name in EOSS_PAIRS:
        pair = pairs[name]
        assert pair.optical.ndim == pair.sar.ndim == 2 and len(pair.optical_points) == 0
        (a, b, _), (c, d, _), last = pair.truth
        assert np.allclose(last, [0, 0, 1]) and np.isclose(a, d) and np.isclose(b, -c)
        scale = np.hypot(a, c)
        assert abs(pair.sar.shape[0] / pair.optical.shape[0] / scale - 1) < 0.003, name
        centre = (np.array(pair.optical.shape[::-1]) - 1) / 2
        sar_centre = (np.array(pair.sar.shape[::-1]) - 1) / 2
        assert np.hypot(*(apply(pair.truth, centre[None])[0] - sar_centre)) <= 1.5, name
        # the file's matrix, read as 0-based: the truth moved by (A - I) (1, 1)
        raw = pair.truth.copy()
        raw[:2, 2] -= (pair.truth[:2, :2] - np.eye(2)) @ np.ones(2)
        raw_offsets.append(np.hypot(*(apply(raw, centre[None])[0] - sar_centre)))
        angles.append(np.degrees(np.arctan2(c, a)))
    assert len(EOSS_PAIRS) == 21 and max(raw_offsets) > 2.5
    assert max(np.abs(angles)) > 140 and min(np.abs(angles)) < 10  # turns of 5-152 degrees


def test_landmark_rmse_is_zero_at_the_truth_and_measures_a_shift(pairs):
    pair = pairs["SO1"]
    shifted = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]]) @ pair.truth
    assert landmark_rmse(pair.truth, pair.truth, pair.optical_points) == pytest.approx(0.0)
    assert landmark_rmse(shifted, pair.truth, pair.optical_points) == pytest.approx(5.0)
