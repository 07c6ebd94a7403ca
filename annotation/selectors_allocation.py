"""Reads behind adaptive allocation: what has been rated (after screening) and what is promised.

Everything is aggregated in the database (count, sum and sum of squares per stimulus and
dimension), so a session start reads one row per stimulus and dimension whatever the number
of ratings; only unfinished sessions' playlists are read, for the trials still ahead.
The policy itself lives in :mod:`analysis.allocation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
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


def screening_rejections(*, study: Study) -> dict[int, list[int]]:
    """Subject ids rejected per dimension id by the study's latest finished analysis: the
    screening the researcher last looked at, applied to the live ratings."""
    run = (
        study.analysis_runs.filter(kind=AnalysisRun.Kind.ANALYSIS, status=AnalysisRun.Status.DONE)
        .order_by("-finished_at", "-id")
        .only("summary")
        .first()
    )
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


def allocation_snapshot(*, study: Study) -> AllocationSnapshot:
    """Tallies of the study's normal stimuli as of now."""
    dims = list(study.dimensions.order_by("order", "id").values_list("id", "key"))
    dimension_ids = [pk for pk, _ in dims]
    stimulus_ids = sorted(
        study.stimuli.filter(role=Stimulus.Role.NORMAL).values_list("id", flat=True)
    )
    row_of = {pk: row for row, pk in enumerate(stimulus_ids)}
    column_of = {pk: column for column, pk in enumerate(dimension_ids)}
    tallies = Tallies.empty(len(stimulus_ids), len(dimension_ids))
    kept = _kept_filter(screening_rejections(study=study))
    # Repeats add no new rater, and the analysis counts the first showing by default.
    rows = (
        Rating.objects.filter(
            stimulus__study=study,
            stimulus__role=Stimulus.Role.NORMAL,
            is_training=False,
            is_repeat=False,
        )
        .order_by()
        .values("stimulus_id", "dimension_id")
        .annotate(
            given=Count("id"),
            n=Count("id", filter=kept),
            total=Sum("score", filter=kept),
            total_sq=Sum(F("score") * F("score"), filter=kept),
        )
    )
    for row in rows:
        at, column = row_of.get(row["stimulus_id"]), column_of.get(row["dimension_id"])
        if at is None or column is None:
            continue
        tallies.kept_n[at, column] = row["n"]
        tallies.kept_sum[at, column] = row["total"] or 0.0
        tallies.kept_sumsq[at, column] = row["total_sq"] or 0.0
        tallies.given[at] = max(tallies.given[at], row["given"])
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
