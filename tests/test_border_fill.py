"""sarfeat.preprocess.border_fill: the constant fill around an image turned or scaled
onto a canvas, and what the optical-SAR matcher makes of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.io import imsave

import sarfeat
from benchmarks.optical_sar_pairs import onto_canvas
from sarfeat.cli import main
from sarfeat.data import load_optical_sar_tile
from sarfeat.matching import DenseStructuralMatcher
from sarfeat.matching.inputs import nodata_marked
from sarfeat.matching.dense_search import working
from sarfeat.metrics import registration_rmse
from sarfeat.preprocess import border_fill

@pytest.fixture(scope="module")
def tile():
    return load_optical_sar_tile()


def _onto_canvas(image, angle, scale, fill=0.0):
    """``image`` turned and scaled onto a canvas filled with ``fill`` (an EOSS-like pair,
    :func:`benchmarks.optical_sar_pairs.onto_canvas`): (canvas, its outside, the canvas
    (x, y) -> image (x, y) matrix)."""
    canvas, to_image = onto_canvas(image.astype(np.float32), angle, scale, fill=np.nan)
    outside = np.isnan(canvas)
    return np.where(outside, fill, canvas).astype(np.float32), outside, to_image


def test_the_fill_of_a_turned_image_is_found(tile):
    canvas, outside, _ = _onto_canvas(tile[0], 35.0, 1.2)
    found = border_fill(canvas)
    assert found is not None
    # the outside of the turned tile, bar content pixels that happen to equal the fill
    assert found[outside].all() and found[~outside].mean() < 0.01


def test_a_white_fill_and_a_colour_image(tile):
    canvas, outside, _ = _onto_canvas(tile[0], -60.0, 0.8, fill=255.0)
    colour = np.stack([canvas, canvas * 0.5 + 10 * ~outside, canvas], axis=-1)
    colour[outside] = 255.0
    for image in (canvas, colour.astype(np.uint8)):
        found = border_fill(image)
        assert found is not None and found[outside].all()


def test_scenes_without_a_fill_are_left_alone(tile):
    optical, sar = tile
    assert border_fill(optical) is None and border_fill(sar) is None
    # NaN corners are no-data already
    canvas, outside, _ = _onto_canvas(optical, 35.0, 1.0, fill=np.nan)
    assert border_fill(canvas) is None
    # a dark sea reaching all four corners around a coast that is not one straight block
    rows, cols = np.mgrid[:256, :256]
    sea = optical.copy()
    sea[np.hypot(rows - 128, cols - 128) > 90 + 20 * np.sin(cols / 9.0)] = 0.0
    assert border_fill(sea) is None


def test_only_pixels_connected_to_the_border_are_fill(tile):
    canvas, outside, _ = _onto_canvas(tile[0], 20.0, 1.0)
    canvas[100:120, 100:120] = 0.0  # a dark block inside the image: data, not fill
    found = border_fill(canvas)
    assert found is not None and not found[100:120, 100:120].any()


def test_optical_on_a_black_canvas_registers_with_the_fill_as_no_data(tile):
    # the optical tile turned 30 degrees and enlarged 1.3 times onto a canvas with black
    # corners, the SAR tile as it is: truth = canvas (x, y) -> tile (x, y)
    canvas, outside, truth = _onto_canvas(tile[0], 30.0, 1.3)
    result = sarfeat.register(canvas, tile[1], modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(result.transform, truth, canvas.shape, tile[1].shape) < 3.0
    share = result.diagnostics["border_fill"]
    assert share[0] == pytest.approx(outside.mean(), abs=0.01) and share[1] == 0.0
    assert result.diagnostics["valid_fraction"][0] == pytest.approx(1 - share[0], abs=1e-3)


def test_nodata_and_masks_are_no_data_for_the_dense_matcher(tile):
    optical, sar = tile
    blanked = optical.copy()
    blanked[:64] = -1.0  # a band of a no-data value (neither tile holds it)
    masked = np.ma.masked_array(sar, mask=np.zeros(sar.shape, bool))
    masked.mask[:, :32] = True
    matcher = DenseStructuralMatcher("optical-sar", nodata=-1.0)
    matcher.match(blanked, masked)
    left = matcher.diagnostics["valid_fraction"]
    assert left[0] == pytest.approx(1 - 64 / 256, abs=1e-6)
    assert left[1] == pytest.approx(1 - 32 / 256, abs=1e-6)
    # and the fill rule can be switched off
    canvas, outside, _ = _onto_canvas(optical, 30.0, 1.0)
    plain = DenseStructuralMatcher("optical-sar", border_fill=False)
    plain.match(canvas, sar)
    assert plain.diagnostics["border_fill"] == [0.0, 0.0]
    assert plain.diagnostics["valid_fraction"][0] == 1.0


def test_a_small_optical_image_against_a_larger_sar_one(tile):
    # the optical tile at 0.6 of its scale (154 px, black corners) against the 256 px SAR
    # tile: the search works with the SAR image at 128 px, the optical one at 77
    canvas, outside, truth = _onto_canvas(tile[0], -25.0, 0.6)
    assert max(working(canvas, 128, tile[1])[0].shape) == 77
    result = sarfeat.register(canvas, tile[1], modality="optical-sar", rng=0, progress=False)
    assert registration_rmse(result.transform, truth, canvas.shape, tile[1].shape) < 3.0
    # the fine stage ran on the SAR image's finer grid, its templates many; the tie points
    # come back in each image's own pixels
    assert result.diagnostics["fine_on_image2"] is True
    assert result.diagnostics["fine_inliers"] >= 24
    inliers = result.inlier_matches
    fixed_xy = result.keypoints_fixed[inliers[:, 0], ::-1]
    moving_xy = result.keypoints_moving[inliers[:, 1], ::-1]
    assert fixed_xy.max() < canvas.shape[0] and moving_xy.max() < tile[1].shape[0]
    expected = (np.c_[fixed_xy, np.ones(len(fixed_xy))] @ truth.T)[:, :2]
    assert np.median(np.hypot(*(expected - moving_xy).T)) < 3.0


def test_cli_says_when_a_fill_is_left_out_and_can_keep_it(tile, tmp_path, capsys):
    # an 8-bit PNG of the optical tile turned onto a black canvas, as image editors save it
    canvas, outside, truth = _onto_canvas(tile[0], 30.0, 1.3)
    fixed, moving = tmp_path / "optical.png", tmp_path / "sar.npy"
    imsave(fixed, np.clip(canvas, 0, 255).astype(np.uint8), check_contrast=False)
    np.save(moving, tile[1])
    report = tmp_path / "report.json"
    command = ["register", str(fixed), str(moving), "--modality", "optical-sar",
               "--json", str(report)]
    assert main(command) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert "constant fill around the image, matched as no-data" in said
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["diagnostics"]["border_fill"][0] == pytest.approx(outside.mean(), abs=0.01)
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, canvas.shape, tile[1].shape) < 3.0
    assert main(command + ["--keep-border-fill", "--overwrite"]) == 0  # the same --json again
    assert "matched as no-data" not in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["diagnostics"]["border_fill"] == [0.0, 0.0]


def test_bad_fill_and_nodata_options_are_refused():
    with pytest.raises((TypeError, ValueError), match="border_fill"):
        DenseStructuralMatcher("optical-sar", border_fill="no")
    with pytest.raises((TypeError, ValueError), match="nodata"):
        DenseStructuralMatcher("optical-sar", nodata="zero")
    with pytest.raises((TypeError, ValueError), match="border_fill"):
        sarfeat.CoarseFineMatcher(modality="optical-sar", border_fill=1)


def _grd_edge(tile, start=100):
    """The SAR tile as linear intensity (its 8-bit levels read as a 30 dB stretch) with a
    GRD-like slice edge: exact zeros right of a slanted line, touching two corners only."""
    intensity = (10 ** ((tile[1].astype(np.float32) / 255 * 30 - 25) / 10)).astype(np.float32)
    rows, cols = np.mgrid[:256, :256]
    edge = cols > start + 0.3 * rows
    intensity[edge] = 0.0
    return intensity, edge


def test_a_linear_sar_image_s_slice_edge_zeros_are_no_data_when_nodata_says_so(tile):
    # not all four corners hold the zeros, so the canvas rule does not apply: a GRD slice
    # edge needs nodata=0 (zeros at the border of the optical-SAR pairs' 8-bit SAR tiles
    # are calm water as often as fill: taken for fill they cost right answers)
    sar, edge = _grd_edge(tile)
    result = sarfeat.register(tile[0], sar, modality="optical-sar", nodata=0, rng=0,
                              progress=False)
    assert registration_rmse(result.transform, np.eye(3), tile[0].shape, sar.shape) < 3.0
    assert result.diagnostics["valid_fraction"][1] == pytest.approx(1 - edge.mean(), abs=1e-3)
    marked, fill, left = nodata_marked(sar, None, True)
    assert (fill, left) == (0.0, 1.0)  # without it, the zeros are data
