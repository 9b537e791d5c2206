"""A count and its noun in the right number (:mod:`sarfeat.wording`)."""

from sarfeat.wording import counted


def test_one_is_singular_and_every_other_count_plural():
    assert counted(1, "band") == "1 band"
    assert [counted(n, "worker") for n in (0, 2, 16)] == ["0 workers", "2 workers",
                                                           "16 workers"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"
