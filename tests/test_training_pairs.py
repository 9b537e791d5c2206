"""Tests of sarfeat.training.pairs: exact flow, speckle, determinism, sources and mixture."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.io import imsave
from torch.utils.data import Dataset

from sarfeat.training.datasets import sources as source_module
from sarfeat.training.pairs import (
    MixedPairs,
    PairAugmentation,
    SingleImagePairs,
    SpeckledOpticalPairs,
    StackPairs,
    add_speckle,
    collate,
    default_training_sources,
    open_optical_images,
    random_affine,
    similarity_matrix,
    validation_pairs,
    warp_with_flow,
)

#: Geometry on (wider than the defaults), photometry off: image values stay comparable.
GEOMETRY_ONLY = PairAugmentation(
    rotation_deg=(-25.0, 25.0),
    relative_scale=(0.7, 1.3),
    gamma=None,
    gain=None,
    bias=None,
    quantize_prob=0.0,
)


def blobs(shape=(256, 256), n=60, sigma=3.0, seed=0) -> np.ndarray:
    """Smooth test pattern: Gaussian blobs of various heights on a dim background."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape)
    rows = rng.integers(4, shape[0] - 4, n)
    cols = rng.integers(4, shape[1] - 4, n)
    image[rows, cols] = rng.uniform(0.4, 1.0, n)
    image = ndimage.gaussian_filter(image, sigma) * (2 * math.pi * sigma**2)
    return (0.05 + 0.9 * image / image.max()).astype(np.float32)


def back_sample(image2: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Image 2 read at the flow positions of the valid pixels of image 1."""
    return ndimage.map_coordinates(image2, [flow[1][mask], flow[0][mask]], order=1)


def peak(image: np.ndarray, x: float, y: float, radius: int = 2) -> tuple[float, float]:
    """Sub-pixel position (x, y) of the brightest peak near (x, y).

    The integer maximum of a (2 radius + 1) window, refined by a parabola
    through the log values on each axis (exact for a Gaussian blob).
    """
    r0, c0 = int(round(y)), int(round(x))
    patch = image[r0 - radius : r0 + radius + 1, c0 - radius : c0 + radius + 1]
    dr, dc = np.unravel_index(np.argmax(patch), patch.shape)
    row, col = r0 - radius + dr, c0 - radius + dc
    logs = np.log(np.maximum(image.astype(np.float64), 1e-6))

    def refine(m, c, p):
        return 0.5 * (m - p) / (m - 2 * c + p) if (m - 2 * c + p) < 0 else 0.0

    fx = refine(logs[row, col - 1], logs[row, col], logs[row, col + 1])
    fy = refine(logs[row - 1, col], logs[row, col], logs[row + 1, col])
    return col + fx, row + fy


@pytest.fixture(scope="module")
def stack_root(tmp_path_factory):
    """Two areas: co-registered float .npy dates and uint8 RGB .png dates (same blobs)."""
    root = tmp_path_factory.mktemp("stacks")
    (root / "area_npy").mkdir()
    (root / "area_png").mkdir()
    pattern = blobs(n=20)  # sparse: isolated peaks for the blob-centre test
    for date in ("2020", "2021", "2022"):
        np.save(root / "area_npy" / f"{date}.npy", pattern)
    rgb = np.repeat((blobs(seed=1) * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    for date in ("a", "b"):
        imsave(root / "area_png" / f"{date}.png", rgb, check_contrast=False)
    (root / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def geometry_stack(stack_root):
    return StackPairs(
        stack_root, crop_size=96, augmentation=GEOMETRY_ONLY, input_kind="display",
        window=None, length=64, seed=3, with_matrix=True,
    )


def speckled_channels(n_channels: int, seed: int = 0) -> np.ndarray:
    """(256, 256, C) intensity: one clean pattern, independent 1-look speckle per channel."""
    rng = np.random.default_rng(seed)
    clean = 0.05 + blobs(seed=seed)
    return np.stack([add_speckle(clean, 1, rng) for _ in range(n_channels)], axis=-1)


# ----------------------------------------------------------------------- geometry


def test_random_affine_respects_its_ranges():
    """Rotation, scale and the fixed point (the centre, with no translation) stay in range."""
    rng = np.random.default_rng(0)
    shape = (200, 300)
    for _ in range(200):
        m = random_affine(rng, shape, rotation_deg=(-10, 10), scale=(0.8, 1.0), translation=0.0,
                          shear_deg=0.1, centre=(0.2, 0.8))
        linear = m[:2, :2]
        s = math.sqrt(np.linalg.det(linear))
        assert 0.8 - 1e-3 <= s <= 1.0 + 1e-3
        assert abs(math.degrees(math.atan2(linear[1, 0], linear[0, 0]))) <= 10.0 + 1e-6
        fixed = np.linalg.solve(np.eye(2) - linear, m[:2, 2])  # M c = c
        assert 0.2 * 299 - 1e-6 <= fixed[0] <= 0.8 * 299 + 1e-6
        assert 0.2 * 199 - 1e-6 <= fixed[1] <= 0.8 * 199 + 1e-6
    m = random_affine(rng, shape, translation=0.05)
    assert np.allclose(m[2], [0, 0, 1])


def test_warp_with_flow_translation_is_exact_and_nan_exactly_outside():
    """A sub-pixel translation: flow = p + t, NaN exactly where p + t leaves image 2."""
    image = blobs((80, 100))
    t = np.array([10.5, -3.25])
    matrix = np.array([[1, 0, t[0]], [0, 1, t[1]], [0, 0, 1.0]])
    warped, flow = warp_with_flow(image, matrix, (70, 110))
    ys, xs = np.mgrid[0:80, 0:100]
    expected = np.stack([xs + t[0], ys + t[1]])
    inside = (expected[0] <= 109) & (expected[1] >= 0) & (expected[1] <= 69)
    assert flow.shape == (2, 80, 100) and flow.dtype == np.float32
    np.testing.assert_array_equal(np.isfinite(flow[0]), inside)
    np.testing.assert_allclose(flow[:, inside], expected[:, inside], atol=1e-4)
    # image 2 read at the flow reproduces image 1
    back = back_sample(warped, flow, inside)
    error = np.abs(back - image[inside])
    # only the first column reads image 2 next to its NaN (source-less) edge
    assert np.isnan(error).sum() <= 80
    assert np.nanmean(error) < 0.005 and np.nanmax(error) < 0.06
    # warped pixels whose source lies outside image 1 are NaN
    assert np.isnan(warped[:, :10]).all() and np.isfinite(warped[5:60, 11:100]).all()


def test_warp_with_flow_rotation_moves_a_blob_where_the_matrix_says():
    image = np.zeros((120, 120), np.float32)
    image[40, 70] = 1.0
    image = ndimage.gaussian_filter(image, 3.0)
    matrix = similarity_matrix(image.shape, 17.0, 0.9, (0.05, -0.03))
    warped, flow = warp_with_flow(image, matrix)
    x, y = matrix[:2] @ [70, 40, 1]
    cx, cy = peak(np.nan_to_num(warped), x, y)
    assert math.hypot(cx - x, cy - y) < 0.2
    np.testing.assert_allclose(flow[:, 40, 70], [x, y], atol=1e-4)


def test_warp_with_flow_marks_nodata():
    image = blobs((64, 64))
    image[10:20, 10:20] = np.nan
    valid = np.ones(image.shape, bool)
    valid[40:45, 50:55] = False
    warped, flow = warp_with_flow(image, similarity_matrix(image.shape, 5.0), valid=valid)
    assert np.isnan(flow[:, 10:20, 10:20]).all()
    assert np.isnan(flow[:, 40:45, 50:55]).all()
    assert np.isfinite(flow[:, 30, 30]).all()
    x, y = flow[:, 30, 30]
    assert np.isfinite(warped[int(round(y)), int(round(x))])


# ----------------------------------------------------------------------- speckle


@pytest.mark.parametrize("looks", [1, 2, 3, 4])
def test_speckle_has_unit_mean_and_variance_one_over_looks(looks):
    rng = np.random.default_rng(looks)
    intensity = np.full((500, 800), 2.0, np.float32)
    speckled = add_speckle(intensity, looks, rng) / 2.0
    assert speckled.dtype == np.float32 and speckled.shape == intensity.shape
    assert abs(speckled.mean() - 1.0) < 0.01
    assert abs(speckled.var() / (1.0 / looks) - 1.0) < 0.03
    first, second = add_speckle(intensity, looks, rng), add_speckle(intensity, looks, rng)
    assert not np.array_equal(first, second)


# ----------------------------------------------------------------------- datasets


def test_stack_flow_maps_image1_content_onto_image2(geometry_stack):
    """After warp, rescale, crop and flip, image 2 read at the flow equals image 1."""
    for index in range(12):
        sample = geometry_stack[index]
        image1, image2 = sample["image1"][0].numpy(), sample["image2"][0].numpy()
        flow, mask = sample["flow"].numpy(), sample["mask"].numpy()
        assert mask.mean() > 0.3
        back = back_sample(image2, flow, mask)
        assert np.abs(back - image1[mask]).mean() < 0.01, index
        assert np.quantile(np.abs(back - image1[mask]), 0.99) < 0.05, index


def test_stack_blob_centre_lands_where_the_matrix_says(geometry_stack):
    checked = 0
    for index in range(30):
        sample = geometry_stack[index]
        image1, image2 = sample["image1"][0].numpy(), sample["image2"][0].numpy()
        matrix, mask = sample["matrix"].numpy(), sample["mask"].numpy()
        inner = np.zeros_like(mask)
        inner[8:-8, 8:-8] = mask[8:-8, 8:-8]
        peaks = (image1 == ndimage.maximum_filter(image1, 7)) & inner & (image1 > 0.3)
        for row, col in zip(*np.nonzero(peaks)):
            x1, y1 = peak(image1, col, row)
            x, y = matrix[:2] @ [x1, y1, 1.0]
            if not (6 <= x <= 89 and 6 <= y <= 89):
                continue
            x2, y2 = peak(image2, x, y)
            assert math.hypot(x2 - x, y2 - y) < 0.25, (index, row, col)
            checked += 1
    assert checked >= 10


def test_flow_is_the_matrix_and_nan_exactly_outside(geometry_stack):
    for index in range(10):
        sample = geometry_stack[index]
        flow, mask = sample["flow"].numpy(), sample["mask"].numpy()
        matrix = sample["matrix"].numpy()
        ys, xs = np.mgrid[0:96, 0:96]
        grid = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
        fx, fy = (matrix[:2] @ grid).reshape(2, 96, 96)
        inside = (fx >= 0) & (fx <= 95) & (fy >= 0) & (fy <= 95)
        border = (np.minimum(np.abs(fx - 0), np.abs(fx - 95)) < 1e-4) | (
            np.minimum(np.abs(fy - 0), np.abs(fy - 95)) < 1e-4
        )
        np.testing.assert_array_equal(np.isfinite(flow[0]), mask)
        np.testing.assert_array_equal(np.isfinite(flow[1]), mask)
        # image 1 lies inside the stack (no upscaling needed): only image 2's bounds matter
        np.testing.assert_array_equal(mask[~border], inside[~border])
        np.testing.assert_allclose(flow[0][mask], fx[mask], atol=1e-3)
        np.testing.assert_allclose(flow[1][mask], fy[mask], atol=1e-3)


def test_identity_augmentation_gives_identity_flow(stack_root):
    dataset = StackPairs(stack_root, crop_size=64, augmentation=PairAugmentation.identity(),
                         input_kind="display", length=8, seed=1)
    sample = dataset[0]
    ys, xs = np.mgrid[0:64, 0:64]
    assert sample["mask"].all()
    np.testing.assert_array_equal(sample["flow"].numpy(), np.stack([xs, ys]).astype(np.float32))
    torch.testing.assert_close(sample["image1"], sample["image2"])


def test_stack_nodata_of_either_date_has_no_flow(tmp_path):
    """NaN in date 1 and ``nodata`` in date 2 both clear the mask (identity geometry)."""
    (tmp_path / "area").mkdir()
    first, second = blobs((96, 96)), blobs((96, 96))
    first[10:20, 30:50] = np.nan
    second[60:70, 5:15] = 0.0
    np.save(tmp_path / "area" / "d1.npy", first)
    np.save(tmp_path / "area" / "d2.npy", second)
    augmentation = dataclasses.replace(PairAugmentation.identity(), min_cover=1.0)
    dataset = StackPairs(tmp_path, crop_size=96, augmentation=augmentation, input_kind="display",
                         nodata=0.0, length=4)
    expected = np.isfinite(first) & (second != 0.0)
    for index in range(4):  # either date may be image 1
        sample = dataset[index]
        np.testing.assert_array_equal(sample["mask"].numpy(), expected)
        assert torch.isfinite(sample["image1"]).all() and torch.isfinite(sample["image2"]).all()


def test_stack_reads_png_dates_as_display(stack_root):
    dataset = StackPairs(stack_root, crop_size=64, length=8)
    assert [len(a) for a in dataset.areas] == [3, 2]
    assert dataset._kind(1, dataset._load(dataset.areas[1][0])) == "display"
    assert dataset._kind(0, dataset._load(dataset.areas[0][0])) == "intensity"
    sample = dataset[0]
    assert sample["image1"].shape == (1, 64, 64)


def test_stack_without_an_area_raises(tmp_path):
    (tmp_path / "area").mkdir()
    np.save(tmp_path / "area" / "only_date.npy", blobs((64, 64)))
    with pytest.raises(ValueError, match="two or more"):
        StackPairs(tmp_path, crop_size=32)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], equal_nan=True, rtol=0, atol=0)


def test_datasets_are_deterministic_given_seed_and_index(stack_root):
    makers = [
        lambda seed: StackPairs(stack_root, crop_size=64, length=16, seed=seed),
        lambda seed: SingleImagePairs([speckled_channels(2), speckled_channels(1)[..., 0]],
                                      crop_size=64, length=16, seed=seed),
        lambda seed: SpeckledOpticalPairs([blobs(), blobs(seed=2)], crop_size=64, length=16,
                                          seed=seed),
    ]
    for make in makers:
        first, again = make(5), make(5)
        _assert_same(first[7], again[7])
        _assert_same(first[7], first[7])
        assert not torch.equal(first[7]["image1"], make(6)[7]["image1"])
        assert not torch.equal(first[7]["image1"], first[8]["image1"])
        with pytest.raises(IndexError):
            first[16]


@pytest.mark.parametrize("n_channels", [1, 2, 3])
def test_single_image_pairs_never_repeat_the_speckle(n_channels):
    """With no warp at all, the two sides still differ: other channel or other speckle draw."""
    scene = speckled_channels(n_channels, seed=n_channels)
    dataset = SingleImagePairs([scene], crop_size=64, augmentation=PairAugmentation.identity(),
                               length=20, seed=0)
    for index in range(20):
        sample = dataset[index]
        a, b = sample["image1"][0].numpy(), sample["image2"][0].numpy()
        assert sample["mask"].all()
        assert np.abs(a - b).mean() > 0.05
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.95


def test_speckled_optical_pairs_use_independent_looks():
    dataset = SpeckledOpticalPairs([np.full((128, 128), 0.5)], crop_size=96,
                                   augmentation=PairAugmentation.identity(), length=4)
    sample = dataset[0]
    a, b = sample["image1"][0].numpy(), sample["image2"][0].numpy()
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.1


def test_crops_have_the_requested_size_and_good_coverage():
    scene = speckled_channels(2)
    for crop in (64, 128, 192):
        dataset = SingleImagePairs([scene], crop_size=crop, length=8,
                                   augmentation=PairAugmentation(relative_scale=(0.7, 1.3)))
        coverage = []
        for index in range(8):
            sample = dataset[index]
            assert sample["image1"].shape == (1, crop, crop)
            assert sample["image2"].shape == (1, crop, crop)
            assert sample["flow"].shape == (2, crop, crop)
            assert sample["mask"].shape == (crop, crop) and sample["mask"].dtype == torch.bool
            for key in ("image1", "image2"):
                assert torch.isfinite(sample[key]).all()
                assert 0.0 <= sample[key].min() and sample[key].max() <= 1.0
            coverage.append(sample["mask"].float().mean().item())
        assert np.mean(coverage) > 0.6, crop


def test_small_images_are_upscaled_to_fill_the_crop():
    tile = speckled_channels(1)[:100, :100, 0]
    augmentation = PairAugmentation(relative_scale=(0.7, 1.3))
    dataset = SingleImagePairs([tile], crop_size=128, length=8, augmentation=augmentation)
    coverage = [dataset[i]["mask"].float().mean().item() for i in range(8)]
    assert dataset[0]["image1"].shape == (1, 128, 128)
    assert np.mean(coverage) > 0.5


class _Tagged(Dataset):
    def __init__(self, tag: int, length: int) -> None:
        self.tag, self.length = tag, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"tag": torch.tensor(self.tag), "index": torch.tensor(index)}


def test_mixed_pairs_respect_their_probabilities():
    datasets = [_Tagged(0, 50), _Tagged(1, 1000), _Tagged(2, 3000)]
    mixed = MixedPairs(datasets, [0.4, 0.1, 0.5], length=3000, seed=4)
    counts = np.bincount([mixed.source_of(i) for i in range(3000)], minlength=3) / 3000
    np.testing.assert_allclose(counts, [0.4, 0.1, 0.5], atol=0.03)
    for index in (0, 77, 2999):
        item = mixed[index]
        k = mixed.source_of(index)
        assert item["tag"].item() == k
        assert item["index"].item() == index % len(datasets[k])
    assert MixedPairs(datasets, [2, 0, 2], length=10, seed=1).source_of(3) in (0, 2)
    assert [mixed.source_of(i) for i in range(50)] == [
        MixedPairs(datasets, [4, 1, 5], length=3000, seed=4).source_of(i) for i in range(50)
    ]


def test_collate_shapes():
    dataset = SpeckledOpticalPairs([blobs()], crop_size=48, length=4, with_matrix=True)
    batch = collate([dataset[i] for i in range(3)])
    assert batch["image1"].shape == (3, 1, 48, 48) and batch["image2"].shape == (3, 1, 48, 48)
    assert batch["flow"].shape == (3, 2, 48, 48) and batch["mask"].shape == (3, 48, 48)
    assert batch["matrix"].shape == (3, 3, 3)
    assert batch["image1"].dtype == torch.float32 and batch["mask"].dtype == torch.bool


# ----------------------------------------------------------------------- open data


def test_open_optical_images_are_offline_and_openly_licensed():
    images = open_optical_images()
    names = [name for name, _, _ in images]
    assert "camera" in names and len(images) >= 8
    for name, image, licence in images:
        assert ("CC0" in licence) or ("public domain" in licence), name
        assert image.ndim == 2 and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.02
        assert not image.flags.writeable
    assert not {"moon", "page", "coins", "eagle"} & set(names)


def test_default_training_sources_use_open_scenes_only(shared_data, monkeypatch):
    opened = []
    original = source_module.data_file

    def spy(folder, name):
        opened.append(name)
        return original(folder, name)

    monkeypatch.setattr(source_module, "data_file", spy)
    sources = default_training_sources(shared_data, crop_size=128, length=100)
    assert {name: w for name, (_, w) in sources.items()} == {
        "sar_channels": 0.4, "sar_tiles": 0.1, "optical": 0.5
    }
    assert opened and all("shanghai" not in n and "sar_pairs" not in n for n in opened)
    for name, (dataset, _) in sources.items():
        coverage = []
        for index in range(4):
            sample = dataset[index]
            assert sample["image1"].shape == (1, 128, 128), name
            assert torch.isfinite(sample["image2"]).all()
            np.testing.assert_array_equal(torch.isfinite(sample["flow"][0]).numpy(),
                                          sample["mask"].numpy())
            coverage.append(sample["mask"].float().mean().item())
        assert np.mean(coverage) > 0.5, name
    mixed = MixedPairs.from_sources(sources, length=100, seed=0)
    assert mixed.names == ["sar_channels", "sar_tiles", "optical"]
    start = time.perf_counter()
    batch = collate([mixed[i] for i in range(4)])
    assert time.perf_counter() - start < 2.0
    assert batch["image1"].shape == (4, 1, 128, 128)


def test_validation_pairs_are_aligned_and_deterministic(require_data):
    shared = require_data(source_module.SHANGHAI_FILE).parent.parent
    found = validation_pairs(shared, crop=192)
    assert len(found) == len(source_module.VALIDATION_WARPS)
    again = validation_pairs(None, crop=192)  # through sarfeat.data.fetch
    for (a1, a2, am), (b1, b2, bm) in zip(found, again):
        np.testing.assert_array_equal(a1, b1)
        np.testing.assert_array_equal(a2, b2)
        np.testing.assert_array_equal(am, bm)
    gains = []
    for image1, image2, matrix in found:
        assert image1.shape == image2.shape == (192, 192)
        assert image1.dtype == image2.dtype == np.float32
        assert np.isfinite(image2).all() and image2.min() >= 0 and image2.max() <= 1
        linear = matrix[:2, :2]
        np.testing.assert_allclose(linear @ linear.T, np.eye(2) * np.linalg.det(linear), atol=1e-9)
        _, flow = warp_with_flow(image1, matrix)
        mask = np.isfinite(flow[0])
        aligned = np.corrcoef(image1[mask], back_sample(image2, flow, mask))[0, 1]
        unaligned = np.corrcoef(image1.ravel(), image2.ravel())[0, 1]
        gains.append(aligned - unaligned)
    assert np.mean(gains) > 0.1
    both = validation_pairs(shared, crop=128, both_orders=True)
    assert len(both) == 2 * len(source_module.VALIDATION_WARPS)


@pytest.mark.parametrize("extra", ["single_date_area", "loose_image"])
def test_stack_refuses_images_it_would_leave_out(tmp_path, extra):
    """An area folder with one date, and images beside the area folders, were silently
    left out of training."""
    (tmp_path / "area").mkdir()
    for date in ("a", "b"):
        np.save(tmp_path / "area" / f"{date}.npy", blobs((64, 64)))
    StackPairs(tmp_path, crop_size=32)  # the clean stack is accepted
    if extra == "single_date_area":
        (tmp_path / "other").mkdir()
        left_out = tmp_path / "other" / "only.npy"
        message = "one image where an area needs two or more"
    else:
        left_out = tmp_path / "loose.npy"
        message = "images beside the area folders"
    np.save(left_out, blobs((64, 64)))
    with pytest.raises(ValueError, match=message) as error:
        StackPairs(tmp_path, crop_size=32)
    assert str(left_out if extra == "loose_image" else left_out.parent) in str(error.value)
