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
BLOCKS = {"tiled": True, "blockxsize": 16, "blockysize": 16}  # a small file's own blocks


def _write(path, bands: np.ndarray, nodata, transform=GEO, **layout):
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs="EPSG:32630",
                       transform=transform, nodata=nodata, **layout) as target:
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


def test_the_reference_check_reads_rows_of_blocks_until_a_valid_pixel(stack_files, tmp_path,
                                                                       monkeypatch, capsys):
    """The client read the whole matched band of a georeferenced reference to check that it
    has a valid pixel (240 MB at a 10980 px uint16 tile); it now reads rows of the file's
    blocks, top to bottom, and stops at the first that holds one. The error where none does
    is as before."""
    from _stack_helpers import record_stack_calls

    from sarfeat import raster_read
    from sarfeat.cli import main

    _, image, _ = stack_files
    given, windows = record_stack_calls(monkeypatch), []
    read_window = raster_read.read_raster_window
    monkeypatch.setattr(raster_read, "read_raster_window", lambda path, window, bands=None:
                        windows.append((window, bands)) or read_window(path, window, bands))
    monkeypatch.setattr(raster_read, "SCAN_BYTES", 1, raising=False)  # a row of blocks
    bands = np.zeros((2, 56, 40), np.uint16)  # 4 rows of 16 px blocks, the last 8 px high
    bands[0] = 7  # band 0 valid everywhere: band 1 is checked, alone
    rows = [(0, 16, 0, 40), (16, 32, 0, 40), (32, 48, 0, 40), (48, 56, 0, 40)]
    for valid_at, read in ((3, rows[:1]), (50, rows), (None, rows)):
        bands[1] = 0
        if valid_at is not None:  # one valid pixel, in the last column
            bands[1, valid_at, 39] = 9
        reference = _write(tmp_path / f"ref{valid_at}.tif", bands, 0, **BLOCKS)
        windows.clear()
        status = main(["register-stack", reference, image, "-o", str(tmp_path / "out"), "-q",
                       "--reference-band", "1", "--overwrite"])
        err = capsys.readouterr().err
        assert windows == [(window, (1,)) for window in read], (valid_at, windows)
        if valid_at is None:
            assert status == 2 and f"REFERENCE {reference!r} has no valid pixel in band 1: " \
                "all NaN or no-data" in err, err
        else:  # the pairs go to the tasks, which register nothing here
            assert status == 0 and given["pairs"][-1][0] == os.path.abspath(reference), err


@pytest.mark.parametrize("layout", [{}, {"tiled": False, "blockysize": 8}])
def test_band_has_valid_pixel_says_what_the_whole_band_says(tmp_path, monkeypatch, layout):
    """:func:`sarfeat.io.band_has_valid_pixel`, read by rows of blocks (striped or tiled),
    answers as the whole band read does: its file's nodata, a value given, a band from the
    end, a picture's gray (no-data where its alpha is zero)."""
    from sarfeat import raster_read
    from sarfeat.io import band_has_valid_pixel, read_raster_header
    from sarfeat.nodata_steps import mark_nodata

    monkeypatch.setattr(raster_read, "SCAN_BYTES", 1, raising=False)
    bands = np.full((2, 40, 24), 3, np.uint16)
    bands[1, 39, 23] = 4  # band 1: no-data (3) but its last pixel
    layout = {**BLOCKS, **layout}
    plain = _write(tmp_path / "plain.tif", bands, 3, **layout)
    rgba = np.zeros((4, 40, 24), np.uint8)
    rgba[:3] = 200
    picture = _write(tmp_path / "rgba.tif", rgba, None, photometric="RGB", alpha="YES",
                     **layout)
    for path, band, nodata, expected in ((plain, 0, None, False), (plain, 1, None, True),
                                         (plain, -1, 4, False), (plain, 0, 5, False),
                                         (picture, None, None, False)):
        header = read_raster_header(path)
        whole = np.isfinite(mark_nodata(read_raster(path), nodata).band(band)).any()
        assert band_has_valid_pixel(header, band, nodata) == whole == expected
    rgba[3, 33, 0] = 255  # one pixel seen through the alpha
    picture = _write(tmp_path / "rgba.tif", rgba, None, photometric="RGB", alpha="YES",
                     **layout)
    assert read_raster_header(picture).picture
    assert band_has_valid_pixel(read_raster_header(picture), None)
