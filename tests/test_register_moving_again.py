"""``register`` lets MOVING's bands go while matching when its band matched was brought onto
the fixed grid, and reads the file again for -o: the same output, or an error if the file
changed meanwhile (sarfeat.cli.register; benchmarks/README.md for the 10980 px scene)."""

from __future__ import annotations

import argparse
import gc
import weakref

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from affine import Affine  # noqa: E402

from sarfeat.cli import main  # noqa: E402
from sarfeat.cli import moving_reread  # noqa: E402
from sarfeat.cli import register as register_command  # noqa: E402
from sarfeat.cli.common import UsageError  # noqa: E402
from sarfeat.io import read_raster  # noqa: E402
from sarfeat.registration import prepare_pair  # noqa: E402


def _write(path, data: np.ndarray, transform: Affine, nodata=None) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[-1], height=data.shape[-2],
                       count=data.shape[0], dtype=data.dtype.name, nodata=nodata,
                       crs="EPSG:32630", transform=transform) as out:
        out.write(data)


@pytest.fixture
def pair(tmp_path):
    """A fixed optical tile (10 m) and a moving scene (15 m pixels, a NaN corner) over it."""
    rng = np.random.default_rng(4)
    fixed = rng.integers(1, 4000, (1, 200, 200)).astype(np.uint16)
    moving = rng.random((1, 90, 110)).astype(np.float32)
    moving[0, :5, :7] = np.nan
    _write(tmp_path / "fixed.tif", fixed, Affine(10, 0, 600000, 0, -10, 4300000), 0)
    _write(tmp_path / "moving.tif", moving, Affine(15, 0, 600300, 0, -15, 4299700),
           float("nan"))
    return tmp_path / "fixed.tif", tmp_path / "moving.tif"


def _args(moving, output=None) -> argparse.Namespace:
    return argparse.Namespace(moving=moving, nodata=None, no_resample=False, order=1,
                              output=output)


def test_the_output_read_again_is_the_output_of_the_scene_as_first_read(pair):
    fixed_path, moving_path = pair
    stamp = moving_reread.file_stamp(moving_path)
    inputs = prepare_pair(read_raster(fixed_path), read_raster(moving_path), 0, 0)
    assert inputs.resampled
    held = weakref.ref(inputs.moving.data)
    args = _args(moving_path)
    let_go = moving_reread.without_moving_bands(args, inputs)
    assert let_go.moving.count == 0 and let_go.moving.shape == inputs.moving.shape
    total = inputs.total(np.array([[1, 0, 1.5], [0, 1, -2.0], [0, 0, 1.0]]))
    expected = register_command._output(args, inputs, total).whole()
    del inputs
    gc.collect()
    assert held() is None  # the scene as read is not held while matching
    again = moving_reread.moving_again(args, let_go, stamp)
    assert again.moving.count == 1
    output = register_command._output(args, again, total).whole()
    np.testing.assert_array_equal(output.data, expected.data)  # NaN at the same places too
    np.testing.assert_array_equal(output.valid, expected.valid)


def test_a_scene_changed_while_matching_is_not_written(pair):
    fixed_path, moving_path = pair
    stamp = moving_reread.file_stamp(moving_path)
    inputs = prepare_pair(read_raster(fixed_path), read_raster(moving_path), 0, 0)
    let_go = moving_reread.without_moving_bands(_args(moving_path), inputs)
    changed = read_raster(moving_path).data * 2
    _write(moving_path, changed, inputs.moving.transform, float("nan"))
    with pytest.raises(UsageError, match="changed while it was matched"):
        moving_reread.moving_again(_args(moving_path), let_go, stamp)


def test_register_matches_without_the_moving_bands(pair, monkeypatch):
    fixed_path, moving_path = pair
    import sarfeat.io

    scenes, reader = [], sarfeat.io.read_raster

    def read(path):
        raster = reader(path)
        if str(path) == str(moving_path):
            scenes.append(weakref.ref(raster.data))
        return raster

    seen = []

    def matched(fixed_image, moving_image, *args, **kwargs):
        gc.collect()
        seen.append(moving_image.shape == fixed_image.shape and scenes[0]() is None)
        raise RuntimeError("stopped by the test before matching")

    monkeypatch.setattr(sarfeat.io, "read_raster", read)
    monkeypatch.setattr(register_command, "_register", matched)
    main(["register", "--modality", "optical-sar", str(fixed_path), str(moving_path),
          "-o", str(moving_path.with_name("out.tif"))])  # exits 1: stopped
    assert seen == [True] and len(scenes) == 1
