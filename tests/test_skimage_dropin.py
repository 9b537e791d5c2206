"""The drop-in promise, as a scikit-image user exercises it, on the bundled Sentinel-1 scene.

Each test is one thing a user of :class:`skimage.feature.SIFT` or
:class:`skimage.feature.ORB` does that sarfeat's estimators must do alike
(DESIGN.md section 8), run with the default bundled weights on the scene that
ships inside the package (``sarfeat.data.load_sar_scene('labrador')``).
"""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

from skimage.feature import ORB, SIFT

from sarfeat import CoarseFineMatcher, MultiDescriptorExtractor, SARR2D2Detector
from sarfeat.data import load_optical_sar_tile, load_sar_scene

PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")


@pytest.fixture(scope="module")
def intensity():
    """Channel VV of the bundled Labrador scene: 256x256 float32 intensity."""
    return np.ascontiguousarray(load_sar_scene("labrador")[..., 0])


@pytest.mark.parametrize("dtype, expected", [(">f4", np.float32), (">f8", np.float64),
                                             (">c8", np.float32), (">u2", np.float64)])
def test_big_endian_images_give_the_float_type_of_their_values(intensity, dtype, expected):
    """A big-endian float32 image (FITS, ENVI) gives float32 keypoints, as a native one."""
    image = (intensity * 100).astype(dtype) if dtype == ">u2" else intensity.astype(dtype)
    detector = SARR2D2Detector()
    detector.detect_and_extract(image)
    native = SARR2D2Detector()
    native.detect_and_extract(image.astype(image.dtype.newbyteorder("=")))
    assert detector.keypoints.dtype == expected
    for name in PER_KEYPOINT:
        assert getattr(detector, name).dtype == expected, name
    np.testing.assert_array_equal(detector.keypoints, native.keypoints)
    extractor = MultiDescriptorExtractor(descriptors="ratio_hog")
    extractor.detect_and_extract(image)
    assert extractor.keypoints.dtype == extractor.orientations.dtype == expected


@pytest.mark.parametrize("estimator", ["detector", "extractor"])
def test_extract_takes_back_its_own_orientations_without_a_warning(intensity, estimator):
    """ORB's ``extract(image, keypoints, scales, orientations)`` with the rotation-invariant
    estimator's own output warns of nothing; foreign orientations are said to be re-estimated."""
    if estimator == "detector":
        described = SARR2D2Detector()
    else:
        described = MultiDescriptorExtractor(descriptors="ratio_hog", rotation_invariant=True)
    described.detect_and_extract(intensity)
    keypoints, scales = described.keypoints, described.scales
    orientations = described.orientations
    assert np.any(orientations != 0)
    expected = described.descriptors
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        described.extract(intensity, keypoints, scales, orientations)
    found = described.descriptors
    if estimator == "detector":
        np.testing.assert_array_equal(found, expected)
    else:
        np.testing.assert_array_equal(found["ratio_hog"], expected["ratio_hog"])
    with pytest.warns(UserWarning, match="estimates each keypoint's orientation itself"):
        described.extract(intensity, keypoints, scales, orientations + 0.5)


@pytest.mark.parametrize("estimator", [SARR2D2Detector, MultiDescriptorExtractor,
                                       CoarseFineMatcher])
def test_every_estimator_has_an_example_that_runs(estimator):
    """The class docstring's Examples run on bundled data (none skipped), as skimage's do."""
    name = estimator.__name__
    (test,) = [found for found in doctest.DocTestFinder().find(estimator, name, globs={})
               if found.name == name]
    runnable = [example for example in test.examples
                if not example.options.get(doctest.SKIP)]
    assert len(runnable) == len(test.examples) >= 4
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0


@pytest.mark.parametrize("option, instead", [("n_keypoints", "coarse_keypoints"),
                                             ("max_keypoints", "fine_keypoints"),
                                             ("min_size", "coarse_size"),
                                             ("downscale", "stages' own")])
def test_the_matcher_refuses_detector_options_it_would_ignore(intensity, option, instead):
    """``CoarseFineMatcher(n_keypoints=50)``, ORB's name, was accepted and changed nothing:
    each stage sets its own budget and pyramid. It is refused, naming what to give."""
    value = 1.5 if option == "downscale" else 50
    with pytest.raises(ValueError, match=instead):
        CoarseFineMatcher(**{option: value})
    matcher = CoarseFineMatcher(coarse_keypoints=50, fine_keypoints=50)
    matcher.match(intensity, intensity)
    assert matcher.diagnostics["coarse_keypoints"][0] <= 50


def _image_of(intensity, dtype):
    """The bundled channel as an image of ``dtype`` (complex: amplitude, integers: scaled)."""
    if dtype == "complex64":
        return np.sqrt(intensity).astype(np.complex64)
    if dtype == "uint8":
        return np.clip(intensity / np.percentile(intensity, 99) * 200, 0, 255).astype(np.uint8)
    if dtype == "uint16":
        return (intensity * 100).astype(np.uint16)
    return intensity.astype(dtype)


IMAGE_DTYPES = [("float32", np.float32), ("float64", np.float64), ("uint8", np.float64),
                ("uint16", np.float64), ("complex64", np.float32)]


@pytest.mark.parametrize("image_dtype, expected", IMAGE_DTYPES)
@pytest.mark.parametrize("given", [np.float32, np.float64, np.int64])
def test_extract_stores_keypoints_as_the_image_gives_them(intensity, image_dtype, expected,
                                                          given):
    """``extract(image, keypoints)`` stores float32 keypoints, scales and orientations for a
    float32 image whatever the keypoints' own dtype, as ``detect`` does (float64 on main
    for every image: the keypoints were stored as checked, in float64)."""
    image = _image_of(intensity, image_dtype)
    grid = np.stack(np.meshgrid(np.arange(40, 217, 24), np.arange(40, 217, 24)), -1)
    keypoints = grid.reshape(-1, 2).astype(given) + (0 if given is np.int64 else given(0.25))
    extractor = MultiDescriptorExtractor(descriptors=("ratio_hog", "log_patch"),
                                         rotation_invariant=True)
    for scales in (None, np.full(len(keypoints), 32, given)):
        extractor.extract(image, keypoints, scales)
        for name in ("keypoints", "scales", "orientations"):
            assert getattr(extractor, name).dtype == expected, name
        np.testing.assert_array_equal(extractor.keypoints, keypoints.astype(expected))
        assert extractor.masks["ratio_hog"].sum() > len(keypoints) // 2
    described = extractor.masks["ratio_hog"]
    wide = image.astype(np.result_type(image.dtype, np.float64))  # float64 or complex128
    extractor.extract(wide)  # its own keypoints, on an image of 64-bit values
    assert extractor.keypoints.dtype == extractor.scales.dtype == np.float64
    np.testing.assert_array_equal(extractor.masks["ratio_hog"], described)


def test_the_matcher_gives_each_images_keypoints_in_its_dtype(intensity):
    """A float32 image 1 gives float32 ``keypoints1`` and ``coarse_keypoints1``; a float64
    image 2, float64 ones (all were float64 on main, the fine keypoints being offset by
    their patch's corner in float64). The model is fitted before, in float64. A pair
    with an optical image (the dense matcher's keypoints) follows the same rule."""
    second = np.ascontiguousarray(load_sar_scene("labrador")[..., 1]).astype(np.float64)
    matcher = CoarseFineMatcher(rng=0)
    verified = matcher.match(intensity, second)
    assert len(verified) >= matcher.min_fine_inliers
    for name, expected in (("keypoints1", np.float32), ("coarse_keypoints1", np.float32),
                           ("keypoints2", np.float64), ("coarse_keypoints2", np.float64)):
        assert getattr(matcher, name).dtype == expected, name
    found = matcher.match_result(intensity.astype(np.uint16), second.astype(np.complex64))
    assert found.keypoints1.dtype == found.coarse_keypoints1.dtype == np.float64
    assert found.keypoints2.dtype == found.coarse_keypoints2.dtype == np.float32
    optical, sar = load_optical_sar_tile()  # float32: the dense matcher's keypoints too
    dense = CoarseFineMatcher(modality=("optical", "sar")).match_result(optical, sar)
    assert dense.model is not None
    assert dense.keypoints1.dtype == dense.keypoints2.dtype == np.float32


def _other_keypoints(detected: np.ndarray, size: int) -> np.ndarray:
    """As many keypoints as ``detected``, none of them detected: the detected ones moved
    and reversed, the first few outside the image or at its edge (``mask`` False)."""
    other = detected[::-1].astype(np.float64) + 3.5
    other[:4] = [[-3, 5], [2, 2], [size - 1, size - 1], [size + 40, 10]]
    return other


def _orb_image(intensity):
    """The channel as ORB wants it: log intensity stretched to [0, 1]."""
    log = np.log(intensity + 1e-3)
    return ((log - log.min()) / (log.max() - log.min())).astype(np.float64)


@pytest.mark.parametrize("upright", [False, True])
def test_extract_of_other_keypoints_replaces_the_detection(intensity, upright):
    """After ``detect`` and ``extract(image, other)`` with as many keypoints as detected,
    ``keypoints``, ``mask`` and ``descriptors`` describe the keypoints given, row by row
    (main kept the detected keypoints, so ``keypoints[mask]`` paired descriptors with other
    keypoints); results that ``extract`` does not compute are None, not the detection's.
    skimage's ORB keeps its detection's keypoints: its ``mask_`` alone follows the rows."""
    detector = SARR2D2Detector(upright=upright, max_keypoints=200)
    detector.detect(intensity)
    other = _other_keypoints(detector.keypoints, len(intensity))
    scales = detector.scales[::-1].copy()
    detector.extract(intensity, other, scales)
    np.testing.assert_array_equal(detector.keypoints, other.astype(np.float32))
    np.testing.assert_array_equal(detector.scales, scales)
    assert len(detector.mask) == len(other) and not detector.mask[[0, 2, 3]].any()
    for name in ("responses", "reliabilities", "repeatabilities"):
        assert getattr(detector, name) is None, name
    described = detector.mask
    alone = SARR2D2Detector(upright=upright)
    alone.extract(intensity, detector.keypoints[described], detector.scales[described])
    assert alone.mask.all()
    np.testing.assert_allclose(detector.descriptors, alone.descriptors, atol=1e-5)  # float32 rows
    if upright:
        assert not detector.orientations.any()
    else:  # the orientations the descriptors were read at; none where none was read
        np.testing.assert_array_equal(np.isnan(detector.orientations), ~described)
        np.testing.assert_allclose(detector.orientations[described], alone.orientations,
                                   atol=1e-5)
    with warnings.catch_warnings():  # its own orientations back, NaN included: no warning
        warnings.simplefilter("error")
        detector.extract(intensity, detector.keypoints, detector.scales, detector.orientations)
    np.testing.assert_array_equal(detector.mask, described)
    detector.extract(intensity, other[:10])  # no scales: the full-resolution patch
    np.testing.assert_array_equal(detector.scales, np.full(10, 32, np.float32))
    with pytest.raises(ValueError, match="patch diameters"):
        detector.extract(intensity, other, np.full(len(other), 2.0))
    assert detector.keypoints is None and detector.mask is None  # nothing left to pair
    orb = ORB(n_keypoints=50)
    orb.detect_and_extract(_orb_image(intensity))
    kept = orb.keypoints.copy()
    orb.extract(_orb_image(intensity), other[:50], np.ones(50), np.zeros(50))
    np.testing.assert_array_equal(orb.keypoints, kept)  # ORB's stale rows, which we avoid
    assert len(orb.mask_) == 50 and len(orb.descriptors) == orb.mask_.sum()


def test_the_extractor_lines_up_other_keypoints_too(intensity):
    """The extractor's ``keypoints``, ``masks`` and ``descriptors`` after ``extract`` of
    other keypoints match, row by row, what ``extract`` of the described ones alone gives."""
    extractor = MultiDescriptorExtractor(max_keypoints=100)
    extractor.detect(intensity)
    other = _other_keypoints(extractor.keypoints, len(intensity))
    extractor.extract(intensity, other, extractor.scales[::-1].copy())
    np.testing.assert_array_equal(extractor.keypoints, other.astype(np.float32))
    assert extractor.responses is None
    for name in ("r2d2", "ratio_hog", "log_patch"):
        described = extractor.masks[name]
        assert described.sum() > len(other) // 2 and not described[[0, 2, 3]].any(), name
        alone = MultiDescriptorExtractor(descriptors=name)
        alone.extract(intensity, extractor.keypoints[described], extractor.scales[described])
        assert alone.masks[name].all(), name
        np.testing.assert_allclose(extractor.descriptors[name][described],
                                   alone.descriptors[name], atol=1e-6, err_msg=name)


def test_extract_of_its_own_keypoints_keeps_the_detection_as_sift_and_orb_do(intensity):
    """``extract(image)`` (SIFT's call) and ORB's ``extract(image, keypoints, scales,
    orientations)`` with the detection's own keep every detection attribute, in both
    estimators as in skimage's (main's extractor dropped its ``responses`` in ORB's call)."""
    picture = _orb_image(intensity)
    sift = SIFT()
    sift.detect(picture)
    kept = sift.keypoints.copy()
    sift.extract(picture)
    np.testing.assert_array_equal(sift.keypoints, kept)
    assert len(sift.descriptors) == len(kept)
    orb = ORB(n_keypoints=50)
    orb.detect(picture)
    kept = orb.keypoints.copy(), orb.responses.copy()
    orb.extract(picture, orb.keypoints, orb.scales, orb.orientations)
    np.testing.assert_array_equal(orb.keypoints, kept[0])
    np.testing.assert_array_equal(orb.responses, kept[1])
    assert len(orb.mask_) == len(orb.keypoints)
    for estimator in (SARR2D2Detector(max_keypoints=100),
                      MultiDescriptorExtractor(descriptors="ratio_hog", max_keypoints=100)):
        estimator.detect(intensity)
        detected = {name: getattr(estimator, name).copy()
                    for name in ("keypoints", "scales", "responses")}
        for given in ((), (estimator.keypoints, estimator.scales, estimator.orientations)):
            estimator.extract(intensity, *given)
            for name, values in detected.items():
                np.testing.assert_array_equal(getattr(estimator, name), values, err_msg=name)
            described = (estimator.mask if isinstance(estimator, SARR2D2Detector)
                         else estimator.masks["ratio_hog"])
            assert len(described) == len(detected["keypoints"]) and described.any()
