"""An image handed down to the code that reads it last: :class:`Handover`.

A large image passed down a chain of calls (``sarfeat register`` -> :func:`sarfeat.register`
-> the matcher) is held by every frame of the chain until the call returns, although the
matcher reads it once, to make its own working copy. Given in a :class:`Handover`, the
callers hold the box, not the image: the function that reads it last takes it out
(:meth:`Handover.take`), and it is freed as soon as that function lets it go (a 9465 x 8483
uint16 band of a Sentinel-2 tile, 160 MB, while the optical-SAR matcher runs).

Each function on the way that converts the image (its gray values, a tensor's array) boxes
the converted image again (:func:`handed_on`); :func:`looked_at` reads it for a check
without taking it, :func:`taken` takes it out where it is used.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Handover", "handed_on", "looked_at", "taken", "shape_of"]


class Handover:
    """A NumPy array handed over: whoever takes it out holds the only reference.

    Parameters
    ----------
    image : ndarray
        The array (a masked array included); the caller keeps no other reference to it.

    Attributes
    ----------
    shape : tuple of int
        The array's shape, kept once it is taken.
    dtype : numpy.dtype
        Its dtype, kept once it is taken.

    Raises
    ------
    TypeError
        For anything but a NumPy array.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.handover import Handover
    >>> box = Handover(np.zeros((2, 3), np.uint16))
    >>> image = box.take()
    >>> box.shape, box.dtype, box.taken
    ((2, 3), dtype('uint16'), True)
    """

    __slots__ = ("_image", "shape", "dtype")

    def __init__(self, image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray):
            raise TypeError(f"a Handover holds a NumPy array, got {type(image).__name__}")
        self._image: np.ndarray | None = image
        self.shape: tuple[int, ...] = image.shape
        self.dtype: np.dtype = image.dtype

    @property
    def taken(self) -> bool:
        """Whether the array was taken out (:meth:`take`)."""
        return self._image is None

    @property
    def image(self) -> np.ndarray:
        """The array, left in the box (for a check that keeps no reference to it).

        Raises
        ------
        RuntimeError
            Once it was taken.
        """
        if self._image is None:
            raise RuntimeError("the image handed over was taken already")
        return self._image

    def take(self) -> np.ndarray:
        """The array, taken out: the box holds it no longer.

        Raises
        ------
        RuntimeError
            When it was taken already.
        """
        image = self.image
        self._image = None
        return image

    def __repr__(self) -> str:
        state = "taken" if self.taken else "held"
        return f"Handover({self.shape}, {self.dtype}, {state})"


def handed_on(image: Any, convert: Callable[[Any], Any]) -> Any:
    """``convert(image)``; for a :class:`Handover`, its array converted and boxed again
    (the box given is left empty), so that a caller that converts the image holds neither
    the array nor its conversion.

    Parameters
    ----------
    image : Handover or array_like
        The image.
    convert : callable
        What to make of it (its gray values, a tensor's array, ...): for a Handover's
        array, a NumPy array.

    Returns
    -------
    Handover or object
        A new Handover of the converted array, or ``convert(image)``.
    """
    if isinstance(image, Handover):
        return Handover(convert(image.take()))
    return convert(image)


def looked_at(image: Any) -> Any:
    """The array of a :class:`Handover`, left in it; anything else as it is."""
    return image.image if isinstance(image, Handover) else image


def taken(image: Any) -> Any:
    """The array of a :class:`Handover`, taken out of it; anything else as it is."""
    return image.take() if isinstance(image, Handover) else image


def shape_of(image: Any) -> tuple[int, ...]:
    """The shape of an image or of the array that a :class:`Handover` holds or held."""
    return image.shape if isinstance(image, Handover) else np.shape(image)
