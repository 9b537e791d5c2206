"""The correlation refinement of a fitted transform (sarfeat.matching.subpixel), without the
network.

Real data: the bundled Sentinel-1 Labrador scene. Fixed image: VV with
single-look speckle; moving image: VV with independent single-look speckle
(a second date), warped by a known affine map. The keypoint matches are
simulated: true correspondences plus Gaussian localisation noise of 1.5 px,
the error a keypoint match has on speckled SAR. Against VH (the other
polarisation), correlation is biased and the refinement must stand aside.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, warp

from sarfeat import CoarseFineMatcher
from sarfeat.data import load_sar_scene
from sarfeat.matching.subpixel import (
    SubpixelSettings, correlated_points, correlation_shifts, refine_by_correlation, spread_subset,
)
from sarfeat.metrics import registration_rmse
from sarfeat.preprocess import normalize_sar

TRUE = AffineTransform(scale=(1.03, 0.98), rotation=np.deg2rad(4), shear=0.02,
                       translation=(-6.3, 4.7))


def _speckled_pair(moving_channel: int):
    scene = load_sar_scene("labrador")
    rng = np.random.default_rng(5)
    fixed = normalize_sar(scene[..., 0] * rng.gamma(1.0, 1.0, scene.shape[:2])).image
    second = normalize_sar(scene[..., moving_channel] * rng.gamma(1.0, 1.0, scene.shape[:2])).image
    # moving(TRUE(p)) = second(p): warp's inverse map takes moving (x, y) to the source grid
    moving = warp(second.astype(np.float64), TRUE.inverse, order=1, cval=np.nan,
                  preserve_range=True)
    return fixed.astype(np.float64), moving


@pytest.fixture(scope="module")
def pair():
    return _speckled_pair(moving_channel=0)


def _noisy_matches(shape, count=80, noise=1.5, seed=0):
    rng = np.random.default_rng(seed)
    height, width = shape
    source = np.column_stack([rng.uniform(30, width - 30, count),
                              rng.uniform(30, height - 30, count)])
    target = TRUE(source) + rng.normal(0, noise, source.shape)
    return source, target


def test_correlation_brings_a_noisy_fit_close_to_the_truth(pair):
    fixed, moving = pair
    source, target = _noisy_matches(fixed.shape)
    fitted = AffineTransform.from_estimate(source, target)
    before = registration_rmse(fitted.params, TRUE.params, fixed.shape, moving.shape)
    refined, report = refine_by_correlation(fixed, moving, fitted, "affine", source, target)
    after = registration_rmse(refined.params, TRUE.params, fixed.shape, moving.shape)
    assert report["subpixel_refined"]
    assert report["subpixel_points"] >= 45  # some windows fall on the warp's empty border
    assert report["subpixel_residual_median"] < report["keypoint_residual_median"] / 2
    assert after < before / 3, (before, after)
    assert after < 0.15


def test_correlated_points_lie_on_the_true_transform(pair):
    fixed, moving = pair
    source, target = _noisy_matches(fixed.shape, count=40, seed=1)
    fitted = AffineTransform.from_estimate(source, target)
    fixed_points, moving_points = correlated_points(fixed, moving, fitted.params, source)
    errors = np.linalg.norm(moving_points - TRUE(fixed_points), axis=1)
    keypoint_errors = np.linalg.norm(target - TRUE(source), axis=1)
    assert len(fixed_points) >= 30
    assert np.median(errors) < np.median(keypoint_errors) / 3


def test_across_polarisations_the_keypoint_fit_is_kept():
    fixed, moving = _speckled_pair(moving_channel=1)  # VV against VH
    source, target = _noisy_matches(fixed.shape)
    fitted = AffineTransform.from_estimate(source, target)
    refined, report = refine_by_correlation(fixed, moving, fitted, "affine", source, target)
    assert report["subpixel_points"] >= 45
    assert report["subpixel_residual_median"] > 0.75 * report["keypoint_residual_median"]
    assert refined is fitted and not report["subpixel_refined"]


def test_unrelated_images_leave_the_transform_unchanged(pair):
    fixed, _ = pair
    unrelated = np.random.default_rng(2).random(fixed.shape)
    source, target = _noisy_matches(fixed.shape, seed=3)
    fitted = AffineTransform.from_estimate(source, target)
    refined, report = refine_by_correlation(fixed, unrelated, fitted, "affine", source, target)
    assert refined is fitted
    assert not report["subpixel_refined"]


def test_windows_on_no_data_or_off_the_image_are_skipped(pair):
    fixed, moving = pair
    holed = fixed.copy()
    holed[:, : fixed.shape[1] // 2] = np.nan
    points = np.array([[40.0, 60.0], [fixed.shape[1] - 40.0, 60.0], [3.0, 3.0]])
    fixed_points, _ = correlated_points(holed, moving, TRUE.params, points)
    assert fixed_points.tolist() == [[fixed.shape[1] - 40.0, 60.0]]


def test_too_few_points_keep_the_transform(pair):
    fixed, moving = pair
    source, target = _noisy_matches(fixed.shape, count=5, seed=4)
    fitted = AffineTransform.from_estimate(source, target)
    refined, report = refine_by_correlation(fixed, moving, fitted, "affine", source, target,
                                            SubpixelSettings(min_points=8))
    assert refined is fitted and not report["subpixel_refined"]


def test_the_matcher_refuses_a_non_boolean_subpixel():
    with pytest.raises((TypeError, ValueError), match="subpixel"):
        CoarseFineMatcher(subpixel="yes")


def test_a_spread_subset_covers_the_image_and_is_deterministic():
    rng = np.random.default_rng(6)
    crowded = rng.uniform(0, 100, (5000, 2))  # most points in one corner of a 1000 px image
    sparse = rng.uniform(0, 1000, (50, 2))
    points = np.concatenate([crowded, sparse])
    chosen = spread_subset(points, 200)
    assert len(chosen) == 200 and len(np.unique(chosen)) == 200
    assert np.array_equal(chosen, spread_subset(points, 200))
    assert np.isin(np.arange(5000, 5050), chosen).sum() >= 40  # the sparse points are kept
    assert np.array_equal(spread_subset(points[:150], 200), np.arange(150))


def test_batched_shifts_equal_scikit_image_pair_by_pair(pair):
    from skimage.registration import phase_cross_correlation

    fixed, moving = pair
    taper = np.outer(np.hanning(25), np.hanning(25))
    rng = np.random.default_rng(3)
    references, movings = [], []
    height, width = fixed.shape
    for row, col in np.column_stack([rng.integers(20, height - 20, 40),
                                     rng.integers(20, width - 20, 40)]):
        shift = rng.integers(-4, 5, 2)
        a = fixed[row - 12:row + 13, col - 12:col + 13]
        b = fixed[row - 12 + shift[0]:row + 13 + shift[0], col - 12 + shift[1]:col + 13 + shift[1]]
        references.append((a - a.mean()) * taper)
        movings.append((b - b.mean()) * taper)
    references, movings = np.array(references), np.array(movings)
    shifts = correlation_shifts(references, movings, 20)
    expected = np.array([phase_cross_correlation(a, b, upsample_factor=20, normalization=None)[0]
                         for a, b in zip(references, movings)])
    np.testing.assert_allclose(shifts, expected, atol=1e-9)
    assert np.abs(shifts).max() > 1  # real shifts, not all zero
