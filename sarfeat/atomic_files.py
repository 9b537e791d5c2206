"""Atomic writes: a temporary file beside the target, renamed onto it once complete.

:func:`atomic_path` is how sarfeat's writers write a file (rasters,
checkpoints, plots, results), so that an interrupted write never leaves a file
that looks complete; :func:`remove_stale_temporaries` clears the temporary
files of writers that were killed; :func:`written_together` renames the files of a set
(a command's image, report and plot) into place only once all of them are written.
:mod:`sarfeat.io` re-exports these names.

A file is flushed to the disk (``os.fsync``) before it is renamed, and its folder
after, so that a crash or a power loss soon after leaves the previous file or
the new one under the name, never an empty or partial one (as ext4 can without
the flush).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import secrets
import shutil
import signal
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["TEMPORARY_MARK", "WriteError", "atomic_path", "check_folder", "default_file_mode",
           "disk_failure", "lasting_write_error", "remove_stale_temporaries", "written_together"]

#: The files written by :func:`atomic_path` within :func:`written_together`, waiting for
#: their rename: (temporary, path) pairs; None outside it.
_STAGED: contextvars.ContextVar[list | None] = contextvars.ContextVar("sarfeat_staged",
                                                                     default=None)


#: What names sarfeat's temporary files: ``.NAME.sarfeat-tmp-HOST-PID-XXXX.SUFFIX``.
TEMPORARY_MARK = ".sarfeat-tmp-"


class WriteError(OSError):
    """A file that could not be written, with the operating system's reason (``errno``):
    ``cannot write 'out.tif': No space left on device``, naming the file the user asked
    for rather than its temporary file."""

    def __str__(self) -> str:
        return f"cannot write {str(self.filename)!r}: {self.strerror}"


#: The reasons (``errno``) of a write that fails again when run again at once: no space
#: left, a quota exceeded, a file too large for its file system, a read-only file system.
_LASTING = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS")
                     if hasattr(errno, name))


def lasting_write_error(error: BaseException) -> bool:
    """Whether ``error`` is an OSError of the disk that a rerun would meet again.

    Parameters
    ----------
    error : BaseException
        What a write raised.

    Returns
    -------
    bool
        True for a full disk or quota, a file too large, a read-only file system; False
        for a passing error, or another exception.
    """
    return isinstance(error, OSError) and error.errno in _LASTING


def disk_failure(path: str | os.PathLike) -> OSError | None:
    """Why writing to the file ``path`` fails now, as the operating system says it (no
    space left on device, quota exceeded, ...), or None when a small write succeeds.

    For a library (GDAL) that reports a failed write without the system's error: 64 KiB
    are appended to ``path`` (a temporary file about to be removed) and flushed.

    Parameters
    ----------
    path : str or os.PathLike
        The file that failed to be written.

    Returns
    -------
    OSError or None
    """
    try:
        with open(path, "ab") as stream:
            stream.write(bytes(1 << 16))
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        return error
    return None


def default_file_mode() -> int:
    """The mode of a file opened for writing.

    Returns
    -------
    int
        ``0o666`` less the process's umask (read without changing it where Linux
        tells it).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            umask = next(line for line in status if line.startswith("Umask:")).split()[1]
        return 0o666 & ~int(umask, 8)
    except (OSError, ValueError, StopIteration):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and set it back at once
    os.umask(mask)
    return 0o666 & ~mask


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of sarfeat's writers killed on this host; return them.

    A writer killed mid-write (SIGKILL, power loss) cannot remove its hidden
    temporary file. Each is named with ``TEMPORARY_MARK``, the host and the
    writer's process id: those of this host whose process is gone are removed.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to clean.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    host, removed = socket.gethostname(), []
    for path in Path(folder).glob(f".*{TEMPORARY_MARK}*"):
        owner = path.name.split(TEMPORARY_MARK, 1)[1]  # HOST-PID-RANDOM.SUFFIX
        name, _, pid = owner.rpartition("-")[0].rpartition("-")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_folder(path: str | os.PathLike) -> None:
    """Raise FileNotFoundError (NotADirectoryError) naming the folder of ``path`` when it
    does not exist (is not a folder), so ``path`` cannot be written; sarfeat creates none.

    Parameters
    ----------
    path : str or os.PathLike
        A file to be written.
    """
    folder = Path(path).parent
    if folder.is_dir():
        return
    if os.path.lexists(folder):
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(folder)!r} is not a folder")
    raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not "
                            "exist (create it first)")


def _about(error: OSError, paths) -> bool:
    """Whether ``error`` concerns one of ``paths`` (an output and its temporary file): it
    names one of them, or no file at all (a write to an open file)."""
    named = [name for name in (error.filename, error.filename2) if name is not None]
    return not named or any(os.path.abspath(os.fspath(name)) ==
                            os.path.abspath(os.fspath(path))
                            for name in named if isinstance(name, (str, bytes, os.PathLike))
                            for path in paths)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is hidden (``.NAME.sarfeat-tmp-HOST-PID-XXXX.SUFFIX``)
    and removed when the block fails, so that an interrupted write never leaves
    a file that looks complete under ``path``; those left by a killed writer
    are removed by the next write into the folder
    (:func:`remove_stale_temporaries`). The file gets the mode of the file it
    replaces, or ``0o666`` less the umask, as a file opened for writing would. It
    is flushed to the disk before the rename, and its folder after it; within
    :func:`written_together` the rename waits for the rest of the set.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.

    Yields
    ------
    pathlib.Path
        The temporary file to write instead.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When the folder of ``path`` does not exist, or is not a folder: no
        folder is created.
    WriteError
        For an error of the system (``errno``: a full disk) in the block or in the
        flush and rename, naming ``path`` (its cause, the original error, chained);
        for an OSError without ``errno`` (a short write) when a write into the
        temporary file fails now (:func:`disk_failure`).
    """
    path = Path(path)
    check_folder(path)
    remove_stale_temporaries(path.parent)
    prefix = f".{path.name}{TEMPORARY_MARK}{socket.gethostname()}-{os.getpid()}-"
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    staged = _STAGED.get()
    try:
        try:
            yield temporary
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except OSError:
                mode = default_file_mode()
            _flush_file(temporary)
            os.chmod(temporary, mode)
            if staged is not None:  # renamed with the rest of its set (written_together)
                staged.append((temporary, path))
                return
            os.replace(temporary, path)
            _flush_folder(path.parent)
        except OSError as error:  # the system's reason, naming the file asked for
            if isinstance(error, WriteError) or not _about(error, (temporary, path)):
                raise  # another file's error (an input read in the block) stays as it is
            if error.errno is not None:
                raise WriteError(error.errno, error.strerror, str(path)) from error
            # a short write said without errno (NumPy's '65536 requested and 13280
            # written'): the system's reason, when a write fails there now
            system = disk_failure(temporary)
            if system is None or system.errno is None:
                raise
            raise WriteError(system.errno, f"{system.strerror} ({error})", str(path)) \
                from error
    finally:
        if staged is None or (temporary, path) not in staged:
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def written_together() -> Iterator[None]:
    """Rename the files that :func:`atomic_path` writes within the block into place together,
    once the whole block succeeds.

    A command writes a set of files (a registered image, its JSON report, a
    plot): when one of them fails or the command is interrupted (Ctrl-C,
    SIGTERM), none of the set replaces a file, and the temporary files are
    removed, so that no new file stands beside an earlier run's that it does not
    match. The renames themselves run with SIGINT and SIGTERM held back where the
    platform allows it (an interruption then arrives after them).

    The renames are all or nothing, as far as the file system allows: every
    target is checked first (a folder under a file's name fails the set before
    any rename), the files they replace are kept under hidden names (hard links,
    or copies where the file system has none) until every rename has succeeded,
    and a rename that fails (a folder made read-only meanwhile) puts back the
    files renamed before it, removing those that were new. The error is a
    :class:`WriteError` naming the file that could not be written; a file that
    could not be put back is named in a note, with the hidden name its earlier
    content keeps. Only a crash amid the renames (SIGKILL, power loss) can leave
    part of a set replaced.

    A set within a set joins the outer one: its files are renamed with the outer
    set's, when the outermost block ends, or not at all; when the inner block
    fails, its own files are discarded (the outer block may go on without them).

    Yields
    ------
    None
        Within the block.
    """
    outer = _STAGED.get()
    if outer is not None:  # a set within a set: renamed with the outermost one
        start = len(outer)
        try:
            yield
        except BaseException:
            _discard(outer[start:])
            del outer[start:]
            raise
        return
    staged: list[tuple[Path, Path]] = []
    token = _STAGED.set(staged)
    try:
        yield
    except BaseException:
        _discard(staged)
        raise
    finally:
        _STAGED.reset(token)
    try:
        with _signals_held():
            _rename_set(staged)
        for folder in dict.fromkeys(path.parent for _, path in staged):
            _flush_folder(folder)
    finally:
        _discard(staged)


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for temporary, _ in staged:
        temporary.unlink(missing_ok=True)


def _rename_set(staged: list[tuple[Path, Path]]) -> None:
    """Rename each (temporary, path) of ``staged`` onto its path, all or none of them: the
    files replaced are kept aside until the last rename, and put back if one fails."""
    # a file written twice in the set: its last write (the earlier is discarded)
    latest = {os.path.abspath(path): (temporary, path) for temporary, path in staged}
    staged = list(latest.values())
    for _, path in staged:  # a folder under the name: fail before the first rename
        if os.path.isdir(path) and not os.path.islink(path):
            raise WriteError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    kept: dict[Path, Path | None] = {}  # each target: its earlier file aside, or None
    renamed: list[Path] = []
    try:
        for _, path in staged:
            kept[path] = _keep_aside(path)
        for temporary, path in staged:
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise WriteError(error.errno, error.strerror, str(path)) from error
            renamed.append(path)
    except BaseException as error:
        lost = _put_back(renamed, kept)
        _remove_aside(kept)  # of the files not replaced (those not put back are kept)
        notes = ["the files of the set renamed before it were put back: none of the set "
                 "replaced a file"] if renamed and not lost else []
        notes += [f"{str(path)!r} could not be put back: its earlier content is in "
                  f"{str(aside)!r}" if aside is not None else
                  f"{str(path)!r}, new, could not be removed" for path, aside in lost]
        if notes:
            error.__notes__ = [*getattr(error, "__notes__", []), *notes]
        raise
    _remove_aside(kept)


def _remove_aside(kept: dict[Path, Path | None]) -> None:
    for aside in kept.values():
        if aside is not None:
            aside.unlink(missing_ok=True)


def _keep_aside(path: Path) -> Path | None:
    """Keep the file at ``path`` under a hidden name beside it, named as a temporary file
    (so that a killed writer's is removed): a hard link, else a copy; None when there is
    no file. The file itself stays under ``path``."""
    if not os.path.lexists(path):
        return None
    prefix = f".{path.name}{TEMPORARY_MARK}{socket.gethostname()}-{os.getpid()}-"
    while True:
        aside = path.with_name(f"{prefix}{secrets.token_hex(4)}{path.suffix}")
        try:
            os.link(path, aside, follow_symlinks=False)
            return aside
        except FileExistsError:
            continue
        except NotImplementedError:  # a link to a symbolic link itself (Windows): copied
            pass
        except OSError as error:  # no hard links here (FAT, some network file systems)
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                                   errno.ENOSYS):
                raise WriteError(error.errno, error.strerror, str(path)) from error
        try:
            shutil.copy2(path, aside, follow_symlinks=False)
            return aside
        except OSError as error:
            Path(aside).unlink(missing_ok=True)
            raise WriteError(error.errno, error.strerror, str(path)) from error


def _put_back(renamed: list[Path], kept: dict[Path, Path | None]) -> list[tuple]:
    """Undo the renames onto ``renamed``: each earlier file back from ``kept``, each new file
    removed; return the (path, its earlier file aside or None) that could not be undone."""
    lost = []
    for path in reversed(renamed):
        aside = kept.pop(path)
        try:
            if aside is None:
                path.unlink()
            else:
                os.replace(aside, path)
        except OSError:
            lost.append((path, aside))
    return lost


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back within the block (delivered after it), where the
    platform and thread allow it; elsewhere nothing changes.

    In the main thread their Python handlers are swapped for one that notes them,
    and the signals noted are raised again after the block: blocking them in this
    thread alone would not do, since the kernel then hands them to another thread
    (Dask's, a reader's), whose handler has Python raise KeyboardInterrupt here.
    """
    held = (signal.SIGINT, signal.SIGTERM)
    arrived: list[int] = []
    handlers = {}
    for signum in held:
        try:
            handler = signal.getsignal(signum)
            if handler is None or handler is signal.SIG_IGN:  # set outside Python, or
                continue  # ignored (a background job's SIGINT): left as it is
            handlers[signum] = signal.signal(signum, lambda number, frame: arrived.append(number))
        except (ValueError, OSError):  # not the main thread
            break
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(held))
    except (AttributeError, OSError, ValueError):  # Windows: no pthread_sigmask
        previous = None
    try:
        yield
    finally:
        if previous is not None:  # signals that arrive as they are unblocked are noted
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def _flush_file(path: Path) -> None:
    """``os.fsync`` the file at ``path``: its data on the disk before it is renamed (Windows
    flushes only a file opened for writing)."""
    handle = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _flush_folder(folder: Path) -> None:
    """``os.fsync`` ``folder``, so that a rename in it is on the disk, where the platform
    opens folders (``os.O_DIRECTORY``; not on Windows) and the file system flushes them."""
    directory = getattr(os, "O_DIRECTORY", None)
    if directory is None:
        return
    try:
        handle = os.open(folder, os.O_RDONLY | directory)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems refuse to flush a folder (EINVAL): nothing to do
        pass
    finally:
        os.close(handle)
