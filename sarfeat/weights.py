"""The one place that turns a ``weights`` argument into a network.

Every part of sarfeat that takes ``weights`` (the detector, the extractor,
the matcher, the command line, the Dask workers) resolves it with
:func:`resolve_weights`, by these rules:

- an :class:`~sarfeat.network.R2D2Net` is used as it is;
- None means :data:`DEFAULT_WEIGHTS`, sarfeat's bundled SAR weights;
- a string that is a weights name of sarfeat's registry (:func:`weight_names`:
  ``'sarfeat-sar-v1'``, ``'weights/sarfeat-sar-v1.pt'``,
  ``'weights/faster2d2_WASF_N16.pt'``, ...) is fetched through
  :func:`sarfeat.data.fetch`, which checks its SHA-256. Such a name is **never**
  looked up in the working directory: a file called ``sarfeat-sar-v1`` there
  cannot replace the default weights;
- any other string, and any :class:`os.PathLike` (``pathlib.Path``), is a
  checkpoint file, read by :func:`sarfeat.checkpoint.load_checkpoint`. To
  load a local file whose name is also a registry name, pass a
  ``pathlib.Path``.

:func:`check_weights` applies the same rules without loading anything, so
that constructors can reject a wrong argument at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import data
from .architecture import NetworkWeights
from .checkpoint import load_checkpoint, load_weights
from .data import DEFAULT_WEIGHTS

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from .network import R2D2Net

#: The ``'maps'`` metadata of weights distilled to give quarter-turn averaged maps.
TURNED_MAPS_KIND = "quarter_turn_average"

__all__ = ["DEFAULT_WEIGHTS", "TURNED_MAPS_KIND", "absolute_weights", "check_weights",
           "gives_turned_maps",
           "is_torch_network", "resolve_network_weights", "resolve_weights",
           "turned_maps_companion", "weight_names", "weights_key"]


def is_torch_network(value: object) -> bool:
    """Whether ``value`` is a :class:`sarfeat.network.R2D2Net` (checked without importing torch).

    An R2D2Net exists only once :mod:`sarfeat.network` has been imported.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
    """
    network = sys.modules.get("sarfeat.network")
    return network is not None and isinstance(value, network.R2D2Net)


def _is_torch_module(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def weight_names() -> list[str]:
    """Names of weights that :func:`resolve_weights` fetches from sarfeat's registry.

    Returns
    -------
    names : list of str
        The short aliases (``'sarfeat-sar-v1'``) and the registry's
        ``weights/...`` files, sorted.
    """
    registered = [name for name in data.registry_names() if name.startswith("weights/")]
    return sorted(set(data.WEIGHT_ALIASES) | set(registered))


def weights_key(weights: object) -> tuple:
    """A hashable key that tells two ``weights`` arguments apart, for caches of what they load.

    Parameters
    ----------
    weights : object
        A ``weights`` argument (see the module documentation).

    Returns
    -------
    tuple
        Names (None too) and paths by value, kept apart (a path named like a
        registry name is a file); any other weights object by identity (its repr
        would print every array, and a NetworkWeights is not hashable): the cache
        must hold the object with its entry, so that its id is not reused.
    """
    if weights is None or isinstance(weights, str):
        return ("name", weights)
    if isinstance(weights, os.PathLike):
        return ("path", os.fspath(weights))
    return ("object", id(weights))


def _registry_name(weights: str) -> str | None:
    """The registry file a weights name stands for, or None for a file path."""
    name = data.WEIGHT_ALIASES.get(weights, weights)
    return name if name in data.registry_names() and name.startswith("weights/") else None


def absolute_weights(weights: str | os.PathLike | R2D2Net | NetworkWeights | None
                     ) -> str | Path | R2D2Net | NetworkWeights | None:
    """``weights`` with a checkpoint path made absolute, from the working directory.

    For work sent to processes that may run in another working directory (Dask
    workers).

    Parameters
    ----------
    weights : str, path-like, R2D2Net, NetworkWeights or None
        See the module documentation.

    Returns
    -------
    str, pathlib.Path, R2D2Net, NetworkWeights or None
        A registry name, None and a network unchanged; a string path stays a string
        and a path-like becomes a :class:`pathlib.Path`.

    Examples
    --------
    >>> absolute_weights("sarfeat-sar-v1")
    'sarfeat-sar-v1'
    >>> os.path.isabs(absolute_weights("net.pt"))
    True
    """
    if isinstance(weights, str):
        if _registry_name(weights) is not None:
            return weights
        return os.path.abspath(os.path.expanduser(weights))
    if isinstance(weights, os.PathLike):
        return Path(os.path.abspath(Path(weights).expanduser()))
    return weights


def check_weights(weights: str | os.PathLike | R2D2Net | NetworkWeights | None) -> None:
    """Check a ``weights`` argument without loading it.

    Parameters
    ----------
    weights : str, path-like, R2D2Net, NetworkWeights or None
        See the module documentation.

    Raises
    ------
    TypeError
        For anything but a string, a path, an R2D2Net or None.
    FileNotFoundError
        For a string that is neither a registered weights name (the message
        lists them) nor an existing file, or a path that does not exist.
    """
    if weights is None or isinstance(weights, NetworkWeights) or is_torch_network(weights):
        return
    if _is_torch_module(weights):
        raise TypeError(
            f"weights is a {type(weights).__name__}; sarfeat needs an R2D2Net "
            "(see sarfeat.network), a checkpoint path or a registered weights name"
        )
    if isinstance(weights, str):
        if _registry_name(weights) is not None:
            return
        if not Path(weights).expanduser().is_file():
            raise FileNotFoundError(
                f"weights {weights!r} is neither a registered weights name "
                f"({', '.join(map(repr, weight_names()))}) nor an existing checkpoint file"
            )
        return
    if isinstance(weights, os.PathLike):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        return
    raise TypeError(
        f"weights must be a registered name, a checkpoint path, an R2D2Net or None, "
        f"got {type(weights).__name__}"
    )


def resolve_weights(weights: str | os.PathLike | R2D2Net | NetworkWeights | None = None, *,
                    trust: bool = False) -> R2D2Net:
    """The network that ``weights`` names, in eval mode.

    Parameters
    ----------
    weights : str, path-like, R2D2Net, NetworkWeights or None
        See the module documentation; None is :data:`DEFAULT_WEIGHTS`.
    trust : bool
        Allow full unpickling of a legacy checkpoint file that the registry
        does not know (it can run arbitrary code).

    Returns
    -------
    R2D2Net

    Raises
    ------
    TypeError, FileNotFoundError
        As :func:`check_weights`.
    sarfeat.checkpoint.CheckpointError
        For a damaged, untrusted or malformed checkpoint.
    sarfeat.data.DataUnavailableError
        For a registered name that is neither local nor downloadable.

    Examples
    --------
    >>> from sarfeat.weights import resolve_weights
    >>> net = resolve_weights("sarfeat-sar-v1")  # bundled: works offline
    >>> net.architecture
    'fast_r2d2'
    """
    check_weights(weights)
    if is_torch_network(weights):
        return weights
    if isinstance(weights, NetworkWeights):
        from .network import network_from_weights

        return network_from_weights(weights)
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if isinstance(weights, str) and _registry_name(weights) is not None:
        return load_checkpoint(data.fetch(_registry_name(weights)), trust=trust)
    return load_checkpoint(Path(weights).expanduser(), trust=trust)


def resolve_network_weights(weights: str | os.PathLike | R2D2Net | NetworkWeights | None = None, *,
                            trust: bool = False) -> NetworkWeights:
    """The values of the network that ``weights`` names, as numpy arrays (no torch needed).

    Parameters
    ----------
    weights : str, path-like, R2D2Net, NetworkWeights or None
        As for :func:`resolve_weights`. sarfeat's bundled weights are read from
        their ``.npz`` form; other ``.pt`` files need torch.
    trust : bool
        As for :func:`resolve_weights`.

    Returns
    -------
    NetworkWeights

    Raises
    ------
    TypeError, FileNotFoundError, sarfeat.checkpoint.CheckpointError
        As :func:`resolve_weights`.
    ImportError
        For a ``.pt`` file when torch is not installed (the message names the extra).

    Examples
    --------
    >>> from sarfeat.weights import resolve_network_weights
    >>> resolve_network_weights().architecture
    'fast_r2d2'
    """
    check_weights(weights)
    if isinstance(weights, NetworkWeights):
        return weights
    if is_torch_network(weights):
        from .network import weights_of_network

        return weights_of_network(weights)
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if isinstance(weights, str) and _registry_name(weights) is not None:
        name = _registry_name(weights)
        return load_weights(data.fetch(data.NPZ_WEIGHTS.get(name, name)), trust=trust)
    return load_weights(Path(weights).expanduser(), trust=trust)


def turned_maps_companion(weights: str | os.PathLike | R2D2Net | NetworkWeights | None
                          ) -> str | None:
    """The registry name of the network distilled from ``weights``' quarter-turn averaged maps.

    Parameters
    ----------
    weights : str, path-like, R2D2Net, NetworkWeights or None
        As for :func:`resolve_weights`.

    Returns
    -------
    str or None
        ``'weights/sarfeat-sar-v1-turned-maps.pt'`` for the default weights
        (None or a name of them); None for weights without such a network
        (other names, files and networks).
    """
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if not isinstance(weights, str):
        return None
    name = _registry_name(weights)
    return data.TURNED_MAPS_COMPANIONS.get(name) if name else None


def gives_turned_maps(net: object) -> bool:
    """Whether ``net`` was distilled to give quarter-turn averaged maps (and no descriptor).

    Parameters
    ----------
    net : object
        A network or its weights (R2D2Net, NetworkWeights): anything with a
        ``metadata`` dict.

    Returns
    -------
    bool
    """
    return (getattr(net, "metadata", None) or {}).get("maps") == TURNED_MAPS_KIND
