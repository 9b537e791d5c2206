"""Tests of sarfeat.checkpoint's errors: damaged, missing and unfitting files, malformed
headers and metadata, damage the zip checksums catch, the .npz format's checks, .pt files
without torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sarfeat import checkpoint
from sarfeat.checkpoint import CheckpointError, load_checkpoint, load_state_dict, save_checkpoint
from sarfeat.network import R2D2Net

from _checkpoint_helpers import _message_names, _random_net


# --------------------------------------------------------------------------
# Damaged, missing and unfitting files
# --------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    return save_checkpoint(_random_net(seed=12), tmp_path / "good.pt", metadata={"a": 1})


def _truncated(saved: Path, tmp_path: Path) -> Path:
    path = tmp_path / "truncated.pt"
    data = saved.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _random_bytes(saved: Path, tmp_path: Path) -> Path:
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    return path


def _empty(saved: Path, tmp_path: Path) -> Path:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    return path


def _text(saved: Path, tmp_path: Path) -> Path:
    path = tmp_path / "notes.pt"
    path.write_text("epoch 3: loss 0.42\nthis is not a checkpoint\n")
    return path


@pytest.mark.parametrize("make", [_truncated, _random_bytes, _empty, _text])
@pytest.mark.parametrize("trust", [False, True])
def test_damaged_file_is_a_checkpoint_error_naming_it(saved, tmp_path, make, trust):
    path = make(saved, tmp_path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, trust=trust)
    assert _message_names(error, path)
    with pytest.raises(CheckpointError):
        load_state_dict(path, trust=trust)


def test_missing_file_is_file_not_found(tmp_path):
    path = tmp_path / "nowhere" / "missing.pt"
    with pytest.raises(FileNotFoundError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)
    with pytest.raises(FileNotFoundError):
        load_state_dict(path)


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises((FileNotFoundError, CheckpointError, IsADirectoryError)):
        load_checkpoint(tmp_path)


def test_wrong_tensor_shape_is_a_checkpoint_error_naming_the_file(tmp_path):
    state = _random_net(seed=13).state_dict()
    state["ops.0.weight"] = torch.zeros(32, 1, 3, 3)  # a one-channel first layer
    path = tmp_path / "wrong_shape.pt"
    torch.save({"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": state}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


def test_missing_tensor_is_a_checkpoint_error_naming_the_file(tmp_path):
    state = _random_net(seed=14).state_dict()
    del state["sal.weight"]
    path = tmp_path / "missing_key.pt"
    torch.save({"epoch": 1, "model_state_dict": state, "optimizer_state_dict": {}}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


def test_sarfeat_file_with_mismatched_architecture_is_a_checkpoint_error(tmp_path):
    net = _random_net("r2d2", seed=15)
    path = save_checkpoint(net, tmp_path / "mislabelled.pt")
    content = torch.load(path, weights_only=True)
    content["architecture"] = "fast_r2d2"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


def test_unknown_architecture_name_is_a_checkpoint_error(tmp_path):
    path = save_checkpoint(_random_net(seed=16), tmp_path / "unknown_arch.pt")
    content = torch.load(path, weights_only=True)
    content["architecture"] = "superpoint"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


@pytest.mark.parametrize(
    "content",
    [
        {"weights": [1, 2, 3], "comment": "no known keys"},
        {},
        {"encoder.weight": torch.zeros(2, 2)},
    ],
    ids=["foreign-dict", "empty-dict", "foreign-tensors"],
)
def test_dict_without_known_keys_is_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_state_dict(path)


def test_foreign_tensor_dict_error_names_the_file(tmp_path):
    path = tmp_path / "foreign_tensors.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


@pytest.mark.parametrize(
    "content",
    [
        {"format": "sarfeat-r2d2", "format_version": 1, "architecture": "fast_r2d2"},
        {"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": 5},
        {"epoch": 3, "model_state_dict": [1, 2], "optimizer_state_dict": {}},
    ],
    ids=["sarfeat-without-state_dict", "state_dict-not-a-dict", "model_state_dict-a-list"],
)
def test_malformed_checkpoint_dict_is_a_checkpoint_error(tmp_path, content):
    path = tmp_path / "malformed.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


@pytest.mark.parametrize("content", [[1, 2, 3], torch.zeros(3), "text"],
                         ids=["list", "tensor", "str"])
def test_non_dict_content_is_a_checkpoint_error_naming_the_file(tmp_path, content):
    path = tmp_path / "not_a_dict.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)


# --------------------------------------------------------------------------
# Malformed headers and metadata of sarfeat's own format
# --------------------------------------------------------------------------


def _sarfeat_payload(**changes) -> dict:
    payload = {
        "format": checkpoint.FORMAT_NAME,
        "format_version": checkpoint.FORMAT_VERSION,
        "architecture": "fast_r2d2",
        "state_dict": _random_net(seed=21).state_dict(),
        "metadata": {"detector": {"reliability_threshold": 0.5}},
    }
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (dict(format_version="1"), "format_version"),
        (dict(format_version=True), "format_version"),
        (dict(format_version=0), "format_version"),
        (dict(format_version=1.5), "format_version"),
        (dict(format_version=checkpoint.FORMAT_VERSION + 1), "newer sarfeat"),
        (dict(metadata=["not", "a", "dict"]), "metadata"),
        (dict(metadata={"detector": 0.7}), "detector"),
        (dict(metadata={"detector": {"reliability_threshold": -1}}), r"\[0, 1\]"),
        (dict(metadata={"detector": {"repeatability_threshold": 1.5}}), r"\[0, 1\]"),
        (dict(metadata={"detector": {"repeatability_threshold": "high"}}), r"\[0, 1\]"),
        (dict(architecture="resnet"), "architecture"),
        (dict(architecture=3), "architecture"),
        (dict(state_dict=None), "state dict"),
    ],
)
def test_malformed_sarfeat_checkpoint_is_a_checkpoint_error(tmp_path, changes, match):
    path = tmp_path / "malformed.pt"
    torch.save(_sarfeat_payload(**changes), path)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_non_finite_parameters_are_a_checkpoint_error(tmp_path):
    state = _random_net(seed=22).state_dict()
    state["ops.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(_sarfeat_payload(state_dict=state), path)
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(path)


def test_valid_thresholds_are_kept(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save(_sarfeat_payload(), path)
    assert load_checkpoint(path).metadata["detector"]["reliability_threshold"] == 0.5


# -- damage the zip checksums catch; the .npz format; torch as an extra ---------------------------


def test_a_bit_flip_inside_a_checkpoint_is_a_checkpoint_error(saved, tmp_path):
    """torch.load reads a flipped bit silently; the zip's CRC-32 does not."""
    content = bytearray(saved.read_bytes())
    content[len(content) // 2] ^= 0x01
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="CRC-32|damaged"):
        load_checkpoint(flipped)


def test_npz_weights_round_trip_with_the_same_bytes(tmp_path):
    from sarfeat.checkpoint import load_weights, save_weights
    from sarfeat.network import network_from_weights, weights_of_network

    net = _random_net(seed=3)
    net.metadata = {"detector": {"reliability_threshold": 0.6}}
    first = save_weights(weights_of_network(net), tmp_path / "a.npz")
    read = load_weights(first)
    assert read.metadata == net.metadata and read.architecture == net.architecture
    second = save_weights(read, tmp_path / "b.npz")
    assert first.read_bytes() == second.read_bytes()
    rebuilt = network_from_weights(read)
    for key, value in net.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value)
    assert isinstance(load_checkpoint(first), R2D2Net)


@pytest.mark.parametrize("damage", ["truncate", "flip", "shape"])
def test_damaged_npz_weights_are_a_checkpoint_error(tmp_path, damage):
    import numpy as np

    from sarfeat.checkpoint import load_weights, save_weights
    from sarfeat.network import weights_of_network

    weights = weights_of_network(_random_net(seed=4))
    if damage == "shape":
        weights.state["ops.0.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    path = save_weights(weights, tmp_path / "w.npz")
    content = bytearray(path.read_bytes())
    if damage == "truncate":
        content = content[: len(content) // 2]
    elif damage == "flip":
        content[len(content) // 3] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError):
        load_weights(path)


@pytest.mark.parametrize("architecture", [["fast_r2d2"], {"name": "r2d2"}, None, 3])
def test_npz_header_with_a_malformed_architecture_is_a_checkpoint_error(tmp_path, architecture):
    import json

    import numpy as np

    from sarfeat.checkpoint import NPZ_HEADER, load_weights
    from sarfeat.network import weights_of_network

    state = weights_of_network(_random_net(seed=5)).state
    header = {"format": "sarfeat-r2d2", "format_version": 1, "architecture": architecture}
    path = tmp_path / "w.npz"
    np.savez(path, **state, **{NPZ_HEADER: np.array(json.dumps(header))})
    with pytest.raises(CheckpointError, match="architecture"):
        load_weights(path)


@pytest.mark.parametrize("dtype", ["complex64", "int32", "bool", "<U16"])
def test_npz_weights_of_a_non_float_dtype_are_a_checkpoint_error(tmp_path, dtype):
    """The right names and shapes but, say, complex or text values are refused when read."""
    from sarfeat.architecture import NetworkWeights
    from sarfeat.checkpoint import load_weights, save_weights
    from sarfeat.network import weights_of_network

    weights = weights_of_network(_random_net(seed=6))
    state = dict(weights.state, **{"clf.bias": weights.state["clf.bias"].astype(dtype)})
    path = save_weights(NetworkWeights(weights.architecture, state, {}), tmp_path / "w.npz")
    with pytest.raises(CheckpointError, match=r"clf\.bias"):
        load_weights(path)


def test_pt_files_without_torch_name_the_extra(saved, monkeypatch):
    import sys

    from sarfeat.checkpoint import load_weights

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ImportError, match=r"sarfeat\[train\]"):
        load_weights(saved)
