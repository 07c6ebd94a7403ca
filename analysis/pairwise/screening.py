"""Subject screening for pairwise data: repeats with sides swapped, transitivity, outliers.

Each check returns a :class:`~analysis.screening.base.ScreeningResult` (one row per subject,
``dimension`` ``"*"``, its statistics, ``rejected`` and a ``reason``), as the rating
screeners do, so reports and the site show them the same way.

* **Repeat consistency**: a pair a subject saw again with the sides swapped should get the
  same preferred stimulus. Each later showing in the other orientation is compared with the
  first showing; a changed preference counts 1, a "no preference" against a preference 0.5.
  A subject who always presses the same side fails every such repeat.
* **Transitivity**: circular triads (a > b > c > a) among the triads of stimuli a subject
  compared all three pairs of (Kendall and Babington Smith, 1940). The statistic is the
  share of such complete triads that are circular: 0 for a consistent subject, 1/4 expected
  from coin flips on a complete design. Pairs the subject saw more than once count by the
  majority of its answers; a balanced pair has no direction and closes no circle.
* **Outliers** in the pwcmp manner (``pw_outlier_analysis``): each subject's answers are
  scored against the JOD scale of *all other* subjects (group by group): the mean over the
  subject's compared pairs of ``log10`` of the binomial probability of its answers. A
  subject is an outlier when that value lies more than ``outlier_distance`` interquartile
  ranges below the first quartile of all subjects' values. pwcmp says a distance above 1
  "could indicate" an outlier; the default 1.5 is Tukey's fence, because at 1 about one
  honest subject in fifty is flagged (the test's simulated panel has one at 1.006).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import gammaln, log_ndtr

from analysis._checks import check_int_at_least, check_number
from analysis.pairwise.choices import Groups, groups_of, validate_choices
from analysis.pairwise.counts import pair_layout
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions, thurstone_scores
from analysis.provenance import Provenance, options_dict
from analysis.screening.base import ALL_DIMENSIONS, ScreeningResult

REPEAT_METHOD = "pairwise_repeat_consistency"
TRANSITIVITY_METHOD = "pairwise_transitivity"
OUTLIER_METHOD = "pairwise_outlier"
VERSION = "1.0"
KEY_SEPARATOR = "\x1f"


@dataclasses.dataclass(frozen=True)
class PairwiseScreeningOptions:
    max_repeat_inconsistency: float = 0.4
    min_repeats: int = 3
    max_circular_share: float = 0.15
    min_triads: int = 4
    outlier_distance: float = 1.5
    min_outlier_subjects: int = 5

    def __post_init__(self) -> None:
        check_number(
            "pairwise_screening.max_repeat_inconsistency",
            self.max_repeat_inconsistency,
            minimum=0.0,
            maximum=1.0,
        )
        check_int_at_least("pairwise_screening.min_repeats", self.min_repeats, 1)
        check_number(
            "pairwise_screening.max_circular_share",
            self.max_circular_share,
            minimum=0.0,
            maximum=1.0,
        )
        check_int_at_least("pairwise_screening.min_triads", self.min_triads, 1)
        check_number("pairwise_screening.outlier_distance", self.outlier_distance, minimum=0.0)
        check_int_at_least("pairwise_screening.min_outlier_subjects", self.min_outlier_subjects, 3)


def repeat_consistency(
    choices: pd.DataFrame, options: PairwiseScreeningOptions | None = None
) -> ScreeningResult:
    """Share of swapped-side repeats answered with a different preference, per subject."""
    options = options or PairwiseScreeningOptions()
    table = validate_choices(choices)
    low = np.minimum(table["left"].to_numpy(), table["right"].to_numpy())
    keys = pd.DataFrame(
        {
            "subject": table["subject"].to_numpy(),
            "pair": table["group"].to_numpy()
            + KEY_SEPARATOR
            + low
            + KEY_SEPARATOR
            + np.maximum(table["left"].to_numpy(), table["right"].to_numpy()),
            "low_on_left": table["left"].to_numpy() == low,
            "prefers_low": _prefers_low(table, low),
        }
    )
    first = keys.groupby(["subject", "pair"], sort=False).transform("first")
    later = ~keys.index.isin(keys.drop_duplicates(["subject", "pair"]).index)
    swapped = later & (keys["low_on_left"] != first["low_on_left"]).to_numpy()
    change = (keys["prefers_low"] - first["prefers_low"]).abs().to_numpy() / 2.0
    per_subject = pd.DataFrame({"subject": keys["subject"][swapped], "change": change[swapped]})
    stats = pd.DataFrame(
        per_subject.groupby("subject")["change"].agg(repeats="size", inconsistency="mean")
    )
    stats = stats.reindex(sorted(table["subject"].unique()))
    stats["repeats"] = stats["repeats"].fillna(0).astype(int)
    judged = stats["repeats"] >= options.min_repeats
    rejected = judged & (stats["inconsistency"] > options.max_repeat_inconsistency)
    reason = np.where(
        rejected,
        [
            f"changed preference on {v:.0%} of swapped repeats (> {options.max_repeat_inconsistency:.0%})"
            for v in stats["inconsistency"]
        ],
        np.where(judged, "", f"fewer than {options.min_repeats} swapped repeats: not judged"),
    )
    return _result(
        REPEAT_METHOD,
        "hidden repeats with sides swapped (ITU-T P.910 pair comparison; P.808 practice)",
        options,
        stats,
        rejected,
        reason,
    )


def _prefers_low(table: pd.DataFrame, low: np.ndarray) -> np.ndarray:
    """+1 when the alphabetically first stimulus of the pair was preferred, -1 the other, 0 none."""
    chosen_left = (table["choice"] == "left").to_numpy()
    chosen_right = (table["choice"] == "right").to_numpy()
    low_on_left = table["left"].to_numpy() == low
    prefers = np.where(chosen_left, 1.0, np.where(chosen_right, -1.0, 0.0))
    return np.where(low_on_left, prefers, -prefers)


def transitivity(
    choices: pd.DataFrame, options: PairwiseScreeningOptions | None = None
) -> ScreeningResult:
    """Share of circular triads among each subject's complete triads (all groups together)."""
    options = options or PairwiseScreeningOptions()
    table = validate_choices(choices)
    combos = _per_subject_and_group(table, None)
    rows = []
    for batch in combos.batches:
        wins = batch.wins()
        ahead = (wins - wins.transpose(0, 2, 1)) > 0
        compared = (wins + wins.transpose(0, 2, 1)) > 0
        circular = np.trace(_cube(ahead), axis1=1, axis2=2) / 3.0
        complete = np.trace(_cube(compared), axis1=1, axis2=2) / 6.0
        subjects = [name.split(KEY_SEPARATOR, 1)[1] for name in batch.groups]
        rows.append(pd.DataFrame({"subject": subjects, "triads": complete, "circular": circular}))
    stats = pd.concat(rows).groupby("subject")[["triads", "circular"]].sum()
    stats = stats.astype(int)
    stats["circular_share"] = stats["circular"] / stats["triads"].where(stats["triads"] > 0)
    judged = stats["triads"] >= options.min_triads
    rejected = judged & (stats["circular_share"] > options.max_circular_share)
    reason = np.where(
        rejected,
        [
            f"{c} of {t} complete triads circular ({s:.0%} > {options.max_circular_share:.0%})"
            for c, t, s in zip(
                stats["circular"], stats["triads"], stats["circular_share"], strict=True
            )
        ],
        np.where(judged, "", f"fewer than {options.min_triads} complete triads: not judged"),
    )
    return _result(
        TRANSITIVITY_METHOD,
        "circular triads (Kendall and Babington Smith 1940)",
        options,
        stats,
        rejected,
        reason,
    )


def _cube(adjacency: np.ndarray) -> np.ndarray:
    matrix = adjacency.astype(float)
    return matrix @ matrix @ matrix


def outlier_analysis(
    choices: pd.DataFrame,
    groups: Groups | None = None,
    options: PairwiseScreeningOptions | None = None,
) -> ScreeningResult:
    """pwcmp's leave-one-subject-out log10 likelihood per pair, and its distance below Q1."""
    options = options or PairwiseScreeningOptions()
    table = validate_choices(choices, groups)
    members = groups_of(table, groups)
    whole = {b.size: b for b in pair_layout(table, members).batches}
    combos = _per_subject_and_group(table, members)
    totals: dict[str, list[float]] = {}
    for batch in combos.batches:
        group_batch = whole[batch.size]
        position = {name: k for k, name in enumerate(group_batch.groups)}
        own = batch.wins()
        names = [name.split(KEY_SEPARATOR, 1) for name in batch.groups]
        group_wins = group_batch.wins()[[position[g] for g, _ in names]]
        scale = thurstone_scores(group_wins - own, ThurstoneOptions())
        log_likelihood, pairs = _binomial_log10(own, scale)
        for (_, subject), value, count in zip(names, log_likelihood, pairs, strict=True):
            total = totals.setdefault(subject, [0.0, 0.0])
            total[0] += value
            total[1] += count
    stats = pd.DataFrame.from_dict(totals, orient="index", columns=["log10_likelihood", "pairs"])
    stats = stats.sort_index()
    stats["log10_likelihood"] /= stats["pairs"].clip(lower=1)
    return _outlier_result(stats, options)


def _binomial_log10(own: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per problem: summed log10 binomial probability of its answers, and its compared pairs."""
    first, second = np.triu_indices(own.shape[1], k=1)
    won, lost = own[:, first, second], own[:, second, first]
    total = won + lost
    distance = (scale[:, first] - scale[:, second]) / JOD_SIGMA
    # A stimulus only this subject compared has no scale without them: NaN, left out.
    usable = (total > 0) & np.isfinite(distance)
    distance = np.where(usable, distance, 0.0)
    log_p = gammaln(total + 1) - gammaln(won + 1) - gammaln(lost + 1)
    log_p = log_p + won * log_ndtr(distance) + lost * log_ndtr(-distance)
    log10_p = np.maximum(log_p / np.log(10.0), -200.0)
    return np.where(usable, log10_p, 0.0).sum(axis=1), usable.sum(axis=1).astype(float)


def _outlier_result(stats: pd.DataFrame, options: PairwiseScreeningOptions) -> ScreeningResult:
    values = stats["log10_likelihood"].where(stats["pairs"] > 0)
    first_quartile, third_quartile = (
        np.nanpercentile(values, [25, 75]) if values.notna().any() else (np.nan, np.nan)
    )
    spread = third_quartile - first_quartile
    distance = ((first_quartile - values) / spread).where(values < first_quartile, 0.0)
    stats["distance"] = distance.where(values.notna())
    judged = values.notna() & (values.notna().sum() >= options.min_outlier_subjects) & (spread > 0)
    rejected = judged & (stats["distance"] > options.outlier_distance)
    reason = np.where(
        rejected,
        [
            f"log10 likelihood per pair {v:.2f} is {d:.1f} IQR below the first quartile (> {options.outlier_distance})"
            for v, d in zip(values, stats["distance"], strict=True)
        ],
        np.where(judged, "", "not judged: too few subjects or pairs"),
    )
    return _result(
        OUTLIER_METHOD,
        "pwcmp pw_outlier_analysis (Perez-Ortiz and Mantiuk 2017)",
        options,
        stats,
        rejected,
        reason,
    )


def _per_subject_and_group(table: pd.DataFrame, members: dict[str, list[str]] | None):
    """Layout whose 'groups' are (group, subject) combinations, keyed ``group<US>subject``."""
    combo = table["group"] + KEY_SEPARATOR + table["subject"]
    keyed = table.assign(group=combo.to_numpy())
    if members is None:
        return pair_layout(keyed)
    combo_members = {key: members[key.split(KEY_SEPARATOR, 1)[0]] for key in combo.unique()}
    return pair_layout(keyed, combo_members)


def _result(
    method: str,
    standard: str,
    options: PairwiseScreeningOptions,
    stats: pd.DataFrame,
    rejected: pd.Series,
    reason: np.ndarray,
) -> ScreeningResult:
    subjects = stats.rename_axis("subject").reset_index()
    subjects.insert(1, "dimension", ALL_DIMENSIONS)
    subjects["rejected"] = np.asarray(rejected, dtype=bool)
    subjects["reason"] = reason
    provenance = Provenance(
        method=method, standard=standard, version=VERSION, options=options_dict(options)
    )
    return ScreeningResult(provenance=provenance, subjects=subjects)
