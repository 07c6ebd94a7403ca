"""Correlation-based observer screening (VQEG / ITU-T P.913 style).

Standard: ITU-T P.913 (06/2021) clause 12 (subject screening by correlation with the
mean opinion of the panel) and the VQEG HDTV Phase I final report (2010), Annex I
(post-experiment screening, threshold r = 0.75 for ACR). Each subject's ratings are
correlated with the *leave-one-out* MOS of the same stimuli, i.e. the mean of the other
subjects' ratings, so a subject never correlates with their own contribution (which would
inflate r for small panels). Pearson (linear) and Spearman (rank) coefficients are both
reported; ``coefficient`` chooses which one decides, and a subject is rejected when it is
below ``threshold``.

Undefined correlations - a subject who gave the same score to every stimulus, or who
shares fewer than ``min_stimuli`` stimuli with the rest of the panel - are reported with
NaN and rejected only when ``reject_undefined`` is set (a constant rater carries no
ranking information, but with few stimuli a constant run can be honest).
Repeated showings are averaged per subject before correlating.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_int_at_least, check_number
from analysis._groups import Coded, combine, encode, group_pearson, group_rank, group_sum
from analysis.io import collapse_repeats
from analysis.provenance import Provenance, options_dict
from analysis.screening.base import ScreeningResult, decision_labels

METHOD = "correlation"
STANDARD = "ITU-T P.913 (06/2021) cl. 12; VQEG HDTV Phase I (2010) Annex I"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class CorrelationOptions:
    threshold: float = 0.75
    coefficient: Literal["pearson", "spearman"] = "pearson"
    min_stimuli: int = 5
    reject_undefined: bool = False
    pool_dimensions: bool = False

    def __post_init__(self) -> None:
        check_number("correlation.threshold", self.threshold, minimum=-1.0, maximum=1.0)
        check_choice("correlation.coefficient", self.coefficient, ("pearson", "spearman"))
        check_int_at_least("correlation.min_stimuli", self.min_stimuli, 2)


def screen_correlation(
    ratings: pd.DataFrame, options: CorrelationOptions | None = None
) -> ScreeningResult:
    """Reject subjects whose ratings correlate poorly with the others' MOS (see module doc)."""
    options = options or CorrelationOptions()
    data = collapse_repeats(ratings, "mean")
    stim = encode(data["stimulus"])
    subj = encode(data["subject"])
    dim = encode(data["dimension"])
    scores = data["score"].to_numpy(dtype=float)

    loo, usable = _leave_one_out_mos(stim, dim, scores)
    if options.pool_dimensions:
        dec_all, n_dec = subj.codes, subj.size
    else:
        dec_all, n_dec = combine([subj.codes, dim.codes], [subj.size, dim.size])
    dec = dec_all[usable]
    xu, yu = scores[usable], loo[usable]
    pearson, n_common = group_pearson(dec, xu, yu, n_dec)
    spearman, _ = group_pearson(dec, group_rank(dec, xu), group_rank(dec, yu), n_dec)
    too_few = n_common < options.min_stimuli
    pearson[too_few] = np.nan
    spearman[too_few] = np.nan
    deciding = pearson if options.coefficient == "pearson" else spearman
    undefined = np.isnan(deciding)
    with np.errstate(invalid="ignore"):
        rejected = np.where(undefined, options.reject_undefined, deciding < options.threshold)

    n_rated = group_sum(dec_all, None, n_dec)
    subj_labels, dim_labels = decision_labels(subj, dim, pooled=options.pool_dimensions)
    table = pd.DataFrame(
        {
            "subject": subj_labels,
            "dimension": dim_labels,
            "n_ratings": n_rated.astype(np.int64),
            "n_common": n_common.astype(np.int64),
            "pearson": pearson,
            "spearman": spearman,
            "rejected": rejected.astype(bool),
        }
    )[n_rated > 0].reset_index(drop=True)
    name = options.coefficient
    table["reason"] = [_reason(value, options) for value in table[name].to_numpy()]
    notes = []
    n_undef = int(np.isnan(table[name]).sum())
    if n_undef:
        action = "rejected" if options.reject_undefined else "kept"
        notes.append(f"{n_undef} decision(s) with undefined {name} correlation {action}")
    return ScreeningResult(
        provenance=Provenance(METHOD, STANDARD, VERSION, options_dict(options)),
        subjects=table,
        notes=tuple(notes),
    )


def _leave_one_out_mos(
    stim: Coded, dim: Coded, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per rating, the mean of the other subjects' ratings of that stimulus and dimension,
    and whether there is at least one other rating to take it from."""
    cell, n_cell = combine([dim.codes, stim.codes], [dim.size, stim.size])
    cell_sum = group_sum(cell, scores, n_cell)
    cell_count = group_sum(cell, None, n_cell)
    others = cell_count[cell] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (cell_sum[cell] - scores) / others
    return loo, others >= 1


def _reason(correlation: float, options: CorrelationOptions) -> str:
    name = options.coefficient
    if np.isnan(correlation):
        return f"{name} r undefined (constant ratings or < {options.min_stimuli} common stimuli)"
    comparison = "<" if correlation < options.threshold else ">="
    return f"{name} r={correlation:.4f} {comparison} {options.threshold}"
