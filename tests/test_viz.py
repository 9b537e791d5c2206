"""Tests of :mod:`sarfeat.viz`: what the plots draw and the numbers in their labels."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform

from sarfeat.registration import RegistrationResult

pytest.importorskip("matplotlib")


def offset_result(offset_xy=(2.0, 0.0), count: int = 30) -> RegistrationResult:
    """A result with the identity transform whose moving keypoints sit ``offset_xy`` from it."""
    rng = np.random.default_rng(0)
    fixed = rng.uniform(20, 230, (count, 2))  # (row, col)
    moving = fixed + np.asarray(offset_xy)[::-1]
    image = rng.gamma(1.0, 1.0, (256, 256)).astype(np.float32)
    return RegistrationResult(
        transform=AffineTransform(), matches=np.repeat(np.arange(count)[:, None], 2, axis=1),
        inliers=np.ones(count, bool), keypoints_fixed=fixed, keypoints_moving=moving,
        confidence=0.5, resampling=(image, 1, None, image.shape))


def test_residual_arrows_are_model_minus_match_like_the_tie_points():
    from sarfeat.viz import figure
    from sarfeat.viz_registration import _residuals

    ax = figure((4, 4)).add_subplot()
    _residuals(ax, np.zeros((256, 256)), offset_result((2.0, 0.0)), 1.0)
    arrows = ax.collections[-1]
    # the match lies 2 px right of the model: model minus match is 2 px left
    np.testing.assert_allclose(arrows.U, -2.0)
    np.testing.assert_allclose(arrows.V, 0.0, atol=1e-12)
    assert "RMS 2.00 px" in ax.get_title()


def test_residual_rms_of_a_downsampled_plot_is_in_the_matched_pixels():
    from sarfeat.viz import figure, registration_view
    from sarfeat.viz_registration import _residuals

    result = offset_result((2.0, 0.0))
    image = result.resampling[0]
    # drawn at half size
    fixed, _, shown, unit = registration_view(image, image, result, side=128)
    assert fixed.shape == (128, 128)
    ax = figure((4, 4)).add_subplot()
    _residuals(ax, np.zeros(fixed.shape), shown, None, unit)
    np.testing.assert_allclose(ax.collections[-1].get_array(), 2.0, rtol=1e-6)
    assert "RMS 2.00 px" in ax.get_title()


def scaled_result(scale: float, rotation: float, offset_xy, count: int = 30):
    """A result whose transform scales fixed pixels by ``scale`` (and turns them by
    ``rotation``) into the moving image, each moving keypoint ``offset_xy`` moving pixels
    from where the transform puts its fixed one."""
    rng = np.random.default_rng(1)
    transform = AffineTransform(scale=scale, rotation=rotation, translation=(80.0, 10.0))
    fixed = rng.uniform(20, 230, (count, 2))  # (row, col)
    moving = transform(fixed[:, ::-1])[:, ::-1] + np.asarray(offset_xy)[::-1]
    image = rng.gamma(1.0, 1.0, (256, 256)).astype(np.float32)
    result = RegistrationResult(
        transform=transform, matches=np.repeat(np.arange(count)[:, None], 2, axis=1),
        inliers=np.ones(count, bool), keypoints_fixed=fixed, keypoints_moving=moving,
        confidence=0.5, resampling=(image, 1, None, image.shape))
    return result, image


@pytest.mark.parametrize("rotation", [0.0, np.pi / 6])
def test_residual_arrows_on_the_fixed_image_are_in_its_pixels(drawn, tmp_path, rotation):
    # the arrows on the fixed image were the residuals in moving pixels: with moving pixels
    # half the size (scale 0.5) a 1 px residual there, 2 fixed pixels, was drawn 1 px long
    # (and, with a turn, in the moving image's direction)
    from sarfeat.viz import plot_registration

    offset = np.array([1.0, 0.0])  # moving pixels (x, y)
    result, image = scaled_result(0.5, rotation, offset)
    plot_registration(tmp_path / "r.png", image, image, result, residual_scale=1.0)
    residuals = drawn[0].axes[2]
    arrows = residuals.collections[-1]
    # model minus match in the fixed frame: the moving offset taken back by the linear part
    expected = -np.linalg.solve(result.transform.params[:2, :2], offset)
    np.testing.assert_allclose(arrows.U, expected[0], atol=1e-9)
    np.testing.assert_allclose(arrows.V, expected[1], atol=1e-9)
    np.testing.assert_allclose(arrows.get_array(), 2.0)  # colours: lengths in fixed pixels
    assert residuals.get_title() == "tie-point residuals x1 (RMS 2.00 px of the fixed image)"
    assert drawn[0].axes[-1].get_ylabel() == "residual (fixed-image px)"


def test_arrow_magnification_below_one_is_not_labelled_zero():
    from sarfeat.viz import figure
    from sarfeat.viz_registration import _residuals

    ax = figure((4, 4)).add_subplot()
    _residuals(ax, np.zeros((256, 256)), offset_result((30.0, 0.0)), None)
    # the longest arrow is drawn a twentieth of the image: 256 / 20 / 30 = 0.43 times
    assert "residuals x0.43 " in ax.get_title()


@pytest.mark.parametrize("responses", [[0.5], [0.6, 0.6], [0.3, 0.9, 0.6]])
def test_keypoint_colours_read_their_response_on_the_colour_bar(tmp_path, monkeypatch,
                                                                 responses):
    import matplotlib

    import sarfeat.viz

    drawn = []
    make = sarfeat.viz.figure
    monkeypatch.setattr(sarfeat.viz, "figure", lambda size: drawn.append(make(size)) or drawn[-1])
    responses = np.array(responses)
    keypoints = np.c_[np.arange(len(responses)) * 10.0 + 5, np.full(len(responses), 20.0)]
    image = np.random.default_rng(0).uniform(size=(50, 60))
    sarfeat.viz.plot_keypoints(tmp_path / "kp.png", image, keypoints,
                               np.full(len(responses), 32.0), responses, "kp")
    ax, bar = drawn[0].axes
    circles = ax.collections[0]
    # circles at (x, y) = (col, row), drawn best last
    order = np.argsort(responses)
    np.testing.assert_allclose(circles.get_offsets(), keypoints[order, ::-1])
    low, high = bar.get_ylim()
    expected = matplotlib.colormaps["viridis"]((responses[order] - low) / (high - low))
    np.testing.assert_allclose(circles.get_edgecolors(), expected, atol=0.01)


def test_a_large_image_is_drawn_downsampled_with_its_keypoints(tmp_path, monkeypatch):
    import sarfeat.viz

    drawn = []
    make = sarfeat.viz.figure
    monkeypatch.setattr(sarfeat.viz, "figure", lambda size: drawn.append(make(size)) or drawn[-1])
    image = np.random.default_rng(0).uniform(size=(2400, 3000)).astype(np.float32)
    keypoints = np.array([[1200.0, 1500.0], [599.5, 2999.5]])  # (row, col)
    sarfeat.viz.plot_keypoints(tmp_path / "kp.png", image, keypoints, np.full(2, 32.0),
                               np.array([0.2, 0.8]), "scene", side=300)
    ax = drawn[0].axes[0]
    shown = ax.images[0].get_array()
    assert max(shown.shape) == 300 and shown.shape == (240, 300)
    # each keypoint on the same place of the view: view pixel i is the centre of original
    # pixels 10 i .. 10 i + 9, so x_view = (x - 4.5) / 10
    np.testing.assert_allclose(ax.collections[0].get_offsets(),
                               [[149.55, 119.55], [299.5, 59.5]], atol=1e-6)
    assert "downsampled: 2400 x 3000 image shown at 240 x 300" in ax.get_title()
    # the default bounds a scene to PLOT_SIDE pixels a side; side=None draws it whole
    drawn.clear()
    sarfeat.viz.plot_keypoints(tmp_path / "kp.png", image, keypoints, np.full(2, 32.0),
                               np.array([0.2, 0.8]), "scene")
    assert max(drawn[0].axes[0].images[0].get_array().shape) == sarfeat.viz.PLOT_SIDE
    with pytest.raises(ValueError, match="side must be an integer >= 1 or None"):
        sarfeat.viz.plot_keypoints(tmp_path / "kp.png", image, keypoints, np.full(2, 32.0),
                                   np.array([0.2, 0.8]), "scene", side=0)


@pytest.mark.parametrize("keypoints, scales, responses, message", [
    (np.ones((2, 2)), np.ones(3), np.ones(2), "must be as many"),  # was drawn
    (np.ones((2, 2)), np.ones(2), [np.nan, 1.0], "responses must be"),  # a blank colour bar
    (np.ones((2, 1)), np.ones(2), np.ones(2), r"keypoints must be \(N, 2\)"),
    (np.ones((2, 2)), np.ones(2), np.ones(2) + 1j, "responses must be"),
])
def test_keypoints_scales_and_responses_are_checked(tmp_path, keypoints, scales, responses,
                                                    message):
    import sarfeat.viz

    with pytest.raises(ValueError, match=message):
        sarfeat.viz.plot_keypoints(tmp_path / "kp.png", np.zeros((8, 8)), keypoints, scales,
                                   responses, "kp")
    assert not (tmp_path / "kp.png").exists()


def test_keypoints_as_lists_and_none_found_are_drawn(tmp_path):
    import sarfeat.viz

    sarfeat.viz.plot_keypoints(tmp_path / "one.png", np.zeros((8, 8)), [[1, 2]], [5], [1.0],
                               "one")  # was AttributeError: 'list' object has no attribute 'min'
    sarfeat.viz.plot_keypoints(tmp_path / "none.png", np.zeros((8, 8)), [], [], [], "none")
    assert (tmp_path / "one.png").exists() and (tmp_path / "none.png").exists()
    with pytest.raises(ValueError, match="image must be a 2-D display image"):
        sarfeat.viz.plot_keypoints(tmp_path / "kp.png", np.zeros((1, 8, 8)), [], [], [], "kp")


def test_match_errors_of_a_large_pair_are_drawn_downsampled(tmp_path, monkeypatch):
    """plot_match_errors drew both images whole (a scene at full resolution) while the
    keypoint and registration plots reduce to PLOT_SIDE: now one factor for both images,
    the matches moved with them, and the title says so."""
    import sarfeat.viz

    drawn = []
    make = sarfeat.viz.figure
    monkeypatch.setattr(sarfeat.viz, "figure", lambda size: drawn.append(make(size)) or drawn[-1])
    rng = np.random.default_rng(0)
    image0 = rng.gamma(1.0, 1.0, (2400, 3000)).astype(np.float32)
    image1 = rng.gamma(1.0, 1.0, (1200, 1500)).astype(np.float32)
    keypoints0 = np.array([[1200.0, 1500.0], [599.5, 2999.5]])  # (row, col)
    keypoints1 = np.array([[4.5, 14.5], [600.0, 750.0]])
    matches, errors = np.array([[0, 1], [1, 0]]), np.array([1.0, 9.0])
    sarfeat.viz.plot_match_errors(tmp_path / "m.png", image0, image1, keypoints0, keypoints1,
                                  matches, errors, "pair", side=300)
    ax = drawn[0].axes[0]
    # skimage pads the two views to one shape and draws them side by side
    assert ax.images[0].get_array().shape[:2] == (240, 2 * 300)
    # view pixel i is the centre of original pixels 10 i .. 10 i + 9: x_view = (x - 4.5) / 10
    lines = {tuple(np.round(np.c_[line.get_xdata(), line.get_ydata()].ravel(), 6)): line
             for line in ax.lines}
    assert set(lines) == {(149.55, 119.55, 300 + 74.55, 59.55), (299.5, 59.5, 300 + 1.0, 0.0)}
    assert "downsampled: 2400 x 3000 and 1200 x 1500 images shown at 240 x 300 and " \
        "120 x 150" in ax.get_title()
    # the default bounds the pair to PLOT_SIDE pixels a side; side=None draws it whole
    drawn.clear()
    sarfeat.viz.plot_match_errors(tmp_path / "m.png", image0, image1, keypoints0, keypoints1,
                                  matches, errors, "pair")
    assert drawn[0].axes[0].images[0].get_array().shape[1] == 2 * sarfeat.viz.PLOT_SIDE
    drawn.clear()
    small = image0[:200, :300]
    sarfeat.viz.plot_match_errors(tmp_path / "m.png", small, small, keypoints1[:1],
                                  keypoints1[:1], np.array([[0, 0]]), np.array([0.0]), "pair",
                                  side=None)
    assert drawn[0].axes[0].get_title() == "pair"


def unmatched_result(fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
    """The identity transform with two matches and no inlier among them."""
    keypoints = np.array([[20.0, 30.0], [100.0, 120.0]])
    return RegistrationResult(
        transform=AffineTransform(), matches=np.array([[0, 0], [1, 1]]),
        inliers=np.zeros(2, bool), keypoints_fixed=keypoints, keypoints_moving=keypoints,
        confidence=0.0, resampling=(moving, 1, None, fixed.shape))


def test_the_matches_panel_draws_both_images_without_inlier_matches(drawn, tmp_path):
    # the panel was left empty: no image drawn when there was no inlier to draw over it
    from sarfeat.data import load_sar_scene
    from sarfeat.viz import display_image, plot_match_errors, plot_registration

    scene = load_sar_scene("labrador")
    fixed, moving = scene[..., 0], scene[..., 1]
    expected = np.hstack([display_image(fixed), display_image(moving)])
    plot_registration(tmp_path / "r.png", fixed, moving, unmatched_result(fixed, moving))
    keypoints = np.empty((0, 2))
    plot_match_errors(tmp_path / "m.png", fixed, moving, keypoints, keypoints,
                      np.empty((0, 2), int), np.empty(0), "pair")
    for figure in drawn:
        ax = figure.axes[0]
        side_by_side = np.asarray(ax.images[0].get_array())
        np.testing.assert_allclose(side_by_side, np.repeat(expected[..., None], 3, axis=-1),
                                   atol=1e-6)
        assert not ax.lines and not ax.collections  # no match drawn
    assert drawn[0].axes[0].get_title() == "fixed | moving: no inlier matches (confidence 0.00)"
