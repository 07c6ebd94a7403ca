"""A joint scale from absolute ratings (ACR, sliders) and pairwise choices of the same stimuli.

The unified rating/comparison model of Perez-Ortiz, Mikhailiuk, Zerman, Hulusic, Valenzise
and Mantiuk ("From pairwise comparisons and rating to a unified quality scale", IEEE TIP
2019; the authors' ``pwcmp_rating_unified`` code, reimplemented here, not called):

* comparisons follow Thurstone Case V in JOD, exactly as :func:`thurstone_scores` (same
  options: pwcmp's distance prior, the optional score prior);
* a rating of stimulus ``i`` is ``N(a q_i + b, (a c sigma)^2)`` with ``sigma = 1.4826 /
  sqrt 2``, the per-stimulus noise of the comparisons: ``a`` and ``b`` map JOD to the rating
  scale and ``c`` is how much noisier a rating is than a comparison. ``(a, b, c)`` are
  shared by the whole dimension (the paper's one set per experiment) or, with
  ``mapping="per_subject"``, fitted for each rating subject;
* all unknowns are fitted together by maximum likelihood (see :mod:`._joint_fit`).

Ratings are absolute, so every group with ratings lands on one common scale (mean 0 over
those groups' stimuli); a group without ratings keeps its own Thurstone scale with mean 0,
so with no ratings at all the result *is* :func:`scale_choices`. With ratings only, the
scale has no JOD anchor and ``c`` is fixed to 1: scores are then a linear function of MOS.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_int_at_least, check_number
from analysis.errors import RatingsError
from analysis.pairwise._bootstrap import (
    choice_fingerprints,
    percentile_summary,
    row_fingerprints,
    scale_places,
    subject_resample_counts,
)
from analysis.pairwise._joint_fit import FitSettings, Mapping, RatingRows, fit
from analysis.pairwise.choices import REQUIRED_COLUMNS, Groups, validate_choices
from analysis.pairwise.counts import PairLayout, pair_layout
from analysis.pairwise.scale import BootstrapOptions, _batch_frame
from analysis.pairwise.thurstone import ThurstoneOptions

MAPPINGS = ("shared", "per_subject")
# A per-subject line needs a few points beyond the two that any line passes through.
MIN_STIMULI_PER_SUBJECT = 3


@dataclasses.dataclass(frozen=True)
class JointOptions:
    """``thurstone``: the comparison term, as for :func:`scale_choices`. ``unified_prior``:
    the paper's weak prior ``q ~ N(mean(q), n sigma^2)`` per group (off by default: pwcmp's
    distance prior already keeps unanimous pairs finite). ``tolerance``: the fit stops when
    no mapping moves by more than this (relative to the rating noise)."""

    thurstone: ThurstoneOptions = ThurstoneOptions()
    mapping: Literal["shared", "per_subject"] = "shared"
    unified_prior: bool = False
    max_rounds: int = 1000
    tolerance: float = 1e-9

    def __post_init__(self) -> None:
        check_choice("joint.mapping", self.mapping, MAPPINGS)
        check_int_at_least("joint.max_rounds", self.max_rounds, 1)
        check_number("joint.tolerance", self.tolerance, minimum=0.0, inclusive=False)


@dataclasses.dataclass(frozen=True)
class JointScale:
    """``table``: one row per (group, stimulus) - ``score`` (JOD), ``comparisons``, ``wins``,
    ``ratings``, ``mos``, ``linked`` (on the common scale of the rated groups) and, from
    :func:`bootstrap_joint`, ``se``, ``ci_low``, ``ci_high``. ``mapping``: one row per rating
    set (``"*"`` when shared, else the subject) with ``a``, ``b``, ``c``, ``noise_sd``
    (rating units) and ``ratings``. ``rounds``: alternations the fit took."""

    table: pd.DataFrame
    mapping: pd.DataFrame
    rounds: int


@dataclasses.dataclass(frozen=True)
class _JointData:
    layout: PairLayout
    ratings: RatingRows
    set_names: tuple[str, ...]
    rating_subject: np.ndarray
    choice_subject: np.ndarray
    n_subjects: int


def joint_scale(
    choices: pd.DataFrame | None,
    ratings: pd.DataFrame,
    groups: Groups | None = None,
    options: JointOptions | None = None,
) -> JointScale:
    """Fit ``ratings`` (``stimulus``, ``subject``, ``score``; one dimension) and ``choices``
    (a choices table, or None) together. ``groups`` is needed when ``choices`` is None and
    otherwise defaults to the groups the choices show."""
    options = options or JointOptions()
    data = _prepare(choices, ratings, groups, options)
    result = fit(
        data.layout.batches,
        None,
        data.ratings,
        np.ones(len(data.ratings.score)),
        _settings(options),
    )
    return JointScale(
        table=_sorted(_table(data, result.scores, result.linked)),
        mapping=_mapping_frame(data, result.mapping),
        rounds=result.rounds,
    )


def bootstrap_joint(
    choices: pd.DataFrame | None,
    ratings: pd.DataFrame,
    groups: Groups | None = None,
    options: JointOptions | None = None,
    bootstrap: BootstrapOptions | None = None,
) -> JointScale:
    """:func:`joint_scale` plus ``se``, ``ci_low``, ``ci_high`` from resampling *subjects*
    (with all their ratings and choices) as :func:`bootstrap_scale` does. A resample in
    which a linked group loses all its ratings leaves that group out (NaN) rather than
    putting its own mean-0 scale among the common one."""
    options = options or JointOptions()
    bootstrap = bootstrap or BootstrapOptions()
    data = _prepare(choices, ratings, groups, options)
    settings = _settings(options)
    full = fit(data.layout.batches, None, data.ratings, np.ones(len(data.ratings.score)), settings)
    resampled = []
    for counts in subject_resample_counts(
        _subject_fingerprints(data, full.scores), bootstrap.n_resamples, bootstrap.seed
    ):
        one = fit(
            data.layout.batches,
            counts[data.choice_subject],
            data.ratings,
            counts[data.rating_subject],
            settings,
        )
        resampled.append(np.where(full.linked & ~one.linked, np.nan, one.scores))
    table = _table(data, full.scores, full.linked)
    table["se"], table["ci_low"], table["ci_high"] = percentile_summary(
        np.array(resampled), full.scores, bootstrap.confidence
    )
    return JointScale(_sorted(table), _mapping_frame(data, full.mapping), full.rounds)


def _subject_fingerprints(data: _JointData, scores: np.ndarray) -> np.ndarray:
    """Each subject's fingerprint from its choices and its ratings (see
    :func:`~analysis.pairwise._bootstrap.row_fingerprints`); ``scores``, the full fit's,
    laid end to end over the batches, name the stimuli."""
    per_batch, start = [], 0
    for batch in data.layout.batches:
        count = len(batch.groups) * batch.size
        per_batch.append(scores[start : start + count].reshape(len(batch.groups), batch.size))
        start += count
    joint_code = np.zeros(len(data.layout.subjects), dtype=np.int64)
    joint_code[data.layout.row_subject] = data.choice_subject
    fingerprints = np.zeros(data.n_subjects, dtype=np.uint64)
    np.add.at(fingerprints, joint_code, choice_fingerprints(data.layout, per_batch))
    places = np.concatenate([scale_places(row) for frame in per_batch for row in frame])
    group_of = np.concatenate(
        [
            np.repeat(np.array(batch.groups, dtype=object), batch.size)
            for batch in data.layout.batches
        ]
    )
    stimulus = data.ratings.stimulus
    rated = pd.DataFrame(
        {"group": group_of[stimulus], "place": places[stimulus], "score": data.ratings.score}
    )
    return fingerprints + row_fingerprints(data.n_subjects, data.rating_subject, rated)


def _settings(options: JointOptions) -> FitSettings:
    return FitSettings(
        thurstone=options.thurstone,
        unified_prior=options.unified_prior,
        max_rounds=options.max_rounds,
        tolerance=options.tolerance,
    )


def _prepare(
    choices: pd.DataFrame | None,
    ratings: pd.DataFrame,
    groups: Groups | None,
    options: JointOptions,
) -> _JointData:
    rated = _checked_ratings(ratings)
    if choices is None or choices.empty:
        if groups is None:
            raise RatingsError("joint scaling without choices needs the comparison groups")
        layout = pair_layout(
            pd.DataFrame({c: pd.Series(dtype=str) for c in REQUIRED_COLUMNS}), groups
        )
    else:
        layout = pair_layout(validate_choices(choices, groups), groups)
    stimulus = _flat_stimuli(layout, rated)
    subjects = sorted(set(layout.subjects) | set(rated["subject"]))
    subject_index = pd.Index(subjects)
    rating_subject = subject_index.get_indexer(pd.Index(rated["subject"])).astype(np.int64)
    choice_subject = subject_index.get_indexer(pd.Index(layout.subjects))[layout.row_subject]
    set_names: tuple[str, ...]
    if options.mapping == "shared":
        rating_set, set_names = np.zeros(len(rated), dtype=np.int64), ("*",)
    else:
        rating_set, set_names = _subject_sets(rated, stimulus, layout)
    return _JointData(
        layout=layout,
        ratings=RatingRows(
            stimulus=stimulus,
            score=rated["score"].to_numpy(float),
            rating_set=rating_set,
            n_sets=len(set_names),
        ),
        set_names=set_names,
        rating_subject=rating_subject,
        choice_subject=choice_subject.astype(np.int64),
        n_subjects=len(subjects),
    )


def _checked_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("stimulus", "subject", "score") if c not in ratings.columns]
    if missing:
        raise RatingsError(f"ratings table lacks column(s) {', '.join(map(repr, missing))}")
    if "dimension" in ratings.columns and ratings["dimension"].nunique() > 1:
        names = ", ".join(repr(str(d)) for d in sorted(ratings["dimension"].astype(str).unique()))
        raise RatingsError(f"ratings hold several dimensions ({names}); pass one dimension's rows")
    score = pd.to_numeric(ratings["score"], errors="coerce")
    bad = ~np.isfinite(score.to_numpy(float))
    if bad.any():
        rows = ", ".join(str(r) for r in ratings.index[bad][:5])
        raise RatingsError(f"column 'score' of the ratings is not a finite number at row(s) {rows}")
    return pd.DataFrame(
        {
            "stimulus": ratings["stimulus"].astype(str).to_numpy(),
            "subject": ratings["subject"].astype(str).to_numpy(),
            "score": score.to_numpy(float),
        },
        index=ratings.index,
    )


def _flat_stimuli(layout: PairLayout, rated: pd.DataFrame) -> np.ndarray:
    """Each rating's stimulus as an index into the batches' stimuli laid end to end."""
    names = [s for batch in layout.batches for stimuli in batch.stimuli for s in stimuli]
    places = pd.Series(np.arange(len(names)), index=pd.Index(names))
    doubled = places.index[places.index.duplicated()]
    rated_doubled = sorted(set(doubled) & set(rated["stimulus"]))
    if rated_doubled:
        raise RatingsError(
            f"rated stimulus {rated_doubled[0]!r} is in more than one comparison group; a "
            "joint scale needs each rated stimulus in one group"
        )
    unique = places[~places.index.duplicated()]
    position = unique.reindex(rated["stimulus"].to_numpy()).fillna(-1).to_numpy()
    unknown = np.asarray(position) < 0
    if unknown.any():
        first = rated.index[np.flatnonzero(unknown)[:5]]
        raise RatingsError(
            f"ratings name stimulus {rated['stimulus'].to_numpy()[unknown][0]!r}, which is in "
            f"no comparison group, at row(s) {', '.join(str(r) for r in first)}"
        )
    return np.asarray(position, dtype=np.int64)


def _subject_sets(
    rated: pd.DataFrame, stimulus: np.ndarray, layout: PairLayout
) -> tuple[np.ndarray, tuple[str, ...]]:
    """One rating set per subject; each needs a few distinct stimuli to fit its line."""
    if not layout.n_rows:
        raise RatingsError(
            "mapping 'per_subject' needs comparisons: ratings alone fix no subject's scale"
        )
    codes, names = pd.factorize(rated["subject"], sort=True)
    distinct = pd.Series(stimulus).groupby(codes).nunique()
    few = distinct[distinct < MIN_STIMULI_PER_SUBJECT]
    if len(few):
        raise RatingsError(
            f"mapping 'per_subject': subject {str(names[few.index[0]])!r} rated "
            f"{int(few.iloc[0])} stimuli; each needs at least {MIN_STIMULI_PER_SUBJECT}"
        )
    return codes.astype(np.int64), tuple(str(n) for n in names)


def _table(data: _JointData, scores: np.ndarray, linked: np.ndarray) -> pd.DataFrame:
    frames = [
        _batch_frame(batch, batch.wins(), np.zeros((len(batch.groups), batch.size)))
        for batch in data.layout.batches
    ]
    table = pd.concat(frames, ignore_index=True)
    count = len(table)
    ratings = data.ratings
    n_ratings = np.bincount(ratings.stimulus, minlength=count)
    sums = np.bincount(ratings.stimulus, weights=ratings.score, minlength=count)
    table["score"] = scores
    table["ratings"] = n_ratings
    table["mos"] = np.divide(sums, n_ratings, out=np.full(count, np.nan), where=n_ratings > 0)
    table["linked"] = linked
    return table


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["group", "stimulus"], ignore_index=True)


def _mapping_frame(data: _JointData, mapping: Mapping) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rating_set": list(data.set_names),
            "a": mapping.slope,
            "b": mapping.offset,
            "c": mapping.relative_noise,
            "noise_sd": mapping.noise,
            "ratings": np.bincount(data.ratings.rating_set, minlength=data.ratings.n_sets),
        }
    )
