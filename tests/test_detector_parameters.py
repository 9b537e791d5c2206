"""SARR2D2Detector: what it refuses (inputs it cannot use, bad parameters) and how it takes
its parameters (scikit-image's names, pickling, the docstring's types). The feature contract
itself is in test_detector.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarfeat import SARR2D2Detector

from _detector_helpers import PER_KEYPOINT, make_detector


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
        # a callable without reach() failed at detection, with an AttributeError
        (dict(orientation=lambda image, rows, cols: 0 * rows), TypeError, r"reach\(\) method"),
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


def test_nodata_nan_as_rasterio_gives_it_is_accepted(naver_net, scene, tmp_path):
    """``nodata=src.nodata`` of a float GeoTIFF (NaN) was refused ("must be a finite number
    in [-inf, inf]") by the detector and the extractor, though NaN is no-data anyway and
    normalize_sar takes it: it now gives what nodata=None gives; a string is still refused."""
    from sarfeat import MultiDescriptorExtractor

    rasterio = pytest.importorskip("rasterio")
    holed = scene.copy()
    holed[100:140, 60:120] = np.nan
    path = tmp_path / "holed.tif"
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=1,
                       dtype="float32", nodata=np.nan, crs="EPSG:32633",
                       transform=rasterio.Affine(10, 0, 500000, 0, -10, 5600000)
                       ) as target:
        target.write(holed, 1)
    with rasterio.open(path) as source:
        image, nodata = source.read(1), source.nodata
    assert np.isnan(nodata)
    reference = make_detector(naver_net)
    reference.detect(holed)
    for value in (nodata, -np.inf):
        detector = make_detector(naver_net, nodata=value)
        detector.detect(image)
        np.testing.assert_array_equal(detector.keypoints, reference.keypoints)
    extractor = MultiDescriptorExtractor(descriptors="log_patch", nodata=nodata)
    extractor.extract(image, reference.keypoints, reference.scales)
    assert extractor.masks["log_patch"].any()
    for make in (lambda: make_detector(naver_net, nodata="0"),
                 lambda: MultiDescriptorExtractor(nodata="0")):
        with pytest.raises(ValueError, match="nodata must be one real number"):
            make()
