"""Property tests of the matcher and ``register`` on random pairs of shapes, dtypes and
no-data: they raise one of their documented errors or return consistent results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _property_helpers import DTYPES, _convert, _rectangle


# -- the matcher and register ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_matcher(naver_net):
    from sarfeat import CoarseFineMatcher

    return CoarseFineMatcher(naver_net, coarse_size=64, patch_size=64, rotations=(0,),
                             angle_step=None, refine_angle=None, rng=0)


@st.composite
def image_pairs(draw, cube, max_side=96):
    """Two crops of the scene (different channels), shifted, in one of DTYPES, maybe with NaN."""
    side = draw(st.integers(8, max_side), label="side")
    row, col = draw(st.integers(0, 256 - side - 8)), draw(st.integers(0, 256 - side - 8))
    shift = draw(st.integers(0, 8), label="shift")
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    first = _convert(cube[row:row + side, col:col + side, 0].astype(np.float64), dtype, rng)
    second = _convert(cube[row + shift:row + shift + side, col:col + side, 2].astype(np.float64),
                      dtype, rng)
    if np.issubdtype(first.dtype, np.inexact) and draw(st.booleans(), label="nan"):
        first[: side // 2] = np.nan
    if draw(st.booleans(), label="masked"):  # a masked array, sometimes masked everywhere
        mask = np.zeros(second.shape, bool)
        r0, r1, c0, c1 = _rectangle(draw, *second.shape)
        mask[r0:r1, c0:c1] = True
        second = np.ma.masked_array(second, mask=mask)
    return first, second


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matcher_and_register_properties(small_matcher, airsar_cube, data):
    """Only documented errors; inputs untouched; no model means no match; float32 kept."""
    from sarfeat import RegistrationError, register

    first, second = data.draw(image_pairs(airsar_cube))
    copies = first.copy(), second.copy()
    masked_out = np.ma.isMaskedArray(second) and np.ma.getmaskarray(second).all()
    try:
        matches = small_matcher.match(first, second)
        assert matches.ndim == 2 and matches.shape[1] == 2
        if small_matcher.model is None:
            assert len(matches) == 0
    except RuntimeError as error:
        assert str(error).startswith(("image1", "image2")), error
    except ValueError as error:  # only for an image without a valid pixel
        assert masked_out and "no valid pixel" in str(error), error
    try:
        result = register(first, second, matcher=small_matcher)
    except RegistrationError as error:
        assert str(error)
    else:
        assert not masked_out  # a masked array's mask is kept: all masked is refused
        if second.dtype == np.float32:
            assert result.warped.dtype == np.float32
        if np.iscomplexobj(second):  # complex stays complex
            assert np.iscomplexobj(result.warped)
        assert result.warped.shape == first.shape
    np.testing.assert_array_equal(first, copies[0])
    np.testing.assert_array_equal(np.ma.getdata(second), np.ma.getdata(copies[1]))


def test_matcher_without_model_returns_no_match(naver_net, airsar_cube):
    """When too few RANSAC inliers leave ``model`` None, ``match`` returns no pair, as
    documented (before, it returned the inliers of the rejected model)."""
    from sarfeat import CoarseFineMatcher

    options = dict(coarse_size=128, patch_size=128, rotations=(0,), angle_step=None,
                   refine_angle=None, identity_prior=False, final_radius=None, rng=0)
    fixed = np.ascontiguousarray(airsar_cube[:160, :160, 0])
    moving = np.ascontiguousarray(airsar_cube[8:168, 4:164, 2])
    first = CoarseFineMatcher(naver_net, **options)
    first.match(fixed, moving)
    assert first.model is not None and 0 < first.inliers.sum() < len(first.matches)
    # ask for as many inliers as there are voted matches: RANSAC's are too few
    matcher = CoarseFineMatcher(naver_net, min_fine_inliers=len(first.matches), **options)
    matches = matcher.match(fixed, moving)
    assert matcher.model is None and "needed" in matcher.diagnostics["failure"]
    assert len(matcher.matches) == len(first.matches)
    assert matches.shape == (0, 2) and not matcher.inliers.any()
