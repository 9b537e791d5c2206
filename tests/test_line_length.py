"""Python lines stay within 100 columns, the project's style.

Every ``.py`` file of the package, the benchmarks, the examples and the tests is read as
text. The files below still held longer lines when this test came; the list may only
shrink: a new long line elsewhere fails, and so does a listed file that no longer has one
(take it off the list).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 100
FOLDERS = ("sarfeat", "benchmarks", "examples", "tests")

#: Files (relative to the repository root) still holding lines over LIMIT columns.
KNOWN_LONG: set[str] = {
    "tests/test_io_write.py",
}


def _sources() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for folder in FOLDERS
                  for path in (ROOT / folder).rglob("*.py") if "_bundled" not in path.parts)


def long_lines(text: str, limit: int = LIMIT) -> list[tuple[int, int]]:
    """(line number, columns) of each line of ``text`` longer than ``limit`` characters."""
    return [(number, len(line)) for number, line in enumerate(text.splitlines(), 1)
            if len(line) > limit]


@pytest.mark.parametrize("name", _sources())
def test_no_line_over_100_columns(name):
    found = long_lines((ROOT / name).read_text(encoding="utf-8"))
    if name in KNOWN_LONG:
        assert found, f"{name} has no line over {LIMIT} columns now: take it off KNOWN_LONG"
    else:
        assert not found, f"{name}: lines over {LIMIT} columns (line, columns): {found}"


def test_every_listed_file_exists():
    missing = sorted(KNOWN_LONG - set(_sources()))
    assert not missing, f"KNOWN_LONG names files that are gone: {missing}"


def test_long_lines_counts_characters_not_bytes():
    assert long_lines("x" * 100 + "\n" + "²" * 100 + "\n" + "y" * 101) == [(3, 101)]
