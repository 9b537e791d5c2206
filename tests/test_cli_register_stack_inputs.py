"""``sarfeat register-stack``'s checks of its inputs before any work
(:mod:`sarfeat.cli.stack_inputs`): every image, not the first alone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sarfeat.cli.stack_inputs import header_raster, images_needing_a_band, read_headers
from sarfeat.data import load_sar_scene
from sarfeat.io import RasterError, read_raster

rasterio = pytest.importorskip("rasterio")

from rasterio.transform import from_origin  # noqa: E402 - after the skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One- and two-band files: .npy (planar and bands-last), GeoTIFF, an RGB picture."""
    folder = tmp_path_factory.mktemp("stack")
    scene = load_sar_scene("labrador")[:96, :80]
    paths = {}
    for name, array in (("one.npy", scene[..., 0]), ("last.npy", scene),
                        ("planar.npy", np.moveaxis(scene, -1, 0))):
        paths[name] = folder / name
        np.save(paths[name], array)
    amplitude = np.clip(np.rint(100 * np.sqrt(scene)), 1, 65535).astype(np.uint16)
    rgb = np.stack([amplitude[..., 0] // 256] * 3).astype(np.uint8)
    for name, bands, extra in (("one.tif", amplitude[None, ..., 0], {}),
                               ("two.tif", np.moveaxis(amplitude, -1, 0), {}),
                               ("rgb.tif", rgb, {"photometric": "RGB"})):
        paths[name] = folder / name
        with rasterio.open(paths[name], "w", driver="GTiff", height=96, width=80,
                           count=len(bands), dtype=bands.dtype.name,
                           transform=from_origin(0, 96, 1, 1), **extra) as target:
            target.write(bands)
    return paths


def _outcome(raster, band):
    try:
        raster.band(band)
    except RasterError as error:
        return type(error).__name__, str(error)
    return "ok"


def test_a_header_refuses_a_band_as_the_file_read_whole_does(files, monkeypatch):
    """The band choice of every image, from headers: the same refusal as the pixels give,
    and no pixel read where the header tells (a two-band uint16 SAR GeoTIFF, a .npy)."""
    for name, path in files.items():
        header, whole = header_raster(path), read_raster(path)
        assert (header.count, header.shape, header.data.dtype) == (
            whole.count, whole.shape, whole.data.dtype), name  # --co is checked for it
        assert (header.crs, header.transform, header.gcps, header.rpcs) == (
            whole.crs, whole.transform, whole.gcps, whole.rpcs), name  # its notes say it
        for band in (None, 0, 1, -1, 3):
            assert _outcome(header, band) == _outcome(whole, band), (name, band)
    monkeypatch.setattr(rasterio.DatasetReader, "read", _no_pixels, raising=False)
    monkeypatch.setattr(np, "load", _memory_map_only(np.load))
    for name in ("two.tif", "one.tif", "last.npy", "planar.npy"):
        assert header_raster(files[name]).data.strides == (0, 0, 0), name


def _no_pixels(*args, **kwargs):
    raise AssertionError("pixels read")


def _memory_map_only(load):
    def checked(*args, mmap_mode=None, **kwargs):
        assert mmap_mode == "r", "a .npy read whole"
        return load(*args, mmap_mode=mmap_mode, **kwargs)
    return checked


def test_every_image_is_asked_for_its_band(files):
    needing = images_needing_a_band(read_headers([files["one.tif"], files["two.tif"],
                                                  files["rgb.tif"], files["last.npy"],
                                                  files["one.npy"]]), None)
    assert [raster.path for raster in needing] == [files["two.tif"], files["last.npy"]]
    assert images_needing_a_band(read_headers([files["two.tif"], files["planar.npy"]]),
                                 1) == []
    with pytest.raises(RasterError, match=r"band 1 is out of range: '.*one.tif' has 1 band "
                                          r"\(0\.\.0.*\(and 1 more of IMAGES\)$"):
        images_needing_a_band(read_headers([files["two.tif"], files["one.tif"],
                                            files["one.npy"]]), 1)


def test_a_later_image_of_several_bands_is_refused_before_any_work(files, tmp_path, capsys):
    """Only the first image was looked at: a stack whose first image has one band and a
    later one several started the cluster and failed that image in its task. Every image
    is now refused up front, in one message naming them and --image-band."""
    pytest.importorskip("distributed")
    from sarfeat.cli import main

    out = tmp_path / "out"
    images = [files["one.tif"], files["two.tif"], files["one.npy"], files["last.npy"]]
    status = main(["register-stack", str(files["one.tif"]), *map(str, images), "-o", str(out),
                   "-q", "--no-progress", "--workers", "1"])
    assert status == 2
    two, last = (repr(str(files[name])) for name in ("two.tif", "last.npy"))
    assert capsys.readouterr().err.strip() == (
        f"sarfeat register-stack: error: {two} has 2 bands of shape (96, 80): choose one "
        f"with --image-band 0..1 (and 1 more file of several bands: {last})")
    assert not out.exists()
    # a multi-band REFERENCE too: both options, and --band, as `sarfeat register` says it
    status = main(["register-stack", str(files["planar.npy"]), *map(str, images), "-o",
                   str(out), "-q"])
    assert status == 2
    planar = repr(str(files["planar.npy"]))
    assert capsys.readouterr().err.strip().endswith(
        f"{planar} has 2 bands of shape (96, 80): choose one with --reference-band 0..1; "
        f"{two} has 2 bands of shape (96, 80): choose one with --image-band 0..1 (and 1 "
        f"more file of several bands: {last}); or --band N: band N of both")
    # a band out of range of a later image: refused too (it failed in its task)
    status = main(["register-stack", str(files["two.tif"]), str(files["two.tif"]),
                   str(files["one.npy"]), "-o", str(out), "-q", "--band", "1"])
    assert status == 2
    assert "band 1 is out of range" in capsys.readouterr().err and not out.exists()


def test_an_image_listed_twice_is_refused(files, tmp_path, capsys, monkeypatch):
    """An image listed twice (a shell glob beside its own name, say) was registered twice
    and both outputs were renamed by position (one_000, one_001): no one.registered.tif.
    It is refused before any work; the reference among the images is still fine."""
    pytest.importorskip("distributed")
    from sarfeat.cli import main

    monkeypatch.chdir(files["one.npy"].parent)
    again = f"../{files['one.npy'].parent.name}/one.npy"  # the same file, spelt otherwise
    out = tmp_path / "out"
    status = main(["register-stack", "one.tif", "one.tif", "one.npy", "two.tif", again,
                   "-o", str(out), "-q", "--band", "0", "--no-progress", "--workers", "1"])
    assert status == 2
    assert capsys.readouterr().err.strip().endswith(
        f"IMAGES list {again!r} twice (at 2 and 4): list each image once")
    assert not out.exists()


def test_without_dask_the_command_is_refused_as_a_usage_error(files, tmp_path, capsys,
                                                            monkeypatch):
    """Without the parallel extra the command said how to install it but exited with
    status 1, which its help gives to an image that could not be registered; a missing
    extra is a usage error (exit 2, before any work), as a GeoTIFF without rasterio is."""
    import sys

    from sarfeat.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    out = tmp_path / "out"
    status = main(["register-stack", str(files["one.npy"]), str(files["one.tif"]),
                   "-o", str(out), "-q", "--no-progress"])
    assert status == 2
    assert "pip install 'sarfeat[parallel]'" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_a_quoted_tilde_image_is_not_taken_for_the_home_folder_s(tmp_path, monkeypatch):
    """IMAGES are read as given (a quoted '~/a.npy' is a file of a folder '~' here), so
    '~/a.npy' and $HOME/a.npy are two files, not one listed twice; the same file spelt
    twice is still refused."""
    from sarfeat.cli.common import UsageError
    from sarfeat.cli.stack_inputs import check_distinct

    home, work = tmp_path / "home", tmp_path / "work"
    (work / "~").mkdir(parents=True)
    home.mkdir()
    for path in (home / "a.npy", work / "~" / "a.npy"):
        np.save(path, np.zeros((4, 4), np.float32))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    check_distinct(["~/a.npy", str(home / "a.npy")])
    with pytest.raises(UsageError, match="twice"):
        check_distinct(["~/a.npy", "./~/a.npy"])


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_work(files, tmp_path,
                                                                        capsys):
    """-o under a file failed with exit 1 and a bare "[Errno 20] Not a directory" once the
    reference was read (and the weights fetched); -o a file was refused only then. Both
    are usage errors (exit 2) naming -o and the file in the way, before the inputs are read
    (here a reference that cannot be read, which would be named first otherwise)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    below = blocker / "sub" / "out"
    for out, wanted in ((blocker, f"-o {str(blocker)!r} exists and is not a folder"),
                        (below, f"-o {str(below)!r} cannot be created: {str(blocker)!r} is "
                                "not a folder")):
        assert _refusal_before_work(files, tmp_path, capsys, out).endswith(wanted)
    assert blocker.read_text() == "not a folder"


def _refusal_before_work(files, tmp_path, capsys, out) -> str:
    """The usage error (exit 2) of register-stack into ``out`` with a REFERENCE that cannot
    be read: one about ``out`` is said before any input is read."""
    from sarfeat.cli import main

    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a TIFF")
    status = main(["register-stack", str(broken), str(files["one.npy"]), "-o", str(out),
                   "-q", "--no-progress", "--workers", "1"])
    assert status == 2
    return capsys.readouterr().err.strip()


@pytest.mark.parametrize("where", ["/proc", "read_only_folder"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(
        where, files, tmp_path, capsys, request):
    """An OUTDIR that exists but takes no file (mode 0o555 for a user, /proc for anyone), or
    that would be made in such a folder, was found only by the first write, once REFERENCE
    and the first image were read and registered. Both are usage errors (exit 2) naming -o
    and the folder, before the inputs are read (a REFERENCE that cannot be read here, which
    would be named first otherwise)."""
    if where == "/proc" and not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    folder = Path(where) if where == "/proc" else request.getfixturevalue(where)
    below = folder / "sarfeat-stack" / "out"
    for out, wanted in ((folder, f"-o {str(folder)!r} is not writable ("),
                        (below, f"-o {str(below)!r} cannot be created: {str(folder)!r} is "
                                "not writable (")):
        err = _refusal_before_work(files, tmp_path, capsys, out)
        assert wanted in err and "broken.tif" not in err
        assert not below.parent.exists()


def test_register_stack_notes_the_georeferencing_it_does_not_use(tmp_path, capsys):
    """`sarfeat register` notes what georeferencing a pair matched from pixels alone has
    (GCPs, RPCs, a geotransform without a CRS); register-stack said nothing. It says it once
    for REFERENCE and once for each image where it applies, in register's words."""
    pytest.importorskip("distributed")
    from rasterio.control import GroundControlPoint
    from rasterio.rpc import RPC

    from sarfeat.cli import main

    flat = np.ones((1, 64, 64), np.float32)  # refused at once: the notes come before
    corners = [GroundControlPoint(row=r, col=c, x=-60 + c / 1e4, y=53 - r / 1e4)
               for r in (0, 64) for c in (0, 64)]
    unit = [1.0] + [0.0] * 19
    rpcs = RPC(height_off=0, height_scale=100, lat_off=53, lat_scale=0.01, line_off=32,
               samp_off=32, samp_scale=32,
               line_scale=32, long_off=-60, long_scale=0.01, line_den_coeff=unit,
               samp_den_coeff=unit, line_num_coeff=[0, 0, -1] + [0.0] * 17,
               samp_num_coeff=[0, 1] + [0.0] * 18)
    files = {"ref.tif": {"gcps": corners, "crs": "EPSG:4326"}, "rpc.tif": {"rpcs": rpcs},
             "placed.tif": {"crs": "EPSG:32633", "transform": from_origin(5e5, 6e6, 10, 10)},
             "plain.tif": {"transform": from_origin(0, 64, 1, 1)}}
    for name, georeferencing in files.items():
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=64, width=64, count=1,
                           dtype="float32", **georeferencing) as target:
            target.write(flat)
    np.save(tmp_path / "bare.npy", flat[0])
    images = [str(tmp_path / name) for name in ("rpc.tif", "placed.tif", "plain.tif",
                                                "bare.npy")]
    reference = str(tmp_path / "ref.tif")
    assert main(["register-stack", reference, *images, "-o", str(tmp_path / "out"),
                 "--workers", "1", "--no-progress"]) == 1
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note")]
    tail = "; matching from pixels alone"
    assert notes == [f"note: REFERENCE {reference!r} has 4 GCPs without a geotransform{tail}",
                     f"note: image {images[0]!r} has RPCs without a geotransform{tail}",
                     f"note: image {images[2]!r} has a geotransform without a CRS{tail}",
                     f"note: image {images[3]!r} has no georeferencing{tail}"]
    # register's notes of the same pairs, in the same words
    said = []
    for image in images:
        main(["register", reference, image, "--json", str(tmp_path / "r.json"), "--overwrite"])
        said += [line for line in capsys.readouterr().out.splitlines()
                 if line.startswith("note")]
    assert said == [
        f"note: the fixed image has 4 GCPs without a geotransform and the moving image has "
        f"RPCs without a geotransform{tail}",
        f"note: the fixed image has 4 GCPs without a geotransform{tail}",
        f"note: the fixed image has 4 GCPs without a geotransform and the moving image has "
        f"a geotransform without a CRS{tail}",
        f"note: the fixed image has 4 GCPs without a geotransform and the moving image has "
        f"no georeferencing{tail}"]
