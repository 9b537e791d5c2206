"""A register-stack task lets the moving file's bands go while it matches, when it read them
from a path, and reads the file again for its output, as ``sarfeat register`` reads MOVING
again for ``-o`` (sarfeat.parallel.task_pixels; benchmarks/README.md for the 10980 px set):
the same files written, an error if the file changed meanwhile, and an image given in memory
kept as it is."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
distributed = pytest.importorskip("distributed")

from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402

from sarfeat.cli import main  # noqa: E402
from sarfeat.io import Raster, read_raster, write_raster  # noqa: E402
from sarfeat.parallel import register_stack, stack, task_pixels  # noqa: E402

#: The optical tile's grid (10 m, UTM 33N); the SAR tile lies half a pixel east of it.
OPTICAL, SAR = (Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0) @ Affine.translation(x, 0)
                for x in (0, 0.5))


def _geotiff(path, band: np.ndarray, transform: Affine) -> None:
    """``band`` written as a GeoTIFF on ``transform``, NaN its no-data if it is float."""
    floating = band.dtype.kind == "f"
    write_raster(path, Raster(band[None], np.isfinite(band)[None],
                              nodata=float("nan") if floating else None,
                              crs=CRS.from_epsg(32633), transform=transform))


@pytest.fixture
def pair(tile, tmp_path):
    """The optical tile as a uint16 GeoTIFF and its SAR tile half a pixel east of it, so that
    the SAR band is brought onto the optical grid (a copy of its own) before matching."""
    paths = tmp_path / "optical.tif", tmp_path / "sar.tif"
    _geotiff(paths[0], (np.clip(tile[0], 0, 255) * 40).astype(np.uint16), OPTICAL)
    _geotiff(paths[1], tile[1].astype(np.float32), SAR)
    return paths


def _cluster():
    return distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None)


def _watch_matching(monkeypatch, moving_path, step=None) -> tuple[list, list]:
    """(weak references to the moving file's rasters as the tasks read them, for each
    register() call, whether the first of them is still held while it runs); ``step``, if
    given, runs in register() first."""
    read, held, real = stack._read, [], stack.register
    scenes: list = []

    def watched_read(image):
        raster = read(image)
        if str(image) == str(moving_path):
            scenes.append(weakref.ref(raster.data))
        return raster

    def watched_register(*args, **kwargs):
        gc.collect()
        held.append(scenes[0]() is not None)
        if step is not None:
            step()
        return real(*args, **kwargs)

    monkeypatch.setattr(stack, "_read", watched_read)
    monkeypatch.setattr(stack, "register", watched_register)
    return scenes, held


@pytest.mark.parametrize("given, keep_warped, kept", [
    ("path", False, False),  # read by the task: let go while matching, read again
    ("path", True, True),  # the outcome keeps its inputs' pixels: nothing let go
    ("raster", False, True),  # given in memory: it cannot be read again
])
def test_a_stack_task_lets_the_moving_bands_go_while_it_matches(pair, monkeypatch, given,
                                                                 keep_warped, kept):
    """The task held the moving file as read (every band, with its mask: 309 MB at the
    10980 px set) while it matched, for its output written afterwards."""
    moving = str(pair[1]) if given == "path" else read_raster(pair[1])
    scenes, held = _watch_matching(monkeypatch, pair[1])
    if given == "raster":
        scenes.append(weakref.ref(moving.data))
    with _cluster() as cluster, distributed.Client(cluster) as client:  # in this process
        outcome, = register_stack(str(pair[0]), [moving], client=client,
                                  modality="optical-sar", keep_warped=keep_warped,
                                  progress=False)
    assert outcome.ok, outcome.error
    assert held == [kept]
    assert outcome.inputs.resampled
    assert len(scenes) == (2 if given == "path" and not kept else 1)  # read again
    if keep_warped:
        assert outcome.inputs.moving.count == 1


def test_a_moving_file_changed_while_matched_fails_its_pair(pair, monkeypatch):
    def change():
        _geotiff(pair[1], read_raster(pair[1]).data[0] * 2, SAR)

    _watch_matching(monkeypatch, pair[1], change)
    with _cluster() as cluster, distributed.Client(cluster) as client:
        outcome, = register_stack(str(pair[0]), [str(pair[1])], client=client,
                                  modality="optical-sar", keep_warped=False, progress=False)
    assert not outcome.ok and outcome.error_type == "RasterError" and outcome.result is None
    assert "sar.tif changed while it was matched" in outcome.error


def test_register_stack_writes_the_same_files_from_the_moving_file_read_again(
        pair, tmp_path, monkeypatch):
    """The command line's outputs, the moving bands let go and read again, are those of the
    bands held throughout (``without_moving_bands`` made to keep them), byte for byte."""
    written = {}
    for run, let_go in (("held", False), ("again", True)):
        if not let_go:
            monkeypatch.setattr(stack, "without_moving_bands", lambda inputs, path: inputs)
        else:
            monkeypatch.setattr(stack, "without_moving_bands",
                                task_pixels.without_moving_bands)
        out = tmp_path / run
        with _cluster() as cluster, distributed.Client(cluster) as client:
            status = main(["register-stack", str(pair[0]), str(pair[1]), "-o", str(out),
                           "--modality", "optical-sar", "-q", "--no-progress",
                           "--scheduler", client.scheduler.address])
        assert status == 0
        report = json.loads((out / "sar.json").read_text())
        for key in ("worker", "diagnostics", "seconds", "output"):  # times, addresses, paths
            report.pop(key)
        written[run] = (out / "sar.registered.tif").read_bytes(), report
    assert written["held"][0] == written["again"][0]
    assert written["held"][1] == written["again"][1]
