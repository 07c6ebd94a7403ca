"""The public recruitment link, /r/<key>/: crowd platforms send their participants here.

Thin: `annotation.services.recruitment` decides who the arrival is; this view only reads
the browser's cookie, shows the page for the outcome and sends the subject on to their
ordinary /s/<token>/ pages.
"""

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from annotation.models import Study
from annotation.selectors.recruitment import study_for_recruitment_key
from annotation.selectors.research import invite_path
from annotation.services.crowd_exits import EXIT_QUOTA_FULL, platform_exit
from annotation.services.recruitment import (
    MTURK_HOSTS,
    OUTCOME_PREVIEW,
    OUTCOME_QUOTA_FULL,
    OUTCOME_RESUMED,
    OUTCOME_STARTED,
    OUTCOME_THROTTLED,
    ArrivalInvalid,
    arrival_from_params,
    recruitment_arrive,
)
from core.http import client_ip
from core.throttle import failure_record, failures_exceeded

TEMPLATES = "annotation/subject/"
COOKIE_SALT = "annotation.recruitment"
COOKIE_MAX_AGE_S = 60 * 60 * 24 * 60
# Starts of new participants per address (core.throttle's fixed window, counting starts).
START_SCOPE = "recruit-start"
REFUSED_STATUS = {"quota_full": 200, "closed": 403, "other_browser": 403, "invalid": 400}


def _cookie_name(study: Study) -> str:
    return f"took-part-{study.pk}"


def _browser_subject_id(request: HttpRequest, study: Study) -> int | None:
    try:
        value = request.get_signed_cookie(_cookie_name(study), salt=COOKIE_SALT)
    except (KeyError, signing.BadSignature):
        return None
    return int(value) if value.isdigit() else None


def _remember_browser(response: HttpResponse, request: HttpRequest, study: Study, subject_id: int):
    # SameSite=None where the page may be framed by MTurk (it needs https); else Lax.
    secure = request.is_secure()
    response.set_signed_cookie(
        _cookie_name(study),
        str(subject_id),
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )


def _framable_by_mturk(response: HttpResponse, study: Study) -> HttpResponse:
    """MTurk shows an external question in a frame: only its hosts may frame this page."""
    if study.recruitment_platform == Study.Platform.MTURK:
        hosts = [f"https://{host}" for host in MTURK_HOSTS]
        response._csp_replace = {"frame-ancestors": hosts}  # type: ignore[attr-defined]
    return response


def _refused(request: HttpRequest, study: Study, reason: str, message: str = "") -> HttpResponse:
    exit_ = platform_exit(study=study, kind=EXIT_QUOTA_FULL) if reason == "quota_full" else None
    context = {"study": study, "reason": reason, "message": message, "exit": exit_}
    return render(
        request, TEMPLATES + "recruit_refused.html", context, status=REFUSED_STATUS[reason]
    )


@never_cache
@require_GET
@xframe_options_exempt
def recruitment_entry(request: HttpRequest, key: str) -> HttpResponse:
    study = study_for_recruitment_key(key=key)
    if study is None:
        return render(request, TEMPLATES + "invalid.html", status=404)
    with translation.override(study.language or settings.LANGUAGE_CODE):
        return _framable_by_mturk(_arrival_page(request, study), study)


def _too_many_starts(request: HttpRequest) -> HttpResponse:
    window = settings.RECRUIT_START_WINDOW_S
    context = {"minutes": max(1, window // 60), "starts": True}
    response = render(request, TEMPLATES + "throttled.html", context, status=429)
    response["Retry-After"] = str(window)
    return response


def _arrival_page(request: HttpRequest, study: Study) -> HttpResponse:
    client = client_ip(request) or "unknown"
    try:
        arrival = arrival_from_params(study=study, params=request.GET)
    except ArrivalInvalid as invalid:
        return _refused(request, study, "invalid", invalid.message)
    outcome = recruitment_arrive(
        study=study,
        arrival=arrival,
        browser_subject_id=_browser_subject_id(request, study),
        starts_allowed=not failures_exceeded(
            scope=START_SCOPE, client=client, limit=settings.RECRUIT_START_LIMIT
        ),
    )
    if outcome.kind == OUTCOME_THROTTLED:
        return _too_many_starts(request)
    if outcome.kind == OUTCOME_PREVIEW:
        return render(request, TEMPLATES + "recruit_preview.html", {"study": study})
    if outcome.kind not in (OUTCOME_STARTED, OUTCOME_RESUMED):
        reason = "quota_full" if outcome.kind == OUTCOME_QUOTA_FULL else outcome.kind
        return _refused(request, study, reason)
    if outcome.kind == OUTCOME_STARTED:
        failure_record(scope=START_SCOPE, client=client, window_s=settings.RECRUIT_START_WINDOW_S)
    link = invite_path(outcome.token)
    if study.recruitment_platform == Study.Platform.MTURK:
        # Inside MTurk's frame the study's own cookies would be third-party: it runs in a tab.
        response = render(request, TEMPLATES + "recruit_start.html", {"study": study, "link": link})
    else:
        response = redirect(link)
    _remember_browser(response, request, study, outcome.subject.pk)
    return response
