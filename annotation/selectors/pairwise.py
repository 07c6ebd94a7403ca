"""Reads for pairwise studies: the stimuli to group, the choices so far, the pairs pending.

Stimulus ids travel as strings into :mod:`analysis.pairwise` (its tables use string ids);
`annotation.services.pairwise` turns them back into ints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
from django.db.models import Q
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


def pairwise_grouping_rows(*, study: Study) -> list[GroupingRow]:
    """The study's normal stimuli that new sessions may get, in id order."""
    rows = (
        Stimulus.objects.filter(
            study=study, role=Stimulus.Role.NORMAL, excluded_from_playlists=False
        )
        .order_by("id")
        .values_list("id", "original_name", "prompt_group", "prompt", "metadata")
    )
    return [GroupingRow(*row) for row in rows]


def pairwise_first_dimension(*, study: Study) -> Dimension | None:
    return Dimension.objects.filter(study=study).order_by("order", "id").first()


def pairwise_history(*, study: Study, dimension: Dimension | None) -> dict[str, pd.DataFrame]:
    """Each group's choices so far on `dimension` (left, right, choice; string ids)."""
    if dimension is None:
        return {}
    rows = (
        PairwiseChoice.objects.filter(dimension=dimension, session__subject__study=study)
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
            if entry.get("kind") == KIND_PAIR:
                first, second = pair_served(entry)
                pending[entry["group"]].append((str(first), str(second)))
    return dict(pending)


def pairwise_choice_rows(*, study: Study):
    """The study's stored choices, one row per trial and dimension, in the order given."""
    return (
        PairwiseChoice.objects.filter(session__subject__study=study)
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
