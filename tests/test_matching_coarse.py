"""The coarse stage (``sarfeat.matching.coarse``) on synthetic features, without the network."""

from __future__ import annotations

import numpy as np
import pytest
from _synthetic_features import describe, moved, texture
from skimage.transform import SimilarityTransform

from sarfeat.matching.coarse import CoarseSearch, CoarseSettings, estimate_turns, invariant_turn
from sarfeat.matching.geometry import angle_difference, plausible_matrices, rotation_scale


def _turned_pair(degrees: float, seed: int = 0):
    """A texture and its copy turned by ``degrees`` about the centre, shifted, and the truth."""
    image = texture((256, 256), seed)
    centre = np.array([127.5, 127.5])
    truth = (SimilarityTransform(translation=centre + (6, -4)).params
             @ SimilarityTransform(rotation=np.deg2rad(degrees)).params
             @ SimilarityTransform(translation=-centre).params)
    return image, moved(image, truth), truth


def _search(image1, image2, **settings) -> CoarseSearch:
    keypoints1, descriptors1 = describe(image1)
    return CoarseSearch(
        CoarseSettings(**settings), lambda image, check: describe(image),
        lambda m: plausible_matrices(m, 4.0), keypoints1, descriptors1, image2,
        np.eye(3), np.eye(3), np.random.default_rng(0),
    )


@pytest.mark.parametrize("degrees", [40.0, 150.0, -100.0])
def test_orientation_estimate_finds_the_turn(degrees):
    image, other, truth = _turned_pair(degrees, seed=1)
    # the turn that makes image 2 upright again
    needed = (-rotation_scale(truth)[0]) % 360
    assert angle_difference(estimate_turns(image, other, 1)[0], needed) < 3


def test_an_upright_pair_costs_one_attempt():
    image, other, truth = _turned_pair(0.0)
    search = _search(image, other)
    best = search.run(estimate_turns(image, other))
    assert best.strong and best.angle == 0 and len(search.hypotheses) == 1
    np.testing.assert_allclose(best.matrix, truth, atol=0.5)


def test_a_right_angle_is_found_exactly():
    image, other, truth = _turned_pair(90.0)
    search = _search(image, other, estimated_turns=0)
    best = search.run()
    assert best.strong and best.angle == 270.0
    np.testing.assert_allclose(best.matrix, truth, atol=0.5)
    assert best.inliers == best.coarse_inliers.sum() >= 40


def test_an_odd_turn_is_found_by_the_estimate_not_the_angle_steps():
    image, other, truth = _turned_pair(-62.0)
    search = _search(image, other)
    best = search.run(estimate_turns(image, other))
    assert best.strong
    assert angle_difference(best.angle, 62.0) < 5
    # 0 degrees, then the estimate: no right angle or angle step was needed
    assert len(search.hypotheses) <= 3
    grid = np.stack(np.meshgrid(np.arange(40, 216, 20.0), np.arange(40, 216, 20.0)), -1)
    grid = np.c_[grid.reshape(-1, 2), np.ones(81)]
    error = (grid @ best.matrix.T)[:, :2] - (grid @ truth.T)[:, :2]
    assert np.abs(error).max() < 1.0
    # without the estimate, the search tries the right angles and the angle steps first
    blind = _search(image, other, estimated_turns=0)
    blind_best = blind.run()
    assert len(blind.hypotheses) > len(search.hypotheses)
    assert angle_difference(blind_best.angle, 62.0) < 16


def test_a_featureless_turn_is_no_hypothesis():
    image, other, _ = _turned_pair(0.0)
    search = _search(image, np.full_like(other, np.nan))
    with pytest.raises(RuntimeError):
        search.attempt(0.0)  # the upright image must describe
    assert search.attempt(90.0).matrix is None  # a turned one is just no hypothesis


def test_a_settled_pair_skips_the_angle_steps_and_an_unsettled_one_does_not():
    image, other, _ = _turned_pair(-62.0)
    asked = []

    def settled(answer):
        def ask():
            asked.append(answer)
            return answer
        return ask

    # no estimate: the right angles fail (a 62 degree turn), then the matcher is asked
    skipped = _search(image, other, estimated_turns=0)
    skipped.run(settled=settled(True))
    assert asked == [True] and skipped.intermediate_skipped
    assert sorted(h.angle for h in skipped.hypotheses) == [0.0, 90.0, 180.0, 270.0]
    searched = _search(image, other, estimated_turns=0)
    best = searched.run(settled=settled(False))
    assert asked == [True, False] and not searched.intermediate_skipped
    assert len(searched.hypotheses) > 4 and angle_difference(best.angle, 62.0) < 16


def test_a_strong_right_angle_never_asks_whether_the_pair_is_settled():
    image, other, _ = _turned_pair(90.0)
    search = _search(image, other, estimated_turns=0)

    def never():
        raise AssertionError("asked although a right angle was strong")

    assert search.run(settled=never).strong


def test_the_turn_estimate_is_computed_only_when_the_first_turn_is_not_strong():
    calls = []

    def estimate(image, other):
        def run():
            calls.append(1)
            return estimate_turns(image, other)
        return run

    image, other, _ = _turned_pair(0.0)
    assert _search(image, other).run(estimate(image, other)).strong
    assert calls == []  # upright: never estimated
    image, other, _ = _turned_pair(-62.0)
    best = _search(image, other).run(estimate(image, other))
    assert calls == [1] and best.strong and angle_difference(best.angle, 62.0) < 5


def test_only_a_featureless_turn_is_no_hypothesis_other_errors_show():
    """An unexpected error while describing a turn is raised, not taken for 'no hypothesis'."""
    image, other, _ = _turned_pair(0.0)

    def broken(image, check):
        raise ValueError("a bug in the describing code")

    search = _search(image, other)
    search.describe = broken
    with pytest.raises(ValueError, match="a bug"):
        search.attempt(90.0)


@pytest.mark.parametrize("degrees", [30, 135])
def test_the_invariant_turn_is_the_negated_rotation_of_the_features(degrees):
    """Features that do not change with the turn (here: each keypoint's own label) give
    the turn that makes image 2 upright, as the search tries it; too few give None."""
    rng = np.random.default_rng(degrees)
    keypoints1 = rng.uniform(0, 256, (60, 2))
    truth = SimilarityTransform(rotation=np.deg2rad(degrees), translation=(20, -5)).params
    keypoints2 = (keypoints1[:, ::-1] @ truth[:2, :2].T + truth[:2, 2])[:, ::-1]
    labels = rng.normal(size=(60, 32))
    labels2 = labels.copy()
    labels2[:20] = rng.normal(size=(20, 32))  # a third of them changed: outliers
    turn, inliers = invariant_turn(keypoints1, labels, keypoints2, labels2, CoarseSettings(),
                                   np.random.default_rng(0))
    assert angle_difference(turn, -degrees % 360) < 0.1 and inliers >= 40
    assert invariant_turn(keypoints1[:6], labels[:6], keypoints2[:6], labels2[:6],
                          CoarseSettings(), np.random.default_rng(0)) is None
    assert invariant_turn(keypoints1[:6], labels[:6], keypoints2[:6], labels[:6],
                          CoarseSettings(), np.random.default_rng(0), min_inliers=5) is not None
