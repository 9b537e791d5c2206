"""Tests of sarfeat.checkpoint: its error type and the checkpoint formats (the paper's
notebook, a bare state dict, sarfeat's own, the full R2D2 architecture). The trust rule
for legacy pickles is tested in test_checkpoint_trust.py, damaged or unfitting files in
test_checkpoint_errors.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sarfeat import checkpoint
from sarfeat.checkpoint import CheckpointError, load_checkpoint, load_state_dict, save_checkpoint
from sarfeat.network import R2D2Net

from _checkpoint_helpers import _assert_same_outputs, _assert_same_state, _random_net


# --------------------------------------------------------------------------
# The error type
# --------------------------------------------------------------------------


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
    with pytest.raises(ValueError):
        raise CheckpointError("x")


def test_wrong_argument_types_are_named(tmp_path):
    """None as a path, or a name as the network, is a TypeError naming the argument (they
    failed deep in pathlib, or with an AttributeError on str)."""
    for call in (lambda: load_checkpoint(None), lambda: load_state_dict(None),
                 lambda: checkpoint.load_weights(None),
                 lambda: save_checkpoint(R2D2Net("fast_r2d2"), None)):
        with pytest.raises(TypeError, match="path must be a str or os.PathLike, got NoneType"):
            call()
    for name in ("net.pt", "net.npz"):
        with pytest.raises(TypeError, match="net must be a sarfeat.network.R2D2Net.*got str"):
            save_checkpoint("net", tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_public_names():
    assert {"CheckpointError", "load_checkpoint", "save_checkpoint", "load_state_dict"} <= set(
        checkpoint.__all__
    )


# --------------------------------------------------------------------------
# (b) the paper's notebook format
# --------------------------------------------------------------------------


def test_paper_notebook_format_loads(tmp_path):
    net = _random_net(seed=3)
    path = tmp_path / "notebook.pt"
    torch.save(
        {"epoch": 3, "model_state_dict": net.state_dict(), "optimizer_state_dict": {}}, path
    )
    loaded = load_checkpoint(path)
    assert loaded.architecture == "fast_r2d2"
    _assert_same_state(loaded, net.state_dict())
    _assert_same_outputs(loaded, net)
    assert loaded.metadata.get("epoch") == 3


def test_bare_state_dict_loads(tmp_path):
    net = _random_net(seed=4)
    path = tmp_path / "bare.pt"
    torch.save(net.state_dict(), path)
    loaded = load_checkpoint(path)
    _assert_same_outputs(loaded, net)


# --------------------------------------------------------------------------
# (c) sarfeat's own format
# --------------------------------------------------------------------------

METADATA = {
    "config": {
        "pyramid": {"scales": [1.0, 0.5, 0.25], "min_size": 64},
        "loss": {"name": "ap", "weights": [1, 2.5], "extra": None},
        "augment": True,
    },
    "source": "unit test",
    "version": "0.1.0",
    "steps": 3200,
}


def test_sarfeat_format_is_safe_to_load_with_weights_only(tmp_path):
    net = _random_net(seed=5)
    path = save_checkpoint(net, tmp_path / "own.pt", metadata=METADATA)
    assert Path(path) == tmp_path / "own.pt"
    content = torch.load(path, weights_only=True, map_location="cpu")
    assert content["architecture"] == "fast_r2d2"
    assert content["metadata"] == METADATA
    state = content["state_dict"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    _assert_same_state(net, state)


def test_sarfeat_format_round_trips(tmp_path):
    net = _random_net(seed=6)
    path = save_checkpoint(net, str(tmp_path / "own.pt"), metadata=METADATA)
    loaded = load_checkpoint(path)
    assert loaded.architecture == "fast_r2d2"
    assert not loaded.training
    _assert_same_state(loaded, net.state_dict())
    _assert_same_outputs(loaded, net)
    assert loaded.metadata == METADATA
    architecture, state_dict, metadata = load_state_dict(path)
    assert architecture == "fast_r2d2"
    assert metadata == METADATA
    assert set(state_dict) == set(net.state_dict())


def test_save_checkpoint_without_metadata(tmp_path):
    net = _random_net(seed=7)
    path = save_checkpoint(net, tmp_path / "own.pt")
    assert load_checkpoint(path).metadata == {}


def test_save_checkpoint_does_not_alias_or_modify_the_network(tmp_path):
    net = _random_net(seed=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    meta = {"config": {"a": [1]}}
    path = save_checkpoint(net, tmp_path / "own.pt", metadata=meta)
    loaded = load_checkpoint(path)
    with torch.no_grad():
        loaded.clf.bias.add_(1.0)
    _assert_same_state(net, before)
    assert meta == {"config": {"a": [1]}}


def test_save_checkpoint_to_npz_writes_what_load_checkpoint_reads(tmp_path):
    net = _random_net(seed=11)
    loaded = load_checkpoint(save_checkpoint(net, tmp_path / "own.npz", metadata={"run": 2}))
    assert loaded.metadata == {"run": 2}
    for name, value in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, msg=name)


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path):
    net = _random_net(seed=9)
    path = save_checkpoint(net, tmp_path / "own.pt", metadata={"run": 1})
    with pytest.raises(Exception, match="pickle"):  # fails half-way through writing
        save_checkpoint(_random_net(seed=10), path, metadata={"bad": lambda: None})
    assert load_checkpoint(path).metadata == {"run": 1}
    assert os.listdir(tmp_path) == ["own.pt"]


def test_two_writers_of_one_file_do_not_share_a_temporary_file(tmp_path):
    """A second writer of the same path, while the first is half-way, leaves both whole."""
    path = tmp_path / "w.bin"

    def first(partial):
        with open(partial, "wb") as stream:
            stream.write(b"A" * 8)
            stream.flush()
            checkpoint.write_atomically(path, lambda other: other.write_bytes(b"B" * 16))
            stream.write(b"A" * 8)

    checkpoint.write_atomically(path, first)
    assert path.read_bytes() == b"A" * 16  # the last writer's whole file, not a mix
    assert os.listdir(tmp_path) == ["w.bin"]


# --------------------------------------------------------------------------
# (d) the full R2D2 architecture
# --------------------------------------------------------------------------


def test_r2d2_round_trips_in_sarfeat_format(tmp_path):
    net = _random_net("r2d2", seed=9)
    path = save_checkpoint(net, tmp_path / "r2d2.pt", metadata={"note": "full"})
    loaded = load_checkpoint(path)
    assert loaded.architecture == "r2d2"
    _assert_same_state(loaded, net.state_dict())
    _assert_same_outputs(loaded, net)


@pytest.mark.parametrize("layout", ["original", "notebook", "bare"])
def test_r2d2_architecture_is_inferred_from_keys(tmp_path, layout):
    net = _random_net("r2d2", seed=10)
    state = net.state_dict()
    if layout == "original":
        content = {"net": "Quad_L2Net_ConfCFS()",
                   "state_dict": {"module." + k: v for k, v in state.items()}}
    elif layout == "notebook":
        content = {"epoch": 1, "model_state_dict": state, "optimizer_state_dict": {}}
    else:
        content = state
    path = tmp_path / f"r2d2_{layout}.pt"
    torch.save(content, path)
    architecture, _, _ = load_state_dict(path)
    assert architecture == "r2d2"
    loaded = load_checkpoint(path)
    assert loaded.architecture == "r2d2"
    _assert_same_outputs(loaded, net)


def test_fast_architecture_is_inferred_from_keys(tmp_path):
    net = _random_net("fast_r2d2", seed=11)
    path = tmp_path / "fast_bare.pt"
    torch.save({"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": net.state_dict()}, path)
    assert load_state_dict(path)[0] == "fast_r2d2"
