"""The one progress-reporting type: analysis runs, imports and benchmark runs all use it.

A reporter is called as ``progress(phase, done, total)``: ``phase`` is a short label for
people ("validating", "epoch 3 of 10"), ``done`` of ``total`` units are finished. Callers
that only know a fraction pass ``total=1.0``.

:class:`ThrottledProgress` is the one way a job writes its progress to its row (imports,
analysis runs, dataset packages, scoring): often enough for a page that polls, never once
per image or row. :class:`Throttle` is its clock, also used on its own where a loop asks
the database something at most every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str, float, float], None]


def progress_noop(phase: str, done: float, total: float) -> None:
    """The reporter used when nobody listens."""


def progress_fraction(done: float, total: float) -> float:
    """``done / total`` clipped to 0..1; an empty total counts as finished."""
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, done / total))


def progress_scaled(progress: Progress, *, start: float, end: float) -> Progress:
    """A reporter for one step that maps its own 0..total onto ``start..end`` of the whole."""

    def report(phase: str, done: float, total: float) -> None:
        progress(phase, start + (end - start) * progress_fraction(done, total), 1.0)

    return report


# --- throttled writing ---------------------------------------------------------------------

Clock = Callable[[], float]
WRITE_SECONDS = 0.5


class Throttle:
    """Says yes at most once every ``seconds``: to the first ask, then once that long has
    passed since the last yes."""

    def __init__(self, seconds: float = WRITE_SECONDS, *, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        """True (and the interval starts again) when a write may happen now."""
        now = self.clock()
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True

    def restart(self) -> None:
        """A write happened anyway (a forced one): the interval counts from now."""
        self._last = self.clock()


class ThrottledProgress:
    """A :data:`Progress` that passes calls on to ``write(phase, done, total)`` sparingly.

    The one policy of every job's progress row: a call is written when ``seconds`` have
    passed since the last write, when its phase differs from the last one written (so a
    page never shows a finished step during a long next one), or when it is final
    (``done >= total``). Anything held back is written by :meth:`flush`.
    """

    def __init__(
        self, write: Progress, *, seconds: float = WRITE_SECONDS, clock: Clock = time.monotonic
    ) -> None:
        self._write = write
        self._throttle = Throttle(seconds, clock=clock)
        self._phase: str | None = None
        self._held: tuple[str, float, float] | None = None

    def __call__(self, phase: str, done: float, total: float) -> None:
        if done >= total or phase != self._phase:
            self._throttle.restart()
        elif not self._throttle.due():
            self._held = (phase, done, total)
            return
        self._send(phase, done, total)

    def flush(self) -> None:
        """Write the last state held back, if any."""
        if self._held is not None:
            self._throttle.restart()
            self._send(*self._held)

    def _send(self, phase: str, done: float, total: float) -> None:
        self._phase, self._held = phase, None
        self._write(phase, done, total)
