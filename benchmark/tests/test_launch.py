"""Launching from the form: admins only, everything validated, all runs queued or none."""

import html
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from django.conf import settings
from django.urls import reverse

from annotation.tests.factories import ResearcherFactory, UserFactory
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services import LaunchRejected, SweepSpec, sweep_plan
from benchmark.tests.factories import LabelReleaseFactory, tiny_form
from benchmark.training.errors import TrainingInputError

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    """Every task the launch would send to the broker."""
    with mock.patch("benchmark.tasks.run_benchmark.apply_async") as apply_async:
        yield apply_async


def test_a_valid_launch_creates_one_run_per_model_backbone_repeat_and_queues_each_on_commit(
    admin_client, sent, django_capture_on_commit_callbacks
):
    release = LabelReleaseFactory(reference=True)
    form = tiny_form(release, models=["nr", "fr"], backbones=["resnet18", "vgg16"], repeats=2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse("benchmark:sweep_new"), form)
    sweep = BenchmarkSweep.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("benchmark:sweep_detail", args=[sweep.pk])
    runs = list(sweep.runs.order_by("model_kind", "backbone", "repeat"))
    assert [(r.model_kind, r.backbone, r.repeat, r.seed) for r in runs] == [
        (m, b, r, r) for m in ("fr", "nr") for b in ("resnet18", "vgg16") for r in (0, 1)
    ]
    assert {r.status for r in runs} == {BenchmarkRun.Status.QUEUED}
    assert runs[0].config["epochs"] == 1 and runs[0].config["image_size"] == 32
    assert runs[0].config["score_columns"] == ["mos_quality"]
    # Machine-local values are filled in by each worker, never stored.
    assert "manifest" not in runs[0].config and "device" not in runs[0].config
    assert not sent.called  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert sorted(c.kwargs["task_id"] for c in sent.call_args_list) == sorted(
        r.task_id for r in runs
    )
    assert sorted(c.kwargs["args"][0] for c in sent.call_args_list) == sorted(r.pk for r in runs)


def test_the_task_goes_to_the_gpu_queue_acks_late_and_has_its_own_time_limits():
    from benchmark.tasks import run_benchmark
    from study_site.celery import app

    assert app.amqp.router.route({}, run_benchmark.name)["queue"].name == "gpu"
    assert run_benchmark.acks_late and run_benchmark.reject_on_worker_lost
    assert run_benchmark.time_limit == settings.BENCHMARK_TASK_TIME_LIMIT
    assert 0 < run_benchmark.soft_time_limit < run_benchmark.time_limit


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"epochs": 0}, "epochs", "must be >= 1"),
        ({"image_size": 16}, "image_size", "must be >= 32"),
        ({"batch_size": 1}, "batch_size", "must be >= 2"),
        ({"lr": 0}, "lr", "must be > 0"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "test_fraction", "must be < 1"),
        ({"models": ["fr"]}, "models", "FR models need a reference"),
        ({"weights": "imagenet"}, "weights", "resnet18-f37072fd.pth"),
        ({"split_protocol": "cross_generator"}, "train_generators", "is required"),
        (
            {
                "split_protocol": "cross_generator",
                "train_generators": "genA",
                "test_generators": "x",
            },
            "split_protocol",
            "not in the manifest",
        ),
        ({"split_protocol": "kfold", "folds": 9}, "split_protocol", "9-fold needs"),
        ({"score_columns": "mos_colour"}, "score_columns", "Not in the release"),
        ({"models": []}, "models", "required"),
    ],
)
def test_bad_parameters_are_shown_on_their_field_and_queue_nothing(
    admin_client, sent, overrides, field, fragment
):
    release = LabelReleaseFactory()
    response = admin_client.post(reverse("benchmark:sweep_new"), tiny_form(release, **overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(fragment in message for message in errors[field]), errors[field]
    assert fragment in html.unescape(response.content.decode())  # shown on the page
    assert not BenchmarkSweep.objects.exists() and not BenchmarkRun.objects.exists()
    assert not sent.called


def test_missing_images_in_the_release_are_named_before_anything_is_queued(admin_client, sent):
    release = LabelReleaseFactory()
    image = Path(release.mos_file.path).parent / "images" / "genB_002.png"
    image.unlink()
    response = admin_client.post(reverse("benchmark:sweep_new"), tiny_form(release))
    assert response.status_code == 400
    message = " ".join(response.context["form"].errors["release"])
    assert "images/genB_002.png" in message and "not found" in message
    assert not BenchmarkRun.objects.exists() and not sent.called


def test_too_few_prompt_groups_for_the_split_is_a_clear_error():
    release = LabelReleaseFactory(groups=2)
    spec = SweepSpec(
        release=release,
        models=("nr",),
        backbones=("resnet18",),
        hyper={"epochs": 1, "image_size": 32, "weights": "none"},
    )
    with pytest.raises(LaunchRejected) as info:
        sweep_plan(spec=spec)
    assert "need at least 3 prompt groups" in info.value.errors["split.protocol"][0]


def test_imagenet_weights_present_on_the_server_pass_validation():
    release = LabelReleaseFactory()
    (settings.BENCHMARK_WEIGHTS_DIR / "resnet18-f37072fd.pth").write_bytes(b"not checked here")
    spec = SweepSpec(
        release=release,
        models=("nr", "pscr"),
        backbones=("resnet18",),
        repeats=2,
        hyper={"epochs": 1, "image_size": 32, "weights": "imagenet"},
    )
    plan = sweep_plan(spec=spec)
    assert [(p.model, p.repeat) for p in plan] == [("nr", 0), ("nr", 1), ("pscr", 0), ("pscr", 1)]
    assert {p.config["weights"] for p in plan} == {"imagenet"}
    # Blank score columns: every dimension column of the release.
    assert plan[0].config["score_columns"] == ["mos_quality", "mos_authenticity"]


def test_several_problems_are_reported_together():
    release = LabelReleaseFactory()
    spec = SweepSpec(
        release=release,
        models=("fr",),
        backbones=("resnet18",),
        score_columns=("mos_colour",),
        hyper={"epochs": 1, "image_size": 32, "weights": "imagenet"},
        split={"protocol": "random", "val_fraction": 0.1, "test_fraction": 0.2},
    )
    with pytest.raises(LaunchRejected) as info:
        sweep_plan(spec=spec)
    # Missing weights, an unknown column and FR without prompt images: all in one answer.
    assert set(info.value.errors) == {"weights", "score_columns", "models"}


def mixed_release(with_reference: int):
    """A release whose first ``with_reference`` rows have a prompt image and the rest none
    (image-to-image and text-to-image rows in one release, as the demo has)."""
    release = LabelReleaseFactory(reference=True, groups=8)
    path = Path(release.mos_file.path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[with_reference:, "reference"] = ""
    frame.to_csv(path, index=False)
    return release, len(frame)


def test_fr_on_a_mixed_release_says_how_many_rows_lack_a_prompt_image_in_one_short_sentence(
    admin_client, sent
):
    release, rows = mixed_release(with_reference=15)
    response = admin_client.post(
        reverse("benchmark:sweep_new"), tiny_form(release, models=["fr", "nr"])
    )
    assert response.status_code == 400
    [message] = response.context["form"].errors["models"]
    assert f"{rows - 15} of {rows} rows have none" in message
    assert "the other 15" in message
    assert str(settings.MEDIA_ROOT) not in message and len(message) < 300
    page = html.unescape(response.content.decode())
    assert 'id="launch-problems"' in page and str(settings.MEDIA_ROOT) not in page
    assert "15 of 24 rows" in page  # the option's help names the mixed release's count
    assert not sent.called


def test_fr_on_the_rows_with_a_prompt_image_only_launches_and_trains_on_those(admin_client, sent):
    release, rows = mixed_release(with_reference=15)
    data = tiny_form(release, models=["fr", "nr"], fr_reference_rows_only="on")
    response = admin_client.post(reverse("benchmark:sweep_new"), data, follow=True)
    assert response.status_code == 200, response.context["form"].errors
    assert f"FR trains on the 15 of {rows} rows with a prompt image" in response.content.decode()
    runs = {run.model_kind: run for run in BenchmarkRun.objects.all()}
    assert runs["fr"].config["reference_rows_only"] is True
    assert "reference_rows_only" not in runs["nr"].config


def test_reference_rows_only_leaves_out_the_rows_without_a_reference(tmp_path):
    from benchmark.training.manifest import load_manifest

    release, rows = mixed_release(with_reference=15)
    path = Path(release.mos_file.path)
    manifest = load_manifest(path, ["mos"], need_reference=True, reference_rows_only=True)
    assert len(manifest) == 15 and all(manifest.references)
    with pytest.raises(TrainingInputError, match="empty 'reference'"):
        load_manifest(path, ["mos"], need_reference=True)


@pytest.mark.parametrize("name", ["sweep_new", "sweep_list"])
def test_anonymous_visitors_are_sent_to_sign_in(client, name):
    response = client.get(reverse(f"benchmark:{name}"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_researchers_and_plain_users_cannot_launch_or_see_the_form(client, sent):
    release = LabelReleaseFactory()
    for user in (ResearcherFactory(), UserFactory()):
        client.force_login(user)
        assert client.get(reverse("benchmark:sweep_new")).status_code == 403
        response = client.post(reverse("benchmark:sweep_new"), tiny_form(release))
        assert response.status_code == 403
    assert not BenchmarkRun.objects.exists() and not sent.called


def test_the_form_lists_releases_and_defaults_to_no_weights_without_weight_files(admin_client):
    release = LabelReleaseFactory()
    page = admin_client.get(reverse("benchmark:sweep_new"))
    assert page.status_code == 200
    assert f"{release.study.name} v{release.version} (imported" in page.content.decode()
    assert page.context["form"]["weights"].value() == "none"
