"""asv: time and accuracy of :func:`sarfeat.register`.

Two sets of pairs, each with a reference transform (fixed (x, y) -> moving (x, y)):

*Development pairs* (``sarfeat.data.DEVELOPMENT_PAIRS``, ``i j l m n o q``):
real multi-temporal SAR pairs with the shared data's reference transforms.
They are evaluation-only data and need ``SARFEAT_DATA_DIR`` (asv skips these
benchmarks without it).

*Synthetic pairs*: one polarisation channel of a Sentinel-1 scene as the fixed
image, the other channel (independent speckle) warped by a known transform as
the moving image (NaN outside), for five transforms (:data:`WARPS`). Scene
``labrador`` is bundled with sarfeat and was among the training scenes of the
default weights; ``shanghai`` was never seen in training and needs
``SARFEAT_DATA_DIR``.

Accuracy follows sarfeat's definitions (:mod:`sarfeat.metrics`): RMSE of the
estimated transform against the reference on a 20 x 20 grid, success when it
is below 3 px; NCM the number of inlier matches within 3 px of the reference
and CMR = NCM / inlier matches. A pair that :func:`sarfeat.register` refuses
(:class:`sarfeat.RegistrationError`) is a failure with infinite RMSE and no
correct match. Each set is registered once per asv run (``setup_cache``) for
all the ``track_*`` figures; ``time_*`` registers again.
"""

from __future__ import annotations

import functools
import statistics

import numpy as np

from sarfeat.data import DEVELOPMENT_PAIRS

from .common import LITE_WEIGHTS, SlowTiming, require_lite_weights, use_shared_data

#: Registrations below this RMSE (px) succeed.
SUCCESS_RMSE = 3.0

#: Synthetic warps, fixed (x, y) -> moving (x, y), about the centre of the 256 px scenes:
#: (scale (sx, sy), rotation in degrees, shear in degrees, translation (tx, ty) in px).
WARPS = {
    "shift": ((1.0, 1.0), 0.0, 0.0, (12.5, -7.25)),
    "similarity": ((0.8, 0.8), 10.0, 0.0, (30.0, -10.0)),
    "rotation30": ((1.0, 1.0), 30.0, 0.0, (0.0, 0.0)),
    "rotation90": ((1.1, 1.1), 90.0, 0.0, (5.0, 5.0)),
    "affine": ((1.1, 0.9), 5.0, 6.0, (-8.0, 6.0)),
}

SCENES = ["labrador", "shanghai"]


@functools.lru_cache(maxsize=None)
def _matcher(weights=None):
    from sarfeat import CoarseFineMatcher

    return CoarseFineMatcher(weights, rng=0)  # default parameters, fixed RANSAC seed


def score(fixed: np.ndarray, moving: np.ndarray, reference: np.ndarray) -> dict:
    """Register ``moving`` onto ``fixed`` and measure the result against ``reference``.

    Parameters
    ----------
    fixed, moving : (H, W) ndarray
        The pair.
    reference : (3, 3) ndarray
        The reference transform, fixed (x, y) -> moving (x, y).

    Returns
    -------
    dict
        ``rmse`` (px, inf on failure), ``success`` (RMSE < 3 px), ``ncm``,
        ``cmr``, ``inliers`` and ``seconds``.
    """
    from sarfeat import RegistrationError, register
    from sarfeat.metrics import correct_match_counts, registration_rmse

    try:
        result = register(fixed, moving, matcher=_matcher())
    except RegistrationError:
        return {"rmse": float("inf"), "success": False, "ncm": 0, "cmr": 0.0, "inliers": 0,
                "seconds": float("nan")}
    rmse = registration_rmse(result.transform, reference, fixed.shape, moving.shape)
    ncm, cmr = correct_match_counts(result.keypoints_fixed, result.keypoints_moving,
                                    result.inlier_matches, reference)
    return {"rmse": rmse, "success": bool(rmse < SUCCESS_RMSE), "ncm": ncm, "cmr": cmr,
            "inliers": len(result.inlier_matches), "seconds": result.seconds}


def summary(rows: list[dict]) -> dict:
    """Successes, median RMSE (NaN when more than half failed), mean CMR and mean NCM.

    Parameters
    ----------
    rows : list of dict
        Results of :func:`score`.

    Returns
    -------
    dict
    """
    median = statistics.median(row["rmse"] for row in rows)
    return {
        "successes": sum(row["success"] for row in rows),
        "median_rmse": median if np.isfinite(median) else float("nan"),
        "mean_cmr": float(np.mean([row["cmr"] for row in rows])),
        "mean_ncm": float(np.mean([row["ncm"] for row in rows])),
    }


def _summary_track(key: str, unit: str):
    """A ``track_*`` method returning ``self.summary[key]`` (``setup`` sets ``self.summary``)."""

    def track(self, results: dict, *params) -> float:
        return self.summary[key]

    track.unit = unit
    return track


class _SummaryTracks:
    """The four accuracy figures of :func:`summary`."""

    track_successes = _summary_track("successes", "pairs")
    track_median_rmse = _summary_track("median_rmse", "px")
    track_mean_cmr = _summary_track("mean_cmr", "ratio")
    track_mean_ncm = _summary_track("mean_ncm", "matches")


# -- development pairs ----------------------------------------------------------------------------


def development_pair(pair: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed image, moving image and reference transform of a development pair.

    Raises ``NotImplementedError`` (asv's "skip") when the shared data is missing.
    """
    from sarfeat.data import DataUnavailableError, load_pair, load_reference_transform

    use_shared_data()
    try:
        fixed, moving = load_pair(pair)
        return fixed, moving, load_reference_transform(pair)
    except DataUnavailableError as error:
        raise NotImplementedError(f"development pairs need SARFEAT_DATA_DIR: {error}") from None


class _DevelopmentRun:
    """Registers every development pair once per asv run, shared by the subclasses."""

    timeout = 900

    def setup_cache(self) -> dict:
        return {pair: score(*development_pair(pair)) for pair in DEVELOPMENT_PAIRS}


class DevelopmentPairs(_SummaryTracks, _DevelopmentRun):
    """Accuracy over the seven development pairs."""

    def setup(self, rows: dict) -> None:
        self.summary = summary(list(rows.values()))


class DevelopmentPairEach(SlowTiming, _DevelopmentRun):
    """Time, RMSE and NCM of each development pair."""

    params = list(DEVELOPMENT_PAIRS)
    param_names = ["pair"]
    repeat = (1, 3, 60.0)

    def setup(self, rows: dict, pair: str) -> None:
        self.images = development_pair(pair)

    def time_register(self, rows: dict, pair: str) -> None:
        score(*self.images)

    def track_rmse(self, rows: dict, pair: str) -> float:
        return rows[pair]["rmse"]

    track_rmse.unit = "px"

    def track_ncm(self, rows: dict, pair: str) -> int:
        return rows[pair]["ncm"]

    track_ncm.unit = "matches"


class DevelopmentPairsPeers(SlowTiming):
    """Registration of all seven development pairs, sarfeat and OpenCV peers in one run.

    ``time_register`` of ``sarfeat`` (default weights) or ``sarfeat_lite`` (the
    distilled ``sarfeat-sar-lite`` weights) divided by that of ``akaze`` (OpenCV
    AKAZE + RANSAC) or ``sift`` (OpenCV SIFT + RANSAC) is the ratio of the speed
    issue (target: at most 3x AKAZE). The peers match by mutual nearest neighbours with
    Lowe's ratio 0.8 and fit an affine map by RANSAC (3 px), as in
    ``eval_registration.py``.
    """

    params = ["sarfeat", "sarfeat_lite", "akaze", "sift"]
    param_names = ["method"]
    repeat = (1, 3, 120.0)

    def setup(self, method: str) -> None:
        import cv2

        from sarfeat import register

        if method == "sarfeat_lite":
            require_lite_weights()
        if method == "akaze" and not hasattr(cv2, "AKAZE_create"):
            raise NotImplementedError("OpenCV 5 has no AKAZE: install opencv-python-headless<5")
        self.pairs = [development_pair(pair)[:2] for pair in DEVELOPMENT_PAIRS]
        self.weights = LITE_WEIGHTS if method == "sarfeat_lite" else None
        if method.startswith("sarfeat"):
            register(*development_pair("l")[:2], matcher=_matcher(self.weights),
                     progress=False)  # load the network, warm up

    def time_register(self, method: str) -> None:
        from sarfeat import RegistrationError, register

        from .eval_registration import _sift_register

        for fixed, moving in self.pairs:
            if method.startswith("sarfeat"):
                try:
                    register(fixed, moving, matcher=_matcher(self.weights), progress=False)
                except RegistrationError:
                    pass
            else:
                _sift_register(fixed, moving, method=method)


class LargePair(SlowTiming):
    """A 4096 x 4096 synthetic pair (``bench_large_registration.py``): sarfeat and OpenCV SIFT.

    Peak memory here is that of the asv process (the pair, both methods'
    libraries); ``bench_large_registration.py`` measures each method in a fresh
    process, and at 8192 px too.
    """

    params = (["sarfeat", "sift"], [4096])
    param_names = ["method", "size"]
    repeat = (1, 1, 600.0)
    timeout = 3600

    def setup(self, method: str, size: int) -> None:
        from .bench_large_registration import large_pair

        self.fixed, self.moving, _ = large_pair(size)
        if method == "sarfeat":
            score(*development_pair("l"))  # load the network, warm torch up

    def _run(self, method: str) -> None:
        from .bench_large_registration import _run_sarfeat, _run_sift

        (_run_sarfeat if method == "sarfeat" else _run_sift)(self.fixed, self.moving)

    def time_register(self, method: str, size: int) -> None:
        self._run(method)

    def peakmem_register(self, method: str, size: int) -> None:
        self._run(method)


# -- synthetic pairs ------------------------------------------------------------------------------


def warp_matrix(name: str, shape: tuple[int, int]) -> np.ndarray:
    """The 3x3 matrix of warp ``name``, fixed (x, y) -> moving (x, y), about the image centre.

    Parameters
    ----------
    name : str
        A key of :data:`WARPS`.
    shape : tuple of int
        (rows, cols) of the fixed image.

    Returns
    -------
    (3, 3) ndarray
    """
    from skimage.transform import AffineTransform

    scale, rotation, shear, translation = WARPS[name]
    centre = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])
    linear = AffineTransform(scale=scale, rotation=np.deg2rad(rotation), shear=np.deg2rad(shear))
    to_origin = AffineTransform(translation=-centre)
    back = AffineTransform(translation=centre + np.asarray(translation))
    return back.params @ linear.params @ to_origin.params


def synthetic_pair(scene: str, warp_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel 0 of ``scene`` (fixed), channel 1 warped by ``warp_name`` (moving), the matrix.

    Raises ``NotImplementedError`` (asv's "skip") when the scene is not available.
    """
    from skimage.transform import ProjectiveTransform, warp

    from sarfeat.data import DataUnavailableError, load_sar_scene

    use_shared_data()
    try:
        data = load_sar_scene(scene)
    except DataUnavailableError as error:
        raise NotImplementedError(f"scene {scene!r} needs SARFEAT_DATA_DIR: {error}") from None
    fixed, other = data[..., 0], data[..., 1]
    matrix = warp_matrix(warp_name, fixed.shape)
    # warp() takes the map from output (moving) pixels back to the input (fixed frame)
    inverse = ProjectiveTransform(np.linalg.inv(matrix))
    moving = warp(other, inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)
    return fixed, moving, matrix


class _SyntheticRun:
    """Registers every synthetic pair once per asv run, shared by the subclasses."""

    timeout = 900

    def setup_cache(self) -> dict:
        results = {}
        for scene in SCENES:
            try:
                results[scene] = {name: score(*synthetic_pair(scene, name)) for name in WARPS}
            except NotImplementedError:
                results[scene] = None
        return results

    def _rows(self, results: dict, scene: str) -> list[dict]:
        if results[scene] is None:
            raise NotImplementedError(f"scene {scene!r} needs SARFEAT_DATA_DIR")
        return list(results[scene].values())


class SyntheticPairs(_SummaryTracks, _SyntheticRun):
    """Accuracy over the five known warps of each scene."""

    params = SCENES
    param_names = ["scene"]

    def setup(self, results: dict, scene: str) -> None:
        self.summary = summary(self._rows(results, scene))


class SyntheticPairEach(SlowTiming, _SyntheticRun):
    """Time and RMSE of each synthetic pair."""

    params = (SCENES, list(WARPS))
    param_names = ["scene", "warp"]
    repeat = (1, 3, 20.0)

    def setup(self, results: dict, scene: str, warp_name: str) -> None:
        self._rows(results, scene)
        self.pair = synthetic_pair(scene, warp_name)

    def time_register(self, results: dict, scene: str, warp_name: str) -> None:
        score(*self.pair)

    def track_rmse(self, results: dict, scene: str, warp_name: str) -> float:
        return results[scene][warp_name]["rmse"]

    track_rmse.unit = "px"


# -- robust model fitting -------------------------------------------------------------------------


class ModelFit:
    """``sarfeat.matching.models.fit_model`` (affine, GRIC selection) on 600 synthetic matches.

    A share ``outliers`` of the matches is uniform noise; the rest follow an affine map
    with 0.7 px noise. The fine stage fits one such model per prior and round.
    """

    params = [0.4, 0.75, 0.85]
    param_names = ["outliers"]

    def setup(self, outliers: float) -> None:
        from skimage.transform import AffineTransform

        rng = np.random.default_rng(0)
        truth = AffineTransform(matrix=np.array([[0.99, 0.02, 9.0], [-0.015, 1.01, -6.0],
                                                 [0, 0, 1.0]]))
        self.source = rng.uniform(0, 1000, (600, 2))
        self.target = truth(self.source) + rng.normal(0, 0.7, self.source.shape)
        wrong = rng.random(600) < outliers
        self.target[wrong] = rng.uniform(0, 1000, (int(wrong.sum()), 2))

    def time_fit_model(self, outliers: float) -> None:
        from sarfeat.matching.models import fit_model

        fit_model(self.source, self.target, "affine", threshold=3.0, max_trials=2000,
                  plausible=None, rng=np.random.default_rng(0))
