"""Reads for pairwise studies: the stimuli to group, the choices so far, the pairs pending.

Stimulus ids travel as strings into :mod:`analysis.pairwise` (its tables use string ids);
`annotation.services.pairwise` turns them back into ints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC

import pandas as pd
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotation.models import Dimension, PairwiseChoice, RatingSession, Stimulus, Study
from annotation.playlist_entries import KIND_PAIR, pair_served
from annotation.selectors.allocation import PENDING_EXPIRES_AFTER


@dataclass(frozen=True)
class GroupingRow:
    """What grouping needs of one stimulus: its prompt and its manifest columns."""

    stimulus_id: int
    name: str
    prompt_group: str
    prompt: str
    metadata: dict


def pairwise_grouping_rows(*, study: Study, role: str = Stimulus.Role.NORMAL) -> list[GroupingRow]:
    """The study's stimuli of `role` that new sessions may get, in id order."""
    rows = (
        Stimulus.objects.filter(study=study, role=role, excluded_from_playlists=False)
        .order_by("id")
        .values_list("id", "original_name", "prompt_group", "prompt", "metadata")
    )
    return [GroupingRow(*row) for row in rows]


def pairwise_expected_scores(*, study: Study, role: str) -> dict[int, dict]:
    """Training or gold stimuli: their expected score per dimension key."""
    return dict(
        Stimulus.objects.filter(study=study, role=role, excluded_from_playlists=False)
        .order_by()
        .values_list("id", "expected_scores")
    )


def pairwise_first_dimension(*, study: Study) -> Dimension | None:
    return Dimension.objects.filter(study=study).order_by("order", "id").first()


def pairwise_history(*, study: Study, dimension: Dimension | None) -> dict[str, pd.DataFrame]:
    """Each group's choices so far on `dimension` (left, right, choice; string ids)."""
    if dimension is None:
        return {}
    rows = (
        PairwiseChoice.objects.filter(
            dimension=dimension,
            session__subject__study=study,
            stage=PairwiseChoice.Stage.NORMAL,
        )
        .order_by("id")
        .values_list("group", "left_id", "right_id", "choice")
    )
    by_group: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for group, left, right, choice in rows.iterator(chunk_size=2000):
        by_group[group].append((str(left), str(right), choice))
    return {
        group: pd.DataFrame(records, columns=["left", "right", "choice"])
        for group, records in by_group.items()
    }


def pairwise_pending(*, study: Study) -> dict[str, list[tuple[str, str]]]:
    """Pairs served to unfinished, recently active sessions and not yet answered, per group.

    They are the pairs concurrent subjects are about to answer: a new session avoids them
    while other pairs remain.
    """
    since = timezone.now() - PENDING_EXPIRES_AFTER
    sessions = (
        RatingSession.objects.filter(
            subject__study=study, subject__declined_at__isnull=True, completed_at__isnull=True
        )
        .filter(Q(last_activity_at__gte=since) | Q(last_activity_at__isnull=True))
        .order_by()
        .values_list("playlist", "cursor")
    )
    pending: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for playlist, cursor in sessions.iterator(chunk_size=200):
        for entry in playlist[cursor:]:
            if entry.get("kind") == KIND_PAIR and not entry.get("stage"):
                first, second = pair_served(entry)
                pending[entry["group"]].append((str(first), str(second)))
    return dict(pending)


def pairwise_choice_rows(*, study: Study):
    """The study's stored choices, one row per trial and dimension, in the order given.

    Training and gold answers are not data: they are left out (the columns stay as they
    were); the subject report reads them.
    """
    return (
        PairwiseChoice.objects.filter(
            session__subject__study=study, stage=PairwiseChoice.Stage.NORMAL
        )
        .order_by("session_id", "trial_index", "dimension__order", "dimension_id")
        .values_list(
            "session__subject__label",
            "dimension__key",
            "trial_index",
            "group",
            "left_id",
            "right_id",
            "choice",
            "side",
            "response_time_ms",
            "too_fast",
            "is_repeat",
        )
    )


def _normal_first_dimension_choices(*, study: Study):
    first = pairwise_first_dimension(study=study)
    return PairwiseChoice.objects.filter(
        dimension_id=first.pk if first else 0,
        session__subject__study=study,
        stage=PairwiseChoice.Stage.NORMAL,
    ).order_by()


def pairwise_trials_per_stimulus(*, study: Study) -> list[int]:
    """Answered comparisons of each normal stimulus, in id order, zeros included (a trial
    counts once for each of its two images; training and gold pairs left out)."""
    choices = _normal_first_dimension_choices(study=study)
    counts: dict[int, int] = defaultdict(int)
    for side in ("left_id", "right_id"):
        for stimulus_id, count in (
            choices.values(side).annotate(n=Count("id")).values_list(side, "n")
        ):
            counts[stimulus_id] += count
    normal = study.stimuli.filter(role=Stimulus.Role.NORMAL).order_by("id")
    return [counts.get(stimulus_id, 0) for stimulus_id in normal.values_list("id", flat=True)]


def pairwise_trials_per_hour(*, study: Study) -> list[dict]:
    """Answered pairs per hour (UTC): [{"hour": datetime, "n": count}], as
    `subject_reports.trials_per_hour` gives rated trials."""
    return list(
        _normal_first_dimension_choices(study=study)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )


def pairwise_stage_counts(*, study: Study) -> dict[str, int]:
    """Answered pairs per stage (normal, training, gold), counted on the first dimension."""
    first = pairwise_first_dimension(study=study)
    rows = (
        PairwiseChoice.objects.filter(
            dimension_id=first.pk if first else 0, session__subject__study=study
        )
        .order_by()
        .values("stage")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(PairwiseChoice.Stage.values, 0)
    counts.update({row["stage"]: row["n"] for row in rows})
    return counts
