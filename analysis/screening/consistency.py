"""Repeat-consistency and gold-stimulus checks.

Standards: ITU-T P.808 (06/2021) uses gold-standard questions (known answer) and hidden
repeated items to detect careless raters in crowdsourced tests; Hossfeld et al., "Best
practices for QoE crowdtesting", IEEE Trans. Multimedia 16(2), 2014, describe both as
reliability checks. Neither fixes a threshold, so both are options.

* Repeat consistency: for every subject, dimension and stimulus shown more than once, each
  later showing (repeat ≥ 1) is paired with the first showing (smallest repeat); the
  subject's statistic is the mean absolute difference over those pairs.
* Gold: mean absolute deviation of the subject's ratings of gold stimuli from the known
  ``gold_score``.

Thresholds are by default *relative*: a fraction of the dimension's scale range
(``scale_range`` if given, else the observed min..max of that dimension), so the same
option works for ACR 1..5 and a 0..100 slider. Set ``relative=False`` for score units.
Subjects without repeated (gold) stimuli are reported with NaN and kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis._checks import check_int_at_least, check_number, check_range
from analysis.provenance import Provenance, options_dict
from analysis.screening.base import ScreeningResult

REPEAT_METHOD = "repeat_consistency"
GOLD_METHOD = "gold"
REPEAT_STANDARD = "ITU-T P.808 (06/2021) hidden repeats; Hossfeld et al. 2014"
GOLD_STANDARD = "ITU-T P.808 (06/2021) gold-standard questions; Hossfeld et al. 2014"
VERSION = "1.0"


@dataclasses.dataclass(frozen=True)
class RepeatConsistencyOptions:
    threshold: float = 0.25
    relative: bool = True
    scale_range: tuple[float, float] | None = None
    min_pairs: int = 1

    def __post_init__(self) -> None:
        check_number("repeat_consistency.threshold", self.threshold, minimum=0.0)
        check_range("repeat_consistency.scale_range", self.scale_range)
        check_int_at_least("repeat_consistency.min_pairs", self.min_pairs, 1)


@dataclasses.dataclass(frozen=True)
class GoldOptions:
    threshold: float = 0.25
    relative: bool = True
    scale_range: tuple[float, float] | None = None
    min_trials: int = 1

    def __post_init__(self) -> None:
        check_number("gold.threshold", self.threshold, minimum=0.0)
        check_range("gold.scale_range", self.scale_range)
        check_int_at_least("gold.min_trials", self.min_trials, 1)


def _thresholds(
    ratings: pd.DataFrame, threshold: float, relative: bool, scale: tuple[float, float] | None
) -> pd.Series:
    """Absolute threshold per dimension."""
    dims = ratings.groupby("dimension", sort=True, observed=True)["score"]
    if not relative:
        return dims.size().astype(float) * 0 + threshold
    if scale is not None:
        return dims.size().astype(float) * 0 + threshold * (scale[1] - scale[0])
    return threshold * (dims.max() - dims.min())


def _decide(
    ratings: pd.DataFrame,
    stats: pd.DataFrame,
    options: RepeatConsistencyOptions | GoldOptions,
    stat: str,
    count: str,
    minimum: int,
) -> pd.DataFrame:
    """One row per (subject, dimension) in ``ratings``: ``stats`` joined, thresholded, explained."""
    thresholds = _thresholds(ratings, options.threshold, options.relative, options.scale_range)
    table = _subject_dimension_pairs(ratings).merge(stats, on=["subject", "dimension"], how="left")
    table[count] = table[count].fillna(0).astype(np.int64)
    table["threshold"] = table["dimension"].map(thresholds).astype(float)
    enough = table[count] >= minimum
    table["rejected"] = enough & (table[stat] > table["threshold"])
    table["reason"] = [
        f"{stat}={v:.4f} {'>' if v > t else '<='} {t:.4f} over {n} item(s)"
        if ok
        else f"only {n} item(s) (< {minimum}): not judged"
        for v, t, n, ok in zip(table[stat], table["threshold"], table[count], enough, strict=True)
    ]
    return table


def _subject_dimension_pairs(ratings: pd.DataFrame) -> pd.DataFrame:
    return (
        ratings[["subject", "dimension"]]
        .drop_duplicates()
        .sort_values(["subject", "dimension"])
        .reset_index(drop=True)
    )


def screen_repeat_consistency(
    ratings: pd.DataFrame, options: RepeatConsistencyOptions | None = None
) -> ScreeningResult:
    """Reject subjects whose repeated showings disagree with their first showing."""
    options = options or RepeatConsistencyOptions()
    keys = ["subject", "dimension", "stimulus"]
    data = ratings[[*keys, "repeat", "score"]].sort_values([*keys, "repeat"], kind="stable")
    first = data.groupby(keys, sort=False, observed=True)["score"].transform("first")
    first_rep = data.groupby(keys, sort=False, observed=True)["repeat"].transform("min")
    later = data["repeat"] > first_rep
    diffs = (data.loc[later, "score"] - first.loc[later]).abs()
    pairs = data.loc[later, ["subject", "dimension"]].assign(abs_diff=diffs)
    stats = (
        pairs.groupby(["subject", "dimension"], observed=True)["abs_diff"]
        .agg(n_pairs="size", mean_abs_diff="mean", max_abs_diff="max")
        .reset_index()
    )
    table = _decide(ratings, stats, options, "mean_abs_diff", "n_pairs", options.min_pairs)
    notes = () if len(pairs) else ("no repeated showings: nobody judged",)
    return ScreeningResult(
        provenance=Provenance(REPEAT_METHOD, REPEAT_STANDARD, VERSION, options_dict(options)),
        subjects=table,
        notes=notes,
    )


def screen_gold(ratings: pd.DataFrame, options: GoldOptions | None = None) -> ScreeningResult:
    """Reject subjects whose ratings of gold stimuli stray from the known gold score."""
    options = options or GoldOptions()
    if "is_gold" in ratings.columns:
        gold = ratings.loc[ratings["is_gold"].to_numpy(dtype=bool)]
    else:
        gold = ratings.iloc[0:0]
    dev = (gold["score"] - gold["gold_score"]).abs() if len(gold) else pd.Series(dtype=float)
    stats = (
        gold[["subject", "dimension"]]
        .assign(abs_dev=dev)
        .groupby(["subject", "dimension"], observed=True)["abs_dev"]
        .agg(n_gold="size", mean_abs_dev="mean", max_abs_dev="max")
        .reset_index()
    )
    table = _decide(ratings, stats, options, "mean_abs_dev", "n_gold", options.min_trials)
    notes = () if len(gold) else ("no gold stimuli: nobody judged",)
    return ScreeningResult(
        provenance=Provenance(GOLD_METHOD, GOLD_STANDARD, VERSION, options_dict(options)),
        subjects=table,
        notes=notes,
    )
