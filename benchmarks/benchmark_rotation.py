"""asv accuracy rows of rotation invariance on real SAR channel pairs (issue 18's table).

The figures of ``eval_rotation.py``, computed once per asv run
(``setup_cache``): MMA@3 of mutual nearest neighbours between the first
channel of each bundled scene and the last one warped by a similarity of
scale 0.9 turned by 10, 60 or 135 degrees (both directions, ``min_size=128``),
for the default detector, ``descriptor='patch'`` and ``upright=True``. The
``shanghai`` row is unseen data (never trained or tuned on). Needs
``SARFEAT_DATA_DIR`` (skipped without it).
"""

from __future__ import annotations

from .common import use_shared_data

ROWS = ["sentinel1", "shanghai", "labrador", "sanfrancisco"]


class RotationTable:
    """MMA@3 by configuration, row (scene, or both Sentinel-1 scenes pooled) and angle."""

    params = (["default", "v1", "patch", "upright"], ROWS, [10, 60, 135])
    param_names = ["detector", "row", "degrees"]
    unit = "MMA@3"
    timeout = 1800

    def setup_cache(self) -> dict:
        from sarfeat.data import DataUnavailableError

        from .eval_rotation import evaluate

        use_shared_data()
        try:
            return evaluate()
        except DataUnavailableError as error:
            return {"unavailable": str(error)}

    def setup(self, results: dict, detector: str, row: str, degrees: int) -> None:
        if "unavailable" in results:
            raise NotImplementedError(results["unavailable"])

    def track_mma3(self, results: dict, detector: str, row: str, degrees: int) -> float:
        return results[detector][row][degrees]["mma3"]
