"""Reads behind adaptive allocation: what has been rated (after screening) and what is promised.

Everything is aggregated in the database (count, sum and sum of squares per stimulus and
dimension), so a session start reads one row per stimulus and dimension whatever the number
of ratings; only unfinished sessions' playlists are read, for the trials still ahead.
The policy itself lives in :mod:`analysis.allocation`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.core.cache import cache
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from analysis.allocation import (
    AllocationPolicy,
    AllocationState,
    Tallies,
    allocation_state,
    ratings_still_needed,
)
from annotation.models import AnalysisRun, Rating, RatingSession, Stimulus, Study
from core.throttle import CACHE_ERRORS

log = logging.getLogger(__name__)

# Ratings older than this are surely committed; their sums are kept between session starts
# (see _settled_sums) for SETTLED_REFRESH_SECONDS, then read again in full.
SETTLED_AFTER = timedelta(minutes=5)
SETTLED_REFRESH_SECONDS = 600
# A session silent for this long is taken as abandoned: its trials still ahead stop holding
# stimuli back (balanced allocation counts them forever, which starves nothing there).
PENDING_EXPIRES_AFTER = timedelta(hours=24)
# The progress page's histogram gets at most this many half-widths per dimension.
HISTOGRAM_VALUES_MAX = 20_000


@dataclass(frozen=True)
class AllocationSnapshot:
    """A study's tallies with the ids behind their rows and columns."""

    stimulus_ids: list[int]
    dimension_ids: list[int]
    dimension_keys: list[str]
    tallies: Tallies


def allocation_policy(*, study: Study, dimension_keys: list[str]) -> AllocationPolicy:
    """The study's settings as the library's policy (targets in dimension order)."""
    targets = study.allocation_targets or {}
    return AllocationPolicy(
        targets=tuple(float(targets.get(key, 0) or 0) for key in dimension_keys),
        min_ratings=study.allocation_min_ratings,
        max_ratings=study.allocation_max_ratings,
        confidence=study.allocation_confidence,
        scale_range=float(study.scale_max - study.scale_min),
    )


def latest_screening_run(*, study: Study) -> AnalysisRun | None:
    """The study's latest finished analysis: the screening the researcher last looked at."""
    return (
        study.analysis_runs.filter(kind=AnalysisRun.Kind.ANALYSIS, status=AnalysisRun.Status.DONE)
        .order_by("-finished_at", "-id")
        .only("id", "summary")
        .first()
    )


def screening_rejections(*, study: Study, run: AnalysisRun | None) -> dict[int, list[int]]:
    """Subject ids that `run` rejected, per dimension id, to apply to the live ratings."""
    if run is None:
        return {}
    records = run.summary.get("rejections") or []
    subjects = dict(study.subjects.values_list("label", "id"))
    dimensions = dict(study.dimensions.values_list("key", "id"))
    rejected: dict[int, list[int]] = {}
    for record in records:
        subject = subjects.get(str(record.get("subject")))
        dimension = dimensions.get(str(record.get("dimension")))
        if subject is not None and dimension is not None:
            rejected.setdefault(dimension, []).append(subject)
    return rejected


def _kept_filter(rejected: dict[int, list[int]]) -> Q | None:
    if not rejected:
        return None
    dropped = Q()
    for dimension_id, subject_ids in rejected.items():
        dropped |= Q(dimension_id=dimension_id, session__subject_id__in=subject_ids)
    return ~dropped


def pending_counts(*, study: Study) -> dict[int, int]:
    """Rating trials still ahead in unfinished, recently active sessions, per stimulus."""
    since = timezone.now() - PENDING_EXPIRES_AFTER
    sessions = (
        RatingSession.objects.filter(
            subject__study=study,
            subject__declined_at__isnull=True,
            completed_at__isnull=True,
        )
        .filter(Q(last_activity_at__gte=since) | Q(last_activity_at__isnull=True))
        .order_by()
        .values_list("playlist", "cursor")
    )
    counts: dict[int, int] = {}
    for playlist, cursor in sessions.iterator(chunk_size=200):
        for entry in playlist[cursor:]:
            if entry.get("kind") == "rating" and not entry.get("repeat"):
                counts[entry["stimulus"]] = counts.get(entry["stimulus"], 0) + 1
    return counts


def _counted_ratings(*, study: Study):
    # Repeats add no new rater, and the analysis counts the first showing by default.
    return Rating.objects.filter(stimulus__study=study, is_training=False, is_repeat=False)


def _sums(ratings, kept: Q | None) -> np.ndarray:
    """Rows of (stimulus, dimension, given, kept n, kept sum, kept sum of squares)."""
    rows = (
        ratings.order_by()
        .values("stimulus_id", "dimension_id")
        .annotate(
            given=Count("id"),
            n=Count("id", filter=kept),
            total=Sum("score", filter=kept),
            total_sq=Sum(F("score") * F("score"), filter=kept),
        )
        .values_list("stimulus_id", "dimension_id", "given", "n", "total", "total_sq")
    )
    return np.array([[value or 0 for value in row] for row in rows], dtype=float).reshape(-1, 6)


def _settled_sums(
    *, study: Study, run: AnalysisRun | None, kept: Q | None
) -> tuple[int, np.ndarray]:
    """Sums of the ratings up to a settled id, kept per process for a few minutes.

    Ratings are never edited, and one created more than SETTLED_AFTER ago was committed
    long since (a submit's transaction lasts milliseconds), as was every rating with a
    smaller id; so these sums stay right and a session start reads only newer ratings.
    The screening run is part of the key: a new analysis changes which ratings are kept.
    """
    key = f"allocation-settled:{study.pk}:{study.created_at.timestamp()}"
    screening = run.pk if run is not None else 0
    cached = _cache_get(key)
    if cached is not None and cached[0] == screening:
        return cached[1], cached[2]
    settled_before = timezone.now() - SETTLED_AFTER
    boundary = (
        _counted_ratings(study=study)
        .filter(created_at__lt=settled_before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    ) or 0
    sums = _sums(_counted_ratings(study=study).filter(id__lte=boundary), kept)
    _cache_set(key, (screening, boundary, sums), SETTLED_REFRESH_SECONDS)
    return boundary, sums


# The sums are only a saving: with the cache server down they are computed every time.
def _cache_get(key: str):
    try:
        return cache.get(key)
    except CACHE_ERRORS as exc:
        log.warning("allocation sums not read from the cache (unreachable): %s", exc)
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        log.warning("allocation sums not kept in the cache (unreachable): %s", exc)


def _rows_of(ids: np.ndarray, wanted: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `ids` in the sorted list `wanted`, and which of them are in it."""
    order = np.asarray(wanted, dtype=float)
    at = np.clip(np.searchsorted(order, ids), 0, max(len(order) - 1, 0))
    found = order[at] == ids if len(order) else np.zeros(len(ids), dtype=bool)
    return at, found


def allocation_snapshot(*, study: Study) -> AllocationSnapshot:
    """Tallies of the study's normal stimuli as of now."""
    dims = list(study.dimensions.order_by("order", "id").values_list("id", "key"))
    dimension_ids = [pk for pk, _ in dims]
    stimulus_ids = sorted(
        study.stimuli.filter(role=Stimulus.Role.NORMAL).values_list("id", flat=True)
    )
    tallies = Tallies.empty(len(stimulus_ids), len(dimension_ids))
    run = latest_screening_run(study=study)
    kept = _kept_filter(screening_rejections(study=study, run=run))
    boundary, settled = _settled_sums(study=study, run=run, kept=kept)
    recent = _sums(_counted_ratings(study=study).filter(id__gt=boundary), kept)
    sums = np.concatenate([settled, recent])
    # Gold and training stimuli, and dimensions no longer in the study, fall out here.
    rows, stimulus_found = _rows_of(sums[:, 0], stimulus_ids)
    column_of = {pk: column for column, pk in enumerate(dimension_ids)}
    columns = np.array([column_of.get(int(pk), -1) for pk in sums[:, 1]], dtype=int)
    use = stimulus_found & (columns >= 0)
    rows, columns, sums = rows[use], columns[use], sums[use]
    given = np.zeros((len(stimulus_ids), len(dimension_ids)))
    np.add.at(given, (rows, columns), sums[:, 2])
    np.add.at(tallies.kept_n, (rows, columns), sums[:, 3])
    np.add.at(tallies.kept_sum, (rows, columns), sums[:, 4])
    np.add.at(tallies.kept_sumsq, (rows, columns), sums[:, 5])
    if len(dimension_ids):
        tallies.given[:] = given.max(axis=1)
    row_of = {pk: row for row, pk in enumerate(stimulus_ids)}
    for stimulus_id, count in pending_counts(study=study).items():
        if (at := row_of.get(stimulus_id)) is not None:
            tallies.pending[at] = count
    return AllocationSnapshot(
        stimulus_ids=stimulus_ids,
        dimension_ids=dimension_ids,
        dimension_keys=[key for _, key in dims],
        tallies=tallies,
    )


def allocation_state_for_study(
    *, study: Study
) -> tuple[AllocationSnapshot, AllocationPolicy, AllocationState]:
    snapshot = allocation_snapshot(study=study)
    policy = allocation_policy(study=study, dimension_keys=snapshot.dimension_keys)
    return snapshot, policy, allocation_state(snapshot.tallies, policy)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in values[:HISTOGRAM_VALUES_MAX]]


def allocation_progress(*, study: Study) -> dict | None:
    """The adaptive part of the progress page; None for a balanced study.

    Half-widths are the current ones (ratings given, after screening); the sessions still
    needed assume each stimulus's variance stays as it is now, so the estimate moves as
    ratings arrive.
    """
    if study.allocation != Study.Allocation.ADAPTIVE:
        return None
    snapshot, policy, state = allocation_state_for_study(study=study)
    more = ratings_still_needed(snapshot.tallies, state, policy)
    rating_trials = max(study.session_size - study.repeats_per_session, 1)
    # A stimulus can be rated once per session, so the neediest one sets a floor too.
    sessions = max(int(np.ceil(more.sum() / rating_trials)), int(more.max()) if more.size else 0)
    dimensions = []
    for column, key in enumerate(snapshot.dimension_keys):
        widths = state.half_width[:, column]
        finite = widths[np.isfinite(widths)]
        target = policy.targets[column]
        dimensions.append(
            {
                "key": key,
                "target": target,
                "at_target": int((widths <= target).sum()),
                "unrated": int((~np.isfinite(widths)).sum()),
                "median": round(float(np.median(finite)), 2) if finite.size else None,
                "p90": round(float(np.quantile(finite, 0.9)), 2) if finite.size else None,
                "half_widths": _rounded(finite),
            }
        )
    at_every_target = (state.half_width <= np.asarray(policy.targets)).all(axis=1)
    return {
        "confidence": policy.confidence,
        "min_ratings": policy.min_ratings,
        "max_ratings": policy.max_ratings,
        "dimensions": dimensions,
        "stimuli_at_every_target": int(at_every_target.sum()),
        "stimuli_at_max": int((state.assigned >= policy.max_ratings).sum()),
        "ratings_still_needed": int(more.sum()),
        "sessions_needed": sessions,
    }
