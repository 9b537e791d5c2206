"""Real optical-SAR pairs with published correspondences, for evaluation only.

Three public repositories (issue 21), registered in :mod:`sarfeat.data` with a
URL pinned to a commit and a SHA-256 (``optical_sar/starainj/``,
``optical_sar/cfog/``, ``optical_sar/eoss/``). They may be used to *measure*
sarfeat, never to train, tune or select anything, and are never shipped or
committed:

- ``SO1``-``SO6``: StaRainJ/Multi-modality-image-matching-database-metrics-methods
  (Jiang et al., Information Fusion 2021; no licence: evaluation only). One
  MATLAB v5 file a pair: ``I_fix`` the SAR image (RGB; SO1-SO3 are false-colour
  composites), ``I_move`` the optical image (RGB), ``Landmarks.LMfix`` and
  ``Landmarks.LMmov`` 20 hand-placed (x, y) landmarks each, and ``T`` a 3x3
  projective matrix in MATLAB's row-vector form: ``[x_sar, y_sar, w] =
  [x_opt, y_opt, 1] @ T``, MATLAB's 1-based pixel coordinates. 500-600 px.
- ``cfog1``-``cfog3``: yeyuanxin110/CFOG's data (Ye et al., TGRS 2019; research
  only: evaluation only). Optical ``*_ref`` and SAR ``*_sen`` images (PNG or
  TIFF, 513-628 px) and a text file of control points, one a line: ``x_opt
  y_opt x_sar y_sar`` (1-based). The published points are matches, not a
  transform: the truth is the least-squares affine map through all of them
  (residuals 0.74-0.80 px RMS). Those pairs are nearly aligned already (shifts of
  1-10 px); pair 3's two GeoTIFFs share one georeference.
- ``eoss1``-``eoss22``: Xxin08/EOSS's ``dataset/OS`` (Xiong et al.; no licence:
  evaluation only): optical ``Pair<k>_1.tif`` and SAR ``Pair<k>_2.tif`` (8-bit,
  291-1011 px), one of them turned (by up to 180 degrees) and scaled (0.5-1.9)
  about its centre from a 512 px co-registered pair onto a canvas of 512 x scale
  px, and ``Gt<k>.txt``, the 3x3 similarity mapping optical to SAR in MATLAB's
  1-based pixels (it maps centre onto centre within 0.8 px in that reading, up to
  3 px off in the 0-based one). No landmarks: the error is measured on sarfeat's
  grid. Pairs 15, 23, 24 and 25 are left out (their image check fails, see
  ``benchmarks/README.md``).

Every truth is given in sarfeat's convention: a 3x3 matrix mapping optical
(x, y) = (col, row), 0-based, to SAR (x, y), the direction of
:attr:`sarfeat.RegistrationResult.transform` for ``register(optical, sar)``.
Images are gray float32 (:func:`sarfeat.io.rgb_to_gray` for colour), native size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from sarfeat.data import fetch
from sarfeat.io import read_raster, rgb_to_gray

#: StaRainJ's pairs: pair name -> registry file.
STARAINJ_PAIRS = {f"SO{k}": f"optical_sar/starainj/SO{k}.mat" for k in range(1, 7)}
#: CFOG's pairs: pair name -> (optical image, SAR image, control points).
CFOG_PAIRS = {
    "cfog1": ("optical_sar/cfog/optical_ref.png", "optical_sar/cfog/SAR_sen.png",
              "optical_sar/cfog/OpticaltoSAR_initialCP.txt"),
    "cfog2": ("optical_sar/cfog/visible1_ref.tif", "optical_sar/cfog/SAR1_sen.tif",
              "optical_sar/cfog/visibleToSAR1_CP.txt"),
    "cfog3": ("optical_sar/cfog/visible2_ref.tif", "optical_sar/cfog/SAR2_sen.tif",
              "optical_sar/cfog/visibleToSAR2_CP.txt"),
}
#: EOSS's pairs kept: pair name -> number k of its files (``Pair<k>_1.tif``, ...).
EOSS_PAIRS = {f"eoss{k}": k for k in range(1, 26) if k not in (15, 23, 24, 25)}
#: All pair names, in the order :func:`real_pairs` yields them.
PAIR_NAMES: tuple[str, ...] = (*STARAINJ_PAIRS, *CFOG_PAIRS, *EOSS_PAIRS)

# MATLAB (1-based) pixel coordinates -> 0-based: p0 = p1 - 1.
_ONE_BASED = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])


class RealPair(NamedTuple):
    """One real optical-SAR pair.

    Attributes
    ----------
    name : str
    optical, sar : (H, W) ndarray of float32
        Gray images, native size.
    truth : (3, 3) ndarray of float64
        Maps optical (x, y) to SAR (x, y), 0-based.
    optical_points, sar_points : (N, 2) ndarray of float64
        The published landmarks or control points, (x, y) 0-based, row k of
        one matching row k of the other; N = 0 where none are published.
    """

    name: str
    optical: np.ndarray
    sar: np.ndarray
    truth: np.ndarray
    optical_points: np.ndarray
    sar_points: np.ndarray


def _gray(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 of a gray or (H, W, 3+) colour array."""
    if image.ndim == 3:
        image = rgb_to_gray(image[..., :3]) if image.shape[-1] >= 3 else image[..., 0]
    return np.asarray(image, dtype=np.float32)


def _read_gray(name: str) -> np.ndarray:
    data = read_raster(fetch(name)).data  # (bands, rows, cols)
    return _gray(data[0] if len(data) == 1 else np.moveaxis(data, 0, -1))


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by a 3x3 projective matrix."""
    mapped = np.c_[points, np.ones(len(points))] @ np.asarray(matrix, dtype=np.float64).T
    return mapped[:, :2] / mapped[:, 2:]


def fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares 3x3 affine matrix mapping ``source`` (N, 2) onto ``target``."""
    design = np.c_[source, np.ones(len(source))]
    rows, *_ = np.linalg.lstsq(design, target, rcond=None)
    return np.vstack([rows.T, [0.0, 0.0, 1.0]])


def landmark_rmse(matrix: np.ndarray, truth: np.ndarray, points: np.ndarray) -> float:
    """RMSE in pixels between ``matrix`` and ``truth`` over the (N, 2) ``points``."""
    error = apply(matrix, points) - apply(truth, points)
    return float(np.sqrt(np.mean(np.sum(error ** 2, axis=1))))


def load_starainj(name: str) -> RealPair:
    """One of StaRainJ's pairs ``'SO1'``-``'SO6'`` (see the module docstring)."""
    from scipy.io import loadmat

    content = loadmat(fetch(STARAINJ_PAIRS[name]))
    landmarks = content["Landmarks"][0, 0]
    sar_points = np.asarray(landmarks["LMfix"], dtype=np.float64) - 1
    optical_points = np.asarray(landmarks["LMmov"], dtype=np.float64) - 1
    # row-vector T maps optical to SAR in 1-based pixels: column form T.T, then 0-based
    truth = np.linalg.inv(_ONE_BASED) @ content["T"].T @ _ONE_BASED
    return RealPair(name, _gray(content["I_move"]), _gray(content["I_fix"]),
                    truth / truth[2, 2], optical_points, sar_points)


def load_cfog(name: str) -> RealPair:
    """One of CFOG's pairs ``'cfog1'``-``'cfog3'`` (see the module docstring)."""
    optical_name, sar_name, points_name = CFOG_PAIRS[name]
    points = np.loadtxt(fetch(points_name), dtype=np.float64) - 1
    optical_points, sar_points = points[:, :2], points[:, 2:4]
    return RealPair(name, _read_gray(optical_name), _read_gray(sar_name),
                    fit_affine(optical_points, sar_points), optical_points, sar_points)


def load_eoss(name: str) -> RealPair:
    """One of EOSS's pairs ``'eoss1'``-``'eoss22'`` (see the module docstring)."""
    number = EOSS_PAIRS[name]
    matrix = np.loadtxt(fetch(f"optical_sar/eoss/Gt{number}.txt"), dtype=np.float64)
    truth = np.linalg.inv(_ONE_BASED) @ matrix @ _ONE_BASED
    none = np.empty((0, 2))
    return RealPair(name, _read_gray(f"optical_sar/eoss/Pair{number}_1.tif"),
                    _read_gray(f"optical_sar/eoss/Pair{number}_2.tif"),
                    truth / truth[2, 2], none, none)


def load_pair(name: str) -> RealPair:
    """The real pair ``name``, one of :data:`PAIR_NAMES`."""
    if name in STARAINJ_PAIRS:
        return load_starainj(name)
    if name in CFOG_PAIRS:
        return load_cfog(name)
    if name in EOSS_PAIRS:
        return load_eoss(name)
    raise ValueError(f"unknown pair {name!r}; pairs are {', '.join(PAIR_NAMES)}")


def real_pairs(names=PAIR_NAMES) -> Iterator[RealPair]:
    """Yield the real pairs, (name, optical, SAR, truth, optical points, SAR points)."""
    for name in names:
        yield load_pair(name)
