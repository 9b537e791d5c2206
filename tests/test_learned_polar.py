"""The learned polar descriptor (sarfeat.learned_polar): polar at its start, invariant always.

The mixings here are the identity (the polar descriptor) and seeded random ones,
which are invariant by construction just the same; the release sarfeat-sar-v2 bundles
the searched group weights (:data:`~sarfeat.learned_polar.TUNED_LOG_WEIGHTS`), which
the default detector applies.
"""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.invariant_descriptor import invariant_descriptors
from sarfeat.learned_polar import LearnedPolar, invariant_length
from sarfeat.polar_descriptor import POLAR_LENGTH, polar_invariants


def _random_model(seed: int = 0, channels: int = 6) -> LearnedPolar:
    rng = np.random.default_rng(seed)
    mix = np.tile(np.eye(channels, 6), (9, 1, 1)) + rng.normal(0, 0.3, (9, channels, 6))
    return LearnedPolar(mix, np.exp(rng.normal(0, 0.3, invariant_length(channels, 8))))


@pytest.fixture(scope="module")
def hh_log(airsar_cube):
    """The AIRSAR HH channel as the detector sees it: normalised log intensity."""
    from sarfeat import normalize_sar

    return normalize_sar(airsar_cube[..., 0]).image.astype(np.float32)


@pytest.fixture(scope="module")
def hh_rings(hh_log):
    from sarfeat.invariant_descriptor import keypoint_ring_samples

    rng = np.random.default_rng(0)
    rows, cols = rng.uniform(40, 215, (2, 200))
    return keypoint_ring_samples(hh_log, rows, cols, np.repeat([1.0, 0.5], 100))


def test_identity_mixing_is_the_polar_descriptor(hh_rings):
    samples = np.concatenate([hh_rings, np.full((1, 6, 32), 0.7)])  # and a flat one
    identity = LearnedPolar.identity()
    assert identity.dim == POLAR_LENGTH
    expected = polar_invariants(samples)
    assert np.abs(identity(samples) - expected).max() < 1e-6
    assert not identity(samples)[-1].any()
    # a learned mixing is not
    assert np.abs(_random_model()(samples) - expected).max() > 0.05


@pytest.mark.parametrize("channels", [6, 8])
def test_quarter_turns_leave_descriptors_unchanged(hh_log, channels):
    from sarfeat.orientation import turn_positions

    model = _random_model(1, channels)
    rng = np.random.default_rng(0)
    rows, cols = rng.uniform(40, 215, (2, 100))
    scales = np.repeat([32.0, 64.0], 50)  # levels 1 and 0.5
    first = invariant_descriptors(hh_log, np.column_stack([rows, cols]), scales, model)
    turned = np.ascontiguousarray(np.rot90(hh_log, 1))
    t_rows, t_cols = turn_positions(rows, cols, hh_log.shape, 1)
    second = invariant_descriptors(turned, np.column_stack([t_rows, t_cols]), scales, model)
    assert first.shape == (100, invariant_length(channels, 8))
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.abs(first - second).max() < 1e-5
    assert np.mean((first @ second.T).argmax(axis=1) == np.arange(100)) > 0.9


def test_weights_round_trip_and_torch_agrees(tmp_path, hh_rings):
    torch = pytest.importorskip("torch")
    from sarfeat.training.learned_polar import LearnedPolarModule, spectra_tensors

    module = LearnedPolarModule(channels=8)
    assert np.abs(LearnedPolarModule()(*spectra_tensors(hh_rings)).detach().numpy()
                  - polar_invariants(hh_rings)).max() < 1e-5
    with torch.no_grad():
        module.mix.add_(0.3 * torch.randn(module.mix.shape, generator=torch.Generator()
                                          .manual_seed(0)))
        module.log_weights.add_(0.1)
        expected = module(*spectra_tensors(hh_rings)).numpy()
    loaded = LearnedPolar.load(module.export().save(tmp_path / "w.npz"))
    assert np.abs(loaded(hh_rings) - expected).max() < 1e-5


def test_distractors_make_the_loss_harder():
    torch = pytest.importorskip("torch")
    from sarfeat.training.learned_polar import distractor_hardnet_loss

    generator = torch.Generator().manual_seed(0)
    anchors = torch.nn.functional.normalize(torch.randn(6, 4, generator=generator), dim=1)
    noise = 0.3 * torch.randn(6, 4, generator=generator)
    positives = torch.nn.functional.normalize(anchors + noise, dim=1)
    alone = distractor_hardnet_loss(anchors, positives, torch.zeros(6, 6, dtype=torch.bool))
    # a second-side distractor on top of anchor 0: the loss grows unless masked as near
    crowded = torch.cat([positives, anchors[:1]])
    near = torch.zeros(6, 7, dtype=torch.bool)
    assert distractor_hardnet_loss(anchors, crowded, near) > alone
    near[0, 6] = True
    assert torch.isclose(distractor_hardnet_loss(anchors, crowded, near), alone)


def test_feature_groups_follow_the_invariants_layout(hh_rings):
    from sarfeat.learned_polar import feature_groups
    from sarfeat.polar_descriptor import ring_spectra

    groups = feature_groups()
    assert len(groups) == POLAR_LENGTH and groups.max() == 23
    model = LearnedPolar.identity()
    model.weights = (groups == 2).astype(float)  # only the magnitudes at frequency 2
    got = model(hh_rings)
    expected = np.abs(ring_spectra(hh_rings)[1][:, :, 1])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.abs(got[:, groups == 2] - expected).max() < 1e-5
    assert not got[:, groups != 2].any()


def test_hard_precision_counts_mutual_matches_within_3_px():
    pytest.importorskip("torch")
    from sarfeat.training.learned_polar import hard_precision

    rng = np.random.default_rng(0)
    first = rng.normal(size=(20, 8))
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    close = np.eye(20, dtype=bool)
    assert hard_precision(np.ones(8), [(first, first.copy(), close)]) == (1.0, 20)
    close[:5] = False  # five keypoints with no correspondent: their matches are wrong
    assert hard_precision(np.ones(8), [(first, first.copy(), close)]) == (0.75, 15)


def test_tuned_is_polar_reweighted_by_group(hh_rings):
    from sarfeat.learned_polar import TUNED_LOG_WEIGHTS, feature_groups

    tuned = LearnedPolar.tuned()(hh_rings)
    weighted = polar_invariants(hh_rings) * np.exp(np.array(TUNED_LOG_WEIGHTS))[feature_groups()]
    weighted /= np.linalg.norm(weighted, axis=1, keepdims=True)
    assert np.abs(tuned - weighted).max() < 1e-5
    assert np.abs(tuned - polar_invariants(hh_rings)).max() > 0.01


def test_the_v2_release_holds_the_tuned_weights_and_refuses_to_overwrite(tmp_path, hh_rings):
    import json

    from sarfeat import data
    from sarfeat.learned_polar import (
        read_polar_weighting, release_polar_weighting, weight_polar_descriptors,
        write_polar_weighting,
    )

    path = data.fetch(data.POLAR_WEIGHTINGS["sarfeat-sar-v2"])
    assert data.known_sha256(data.file_sha256(path)) == data.V2_POLAR_WEIGHTS  # registered
    released = read_polar_weighting(path)
    tuned = LearnedPolar.tuned()
    assert np.allclose(released, tuned.weights, rtol=1e-12)
    assert release_polar_weighting(None) is not None  # the default release
    assert np.array_equal(release_polar_weighting("sarfeat-sar-v2"), released)
    assert release_polar_weighting("sarfeat-sar-v1") is None
    assert release_polar_weighting(str(path)) is None  # a file is not a release
    with np.load(path, allow_pickle=False) as arrays:
        metadata = json.loads(str(arrays["metadata"]))
    assert "Shanghai" in metadata["never_used"] and metadata["release"] == "sarfeat-sar-v2"
    # weighting polar's normalised output is the tuned model on the samples themselves
    expected = tuned(hh_rings)
    assert np.abs(weight_polar_descriptors(polar_invariants(hh_rings), released)
                  - expected).max() < 1e-6
    again = write_polar_weighting(tmp_path / "again.npz")
    assert np.allclose(read_polar_weighting(again), released)
    with pytest.raises(FileExistsError):
        write_polar_weighting(again)
    with pytest.raises(ValueError, match="log weights"):
        write_polar_weighting(tmp_path / "short.npz", [0.0] * 5)


def test_the_default_detector_is_v2_and_v1_stays_loadable(hh_log):
    """Same keypoints; v2's descriptors are v1's polar descriptors reweighted, from
    detect_and_extract and from extract alike; turned by a quarter, v2 keeps its descriptors."""
    from sarfeat import SARR2D2Detector
    from sarfeat.learned_polar import release_polar_weighting, weight_polar_descriptors
    from sarfeat.weights import weight_names

    assert "sarfeat-sar-v2" in weight_names()
    image = np.exp(hh_log * 8).astype(np.float32)
    v2, v1 = SARR2D2Detector(min_size=128), SARR2D2Detector("sarfeat-sar-v1", min_size=128)
    v2.detect_and_extract(image)
    v1.detect_and_extract(image)
    np.testing.assert_array_equal(v2.keypoints, v1.keypoints)
    weighted = weight_polar_descriptors(v1.descriptors, release_polar_weighting(None))
    assert np.abs(v2.descriptors - weighted).max() < 1e-6
    assert np.abs(v2.descriptors - v1.descriptors).max() > 0.05
    v2.extract(image, v2.keypoints, v2.scales)
    assert np.abs(v2.descriptors - weighted).max() < 1e-5
    patch = SARR2D2Detector(min_size=128, descriptor="patch")
    patch.detect_and_extract(image)
    assert patch.descriptors.shape[1] == 121  # the patch is never reweighted


def test_save_killed_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    LearnedPolar.identity().save(path)

    def killed(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        LearnedPolar.tuned().save(path)
    monkeypatch.undo()
    np.testing.assert_array_equal(LearnedPolar.load(path).weights, 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]


def test_training_commands_do_not_overwrite_earlier_outputs(tmp_path, capsys):
    from sarfeat.training.learned_polar import main, train

    pool = tmp_path / "pool.npz"
    pool.write_bytes(b"an earlier pool")
    assert main(["--output", str(tmp_path / "unused"), "--pool", str(pool),
                 "--detect-warps", "1"]) == 1
    assert "not overwritten" in capsys.readouterr().err
    assert pool.read_bytes() == b"an earlier pool"
    LearnedPolar.identity().save(tmp_path / "best.npz")
    with pytest.raises(FileExistsError, match="best.npz"):
        train(tmp_path, pool, None, minutes=1e-4)


def test_from_an_installed_package_the_benchmark_helpers_say_they_need_the_checkout(
        tmp_path, monkeypatch, capsys):
    """score, hard_precision, train and search use benchmarks/, which is not installed."""
    pytest.importorskip("torch")
    from sarfeat.training import trainer
    from sarfeat.training.learned_polar import hard_precision, main, score, train

    monkeypatch.setattr(trainer, "BENCHMARKS", tmp_path / "benchmarks")  # as once installed
    needs = "needs benchmarks/eval_invariant_descriptor.py of sarfeat's source checkout"
    first = np.eye(4, dtype=np.float32)
    for call in (lambda: hard_precision(np.ones(4), [(first, first, np.eye(4, dtype=bool))]),
                 lambda: score(LearnedPolar.identity(), {}),
                 lambda: train(tmp_path / "run", tmp_path / "pool.npz", None, minutes=1e-4)):
        with pytest.raises(ModuleNotFoundError, match=needs):
            call()
    assert main(["--output", str(tmp_path / "out"), "--pool", str(tmp_path / "pool.npz"),
                 "--search"]) == 1
    assert needs in capsys.readouterr().err
