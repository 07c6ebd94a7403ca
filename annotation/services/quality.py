"""Quality control of a session in the crowd toolkits' pattern (ITU-T P.808 / P.910 crowd).

- **Qualification**: with the study's ``qualification_enabled``, the training trials are a
  test. A training trial passes when every answer lies within the tolerance of the anchor's
  expected score; a try at the training block passes when all of its trials pass. A failed
  try with tries left shows the block again; the last failed try screens the subject out
  (the session ends, its rating trials go back to the allocation, and the subject gets the
  qualification-failed code).
- **Traps and gold**: a trap (role ``trap``) passes when every answer equals its required
  answer (within half a scale step); a gold trial passes when every answer lies within the
  gold tolerance of its known score. Each is recorded as a :class:`QualityCheck`.
- **Maximum duration**: a session past the study's limit ends, as an idle one does.

Everything here runs inside the submission's transaction, on the session row it locked.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from annotation.models import QualityCheck, RatingSession, Stimulus, Study
from annotation.playlist_entries import (
    KIND_GOLD,
    KIND_TRAINING,
    KIND_TRAP,
    entry_attempt,
    is_attempt_end,
)
from annotation.selectors.subject_reports import GOLD_TOLERANCE_FRACTION

# A qualification tolerance of 0 means this share of the scale's range (at least a step).
DEFAULT_QUALIFICATION_FRACTION = 0.15

OUTCOME_PASSED = "passed"
OUTCOME_RETRY = "retry"
OUTCOME_FAILED = "failed"


def qualification_tolerance(study: Study) -> float:
    """How far from the expected score a qualification answer may lie, on the study's scale.

    The default is a share of the range but never less than one step: on ACR 1..5 the share
    (0.6) would ask for the exact category, stricter than the anchors' own spread.
    """
    if study.qualification_tolerance > 0:
        return study.qualification_tolerance
    share = DEFAULT_QUALIFICATION_FRACTION * (study.scale_max - study.scale_min)
    return max(share, study.scale_step)


def trap_tolerance(study: Study) -> float:
    """A trap's required answer must be hit: half a step (a slider: 1% of the range)."""
    step = study.scale_step or (study.scale_max - study.scale_min) / 50
    return step / 2


def answers_within(
    *, expected: Mapping[str, object], scores: Mapping[str, float], tolerance: float
) -> bool:
    """Every dimension with an expected score was answered within ``tolerance`` of it."""
    for key, known in expected.items():
        if key in scores and abs(scores[key] - float(known)) > tolerance:  # type: ignore[arg-type]
            return False
    return True


def _check_kind(entry: Mapping, study: Study) -> str | None:
    if entry["kind"] == KIND_TRAINING and study.qualification_enabled:
        return QualityCheck.Kind.QUALIFICATION
    if entry["kind"] == KIND_TRAP:
        return QualityCheck.Kind.TRAP
    if entry["kind"] == KIND_GOLD:
        return QualityCheck.Kind.GOLD
    return None


def _tolerance_for(kind: str, study: Study) -> float:
    if kind == QualityCheck.Kind.QUALIFICATION:
        return qualification_tolerance(study)
    if kind == QualityCheck.Kind.TRAP:
        return trap_tolerance(study)
    return GOLD_TOLERANCE_FRACTION * (study.scale_max - study.scale_min)


def check_record(
    *,
    session: RatingSession,
    study: Study,
    entry: Mapping,
    trial_index: int,
    scores: Mapping[str, float],
) -> QualityCheck | None:
    """Pass or fail of a qualification, trap or gold trial; None for any other trial.

    ``scores`` are keyed by dimension key. A stimulus without expected scores passes: it
    cannot be failed.
    """
    kind = _check_kind(entry, study)
    if kind is None:
        return None
    expected = (
        Stimulus.objects.filter(pk=entry["stimulus"])
        .values_list("expected_scores", flat=True)
        .first()
    ) or {}
    passed = answers_within(expected=expected, scores=scores, tolerance=_tolerance_for(kind, study))
    return QualityCheck.objects.create(
        session_id=session.pk,
        trial_index=trial_index,
        kind=kind,
        stimulus_id=entry["stimulus"],
        attempt=entry_attempt(entry) if kind == QualityCheck.Kind.QUALIFICATION else 0,
        passed=passed,
    )


def is_qualification_end(*, study: Study, playlist: list[dict], trial_index: int) -> bool:
    """The trial closes a try at the qualification: its result page comes next."""
    return study.qualification_enabled and is_attempt_end(
        playlist=playlist, trial_index=trial_index
    )


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    attempt: int
    playlist: list[dict]


def attempt_conclude(
    *, session: RatingSession, study: Study, playlist: list[dict], trial_index: int
) -> AttemptResult:
    """The result of the try that ``trial_index`` closed, and the playlist that follows.

    A failed try with tries left gets the training block again, right after this trial; the
    last failed try cuts the playlist here (its rating trials go back to the allocation).
    """
    attempt = entry_attempt(playlist[trial_index])
    failed = QualityCheck.objects.filter(
        session_id=session.pk,
        kind=QualityCheck.Kind.QUALIFICATION,
        attempt=attempt,
        passed=False,
    ).exists()
    if not failed:
        return AttemptResult(OUTCOME_PASSED, attempt, playlist)
    if attempt >= max(study.qualification_attempts, 1):
        return AttemptResult(OUTCOME_FAILED, attempt, playlist[: trial_index + 1])
    block = [
        {**entry, "attempt": attempt + 1}
        for entry in playlist
        if entry["kind"] == KIND_TRAINING and entry_attempt(entry) == attempt
    ]
    following = trial_index + 1
    return AttemptResult(
        OUTCOME_RETRY, attempt, playlist[:following] + block + playlist[following:]
    )


def is_past_max_duration(*, session: RatingSession, study: Study) -> bool:
    """The session has run longer than the study allows (and has not ended otherwise)."""
    if not study.max_duration_minutes or session.completed_at or session.released_at:
        return False
    limit = timedelta(minutes=study.max_duration_minutes)
    return timezone.now() - session.started_at > limit


def session_end_early(*, session_id: int, reason: str, keep: int | None = None) -> bool:
    """End an unfinished session: the playlist is cut after ``keep`` trials (default: the
    cursor), so its trials not rated go back to the allocation. False if it had ended."""
    with transaction.atomic():
        session = RatingSession.objects.select_for_update().get(pk=session_id)
        if session.completed_at is not None or session.released_at is not None:
            return False
        session.playlist = session.playlist[: session.cursor if keep is None else keep]
        session.released_at = timezone.now()
        session.ended_reason = reason
        session.save(update_fields=["playlist", "released_at", "ended_reason"])
        return True


def session_time_out_if_due(*, session: RatingSession, study: Study) -> bool:
    """End the session if it is past the study's maximum duration; True if it was ended."""
    if not is_past_max_duration(session=session, study=study):
        return False
    return session_end_early(session_id=session.pk, reason=RatingSession.Ended.MAX_DURATION)


def sessions_past_max_duration_end(*, study: Study) -> int:
    """End every unfinished session of the study past its maximum duration; how many."""
    if not study.max_duration_minutes:
        return 0
    since = timezone.now() - timedelta(minutes=study.max_duration_minutes)
    overdue = RatingSession.objects.filter(
        subject__study=study,
        completed_at__isnull=True,
        released_at__isnull=True,
        started_at__lt=since,
    ).values_list("id", flat=True)
    return sum(
        session_end_early(session_id=session_id, reason=RatingSession.Ended.MAX_DURATION)
        for session_id in list(overdue)
    )
