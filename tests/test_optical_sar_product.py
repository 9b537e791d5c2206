"""The GeoTIFF product of ``sarfeat register --modality sar-optical``: the optical image
(several bands, uint8 or uint16) is the moving one, resampled onto the SAR grid, and
written as a GIS user reads it back (band names, colour interpretation, mask)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import warp

from sarfeat.cli import main
from sarfeat.io import read_raster

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.enums import ColorInterp  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

UTM = CRS.from_epsg(32633)
GRID = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)
#: fixed (SAR) (x, y) -> moving (optical) (x, y): the optical file's georeferencing is off
SHIFT = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])


def _write(path, bands, **options):
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs=UTM, transform=GRID,
                       **options) as target:
        target.write(bands)
    return path


@pytest.fixture
def sar_fixed(tile, tmp_path):
    return _write(tmp_path / "sar.tif", tile[1][None].astype(np.float32))


def _moved_optical(tile):
    """The optical tile as the moving file sees it (NaN outside), and where it is valid."""
    moved = warp(tile[0], np.linalg.inv(SHIFT), order=1, cval=np.nan, preserve_range=True)
    return moved, np.isfinite(moved)


def _register(fixed, moving, out, *options):
    return main(["register", str(fixed), str(moving), "--modality", "sar-optical", "-o",
                 str(out), *options])


def test_band_names_of_a_multiband_optical_image_are_written_back(tile, sar_fixed, tmp_path,
                                                                   capsys):
    # a Sentinel-2-like uint16 file (B4 B3 B2 B8) lost its band descriptions in the output
    moved, valid = _moved_optical(tile)
    bands = np.stack([moved * gain for gain in (40, 35, 30, 50)])
    bands = np.where(valid, np.rint(bands), 0).astype(np.uint16)
    moving = tmp_path / "s2.tif"
    with rasterio.open(_write(moving, bands, nodata=0), "r+") as target:
        target.descriptions = ("B4", "B3", "B2", "B8")
    out = tmp_path / "out.tif"
    assert _register(sar_fixed, moving, out, "--moving-band", "0") == 0, capsys.readouterr().err
    with rasterio.open(out) as written:
        assert written.descriptions == ("B4", "B3", "B2", "B8")
        assert written.dtypes == ("uint16",) * 4 and written.nodata == 0
        assert written.crs == UTM and written.transform == GRID
        assert written.colorinterp[1:] == (ColorInterp.undefined,) * 3


def test_an_rgba_optical_image_is_written_with_its_alpha_as_its_mask(tile, sar_fixed, tmp_path,
                                                                     capsys):
    # the output had nodata 0, which shadows the alpha band (GDAL's NodataShadowWarning),
    # and its alpha was interpolated as data: 1-254 along the edge, 255 where RGB was no-data
    moved, valid = _moved_optical(tile)
    rgb = np.where(valid, np.clip(np.rint(np.stack([moved, 0.8 * moved, 0.5 * moved])), 0, 255),
                   0)
    rgb[:, 100:110, 100:110] = 0  # black pixels that are data: the alpha says so
    bands = np.concatenate([rgb, 255 * valid[None]]).astype(np.uint8)
    moving = _write(tmp_path / "rgba.tif", bands, photometric="RGB", alpha="YES")
    out = tmp_path / "out.tif"
    assert _register(sar_fixed, moving, out) == 0, capsys.readouterr().err
    with rasterio.open(out) as written:
        assert written.nodata is None and written.count == 4
        assert written.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                                       ColorInterp.alpha)
        data, mask = written.read(), written.dataset_mask()
        assert written.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset,
                                              rasterio.enums.MaskFlags.alpha]
    assert set(np.unique(data[3])) == {0, 255}
    np.testing.assert_array_equal(mask, data[3])
    assert 0.9 < (mask > 0).mean() < 0.99  # the shifted footprint
    block = np.s_[106:110, 98:102]  # the black block on the fixed grid (rows + 3, cols - 5)
    assert (data[:3][(slice(None),) + block] == 0).all() and (mask[block] == 255).all()
    assert (data[:3][:, mask == 0] == 0).all()


def test_partial_alpha_of_an_rgba_optical_image_is_kept(tile, sar_fixed, tmp_path, capsys):
    # an anti-aliased orthophoto's alpha (128 here) was written 255: only 0/255 came out
    moved, valid = _moved_optical(tile)
    rgb = np.where(valid, np.clip(np.rint(np.stack([moved, 0.8 * moved, 0.5 * moved])), 0, 255),
                   0)
    alpha = 255 * valid
    alpha[60:80, 60:80] = 128  # half transparent, still data
    alpha[140:160, 140:160] = 0  # transparent: no-data
    alpha[139:161, 139] = alpha[139:161, 160] = alpha[139, 139:161] = alpha[160, 139:161] = 128
    bands = np.concatenate([rgb, alpha[None]]).astype(np.uint8)
    moving = _write(tmp_path / "rgba.tif", bands, photometric="RGB", alpha="YES")
    out = tmp_path / "out.tif"
    assert _register(sar_fixed, moving, out) == 0, capsys.readouterr().err
    with rasterio.open(out) as written:
        assert written.nodata is None and written.count == 4
        assert written.colorinterp[3] == ColorInterp.alpha
        data, mask = written.read(), written.dataset_mask()
    written_alpha = data[3]
    np.testing.assert_array_equal(mask, written_alpha)  # GDAL's mask is the alpha itself
    # on the fixed grid a moving pixel is at (row + 3, col - 5); blocks read 2 px inside
    assert (written_alpha[65:81, 57:73] == 128).all()
    assert (written_alpha[145:161, 137:153] == 0).all()
    assert (data[:3][:, written_alpha == 0] == 0).all()
    assert (written_alpha[20:50, 20:50] == 255).all()
    partial = (written_alpha > 0) & (written_alpha < 255)
    assert partial[140:166, 132:158].any()  # the anti-aliased ring, resampled
    back = read_raster(out)  # a partial alpha is data: no-data only where it is 0
    for band in back.valid[:3]:
        np.testing.assert_array_equal(band, written_alpha > 0)
