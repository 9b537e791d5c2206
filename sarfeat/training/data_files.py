"""The files a training run reads: their record in the run's provenance, and the guard
that keeps sarfeat's held-out evaluation data out of training.

Each file is recorded by its name and SHA-256 (:func:`describe_files`), so that
the weights say what they were trained on and a run is resumed only on the
same data. A file whose contents are one of :func:`held_out_files` (the
held-out Shanghai validation scene, and every registered file whose licence
says it is never training data: the paper's image pairs, the optical-SAR
evaluation pairs) is refused, whatever its name or folder.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from sarfeat.data import file_sha256
from sarfeat.registry import LICENCES, REGISTRY
from sarfeat.training.datasets.sources import SHANGHAI_FILE

__all__ = ["describe_files", "held_out_files"]


@functools.lru_cache(maxsize=1)
def held_out_files() -> dict[str, str]:
    """``{sha256: registry name}`` of the files that no training run may read.

    Returns
    -------
    dict of str to str
        The held-out Shanghai scene (the trainer's validation scene) and the
        registered files whose licence says "never training".
    """
    names = [SHANGHAI_FILE] + [name for name, text in LICENCES.items()
                               if "never training" in text]
    return {REGISTRY[name]: name for name in names if name in REGISTRY}


def describe_files(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, str]]:
    """The record of training files: ``[{"file": name, "sha256": digest}, ...]``.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The files, in the order the dataset reads them.

    Returns
    -------
    list of dict
        One record per file: its name (without its folder, so that a moved
        data folder is the same data) and the SHA-256 of its contents.

    Raises
    ------
    ValueError
        Naming a file whose contents are held-out evaluation data
        (:func:`held_out_files`).
    OSError
        When a file cannot be read (FileNotFoundError names it).
    """
    held_out = held_out_files()
    records = []
    for path in paths:
        digest = file_sha256(path)
        if digest in held_out:
            name = held_out[digest]
            why = ("the trainer's held-out validation scene" if name == SHANGHAI_FILE
                   else LICENCES[name])
            raise ValueError(
                f"{path} is sarfeat's held-out evaluation file {name} ({why}): "
                "it is never training data, so that the weights' validation and evaluation "
                "measure data they have not seen")
        records.append({"file": Path(path).name, "sha256": digest})
    return records
