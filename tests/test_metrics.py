"""sarfeat.metrics on cases with known answers."""

import warnings

import numpy as np
import pytest
from skimage.transform import SimilarityTransform

from sarfeat.metrics import match_errors, mean_matching_accuracy


def test_errors_follow_row_col_and_xy_conventions():
    transform = SimilarityTransform(translation=(10, -5))  # x += 10, y -= 5
    keypoints1 = np.array([[20.0, 30.0], [0.0, 0.0]])  # (row, col)
    keypoints2 = np.array([[15.0, 40.0], [0.0, 3.0]])
    matches = np.array([[0, 0], [1, 1]])
    errors = match_errors(keypoints1, keypoints2, matches, transform)
    np.testing.assert_allclose(errors, [0.0, np.hypot(7, 5)])
    # the same transform as a 3x3 matrix gives the same errors
    np.testing.assert_allclose(match_errors(keypoints1, keypoints2, matches, transform.params),
                               errors)


def test_mma_counts_fraction_within_thresholds():
    keypoints1 = np.zeros((4, 2))
    keypoints2 = np.array([[0, 0.5], [0, 2.0], [0, 4.0], [0, 20.0]])
    matches = np.c_[np.arange(4), np.arange(4)]
    identity = np.eye(3)
    assert mean_matching_accuracy(keypoints1, keypoints2, matches, identity, 3) == 0.5
    np.testing.assert_allclose(
        mean_matching_accuracy(keypoints1, keypoints2, matches, identity, [1, 3, 5, 30]),
        [0.25, 0.5, 0.75, 1.0],
    )


def test_no_match_gives_nan_and_bad_matrix_raises():
    assert np.isnan(mean_matching_accuracy(np.zeros((1, 2)), np.zeros((1, 2)), [], np.eye(3)))
    with pytest.raises(ValueError, match="3x3"):
        match_errors(np.zeros((1, 2)), np.zeros((1, 2)), [[0, 0]], np.eye(2))


@pytest.mark.parametrize("entry", [np.nan, np.inf])
def test_a_non_finite_matrix_is_refused_not_counted_as_misses(entry):
    from sarfeat.metrics import correct_match_counts, registration_rmse, repeatability

    broken = np.eye(3)
    broken[0, 2] = entry
    points = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="transform has NaN or infinite entries"):
        mean_matching_accuracy(points, points, [[0, 0], [1, 1]], broken)  # was 0.0
    with pytest.raises(ValueError, match="transform has NaN or infinite entries"):
        match_errors(points, points, np.empty((0, 2), int), broken)  # checked without matches
    with pytest.raises(ValueError, match="transform has NaN or infinite entries"):
        correct_match_counts(points, points, [[0, 0]], broken)  # was (0, 0.0)
    with pytest.raises(ValueError, match="transform has NaN or infinite entries"):
        repeatability(points, points, broken, (10, 10), (10, 10))  # was NaN
    with pytest.raises(ValueError, match="estimate has NaN or infinite entries"):
        registration_rmse(broken, np.eye(3), (10, 10), (10, 10))  # was NaN
    with pytest.raises(ValueError, match="reference has NaN or infinite entries"):
        registration_rmse(np.eye(3), broken, (10, 10), (10, 10))


def test_a_nan_keypoint_is_refused_not_counted_as_a_miss():
    points = np.array([[1.0, 2.0], [np.nan, 4.0]])
    with pytest.raises(ValueError, match="keypoints1 has NaN or infinite coordinates"):
        match_errors(points, points[:1], [[0, 0], [1, 0]], np.eye(3))  # was [0, nan]
    with pytest.raises(ValueError, match="keypoints2 has NaN or infinite coordinates"):
        mean_matching_accuracy(points[:1], points, [[0, 1]], np.eye(3))  # was 0.0


def test_rmse_of_a_known_offset_and_of_a_failure():
    from sarfeat.metrics import registration_rmse

    reference = np.eye(3)
    shifted = np.array([[1.0, 0, 3], [0, 1, 4], [0, 0, 1]])  # 5 px everywhere
    assert registration_rmse(reference, reference, (50, 60), (50, 60)) == 0.0
    assert np.isclose(registration_rmse(shifted, reference, (50, 60), (50, 60)), 5.0)
    assert registration_rmse(None, reference, (50, 60), (50, 60)) == np.inf
    far = np.array([[1.0, 0, 1000], [0, 1, 0], [0, 0, 1]])  # nothing lands in image 2
    assert registration_rmse(reference, far, (50, 60), (50, 60)) == np.inf


def test_ncm_and_cmr():
    from sarfeat.metrics import correct_match_counts

    keypoints = np.array([[0.0, 0.0], [10.0, 10.0]])
    moved = keypoints + [0.0, 1.0]
    moved[1] += 10
    ncm, cmr = correct_match_counts(keypoints, moved, [[0, 0], [1, 1]], np.eye(3))
    assert (ncm, cmr) == (1, 0.5)
    ncm, cmr = correct_match_counts(keypoints, moved, np.empty((0, 2), int), np.eye(3))
    assert ncm == 0 and np.isnan(cmr)  # 0 / 0 is no ratio: it was reported as 0.0


def test_rmse_of_an_estimate_that_sends_a_grid_point_to_infinity_is_infinite():
    from sarfeat.metrics import registration_rmse

    # a projective estimate whose horizon (w = 1 - x / 30 = 0) passes through the grid
    # point x = 30 of a 31-column image: that point goes to infinity (was NaN: 0 / 0 at y = 0)
    horizon = np.array([[1.0, 0, 0], [0, 1, 0], [-1 / 30, 0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no division warning either
        assert registration_rmse(horizon, np.eye(3), (31, 31), (31, 31), grid=31) == np.inf
        flat = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 0]])  # w = 0 everywhere
        assert registration_rmse(flat, np.eye(3), (50, 60), (50, 60)) == np.inf


def test_rmse_of_a_skimage_transform_through_its_horizon_is_infinite_too():
    """What ``register(..., model='projective')`` returns is a skimage transform, whose own
    call divides by machine epsilon where w = 0: its RMSE was a finite ~1e17 px."""
    from skimage.transform import AffineTransform, ProjectiveTransform

    from sarfeat.metrics import registration_rmse

    horizon = np.array([[1.0, 0, 0], [0, 1, 0], [-1 / 30, 0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registration_rmse(ProjectiveTransform(matrix=horizon), np.eye(3), (31, 31),
                                 (31, 31), grid=31) == np.inf
    shift = AffineTransform(translation=(3.0, 4.0))  # an ordinary estimate: 5 px everywhere
    assert registration_rmse(shift, np.eye(3), (50, 60), (50, 60)) == pytest.approx(5.0)
    failed = ProjectiveTransform(matrix=np.full((3, 3), np.nan))  # a failed estimate's NaNs
    assert registration_rmse(failed, np.eye(3), (50, 60), (50, 60)) == np.inf


def test_repeatability_of_a_singular_skimage_transform_is_a_clear_error():
    from skimage.transform import AffineTransform

    from sarfeat.metrics import repeatability

    flat = AffineTransform(matrix=[[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])  # no inverse
    with pytest.raises(ValueError, match="singular"):  # was numpy's LinAlgError
        repeatability([[1.0, 1.0]], [[1.0, 1.0]], flat, (5, 5), (5, 5))


def test_similarity_warps_are_reproducible_and_within_their_ranges():
    from sarfeat.metrics import similarity_warps

    warps = similarity_warps(6, seed=1)
    again = similarity_warps(6, seed=1)
    assert len(warps) == 6
    for warp, same in zip(warps, again):
        np.testing.assert_array_equal(warp.params, same.params)
        assert 0.8 <= warp.scale <= 1.0 and abs(np.rad2deg(warp.rotation)) <= 10
        assert np.all(np.abs(warp.translation) <= 20)
    assert not np.allclose(warps[0].params, similarity_warps(1, seed=2)[0].params)


def test_turn_about_centre_scales_and_shifts_about_the_centre():
    from skimage.transform import warp

    from sarfeat.metrics import turn_about_centre

    shape = (41, 61)
    centre = np.array([[30.0, 20.0]])  # (x, y) of the centre pixel
    moved = turn_about_centre(shape, 60.0, scale=0.9, shift=(6.0, -4.0))
    np.testing.assert_allclose(moved(centre), centre + [[6.0, -4.0]], atol=1e-9)
    assert np.isclose(moved.scale, 0.9) and np.isclose(np.rad2deg(moved.rotation), 60.0)
    # where skimage's warp moves a bright pixel (clockwise as displayed, rows down)
    image = np.zeros(shape)
    image[20, 45] = 1.0  # (x, y) = (45, 20)
    turn = turn_about_centre(shape, 30.0)
    turned = warp(image, turn.inverse, order=1)
    expected = turn(np.array([[45.0, 20.0]]))[0]
    np.testing.assert_allclose(expected, [30 + 15 * np.cos(np.pi / 6), 20 + 15 * 0.5])
    peak = np.unravel_index(np.argmax(turned), shape)
    assert np.abs(np.array(peak[::-1]) - expected).max() <= 1.0


_KEYPOINTS = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


@pytest.mark.parametrize("keypoints1, matches, message", [
    (np.ones((3, 3)), [[0, 1]], "keypoints1 must be an \\(N, 2\\)"),  # failed in matmul
    (np.ones(3), [[0, 1]], "keypoints1 must be an \\(N, 2\\)"),  # IndexError
    ([["a", "b"]], [[0, 0]], "keypoints1 must be an \\(N, 2\\)"),
    (_KEYPOINTS, [[0, 1, 2], [1, 2, 0]], "matches must be a \\(Q, 2\\)"),  # was reshaped
    (_KEYPOINTS, [0, 1, 2, 2], "matches must be a \\(Q, 2\\)"),  # was reshaped to 2 pairs
    (_KEYPOINTS, [[0.7, 1.2]], "matches must be a \\(Q, 2\\)"),  # was cut to [0, 1]
    (_KEYPOINTS, [[0, 9]], "outside keypoints2"),  # IndexError
    (_KEYPOINTS, [[-1, 0]], "outside keypoints1"),  # was the last keypoint
])
def test_bad_keypoints_and_matches_are_refused(keypoints1, matches, message):
    with pytest.raises(ValueError, match=message):
        match_errors(keypoints1, _KEYPOINTS, matches, np.eye(3))


def test_whole_float_matches_and_empty_lists_are_read():
    assert match_errors(_KEYPOINTS, _KEYPOINTS, [[0.0, 0.0]], np.eye(3)).tolist() == [0.0]
    assert match_errors([], [], [], np.eye(3)).shape == (0,)


@pytest.mark.parametrize("name, call", [
    ("grid", lambda f: f(np.eye(3), np.eye(3), (8, 8), (8, 8), grid=0)),  # was inf
    ("grid", lambda f: f(np.eye(3), np.eye(3), (8, 8), (8, 8), grid=-1)),  # numpy's error
    ("shape1", lambda f: f(np.eye(3), np.eye(3), (-8, 8), (8, 8))),  # was a result
    ("shape1", lambda f: f(np.eye(3), np.eye(3), 8, (8, 8))),  # TypeError
    ("shape2", lambda f: f(np.eye(3), np.eye(3), (8, 8), (0, 0))),  # was inf
])
def test_rmse_refuses_bad_shapes_and_grids(name, call):
    from sarfeat.metrics import registration_rmse

    with pytest.raises(ValueError, match=f"{name} must be"):
        call(registration_rmse)


@pytest.mark.parametrize("arguments, keywords, message", [
    ((np.ones((4, 3)), _KEYPOINTS, np.eye(3), (8, 8), (8, 8)), {}, "keypoints1 must be"),
    ((np.full((2, 2), np.nan), _KEYPOINTS, np.eye(3), (8, 8), (8, 8)), {}, "NaN or infinite"),
    ((_KEYPOINTS, _KEYPOINTS, np.zeros((3, 3)), (8, 8), (8, 8)), {}, "singular"),
    ((_KEYPOINTS, _KEYPOINTS, np.eye(3), 8, (8, 8)), {}, "shape1 must be"),
    ((_KEYPOINTS, _KEYPOINTS, np.eye(3), (8, 8), (8, 8)), {"threshold": -1}, "threshold must"),
])
def test_repeatability_refuses_bad_arguments(arguments, keywords, message):
    from sarfeat.metrics import repeatability

    with pytest.raises(ValueError, match=message):
        repeatability(*arguments, **keywords)


def test_thresholds_must_be_finite_pixels():
    from sarfeat.metrics import correct_match_counts

    for thresholds in ("3", np.nan, -1.0):
        with pytest.raises(ValueError, match="thresholds must be"):
            mean_matching_accuracy(_KEYPOINTS, _KEYPOINTS, [[0, 0]], np.eye(3), thresholds)
        with pytest.raises(ValueError, match="threshold must be"):
            correct_match_counts(_KEYPOINTS, _KEYPOINTS, [[0, 0]], np.eye(3), thresholds)
class _BrightPixels:
    """A detector whose keypoints are the pixels above 0.99, in rows and cols below ``corner``."""

    def __init__(self, corner: int | None = None) -> None:
        self.corner = corner

    def detect(self, image: np.ndarray) -> None:
        keypoints = np.argwhere(image > 0.99).astype(float)
        if self.corner is not None:
            keypoints = keypoints[(keypoints < self.corner).all(axis=1)]
        self.keypoints = keypoints


def test_quarter_turn_repeatability_of_known_detectors():
    from sarfeat.metrics import quarter_turn_repeatability

    rng = np.random.default_rng(1)
    image = rng.uniform(0, 0.9, (40, 60))
    image[rng.integers(0, 40, 12), rng.integers(0, 60, 12)] = 1.0
    # bright pixels turn with the image: every keypoint is found again on every turn
    assert quarter_turn_repeatability(_BrightPixels(), image) == 1.0
    # only the top-left corner is searched: the turns move its keypoints out of it
    corner = np.zeros((40, 60))
    corner[[3, 8, 15], [5, 12, 2]] = 1.0
    assert quarter_turn_repeatability(_BrightPixels(corner=20), corner) == 0.0
    # a keypoint at the centre of a square image stays in the corner searched
    square = np.zeros((21, 21))
    square[[10, 2], [10, 3]] = 1.0
    assert quarter_turn_repeatability(_BrightPixels(corner=11), square) == 0.5
    assert np.isnan(quarter_turn_repeatability(_BrightPixels(), np.zeros((16, 16))))
