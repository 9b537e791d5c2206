"""``sarfeat register`` of two georeferenced files reads the fixed file's header, then only
the band matched within the moving footprint's window, and finds what reading it whole finds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import sarfeat.io
import sarfeat.raster_read
from sarfeat.cli import main
from sarfeat.io import read_raster, read_raster_header, read_raster_window

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

UTM = CRS.from_epsg(32630)
GEO = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 4300000.0)
PAD = 192  # the fixed scene reaches this far beyond the moving tile on each side


def _write(path, bands, nodata, transform=GEO, scales=None):
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs=UTM,
                       transform=transform, nodata=nodata) as target:
        target.write(bands)
        if scales is not None:
            target.scales, target.offsets = scales
        target.descriptions = tuple(f"B{k}" for k in range(bands.shape[0]))
    return path


def _three_bands(optical: np.ndarray) -> np.ndarray:
    """uint16: noise, the optical tile padded around (some no-data: 0), a constant."""
    scene = np.pad(optical, PAD, mode="symmetric") * 100
    noise = np.random.default_rng(0).integers(1, 60000, scene.shape)
    bands = np.stack([noise, scene, np.full(scene.shape, 5)]).astype(np.uint16)
    bands[1, PAD + 20:PAD + 40, PAD + 30:PAD + 50] = 0  # no-data inside the matched window
    bands[:, :10, :] = 0  # and outside it, in every band
    return bands


def test_a_window_of_a_band_reads_as_the_whole_file_gives_it(tmp_path):
    bands = _three_bands(np.linspace(1, 200, 256 * 256).reshape(256, 256))
    path = _write(tmp_path / "three.tif", bands, 0,
                  scales=((1.0, 0.01, 1.0), (0.0, -5.0, 0.0)))
    whole = read_raster(path)
    window = (5, 300, 120, 410)
    part = read_raster_window(path, window, (1,))
    assert part.count == 1 and part.scaling == ((0.01, -5.0, None),)
    assert [description for description, _ in part.bands] == ["B1"]
    np.testing.assert_array_equal(part.band(0), whole.band(1, window=window))  # NaN and scale
    assert np.isnan(part.band(0)).any()
    assert part.transform == whole.transform @ Affine.translation(120, 5)
    every = read_raster_window(path, window)
    np.testing.assert_array_equal(every.data, whole.data[:, 5:300, 120:410])
    np.testing.assert_array_equal(every.valid, whole.valid[:, 5:300, 120:410])
    header = read_raster_header(path)
    assert header.data.shape == (0,) + whole.shape and header.data.dtype == whole.data.dtype
    assert (header.crs, header.transform, header.nodata, header.bands, header.scaling) == (
        whole.crs, whole.transform, whole.nodata, whole.bands, whole.scaling)
    np.save(tmp_path / "plain.npy", bands[1])
    assert read_raster_header(tmp_path / "plain.npy") is None  # read whole, by read_raster


def _register(tmp_path, name, fixed, moving, capsys):
    out = tmp_path / name
    out.mkdir()
    status = main(["register", str(fixed), str(moving), "--modality", "optical-sar",
                   "--fixed-band", "1", "-o", str(out / "out.tif"), "--json",
                   str(out / "r.json"), "--tie-points", str(out / "tie.csv"), "-q"])
    assert status == 0, capsys.readouterr().err
    with rasterio.open(out / "out.tif") as written:
        pixels, geo = written.read(), written.transform
    return json.loads((out / "r.json").read_text(encoding="utf-8")), pixels, geo, \
        (out / "tie.csv").read_text(encoding="utf-8")


def _without_times(report: dict) -> dict:
    """A report without its outputs' paths and its timings."""
    kept = {key: value for key, value in report.items()
            if key not in ("output", "tie_points", "seconds")}
    kept["diagnostics"] = {key: value for key, value in report["diagnostics"].items()
                           if not key.startswith("seconds")}
    return kept


def test_register_reads_only_the_matched_band_in_the_footprint_window(tmp_path, monkeypatch,
                                                                       capsys):
    from sarfeat.data import load_optical_sar_tile

    optical, sar = load_optical_sar_tile()
    fixed = _write(tmp_path / "optical.tif", _three_bands(optical), 0)
    moved = np.full(sar.shape, -1.0, np.float32)
    moved[:-4, 6:] = sar[4:, :-6]  # 6 px east and 4 px north of where the file says
    moving = _write(tmp_path / "sar.tif", moved[None], -1.0,
                    transform=GEO @ Affine.translation(PAD, PAD))
    whole_reads, window_reads = [], []
    read_whole, read_window = sarfeat.io.read_raster, sarfeat.raster_read.read_raster_window
    monkeypatch.setattr(sarfeat.io, "read_raster",
                        lambda path: whole_reads.append(str(path)) or read_whole(path))
    monkeypatch.setattr(sarfeat.raster_read, "read_raster_window",
                        lambda path, window, bands=None:
                        window_reads.append((window, bands)) or read_window(path, window, bands))
    windowed = _register(tmp_path, "windowed", fixed, moving, capsys)
    # the fixed file is never read whole; the moving one is read again for -o after matching
    # (its bands are let go while matching: tests/test_register_moving_again.py)
    assert whole_reads == [str(moving)] * 2
    matched = windowed[0]["fixed_window_matched"]
    assert window_reads == [((matched["row0"], matched["row1"], matched["col0"],
                              matched["col1"]), (1,))]  # band 1, in the window
    assert matched["row1"] - matched["row0"] == 256 + 2 * 64  # the footprint and its margin
    # read whole (as a fixed file that is not a GeoTIFF is): the same result, to the bit
    monkeypatch.setattr(sarfeat.io, "read_raster_header", lambda path: None)
    whole = _register(tmp_path, "whole", fixed, moving, capsys)
    assert str(fixed) in whole_reads
    assert _without_times(windowed[0]) == _without_times(whole[0])  # the transform too
    np.testing.assert_array_equal(windowed[1], whole[1])  # -o: the fixed grid, same pixels
    assert windowed[1].shape[1:] == (256 + 2 * PAD, 256 + 2 * PAD) and windowed[2] == GEO
    assert windowed[3] == whole[3]  # tie points
    truth = np.array([[1, 0, -PAD + 6.0], [0, 1, -PAD - 4.0], [0, 0, 1]])
    estimate = np.array(windowed[0]["transform_fixed_to_moving"])
    centre = np.array([PAD + 128.0, PAD + 128.0, 1.0])  # of the footprint: registered there
    assert np.abs(estimate @ centre - truth @ centre).max() < 3.0


def test_fixed_pixels_that_cannot_be_read_are_bad_input_as_when_read_whole(tmp_path,
                                                                          monkeypatch, capsys):
    from sarfeat.io import RasterError

    fixed = _write(tmp_path / "optical.tif", _three_bands(np.ones((256, 256)) * 2), 0)
    moving = _write(tmp_path / "sar.tif", np.ones((1, 256, 256), np.float32), -1.0,
                    transform=GEO @ Affine.translation(PAD, PAD))

    def broken(path, window, bands=None):
        raise RasterError(f"cannot read {str(path)!r}: a broken tile")

    monkeypatch.setattr(sarfeat.raster_read, "read_raster_window", broken)  # read_band_window's
    status = main(["register", str(fixed), str(moving), "--modality", "optical-sar",
                   "--fixed-band", "1", "--json", str(tmp_path / "r.json")])
    assert status == 2  # bad input, before any matching: no report
    assert "a broken tile" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
