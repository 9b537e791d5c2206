"""What the checkpoint tests share (test_checkpoint*.py): random networks with non-trivial
statistics, comparisons of outputs and states, legacy pickles, and a training-arguments
object whose unpickling trips a wire (code from the file ran)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sarfeat.network import R2D2Net

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

