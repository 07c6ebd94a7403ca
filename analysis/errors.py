"""Exceptions raised by the analysis library."""

from __future__ import annotations


class RatingsError(ValueError):
    """The ratings (or MOS) table cannot be analysed as given.

    The message always names the offending column and, where rows are at fault, the first
    offending rows, so a researcher can fix the export without reading code.
    """


class AllSubjectsRejectedError(RatingsError):
    """Screening would reject every subject of a dimension, leaving nothing to analyse.

    Raised unless the pipeline is told to keep such a dimension unscreened
    (``ScreeningOptions.if_all_rejected="keep_unscreened"``, what SUREAL does).
    """


class OptionsError(ValueError):
    """An analysis option is out of range; ``option`` names it (dotted, as in the dataclass)."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"option {option}: {problem}")
