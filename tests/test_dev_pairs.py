"""Registration of the real development pairs with the default SAR weights.

The acceptance figures of the registration issue, as tests: on the seven
development pairs (real multi-temporal SAR, reference transforms from
``sar_pairs/reference_transforms.json``) at least six registrations succeed
(RMSE < 3 px), the median RMSE over the seven is at most 0.45 px (a refusal
counts as infinite; the bar of the speed issue), every success has at least 30
correct matches, and a pair that cannot be registered is refused, never answered
with a wrong transform. Then pairs l and m with image 2 turned by 15, 30, 90 and
180 degrees.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import ProjectiveTransform, warp

from sarfeat import CoarseFineMatcher, RegistrationError, register
from sarfeat.matching.geometry import turn as _turn
from sarfeat.metrics import correct_match_counts, registration_rmse

from conftest import require_data

PAIRS = ("i", "j", "l", "m", "n", "o", "q")


@pytest.fixture(scope="module")
def matcher():
    return CoarseFineMatcher(rng=0)  # the default weights, sarfeat-sar-v1


def _load(pair):
    from sarfeat.data import load_pair, load_reference_transform

    require_data("sar_pairs/reference_transforms.json")
    return (*load_pair(pair), load_reference_transform(pair))


def _registered(matcher, image1, image2):
    """register(image1, image2), or the RegistrationError that refused it."""
    try:
        return register(image1, image2, matcher=matcher)
    except RegistrationError as error:
        return error


def _scored(result, reference, shape1, shape2):
    """(RMSE, correct matches, CMR) of a registration; RMSE inf when it was refused."""
    if isinstance(result, RegistrationError):
        return np.inf, 0, 0.0
    ncm, cmr = correct_match_counts(result.keypoints_fixed, result.keypoints_moving,
                                    result.inlier_matches, reference)
    return registration_rmse(result.transform, reference, shape1, shape2), ncm, cmr


def _outcome(matcher, image1, image2, reference):
    """(RMSE, correct matches, CMR) of register(image1, image2); RMSE inf when refused."""
    return _scored(_registered(matcher, image1, image2), reference, image1.shape, image2.shape)


@pytest.fixture(scope="module")
def outcomes(matcher):
    return {pair: _outcome(matcher, *_load(pair)) for pair in PAIRS}


def test_at_least_six_development_pairs_register(outcomes):
    successes = [pair for pair, (rmse, _, _) in outcomes.items() if rmse < 3]
    print({pair: tuple(round(float(v), 3) for v in values) for pair, values in outcomes.items()})
    assert len(successes) >= 6, outcomes


def test_median_rmse_at_most_045_pixel(outcomes):
    assert np.median([rmse for rmse, _, _ in outcomes.values()]) <= 0.45, outcomes


def test_subpixel_refinement_lowers_the_error_of_pair_l(outcomes):
    without = _outcome(CoarseFineMatcher(rng=0, subpixel=False), *_load("l"))[0]
    # measured 2026-12-05 (AMD EPYC, int8 runtime): 0.31 px refined against 0.38 px without
    assert outcomes["l"][0] < 0.9 * without, (outcomes["l"][0], without)


def test_each_success_has_thirty_correct_matches(outcomes):
    for pair, (rmse, ncm, cmr) in outcomes.items():
        if rmse < 3:
            assert ncm >= 30, (pair, ncm)
            assert cmr >= 0.8, (pair, cmr)


def test_pairs_register_or_are_refused(outcomes):
    """Every pair is either registered within 3 px or refused with RegistrationError."""
    for pair, (rmse, _, _) in outcomes.items():
        assert rmse < 3 or rmse == np.inf, (pair, rmse)


@pytest.fixture(scope="module")
def turned(matcher):
    """``turned(pair, degrees)``: pair's image 2 turned by ``degrees`` and registered, as
    (image 1, the turned image, the turned reference, the registration or the
    RegistrationError); each turn registered once a module (two tests read pair l at 90)."""
    registered = {}

    def turned_pair(pair, degrees):
        if (pair, degrees) not in registered:
            image1, image2, reference = _load(pair)
            turn, shape = _turn(image2.shape, degrees)
            moving = warp(image2, ProjectiveTransform(matrix=np.linalg.inv(turn)),
                          output_shape=shape, order=1, cval=0,
                          preserve_range=True).astype(image2.dtype)
            registered[pair, degrees] = (image1, moving, turn @ reference,
                                         _registered(matcher, image1, moving))
        return registered[pair, degrees]

    return turned_pair


@pytest.mark.parametrize("pair", ["l", "m"])
@pytest.mark.parametrize("degrees", [15, 30, 90, 180])
def test_turned_pairs_register(turned, pair, degrees):
    image1, moving, reference, result = turned(pair, degrees)
    rmse, ncm, _ = _scored(result, reference, image1.shape, moving.shape)
    assert rmse < 3 and ncm >= 30, (rmse, ncm)


def test_a_turned_pair_s_turn_comes_from_the_rotation_invariant_features(turned):
    """Pair l turned by 90 degrees: the upright turn is not strong, the polar descriptor's
    matches on the coarse images give the turn (270 as the search tries it), and the search
    stops there (the orientation histogram's estimates, 110 and 146, were tried before)."""
    image1, moving, reference, result = turned("l", 90)
    assert not isinstance(result, RegistrationError), result
    estimate, inliers = result.diagnostics["invariant_turn"]
    assert abs(estimate - 270) < 2 and inliers >= 8
    assert [round(angle) for angle in result.diagnostics["angles_tried"]] == [0, 270]
    assert registration_rmse(result.transform, reference, image1.shape, moving.shape) < 1


@pytest.mark.parametrize("zoom", [1.5, 2.0])
def test_zoomed_pairs_register(zoom):
    """Pair l with image 2 zoomed 1.5 and 2 times registers within a pixel of the fixed image
    with max_scale_change=4 (the coarse pyramid spanned a factor 2 whatever max_scale_change
    said, and a zoom of 2 was refused)."""
    matcher = CoarseFineMatcher(rng=0, max_scale_change=4)
    from skimage.transform import rescale

    image1, image2, reference = _load("l")
    zoomed = rescale(image2.astype(np.float32), zoom, order=1, preserve_range=True,
                     anti_aliasing=False).astype(np.float32)  # as skimage gives it
    truth = np.diag([zoom, zoom, 1.0]) @ reference
    rmse, ncm, _ = _outcome(matcher, image1, zoomed, truth)
    assert rmse / zoom < 1.0 and ncm >= 20, (rmse, ncm)  # in the fixed image's pixels


def _coarse_stage_fails(monkeypatch):
    """Make every coarse stage fail, as it can on a hard pair: only the identity prior is left."""
    import sarfeat.matching.matcher as matcher_module
    from sarfeat.matching.coarse import Hypothesis

    def failing(found, *args, **kwargs):
        found.diagnostics["failure"] = "made to fail by the test"
        return Hypothesis(angle=0.0, matrix=None, inliers=0, candidates=0)

    monkeypatch.setattr(matcher_module, "coarse_stage", failing)


@pytest.fixture(scope="module")
def identity_prior_runs():
    """Pairs j and q registered with every coarse stage failed (only the identity prior left),
    one matcher, the chance decoys' fine stages counted: {pair: (RegistrationError or the
    RMSE, decoys run)}. The two tests below read the same two registrations."""
    from sarfeat.matching.fine import FineStage

    decoys = []
    run = FineStage.run

    def counted(self, *args, **kwargs):
        decoys.extend(1 for word in args if isinstance(word, str) and "chance level" in word)
        return run(self, *args, **kwargs)

    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FineStage, "run", counted)
        _coarse_stage_fails(patch)
        matcher = CoarseFineMatcher(rng=0)
        runs["j"] = (_registered(matcher, *_load("j")[:2]), len(decoys))
        decoys.clear()
        rmse, _, _ = _outcome(matcher, *_load("q"))
        runs["q"] = (rmse, len(decoys))
    return runs


def _refused_as_chance(outcome) -> bool:
    return isinstance(outcome, RegistrationError) and "no more than chance" in str(outcome)


def test_an_identity_prior_no_better_than_chance_is_refused(identity_prior_runs):
    """Pair j is 900 px from the identity. With its coarse stage failed, the fine stage around
    the identity found 17 inliers in its first round, and the same stage around the identity
    shifted by 3 search radii 12 to 21: chance. register() returned that transform, 987 px
    wrong, at confidence 0.25; it must refuse. Pair q, nearly aligned, whose coarse stage
    fails, still registers around the identity (11 inliers, none around the shifted priors)."""
    refused = identity_prior_runs["j"][0]
    assert _refused_as_chance(refused), refused
    rmse = identity_prior_runs["q"][0]
    assert rmse < 1.0, rmse


def test_the_chance_decoys_stop_once_one_settles_the_answer(identity_prior_runs):
    """The identity prior is no better than chance as soon as one shifted prior gives half its
    inliers: pair j is refused after fewer than the four decoys' fine stages, with the same
    answer; pair q, beyond chance, still runs every decoy that overlaps before it registers."""
    refused, decoys = identity_prior_runs["j"]
    assert _refused_as_chance(refused), refused
    assert 1 <= decoys < 4
    rmse, decoys = identity_prior_runs["q"]
    assert rmse < 1.0 and decoys >= 2, (rmse, decoys)


def test_describing_fine_patches_two_at_once_changes_nothing(monkeypatch):
    import sarfeat.matching.fine_driver as driver_module

    image1, image2, _ = _load("o")  # 701 x 701: four fine patches a side
    results = []
    for workers in (1, 2):
        monkeypatch.setattr(driver_module, "describing_workers", lambda detector, n=workers: n)
        matcher = CoarseFineMatcher(rng=0)
        matcher.match(image1, image2)
        results.append(matcher)
    one, two = results
    assert one.diagnostics["patches_described"] == two.diagnostics["patches_described"] >= 4
    np.testing.assert_array_equal(one.keypoints1, two.keypoints1)
    np.testing.assert_array_equal(one.matches, two.matches)
    np.testing.assert_array_equal(one.model.params, two.model.params)
