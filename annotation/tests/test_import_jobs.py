"""Import jobs run on Celery after commit and report progress or every problem."""

import pytest
from django.test import override_settings

from annotation.models import ImportJob
from annotation.services.imports import import_job_create
from annotation.tasks import import_job_run
from annotation.tests.factories import StudyFactory
from annotation.tests.research_support import image_set, write_manifest

pytestmark = pytest.mark.django_db


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_job_is_enqueued_on_commit_and_runs(tmp_path, django_capture_on_commit_callbacks):
    study = StudyFactory()
    manifest = image_set(tmp_path, n=4)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_create(
            kind=ImportJob.Kind.MANIFEST,
            created_by=study.owner,
            study=study,
            options={"manifest": str(manifest)},
        )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING and len(callbacks) == 1
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.progress == job.total == 8
    assert study.stimuli.count() == 4 and job.finished_at


def test_failed_job_keeps_the_full_error_report(tmp_path):
    study = StudyFactory()
    manifest = write_manifest(tmp_path / "m.csv", [{"image": "a.jpg"}, {"image": "b.jpg"}])
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.MANIFEST, study=study, options={"manifest": str(manifest)}
    )
    assert import_job_run(job.pk) == ImportJob.Status.FAILED
    job.refresh_from_db()
    assert [e["row"] for e in job.error_report] == [1, 2]
    assert study.stimuli.count() == 0
