"""What sarfeat's plots say and where they put it: residual arrows magnified and coloured
honestly, and a clear error without matplotlib."""

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
    assert residuals.get_title() == (f"tie-point residuals: none ({count} tie points fitted "
                                     "exactly)")
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

