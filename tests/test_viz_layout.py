"""What sarfeat's plots say and where they put it: a clear error without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")


def test_keypoint_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    # plot_keypoints raised a bare ModuleNotFoundError; the other plots a RuntimeError
    from sarfeat.viz import plot_keypoints

    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match="plots need matplotlib: pip install matplotlib"):
        plot_keypoints(tmp_path / "k.png", np.zeros((8, 8)), [[1, 2]], [5], [1.0], "one")
    assert not (tmp_path / "k.png").exists()
