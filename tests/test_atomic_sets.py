"""sarfeat.atomic_files: a file flushed to the disk before its rename and its folder after
(os.fsync), and a set of files renamed into place together or not at all."""

from __future__ import annotations

import os

import pytest

from sarfeat import atomic_files
from sarfeat.io import TEMPORARY_MARK, atomic_path, written_together


def _record_calls(monkeypatch) -> list:
    """os.fsync and os.replace of atomic_files recorded in order: ('fsync', inode, is a
    folder) and ('replace', target name)."""
    calls = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(handle):
        status = os.fstat(handle)
        calls.append(("fsync", status.st_ino, os.path.stat.S_ISDIR(status.st_mode)))
        fsync(handle)

    def recorded_replace(source, target):
        calls.append(("replace", os.path.basename(target)))
        replace(source, target)

    monkeypatch.setattr(atomic_files.os, "fsync", recorded_fsync)
    monkeypatch.setattr(atomic_files.os, "replace", recorded_replace)
    return calls


def test_a_file_is_flushed_before_its_rename_and_its_folder_after(tmp_path, monkeypatch):
    calls = _record_calls(monkeypatch)
    target = tmp_path / "out.json"
    with atomic_path(target) as temporary:
        temporary.write_text("complete")
    file_inode, folder_inode = target.stat().st_ino, tmp_path.stat().st_ino
    assert calls == [("fsync", file_inode, False), ("replace", "out.json"),
                     ("fsync", folder_inode, True)]


def test_no_folder_flush_where_folders_cannot_be_opened(tmp_path, monkeypatch):
    """Windows has no os.O_DIRECTORY: the file is still flushed, and nothing fails."""
    calls = _record_calls(monkeypatch)
    monkeypatch.delattr(atomic_files.os, "O_DIRECTORY", raising=False)
    target = tmp_path / "out.json"
    with atomic_path(target) as temporary:
        temporary.write_text("complete")
    assert calls == [("fsync", target.stat().st_ino, False), ("replace", "out.json")]
    assert target.read_text() == "complete"


def test_a_set_is_renamed_once_all_of_it_is_written(tmp_path, monkeypatch):
    calls = _record_calls(monkeypatch)
    first, second = tmp_path / "a.tif", tmp_path / "a.json"
    with written_together():
        with atomic_path(first) as temporary:
            temporary.write_text("image")
        assert not first.exists()  # not yet: it waits for the set
        with atomic_path(second) as temporary:
            temporary.write_text("report")
    assert first.read_text() == "image" and second.read_text() == "report"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "a.tif"]
    renames = [call for call in calls if call[0] == "replace"]
    assert renames == [("replace", "a.tif"), ("replace", "a.json")]
    assert calls[-1] == ("fsync", tmp_path.stat().st_ino, True)  # the folder, after both


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"),
                                     KeyboardInterrupt()])
def test_a_set_that_fails_replaces_nothing(tmp_path, failure):
    """The image is written, the report fails (a full disk, Ctrl-C): the earlier image and
    report both stay as they were, and no temporary file is left."""
    image, report = tmp_path / "a.tif", tmp_path / "a.json"
    image.write_bytes(b"earlier image")
    report.write_bytes(b"earlier report, of the earlier image")
    with pytest.raises(type(failure)):
        with written_together():
            with atomic_path(image) as temporary:
                temporary.write_bytes(b"new image")
            with atomic_path(report) as temporary:
                temporary.write_bytes(b"half a rep")
                raise failure
    assert image.read_bytes() == b"earlier image"
    assert report.read_bytes() == b"earlier report, of the earlier image"
    assert not [path for path in tmp_path.iterdir() if TEMPORARY_MARK in path.name]


def test_an_interruption_during_the_renames_waits_for_the_whole_set(tmp_path, monkeypatch):
    # another thread alive (Dask's, a reader's) takes the signal blocked in this one: the
    # renames must still all happen before KeyboardInterrupt
    import signal
    import threading
    import time

    waiting = threading.Event()
    other = threading.Thread(target=waiting.wait, daemon=True)
    other.start()
    replace = os.replace
    renamed = []

    def interrupted_replace(source, target):
        replace(source, target)
        renamed.append(target)
        if len(renamed) == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)  # time for the other thread to take the signal

    monkeypatch.setattr(atomic_files.os, "replace", interrupted_replace)
    # Ctrl-C as a terminal's process takes it (a background CI job inherits it ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with written_together():
                for name in ("a", "b"):
                    with atomic_path(tmp_path / name) as temporary:
                        temporary.write_text(name)
    finally:
        waiting.set()
        signal.signal(signal.SIGINT, previous)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"]


def test_a_set_leaves_an_ignored_sigint_ignored(tmp_path, monkeypatch):
    # a background job's SIGINT is ignored: during the renames it stays so (noted and
    # raised again after them, it would be a Ctrl-C that the job was meant not to get)
    import signal

    replace, handlers = os.replace, []

    def noted_replace(source, target):
        handlers.append(signal.getsignal(signal.SIGINT))
        replace(source, target)

    monkeypatch.setattr(atomic_files.os, "replace", noted_replace)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with written_together():
            with atomic_path(tmp_path / "a") as temporary:
                temporary.write_text("a")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert handlers == [signal.SIG_IGN]
    assert (tmp_path / "a").read_text() == "a"


def _earlier_run(folder) -> dict:
    """An earlier run's files of a set: image and report (the plot is new this time)."""
    files = {"a.tif": b"earlier image", "a.json": b"earlier report", "a.png": None}
    for name, content in files.items():
        if content is not None:
            (folder / name).write_bytes(content)
    return files


def _write_set(folder, names) -> None:
    with written_together():
        for name in names:
            with atomic_path(folder / name) as temporary:
                temporary.write_bytes(b"new " + name.encode())


def _as_before(folder, files: dict) -> None:
    """Every file of ``files`` as it was (None: absent), and no temporary file left."""
    for name, content in files.items():
        if content is None:
            assert not (folder / name).exists(), name
        else:
            assert (folder / name).read_bytes() == content, name
    assert not [path.name for path in folder.iterdir() if TEMPORARY_MARK in path.name]


def _no_hard_links(monkeypatch) -> None:
    """A file system without hard links (FAT): link() fails with EPERM."""
    def no_link(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(atomic_files.os, "link", no_link)


def test_a_folder_under_a_name_of_the_set_fails_it_before_any_rename(tmp_path):
    """A folder stands where the set's last file goes: the image and report were replaced
    before the rename onto the folder failed, leaving the set half replaced."""
    files = _earlier_run(tmp_path)
    (tmp_path / "a.png").mkdir()
    with pytest.raises(atomic_files.WriteError) as caught:
        _write_set(tmp_path, ["a.tif", "a.json", "a.png"])
    assert str(caught.value) == f"cannot write {str(tmp_path / 'a.png')!r}: Is a directory"
    _as_before(tmp_path, {"a.tif": files["a.tif"], "a.json": files["a.json"]})
    assert (tmp_path / "a.png").is_dir()


@pytest.mark.parametrize("links", [True, False])
def test_a_rename_that_fails_puts_back_those_before_it(tmp_path, monkeypatch, links):
    """The last rename fails (its folder made read-only meanwhile): the earlier image and
    report are put back, the new plot removed; so too where the file system has no hard
    links (the earlier files are then copied aside)."""
    files = _earlier_run(tmp_path)
    replace = os.replace

    def failing_replace(source, target):
        if os.path.basename(target) == "a.json" and TEMPORARY_MARK in os.path.basename(source) \
                and "new" in open(source, "rb").read().decode():
            raise PermissionError(13, "Permission denied", target)
        replace(source, target)

    monkeypatch.setattr(atomic_files.os, "replace", failing_replace)
    if not links:
        _no_hard_links(monkeypatch)
    with pytest.raises(atomic_files.WriteError) as caught:
        _write_set(tmp_path, ["a.tif", "a.png", "a.json"])
    assert str(caught.value) == f"cannot write {str(tmp_path / 'a.json')!r}: Permission denied"
    assert caught.value.__notes__ == ["the files of the set renamed before it were put back: "
                                      "none of the set replaced a file"]
    _as_before(tmp_path, files)


def test_a_file_that_cannot_be_put_back_is_named_with_its_earlier_content(tmp_path,
                                                                          monkeypatch):
    files = _earlier_run(tmp_path)
    replace = os.replace

    def failing_replace(source, target):
        if os.path.basename(target) == "a.json" or (
                os.path.basename(target) == "a.tif" and b"earlier" in open(source, "rb").read()):
            raise PermissionError(13, "Permission denied", target)
        replace(source, target)

    monkeypatch.setattr(atomic_files.os, "replace", failing_replace)
    with pytest.raises(atomic_files.WriteError) as caught:
        _write_set(tmp_path, ["a.tif", "a.json"])
    [note] = caught.value.__notes__
    aside = note.rsplit("its earlier content is in ", 1)[1].strip("'")
    assert note.startswith(f"{str(tmp_path / 'a.tif')!r} could not be put back")
    assert open(aside, "rb").read() == files["a.tif"]  # kept, not removed
    assert (tmp_path / "a.json").read_bytes() == files["a.json"]


def test_a_set_within_a_set_is_renamed_with_the_outer_one(tmp_path):
    """The inner set's files wait for the outer set (they were renamed as the inner block
    ended: a failure after it left them beside the earlier run's other files)."""
    files = _earlier_run(tmp_path)
    with pytest.raises(OSError, match="full"):
        with written_together():
            _write_set(tmp_path, ["a.tif", "a.png"])
            assert (tmp_path / "a.tif").read_bytes() == files["a.tif"]  # not yet
            with atomic_path(tmp_path / "a.json") as temporary:
                temporary.write_bytes(b"half")
                raise OSError(28, "full")
    _as_before(tmp_path, files)
    with written_together():
        _write_set(tmp_path, ["a.tif"])
        assert (tmp_path / "a.tif").read_bytes() == files["a.tif"]
        with atomic_path(tmp_path / "a.json") as temporary:
            temporary.write_bytes(b"new a.json")
    assert [(tmp_path / name).read_bytes() for name in ("a.tif", "a.json")] == \
        [b"new a.tif", b"new a.json"]


def test_a_failed_set_within_a_set_discards_only_its_own_files(tmp_path):
    files = _earlier_run(tmp_path)
    with written_together():
        _write_set(tmp_path, ["a.tif"])
        with pytest.raises(ValueError):
            with written_together():
                with atomic_path(tmp_path / "a.png") as temporary:
                    temporary.write_bytes(b"new a.png")
                raise ValueError("the plot's set fails")
    assert (tmp_path / "a.tif").read_bytes() == b"new a.tif"
    _as_before(tmp_path, {"a.json": files["a.json"], "a.png": None})


def test_a_file_written_twice_in_a_set_keeps_its_last_write(tmp_path):
    _write_set(tmp_path, ["a.json", "a.tif", "a.json"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "a.tif"]


@pytest.mark.parametrize("links", [True, False])
def test_a_symbolic_link_put_back_is_the_link_itself(tmp_path, monkeypatch, links):
    """An output that is a symbolic link (to a shared report) is put back as that link,
    not as a copy of the file it names, with hard links or without."""
    shared = tmp_path / "shared.json"
    shared.write_bytes(b"shared report")
    (tmp_path / "a.json").symlink_to(shared)
    replace = os.replace

    def failing_replace(source, target):
        if os.path.basename(target) == "b.json":
            raise PermissionError(13, "Permission denied", target)
        replace(source, target)

    monkeypatch.setattr(atomic_files.os, "replace", failing_replace)
    if not links:
        _no_hard_links(monkeypatch)
    with pytest.raises(atomic_files.WriteError):
        _write_set(tmp_path, ["a.json", "b.json"])
    assert os.readlink(tmp_path / "a.json") == str(shared)
    assert shared.read_bytes() == b"shared report"
