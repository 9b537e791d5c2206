"""sarfeat.weights: one rule for turning a ``weights`` argument into a network.

The security property first: a registry name is never looked up in the working
directory, so a file planted there cannot replace sarfeat's default weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sarfeat import SARR2D2Detector, data
from sarfeat.architecture import NetworkWeights
from sarfeat.checkpoint import load_checkpoint, load_weights, save_checkpoint
from sarfeat.network import R2D2Net
from sarfeat.parallel import _worker
from sarfeat.weights import (
    DEFAULT_WEIGHTS, absolute_weights, check_weights, resolve_network_weights, resolve_weights,
    weight_names,
)


def _first_weight(net) -> torch.Tensor:
    """The first convolution's weights of an R2D2Net or a NetworkWeights."""
    if isinstance(net, NetworkWeights):
        return torch.from_numpy(net.state["ops.0.weight"])
    return net.state_dict()["ops.0.weight"]


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(data.fetch(data.DEFAULT_WEIGHTS))


@pytest.fixture()
def planted(tmp_path, monkeypatch):
    """A working directory holding other weights under the default's names."""
    torch.manual_seed(0)
    impostor = R2D2Net("fast_r2d2").eval()
    (tmp_path / "weights").mkdir()
    for name in ("sarfeat-sar-v1", "weights/sarfeat-sar-v1.pt", "weights/faster2d2_WASF_N16.pt"):
        save_checkpoint(impostor, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return impostor


def test_default_is_defined_once():
    assert DEFAULT_WEIGHTS is data.DEFAULT_WEIGHTS
    assert "sarfeat-sar-v1" in weight_names() and DEFAULT_WEIGHTS in weight_names()
    assert not any(name.startswith("sar_pairs/") for name in weight_names())


@pytest.mark.parametrize("name", [None, "sarfeat-sar-v1", "weights/sarfeat-sar-v1.pt"])
def test_registry_names_ignore_the_working_directory(planted, bundled, name):
    net = resolve_weights(name)
    assert torch.equal(_first_weight(net), _first_weight(bundled))
    assert not torch.equal(_first_weight(net), _first_weight(planted))


def test_detector_and_workers_ignore_the_working_directory(planted, bundled):
    detector_net = SARR2D2Detector(upright=True)._load_net()
    worker_net = _worker.network("sarfeat-sar-v1")
    for net in (detector_net, worker_net):
        assert torch.equal(_first_weight(net), _first_weight(bundled))
    # rotation invariant: the bundled network distilled from them, not a planted file either
    turned_net = SARR2D2Detector()._load_net()
    assert turned_net.architecture == "keypoint_maps"
    assert torch.equal(_first_weight(turned_net),
                       _first_weight(resolve_weights("sarfeat-sar-v1-turned-maps")))


def test_explicit_paths_read_the_file(planted):
    """A Path, or a string that is no registry name, is a file: that is how to load one."""
    for weights in (Path("sarfeat-sar-v1"), "./sarfeat-sar-v1", Path("weights/sarfeat-sar-v1.pt")):
        assert torch.equal(_first_weight(resolve_weights(weights)), _first_weight(planted))
    # the workers keep a Path and the registry name of the same spelling apart
    by_path = _worker.network(Path("sarfeat-sar-v1").resolve())
    assert torch.equal(_first_weight(by_path), _first_weight(planted))


def test_absolute_weights_makes_only_paths_absolute(planted, tmp_path):
    """What goes to Dask workers: a relative file is the caller's, a registry name a name."""
    assert absolute_weights("sarfeat-sar-v1") == "sarfeat-sar-v1"
    assert absolute_weights(None) is None and absolute_weights(planted) is planted
    assert absolute_weights("./sarfeat-sar-v1") == str(tmp_path / "sarfeat-sar-v1")
    path = absolute_weights(Path("sarfeat-sar-v1"))  # a Path stays a file, not the name
    assert path == tmp_path / "sarfeat-sar-v1" and isinstance(path, Path)
    assert torch.equal(_first_weight(resolve_weights(path)), _first_weight(planted))


def test_network_passes_through():
    net = R2D2Net("fast_r2d2")
    assert resolve_weights(net) is net


def test_unknown_name_lists_the_valid_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = r"'sarfeat-sar-v1'.*'sarfeat-sar-v2'.*'weights/faster2d2_WASF_N16.pt'"
    with pytest.raises(FileNotFoundError, match=listed):
        check_weights("sarfeat-sar-v3")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_weights(tmp_path / "missing.pt")


@pytest.mark.parametrize("weights", [torch.nn.Conv2d(1, 1, 1), 3, np.zeros(3)])
def test_wrong_types_raise_type_error(weights):
    with pytest.raises(TypeError, match="R2D2Net"):
        check_weights(weights)


def test_check_loads_nothing(monkeypatch):
    """check_weights is cheap enough for __init__: it never reads a checkpoint."""
    import sarfeat.weights as weights_module

    def fail(*args, **kwargs):
        raise AssertionError("check_weights loaded a checkpoint")

    monkeypatch.setattr(weights_module, "load_checkpoint", fail)
    for weights in (None, "sarfeat-sar-v1", DEFAULT_WEIGHTS, "weights/r2d2_WASF_N16.pt"):
        check_weights(weights)
    SARR2D2Detector("weights/r2d2_WASF_N16.pt")  # a valid name, not fetched yet


# -- the .npz weights: readable without torch, never stale -----------------------------------------


@pytest.mark.parametrize("pt_name", sorted(data.NPZ_WEIGHTS))
def test_bundled_npz_weights_hold_the_checkpoint_values(pt_name):
    """Each bundled .npz has the values and metadata of its .pt (both registered)."""
    from sarfeat.network import weights_of_network

    from_npz = load_weights(data.fetch(data.NPZ_WEIGHTS[pt_name]))
    from_pt = weights_of_network(load_checkpoint(data.fetch(pt_name)))
    assert from_npz.architecture == from_pt.architecture
    assert from_npz.metadata == from_pt.metadata
    assert from_npz.values_hash() == from_pt.values_hash()
    assert resolve_network_weights(pt_name).values_hash() == from_pt.values_hash()


def test_registered_weights_resolve_without_importing_torch():
    import subprocess
    import sys

    script = ("import sys; from sarfeat.weights import resolve_network_weights; "
              "w = resolve_network_weights('sarfeat-sar-v1'); "
              "assert w.architecture == 'fast_r2d2'; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_network_and_its_weights_resolve_to_each_other(bundled):
    as_weights = resolve_network_weights(bundled)
    assert isinstance(as_weights, NetworkWeights)
    back = resolve_weights(as_weights)
    assert isinstance(back, R2D2Net) and back.metadata == bundled.metadata
    assert torch.equal(_first_weight(back), _first_weight(bundled))
