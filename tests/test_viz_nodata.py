"""No-data in sarfeat's plots, and in the gallery's: drawn in :data:`sarfeat.viz.NODATA_COLOR`
in every panel (images, side by side, overlay, keypoints), not filled with the median gray as
if it were image content; on the bundled 3MOS tile (conftest's ``tile`` and ``moved_sar``, whose
corners outside the moved SAR tile are NaN)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def registered(tile, moved_sar, optical_sar_registered):
    """The optical tile (fixed), the moved SAR tile (moving, NaN corners) and their
    registration (optical-sar, rng=0; conftest.py's, shared)."""
    return tile[0], moved_sar, optical_sar_registered


def assert_nodata_drawn(rgb: np.ndarray, nodata: np.ndarray) -> None:
    """``rgb`` is NODATA_COLOR exactly on ``nodata``, and no gray-scale data pixel is."""
    from sarfeat.viz import NODATA_COLOR

    assert nodata.any() and not nodata.all()
    np.testing.assert_allclose(rgb[nodata], np.broadcast_to(NODATA_COLOR, (nodata.sum(), 3)),
                               atol=1e-6)
    data = rgb[~nodata]
    assert (np.abs(data[:, 0] - data[:, 2]) < 1e-6).all()  # gray, or magenta and green


def test_nodata_of_the_registration_plot_is_drawn_as_no_data(registered, drawn, tmp_path):
    # the SAR panel filled the moved tile's NaN corners with its median gray, and the
    # overlay drew the fixed image alone (magenta) there: both read as image content
    from sarfeat.viz import NODATA_COLOR, NODATA_NOTE, plot_registration

    fixed, moving, result = registered
    plot_registration(tmp_path / "plot.png", fixed, moving, result)
    matches, overlay, _ = drawn[0].axes[:3]
    side_by_side = np.asarray(matches.images[0].get_array())
    assert side_by_side.shape == (256, 512, 3)
    nodata = np.zeros((256, 512), bool)
    nodata[:, 256:] = np.isnan(moving)
    assert_nodata_drawn(side_by_side, nodata)
    drawn_overlay = np.asarray(overlay.images[0].get_array())
    assert_nodata_drawn(drawn_overlay, np.isnan(result.warped))
    assert all(NODATA_NOTE in ax.get_title() for ax in (matches, overlay))
    # a fixed image with no-data: masked in the residual panel, drawn in NODATA_COLOR
    hidden = fixed.copy()
    hidden[:40] = np.nan
    drawn.clear()
    plot_registration(tmp_path / "plot.png", hidden, moving, result)
    residual_image = drawn[0].axes[2].images[0]
    np.testing.assert_array_equal(np.ma.getmaskarray(residual_image.get_array()),
                                  np.isnan(hidden))
    np.testing.assert_allclose(residual_image.get_cmap().get_bad(), NODATA_COLOR + (1.0,))
    overlay_nodata = np.isnan(hidden) | np.isnan(result.warped)
    assert_nodata_drawn(np.asarray(drawn[0].axes[1].images[0].get_array()), overlay_nodata)


def test_nodata_of_the_match_error_plot_is_drawn_as_no_data(registered, drawn, tmp_path):
    from sarfeat.viz import NODATA_NOTE, plot_match_errors

    fixed, moving, _ = registered
    keypoints = np.array([[100.0, 100.0], [150.0, 120.0]])
    matches = np.array([[0, 0], [1, 1]])
    plot_match_errors(tmp_path / "m.png", moving, fixed, keypoints, keypoints, matches,
                      np.array([1.0, 9.0]), "pair", modality="sar-optical")
    ax = drawn[0].axes[0]
    nodata = np.zeros((256, 512), bool)
    nodata[:, :256] = np.isnan(moving)
    assert_nodata_drawn(np.asarray(ax.images[0].get_array()), nodata)
    assert ax.get_title() == f"pair\n{NODATA_NOTE}"
    # a pair without no-data: nothing in NODATA_COLOR, the title as given
    drawn.clear()
    plot_match_errors(tmp_path / "m.png", fixed, fixed, keypoints, keypoints, matches,
                      np.array([1.0, 9.0]), "pair", modality="optical")
    assert drawn[0].axes[0].get_title() == "pair"


def test_display_image_marks_nodata_on_request(registered):
    from sarfeat.preprocess import valid_mask
    from sarfeat.viz import display_image

    fixed, moving, _ = registered
    for image, role in ((moving, "sar"), (np.where(np.isnan(moving), np.nan, fixed), "optical")):
        filled = display_image(image, role)
        assert np.isfinite(filled).all()  # as before: filled, for any use
        marked = display_image(image, role, mark_nodata=True)
        np.testing.assert_array_equal(np.isnan(marked), ~valid_mask(image))
        np.testing.assert_array_equal(marked[valid_mask(image)], filled[valid_mask(image)])
    masked = np.ma.masked_array(fixed, np.isnan(moving))  # a mask is no-data too
    np.testing.assert_array_equal(np.isnan(display_image(masked, "optical", mark_nodata=True)),
                                  np.isnan(moving))


def test_cli_keypoint_plot_draws_nodata_as_no_data(moved_sar, drawn, tmp_path, require_data,
                                                   capsys):
    # detect --plot drew the image as the network sees it: no-data filled with the median
    from sarfeat.cli import main
    from sarfeat.viz import NODATA_COLOR, NODATA_NOTE

    weights = str(require_data("weights/faster2d2_WASF_N16.pt"))
    image = tmp_path / "moved.npy"
    np.save(image, np.where(np.isnan(moved_sar), np.nan, 10 ** (moved_sar / 50)))
    status = main(["detect", str(image), "--weights", weights, "--plot",
                   str(tmp_path / "kp.png")])
    assert status == 0, capsys.readouterr().err
    ax = drawn[0].axes[0]
    np.testing.assert_array_equal(np.ma.getmaskarray(ax.images[0].get_array()),
                                  np.isnan(moved_sar))
    np.testing.assert_allclose(ax.images[0].get_cmap().get_bad(), NODATA_COLOR + (1.0,))
    assert NODATA_NOTE in ax.get_title()


def test_padding_beside_the_smaller_image_is_drawn_as_no_data(drawn, tmp_path):
    # skimage pads the shorter (or narrower) image of a side-by-side pair with black
    from sarfeat.data import load_sar_scene
    from sarfeat.viz import NODATA_NOTE, plot_match_errors

    scene = load_sar_scene("labrador")
    narrow, short = scene[:, :200, 0], scene[:180, :, 1]  # 256 x 200 and 180 x 256
    keypoints = np.array([[100.0, 100.0], [150.0, 120.0]])
    plot_match_errors(tmp_path / "m.png", narrow, short, keypoints, keypoints,
                      np.array([[0, 0], [1, 1]]), np.array([1.0, 9.0]), "pair")
    ax = drawn[0].axes[0]
    padding = np.zeros((256, 512), bool)
    padding[:, 200:256] = True  # right of the narrow image
    padding[180:, 256:] = True  # below the short one
    assert_nodata_drawn(np.asarray(ax.images[0].get_array()), padding)
    assert ax.get_title() == f"pair\n{NODATA_NOTE}"


@pytest.mark.parametrize("example, warped", [("plot_register_pair", "moving"),
                                             ("plot_detect_keypoints", "vh_warped"),
                                             ("plot_compare_sift_orb", "vh_warped")])
def test_gallery_examples_draw_nodata_as_the_plots_do(example, warped, monkeypatch):
    # the examples drew the warped VH's no-data black or median gray, as image content
    import runpy
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    plt.close("all")
    try:
        names = runpy.run_path(str(Path(__file__).resolve().parent.parent / "examples"
                                   / f"{example}.py"))
        side_by_side = [np.asarray(image.get_array()) for number in plt.get_fignums()
                        for ax in plt.figure(number).axes for image in ax.images
                        if image.get_array().shape == (256, 512, 3)]
    finally:
        plt.close("all")
    assert side_by_side, "the example drew no pair side by side"
    for rgb in side_by_side:  # VV left, the warped VH right
        assert_nodata_drawn(rgb[:, 256:], np.isnan(names[warped]))


def test_the_readme_figure_keeps_the_nodata_colour(monkeypatch, tmp_path):
    # the README's picture of the gallery's checkerboards was saved in gray levels, which
    # turned the steel blue of no-data into a mid gray, read as image content
    import runpy
    from pathlib import Path

    import matplotlib.pyplot as plt
    from PIL import Image

    from sarfeat.viz import NODATA_COLOR

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    script = Path(__file__).resolve().parent.parent / "docs" / "readme_figure.py"
    try:
        written = runpy.run_path(str(script))["main"](tmp_path / "figure.png")
    finally:
        plt.close("all")
    rgb = np.asarray(Image.open(written).convert("RGB"), float)
    steel_blue = np.abs(rgb - 255 * np.asarray(NODATA_COLOR)).max(axis=-1) <= 6
    assert steel_blue.mean() > 0.02  # the checkerboards' no-data tiles
