"""The fine stage (``sarfeat.matching.fine``) on synthetic features, without the network."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from _synthetic_features import describe, moved, texture
from skimage.transform import AffineTransform, SimilarityTransform

from sarfeat.matching.fine import FineSettings, FineStage, candidate_pairs
from sarfeat.matching.geometry import apply_matrix, plausible_matrices

TRUTH = AffineTransform(matrix=np.array([[0.99, 0.02, 9.0], [-0.015, 1.01, -6.0], [0, 0, 1.0]]))


def _describe_patch(patch, budget):
    keypoints, descriptors = describe(patch, budget)
    return (keypoints, np.ones(len(keypoints)), {"patch": descriptors},
            {"patch": np.ones(len(keypoints), bool)})


def _stage(**settings) -> FineStage:
    options = dict(descriptors=("patch",), patch_size=128, fine_keypoints=300, radius=12.0)
    options.update(settings)
    return FineStage(FineSettings(**options), _describe_patch,
                     lambda m: plausible_matrices(m, 4.0))


@pytest.fixture(scope="module")
def pair():
    image1 = texture((300, 330), seed=4)
    return image1, moved(image1, TRUTH.params, (310, 320))


def _grid_error(model, truth, shape) -> float:
    rows, cols = np.meshgrid(np.arange(20, shape[0] - 20, 20.0), np.arange(20, shape[1] - 20, 20.0))
    grid = np.c_[cols.ravel(), rows.ravel()]
    return float(np.abs(apply_matrix(model.params, grid) - apply_matrix(truth, grid)).max())


def test_candidate_pairs_are_all_pairs_within_the_radius():
    rng = np.random.default_rng(0)
    one, two = rng.uniform(0, 100, (60, 2)), rng.uniform(0, 100, (70, 2))
    pairs = candidate_pairs(one, two, 9.0)
    distance = np.linalg.norm(one[:, None] - two[None], axis=2)
    expected = set(zip(*np.nonzero(distance <= 9.0)))
    assert set(map(tuple, pairs.tolist())) == expected
    assert candidate_pairs(one[:0], two, 9.0).shape == (0, 2)


def test_the_fine_model_is_found_around_a_rough_prior(pair):
    image1, image2 = pair
    stage = _stage()
    prior = AffineTransform(translation=(5, 0)).params @ TRUTH.params  # 5 px off
    result = stage.run(image1, image2, prior, np.random.default_rng(0))
    assert result.model is not None and result.failure is None
    assert _grid_error(result.model, TRUTH.params, image1.shape) < 0.5
    # the returned matches index the two keypoint sets and are true to within 1 px
    source, target = result.matched_points()
    error = np.linalg.norm(TRUTH(source[result.inliers]) - target[result.inliers], axis=1)
    assert result.inliers.sum() >= 50 and np.median(error) < 0.5
    assert result.diagnostics["fine_candidates"] == len(result.matches)
    assert (result.votes >= 2).all()  # one descriptor: the mutual nearest neighbour


def test_patches_are_described_once(pair):
    image1, image2 = pair
    stage = _stage()
    first = stage.run(image1, image2, TRUTH.params, np.random.default_rng(0))
    described = stage.diagnostics["patches_described"]
    # 300 x 330 on a 128 grid: 3 x 3 patches of image 1, at most 3 x 3 of image 2
    assert 9 < described <= 18 and stage.diagnostics["patches_reused"] == 0
    again = stage.run(image1, image2, AffineTransform(translation=(1, 1)).params @ TRUTH.params,
                      np.random.default_rng(0))
    assert stage.diagnostics["patches_described"] == described  # nothing new to describe
    assert stage.diagnostics["patches_reused"] >= described - 2
    assert _grid_error(again.model, first.model.params, image1.shape) < 0.5


def test_a_turned_prior_resamples_patches_and_reports_image2_pixels():
    image1 = texture((260, 260), seed=6)
    centre = np.array([129.5, 129.5])
    truth = (SimilarityTransform(translation=centre + (3, 2)).params
             @ SimilarityTransform(rotation=np.deg2rad(35), scale=1.1).params
             @ SimilarityTransform(translation=-centre).params)
    image2 = moved(image1, truth, (300, 300))
    stage = _stage()
    result = stage.run(image1, image2, truth, np.random.default_rng(0))
    assert stage.diagnostics["fine_resampled"]
    assert _grid_error(result.model, truth, image1.shape) < 0.5
    # keypoints of image 2 are in its own pixels: the truth maps image-1 matches onto them
    source, target = result.matched_points()
    assert np.median(np.linalg.norm(apply_matrix(truth, source) - target, axis=1)) < 0.5
    assert (result.keypoints2 >= 0).all() and (result.keypoints2 < 300).all()


def test_the_last_local_search_keeps_at_least_the_inliers(pair):
    image1, image2 = pair
    stage = _stage(final_radius=3.0)
    prior = AffineTransform(translation=(-4, 3)).params @ TRUTH.params
    result = stage.run(image1, image2, prior, np.random.default_rng(0))
    final = stage.final_search(result)
    assert final.inliers.sum() >= result.inliers.sum()
    assert final.diagnostics["first_pass_inliers"] == int(result.inliers.sum())
    assert _grid_error(final.model, TRUTH.params, image1.shape) < 0.5


def test_too_few_votes_is_a_failure_not_a_model(pair):
    image1, _ = pair
    stage = _stage()
    noise = np.random.default_rng(9).random(image1.shape).astype(np.float32)
    result = stage.run(image1, noise, TRUTH.params, np.random.default_rng(0))
    assert result.model is None and result.failure


# -- bounded memory: the patch store ------------------------------------------------------------


def _describe_wide(patch, budget):
    """Two descriptors, one of them wide, so that descriptors dominate the memory."""
    keypoints, descriptors = describe(patch, budget)
    wide = np.repeat(descriptors, 4, axis=1)
    return (keypoints, np.ones(len(keypoints)), {"patch": descriptors, "wide": wide},
            {"patch": np.ones(len(keypoints), bool), "wide": np.arange(len(keypoints)) % 7 > 0})


def _wide_stage(budget=None) -> FineStage:
    settings = FineSettings(descriptors=("patch", "wide"), patch_size=96, fine_keypoints=200,
                            radius=10.0, final_radius=3.0, max_patches=None)  # every patch
    options = {} if budget is None else {"descriptor_budget": budget}
    return FineStage(settings, _describe_wide, lambda m: plausible_matrices(m, 4.0), **options)


@pytest.fixture(scope="module")
def large_pair():
    image1 = texture((620, 580), seed=7)
    return image1, moved(image1, TRUTH.params, (610, 600))


def _runs(stage, image1, image2):
    """A first pass, a second prior 9 px away, and the last local search of each."""
    results = []
    for shift in ((4, -3), (-7, 5)):
        prior = AffineTransform(translation=shift).params @ TRUTH.params
        first = stage.run(image1, image2, prior, np.random.default_rng(0))
        results += [first, stage.final_search(first)]
    return results


def test_a_small_descriptor_budget_streams_and_gives_the_same_result(large_pair):
    image1, image2 = large_pair
    everything, streamed = _wide_stage(), _wide_stage(budget=1)
    for kept, small in zip(_runs(everything, image1, image2), _runs(streamed, image1, image2)):
        np.testing.assert_array_equal(kept.keypoints1, small.keypoints1)
        np.testing.assert_array_equal(kept.keypoints2, small.keypoints2)
        np.testing.assert_array_equal(kept.matches, small.matches)
        np.testing.assert_array_equal(kept.votes, small.votes)
        np.testing.assert_array_equal(kept.inliers, small.inliers)
        np.testing.assert_array_equal(kept.model.params, small.model.params)
    assert _grid_error(small.model, TRUTH.params, image1.shape) < 0.5
    # the unlimited store held every descriptor; the small one a few rows of patches and
    # described dropped patches again for the second prior
    assert everything.store.redescribed == 0 and streamed.store.redescribed > 0
    rows = -(-image1.shape[0] // 96)
    assert streamed.store.peak_held < 4 * everything.store.peak_held / rows


def test_a_small_budget_bounds_the_traced_memory(large_pair):
    tracemalloc = pytest.importorskip("tracemalloc")
    image1, image2 = large_pair
    peaks, held = {}, {}
    for budget in (None, 1):
        stage = _wide_stage(budget)
        tracemalloc.start()
        result = stage.run(image1, image2, TRUTH.params, np.random.default_rng(0))
        peaks[budget] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        held[budget] = stage.store.peak_held
        assert result.model is not None
        # the stage's results carry keypoint ids, not a concatenated copy of the descriptors
        assert not result.features1.descriptors and not result.features2.descriptors
    # the unlimited stage held every descriptor of the scene at once; the streamed one saves
    # most of that in traced (numpy) memory
    assert peaks[1] < peaks[None] - 0.5 * held[None]


def test_the_progress_wrapper_sees_every_patch_of_image_1(pair):
    image1, image2 = pair
    seen = []

    def progress(items, description):
        for item in items:
            seen.append((description, item))
            yield item

    stage = FineStage(FineSettings(descriptors=("patch",), patch_size=128, fine_keypoints=300,
                                   radius=12.0), _describe_patch,
                      lambda m: plausible_matrices(m, 4.0), progress)
    stage.run(image1, image2, TRUTH.params, np.random.default_rng(0))
    # 300 x 330 on a 128 grid: 3 x 3 patches of image 1, each shown once
    assert [d for d, _ in seen] == ["fine patches"] * 9
    assert len({core for _, core in seen}) == 9


def test_the_progress_bar_is_off_unless_asked_or_on_a_terminal(monkeypatch):
    import io
    import sys

    from sarfeat.matching.fine_driver import progress_bar

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    assert progress_bar(None) is None and progress_bar(False) is None
    bar = progress_bar(True)
    assert list(bar(range(3), "fine patches")) == [0, 1, 2]
    assert "fine patches" in sys.stderr.getvalue()


def test_spread_cores_keep_an_even_sub_grid_with_its_corners():
    from sarfeat.matching.fine import spread_cores
    from sarfeat.matching.geometry import tiles

    grid = tiles((0, 4096, 0, 4096), 512)  # 8 x 8
    kept = spread_cores(grid, 16)
    assert len(kept) == 16 and set(kept) <= set(grid)
    rows, cols = sorted({c[0] for c in kept}), sorted({c[2] for c in kept})
    assert rows == cols == [0, 1024, 2560, 3584]  # first and last, evenly between
    assert spread_cores(grid, None) == grid and spread_cores(grid[:9], 16) == grid[:9]
    wide = tiles((0, 512, 0, 8192), 512)  # one row of 16
    assert len(spread_cores(wide, 5)) == 5
    assert len(spread_cores(tiles((0, 2000, 0, 7000), 512), 12)) <= 12


def test_a_capped_fine_stage_describes_fewer_patches_and_keeps_the_model(pair):
    image1, image2 = pair
    prior = AffineTransform(translation=(4, -3)).params @ TRUTH.params
    whole = _stage(patch_size=64, fine_keypoints=80, max_patches=None)
    capped = _stage(patch_size=64, fine_keypoints=80, max_patches=6)
    results = [stage.run(image1, image2, prior, np.random.default_rng(0))
               for stage in (whole, capped)]
    total = whole.diagnostics["fine_patches_total"]
    assert whole.diagnostics["fine_patches_used"] == total > 6
    assert capped.diagnostics["fine_patches_used"] == 6
    assert capped.diagnostics["fine_patches_total"] == total
    for result in results:
        assert result.model is not None
        assert _grid_error(result.model, TRUTH.params, image1.shape) < 0.5
    keypoints1, keypoints2 = results[1].keypoints1, results[1].keypoints2
    assert np.ptp(keypoints1[:, 0]) > 0.8 * image1.shape[0]  # spread over the overlap
    assert np.ptp(keypoints1[:, 1]) > 0.8 * image1.shape[1]
    # image 2 is described only near the image of the patches kept (within the radius and
    # the prior's error), and its keypoints are not duplicated
    back = apply_matrix(np.linalg.inv(TRUTH.params), keypoints2[:, ::-1])[:, ::-1]
    distance = cKDTree(keypoints1).query(back)[0]
    assert np.percentile(distance, 99) < 12.0 + 5 + 64 / 2
    assert len(back) < len(results[0].keypoints2)
    assert len(np.unique(keypoints2, axis=0)) == len(keypoints2)


def test_describing_two_patches_at_once_gives_the_same_result(large_pair):
    image1, image2 = large_pair
    prior = AffineTransform(translation=(4, -3)).params @ TRUTH.params
    settings = FineSettings(descriptors=("patch",), patch_size=96, fine_keypoints=120,
                            radius=12.0, max_patches=None)
    stages = [FineStage(settings, _describe_patch, lambda m: plausible_matrices(m, 4.0),
                        workers=workers) for workers in (1, 2)]
    one, two = (stage.run(image1, image2, prior, np.random.default_rng(0)) for stage in stages)
    np.testing.assert_array_equal(one.keypoints1, two.keypoints1)
    np.testing.assert_array_equal(one.keypoints2, two.keypoints2)
    np.testing.assert_array_equal(one.matches, two.matches)
    np.testing.assert_array_equal(one.model.params, two.model.params)
    assert stages[0].diagnostics["patches_described"] == stages[1].diagnostics["patches_described"]
    assert stages[1].diagnostics["patches_described"] > 10


def test_only_an_empty_patch_is_skipped_other_errors_show():
    """describe_core skips a patch without keypoints, but an unexpected error is raised."""
    from sarfeat.detector import NoKeypointsError
    from sarfeat.matching.fine import ImageWindows, describe_core

    windows = ImageWindows(texture((128, 128), 2), "image1")
    settings = FineSettings(descriptors=("patch",))

    def empty(patch, budget):
        raise NoKeypointsError("nothing here")

    def broken(patch, budget):
        raise ValueError("a bug in the describing code")

    assert describe_core(settings, empty, windows, (0, 64, 0, 64)) is None
    with pytest.raises(ValueError, match="a bug"):
        describe_core(settings, broken, windows, (0, 64, 0, 64))
