"""write_raster's GeoTIFF layout: GDAL creation options over the defaults, refused options
named with nothing written, and overviews that leave no-data out."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat import io

rasterio = pytest.importorskip("rasterio")

from _io_helpers import GEO, UTM  # noqa: E402


def _raster(dtype=np.float32, shape=(1100, 700), nodata=float("nan")):
    data = np.full((1, *shape), 50, dtype)
    valid = np.ones(data.shape, bool)
    valid[0, ::3] = False  # every third row no-data: an average that took it in would show
    valid[0, :, :100] = False
    data[~valid] = nodata
    return io.Raster(data, valid, nodata=nodata, crs=UTM, transform=GEO)


def _structure(path):
    with rasterio.open(path) as written:
        return (written.profile, written.tags(ns="IMAGE_STRUCTURE"), written.overviews(1))


def test_defaults_are_kept_without_options(tmp_path):
    raster = _raster()
    note = io.write_raster(tmp_path / "o.tif", raster)
    profile, structure, overviews = _structure(tmp_path / "o.tif")
    assert note.endswith("tiled, deflate")
    assert profile["tiled"] and (profile["blockxsize"], profile["blockysize"]) == (256, 256)
    assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "3"
    assert overviews == [] and "BIGTIFF" not in str(profile).upper()


@pytest.mark.parametrize("shape, options", [
    ((100, 700), None), ((300, 256), None), ((100, 100), {"COMPRESS": "LZW"}),
    ((300, 300), {"COMPRESS": "NONE", "TILED": "NO"})])
def test_the_note_says_the_layout_written(tmp_path, shape, options):
    """The note said 'tiled, deflate' for a default GeoTIFF under 256 px, written in strips."""
    import tifffile  # rasterio's profile calls a file one tile wide not tiled

    note = io.write_raster(tmp_path / "o.tif", _raster(shape=shape), creation_options=options)
    with tifffile.TiffFile(tmp_path / "o.tif") as written:
        tiled = written.pages[0].is_tiled
    assert tiled == (min(shape) >= 256 and options is None)
    compression = _structure(tmp_path / "o.tif")[1].get("COMPRESSION", "none").lower()
    assert f", {'tiled' if tiled else 'in strips'}, {compression}" in note, note
    assert ("tiled" in note) == tiled


def test_creation_options_override_the_defaults(tmp_path):
    raster = _raster(np.int16, nodata=-9999)
    note = io.write_raster(tmp_path / "z.tif", raster,
                           creation_options={"compress": "zstd", "BIGTIFF": "YES"})
    profile, structure, _ = _structure(tmp_path / "z.tif")
    assert structure["COMPRESSION"] == "ZSTD" and structure["PREDICTOR"] == "2"  # kept
    assert profile["tiled"] and profile["blockxsize"] == 256
    assert (tmp_path / "z.tif").read_bytes()[:4] == b"II+\x00"  # BigTIFF's header
    assert "zstd" in note and "BIGTIFF=YES" in note
    io.write_raster(tmp_path / "n.tif", raster, creation_options={"COMPRESS": "NONE",
                                                                  "TILED": "NO"})
    profile, structure, _ = _structure(tmp_path / "n.tif")
    assert "COMPRESSION" not in structure and "PREDICTOR" not in structure
    assert not profile["tiled"]
    with rasterio.open(tmp_path / "n.tif") as written:
        np.testing.assert_array_equal(written.read(), raster.data)
        assert written.crs == UTM and written.transform == GEO and written.nodata == -9999
    assert io.geotiff_creation_options("int16", (100, 100), {"COMPRESS": "LERC"}) \
        == {"COMPRESS": "LERC"}


@pytest.mark.parametrize("options, named", [
    ({"COMPRESS": "FOO"}, "'FOO' is an unexpected value for COMPRESS"),
    ({"NOT_AN_OPTION": "1"}, "does not support creation option NOT_AN_OPTION"),
    ({"PREDICTOR": "3"}, "PREDICTOR=3"),  # floating-point predictor, integer data
    ({"NBITS": "12"}, "NBITS is not supported for data type Int16"),  # a GDAL warning
    ({"BLOCKXSIZE": "100", "TILED": "YES"}, "multiples of 16"),
])
def test_refused_options_are_named_and_nothing_is_written(tmp_path, options, named):
    target = tmp_path / "o.tif"
    target.write_bytes(b"old")
    with pytest.raises(io.RasterError, match="GDAL refused the GeoTIFF creation options") as error:
        io.write_raster(target, _raster(np.int16, nodata=-9999), creation_options=options)
    assert named in str(error.value)
    assert ".tif:" not in str(error.value)  # not the name of GDAL's trial file in memory
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["o.tif"]


@pytest.mark.parametrize("options, overviews, text", [
    ({"COMPRESS": "ZSTD"}, False, "for a GeoTIFF"),
    (None, True, "for a GeoTIFF"),
    ({"bad key": "1"}, False, "GDAL option name"),
    ({"COMPRESS": ""}, False, "non-empty"),
    ({"NODATA": "0"}, False, "set from the raster"),
    ("COMPRESS=ZSTD", False, "mapping"),
    (None, [1, 2], "factors >= 2"),
])
def test_bad_arguments_are_refused(tmp_path, options, overviews, text):
    suffix = ".npy" if text == "for a GeoTIFF" else ".tif"
    with pytest.raises(io.RasterError, match=text):
        io.write_raster(tmp_path / f"o{suffix}", _raster(shape=(20, 20)),
                        creation_options=options, overviews=overviews)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype, nodata", [(np.float32, float("nan")), (np.int16, -9999)])
def test_overviews_average_the_valid_pixels_only(tmp_path, dtype, nodata):
    raster = _raster(dtype, nodata=nodata)
    note = io.write_raster(tmp_path / "o.tif", raster, overviews=True)
    assert "overviews 2, 4, 8 (average)" in note
    with rasterio.open(tmp_path / "o.tif") as written:
        assert written.overviews(1) == [2, 4, 8]  # down to 1100 / 8 = 138 <= 256 rows
        assert written.tags(ns="rio_overview") == {"resampling": "average"}
        np.testing.assert_array_equal(written.read(), raster.data)
        for factor in (2, 4, 8):
            shown = written.read(1, out_shape=(-(-1100 // factor), -(-700 // factor)))
            values = shown[~np.isnan(shown)] if np.isnan(nodata) else shown[shown != nodata]
            assert values.size and np.all(values == 50)  # never mixed with no-data


def test_overview_factors_and_resampling(tmp_path):
    assert io.overview_factors((1100, 700), True) == [2, 4, 8]
    assert io.overview_factors((256, 256), True) == [] and io.overview_factors((9, 9), False) == []
    assert io.overview_factors((9, 9), (4, 2, 4)) == [2, 4]
    classes = io.Raster(np.tile(np.arange(4, dtype=np.uint8), (1, 64, 16)),
                        np.ones((1, 64, 64), bool), nodata=255)
    io.write_raster(tmp_path / "c.tif", classes, overviews=[2], overview_resampling="nearest")
    with rasterio.open(tmp_path / "c.tif") as written:
        assert written.overviews(1) == [2]
        assert written.tags(ns="rio_overview") == {"resampling": "nearest"}
        assert set(np.unique(written.read(1, out_shape=(32, 32)))) <= {0, 1, 2, 3}
    with pytest.raises(io.RasterError, match="average, nearest, mode"):
        io.write_raster(tmp_path / "d.tif", classes, overviews=True, overview_resampling="cubic")
