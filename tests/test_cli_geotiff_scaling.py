"""``sarfeat register`` and ``detect`` on a GeoTIFF whose band has a GDAL scale and offset.

Real data: the bundled Sentinel-1 Labrador scene, VV the fixed image (float32
intensity), VH under a known warp the moving one, stored as uint16 DN with
intensity = DN * 2 - 20000 (an offset product). Matched in its stored values,
the log of DN is the log of intensity + 20000: nearly linear, not the log
of the intensity. The physical values are matched now, as those of a float file
holding them; the written product keeps the stored DN with its scale and offset.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from skimage.transform import AffineTransform, warp

from sarfeat.cli import main
from sarfeat.data import load_sar_scene
from sarfeat.metrics import registration_rmse

rasterio = pytest.importorskip("rasterio")
# the files are plain TIFFs (no georeferencing), read back with rasterio here
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

SCALE, OFFSET = 2.0, -20000.0
TRUTH = AffineTransform(rotation=np.deg2rad(3), translation=(5.5, -3.25)).params


def _write(path, band, nodata, scale=1.0, offset=0.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=band.shape[0],
                           width=band.shape[1], count=1, dtype=band.dtype.name,
                           nodata=nodata) as target:
            target.write(band[None])
            target.scales, target.offsets = (scale,), (offset,)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """fixed (VV), and the moving VH as scaled DN, as the same DN without a scale and
    offset (what sarfeat matched before), and as float32 holding the physical values."""
    folder = tmp_path_factory.mktemp("scaled")
    scene = load_sar_scene("labrador").astype(np.float64)
    vh = warp(scene[..., 1], AffineTransform(matrix=np.linalg.inv(TRUTH)),
              output_shape=scene.shape[:2], order=1, cval=np.nan, preserve_range=True)
    inside = np.isfinite(vh)
    dn = np.where(inside, np.rint((np.where(inside, vh, 0) - OFFSET) / SCALE), 0)
    dn = dn.astype(np.uint16)  # 0: no-data, outside the warped image
    physical = np.where(dn > 0, np.float32(dn) * np.float32(SCALE) + np.float32(OFFSET),
                        np.nan).astype(np.float32)
    return folder, {
        "fixed": _write(folder / "fixed.tif", scene[..., 0].astype(np.float32), None),
        "scaled": _write(folder / "scaled.tif", dn, 0, SCALE, OFFSET),
        "raw": _write(folder / "raw.tif", dn, 0),
        "physical": _write(folder / "physical.tif", physical, np.nan)}


def _register(folder, files, name, capsys, *extra):
    report = folder / f"{name}.json"
    status = main(["register", files["fixed"], files[name], "--json", str(report),
                   "--overwrite", *extra])
    out = capsys.readouterr().out
    assert status == 0, out
    return np.array(json.loads(report.read_text())["transform_fixed_to_moving"]), out


def test_register_matches_the_physical_values_of_a_scaled_band(files, capsys):
    """The scaled DN were matched as stored: a transform other than the physical values'
    (here 0.73 px from the truth, against 0.33). Now the same as the float file's; the
    output holds the stored DN with their scale and offset."""
    folder, paths = files
    out_tif = folder / "registered.tif"
    scaled, said = _register(folder, paths, "scaled", capsys, "-o", str(out_tif))
    physical, _ = _register(folder, paths, "physical", capsys)
    raw, _ = _register(folder, paths, "raw", capsys)
    np.testing.assert_allclose(scaled, physical, atol=1e-9)
    shape = (256, 256)
    assert registration_rmse(scaled, TRUTH, shape, shape) < 0.5
    assert registration_rmse(raw, physical, shape, shape) > 0.2  # what the DN gave
    assert said.count("physical values") == 1  # said once
    assert (f"note: MOVING {paths['scaled']!r} gives its band a scale and offset (stored "
            "value * 2 - 20000): its physical values are matched") in said
    with rasterio.open(out_tif) as written:  # the product: stored values, their meaning kept
        assert written.dtypes[0] == "uint16" and written.nodata == 0
        assert written.scales == (SCALE,) and written.offsets == (OFFSET,)
        stored = written.read(1)
    with rasterio.open(paths["scaled"]) as source:
        dn = source.read(1)
    kept = stored[stored > 0]
    # DN of intensity >= 0 are >= 10000; the physical values' median is about 300
    assert kept.min() >= 10000
    assert np.median(kept) == pytest.approx(np.median(dn[dn > 0]), rel=0.01)


def test_detect_finds_the_keypoints_of_the_physical_values(files, capsys):
    folder, paths = files
    keypoints = {}
    for name in ("scaled", "physical", "raw"):
        out = folder / f"{name}.npz"
        assert main(["detect", paths[name], "-o", str(out), "--upright", "--overwrite"]) == 0
        said = capsys.readouterr().out
        assert ("its physical values are detected" in said) == (name == "scaled")
        keypoints[name] = np.load(out)["keypoints"]
    np.testing.assert_array_equal(keypoints["scaled"], keypoints["physical"])
    assert keypoints["raw"].shape != keypoints["scaled"].shape or \
        not np.array_equal(keypoints["raw"], keypoints["scaled"])
