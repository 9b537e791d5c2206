"""Tests of sarfeat.checkpoint: the three checkpoint formats, the trust rule
for legacy pickles, and the errors for damaged or unfitting files."""

from __future__ import annotations

import os
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from sarfeat import checkpoint
from sarfeat.checkpoint import CheckpointError, load_checkpoint, load_state_dict, save_checkpoint
from sarfeat.data import file_sha256, known_sha256
from sarfeat.network import R2D2Net

NAVER = "weights/faster2d2_WASF_N16.pt"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

#: Calls of :func:`_tripwire` made while unpickling (arbitrary code ran).
TRIPWIRE_CALLS: list[str] = []


def _tripwire(tag: str) -> "TrainingArgs":
    TRIPWIRE_CALLS.append(tag)
    return TrainingArgs(tag)


class TrainingArgs:
    """A plain Python object, as training scripts store their arguments.

    ``torch.load(weights_only=True)`` refuses it; unpickling it calls
    :func:`_tripwire`, which records that code from the file was run.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self):
        return (_tripwire, (self.tag,))

    def __eq__(self, other) -> bool:
        return isinstance(other, TrainingArgs) and other.tag == self.tag


def _random_net(architecture: str = "fast_r2d2", seed: int = 0) -> R2D2Net:
    """A random network with non-trivial BN statistics, in eval mode."""
    torch.manual_seed(seed)
    net = R2D2Net(architecture)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.25, 2.0)
                module.num_batches_tracked.fill_(1234)
    return net.eval()


def _fixed_input(height: int = 32, width: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(42)
    return torch.randn(1, 3, height, width, generator=generator)


def _outputs(net: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return net.eval()(x)


def _assert_same_outputs(a: torch.nn.Module, b: torch.nn.Module, x=None) -> None:
    x = _fixed_input() if x is None else x
    out_a, out_b = _outputs(a, x), _outputs(b, x)
    assert set(out_a) == set(out_b)
    for name in out_a:
        torch.testing.assert_close(out_a[name], out_b[name], rtol=0, atol=0, msg=name)


def _assert_same_state(net: torch.nn.Module, state_dict: dict) -> None:
    own = net.state_dict()
    assert set(own) == set(state_dict)
    for key, value in state_dict.items():
        torch.testing.assert_close(own[key], value, rtol=0, atol=0, msg=key)


def _message_names(error: pytest.ExceptionInfo, path: Path) -> bool:
    return str(path) in str(error.value)


def _legacy_save(obj, path: Path) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    return path


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


@pytest.mark.parametrize("content", [[1, 2, 3], torch.zeros(3), "text"], ids=["list", "tensor", "str"])
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
