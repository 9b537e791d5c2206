"""Keypoints of a large scene, tile by tile across Dask workers.

:func:`detect_tiled` reads a scene that need not fit in memory (a ``.npy``
file, memory-mapped; a GeoTIFF, read by windows; a Dask array) and detects
keypoints at full resolution with the tiles and halos of
:class:`~sarfeat.SARR2D2Detector`. It runs in two passes:

1. **Statistics.** The normalisation of :func:`sarfeat.normalize_sar` needs
   numbers of the whole scene: the input kind (for ``'auto'``), the smallest
   positive value, the 1st and 99th percentiles of a regular sample of the
   valid pixels (a display image's divisor, from the same sample) and, with
   no-data, the median that fills it. Row blocks are summarised by the
   workers; the client turns them into the value map with
   :func:`sarfeat.preprocess.sample_scaling`, as
   :func:`~sarfeat.preprocess.sar_scaling` does for an image in memory. The
   sample is the same pixels that :func:`~sarfeat.normalize_sar` takes (every
   ``size // 2**20``-th pixel in row-major order), so the numbers are the
   same as for the whole image in memory.
2. **Detection.** Each tile of :func:`sarfeat.runtime.tile_grid` (core plus
   a 28-pixel halo, the network's reach) is read, normalised with those
   numbers and run through the network on a worker; the detector's own
   per-tile code finds the keypoints in its core. The client keeps the
   ``max_keypoints`` best as tiles finish, so its memory stays bounded too.

What is computed is one pyramid level, at full resolution: with equal
inputs the result equals ``SARR2D2Detector(weights, min_scale=1,
max_size=max(shape), tile_size=tile_size, max_keypoints=..., upright=True)`` on the whole
image (keypoints within rounding, the same order). For coarser levels,
downsample the scene first (for example with ``dask.array.coarsen``) and
call again.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ..runtime import Tile, tile_grid
from ..detector import SARR2D2Detector
from ..detector_input import keypoint_dtype
from .. import preprocess, value_scale
from ..input_kinds import check_input_kind
from ..io import bands_first, read_band_window, read_raster_header
from ..matching.dense_threads import checked_threads
from ..nodata_steps import nodata_valid_mask
from ..raster import plain_tiff_quiet, rasterio_or_none
from ..weights import absolute_weights
from ..windowed_scaling import SARScaling, sample_scaling
from ..wording import counted
from . import _worker
from .scene_bands import band_scaling, mask_bands, read_bands
from ._client import client_for, finished
from .scene_features import SceneFeatures, scene_features
from .scene_warnings import SceneWarnings, recorded_task

if TYPE_CHECKING:
    import dask.array as da
    from distributed import Client
    from numpy.typing import ArrayLike

    from ..network import R2D2Net

__all__ = ["SceneFeatures", "detect_tiled"]

#: Pixels per row block of the statistics pass (16 MB of float32).
_BLOCK_PIXELS = 1 << 22


# -- sources: what a worker reads -------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    """A 2-D window of a scene file, read where the task runs."""

    path: str
    band: int | None
    bounds: tuple[int, int, int, int]  # row0, row1, col0, col1
    nodata: float | None = None  # given for the file, read as its own value is
    dtype: np.dtype | None = None  # every window's (the scene's); None: a GeoTIFF's as read

    def read(self) -> np.ndarray:
        """The window as :func:`sarfeat.io.read_image` reads the file: float, NaN where
        the file (its nodata value or mask) or ``nodata`` marks no-data."""
        r0, r1, c0, c1 = self.bounds
        if Path(self.path).suffix.lower() == ".npy":
            scene = np.load(self.path, mmap_mode="r")
            if self.band is not None:  # a planar file's bands are its first axis, as read_image
                scene = scene[self.band] if bands_first(scene.shape) else scene[..., self.band]
            window = np.array(scene[r0:r1, c0:c1])
            del scene  # unmap now: mapped pages would count against the worker
            return _marked(window, None, self.nodata)
        _rasterio()
        # the band (an RGB(A) picture's gray), the file's no-data value, mask band and alpha,
        # and its scaling, as sarfeat.io.read_image reads them
        window = read_band_window(read_raster_header(self.path), self.bounds, self.band,
                                  self.nodata)
        # a window without no-data is as stored: float, as the others, where the file can
        # mark some (the scene's dtype)
        return window if self.dtype is None else window.astype(self.dtype, copy=False)


def _marks(nodata: float | None) -> bool:
    """Whether a ``nodata`` given for a file marks pixels beyond NaN."""
    return nodata is not None and not np.isnan(nodata)


def _marked(window: np.ndarray, valid: np.ndarray | None, nodata: float | None) -> np.ndarray:
    """``window`` of a file, NaN where not ``valid`` (None: the file marks nothing) or
    where ``nodata`` marks no-data as the file's own value would
    (:func:`sarfeat.nodata_steps.nodata_valid_mask`); a float copy where either applies."""
    if _marks(nodata):
        given = nodata_valid_mask(window[None], nodata)[0]
        valid = given if valid is None else valid & given
    if valid is None:
        return window
    window = window.astype(np.result_type(window.dtype, np.float32))
    window[~valid] = np.nan
    return window


def _rasterio():
    """The rasterio module; an ImportError that says so without it."""
    rasterio = rasterio_or_none()
    if rasterio is None:
        raise ImportError("reading a GeoTIFF by windows needs rasterio (pip install rasterio), "
                          "or convert it to .npy")
    return rasterio


@contextlib.contextmanager
def _open_raster(path):
    """A TIFF opened with rasterio, quiet about plain (not georeferenced) TIFFs."""
    rasterio = _rasterio()
    with plain_tiff_quiet(rasterio), rasterio.open(path) as source:
        yield source


def _pixels(window) -> np.ndarray:
    return window.read() if isinstance(window, _File) else np.asarray(window)


class _Scene:
    """Shape, dtype and windows of the scene, whatever holds it."""

    def __init__(self, scene, band: int | None, nodata: float | None = None) -> None:
        self.path = None
        self.array = None
        self.band = band
        self.nodata = nodata  # a file's: marked as its own nodata value (see _File)
        if isinstance(scene, (str, os.PathLike)):
            self.path = os.path.abspath(scene)  # the workers may have another working folder
            shape, dtype = self._file_header()
        else:
            if not hasattr(scene, "shape") or not hasattr(scene, "dtype"):
                scene = np.asarray(scene)
            if band is not None:
                if scene.ndim != 3:
                    raise ValueError(f"band={band} given for a {scene.ndim}-D scene")
                scene = scene[..., band]
            self.array = scene
            shape, dtype = tuple(scene.shape), np.dtype(scene.dtype)
        if len(shape) != 2:
            hint = " (choose one with band=)" if len(shape) == 3 else ""
            raise ValueError(f"expected a 2-D scene, got shape {shape}{hint}")
        if 0 in shape:
            raise ValueError(f"the scene is empty (shape {shape})")
        if dtype == bool or not np.issubdtype(dtype, np.number):
            raise ValueError(f"scene dtype {dtype} is not supported: pass numeric pixels")
        self.shape, self.dtype = shape, dtype

    def _file_header(self) -> tuple[tuple[int, ...], np.dtype]:
        path = Path(self.path)
        if not path.is_file():
            raise FileNotFoundError(f"scene file {self.path!r} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            scene = np.load(path, mmap_mode="r")
            shape = scene.shape
            if self.band is not None:
                axis = 0 if bands_first(shape) else -1  # planar (bands, rows, cols) or not
                if scene.ndim != 3 or not -shape[axis] <= self.band < shape[axis]:
                    raise ValueError(f"band={self.band} does not exist in {self.path!r} "
                                     f"(shape {shape})")
                shape = shape[1:] if axis == 0 else shape[:-1]
            return tuple(shape), self._as_read(scene.dtype, _marks(self.nodata))
        if suffix in (".tif", ".tiff"):
            with _open_raster(path) as source:
                count, dtype = source.count, np.dtype(source.dtypes[0])
                shape = (source.height, source.width)
                if self.band is not None and not 0 <= self.band < count:
                    raise ValueError(f"band={self.band} does not exist in {self.path!r} "
                                     f"({counted(count, 'band')})")
                # several bands with none chosen: an RGB(A) picture's gray, else refused
                indexes = read_bands(source, self.band, self.path)
                masked = bool(mask_bands(source, indexes))
                if band_scaling(source, indexes) is not None:  # physical values: float
                    dtype = np.result_type(dtype, np.float32)
            return shape, self._as_read(dtype, masked or _marks(self.nodata))
        raise ValueError(f"unsupported scene file type {suffix or '(none)'!r}: use .npy or "
                         ".tif, or pass a dask array")

    @staticmethod
    def _as_read(dtype, marked: bool) -> np.dtype:
        """The dtype of a file's windows: float (complex stays complex) where no-data is
        marked, NaN for it (:func:`_marked`)."""
        return np.result_type(dtype, np.float32) if marked else np.dtype(dtype)

    def window(self, r0: int, r1: int, c0: int, c1: int):
        """Something :func:`_pixels` turns into the pixels of a window, on a worker."""
        if self.path is not None:
            return _File(self.path, self.band, (r0, r1, c0, c1), self.nodata, self.dtype)
        window = self.array[r0:r1, c0:c1]
        return window if hasattr(window, "dask") else np.array(window)


# -- pass 1: statistics of the normalisation --------------------------------------------------


def _row_blocks(height: int, width: int, pixels: int = _BLOCK_PIXELS) -> list[tuple]:
    """Row blocks (row0, row1, start, step) of about ``pixels`` pixels each.

    :func:`sarfeat.normalize_sar` samples every ``step``-th pixel of the
    row-major image; ``start`` is the first of them inside the block.
    """
    step = max(1, height * width // value_scale.PERCENTILE_SAMPLE)
    rows = max(1, pixels // width)
    return [(r0, min(height, r0 + rows), (-r0 * width) % step, step)
            for r0 in range(0, height, rows)]


def _block_stats(window, start: int, step: int, nodata) -> dict:
    """What the client needs of one row block; ``start`` is its first sampled pixel."""
    raw = _pixels(window)
    values = preprocess.as_float32(raw)
    valid = preprocess.valid_mask(raw, nodata)
    positive = valid & (values > 0)
    return {
        "floor": values[positive].min() if positive.any() else None,
        "all_valid": bool(valid.all()),
        "sample": raw.ravel()[start::step].copy(),  # as the scene holds them: complex stays
        "sample_valid": valid.ravel()[start::step].copy(),
    }


@dataclass(frozen=True)
class _Normalization:
    """What brings every window to [0, 1] as the whole image would be: the scene's value
    map (:func:`sarfeat.preprocess.sample_scaling`) and its no-data fill."""

    scaling: SARScaling
    fill: float | None = None  # value of large no-data regions; None when every pixel is valid

    def apply(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The window in [0, 1] (float32) and its valid mask (None when all valid)."""
        values = self.scaling.apply(raw)
        valid = preprocess.valid_mask(raw, self.scaling.nodata)
        if valid.all():
            return values, None
        preprocess.fill_invalid(values, valid, median=self.fill)
        return values, valid


def _normalization(blocks: list[dict], input_kind: str, nodata) -> _Normalization:
    """Combine the row blocks' statistics as :func:`sarfeat.normalize_sar` would."""
    sample = np.concatenate([b["sample"] for b in blocks])
    valid = np.concatenate([b["sample_valid"] for b in blocks])
    floors = [b["floor"] for b in blocks if b["floor"] is not None]
    scaling = sample_scaling(sample, valid, min(floors) if floors else None, input_kind, nodata)
    if scaling is None:
        raise ValueError(
            "the regular sample of the scene holds no valid pixel (all NaN, nodata or "
            "masked there): the scene is (nearly) empty"
        )
    stretched = scaling.apply(sample)[valid]
    if stretched.max() == stretched.min():
        raise RuntimeError(
            "the scene is flat (all valid pixels have one value): there is nothing to detect"
        )
    if all(b["all_valid"] for b in blocks):
        return _Normalization(scaling)
    return _Normalization(scaling, float(np.median(stretched)))


# -- pass 2: detection tile by tile -----------------------------------------------------------


def _detect_window(window, tile: Tile, norm: _Normalization, weights, options: dict,
                   index: int, torch_threads: int | None) -> dict | None:
    """Keypoints in the core of one tile, in scene coordinates, the best first."""
    _worker.prepare_process(torch_threads)
    values, valid = norm.apply(_pixels(window))
    detector = _worker.detector(weights, options)
    r0, _, c0, _ = tile.outer
    cr0, cr1, cc0, cc1 = tile.core
    distance = None if valid is None else ndimage.distance_transform_edt(valid).astype(np.float32)
    found = detector.detect_tile(values, (cr0 - r0, cr1 - r0, cc0 - c0, cc1 - c0), distance)
    if found is None:
        return None
    found["keypoints"] = found["keypoints"] + np.array([r0, c0], dtype=np.float64)
    order = np.argsort(-(found["reliabilities"] * found["repeatabilities"]), kind="stable")
    order = order[: options["max_keypoints"]]
    found = {k: v[order] for k, v in found.items()}
    found["tile"] = np.full(len(order), index)
    found["position"] = order  # in the tile's own order: ties break as in the serial detector
    return found


def _keep_best(parts: list[dict], count: int) -> dict:
    """The ``count`` best of ``parts`` by response, ties by tile and position (serial order)."""
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    responses = merged["reliabilities"] * merged["repeatabilities"]
    order = np.lexsort((merged["position"], merged["tile"], -responses))[:count]
    return {k: v[order] for k, v in merged.items()}


def detect_tiled(
    scene: str | os.PathLike | da.Array | ArrayLike,
    *,
    client: Client | None = None,
    n_workers: int | None = None,
    weights: str | os.PathLike | R2D2Net | None = None,
    band: int | None = None,
    tile_size: int = 1024,
    max_keypoints: int = 5000,
    input_kind: str = "auto",
    nodata: float | None = None,
    reliability_threshold: float | None = None,
    repeatability_threshold: float | None = None,
    precision: str = "auto",
    device: str = "auto",
    trust: bool = False,
    retries: int = 2,
    torch_threads: int | None = 1,
    progress: bool = True,
) -> SceneFeatures:
    """Detect and describe keypoints of a large scene, tile by tile on Dask.

    Parameters
    ----------
    scene : path, dask array or array_like
        A ``.npy`` file (memory-mapped by each worker), a GeoTIFF (read by
        windows with rasterio; its no-data value or mask becomes NaN, as
        :func:`sarfeat.io.read_image` reads it), a 2-D
        Dask array, or a 2-D array in memory (its tiles are sent to the
        workers).
        Files must be readable at the same path on the workers (a relative
        path is taken from the client's working directory). Pixel values are
        as for :class:`~sarfeat.SARR2D2Detector` (intensity, amplitude,
        dB, display; NaN is no-data).
    client : distributed.Client, optional
        Where to run; by default a ``LocalCluster`` of ``n_workers``
        single-threaded processes, closed at the end.
    n_workers : int, optional
        Workers of the default cluster (one per CPU core by default).
    weights : str, path-like or R2D2Net, optional
        The network (default: the bundled ``'sarfeat-sar-v2'``, whose network is
        ``'sarfeat-sar-v1'``'s: upright detection uses neither release's
        rotation extras, so both give the same keypoints); each worker loads it
        once. A relative path is taken from the client's working directory.
    band : int, optional
        Band of a multi-band file or a 3-D array (last axis); a GeoTIFF picture's
        gray without one, as read_image (``sarfeat.parallel.scene_bands``).
    tile_size : int
        Core side of the tiles, in pixels; each tile also reads a halo of the
        network's reach (28 px) on each side. It bounds a worker's memory.
    max_keypoints : int
        Keep the best this many keypoints of the scene, by response.
    nodata : float, optional
        A pixel value that marks no-data besides NaN. In a file it is read as
        the file's own nodata value is (GDAL's rule,
        :func:`sarfeat.nodata_steps.nodata_valid_mask`: a complex pixel by its
        real part, a float within GDAL's tolerance), as ``sarfeat register``
        and ``sarfeat detect`` read ``--nodata``; in an array, compared as NumPy
        compares (:func:`sarfeat.preprocess.valid_mask`), as
        :class:`~sarfeat.SARR2D2Detector` compares it. A file's windows where
        no-data is marked are read as float, NaN for it.
    input_kind, precision, device : str
        As for :class:`~sarfeat.SARR2D2Detector`.
    reliability_threshold, repeatability_threshold : float, optional
        As for :class:`~sarfeat.SARR2D2Detector`.
    trust : bool
        As for :class:`~sarfeat.SARR2D2Detector`.
    retries : int
        Times Dask runs a task again after it raised.
    torch_threads : int or None
        Threads of each worker process's network (ONNX Runtime, and torch when
        it is loaded) and of its dense matcher (:func:`sarfeat.set_dense_threads`);
        None leaves them alone.
    progress : bool
        Show a progress bar over the tiles, in the client; the workers show none.

    Returns
    -------
    SceneFeatures
        The keypoints, best first, and their descriptors.

    Raises
    ------
    ValueError
        For a scene that is not 2-D, is empty, is not numeric, or has no valid
        pixel in its regular sample; for bad parameters.
    TypeError
        For a ``torch_threads`` that is neither None nor an int.
    RuntimeError
        When the scene is flat or no keypoint is found.

    Warns
    -----
    Warning
        A warning that a task raises on its worker (a GeoTIFF window read with a
        :class:`~sarfeat.io.GeoreferencingWarning`, a warning of the detector), which
        would go to the worker's standard error or log alone, is gathered there and
        raised again here, once per distinct warning, at the end: its message followed
        by the first task that raised it (a statistics row block or a tile, its pixels),
        its worker, and how many other tasks raised it
        (:mod:`sarfeat.parallel.scene_warnings`); each task counts, also one that a
        worker ran after another that raised it. When a task fails (or the call is
        interrupted), the warnings of the tasks that came back, and those of the task
        that failed, are raised before the error.

    Notes
    -----
    One pyramid level is computed, at full resolution. With the same
    ``tile_size``, the result equals that of
    ``SARR2D2Detector(weights, min_scale=1, max_size=max(scene.shape),
    tile_size=tile_size, max_keypoints=max_keypoints, upright=True)`` on the whole image,
    within rounding of the keypoint positions, because every tile sees the
    same normalised pixels and the same network.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> from sarfeat.data import load_sar_scene
    >>> from sarfeat.parallel import detect_tiled
    >>> scene = load_sar_scene("labrador")[..., 0]  # or a path: "scene.npy", "scene.tif"
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:  # without client=: n_workers worker processes
    ...     features = detect_tiled(scene, client=client, tile_size=128, max_keypoints=100,
    ...                             progress=False)
    >>> features.keypoints.shape, features.descriptors.shape
    ((100, 2), (100, 128))
    """
    started = time.perf_counter()
    check_input_kind(input_kind)
    source = _Scene(scene, band, nodata)
    if not (isinstance(retries, int) and retries >= 0):
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    checked_threads(torch_threads, "torch_threads")
    options = dict(
        max_keypoints=max_keypoints, min_scale=1.0, max_scale=1.0, max_size=max(source.shape),
        tile_size=tile_size, reliability_threshold=reliability_threshold,
        repeatability_threshold=repeatability_threshold, precision=precision, device=device,
        trust=trust, upright=True,
    )
    tiles = _checked_tiles(source, weights, options)
    float_dtype = keypoint_dtype(source.dtype)
    import dask

    raised = SceneWarnings()
    with raised.relayed():  # also those gathered before a task or the client raised
        with client_for(client, n_workers) as active:
            weights = _sent_weights(active, weights)
            # a file's windows carry their no-data, and nodata's, as NaN (_File.read)
            norm = _statistics(active, source, input_kind, None if source.path else nodata,
                               retries, progress, raised)
            task = dask.delayed(recorded_task, pure=False)
            best = _detect_tiles(active, task, source, tiles, norm=norm, weights=weights,
                                 options=options, torch_threads=torch_threads,
                                 retries=retries, progress=progress, raised=raised)
        return scene_features(best, source.shape, len(tiles), float_dtype, started)


def _checked_tiles(source: _Scene, weights, options: dict) -> list[Tile]:
    """The tiles of ``source``, once ``options['tile_size']`` and the detector's options
    are checked (on the client, so that a bad one fails once, not per tile)."""
    tile_size = options["tile_size"]
    if not (isinstance(tile_size, (int, np.integer)) and tile_size >= 16):
        raise ValueError(f"tile_size must be an integer >= 16, got {tile_size!r}")
    probe = SARR2D2Detector(_worker.network(weights, options["trust"]), **options)
    probe.check_parameters()
    height, width = source.shape
    return tile_grid(height, width, tile_size, probe.halo)


def _sent_weights(client, weights):
    """A network copied to every worker once; a path made absolute (a relative path is the
    client's, whatever the workers' working directory), a name as it is."""
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        return client.scatter(weights, broadcast=True, hash=False)
    return absolute_weights(weights)


def _detect_tiles(client, task, source: _Scene, tiles: list[Tile], *, norm: _Normalization,
                  weights, options: dict, torch_threads: int | None, retries: int,
                  progress: bool, raised: SceneWarnings) -> dict | None:
    """Pass 2: run ``task`` (:func:`recorded_task`) of :func:`_detect_window` on every tile;
    the ``options['max_keypoints']`` best keypoints, kept as tiles finish (None when none
    found). Each tile's warnings go to ``raised``."""

    def submit(index):
        tile = tiles[index]
        return client.compute(task(_detect_window, source.window(*tile.outer), tile, norm,
                                   weights, options, index, torch_threads), retries=retries)

    futures = [submit(index) for index in range(len(tiles))]
    best = None
    for index, future, _ in finished(futures, progress, "sarfeat tiles", "tile", submit):
        r0, r1, c0, c1 = tiles[index].outer
        found = raised.outcome(future, f"tile {index + 1} of {len(tiles)} (rows {r0}:{r1}, "
                               f"columns {c0}:{c1})")
        if found is not None:
            best = _keep_best([best, found] if best is not None else [found],
                              options["max_keypoints"])
    return best


def _statistics(client, source: _Scene, input_kind, nodata, retries, progress,
                raised: SceneWarnings) -> _Normalization:
    """Pass 1: the whole scene's normalisation, from row blocks summarised on the workers
    (their warnings to ``raised``)."""
    import dask

    task = dask.delayed(recorded_task, pure=False)
    blocks = _row_blocks(*source.shape)

    def submit(index):
        r0, r1, start, step = blocks[index]
        return client.compute(task(_block_stats, source.window(r0, r1, 0, source.shape[1]),
                                   start, step, nodata), retries=retries)

    futures = [submit(index) for index in range(len(blocks))]
    stats = [None] * len(futures)
    for index, future, _ in finished(futures, progress, "sarfeat statistics", "block", submit):
        r0, r1 = blocks[index][:2]
        stats[index] = raised.outcome(future, f"statistics row block {index + 1} of "
                                      f"{len(blocks)} (rows {r0}:{r1})")
    return _normalization(stats, input_kind, nodata)
