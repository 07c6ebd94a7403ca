"""Reads for the subjects table and the per-subject report, aggregated by the database.

A subject's state and progress come from one query over subjects and sessions (the
playlist's length is computed by the database; the playlist itself is never loaded). The
report's timing figures are one aggregate over the ratings of the subjects shown, counting
one rating row per trial (the study's first dimension: a trial stores one row per
dimension, all with the trial's response time). A pairwise study counts its choices the
same way (training and gold pairs left out); its repeats report the share of swapped
repeats where the same image won, its gold the share of gold pairs passed.
"""

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from annotation.models import (
    AnalysisRun,
    PairwiseChoice,
    Rating,
    SessionHourTally,
    Stimulus,
    Study,
    Subject,
)
from annotation.selectors.crowd_gates import accept_decision, suggested_bonus
from annotation.selectors.quality import CheckCounts, check_counts
from core.params import text_param

DEFAULT_PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 200)
# Answers faster than this are "too fast" unless the study sets its own threshold.
DEFAULT_TOO_FAST_MS = 1000
# A gold answer within this fraction of the scale's range of the known score is correct.
GOLD_TOLERANCE_FRACTION = 0.15
SUBJECT_STATES = ("not_started", "in_progress", "completed", "declined")
SUBJECT_SORTS = {
    "label": ("label", "id"),
    "state": ("state_order", "id"),
    "started": ("session__started_at", "id"),
    "finished": ("session__completed_at", "id"),
    "done": ("trials_done", "id"),
}


def too_fast_threshold_ms(*, study: Study) -> int:
    """The response time below which an answer counts as too fast, for this study.

    The study's own setting where the model has one (``too_fast_ms``; 0 means never), else
    the default.
    """
    own = getattr(study, "too_fast_ms", None)
    return DEFAULT_TOO_FAST_MS if own is None else int(own)


class JsonArrayLength(Func):
    """Length of a JSON array column, computed by the database (the array is not loaded)."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="jsonb_array_length", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="json_array_length", **extra)


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5) WITHIN GROUP (ORDER BY x)``."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass(frozen=True)
class SubjectQuery:
    search: str = ""
    state: str = ""
    sort: str = "label"


def subject_query_from(params) -> SubjectQuery:
    sort = params.get("sort", "label") or "label"
    state = params.get("state", "")
    return SubjectQuery(
        search=text_param(params, "q", 100),
        state=state if state in SUBJECT_STATES else "",
        sort=sort if sort.lstrip("-") in SUBJECT_SORTS else "label",
    )


def subject_progress_annotate(subjects: QuerySet[Subject]) -> QuerySet[Subject]:
    """``subjects`` with their session joined (its playlist left in the database) and
    ``state``, ``state_order``, ``trials_done`` and ``trials_total`` annotated."""
    # A finished session's cursor is its playlist's length, so only sessions under way
    # read their playlist (about 1 MB each at 20,000 trials) to measure it.
    total = Case(
        When(session__completed_at__isnull=False, then=F("session__cursor")),
        default=Coalesce(JsonArrayLength("session__playlist"), Value(0)),
        output_field=IntegerField(),
    )
    state = Case(
        When(declined_at__isnull=False, then=Value("declined")),
        When(session__id__isnull=True, then=Value("not_started")),
        When(session__completed_at__isnull=False, then=Value("completed")),
        default=Value("in_progress"),
    )
    return (
        subjects.select_related("session")
        .defer("session__playlist", "demographics")
        .annotate(
            trials_total=total,
            state=state,
            state_order=Case(
                *[When(state=Value(s), then=Value(i)) for i, s in enumerate(SUBJECT_STATES)],
                output_field=IntegerField(),
            ),
            trials_done=Case(
                When(session__completed_at__isnull=False, then=total),
                default=Least(Coalesce(F("session__cursor"), Value(0)), total),
                output_field=IntegerField(),
            ),
        )
    )


def subject_rows(*, study: Study) -> QuerySet[Subject]:
    """The study's subjects, annotated by :func:`subject_progress_annotate`."""
    return subject_progress_annotate(study.subjects.all())


def subject_list_filtered(*, study: Study, query: SubjectQuery) -> QuerySet[Subject]:
    """Subjects matching the search (label or completion code) and state, sorted."""
    subjects = subject_rows(study=study)
    if query.search:
        subjects = subjects.filter(
            Q(label__icontains=query.search) | Q(session__completion_code__iexact=query.search)
        )
    if query.state:
        subjects = subjects.filter(state=query.state)
    order = SUBJECT_SORTS[query.sort.lstrip("-")]
    if query.sort.startswith("-"):
        order = tuple(f"-{column}" for column in order)
    return subjects.order_by(*order)


def subject_page(
    *, study: Study, query: SubjectQuery, page: str | int | None, page_size: int
) -> Page:
    page_size = page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    return Paginator(subject_list_filtered(study=study, query=query), page_size).get_page(page)


def subject_state_counts(*, study: Study) -> dict[str, int]:
    """Subjects per state, counted by the database."""
    rows = subject_rows(study=study).order_by().values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


# --- The per-subject report ------------------------------------------------------------


@dataclass
class SubjectReport:
    """One subject's line in the report; times in milliseconds, shares in 0..1."""

    subject: Subject
    trials: int = 0
    median_ms: float | None = None
    fastest_ms: int | None = None
    too_fast_share: float | None = None
    repeat_pairs: int = 0
    repeat_mean_abs_diff: float | None = None
    # Pairwise: the share of repeated pairs (sides swapped) where the same image won.
    repeat_agreement: float | None = None
    gold_answers: int = 0
    gold_mean_abs_error: float | None = None
    gold_accuracy: float | None = None
    screening: str = ""  # "kept", "rejected", or "" (not in the latest analysis)
    screening_reason: str = ""
    checks: CheckCounts = field(default_factory=CheckCounts)
    # The crowd gates (annotation.selectors.crowd_gates); blank for invited subjects.
    accept: str = ""
    bonus: Decimal | None = None
    extra: dict = field(default_factory=dict)

    @property
    def qualification(self) -> str:
        """ "passed", "failed", "in_progress", or "" when the session had no qualification."""
        if not self.checks.qualification_trials:
            return ""
        session = getattr(self.subject, "session", None)
        if session is not None and session.ended_reason == "qualification":
            return "failed"
        return "passed" if self.trials or self.finished_at else "in_progress"

    @property
    def state(self) -> str:
        return self.subject.state  # type: ignore[attr-defined]

    @property
    def completion_code(self) -> str:
        session = getattr(self.subject, "session", None)
        return session.completion_code if session else ""

    @property
    def started_at(self) -> datetime | None:
        session = getattr(self.subject, "session", None)
        return session.started_at if session else None

    @property
    def finished_at(self) -> datetime | None:
        session = getattr(self.subject, "session", None)
        return session.completed_at if session else None


def _session_ids(subjects: list[Subject]) -> list[int]:
    return [s.session.pk for s in subjects if getattr(s, "session", None) is not None]


def trial_ratings(*, study: Study) -> QuerySet[Rating]:
    """One rating row per non-training trial of the study: those on its first dimension
    (every dimension of a trial is stored with the same time and response time)."""
    first = study.dimensions.order_by("order", "id").values_list("id", flat=True).first()
    # A literal id, not a subquery, so that the planner uses the trial-times index.
    return Rating.objects.filter(dimension_id=first or 0, is_training=False).order_by()


def trials_per_hour(*, study: Study) -> list[dict]:
    """Rated trials per hour (UTC): [{"hour": datetime, "n": count}], summed from the
    sessions' hour tallies (kept by the rating table's triggers), a few rows per session."""
    return list(
        SessionHourTally.objects.filter(session__subject__study=study)
        .values("hour")
        .annotate(n=Sum("trials"))
        .filter(n__gt=0)
        .order_by("hour")
    )


def _timing_rows(*, study: Study, session_ids: list[int], too_fast_ms: int) -> dict[int, dict]:
    """Per session: trials, median and fastest response time, share under ``too_fast_ms``
    (a pairwise study's choices, training and gold left out, or its ratings)."""
    trials: QuerySet
    if study.scale_type == Study.ScaleType.PAIRWISE:
        trials = _pair_rows(study=study, session_ids=session_ids).filter(
            stage=PairwiseChoice.Stage.NORMAL
        )
    else:
        trials = trial_ratings(study=study).filter(session_id__in=session_ids)
    timed = Q(response_time_ms__isnull=False)
    aggregates = {
        "trials": Count("*"),
        "timed": Count("response_time_ms"),
        "fastest": Min("response_time_ms"),
        "too_fast": Count("response_time_ms", filter=Q(response_time_ms__lt=too_fast_ms)),
    }
    if connection.vendor == "postgresql":
        aggregates["median"] = Median("response_time_ms")
    rows = {row["session"]: row for row in trials.values("session").annotate(**aggregates)}
    if connection.vendor != "postgresql":  # SQLite (the demo) has no percentile aggregate
        times: dict[int, list[int]] = {}
        for session, ms in trials.filter(timed).values_list("session", "response_time_ms"):
            times.setdefault(session, []).append(ms)
        for session, row in rows.items():
            row["median"] = float(statistics.median(times[session])) if session in times else None
    return rows


def _pair_rows(*, study: Study, session_ids: list[int]) -> QuerySet[PairwiseChoice]:
    """A pairwise study's choices of the sessions, one row per trial (its first dimension)."""
    first = study.dimensions.order_by("order", "id").values_list("id", flat=True).first()
    return PairwiseChoice.objects.filter(
        session_id__in=session_ids, dimension_id=first or 0
    ).order_by()


def _pair_repeat_rows(*, study: Study, session_ids: list[int]) -> dict[int, tuple[int, float]]:
    """Per session: (repeated pairs, share where the same image won both times) over every
    dimension; a repeat shows the pair with its sides swapped, so the shown sides differ."""
    rows = PairwiseChoice.objects.filter(
        session_id__in=session_ids, stage=PairwiseChoice.Stage.NORMAL
    ).order_by("trial_index")
    firsts: dict[tuple[int, int, frozenset[int]], int | None] = {}
    agreements: dict[int, list[bool]] = {}
    for session, dimension, left, right, choice, is_repeat in rows.values_list(
        "session_id", "dimension_id", "left_id", "right_id", "choice", "is_repeat"
    ):
        winner = {"left": left, "right": right}.get(choice)
        key = (session, dimension, frozenset((left, right)))
        if not is_repeat:
            firsts.setdefault(key, winner)
        elif key in firsts:
            agreements.setdefault(session, []).append(firsts[key] == winner)
    return {s: (len(a), sum(a) / len(a)) for s, a in agreements.items()}


def _pair_gold_rows(*, session_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per session: (gold pairs passed, failed); a pair passes when every dimension's
    choice is the expected side."""
    trials: dict[tuple[int, int], bool] = {}
    for session, trial, choice, expected in (
        PairwiseChoice.objects.filter(session_id__in=session_ids, stage=PairwiseChoice.Stage.GOLD)
        .order_by()
        .values_list("session_id", "trial_index", "choice", "expected")
    ):
        trials[(session, trial)] = trials.get((session, trial), True) and choice == expected
    counts: dict[int, tuple[int, int]] = {}
    for (session, _trial), passed in trials.items():
        done, failed = counts.get(session, (0, 0))
        counts[session] = (done + passed, failed + (not passed))
    return counts


def _repeat_rows(*, session_ids: list[int]) -> dict[int, tuple[int, float]]:
    """Per session: (pairs, mean |repeat - first showing|) over every dimension."""
    repeats = list(
        Rating.objects.filter(session_id__in=session_ids, is_repeat=True, is_training=False)
        .order_by()
        .values_list("session_id", "stimulus_id", "dimension_id", "score")
    )
    if not repeats:
        return {}
    firsts = {
        (session, stimulus, dimension): score
        for session, stimulus, dimension, score in Rating.objects.filter(
            session_id__in={r[0] for r in repeats},
            stimulus_id__in={r[1] for r in repeats},
            is_repeat=False,
            is_training=False,
        ).values_list("session_id", "stimulus_id", "dimension_id", "score")
    }
    diffs: dict[int, list[float]] = {}
    for session, stimulus, dimension, score in repeats:
        first = firsts.get((session, stimulus, dimension))
        if first is not None:
            diffs.setdefault(session, []).append(abs(score - first))
    return {s: (len(d), sum(d) / len(d)) for s, d in diffs.items()}


def _gold_rows(*, study: Study, session_ids: list[int]) -> dict[int, tuple[int, float, float]]:
    """Per session: (gold answers, mean |score - expected|, share within the tolerance)."""
    expected = {
        pk: scores
        for pk, scores in study.stimuli.filter(role=Stimulus.Role.GOLD).values_list(
            "id", "expected_scores"
        )
        if scores
    }
    if not expected:
        return {}
    keys = dict(study.dimensions.values_list("id", "key"))
    tolerance = GOLD_TOLERANCE_FRACTION * (study.scale_max - study.scale_min)
    errors: dict[int, list[float]] = {}
    for session, stimulus, dimension, score in (
        Rating.objects.filter(session_id__in=session_ids, stimulus_id__in=list(expected))
        .order_by()
        .values_list("session_id", "stimulus_id", "dimension_id", "score")
    ):
        known = expected[stimulus].get(keys.get(dimension, ""))
        if known is not None:
            errors.setdefault(session, []).append(abs(score - float(known)))
    return {
        s: (len(e), sum(e) / len(e), sum(1 for v in e if v <= tolerance) / len(e))
        for s, e in errors.items()
    }


def screening_decisions(*, study: Study) -> dict[str, tuple[str, str]]:
    """Per subject label: ("kept" | "rejected", reason) from the latest finished analysis."""
    run = (
        study.analysis_runs.filter(kind=AnalysisRun.Kind.ANALYSIS, status=AnalysisRun.Status.DONE)
        .only("id", "summary")
        .order_by("-finished_at", "-id")
        .first()
    )
    if run is None:
        return {}
    decisions: dict[str, tuple[str, list[str]]] = {}
    for row, fallback in _screening_rows(run.summary):
        label = str(row.get("subject"))
        state, reasons = decisions.get(label, ("kept", []))
        if row.get("rejected"):
            where = f"{row.get('dimension')}: " if row.get("dimension") else ""
            reasons.append(f"{where}{row.get('reason') or row.get('reasons') or fallback}")
            state = "rejected"
        decisions[label] = (state, reasons)
    return {label: (state, "; ".join(reasons)) for label, (state, reasons) in decisions.items()}


def _screening_rows(summary: dict) -> Iterator[tuple[dict, str]]:
    """(subject row, method name) of a run's screening: a ratings run lists rows per
    method; a pairwise run has one row per (dimension, subject) with its ``reasons``."""
    if summary.get("kind") == "pairwise":
        subjects = summary.get("subjects", {})
        columns = subjects.get("columns", [])
        # A subject flagged but scaled all the same (keep_rejected) was kept by the run.
        excluded = {str(label) for label in summary.get("excluded_subjects", [])}
        for values in subjects.get("rows", []):
            row = dict(zip(columns, values, strict=True))
            row["rejected"] = bool(row.get("rejected")) and str(row.get("subject")) in excluded
            yield row, "pairwise screening"
        return
    for method in summary.get("screening", []):
        for row in method.get("rows", []):
            yield row, str(method.get("method"))


def subject_reports(*, study: Study, subjects: list[Subject]) -> list[SubjectReport]:
    """The report lines of ``subjects`` (rows of :func:`subject_rows`), a fixed number of
    queries whatever their number."""
    session_ids = _session_ids(subjects)
    timing = _timing_rows(
        study=study, session_ids=session_ids, too_fast_ms=too_fast_threshold_ms(study=study)
    )
    pairwise = study.scale_type == Study.ScaleType.PAIRWISE
    repeats = _repeat_rows(session_ids=session_ids) if study.repeats_per_session else {}
    gold = _gold_rows(study=study, session_ids=session_ids)
    pair_repeats = _pair_repeat_rows(study=study, session_ids=session_ids) if pairwise else {}
    pair_gold = _pair_gold_rows(session_ids=session_ids) if pairwise else {}
    decisions = screening_decisions(study=study)
    checks = check_counts(session_ids=session_ids)
    now = timezone.now()
    reports = []
    for subject in subjects:
        report = SubjectReport(subject=subject)
        session = getattr(subject, "session", None)
        row = timing.get(session.pk) if session else None
        if row:
            report.trials = row["trials"]
            report.median_ms = row["median"]
            report.fastest_ms = row["fastest"]
            report.too_fast_share = row["too_fast"] / row["timed"] if row["timed"] else None
        if session and session.pk in repeats:
            report.repeat_pairs, report.repeat_mean_abs_diff = repeats[session.pk]
        if session and session.pk in gold:
            report.gold_answers, report.gold_mean_abs_error, report.gold_accuracy = gold[session.pk]
        if session and session.pk in pair_repeats:
            report.repeat_pairs, report.repeat_agreement = pair_repeats[session.pk]
        if session and session.pk in pair_gold:
            passed, failed = pair_gold[session.pk]
            report.gold_answers, report.gold_accuracy = passed + failed, passed / (passed + failed)
            # Counted as gold checks, so the crowd gates' gold rule reads them as ACR gold.
            checks.setdefault(session.pk, CheckCounts())
            checks[session.pk] = replace(checks[session.pk], gold_passed=passed, gold_failed=failed)
        report.screening, report.screening_reason = decisions.get(subject.label, ("", ""))
        if session and session.pk in checks:
            report.checks = checks[session.pk]
        if subject.platform:
            report.accept = accept_decision(report, study=study, now=now)
            report.bonus = suggested_bonus(report, study=study, decision=report.accept)
        reports.append(report)
    return reports
