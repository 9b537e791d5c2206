"""The dense optical-SAR matcher's progress bar: :class:`StepBar` over :data:`STEP_NAMES`."""

from __future__ import annotations

import sys

__all__ = ["STEP_NAMES", "StepBar"]

#: The steps that the progress bar of
#: :class:`~sarfeat.matching.dense.DenseStructuralMatcher` (``progress``) counts.
STEP_NAMES = ("structure maps", "global search", "refining", "fine stage and full resolution")


class StepBar:
    """A tqdm bar over :data:`STEP_NAMES` on stderr, each step named as it starts; nothing
    when ``progress`` is False, or None and stderr is not a terminal.

    Parameters
    ----------
    progress : bool or None
        Whether to show it (None: when stderr is a terminal).
    """

    def __init__(self, progress: bool | None) -> None:
        if progress is None:
            progress = sys.stderr.isatty()
        self.bar, self.done = None, 0
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(STEP_NAMES), desc="optical-SAR matching", unit="step",
                            leave=False, postfix=STEP_NAMES[0])

    def advance(self) -> None:
        """The step under way is done; the next one starts."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.done < len(STEP_NAMES):  # shown now, however short the step was
                self.bar.set_postfix_str(STEP_NAMES[self.done], refresh=True)

    def close(self) -> None:
        """All steps are done: the bar is filled and closed."""
        if self.bar is not None:
            self.bar.update(len(STEP_NAMES) - self.done)
            self.bar.close()
