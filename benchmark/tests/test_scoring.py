"""Scoring images with a finished run, in-process: a study's stimuli, uploads, the API.

The run trains for real (resnet18, 32 px, one epoch); the scoring task body runs here
through Celery's ``apply``. The worker-on-Redis flow is in test_scoring_worker_redis.py.
"""

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from annotation.tests.factories import AdminFactory, StimulusFactory, StudyFactory
from benchmark.models import BenchmarkRun, ScoringJob
from benchmark.services import SweepSpec, sweep_launch
from benchmark.services.configs import media_path
from benchmark.tasks import run_benchmark, score_images
from benchmark.tests.factories import LabelReleaseFactory
from benchmark.training.cli import main as training_cli

# Each test its own media root: uploads are stashed under the job id, and SQLite hands a
# rolled-back job's id (and so its folder, if left behind) to the next test's job.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

TINY = {"epochs": 1, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"}
SPLIT = {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25}


@pytest.fixture
def finished_run(django_capture_on_commit_callbacks) -> BenchmarkRun:
    spec = SweepSpec(
        release=LabelReleaseFactory(),
        models=("nr",),
        backbones=("resnet18",),
        split=SPLIT,
        hyper=TINY,
        score_columns=("mos_quality", "mos_authenticity"),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = sweep_launch(spec=spec, created_by=None).runs.get()
    assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
    run.refresh_from_db()
    return run


def _png(level: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), level, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> ContentFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return ContentFile(buffer.getvalue(), name="images.zip")


def _queue(client, run, data, django_capture_on_commit_callbacks) -> ScoringJob:
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("benchmark:run_score", args=[run.pk]), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    job = ScoringJob.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert job.status == ScoringJob.Status.QUEUED
    return job


def test_a_studys_stimuli_are_scored_like_the_cli_with_table_thumbnails_and_csv(
    client, finished_run, django_capture_on_commit_callbacks, tmp_path
):
    client.force_login(AdminFactory())
    page = client.get(reverse("benchmark:run_detail", args=[finished_run.pk])).content.decode()
    assert reverse("benchmark:run_score", args=[finished_run.pk]) in page
    study = StudyFactory(name="Pre-screen me")
    good = [StimulusFactory(study=study, original_name=f"img{i}.jpg") for i in range(3)]
    bad = StimulusFactory(study=study, original_name="bad.jpg")
    Path(bad.image.path).write_bytes(b"\xff\xd8 damaged in storage")
    job = _queue(client, finished_run, {"study": study.pk}, django_capture_on_commit_callbacks)
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "succeeded"
    job.refresh_from_db()
    assert job.columns == ["mos_quality", "mos_authenticity"]
    assert job.progress["phase"] == "score" and job.progress["fraction"] == 1.0
    by_id = {row["id"]: row for row in job.results}
    assert set(by_id) == {str(s.pk) for s in [*good, bad]}
    assert "cannot decode" in by_id[str(bad.pk)]["error"]
    assert by_id[str(bad.pk)]["scores"]["mos_quality"] is None

    # The CLI on the same files and checkpoint gives the same scores.
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        {"stimulus_id": [str(s.pk) for s in good], "image": [s.image.path for s in good]}
    ).to_csv(manifest, index=False)
    checkpoint = str(media_path(finished_run.checkpoint_path))
    out = tmp_path / "cli.csv"
    args = ["predict", "--checkpoint", checkpoint, "--images", str(manifest), "--out", str(out)]
    assert training_cli([*args, "--device", "cpu", "--quiet"]) == 0
    cli = pd.read_csv(out, dtype={"stimulus_id": str}).set_index("stimulus_id")
    for stimulus in good:
        site = by_id[str(stimulus.pk)]["scores"]["mos_quality"]
        assert site == pytest.approx(cli.loc[str(stimulus.pk), "pred_mos_quality"], abs=1e-5)

    page = client.get(reverse("benchmark:scoring_detail", args=[job.pk])).content.decode()
    assert 'id="scores-table"' in page and "img1.jpg" in page and "cannot decode" in page
    thumb = client.get(reverse("benchmark:scoring_thumbnail", args=[job.pk, 0]))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert client.get(reverse("benchmark:scoring_thumbnail", args=[job.pk, 9])).status_code == 404
    download = client.get(reverse("benchmark:scoring_csv", args=[job.pk]))
    frame = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    assert list(frame.columns) == [
        "id",
        "name",
        "image",
        "pred_mos_quality",
        "pred_mos_authenticity",
        "error",
    ]
    assert len(frame) == 4 and frame["pred_mos_quality"].isna().sum() == 1
    run_page = client.get(reverse("benchmark:run_detail", args=[finished_run.pk])).content.decode()
    assert 'id="scoring-jobs"' in run_page and "Pre-screen me" in run_page


def test_an_uploaded_zip_is_validated_and_scored(
    client, finished_run, django_capture_on_commit_callbacks
):
    client.force_login(AdminFactory())
    files = {"a/dark.png": _png(60), "a/bright.png": _png(220), "mid.png": _png(140)}
    data = {"images": _zip(files)}
    job = _queue(client, finished_run, data, django_capture_on_commit_callbacks)
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "succeeded"
    job.refresh_from_db()
    assert [row["id"] for row in job.results] == ["a/bright.png", "a/dark.png", "mid.png"]
    assert all(row["error"] == "" and row["scores"]["mos_quality"] for row in job.results)
    assert media_path(job.results[0]["image"]).is_file()  # kept for the thumbnails
    assert job.upload and not any(Path(p).exists() for p in job.upload.values())  # stash gone

    # A manifest names the images to score; a corrupt one rejects the upload, listed.
    manifest = ContentFile(b"image\nmid.png\nbroken.png\n", name="manifest.csv")
    files["broken.png"] = b"\x89PNG but no more"
    data = {"images": _zip(files), "manifest": manifest}
    job = _queue(client, finished_run, data, django_capture_on_commit_callbacks)
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "failed"
    job.refresh_from_db()
    assert job.error.startswith("The upload was rejected: row 2 (broken.png): image: ")
    page = client.get(reverse("benchmark:scoring_detail", args=[job.pk])).content.decode()
    assert "The upload was rejected" in page and "Traceback" not in page


def test_form_and_service_refuse_what_cannot_be_scored(
    client, finished_run, django_capture_on_commit_callbacks
):
    client.force_login(AdminFactory())
    url = reverse("benchmark:run_score", args=[finished_run.pk])
    response = client.post(url, {})
    assert response.status_code == 400 and "Choose a study or upload" in response.content.decode()
    empty = StudyFactory()
    assert client.post(url, {"study": empty.pk}).status_code == 400  # not offered: no stimuli
    BenchmarkRun.objects.filter(pk=finished_run.pk).update(status="failed")
    study = StimulusFactory().study
    response = client.post(url, {"study": study.pk})
    assert "Only a succeeded run" in response.content.decode()
    assert not ScoringJob.objects.exists()


def test_the_api_queues_a_job_and_reports_it(
    client, finished_run, django_capture_on_commit_callbacks
):
    client.force_login(AdminFactory())
    study = StimulusFactory().study
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("benchmark-api:run_scoring", args=[finished_run.pk]), {"study": study.pk}
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["csv_url"] is None
    score_images.apply(args=[body["id"]], task_id=ScoringJob.objects.get().task_id).get()
    detail = client.get(reverse("benchmark-api:scoring_detail", args=[body["id"]])).json()
    assert detail["status"] == "succeeded" and len(detail["results"]) == 1
    assert detail["csv_url"] == reverse("benchmark:scoring_csv", args=[body["id"]])
    bad = client.post(reverse("benchmark-api:run_scoring", args=[finished_run.pk]), {})
    assert bad.status_code == 400 and "Choose a study" in bad.json()["detail"][0]
