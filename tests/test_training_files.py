"""The files the training modules write: whole (atomically), and as the data registry
records them."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_trainers_write_their_json_files_atomically(tmp_path, monkeypatch):
    """final.json, history.json, search.json and config.json: never half a file."""
    import ast
    from pathlib import Path

    import sarfeat.training
    from sarfeat.training.trainer import atomic_save_json

    folder = Path(sarfeat.training.__file__).parent
    in_place = [f"{path.name}:{node.lineno}" for path in sorted(folder.rglob("*.py"))
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute) and node.attr in ("write_text", "write_bytes")
                and getattr(node.value, "id", None) != "partial"]  # write_atomically's temporary
    assert in_place == [], "written in place, not through atomic_save_json"

    path = tmp_path / "final.json"
    atomic_save_json({"steps": 1}, path)
    write_text = Path.write_text

    def disk_full(self, text, *args, **kwargs):
        write_text(self, text[:5], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_save_json({"steps": 2, "history": list(range(100))}, path)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["final.json"]


def test_derive_open_sar_leaves_no_file_that_differs_from_the_registry(tmp_path, monkeypatch):
    """A derived array with the wrong sha256 is refused without being left at its name."""
    import shutil

    from sarfeat import data
    from sarfeat.training import open_sar

    source = data.OPTICAL_SAR_TILE[1]  # a registered (bundled) file stands in for a source
    (tmp_path / "sources" / source).parent.mkdir(parents=True)
    shutil.copyfile(data.fetch(source), tmp_path / "sources" / source)
    name = "sar_images/pyrosar_s1a_vv_intensity.npy"
    monkeypatch.setattr(open_sar, "DERIVED", {name: (source, lambda path: np.zeros(3))})
    with pytest.raises(ValueError, match="differs"):
        open_sar.derive_open_sar(tmp_path / "out", sources=tmp_path / "sources")
    assert list((tmp_path / "out" / "sar_images").iterdir()) == []


def test_open_sar_says_which_source_is_missing(tmp_path, capsys):
    """A --sources folder without a source file was a traceback (FileNotFoundError deep in
    file_sha256); it is a one-line error naming the file, exit status 1."""
    from sarfeat.training import open_sar

    (tmp_path / "sources").mkdir()
    status = open_sar.main([str(tmp_path / "out"), "--sources", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 1
    first = next(iter(open_sar.DERIVED.values()))[0]
    assert captured.err.startswith("python -m sarfeat.training.open_sar: error: ")
    assert f"{tmp_path / first} not found" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "out").exists()  # nothing derived from a missing source
