"""Researcher pages for analysis, label releases and exports (same rules as views.py:
staff only, a study that is not the researcher's own answers 404)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.downloads import ratings_live_response, release_file_response
from annotation.models import AnalysisRun
from annotation.research.forms import (
    AnalysisOptionsForm,
    PairwiseAnalysisOptionsForm,
    ReleasePackageForm,
)
from annotation.selectors.analysis import (
    analysis_fingerprint,
    analysis_run_get,
    analysis_run_get_for_user,
    analysis_run_is_stale,
    analysis_run_latest,
    analysis_run_payload_text,
    freeze_runs_recent,
    release_get_for_user,
    release_list_for_study,
)
from annotation.selectors.research import study_get_for_user, target_shortfall
from annotation.services.analysis_options import (
    analysis_options_hash,
    study_is_pairwise,
    study_options_clean,
    study_options_initial,
)
from annotation.services.analysis_runs import analysis_run_request, release_freeze_request
from annotation.services.release_package import demographic_fields, release_package_request
from core.http import get_or_404
from core.permissions import staff_required

T = "annotation/research/"


def _options_query(options: dict) -> str:
    return urlencode(options, doseq=True)


def run_status(run: AnalysisRun, *, stale: bool | None = None) -> dict:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "step": run.step,
        "progress": run.progress,
        "error": run.error,
        "finished": run.finished_at is not None,
        "ratings_count": run.ratings_count,
        "stale": stale,
        "release": run.release.version if run.release_id else None,
    }


@staff_required
@require_http_methods(["GET", "POST"])
def analysis_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    pairwise = study_is_pairwise(study)
    form_class = PairwiseAnalysisOptionsForm if pairwise else AnalysisOptionsForm
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            options = form.options()
            try:
                run = analysis_run_request(
                    study=study,
                    options=options,
                    created_by=request.user,
                    force=bool(request.POST.get("force")),
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                run = None
            query = _options_query(study_options_clean(study=study, data=options))
            if run is not None:
                query += f"&run={run.pk}"
            return redirect(reverse("research:analysis", args=[study.pk]) + "?" + query)
    elif ("method" if pairwise else "repeat_policy") in request.GET:  # options chosen before
        form = form_class(request.GET)
    else:
        form = form_class(initial=study_options_initial(study=study))
    options = (
        study_options_clean(study=study, data=form.options())
        if form.is_bound and form.is_valid()
        else study_options_clean(study=study, data=study_options_initial(study=study))
    )
    fingerprint = analysis_fingerprint(study=study)
    run = None
    if request.GET.get("run", "").isdigit():
        run = get_or_404(analysis_run_get, study=study, pk=int(request.GET["run"]))
    if run is None or run.kind != AnalysisRun.Kind.ANALYSIS:
        run = analysis_run_latest(study=study, options_hash=analysis_options_hash(options=options))
    stale = run is not None and analysis_run_is_stale(run=run, fingerprint=fingerprint)
    context = {
        "study": study,
        "form": form,
        "run": run,
        "stale": stale,
        "fingerprint": fingerprint,
        "options_query": _options_query(options),
        "pairwise": pairwise,
    }
    return render(request, T + "analysis.html", context)


PAIRWISE_DOWNLOADS = {
    "report.html": "text/html; charset=utf-8",
    "scores.csv": "text/csv; charset=utf-8",
    "subjects.csv": "text/csv; charset=utf-8",
    "preference.csv": "text/csv; charset=utf-8",
}


@staff_required
@require_GET
def analysis_run_pairwise_download(
    request: HttpRequest, pk: int, run_pk: int, what: str
) -> HttpResponse:
    """A finished pairwise run's offline report or one of its tables, from the stored run."""
    from annotation.services.analysis_report import pairwise_run_file

    run = get_or_404(analysis_run_get_for_user, user=request.user, study_pk=pk, pk=run_pk)
    if what not in PAIRWISE_DOWNLOADS or run.status != AnalysisRun.Status.DONE:
        raise Http404("No such file for this run.")
    if run.summary.get("kind") != "pairwise":
        raise Http404("Not a pairwise analysis run.")
    response = HttpResponse(
        pairwise_run_file(run=run, what=what), content_type=PAIRWISE_DOWNLOADS[what]
    )
    name = f"study{run.study_id}-run{run.pk}-{what}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_required
@require_GET
def analysis_run_json(request: HttpRequest, pk: int, run_pk: int) -> JsonResponse:
    run = get_or_404(analysis_run_get_for_user, user=request.user, study_pk=pk, pk=run_pk)
    fingerprint = analysis_fingerprint(study=run.study)
    stale = analysis_run_is_stale(run=run, fingerprint=fingerprint)
    return JsonResponse(run_status(run, stale=stale))


@staff_required
@require_GET
@gzip_page  # megabytes of JSON at 20,000 stimuli; about a sixth of that gzipped
def analysis_run_result(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    run = get_or_404(analysis_run_get_for_user, user=request.user, study_pk=pk, pk=run_pk)
    if run.status != AnalysisRun.Status.DONE or run.kind != AnalysisRun.Kind.ANALYSIS:
        return JsonResponse(
            {"error": "This run has no result (yet).", **run_status(run)}, status=409
        )
    return HttpResponse(analysis_run_payload_text(run=run), content_type="application/json")


@staff_required
@require_GET
def release_list(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    runs = list(freeze_runs_recent(study=study))
    context = {
        "study": study,
        "releases": release_list_for_study(study=study),
        "form": _freeze_form_class(study)(initial=study_options_initial(study=study)),
        "pairwise": study_is_pairwise(study),
        "runs": runs,
        "in_flight": any(r.finished_at is None for r in runs),
        "fingerprint": analysis_fingerprint(study=study),
        # Rated-trial targets count ratings; a pairwise study's progress is its choices.
        "shortfall": None if study_is_pairwise(study) else target_shortfall(study=study),
    }
    context["package_form"] = _package_form(study=study, releases=context["releases"])
    context["packaging"] = any(
        r.package_status in ("pending", "running") for r in context["releases"]
    )
    return render(request, T + "releases.html", context)


def _freeze_form_class(study) -> type[AnalysisOptionsForm] | type[PairwiseAnalysisOptionsForm]:
    """A pairwise study freezes with the options of its pairwise analysis."""
    return PairwiseAnalysisOptionsForm if study_is_pairwise(study) else AnalysisOptionsForm


def _package_form(*, study, releases, data=None) -> ReleasePackageForm:
    versions = [r.version for r in releases]
    latest = releases[0] if versions else None
    fields = demographic_fields(release=latest) if latest is not None else []
    initial = {"licence": latest.licence, "citation": latest.citation} if latest else {}
    return ReleasePackageForm(data, versions=versions, demographics=fields, initial=initial)


@staff_required
@require_POST
def release_package(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = _package_form(
        study=study, releases=list(release_list_for_study(study=study)), data=request.POST
    )
    if not form.is_valid():
        messages.error(request, "Check the package form: " + form.errors.as_text())
        return redirect("research:release_list", pk=study.pk)
    data = form.cleaned_data
    release = get_or_404(
        release_get_for_user, user=request.user, study_pk=pk, version=data["version"]
    )
    try:
        release_package_request(
            release=release,
            licence=data["licence"],
            citation=data["citation"],
            demographics=data["demographics"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.info(request, f"Release v{release.version} is being packaged on a worker.")
    return redirect("research:release_list", pk=study.pk)


@staff_required
@require_POST
def release_freeze(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = _freeze_form_class(study)(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the analysis options: " + form.errors.as_text())
        return redirect("research:release_list", pk=study.pk)
    try:
        outcome = release_freeze_request(
            study=study, options=form.options(), created_by=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if not study_is_pairwise(study) and (shortfall := target_shortfall(study=study)):
            messages.warning(
                request,
                f"Frozen below target: {shortfall.below} of {shortfall.stimuli} stimuli have "
                f"fewer than {shortfall.target} rated trials (the fewest: {shortfall.fewest}).",
            )
        if outcome.release is not None:
            messages.success(
                request,
                f"Release v{outcome.release.version} frozen: {outcome.release.counts['stimuli']} "
                f"stimuli from {outcome.release.method_config['ratings']['count']} "
                f"{'choices' if study_is_pairwise(study) else 'ratings'}.",
            )
        else:
            messages.info(request, "The freeze runs on a worker; this page shows its progress.")
    return redirect("research:release_list", pk=study.pk)


@staff_required
@require_GET
def release_download(request: HttpRequest, pk: int, version: int, what: str) -> FileResponse:
    release = get_or_404(release_get_for_user, user=request.user, study_pk=pk, version=version)
    response = release_file_response(release=release, what=what)
    response["Cache-Control"] = "private, no-transform"
    return response


@staff_required
@require_GET
def ratings_live_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The current raw ratings, generated now (not a release: they change as ratings arrive)."""
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    return ratings_live_response(study=study)
