"""Celery interfaces for annotation jobs: take an id, load the row, call a service."""

from celery import shared_task

from annotation.models import AnalysisRun, ImportJob, LabelRelease
from annotation.services.analysis_runs import analysis_run_execute
from annotation.services.crowd_sweep import crowd_sessions_sweep
from annotation.services.imports import import_job_execute
from annotation.services.release_package import release_package_execute


@shared_task(name="annotation.import_job_run", time_limit=6 * 3600, acks_late=True)
def import_job_run(job_id: int) -> str:
    job = ImportJob.objects.select_related("study", "created_by").get(pk=job_id)
    return import_job_execute(job=job).status


# Analysis of a 1.26 M-rating study takes well under a minute; the limit only stops a runaway.
@shared_task(name="annotation.analysis_run", time_limit=3600, acks_late=True)
def analysis_run_task(run_id: int) -> str:
    run = AnalysisRun.objects.select_related("study", "created_by").get(pk=run_id)
    return analysis_run_execute(run=run).status


# A 20,000-image package is a few minutes of copying; the limit only stops a runaway.
@shared_task(name="annotation.release_package", time_limit=6 * 3600, acks_late=True)
def release_package_task(release_id: int) -> str:
    release = LabelRelease.objects.select_related("study").get(pk=release_id)
    return release_package_execute(release=release).package_status


# Run by Celery beat (CELERY_BEAT_SCHEDULE); cheap when no study sets a limit.
@shared_task(name="annotation.crowd_sessions_sweep", time_limit=600, ignore_result=True)
def crowd_sessions_sweep_task() -> dict:
    counts = crowd_sessions_sweep()
    return {"studies": counts.studies, "released": counts.released, "ended": counts.ended}
