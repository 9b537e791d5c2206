"""The detector's work on each tile: the network's maps, the keypoints, their descriptors.

:class:`sarfeat.SARR2D2Detector` runs these steps tile by tile over the levels
of its pyramid (:mod:`sarfeat.pyramid`), with the network runtime and the
describing parts it has loaded: :func:`level_tiles` gives each tile's maps,
:func:`tile_keypoints` its keypoints and descriptors, :func:`keep_best` the
best of them so far, and :func:`best_keypoints` runs these over all tiles;
:func:`describe_positions` describes given positions tile by tile, and
:func:`describe_keypoints` given keypoints, each on its level (``extract``).
:meth:`sarfeat.SARR2D2Detector.detect_tile` runs :func:`core_keypoints`
(:func:`tile_maps` and :func:`tile_keypoints`) on one tile given by a caller
(:mod:`sarfeat.parallel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .orientation import descriptor_length, quarter_turn_maps
from .peaks import refined_tile_peaks
from .preprocess import NormalizedImage
from .pyramid import PATCH_DIAMETER, PyramidLevel, edge_margin, usable_keypoints
from .runtime import DenseMaps, Tile, tile_grid
from .runtime.ahead import usable_cores

if TYPE_CHECKING:
    from .runtime.onnx import OnnxRunner
    from .runtime.torch import DenseRunner

__all__ = ["TileDescriber", "best_keypoints", "core_keypoints", "describe_keypoints",
           "describe_positions",
           "keep_best", "level_tiles", "network_runs_ahead", "tile_keypoints", "tile_maps",
           "tiles_holding"]


@dataclass(frozen=True)
class TileDescriber:
    """How keypoints get their orientation and descriptor.

    Each field is documented at its declaration.
    """

    upright: bool
    """bool: True, the network's descriptor, read on a tile's maps, and zero orientations;
    False, each keypoint's orientation and the log-intensity descriptor of
    :meth:`sarfeat.pyramid.PyramidLevel.steering`."""
    descriptor: str = "polar"
    """{'polar', 'patch'}: the steered descriptor (not used when upright)."""
    orienter: object = None
    """callable or None: a learned orientation, or None for the gradient's."""
    weighting: Callable[[np.ndarray], np.ndarray] | None = None
    """callable or None: applied to the steered descriptors (the weights release's polar
    weighting); None leaves them as they are."""

    def steered(self, level: PyramidLevel, box: tuple[int, int, int, int], rows: np.ndarray,
                cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Orientations and descriptors at level positions that lie in ``box`` of the level."""
        steering = level.steering(box, self.orienter, self.descriptor)
        orientations, descriptors = steering.orient_and_describe(rows, cols)
        if self.weighting is not None:
            descriptors = self.weighting(descriptors)
        return orientations, descriptors


def tile_maps(runner: DenseRunner | OnnxRunner, gray: np.ndarray, upright: bool) -> DenseMaps:
    """The network's maps of a tile; averaged over its quarter turns unless upright.

    A network distilled to give the average (``turned_maps``) runs once.

    Parameters
    ----------
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).
    gray : (H, W) ndarray
        The normalised tile, halo included.
    upright : bool
        Run the network on the tile as it stands only.

    Returns
    -------
    DenseMaps
    """
    if upright or getattr(runner, "gives_turned_maps", False):
        return runner.run(gray)
    return quarter_turn_maps(runner.run, gray)


def level_tiles(levels: Iterable[PyramidLevel], runner: DenseRunner | OnnxRunner,
                tile_size: int | None, upright: bool, progress: bool = False
                ) -> Iterator[tuple[PyramidLevel, Tile, DenseMaps]]:
    """Yield (level, tile, maps) for every tile of every level.

    Parameters
    ----------
    levels : iterable of PyramidLevel
        The pyramid.
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).
    tile_size : int or None
        Core side of the tiles (:func:`sarfeat.runtime.tile_grid`); None: whole levels.
    upright : bool
        As for :func:`tile_maps`.
    progress : bool
        Show a bar. Without it no tqdm bar is made, not even a disabled one: tqdm's
        first bar in a process creates a multiprocessing lock, a named semaphore where
        processes are spawned (as Dask's workers are), which a worker killed before it
        exits leaks.

    Yields
    ------
    tuple of (PyramidLevel, Tile, DenseMaps)
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=None, desc="sarfeat", unit="tile")
    for level in levels:
        height, width = level.image.shape
        for tile in tile_grid(height, width, tile_size, runner.halo):
            r0, r1, c0, c1 = tile.outer
            yield level, tile, tile_maps(runner, level.image[r0:r1, c0:c1], upright)
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()


def tile_keypoints(level: PyramidLevel, tile: Tile, maps: DenseMaps,
                   thresholds: tuple[float, float], describer: TileDescriber
                   ) -> dict[str, np.ndarray] | None:
    """Keypoints of a tile's core, in input-image coordinates, with their descriptors.

    Parameters
    ----------
    level : PyramidLevel
        The level the tile lies on.
    tile : Tile
        Where on the level: keypoints are kept in ``tile.core``.
    maps : DenseMaps
        The network's maps of ``tile.outer``.
    thresholds : (float, float)
        The reliability and repeatability thresholds.
    describer : TileDescriber
        How keypoints are oriented and described.

    Returns
    -------
    dict or None
        ``keypoints`` ((N, 2) (row, col)), ``scales``, ``reliabilities``,
        ``repeatabilities``, ``orientations`` and ``descriptors``; None when
        the core has no peak.
    """
    margin = edge_margin(tuple(level.image.shape))  # the level's, whatever the tile
    rows, cols, level_rows, level_cols, rel, rep = refined_tile_peaks(maps, tile, margin,
                                                                      *thresholds)
    if rows.size == 0:
        return None
    if describer.upright:
        # descriptors are read at the peak pixel itself, where the network was trained to
        # describe; extract() rounds to the same pixel (measured: more correct matches than
        # reading them at the sub-pixel position)
        descriptors = maps.descriptors_at(rows, cols)
        orientations = np.zeros(rows.size)
    else:
        orientations, descriptors = describer.steered(level, tile.core, level_rows, level_cols)
    orig_rows, orig_cols = level.to_original(level_rows, level_cols)
    return {
        "keypoints": np.stack([orig_rows, orig_cols], axis=1),
        "scales": np.full(rows.size, PATCH_DIAMETER / level.scale),
        "reliabilities": rel,
        "repeatabilities": rep,
        "orientations": orientations,
        "descriptors": descriptors,
    }


def core_keypoints(runner: DenseRunner | OnnxRunner, image: np.ndarray,
                   core: tuple[int, int, int, int],
                   invalid_distance: np.ndarray | None, thresholds: tuple[float, float],
                   describer: TileDescriber) -> dict[str, np.ndarray] | None:
    """Keypoints of the core of one full-resolution tile, as ``detect_tile`` gives them.

    The work of :meth:`sarfeat.SARR2D2Detector.detect_tile`.

    Parameters
    ----------
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).
    image : (H, W) ndarray
        The normalised tile with the runner's halo.
    core : tuple of int
        (row0, row1, col0, col1) where keypoints are kept.
    invalid_distance : ndarray or None
        Each pixel's distance to no-data: keypoints within the halo of it are dropped.
    thresholds : (float, float)
        The (reliability, repeatability) thresholds.
    describer : TileDescriber
        Orients and describes the keypoints.

    Returns
    -------
    dict or None
        What :func:`tile_keypoints` returns, in tile pixels.
    """
    height, width = image.shape
    values = np.ascontiguousarray(image, np.float32)
    level = PyramidLevel(1.0, values, 1.0, 1.0, invalid_distance)
    found = tile_keypoints(level, Tile((0, height, 0, width), tuple(core)),
                           tile_maps(runner, values, describer.upright), thresholds, describer)
    if found is None:
        return None
    points = found["keypoints"]
    keep = level.far_from_invalid(points[:, 0], points[:, 1], runner.halo)
    return {k: v[keep] for k, v in found.items()}


def keep_best(results: list[dict], max_keypoints: int) -> dict:
    """Concatenate per-tile results and keep the ``max_keypoints`` best by response.

    Parameters
    ----------
    results : list of dict
        What :func:`tile_keypoints` returned for some tiles (at least one).
    max_keypoints : int
        How many to keep.

    Returns
    -------
    dict
        The same arrays, best first (response: reliability x repeatability).
    """
    merged = {k: np.concatenate([r[k] for r in results]) for k in results[0]}
    responses = merged["reliabilities"] * merged["repeatabilities"]
    order = np.argsort(-responses, kind="stable")[:max_keypoints]
    return {k: v[order] for k, v in merged.items()}


def best_keypoints(tiles: Iterable[tuple[PyramidLevel, Tile, DenseMaps]],
                   normalized: NormalizedImage, thresholds: tuple[float, float],
                   describer: TileDescriber, halo: int, max_keypoints: int
                   ) -> dict[str, np.ndarray] | None:
    """The ``max_keypoints`` best keypoints of all ``tiles``, described.

    The best so far are kept whenever twice ``max_keypoints`` wait, so memory stays
    bounded on huge images.

    Parameters
    ----------
    tiles : iterable of (PyramidLevel, Tile, DenseMaps)
        As :func:`level_tiles` yields them.
    normalized : NormalizedImage
        The image; keypoints within ``halo`` of a large no-data region of it are left
        out (:func:`sarfeat.pyramid.usable_keypoints`).
    thresholds : (float, float)
        The reliability and repeatability thresholds.
    describer : TileDescriber
        How keypoints are oriented and described.
    halo : int
        The network's reach, in pixels.
    max_keypoints : int
        How many to keep.

    Returns
    -------
    dict or None
        What :func:`tile_keypoints` returns, over all tiles; None when no tile has a
        peak.
    """
    best = None
    pending: list[dict] = []
    for level, tile, maps in tiles:
        result = tile_keypoints(level, tile, maps, thresholds, describer)
        if result is None:
            continue
        if normalized.valid is not None:
            keep = usable_keypoints(level, normalized, result["keypoints"], halo)
            result = {k: v[keep] for k, v in result.items()}
        pending.append(result)
        if sum(len(r["keypoints"]) for r in pending) > 2 * max_keypoints:
            best = keep_best(([best] if best else []) + pending, max_keypoints)
            pending = []
    if pending:
        best = keep_best(([best] if best else []) + pending, max_keypoints)
    return best


def network_runs_ahead(runner: DenseRunner | OnnxRunner) -> bool:
    """Whether the network runs on the next tile while this one is described.

    Parameters
    ----------
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).

    Returns
    -------
    bool
        True with ONNX Runtime on two usable cores or more, unless it was given one
        thread (``sarfeat.runtime.onnx.set_threads``): the Python side (peaks,
        descriptors) leaves a core idle otherwise. False with torch, whose OpenMP
        threads belong to the calling thread (a new thread would start its own).
    """
    return (runner.runtime == "onnxruntime" and usable_cores() >= 2
            and getattr(runner, "threads", 1) != 1)


def tiles_holding(level: PyramidLevel, tile_size: int | None, halo: int, rows: np.ndarray,
                  cols: np.ndarray) -> Iterator[tuple[Tile, np.ndarray]]:
    """Yield (tile, here) for each tile of ``level`` whose core holds some of the positions.

    Parameters
    ----------
    level : PyramidLevel
        The level the positions lie on.
    tile_size : int or None
        As for :func:`level_tiles`.
    halo : int
        The tiles' halo, in pixels.
    rows, cols : ndarray
        Level positions.

    Yields
    ------
    tile : Tile
    here : ndarray of bool
        The positions in its core.
    """
    height, width = level.image.shape
    cell_rows = np.clip(np.rint(rows), 0, height - 1).astype(int)
    cell_cols = np.clip(np.rint(cols), 0, width - 1).astype(int)
    for tile in tile_grid(height, width, tile_size, halo):
        cr0, cr1, cc0, cc1 = tile.core
        here = (cell_rows >= cr0) & (cell_rows < cr1) & (cell_cols >= cc0) & (cell_cols < cc1)
        if here.any():
            yield tile, here


def describe_positions(level: PyramidLevel, runner: DenseRunner | OnnxRunner, tile_size: int | None,
                       describer: TileDescriber, rows: np.ndarray, cols: np.ndarray,
                       indices: np.ndarray, out: np.ndarray,
                       angles: np.ndarray | None = None) -> None:
    """Describe level positions tile by tile, into ``out[indices]``.

    Upright, the network runs on each tile that holds some of the positions
    and its descriptors are read there (pass whole pixels to read them as
    detection does); otherwise each position is oriented and its steered
    descriptor computed, and the network is not run. The orientations
    estimated then go into ``angles[indices]`` when ``angles`` is given.

    Parameters
    ----------
    level : PyramidLevel
        The level the positions lie on.
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).
    tile_size : int or None
        As for :func:`level_tiles`.
    describer : TileDescriber
        How the positions are described.
    rows, cols : ndarray
        Level positions.
    indices : ndarray of int
        Where their descriptors go in ``out``.
    out : ndarray
        The descriptors, written in place.
    angles : ndarray, optional
        The orientations, written in place.
    """
    for tile, here in tiles_holding(level, tile_size, runner.halo, rows, cols):
        if describer.upright:
            r0, r1, c0, c1 = tile.outer
            maps = runner.run(level.image[r0:r1, c0:c1])
            out[indices[here]] = maps.descriptors_at(rows[here] - r0, cols[here] - c0)
        else:
            oriented, out[indices[here]] = describer.steered(level, tile.core, rows[here],
                                                             cols[here])
            if angles is not None:
                angles[indices[here]] = oriented


def describe_keypoints(levels: list[PyramidLevel], normalized: NormalizedImage,
                       runner: DenseRunner | OnnxRunner,
                       tile_size: int | None, describer: TileDescriber, keypoints: np.ndarray,
                       scales: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Describe input-image keypoints, each on the level of ``levels`` nearest its scale.

    The work of :meth:`sarfeat.SARR2D2Detector.extract`.

    Parameters
    ----------
    levels : list of PyramidLevel
        The pyramid of ``normalized``.
    normalized : NormalizedImage
        The image.
    runner : DenseRunner or OnnxRunner
        Runs the keypoint network (:func:`sarfeat.runtime.make_runner`).
    tile_size : int or None
        As for :func:`level_tiles`.
    describer : TileDescriber
        How keypoints are described.
    keypoints : (N, 2) ndarray
        (row, col) in the input image.
    scales : (N,) ndarray or None
        Patch diameters (``PATCH_DIAMETER`` / level scale); None describes every
        keypoint on the first level.

    Returns
    -------
    described : (N,) ndarray of bool
        Which keypoints could be described: inside the image, away from its
        level's edge and, when ``normalized`` has no-data, within reach of none.
    descriptors : (M, D) ndarray of float32
        The descriptors of the described keypoints (D = 128 upright, else the
        steered descriptor's length).
    orientations : (N,) ndarray of float64
        Zeros upright (descriptors read as the image stands); otherwise the
        orientation estimated at each described keypoint and NaN at the others.
    """
    level_scales = np.array([level.scale for level in levels])
    if scales is None:
        level_of = np.zeros(len(keypoints), dtype=int)
    else:
        wanted = PATCH_DIAMETER / scales
        level_of = np.abs(np.log(wanted[:, None] / level_scales[None])).argmin(axis=1)

    height, width = normalized.image.shape
    inside = (
        (keypoints[:, 0] >= -0.5) & (keypoints[:, 0] <= height - 0.5)
        & (keypoints[:, 1] >= -0.5) & (keypoints[:, 1] <= width - 0.5)
        & np.isfinite(keypoints).all(axis=1)
    )
    described = inside.copy()
    length = 128 if describer.upright else descriptor_length(describer.descriptor)
    descriptors = np.zeros((len(keypoints), length), dtype=np.float32)
    orientations = np.zeros(len(keypoints)) if describer.upright else np.full(len(keypoints),
                                                                              np.nan)
    for index, level in enumerate(levels):
        todo = np.flatnonzero(inside & (level_of == index))
        if todo.size == 0:
            continue
        described[todo] = level.away_from_edge(keypoints[todo, 0], keypoints[todo, 1])
        if normalized.valid is not None:
            described[todo] &= usable_keypoints(level, normalized, keypoints[todo], runner.halo)
        todo = todo[described[todo]]
        rows, cols = level.from_original(keypoints[todo, 0], keypoints[todo, 1])
        if describer.upright:  # read at the pixel, as detection reads at the peak
            rows, cols = np.rint(rows), np.rint(cols)
        describe_positions(level, runner, tile_size, describer, rows, cols, todo, descriptors,
                           orientations)
    return described, descriptors[described], orientations
