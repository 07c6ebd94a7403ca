"""Scale a choices table: one score per stimulus and group, optionally with bootstrap CIs.

Scores are relative within a comparison group (mean 0 per group); in JOD units by
default, where a difference of 1 means 75 % of answers prefer the higher stimulus. Groups
are solved together in batches (see :mod:`analysis.pairwise.counts`), so a study of 20 000
stimuli in groups of 15 scales in seconds.

Confidence intervals resample *subjects* with replacement (all their answers together,
across groups, with a seeded generator), rescale each resample and take percentiles -
pwcmp's ``pw_scale_bootstrp`` does the same over observers. Subjects are drawn in the order
of what they answered, not of their labels (renamed subjects get the same intervals), and
an interval is widened where needed to hold its own estimate (see
:func:`analysis.pairwise._bootstrap.percentile_summary`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_int_at_least, check_probability
from analysis.errors import RatingsError
from analysis.pairwise._bootstrap import (
    choice_fingerprints,
    percentile_summary,
    subject_resample_counts,
)
from analysis.pairwise.bradley_terry import BradleyTerryOptions, bradley_terry_scores
from analysis.pairwise.choices import Groups, validate_choices
from analysis.pairwise.counts import GroupBatch, pair_layout
from analysis.pairwise.thurstone import ThurstoneOptions, thurstone_scores

METHODS = ("thurstone", "bradley_terry")
# Bootstrap resamples are solved together up to about this many group problems at once.
BOOTSTRAP_BATCH_GROUPS = 4096


@dataclasses.dataclass(frozen=True)
class ScalingOptions:
    method: Literal["thurstone", "bradley_terry"] = "thurstone"
    thurstone: ThurstoneOptions = ThurstoneOptions()
    bradley_terry: BradleyTerryOptions = BradleyTerryOptions()

    def __post_init__(self) -> None:
        check_choice("scaling.method", self.method, METHODS)


@dataclasses.dataclass(frozen=True)
class BootstrapOptions:
    n_resamples: int = 500
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        check_int_at_least("bootstrap.n_resamples", self.n_resamples, 2)
        check_probability("bootstrap.confidence", self.confidence)


def scale_choices(
    choices: pd.DataFrame,
    groups: Groups | None = None,
    options: ScalingOptions | None = None,
) -> pd.DataFrame:
    """One row per (group, stimulus): ``score``, ``comparisons`` (answers involving it) and
    ``wins`` (ties count half). Stimuli never compared have a NaN score."""
    options = options or ScalingOptions()
    layout = pair_layout(validate_choices(choices, groups), groups)
    frames = []
    for batch in layout.batches:
        wins = batch.wins()
        scores = solve_scores(wins, options, batch=batch)
        frames.append(_batch_frame(batch, wins, scores))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["group", "stimulus"], ignore_index=True
    )


def bootstrap_scale(
    choices: pd.DataFrame,
    groups: Groups | None = None,
    options: ScalingOptions | None = None,
    bootstrap: BootstrapOptions | None = None,
) -> pd.DataFrame:
    """:func:`scale_choices` plus ``se`` (bootstrap standard deviation), ``ci_low`` and
    ``ci_high`` (percentile interval at ``bootstrap.confidence``)."""
    options = options or ScalingOptions()
    bootstrap = bootstrap or BootstrapOptions()
    layout = pair_layout(validate_choices(choices, groups), groups)
    full = [solve_scores(batch.wins(), options, batch=batch) for batch in layout.batches]
    weights = subject_resample_counts(
        choice_fingerprints(layout, full), bootstrap.n_resamples, bootstrap.seed
    )
    frames = []
    for batch, scores in zip(layout.batches, full, strict=True):
        frame = _batch_frame(batch, batch.wins(), scores)
        resampled = _resampled_scores(batch, weights, layout.row_subject, options)
        frame["se"], frame["ci_low"], frame["ci_high"] = percentile_summary(
            resampled.reshape(len(resampled), -1), frame["score"].to_numpy(), bootstrap.confidence
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(
        ["group", "stimulus"], ignore_index=True
    )


def solve_scores(
    wins: np.ndarray, options: ScalingOptions, *, batch: GroupBatch | None = None
) -> np.ndarray:
    """Scores ``(G, n)`` of a batch of win matrices by ``options.method``.

    With ``batch`` given, a Bradley-Terry group without a finite estimate is an error that
    names it; without, its scores are NaN (a bootstrap resample may lack a stimulus's loss).
    """
    if options.method == "thurstone":
        return thurstone_scores(wins, options.thurstone)
    scores, finite = bradley_terry_scores(wins, options.bradley_terry)
    if batch is not None and not finite.all():
        name = batch.groups[int(np.flatnonzero(~finite)[0])]
        raise RatingsError(
            f"Bradley-Terry has no finite maximum-likelihood scale for group {name!r} (and "
            f"{int((~finite).sum()) - 1} more): some stimuli never lose or never win against "
            "the rest; set bradley_terry.alpha > 0 or use method 'thurstone'"
        )
    return scores


def _batch_frame(batch: GroupBatch, wins: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    size = batch.size
    return pd.DataFrame(
        {
            "group": np.repeat(np.array(batch.groups, dtype=object), size),
            "stimulus": np.array([s for stimuli in batch.stimuli for s in stimuli], dtype=object),
            "score": scores.ravel(),
            "comparisons": (wins.sum(axis=2) + wins.sum(axis=1)).ravel(),
            "wins": wins.sum(axis=2).ravel(),
        }
    )


def _resampled_scores(
    batch: GroupBatch,
    subject_weights: np.ndarray,
    row_subject: np.ndarray,
    options: ScalingOptions,
) -> np.ndarray:
    """``(resamples, G, n)`` scores, many resamples solved as one batch of problems."""
    per_call = max(1, BOOTSTRAP_BATCH_GROUPS // len(batch.groups))
    out = []
    for start in range(0, len(subject_weights), per_call):
        chunk = subject_weights[start : start + per_call]
        wins = np.concatenate([batch.wins(weights[row_subject]) for weights in chunk])
        scores = solve_scores(wins, options)
        out.append(scores.reshape(len(chunk), len(batch.groups), batch.size))
    return np.concatenate(out)
