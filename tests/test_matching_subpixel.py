"""The correlation refinement of a fitted transform (sarfeat.matching.subpixel), without the
network.

Real data: the bundled Sentinel-1 Labrador scene. Fixed image: VV with
single-look speckle; moving image: VV with independent single-look speckle
(a second date), warped by a known affine map. The keypoint matches are
simulated: true correspondences plus Gaussian localisation noise of 1.5 px,
the error a keypoint match has on speckled SAR. Against VH (the other
polarisation) with that much speckle, few windows correlate and the refinement
must stand aside. The bundled VV/VH pair as it is (one acquisition: the truth
is exact) goes through the whole matcher: there the correlated windows take out
the bias of the cross-polarised keypoint matches.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, warp

from sarfeat import CoarseFineMatcher
from sarfeat.data import load_sar_scene
from sarfeat.matching.subpixel import (
    SubpixelSettings, correlated_points, correlation_shifts, refine_by_correlation, spread_subset,
    window_correlations,
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
    fixed, moving = _speckled_pair(moving_channel=1)  # VV against VH, about 0.5 looks
    source, target = _noisy_matches(fixed.shape)
    fitted = AffineTransform.from_estimate(source, target)
    refined, report = refine_by_correlation(fixed, moving, fitted, "affine", source, target)
    assert report["subpixel_windows"] >= 45
    # few windows look alike on both sides, and those few are not trusted over 80 keypoint
    # matches (refitted on them alone, the model was 2.5 times further from the truth)
    assert 8 <= report["subpixel_points"] < 0.4 * report["subpixel_windows"]
    assert refined is fitted and not report["subpixel_refined"]


def test_windows_that_do_not_look_alike_are_not_used(pair):
    fixed, moving = pair
    source, target = _noisy_matches(fixed.shape, count=60, seed=7)
    fitted = AffineTransform.from_estimate(source, target)
    unrelated = moving.copy()
    left = np.arange(moving.shape[1]) < moving.shape[1] // 2
    unrelated[:, left] = np.random.default_rng(8).random((moving.shape[0], left.sum()))
    every_window = SubpixelSettings(min_correlation=-1.0, max_shift=12.0)
    kept = correlated_points(fixed, unrelated, fitted.params, source,
                             SubpixelSettings(max_shift=12.0))[0]
    everything = correlated_points(fixed, unrelated, fitted.params, source, every_window)[0]
    # a fixed window maps into the unrelated half when its moving window lies left of the cut
    mapped = fitted(everything)[:, 0]
    related = mapped > moving.shape[1] // 2 + 16
    assert related.sum() >= 15 and (mapped < moving.shape[1] // 2 - 16).sum() >= 15
    kept_rows = {tuple(p) for p in kept}
    assert sum(tuple(p) in kept_rows for p in everything[related]) >= 0.75 * related.sum()
    assert not kept_rows & {tuple(p) for p in everything[mapped < moving.shape[1] // 2 - 16]}


def test_window_correlations_are_normalised():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(3, 9, 9))
    b = np.stack([2.0 * a[0], -a[1], np.zeros((9, 9))])
    np.testing.assert_allclose(window_correlations(a, b), [1.0, -1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("scale, degrees, shift", [((1.0, 1.0), 0.0, (12.5, -7.25)),
                                                   ((1.0, 1.0), 30.0, (0.0, 0.0)),
                                                   ((1.1, 0.9), 5.0, (-8.0, 6.0))])
def test_the_bundled_cross_polarised_pair_registers_below_half_a_pixel(scale, degrees, shift):
    """VV against VH of one acquisition, warped: the matcher's keypoint matches put VH's
    features 0.66 px to the right of VV's, the keypoint fit is off by as much (0.68, 0.72
    and 0.84 px here without the windows' correlation threshold); the correlation takes it out."""
    scene = load_sar_scene("labrador")
    centre = np.array([(scene.shape[1] - 1) / 2, (scene.shape[0] - 1) / 2])
    truth = (AffineTransform(translation=centre + np.array(shift)).params
             @ AffineTransform(scale=scale, rotation=np.deg2rad(degrees)).params
             @ AffineTransform(translation=-centre).params)
    moving = warp(scene[..., 1], AffineTransform(matrix=np.linalg.inv(truth)), order=1,
                  cval=np.nan, preserve_range=True).astype(np.float32)
    result = CoarseFineMatcher(rng=0).match_result(scene[..., 0], moving)
    assert result.diagnostics["subpixel_refined"]
    assert registration_rmse(result.model, truth, scene.shape[:2], moving.shape) < 0.45


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
