"""SARR2D2Detector: the scikit-image feature contract (shapes and dtypes, detect + extract,
robustness). Refusals and parameters are in test_detector_parameters.py, skimage's
registration workflow in test_detector_workflow.py, inputs of other dtypes and no-data in
test_detector_inputs.py, the numba kernels and pyramid resizes in test_detector_kernels.py."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat import SARR2D2Detector
from sarfeat.detector import EDGE_MARGIN

from _detector_helpers import PER_KEYPOINT, as_dtype, make_detector
from _detector_helpers import share_within as _share_within


@pytest.fixture(scope="module")
def described(naver_net, scene):
    """A detector after ``detect_and_extract`` on the scene."""
    detector = make_detector(naver_net)
    detector.detect_and_extract(scene)
    return detector


# -- shapes and dtypes ---------------------------------------------------------------------------


def test_shapes(described):
    count = len(described.keypoints)
    assert count > 50
    assert described.keypoints.shape == (count, 2)
    for name in PER_KEYPOINT:
        assert getattr(described, name).shape == (count,), name
    assert described.descriptors.shape == (count, 128)
    assert described.descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(described.descriptors, axis=1), 1.0, atol=1e-5)
    assert described.mask.shape == (count,) and described.mask.dtype == bool
    assert described.mask.all()
    np.testing.assert_array_equal(described.mask_, described.mask)


def test_attribute_values(described):
    """Scales are patch diameters of the pyramid, orientations are zero, maps in [0, 1]."""
    assert np.all(described.orientations == 0)
    assert np.all(described.scales >= 32 - 1e-4)
    assert described.scales.max() <= 32 / 0.5 + 1e-3  # smallest level is 128/256
    for name in ("reliabilities", "repeatabilities"):
        values = getattr(described, name)
        assert values.min() >= 0.7 - 1e-6 and values.max() <= 1.0 + 1e-6, name


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.uint8, np.float64),
        (np.uint16, np.float64),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.complex64, np.float32),
    ],
)
def test_dtypes(naver_net, scene, dtype, expected):
    """Every input dtype gives per-keypoint arrays of one length and a matching float type."""
    image = as_dtype(scene, dtype)
    detector = make_detector(naver_net)
    detector.detect_and_extract(image)
    count = len(detector.keypoints)
    assert count > 20
    assert detector.keypoints.shape == (count, 2)
    assert detector.keypoints.dtype == expected
    for name in PER_KEYPOINT:
        values = getattr(detector, name)
        assert values.shape == (count,), name
        assert values.dtype == expected, name
    assert detector.descriptors.shape == (count, 128)
    assert detector.descriptors.dtype == np.float32
    assert detector.mask.shape == (count,)


def test_detect_leaves_descriptors_empty(naver_net, scene):
    detector = make_detector(naver_net)
    detector.detect(scene)
    assert detector.descriptors is None and detector.mask is None
    assert len(detector.keypoints) > 0


# -- detect + extract ----------------------------------------------------------------------------


@pytest.mark.parametrize("with_nan", [False, True])
def test_detect_then_extract_equals_detect_and_extract(naver_net, scene, with_nan):
    image = scene.copy()
    if with_nan:
        image[100:140, 30:90] = np.nan
    joint = make_detector(naver_net)
    joint.detect_and_extract(image)
    separate = make_detector(naver_net)
    separate.detect(image)
    separate.extract(image)
    np.testing.assert_array_equal(separate.keypoints, joint.keypoints)
    np.testing.assert_array_equal(separate.scales, joint.scales)
    assert separate.mask.all()
    assert separate.descriptors.shape == joint.descriptors.shape
    np.testing.assert_allclose(separate.descriptors, joint.descriptors, atol=1e-5)


def test_extract_with_explicit_keypoints_and_scales(naver_net, scene, described):
    """Passing the detected keypoints and scales explicitly gives the same descriptors."""
    detector = make_detector(naver_net)
    detector.extract(scene, keypoints=described.keypoints, scales=described.scales)
    np.testing.assert_allclose(detector.descriptors, described.descriptors, atol=1e-5)


def test_extract_flags_unusable_keypoints(naver_net, scene):
    """Keypoints outside the image or near no-data are flagged, not described."""
    image = scene.copy()
    image[150:220, 150:220] = np.nan
    keypoints = np.array(
        [
            [40.0, 40.0],  # valid, far from the hole
            [-10.0, 50.0],  # above the image
            [60.0, 300.0],  # right of the image
            [256.5, 10.0],  # just below the image
            [185.0, 185.0],  # inside the NaN hole
            [185.0, 145.0],  # 5 px from the hole: within the network's reach
            [np.nan, 20.0],  # not a position at all
            [70.3, 30.6],  # valid, sub-pixel
            [20.0, 200.0],  # valid
        ]
    )
    detector = make_detector(naver_net)
    detector.extract(image, keypoints=keypoints)
    expected = np.array([True, False, False, False, False, False, False, True, True])
    np.testing.assert_array_equal(detector.mask, expected)
    assert detector.descriptors.shape == (expected.sum(), 128)
    assert detector.descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(detector.descriptors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(detector.descriptors).all()


def test_extract_with_image_mask(naver_net, scene):
    """The ``mask`` argument of extract marks pixels as unusable like NaN does."""
    mask = np.ones(scene.shape, dtype=bool)
    mask[:, :128] = False
    keypoints = np.array([[50.0, 50.0], [50.0, 220.0]])
    detector = make_detector(naver_net)
    detector.extract(scene, keypoints=keypoints, mask=mask)
    np.testing.assert_array_equal(detector.mask, [False, True])
    assert detector.descriptors.shape == (1, 128)


def test_extract_rejects_bad_keypoints(naver_net, scene):
    detector = make_detector(naver_net)
    with pytest.raises(ValueError):
        detector.extract(scene, keypoints=np.zeros((4, 3)))
    with pytest.raises(ValueError):
        detector.extract(scene, keypoints=np.zeros((4, 2)), scales=np.ones(3))


def test_orb_four_argument_extract(naver_net, scene, described):
    """ORB's call ``extract(image, keypoints, scales, orientations)`` describes as before."""
    detector = make_detector(naver_net)
    orientations = np.zeros(len(described.keypoints))
    detector.extract(scene, described.keypoints, described.scales, orientations)
    np.testing.assert_allclose(detector.descriptors, described.descriptors, atol=1e-5)
    with pytest.warns(UserWarning, match="upright"):
        detector.extract(scene, described.keypoints, described.scales, orientations + 0.5)
    with pytest.raises(ValueError, match="orientations"):
        detector.extract(scene, described.keypoints, described.scales, orientations[:3])


@pytest.mark.parametrize("bad", [0.0, -5.0, np.nan, np.inf])
def test_extract_rejects_non_positive_or_non_finite_scales(naver_net, scene, bad):
    scales = np.full(3, 32.0)
    scales[1] = bad
    with pytest.raises(ValueError, match="scales"):
        make_detector(naver_net).extract(scene, np.full((3, 2), 100.0), scales)


def test_extract_refuses_foreign_scales(naver_net, scene):
    """ORB's pyramid factors (1, 1.2, ...) are not patch diameters: refused with the fix."""
    keypoints = np.array([[100.0, 100.0], [120.0, 130.0]])
    detector = make_detector(naver_net)
    with pytest.raises(ValueError, match="multiplied by 32"):
        detector.extract(scene, keypoints, np.array([1.0, 1.2]))
    detector.extract(scene, keypoints, 32 * np.array([1.0, 1.2]))  # converted: fine
    assert detector.mask.all()


def test_no_keypoint_near_the_image_edge(naver_net, scene):
    """None within EDGE_MARGIN level pixels of the edge (the maps answer the padding
    there: before, 17 % of keypoints lay exactly on the border, none near the left one)."""
    detector = make_detector(naver_net, min_size=64)
    detector.detect(scene)
    rows, cols = detector.keypoints.T
    height, width = scene.shape
    level_sides = np.round(min(height, width) * 32 / detector.scales)
    level_margin = np.minimum(EDGE_MARGIN, level_sides // 8)  # detector.edge_margin
    margin = (level_margin - 0.5) * detector.scales / 32  # in image pixels at each level
    assert np.all((rows >= margin) & (cols >= margin))
    assert np.all((rows <= height - 1 - margin) & (cols <= width - 1 - margin))
    # the keypoints still reach close to every edge: nothing else was cut
    assert rows.min() < 2 * EDGE_MARGIN and cols.min() < 2 * EDGE_MARGIN
    assert rows.max() > height - 1 - 2 * EDGE_MARGIN and cols.max() > width - 1 - 2 * EDGE_MARGIN


def test_extract_flags_edge_keypoints(naver_net, scene):
    """Given keypoints in the edge margin are flagged, as ORB flags border keypoints."""
    keypoints = np.array([[0.0, 100.0], [100.0, 5.0], [100.0, 250.0], [100.0, 100.0]])
    detector = make_detector(naver_net)
    detector.extract(scene, keypoints)
    np.testing.assert_array_equal(detector.mask, [False, False, False, True])


# -- robustness ----------------------------------------------------------------------------------


def test_small_image_with_deep_pyramid(naver_net, scene):
    """A 64x64 crop with min_size larger than the image still runs (one level)."""
    crop = scene[96:160, 96:160].copy()
    detector = SARR2D2Detector(naver_net, min_size=256, max_size=256)
    detector.detect_and_extract(crop)
    assert detector.keypoints.shape[1] == 2
    assert len(detector.keypoints) == len(detector.descriptors) > 0
    assert np.all(detector.scales == 32)


@pytest.mark.parametrize(
    "dtype, with_nan",
    [
        (np.float32, False),
        (np.float32, True),
        (np.float64, True),
        (np.complex64, True),
        (np.uint16, False),
        (np.uint8, False),
    ],
)
def test_input_not_modified(naver_net, scene, dtype, with_nan):
    image = as_dtype(scene[:128, :160], dtype)
    if with_nan:
        image[10:40, 120:150] = np.nan
    before = image.copy()
    mask = np.ones(image.shape, dtype=bool)
    mask[:8] = False
    mask_before = mask.copy()
    detector = make_detector(naver_net)
    detector.detect_and_extract(image, mask=mask)
    detector.extract(image, mask=mask)
    np.testing.assert_array_equal(image, before)  # NaN compare equal here
    np.testing.assert_array_equal(mask, mask_before)


def test_keypoints_inside_image(naver_net, scene):
    image = scene[:200, :150]
    detector = make_detector(naver_net)
    detector.detect(image)
    rows, cols = detector.keypoints.T
    assert rows.min() >= 0 and rows.max() <= image.shape[0] - 1
    assert cols.min() >= 0 and cols.max() <= image.shape[1] - 1


def test_no_keypoints_in_nan_or_masked_area(naver_net, scene):
    image = scene.copy()
    image[:, :100] = np.nan
    mask = np.ones(scene.shape, dtype=bool)
    mask[180:, :] = False
    detector = make_detector(naver_net)
    detector.detect(image, mask=mask)
    rows, cols = detector.keypoints.T
    assert len(rows) > 0
    halo = detector._runner.halo  # the network's reach at full resolution
    assert cols.min() > 99 + halo and rows.max() < 180 - halo


def test_no_keypoints_in_nodata_area(naver_net, scene):
    """A ``nodata`` fill value (0 outside a swath) keeps keypoints away like NaN does."""
    image = scene.copy()
    image[:, 160:] = 0
    detector = make_detector(naver_net, nodata=0)
    detector.detect(image)
    assert len(detector.keypoints) > 0
    assert detector.keypoints[:, 1].max() < 160 - detector._runner.halo


def test_responses_sorted_and_consistent(described):
    responses = described.responses
    assert np.all(np.diff(responses) <= 0)
    np.testing.assert_allclose(
        responses, described.reliabilities * described.repeatabilities, rtol=1e-6
    )


@pytest.mark.parametrize("max_keypoints", [1, 7, 100])
def test_max_keypoints(naver_net, scene, described, max_keypoints):
    detector = make_detector(naver_net, max_keypoints=max_keypoints)
    detector.detect_and_extract(scene)
    assert len(detector.keypoints) == max_keypoints
    assert len(detector.descriptors) == max_keypoints
    # the best ones are kept: the strongest responses of the unlimited run
    np.testing.assert_allclose(
        detector.responses, described.responses[:max_keypoints], rtol=1e-6
    )


def test_repeated_calls_reuse_results_cleanly(naver_net, scene):
    """A second call replaces every attribute with the new image's results."""
    detector = make_detector(naver_net)
    detector.detect_and_extract(scene)
    first = len(detector.keypoints)
    detector.detect_and_extract(scene[:128, :128])
    assert detector.keypoints.max() <= 127
    assert len(detector.keypoints) < first
    assert len(detector.descriptors) == len(detector.keypoints)


@pytest.mark.parametrize("bad", ["flat", "3-D", "all NaN", "tiny"])
def test_failed_call_leaves_no_results_of_the_previous_image(naver_net, scene, bad):
    """A detector reused after an error holds None, not the previous image's keypoints (as
    skimage's SIFT and ORB do, which a loop that catches the error reads as the new ones)."""
    image = {"flat": np.ones((64, 64), np.float32), "3-D": np.dstack([scene] * 3),
             "all NaN": np.full((64, 64), np.nan, np.float32), "tiny": scene[:16, :16]}[bad]
    previous = scene[:128, :128]  # a previous image with keypoints (one pyramid level: cheap)
    detector = make_detector(naver_net)
    for call in (detector.detect_and_extract, detector.detect):
        detector.detect_and_extract(previous)
        assert len(detector.keypoints) > 0
        with pytest.raises((ValueError, RuntimeError)):
            call(image)
        for name in ("keypoints", "descriptors", "mask") + PER_KEYPOINT:
            assert getattr(detector, name) is None, name
    # a failed extract clears what extract fills: of the detection's own keypoints (at their
    # scales) descriptors and mask, the keypoints are still the scene's; of others (the own
    # ones at other scales too), every result, none of which would describe them
    detector.detect_and_extract(previous)
    keypoints = detector.keypoints
    image = np.ones((64, 64), np.float32) if bad == "tiny" else image  # tiny describes none
    with pytest.raises((ValueError, RuntimeError)):
        detector.extract(image, keypoints, detector.scales)
    assert detector.descriptors is None and detector.mask is None
    assert detector.keypoints is keypoints
    with pytest.raises((ValueError, RuntimeError)):
        detector.extract(image, keypoints)
    for name in ("keypoints", "descriptors", "mask") + PER_KEYPOINT:
        assert getattr(detector, name) is None, name


# -- no-data that behaves -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["+inf", "-inf", "nodata", "masked", "mask"])
def test_isolated_invalid_pixels_of_every_kind_exclude_only_themselves(
    naver_net, scene, described, how
):
    """1 % invalid pixels, however marked, leave most keypoints in place."""
    rng = np.random.default_rng(6)
    holes = rng.random(scene.shape) < 0.01
    image, options, mask = scene.copy(), {}, None
    if how in ("+inf", "-inf"):
        image[holes] = np.inf if how == "+inf" else -np.inf
    elif how == "nodata":
        image[holes] = 0
        options["nodata"] = 0
    elif how == "masked":
        image = np.ma.masked_array(image, mask=holes)
    else:
        mask = ~holes
    detector = make_detector(naver_net, **options)
    detector.detect(image, mask=mask)
    assert _share_within(detector.keypoints, described.keypoints) >= 0.8
    assert not holes[tuple(np.rint(detector.keypoints).astype(int).T)].any()
