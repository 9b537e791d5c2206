"""A GeoTIFF band's GDAL scale and offset: what detection and matching see of it.

The stored values (``Raster.data``) stay as they are and are written back with
their scale and offset; :meth:`sarfeat.io.Raster.band` and
:func:`sarfeat.io.read_image`, and the windows of :func:`sarfeat.parallel.detect_tiled`,
give the physical values, stored * scale + offset, no-data marked on the stored values.
Real data: the bundled Sentinel-1 Labrador intensity stored as uint16 DN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sarfeat import io
from sarfeat.data import load_sar_scene
from sarfeat.preprocess import sar_scaling
from sarfeat.registration import pair_input_kind

rasterio = pytest.importorskip("rasterio")

#: physical intensity = DN * 2 - 20000: DN 10000 is intensity 0, DN 0 (below) is no-data
SCALE, OFFSET = 2.0, -20000.0


@pytest.fixture(scope="module")
def dn():
    """Labrador's VV and VH intensity as uint16 DN under SCALE and OFFSET, 0 on no-data."""
    scene = load_sar_scene("labrador")[:96, :128].astype(np.float64)
    stored = np.rint((np.moveaxis(scene, -1, 0) - OFFSET) / SCALE).astype(np.uint16)
    stored[:, :8, :] = 0  # no-data rows
    return stored


def _write(path, bands, scales, offsets, nodata=0, **profile):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1],
                           width=bands.shape[2], count=len(bands), dtype=bands.dtype.name,
                           nodata=nodata, **profile) as target:
            target.write(bands)
            target.scales, target.offsets = scales, offsets
    return path


def test_a_scaled_band_is_read_as_its_physical_values(dn, tmp_path):
    """Raster.band / read_image gave the stored DN of a band that has a scale and offset:
    the log of SAR intensity stored with an offset is not the log of the intensity."""
    path = _write(tmp_path / "dn.tif", dn, (SCALE, 1.0), (OFFSET, 0.0))
    raster = io.read_raster(path)
    np.testing.assert_array_equal(raster.data, dn)  # stored values, kept for outputs
    assert raster.scaled and raster.scaling[0][:2] == (SCALE, OFFSET)
    physical = io.read_image(path, 0)
    assert physical.dtype == np.float32
    valid = dn[0] != 0  # nodata is a stored value: marked before scaling
    assert np.isnan(physical[~valid]).all()
    np.testing.assert_array_equal(physical[valid],
                                  np.float32(dn[0][valid]) * np.float32(SCALE) + np.float32(OFFSET))
    zero = dn[0] == 10000  # physical 0 equals the nodata value, yet is a valid pixel
    assert zero.any() and (physical[zero] == 0).all()
    # a band of scale 1, offset 0 beside it is its stored values (NaN on no-data)
    np.testing.assert_array_equal(raster.band(1)[8:], dn[1, 8:])
    # a file without a scale and offset: the stored values, as before
    plain = io.read_raster(_write(tmp_path / "plain.tif", dn, (1.0, 1.0), (0.0, 0.0)))
    assert not plain.scaled
    np.testing.assert_array_equal(plain.band(0)[8:], dn[0, 8:])


def test_auto_input_kind_decides_on_the_physical_values(dn, tmp_path):
    """8-bit DN (0..255) of SAR amplitude with a scale and offset were taken for a display
    picture (no log) by --input-kind auto and by register's uint8 pair rule."""
    amplitude = np.sqrt(np.maximum(dn[0].astype(np.float64) * SCALE + OFFSET, 0))
    stored = np.clip(np.rint(amplitude / 2), 1, 255).astype(np.uint8)[None]
    scaled = io.read_raster(_write(tmp_path / "dn8.tif", stored, (2.0,), (0.5,), None))
    raw = io.read_raster(_write(tmp_path / "raw8.tif", stored, (1.0,), (0.0,), None))
    assert sar_scaling(raw.band(0), "auto").kind == "display"
    assert sar_scaling(scaled.band(0), "auto").kind == "intensity"
    assert pair_input_kind("auto", raw, raw) == "display"
    assert pair_input_kind("auto", scaled, scaled) == "auto"


def test_scene_windows_are_read_as_read_image_reads_a_scaled_file(dn, tmp_path):
    """detect_tiled's workers read a scaled GeoTIFF's windows in their stored values; they
    read its physical values now, as read_image, a given nodata value a stored one."""
    pytest.importorskip("distributed")
    from sarfeat.parallel import scene as tiled

    path = _write(tmp_path / "dn.tif", dn, (SCALE, 1.0), (OFFSET, 0.0), tiled=True,
                  blockxsize=64, blockysize=64)
    physical = np.float32(dn[0]) * np.float32(SCALE) + np.float32(OFFSET)
    for band, given in ((0, None), (0, 10001.0), (1, None)):
        expected = io.read_image(path, band)
        if band == 0:  # the physical values, NaN on the file's no-data
            np.testing.assert_array_equal(expected, np.where(dn[0] == 0, np.nan, physical))
        if given is not None:  # a nodata value given for the file is a stored value too
            expected = np.where(dn[band] == given, np.nan, expected).astype(np.float32)
            assert (dn[band] == given).any()
        window = tiled._File(str(path), band, (0, 96, 0, 128), given).read()
        assert window.dtype == tiled._Scene(path, band, given).dtype == expected.dtype
        np.testing.assert_array_equal(window, expected, err_msg=f"band {band}, {given}")


def test_register_stack_headers_carry_the_scaling(dn, tmp_path):
    """register-stack reads IMAGES from their headers: the scale and offset are there, for
    its note, as read_raster reads them."""
    from sarfeat.cli.stack_inputs import header_raster, scaling_notes

    path = _write(tmp_path / "dn.tif", dn, (SCALE, 1.0), (OFFSET, 0.0))
    header = header_raster(path)
    assert header.scaled and header.scaling[0][:2] == (SCALE, OFFSET)
    plain = header_raster(_write(tmp_path / "plain.tif", dn, (1.0, 1.0), (0.0, 0.0)))
    assert not plain.scaled
    notes = scaling_notes("ref.tif", io.read_raster(path), [("a.tif", header), ("b", plain)])
    assert notes == [
        "note: REFERENCE 'ref.tif' gives its bands a scale and offset (each band its own): "
        "its physical values are matched; outputs keep the stored values with them",
        "note: image 'a.tif' gives its bands a scale and offset (each band its own): its "
        "physical values are matched; outputs keep the stored values with them"]
