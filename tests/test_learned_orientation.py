"""The experimental learned orientation (sarfeat.learned_orientation) and its training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarfeat.learned_orientation import (
    ORI_PIXELS, LearnedOrientation, orientation_patches,
)
from sarfeat.orientation import ORIENTATION_SIGMA, LevelSteering
from sarfeat.training.orientation import (
    CorrespondencePairs, OrientationNet, OrientationPairs, export_npz, pair_loss,
    turned_descriptors,
)


def _wrapped(angle):
    return np.abs((np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi)


@pytest.fixture(scope="module")
def gray(airsar_cube):
    from sarfeat import normalize_sar

    return np.ascontiguousarray(normalize_sar(airsar_cube[..., 0]).image, np.float32)


@pytest.fixture(scope="module")
def positions():
    rng = np.random.default_rng(0)
    return rng.uniform(50, 200, 40).round(), rng.uniform(50, 200, 40).round()


def _random_net(seed: int = 0) -> OrientationNet:
    torch.manual_seed(seed)
    net = OrientationNet(skip=False)
    for module in net.modules():  # a conv path that matters (the default starts it at zero)
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.1)
    return net.eval()


def test_numpy_regressor_matches_torch_on_real_patches(gray, positions, tmp_path):
    net = _random_net()
    export_npz(net, tmp_path / "ori.npz")
    orienter = LearnedOrientation.load(tmp_path / "ori.npz")
    patches = orientation_patches(gray, *positions)
    with torch.no_grad():
        expected = net(torch.from_numpy(patches)[:, None]).numpy()
    np.testing.assert_allclose(orienter.regressor.vectors(patches), expected, atol=1e-4)
    assert orienter.regressor.parameter_count == sum(p.numel() for p in net.parameters())


def test_gradient_initialised_net_gives_the_gradient_orientation(gray, positions, tmp_path):
    export_npz(OrientationNet(), tmp_path / "ori.npz")
    learned = LearnedOrientation.load(tmp_path / "ori.npz")(gray, *positions)
    gradient = LevelSteering(gray, ORIENTATION_SIGMA * 32).orientations(*positions)
    errors = np.degrees(_wrapped(learned - gradient))
    assert np.median(errors) < 3 and errors.max() < 15  # measured: 1.1 and 7.9 degrees


def test_quarter_turn_average_is_exactly_equivariant(gray, positions, tmp_path):
    from sarfeat.orientation import turn_positions

    export_npz(_random_net(), tmp_path / "ori.npz")
    plain = LearnedOrientation.load(tmp_path / "ori.npz")
    averaged = LearnedOrientation.load(tmp_path / "ori.npz", turns=4)
    turned = np.ascontiguousarray(np.rot90(gray))
    turned_positions = turn_positions(*positions, gray.shape, 1)
    # a counter-clockwise quarter turn (as displayed) subtracts pi / 2
    exact = _wrapped(averaged(turned, *turned_positions) - averaged(gray, *positions) + np.pi / 2)
    assert exact.max() < 1e-3
    loose = _wrapped(plain(turned, *turned_positions) - plain(gray, *positions) + np.pi / 2)
    assert loose.max() > 0.1  # the plain regressor is not equivariant by itself


def test_detector_takes_a_learned_orientation(gray, airsar_cube, tmp_path):
    from sarfeat import SARR2D2Detector

    export_npz(OrientationNet(), tmp_path / "ori.npz")
    image = airsar_cube[:128, :128, 0]
    gradient = SARR2D2Detector(min_size=128)
    learned = SARR2D2Detector(min_size=128, orientation=str(tmp_path / "ori.npz"))
    gradient.detect_and_extract(image)
    learned.detect_and_extract(image)
    np.testing.assert_array_equal(learned.keypoints, gradient.keypoints)
    errors = np.degrees(_wrapped(learned.orientations - gradient.orientations))
    assert np.median(errors) < 5 and not np.array_equal(learned.orientations,
                                                        gradient.orientations)
    with pytest.raises(FileNotFoundError):
        SARR2D2Detector(orientation=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError):
        SARR2D2Detector(orientation="sift")


@pytest.mark.parametrize("sampler", ["synthetic", "correspondences"])
def test_training_pairs_agree_under_the_known_turns(airsar_cube, sampler):
    cube = np.ascontiguousarray(airsar_cube[:160, :160])
    if sampler == "synthetic":
        pairs = OrientationPairs([cube], seed=0, keypoints=[np.array([[80.0, 80.0]])])
    else:  # the detector's own keypoints on both sides of random warps
        pairs = CorrespondencePairs([cube], warps=2, seed=0)
        assert len(pairs) >= 8
    batch = pairs.batch(64, context=True)
    first, second, psi1, psi2, context1, context2 = batch
    assert first.shape == (64, 1, ORI_PIXELS, ORI_PIXELS)
    # read at the turns that undo each side's grid, the two sides' descriptors agree
    back1 = torch.stack([torch.cos(-psi1), torch.sin(-psi1)], dim=1)
    back2 = torch.stack([torch.cos(-psi2), torch.sin(-psi2)], dim=1)
    aligned = (turned_descriptors(context1, back1) * turned_descriptors(context2, back2)).sum(1)
    crossed = (turned_descriptors(context1, back1) * turned_descriptors(context2, back1)).sum(1)
    assert aligned.median() > 0.5 and aligned.median() > crossed.median() + 0.3
    # the gradient-initialised net's loss is finite and has gradients
    net = OrientationNet()
    loss = pair_loss(net, batch, "both")
    loss.backward()
    assert torch.isfinite(loss) and net.head.weight.grad.abs().sum() > 0


def test_orientation_training_validates_on_the_held_out_scenes(tmp_path, monkeypatch):
    from sarfeat.training import orientation

    built = []

    class Recorded(orientation.OrientationPairs):
        def __init__(self, cubes, seed=0, respeckled=2, keypoints=None):
            built.append(cubes)
            super().__init__(cubes, seed, respeckled, [np.zeros((0, 2))] * len(cubes))

    rng = np.random.default_rng(0)
    scene, held = (rng.gamma(1.0, 1.0, (128, 128, 2)).astype(np.float32) for _ in range(2))
    monkeypatch.setattr(orientation, "OrientationPairs", Recorded)
    orientation.train(tmp_path / "run", [scene], minutes=1e-4, batch=32, held_out=[held])
    assert [len(cubes) for cubes in built] == [1, 1] and built[1][0] is held
