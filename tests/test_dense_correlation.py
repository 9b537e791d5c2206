"""Template placement of the dense matcher (sarfeat.matching.dense_correlation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sarfeat.matching.dense_correlation import (CANDIDATE_REACH, Reference, peak_offset,
                                                place_templates, whole_overlap_estimate)
from sarfeat.structural import gradient_maps


def brute_force_ncc(template: np.ndarray, search: np.ndarray) -> np.ndarray:
    """The normalised correlation of a template at every position of a search window,
    one window at a time."""
    size = template.shape[-1]
    positions = search.shape[-1] - size + 1
    centred = template - template.mean()
    out = np.empty((positions, positions))
    for i in range(positions):
        for j in range(positions):
            window = search[:, i:i + size, j:j + size].astype(float)
            window = window - window.mean()
            out[i, j] = (window * centred).sum() / np.sqrt((window ** 2).sum()
                                                           * (centred ** 2).sum())
    return out


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(3)
    maps1 = ndimage.gaussian_filter(rng.random((3, 96, 96)), (0, 2, 2)).astype(np.float32)
    # image 2's maps: image 1's moved by (dx, dy) = (2.4, -1.6), with noise
    maps2 = np.stack([ndimage.shift(c, (-1.6, 2.4), order=3, mode="nearest") for c in maps1])
    maps2 += 0.002 * rng.standard_normal(maps2.shape).astype(np.float32)
    return maps1, maps2.astype(np.float32)


def test_templates_find_the_shift_with_the_peak_of_their_correlation(maps):
    maps1, maps2 = maps
    points, shifts, scores = place_templates(maps1, maps2, step=16, half=10, radius=4,
                                             min_score=0.15)
    assert len(points) == 25  # a 5 x 5 grid: rows and columns 14, 30, ..., 78 (reach 14)
    np.testing.assert_allclose(shifts, np.tile((2.4, -1.6), (25, 1)), atol=0.25)
    # each score is the peak of the template's normalised correlation over its window
    for (col, row), score in zip(points.astype(int), scores):
        template = maps1[:, row - 10:row + 11, col - 10:col + 11]
        search = maps2[:, row - 14:row + 15, col - 14:col + 15]
        # the tolerance: float32 FFTs
        assert score == pytest.approx(brute_force_ncc(template, search).max(), abs=1e-4)


def test_templates_touching_no_data_or_flat_are_left_out(maps):
    maps1, maps2 = maps
    maps2 = maps2.copy()
    maps2[:, :20, :20] = np.nan  # in the window of the template at (x, y) = (14, 14) only
    flat = maps1.copy()
    flat[:, 4:25, 28:49] = 1.0  # the template at (38, 14) itself
    points, _, _ = place_templates(flat, maps2, step=24, half=10, radius=4, min_score=0.15)
    placed = {tuple(p) for p in points.astype(int)}
    assert placed == {(x, y) for x in (14, 38, 62) for y in (14, 38, 62)} - {(14, 14), (38, 14)}


@pytest.mark.parametrize("reach", [None, CANDIDATE_REACH])
def test_the_polish_correlates_the_whole_overlap_again_only_for_a_wider_reference(
        reach, monkeypatch):
    # image 2 is image 1 moved by (dx, dy) = (3, -2): the polish finds that shift. A
    # reference whose own reach is the candidates' makes the surface of the best candidate
    # that the candidates made already: it is not made again (one correlation a candidate)
    rng = np.random.default_rng(5)
    scene = ndimage.gaussian_filter(rng.random((100, 110)), 1.5).astype(np.float32)
    image1, image2 = scene[10:90, 10:98], scene[12:92, 7:95]  # (x, y) -> (x + 3, y - 2)
    reference = Reference(gradient_maps(image1), 0.3, reach=reach)
    calls = []
    correlation = Reference.correlation
    monkeypatch.setattr(Reference, "correlation",
                        lambda self, *args, **kwargs: calls.append(kwargs.get("reach"))
                        or correlation(self, *args, **kwargs))
    candidates = ((0.0, 1.0), (-1.0, 1.0), (1.0, 1.0))
    found = whole_overlap_estimate(reference, image2, np.eye(3), np.eye(3), gradient_maps,
                                   steps=(0.5,), candidates=candidates)
    assert calls[:3] == [CANDIDATE_REACH] * 3
    assert calls[3:] == ([None] if reach is None else [])
    assert np.allclose(np.array(found["polished"])[:2, 2], (3, -2), atol=0.5)


@pytest.mark.parametrize("shift", [(0.3, -0.45), (0.5, 0.25), (-0.2, 0.1)])
def test_a_sub_pixel_shift_is_placed_where_it_is(shift):
    """Maps moved by a known fraction of a pixel are placed at it: on average within
    0.01 px, each within 0.06. Their correlation peaks are turned from the pixel grid; two
    parabolas through the peak's pixel read them towards the whole pixel (0.25 read 0.19,
    0.3 read 0.27; single templates 0.25 px off)."""
    rng = np.random.default_rng(5)
    maps1 = ndimage.gaussian_filter(rng.random((2, 160, 160)), (0, 3, 3)).astype(np.float32)
    dx, dy = shift  # image 2's content at image 1's (x + dx, y + dy)
    maps2 = np.stack([ndimage.shift(c, (dy, dx), order=3, mode="nearest")
                      for c in maps1]).astype(np.float32)
    points, shifts, _ = place_templates(maps1, maps2, step=16, half=12, radius=5,
                                        min_score=0.5)
    assert len(points) == 64
    np.testing.assert_allclose(shifts.mean(axis=0), shift, atol=0.01)
    assert np.abs(shifts - shift).max() < 0.06


@pytest.mark.parametrize("shift", [(0.3, -0.45), (0.5, 0.25), (-0.35, 0.4)])
def test_the_polish_reads_a_sub_pixel_shift_where_it_is(shift):
    """A scene of elongated structures at an angle, moved by a known fraction of a pixel:
    the polish finds the shift within 0.05 px (0.04 at most here). Its correlation peak is
    turned from the pixel grid; two parabolas through the peak's pixel were 0.1-0.2 off."""
    rng = np.random.default_rng(5)
    streaks = ndimage.gaussian_filter(rng.random((220, 220)), (1.5, 6))
    scene = ndimage.rotate(streaks, 35, reshape=False)[40:180, 35:185]
    dx, dy = shift  # image 2 shows image 1's (x, y) at (x - dx, y - dy)
    moved = ndimage.shift(scene, (-dy, -dx), order=3, mode="nearest")
    image1 = scene[20:120, 20:130].astype(np.float32)
    image2 = moved[20:120, 20:130].astype(np.float32)
    found = whole_overlap_estimate(Reference(gradient_maps(image1), 0.3), image2, np.eye(3),
                                   np.eye(3), gradient_maps, steps=(0.5,),
                                   candidates=((0.0, 1.0),))
    np.testing.assert_allclose(np.array(found["polished"])[:2, 2], (-dx, -dy), atol=0.05)


def test_peak_offset_finds_the_top_of_a_turned_quadratic():
    rows, cols = np.mgrid[-1:2, -1:2]
    x, y = cols - 0.35, rows + 0.2
    assert peak_offset(-(2 * x ** 2 + 1.5 * x * y + y ** 2)) == pytest.approx((0.35, -0.2))
    # no maximum (a saddle): the parabolas along the row (its top) and the column (none)
    assert peak_offset(-(x ** 2) + y ** 2) == pytest.approx((0.35, 0.0))
