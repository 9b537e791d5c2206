"""``sarfeat register-stack`` with a georeferenced GeoTIFF reference: the reference's path,
not its pixels, goes to the tasks, and each task reads only the band it matches in its
image's footprint window (as ``sarfeat register`` reads FIXED), finding what the whole
reference read in the client found."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

from sarfeat.io import Raster, read_raster

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402 - after the skip

GEO = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 4300000.0)
PAD = 96  # the reference reaches this far beyond the georeferenced image on each side


def _write(path, bands: np.ndarray, nodata, transform=GEO):
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs="EPSG:32630",
                       transform=transform, nodata=nodata) as target:
        target.write(bands)
    return str(path)


@pytest.fixture(scope="module")
def stack_files(tmp_path_factory):
    """A 3-band uint16 optical reference (band 1 the tile, no-data 0 in a patch), a SAR
    GeoTIFF 6 px east and 4 px north of where its georeferencing says, and a .npy image."""
    from sarfeat.data import load_optical_sar_tile

    folder = tmp_path_factory.mktemp("windowed_stack")
    optical, sar = load_optical_sar_tile()
    scene = np.pad(optical, PAD, mode="symmetric") * 100 + 1
    noise = np.random.default_rng(0).integers(1, 60000, scene.shape)
    bands = np.stack([noise, scene, np.full(scene.shape, 5)]).astype(np.uint16)
    bands[1, PAD + 20:PAD + 40, PAD + 30:PAD + 50] = 0  # no-data inside the matched window
    reference = _write(folder / "optical.tif", bands, 0)
    moved = np.full(sar.shape, -1.0, np.float32)
    moved[:-4, 6:] = sar[4:, :-6]
    image = _write(folder / "sar.tif", moved[None], -1.0, GEO @ Affine.translation(PAD, PAD))
    np.save(folder / "plain.npy", sar.astype(np.float32))
    return reference, image, str(folder / "plain.npy")


def _command(tmp_path, monkeypatch, reference, images):
    """What register-stack gives its tasks (no cluster, nothing registered), and the files
    the client read whole."""
    from _stack_helpers import record_stack_calls

    import sarfeat.cli.stack_inputs
    from sarfeat.cli import main

    given, whole = record_stack_calls(monkeypatch), []
    read_whole = sarfeat.cli.stack_inputs.read_raster
    monkeypatch.setattr(sarfeat.cli.stack_inputs, "read_raster",
                        lambda path: whole.append(str(path)) or read_whole(path))
    assert main(["register-stack", reference, *images, "-o", str(tmp_path / "out"), "-q",
                 "--modality", "optical-sar", "--reference-band", "1", "--overwrite"]) == 0
    return given, whole


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_register_stack_sends_a_georeferenced_reference_by_its_path(stack_files, tmp_path,
                                                                     monkeypatch):
    reference, image, plain = stack_files
    given, whole = _command(tmp_path, monkeypatch, reference, [image, plain])
    assert reference not in whole  # the client reads its header and band 1 only
    assert [fixed for fixed, _ in given["pairs"]] == [os.path.abspath(reference)] * 2
    unplaced = str(tmp_path / "unplaced.tif")  # the same bands, without georeferencing
    bands = read_raster(reference).data
    with rasterio.open(unplaced, "w", driver="GTiff", height=bands.shape[1],
                       width=bands.shape[2], count=3, dtype="uint16", nodata=0) as target:
        target.write(bands)
    given, whole = _command(tmp_path, monkeypatch, unplaced, [image])
    fixed = given["pairs"][0][0]  # not georeferenced: read whole and sent, as before
    assert isinstance(fixed, Raster) and fixed.count == 3 and whole == [unplaced]


def test_a_task_reads_the_reference_band_in_its_window_and_finds_the_same(stack_files,
                                                                         tmp_path,
                                                                         monkeypatch):
    from sarfeat import raster_read
    from sarfeat.parallel import stack

    reference, image, plain = stack_files
    given, _ = _command(tmp_path, monkeypatch, reference, [image])
    own = set(inspect.signature(stack.iter_register_pairs).parameters) - {"options"}
    options, register_options = stack._check_options(
        given["weights"], {key: value for key, value in given.items() if key not in own})

    def task(fixed, moving):
        return stack._register_task(0, "sar", fixed, moving, given["weights"], options,
                                    given["georeferenced_options"], register_options,
                                    given["band"], True, None, 1)

    whole, windows = [], []
    read_whole, read_window = stack.read_raster, raster_read.read_raster_window
    monkeypatch.setattr(stack, "read_raster",
                        lambda path: whole.append(str(path)) or read_whole(path))
    monkeypatch.setattr(raster_read, "read_raster_window", lambda path, window, bands=None:
                        windows.append((window, bands)) or read_window(path, window, bands))
    windowed = task(reference, image)
    assert windowed.ok, windowed.error
    assert whole == [image] and windows == [(windowed.inputs.window, (1,))]
    assert windowed.inputs.window == (PAD - 64, PAD + 256 + 64, PAD - 64, PAD + 256 + 64)
    read = task(read_whole(reference), image)  # the reference read whole, as before
    np.testing.assert_array_equal(windowed.result.transform.params, read.result.transform.params)
    np.testing.assert_array_equal(windowed.result.warped, read.result.warped)
    assert windowed.extra == read.extra
    truth = np.array([[1, 0, -PAD + 6.0], [0, 1, -PAD - 4.0], [0, 0, 1]])
    centre = np.array([PAD + 128.0, PAD + 128.0, 1.0])
    assert np.abs((windowed.result.transform.params - truth) @ centre).max() < 3.0
    whole.clear()
    assert task(reference, plain).ok  # an image without georeferencing: read whole
    assert sorted(whole) == sorted([reference, plain])
