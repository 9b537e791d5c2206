"""Property tests of the detector and the extractor on random shapes, dtypes, no-data and masks.

Whatever the input, the detector and the extractor either raise one of their
documented errors or return consistent results; they never modify their inputs, and
float32 input gives float32 per-keypoint arrays. Keypoints lie inside the
image, outside the edge margin, off invalid pixels and away from large no-data
regions. Constructors reject bad parameters at once. The same holds of
``normalize_sar``, sarfeat.io and the warp (test_properties_io.py), the matcher and
``register`` (test_properties_matching.py) and checkpoint loading
(test_properties_checkpoint.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from sarfeat import SARR2D2Detector
from sarfeat.detector import EDGE_MARGIN
from sarfeat.preprocess import LARGE_NODATA

from _property_helpers import (DTYPES, SETTINGS, _convert, maybe_invalid, sar_inputs,
                               surely_invalid)

PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")


@pytest.fixture(scope="module")
def detector(naver_net):
    return SARR2D2Detector(naver_net, min_size=64, max_size=256)


# -- the checks ---------------------------------------------------------------------------------


def check_detection(detector, image, mask):
    """Run detect_and_extract and check the outcome; returns 'ok', 'no valid' or 'no keypoint'."""
    invalid = surely_invalid(image, mask)
    before = image.copy()
    try:
        detector.detect_and_extract(image, mask=mask)
    except ValueError as error:
        assert maybe_invalid(image, mask).all(), f"ValueError with valid pixels left: {error}"
        return "no valid"
    except RuntimeError:
        return "no keypoint"
    finally:
        np.testing.assert_array_equal(image, before)
    assert not invalid.all(), "an image without valid pixels must raise ValueError"

    height, width = image.shape
    keypoints = detector.keypoints
    count = len(keypoints)
    assert count > 0 and keypoints.shape == (count, 2)
    for name in PER_KEYPOINT:
        assert getattr(detector, name).shape == (count,), name
    assert detector.descriptors.shape[0] == count
    assert np.isfinite(detector.descriptors).all()
    assert np.isfinite(keypoints).all()

    rows, cols = keypoints[:, 0], keypoints[:, 1]
    assert rows.min() >= 0 and rows.max() <= height - 1
    assert cols.min() >= 0 and cols.max() <= width - 1
    cell_rows = np.rint(rows).astype(int)
    cell_cols = np.rint(cols).astype(int)
    assert not invalid[cell_rows, cell_cols].any(), "keypoint on an invalid pixel"

    level_scale = 32.0 / detector.scales.astype(np.float64)
    level_h = np.maximum(1, np.round(height * level_scale))
    level_w = np.maximum(1, np.round(width * level_scale))
    ratio = np.maximum(height / level_h, width / level_w)
    # none in the edge margin, measured on the level's grid (allow a level pixel of rounding)
    level_margin = np.maximum(1, np.minimum(EDGE_MARGIN, np.minimum(level_h, level_w) // 8))
    margin = (level_margin - 1.5) * ratio
    assert np.all((rows >= margin) & (rows <= height - 1 - margin)), "keypoint at the edge"
    assert np.all((cols >= margin) & (cols <= width - 1 - margin)), "keypoint at the edge"
    large = large_regions(invalid)
    if large.any():
        # none within the network's reach (halo, in original pixels of its level) of a
        # large no-data region; isolated invalid pixels only exclude themselves
        distance = ndimage.distance_transform_edt(~large)[cell_rows, cell_cols]
        reach = (detector.halo - 1) * ratio
        assert np.all(distance > reach), "keypoint within the halo of a large no-data region"
    check_float_kind(image, detector.keypoints, *(getattr(detector, n) for n in PER_KEYPOINT))
    return "ok"


def large_regions(invalid):
    """No-data regions that a LARGE_NODATA square fits in (the documented rule)."""
    square = np.ones((LARGE_NODATA, LARGE_NODATA), dtype=bool)
    return ndimage.binary_opening(invalid, square) & invalid


def check_float_kind(image, *arrays):
    """float32 (or complex64) in gives float32 per-keypoint arrays, as scikit-image's SIFT."""
    single = np.asarray(image).dtype in (np.float32, np.complex64, np.float16)
    for values in arrays:
        assert values.dtype == (np.float32 if single else np.float64), values.dtype


@pytest.fixture(scope="module")
def outcomes():
    """Counts of outcomes over all examples, to check that most examples find keypoints."""
    return {"ok": 0, "no valid": 0, "no keypoint": 0}


@SETTINGS
@given(data=st.data())
def test_random_images(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    outcomes[check_detection(detector, image, mask)] += 1


@SETTINGS
@given(data=st.data())
def test_random_images_with_nan_and_masks(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube))
    outcomes[check_detection(detector, image, mask)] += 1


@pytest.fixture(scope="module")
def default_detector():
    """sarfeat's default: the bundled SAR weights, turned maps, rotation-invariant patches."""
    return SARR2D2Detector(min_size=64, max_size=256)


@settings(SETTINGS, max_examples=12)
@given(data=st.data())
def test_random_images_default_detector(default_detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube))
    outcomes[check_detection(default_detector, image, mask)] += 1


@SETTINGS
@given(
    length=st.integers(1, 96),
    vertical=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_lines_and_tiny_images(detector, length, vertical, dtype, seed, outcomes):
    """1xN and Nx1 images, the hardest shapes for pooling and padding."""
    shape = (length, 1) if vertical else (1, length)
    rng = np.random.default_rng(seed)
    image = _convert(rng.gamma(1.0, 1.0, shape), dtype, rng)
    check_detection(detector, image, None)


@SETTINGS
@given(data=st.data())
def test_all_invalid_raises_value_error(detector, airsar_cube, data):
    """All-NaN images and all-False masks raise ValueError, whatever the shape and dtype."""
    image, _ = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    if np.issubdtype(image.dtype, np.inexact) and data.draw(st.booleans(), label="use nan"):
        image = image.copy()
        image[...] = np.nan
        mask = None
    else:
        mask = np.zeros(image.shape, dtype=bool)
    with pytest.raises(ValueError, match="no valid pixel"):
        detector.detect_and_extract(image, mask=mask)


def test_most_examples_find_keypoints(outcomes):
    """Runs after the property tests: the generated images are not all featureless."""
    total = sum(outcomes.values())
    if total == 0:
        pytest.skip("property tests did not run")
    assert outcomes["ok"] >= 0.3 * total, outcomes


# -- parameters are checked when the object is made -----------------------------------------------


PARAMETER_VALUES = {
    "max_keypoints": st.one_of(st.integers(-2, 50), st.floats(-1, 50), st.none()),
    "scale_factor": st.one_of(st.floats(0.5, 3), st.just(float("nan"))),
    "min_size": st.integers(-1, 300),
    "max_scale": st.one_of(st.floats(-0.5, 1.5), st.just(float("nan"))),
    "reliability_threshold": st.one_of(st.none(), st.floats(-0.5, 1.5), st.just(float("nan"))),
    "input_kind": st.sampled_from(["auto", "db", "display", "dB", "linear", ""]),
    "nodata": st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=2)),
    "device": st.sampled_from(["cpu", "auto", "gpu", "cuda:x", "tpu"]),
    "precision": st.sampled_from(["auto", "fp32", "bf16", "fp16", "float32"]),
    "tile_size": st.one_of(st.none(), st.integers(0, 64)),
    "trust": st.sampled_from([False, True, "no", 0]),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=st.fixed_dictionaries({}, optional=PARAMETER_VALUES))
def test_parameters_fail_in_init_or_never(naver_net, airsar_cube, options):
    """A bad parameter raises ValueError/TypeError in __init__; one accepted there never
    makes ``detect`` raise anything but RuntimeError (no keypoint)."""
    try:
        detector = SARR2D2Detector(naver_net, min_size=min(64, options.pop("min_size", 64)),
                                   max_size=64, **options)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    try:
        detector.detect(np.ascontiguousarray(airsar_cube[:64, :64, 0]))
    except RuntimeError:
        pass


# -- the extractor -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor(naver_net):
    from sarfeat import MultiDescriptorExtractor

    return MultiDescriptorExtractor(naver_net, min_size=64, max_size=128)


@st.composite
def keypoint_sets(draw, height, width):
    count = draw(st.integers(0, 12))
    coordinate = st.one_of(st.floats(-20, max(height, width) + 20), st.just(float("nan")))
    keypoints = np.array(
        [[draw(coordinate), draw(coordinate)] for _ in range(count)], dtype=np.float64
    ).reshape(count, 2)
    scales = draw(st.one_of(
        st.none(),
        st.lists(st.floats(16, 96), min_size=count, max_size=count),
        st.lists(st.one_of(st.floats(-5, 16), st.just(float("inf"))),
                 min_size=count, max_size=count),
    ))
    return keypoints, None if scales is None else np.array(scales)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_extractor_properties(extractor, airsar_cube, data):
    """extract describes any keypoints or flags them; errors only for bad scales or images."""
    image, mask = data.draw(sar_inputs(airsar_cube, max_side=80))
    keypoints, scales = data.draw(keypoint_sets(*image.shape))
    before, points_before = image.copy(), keypoints.copy()
    bad_scales = scales is not None and len(scales) and not (
        np.isfinite(scales).all() and scales.min() >= 16)
    try:
        extractor.extract(image, keypoints, scales, mask=mask)
    except ValueError as error:
        assert bad_scales or maybe_invalid(image, mask).all(), error
        return
    except RuntimeError as error:  # documented for a flat image only
        assert "flat" in str(error)
        return
    finally:
        np.testing.assert_array_equal(image, before)
        np.testing.assert_array_equal(keypoints, points_before)
    assert not bad_scales
    for name, values in extractor.descriptors.items():
        assert values.dtype == np.float32 and values.shape[0] == len(keypoints)
        assert np.isfinite(values).all()
        described = extractor.masks[name]
        assert described.dtype == bool and described.shape == (len(keypoints),)
        assert not described[~np.isfinite(keypoints).all(axis=1)].any()
