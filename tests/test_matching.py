"""Tests of the coarse-to-fine matcher, :class:`sarfeat.CoarseFineMatcher`.

Image pairs are two channels of one real SAR scene (independent speckle) with a
known synthetic warp, so the truth is exact. The scenes are 256 x 256, smaller
than ``coarse_size``: the coarse stage runs at full resolution, which keeps
these tests fast. The expensive runs are module-scoped fixtures shared by tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, ProjectiveTransform, SimilarityTransform, warp

from sarfeat import CoarseFineMatcher
from sarfeat.matching.geometry import turn as _turn
from sarfeat.matching.votes import Features as _Features
from sarfeat.matching.votes import count_votes
from sarfeat.matching.votes import nearest_per_group as _nearest_per_group
from sarfeat.metrics import match_errors, registration_rmse

SIMILARITY = SimilarityTransform(scale=0.9, rotation=np.deg2rad(5), translation=(12.0, -8.0))


def _warped(image: np.ndarray, truth: np.ndarray, shape=None) -> np.ndarray:
    """``image`` moved by ``truth`` (image-1 (x, y) -> image-2 (x, y)), NaN outside."""
    return warp(image, ProjectiveTransform(matrix=np.linalg.inv(truth)), output_shape=shape,
                order=1, cval=np.nan, preserve_range=True).astype(np.float32)


def _turned(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned about its centre onto a canvas that holds it, and the turn's matrix."""
    matrix, shape = _turn(image.shape, degrees)
    return _warped(image, matrix, shape), matrix


def _rotation(matrix: np.ndarray) -> float:
    """Rotation angle of an affine matrix in degrees, skimage's convention, in (-180, 180]."""
    return float(np.degrees(np.arctan2(matrix[1, 0] - matrix[0, 1], matrix[0, 0] + matrix[1, 1])))


@pytest.fixture(scope="module")
def airsar(request):
    """(HH, VV) of the AIRSAR scene: about 2.7 looks."""
    cube = request.getfixturevalue("airsar_cube")
    return cube[..., 0], cube[..., 2]


@pytest.fixture(scope="module")
def similarity_run(naver_net, airsar):
    """The matcher after matching HH against VV moved by a known similarity."""
    fixed, other = airsar
    moving = _warped(other, SIMILARITY.params)
    matcher = CoarseFineMatcher(naver_net, model="similarity", rng=0)
    returned = matcher.match(fixed, moving)
    return matcher, returned, fixed, moving


# -- the whole matcher on real SAR -------------------------------------------------------------


def test_similarity_recovered_within_one_pixel(similarity_run):
    matcher, _, fixed, moving = similarity_run
    assert isinstance(matcher.model, SimilarityTransform)
    rmse = registration_rmse(matcher.model, SIMILARITY.params, fixed.shape, moving.shape)
    assert rmse < 1.0
    assert matcher.model.scale == pytest.approx(0.9, abs=0.01)
    assert np.degrees(matcher.model.rotation) == pytest.approx(5, abs=0.5)
    # the coarse model is already close: the fine stage's local search depends on it
    coarse = registration_rmse(matcher.coarse_model, SIMILARITY.params, fixed.shape, moving.shape)
    assert coarse < 5
    assert matcher.diagnostics["failure"] is None


def test_match_output_indexes_keypoints(similarity_run):
    matcher, returned, _, moving = similarity_run
    n1, n2 = len(matcher.keypoints1), len(matcher.keypoints2)
    q = len(matcher.matches)
    assert returned.ndim == 2 and returned.shape[1] == 2 and returned.dtype.kind == "i"
    assert matcher.matches.shape == (q, 2) and matcher.votes.shape == (q,)
    assert matcher.inliers.shape == (q,) and matcher.inliers.dtype == bool
    np.testing.assert_array_equal(returned, matcher.matches[matcher.inliers])
    assert (returned[:, 0] < n1).all() and (returned[:, 1] < n2).all() and (returned >= 0).all()
    # the indices pick keypoints that the true warp relates: (row, col) into each image
    errors = match_errors(matcher.keypoints1, matcher.keypoints2, returned, SIMILARITY.params)
    assert len(returned) >= 30 and np.mean(errors <= 3) > 0.9
    assert (matcher.keypoints2[:, 0] < moving.shape[0]).all()
    assert (matcher.keypoints2[:, 1] < moving.shape[1]).all()
    # and the model agrees with them within the fine threshold
    src = matcher.keypoints1[returned[:, 0]][:, ::-1]
    dst = matcher.keypoints2[returned[:, 1]][:, ::-1]
    assert np.all(matcher.model.residuals(src, dst) <= matcher.fine_threshold + 1e-9)


def test_returned_matches_have_enough_votes(similarity_run):
    matcher, _, _, _ = similarity_run
    needed = len(matcher.descriptor_names) + 1  # the default: a majority of the votes
    assert (matcher.votes >= needed).all()
    assert (matcher.votes <= 2 * len(matcher.descriptor_names)).all()
    d = matcher.diagnostics
    assert d["fine_candidates"] == len(matcher.matches) <= d["fine_pairs"]
    assert d["fine_inliers"] == int(matcher.inliers.sum())
    assert d["coarse_inliers"] <= d["coarse_candidates"]


def test_vote_threshold_and_r2d2_alone(naver_net, airsar):
    """The fine stage with the R2D2 descriptor alone and an explicit vote threshold."""
    fixed, other = airsar
    moving = _warped(other, SIMILARITY.params)
    matcher = CoarseFineMatcher(naver_net, model="affine", descriptors=("r2d2",),
                                vote_threshold=2, rotations=(0,), angle_step=None, rng=0)
    returned = matcher.match(fixed, moving)
    assert isinstance(matcher.model, AffineTransform)
    assert (matcher.votes == 2).all()  # both directions: mutual nearest within the radius
    assert len(returned) >= 20
    assert registration_rmse(matcher.model, SIMILARITY.params, fixed.shape, moving.shape) < 1.0


def test_projective_model(naver_net, airsar):
    fixed, other = airsar
    moving = _warped(other, SIMILARITY.params)
    matcher = CoarseFineMatcher(naver_net, model="projective", rotations=(0,), rng=0)
    matcher.match(fixed, moving)
    assert type(matcher.model) is ProjectiveTransform
    assert isinstance(matcher.coarse_model, AffineTransform)  # the coarse stage stays affine
    assert registration_rmse(matcher.model, SIMILARITY.params, fixed.shape, moving.shape) < 1.0


@pytest.mark.parametrize("degrees", [90, 180, 30])
def test_rotation_recovered_with_its_sign(naver_net, airsar, degrees):
    fixed, other = airsar
    moving, truth = _turned(other, degrees)
    matcher = CoarseFineMatcher(naver_net, model="similarity", rng=0)
    matcher.match(fixed, moving)
    assert matcher.model is not None, matcher.diagnostics["failure"]
    # skimage's convention: SimilarityTransform(rotation=r) turns by r; the model has the
    # rotation of the truth, not its opposite
    difference = (_rotation(matcher.model.params) - _rotation(truth) + 180) % 360 - 180
    assert abs(difference) < 0.5
    assert registration_rmse(matcher.model, truth, fixed.shape, moving.shape) < 1.0
    # image 2 was matched turned back upright
    assert abs((matcher.coarse_angle + degrees + 180) % 360 - 180) < 8


def test_speckled_labrador_registers(naver_net):
    """The noisiest scene (Sentinel-1, about 1.2 looks), VV against warped VH."""
    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")
    fixed, moving = scene[..., 0], _warped(scene[..., 1], SIMILARITY.params)
    matcher = CoarseFineMatcher(naver_net, model="similarity", rotations=(0,), rng=0)
    matcher.match(fixed, moving)
    assert registration_rmse(matcher.model, SIMILARITY.params, fixed.shape, moving.shape) < 1.5


def test_rng_makes_results_reproducible(naver_net, airsar):
    fixed, other = airsar
    moving = _warped(other, SIMILARITY.params)[:160, :160]
    kwargs = dict(model="similarity", rotations=(0,), angle_step=None, rng=3)
    first = CoarseFineMatcher(naver_net, **kwargs)
    second = CoarseFineMatcher(naver_net, **kwargs)
    np.testing.assert_array_equal(first.match(fixed, moving), second.match(fixed, moving))
    np.testing.assert_allclose(first.model.params, second.model.params)


# -- pieces, without the network ---------------------------------------------------------------


def _features(keypoints, **descriptors) -> _Features:
    keypoints = np.asarray(keypoints, float)
    return _Features(
        keypoints, np.full(len(keypoints), 32.0),
        {k: np.asarray(v, np.float32) for k, v in descriptors.items()},
        {k: np.ones(len(keypoints), bool) for k in descriptors},
    )


def test_votes_count_each_descriptor_in_both_directions():
    # image-1 keypoint 0 has candidates 0 and 1; image-1 keypoint 1 has candidate 1
    pairs = np.array([[0, 0], [0, 1], [1, 1]])
    one = _features([[0, 0], [0, 5]], a=[[1, 0], [0, 1]], b=[[1, 0], [0, 1]])
    two = _features([[0, 1], [0, 4]], a=[[1, 0], [0.6, 0.8]], b=[[0, 1], [0.6, 0.8]])
    votes = count_votes(pairs, one, two)
    # 'a': forward 0->0 and 1->1; backward 0<-0 (its only candidate) and 1<-1 ((0.6, 0.8)
    #      is nearer (0, 1) than (1, 0)): pairs (0, 0) and (1, 1) get two votes each
    # 'b': forward 0->1 (nearer than 0) and 1->1; backward 0<-0 and 1<-1
    np.testing.assert_array_equal(votes, [2 + 1, 0 + 1, 2 + 2])


def test_votes_skip_undescribed_keypoints():
    pairs = np.array([[0, 0]])
    one = _features([[0, 0]], a=[[1, 0]], b=[[1, 0]])
    two = _features([[0, 0]], a=[[1, 0]], b=[[1, 0]])
    two.masks["b"][:] = False
    np.testing.assert_array_equal(count_votes(pairs, one, two), [2])
    assert count_votes(np.empty((0, 2), int), one, two).shape == (0,)


def test_local_ratio_test_drops_ambiguous_groups():
    group = np.array([0, 0, 1, 1, 2])
    distance = np.array([1.0, 1.05, 1.0, 3.0, 2.0])
    np.testing.assert_array_equal(np.sort(_nearest_per_group(group, distance)), [0, 2, 4])
    # group 0 is ambiguous (1.0 vs 1.05); a single candidate always passes
    np.testing.assert_array_equal(np.sort(_nearest_per_group(group, distance, 0.9)), [2, 4])


@pytest.mark.parametrize("degrees", [90, 180, 270, 30])
def test_turn_keeps_the_whole_image(degrees):
    shape = (40, 60)
    matrix, canvas = _turn(shape, degrees)
    corners = np.array([[-0.5, -0.5], [59.5, -0.5], [-0.5, 39.5], [59.5, 39.5]])
    turned = np.c_[corners, np.ones(4)] @ matrix.T
    assert turned[:, 0].min() >= -0.5 - 1e-9 and turned[:, 0].max() <= canvas[1] - 0.5 + 1e-9
    assert turned[:, 1].min() >= -0.5 - 1e-9 and turned[:, 1].max() <= canvas[0] - 0.5 + 1e-9
    if degrees % 90 == 0:
        assert canvas == (shape if degrees % 180 == 0 else shape[::-1])
        # right angles map pixel centres onto pixel centres: an exact resampling
        centres = np.c_[np.array([[0, 0], [59, 39], [17, 23]]), np.ones(3)] @ matrix.T
        np.testing.assert_allclose(centres, np.round(centres), atol=1e-9)
    assert (_rotation(matrix) - degrees + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [{"model": "rigid"}, {"radius": 0}, {"ratio": 1.5}, {"rotations": ()},
     {"vote_threshold": 0}, {"patch_size": 8}, {"local_ratio": 0}, {"fine_min_scale": 2.0},
     {"max_fine_patches": 0}, {"max_fine_patches": 2.5},
     # not numpy's or Python's TypeError later on, nor a seed that fails at match time
     {"rotations": None}, {"rotations": 0}, {"descriptors": None}, {"modality": None},
     {"rng": -1}],
)
def test_bad_parameters_raise_value_error(kwargs):
    with pytest.raises(ValueError):  # in __init__, before any image is given
        CoarseFineMatcher(None, **kwargs)


def test_one_descriptor_name_is_one_descriptor():
    # as MultiDescriptorExtractor reads it, not as the letters 'r', '2', 'd', '2'
    assert CoarseFineMatcher(None, descriptors="r2d2").descriptor_names == ("r2d2",)


def test_bad_images_raise_value_error():
    matcher = CoarseFineMatcher(None)
    with pytest.raises(ValueError, match="image1"):
        matcher.match(np.zeros((4, 64, 64)), np.zeros((64, 64)))
    with pytest.raises(ValueError, match="image2"):
        matcher.match(np.ones((64, 64)), np.full((64, 64), np.nan))
