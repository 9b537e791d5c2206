"""The network a detector's parameters name, the runtime that runs it, and its thresholds.

:class:`sarfeat.SARR2D2Detector` loads its network runtime once and again only
when the parameters that name it change; these functions say what they name.
:func:`maps_source` tells where the keypoint maps come from (the network as the
image stands, its average over quarter turns, or a network distilled to give
that average), :func:`detector_network` loads the network that gives them,
:func:`detector_runner` makes its runtime, :func:`runner_key` tells when to
make it again, and :func:`detection_thresholds` gives the thresholds the
weights recommend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .architecture import NetworkWeights
from .orientation import TURNED_THRESHOLD_SHIFT
from .runtime import make_runner
from .weights import gives_turned_maps, resolve_network_weights, turned_maps_companion

if TYPE_CHECKING:  # an R2D2Net needs torch; only the names are used here
    from .network import R2D2Net
    from .runtime.onnx import OnnxRunner
    from .runtime.torch import DenseRunner

__all__ = ["DEFAULT_THRESHOLD", "detection_thresholds", "detector_network", "detector_runner",
           "maps_source", "runner_key", "runner_summary"]

#: The method's reliability and repeatability thresholds (R2D2's), used when
#: neither the caller nor the weights' metadata says otherwise.
DEFAULT_THRESHOLD = 0.7


def maps_source(weights: str | os.PathLike | R2D2Net | NetworkWeights | None, upright: bool,
                turned_maps: str) -> str:
    """'upright', 'distilled' or 'average', as far as the parameters decide it.

    Parameters
    ----------
    weights : str, path-like, network or None
        The detector's ``weights``.
    upright : bool
        The detector's ``upright``.
    turned_maps : {'auto', 'distilled', 'average'}
        ``'auto'`` is ``'distilled'`` where ``weights`` name a network distilled to
        give their maps averaged over quarter turns, else ``'average'``.

    Returns
    -------
    str
    """
    if upright:
        return "upright"
    if turned_maps == "auto":
        return "distilled" if turned_maps_companion(weights) else "average"
    return turned_maps


def detector_network(weights: str | os.PathLike | R2D2Net | NetworkWeights | None, upright: bool,
                     turned_maps: str, trust: bool = False) -> NetworkWeights:
    """The network that gives a detector's keypoint maps (see :func:`maps_source`).

    Parameters
    ----------
    weights : str, path-like, network or None
        The detector's ``weights``.
    upright : bool
    turned_maps : {'auto', 'distilled', 'average'}
    trust : bool
        Allow a legacy pickled checkpoint that the registry does not know.

    Returns
    -------
    NetworkWeights
        The distilled companion network of ``weights`` where the maps come from
        it, else the network of ``weights``.

    Raises
    ------
    ValueError
        For weights that give only averaged maps used upright or with
        ``turned_maps='average'``, or ``turned_maps='distilled'`` for weights
        with no distilled network.
    """
    source, companion = maps_source(weights, upright, turned_maps), turned_maps_companion(weights)
    if source == "distilled" and companion:
        return resolve_network_weights(companion)
    net = resolve_network_weights(weights, trust=trust)
    if gives_turned_maps(net) and (upright or turned_maps == "average"):
        raise ValueError(
            "these weights give only keypoint maps averaged over quarter turns (no "
            "descriptor): use them with upright=False and turned_maps='distilled' or 'auto'"
        )
    if source == "distilled" and not gives_turned_maps(net):
        raise ValueError(
            f"turned_maps='distilled': weights {weights!r} have no distilled network "
            f"of their quarter-turn averaged maps; use turned_maps='average'"
        )
    return net


def runner_key(weights: str | os.PathLike | R2D2Net | NetworkWeights | None, device: str,
               runtime: str, precision: str, source: str) -> tuple:
    """What a loaded runtime depends on: a new key (its first five items) means a new runtime.

    Parameters
    ----------
    weights : str, path-like, network or None
        Names and paths compare by value; any other weights object by identity (the
        key holds it, so its id cannot be reused): its repr would print every array
        it holds.
    device, runtime, precision : str
        As the detector was given them.
    source : str
        :func:`maps_source`'s answer.

    Returns
    -------
    tuple
    """
    named = isinstance(weights, (str, os.PathLike))
    return (str(weights) if named else id(weights), device, runtime, precision, source,
            None if named else weights)


def detector_runner(net: NetworkWeights, device: str, runtime: str, precision: str
                    ) -> OnnxRunner | DenseRunner:
    """The runtime of ``net`` (:func:`sarfeat.runtime.make_runner`) as a detector uses it.

    Parameters
    ----------
    net : NetworkWeights
        The network.
    device, runtime, precision : str
        As for :func:`sarfeat.runtime.make_runner`.

    Returns
    -------
    OnnxRunner or DenseRunner
        It also holds ``recommended``, the thresholds in the weights' metadata
        (``'detector'`` entry), and ``gives_turned_maps``, whether the network
        gives maps already averaged over quarter turns.
    """
    runner = make_runner(net, device, runtime, precision)
    runner.recommended = dict(getattr(net, "metadata", {}).get("detector", {}))
    runner.gives_turned_maps = gives_turned_maps(net)
    return runner


def runner_summary(runner: OnnxRunner | DenseRunner) -> dict[str, str]:
    """What a loaded runner (:func:`detector_runner`) runs: its runtime, precision and device.

    Parameters
    ----------
    runner : object
        A runner of :func:`sarfeat.runtime.make_runner`.

    Returns
    -------
    dict
        ``{'runtime': 'onnxruntime' or 'torch', 'precision': 'fp32', 'bf16' or 'int8',
        'device': 'cpu', 'cuda', 'cuda:0'...}``: the choice made, never ``'auto'``.
    """
    return {"runtime": str(runner.runtime), "precision": str(runner.precision),
            "device": str(runner.device)}


def detection_thresholds(reliability_threshold: float | None,
                         repeatability_threshold: float | None, recommended: dict,
                         upright: bool) -> tuple[float, float]:
    """(reliability, repeatability) thresholds: given, recommended by the weights, or 0.7.

    Parameters
    ----------
    reliability_threshold, repeatability_threshold : float or None
        As given; None takes the weights' recommended value (else
        ``DEFAULT_THRESHOLD``), lowered by ``TURNED_THRESHOLD_SHIFT`` unless
        ``upright``: the quarter-turn average lowers the maps' peaks.
    recommended : dict
        The weights' recommended thresholds, by parameter name.
    upright : bool
        Whether the maps are read upright.

    Returns
    -------
    tuple of float
    """
    shift = 0.0 if upright else TURNED_THRESHOLD_SHIFT
    values = []
    for name, value in (("reliability_threshold", reliability_threshold),
                        ("repeatability_threshold", repeatability_threshold)):
        if value is None:
            value = max(0.0, recommended.get(name, DEFAULT_THRESHOLD) - shift)
        values.append(float(value))
    return values[0], values[1]
