"""The learned rotation-invariant descriptor (sarfeat.invariant_descriptor) and its training.

No weights are bundled (the trained networks matched below the polar descriptor,
see the module's docstring): the network here is a seeded random one, which
is invariant by construction just the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.invariant_descriptor import InvariantNet, invariant_descriptors


def _random_net(seed: int = 0, widths=(8, 8), taps: int = 5, frequencies: int = 8,
                uses_polar: bool = False, dim: int = 16) -> InvariantNet:
    rng = np.random.default_rng(seed)
    arrays, width = {"config": np.array([frequencies, int(uses_polar)])}, 6
    for index, out in enumerate(widths):
        arrays[f"conv{index}.weight"] = rng.normal(0, 0.3, (out, width, taps))
        arrays[f"conv{index}.bias"] = rng.normal(0, 0.1, out)
        width = out
    features = width * (frequencies + 1) + (378 if uses_polar else 0)
    arrays["head0.weight"] = rng.normal(0, 0.1, (dim, features))
    arrays["head0.bias"] = np.zeros(dim)
    return InvariantNet(arrays)


@pytest.fixture(scope="module")
def hh_log(airsar_cube):
    """The AIRSAR HH channel as the detector sees it: normalised log intensity."""
    from sarfeat import normalize_sar

    return normalize_sar(airsar_cube[..., 0]).image.astype(np.float32)


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_quarter_turns_leave_descriptors_unchanged(hh_log, turns):
    from sarfeat.orientation import turn_positions

    net = _random_net()
    rng = np.random.default_rng(0)
    rows, cols = rng.uniform(40, 215, (2, 100))
    scales = np.repeat([32.0, 64.0], 50)  # levels 1 and 0.5
    first = invariant_descriptors(hh_log, np.column_stack([rows, cols]), scales, net)
    turned = np.ascontiguousarray(np.rot90(hh_log, turns))
    t_rows, t_cols = turn_positions(rows, cols, hh_log.shape, turns)
    second = invariant_descriptors(turned, np.column_stack([t_rows, t_cols]), scales, net)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.abs(first - second).max() < 1e-4
    # and not constant: each keypoint's nearest descriptor on the turned image is its own
    assert np.mean((first @ second.T).argmax(axis=1) == np.arange(100)) > 0.9


def test_numpy_forward_equals_the_trained_torch_module(tmp_path):
    torch = pytest.importorskip("torch")
    from sarfeat.invariant_descriptor import normalised_samples
    from sarfeat.polar_descriptor import polar_invariants
    from sarfeat.training.invariant_descriptor import InvariantModule, export

    samples = np.random.default_rng(1).random((7, 6, 32))
    for options in ({"widths": (8, 8)}, {"widths": (8,), "uses_polar": True, "hidden": 16},
                    {"widths": (), "uses_polar": True, "hidden": 16}):
        torch.manual_seed(0)
        module = InvariantModule(**options).eval()
        net = InvariantNet.load(export(module, tmp_path / "w.npz"))
        polar = torch.from_numpy(polar_invariants(samples)) if module.uses_polar else None
        with torch.no_grad():
            expected = module(torch.from_numpy(normalised_samples(samples)), polar).numpy()
        assert np.allclose(net(samples), expected, atol=1e-5)


def test_masked_loss_spares_pairs_of_the_same_place():
    torch = pytest.importorskip("torch")
    from sarfeat.training.invariant_descriptor import masked_hardnet_loss
    from sarfeat.training.patch_descriptor import hardnet_loss

    anchors = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator()
                                                        .manual_seed(0)), dim=1)
    positives = anchors.clone()
    positives[1] = anchors[0]  # pair 1 is the same place as pair 0: a false negative of 0
    none = torch.zeros(6, 6, dtype=torch.bool)
    assert torch.isclose(masked_hardnet_loss(anchors, positives, none),
                         hardnet_loss(anchors, positives))
    near = none.clone()
    near[0, 1] = near[1, 0] = True
    assert masked_hardnet_loss(anchors, positives, near) < hardnet_loss(anchors, positives)
