"""Reads of a session's quality checks: the qualification result page and the report's counts."""

from dataclasses import dataclass

from django.db.models import Count, Max, Q

from annotation.models import QualityCheck, Rating, RatingSession, Stimulus
from annotation.selectors.subject import DimensionView


@dataclass(frozen=True)
class QualificationTrial:
    number: int
    stimulus_id: int
    passed: bool
    # (dimension label, your answer, the expected score), in the study's dimension order.
    answers: tuple[tuple[str, float | None, float | None], ...]


@dataclass(frozen=True)
class QualificationResult:
    attempt: int
    attempts: int
    passed: bool
    trials: tuple[QualificationTrial, ...]

    @property
    def attempts_left(self) -> int:
        return max(self.attempts - self.attempt, 0)


def qualification_result(
    *, session: RatingSession, attempts: int, dimensions: tuple[DimensionView, ...]
) -> QualificationResult | None:
    """The latest finished try at the qualification, trial by trial; None before the first."""
    checks = list(
        QualityCheck.objects.filter(session=session, kind=QualityCheck.Kind.QUALIFICATION)
        .order_by("trial_index")
        .values_list("attempt", "trial_index", "stimulus_id", "passed")
    )
    if not checks:
        return None
    attempt = max(row[0] for row in checks)
    latest = [row for row in checks if row[0] == attempt]
    scores: dict[tuple[int, int], float] = {
        (trial, dimension): score
        for trial, dimension, score in Rating.objects.filter(
            session=session, trial_index__in=[row[1] for row in latest]
        ).values_list("trial_index", "dimension_id", "score")
    }
    expected = dict(
        Stimulus.objects.filter(pk__in={row[2] for row in latest}).values_list(
            "id", "expected_scores"
        )
    )
    trials = tuple(
        QualificationTrial(
            number=number,
            stimulus_id=stimulus_id,
            passed=passed,
            answers=tuple(
                (d.label, scores.get((trial, d.id)), (expected.get(stimulus_id) or {}).get(d.key))
                for d in dimensions
            ),
        )
        for number, (_attempt, trial, stimulus_id, passed) in enumerate(latest, start=1)
    )
    return QualificationResult(
        attempt=attempt,
        attempts=max(attempts, 1),
        passed=all(trial.passed for trial in trials),
        trials=trials,
    )


@dataclass(frozen=True)
class CheckCounts:
    """One session's quality checks: trap and gold trials passed and failed, and how many
    qualification trials it answered over how many tries."""

    traps_passed: int = 0
    traps_failed: int = 0
    gold_passed: int = 0
    gold_failed: int = 0
    qualification_trials: int = 0
    qualification_attempts: int = 0


def check_counts(*, session_ids: list[int]) -> dict[int, CheckCounts]:
    """Per session, counted by the database in one query."""
    kind = QualityCheck.Kind
    rows = (
        QualityCheck.objects.filter(session_id__in=session_ids)
        .order_by()
        .values("session_id")
        .annotate(
            traps_passed=Count("id", filter=Q(kind=kind.TRAP, passed=True)),
            traps_failed=Count("id", filter=Q(kind=kind.TRAP, passed=False)),
            gold_passed=Count("id", filter=Q(kind=kind.GOLD, passed=True)),
            gold_failed=Count("id", filter=Q(kind=kind.GOLD, passed=False)),
            qualification_trials=Count("id", filter=Q(kind=kind.QUALIFICATION)),
            qualification_attempts=Max("attempt", filter=Q(kind=kind.QUALIFICATION)),
        )
    )
    counts = {}
    for row in rows:
        session_id = row.pop("session_id")
        row["qualification_attempts"] = row["qualification_attempts"] or 0
        counts[session_id] = CheckCounts(**row)
    return counts
