"""A study's public recruitment link for crowd platforms (Prolific, MTurk, another panel).

The platform opens ``/r/<key>/`` with its own URL parameters. The first arrival of a
participant makes a subject through the ordinary invite service, so consent, instructions,
the display check and the trials run unchanged on ``/s/<token>/``. The participant is found
again by a keyed hash of their platform ID (HMAC with SECRET_KEY): the same ID returning
resumes the same subject and session, with a fresh link (the old one stops working), and
never gets a second subject. A browser that already took part (a signed cookie) cannot
start again under another ID. Nothing here calls the platform: labs are often behind a
firewall, and the platforms work through URLs and uploaded CSVs.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import RatingSession, Study, Subject
from annotation.selectors.recruitment import (
    idle_recruited_sessions,
    recruited_completed_count,
    recruited_subject,
)
from annotation.services.subjects import subject_invite_create, subject_labels_free
from annotation.tokens import new_invite_token, token_hash

# MTurk's preview of a HIT: the worker has not accepted it, so nothing may be created.
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
# turkSubmitTo may only send the subject (and the form) back to MTurk itself.
MTURK_HOSTS = ("www.mturk.com", "workersandbox.mturk.com")
_ID_PATTERN = re.compile(r"^[A-Za-z0-9._@:-]{1,100}$")
LABEL_PREFIX = {
    Study.Platform.PROLIFIC: "PRO",
    Study.Platform.MTURK: "MT",
    Study.Platform.GENERIC: "P",
}

OUTCOME_PREVIEW = "preview"
OUTCOME_CLOSED = "closed"
OUTCOME_QUOTA_FULL = "quota_full"
OUTCOME_OTHER_BROWSER = "other_browser"
OUTCOME_STARTED = "started"
OUTCOME_RESUMED = "resumed"
OUTCOME_THROTTLED = "throttled"


class ArrivalInvalid(ValidationError):
    """The link was opened without a usable participant ID; the message is for the subject."""


@dataclass(frozen=True)
class Arrival:
    """What the platform's URL parameters say about who arrived."""

    platform: str
    participant_id: str = ""
    session_id: str = ""
    submit_to: str = ""
    preview: bool = False


@dataclass(frozen=True)
class ArrivalOutcome:
    """Where an arrival goes: ``token`` (the subject's link) for started and resumed."""

    kind: str
    subject: Subject | None = None
    token: str = ""


def platform_id_hash(*, study: Study, participant_id: str) -> str:
    """The participant's keyed pseudonym: without SECRET_KEY it cannot be matched to an ID."""
    message = f"recruit:{study.pk}:{participant_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _clean_id(value: str | None, name: str) -> str:
    value = (value or "").strip()
    if not _ID_PATTERN.match(value):
        raise ArrivalInvalid(
            _(
                "The link did not carry a valid %(name)s. Please open the study again from "
                "the platform's page."
            )
            % {"name": name}
        )
    return value


def _submit_to_checked(value: str) -> str:
    """turkSubmitTo as an https origin of MTurk itself, so the link cannot redirect elsewhere."""
    parts = urlsplit(value or "")
    if parts.scheme != "https" or parts.hostname not in MTURK_HOSTS:
        raise ArrivalInvalid(_("The link did not come from Amazon Mechanical Turk."))
    return f"https://{parts.hostname}"


def arrival_from_params(*, study: Study, params: Mapping[str, str]) -> Arrival:
    """The arrival described by the platform's URL parameters, for this study's platform."""
    platform = study.recruitment_platform
    if platform == Study.Platform.PROLIFIC:
        return Arrival(
            platform=platform,
            participant_id=_clean_id(params.get("PROLIFIC_PID"), _("Prolific ID")),
            session_id=_clean_id(params["SESSION_ID"], _("session ID"))
            if params.get("SESSION_ID")
            else "",
        )
    if platform == Study.Platform.MTURK:
        if params.get("assignmentId") == MTURK_PREVIEW:
            return Arrival(platform=platform, preview=True)
        return Arrival(
            platform=platform,
            participant_id=_clean_id(params.get("workerId"), _("worker ID")),
            session_id=_clean_id(params.get("assignmentId"), _("assignment ID")),
            submit_to=_submit_to_checked(params.get("turkSubmitTo", "")),
        )
    return Arrival(
        platform=platform,
        participant_id=_clean_id(
            params.get(study.participant_param or "participant"), _("participant ID")
        ),
    )


def _quota_reached(study: Study) -> bool:
    return bool(study.quota_completed) and (
        recruited_completed_count(study=study) >= study.quota_completed
    )


def _subject_link_renewed(subject: Subject) -> str:
    """A fresh token for a returning subject: the same session, a link only this browser has."""
    token = new_invite_token()
    Subject.objects.filter(pk=subject.pk).update(token_hash=token_hash(token))
    return token


def _subject_recruit(*, study: Study, arrival: Arrival, id_hash: str) -> tuple[Subject, str]:
    prefix = LABEL_PREFIX.get(arrival.platform, "P")
    (label,) = subject_labels_free(study=study, count=1, prefix=prefix)
    subject, token = subject_invite_create(study=study, label=label)
    Subject.objects.filter(pk=subject.pk).update(
        platform=arrival.platform,
        platform_id_hash=id_hash,
        platform_participant_id=arrival.participant_id,
        platform_session_id=arrival.session_id,
        platform_submit_to=arrival.submit_to,
    )
    subject.refresh_from_db()
    return subject, token


def recruitment_arrive(
    *,
    study: Study,
    arrival: Arrival,
    browser_subject_id: int | None,
    starts_allowed: bool = True,
) -> ArrivalOutcome:
    """Make, resume or refuse a participant arriving through the study's link.

    ``browser_subject_id`` is the subject this browser took part as (its signed cookie);
    ``starts_allowed`` False (the arrival's address started too many) refuses a new
    participant but still lets a returning one resume.
    """
    if arrival.preview:
        return ArrivalOutcome(OUTCOME_PREVIEW)
    with transaction.atomic():
        # The study row is the lock (as for session starts): two arrivals of one ID, or the
        # last places of a quota, are decided one at a time.
        study = Study.objects.select_for_update().get(pk=study.pk)
        id_hash = platform_id_hash(study=study, participant_id=arrival.participant_id)
        subject = recruited_subject(study=study, id_hash=id_hash)
        if browser_subject_id is not None and (subject is None or subject.pk != browser_subject_id):
            return ArrivalOutcome(OUTCOME_OTHER_BROWSER)
        if subject is not None:
            return ArrivalOutcome(OUTCOME_RESUMED, subject, _subject_link_renewed(subject))
        if study.status != Study.Status.OPEN:
            return ArrivalOutcome(OUTCOME_CLOSED)
        idle_sessions_release(study=study)
        if _quota_reached(study):
            return ArrivalOutcome(OUTCOME_QUOTA_FULL)
        if not starts_allowed:
            return ArrivalOutcome(OUTCOME_THROTTLED)
        subject, token = _subject_recruit(study=study, arrival=arrival, id_hash=id_hash)
        return ArrivalOutcome(OUTCOME_STARTED, subject, token)


def idle_sessions_release(*, study: Study) -> int:
    """Release recruited sessions idle past the study's limit; returns how many.

    The playlist is cut at the cursor: both allocations count what playlists still hold
    (balanced: every entry handed out; adaptive: the entries ahead of the cursor), so the
    trials not rated go back to the allocation and the next session started gets them.
    """
    if not study.idle_release_minutes:
        return 0
    since = timezone.now() - timedelta(minutes=study.idle_release_minutes)
    released = 0
    for session_id in idle_recruited_sessions(study=study, since=since):
        with transaction.atomic():
            session = RatingSession.objects.select_for_update().get(pk=session_id)
            if session.completed_at is not None or session.released_at is not None:
                continue
            session.playlist = session.playlist[: session.cursor]
            session.released_at = timezone.now()
            session.save(update_fields=["playlist", "released_at"])
            released += 1
    return released


def recruitment_link_enable(*, study: Study, platform: str) -> Study:
    """Switch the study's link on for ``platform`` (a key is made once and kept)."""
    if platform not in Study.Platform.values:
        raise ValidationError(f"Unknown platform {platform!r}.")
    study.recruitment_platform = platform
    if platform and not study.recruitment_key:
        study.recruitment_key = secrets.token_urlsafe(24)
    if platform and not study.completion_code_crowd:
        study.completion_code_crowd = _code_new()
    study.save(update_fields=["recruitment_platform", "recruitment_key", "completion_code_crowd"])
    return study


def _code_new() -> str:
    return secrets.token_hex(4).upper()


@dataclass(frozen=True)
class RecruitmentLinks:
    """What the researcher pastes into the platform, for the study's platform."""

    study_url: str
    external_question: str = ""


def recruitment_links(*, study: Study, link: str) -> RecruitmentLinks:
    """``link`` is the absolute /r/<key>/ address; the platform fills in its placeholders."""
    if study.recruitment_platform == Study.Platform.PROLIFIC:
        query = (
            "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
        )
        return RecruitmentLinks(f"{link}?{query}")
    if study.recruitment_platform == Study.Platform.MTURK:
        # MTurk appends workerId, assignmentId, hitId and turkSubmitTo itself.
        question = (
            '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
            'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
            f"<ExternalURL>{link}</ExternalURL><FrameHeight>0</FrameHeight></ExternalQuestion>"
        )
        return RecruitmentLinks(link, question)
    return RecruitmentLinks(f"{link}?{study.participant_param or 'participant'}=PARTICIPANT_ID")


RECRUITMENT_FIELDS = (
    "recruitment_platform",
    "participant_param",
    "completion_url",
    "completion_code_crowd",
    "screened_out_code",
    "quota_full_code",
    "quota_completed",
    "idle_release_minutes",
    "max_duration_minutes",
    "timed_out_code",
    "qualification_enabled",
    "qualification_tolerance",
    "qualification_attempts",
    "qualification_failed_code",
    "trap_every",
    "gold_every",
    "bonus_amount",
)


@transaction.atomic
def recruitment_settings_update(*, study: Study, **fields) -> Study:
    """Change the recruitment settings; switching a platform on makes the link's key."""
    unknown = set(fields) - set(RECRUITMENT_FIELDS)
    if unknown:
        raise ValidationError(f"Not recruitment settings: {', '.join(sorted(unknown))}.")
    if fields.get("qualification_attempts", 1) < 1:
        raise ValidationError("A qualification needs at least one try.")
    url = fields.get("completion_url", study.completion_url)
    if url and not url.startswith("https://"):
        raise ValidationError("The completion URL must start with https://.")
    for name, value in fields.items():
        setattr(study, name, value)
    study.save()
    return recruitment_link_enable(study=study, platform=study.recruitment_platform)
