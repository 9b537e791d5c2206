"""The trainer: it learns, resumes exactly, exports safe weights and names a damaged checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sarfeat.checkpoint import load_checkpoint
from sarfeat.network import imagenet_normalize
from sarfeat.training.cli import main as train_main
from sarfeat.training.losses import r2d2_loss
from sarfeat.training.pairs import PairAugmentation, SingleImagePairs
from sarfeat.training.trainer import TrainConfig, Trainer, code_version


class _Repeated(Dataset):
    """One fixed pair, returned for every index (an overfitting target)."""

    def __init__(self, sample):
        self.sample = sample

    def __len__(self):
        return 1000

    def __getitem__(self, index):
        return self.sample


@pytest.fixture(scope="module")
def channel_pairs(airsar_cube):
    augmentation = PairAugmentation(rotation_deg=(-5, 5), scale=(0.9, 1.0), short_side=(200, 260))
    return SingleImagePairs([airsar_cube], crop_size=64, augmentation=augmentation, seed=3)


def _config(tmp_path, **overrides) -> TrainConfig:
    values = dict(output=str(tmp_path / "run"), batch_size=2, crop_size=64, seed=0, device="cpu",
                  bf16=False, checkpoint_every=0, validate_every=0)
    values.update(overrides)
    return TrainConfig(**values)


def _loss_on(trainer: Trainer, batch) -> float:
    images = [imagenet_normalize(batch[k]) for k in ("image1", "image2")]
    with torch.no_grad():
        out1, out2 = (trainer.net(x) for x in images)
        total, _ = r2d2_loss(out1, out2, batch["flow"], trainer.config.loss, trainer.config.sampler)
    return float(total)


def test_ten_iterations_overfit_one_pair(tmp_path, channel_pairs):
    # the lite network and fp32: the same training loop at a fraction of the cost (bf16
    # autocast is checked by test_training_losses; emulated on AVX2, it cost minutes here).
    # Measured (AMD EPYC, 2026-12-05): the loss falls steadily, 2.45 -> 1.81 after 3
    # iterations, 1.25 after 10, 0.66 after 25
    trainer = Trainer(_config(tmp_path, lr=1e-3, iterations=10, architecture="fast_r2d2_lite"),
                      _Repeated(channel_pairs[0]))
    batch = trainer.batch(0)
    before = _loss_on(trainer, batch)
    trainer.fit(progress=False)
    after = _loss_on(trainer, batch)
    assert after < 0.8 * before, (before, after)


def test_resume_gives_the_same_next_iterate(tmp_path, channel_pairs):
    # the lite network: resuming is the trainer's, whatever the architecture
    lite = dict(iterations=4, architecture="fast_r2d2_lite")
    straight = Trainer(_config(tmp_path / "a", **lite), channel_pairs)
    straight.fit(progress=False)

    interrupted = Trainer(_config(tmp_path / "b", **lite), channel_pairs)
    interrupted.fit(iterations=2, progress=False)  # saves last.pt at the end
    resumed = Trainer(_config(tmp_path / "b", **lite), channel_pairs)
    assert resumed.resume() and resumed.iteration == 2
    resumed.fit(progress=False)

    for name, value in straight.net.state_dict().items():
        torch.testing.assert_close(resumed.net.state_dict()[name], value, rtol=0, atol=0, msg=name)
    # and a fresh trainer that did not resume differs (so the check can fail)
    fresh = Trainer(_config(tmp_path / "c", iterations=2, architecture="fast_r2d2_lite"),
                    channel_pairs)
    fresh.fit(progress=False)
    assert not all(torch.equal(fresh.net.state_dict()[k], v)
                   for k, v in straight.net.state_dict().items())


def test_resumed_run_logs_the_same_history(tmp_path, channel_pairs):
    small = dict(iterations=25, batch_size=1, crop_size=32, architecture="fast_r2d2_lite")
    straight = Trainer(_config(tmp_path / "a", **small), channel_pairs)
    straight.fit(progress=False)
    Trainer(_config(tmp_path / "b", **small), channel_pairs).fit(iterations=10, progress=False)
    resumed = Trainer(_config(tmp_path / "b", **small), channel_pairs)
    assert resumed.resume()
    resumed.fit(progress=False)
    assert resumed.history == straight.history  # the running means at 25 cover 25 steps


def test_resume_refuses_other_options_but_allows_more_iterations(tmp_path, channel_pairs):
    lite = dict(iterations=1, architecture="fast_r2d2_lite")
    Trainer(_config(tmp_path, **lite), channel_pairs).fit(progress=False)
    for change in ({"lr": 1e-2}, {"crop_size": 48}, {"data": {"sources": {"other": 1.0}}}):
        other = Trainer(_config(tmp_path, **lite, **change), channel_pairs)
        with pytest.raises(ValueError, match=f"other options \\({next(iter(change))}: "):
            other.resume()
        assert other.iteration == 0
    longer = Trainer(_config(tmp_path, **{**lite, "iterations": 3}), channel_pairs)
    assert longer.resume() and longer.iteration == 1


def test_final_validation_runs_when_the_last_step_is_also_logged(tmp_path, channel_pairs):
    # the loss is logged every 25 iterations: that entry must not stand for the validation
    config = _config(tmp_path, iterations=25, batch_size=1, crop_size=32,
                     architecture="fast_r2d2_lite")
    trainer = Trainer(config, _Repeated(channel_pairs[0]), validate=lambda net: {"mma3": 0.5})
    trainer.fit(progress=False)
    assert trainer.history[-1] == {"iteration": 25, "mma3": 0.5}
    resumed = Trainer(config, _Repeated(channel_pairs[0]), validate=lambda net: {"mma3": 0.25})
    assert resumed.resume()
    resumed.fit(progress=False)  # done already: nothing to train or validate again
    assert resumed.history == trainer.history


def test_export_is_safe_and_records_provenance(tmp_path, channel_pairs):
    trainer = Trainer(_config(tmp_path, iterations=1, data={"sources": {"test": 1.0}}),
                      channel_pairs)
    trainer.fit(progress=False)
    path = trainer.export(tmp_path / "final.pt")
    content = torch.load(path, weights_only=True)
    assert content["metadata"]["config"]["data"] == {"sources": {"test": 1.0}}
    assert content["metadata"]["iterations"] == 1
    assert content["metadata"]["code_version"].startswith("sarfeat ")
    net = load_checkpoint(path)
    for name, value in trainer.net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, msg=name)


def _git(folder, *arguments: str) -> str:
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments],
                          cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def test_code_version_says_a_changed_checkout_and_never_another_repository_s_commit(tmp_path):
    # a source checkout: <root>/sarfeat/training/trainer.py, committed, then changed
    module = tmp_path / "checkout" / "sarfeat" / "training" / "trainer.py"
    module.parent.mkdir(parents=True)
    module.write_text("x = 1\n")
    root = tmp_path / "checkout"
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "c")
    commit = _git(root, "rev-parse", "--short=7", "HEAD")
    assert code_version(module).endswith(f"(git {commit})")
    module.write_text("x = 2\n")
    assert code_version(module).endswith(f"(git {commit}-dirty)")
    # installed into a virtual environment inside a project's repository: not this code's commit
    installed = (tmp_path / "checkout" / ".venv" / "lib" / "site-packages" / "sarfeat"
                 / "training" / "trainer.py")
    installed.parent.mkdir(parents=True)
    installed.write_text("x = 1\n")
    assert code_version(installed).endswith("(git not a git checkout)")
    outside = tmp_path / "elsewhere" / "sarfeat" / "training" / "trainer.py"
    outside.parent.mkdir(parents=True)
    outside.write_text("x = 1\n")
    assert code_version(outside).endswith("(git not a git checkout)")  # no repository at all


def test_last_checkpoint_of_a_run_loads_as_weights(tmp_path, channel_pairs):
    trainer = Trainer(_config(tmp_path, iterations=1, architecture="fast_r2d2_lite"),
                      channel_pairs)
    trainer.fit(progress=False)
    net = load_checkpoint(tmp_path / "run" / "last.pt")
    assert net.architecture == "fast_r2d2_lite" and net.metadata == {"iteration": 1}
    for name, value in trainer.net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_init_of_another_architecture_is_trained_as_it_is_and_recorded(tmp_path, capsys):
    """--init with a lite network trained it while config.json and final.pt's metadata
    said fast_r2d2 (the default): the record of the run was wrong."""
    from sarfeat.checkpoint import save_checkpoint
    from sarfeat.network import R2D2Net

    init = save_checkpoint(R2D2Net("fast_r2d2_lite"), tmp_path / "lite.pt")
    with pytest.raises(ValueError, match="'fast_r2d2_lite' network but architecture is"):
        Trainer(_config(tmp_path, init=str(init)), _Repeated(None))
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--init", str(init), "--no-validate", "--no-calibrate", "--quiet",
                         "--iterations", "1", "--batch-size", "1", "--crop-size", "48",
                         "--no-bf16"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["architecture"] == "fast_r2d2_lite"
    final = torch.load(tmp_path / "run" / "final.pt", weights_only=True)
    assert final["metadata"]["config"]["architecture"] == final["architecture"]


def test_cli_reports_a_damaged_last_checkpoint(tmp_path, channel_pairs, airsar_cube, capsys):
    config = _config(tmp_path, iterations=1, architecture="fast_r2d2_lite")
    Trainer(config, channel_pairs).fit(progress=False)
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[:5000])  # as a copy cut short leaves it
    scene = tmp_path / "scene.npy"
    np.save(scene, airsar_cube)
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--no-validate", "--no-calibrate", "--quiet"])
    assert status == 1
    assert "damaged" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["empty", "weights", "folder"])
def test_resume_names_a_last_checkpoint_that_is_no_run_state(tmp_path, content):
    """An empty last.pt failed with an IndexError, exported weights copied there with a
    KeyError; a folder there was taken for a new run that failed at its first checkpoint."""
    from sarfeat.checkpoint import CheckpointError, save_checkpoint
    from sarfeat.network import R2D2Net
    from sarfeat.training.trainer import load_run_state

    last = tmp_path / "last.pt"
    if content == "empty":
        last.write_bytes(b"")
    elif content == "weights":
        save_checkpoint(R2D2Net("fast_r2d2_lite"), last)
    else:
        last.mkdir()
    with pytest.raises(CheckpointError, match=r"cannot resume from .*last\.pt: .*another "
                                              "output folder"):
        load_run_state(tmp_path, "cpu")


@pytest.mark.parametrize("damage", ["cut", "empty"])
def test_side_trainers_name_a_damaged_last_checkpoint(tmp_path, damage):
    """resume_state (patch_descriptor, invariant_descriptor, orientation) let torch's
    error through: a traceback that did not say which file, nor what to do."""
    from sarfeat.training.trainer import resume_state

    net = torch.nn.Linear(2, 2)
    optimiser = torch.optim.Adam(net.parameters())
    path = tmp_path / "last.pt"
    torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(), "seconds": 1.0,
                "step": 3, "history": []}, path)
    assert resume_state(path, net, optimiser)[1] == 3  # a whole state resumes
    path.write_bytes(path.read_bytes()[:200] if damage == "cut" else b"")
    with pytest.raises(ValueError, match=r"cannot resume from .*last\.pt: it is damaged"):
        resume_state(path, net, optimiser)


def test_diverged_weights_are_never_saved_or_exported(tmp_path, channel_pairs, monkeypatch):
    """A step that left NaN weights was checkpointed over the last good last.pt (whose resume
    then failed at once), and final.pt could hold them too."""
    trainer = Trainer(_config(tmp_path, iterations=4, batch_size=1, crop_size=32,
                              checkpoint_every=1, architecture="fast_r2d2_lite"), channel_pairs)
    step = trainer.optimizer.step

    def diverging_step(*args, **kwargs):
        result = step(*args, **kwargs)
        if trainer.iteration == 1:  # the second step: its update is NaN
            with torch.no_grad():
                next(trainer.net.parameters()).fill_(float("nan"))
        return result

    monkeypatch.setattr(trainer.optimizer, "step", diverging_step)
    with pytest.raises(FloatingPointError, match="weights are not finite at iteration 2"):
        trainer.fit(progress=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["iteration"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    with pytest.raises(FloatingPointError, match="not exported"):
        trainer.export(tmp_path / "final.pt")
    assert not (tmp_path / "final.pt").exists()


def test_outputs_that_overflow_stop_training_with_a_clear_error(tmp_path, channel_pairs):
    """With weights blown up to 1e30 the maps were NaN and the AP loss failed on an index
    (RuntimeError: index -9223372036854775808 is out of bounds) instead of naming it."""
    trainer = Trainer(_config(tmp_path, iterations=3, batch_size=1, crop_size=32, lr=1e30,
                              architecture="fast_r2d2_lite"), channel_pairs)
    with pytest.raises(FloatingPointError, match="outputs are not finite at iteration 1"):
        trainer.fit(progress=False)
