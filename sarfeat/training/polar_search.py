"""The weight search of the learned polar descriptor, and what it shares with its training.

:func:`search`: log weights of the polar descriptor's feature groups by
coordinate search (:func:`search_weights`) on the hard MMA@3
(:func:`hard_precision`) of detected training warps (:func:`warp_features`),
shrunk by a factor chosen on the held-out scenes (:func:`score`). Used by
:mod:`sarfeat.training.learned_polar` (its ``--search``), which describes the
method and its figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..learned_polar import LearnedPolar, feature_groups
from .trainer import atomic_save_json, benchmark_module, refuse_existing

__all__ = ["HELD_OUT_SCENES", "hard_precision", "load_pool", "score", "search", "search_weights",
           "warp_features"]

#: The held-out scenes of the cached eval warps, whose mean MMA@3 :func:`score` reports.
HELD_OUT_SCENES = ("tsukuba", "tsukuba_hv", "bigearthnet")


def warp_features(data: dict, chosen: Iterable[int] | None = None,
                  model: LearnedPolar | None = None) -> list[tuple]:
    """Per warp of a :func:`~sarfeat.training.learned_polar.detected_warps` pool: descriptors.

    Parameters
    ----------
    data : dict
        The pool's arrays.
    chosen : iterable of int, optional
        The warps (default: all).
    model : LearnedPolar, optional
        Describes the ring samples (default: the polar descriptor).

    Returns
    -------
    list of tuple
        Per warp, the two sides' unit descriptors and which pairs of keypoints are within
        3 px under the warp.
    """
    model = model or LearnedPolar.identity()
    count = len(data["matrices"])
    bounds = [np.searchsorted(data[f"warp{side}"], np.arange(count + 1)) for side in (1, 2)]
    out = []
    for index in range(count) if chosen is None else chosen:
        a = slice(bounds[0][index], bounds[0][index + 1])
        b = slice(bounds[1][index], bounds[1][index + 1])
        points = data["keypoints1"][a][:, ::-1].astype(np.float64)
        moved = points @ data["matrices"][index][:2, :2].T + data["matrices"][index][:2, 2]
        error = np.linalg.norm(moved[:, None] - data["keypoints2"][b][None, :, ::-1], axis=2)
        out.append((model(data["samples1"][a].astype(np.float32)),
                    model(data["samples2"][b].astype(np.float32)), error <= 3.0))
    return out


def hard_precision(weights: np.ndarray, warps: list[tuple]) -> tuple[float, int]:
    """MMA@3 of mutual nearest neighbours of descriptors reweighted and normalised again.

    Parameters
    ----------
    weights : ndarray
        Per-feature weights.
    warps : list of tuple
        As :func:`warp_features` gives them.

    Returns
    -------
    precision : float
        The mean over warps.
    correct : int
        The correct matches in all.
    """
    mutual_matches = benchmark_module("eval_invariant_descriptor").mutual_matches

    weights = np.asarray(weights, np.float32)
    precision, correct = [], 0
    for first, second, close in warps:
        first, second = first * weights, second * weights
        first /= np.maximum(np.linalg.norm(first, axis=1, keepdims=True), 1e-12)
        second /= np.maximum(np.linalg.norm(second, axis=1, keepdims=True), 1e-12)
        matches = mutual_matches(first, second)
        hits = close[matches[:, 0], matches[:, 1]]
        precision.append(hits.mean() if len(hits) else 0.0)
        correct += int(hits.sum())
    return float(np.mean(precision)), correct


def search_weights(warps: list[tuple], groups: np.ndarray, keep: float = 0.98,
                   steps: Sequence[float] = (0.5, 0.5, 0.25, 0.25, 0.12),
                   log: Callable[[str], object] = print) -> np.ndarray:
    """Log weights of feature groups by coordinate search on :func:`hard_precision`.

    Each round tries, group by group, a step up then down and takes the first
    that raises the mean MMA@3 while the correct matches stay at least
    ``keep`` times those at the start (the polar descriptor's, with zero log
    weights).

    Parameters
    ----------
    warps : list of tuple
        As :func:`warp_features` gives them.
    groups : ndarray of int
        Each feature's group (:func:`sarfeat.learned_polar.feature_groups`).
    keep : float
        The share of the starting correct matches kept, at least.
    steps : sequence of float
        One round per step, in log weight.
    log : callable
        Takes a line of progress.

    Returns
    -------
    (groups,) ndarray
        The log weights.
    """
    theta = np.zeros(int(groups.max()) + 1)
    best, start = hard_precision(np.ones(len(groups)), warps)
    log(f"start: MMA@3 {best:.4f}, {start} correct")
    for index, step in enumerate(steps):
        for group in range(len(theta)):
            for sign in (1.0, -1.0):
                trial = theta.copy()
                trial[group] += sign * step
                found, correct = hard_precision(np.exp(trial)[groups], warps)
                if found > best + 1e-4 and correct >= keep * start:
                    best, theta = found, trial
                    break
        log(f"round {index} (step {step}): MMA@3 {best:.4f}, log weights "
            f"{np.round(theta, 2).tolist()}")
    return theta


def load_pool(path: Path | list) -> dict:
    """One pool, or several :func:`detected_warps` pools as one (warps renumbered)."""
    if isinstance(path, (list, tuple)):
        parts = [load_pool(p) for p in path]
        if len(parts) == 1:
            return parts[0]
        merged, offset = {name: [] for name in parts[0]}, 0
        for part in parts:
            for name in merged:
                merged[name].append(part[name] + offset if name in ("warp1", "warp2")
                                    else part[name])
            offset += len(part["matrices"])
        return {name: np.concatenate(values) for name, values in merged.items()}
    with np.load(path) as saved:
        return {name: saved[name] for name in saved.files}


def score(model: LearnedPolar, warps: dict) -> dict:
    """{scene: MMA@3 summary} on cached eval warps, and 'held_out' (their mean).

    Parameters
    ----------
    model : LearnedPolar
        The descriptor scored.
    warps : dict
        Cached eval warps by scene.

    Returns
    -------
    dict
    """
    cached_summary = benchmark_module("eval_invariant_descriptor").cached_summary

    out = {scene: cached_summary(model, items) for scene, items in warps.items()}
    out["held_out"] = float(np.mean([out[s]["mma3"] for s in HELD_OUT_SCENES if s in out]))
    return out


def search(output: Path, pool: Path | list, select: Path | None, keep: float = 0.98, every: int = 2,
           shrinks=(0.25, 0.5, 0.75, 1.0)) -> dict:
    """Search group weights (:func:`search_weights`) on every ``every``-th warp of a
    :func:`detected_warps` pool; write ``search_a{shrink}.npz``, the polar descriptor
    with the log weights times each ``shrink``, and their held-out scores
    (``search.json``; the shrink is chosen on the held-out scenes)."""
    load_warps = benchmark_module("eval_invariant_descriptor").load_warps

    refuse_existing(output / "search.json")
    output.mkdir(parents=True, exist_ok=True)
    data = load_pool(pool)
    start = time.time()
    warps = warp_features(data, range(0, len(data["matrices"]), every))
    groups = feature_groups()
    theta = search_weights(warps, groups, keep, log=lambda line: print(
        f"{(time.time() - start) / 60:.1f} min {line}", flush=True))
    held = load_warps(select) if select else {}
    found = {"log_weights": theta.tolist(), "keep": keep, "every": every, "pool": str(pool),
             "minutes": (time.time() - start) / 60, "shrinks": {}}
    for shrink in shrinks:
        model = LearnedPolar.identity()
        model.weights = np.exp(shrink * theta)[groups]
        model.save(output / f"search_a{shrink:g}.npz")
        if held:
            scores = score(model, held)
            found["shrinks"][f"{shrink:g}"] = scores
            print(f"shrink {shrink:g}: held-out {scores['held_out']:.4f} " + " ".join(
                f"{name} {row['mma3']:.3f} ({row['correct']}/{row['matches']})"
                for name, row in scores.items() if name != "held_out"), flush=True)
    atomic_save_json(found, output / "search.json")
    return found
