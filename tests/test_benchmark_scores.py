"""The benchmarks' scorers: no figure where there is nothing to measure, never a 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

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


def test_compare_arosics_measures_sarfeat_alone_without_arosics(tmp_path, capsys):
    """registration.rst's comparison with AROSICS: a missing --arosics-python was a
    FileNotFoundError traceback after sarfeat's first registration (its default named a path
    of the machine that ran it); it is refused before any work, and without the option the
    AROSICS columns say 'not run' while sarfeat's is measured."""
    from benchmarks import compare_arosics

    with pytest.raises(SystemExit) as stopped:
        compare_arosics.main(["--arosics-python", str(tmp_path / "none" / "python"),
                              "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    skipped = compare_arosics.run_arosics(None, tmp_path / "f.tif", tmp_path / "m.tif",
                                          tmp_path / "p", 128)
    assert skipped == {"global": {"error": compare_arosics.NOT_RUN},
                       "local": {"error": compare_arosics.NOT_RUN}}
