"""``sarfeat register`` and ``register-stack`` with an RGBA optical moving image: its alpha read
as GDAL reads it, by every reader, and its colour resampled weighted by the alpha."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.io import imread, imsave
from skimage.transform import SimilarityTransform, warp

from sarfeat.cli import main

rasterio = pytest.importorskip("rasterio")

from sarfeat.io import read_raster  # noqa: E402


@pytest.fixture(scope="module")
def rgba_pair(tmp_path_factory):
    """The bundled 3MOS SAR tile (fixed) and its optical tile turned 3 degrees as an RGBA
    PNG and an RGBA TIFF (moving): columns under 30 transparent, column 30 nearly so
    (alpha 1) and black, columns 31-44 opaque and of colour 200."""
    from sarfeat.data import load_optical_sar_tile

    folder = tmp_path_factory.mktemp("rgba")
    optical, sar = load_optical_sar_tile()
    np.save(folder / "sar.npy", sar.astype(np.float32))
    turn = (SimilarityTransform(translation=(-127.5, -127.5))
            + SimilarityTransform(rotation=np.deg2rad(3))
            + SimilarityTransform(translation=(127.5, 127.5)))
    gray = warp(optical, turn.inverse, order=1, mode="edge", preserve_range=True)
    colour = np.clip(np.stack([gray, 0.8 * gray + 30, 255 - 0.5 * gray]), 30, 255)
    alpha = np.full(gray.shape, 255.0)
    alpha[:, :30], alpha[:, 30] = 0, 1
    colour[:, :, :31], colour[:, :, 31:45] = 0, 200
    rgba = np.concatenate([colour, alpha[None]]).astype(np.uint8)
    imsave(folder / "optical.png", np.moveaxis(rgba, 0, -1), check_contrast=False)
    with rasterio.open(folder / "optical.tif", "w", driver="GTiff", height=256, width=256,
                       count=4, dtype="uint8", photometric="RGB", alpha="YES") as target:
        target.write(rgba)
    return folder


def _check_written(path) -> np.ndarray:
    """The RGBA registered image at ``path``, checked: its alpha is no-data where 0, and
    the black of the nearly transparent column does not darken its opaque neighbours."""
    raster = read_raster(path)
    assert [colour for _, colour in raster.bands] == ["red", "green", "blue", "alpha"]
    assert raster.nodata is None and raster.picture
    alpha = raster.data[3]
    np.testing.assert_array_equal(raster.valid, np.broadcast_to(alpha > 0, raster.data.shape))
    assert (raster.data[:3, alpha == 0] == 0).all()
    # pixels half or more of the opaque 200 beside the black edge: weighted by alpha, their
    # colour is 199 or 200 (unweighted, it fell to 100)
    edge = (alpha >= 128) & (alpha < 255)
    assert edge.sum() > 20
    assert raster.data[:3, edge].min() >= 198
    return raster.data


def test_register_reads_and_writes_an_rgba_moving_image_as_gdal_does(rgba_pair, capsys):
    """A PNG's alpha was an ordinary band (written with nodata 0, no colours), and a
    GeoTIFF's colour was resampled unweighted: both now agree, to the byte."""
    written = []
    for suffix in (".png", ".tif"):
        out = rgba_pair / f"out{suffix}.tif"
        status = main(["register", str(rgba_pair / "sar.npy"), str(rgba_pair / f"optical{suffix}"),
                       "--modality", "sar-optical", "--turns", "upright", "-q", "-o", str(out)])
        assert status == 0, capsys.readouterr().err
        written.append(_check_written(out))
    np.testing.assert_array_equal(written[0], written[1])


def test_register_stack_writes_an_rgba_image_as_register_does(rgba_pair, tmp_path):
    out = tmp_path / "stack"
    status = main(["register-stack", str(rgba_pair / "sar.npy"), str(rgba_pair / "optical.png"),
                   str(rgba_pair / "optical.tif"), "-o", str(out), "--modality", "sar-optical",
                   "--turns", "upright", "--format", "tif", "--no-progress", "-q",
                   "--workers", "1"])
    assert status == 0
    assert json.loads((out / "summary.json").read_text())["registered"] == 2
    written = [_check_written(path) for path in sorted(out.glob("*.registered.tif"))]
    assert len(written) == 2
    np.testing.assert_array_equal(written[0], written[1])


def test_register_writes_the_colour_and_alpha_of_an_rgba_moving_image_to_png_and_jpeg(
        rgba_pair, capsys):
    """``-o out.png`` wrote the red channel alone, in gray: the PNG now holds the GeoTIFF's
    four channels, and the JPEG (no alpha) its colour composited onto black."""
    written = {}
    for suffix in (".tif", ".png", ".jpg"):
        written[suffix] = rgba_pair / f"colour{suffix}"
        status = main(["register", str(rgba_pair / "sar.npy"), str(rgba_pair / "optical.png"),
                       "--modality", "sar-optical", "--turns", "upright", "-o",
                       str(written[suffix])])
        assert status == 0, capsys.readouterr().err
    assert "PNG uint8 RGBA picture" in capsys.readouterr().out
    tif = read_raster(written[".tif"]).data
    np.testing.assert_array_equal(imread(written[".png"]), np.moveaxis(tif, 0, -1))
    jpeg = np.moveaxis(np.asarray(imread(written[".jpg"]), float), -1, 0)
    composited = tif[:3] * (tif[3] / 255.0)
    assert jpeg.shape == composited.shape
    assert np.abs(jpeg - composited).mean() < 6  # JPEG's loss (its red alone: 26)
    assert np.abs(jpeg[:, tif[3] == 0]).mean() < 3  # transparent: black


def test_a_16_bit_colour_picture_is_refused_for_a_png_output_before_any_work(
        rgba_pair, tmp_path, capsys):
    """sarfeat writes 8-bit colour to PNG: a 16-bit RGB moving image was written as its
    first band; ``register -o`` and ``register-stack --format png`` now refuse it (status 2)
    before matching, naming GeoTIFF, and write nothing."""
    rgb = read_raster(rgba_pair / "optical.tif").data[:3].astype(np.uint16) * 257
    moving = tmp_path / "rgb16.tif"
    with rasterio.open(moving, "w", driver="GTiff", height=256, width=256, count=3,
                       dtype="uint16", photometric="RGB") as target:
        target.write(rgb)
    out = tmp_path / "out.png"
    status = main(["register", str(rgba_pair / "sar.npy"), str(moving), "--modality",
                   "sar-optical", "-o", str(out), "--json", str(tmp_path / "r.json")])
    assert status == 2
    assert "uint16 RGB picture cannot be written to .png" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "r.json").exists()
    status = main(["register-stack", str(rgba_pair / "sar.npy"), str(moving), "-o",
                   str(tmp_path / "stack"), "--modality", "sar-optical", "--format", "png",
                   "--no-progress", "--workers", "1"])
    assert status == 2
    assert "--format png: IMAGES" in capsys.readouterr().err
    assert not (tmp_path / "stack" / "summary.json").exists()
