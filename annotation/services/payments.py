"""The payment and approval list of a crowd study: one row per recruited subject.

The researcher uploads it to the platform (or reads it while approving). It is the one
place the raw platform ID is read: the platform needs it to approve and pay, and nothing
else (exports, releases, the API, the admin) shows it.

The ``decision`` column is the *accept* gate and ``use`` the *use* gate; both, and the
``suggested_bonus`` rule, are documented in :mod:`annotation.selectors.crowd_gates` and
docs/researchers.md ("Quality gates").
"""

import csv
import io
from dataclasses import dataclass

from annotation.models import Study
from annotation.selectors.subject_reports import SubjectReport, subject_reports, subject_rows

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
    "qualification",
    "traps_passed",
    "traps_failed",
    "gold_passed",
    "gold_failed",
    "decision",
    "use",
    "suggested_bonus",
)


@dataclass(frozen=True)
class PaymentRow:
    report: SubjectReport

    @property
    def decision(self) -> str:
        return self.report.accept

    def values(self) -> list[object]:
        report = self.report
        subject = report.subject
        started, finished = report.started_at, report.finished_at
        minutes = (
            round((finished - started).total_seconds() / 60, 1) if started and finished else ""
        )
        share = report.too_fast_share
        checks = report.checks
        return [
            subject.label,
            subject.platform,
            subject.platform_participant_id,
            subject.platform_session_id,
            started.isoformat() if started else "",
            finished.isoformat() if finished else "",
            minutes,
            report.trials,
            "" if share is None else round(share, 4),
            report.qualification,
            checks.traps_passed,
            checks.traps_failed,
            checks.gold_passed,
            checks.gold_failed,
            report.accept,
            report.screening,
            report.bonus if report.bonus is not None else "",
        ]


def payment_rows(*, study: Study) -> list[PaymentRow]:
    subjects = list(subject_rows(study=study).exclude(platform="").order_by("id"))
    return [PaymentRow(report) for report in subject_reports(study=study, subjects=subjects)]


def payment_csv(*, study: Study) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PAYMENT_COLUMNS)
    for row in payment_rows(study=study):
        writer.writerow(row.values())
    return buffer.getvalue()
