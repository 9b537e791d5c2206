"""Wording shared by messages: a count with its noun in the right number.

Standard library only (layer 0), so that the library's errors and the command line's lines
say "1 band" and "2 bands" alike.
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` followed by ``noun``, in the plural unless ``number`` is one.

    Parameters
    ----------
    number : int
        How many.
    noun : str
        The noun in the singular.
    plural : str, optional
        The noun in the plural; ``noun + 's'`` by default.

    Returns
    -------
    str
        For example ``'1 band'``, ``'3 bands'``, ``'0 bands'``.

    Examples
    --------
    >>> counted(1, "worker"), counted(4, "worker"), counted(2, "entry", "entries")
    ('1 worker', '4 workers', '2 entries')
    """
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
