"""What of two rasters is matched, and a transform found between them carried back to
the files' pixels: :class:`PairInputs` (made by :func:`sarfeat.registration.prepare_pair`,
which re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from skimage.transform import AffineTransform, ProjectiveTransform

from .handover import Handover
from .matching.geometry import apply_matrix
from .registration_result import RegistrationResult

if TYPE_CHECKING:
    from .io import Raster, WarpedWindows

__all__ = ["PairInputs"]


@dataclass
class PairInputs:
    """Two rasters and what of them is matched (:func:`~sarfeat.registration.prepare_pair`).

    Each field is documented at its declaration (linkable as
    ``sarfeat.registration.PairInputs.<name>``).
    """

    fixed: Raster
    """sarfeat.io.Raster: the fixed file."""
    moving: Raster
    """sarfeat.io.Raster: the moving file."""
    fixed_image: np.ndarray
    """(h, w) ndarray or None: the fixed band that is matched (cropped to the moving
    footprint); None once handed over to the matcher (:meth:`handing_over`)."""
    moving_image: np.ndarray
    """ndarray or None: the moving band that is matched (on the cropped fixed grid if
    :attr:`resampled`); None once handed over to the matcher (:meth:`handing_over_pair`)."""
    prior: np.ndarray
    """(3, 3) ndarray: matched moving pixels -> the moving file's own pixels."""
    resampled: bool
    """bool: whether the moving band was brought onto the fixed grid before matching."""
    crop: np.ndarray = field(default_factory=lambda: np.eye(3))
    """(3, 3) ndarray: the fixed file's pixels -> the matched (cropped) fixed pixels (a
    shift)."""
    georeferencing: np.ndarray = field(default_factory=lambda: np.eye(3))
    """(3, 3) ndarray: the fixed file's pixels -> the moving file's pixels by
    georeferencing alone (the identity unless both are georeferenced)."""
    handed_over: tuple[tuple[int, ...], float | None] | None = None
    """tuple or None: once :attr:`fixed_image` is handed over (:meth:`handing_over`): its
    shape and the :meth:`shared_fraction` of the pair as it was then; None while it is held."""

    @property
    def window(self) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the fixed file that is matched (ends excluded)."""
        c0, r0 = (int(v) for v in -self.crop[:2, 2])
        shape = np.shape(self.fixed_image) if self.handed_over is None else self.handed_over[0]
        rows, cols = shape[:2]
        return r0, r0 + rows, c0, c0 + cols

    def shared_fraction(self) -> float | None:
        """The share of the fixed file's pixels where both matched images hold data (the
        overlap of two georeferenced rasters on one grid), or None when the moving band is
        matched on its own grid (the rasters are not both georeferenced) or the images were
        not kept (:func:`sarfeat.parallel.register_stack`'s ``keep_warped=False``); once
        ``fixed_image`` is handed over (:meth:`handing_over`; ``keep_warped=False`` hands
        over a fixed band of a task's own), the share as it was then."""
        if self.handed_over is not None:
            return self.handed_over[1]
        if self.fixed_image is None or self.moving_image is None:
            return None
        moving = np.asarray(self.moving_image)
        if not (self.fixed.georeferenced and self.moving.georeferenced
                and moving.shape == np.shape(self.fixed_image)):
            return None
        both = np.isfinite(moving)
        if np.asarray(self.fixed_image).dtype.kind in "fc":  # an integer band is finite
            both = both & np.isfinite(self.fixed_image)
        return float(both.sum() / (self.fixed.shape[0] * self.fixed.shape[1]))

    def total(self, matched: np.ndarray) -> np.ndarray:
        """The fixed file's pixels -> the moving file's pixels (3x3), of ``matched``: a
        transform found between the matched images (``fixed_image`` -> ``moving_image``)."""
        return self.prior @ np.asarray(matched, float) @ self.crop

    def handing_over(self) -> tuple[PairInputs, Handover]:
        """(these inputs without ``fixed_image``, ``fixed_image`` in a
        :class:`~sarfeat.handover.Handover`): given to :func:`sarfeat.register`, the image
        is let go once the matcher has made its working copy, while the inputs keep its
        shape (:attr:`window`) and the pair's :meth:`shared_fraction` (for a refusal's
        hint), worked out now. The caller lets go of these inputs for the ones returned.

        Raises
        ------
        ValueError
            When ``fixed_image`` is None (handed over already, or not kept).
        """
        if self.fixed_image is None:
            raise ValueError("these inputs hold no fixed image to hand over")
        kept = (np.shape(self.fixed_image), self.shared_fraction())
        return replace(self, fixed_image=None, handed_over=kept), Handover(self.fixed_image)

    def handing_over_pair(self) -> tuple[PairInputs, Handover, Handover]:
        """(these inputs without ``fixed_image`` nor ``moving_image``, each of them in a
        :class:`~sarfeat.handover.Handover`): as :meth:`handing_over`, and the moving
        image too is let go once the matcher has made its working copy (the SAR scene on
        the fixed grid, 306 MiB at the 9465 x 8483 window of a Sentinel-2 tile), when
        nothing else holds it; :func:`sarfeat.register` then gives no ``warped``. The
        caller lets go of these inputs for the ones returned.

        Raises
        ------
        ValueError
            When ``fixed_image`` or ``moving_image`` is None (handed over already, or not
            kept).
        """
        if self.moving_image is None:
            raise ValueError("these inputs hold no moving image to hand over")
        handed, fixed = self.handing_over()
        return replace(handed, moving_image=None), fixed, Handover(self.moving_image)

    def without_fixed_bands(self) -> PairInputs:
        """These inputs with a fixed raster of no band (its shape and georeferencing kept)
        and ``fixed_image`` an array of its own: once the fixed band is cropped, the
        file's bands (four 10980 px bands of a Sentinel-2 tile: 1.4 GB with their masks)
        need not be held while the pair is matched and the output written."""
        fixed_image = self.fixed_image
        if fixed_image is not None and np.shares_memory(fixed_image, self.fixed.data):
            fixed_image = fixed_image.copy()  # a view would keep every band
        return replace(self, fixed=self.fixed.without_bands(), fixed_image=fixed_image)

    @property
    def curved(self) -> bool:
        """Whether the two files are georeferenced in different CRSs, so that the map
        between their pixels is curved and :attr:`prior` is an affine fit of it over the
        matched window (see :meth:`warped_moving`)."""
        return bool(self.fixed.georeferenced and self.moving.georeferenced
                    and self.fixed.crs != self.moving.crs)

    def warped_moving(self, total: np.ndarray, order: int = 1, moving: Raster | None = None
                      ) -> Raster:
        """Every band of the moving file (or of ``moving``, the same file with another
        nodata) on the fixed grid by ``total`` (:meth:`total`), as ``register -o`` writes
        it; :attr:`curved` files follow the exact map between the CRSs corrected by the
        registration (:meth:`correction`), not ``total``'s affine fit of it."""
        return self.warped_moving_windows(total, order, moving).whole()

    def warped_moving_windows(self, total: np.ndarray, order: int = 1,
                              moving: Raster | None = None) -> WarpedWindows:
        """:meth:`warped_moving` made a window at a time (:class:`sarfeat.io.WarpedWindows`)
        for :func:`sarfeat.io.write_raster_windows`, never the whole fixed grid at once."""
        from .io import warp_onto_curved_windows, warp_onto_windows

        moving = self.moving if moving is None else moving
        if not self.curved:
            return warp_onto_windows(moving, self.fixed, total, order=order)
        return warp_onto_curved_windows(moving, self.fixed, self.correction(total), order=order)

    def correction(self, total: np.ndarray) -> np.ndarray:
        """The registration ``total`` (:meth:`total`) on the fixed grid: the fixed file's
        pixels -> where it puts them there (3x3), which the georeferencing then maps."""
        return np.linalg.inv(self.crop) @ np.linalg.inv(self.prior) @ total

    def moving_file_pixels(self, xy: ArrayLike) -> np.ndarray:
        """Pixels ``xy`` (N, 2) of ``moving_image`` in the moving file's own pixels: by
        :attr:`prior`, or, for :attr:`curved` files (``moving_image`` on the fixed grid), by
        the exact map between the CRSs, not :attr:`prior`'s affine fit of it."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if not self.curved:
            return apply_matrix(self.prior, xy)
        from .georeferencing import georeferenced_pixels

        on_fixed = apply_matrix(np.linalg.inv(self.crop), xy)  # the fixed file's pixels
        return georeferenced_pixels(self.fixed, self.moving, on_fixed)

    def in_file_pixels(self, result: RegistrationResult,
                       moving_band: int | None = None) -> RegistrationResult:
        """``result`` (of the matched images) in the files' pixels.

        Its transform is :meth:`total` (an affine or projective transform; for
        :attr:`curved` files an affine fit of the registration), its keypoints are in
        the files' pixels (the moving ones by :meth:`moving_file_pixels`: across CRSs
        by the exact map) and ``warped`` resamples band ``moving_band`` of the moving
        file onto the whole fixed grid, with the order and nodata of ``result``, by that
        transform, or, for :attr:`curved` files, as ``register -o`` does: by the exact map
        corrected by the registration (:func:`sarfeat.io.warp_band_onto_curved`).
        """
        total = self.total(result.transform.params)
        affine = np.allclose(total[2], [0.0, 0.0, 1.0])
        order, nodata = result.resampling[1:3] if result.resampling is not None else (1, None)
        onto = ((self.fixed.without_bands(), self.moving.without_bands(),
                 self.correction(total)),) if self.curved else ()
        return replace(
            result, transform=AffineTransform(matrix=total) if affine
            else ProjectiveTransform(matrix=total),
            keypoints_fixed=apply_matrix(np.linalg.inv(self.crop),
                                         result.keypoints_fixed[:, ::-1])[:, ::-1],
            keypoints_moving=self.moving_file_pixels(result.keypoints_moving[:, ::-1])[:, ::-1],
            resampling=(self.moving.band(moving_band), order, nodata, self.fixed.shape, *onto),
            _warped=None)
