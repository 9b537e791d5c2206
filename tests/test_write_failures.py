"""A write that the disk refuses (full disk) or that GDAL fails: one error naming the
file and the cause, and nothing left behind (no output, no temporary file)."""

from __future__ import annotations

import contextlib
import errno
import os

import numpy as np
import pytest

from sarfeat import raster_write
from sarfeat.cli import main
from sarfeat.io import Raster, RasterError, WriteError, atomic_path, write_raster

rasterio = pytest.importorskip("rasterio")


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_file_not_its_temporary(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(WriteError) as caught, atomic_path(target) as temporary:
        with open(temporary, "w") as stream:
            stream.write("{}")
        _full_disk()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(caught.value) == f"cannot write {str(target)!r}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_another_file_s_error_in_the_block_is_not_said_of_the_output(tmp_path):
    # an input read within the block: its FileNotFoundError is its own, not "cannot write"
    with pytest.raises(FileNotFoundError) as raised:
        with atomic_path(tmp_path / "out.npy") as temporary:
            (tmp_path / "missing input.npy").read_bytes()
            temporary.write_bytes(b"never")
    assert not isinstance(raised.value, WriteError)
    assert "missing input" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("disk_full", [True, False])
def test_a_short_write_without_errno_is_named_by_the_system_s_reason(tmp_path, monkeypatch,
                                                                    disk_full):
    """NumPy says a short write as '65536 requested and 13280 written' (no errno)."""
    from sarfeat import atomic_files

    monkeypatch.setattr(atomic_files, "disk_failure", lambda path: OSError(
        errno.ENOSPC, os.strerror(errno.ENOSPC)) if disk_full else None)
    target = tmp_path / "out.npy"
    with pytest.raises(OSError) as caught, atomic_path(target):
        raise OSError("65536 requested and 13280 written")
    if disk_full:
        assert str(caught.value) == (f"cannot write {str(target)!r}: No space left on device "
                                     "(65536 requested and 13280 written)")
    else:  # not the disk: as it was
        assert type(caught.value) is OSError
    assert list(tmp_path.iterdir()) == []


def _tiny() -> Raster:
    data = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64)
    return Raster(data, np.ones(data.shape, bool), None)


@pytest.fixture
def cut_by_gdal(monkeypatch):
    """GDAL closes the file with its last bytes unwritten and says nothing (libtiff only
    prints '_tiffWriteProc: No space left on device.'), as it does on a full disk."""
    quiet = raster_write.plain_tiff_quiet

    @contextlib.contextmanager
    def cutting(module):
        with quiet(module):
            yield
        for written in _written_folder[0].glob(".*sarfeat-tmp-*"):
            os.truncate(written, written.stat().st_size // 2)

    _written_folder = []
    monkeypatch.setattr(raster_write, "plain_tiff_quiet", cutting)
    return _written_folder


@pytest.mark.parametrize("disk_full", [True, False])
def test_a_geotiff_cut_as_gdal_closes_it_is_an_error(tmp_path, cut_by_gdal, monkeypatch,
                                                      disk_full):
    cut_by_gdal.append(tmp_path)
    if disk_full:
        monkeypatch.setattr(raster_write, "disk_failure",
                            lambda path: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    target = tmp_path / "out.tif"
    with pytest.raises(WriteError if disk_full else RasterError) as caught:
        write_raster(target, _tiny())
    text = str(caught.value)
    assert str(target) in text and "the file written is incomplete" in text
    assert ("No space left on device" in text) == disk_full
    assert list(tmp_path.iterdir()) == []


def test_gdal_failing_a_write_says_why(tmp_path, monkeypatch):
    def failing(*args):  # what rasterio raises: its own words, GDAL's chained
        try:
            raise RuntimeError("TIFFAppendToStrip:Write error at scanline 256")
        except RuntimeError as gdal:
            raise rasterio.errors.RasterioIOError(
                "Write failed. See previous exception for details.") from gdal

    monkeypatch.setattr(raster_write, "_fill", failing)
    target = tmp_path / "out.tif"
    with pytest.raises(RasterError, match="TIFFAppendToStrip:Write error at scanline 256"):
        write_raster(target, _tiny())
    assert list(tmp_path.iterdir()) == []


def test_register_onto_a_full_disk_says_so_in_one_line(tmp_path, cut_by_gdal, monkeypatch,
                                                       capsys):
    cut_by_gdal.append(tmp_path)
    monkeypatch.setattr(raster_write, "disk_failure",
                        lambda path: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    out = tmp_path / "out.tif"
    status = main(["register", "--example", "-q", "-o", str(out),
                   "--json", str(tmp_path / "out.json")])
    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert lines == [f"sarfeat register: error: cannot write {str(out)!r}: No space left on "
                     "device (GDAL: the file written is incomplete (" + lines[0].split("(")[-1]]
    assert list(tmp_path.iterdir()) == []  # neither -o nor --json
