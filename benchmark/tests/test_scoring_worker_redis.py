"""Score images on a real Celery worker over real Redis: train a tiny run, click "Score
images", watch the job finish, download the CSV. Same setup as test_worker_redis.py."""

import io

import pandas as pd
import pytest
from django.urls import reverse

from annotation.tests.factories import AdminFactory, StimulusFactory, StudyFactory
from benchmark.models import BenchmarkSweep, ScoringJob
from benchmark.tests.factories import LabelReleaseFactory, tiny_form
from benchmark.tests.test_worker_redis import (  # noqa: F401 - fixtures
    broker,
    redis_url,
    wait_for,
    workers,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_finished_runs_model_scores_another_studys_images_on_a_worker(
    client,
    workers,  # noqa: F811 - the fixture imported above
):
    client.force_login(AdminFactory())
    workers.start("scorer")
    logs = lambda: workers.log("scorer")[-5000:]  # noqa: E731
    response = client.post(reverse("benchmark:sweep_new"), tiny_form(LabelReleaseFactory()))
    assert response.status_code == 302
    sweep = BenchmarkSweep.objects.get()
    wait_for(
        lambda: BenchmarkSweep.objects.get(pk=sweep.pk).status == "finished",
        timeout=300,
        what="the sweep to finish",
        logs=logs,
    )
    run = sweep.runs.get()
    assert run.status == "succeeded", run.error

    study = StudyFactory(name="Another study")
    stimuli = [StimulusFactory(study=study, original_name=f"new{i}.jpg") for i in range(5)]
    response = client.post(reverse("benchmark:run_score", args=[run.pk]), {"study": study.pk})
    assert response.status_code == 302
    job = ScoringJob.objects.get()
    status_url = reverse("benchmark:scoring_status", args=[job.pk])
    wait_for(
        lambda: client.get(status_url).json()["finished"],
        timeout=120,
        what="the scoring job to finish",
        logs=logs,
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.progress == {"phase": "score", "done": 5, "total": 5, "fraction": 1.0}
    page = client.get(reverse("benchmark:scoring_detail", args=[job.pk])).content.decode()
    assert 'id="scores-table"' in page and all(s.original_name in page for s in stimuli)
    download = client.get(reverse("benchmark:scoring_csv", args=[job.pk]))
    frame = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    assert sorted(frame["name"]) == [f"new{i}.jpg" for i in range(5)]
    assert frame["pred_mos_quality"].notna().all() and frame["error"].isna().all()
