"""SARR2D2Detector: the scikit-image feature contract and skimage's registration workflow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.transform import AffineTransform, SimilarityTransform, warp

from sarfeat import SARR2D2Detector
from sarfeat.detector import EDGE_MARGIN

PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")


def make_detector(net, **kwargs):
    """A detector with the small pyramid used throughout the tests, upright (the network's
    own maps and descriptors; the rotation-invariant default is tested in test_rotation.py)."""
    options = dict(min_size=128, max_size=256, upright=True)
    options.update(kwargs)
    return SARR2D2Detector(net, **options)


def as_dtype(intensity, dtype):
    """The same SAR scene in another storage type (display 8-bit, DN 16-bit, SLC, ...)."""
    if dtype == np.uint8:
        db = 10 * np.log10(intensity)
        low, high = np.percentile(db, [1, 99])
        return np.clip(255 * (db - low) / (high - low), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(intensity * 1000, 1, 65535).astype(np.uint16)
    if dtype == np.complex64:
        phase = np.random.default_rng(0).uniform(-np.pi, np.pi, intensity.shape)
        return (np.sqrt(intensity) * np.exp(1j * phase)).astype(np.complex64)
    return intensity.astype(dtype)


@pytest.fixture(scope="module")
def scene(airsar_cube):
    """Channel 0 of the AIRSAR scene, 256x256 float32 intensity."""
    return np.ascontiguousarray(airsar_cube[:, :, 0])


@pytest.fixture(scope="module")
def described(naver_net, scene):
    """A detector after ``detect_and_extract`` on the scene."""
    detector = make_detector(naver_net)
    detector.detect_and_extract(scene)
    return detector


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64,), (32, 32, 2), (32, 32, 3), (2, 16, 16, 1)])
@pytest.mark.parametrize("method", ["detect", "detect_and_extract", "extract"])
def test_non_2d_raises(naver_net, shape, method):
    detector = make_detector(naver_net)
    kwargs = {"keypoints": np.zeros((1, 2))} if method == "extract" else {}
    with pytest.raises(ValueError):
        getattr(detector, method)(np.ones(shape, dtype=np.float32), **kwargs)


@pytest.mark.parametrize("shape", [(0, 0), (0, 32), (32, 0)])
def test_empty_raises(naver_net, shape):
    with pytest.raises(ValueError):
        make_detector(naver_net).detect(np.ones(shape, dtype=np.float32))


def test_all_nan_raises(naver_net):
    with pytest.raises(ValueError):
        make_detector(naver_net).detect_and_extract(np.full((64, 64), np.nan, np.float32))


def test_all_masked_raises(naver_net, scene):
    with pytest.raises(ValueError):
        make_detector(naver_net).detect(scene, mask=np.zeros(scene.shape, dtype=bool))


@pytest.mark.parametrize("method", ["detect", "detect_and_extract"])
def test_flat_image_raises_runtime_error(naver_net, method):
    detector = make_detector(naver_net)
    with pytest.raises(RuntimeError):
        getattr(detector, method)(np.ones((128, 128)))


def test_the_docstring_types_say_none_where_the_default_is_none():
    """min_size defaults to None (256) while its line read `min_size, max_size : int`."""
    import inspect
    import re

    types = {}
    for line in inspect.getdoc(SARR2D2Detector).splitlines():
        found = re.match(r"^(\w+(?:, \w+)*) : (.*)$", line)
        if found:
            types.update(dict.fromkeys(found.group(1).split(", "), found.group(2)))
    for name, parameter in inspect.signature(SARR2D2Detector).parameters.items():
        assert name in types, name
        if parameter.default is None:
            assert "None" in types[name] or "optional" in types[name], (name, types[name])
    assert types["min_size"] == "int or None" and types["max_size"] == "int"


@pytest.mark.parametrize("name", ["NoKeypointsError", "RegistrationError"])
def test_public_errors_name_a_module_sarfeat_reaches_and_pickle(name):
    """NoKeypointsError moved to detector_input: a traceback named sarfeat.detector_input,
    which `import sarfeat` did not reach, and sarfeat.__all__ left it out."""
    import functools
    import os
    import pickle
    import subprocess
    import sys

    import sarfeat

    error_class = getattr(sarfeat, name)
    assert name in sarfeat.__all__
    assert error_class.__module__.startswith("sarfeat.")  # its defining module, as all do
    reached = functools.reduce(getattr, error_class.__module__.split(".")[1:], sarfeat)
    assert getattr(reached, name) is error_class
    again = pickle.loads(pickle.dumps(error_class("image1: the image is flat")))
    assert type(again) is error_class and again.args == ("image1: the image is flat",)
    # in a fresh process, as a traceback shows it, from the name alone
    shown = f"{error_class.__module__}.{name}"
    code = f"import sarfeat; print(sarfeat.{shown.split('.', 1)[1]} is sarfeat.{name})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=os.path.dirname(os.path.dirname(sarfeat.__file__)))
    assert result.stdout.strip() == "True", result.stderr


def test_the_detector_and_the_coarse_stage_refuse_a_constant_image_alike(naver_net):
    """One message, worded once (:func:`sarfeat.detector_input.refuse_flat`): the coarse
    stage's check before its network runs says what the detector says, after the image's name."""
    from sarfeat.detector import NoKeypointsError
    from sarfeat.matching.coarse_driver import describable

    image = np.full((128, 128), 0.5, np.float32)
    with pytest.raises(NoKeypointsError) as detected:
        make_detector(naver_net).detect(image)
    with pytest.raises(NoKeypointsError) as coarse:
        describable(image, "image1")
    assert "flat" in str(detected.value)
    assert str(coarse.value) == f"image1: {detected.value}"


@pytest.mark.parametrize("kind", ["uint8", "nan_hole", "db"])
def test_other_flat_images_raise_runtime_error(naver_net, kind):
    """Flat in any storage: a constant quick-look, constant valid pixels, constant dB."""
    if kind == "uint8":
        image = np.full((96, 128), 128, dtype=np.uint8)
    elif kind == "nan_hole":
        image = np.full((128, 128), 3.0, dtype=np.float32)
        image[40:80, 40:80] = np.nan
    else:
        image = np.full((128, 96), -12, dtype=np.int16)
    with pytest.raises(RuntimeError):
        make_detector(naver_net).detect(image)


def test_unknown_input_kind_raises(naver_net, scene):
    with pytest.raises(ValueError, match="input_kind"):
        make_detector(naver_net, input_kind="linear").detect(scene)


def test_unknown_precision_raises(naver_net, scene):
    with pytest.raises(ValueError, match="precision"):
        make_detector(naver_net, precision="fp8").detect(scene)


def test_bad_parameters_raise(naver_net, scene):
    with pytest.raises(ValueError):
        make_detector(naver_net, max_keypoints=0).detect(scene)
    with pytest.raises(ValueError):
        make_detector(naver_net, reliability_threshold=1.5).detect(scene)


def test_extract_needs_keypoints(naver_net, scene):
    with pytest.raises(ValueError):
        make_detector(naver_net).extract(scene)


def test_init_leaves_results_empty(naver_net):
    detector = SARR2D2Detector(naver_net)
    for name in ("keypoints", "descriptors", "mask", *PER_KEYPOINT):
        assert getattr(detector, name) is None


def test_a_used_detector_pickles_and_deep_copies_as_skimage_estimators_do(scene):
    import copy
    import pickle

    image = scene[:128, :128]
    detector = SARR2D2Detector()
    detector.detect_and_extract(image)  # loads the network runtime (not picklable itself)
    assert copy.copy(detector)._runner is detector._runner  # thread copies share it
    for restored in (pickle.loads(pickle.dumps(detector)), copy.deepcopy(detector)):
        np.testing.assert_array_equal(restored.keypoints, detector.keypoints)
        restored.detect_and_extract(image)  # the runtime is loaded again
        np.testing.assert_array_equal(restored.keypoints, detector.keypoints)
        np.testing.assert_array_equal(restored.descriptors, detector.descriptors)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (dict(input_kind="nonsense"), ValueError, r"input_kind.*'auto', 'intensity'"),
        (dict(precision="fp8"), ValueError, r"precision.*'fp32'"),
        (dict(device="gpu"), ValueError, r"device 'gpu'.*'cuda'"),
        (dict(device=3.5), ValueError, "device"),
        (dict(weights="no-such-weights"), FileNotFoundError, r"'sarfeat-sar-v1'"),
        (dict(weights=torch.nn.Linear(2, 2)), TypeError, "R2D2Net"),
        (dict(max_keypoints=0), ValueError, "max_keypoints"),
        (dict(max_keypoints=2.5), ValueError, "max_keypoints"),
        (dict(n_keypoints=-1), ValueError, "max_keypoints"),
        (dict(max_keypoints=10, n_keypoints=20), ValueError, "n_keypoints"),
        (dict(scale_factor=1.0), ValueError, "scale_factor"),
        (dict(min_size=0), ValueError, "min_size"),
        (dict(max_scale=1.5), ValueError, "max_scale"),
        (dict(min_scale=float("nan")), ValueError, "min_scale"),
        (dict(reliability_threshold=1.5), ValueError, "reliability_threshold"),
        (dict(repeatability_threshold=-0.1), ValueError, "repeatability_threshold"),
        (dict(nodata="zero"), ValueError, "nodata"),
        (dict(tile_size=8), ValueError, "tile_size"),
        (dict(trust="yes"), TypeError, "trust"),
    ],
)
def test_init_checks_every_parameter(naver_net, options, error, match):
    """A wrong parameter fails in __init__, with a message naming what is accepted."""
    options = {"weights": naver_net, **options}
    with pytest.raises(error, match=match):
        SARR2D2Detector(**options)


def test_min_size_above_max_size_is_refused(naver_net, scene):
    """min_size > max_size named both (the pyramid had one level, min_size ignored); a
    max_size alone below the default 256 still gives one level, at max_size."""
    with pytest.raises(ValueError, match="min_size 400 is larger than max_size 300"):
        SARR2D2Detector(naver_net, min_size=400, max_size=300)
    detector = SARR2D2Detector(naver_net, min_size=128, max_size=256)
    detector.min_size = 512
    with pytest.raises(ValueError, match="min_size 512 is larger than max_size 256"):
        detector.detect(scene)
    alone = SARR2D2Detector(naver_net, max_size=128, upright=True)
    assert alone.min_size is None
    alone.detect(scene)
    assert np.all(alone.scales == 64)  # one level, at scale 0.5 of the 256 px scene
    same = SARR2D2Detector(naver_net, min_size=128, max_size=128, upright=True)
    same.detect(scene)
    np.testing.assert_array_equal(same.keypoints, alone.keypoints)


def test_skimage_parameter_names(naver_net, scene):
    """ORB's ``n_keypoints`` and ``downscale`` are sarfeat's max_keypoints and scale_factor."""
    detector = SARR2D2Detector(naver_net, n_keypoints=7, downscale=1.5, min_size=128)
    assert detector.max_keypoints == detector.n_keypoints == 7
    assert detector.scale_factor == detector.downscale == 1.5
    detector.detect(scene)
    assert len(detector.keypoints) == 7


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


# -- skimage's registration workflow -------------------------------------------------------------

ANGLE = 8.0  # degrees, counter-clockwise in skimage's (x, y) convention
SHIFT = (4.0, -3.0)  # (x, y) pixels, applied after the rotation


def rotation_about(center, degrees, shift=(0.0, 0.0)):
    """SimilarityTransform rotating (x, y) by ``degrees`` about ``center`` then shifting."""
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    center = np.asarray(center, dtype=float)
    translation = center - rotation @ center + np.asarray(shift)
    return SimilarityTransform(rotation=angle, translation=translation)


@pytest.fixture(scope="module")
def warped_pair(airsar_cube):
    """Image 1 = channel 0; image 2 = channel 2 moved by a known T (image 1 -> image 2)."""
    image1 = np.ascontiguousarray(airsar_cube[:, :, 0])
    center = ((image1.shape[1] - 1) / 2, (image1.shape[0] - 1) / 2)
    truth = rotation_about(center, ANGLE, SHIFT)
    # warp's inverse_map takes output (image 2) coordinates to input (image 1) ones
    image2 = warp(airsar_cube[:, :, 2], truth.inverse, order=1, cval=np.nan, preserve_range=True)
    return image1, image2.astype(np.float32), truth, center


@pytest.fixture(scope="module")
def workflow(naver_net, warped_pair):
    """Detector output of both images and their cross-checked matches."""
    from skimage.feature import match_descriptors

    image1, image2, _, _ = warped_pair
    detector = make_detector(naver_net)
    detector.detect_and_extract(image1)
    k1, d1 = detector.keypoints, detector.descriptors
    detector.detect_and_extract(image2)
    k2, d2 = detector.keypoints, detector.descriptors
    matches = match_descriptors(d1, d2, cross_check=True)
    return k1, k2, matches


def test_warp_convention(warped_pair):
    """Sanity check of the test set-up: a pixel of image 1 lands at T(x, y) in image 2."""
    _, _, truth, _ = warped_pair
    x, y = 60.0, 90.0
    moved = warp(
        np.pad(np.ones((1, 1)), ((int(y), 255 - int(y)), (int(x), 255 - int(x)))),
        truth.inverse, order=1,
    )
    peak = np.unravel_index(np.argmax(moved), moved.shape)  # (row, col)
    expected = truth(np.array([[x, y]]))[0]
    assert abs(peak[1] - expected[0]) <= 1 and abs(peak[0] - expected[1]) <= 1


@pytest.mark.parametrize("model_class", [SimilarityTransform, AffineTransform])
def test_skimage_ransac_recovers_rotation(workflow, warped_pair, model_class):
    from skimage.measure import ransac

    k1, k2, matches = workflow
    _, _, truth, center = warped_pair
    assert matches.ndim == 2 and matches.shape[1] == 2 and len(matches) >= 20
    src = k1[matches[:, 0], ::-1]  # (row, col) -> (x, y)
    dst = k2[matches[:, 1], ::-1]
    model, inliers = ransac(
        (src, dst), model_class, min_samples=3, residual_threshold=3, rng=0
    )
    assert model is not None and inliers.sum() >= 10
    rotation = np.rad2deg(model.rotation)
    assert rotation > 0, "rotation sign flipped: check the (row, col) / (x, y) flip"
    assert abs(rotation - ANGLE) < 1.0
    # where the image centre goes: the rotation about the centre leaves only the shift
    np.testing.assert_allclose(model(np.array([center]))[0], np.add(center, SHIFT), atol=3)
    np.testing.assert_allclose(model.translation, truth.translation, atol=3)
    # the same matches under the wrong sign of rotation do not fit at all
    wrong = rotation_about(center, -ANGLE, SHIFT)
    right_residuals = np.linalg.norm(truth(src[inliers]) - dst[inliers], axis=1)
    wrong_residuals = np.linalg.norm(wrong(src[inliers]) - dst[inliers], axis=1)
    assert np.median(right_residuals) < 2
    assert np.median(wrong_residuals) > 10


def test_skimage_plot_matched_features(workflow, warped_pair):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.feature import plot_matched_features

    k1, k2, matches = workflow
    image1, image2, _, _ = warped_pair
    fig, ax = plt.subplots()
    try:
        plot_matched_features(
            10 * np.log10(image1), 10 * np.log10(image2),
            keypoints0=k1, keypoints1=k2, matches=matches, ax=ax,
        )
        fig.canvas.draw()
        assert len(ax.lines) + len(ax.collections) > 0
    finally:
        plt.close(fig)


# -- the same content whatever the dtype -----------------------------------------------------------


def _share_within(points, reference, tolerance=1.0):
    """Fraction of ``reference`` keypoints with a keypoint of ``points`` within ``tolerance`` px."""
    distance = np.linalg.norm(reference[:, None] - points[None], axis=2).min(axis=1)
    return float(np.mean(distance <= tolerance))


def test_display_picture_same_keypoints_whatever_the_dtype(naver_net, scene):
    """A quick-look as uint8, float 0-255 or float 0-1 gives the same keypoints (>= 95 %);
    before, floats were taken as intensity and logged (1348 against 1253 keypoints)."""
    from skimage import color
    from skimage import data as skdata
    from skimage.util import img_as_float, img_as_float32, img_as_ubyte

    face = color.rgb2gray(skdata.astronaut())[:256, 128:384]
    detector = make_detector(naver_net, min_size=256)  # one level is enough here
    for picture, unquantised in ((as_dtype(scene, np.uint8), None), (img_as_ubyte(face), face)):
        detector.detect(picture)
        reference = detector.keypoints
        variants = [picture.astype(np.float32), img_as_float(picture), img_as_float32(picture)]
        for variant in variants:  # the same values in another dtype
            detector.detect(variant)
            assert _share_within(detector.keypoints, reference) >= 0.95, variant.dtype
        if unquantised is not None:
            # not the same values (up to 1/510 away): 0.997 with the fp32 runtimes, 0.88 with
            # int8, whose input quantisation turns such small differences into other maps
            detector.detect(unquantised)
            assert _share_within(detector.keypoints, reference) >= 0.85


# -- no-data that behaves -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_pair(airsar_cube):
    """AIRSAR channel 0 and channel 2 turned by 8 degrees and scaled by 0.9, and the map."""
    height, width = airsar_cube.shape[:2]
    centre = np.array([width / 2, height / 2])
    transform = (AffineTransform(translation=-centre)
                 + AffineTransform(scale=0.9, rotation=np.deg2rad(8))
                 + AffineTransform(translation=centre + [7, -4]))
    moving = warp(airsar_cube[:, :, 2], transform.inverse, order=1, cval=np.nan)
    return np.ascontiguousarray(airsar_cube[:, :, 0]), moving.astype(np.float32), transform


def _mma3(detector, fixed, moving, transform):
    from skimage.feature import match_descriptors

    detector.detect_and_extract(fixed)
    keypoints1, descriptors1 = detector.keypoints.copy(), detector.descriptors.copy()
    detector.detect_and_extract(moving)
    keypoints2, descriptors2 = detector.keypoints, detector.descriptors
    matches = match_descriptors(descriptors1, descriptors2, cross_check=True)
    error = np.linalg.norm(
        transform(keypoints1[matches[:, 0], ::-1]) - keypoints2[matches[:, 1], ::-1], axis=1
    )
    return keypoints1, float(np.mean(error <= 3))


def test_scattered_nan_pixels_keep_keypoints_and_accuracy(nan_pair):
    """0.5 % random NaN pixels keep >= 80 % of the keypoints and MMA@3 within 0.05
    (before: every NaN pixel emptied a 28-pixel disc; 0.2 % left 2 keypoints of 467)."""
    fixed, moving, transform = nan_pair
    detector = SARR2D2Detector(min_size=128, max_size=256)  # sarfeat's bundled weights
    clean_keypoints, clean_mma = _mma3(detector, fixed, moving, transform)
    rng = np.random.default_rng(5)
    holed = [image.copy() for image in (fixed, moving)]
    for image in holed:
        image[rng.random(image.shape) < 0.005] = np.nan
    keypoints, mma = _mma3(detector, *holed, transform)
    print(f"0.5 % NaN: {_share_within(keypoints, clean_keypoints):.3f} of the keypoints kept, "
          f"MMA@3 {clean_mma:.3f} -> {mma:.3f}")
    assert _share_within(keypoints, clean_keypoints) >= 0.8
    assert mma >= clean_mma - 0.05
    holes = ~np.isfinite(holed[0])
    assert not holes[tuple(np.rint(keypoints).astype(int).T)].any()


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


@pytest.mark.parametrize("convert", ["img_as_uint", "img_as_int", "img_as_float32",
                                     "img_as_float64"])
def test_an_eight_bit_picture_in_any_dtype_gives_the_same_keypoints(convert):
    """scikit-image's own rule for its detectors: uint8, uint16 (k * 257), int16 and float
    conversions of one picture give the same keypoints (the default detector). uint16 and
    int16 were taken as linear intensity (40 keypoints against 36)."""
    import skimage
    from skimage import data as skdata

    picture = skdata.camera()[::2, ::2]
    detector = SARR2D2Detector()
    detector.detect(picture)
    reference = detector.keypoints.astype(np.float64)
    detector.detect(getattr(skimage, convert)(picture))
    # the same keypoints: sub-pixel positions agree to float32 rounding (the scaled values differ
    # in their last bit between dtypes)
    np.testing.assert_allclose(detector.keypoints.astype(np.float64), reference, rtol=0, atol=1e-4)


def test_a_small_image_gives_fewer_keypoints_not_an_error(shared_data):
    """64 x 64 crops give a few keypoints, as ORB does (the 12-pixel edge margin at every
    level left none on two of these four); a flat small image still raises RuntimeError."""
    from skimage import data as skdata

    from sarfeat.data import load_pair

    pair_l = np.asarray(load_pair("l")[0])
    crops = [skdata.camera()[200:264, 200:264], skdata.astronaut()[100:164, 200:264, 0],
             pair_l[100:164, 100:164], pair_l[300:364, 300:364]]
    detector = SARR2D2Detector()
    for crop in crops:
        detector.detect(crop)
        rows, cols = detector.keypoints.T
        assert 0 < len(rows) < 20
        assert np.all((rows >= 7.5) & (rows <= 55.5) & (cols >= 7.5) & (cols <= 55.5))
    with pytest.raises(RuntimeError, match="flat"):
        detector.detect(np.full((64, 64), 0.5, np.float32))


@pytest.mark.parametrize("upright", [False, True], ids=["turned", "upright"])
def test_numba_kernels_do_not_change_the_keypoints_or_descriptors(upright, monkeypatch):
    """An install without numba finds the default detector's keypoints and descriptors bit for
    bit: the numpy twins repeat the kernels' float operations (sarfeat.runtime.head_arithmetic,
    sarfeat.runtime.steering_arithmetic); scipy's filters, BLAS and libm moved the last bits."""
    import importlib

    from sarfeat.data import load_sar_scene

    modules = [importlib.import_module(f"sarfeat.runtime.kernels.{name}")
               for name in ("heads", "peaks", "steering", "descriptors")]
    if not all(module.available() for module in modules):
        pytest.skip("numba is not installed (the fast extra)")
    image = np.ascontiguousarray(load_sar_scene("labrador")[:, :192, 0])
    compiled = SARR2D2Detector(upright=upright)
    compiled.detect_and_extract(image)
    for module in modules:
        monkeypatch.setattr(module, "available", lambda: False)
    fallback = SARR2D2Detector(upright=upright)
    fallback.detect_and_extract(image)
    assert len(compiled.keypoints) > 50
    for name in ("keypoints", "descriptors") + PER_KEYPOINT:
        np.testing.assert_array_equal(getattr(fallback, name), getattr(compiled, name), err_msg=name)


def test_pyramid_resizes_share_one_transposed_copy_with_the_same_bits():
    """resize_many (the detector's pyramid: the transposed image copied once) gives
    resize_bilinear's bits for every level, an unchanged level included."""
    from sarfeat.detector import pyramid_scales
    from sarfeat.resample import resize_bilinear, resize_many

    image = (np.random.default_rng(4).random((301, 257)) ** 3).astype(np.float32)
    shapes = [(round(301 * s), round(257 * s)) for s in pyramid_scales(image.shape, min_size=64)]
    shapes.append((17, 400))
    levels = list(resize_many(image, shapes))
    assert levels[0] is image and len(levels) == len(shapes) > 4
    for shape, level in zip(shapes, levels):
        expected = resize_bilinear(image, shape)
        assert level.shape == shape
        np.testing.assert_array_equal(level.view(np.uint32), expected.view(np.uint32))
