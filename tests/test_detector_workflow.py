"""SARR2D2Detector in scikit-image's registration workflow: skimage's warp convention,
match_descriptors and ransac, plot_matched_features."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, SimilarityTransform, warp

from _detector_helpers import make_detector


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
