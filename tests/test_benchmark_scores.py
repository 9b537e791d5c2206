"""The benchmarks' scorers: no figure where there is nothing to measure, never a 0."""

from __future__ import annotations

import math

import numpy as np

from benchmarks import eval_registration, eval_rotation


def test_rotation_mma_of_no_match_is_no_figure():
    assert math.isnan(eval_rotation._summary(np.empty(0))["mma3"])  # was 0.0
    assert eval_rotation._summary(np.empty(0))["matches"] == 0
    assert eval_rotation._summary(np.array([1.0, 2.0, 5.0, 3.0])) == {"mma3": 0.75, "matches": 4}


def test_registration_summary_has_no_least_ncm_without_a_success():
    refused = {"method": "sarfeat", "pair": "n", "matches": 0, "ncm": 0, "cmr": 0.0,
               "rmse": float("inf"), "success": False, "seconds": 1.0, "note": "refused"}
    registered = dict(refused, pair="i", matches=40, ncm=38, cmr=0.95, rmse=0.5, success=True)
    assert eval_registration._summary([refused])["min_ncm_of_successes"] is None  # was 0
    figures = eval_registration._summary([refused, registered])
    assert figures["min_ncm_of_successes"] == 38 and figures["successes"] == 1
    assert figures["mean_cmr"] == 0.475  # a refused pair counts as CMR 0, as documented
