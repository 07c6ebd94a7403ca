"""Pairwise choices read from a dataset package into an imported study: the mirror of
:mod:`annotation.services.pair_exports`.

Each package pseudonym becomes a subject of the new study (no invite is ever shown: the
token is made and forgotten) with one finished session holding its choices, in the
package's order, so a freeze of the imported study reads the same choices table.
"""

from __future__ import annotations

from django.utils import timezone

from annotation.models import Dimension, PairwiseChoice, RatingSession, Stimulus, Study, Subject
from annotation.tokens import new_invite_token, token_hash

CHOICES_PER_INSERT = 5000


def _sessions(study: Study, labels: list[str]) -> dict[str, RatingSession]:
    now = timezone.now()
    subjects = Subject.objects.bulk_create(
        [
            Subject(study=study, label=label, token_hash=token_hash(new_invite_token()))
            for label in labels
        ]
    )
    sessions = RatingSession.objects.bulk_create(
        [RatingSession(subject=subject, completed_at=now) for subject in subjects]
    )
    return {session.subject.label: session for session in sessions}


def package_choices_insert(
    *, study: Study, choices: list[dict], stimulus_of: dict[str, Stimulus]
) -> int:
    """Store the package's checked choices (``stimulus_of``: package stimulus_id -> the
    imported stimulus); returns how many."""
    sessions = _sessions(study, list(dict.fromkeys(c["subject"] for c in choices)))
    dimensions = {d.key: d for d in Dimension.objects.filter(study=study)}
    batch: list[PairwiseChoice] = []
    for record in choices:
        time = record["time"]
        batch.append(
            PairwiseChoice(
                session=sessions[record["subject"]],
                dimension=dimensions[record["dimension"]],
                trial_index=int(record["trial"] or 0),
                group=record["group"],
                left=stimulus_of[record["left"]],
                right=stimulus_of[record["right"]],
                choice=record["choice"],
                side=record["side"],
                is_repeat=bool(int(record["repeat"] or 0)),
                too_fast=bool(int(record["too_fast"] or 0)),
                response_time_ms=None if time in ("", None) else round(float(time) * 1000),
            )
        )
        if len(batch) >= CHOICES_PER_INSERT:
            PairwiseChoice.objects.bulk_create(batch)
            batch = []
    PairwiseChoice.objects.bulk_create(batch)
    return len(choices)
