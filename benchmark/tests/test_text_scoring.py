"""Scoring images with a text-image run: each image with its prompt (a stimulus's, a
manifest's prompt column or the form's), the same scores as the CLI, and one clear error,
with nothing queued, for images left without a prompt. The run trains for real (the tiny
CLIP of the library's tests, from BENCHMARK_WEIGHTS_DIR)."""

import io
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse

from annotation.tests.factories import AdminFactory, StimulusFactory, StudyFactory
from benchmark.models import BenchmarkRun, ScoringJob
from benchmark.services import SweepSpec, sweep_launch
from benchmark.services.configs import media_path
from benchmark.tasks import run_benchmark, score_images
from benchmark.tests.factories import LabelReleaseFactory
from benchmark.tests.test_scoring import _png, _queue, _zip
from benchmark.training.cli import main as training_cli

# Each test its own media root: uploads are stashed under the job id, and SQLite hands a
# rolled-back job's id (and so its folder, if left behind) to the next test's job.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

TINY = {"epochs": 1, "batch_size": 4, "lr": 1e-3, "weights": "pretrained"}
SPLIT = {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25}


@pytest.fixture
def text_run(tiny_clip, django_capture_on_commit_callbacks) -> BenchmarkRun:
    spec = SweepSpec(
        release=LabelReleaseFactory(),
        models=("text",),
        backbones=(tiny_clip,),
        split=SPLIT,
        hyper=TINY,
        score_columns=("mos_quality",),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = sweep_launch(spec=spec, created_by=None).runs.get()
    assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
    run.refresh_from_db()
    return run


def _cli_scores(run: BenchmarkRun, frame: pd.DataFrame, tmp_path: Path) -> pd.Series:
    """``predict`` on the same files, prompts and checkpoint, by stimulus id."""
    manifest, out = tmp_path / "m.csv", tmp_path / "cli.csv"
    frame.to_csv(manifest, index=False)
    checkpoint = str(media_path(run.checkpoint_path))
    args = ["predict", "--checkpoint", checkpoint, "--images", str(manifest), "--out", str(out)]
    assert training_cli([*args, "--device", "cpu", "--quiet"]) == 0
    return pd.read_csv(out, dtype={"stimulus_id": str}).set_index("stimulus_id")["pred_mos_quality"]


def test_a_studys_stimuli_are_scored_with_their_prompts_like_the_cli(
    client, text_run, django_capture_on_commit_callbacks, tmp_path
):
    client.force_login(AdminFactory())
    study = StudyFactory()
    image = _png(120)
    stimuli = [
        StimulusFactory(study=study, image=ContentFile(image, name=f"same{i}.png"), prompt=text)
        for i, text in enumerate(["a red fox in the snow", "a bowl of soup on a table", ""])
    ]
    data = {"study": study.pk, "prompt": "a lighthouse at night"}
    job = _queue(client, text_run, data, django_capture_on_commit_callbacks)
    assert job.prompt == "a lighthouse at night"
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "succeeded"
    job.refresh_from_db()
    by_id = {row["id"]: row for row in job.results}
    prompts = [by_id[str(s.pk)]["prompt"] for s in stimuli]
    assert prompts == ["a red fox in the snow", "a bowl of soup on a table", data["prompt"]]
    scores = [by_id[str(s.pk)]["scores"]["mos_quality"] for s in stimuli]
    assert scores[0] != pytest.approx(scores[1], abs=1e-6)  # one image, two prompts
    frame = pd.DataFrame(
        {
            "stimulus_id": [str(s.pk) for s in stimuli],
            "image": [s.image.path for s in stimuli],
            "prompt": prompts,
        }
    )
    cli = _cli_scores(text_run, frame, tmp_path)
    for stimulus, score in zip(stimuli, scores, strict=True):
        assert score == pytest.approx(cli.loc[str(stimulus.pk)], abs=1e-5)
    page = client.get(reverse("benchmark:scoring_detail", args=[job.pk])).content.decode()
    assert "a bowl of soup on a table" in page


def test_an_upload_takes_its_prompts_from_the_manifest_or_the_form(
    client, text_run, django_capture_on_commit_callbacks
):
    client.force_login(AdminFactory())
    files = {"dark.png": _png(60), "bright.png": _png(220)}
    manifest = ContentFile(b"image,prompt\ndark.png,a cat\nbright.png,a dog\n", name="m.csv")
    job = _queue(
        client,
        text_run,
        {"images": _zip(files), "manifest": manifest},
        django_capture_on_commit_callbacks,
    )
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "succeeded"
    job.refresh_from_db()
    assert {row["id"]: row["prompt"] for row in job.results} == {
        "dark.png": "a cat",
        "bright.png": "a dog",
    }
    download = client.get(reverse("benchmark:scoring_csv", args=[job.pk]))
    frame = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    assert list(frame.columns) == ["id", "name", "image", "prompt", "pred_mos_quality", "error"]
    data = {"images": _zip(files), "prompt": "a photo"}
    job = _queue(client, text_run, data, django_capture_on_commit_callbacks)
    assert score_images.apply(args=[job.pk], task_id=job.task_id).get() == "succeeded"
    job.refresh_from_db()
    assert {row["prompt"] for row in job.results} == {"a photo"}


def _stashed() -> set[Path]:
    folder = Path(settings.VAR_DIR) / "imports"
    return set(folder.iterdir()) if folder.is_dir() else set()


def test_images_without_a_prompt_are_one_error_and_nothing_is_queued(client, text_run):
    client.force_login(AdminFactory())
    url = reverse("benchmark:run_score", args=[text_run.pk])
    before = _stashed()
    files = {"dark.png": _png(60), "bright.png": _png(220)}
    response = client.post(url, {"images": _zip(files)})
    assert response.status_code == 400
    assert "A text-image model scores each image with its prompt" in response.content.decode()
    manifest = ContentFile(b"image,prompt\ndark.png,\nbright.png,a dog\n", name="m.csv")
    response = client.post(url, {"images": _zip(files), "manifest": manifest})
    (error,) = response.context["form"].non_field_errors()
    assert error.startswith("1 row(s) of the manifest have no prompt") and "'dark.png'" in error
    study = StudyFactory(name="Unprompted")
    for i in range(12):
        StimulusFactory(study=study, original_name=f"img{i}.jpg", prompt=" " if i else "")
    (error,) = client.post(url, {"study": study.pk}).context["form"].non_field_errors()
    assert error.startswith("12 stimulus/stimuli of study 'Unprompted' have no prompt")
    assert "'img9.jpg' and 2 more" in error and "img10" not in error
    assert not ScoringJob.objects.exists() and _stashed() == before


def test_the_api_takes_a_prompt_and_refuses_images_without_one(
    client, text_run, django_capture_on_commit_callbacks
):
    client.force_login(AdminFactory())
    url = reverse("benchmark-api:run_scoring", args=[text_run.pk])
    images = {"only.png": _png(90)}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, {"images": _zip(images), "prompt": "a tree"})
    assert response.status_code == 202, response.content
    body = response.json()
    score_images.apply(args=[body["id"]], task_id=ScoringJob.objects.get().task_id).get()
    detail = client.get(reverse("benchmark-api:scoring_detail", args=[body["id"]])).json()
    assert detail["status"] == "succeeded" and detail["results"][0]["prompt"] == "a tree"
    refused = client.post(url, {"images": _zip(images)})
    assert refused.status_code == 400
    assert refused.json()["detail"][0].startswith("A text-image model scores each image")
    missing = reverse("benchmark-api:run_scoring", args=[text_run.pk + 1000])
    assert client.post(missing, {"images": _zip(images), "prompt": "a tree"}).status_code == 404
    assert ScoringJob.objects.count() == 1
