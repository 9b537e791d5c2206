"""Reading and writing network checkpoints.

Four formats are read:

- sarfeat's own: ``{'format': 'sarfeat-r2d2', 'format_version': 1,
  'architecture': 'fast_r2d2' | 'r2d2', 'state_dict': ..., 'metadata': ...}``,
  written by :func:`save_checkpoint`; it holds only tensors, strings and
  numbers, so it loads with ``torch.load(weights_only=True)``;
- the original R2D2 one (NAVER): ``{'net': 'Fast_Quad_L2Net_ConfCFS()',
  'state_dict': ...}``, with or without ``module.`` key prefixes;
- the paper's notebook one: ``{'epoch', 'model_state_dict',
  'optimizer_state_dict'}``;
- the training state ``last.pt`` of a :mod:`sarfeat.training` run
  (``{'iteration', 'model', 'optimizer', ...}``).

sarfeat's own weights also come as ``.npz`` files (:func:`save_weights`,
:func:`load_weights`): numpy arrays under the state-dict names and a JSON
header, readable without torch. Only the ``.pt`` formats need torch (the
``train`` extra); without it, reading one raises an ImportError naming the
extra.

Every ``.pt`` file's zip checksums (CRC-32) are verified before it is
unpickled, so a bit flip is reported instead of loaded. Every file is first
opened with ``weights_only=True``. The older R2D2 files are legacy pickles
that need full unpickling, which can run arbitrary code; sarfeat does that only
for a file whose sha256 the registry of :mod:`sarfeat.data` knows, or when
the caller passes ``trust=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .architecture import ARCHITECTURES, NetworkWeights, op_layout
from .io import atomic_path, check_path

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint", "load_state_dict",
           "load_weights", "save_weights", "expected_shapes", "write_atomically",
           "write_npz_atomically", "TORCH_EXTRA_HINT"]

#: How to get torch, named in every error raised for its absence.
TORCH_EXTRA_HINT = "install it with: pip install 'sarfeat[train]' (or sarfeat[gpu])"
#: Name of the JSON header inside a ``.npz`` weights file.
NPZ_HEADER = "__sarfeat__"

FORMAT_NAME = "sarfeat-r2d2"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, is not trusted, or does not fit the network."""


def _torch():
    """torch, or an ImportError that names the extra providing it."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"reading or writing .pt checkpoints needs torch; {TORCH_EXTRA_HINT}, "
                          "or use the .npz weights (sarfeat.checkpoint.load_weights)") from error
    return torch


def _check_zip(payload: bytes, path: Path) -> None:
    """Raise CheckpointError when a zip-format checkpoint fails its CRC-32 checks."""
    if not payload.startswith(b"PK"):
        return  # a legacy (non-zip) pickle: nothing to check
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: the zip is damaged ({error})") \
            from error
    if damaged is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: {damaged!r} fails its CRC-32 check")


def _unpickle(path: Path, trust: bool) -> dict:
    payload = path.read_bytes()  # read once: the bytes hashed are the bytes loaded
    torch = _torch()
    _check_zip(payload, path)
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


def expected_shapes(architecture: str) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes of a network of ``architecture`` (no torch needed).

    Parameters
    ----------
    architecture : str
        A name in :data:`sarfeat.architecture.ARCHITECTURES`.

    Returns
    -------
    dict of str to tuple of int
        Each parameter's and buffer's shape, by its state-dict name.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    for index, (kind, spec) in enumerate(op_layout(architecture)):
        if kind == "conv":
            shapes[f"ops.{index}.weight"] = (spec.out_channels, spec.in_channels, spec.kernel,
                                             spec.kernel)
            shapes[f"ops.{index}.bias"] = (spec.out_channels,)
        elif kind == "bn":
            shapes[f"ops.{index}.running_mean"] = (spec.out_channels,)
            shapes[f"ops.{index}.running_var"] = (spec.out_channels,)
            shapes[f"ops.{index}.num_batches_tracked"] = ()
    channels = ARCHITECTURES[architecture][-1].out_channels
    shapes.update({"clf.weight": (2, channels, 1, 1), "clf.bias": (2,),
                   "sal.weight": (1, channels, 1, 1), "sal.bias": (1,)})
    return shapes


def _architecture_of(state_dict: dict, path: Path) -> str:
    """The architecture whose convolutions have the shapes of ``state_dict``'s."""
    for name in ARCHITECTURES:
        expected = expected_shapes(name)
        if all(key in state_dict and tuple(state_dict[key].shape) == value
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
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    torch = _torch()
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
    elif "model" in content and "optimizer" in content:  # a training run's last.pt
        state_dict = content["model"]
        metadata = {"iteration": content.get("iteration")}
    elif all(isinstance(v, torch.Tensor) for v in content.values()) and content:
        state_dict = content
    else:
        raise CheckpointError(
            f"{path} is not a known checkpoint format (keys: {sorted(map(str, content))[:8]})"
        )
    if not isinstance(state_dict, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor)
        for key, value in state_dict.items()
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


def load_checkpoint(path: str | os.PathLike, trust: bool = False) -> "R2D2Net":  # noqa: F821
    """Build the network stored in a checkpoint file, in eval mode.

    Parameters
    ----------
    path : str or path-like
        A checkpoint in sarfeat's (``.pt`` or ``.npz``), the original R2D2 or
        the paper's format, or a training run's ``last.pt``.
    trust : bool
        Allow full unpickling of a legacy file that the registry does not know.

    Returns
    -------
    R2D2Net

    Raises
    ------
    CheckpointError
        When the file is damaged, untrusted, or its tensors do not fit.
    TypeError
        When ``path`` is not a str or path-like (None, say).
    """
    if _is_npz(Path(check_path(path))):
        from .network import network_from_weights

        return network_from_weights(load_weights(path))
    architecture, state_dict, metadata = load_state_dict(path, trust=trust)
    from .network import loadable_network

    net = loadable_network(architecture)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit the {architecture} network: {error}") from error
    net.metadata = metadata
    return net.eval()


def save_checkpoint(net: "R2D2Net",  # noqa: F821
                    path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``net`` in sarfeat's format (loadable with ``weights_only=True``).

    Parameters
    ----------
    net : R2D2Net
        The network to save.
    path : str or path-like
        Destination file; a name ending in ``.npz`` gets sarfeat's ``.npz``
        weights (:func:`~sarfeat.checkpoint.save_weights`), as :func:`load_checkpoint`
        expects.
    metadata : dict, optional
        Strings, numbers, lists and dicts of those (config, data sources,
        code version...).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        When ``net`` is not an R2D2Net or ``path`` not a str or path-like.
    """
    torch = _torch()
    path = Path(check_path(path))
    from .network import R2D2Net

    if not isinstance(net, R2D2Net):
        raise TypeError(f"net must be a sarfeat.network.R2D2Net (load_checkpoint gives one), "
                        f"got {type(net).__name__}")
    if _is_npz(path):
        from .network import weights_of_network

        state = weights_of_network(net).state
        return save_weights(NetworkWeights(net.architecture, state, dict(metadata or {})), path)
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": net.architecture,
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    write_atomically(path, lambda partial: torch.save(payload, partial))
    return path


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``.

    A reader never sees half a file, and a write that fails (a full disk, a
    killed job) leaves the previous file at ``path`` as it was. Each call
    writes its own temporary file (:func:`sarfeat.atomic_files.atomic_path`), so two
    writers of the same ``path`` never write into one file.

    Parameters
    ----------
    path : pathlib.Path
        The destination.
    write : callable
        ``write(temporary_path)`` writes the whole file.
    """
    with atomic_path(path) as partial:
        write(partial)


def write_npz_atomically(path: str | os.PathLike, arrays: dict) -> Path:
    """``np.savez`` of ``arrays`` to exactly ``path`` (no ``.npz`` appended), atomically.

    Parameters
    ----------
    path : str or path-like
        The destination; a file already there is replaced only once the new
        one is complete.
    arrays : dict of str to array_like
        The named arrays.

    Returns
    -------
    pathlib.Path
    """
    path = Path(check_path(path))

    def write(partial: Path) -> None:
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomically(path, write)
    return path


def _is_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz"


def load_weights(path: str | os.PathLike, trust: bool = False) -> NetworkWeights:
    """The network stored in a checkpoint file as numpy arrays.

    A ``.npz`` file (:func:`save_weights`) is read without torch; any other
    file is read by :func:`load_state_dict`, which needs torch.

    Parameters
    ----------
    path : str or path-like
        The file.
    trust : bool
        As for :func:`load_checkpoint` (``.pt`` files only).

    Returns
    -------
    NetworkWeights

    Raises
    ------
    CheckpointError
        When the file is damaged or its arrays do not fit the network.
    ImportError
        For a ``.pt`` file when torch is not installed (the message names the extra).
    """
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not _is_npz(path):
        architecture, state_dict, metadata = load_state_dict(path, trust=trust)
        state = {name: value.detach().cpu().numpy() for name, value in state_dict.items()}
        return _checked(NetworkWeights(architecture, state, metadata), path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive[NPZ_HEADER]))
            state = {name: archive[name] for name in archive.files if name != NPZ_HEADER}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"cannot read weights {path}: damaged or not sarfeat's .npz "
                              f"({type(error).__name__}: {error})") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a sarfeat weights file (no {FORMAT_NAME} header)")
    _check_sarfeat_header(header, path)
    architecture = header.get("architecture")
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {architecture!r}; sarfeat reads "
                              f"{sorted(ARCHITECTURES)}")
    return _checked(NetworkWeights(architecture, state, dict(header.get("metadata", {}))), path)


def _checked(weights: NetworkWeights, path: Path) -> NetworkWeights:
    """``weights``, after checking its names, shapes, dtypes and finiteness against its network."""
    expected = expected_shapes(weights.architecture)
    if set(expected) != set(weights.state):
        missing, extra = set(expected) - set(weights.state), set(weights.state) - set(expected)
        raise CheckpointError(f"{path} does not fit the {weights.architecture} network: missing "
                              f"{sorted(missing)[:4]}, unexpected {sorted(extra)[:4]}")
    for name, shape in expected.items():
        value = weights.state[name]
        if tuple(value.shape) != shape:
            raise CheckpointError(f"{path}: {name} has shape {tuple(value.shape)}, the "
                                  f"{weights.architecture} network needs {shape}")
        counter = name.endswith("num_batches_tracked")
        kinds, needed = ("iu", "integer") if counter else ("f", "float")
        if value.dtype.kind not in kinds:
            raise CheckpointError(f"{path}: {name} has dtype {value.dtype}, the "
                                  f"{weights.architecture} network needs {needed} values")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise CheckpointError(f"{path}: non-finite values in {name}")
    return weights


def save_weights(weights: NetworkWeights, path: str | os.PathLike) -> Path:
    """Write ``weights`` as sarfeat's ``.npz`` (readable without torch).

    The file is written the same way every time: the same weights give the
    same bytes.

    Parameters
    ----------
    weights : NetworkWeights
        For example ``sarfeat.network.weights_of_network(net)``.
    path : str or path-like
        Destination; must end in ``.npz``.

    Returns
    -------
    pathlib.Path
    """
    path = Path(check_path(path))
    if not _is_npz(path):
        raise ValueError(f"weights files end in .npz, got {path.name!r}")
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
              "architecture": weights.architecture, "metadata": weights.metadata}
    arrays = {name: np.array(weights.state[name], order="C") for name in sorted(weights.state)}
    arrays[NPZ_HEADER] = np.array(json.dumps(header, sort_keys=True))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():  # fixed dates: the same bytes on every run
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, value, allow_pickle=False)
            archive.writestr(entry, member.getvalue())
    write_atomically(path, lambda partial: partial.write_bytes(buffer.getvalue()))
    return path
