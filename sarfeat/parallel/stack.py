"""Register stacks of SAR images, or lists of pairs, as Dask tasks.

One task registers one pair with :func:`sarfeat.register`. Each worker loads
the network once and keeps a :class:`~sarfeat.CoarseFineMatcher` per thread,
so a pair costs what :func:`~sarfeat.register` costs with ``matcher=``.
Two georeferenced rasters are matched as ``sarfeat register`` matches them
(:func:`sarfeat.registration.prepare_pair`), and their result is given in the
files' own pixels.
RANSAC's seed is fixed (``rng=0`` unless given), so a pair gives the same
transform on whichever worker it runs, and the same as the serial call.

Failures stay with their pair: a pair that cannot be registered (a
:class:`~sarfeat.RegistrationError`, a bad or unreadable input) comes back as
a :class:`PairOutcome` with ``error`` set, and the others are unaffected. An
``OSError`` or ``MemoryError`` is taken as transient and raised, so that Dask
runs the task again (``retries``), but for a full disk (or quota, or a
read-only file system: :func:`sarfeat.atomic_files.lasting_write_error`), which
fails the pair at once, as a rerun would meet it again; a worker that dies mid-task has its tasks
run again elsewhere by the Dask scheduler, and a pair whose task Dask gives up
on (``KilledWorker``, or cancelled as workers die) is submitted again, at most
``lost_retries`` times, then reported as lost.

The warnings that a task raises on its worker (a file read with a
:class:`~sarfeat.io.GeoreferencingWarning`, say), which would go to the worker's own
standard error or log, are gathered there and raised again on the client, once per
pair, naming it (:mod:`sarfeat.parallel.task_warnings`), also those of a task that
raised (an ``OSError`` after its retries), which its error carries.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..atomic_files import lasting_write_error
from ..io import (Raster, RasterError, band_count_view, read_band_window, read_raster,
                  read_raster_header)
from ..matching.dense_threads import checked_threads
from ..registration import (RegistrationError, check_register_options, pair_input_kind,
                            prepare_pair, register)
from ..weights import absolute_weights
from . import _worker
from ._client import LOST_RETRIES, client_for, finished, lost_error
from .pair_outcome import PairOutcome
from .task_pixels import (file_stamp, fixed_and_moving_bands, handing_over, matched_band,
                          moving_again, without_moving_bands, without_pixels)
from .task_warnings import carried, recorded, relay

if TYPE_CHECKING:
    from distributed import Client
    from numpy.typing import ArrayLike

    from ..network import R2D2Net

__all__ = ["PairOutcome", "iter_register_pairs", "register_pairs", "register_stack"]

#: Options of :func:`sarfeat.register` itself; the other options go to the matcher.
_REGISTER_OPTIONS = ("order", "min_valid_fraction")


def _read(image):
    """A file as a :class:`~sarfeat.io.Raster`; an array or a raster as it is."""
    return read_raster(image) if isinstance(image, (str, os.PathLike)) else image


def _read_pair(fixed, moving, fixed_band: int | None, nodata: float | None):
    """(fixed, moving, read_fixed) of a pair: a fixed GeoTIFF path beside a georeferenced
    moving image is read by its header (:func:`sarfeat.io.read_raster_header`), and
    ``read_fixed(window)`` reads its band ``fixed_band`` in that window alone, as ``sarfeat
    register`` reads FIXED; otherwise both are read whole (``read_fixed`` None)."""
    header = None
    if isinstance(fixed, (str, os.PathLike)):
        try:
            header = read_raster_header(fixed)
        except RasterError:  # not rasterio's: read whole, whose error (if any) is said
            header = None
    if header is None or not header.georeferenced:
        return _read(fixed), _read(moving), None
    moving = _read(moving)
    if not (isinstance(moving, Raster) and moving.georeferenced):
        return _read(fixed), moving, None
    # a band to choose or out of range: the error of the whole file's band()
    band_count_view(header, scaled=False).band(fixed_band, window=(0, 1, 0, 1))

    def read_fixed(window: tuple[int, int, int, int]) -> np.ndarray:
        return read_band_window(header, window, fixed_band, nodata)

    return header, moving, read_fixed


def _register_task(*task) -> PairOutcome:
    """Register one pair on a worker (:func:`_registered`), the warnings that it raises
    gathered there (:mod:`~sarfeat.parallel.task_warnings`) into ``extra['warnings']``; a
    task that raises has its error carry them (to :func:`_collect`)."""
    with recorded(_worker.worker_name()) as caught:
        outcome = _registered(*task)
    outcome.extra["warnings"] = caught
    return outcome


def _registered(index: int, name: str, fixed, moving, weights, options: dict,
                georeferenced_options: dict, register_options: dict, band, keep_warped: bool,
                postprocess: Callable | None, torch_threads: int | None) -> PairOutcome:
    """Register one pair on a worker (or in the client when there is none)."""
    started = time.perf_counter()
    _worker.prepare_process(torch_threads)
    outcome = PairOutcome(index, name, worker=_worker.worker_name())
    fixed_band, moving_band = fixed_and_moving_bands(band)
    received = fixed  # a path, or a raster or array that the worker's other tasks may share
    # a moving file can be read again for the output: its bands are let go while matching
    moving_path = moving if isinstance(moving, (str, os.PathLike)) else None
    stamp = file_stamp(moving_path) if moving_path is not None else None
    try:
        fixed, moving, read_fixed = _read_pair(fixed, moving, fixed_band, options.get("nodata"))
        # two uint8 pictures are display images, as `sarfeat register` reads them
        options = {**options, "input_kind": pair_input_kind(options.get("input_kind", "auto"),
                                                            fixed, moving)}
        if all(isinstance(image, Raster) and image.georeferenced for image in (fixed, moving)):
            options = {**options, **georeferenced_options}
            # as `sarfeat register`: on the footprints' overlap, on one grid
            outcome.extra.update(fixed_shape=fixed.shape, moving_shape=moving.shape,
                                 moving_dtype=str(moving.data.dtype))
            # an error names the image by its file (the reference is the same for all)
            names = ("the reference", str(moving.path or f"image {name!r}"))
            outcome.inputs = prepare_pair(fixed, moving, fixed_band, moving_band,
                                          nodata=options.get("nodata"), names=names,
                                          read_fixed=read_fixed)
            fixed, moving = outcome.inputs.fixed_image, outcome.inputs.moving_image
        else:
            nodata = options.get("nodata")
            fixed = matched_band(fixed, fixed_band, nodata)
            moving = matched_band(moving, moving_band, nodata)
            outcome.extra.update(fixed_shape=np.shape(fixed), moving_shape=np.shape(moving),
                                 moving_dtype=str(np.asarray(moving).dtype))
        matcher = _worker.matcher(weights, options)
        if not keep_warped:  # the task's own fixed band is let go once the matcher has its copy
            outcome.inputs, fixed = handing_over(outcome.inputs, fixed, received)
            if outcome.inputs is not None:
                outcome.inputs = without_moving_bands(outcome.inputs, moving_path)
        outcome.extra["searched"] = True  # an error from here on is the search's
        # no bar from a worker: the client shows its own over the pairs (see _worker)
        result = register(fixed, moving, matcher=matcher, progress=False, **register_options)
        if outcome.inputs is not None:  # fixed file pixels -> the moving file's own pixels
            # the moving file's bands, let go while matching, read again (unless changed)
            outcome.inputs = moving_again(outcome.inputs, moving_path, stamp, _read,
                                          options.get("nodata"))
            result = outcome.inputs.in_file_pixels(result, moving_band)
        outcome.result = result  # none for a pair failed here
    except Exception as error:  # noqa: BLE001 - reported with its pair, the others go on
        if isinstance(error, (OSError, MemoryError)) and not lasting_write_error(error):
            raise  # possibly transient: let Dask retry the task
        outcome.error, outcome.error_type = _sentence(error), type(error).__name__
        # what ran the keypoint network when the matcher ran and found no model
        found = getattr(error, "diagnostics", None) or {}
        outcome.extra["network"] = found.get("network")
        outcome.extra["too_small"] = found.get("too_small")  # for the fine stage's templates
        outcome.extra["failed_image"] = getattr(error, "image", None)  # 'fixed', 'moving'...
        if isinstance(error, RegistrationError) and error.diagnostics is None:
            outcome.extra["searched"] = False  # refused by register's input checks, before it
    outcome.seconds = time.perf_counter() - started
    if postprocess is not None:
        try:
            outcome = postprocess(outcome)
        except Exception as error:  # noqa: BLE001
            if isinstance(error, (OSError, MemoryError)) and not lasting_write_error(error):
                raise  # possibly transient: let Dask retry the task
            outcome = replace(outcome, result=None, error=f"postprocess: {_sentence(error)}",
                              error_type=type(error).__name__)
    if not keep_warped and outcome.result is not None:
        outcome.result.warped = None
    if not keep_warped and outcome.inputs is not None:
        outcome.inputs = without_pixels(outcome.inputs)
    return outcome


def _sentence(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _lost_sentence(error: BaseException, losses: int) -> str:
    """Why a task failed on the client's side; says so when it was lost with its worker."""
    sentence = _sentence(error)
    if lost_error(error):
        runs = f"{losses + 1} times" if losses else "once"
        return (f"the task was lost {runs} (its worker died, or it was cancelled as workers "
                f"died; {type(error).__name__}: {sentence})")
    return sentence


def _default_name(index: int, moving) -> str:
    if isinstance(moving, (str, os.PathLike)):
        return Path(moving).stem
    return f"pair_{index:03d}"


def _check_options(weights, options: dict) -> tuple[dict, dict]:
    """Split and check the options on the client, so that a typo fails once, not per pair."""
    from ..detector import SARR2D2Detector
    from ..matching import MATCHER_SETS, CoarseFineMatcher

    register_options = {k: options.pop(k) for k in _REGISTER_OPTIONS if k in options}
    rng = options.setdefault("rng", 0)
    if rng is not None and not isinstance(rng, (int, np.integer)):
        raise ValueError(
            "rng must be an int seed (or None) in sarfeat.parallel: a Generator's state would "
            f"be copied to every task, got {type(rng).__name__}"
        )
    probe = CoarseFineMatcher(None, **options)
    probe.check_parameters()
    detector_options = {k: v for k, v in probe.detector_options.items() if k not in MATCHER_SETS}
    try:
        SARR2D2Detector(**detector_options).check_parameters()
    except TypeError as error:
        raise ValueError(f"unknown matcher or detector option: {error}") from None
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        from ..architecture import NetworkWeights
        from ..weights import is_torch_network

        if not (isinstance(weights, NetworkWeights) or is_torch_network(weights)):
            raise TypeError("weights must be None, a checkpoint path, a registry name or "
                            "an R2D2Net")
    check_register_options(**register_options)
    return options, register_options


def iter_register_pairs(
    pairs: Iterable[tuple],
    *,
    client: Client | None = None,
    n_workers: int | None = None,
    names: Sequence[str] | None = None,
    weights: str | os.PathLike | R2D2Net | None = None,
    band: int | None | tuple[int | None, int | None] = None,
    georeferenced_options: dict | None = None,
    retries: int = 2,
    lost_retries: int = LOST_RETRIES,
    keep_warped: bool = True,
    postprocess: Callable[[PairOutcome], PairOutcome] | None = None,
    torch_threads: int | None = 1,
    progress: bool = True,
    **options: Any,
) -> Iterator[PairOutcome]:
    """Register pairs on Dask and yield each outcome as soon as it is ready.

    Parameters
    ----------
    pairs : iterable of (fixed, moving)
        Each image is a 2-D array, a :class:`sarfeat.io.Raster` or the path of
        a file that :func:`sarfeat.io.read_raster` reads (``.npy``, PNG, JPEG,
        TIFF or GeoTIFF). Two georeferenced rasters (or files) are matched as
        ``sarfeat register`` matches them
        (:func:`sarfeat.registration.prepare_pair`: the fixed image cropped to
        the moving footprint, a moving image on another grid or in another CRS
        brought onto it; footprints that do not overlap fail with that reason),
        and the result is given in the files' pixels
        (:meth:`~sarfeat.registration.PairInputs.in_file_pixels`: ``transform``
        maps the fixed file's pixels to the moving file's, its affine fit across two
        CRSs, where the moving keypoints are placed, and ``warped`` resampled onto the whole
        fixed grid, by the exact map between them). Paths are read by the workers (they must see
        the same file system; a relative path is taken from the client's working directory),
        which is the way for large archives: a fixed GeoTIFF given by path beside a
        georeferenced moving image is read by its header, then only its band matched within
        the moving footprint's window. An array used by several pairs (a stack's reference)
        is copied to every worker once; other arrays travel with their task.
    client : distributed.Client, optional
        Where to run. By default a ``LocalCluster`` of ``n_workers``
        single-threaded processes is started and closed at the end.
    n_workers : int, optional
        Workers of the default cluster (one per CPU core by default).
    names : sequence of str, optional
        One name per pair (default: the moving file's stem, or ``pair_<i>``, ``i`` in
        three digits at least).
    weights : str, path-like or R2D2Net, optional
        The network, as for :func:`sarfeat.register`; each worker loads it
        once. A path must exist on the workers; a relative one is taken from
        the client's working directory, as image paths are.
    band : int or (int or None, int or None), optional
        Band of multi-band files given by path (:meth:`sarfeat.io.Raster.band`):
        one for both images, or a (fixed band, moving band) pair (an optical
        reference's band beside a SAR image's).
    georeferenced_options : dict, optional
        Matcher options that replace those of ``options`` for a pair of two
        georeferenced rasters (``sarfeat register-stack``: only the upright
        turn of an optical pair brought onto one grid, as ``sarfeat register``
        searches it). ``progress`` is refused: the workers show no bar.
    retries : int
        Times Dask runs a task again after an ``OSError`` or ``MemoryError``; a
        full disk, quota or read-only file system is not retried (the pair fails
        with that error at once).
    lost_retries : int
        Times a pair lost with its worker is submitted again: its task was
        running on workers that died (``KilledWorker``) or was cancelled as
        workers died (``FutureCancelledError``). A pair still lost after that
        is reported with ``error`` saying so.
    keep_warped : bool
        Send the warped images back (False saves memory and transfers; then
        ``result.warped`` is None, and a fixed band that a task holds of its own, read
        from a file or converted from the fixed image received, is handed over to the
        matcher, freed once it has made its working copy, as ``sarfeat register`` hands
        FIXED's over; a band that is a view of a shared fixed image is left as it is; and a
        moving image given by path whose band matched is a copy of its own (brought onto the
        fixed grid) has its file's bands let go while it is matched and read again for
        ``postprocess``, as ``sarfeat register`` reads MOVING again for ``-o``: a file
        changed meanwhile fails the pair, a :class:`~sarfeat.io.RasterError`). A
        band that its file scales or offsets
        (GDAL scale and offset) is warped as its physical values, the values
        matched; the command line's products keep the stored values.
    postprocess : callable, optional
        ``postprocess(outcome) -> outcome``, run on the worker after each pair
        and before ``keep_warped`` applies (for example to write the
        registered image where the worker runs). It must be picklable (a module-level
        function or a :func:`functools.partial` of one).
    torch_threads : int or None
        Threads of each worker process: of its network (ONNX Runtime, and
        torch when it is loaded) and of the optical-SAR matcher's candidates
        (:func:`sarfeat.set_dense_threads`, which then outweighs the workers'
        ``OMP_NUM_THREADS``). 1 suits one single-threaded worker per core;
        None leaves the workers' settings alone.
    progress : bool
        Show a progress bar over the pairs, in the client; the workers show none
        (their matchers' fine-stage bar is off).
    **options : dict, optional
        ``order`` and ``min_valid_fraction`` of :func:`sarfeat.register`, and
        the :class:`~sarfeat.CoarseFineMatcher` options (``model``, ``rng``,
        ``rotations``, ``input_kind``, ``nodata``, detector options...).
        ``rng`` defaults to 0 so that results do not depend on scheduling.
        ``input_kind='auto'`` (the default) of two uint8 images is ``'display'``
        (:func:`sarfeat.registration.pair_input_kind`).

    Yields
    ------
    PairOutcome
        In the order the pairs finish; ``outcome.index`` gives the pair.

    Raises
    ------
    ValueError
        For bad options (``progress`` in ``georeferenced_options``), names of the
        wrong length or a pair that is not two images; for a ``torch_threads``
        below 1.
    TypeError
        For a ``torch_threads`` that is neither None nor an int.
    ImportError
        When dask.distributed is not installed.
    """
    pairs = list(pairs)
    _check_counts(pairs, names, retries, lost_retries)
    checked_threads(torch_threads, "torch_threads")
    band = fixed_and_moving_bands(band)
    georeferenced_options = dict(georeferenced_options or {})
    options, register_options = _check_options(weights, dict(options))
    _check_georeferenced_options(weights, options, georeferenced_options)
    names = [str(n) for n in names] if names is not None else \
        [_default_name(i, moving) for i, (_, moving) in enumerate(pairs)]
    if not pairs:
        return
    task_options = (options, georeferenced_options, register_options, band, keep_warped,
                    postprocess, torch_threads)
    with client_for(client, n_workers) as active:
        submitter = _Submitter(active, pairs, names, weights, task_options, retries)
        futures = [submitter.submit(index) for index in range(len(pairs))]
        # a pair lost with its worker (killed, or cancelled as workers die) runs again, at most
        # lost_retries times
        for index, future, losses in finished(futures, progress, "sarfeat pairs", "pair",
                                              submitter.submit_again, lost_retries):
            yield _collect(future, index, names[index], losses)


def _check_counts(pairs: list, names: Sequence[str] | None, retries: int,
                  lost_retries: int) -> None:
    """Refuse a pair that is not two images, names of the wrong length and bad retry counts."""
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"pair {index} is not a (fixed, moving) pair of images")
    if names is not None and len(names) != len(pairs):
        raise ValueError(f"names has {len(names)} entries for {len(pairs)} pairs")
    if not (isinstance(retries, int) and retries >= 0):
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    if not (isinstance(lost_retries, int) and lost_retries >= 0):
        raise ValueError(f"lost_retries must be a non-negative integer, got {lost_retries!r}")


def _check_georeferenced_options(weights, options: dict, georeferenced_options: dict) -> None:
    """Refuse ``georeferenced_options`` that are not matcher options, or that set ``progress``;
    check them over ``options`` as :func:`_check_options` does."""
    if set(georeferenced_options) & set(_REGISTER_OPTIONS):
        raise ValueError(f"georeferenced_options are matcher options: not {_REGISTER_OPTIONS}")
    if "progress" in georeferenced_options:  # the workers' matchers show no bar (see _worker)
        raise ValueError("georeferenced_options cannot set progress: the workers show no "
                         "progress bar; progress= shows the client's bar over the pairs")
    if georeferenced_options:
        _check_options(weights, {**options, **georeferenced_options})


class _Submitter:
    """Submits the pairs' tasks to ``client``, sending each image the way it travels best.

    An array used by several pairs (a stack's reference) is copied to every worker once; the
    others travel inside their task, which can then run again on another worker when its
    worker dies (scattered data would die with it). Copies are scattered anew after a pair
    that used the current ones is lost: they may have been lost with it (the client learns of
    it only later), and a pair submitted again would then be cancelled at once for its lost
    dependency.
    """

    def __init__(self, client, pairs: list, names: list[str], weights, task_options: tuple,
                 retries: int):
        self.client, self.pairs, self.names = client, pairs, names
        self.task_options, self.retries = task_options, retries
        self.uses: dict[int, int] = {}
        for pair in pairs:
            for image in pair:
                self.uses[id(image)] = self.uses.get(id(image), 0) + 1
        self.sent: dict[int, object] = {}
        self.epoch = 0  # bumped when a pair that used the current copies is lost
        self.sent_epoch: dict[int, int] = {}
        self.used_epoch: dict[int, int] = {}
        self.network = weights is not None and not isinstance(weights, (str, os.PathLike))
        self.weights = weights
        # a path as image paths are
        self.named = None if self.network else absolute_weights(weights)

    def send(self, image):
        """A path made absolute, an array used once as it is, a shared one scattered."""
        if isinstance(image, (str, os.PathLike)):
            # the client's working directory: a worker's may be another (a remote one's is)
            return os.path.abspath(image)
        if self.uses[id(image)] == 1:
            return image
        return self.scattered(image)

    def scattered(self, value):
        """``value`` copied to every worker, once per epoch (again if its copy was lost)."""
        key = id(value)
        if (key not in self.sent or self.sent[key].status != "finished"
                or self.sent_epoch[key] < self.epoch):
            self.sent[key] = self.client.scatter(value, broadcast=True, hash=False)
            self.sent_epoch[key] = self.epoch
        return self.sent[key]

    def submit(self, index: int):
        """Submit the task of pair ``index``; its future."""
        fixed, moving = self.pairs[index]
        self.used_epoch[index] = self.epoch
        return self.client.submit(
            _register_task, index, self.names[index], self.send(fixed), self.send(moving),
            self.scattered(self.weights) if self.network else self.named,
            *self.task_options,
            retries=self.retries, pure=False,
        )

    def submit_again(self, index: int):
        """Submit a lost pair again, on new copies when it ran on the current ones."""
        if self.used_epoch[index] == self.epoch:  # it ran on the current copies: send new ones
            self.epoch += 1
        return self.submit(index)


def _collect(future, index: int, name: str, losses: int) -> PairOutcome:
    """The outcome of a finished task, or of its failure on the client's side."""
    try:
        # blocks again when a worker died holding the result: it is being recomputed
        outcome = future.result()
    except Exception as error:  # noqa: BLE001 - after retries, or a worker died too often
        outcome = PairOutcome(index, name, error=_lost_sentence(error, losses),
                              error_type=type(error).__name__)
        caught, outcome.worker = carried(error)  # what the task raised: none when lost
        if caught:
            outcome.extra["warnings"] = caught
    future.release()
    relay(outcome.extra.get("warnings"), f"pair {name!r}, on worker {outcome.worker}")
    return outcome


def register_pairs(pairs: Iterable[tuple], **kwargs: Any) -> list[PairOutcome]:
    """Register pairs on Dask; the outcomes in the order of ``pairs``.

    Parameters
    ----------
    pairs : iterable of (fixed, moving)
        As for :func:`iter_register_pairs`.
    **kwargs : dict, optional
        The other parameters of :func:`iter_register_pairs`, which yields the
        same outcomes as they finish.

    Returns
    -------
    list of PairOutcome
        ``outcomes[i]`` is the outcome of ``pairs[i]``; failed pairs have
        ``error`` set and ``result`` None.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client, LocalCluster
    >>> from sarfeat.data import load_sar_scene
    >>> from sarfeat.parallel import register_pairs
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> pairs = [(scene[:224, :224, 0], scene[8:232, 5:229, 0]),  # moved by (x, y) = (5, 8)
    ...          (scene[:224, :224, 0], np.ones((224, 224)))]  # a constant image: refused
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:  # without client=: n_workers worker processes
    ...     outcomes = register_pairs(pairs, client=client, progress=False)
    >>> [np.round(o.result.transform.translation).tolist() for o in outcomes if o.ok]
    [[-5.0, -8.0]]
    >>> [(o.name, o.error_type) for o in outcomes if not o.ok]
    [('pair_001', 'RegistrationError')]
    """
    outcomes = sorted(iter_register_pairs(pairs, **kwargs), key=lambda o: o.index)
    return outcomes


def register_stack(reference: ArrayLike | Raster | str | os.PathLike, images: Iterable,
                   **kwargs: Any) -> list[PairOutcome]:
    """Register every image of a stack onto one reference, on Dask.

    Parameters
    ----------
    reference : (H, W) array_like, Raster or path
        The fixed image of every pair; sent to each worker once.
    images : iterable of (H, W) array_like, Raster or path
        The moving images. A georeferenced one, with a georeferenced
        reference, is matched as ``sarfeat register`` matches the pair (see
        :func:`iter_register_pairs`).
    **kwargs : dict, optional
        The parameters of :func:`iter_register_pairs` (``client``,
        ``n_workers``, ``names``, ``weights``, ``retries``, ``progress``,
        matcher options, ...).

    Returns
    -------
    list of PairOutcome
        One per image, in the order of ``images``; failed images have
        ``error`` set and ``result`` None.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> from sarfeat.data import load_sar_scene
    >>> from sarfeat.parallel import register_stack
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> reference = scene[:224, :224, 0]
    >>> stack = [scene[8:232, 5:229, 1], scene[16:240, 16:240, 0]]
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:  # without client=: n_workers worker processes
    ...     outcomes = register_stack(reference, stack, client=client, names=["vh", "vv"],
    ...                               progress=False)
    >>> [o.name for o in outcomes if o.ok]
    ['vh', 'vv']
    """
    return register_pairs([(reference, image) for image in images], **kwargs)
