"""Tests of :mod:`sarfeat.parallel`'s large-scene path (:func:`sarfeat.parallel.detect_tiled`)
on a LocalCluster of two worker processes.

Real SAR: a mosaic of the AIRSAR and Labrador scenes with a no-data band, read
from memory, a Dask array, ``.npy`` and GeoTIFF files, against the serial
detector; and the row-block statistics that normalise each window as the whole
image. Stacks of pairs are tested in test_parallel.py.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sarfeat import SARR2D2Detector

pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from sarfeat.parallel import detect_tiled  # noqa: E402 - after the skip

@pytest.fixture(scope="module")
def mosaic(airsar_cube):
    """A 512 x 768 mosaic of real SAR scenes with a no-data band (NaN)."""
    from sarfeat.data import load_sar_scene

    labrador = load_sar_scene("labrador")
    scene = np.block([
        [airsar_cube[..., 0], airsar_cube[::-1, :, 1], labrador[..., 0]],
        [labrador[:, ::-1, 1], airsar_cube[..., 2].T, airsar_cube[::-1, ::-1, 0]],
    ]).astype(np.float32)
    scene[300:340, 100:200] = np.nan
    return scene


@pytest.fixture(scope="module")
def single_process(mosaic):
    """The serial detector at full resolution, tile by tile, on the whole mosaic in memory."""
    detector = SARR2D2Detector(min_scale=1, max_size=max(mosaic.shape), tile_size=256,
                               max_keypoints=200, upright=True)
    detector.detect_and_extract(mosaic)
    return detector


def _geotiff(path, scene: np.ndarray) -> None:
    """``scene`` as a GeoTIFF whose no-data value (-1) marks its NaN pixels."""
    rasterio = pytest.importorskip("rasterio")
    height, width = scene.shape
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1,
                       dtype="float32", nodata=-1.0, tiled=True, crs="EPSG:32610",
                       transform=rasterio.Affine(10, 0, 550000, 0, -10, 4180000)) as target:
        target.write(np.nan_to_num(scene, nan=-1.0), 1)


@pytest.mark.parametrize("holder", ["npy", "dask", "geotiff"])
def test_tiled_detection_equals_single_process(client, mosaic, single_process, holder, tmp_path):
    if holder == "npy":
        scene = tmp_path / "scene.npy"
        np.save(scene, mosaic)
    elif holder == "geotiff":
        scene = tmp_path / "scene.tif"
        _geotiff(scene, mosaic)
    else:
        scene = da.from_array(mosaic, chunks=(200, 300))
    features = detect_tiled(scene, client=client, tile_size=256, max_keypoints=200,
                            progress=False)
    assert features.tiles == 6 and features.shape == mosaic.shape
    expected = single_process
    # max_keypoints bites (the scene has about 240 at full resolution): the same best ones,
    # in the same order
    assert len(features.keypoints) == len(expected.keypoints) == 200
    assert np.abs(features.keypoints - expected.keypoints).max() < 0.5
    np.testing.assert_allclose(features.responses, expected.responses, rtol=1e-5)
    np.testing.assert_allclose(features.descriptors, expected.descriptors, atol=1e-3)
    assert features.keypoints.dtype == np.float32 and features.descriptors.shape == (200, 128)
    # nothing found near the no-data band: the network's reach (28 px) of it is excluded
    rows, cols = features.keypoints.T.astype(np.float64)
    row_gap = np.maximum(0, np.maximum(300 - rows, rows - 339))
    col_gap = np.maximum(0, np.maximum(100 - cols, cols - 199))
    assert np.all(np.hypot(row_gap, col_gap) > 27)  # Euclidean, as the detector measures
    # keypoints from every part of the mosaic, i.e. from several tiles
    assert len(np.unique(np.floor(features.keypoints / 256), axis=0)) >= 4


def test_tiled_detection_reads_a_relative_path_from_the_clients_folder(client, airsar_cube,
                                                                       tmp_path, monkeypatch):
    """The workers started in another working directory: a relative scene path was looked up
    in theirs (missing there, or another scene of that name)."""
    scene = airsar_cube[:128, :128, 0]
    np.save(tmp_path / "scene.npy", scene)
    monkeypatch.chdir(tmp_path)
    options = dict(client=client, tile_size=64, max_keypoints=50, progress=False, retries=0)
    from_file = detect_tiled("scene.npy", **options)
    in_memory = detect_tiled(scene, **options)
    np.testing.assert_array_equal(from_file.keypoints, in_memory.keypoints)


def test_tiled_detection_reads_a_planar_npy_as_read_image_does(client, airsar_cube, tmp_path):
    """A (bands, rows, cols) .npy: band= took the last axis, a (bands, rows) 'scene'."""
    planar = np.ascontiguousarray(np.moveaxis(airsar_cube[:128, :128, :2], -1, 0))
    np.save(tmp_path / "planar.npy", planar)
    options = dict(client=client, tile_size=64, max_keypoints=50, progress=False, retries=0)
    from_file = detect_tiled(tmp_path / "planar.npy", band=1, **options)
    in_memory = detect_tiled(planar[1], **options)
    assert len(from_file.keypoints) > 0
    np.testing.assert_array_equal(from_file.keypoints, in_memory.keypoints)
    with pytest.raises(ValueError, match="band=2 does not exist"):
        detect_tiled(tmp_path / "planar.npy", band=2, **options)


def test_tiled_detection_honours_a_geotiffs_mask_band(client, airsar_cube, tmp_path):
    """Only the nodata value of a GeoTIFF was read: pixels masked out by its mask band (no
    nodata value) counted as data, so keypoints were found on the zero-filled masked strip,
    unlike the same file read by sarfeat.io.read_image."""
    rasterio = pytest.importorskip("rasterio")
    from sarfeat.io import read_image

    scene = airsar_cube[:128, :128, 0].astype(np.float32)
    scene[:, :48] = 0
    mask = np.full(scene.shape, 255, np.uint8)
    mask[:, :48] = 0
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), \
            rasterio.open(path, "w", driver="GTiff", height=128, width=128, count=1,
                          dtype="float32", crs="EPSG:32610",
                          transform=rasterio.Affine(10, 0, 550000, 0, -10, 4180000)) as target:
        target.write(scene, 1)
        target.write_mask(mask)
    options = dict(client=client, tile_size=64, max_keypoints=100, progress=False, retries=0)
    from_file = detect_tiled(path, **options)
    as_read = detect_tiled(read_image(path), **options)
    np.testing.assert_array_equal(from_file.keypoints, as_read.keypoints)


def _inputs(hh: np.ndarray) -> dict:
    """The same scene as each kind of input, with its no-data value."""
    rng = np.random.default_rng(1)
    with_nan = hh.copy()
    with_nan[40:60, :] = np.nan
    counts = np.round(hh / np.nanmax(hh) * 60000).astype(np.uint16)
    counts[:, :12] = 0
    quicklook = np.round(255 * np.clip(np.log10(hh) / 4 + 0.5, 0, 1)).astype(np.uint8)
    # skimage.img_as_int of the quick-look: 8-bit levels scaled to int16's range (divisor 32767)
    as_int16 = np.round(quicklook * (32767 / 255)).astype(np.int16)
    bright = quicklook.astype(np.uint16)
    bright[0, 1] = 300  # off the regular sample: the divisor stays 255, as normalize_sar's
    phase = np.exp(2j * np.pi * rng.random(hh.shape))
    return {
        "intensity with NaN": (with_nan, None),
        "uint16 with nodata=0": (counts, 0),
        "uint8 quick-look": (quicklook, None),
        "int16 quick-look": (as_int16, None),
        "uint16 quick-look, bright pixel": (bright, None),
        "dB": (10 * np.log10(hh).astype(np.float64), None),
        "complex": ((np.sqrt(hh) * phase).astype(np.complex64), None),
    }


@pytest.mark.parametrize("name", ["intensity with NaN", "uint16 with nodata=0", "uint8 quick-look",
                                  "int16 quick-look", "uint16 quick-look, bright pixel", "dB",
                                  "complex"])
def test_windows_are_normalised_as_the_whole_image(airsar_cube, monkeypatch, name):
    """Row-block statistics and per-window normalisation equal normalize_sar, bit for bit."""
    from sarfeat import normalize_sar, value_scale
    from sarfeat.parallel import scene as tiled

    monkeypatch.setattr(value_scale, "PERCENTILE_SAMPLE", 5000)  # a real stride at 256 px
    image, nodata = _inputs(airsar_cube[..., 0])[name]
    expected = normalize_sar(image, nodata=nodata)
    layout = tiled._row_blocks(*image.shape, pixels=256 * 37)
    assert len(layout) == 7 and layout[0][3] == 13  # uneven blocks, every 13th pixel sampled
    blocks = [tiled._block_stats(image[r0:r1], start, step, nodata)
              for r0, r1, start, step in layout]
    norm = tiled._normalization(blocks, "auto", nodata)
    assert norm.scaling.kind == expected.kind
    for rows, cols in [(slice(0, 100), slice(0, 256)), (slice(37, 256), slice(5, 140))]:
        values, valid = norm.apply(image[rows, cols])
        whole = expected.image[rows, cols]
        if expected.valid is None:
            assert valid is None
            np.testing.assert_array_equal(values, whole)
            continue
        assert valid is not None
        np.testing.assert_array_equal(valid, expected.valid[rows, cols])
        np.testing.assert_array_equal(values[valid], whole[valid])
        # no-data pixels are filled from their neighbours: the same away from the window's cut
        margin = np.zeros(values.shape, dtype=bool)
        margin[9:-9, 9:-9] = True
        inside = ~valid & margin
        np.testing.assert_allclose(values[inside], whole[inside], atol=1e-6)


@pytest.mark.parametrize("kind", ["intensity", "amplitude", "db", "display"])
def test_a_given_input_kind_gives_the_value_map_of_sar_scaling(airsar_cube, monkeypatch, kind):
    """With the input kind given, the row blocks' statistics give the value map that
    sar_scaling gives the whole image, and normalize_sar's values, for every kind of input."""
    from sarfeat import normalize_sar, value_scale
    from sarfeat.parallel import scene as tiled
    from sarfeat.preprocess import sar_scaling

    monkeypatch.setattr(value_scale, "PERCENTILE_SAMPLE", 5000)  # a real stride at 256 px
    for name, (image, nodata) in _inputs(airsar_cube[..., 0]).items():
        blocks = [tiled._block_stats(image[r0:r1], start, step, nodata)
                  for r0, r1, start, step in tiled._row_blocks(*image.shape, pixels=256 * 37)]
        norm = tiled._normalization(blocks, kind, nodata)
        assert norm.scaling == sar_scaling(image, kind, nodata), name
        values, valid = norm.apply(image[37:256, 5:140])
        expected = normalize_sar(image, input_kind=kind, nodata=nodata).image[37:256, 5:140]
        kept = np.ones(values.shape, bool) if valid is None else valid
        np.testing.assert_array_equal(values[kept], expected[kept], err_msg=name)


def test_an_int16_picture_in_one_block_is_divided_as_normalize_sar_divides_it(airsar_cube):
    """img_as_int of an 8-bit picture whose brightest level is even: that one value is a
    multiple of 257 too, and the divisor (32767) comes from the whole sample, not from it."""
    from sarfeat import normalize_sar
    from sarfeat.parallel import scene as tiled

    image, _ = _inputs(airsar_cube[..., 0])["int16 quick-look"]
    assert image.max() % 257 == 0
    (_, _, start, step), = tiled._row_blocks(*image.shape)  # one block: the whole image
    norm = tiled._normalization([tiled._block_stats(image, start, step, None)], "auto", None)
    assert (norm.scaling.kind, norm.scaling.divisor) == ("display", 32767.0)
    values, valid = norm.apply(image[10:90, 30:200])
    assert valid is None
    np.testing.assert_array_equal(values, normalize_sar(image).image[10:90, 30:200])


def test_a_geotiff_without_rasterio_asks_for_it(tmp_path, monkeypatch):
    """Reading a GeoTIFF by windows needs rasterio: without it, the error says so (before
    any cluster starts) and names the other way, a .npy file."""
    (tmp_path / "scene.tif").write_bytes(b"II*\x00")
    monkeypatch.setitem(sys.modules, "rasterio", None)  # import rasterio fails
    with pytest.raises(ImportError, match=r"needs rasterio .*convert it to \.npy"):
        detect_tiled(tmp_path / "scene.tif")


def test_tiled_detection_refuses_bad_scenes(client, tmp_path):
    with pytest.raises(ValueError, match="expected a 2-D scene"):
        detect_tiled(np.zeros(10), client=client)
    with pytest.raises(ValueError, match=r"choose one with band="):
        detect_tiled(np.zeros((8, 8, 3)), client=client)
    text = tmp_path / "scene.txt"
    text.write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported scene file type '.txt'"):
        detect_tiled(text, client=client)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_tiled(tmp_path / "missing.npy", client=client)
    with pytest.raises(RuntimeError, match="flat"):
        detect_tiled(np.full((300, 300), 5.0, np.float32), client=client, progress=False)
    with pytest.raises(ValueError, match="tile_size"):
        detect_tiled(np.ones((64, 64)), client=client, tile_size=8)
    with pytest.raises(ValueError, match="unknown input_kind 'dB'"):
        detect_tiled(np.ones((64, 64)), client=client, input_kind="dB")


@pytest.mark.parametrize("dtype", ["complex64", "float32"])
def test_a_files_nodata_marks_the_same_pixels_in_detect_detect_tiled_and_register(
        client, airsar_cube, tmp_path, dtype, capsys):
    """A nodata value given for a file (detect --nodata V, detect_tiled's nodata= with a
    path) was compared as NumPy compares: a complex pixel V + 2j, or a float within GDAL's
    tolerance of V, stayed valid, while register (and the file's own nodata value, as GDAL
    reads it) marks it no-data. detect, detect_tiled and register's reader now mark the
    same pixels, whether V is given or in the file's metadata."""
    rasterio = pytest.importorskip("rasterio")
    from sarfeat.cli import main
    from sarfeat.cli.common import with_nodata
    from sarfeat.io import read_raster
    from sarfeat.parallel import scene as tiled

    nodata = -9999.0
    near = np.nextafter(np.float32(nodata), np.float32(0))  # within GDAL's tolerance
    hh = airsar_cube[:128, :192, 0]
    phase = np.exp(2j * np.pi * np.random.default_rng(3).random(hh.shape))
    scene = (np.sqrt(hh) * phase if dtype == "complex64" else hh).astype(dtype)
    offset = (20 + np.arange(64.0)) * (1j if dtype == "complex64" else 0)
    scene[40:56, 50:114], scene[56:70, 50:114] = nodata + offset, near + offset
    scene[10, 10:20] = nodata * 1.001 + offset[:10]  # near it, but valid by any rule
    valid = np.ones(scene.shape, bool)
    valid[40:70, 50:114] = False
    as_read = np.where(valid, scene, np.nan).astype(dtype)
    paths = {}
    for name, tag in (("own", nodata), ("plain", None)):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", height=128, width=192, count=1,
                           dtype=dtype, nodata=tag, crs="EPSG:32610",
                           transform=rasterio.Affine(10, 0, 550000, 0, -10, 4180000)) as target:
            target.write(scene, 1)
    np.save(tmp_path / "as_read.npy", as_read)
    # register's reader
    np.testing.assert_array_equal(read_raster(paths["own"]).valid[0], valid)
    np.testing.assert_array_equal(with_nodata(read_raster(paths["plain"]), nodata).valid[0],
                                  valid)
    # detect_tiled: the windows its workers read, and the keypoints
    for path, given in ((paths["own"], None), (paths["plain"], nodata)):
        window = tiled._File(str(path), None, (0, 128, 0, 192), given).read()
        assert window.dtype == tiled._Scene(path, None, given).dtype == dtype  # complex kept
        np.testing.assert_array_equal(np.isfinite(window), valid)
    options = dict(client=client, tile_size=64, max_keypoints=100, progress=False, retries=0)
    expected = detect_tiled(as_read, **options)
    rows, cols = expected.keypoints.T.astype(np.float64)
    gap = np.hypot(np.maximum(0, np.maximum(40 - rows, rows - 69)),
                   np.maximum(0, np.maximum(50 - cols, cols - 113)))
    assert gap.min() > 27  # nothing within the network's reach of the no-data
    for found in (detect_tiled(paths["own"], **options),
                  detect_tiled(paths["plain"], nodata=nodata, **options)):
        np.testing.assert_array_equal(found.keypoints, expected.keypoints)
        np.testing.assert_array_equal(found.descriptors, expected.descriptors)
    # detect: --nodata V on the plain file, the file's own V, and the pixels as read
    keypoints = []
    for path, extra in ((paths["plain"], ["--nodata", str(nodata)]), (paths["own"], []),
                        (tmp_path / "as_read.npy", [])):
        out = tmp_path / f"{path.stem}.npz"
        assert main(["detect", str(path), "-o", str(out), "--upright", "--max-size", "192",
                     "--min-size", "96", "-q", *extra]) == 0
        keypoints.append(np.load(out)["keypoints"])
    capsys.readouterr()
    for found in keypoints[:2]:
        np.testing.assert_array_equal(found, keypoints[2])


def test_a_picture_geotiff_is_read_by_windows_as_read_image_reads_it(client, airsar_cube,
                                                                      tmp_path):
    """detect_tiled read a GeoTIFF's band ``band or 0`` with GDAL's mask of it: an RGBA
    picture with no band chosen was refused (``sarfeat detect`` detects on its gray), and
    its alpha band, chosen, was valid everywhere (read_image: no-data where it is 0).
    Gray + alpha, RGB and RGBA pictures now give read_image's pixels, window by window."""
    rasterio = pytest.importorskip("rasterio")
    from sarfeat.io import read_image, rgb_to_gray
    from sarfeat.parallel import scene as tiled

    hh = airsar_cube[:128, :128, 0]
    gray = np.clip(255 * np.sqrt(hh / np.percentile(hh, 99)), 0, 255)
    picture = np.clip([gray, 0.8 * gray + 30, 255 - 0.5 * gray, np.full(hh.shape, 255)],
                      0, 255).astype(np.uint8)
    picture[3, :, :40] = 0  # transparent: no-data
    paths = {}
    for name, bands, photometric in (("rgba", [0, 1, 2, 3], "RGB"), ("rgb", [0, 1, 2], "RGB"),
                                     ("gray_alpha", [0, 3], "MINISBLACK")):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", height=128, width=128,
                           count=len(bands), dtype="uint8", photometric=photometric,
                           alpha="YES" if 3 in bands else "NO") as target:
            target.write(picture[bands])
    for name, path in paths.items():
        with rasterio.open(path) as source:
            count = source.count
        for band in [None, *range(count)]:
            expected = read_image(path, band)
            window = tiled._File(str(path), band, (0, 128, 0, 128)).read()
            assert window.dtype == tiled._Scene(path, band).dtype == expected.dtype, (name, band)
            np.testing.assert_array_equal(window, expected, err_msg=f"{name} band {band}")
    transparent = read_image(paths["rgba"], 3)
    assert np.isnan(transparent[:, :40]).all() and np.isfinite(transparent[:, 40:]).all()
    np.testing.assert_array_equal(read_image(paths["rgba"])[:, 40:],
                                  rgb_to_gray(np.moveaxis(picture[:3, :, 40:], 0, -1)))
    options = dict(client=client, tile_size=64, max_keypoints=50, progress=False, retries=0)
    found = detect_tiled(paths["rgba"], **options)
    assert len(found.keypoints) > 0 and found.keypoints[:, 1].min() > 40
    np.testing.assert_array_equal(found.keypoints,
                                  detect_tiled(read_image(paths["rgba"]), **options).keypoints)
    # bands that are measurements, not a picture's colours: a band must still be chosen
    measured = tmp_path / "bands.tif"
    with rasterio.open(measured, "w", driver="GTiff", height=128, width=128, count=3,
                       dtype="float32") as target:
        target.write(picture[:3].astype(np.float32))
    with pytest.raises(ValueError, match="has 3 bands: choose one with band="):
        detect_tiled(measured, **options)
    # a band past the one of a file: "1 band", not "1 bands"
    single = tmp_path / "single.tif"
    with rasterio.open(single, "w", driver="GTiff", height=128, width=128, count=1,
                       dtype="float32") as target:
        target.write(picture[:1].astype(np.float32))
    with pytest.raises(ValueError, match=r"band=1 does not exist in .*single.tif' \(1 band\)$"):
        detect_tiled(single, band=1, **options)


def test_a_scene_geotiffs_windows_are_read_by_sarfeat_io_s_reader(tmp_path, monkeypatch):
    """detect_tiled's workers read a GeoTIFF's windows with a copy of what sarfeat.io reads
    (the band, its no-data, masks, alpha and scaling); they use its reader now
    (:func:`sarfeat.io.read_band_window`, that of register's FIXED). A window is what the
    whole file's band gives of it, float where the file can mark no-data even where the
    window holds none (every window of a scene in the scene's dtype)."""
    rasterio = pytest.importorskip("rasterio")
    from sarfeat import raster_read
    from sarfeat.io import read_raster
    from sarfeat.nodata_steps import mark_nodata
    from sarfeat.parallel import scene as tiled

    values = (np.arange(3 * 40 * 48) % 997 + 1).astype(np.uint16).reshape(3, 40, 48)
    values[1, 30:, :8] = 0  # band 1's no-data, in its bottom left only
    path = tmp_path / "bands.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=48, count=3,
                       dtype="uint16", nodata=0, crs="EPSG:32630",
                       transform=rasterio.Affine(10, 0, 600000, 0, -10, 4300000)) as target:
        target.write(values)
    windows = []
    read_window = raster_read.read_raster_window
    monkeypatch.setattr(raster_read, "read_raster_window", lambda path, window, bands=None:
                        windows.append((window, bands)) or read_window(path, window, bands))
    cases = ((1, None, (20, 40, 0, 24)), (1, None, (0, 20, 8, 48)), (2, 5.0, (0, 40, 0, 48)))
    for band, given, bounds in cases:
        scene = tiled._Scene(str(path), band, given)
        window = scene.window(*bounds).read()
        expected = mark_nodata(read_raster(path), given).band(band, window=bounds)
        assert window.dtype == scene.dtype == np.float32, (band, bounds)
        np.testing.assert_array_equal(window, expected.astype(np.float32))
    assert np.isnan(window).any() and windows == [(bounds, (band,)) for band, _, bounds in cases]
