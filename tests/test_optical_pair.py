"""Two optical images (``modality='optical'``, ``--modality optical``): the bundled 3MOS
optical tile against a turned, scaled and shifted copy of itself (conftest's ``tile``; the
warp is _optical_sar_helpers' TRUTH), through the API, ``register`` and ``register-stack``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.io import imsave
from skimage.transform import warp

import sarfeat
from sarfeat.cli import main
from sarfeat.metrics import registration_rmse

from _optical_sar_helpers import SHAPE, TRUTH


@pytest.fixture(scope="module")
def moved_optical(tile):
    """The optical tile moved by TRUTH (NaN outside), float32."""
    return warp(tile[0].astype(np.float32), TRUTH.inverse, order=1, cval=np.nan,
                preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def registered(tile, moved_optical):
    """register(tile[0], moved_optical, modality="optical", rng=0): read by two tests."""
    return sarfeat.register(tile[0], moved_optical, modality="optical", rng=0, progress=False)


@pytest.mark.parametrize("contrast", ["same", "power"])
def test_two_optical_images_register_within_a_pixel(tile, moved_optical, registered, contrast):
    # the moving copy with the same gray values, or raised to a power and rescaled (another
    # season's or sensor's contrast): each image's gray values are used as they are
    if contrast == "same":
        result = registered
    else:
        moving = 3000 * (moved_optical / 255) ** 1.8
        result = sarfeat.register(tile[0], moving, modality="optical", rng=0, progress=False)
    assert registration_rmse(result.transform, TRUTH.params, SHAPE, SHAPE) < 1.0
    assert result.diagnostics["modality"] == "optical-optical"
    assert result.diagnostics["network"] is None  # the dense matcher: no network runs
    assert result.confidence > 0.5


def test_nodata_nan_is_the_same_as_none(tile, moved_optical, registered):
    # a float GeoTIFF's nodata as rasterio gives it: NaN already marks no-data
    results = [registered,  # nodata=None, the default
               sarfeat.register(tile[0], moved_optical, modality="optical", rng=0,
                                progress=False, nodata=np.nan)]
    np.testing.assert_array_equal(results[0].transform.params, results[1].transform.params)
    assert registration_rmse(results[1].transform, TRUTH.params, SHAPE, SHAPE) < 1.0


def test_the_modality_choices_of_the_command_line_list_optical(capsys):
    for command in ("register", "register-stack"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "both optical (optical)" in " ".join(capsys.readouterr().out.split())


def test_cli_registers_two_optical_files(tile, moved_optical, tmp_path, capsys):
    # register refused --modality optical (not among its choices), which the API takes
    fixed, moving = tmp_path / "optical.png", tmp_path / "optical_moved.npy"
    imsave(fixed, np.clip(tile[0], 0, 255).astype(np.uint8), check_contrast=False)
    np.save(moving, moved_optical)
    report, plot = tmp_path / "report.json", tmp_path / "plot.png"
    pytest.importorskip("matplotlib")
    status = main(["register", str(fixed), str(moving), "--modality", "optical", "--json",
                   str(report), "--plot", str(plot), "-q"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads(report.read_text(encoding="utf-8"))
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, SHAPE, SHAPE) < 1.0
    assert saved["weights"] is None and saved["options"]["modality"] == "optical"
    assert plot.stat().st_size > 0
    # register-stack: the same pair, with the same matcher and answer
    out = tmp_path / "stack"
    status = main(["register-stack", str(fixed), str(moving), "-o", str(out), "--modality",
                   "optical", "--format", "npy", "--no-progress", "--workers", "1", "-q"])
    assert status == 0, capsys.readouterr().err
    stacked = json.loads((out / "optical_moved.json").read_text(encoding="utf-8"))
    np.testing.assert_allclose(stacked["transform_fixed_to_moving"], estimate, atol=1e-9)
