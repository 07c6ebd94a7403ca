"""A real Celery worker, on real Redis and the real test database, runs analysis and freeze
runs queued by name, and writes the release files where the site reads them."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings as django_settings

from annotation.models import AnalysisRun
from annotation.services.analysis_options import analysis_options_clean, analysis_options_hash
from annotation.tests.factories import rated_study_create
from study_site.tests.helpers import REPO, child_env, server_database_url
from study_site.worker import worker_argv

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def queued(study, kind: str) -> AnalysisRun:
    options = analysis_options_clean(data={"screening": ["bt500", "correlation"]})
    return AnalysisRun.objects.create(
        study=study,
        kind=kind,
        options=options,
        options_hash=analysis_options_hash(options=options),
        ratings_count=study_ratings(study),
    )


def study_ratings(study) -> int:
    from annotation.selectors.analysis import ratings_fingerprint

    return ratings_fingerprint(study=study).count


def test_worker_runs_analysis_and_freeze(redis_url, tmp_path, settings):
    database_url = server_database_url()
    settings.MEDIA_ROOT = tmp_path / "media"
    study = rated_study_create(subjects=6, stimuli=5)
    analysis, freeze = queued(study, "analysis"), queued(study, "freeze")
    worker = subprocess.Popen(
        worker_argv(hostname=f"analysis-{os.getpid()}@%h", queues="default"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(
            DEBUG="1",
            VAR_DIR=str(tmp_path / "var"),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            DATABASE_URL=database_url,
            DATABASE_CONN_MAX_AGE="0",
            CELERY_BROKER_URL=redis_url,
            CELERY_RESULT_BACKEND=redis_url,
            SECRET_KEY=django_settings.SECRET_KEY,
        ),
    )
    client = Celery("test-client", broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    try:
        results = [
            client.send_task("annotation.analysis_run", args=[run.pk], queue="default")
            for run in (analysis, freeze)
        ]
        assert [r.get(timeout=120) for r in results] == ["done", "done"]
    finally:
        worker.terminate()
        log, _ = worker.communicate(timeout=30)
    assert "annotation.analysis_run" in log and "succeeded" in log, log[-3000:]
    analysis.refresh_from_db()
    freeze.refresh_from_db()
    assert analysis.status == "done" and analysis.summary["n_input_ratings"] == 60
    assert analysis.log[0]["step"] == "loading ratings" and analysis.progress == 1.0
    release = freeze.release
    assert release is not None and release.version == 1
    stored = Path(settings.MEDIA_ROOT) / release.mos_file.name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == release.mos_sha256
