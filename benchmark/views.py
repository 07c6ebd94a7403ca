"""Benchmark pages: admins only (superusers). Researchers are refused (403), anonymous
visitors sent to sign in. Views parse input, call a service or selector, render."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.models import LabelRelease
from benchmark import selectors
from benchmark.forms import LaunchForm, ScoringForm
from benchmark.services import LaunchRejected, run_cancel, run_retry, sweep_cancel, sweep_launch
from benchmark.services.configs import media_path
from benchmark.services.launch import reference_count
from benchmark.services.scoring import ScoringRejected, scoring_start
from core import permissions
from core.http import get_or_404
from core.storage import media_exists, media_open, stream_response

T = "benchmark/"


admin_required = permissions.admin_required(
    "Benchmark retrains (training models on a label release) are for admins; "
    "your account is a researcher account."
)


@admin_required
@require_GET
def sweep_list(request: HttpRequest) -> HttpResponse:
    context = {"sweeps": selectors.sweep_list(), "releases": selectors.release_list()}
    return render(request, T + "sweep_list.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def sweep_new(request: HttpRequest) -> HttpResponse:
    form = LaunchForm(request.POST or None, initial={"release": request.GET.get("release")})
    if request.method == "POST" and form.is_valid():
        spec = form.spec()
        try:
            sweep = sweep_launch(spec=spec, created_by=request.user)
        except LaunchRejected as exc:
            form.add_launch_errors(exc)
        else:
            count = sweep.runs.count()
            text = f"Sweep {sweep.pk} queued: {count} run(s)."
            rows = reference_count(release=sweep.release)
            if spec.fr_reference_rows_only and "fr" in spec.models and rows:
                text += (
                    f" FR trains on the {rows.with_reference} of {rows.rows} rows "
                    "with a prompt image."
                )
            messages.success(request, text)
            return redirect("benchmark:sweep_detail", pk=sweep.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, T + "sweep_form.html", {"form": form}, status=status)


@admin_required
@require_GET
def sweep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = get_or_404(selectors.sweep_get, pk=pk)
    context = {
        "sweep": sweep,
        "release_label": selectors.release_label(sweep.release),
        "status": selectors.sweep_status(sweep=sweep),
        "results_rows": selectors.results_rows(sweep.results),
    }
    return render(request, T + "sweep_detail.html", context)


@admin_required
@require_GET
def sweep_status_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(selectors.sweep_status(sweep=get_or_404(selectors.sweep_get, pk=pk)))


@admin_required
@require_POST
def sweep_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    sweep = get_or_404(selectors.sweep_get, pk=pk)
    count = sweep_cancel(sweep=sweep, by=request.user)
    messages.info(request, f"Cancel requested for {count} run(s).")
    return redirect("benchmark:sweep_detail", pk=pk)


@admin_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_or_404(selectors.run_get, pk=pk)
    context = {
        "run": run,
        "release_label": selectors.release_label(run.release),
        "requeued": selectors.run_requeued(run),
        "zero_shot": selectors.run_is_zero_shot(run),
        "random_weights": selectors.backbone_has_random_weights(run.backbone),
        "needs_prompt": selectors.run_needs_prompt(run),
        "metric_rows": selectors.run_metric_rows(run),
        "scoring_jobs": selectors.run_scoring_jobs(run),
        "protocol": selectors.run_protocol(run),
    }
    return render(request, T + "run_detail.html", context)


@admin_required
@require_GET
def run_status_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(selectors.run_status(run=get_or_404(selectors.run_get, pk=pk)))


@admin_required
@require_GET
def run_scatter_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(selectors.run_scatter(run=get_or_404(selectors.run_get, pk=pk)))


def _run_action(request: HttpRequest, pk: int, service, done: str, level) -> HttpResponse:
    """Call a run service from its page's button; its refusal is shown, not raised."""
    try:
        service(run=get_or_404(selectors.run_get, pk=pk), by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        level(request, done)
    return redirect("benchmark:run_detail", pk=pk)


@admin_required
@require_POST
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, run_cancel, f"Cancel requested for run {pk}.", messages.info)


@admin_required
@require_POST
def run_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(request, pk, run_retry, f"Run {pk} queued again.", messages.success)


def _download(relative: str, filename: str) -> FileResponse:
    if not relative:
        raise Http404("This run has no such file (yet).")
    if not media_exists(relative):
        raise Http404("The file is missing from storage.")
    # Streamed from storage (a local file or the bucket), never read whole into memory.
    return stream_response(media_open(relative), as_attachment=True, filename=filename)


@admin_required
@require_GET
def run_predictions(request: HttpRequest, pk: int) -> FileResponse:
    run = get_or_404(selectors.run_get, pk=pk)
    return _download(run.predictions_path, f"run-{run.pk}-predictions-test.csv")


@admin_required
@require_GET
def run_checkpoint(request: HttpRequest, pk: int, index: int) -> FileResponse:
    run = get_or_404(selectors.run_get, pk=pk)
    if index >= len(run.splits):
        raise Http404("No such split.")
    split = run.splits[index]
    return _download(split.get("checkpoint", ""), f"run-{run.pk}-{split['name']}-best.pt")


@admin_required
@require_GET
def leaderboard(request: HttpRequest, release_pk: int) -> HttpResponse:
    release = get_object_or_404(LabelRelease.objects.select_related("study"), pk=release_pk)
    context = {
        "release": release,
        "release_label": selectors.release_label(release),
        "board": selectors.leaderboard(release=release),
    }
    return render(request, T + "leaderboard.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def run_score(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Score images": a study's stimuli or an uploaded zip, scored by a worker."""
    run = get_or_404(selectors.run_get, pk=pk)
    posted = request.method == "POST"
    form = ScoringForm(request.POST if posted else None, request.FILES if posted else None)
    if request.method == "POST" and form.is_valid():
        try:
            job = scoring_start(
                run=run,
                by=request.user,
                study=form.cleaned_data["study"],
                images=form.cleaned_data["images"],
                manifest=form.cleaned_data["manifest"],
                prompt=form.cleaned_data["prompt"],
            )
        except ScoringRejected as exc:
            form.add_error(None, exc)
        else:
            return redirect("benchmark:scoring_detail", pk=job.pk)
    status = 400 if request.method == "POST" else 200
    context = {"run": run, "form": form, "needs_prompt": selectors.run_needs_prompt(run)}
    return render(request, T + "run_score.html", context, status=status)


@admin_required
@require_GET
def scoring_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_or_404(selectors.scoring_job_get, pk=pk)
    context = {
        "job": job,
        "run": job.run,
        "rows": selectors.scoring_rows(job),
        "needs_prompt": selectors.run_needs_prompt(job.run),
    }
    return render(request, T + "scoring_detail.html", context)


@admin_required
@require_GET
def scoring_status_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(selectors.scoring_status(job=get_or_404(selectors.scoring_job_get, pk=pk)))


@admin_required
@require_GET
def scoring_csv(request: HttpRequest, pk: int) -> FileResponse:
    job = get_or_404(selectors.scoring_job_get, pk=pk)
    return _download(job.results_path, f"scores-run-{job.run_id}-job-{job.pk}.csv")


@admin_required
@require_GET
def scoring_thumbnail(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    from annotation.imports.images import thumbnail_bytes

    job = get_or_404(selectors.scoring_job_get, pk=pk)
    if index >= len(job.results):
        raise Http404("No such image.")
    name = job.results[index]["image"]
    if not media_exists(name):
        raise Http404("The image is missing from storage.")
    try:
        data = thumbnail_bytes(media_path(name))
    except (OSError, ValueError):
        raise Http404("The image cannot be decoded.") from None
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response
