"""The outcome of one pair registered on Dask (:func:`sarfeat.parallel.iter_register_pairs`):
a result, or the reason there is none, and what the task adds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..registration import PairInputs, RegistrationResult

__all__ = ["PairOutcome"]


@dataclass
class PairOutcome:
    """The outcome of registering one pair: a result, or the reason there is none.

    Each field is documented at its declaration (linkable as
    ``sarfeat.parallel.PairOutcome.<name>``).
    """

    index: int
    """int: position of the pair in the input (of the image, for a stack)."""
    name: str
    """str: the pair's name: given, the moving file's stem, or ``'pair_<index>'`` (the
    index in three digits at least: ``'pair_001'``)."""
    result: RegistrationResult | None = None
    """RegistrationResult or None: the registration; None when it failed.
    ``result.warped`` is None when warped images were not kept (``keep_warped=False``)."""
    error: str | None = None
    """str or None: why the pair failed, in one sentence; None on success."""
    error_type: str | None = None
    """str or None: the exception's class name (``'RegistrationError'``, ``'ValueError'``,
    ``'KilledWorker'``, ...); None on success."""
    worker: str | None = None
    """str or None: address of the worker that ran the pair (None when not known)."""
    seconds: float | None = None
    """float or None: wall-clock time of the task on its worker; None for a pair whose task
    did not come back (lost with its worker, or failed on the client's side)."""
    extra: dict = field(default_factory=dict)
    """dict: ``fixed_shape``, ``moving_shape`` and ``moving_dtype`` of the inputs (once
    read), for a failed pair ``network`` (what ran the keypoint network, as
    ``result.diagnostics['network']``; None when it did not run), ``failed_image`` (the
    image a :class:`~sarfeat.RegistrationError` blames: ``'fixed'``, ``'moving'`` or
    None), ``too_small`` (the dense matcher's ``diagnostics['too_small']``: images too
    small for its fine stage's templates, or None), ``searched`` (True once the pair
    reached the matcher: its error is then the search's; False for a refusal of
    :func:`~sarfeat.register`'s input checks, an image mostly no-data say, which come
    before the search), ``warnings`` (the warnings that the
    task raised on its worker, :class:`~sarfeat.parallel.task_warnings.TaskWarning`, each
    raised again on the client as the outcome comes back), and whatever a ``postprocess``
    function adds (for example the files it wrote). Empty for a pair whose task did not
    come back, but for the ``warnings`` of a task that raised (its error carried them)."""
    inputs: PairInputs | None = None
    """PairInputs or None: for two georeferenced rasters, what was matched
    (:func:`sarfeat.registration.prepare_pair`: the crop, the prior, whether the moving
    image was resampled); None otherwise. With ``keep_warped=False`` its rasters keep no
    band and its images are None (a fixed band handed over to the matcher keeps its shape
    and :meth:`~sarfeat.registration.PairInputs.shared_fraction`: ``handed_over``); a
    fixed GeoTIFF given by path keeps none either (read by its window: ``fixed_image``)."""

    @property
    def ok(self) -> bool:
        """True when the pair was registered."""
        return self.result is not None and self.error is None
