"""Exceptions raised by the analysis library."""

from __future__ import annotations


class RatingsError(ValueError):
    """The ratings (or MOS) table cannot be analysed as given.

    The message always names the offending column and, where rows are at fault, the first
    offending rows, so a researcher can fix the export without reading code.
    """
