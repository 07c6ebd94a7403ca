"""The two gates of a crowd study, as the P.910 crowd toolkit has them, and the bonus rule.

*Accept* (the subject is paid) is decided per recruited subject, in this order:

- ``screened_out``: declined consent, or failed the qualification (sent back with the
  screened-out or qualification-failed code: ask them to return the submission);
- ``timed_out``: the session was released after idling or ran past the study's maximum
  duration (the timed-out code);
- ``incomplete``: still under way or never started;
- ``reject``: completed, but failed at least ``REJECT_FAILED_TRAPS`` traps in a session of
  more than ``REJECT_MIN_MINUTES`` minutes. This is Prolific's rule for attention checks
  (a rejection needs two failed checks, and only in a study over five minutes); it is
  applied on every platform, so one list reads the same everywhere;
- ``review``: completed, but one trap failed (or two in a shorter session), or more than
  ``TOO_FAST_SHARE_MAX`` of the timed answers came faster than the too-fast threshold
  (a bot or a clicker): look before deciding;
- ``accept``: completed, every trap passed, answers at a human pace.

*Use* (the ratings enter the analysis) is the existing screening: the latest finished
analysis's decision per subject (``kept`` / ``rejected``; blank before an analysis).

The suggested bonus: the study's ``bonus_amount`` for an accepted subject whose gold answers
were within the gold tolerance at least ``BONUS_GOLD_SHARE`` of the time (every accepted
subject where the session had no gold trial); nothing otherwise.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from annotation.models import RatingSession, Study

if TYPE_CHECKING:
    from annotation.selectors.subject_reports import SubjectReport

TOO_FAST_SHARE_MAX = 0.5
REJECT_FAILED_TRAPS = 2
REJECT_MIN_MINUTES = 5
BONUS_GOLD_SHARE = 0.8

ACCEPT = "accept"
REVIEW = "review"
REJECT = "reject"
SCREENED_OUT = "screened_out"
TIMED_OUT = "timed_out"
INCOMPLETE = "incomplete"


def _session_minutes(report: "SubjectReport") -> float:
    started, finished = report.started_at, report.finished_at
    return (finished - started).total_seconds() / 60 if started and finished else 0.0


def _unfinished_decision(report: "SubjectReport", study: Study, now: datetime) -> str:
    session = getattr(report.subject, "session", None)
    if session is None:
        return INCOMPLETE
    if session.ended_reason == RatingSession.Ended.QUALIFICATION:
        return SCREENED_OUT
    if session.released_at is not None:
        return TIMED_OUT
    limit = study.max_duration_minutes
    if limit and now - session.started_at > timedelta(minutes=limit):
        return TIMED_OUT
    return INCOMPLETE


def accept_decision(report: "SubjectReport", *, study: Study, now: datetime) -> str:
    """The accept gate of the module's docstring, for one subject's report line."""
    if report.subject.declined_at is not None:
        return SCREENED_OUT
    if report.finished_at is None:
        return _unfinished_decision(report, study, now)
    failed = report.checks.traps_failed
    if failed >= REJECT_FAILED_TRAPS and _session_minutes(report) > REJECT_MIN_MINUTES:
        return REJECT
    if failed or (report.too_fast_share or 0) > TOO_FAST_SHARE_MAX:
        return REVIEW
    return ACCEPT


def suggested_bonus(report: "SubjectReport", *, study: Study, decision: str) -> Decimal:
    """The bonus rule of the module's docstring."""
    amount = Decimal(study.bonus_amount or 0)
    if decision != ACCEPT or not amount:
        return Decimal("0.00")
    checks = report.checks
    answered = checks.gold_passed + checks.gold_failed
    if answered and checks.gold_passed / answered < BONUS_GOLD_SHARE:
        return Decimal("0.00")
    return amount.quantize(Decimal("0.01"))
