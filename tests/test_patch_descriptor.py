"""The experimental learned patch descriptor (sarfeat.patch_descriptor) and its training."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from sarfeat.patch_descriptor import (
    PATCH_PIXELS, LearnedPatchDescriptor, PatchNet, keypoint_patches,
)
from sarfeat.training.patch_descriptor import hardnet_loss, patch_pairs


def test_patchnet_gives_unit_vectors_invariant_to_gain_and_offset():
    torch.manual_seed(0)
    net = PatchNet().eval()
    patches = torch.rand(5, 1, PATCH_PIXELS, PATCH_PIXELS)
    with torch.no_grad():
        out = net(patches)
        again = net(3.0 * patches + 2.0)  # a gain and an offset in the log image
    assert out.shape == (5, 128)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(out, again, atol=1e-4, rtol=1e-4)
    assert 1e5 < sum(p.numel() for p in net.parameters()) < 3e5


def test_hardnet_loss_rewards_matching_pairs():
    noise = torch.randn(32, 128, generator=torch.Generator().manual_seed(0))
    anchors = torch.nn.functional.normalize(noise, dim=1)
    matched = hardnet_loss(anchors, anchors)
    shuffled = hardnet_loss(anchors, anchors.roll(1, 0))
    assert matched < 0.2 < 1.0 < shuffled


def test_keypoint_patches_follow_orientation(airsar_cube):
    from sarfeat import normalize_sar

    gray = normalize_sar(airsar_cube[..., 0]).image
    keypoints = np.array([[128.0, 128.0]])
    upright = keypoint_patches(gray, keypoints, np.array([32.0]), np.zeros(1))
    quarter = keypoint_patches(np.ascontiguousarray(np.rot90(gray)), np.array([[127.0, 128.0]]),
                               np.array([32.0]), np.array([-np.pi / 2]))
    assert upright.shape == (1, PATCH_PIXELS, PATCH_PIXELS)
    assert np.corrcoef(upright.ravel(), quarter.ravel())[0, 1] > 0.95


def test_patch_pairs_are_aligned_cross_channel_patches(airsar_cube):
    first, second = patch_pairs([np.ascontiguousarray(airsar_cube[:160, :160])], warps=2, seed=0)
    assert first.shape == second.shape and first.shape[1:] == (PATCH_PIXELS, PATCH_PIXELS)
    assert len(first) > 20
    a = first.reshape(len(first), -1).astype(np.float32)
    b = second.reshape(len(second), -1).astype(np.float32)
    positive = np.median((a * b).sum(1))
    negative = np.median((a * np.roll(b, 7, axis=0)).sum(1))
    assert positive > 0.4 and positive > negative + 0.2


def test_learned_descriptor_describes_keypoints(airsar_cube, tmp_path):
    from sarfeat import normalize_sar

    net = PatchNet()
    path = tmp_path / "net.pt"
    torch.save({"config": {"width": net.width, "dim": net.dim}, "state_dict": net.state_dict()},
               path)
    descriptor = LearnedPatchDescriptor.load(path)
    gray = normalize_sar(airsar_cube[..., 0]).image
    out = descriptor.describe(gray, np.array([[60.0, 70.0], [100.0, 90.0]]),
                              np.array([32.0, 45.25]), np.array([0.3, -2.0]))
    assert out.shape == (2, 128) and out.dtype == np.float32
    assert descriptor.describe(gray, np.zeros((0, 2)), np.zeros(0), np.zeros(0)).shape == (0, 128)


def _patch_pool(folder, warps=400, seed=0, record=True):
    """A pair pool of random patches in ``folder``, as made from no scene (``train(.., [])``)."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    made_with = {"made_with": json.dumps({"scenes": 0, "warps": warps, "seed": seed})}
    np.savez(folder / "pairs.npz", first=rng.random((32, 16, 16)).astype(np.float16),
             second=rng.random((32, 16, 16)).astype(np.float16), **(made_with if record else {}))


def test_resume_refuses_other_options_but_not_more_minutes(tmp_path):
    from sarfeat.training.patch_descriptor import train

    _patch_pool(tmp_path / "run")
    train(tmp_path / "run", [], minutes=1e-4, batch=8, width=4)
    with pytest.raises(ValueError, match="batch: 8 -> 16"):
        train(tmp_path / "run", [], minutes=1e-4, batch=16, width=4)
    train(tmp_path / "run", [], minutes=2e-4, batch=8, width=4)


@pytest.mark.parametrize(("options", "record", "changed"), [
    ({"warps": 50}, True, "warps: 50 -> 400"), ({"seed": 3}, True, "seed: 3 -> 0"),
    ({}, False, "not recorded")])
def test_a_pool_made_with_other_options_is_refused(tmp_path, options, record, changed):
    """A run that died before its first last.pt left the pool: nothing else checks it."""
    from sarfeat.training.patch_descriptor import train

    _patch_pool(tmp_path / "run", record=record, **options)
    with pytest.raises(ValueError, match=re.escape(f"other options ({changed}")):
        train(tmp_path / "run", [], minutes=1e-4, batch=8, width=4)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_new_pool_records_what_it_was_made_with(tmp_path, monkeypatch):
    from sarfeat.training import patch_descriptor

    pool = np.zeros((4, 16, 16), np.float16)
    monkeypatch.setattr(patch_descriptor, "patch_pairs", lambda *a, **k: (pool, pool))
    patch_descriptor.train(tmp_path / "run", [], minutes=1e-4, batch=4, width=4, warps=7)
    (tmp_path / "run" / "last.pt").unlink()  # as if it had died before its first state
    with pytest.raises(ValueError, match="warps: 7 -> 8"):
        patch_descriptor.train(tmp_path / "run", [], minutes=1e-4, batch=4, width=4, warps=8)
    patch_descriptor.train(tmp_path / "run", [], minutes=1e-4, batch=4, width=4, warps=7)


def test_pair_pool_killed_while_writing_leaves_no_file(tmp_path, monkeypatch):
    from sarfeat.training import patch_descriptor

    pool = np.zeros((4, 16, 16), np.float16)
    monkeypatch.setattr(patch_descriptor, "patch_pairs", lambda *a, **k: (pool, pool))

    def killed(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        patch_descriptor.train(tmp_path / "run", [], minutes=1e-4, batch=4, width=4)
    assert not (tmp_path / "run" / "pairs.npz").exists()
