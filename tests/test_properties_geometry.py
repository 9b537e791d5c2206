"""Property tests of sarfeat's geometric core: the transforms and their robust fits
(sarfeat.matching.models), the one warp (sarfeat.geometry.warp), and the coordinates of
downsampled images (sarfeat.pyramid levels, sarfeat.matching.geometry.downsample).

Each test draws few, small examples (derandomised), so that the file runs in seconds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.transform import AffineTransform, SimilarityTransform, rescale

from sarfeat.geometry import warp, warp_dtype
from sarfeat.matching.geometry import apply_matrix, downsample, rotation_scale, scaling
from sarfeat.matching.models import MODELS, NESTED, fit_model
from sarfeat.pyramid import level_shape, pyramid_scales, resized_level
from sarfeat.resample import resize_bilinear

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
KINDS = ("similarity", "affine", "projective")


@st.composite
def transforms(draw, kind: str) -> np.ndarray:
    """A 3x3 matrix of ``kind``: a turn, scales, a shear, a shift, and a perspective."""
    turn = draw(st.floats(-np.pi, np.pi))
    scale = draw(st.floats(0.3, 3.0))
    shift = (draw(st.floats(-50, 50)), draw(st.floats(-50, 50)))
    if kind == "similarity":
        return SimilarityTransform(rotation=turn, scale=scale, translation=shift).params
    matrix = AffineTransform(rotation=turn, scale=(scale, scale * draw(st.floats(0.5, 2.0))),
                             shear=draw(st.floats(-0.5, 0.5)), translation=shift).params
    if kind == "projective":  # a horizon far beyond the points the tests map
        matrix[2, :2] = draw(st.floats(-1e-3, 1e-3)), draw(st.floats(-1e-3, 1e-3))
    return matrix


def points(seed: int, count: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 200, (count, 2))


@FAST
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_a_transform_composed_with_its_inverse_is_the_identity(data, kind):
    matrix = data.draw(transforms(kind))
    transform = MODELS[kind](matrix=matrix)
    xy = points(data.draw(st.integers(0, 99)))
    np.testing.assert_allclose(transform.inverse(transform(xy)), xy, atol=1e-7)
    np.testing.assert_allclose(apply_matrix(np.linalg.inv(matrix), apply_matrix(matrix, xy)),
                               xy, atol=1e-7)


@FAST
@given(turn=st.floats(-179, 179), scale=st.floats(0.1, 10), shift=st.floats(-1e4, 1e4))
def test_rotation_scale_reads_the_turn_and_scale_of_a_similarity(turn, scale, shift):
    matrix = SimilarityTransform(rotation=np.radians(turn), scale=scale,
                                 translation=(shift, -shift)).params
    angle, found, det = rotation_scale(matrix)
    assert angle == pytest.approx(turn, abs=1e-7)
    assert found == pytest.approx(scale) and det == pytest.approx(scale ** 2)


@FAST
@given(data=st.data(), kind=st.sampled_from(KINDS), seed=st.integers(0, 99))
def test_a_model_is_recovered_from_exact_correspondences(data, kind, seed):
    matrix = data.draw(transforms(kind))
    source = points(seed)
    target = apply_matrix(matrix, source)
    fitted = fit_model(source, target, kind, threshold=1.0, max_trials=100, plausible=None,
                       rng=np.random.default_rng(seed), select=False)
    assert fitted is not None and fitted.inliers.all()
    assert isinstance(fitted.transform, MODELS[kind])
    np.testing.assert_allclose(fitted.transform.params / fitted.transform.params[2, 2], matrix,
                               rtol=1e-6, atol=1e-6)


@FAST
@given(data=st.data(), kind=st.sampled_from(KINDS), seed=st.integers(0, 99),
       flaw=st.sampled_from(["collinear", "duplicate", "too few", "all NaN", "all inf"]))
def test_degenerate_correspondences_give_no_model(data, kind, seed, flaw):
    """Points on a line (for an affine or projective map), one point repeated, fewer points
    than the model needs, or nothing finite: no model (None), never a NaN or a guessed one."""
    matrix = data.draw(transforms(kind))
    rng = np.random.default_rng(seed)
    if flaw == "collinear":
        along = rng.uniform(0, 200, 30)
        source = np.c_[along, data.draw(st.floats(-3, 3)) * along + 7]
    elif flaw == "duplicate":
        source = np.repeat(rng.uniform(0, 200, (1, 2)), 30, axis=0)
    elif flaw == "too few":
        source = rng.uniform(0, 200, (NESTED[kind][1] - 1, 2))
    else:
        source = np.full((30, 2), np.nan if flaw == "all NaN" else np.inf)
    target = apply_matrix(matrix, np.nan_to_num(source, posinf=0.0))
    if kind == "similarity" and flaw == "collinear":  # two distinct points fix a similarity
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN arithmetic, by design
        fitted = fit_model(source, target, kind, threshold=1.0, max_trials=100,
                           plausible=None, rng=rng)
    assert fitted is None


@FAST
@given(data=st.data(), kind=st.sampled_from(KINDS), seed=st.integers(0, 99),
       value=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_matches_are_left_out_of_the_fit(data, kind, seed, value):
    matrix = data.draw(transforms(kind))
    source = points(seed)
    target = apply_matrix(matrix, source)
    bad = np.arange(len(source)) % 4 == 1
    source[bad, data.draw(st.integers(0, 1))] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = fit_model(source, target, kind, threshold=1.0, max_trials=100,
                           plausible=None, rng=np.random.default_rng(seed))
    assert fitted is not None and np.all(np.isfinite(fitted.transform.params))
    assert not fitted.inliers[bad].any() and fitted.inliers[~bad].all()
    np.testing.assert_allclose(apply_matrix(fitted.transform.params, source[~bad]),
                               target[~bad], atol=1e-5)


@st.composite
def images(draw, max_side: int = 16) -> np.ndarray:
    """A small image of any dtype that warp takes (bool a mask)."""
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    dtype = draw(st.sampled_from(["bool", "uint8", "int16", "float32", "float64", "complex64"]))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    values = rng.uniform(-100, 100, shape)
    if dtype == "bool":
        return values > 0
    if dtype == "complex64":
        return (values + 1j * rng.uniform(-100, 100, shape)).astype(dtype)
    return (np.abs(values) if dtype == "uint8" else values).astype(dtype)


@FAST
@given(image=images(), order=st.sampled_from([0, 1, 3]), block=st.integers(1, 9))
def test_the_identity_warp_returns_the_image(image, order, block):
    """Bit for bit by nearest neighbour, to float rounding otherwise, whatever the blocks;
    in :func:`warp_dtype`."""
    out = warp(image, np.eye(3), image.shape, order=order, block=block)
    assert out.dtype == warp_dtype(image.dtype) and out.shape == image.shape
    expected = image.astype(out.dtype)
    if order == 0:
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-4)


@FAST
@given(image=images(), data=st.data(), order=st.sampled_from([0, 1, 3]),
       block=st.integers(1, 9), shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
       antialias=st.booleans(), horizon=st.booleans())
def test_no_data_is_exactly_where_the_map_reads_outside_and_blocks_change_nothing(
        image, data, order, block, shape, antialias, horizon):
    """Affine and projective maps, a horizon across the output or by its origin included
    (its last row drawn, its last entry possibly 0), with or without the prefilter."""
    matrix = data.draw(transforms(data.draw(st.sampled_from(("affine", "projective")))))
    matrix[:2, 2] /= 5  # shifts of the scale of the image
    if horizon:
        matrix[2] = [data.draw(st.floats(-0.3, 0.3)) for _ in range(2)] \
            + [data.draw(st.sampled_from([0.0, 1e-100]) | st.floats(-3, 3))]
        if abs(np.linalg.det(matrix)) < 1e-3:  # singular to warp, or nearly
            return
    image = image.astype(np.uint8) if antialias and image.dtype == bool else image
    cols, rows = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]))
    mapped = np.c_[cols.ravel(), rows.ravel(), np.ones(cols.size)] @ matrix.T
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # points beyond a horizon are no-data, not warnings
        whole = warp(image, matrix, shape, order=order, antialias=antialias)
        blocked = warp(image, matrix, shape, order=order, block=block, antialias=antialias)
    with np.errstate(all="ignore"):  # points at infinity, by design
        x, y = (mapped[:, :2] / mapped[:, 2:]).T
    np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-4, equal_nan=True)
    inside = (mapped[:, 2] > 0) & (x >= -1e-9) & (y >= -1e-9) \
        & (x <= image.shape[1] - 1 + 1e-9) & (y <= image.shape[0] - 1 + 1e-9)
    # points within rounding of the outermost pixel centres (or of the horizon) may fall on
    # either side
    edge = (np.abs(x - np.clip(x, 0, image.shape[1] - 1)) < 1e-5) \
        & (np.abs(y - np.clip(y, 0, image.shape[0] - 1)) < 1e-5) | (np.abs(mapped[:, 2]) < 1e-9)
    nodata = np.isnan(whole.real).ravel()
    np.testing.assert_array_equal(nodata[~edge], ~inside[~edge])


@FAST
@given(shape=st.tuples(st.integers(4, 70), st.integers(4, 70)), scale=st.floats(0.1, 1.0),
       slope=st.tuples(st.floats(-1, 1), st.floats(-1, 1)))
def test_a_pyramid_level_s_pixels_lie_where_its_coordinates_say(shape, scale, slope):
    """A level pixel's centre maps back to the input and returns; it is where
    :func:`sarfeat.matching.geometry.scaling` and skimage's rescale (half-pixel centres)
    put it; and the resized level of a ramp reads the ramp there (to the triangle filter's
    sampling, a fraction of an input pixel; the half-pixel slip of another convention
    would be up to half a level pixel)."""
    rows, cols = np.mgrid[:shape[0], :shape[1]].astype(float)
    ramp = slope[0] * cols + slope[1] * rows
    small = level_shape(shape, scale)
    level = resized_level(shape, scale, resize_bilinear(ramp, small))
    level_rows, level_cols = np.mgrid[:small[0], :small[1]].astype(float)
    back_rows, back_cols = level.to_original(level_rows, level_cols)
    again = level.from_original(back_rows, back_cols)
    np.testing.assert_allclose(again[0], level_rows, atol=1e-9)
    np.testing.assert_allclose(again[1], level_cols, atol=1e-9)
    xy = apply_matrix(scaling(level.row_ratio, level.col_ratio),
                      np.c_[level_cols.ravel(), level_rows.ravel()])
    np.testing.assert_allclose(xy, np.c_[back_cols.ravel(), back_rows.ravel()], atol=1e-9)
    expected = slope[0] * back_cols + slope[1] * back_rows
    reach_r, reach_c = level.row_ratio + 1, level.col_ratio + 1  # the filter's half-width
    inner = (back_rows >= reach_r) & (back_rows <= shape[0] - 1 - reach_r) \
        & (back_cols >= reach_c) & (back_cols <= shape[1] - 1 - reach_c)
    tolerance = 1e-4 + 0.15 * (abs(slope[0]) * level.col_ratio + abs(slope[1]) * level.row_ratio)
    np.testing.assert_allclose(level.image[inner], expected[inner], rtol=1e-4, atol=tolerance)
    if min(small) > 1:  # skimage's linear rescale (no prefilter) is exact on a ramp
        resized = rescale(ramp, (small[0] / shape[0], small[1] / shape[1]), order=1)
        np.testing.assert_allclose(resized[inner], expected[inner], atol=1e-3)


@FAST
@given(shape=st.tuples(st.integers(1, 120), st.integers(1, 120)), factor=st.floats(0.02, 0.99),
       slope=st.tuples(st.floats(-1, 1), st.floats(-1, 1)))
def test_a_downsampled_image_maps_its_pixels_back(shape, factor, slope):
    """Any image and any factor under 1 (a side shorter than the reduction's blocks
    included): the matrix returned maps each small pixel to where it reads a ramp."""
    rows, cols = np.mgrid[:shape[0], :shape[1]].astype(float)
    small, to_original = downsample((slope[0] * cols + slope[1] * rows).astype(np.float32),
                                    factor)
    assert small.dtype == np.float32 and small.size >= 1
    assert all(1 <= side <= max(1, round(factor * full) + 1)
               for side, full in zip(small.shape, shape))
    small_rows, small_cols = np.mgrid[:small.shape[0], :small.shape[1]]
    xy = apply_matrix(to_original, np.c_[small_cols.ravel(), small_rows.ravel()])
    assert np.all(xy > -0.5) and np.all(xy < np.array(shape[::-1]) - 0.5)
    reach = 6 / factor  # the prefilter's reach, input pixels
    inner = (xy[:, 0] > reach) & (xy[:, 0] < shape[1] - 1 - reach) \
        & (xy[:, 1] > reach) & (xy[:, 1] < shape[0] - 1 - reach)
    np.testing.assert_allclose(small.ravel()[inner], (xy @ slope)[inner], atol=1e-3)


@FAST
@given(longest=st.integers(1, 200000), factor=st.floats(1.05, 3.0), min_size=st.integers(1, 600),
       max_size=st.integers(1, 3000), min_scale=st.floats(0, 0.5), max_scale=st.floats(0.01, 1))
def test_pyramid_scales_end_and_keep_within_their_bounds(longest, factor, min_size, max_size,
                                                         min_scale, max_scale):
    """At least one scale, falling from at most 1, each within its bounds (to their slack:
    1e-3, or 1/64 of a small bound), whatever the image's length (a scene of 200000 px and
    min_size 1 included); equal sizes give one level."""
    lower = max(min_scale, min_size / longest)
    upper = min(max_scale, max_size / longest)
    scales = pyramid_scales((longest, 1), factor, min_size, max_size, min_scale, max_scale)
    assert scales and all(0 < s <= 1 for s in scales)
    assert all(a > b for a, b in zip(scales, scales[1:]))
    if len(scales) > 1 or lower <= upper:
        assert all(lower - min(1e-3, lower / 64) <= s <= upper + min(1e-3, upper / 64)
                   for s in scales)
    if min_size == max_size and min_scale == 0 and max_scale == 1:
        assert len(scales) == 1
