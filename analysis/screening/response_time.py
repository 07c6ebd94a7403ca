"""Too-fast answers: subjects who often answer faster than an image can be judged.

Standard: none fixes a number. Hossfeld et al., "Best practices for QoE crowdtesting",
IEEE Trans. Multimedia 16(2), 2014, list implausibly short task times among the signs of
an unreliable worker; ITU-T P.808 (06/2021) screens crowd workers with such checks. The
threshold and the tolerated share are therefore options, and the method is off unless
chosen.

Rule: a rating is *too fast* when its ``response_time`` (seconds from the image appearing
to the answer) is below ``min_seconds``. A subject is rejected from every dimension (one
pooled decision) when more than ``max_fraction`` of their timed ratings are too fast,
judged only with at least ``min_trials`` timed ratings. Ratings without a response time
are not counted; a subject with none (or a table without the column) is kept with NaN.
Run it on all showings (repeats included): each showing is an answer the subject gave.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis._checks import check_int_at_least, check_number
from analysis.errors import OptionsError
from analysis.provenance import Provenance, options_dict
from analysis.screening.base import ALL_DIMENSIONS, ScreeningResult

METHOD = "response_time"
STANDARD = "Hossfeld et al. 2014 (task time); ITU-T P.808 (06/2021) worker checks"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class ResponseTimeOptions:
    """``min_seconds``: answers quicker than this are too fast; ``max_fraction``: the share
    of a subject's timed ratings that may be too fast before the subject is rejected."""

    min_seconds: float = dataclasses.field(
        default=1.0,
        metadata={"help": "answers quicker than this many seconds are too fast"},
    )
    max_fraction: float = dataclasses.field(
        default=0.1,
        metadata={
            "help": "share of a subject's answers that may be too fast before rejection "
            "(0 <= x < 1)"
        },
    )
    min_trials: int = 1

    def __post_init__(self) -> None:
        check_number("response_time.min_seconds", self.min_seconds, minimum=0.0, inclusive=False)
        if not (isinstance(self.max_fraction, int | float) and 0 <= self.max_fraction < 1):
            raise OptionsError(
                "response_time.max_fraction", f"must lie in [0, 1), got {self.max_fraction!r}"
            )
        check_int_at_least("response_time.min_trials", self.min_trials, 1)


def screen_response_time(
    ratings: pd.DataFrame, options: ResponseTimeOptions | None = None
) -> ScreeningResult:
    """Reject subjects with too large a share of too-fast ratings (pooled over dimensions)."""
    options = options or ResponseTimeOptions()
    subjects = pd.unique(ratings["subject"])
    if "response_time" in ratings.columns:
        seconds = pd.to_numeric(ratings["response_time"], errors="coerce")
    else:
        seconds = pd.Series(np.nan, index=ratings.index)
    timed = seconds.notna()
    fast = timed & (seconds < options.min_seconds)
    counts = (
        pd.DataFrame({"subject": ratings["subject"], "n_timed": timed, "n_too_fast": fast})
        .groupby("subject", sort=False, observed=True)[["n_timed", "n_too_fast"]]
        .sum()
        .reindex(subjects, fill_value=0)
        .astype(np.int64)
    )
    table = counts.reset_index(names="subject")
    table.insert(1, "dimension", ALL_DIMENSIONS)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["fraction_too_fast"] = np.where(
            table["n_timed"] > 0, table["n_too_fast"] / table["n_timed"].clip(lower=1), np.nan
        )
    table["threshold"] = options.max_fraction
    judged = table["n_timed"] >= options.min_trials
    table["rejected"] = judged & (table["fraction_too_fast"] > options.max_fraction)
    table["reason"] = [
        f"{n_fast} of {n_timed} rating(s) under {options.min_seconds:g} s "
        f"({share:.1%} {'>' if share > options.max_fraction else '<='} "
        f"{options.max_fraction:.1%})"
        if ok
        else f"only {n_timed} timed rating(s) (< {options.min_trials}): not judged"
        for n_fast, n_timed, share, ok in zip(
            table["n_too_fast"], table["n_timed"], table["fraction_too_fast"], judged, strict=True
        )
    ]
    table = table.sort_values("subject", key=lambda s: s.astype(str)).reset_index(drop=True)
    notes = () if timed.any() else ("no response times: nobody judged",)
    return ScreeningResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        subjects=table,
        notes=notes,
    )
