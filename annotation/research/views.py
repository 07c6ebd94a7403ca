"""Researcher pages. Staff only (others are sent to the login page); a study that is not
the researcher's own answers 404, so other studies' ids do not leak."""

from pathlib import Path

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.imports.images import thumbnail_name
from annotation.models import ImportJob
from annotation.research import forms
from annotation.selectors.research import (
    import_job_get_for_user,
    invite_path,
    stimulus_get_for_user,
    stimulus_list_for_study,
    study_get_for_user,
    study_list_for_user,
    study_progress,
    subject_statuses,
)
from annotation.services.imports import import_job_create, layouts_listed, upload_stash
from annotation.services.invites import invites_create, invites_csv
from annotation.services.studies import (
    stimulus_role_set,
    study_create,
    study_set_status,
    study_update,
)
from core.http import get_or_404
from core.permissions import staff_required

T = "annotation/research/"


def _errors(form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


@staff_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    """The site's home page (/): the researcher's studies at a glance."""
    studies = study_list_for_user(user=request.user)
    return render(request, "dashboard/home.html", {"studies": studies})


@staff_required
def study_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, T + "study_list.html", {"studies": study_list_for_user(user=request.user)}
    )


@staff_required
@require_http_methods(["GET", "POST"])
def study_new(request: HttpRequest) -> HttpResponse:
    form = forms.StudyForm(request.POST or None)
    dims = forms.DimensionFormSet(request.POST or None, prefix="dim")
    if request.method == "POST" and form.is_valid() and dims.is_valid():
        try:
            study = study_create(
                owner=request.user,
                dimensions=forms.dimension_specs(dims),
                **form.study_fields(),
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"Study {study.name} created (draft).")
            return redirect("research:study_detail", pk=study.pk)
    return render(request, T + "study_form.html", {"form": form, "dims": dims, "study": None})


@staff_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    initial = [
        {"key": d.key, "label": d.label, "question": d.question, "anchor_text": d.anchor_text}
        for d in study.dimensions.all()
    ]
    form = forms.StudyForm(request.POST or None, instance=study)
    dims = forms.DimensionFormSet(request.POST or None, prefix="dim", initial=initial)
    if request.method == "POST" and form.is_valid() and dims.is_valid():
        try:
            study_update(study=study, dimensions=forms.dimension_specs(dims), **form.study_fields())
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Study saved.")
            return redirect("research:study_detail", pk=study.pk)
    return render(request, T + "study_form.html", {"form": form, "dims": dims, "study": study})


@staff_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    context = {
        "study": study,
        "dimensions": study.dimensions.all(),
        "jobs": study.import_jobs.all()[:10],
        "releases": study.releases.all(),
    }
    return render(request, T + "study_detail.html", context)


@staff_required
@require_POST
def study_status(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = forms.StatusForm(request.POST)
    if form.is_valid():
        study_set_status(study=study, status=form.cleaned_data["status"])
        messages.success(request, f"Study is now {study.get_status_display().lower()}.")
    else:
        messages.error(request, "Unknown status.")
    return redirect("research:study_detail", pk=study.pk)


@staff_required
def stimulus_list(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    stimuli = [
        (s, reverse("research:stimulus_thumbnail", args=[study.pk, s.pk]))
        for s in stimulus_list_for_study(study=study)[:500]
    ]
    return render(request, T + "stimulus_list.html", {"study": study, "stimuli": stimuli})


@staff_required
@require_http_methods(["GET", "POST"])
def stimulus_role(request: HttpRequest, pk: int, stimulus_pk: int) -> HttpResponse:
    stimulus = get_or_404(stimulus_get_for_user, user=request.user, study_pk=pk, pk=stimulus_pk)
    dimensions = list(stimulus.study.dimensions.all())
    initial = {"role": stimulus.role, "explanation": stimulus.explanation}
    initial |= {f"expected_{k}": v for k, v in stimulus.expected_scores.items()}
    form = forms.StimulusRoleForm(request.POST or None, dimensions=dimensions, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            stimulus_role_set(
                stimulus=stimulus,
                role=form.cleaned_data["role"],
                explanation=form.cleaned_data["explanation"],
                expected_scores=form.expected_scores(),
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{stimulus} is now {stimulus.get_role_display().lower()}.")
            return redirect("research:stimulus_list", pk=pk)
    return render(
        request,
        T + "stimulus_role.html",
        {"study": stimulus.study, "stimulus": stimulus, "form": form},
    )


@staff_required
@require_GET
def stimulus_thumbnail(request: HttpRequest, pk: int, stimulus_pk: int) -> FileResponse:
    """Dashboard thumbnails go through the permission check, like the stimuli themselves."""
    stimulus = get_or_404(stimulus_get_for_user, user=request.user, study_pk=pk, pk=stimulus_pk)
    name = thumbnail_name(stimulus.sha256)
    if not default_storage.exists(name):
        raise Http404("No thumbnail for this stimulus.")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")
    patch_cache_control(response, private=True, max_age=24 * 3600)
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def study_import(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = forms.ManifestImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        options = {
            "manifest": str(upload_stash(form.cleaned_data["manifest"])),
            "images": str(upload_stash(form.cleaned_data["images"])),
            "allow_duplicates": form.cleaned_data["allow_duplicates"],
            "uploaded": True,
        }
        job = import_job_create(
            kind=ImportJob.Kind.MANIFEST, created_by=request.user, study=study, options=options
        )
        return redirect("research:import_job", job_pk=job.pk)
    return render(
        request, T + "import_form.html", {"study": study, "form": form, "external": False}
    )


@staff_required
@require_http_methods(["GET", "POST"])
def external_import(request: HttpRequest) -> HttpResponse:
    form = forms.ExternalImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        options = {
            "layout": form.cleaned_data["layout"],
            "name": form.cleaned_data["name"],
            "archive": str(upload_stash(form.cleaned_data["archive"])),
            "uploaded": True,
        }
        job = import_job_create(
            kind=ImportJob.Kind.EXTERNAL, created_by=request.user, options=options
        )
        return redirect("research:import_job", job_pk=job.pk)
    context = {"study": None, "form": form, "external": True, "layouts": layouts_listed()}
    return render(request, T + "import_form.html", context)


def import_job_data(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "total": job.total,
        "study": job.study_id,
        "errors": job.error_report,
        "result": job.result,
        "finished": job.finished_at is not None,
    }


@staff_required
def import_job(request: HttpRequest, job_pk: int) -> HttpResponse:
    job = get_or_404(import_job_get_for_user, user=request.user, pk=job_pk)
    if request.GET.get("format") == "json":
        return JsonResponse(import_job_data(job))
    return render(request, T + "import_job.html", {"job": job})


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
    context = {"study": study, "form": form, "statuses": subject_statuses(study=study)}
    return render(request, T + "subject_list.html", context)


@staff_required
def study_progress_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    return render(request, T + "progress.html", {"study": study})


@staff_required
@require_GET
def study_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    return JsonResponse(study_progress(study=study))


@staff_required
@require_GET
def plotly_js(request: HttpRequest, version: str) -> FileResponse:
    """plotly.js from the installed plotly package: no CDN, no build step, no copy in git."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    response = FileResponse(path.open("rb"), content_type="text/javascript; charset=utf-8")
    patch_cache_control(response, public=True, max_age=365 * 24 * 3600, immutable=True)
    return response
