"""Pages and the submission endpoint for subjects, who carry an invite token instead of an account.

Views are thin: the token is looked up once, `subject_stage` decides which page the
subject belongs on, and every write goes through `annotation.services.sessions`.
"""

import functools
import mimetypes

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from annotation.errors import SessionRejected
from annotation.models import Study, Subject
from annotation.playlist_entries import training_count
from annotation.selectors.quality import qualification_result
from annotation.selectors.subject import (
    STAGE_CONSENT,
    STAGE_DECLINED,
    STAGE_DONE,
    STAGE_INSTRUCTIONS,
    STAGE_NOT_OPEN,
    STAGE_RELEASED,
    STAGE_SCREENED_OUT,
    STAGE_TRIAL,
    TrialPage,
    break_info,
    display_check_needed,
    is_pair_trial,
    pair_trial_page_get,
    session_stimulus_for_image,
    study_dimensions,
    subject_for_token,
    subject_session,
    subject_stage,
    trial_page_get,
)
from annotation.services.crowd_exits import (
    EXIT_COMPLETED,
    EXIT_QUALIFICATION_FAILED,
    EXIT_SCREENED_OUT,
    EXIT_TIMED_OUT,
    PlatformExit,
    platform_exit,
)
from annotation.services.pair_submissions import (
    is_pair_submission,
    pair_submission_parse,
    pair_submit,
)
from annotation.services.quality import qualification_tolerance, session_time_out_if_due
from annotation.services.scores import acr_choices
from annotation.services.sessions import (
    NextStep,
    TrialAck,
    display_check_record,
    is_break_before,
    subject_consent_accept,
    subject_consent_decline,
    trial_submit,
)
from annotation.services.submissions import json_object, trial_submission_parse
from annotation.views_pair import pair_page_context, pair_trial_payload

TEMPLATES = "annotation/subject/"

# HTTP status per rejection code; anything unlisted is a 400 (a malformed request).
REJECTION_STATUS = {
    "unknown_invite": 404,
    "no_such_trial": 404,
    "declined": 403,
    "not_consented": 403,
    "study_not_open": 403,
    "foreign_trial": 403,
    "out_of_order": 409,
    "rating_conflict": 409,
    "pair_not_served": 409,
}


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATES + "invalid.html", status=404)


def _page_for_stage(request: HttpRequest, subject: Subject, token: str, stage: str) -> HttpResponse:
    """Send the subject to where they belong now (or show the page that ends the way)."""
    if stage == STAGE_DECLINED:
        exit_ = platform_exit(study=subject.study, kind=EXIT_SCREENED_OUT, subject=subject)
        context = {"study": subject.study, "exit": exit_}
        return render(request, TEMPLATES + "declined.html", context)
    if stage == STAGE_RELEASED:
        return _released_page(request, subject)
    if stage == STAGE_SCREENED_OUT:
        return redirect("annotation:subject-qualification", token=token)
    if stage == STAGE_NOT_OPEN:
        return render(request, TEMPLATES + "not_open.html", {"study": subject.study}, status=403)
    if stage == STAGE_DONE:
        return redirect("annotation:subject-done", token=token)
    if stage == STAGE_CONSENT:
        return redirect("annotation:subject-consent", token=token)
    if stage == STAGE_INSTRUCTIONS:
        return redirect("annotation:subject-instructions", token=token)
    session = subject_session(subject=subject)
    return redirect("annotation:subject-trial", token=token, trial_index=session.cursor)


def _released_page(request: HttpRequest, subject: Subject) -> HttpResponse:
    """An idle or over-long session: it ended, with the timed-out code where one is set."""
    session = subject_session(subject=subject)
    exit_ = platform_exit(study=subject.study, kind=EXIT_TIMED_OUT, subject=subject)
    context = {"study": subject.study, "session": session, "exit": exit_}
    return render(request, TEMPLATES + "released.html", context, status=410)


def _current_stage(subject: Subject) -> str:
    """The subject's stage, after ending a session that ran past the study's limit."""
    session = subject_session(subject=subject)
    if session is not None and session_time_out_if_due(session=session, study=subject.study):
        session.refresh_from_db(fields=["playlist", "released_at", "ended_reason"])
    return subject_stage(subject=subject)


def _subject_page(*stages: str):
    """Look up the token and let the view run only at one of `stages`.

    An unknown token gets the invalid-link page; a subject at another stage is sent to
    where they belong. The view receives the subject and its stage after the token.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, token: str, *args, **kwargs) -> HttpResponse:
            subject = subject_for_token(token=token)
            if subject is None:
                return _invalid_link(request)
            stage = _current_stage(subject)
            # Every subject page speaks the study's language, whatever the browser says.
            with translation.override(subject.study.language or settings.LANGUAGE_CODE):
                if stage not in stages:
                    return _page_for_stage(request, subject, token, stage)
                return view(request, token, subject, stage, *args, **kwargs)

        return wrapper

    return decorate


@never_cache
@require_GET
def subject_entry(request: HttpRequest, token: str) -> HttpResponse:
    subject = subject_for_token(token=token)
    if subject is None:
        return _invalid_link(request)
    with translation.override(subject.study.language or settings.LANGUAGE_CODE):
        return _page_for_stage(request, subject, token, _current_stage(subject))


@never_cache
@require_http_methods(["GET", "POST"])
@_subject_page(STAGE_CONSENT)
def subject_consent(request: HttpRequest, token: str, subject: Subject, stage: str) -> HttpResponse:
    context = {"study": subject.study, "token": token}
    if request.method == "GET":
        return render(request, TEMPLATES + "consent.html", context)
    decision = request.POST.get("decision")
    if decision == "decline":
        # Declining ends the invite for good, so it is asked once more.
        context["confirm_decline"] = True
        return render(request, TEMPLATES + "consent.html", context)
    if decision == "decline_confirmed":
        subject_consent_decline(subject=subject)
        return redirect("annotation:subject-entry", token=token)
    if decision != "accept":
        context["error"] = _("Please choose whether you agree to take part.")
        return render(request, TEMPLATES + "consent.html", context, status=400)
    try:
        subject_consent_accept(subject=subject)
    except SessionRejected as rejection:
        context["message"] = rejection.message
        return render(request, TEMPLATES + "problem.html", context, status=409)
    return redirect("annotation:subject-instructions", token=token)


@never_cache
@require_GET
@_subject_page(STAGE_INSTRUCTIONS, STAGE_TRIAL)
def subject_instructions(
    request: HttpRequest, token: str, subject: Subject, stage: str
) -> HttpResponse:
    study = subject.study
    session = subject_session(subject=subject)
    context = {
        "study": study,
        "token": token,
        "dimensions": study_dimensions(study=study),
        "cursor": session.cursor,
        "scale_labels": _labels_spread(study),
        "acr": study.scale_type == Study.ScaleType.ACR,
        "pairwise": study.scale_type == Study.ScaleType.PAIRWISE,
        "acr_choices": acr_choices(study),
        "has_practice": training_count(playlist=session.playlist) > 0,
        "needs_display_check": display_check_needed(session=session),
        "grey_steps": GREY_STEPS,
        "surround": _surround_style(study),
        "display_check_url": reverse("annotation:subject-display-check", kwargs={"token": token}),
        "display_strings": {
            "facts": _(
                "Recorded with your session: window %(width)s × %(height)s, screen "
                "%(screen_width)s × %(screen_height)s, device pixel ratio %(ratio)s."
            ),
            "failed": _("The display check could not be saved. Please try again."),
        },
    }
    return render(request, TEMPLATES + "instructions.html", context)


# The display check's grey-step chart: near black and near white, where a badly set
# display first loses steps.
GREY_STEPS = ((0, 8, 16, 24, 32, 40), (215, 223, 231, 239, 247, 255))


def _surround_style(study: Study) -> str:
    """CSS custom properties for the study's surround grey and a readable text colour."""
    grey = study.surround_grey
    text = "#111" if grey >= 110 else "#f2f2f2"
    return f"--surround: rgb({grey}, {grey}, {grey}); --on-surround: {text};"


@never_cache
@require_http_methods(["POST"])
@_subject_page(STAGE_INSTRUCTIONS)
def subject_display_check(
    request: HttpRequest, token: str, subject: Subject, stage: str
) -> JsonResponse:
    """POST JSON: window/screen size, device_pixel_ratio, fullscreen, grey steps confirmed."""
    try:
        session = display_check_record(subject=subject, check=json_object(request.body))
    except SessionRejected as rejection:
        status = 409 if rejection.code == "display_check_closed" else 400
        return _error(rejection.message, rejection.code, status)
    return JsonResponse({"ok": True, "next_url": _trial_url(token, session.cursor)})


@never_cache
@require_http_methods(["GET", "POST"])
def subject_trial(request: HttpRequest, token: str, trial_index: int) -> HttpResponse:
    # The submission reads its session under a lock itself, so it skips the page lookup.
    if request.method == "POST":
        return _trial_submit(request, token, trial_index)
    return _trial_page(request, token, trial_index=trial_index)


@_subject_page(STAGE_INSTRUCTIONS, STAGE_TRIAL)
def _trial_page(
    request: HttpRequest, token: str, subject: Subject, stage: str, *, trial_index: int
) -> HttpResponse:
    session = subject_session(subject=subject)
    if trial_index != session.cursor:
        return _page_for_stage(request, subject, token, stage)
    if display_check_needed(session=session):
        url = reverse("annotation:subject-instructions", kwargs={"token": token})
        return redirect(url + "#display-check")
    if is_pair_trial(playlist=session.playlist, trial_index=session.cursor):
        trial = pair_trial_page_get(playlist=session.playlist, trial_index=session.cursor)
        context = pair_page_context(
            study=subject.study, trial=trial, token=token, surround=_surround_style(subject.study)
        )
        return render(request, TEMPLATES + "pair_trial.html", context)
    return render(request, TEMPLATES + "trial.html", _trial_context(subject, session, token))


def _image_url(token: str, stimulus, reference: bool = False) -> str:
    name = "annotation:subject-reference" if reference else "annotation:subject-image"
    return reverse(name, kwargs={"token": token, "stimulus_id": stimulus.pk})


def _trial_payload(token: str, trial: TrialPage) -> dict:
    """What changes from one trial to the next: the page embeds it, and the answer to a
    submission carries the following trial's, so the browser moves on without a request.
    """
    stimulus = trial.stimulus
    preload = []
    if trial.next_stimulus is not None:
        preload.append(_image_url(token, trial.next_stimulus))
        if trial.next_stimulus.reference_image:
            preload.append(_image_url(token, trial.next_stimulus, reference=True))
    progress = (
        _("Practice %(number)s of %(total)s")
        if trial.is_training
        else _("Image %(number)s of %(total)s")
    )
    return _stimulus_payload(
        trial,
        submit_url=_trial_url(token, trial.index),
        image_url=_image_url(token, stimulus),
        reference_url=_image_url(token, stimulus, reference=True)
        if stimulus.reference_image
        else "",
        progress_label=progress % {"number": trial.number, "total": trial.part_total},
        progress_percent=round(100 * trial.index / trial.total),
        preload=preload,
    )


def _stimulus_payload(
    trial: TrialPage,
    *,
    submit_url: str,
    image_url: str,
    reference_url: str,
    progress_label: str,
    progress_percent: int,
    preload: list[str],
) -> dict:
    """The trial script's data for one trial, the same for a subject and a preview."""
    stimulus = trial.stimulus
    return {
        "submitUrl": submit_url,
        "stimulus": stimulus.pk,
        "trialIndex": trial.index,
        "training": trial.is_training,
        "image": image_url,
        "width": stimulus.width,
        "height": stimulus.height,
        "reference": reference_url if stimulus.reference_image else "",
        "prompt": stimulus.prompt,
        "progressLabel": progress_label,
        "progressPercent": progress_percent,
        "preload": preload,
    }


def _trial_context(subject: Subject, session, token: str) -> dict:
    trial = trial_page_get(playlist=session.playlist, trial_index=session.cursor)
    return _page_context(subject.study, trial, _trial_payload(token, trial))


def trial_preview_context(
    *, study: Study, trial: TrialPage, image_url: str, reference_url: str, note: str
) -> dict:
    """The trial page of ``trial`` as a subject would see it, for a researcher's preview:
    the same template and script; ``preview`` makes the script's submit show ``note``
    instead of sending anything."""
    payload = _stimulus_payload(
        trial,
        submit_url="",
        image_url=image_url,
        reference_url=reference_url,
        progress_label=f"Preview: image {trial.index + 1} of {trial.total}",
        progress_percent=round(100 * trial.index / max(trial.total, 1)),
        preload=[],
    )
    return _page_context(study, trial, {**payload, "preview": note})


def _page_context(study: Study, trial: TrialPage, payload: dict) -> dict:
    dimensions = study_dimensions(study=study)
    choices = acr_choices(study)
    # Numbers go to the template as strings: localising each costs more than the view.
    return {
        "study": study,
        "trial": trial,
        "acr": study.scale_type == Study.ScaleType.ACR,
        "acr_keys": [choice["key"] for choice in choices if choice["key"]],
        "surround": _surround_style(study),
        "controls": _controls_html(study, dimensions),
        "dimension_count": str(len(dimensions)),
        "progress_label": payload["progressLabel"],
        "progress_percent": str(payload["progressPercent"]),
        "image_url": payload["image"],
        "image_width": str(trial.stimulus.width or ""),
        "image_height": str(trial.stimulus.height or ""),
        "reference_url": payload["reference"],
        "trial_data": {
            **payload,
            "scale": {
                "type": study.scale_type,
                "min": study.scale_min,
                "max": study.scale_max,
                "step": study.scale_step,
                "labels": list(study.scale_labels or []),
                "choices": choices,
            },
            "dimensions": [{"key": d.key, "label": d.label} for d in dimensions],
            "language": translation.get_language(),
            "strings": _js_strings(),
        },
    }


def _js_strings() -> dict[str, str]:
    """The trial script's words in the page's language (no catalogue request needed)."""
    return {
        "notSet": _("not set"),
        "tooSmall": _(
            "Your window is too small to show the image at full size (%(width)s × %(height)s "
            "pixels): it is shown at %(percent)s%%. Please maximise the window or zoom out "
            "(Ctrl and −)."
        ),
        "noPrompt": _("(no text prompt)"),
        "notAccepted": _("The answer was not accepted (%(status)s)."),
        "connectionLost": _(
            "Connection lost, retrying… Your answer is kept and will be sent as soon as "
            "the server answers."
        ),
        "between": _("between “%(low)s” and “%(high)s”"),
        "fullscreenResume": _("Press any key or click to continue in full screen."),
        "close": _("Close enough to the expected answer."),
        "tooFar": _("Too far from the expected answer."),
    }


def _controls_html(study: Study, dimensions) -> str:
    """The answer controls, the same for every trial of a study."""
    html = render_to_string(
        TEMPLATES + "_controls.html",
        {
            "study": study,
            "dimensions": dimensions,
            "acr": study.scale_type == Study.ScaleType.ACR,
            "acr_choices": acr_choices(study),
            "scale_labels": _labels_spread(study),
            "slider_step": study.scale_step or (study.scale_max - study.scale_min) / 1000,
        },
    )
    return mark_safe(html)  # rendered by the template engine, escaped there


def _labels_spread(study: Study) -> list[dict]:
    labels = list(study.scale_labels or [])
    if len(labels) == 1:
        return [{"text": labels[0], "percent": 50}]
    return [
        {"text": text, "percent": round(100 * i / (len(labels) - 1), 3)}
        for i, text in enumerate(labels)
    ]


def _trial_url(token: str, trial_index: int) -> str:
    return reverse("annotation:subject-trial", kwargs={"token": token, "trial_index": trial_index})


def _next_url(token: str, step: NextStep) -> str:
    if step.kind == "done":
        return reverse("annotation:subject-done", kwargs={"token": token})
    if step.kind == "qualification":
        return reverse("annotation:subject-qualification", kwargs={"token": token})
    if step.kind == "ended":
        return reverse("annotation:subject-entry", kwargs={"token": token})
    if step.kind == "break":
        return reverse("annotation:subject-break", kwargs={"token": token})
    return _trial_url(token, step.trial_index)


def _ack_json(token: str, ack: TrialAck) -> dict:
    step = ack.next_step
    next_trial = None
    if step.kind == "trial" and is_pair_trial(playlist=ack.playlist, trial_index=step.trial_index):
        next_trial = pair_trial_payload(
            token=token,
            trial=pair_trial_page_get(playlist=ack.playlist, trial_index=step.trial_index),
        )
    elif step.kind == "trial":
        next_trial = _trial_payload(
            token, trial_page_get(playlist=ack.playlist, trial_index=step.trial_index)
        )
    return {
        "ok": True,
        "trial_index": ack.trial_index,
        "ratings": ack.ratings,
        "complete": ack.complete,
        "next_url": _next_url(token, step),
        "next_trial": next_trial,
        "feedback": ack.feedback,
    }


def _error(message: str, code: str, status: int = 400, **details) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message, "code": code, **details}, status=status)


def _trial_submit(request: HttpRequest, token: str, trial_index: int) -> JsonResponse:
    try:
        # The page says which language it is in, so the answer needs no study lookup.
        with translation.override(_page_language(request)):
            if is_pair_submission(request.body):
                ack = pair_submit(
                    token=token,
                    trial_index=trial_index,
                    submission=pair_submission_parse(request.body),
                )
                return JsonResponse(_ack_json(token, ack))
            submission = trial_submission_parse(request.body)
            ack = trial_submit(
                token=token,
                trial_index=trial_index,
                stimulus_id=submission.stimulus_id,
                scores=submission.scores,
                response_time_ms=submission.response_time_ms,
            )
            return JsonResponse(_ack_json(token, ack))
    except SessionRejected as rejection:
        status = REJECTION_STATUS.get(rejection.code, 400)
        return _error(rejection.message, rejection.code, status, **rejection.details)


def _page_language(request: HttpRequest) -> str:
    wanted = request.headers.get("X-Study-Language", "")
    known = {code for code, _name in settings.LANGUAGES}
    return wanted if wanted in known else settings.LANGUAGE_CODE


@never_cache
@require_GET
@_subject_page(STAGE_TRIAL)
def subject_break(request: HttpRequest, token: str, subject: Subject, stage: str) -> HttpResponse:
    session = subject_session(subject=subject)
    study = subject.study
    if not is_break_before(
        playlist=session.playlist, trial_index=session.cursor, break_interval=study.break_interval
    ):
        return _page_for_stage(request, subject, token, stage)
    context = {"study": study, "token": token, "cursor": session.cursor}
    context["progress"] = break_info(session=session)
    context["surround"] = _surround_style(study)
    return render(request, TEMPLATES + "break.html", context)


@never_cache
@require_GET
@_subject_page(STAGE_TRIAL, STAGE_SCREENED_OUT)
def subject_qualification(
    request: HttpRequest, token: str, subject: Subject, stage: str
) -> HttpResponse:
    """The result of the latest try at the qualification: go on, try again, or leave."""
    study = subject.study
    session = subject_session(subject=subject)
    result = qualification_result(
        session=session,
        attempts=study.qualification_attempts,
        dimensions=study_dimensions(study=study),
    )
    if result is None:
        if stage == STAGE_SCREENED_OUT:  # not reached by the service; never a redirect loop
            return _released_page(request, subject)
        return _page_for_stage(request, subject, token, stage)
    exit_ = None
    if stage == STAGE_SCREENED_OUT:
        exit_ = platform_exit(study=study, kind=EXIT_QUALIFICATION_FAILED, subject=subject)
    context = {
        "study": study,
        "token": token,
        "result": result,
        "screened_out": stage == STAGE_SCREENED_OUT,
        "exit": exit_,
        "next_url": _trial_url(token, session.cursor),
        "tolerance": qualification_tolerance(study),
        "surround": _surround_style(study),
    }
    return render(request, TEMPLATES + "qualification.html", context)


@never_cache
@require_GET
@_subject_page(STAGE_DONE)
def subject_done(request: HttpRequest, token: str, subject: Subject, stage: str) -> HttpResponse:
    session = subject_session(subject=subject)
    exit_ = platform_exit(
        study=subject.study,
        kind=EXIT_COMPLETED,
        subject=subject,
        session_code=session.completion_code,
    )
    context = {"study": subject.study, "session": session, "exit": exit_}
    return with_exit_form_allowed(render(request, TEMPLATES + "done.html", context), exit_)


def with_exit_form_allowed(response: HttpResponse, exit_: PlatformExit | None) -> HttpResponse:
    """Let this page alone post its form to the platform (MTurk's externalSubmit)."""
    if exit_ is not None and exit_.form_action:
        response._csp_update = {"form-action": [exit_.form_origin]}  # type: ignore[attr-defined]
    return response


@require_GET
def subject_image(
    request: HttpRequest, token: str, stimulus_id: int, reference: bool = False
) -> FileResponse:
    """Stimulus images are only served to a session whose playlist holds them."""
    subject = subject_for_token(token=token)
    session = subject_session(subject=subject) if subject is not None else None
    stimulus = (
        session_stimulus_for_image(session=session, stimulus_id=stimulus_id)
        if session is not None
        else None
    )
    field = None
    if stimulus is not None:
        field = stimulus.reference_image if reference else stimulus.image
    if not field:
        raise Http404("No such image in this session.")
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = FileResponse(field.open("rb"), content_type=content_type)
    # Private: only this browser may keep it; a day is longer than any session, and
    # lets the preloaded next image be shown from cache.
    response["Cache-Control"] = "private, max-age=86400"
    return response
