"""Where a recruited subject leaves to: the platform's completion URL with the study's code.

A code is only ever worked out here, from server-side state: the done page asks for it once
the session is complete, the declined page for a subject who declined, the quota page for
an arrival refused at the quota. A page opened out of turn (a forged or replayed completion)
is sent back to the subject's stage by the subject pages and gets no code.
"""

from dataclasses import dataclass
from urllib.parse import quote

from annotation.models import Study, Subject

PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete?cc={code}"
MTURK_SUBMIT_PATH = "/mturk/externalSubmit"

EXIT_COMPLETED = "completed"
EXIT_SCREENED_OUT = "screened_out"
EXIT_QUOTA_FULL = "quota_full"
EXIT_QUALIFICATION_FAILED = "qualification_failed"
EXIT_TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class PlatformExit:
    """A code and how it goes back: a link (``url``), a form to post (MTurk), or neither."""

    code: str
    url: str = ""
    form_action: str = ""
    form_fields: tuple[tuple[str, str], ...] = ()

    @property
    def form_origin(self) -> str:
        """The host the page's CSP form-action must allow for the MTurk form."""
        return self.form_action.removesuffix(MTURK_SUBMIT_PATH)


def _exit_code(study: Study, kind: str, fallback: str) -> str:
    codes = {
        EXIT_COMPLETED: study.completion_code_crowd,
        EXIT_SCREENED_OUT: study.screened_out_code,
        EXIT_QUOTA_FULL: study.quota_full_code,
        EXIT_QUALIFICATION_FAILED: study.qualification_failed_code or study.screened_out_code,
        EXIT_TIMED_OUT: study.timed_out_code,
    }
    return codes[kind] or fallback


def _completion_url(study: Study, code: str) -> str:
    template = study.completion_url
    if not template and study.recruitment_platform == Study.Platform.PROLIFIC:
        template = PROLIFIC_COMPLETE_URL
    return template.replace("{code}", quote(code, safe="")) if template else ""


def platform_exit(
    *, study: Study, kind: str, subject: Subject | None = None, session_code: str = ""
) -> PlatformExit | None:
    """The way back to the platform for a subject ending as ``kind``; None for an invite.

    ``session_code`` (the session's own completion code) stands in where the study set no
    code of its own for ``kind``.
    """
    platform = subject.platform if subject is not None else study.recruitment_platform
    if not platform:
        return None
    code = _exit_code(study, kind, session_code)
    if platform == Study.Platform.MTURK and subject is not None and subject.platform_submit_to:
        if kind != EXIT_COMPLETED:
            # An MTurk worker who cannot finish returns the HIT; the code is for the record.
            return PlatformExit(code=code)
        return PlatformExit(
            code=code,
            form_action=subject.platform_submit_to + MTURK_SUBMIT_PATH,
            form_fields=(("assignmentId", subject.platform_session_id), ("completion_code", code)),
        )
    if not code:
        return None
    return PlatformExit(code=code, url=_completion_url(study, code))
