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
