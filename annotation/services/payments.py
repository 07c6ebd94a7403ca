"""The payment and approval list of a crowd study: one row per recruited subject.

The researcher uploads it to the platform (or reads it while approving). It is the one
place the raw platform ID is read: the platform needs it to approve and pay, and nothing
else (exports, releases, the API, the admin) shows it.

The accept rule, documented in docs/researchers.md ("Running on Prolific / MTurk"):

- ``accept``: the session is complete and at most ``TOO_FAST_SHARE_MAX`` of its timed
  answers came faster than the study's too-fast threshold;
- ``review``: complete, but more answers than that were too fast (a bot or a clicker):
  look before rejecting; Prolific allows a rejection only for failed attention checks, which
  this site does not run yet, so nothing is rejected automatically;
- ``screened_out``: declined consent (sent back with the screened-out code: ask them to
  return the submission);
- ``timed_out``: the session was released after idling; ``incomplete``: still under way or
  never started.
"""

import csv
import io
from dataclasses import dataclass

from annotation.models import Study
from annotation.selectors.subject_reports import SubjectReport, subject_reports, subject_rows

TOO_FAST_SHARE_MAX = 0.5
PAYMENT_COLUMNS = (
    "pseudonym",
    "platform",
    "participant_id",
    "platform_session_id",
    "started_at",
    "finished_at",
    "minutes",
    "trials",
    "too_fast_share",
    "decision",
)


@dataclass(frozen=True)
class PaymentRow:
    report: SubjectReport
    decision: str

    def values(self) -> list[object]:
        subject = self.report.subject
        started, finished = self.report.started_at, self.report.finished_at
        minutes = (
            round((finished - started).total_seconds() / 60, 1) if started and finished else ""
        )
        share = self.report.too_fast_share
        return [
            subject.label,
            subject.platform,
            subject.platform_participant_id,
            subject.platform_session_id,
            started.isoformat() if started else "",
            finished.isoformat() if finished else "",
            minutes,
            self.report.trials,
            "" if share is None else round(share, 4),
            self.decision,
        ]


def accept_decision(report: SubjectReport) -> str:
    """The rule of the module's docstring, for one subject's report line."""
    subject = report.subject
    session = getattr(subject, "session", None)
    if subject.declined_at is not None:
        return "screened_out"
    if session is not None and session.released_at is not None:
        return "timed_out"
    if session is None or session.completed_at is None:
        return "incomplete"
    if (report.too_fast_share or 0) > TOO_FAST_SHARE_MAX:
        return "review"
    return "accept"


def payment_rows(*, study: Study) -> list[PaymentRow]:
    subjects = list(subject_rows(study=study).exclude(platform="").order_by("id"))
    return [
        PaymentRow(report, accept_decision(report))
        for report in subject_reports(study=study, subjects=subjects)
    ]


def payment_csv(*, study: Study) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PAYMENT_COLUMNS)
    for row in payment_rows(study=study):
        writer.writerow(row.values())
    return buffer.getvalue()
