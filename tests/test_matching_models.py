"""Robust model fitting and GRIC model selection (``sarfeat.matching.models``), without the network."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import AffineTransform, EuclideanTransform, SimilarityTransform

from sarfeat.matching.models import NESTED, fit_model


def _always(matrices):
    return np.ones(len(matrices), bool)


def _matches(truth, count=200, noise=0.7, outliers=0.3, seed=0, extent=(0, 600)):
    """Source points, their images under ``truth`` with noise, and a share of outliers."""
    rng = np.random.default_rng(seed)
    source = rng.uniform(*extent, (count, 2))
    target = truth(source) + rng.normal(0, noise, (count, 2))
    wrong = rng.random(count) < outliers
    target[wrong] = rng.uniform(0, 600, (int(wrong.sum()), 2))
    return source, target, ~wrong


def _fit(source, target, model="affine", select=True):
    return fit_model(source, target, model, threshold=3.0, max_trials=1000,
                     plausible=_always, rng=np.random.default_rng(1), select=select)


@pytest.mark.parametrize("name, reference", [
    ("euclidean", EuclideanTransform), ("similarity", SimilarityTransform),
])
def test_closed_form_fits_equal_scikit_image(name, reference):
    source, target, _ = _matches(SimilarityTransform(scale=1.1, rotation=0.3, translation=(5, 9)),
                                 outliers=0)
    ours = NESTED[name][0].from_estimate(source, target)
    np.testing.assert_allclose(ours.params, reference.from_estimate(source, target).params,
                               atol=1e-8)


def test_affine_fit_is_least_squares_in_the_target():
    truth = AffineTransform(matrix=np.array([[0.9, 0.05, 10], [-0.03, 1.1, -5], [0, 0, 1.0]]))
    source, target, _ = _matches(truth, outliers=0)
    fitted = NESTED["affine"][0].from_estimate(source, target)
    design = np.c_[source, np.ones(len(source))]
    expected = np.linalg.lstsq(design, target, rcond=None)[0].T
    np.testing.assert_allclose(fitted.params[:2], expected, atol=1e-9)
    # a residual of the fit is orthogonal to the design: no better affine map exists
    np.testing.assert_allclose(design.T @ (fitted(source) - target), 0, atol=1e-6)


@pytest.mark.parametrize("name", ["euclidean", "similarity", "affine"])
def test_degenerate_samples_give_no_model(name):
    same = np.ones((3, 2))
    assert not NESTED[name][0].from_estimate(same, same + 2)


def test_a_shift_selects_the_translation():
    truth = SimilarityTransform(translation=(-8.8, -49.9))
    # matches bunched in one corner, where an affine fit is free to tilt
    source, target, correct = _matches(truth, count=80, extent=(0, 150))
    fitted = _fit(source, target)
    assert fitted.name == "translation"
    assert isinstance(fitted.transform, AffineTransform)  # the class asked for
    np.testing.assert_allclose(fitted.transform.params[:2, :2], np.eye(2), atol=1e-12)
    np.testing.assert_allclose(fitted.transform.translation, truth.translation, atol=0.5)
    assert fitted.inliers[correct].mean() > 0.95
    assert set(fitted.gric) == {"translation", "euclidean", "similarity", "affine"}
    assert min(fitted.gric, key=fitted.gric.get) == "translation"


def test_an_anisotropic_scale_selects_the_affine_map():
    truth = AffineTransform(matrix=np.array([[0.886, 0.015, -20], [-0.006, 1.0, 7], [0, 0, 1.0]]))
    source, target, _ = _matches(truth)
    fitted = _fit(source, target)
    assert fitted.name == "affine"
    np.testing.assert_allclose(fitted.transform.params, truth.params, atol=0.02 * 600)
    grid = np.stack(np.meshgrid(np.arange(0, 600, 50.0), np.arange(0, 600, 50.0)), -1)
    grid = grid.reshape(-1, 2)
    assert np.abs(fitted.transform(grid) - truth(grid)).max() < 1.0


def test_a_turn_and_scale_select_the_similarity():
    truth = SimilarityTransform(scale=0.9, rotation=np.deg2rad(5), translation=(30, -10))
    source, target, _ = _matches(truth)
    fitted = _fit(source, target, model="similarity")
    assert fitted.name == "similarity" and isinstance(fitted.transform, SimilarityTransform)
    assert "affine" not in fitted.gric  # never richer than asked


def test_without_selection_the_asked_model_is_fitted():
    source, target, _ = _matches(SimilarityTransform(translation=(3, 4)))
    fitted = _fit(source, target, select=False)
    assert fitted.name == "affine" and fitted.gric == {}


def test_too_few_matches_give_none():
    source = np.array([[0.0, 0], [1, 1]])
    assert _fit(source, source + 1, select=False) is None
