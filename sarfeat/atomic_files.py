"""Atomic writes: a temporary file beside the target, renamed onto it once complete.

:func:`atomic_path` is how sarfeat's writers write a file (rasters,
checkpoints, plots, results), so that an interrupted write never leaves a file
that looks complete; :func:`remove_stale_temporaries` clears the temporary
files of writers that were killed. :mod:`sarfeat.io` re-exports these names.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["TEMPORARY_MARK", "atomic_path", "check_folder", "default_file_mode",
           "remove_stale_temporaries"]

#: What names sarfeat's temporary files: ``.NAME.sarfeat-tmp-HOST-PID-XXXX.SUFFIX``.
TEMPORARY_MARK = ".sarfeat-tmp-"


def default_file_mode() -> int:
    """The mode of a file opened for writing: ``0o666`` less the process's umask (read
    without changing it where Linux tells it)."""
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
    temporary file. Each is named with :data:`TEMPORARY_MARK`, the host and the
    writer's process id: those of this host whose process is gone are removed.
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
    does not exist (is not a folder), so ``path`` cannot be written; sarfeat creates none."""
    folder = Path(path).parent
    if folder.is_dir():
        return
    if os.path.lexists(folder):
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(folder)!r} is not a folder")
    raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not "
                            "exist (create it first)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is hidden (``.NAME.sarfeat-tmp-HOST-PID-XXXX.SUFFIX``)
    and removed when the block fails, so that an interrupted write never leaves
    a file that looks complete under ``path``; those left by a killed writer
    are removed by the next write into the folder
    (:func:`remove_stale_temporaries`). The file gets the mode of the file it
    replaces, or ``0o666`` less the umask, as a file opened for writing would.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When the folder of ``path`` does not exist, or is not a folder: no
        folder is created.
    """
    path = Path(path)
    check_folder(path)
    remove_stale_temporaries(path.parent)
    prefix = f".{path.name}{TEMPORARY_MARK}{socket.gethostname()}-{os.getpid()}-"
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = default_file_mode()
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
