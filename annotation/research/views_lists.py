"""Researcher tables that grow with a study: stimuli (with bulk actions), subjects and the
per-subject report (page and CSV). Same rules as views.py: staff only, a study that is not
the researcher's own answers 404. Every table is paged, searched, filtered and sorted by
the database, so a 20,000-stimulus study answers as fast as the demo."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.downloads import subject_report_csv_response
from annotation.models import Stimulus
from annotation.research import forms
from annotation.selectors.research import (
    display_check_text,
    invite_path,
    study_get_for_user,
    too_fast_trials_by_subject,
)
from annotation.selectors.stimuli import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    stimulus_generators,
    stimulus_list_filtered,
    stimulus_page,
    stimulus_query_from,
)
from annotation.selectors.subject_reports import (
    SUBJECT_STATES,
    subject_list_filtered,
    subject_page,
    subject_query_from,
    subject_reports,
    subject_state_counts,
    too_fast_threshold_ms,
)
from annotation.services.invites import invites_create, invites_csv
from annotation.services.stimulus_bulk import BULK_ACTIONS, stimuli_bulk_apply
from core.http import get_or_404
from core.permissions import staff_required

T = "annotation/research/"
# The table parameters a bulk action carries back, so the researcher lands where they were.
STIMULUS_TABLE_PARAMS = ("q", "generator", "role", "below_target", "excluded", "sort", "page")


def _page_size(request: HttpRequest) -> int:
    value = request.GET.get("per_page", "")
    return int(value) if value.isdigit() and int(value) in PAGE_SIZES else DEFAULT_PAGE_SIZE


@staff_required
@require_GET
def stimulus_list(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    query = stimulus_query_from(request.GET)
    page = stimulus_page(
        study=study, query=query, page=request.GET.get("page"), page_size=_page_size(request)
    )
    context = {
        "study": study,
        "page": page,
        "query": query,
        "generators": stimulus_generators(study=study),
        "roles": Stimulus.Role.choices,
        "actions": BULK_ACTIONS,
        "page_sizes": PAGE_SIZES,
        "table_params": STIMULUS_TABLE_PARAMS,
    }
    return render(request, T + "stimulus_list.html", context)


@staff_required
@require_POST
def stimulus_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    """A bulk action on the ticked stimuli, or on every stimulus the table's filters match."""
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = forms.StimulusBulkForm(request.POST)
    back = {k: request.POST[k] for k in STIMULUS_TABLE_PARAMS if request.POST.get(k)}
    target = reverse("research:stimulus_list", args=[study.pk])
    if back:
        target += "?" + urlencode(back)
    if not form.is_valid():
        messages.error(request, " ".join(m for e in form.errors.values() for m in e))
        return redirect(target)
    if form.cleaned_data["scope"] == "filtered":
        stimuli = stimulus_list_filtered(study=study, query=stimulus_query_from(request.POST))
    else:
        stimuli = study.stimuli.filter(pk__in=form.cleaned_data["ids"])
    try:
        changed = stimuli_bulk_apply(stimuli=stimuli, action=form.cleaned_data["action"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        label = BULK_ACTIONS[form.cleaned_data["action"]].split(" (")[0].lower()
        messages.success(request, f"{label.capitalize()}: {changed} stimuli.")
    return redirect(target)


@staff_required
@require_http_methods(["GET", "POST"])
def subject_list(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = forms.InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invites = invites_create(study=study, count=form.cleaned_data["count"])
        body = invites_csv(
            invites=invites, link_for=lambda t: request.build_absolute_uri(invite_path(t))
        )
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-invites.csv"'
        response["Cache-Control"] = "no-store"
        return response
    query = subject_query_from(request.GET)
    page = subject_page(
        study=study, query=query, page=request.GET.get("page"), page_size=_page_size(request)
    )
    too_fast = too_fast_trials_by_subject(subject_ids=[subject.pk for subject in page])
    for subject in page:
        session = getattr(subject, "session", None)
        subject.display_text = display_check_text(session.display_check if session else {})
        subject.too_fast_trials = too_fast.get(subject.pk, 0)
    context = {
        "study": study,
        "form": form,
        "page": page,
        "query": query,
        "states": SUBJECT_STATES,
        "state_counts": subject_state_counts(study=study),
        "page_sizes": PAGE_SIZES,
    }
    return render(request, T + "subject_list.html", context)


@staff_required
@require_GET
def subject_report(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    query = subject_query_from(request.GET)
    page = subject_page(
        study=study, query=query, page=request.GET.get("page"), page_size=_page_size(request)
    )
    context = {
        "study": study,
        "page": page,
        "reports": subject_reports(study=study, subjects=list(page.object_list)),
        "query": query,
        "states": SUBJECT_STATES,
        "too_fast_ms": too_fast_threshold_ms(study=study),
        "page_sizes": PAGE_SIZES,
    }
    return render(request, T + "subject_report.html", context)


@staff_required
@require_GET
def subject_report_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every subject matching the page's search and filter (not only one page), as CSV."""
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    subjects = list(subject_list_filtered(study=study, query=subject_query_from(request.GET)))
    return subject_report_csv_response(
        study=study, reports=subject_reports(study=study, subjects=subjects)
    )
