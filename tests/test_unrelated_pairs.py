"""Two images that do not show the same place are refused, not registered (every transform
returned for them would be wrong), through the API and the command line; and the
derangement of benchmarks/eval_unrelated.py pairs no tile with ground of its own.

The unrelated pair is data that CI has: the bundled 3MOS optical tile (Radarsat, hills)
against the bundled Sentinel-1 scene of Labrador (VV intensity, 256 x 256).
"""

from __future__ import annotations

import numpy as np
import pytest

import sarfeat
from benchmarks.eval_unrelated import (answer_kind, check_table, partner, reason, run_method,
                                       shares_ground, summary)
from sarfeat.cli import main


@pytest.fixture(scope="module")
def unrelated():
    """(optical tile, SAR scene of another place), both 256 x 256."""
    from sarfeat.data import load_optical_sar_tile, load_sar_scene

    return load_optical_sar_tile()[0], load_sar_scene("labrador")[..., 0]


def test_an_optical_tile_and_a_sar_scene_of_another_place_are_refused(unrelated_optical_sar):
    # register(*unrelated, modality="optical-sar", rng=0), once a session (conftest.py)
    refused = unrelated_optical_sar
    assert isinstance(refused, sarfeat.RegistrationError), refused
    assert "refused rather than guessed" in str(refused)
    # the matcher ran and its checks refused: not an input refused before matching
    assert refused.diagnostics is not None
    assert refused.diagnostics["failure"]


def test_the_command_line_exits_1_on_an_unrelated_pair_and_writes_nothing(unrelated, tmp_path,
                                                                           capsys):
    optical, sar = tmp_path / "optical.npy", tmp_path / "sar.npy"
    np.save(optical, unrelated[0])
    np.save(sar, unrelated[1])
    out = tmp_path / "out.npy"
    assert main(["register", str(optical), str(sar), "--modality", "optical-sar", "-q",
                 "-o", str(out)]) == 1
    assert "refused rather than guessed" in capsys.readouterr().err
    assert not out.exists()


def test_shares_ground_knows_overlapping_tiles_and_polarisations():
    # Sen1Floods11's tiles at (0, 0) and (0, 128) overlap; (0, 0) and (256, 256) do not
    assert shares_ground("SF11_VV_0", "SF11_VH_1")
    assert not shares_ground("SF11_VV_0", "SF11_VV_8")
    assert shares_ground("SF11_VV_4", "SF11_VH_8")  # the centre tile overlaps every tile
    assert shares_ground("BEN_VV_87_48", "BEN_VH_87_48")
    assert not shares_ground("BEN_VV_87_48", "BEN_VV_87_49")
    assert not shares_ground("ALOS_desert_0", "ALOS_desert_2")


def test_partner_pairs_each_tile_with_one_of_other_ground_or_none():
    names = [f"SF11_{p}_{k}" for p in ("VV", "VH") for k in range(9)]
    for shift in (1, 2, 5):
        for index in range(len(names)):
            other = partner(names, index, shift)
            if names[index].endswith("_4"):  # the centre tile overlaps all the others
                assert other is None
            else:
                assert other is not None and not shares_ground(names[index], names[other])
    assert partner(["a", "b", "c"], 2, 1) == 0  # cyclic
    assert partner(["a", "b", "c"], 1, 0) == 1  # shift 0: the true pair


def test_reason_names_the_check_that_refused():
    assert reason("cannot register the images: only 2 of 11 placed templates agree with "
                  "the whole-overlap transform") == "templates"
    assert reason("something else entirely happened here today, said the matcher") \
        == "something else entirely happened here today, said the"


def test_summary_counts_returned_and_refused_apart_for_true_and_unrelated_pairs():
    row = {"group": "3mos:3mos", "method": "sarfeat", "cpu_s": 3.0}
    rows = [dict(row, shift=1, returned=False, reason="templates"),
            dict(row, shift=1, returned=True, reason=""),
            dict(row, shift=0, returned=True, reason="", rmse=1.5),
            dict(row, shift=0, returned=True, reason="", rmse=7.0),
            dict(row, shift=0, returned=False, reason="global score")]
    report = summary(rows)
    unrelated, true = report["3mos:3mos unrelated sarfeat"], report["3mos:3mos true sarfeat"]
    assert (unrelated["pairs"], unrelated["returned"], unrelated["refused"]) == (2, 1, 1)
    assert unrelated["reasons"] == {"templates": 1} and "within_3px" not in unrelated
    assert (true["returned"], true["within_3px"], true["reasons"]) == (2, 1, {"global score": 1})


def test_past_global_gives_a_pair_refused_by_the_global_score_the_later_checks_figures():
    from sarfeat.data import load_optical_sar_tile

    optical = load_optical_sar_tile()[0]
    speckle = np.random.default_rng(0).gamma(1.0, size=(256, 256)).astype(np.float32)
    plain = run_method("sarfeat", optical, speckle, "optical")
    past = run_method("sarfeat", optical, speckle, "optical", past_global=True)
    # register's decision and message are kept: refused by the global search's score
    assert plain[0] is None and past[0] is None and plain[1] == past[1]
    assert reason(past[1]) == "global score"
    # register ran no fine stage; the row of --past-global has its checks' figures
    assert plain[2]["verify_weighted"] is None and plain[2]["fine_candidates"] is None
    figures = past[2]
    assert figures["past_global"] is True
    assert figures["coarse_score"] == plain[2]["coarse_score"]  # the same global search
    assert figures["coarse_score"] < 0.11
    for name in ("verify_weighted", "verify_second", "fine_candidates", "fine_inliers",
                 "inlier_ratio"):
        assert figures[name] is not None, name


def test_check_table_gives_each_figure_by_kind_of_answer():
    row = {"group": "canvas:3mos", "method": "sarfeat", "cpu_s": 3.0}
    rows = [dict(row, shift=0, returned=True, rmse=1.0, verify_weighted=0.2,
                 verify_second=0.15, fine_inliers=30),
            dict(row, shift=0, returned=True, rmse=2.0, verify_weighted=0.3,
                 verify_second=0.15, fine_inliers=50),
            dict(row, shift=0, returned=True, rmse=9.0, verify_weighted=0.1,
                 verify_second=0.09, fine_inliers=12),
            dict(row, shift=2, returned=False, coarse_score=0.09, verify_weighted=None),
            dict(row, method="sift", shift=1, returned=True)]
    assert [answer_kind(r) for r in rows[:4]] == ["right", "right", "off", "unrelated refused"]
    table = check_table(rows)
    margin = table["margin over next peak %, right"]
    assert margin["rows"] == 2 and (margin["least"], margin["most"]) == (25.0, 50.0)
    assert margin["median"] == 37.5
    assert table["agreeing templates, off"]["median"] == 12
    # a figure a row lacks (no fine stage) is left out, not counted as zero; SIFT not read
    assert table["global score, unrelated refused"]["rows"] == 1
    assert "whole-overlap score, unrelated refused" not in table
    assert not any("unrelated returned" in name for name in table)


def test_pair_chooser_leaves_out_runs_done_and_shares_the_rest_out():
    from benchmarks.eval_unrelated import pair_chooser

    keys = [("3mos:3mos", 1, f"t{i}", f"t{i + 1}", "sarfeat") for i in range(7)]
    done = {keys[2], keys[5]}
    shares = [[key for key in keys if choose(key)]
              for choose in (pair_chooser(done, (0, 2)), pair_chooser(done, (1, 2)))]
    # every run not done, once, in one share or the other; the shares alternate
    assert sorted(shares[0] + shares[1]) == sorted(set(keys) - done)
    assert shares[0] == [keys[0], keys[3], keys[6]] and shares[1] == [keys[1], keys[4]]
    assert [key for key in keys if pair_chooser()(key)] == keys
    with pytest.raises(ValueError, match="0 <= K < N"):
        pair_chooser(share=(2, 2))


def test_evaluate_writes_a_checkpoint_that_a_later_run_skips(monkeypatch, tmp_path):
    import json

    from benchmarks import eval_unrelated

    def refuse(method, fixed, moving, modality, past_global=False):
        return None, "no consistent transform found", {"coarse_inliers": 3}, 0.5, 0.6

    monkeypatch.setattr(eval_unrelated, "run_method", refuse)
    image = np.zeros((8, 8), np.float32)
    pairs = ([f"ALOS_desert_{k}" for k in range(4)], [image] * 4, [image] * 4, [None] * 4)
    rows, path = [], tmp_path / "rows.jsonl"
    with path.open("x") as checkpoint:
        eval_unrelated.evaluate("3mos:3mos", pairs, [1, 2], ["sarfeat"], "optical", rows,
                                out=None, checkpoint=checkpoint,
                                choose=eval_unrelated.pair_chooser(share=(1, 2)))
    assert [(r["shift"], r["fixed"], r["moving"]) for r in rows] == [
        (1, "ALOS_desert_1", "ALOS_desert_2"), (1, "ALOS_desert_3", "ALOS_desert_0"),
        (2, "ALOS_desert_1", "ALOS_desert_3"), (2, "ALOS_desert_3", "ALOS_desert_1")]
    assert eval_unrelated.read_rows(path) == rows  # a row a line, as measured
    assert rows[0]["reason"] == "no consistent transform" and rows[0]["coarse_inliers"] == 3
    # the rest of the run: the other share, read back from the checkpoint, not run again
    done = {eval_unrelated.row_key(row) for row in eval_unrelated.read_rows(path)}
    rest: list = []
    eval_unrelated.evaluate("3mos:3mos", pairs, [1, 2], ["sarfeat"], "optical", rest,
                            out=None, choose=eval_unrelated.pair_chooser(done))
    assert len(rest) == 4 and not done & {eval_unrelated.row_key(row) for row in rest}
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps({"summary": {}, "rows": rest}))
    assert eval_unrelated.read_rows(whole) == rest  # a --json file too
    path.write_text(path.read_text() + '{"group": "3mos:3mos", "shi\n')
    with pytest.raises(ValueError, match="line 5: not a row of JSON"):
        eval_unrelated.read_rows(path)


def test_main_refuses_a_bad_share_and_a_checkpoint_that_exists(tmp_path, capsys):
    from benchmarks.eval_unrelated import main as evaluate_unrelated

    for share in ("2/2", "1", "a/b"):
        with pytest.raises(SystemExit):
            evaluate_unrelated(["--share", share])
        assert "--share" in capsys.readouterr().err
    existing = tmp_path / "rows.jsonl"
    existing.write_text("")
    with pytest.raises(SystemExit):
        evaluate_unrelated(["--jsonl", str(existing)])
    assert "exists: not overwritten" in capsys.readouterr().err
