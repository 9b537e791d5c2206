"""How far the placed templates' own affine fit strays from a similarity
(:func:`sarfeat.matching.stretch_check.template_stretch`)."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.matching import DenseStructuralMatcher
from sarfeat.matching.stretch_check import template_stretch

SHAPE = (256, 256)


def _grid() -> np.ndarray:
    steps = np.arange(8.0, 250.0, 16.0)
    return np.stack(np.meshgrid(steps, steps), -1).reshape(-1, 2)


def _stretch(p: float, q: float) -> np.ndarray:
    centre = np.array([127.5, 127.5])
    matrix = np.eye(3)
    matrix[:2, :2] = [[1 + p, q], [q, 1 - p]]
    matrix[:2, 2] = centre - matrix[:2, :2] @ centre
    return matrix


def _moved(matrix, points):
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def test_templates_that_follow_the_similarity_do_not_stray():
    rng = np.random.default_rng(0)
    turn = np.array([[0.9, -0.3, 12.0], [0.3, 0.9, -7.0], [0, 0, 1]])
    source = _grid()
    target = _moved(turn, source) + rng.normal(0, 0.7, source.shape)  # placement noise
    assert template_stretch(source, target, turn, SHAPE) < 0.5


@pytest.mark.parametrize("p, q", [(0.03, 0.0), (0.0, 0.03), (-0.02, 0.02)])
def test_a_stretch_is_measured_over_image_1(p, q):
    source = _grid()
    stretch = _stretch(p, q)
    target = _moved(stretch, source)
    # a [[1 + p, q], [q, 1 - p]] stretch about the centre moves a 9 x 9 grid over
    # 0-255 by hypot(p, q) times the RMS distance from the centre, sqrt(2) * 82.3 px
    expected = np.hypot(p, q) * np.sqrt(2) * 127.5 * np.sqrt(np.mean(np.linspace(-1, 1, 9) ** 2))
    assert template_stretch(source, target, np.eye(3), SHAPE) == pytest.approx(expected, rel=0.01)


def test_templates_far_from_both_models_are_left_out_of_the_fit():
    rng = np.random.default_rng(1)
    source = _grid()
    target = _moved(_stretch(0.03, 0.0), source)
    wrong = rng.random(len(source)) < 0.3  # a third placed on something else
    target[wrong] += rng.uniform(20, 40, (int(wrong.sum()), 2))
    clean = template_stretch(source[~wrong], target[~wrong], np.eye(3), SHAPE)
    assert template_stretch(source, target, np.eye(3), SHAPE) == pytest.approx(clean, abs=0.05)


def test_too_few_templates_near_the_similarity_measure_nothing():
    source = _grid()[:20]
    target = source + 30.0  # none within reach
    assert template_stretch(source, target, np.eye(3), SHAPE) is None
    spread = _grid()[::20][:12]  # a few across the whole tile
    assert template_stretch(spread[:11], spread[:11], np.eye(3), SHAPE) is None
    assert template_stretch(spread, spread, np.eye(3), SHAPE) == 0.0


def test_templates_along_a_line_fix_no_stretch_across_it():
    row = _grid()[:16]  # one row of templates: an overlap too thin
    target = _moved(_stretch(0.03, 0.0), row)
    assert template_stretch(row, target, np.eye(3), SHAPE) is None


@pytest.mark.parametrize("value", [-1.0, float("nan"), "3"])
def test_stretch_check_is_checked(value):
    with pytest.raises((ValueError, TypeError), match="stretch_check"):
        DenseStructuralMatcher("optical-sar", stretch_check=value)
