"""The matcher composed of its parts, shared by threads, and let go (issue 19, items 12, 17,
23 and 24), on the AIRSAR scene (HH against VV moved by a known similarity, 256 x 256)."""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from skimage.transform import ProjectiveTransform, SimilarityTransform, warp

from sarfeat import CoarseFineMatcher, SARR2D2Detector
from sarfeat.matching import CoarseSettings, FineSettings
from sarfeat.matching.geometry import turn

SIMILARITY = SimilarityTransform(scale=0.95, rotation=np.deg2rad(4), translation=(10.0, -6.0))
#: A cheap matcher: upright pair, one coarse turn, small budgets.
FLAT = dict(model="similarity", rotations=(0.0,), angle_step=None, estimated_turns=0,
            coarse_keypoints=1500, fine_keypoints=800, rng=0, progress=False)


@pytest.fixture(scope="module")
def pair(airsar_cube):
    fixed = np.ascontiguousarray(airsar_cube[..., 0])
    moving = warp(airsar_cube[..., 2], ProjectiveTransform(matrix=np.linalg.inv(SIMILARITY.params)),
                  order=1, cval=np.nan, preserve_range=True).astype(np.float32)
    return fixed, moving


@pytest.fixture(scope="module")
def serial(naver_net, pair):
    matcher = CoarseFineMatcher(naver_net, **FLAT)
    return matcher, matcher.match_result(*pair)


def test_composed_of_parts_equals_the_flat_keywords(naver_net, pair, serial):
    _, expected = serial
    composed = CoarseFineMatcher(
        detector=SARR2D2Detector(naver_net, upright=True),
        coarse=CoarseSettings(model="similarity", rotations=(0.0,), angle_step=None,
                              estimated_turns=0, coarse_keypoints=1500),
        fine=FineSettings(model="similarity", fine_keypoints=800),
        rng=0, progress=False,
    )
    assert composed.coarse_settings.coarse_keypoints == 1500
    assert composed.fine_settings.fine_keypoints == 800
    result = composed.match_result(*pair)
    np.testing.assert_array_equal(result.verified, expected.verified)
    np.testing.assert_allclose(result.model.params, expected.model.params)


def test_a_keyword_and_a_setting_saying_otherwise_are_refused():
    with pytest.raises(ValueError, match="ratio given both"):
        CoarseFineMatcher(ratio=0.7, coarse=CoarseSettings(ratio=0.8))
    with pytest.raises(ValueError, match="disagree on max_trials"):
        CoarseFineMatcher(coarse=CoarseSettings(max_trials=100), fine=FineSettings(max_trials=50))
    with pytest.raises(ValueError, match="not both"):
        CoarseFineMatcher("sarfeat-sar-v1", detector=SARR2D2Detector())


def test_stages_never_change_the_shared_detector(naver_net, pair, serial):
    """Each stage detects with a detector of its own; the one kept for the network stays as
    it was built (the matcher used to set each stage's pyramid on it)."""
    matcher, _ = serial
    kept = list(matcher._stages.kept.values())
    assert kept and all(d.max_keypoints == 5000 and d.min_size is None for d in kept)


def test_one_matcher_shared_by_four_threads_gives_the_serial_results(naver_net, pair, serial):
    """6 calls on 4 threads, on one matcher: each result is the serial one (before, half of
    the calls were refused or differed, the calls sharing their fine stage on the matcher)."""
    matcher, expected = serial
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: matcher.match_result(*pair), range(4)))
        returned = list(pool.map(lambda _: matcher.match(*pair), range(2)))
    for result in results:
        assert result.model is not None
        np.testing.assert_array_equal(result.verified, expected.verified)
        np.testing.assert_allclose(result.model.params, expected.model.params)
    for matches in returned:
        np.testing.assert_array_equal(matches, expected.verified)
    np.testing.assert_allclose(matcher.model.params, expected.model.params)


def test_a_matcher_is_freed_without_the_garbage_collector(naver_net, pair):
    """No reference cycle holds a matcher, its stages or its network runtime: it goes when the
    last reference does (each register() call used to leave 8-10 MB for the collector)."""
    matcher = CoarseFineMatcher(naver_net, **FLAT)
    matcher.match(*pair)
    gone = weakref.ref(matcher)
    gc.collect()
    gc.disable()
    try:
        del matcher
        assert gone() is None
    finally:
        gc.enable()


def test_repeated_matches_leave_no_garbage_behind(naver_net, pair):
    matcher = CoarseFineMatcher(naver_net, **FLAT)
    matcher.match(*pair)  # compiles and loads what it needs once
    gc.collect()
    gc.disable()
    try:
        for _ in range(2):
            matcher.match(*pair)
        leftover = gc.collect()
    finally:
        gc.enable()
    assert leftover < 50, f"{leftover} objects in reference cycles after two matches"


def test_the_border_fill_of_a_turned_float_image_is_no_data(naver_net):
    """Pair l's image 2 turned by 15 degrees in float32 (skimage's warp, zero corners) is
    taken as intensity: its zero corners were data (the darkest value), their edges stronger
    than the scene's, and the pair was refused. Zeros inside the scene stay dark pixels."""
    from sarfeat.data import load_pair

    image = load_pair("l")[1]
    matrix, shape = turn(image.shape, 15.0)
    turned = warp(image, ProjectiveTransform(matrix=np.linalg.inv(matrix)), output_shape=shape,
                  order=1, cval=0, preserve_range=True).astype(np.float32)
    turned[shape[0] // 2, shape[1] // 2] = 0  # a dark pixel inside
    values = np.asarray(CoarseFineMatcher(naver_net)._normalized(turned, "image2"))
    assert np.isnan(values[0, 0]) and np.isnan(values[-1, -1])
    assert np.isfinite(values[shape[0] // 2, shape[1] // 2])
    assert np.isnan(values).sum() == pytest.approx((turned == 0).sum() - 1, rel=1e-6)


def test_the_border_zeros_reaching_the_border_through_nan_are_no_data(naver_net):
    """The same turned image brought onto a larger grid, NaN beyond it (as a reprojected
    moving image): its zero corners reach the border only through NaN, and are no-data as
    in the optical-SAR matcher (sar_border_zeros); they were the darkest data."""
    from sarfeat.data import load_pair

    image = load_pair("l")[1]
    matrix, shape = turn(image.shape, 15.0)
    turned = warp(image, ProjectiveTransform(matrix=np.linalg.inv(matrix)), output_shape=shape,
                  order=1, cval=0, preserve_range=True).astype(np.float32)
    turned[shape[0] // 2, shape[1] // 2] = 0  # a dark pixel inside
    grid = np.full((shape[0] + 24, shape[1] + 24), np.nan, np.float32)
    grid[12:-12, 8:-16] = turned
    values = np.asarray(CoarseFineMatcher(naver_net)._normalized(grid, "image2"))
    corners = grid == 0
    corners[12 + shape[0] // 2, 8 + shape[1] // 2] = False
    assert corners[12, 8] and np.isnan(values[corners]).all()
    assert np.isfinite(values[12 + shape[0] // 2, 8 + shape[1] // 2])
    assert np.isnan(values).sum() == np.isnan(grid).sum() + corners.sum()


def test_register_with_one_matcher_shared_by_four_threads(naver_net, pair):
    """register() on 4 threads, one matcher, two different pairs: every result is the serial
    one, and the matcher is left as it was (register() used to call match(), then read the
    matcher's attributes, which another thread's call may have filled meanwhile)."""
    from sarfeat import register

    fixed, moving = pair
    shifted = np.ascontiguousarray(np.roll(moving, (7, -5), axis=(0, 1)))
    pairs = [(fixed, moving), (fixed, shifted)] * 2
    matcher = CoarseFineMatcher(naver_net, **FLAT)
    expected = [register(*pairs[i], matcher=matcher, progress=False) for i in range(2)]
    assert matcher.model is None and matcher.matches is None  # register() stores nothing
    assert not np.allclose(expected[0].transform.params, expected[1].transform.params)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: register(*p, matcher=matcher, progress=False), pairs))
    for index, result in enumerate(results):
        wanted = expected[index % 2]
        np.testing.assert_allclose(result.transform.params, wanted.transform.params)
        np.testing.assert_array_equal(result.inlier_matches, wanted.inlier_matches)
        assert result.confidence == wanted.confidence
        assert result.diagnostics["fine_inliers"] == wanted.diagnostics["fine_inliers"]
    assert matcher.model is None and matcher.progress is False


def test_the_fine_stage_progress_bars_say_which_prior_and_image(naver_net, pair, capsys):
    """With a progress bar, each fine stage's bar says whose patches it counts and around
    which prior (under -v two bars both said only 'fine patches')."""
    matcher = CoarseFineMatcher(naver_net, **dict(FLAT, progress=True, strong_inliers=None))
    result = matcher.match_result(*pair)
    assert result.model is not None
    shown = capsys.readouterr().err
    assert "fine stage, image-1 patches around the coarse model" in shown
    assert "fine stage, image-1 patches around the identity (images as aligned)" in shown
    assert "fine patches:" not in shown


def test_the_matcher_is_split_by_concern():
    """Every module of sarfeat.matching stays under 600 lines and every class under 300 lines
    of code (its docstring aside): matcher.py had 981 lines and CoarseFineMatcher 519 lines of
    code (settings, inputs, both stages' drivers); the flat keywords still work (above)."""
    import ast
    from pathlib import Path

    import sarfeat.matching

    for path in sorted(Path(sarfeat.matching.__file__).parent.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 600, f"{path.name}: {len(text.splitlines())} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                first = node.body[0]
                documented = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                doc = first.end_lineno - first.lineno + 1 if documented else 0
                code = node.end_lineno - node.lineno + 1 - doc
                assert code <= 300, f"{path.name}: {node.name} has {code} lines of code"


def _features(detector, image):
    detector.detect_and_extract(image)
    return detector.keypoints, detector.descriptors


@pytest.fixture(scope="module")
def coarse_image(airsar_cube):
    """The AIRSAR HH intensity in [0, 1], as a matcher's detectors are given it."""
    from sarfeat import normalize_sar

    return normalize_sar(airsar_cube[..., 0], "intensity").image


@pytest.mark.parametrize("weights", ["sarfeat-sar-v2", "sarfeat-sar-v1", None])
def test_a_rotation_invariant_matcher_describes_as_the_detector_of_its_weights(weights,
                                                                               coarse_image):
    """A matcher with ``upright=False`` detects and describes as SARR2D2Detector does for the
    same weights and options: sarfeat-sar-v2's polar weighting and the distilled maps (its
    stage detectors were built on the loaded network, which names no release, so they had
    neither: unweighted polar descriptors on maps averaged over four turns)."""
    matcher = CoarseFineMatcher(weights, upright=False, **FLAT)
    stage = matcher.coarse_settings.detector_settings()
    keypoints, descriptors = _features(matcher._detector(**stage), coarse_image)
    alone = SARR2D2Detector(weights, upright=False, input_kind="display", **stage)
    expected_keypoints, expected = _features(alone, coarse_image)
    np.testing.assert_array_equal(keypoints, expected_keypoints)
    np.testing.assert_array_equal(descriptors, expected)


def test_a_matcher_on_loaded_network_weights_matches(pair):
    """NetworkWeights (what sarfeat.weights.resolve_network_weights gives) are not hashable:
    the kept detectors are keyed by their identity."""
    from sarfeat.weights import resolve_network_weights

    matcher = CoarseFineMatcher(resolve_network_weights("sarfeat-sar-v1"), **FLAT)
    assert matcher.match_result(*pair).model is not None


@pytest.mark.parametrize("weights", ["sarfeat-sar-v1", "sarfeat-sar-v2", None])
def test_the_turn_estimate_uses_the_release_the_matcher_was_given(weights, coarse_image):
    """The turn estimate's rotation-invariant detector is that of the matcher's weights (it
    was always the default release's: sarfeat-sar-v1 got sarfeat-sar-v2's weighted polar
    descriptors there), with the coarse stage's pyramid."""
    matcher = CoarseFineMatcher(weights, rng=0, progress=False)
    coarse = matcher.coarse_settings
    keypoints, descriptors = _features(matcher._turn_detector(coarse), coarse_image)
    alone = SARR2D2Detector(weights, upright=False, input_kind="display",
                            **coarse.detector_settings())
    expected_keypoints, expected = _features(alone, coarse_image)
    np.testing.assert_array_equal(keypoints, expected_keypoints)
    np.testing.assert_array_equal(descriptors, expected)
