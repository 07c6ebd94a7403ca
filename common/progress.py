"""The one progress-reporting type: analysis runs, imports and benchmark runs all use it.

A reporter is called as ``progress(phase, done, total)``: ``phase`` is a short label for
people ("validating", "epoch 3 of 10"), ``done`` of ``total`` units are finished. Callers
that only know a fraction pass ``total=1.0``.
"""

from __future__ import annotations

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
