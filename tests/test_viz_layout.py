"""What sarfeat's plots say and where they put it: a large pair drawn downsampled alike by
the API and ``sarfeat register --plot`` (and saying so), no white margins, the colours of the
match-error plot explained, the constant fill around a turned image drawn as no-data, and a
clear error without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from skimage.transform import AffineTransform

from sarfeat.registration import RegistrationResult

pytest.importorskip("matplotlib")


def shifted_result(fixed: np.ndarray, moving: np.ndarray, shift_xy=(3.0, 2.0), count=40,
                   diagnostics=None) -> RegistrationResult:
    """A result whose transform is a shift by ``shift_xy``, with ``count`` exact tie points."""
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0.1, 0.9, (count, 2)) * np.asarray(fixed.shape[:2])  # (row, col)
    return RegistrationResult(
        transform=AffineTransform(translation=shift_xy),
        matches=np.repeat(np.arange(count)[:, None], 2, axis=1), inliers=np.ones(count, bool),
        keypoints_fixed=keypoints, keypoints_moving=keypoints + np.asarray(shift_xy)[::-1],
        confidence=0.8, diagnostics=dict(diagnostics or {}),
        resampling=(moving, 1, None, fixed.shape[:2]))


def test_a_large_pair_is_drawn_downsampled_by_the_api_and_says_so(drawn, tmp_path):
    # plot_registration drew a 3000 px pair at full resolution (10 s, 1.5 GB) while
    # `sarfeat register --plot` drew it at 1024 px, and neither title said so
    from sarfeat.viz import PLOT_SIDE, plot_registration

    rng = np.random.default_rng(1)
    fixed = rng.gamma(1.0, 1.0, (1500, 1200)).astype(np.float32)
    moving = rng.gamma(1.0, 1.0, (1400, 1250)).astype(np.float32)
    result = shifted_result(fixed, moving)
    plot_registration(tmp_path / "r.png", fixed, moving, result)
    matches, overlay, residuals = drawn[0].axes[:3]
    side_by_side = matches.images[0].get_array()
    assert side_by_side.shape[0] == PLOT_SIDE  # the longer image's rows
    assert max(overlay.images[0].get_array().shape[:2]) == PLOT_SIDE
    assert [text.get_text() for text in drawn[0].texts] == [
        "(drawn downsampled: 1500 x 1200 and 1400 x 1250 images shown at 1024 x 819 and "
        "956 x 853)"]
    assert residuals.get_title() == "no residual: 40 tie points fitted exactly"
    drawn.clear()
    plot_registration(tmp_path / "r.png", fixed, moving, result, side=None)
    assert drawn[0].axes[1].images[0].get_array().shape[:2] == fixed.shape
    assert not drawn[0].texts


def test_the_register_command_draws_what_the_api_draws(drawn, tmp_path, monkeypatch):
    from sarfeat.cli import register as command
    from sarfeat.viz import plot_registration

    calls = []
    monkeypatch.setattr("sarfeat.viz.plot_registration",
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    rng = np.random.default_rng(2)
    fixed = rng.gamma(1.0, 1.0, (1300, 1100)).astype(np.float32)
    result = shifted_result(fixed, fixed)

    class Inputs:
        fixed_image = moving_image = fixed

    class Args:
        tie_points = json = None
        plot = tmp_path / "cli.png"
        modality = "sar"

    class Console:
        def step(self, text): pass

        def say(self, text): pass

    command._write_extras(Args, Inputs, result, None, None, Console(), {}, "intensity")
    (args, kwargs), = calls
    # the images as read, not a view: plot_registration draws them downsampled itself
    assert args[1] is fixed and args[2] is fixed and args[3] is result
    plot_registration(tmp_path / "api.png", *args[1:], **kwargs)
    assert "drawn downsampled: 1300 x 1100" in drawn[0].texts[0].get_text()


@pytest.mark.parametrize("shape", [(256, 256), (120, 400), (400, 150)])
def test_the_plots_have_no_white_margins(tmp_path, shape):
    # a square pair's registration plot was a quarter white rows (top and bottom)
    from matplotlib.image import imread

    from sarfeat.viz import plot_keypoints, plot_match_errors, plot_registration

    rng = np.random.default_rng(3)
    image = rng.gamma(1.0, 1.0, shape).astype(np.float32)
    result = shifted_result(image, image)
    plot_registration(tmp_path / "r.png", image, image, result)
    points = result.keypoints_fixed
    plot_match_errors(tmp_path / "m.png", image, image, points, points, result.matches,
                      np.linspace(0, 6, len(points)), "pair")
    plot_keypoints(tmp_path / "k.png", rng.uniform(size=shape), points, np.full(len(points), 8),
                   np.linspace(0, 1, len(points)), "keypoints")
    for name in ("r.png", "m.png", "k.png"):
        white = (imread(tmp_path / name)[..., :3] == 1).all(axis=-1)
        for lines in (white.all(axis=1), white.all(axis=0)):  # white rows, white columns
            drawn_lines = np.flatnonzero(~lines)
            margins = drawn_lines[0] + len(lines) - 1 - drawn_lines[-1]
            assert margins <= 20, name  # pixels: the pad around what is drawn (was 138)


def test_the_match_error_colours_are_explained(drawn, tmp_path):
    # green and red matches were drawn with no legend: only the title's counts
    from sarfeat.viz import plot_match_errors

    image = np.random.default_rng(4).gamma(1.0, 1.0, (64, 64)).astype(np.float32)
    points = np.array([[10.0, 10.0], [20.0, 30.0], [40.0, 50.0]])
    plot_match_errors(tmp_path / "m.png", image, image, points, points,
                      np.array([[0, 0], [1, 1], [2, 2]]), np.array([0.5, 2.9, 7.0]), "pair")
    legend = drawn[0].axes[0].get_legend()
    texts = [text.get_text() for text in legend.get_texts()]
    assert texts == ["within 3 px of the truth (2)", "beyond 3 px (1)"]
    colours = [handle.get_color() for handle in legend.legend_handles]
    assert colours == ["lime", "tab:red"]


def test_a_turned_images_fill_is_drawn_as_no_data(drawn, tmp_path):
    # the black canvas around a turned optical picture, matched as no-data (the command
    # says so), was drawn black, as image content
    from skimage.transform import rotate

    from sarfeat.viz import NODATA_COLOR, plot_registration

    rng = np.random.default_rng(5)
    sar = rng.gamma(1.0, 1.0, (200, 200)).astype(np.float32)
    picture = (rotate(rng.uniform(50, 250, (200, 200)), 20, cval=0, preserve_range=True)
               .round().astype(np.uint8))
    fill = np.zeros(picture.shape, bool)
    fill[:5, :5] = fill[-5:, -5:] = True  # corners of the canvas, away from the picture
    assert (picture[fill] == 0).all()
    result = shifted_result(sar, picture, shift_xy=(0.0, 0.0),
                            diagnostics={"border_fill": [0.0, 0.1], "modality": "sar-optical"})
    plot_registration(tmp_path / "r.png", sar, picture, result)
    matches, overlay = drawn[0].axes[:2]
    moving_panel = np.asarray(matches.images[0].get_array())[:, 200:]
    np.testing.assert_allclose(moving_panel[fill], np.broadcast_to(NODATA_COLOR, (50, 3)))
    assert not np.allclose(moving_panel[100, 100], NODATA_COLOR)  # the picture itself
    overlay_rgb = np.asarray(overlay.images[0].get_array())  # identity: fill on fill
    np.testing.assert_allclose(overlay_rgb[fill], np.broadcast_to(NODATA_COLOR, (50, 3)))
    assert "no data" in matches.get_title()
    # an image whose fill was matched (--keep-border-fill: share 0) keeps it as drawn
    drawn.clear()
    result.diagnostics["border_fill"] = [0.0, 0.0]
    plot_registration(tmp_path / "r.png", sar, picture, result)
    moving_panel = np.asarray(drawn[0].axes[0].images[0].get_array())[:, 200:]
    np.testing.assert_allclose(moving_panel[fill], 0)


def test_keypoint_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    # plot_keypoints raised a bare ModuleNotFoundError; the other plots a RuntimeError
    from sarfeat.viz import plot_keypoints

    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match="plots need matplotlib: pip install matplotlib"):
        plot_keypoints(tmp_path / "k.png", np.zeros((8, 8)), [[1, 2]], [5], [1.0], "one")
    assert not (tmp_path / "k.png").exists()


@pytest.mark.parametrize("count", [1, 2])
def test_tie_points_fitted_exactly_are_not_magnified(drawn, tmp_path, count):
    # two tie points of a similarity have no residual: the arrows were magnified
    # 2e+07 times and the colour bar ran from -0.1 to 0.1 px
    from sarfeat.viz import plot_registration

    image = np.random.default_rng(6).gamma(1.0, 1.0, (128, 128)).astype(np.float32)
    plot_registration(tmp_path / "r.png", image, image, shifted_result(image, image,
                                                                       count=count))
    residuals = drawn[0].axes[2]
    arrows = residuals.collections[-1]
    np.testing.assert_allclose(np.hypot(arrows.U, arrows.V), 0, atol=1e-9)
    assert residuals.get_title() == f"no residual: {count} tie points fitted exactly"
    assert arrows.get_clim() == (0, 1)


def test_residual_colours_start_at_zero(drawn, tmp_path):
    # the colour bar of residual lengths ran from the shortest to the longest
    from sarfeat.viz import plot_registration

    image = np.random.default_rng(7).gamma(1.0, 1.0, (128, 128)).astype(np.float32)
    result = shifted_result(image, image)
    result.keypoints_moving[:, 1] += np.linspace(1.0, 2.0, len(result.keypoints_moving))
    plot_registration(tmp_path / "r.png", image, image, result)
    arrows = drawn[0].axes[2].collections[-1]
    np.testing.assert_allclose(arrows.get_clim(), (0, 2.0))
