"""A GeoTIFF with a CRS but no geotransform (GDAL gives the identity): its CRS places no pixel,
so sarfeat reads it as not georeferenced. That was silent (rasterio's NotGeoreferencedWarning
is silenced for plain TIFFs, and ``register`` said the file had "no georeferencing"); the
readers now warn (:class:`sarfeat.io.GeoreferencingWarning`) and the commands say it in one
note line, for a pair of such a file and a georeferenced one matched from pixels alone."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

from sarfeat import io
from sarfeat.cli import main
from sarfeat.data import load_sar_scene

rasterio = pytest.importorskip("rasterio")
from rasterio.control import GroundControlPoint  # noqa: E402
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

UTM = CRS.from_epsg(32630)
GEO = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 4300000.0)
NOTE = ("has a CRS (EPSG:32630) but no geotransform, so no georeferencing (its CRS not used "
        "for matching)")


def _write(path, values: np.ndarray, **profile) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=values.shape[0],
                           width=values.shape[1], count=1, dtype="float32", nodata=np.nan,
                           **profile) as target:
            target.write(values.astype(np.float32), 1)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A georeferenced scene and the same scene, shifted, with a CRS and no geotransform."""
    folder = tmp_path_factory.mktemp("unused_crs")
    scene = load_sar_scene("labrador")[:256, :256, 0]
    return (_write(folder / "geo.tif", scene, crs=UTM, transform=GEO),
            _write(folder / "crs_only.tif", np.roll(scene, (3, 5), (0, 1)), crs=UTM))


def test_the_readers_warn_of_a_crs_without_a_geotransform(files, tmp_path):
    geo, crs_only = files
    for read in (io.read_raster, io.read_raster_header,
                 lambda path: io.read_raster_window(path, (0, 8, 0, 8))):
        with pytest.warns(io.GeoreferencingWarning) as caught:
            raster = read(crs_only)
        assert [str(warning.message) for warning in caught] == [
            f"{crs_only!r} has a CRS (EPSG:32630) but no geotransform: the file is read as not "
            "georeferenced (its CRS kept as unused_crs, not used for matching)"]
        assert not raster.georeferenced and raster.crs is None and raster.unused_crs == UTM
    gcps = _write(tmp_path / "gcps.tif", np.ones((8, 8)), crs=UTM,
                  gcps=[GroundControlPoint(0, 0, 6e5, 4.3e6), GroundControlPoint(7, 7, 6e5, 4.3e6)])
    plain = _write(tmp_path / "plain.tif", np.ones((8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        for path in (geo, gcps, plain):
            assert io.read_raster(path).unused_crs is None
            assert io.read_raster_header(path).unused_crs is None


@pytest.mark.parametrize("crs_only_is_fixed", [False, True])
def test_register_notes_a_crs_without_a_geotransform_in_one_line(files, tmp_path, capsys,
                                                                 crs_only_is_fixed):
    """Such a file beside a georeferenced one: matched from pixels alone, as a file without
    georeferencing is, and said so in one line that names its CRS (it said "has no
    georeferencing"); no Python warning on stderr besides."""
    geo, crs_only = files
    pair, side = ((crs_only, geo), "fixed") if crs_only_is_fixed else ((geo, crs_only), "moving")
    out = tmp_path / "out.tif"
    assert main(["register", *pair, "-o", str(out), "--overwrite"]) == 0
    printed = capsys.readouterr()
    noted = [line for line in printed.out.splitlines() if line.startswith("note:")]
    assert noted == [f"note: the {side} image {NOTE}; matching from pixels alone"], printed.out
    assert "Warning" not in printed.err, printed.err
    # on the fixed grid, with its georeferencing: its CRS without a geotransform kept so
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", io.GeoreferencingWarning)
        written = io.read_raster_header(out)
    assert written.georeferenced != crs_only_is_fixed
    assert written.unused_crs == (UTM if crs_only_is_fixed else None)
    wrote = "CRS without geotransform, not georeferenced" if crs_only_is_fixed \
        else "1 band, nodata nan, georeferenced,"
    assert wrote in printed.out, printed.out


def test_detect_and_register_stack_note_a_crs_without_a_geotransform(files, tmp_path, capsys,
                                                                     monkeypatch):
    from _stack_helpers import record_stack_calls

    geo, crs_only = files
    assert main(["detect", crs_only, "-o", str(tmp_path / "k.npz"), "--max-keypoints", "50"]) == 0
    printed = capsys.readouterr()
    assert f"note: {crs_only!r} {NOTE}; keypoints in pixels only (no map_xy)" in \
        printed.out.splitlines() and "Warning" not in printed.err, printed
    assert "map_xy" not in np.load(tmp_path / "k.npz")
    record_stack_calls(monkeypatch)  # no cluster: the client's notes
    for reference, image, named in ((geo, crs_only, f"image {crs_only!r}"),
                                    (crs_only, geo, f"REFERENCE {crs_only!r}")):
        assert main(["register-stack", reference, image, "-o", str(tmp_path / "stack"),
                     "--overwrite"]) == 0
        printed = capsys.readouterr()
        noted = [line for line in printed.out.splitlines() if "CRS" in line]
        assert noted == [f"note: {named} {NOTE}; matching from pixels alone"], printed.out
        assert "Warning" not in printed.err, printed.err


def _without_geotransform(path) -> bool:
    """Whether the TIFF ``path`` has GeoKeys (a CRS) but no geotransform tag at all."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        tags = {tag.name for tag in tiff.pages[0].tags}
    return "GeoKeyDirectoryTag" in tags and not tags & {
        "ModelPixelScaleTag", "ModelTiepointTag", "ModelTransformationTag"}


def test_a_crs_without_a_geotransform_is_written_back_as_it_was(files, tmp_path, monkeypatch):
    """Such a file's CRS was dropped from what is written of it: a copy, and an image
    resampled onto its grid (``register -o`` and ``register-stack``'s outputs), came out
    without a CRS. Both keep it now, still without a geotransform; an image resampled
    from such a file onto a grid without georeferencing does not take its CRS along."""
    _, crs_only = files
    with pytest.warns(io.GeoreferencingWarning):
        raster = io.read_raster(crs_only)
    plain = io.Raster(raster.data, raster.valid, raster.nodata)
    shift = np.array([[1.0, 0, 2], [0, 1, 3], [0, 0, 1]])
    assert io.warp_onto(plain, raster, shift).unused_crs == UTM
    assert io.warp_raster(raster, shift, raster.shape).unused_crs is None
    assert io.warp_onto(raster, plain, shift).unused_crs is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # written without a word (rasterio's is silenced)
        notes = [io.write_raster(tmp_path / "copy.tif", raster),
                 io.write_raster_windows(tmp_path / "warped.tif",
                                         io.warp_onto_windows(plain, raster, shift))]
    assert all("CRS without geotransform, not georeferenced" in note for note in notes), notes
    for name in ("copy.tif", "warped.tif"):
        assert _without_geotransform(tmp_path / name)
        with pytest.warns(io.GeoreferencingWarning):
            back = io.read_raster(tmp_path / name)
        assert back.unused_crs == UTM and not back.georeferenced
    monkeypatch.setitem(sys.modules, "rasterio", None)  # not installed: refused, not dropped
    with pytest.raises(io.RasterError, match=r"georeferencing needs rasterio"):
        io.write_raster(tmp_path / "plain.tif", raster)


def test_a_worker_s_warning_reaches_the_client(files, client):
    """A file read on a worker of a cluster of its own (processes: a remote one's) with a
    GeoreferencingWarning: the warning went to the worker's standard error, its log, alone;
    it comes back with the pair's outcome and is raised again on the client, naming it."""
    from sarfeat.parallel import register_stack

    geo, crs_only = files
    with pytest.warns(io.GeoreferencingWarning) as caught:
        [outcome] = register_stack(geo, [crs_only], client=client, progress=False)
    assert outcome.ok
    assert [str(warning.message) for warning in caught] == [
        f"{crs_only!r} has a CRS (EPSG:32630) but no geotransform: the file is read as not "
        "georeferenced (its CRS kept as unused_crs, not used for matching) "
        f"(pair 'crs_only', on worker {outcome.worker})"]


def test_detect_tiled_raises_its_workers_warnings_once(files, client, tmp_path):
    """A scene read by windows on workers of their own (processes), each window with a
    GeoreferencingWarning: the warning went to the workers' standard error alone; it is
    raised again on the client once, naming the first task (the statistics' one row block),
    its worker, and how many other tasks (the 4 tiles) raised it."""
    from sarfeat.parallel import detect_tiled

    scene = _write(tmp_path / "scene.tif", load_sar_scene("labrador")[:200, :200, 1], crs=UTM)
    with pytest.warns(io.GeoreferencingWarning) as caught:
        features = detect_tiled(scene, client=client, tile_size=128, max_keypoints=20,
                                progress=False)
    assert features.tiles == 4
    shown = [str(warning.message) for warning in caught
             if issubclass(warning.category, io.GeoreferencingWarning)]
    assert len(shown) == 1, "\n".join(shown)
    said = (f"{scene!r} has a CRS (EPSG:32630) but no geotransform: the file is read as not "
            "georeferenced (its CRS kept as unused_crs, not used for matching) "
            "(detect_tiled statistics row block 1 of 1 (rows 0:200), on worker tcp://")
    assert shown[0].startswith(said), shown
    # every tile too, also those that a worker ran after another that raised it (Python
    # shows a warning once per place and process: they were left out)
    assert re.fullmatch(r"[\d.:]+; and 4 other tasks\)", shown[0][len(said):]), shown


def _warn_on_reading(on: bool) -> None:
    """On a worker: its stack's reader warns of each file that it reads (``on``), or no
    longer."""
    import sarfeat.parallel.stack as stack

    read = getattr(stack._read, "unwarned", stack._read)
    if not on:
        stack._read = read
        return

    def warned(image):
        if isinstance(image, str):  # a path, not the pixels
            warnings.warn(f"reading {image}", UserWarning)
        return read(image)

    warned.unwarned = read
    stack._read = warned


def test_register_stack_on_a_scheduler_shows_its_workers_warnings(files, client, tmp_path,
                                                                  capsys, recwarn):
    """``register-stack --scheduler``: a warning that a worker raised while it read a file
    is shown by the command, as ``register`` shows its own (Python's warnings, here
    recorded by pytest), naming the image; a GeoreferencingWarning is not, the note says it
    (one line). The registered image, on REFERENCE's grid, keeps REFERENCE's CRS."""
    geo, crs_only = files
    out = tmp_path / "stack"
    client.run(_warn_on_reading, True)
    try:
        status = main(["register-stack", crs_only, geo, "-o", str(out), "--no-progress",
                       "--scheduler", client.scheduler.address])
    finally:
        client.run(_warn_on_reading, False)
    printed = capsys.readouterr()
    assert status == 0, printed
    shown = [(warning.category, str(warning.message)) for warning in recwarn]
    assert [(category, message.partition(", on worker tcp://")[0])
            for category, message in shown] == [
        (UserWarning, f"reading {geo} (pair 'geo'")], shown
    noted = [line for line in printed.out.splitlines() if line.startswith("note:")]
    assert noted == [f"note: REFERENCE {crs_only!r} {NOTE}; matching from pixels alone"], \
        printed.out
    with pytest.warns(io.GeoreferencingWarning):
        written = io.read_raster_header(out / "geo.registered.tif")
    assert written.unused_crs == UTM and not written.georeferenced
