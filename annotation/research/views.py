"""Researcher pages. Staff only (others are sent to the login page); a study that is not
the researcher's own answers 404, so other studies' ids do not leak."""

import mimetypes

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.dimensions import DimensionSpec
from annotation.imports.images import thumbnail_name
from annotation.models import ImportJob, Stimulus
from annotation.playlist_entries import KIND_RATING, KIND_TRAINING
from annotation.research import forms
from annotation.selectors.research import (
    import_job_get_for_user,
    import_job_summary,
    stimulus_get_for_user,
    study_get_for_user,
    study_list_for_user,
    study_progress,
)
from annotation.selectors.subject import TrialPage
from annotation.services.imports import import_job_create, layouts_listed, upload_stash
from annotation.services.studies import (
    DIMENSION_PRESETS,
    stimulus_role_set,
    study_create,
    study_set_status,
    study_update,
)
from annotation.views_subject import trial_preview_context
from core.http import get_or_404
from core.permissions import staff_required

T = "annotation/research/"


def _errors(form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


@staff_required
def study_list(request: HttpRequest) -> HttpResponse:
    """The one studies page; the site's home (/) shows it too."""
    return render(
        request, T + "study_list.html", {"studies": study_list_for_user(user=request.user)}
    )


dashboard_home = study_list


def _study_form_page(
    request: HttpRequest, form, dims, study, *, preset: str | None
) -> HttpResponse:
    context = {
        "form": form,
        "dims": dims,
        "study": study,
        "presets": [(key, title) for key, (title, _) in DIMENSION_PRESETS.items()],
        "preset_rows": {
            key: forms.dimension_initial(specs) for key, (_, specs) in DIMENSION_PRESETS.items()
        },
        "preset": preset,
    }
    return render(request, T + "study_form.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def study_new(request: HttpRequest) -> HttpResponse:
    # A new study starts from a preset's dimensions (PKU-I2IQA's by default).
    preset = request.GET.get("preset") or "pku-i2iqa"
    specs = forms.dimension_preset(preset) or forms.dimension_preset("pku-i2iqa")
    form = forms.StudyForm(request.POST or None)
    dims = forms.DimensionFormSet(
        request.POST or None, prefix="dim", initial=forms.dimension_initial(specs)
    )
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
            messages.success(request, f"Study {study.name} created (Draft).")
            return redirect("research:study_detail", pk=study.pk)
    return _study_form_page(request, form, dims, None, preset=preset)


@staff_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    preset = request.GET.get("preset")
    specs = forms.dimension_preset(preset)
    if specs is None:
        preset = None
        specs = tuple(
            DimensionSpec(d.key, d.label, d.question, d.anchor_text) for d in study.dimensions.all()
        )
    form = forms.StudyForm(request.POST or None, instance=study)
    dims = forms.DimensionFormSet(
        request.POST or None, prefix="dim", initial=forms.dimension_initial(specs)
    )
    if request.method == "POST" and form.is_valid() and dims.is_valid():
        try:
            study_update(study=study, dimensions=forms.dimension_specs(dims), **form.study_fields())
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, "Study saved.")
            return redirect("research:study_detail", pk=study.pk)
    return _study_form_page(request, form, dims, study, preset=preset)


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
        messages.success(request, f"Study status: {study.get_status_display()}.")
    else:
        messages.error(request, "Unknown status.")
    return redirect("research:study_detail", pk=study.pk)


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
            messages.success(request, f"{stimulus} now has the role {stimulus.get_role_display()}.")
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
@require_GET
def stimulus_image(
    request: HttpRequest, pk: int, stimulus_pk: int, reference: bool = False
) -> FileResponse:
    """A stimulus (or its prompt image) at full size, for the preview; same check as above."""
    stimulus = get_or_404(stimulus_get_for_user, user=request.user, study_pk=pk, pk=stimulus_pk)
    field = stimulus.reference_image if reference else stimulus.image
    if not field:
        raise Http404("This stimulus has no such image.")
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("The image file is missing on the server.") from None
    response = FileResponse(handle, content_type=content_type)
    patch_cache_control(response, private=True, max_age=3600)
    return response


PREVIEW_NOTE = "Preview: nothing was saved. Subjects go on to their next image here."


@staff_required
@require_GET
def study_preview(request: HttpRequest, pk: int, stimulus_pk: int | None = None) -> HttpResponse:
    """The trial page a subject sees, for any stimulus; creates no subject and no rating."""
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    # Only the order of ids is needed here: no rating counts (a join over every rating).
    ids = list(study.stimuli.order_by("id").values_list("pk", flat=True))
    if stimulus_pk is not None and stimulus_pk not in ids:
        raise Http404("No such stimulus in this study.")
    if not ids:
        return render(request, T + "preview_empty.html", {"study": study})
    if stimulus_pk is None:
        stimulus_pk = ids[0]
    # The study is already checked as the user's, and the id is one of its stimuli.
    stimulus = study.stimuli.get(pk=stimulus_pk)
    position = ids.index(stimulus_pk)
    trial = TrialPage(
        index=position,
        total=len(ids),
        kind=KIND_TRAINING if stimulus.role == Stimulus.Role.TRAINING else KIND_RATING,
        repeat=False,
        stimulus=stimulus,
        next_stimulus=None,
        training_total=0,
    )
    context = trial_preview_context(
        study=study,
        trial=trial,
        image_url=reverse("research:stimulus_image", args=[pk, stimulus_pk]),
        reference_url=reverse("research:stimulus_reference", args=[pk, stimulus_pk]),
        note=PREVIEW_NOTE,
    )

    def preview_url(index: int) -> str:
        return reverse("research:study_preview_stimulus", args=[pk, ids[index]])

    context["preview"] = {
        "previous": preview_url(position - 1) if position > 0 else "",
        "next": preview_url(position + 1) if position + 1 < len(ids) else "",
        "study_url": reverse("research:study_detail", args=[pk]),
        "stimulus": stimulus,
    }
    return render(request, "annotation/subject/trial.html", context)


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
        "status_display": job.get_status_display(),
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
    context = {"job": job, "summary": import_job_summary(job=job)}
    return render(request, T + "import_job.html", context)


@staff_required
def study_progress_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    return render(request, T + "progress.html", {"study": study})


@staff_required
@require_GET
def study_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    return JsonResponse(study_progress(study=study))
