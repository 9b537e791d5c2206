"""Reading and writing network checkpoints.

Three formats are read:

- sarfeat's own: ``{'format': 'sarfeat-r2d2', 'format_version': 1,
  'architecture': 'fast_r2d2' | 'r2d2', 'state_dict': ..., 'metadata': ...}``,
  written by :func:`save_checkpoint`; it holds only tensors, strings and
  numbers, so it loads with ``torch.load(weights_only=True)``;
- the original R2D2 one (NAVER): ``{'net': 'Fast_Quad_L2Net_ConfCFS()',
  'state_dict': ...}``, with or without ``module.`` key prefixes;
- the paper's notebook one: ``{'epoch', 'model_state_dict',
  'optimizer_state_dict'}``.

Every file is first opened with ``weights_only=True``. The older R2D2 files
are legacy pickles that need full unpickling, which can run arbitrary code;
sarfeat does that only for a file whose sha256 the registry of
:mod:`sarfeat.data` knows, or when the caller passes ``trust=True``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import torch

from .network import ARCHITECTURES, R2D2Net

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint", "load_state_dict"]

FORMAT_NAME = "sarfeat-r2d2"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, is not trusted, or does not fit the network."""


def _unpickle(path: Path, trust: bool) -> dict:
    payload = path.read_bytes()  # read once: the bytes hashed are the bytes loaded
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as safe_error:
        from .data import known_sha256

        registered_as = known_sha256(hashlib.sha256(payload).hexdigest())
        if not (trust or registered_as):
            raise CheckpointError(
                f"{path} is damaged, or is a legacy pickle that needs full unpickling (which "
                "can run arbitrary code) and whose sha256 is not in sarfeat's registry. If you "
                "trust where it came from, pass trust=True; or convert it once with "
                "sarfeat.checkpoint.save_checkpoint."
            ) from safe_error
        try:
            return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any failure means an unreadable file
            raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    except Exception as error:  # noqa: BLE001 - truncated zip, not a pickle, ...
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is damaged or not a PyTorch file ({error})"
        ) from error


def _architecture_of(state_dict: dict, path: Path) -> str:
    """The architecture whose convolutions have the shapes of ``state_dict``'s."""
    for name in ARCHITECTURES:
        expected = R2D2Net(name).state_dict()
        if all(key in state_dict and state_dict[key].shape == value.shape
               for key, value in expected.items() if key.endswith("weight")):
            return name
    raise CheckpointError(
        f"{path}: state dict matches none of {sorted(ARCHITECTURES)} (convolution shapes differ)"
    )


def load_state_dict(path: str | os.PathLike, trust: bool = False) -> tuple[str, dict, dict]:
    """Read a checkpoint file of any supported format.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    trust : bool
        Allow full unpickling of a legacy file that the registry does not know.

    Returns
    -------
    architecture : str
        ``'fast_r2d2'`` or ``'r2d2'``.
    state_dict : dict
        Parameters and buffers with sarfeat's key names.
    metadata : dict
        Whatever the file says about itself (empty for foreign formats).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    content = _unpickle(path, trust)
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a checkpoint dict")
    metadata: dict = {}
    if content.get("format") == FORMAT_NAME:
        _check_sarfeat_header(content, path)
        state_dict = content.get("state_dict")
        metadata = dict(content.get("metadata", {}))
    elif "state_dict" in content:
        state_dict = content["state_dict"]
        metadata = {"net": content.get("net", "")}
    elif "model_state_dict" in content:
        state_dict = content["model_state_dict"]
        metadata = {"epoch": content.get("epoch")}
    elif all(isinstance(v, torch.Tensor) for v in content.values()) and content:
        state_dict = content
    else:
        raise CheckpointError(
            f"{path} is not a known checkpoint format (keys: {sorted(map(str, content))[:8]})"
        )
    if not isinstance(state_dict, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state_dict.items()
    ):
        raise CheckpointError(f"{path}: its state dict is not a mapping of names to tensors")
    state_dict = {
        key[len("module."):] if key.startswith("module.") else key: value
        for key, value in state_dict.items()
    }
    bad = [key for key, value in state_dict.items()
           if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        raise CheckpointError(f"{path}: non-finite values in {bad[:4]}")
    architecture = content.get("architecture") or _architecture_of(state_dict, path)
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise CheckpointError(
            f"{path}: unknown architecture {architecture!r}; sarfeat reads {sorted(ARCHITECTURES)}"
        )
    return architecture, state_dict, metadata


def _check_sarfeat_header(content: dict, path: Path) -> None:
    """Validate the version and metadata of a file in sarfeat's own format."""
    version = content.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer sarfeat (format version {version}); "
            "upgrade sarfeat to read it"
        )
    metadata = content.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: metadata must be a dict, got {type(metadata).__name__}")
    detector = metadata.get("detector", {})
    if not isinstance(detector, dict):
        raise CheckpointError(f"{path}: metadata['detector'] must be a dict, got {detector!r}")
    for name in ("reliability_threshold", "repeatability_threshold"):
        value = detector.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise CheckpointError(
                f"{path}: metadata['detector'][{name!r}] must be a number in [0, 1], got {value!r}"
            )


def load_checkpoint(path: str | os.PathLike, trust: bool = False) -> R2D2Net:
    """Build the network stored in a checkpoint file, in eval mode.

    Parameters
    ----------
    path : str or path-like
        A checkpoint in sarfeat's, the original R2D2 or the paper's format.
    trust : bool
        Allow full unpickling of a legacy file that the registry does not know.

    Returns
    -------
    R2D2Net

    Raises
    ------
    CheckpointError
        When the file is damaged, untrusted, or its tensors do not fit.
    """
    architecture, state_dict, metadata = load_state_dict(path, trust=trust)
    net = R2D2Net(architecture)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit the {architecture} network: {error}") from error
    net.metadata = metadata
    return net.eval()


def save_checkpoint(net: R2D2Net, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``net`` in sarfeat's format (loadable with ``weights_only=True``).

    Parameters
    ----------
    net : R2D2Net
        The network to save.
    path : str or path-like
        Destination file.
    metadata : dict, optional
        Strings, numbers, lists and dicts of those (config, data sources,
        code version...).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": net.architecture,
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    torch.save(payload, path)
    return path
