"""Where ``sarfeat register-stack`` writes: the files of OUTDIR, their unique names, and the
checks of OUTDIR before any work (an input or an earlier run's file in the way)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..argument_checks import check_not_standard_output, write_error
from .common import UsageError

__all__ = ["SUMMARY", "FORMATS", "output_names", "input_paths", "check_inputs_kept",
           "earlier_outputs", "check_earlier_outputs", "output_files", "prepare_output_dir",
           "check_output_dir"]

#: The summary's file name in OUTDIR.
SUMMARY = "summary.json"
#: The ``--format`` choices: file types of the registered images.
FORMATS = ("tif", "npy", "png")


def output_names(images: list[str]) -> list[str]:
    """Unique file stems of the outputs, one per image.

    An image keeps its stem when no other has it (ignoring case) and it is not
    the summary's (``summary``); the others get their position
    (``NAME_<i>``), and a name still taken (an image called ``a_001`` beside
    two called ``a``) gets a further number, so that no output is written over
    another.
    """
    stems = [Path(image).stem for image in images]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    reserved = Path(SUMMARY).stem
    kept = [counts[stem.lower()] == 1 and stem.lower() != reserved for stem in stems]
    taken = {stem.lower() for stem, keep in zip(stems, kept) if keep}
    names = []
    for index, (stem, keep) in enumerate(zip(stems, kept)):
        name = stem
        if not keep:
            name, extra = f"{stem}_{index:03d}", 0
            while name.lower() in taken:
                extra += 1
                name = f"{stem}_{index:03d}_{extra}"
            taken.add(name.lower())
        names.append(name)
    return names


def input_paths(inputs: Sequence[str | os.PathLike]) -> set[Path]:
    """The resolved paths of ``inputs``, each as given (as it is read: a quoted
    ``'~/a.tif'`` is a file of a folder ``~`` of the working folder) and with ``~``
    expanded: an output folder on either is an input's, never written over.

    OUTDIR is written as given (``-o '~/out'``: ``./~/out``), as ``detect`` and
    ``register`` write theirs and GDAL's tools do; the paths here are compared with its
    files' resolved paths.
    """
    return {path for given in inputs
            for path in (Path(given).resolve(), Path(given).expanduser().resolve())}


def check_inputs_kept(inputs: list[str], folder: Path, names: list[str], suffix: str) -> None:
    """Refuse, before any work, a run that would write over one of its inputs.

    Raises
    ------
    sarfeat.cli.common.UsageError
        When an input is one of the files the run writes into ``folder``.
    """
    written = {(folder / file).resolve(): file
               for file in [SUMMARY, *output_files(names, suffix)]}
    for image in inputs:
        target = next((written[path] for path in input_paths([image]) if path in written), None)
        if target is not None:
            raise UsageError(f"input {image!r} is the output {target} of this run in "
                             f"{str(folder)!r}: move it, or choose another -o folder")


def earlier_outputs(names: list[str]) -> list[str]:
    """The files of OUTDIR that a run of the images named ``names`` writes or removes (an
    earlier run's, :func:`prepare_output_dir`): the summary, and each image's report and
    registered image in every ``--format``."""
    files = [file for form in FORMATS for file in output_files(names, f".{form}")]
    return list(dict.fromkeys([SUMMARY, *files]))


def check_earlier_outputs(folder: Path, names: list[str], overwrite: bool,
                          keep: Sequence[str | os.PathLike] = ()) -> None:
    """Refuse, before any work, a run that would replace or remove files already in
    ``folder`` (:func:`earlier_outputs`, but none of ``keep``, this run's inputs), unless
    ``overwrite`` (``--overwrite``); an existing folder is fine.

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming ``-o``, the first such file and how many more.
    """
    if overwrite or not folder.is_dir():
        return
    kept = input_paths(keep)
    found = [file for file in earlier_outputs(names)
             if ((folder / file).exists() or (folder / file).is_symlink())
             and (folder / file).resolve() not in kept]
    if found:
        more = f" and {len(found) - 1} more of its output files" if len(found) > 1 else ""
        raise UsageError(f"-o {str(folder)!r} already holds {found[0]}{more} (an earlier "
                         "run's): pass --overwrite to replace them, or choose another -o "
                         "folder")


def output_files(names: list[str], suffix: str) -> list[str]:
    """The files that the images named ``names`` get in OUTDIR: image and report of each."""
    return [file for name in names for file in (f"{name}.registered{suffix}", f"{name}.json")]


def prepare_output_dir(folder: Path, outputs: Sequence[str] = (),
                       keep: Sequence[str | os.PathLike] = ()) -> None:
    """Create OUTDIR; remove an earlier run's summary and ``outputs`` (file names), but
    none of the files ``keep`` (this run's inputs).

    What an earlier run wrote under this run's names would otherwise stay beside
    it: the registered image of an image that fails this time, or the report of
    one lost with its worker, would describe this run wrongly.
    """
    check_output_dir(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"-o {str(folder)!r} cannot be created: {error.strerror}") from None
    kept = input_paths(keep)
    for file in [SUMMARY, *outputs]:
        if (folder / file).resolve() not in kept:
            (folder / file).unlink(missing_ok=True)


def check_output_dir(folder: Path) -> None:
    """Refuse, before any work, an OUTDIR that is a file, that cannot be made because a
    file stands where one of its parent folders would be, or that cannot be written: no
    file can be created in it, or, for one still to be made, in its nearest existing parent
    (:func:`~sarfeat.argument_checks.write_error`: for root too, on a read-only file
    system).

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming ``-o`` and the file in the way, or the folder that is not writable.
    """
    check_not_standard_output("-o", folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {str(folder)!r} exists and is not a folder")
    parent = folder
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"-o {str(folder)!r} cannot be created: {str(parent)!r} is not a "
                         "folder")
    reason = write_error(parent)
    if reason and parent == folder:
        raise UsageError(f"-o {str(folder)!r} is not writable ({reason})")
    if reason:
        raise UsageError(f"-o {str(folder)!r} cannot be created: {str(parent)!r} is not "
                         f"writable ({reason})")
