"""Tests of sarfeat.checkpoint's trust rule for legacy pickles: NAVER's registered
original checkpoint loads without trust, an unknown legacy pickle only with it."""

from __future__ import annotations

import pickle
import shutil
from collections import OrderedDict

import pytest
import torch

from sarfeat.checkpoint import CheckpointError, load_checkpoint, load_state_dict
from sarfeat.data import file_sha256, known_sha256
from sarfeat.network import R2D2Net

from _checkpoint_helpers import (TRIPWIRE_CALLS, TrainingArgs, _assert_same_outputs,
                                 _assert_same_state, _fixed_input, _legacy_save,
                                 _message_names, _outputs, _random_net)

NAVER = "weights/faster2d2_WASF_N16.pt"


# --------------------------------------------------------------------------
# NAVER's original checkpoint (legacy pickle, registered sha256)
# --------------------------------------------------------------------------


@pytest.fixture
def naver_path(require_data):
    return require_data(NAVER)


@pytest.fixture
def naver_raw(naver_path):
    """The file read with full unpickling, as the original R2D2 code does."""
    return torch.load(naver_path, weights_only=False, map_location="cpu")


def test_naver_file_is_a_registered_legacy_pickle(naver_path):
    assert known_sha256(file_sha256(naver_path)) == NAVER
    # Not a zip archive: a legacy pickle, which weights_only=True refuses, so
    # load_checkpoint can only have read it through the registry rule.
    with open(naver_path, "rb") as stream:
        assert stream.read(2) != b"PK"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(naver_path, weights_only=True, map_location="cpu")


def test_naver_checkpoint_loads_without_trust(naver_path, naver_raw):
    net = load_checkpoint(naver_path)
    assert isinstance(net, R2D2Net)
    assert net.architecture == "fast_r2d2"
    assert not net.training
    assert net.metadata.get("net") == naver_raw["net"] == "Fast_Quad_L2Net_ConfCFS()"
    # Key names are those of the file, without renaming.
    assert set(net.state_dict()) == set(naver_raw["state_dict"])
    _assert_same_state(net, dict(naver_raw["state_dict"]))


def test_naver_fixture_is_the_same_network(naver_net, naver_raw):
    _assert_same_state(naver_net, dict(naver_raw["state_dict"]))


def test_naver_output_matches_manual_load(naver_path, naver_raw):
    reference = R2D2Net("fast_r2d2")
    reference.load_state_dict(naver_raw["state_dict"])
    reference.eval()
    net = load_checkpoint(naver_path)
    x = _fixed_input(40, 36)
    _assert_same_outputs(net, reference, x)
    # And the weights do something: outputs differ from a random network's.
    other = _outputs(R2D2Net("fast_r2d2").eval(), x)["reliability"]
    assert (other - _outputs(net, x)["reliability"]).abs().max() > 1e-3


def test_naver_state_dict_via_load_state_dict(naver_path):
    architecture, state_dict, metadata = load_state_dict(naver_path)
    assert architecture == "fast_r2d2"
    assert "ops.10.weight" in state_dict and "clf.weight" in state_dict
    assert metadata == {"net": "Fast_Quad_L2Net_ConfCFS()"}


def test_registry_rule_follows_content_not_location(naver_path, tmp_path):
    copy = shutil.copyfile(naver_path, tmp_path / "renamed.pt")
    net = load_checkpoint(copy)
    assert net.architecture == "fast_r2d2"


def test_truncated_legacy_checkpoint_is_a_checkpoint_error(naver_path, tmp_path):
    damaged = tmp_path / "half_naver.pt"
    data = naver_path.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    for trust in (False, True):
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(damaged, trust=trust)
        assert _message_names(error, damaged)


# --------------------------------------------------------------------------
# (a) original format, 'module.' prefixes, untrusted legacy pickle
# --------------------------------------------------------------------------


@pytest.fixture
def untrusted_legacy(tmp_path):
    net = _random_net(seed=1)
    state = OrderedDict(("module." + k, v) for k, v in net.state_dict().items())
    content = {
        "net": "Fast_Quad_L2Net_ConfCFS()",
        "state_dict": state,
        "args": TrainingArgs("lr=1e-4"),
    }
    path = _legacy_save(content, tmp_path / "untrusted_legacy.pt")
    TRIPWIRE_CALLS.clear()
    return net, path


def test_untrusted_legacy_file_really_needs_full_unpickling(untrusted_legacy):
    _, path = untrusted_legacy
    # Guard for the tests below: weights_only=True must refuse the file.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True, map_location="cpu")
    assert TRIPWIRE_CALLS == []
    content = torch.load(path, weights_only=False, map_location="cpu")
    assert content["args"] == TrainingArgs("lr=1e-4")
    assert TRIPWIRE_CALLS == ["lr=1e-4"]
    assert known_sha256(file_sha256(path)) is None


def test_untrusted_legacy_file_is_refused_without_trust(untrusted_legacy):
    _, path = untrusted_legacy
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert _message_names(error, path)
    assert "trust" in str(error.value)
    # Nothing from the file was run.
    assert TRIPWIRE_CALLS == []
    with pytest.raises(CheckpointError):
        load_state_dict(path)
    assert TRIPWIRE_CALLS == []


def test_untrusted_legacy_file_loads_with_trust(untrusted_legacy):
    net, path = untrusted_legacy
    loaded = load_checkpoint(path, trust=True)
    assert loaded.architecture == "fast_r2d2"
    # 'module.' prefixes are gone, every tensor is the saved one.
    assert not any(k.startswith("module.") for k in loaded.state_dict())
    _assert_same_state(loaded, net.state_dict())
    _assert_same_outputs(loaded, net)
    assert loaded.metadata.get("net") == "Fast_Quad_L2Net_ConfCFS()"


def test_original_format_zip_file_loads_without_trust(tmp_path):
    """The original layout without foreign objects is safe: no trust needed."""
    net = _random_net(seed=2)
    state = {"module." + k: v for k, v in net.state_dict().items()}
    path = tmp_path / "original_zip.pt"
    torch.save({"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": state}, path)
    loaded = load_checkpoint(path)
    _assert_same_outputs(loaded, net)
