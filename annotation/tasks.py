"""Celery interfaces for annotation jobs: take an id, load the row, call a service."""

from celery import shared_task

from annotation.models import ImportJob
from annotation.services.imports import import_job_execute


@shared_task(name="annotation.import_job_run", time_limit=6 * 3600, acks_late=True)
def import_job_run(job_id: int) -> str:
    job = ImportJob.objects.select_related("study", "created_by").get(pk=job_id)
    return import_job_execute(job=job).status
