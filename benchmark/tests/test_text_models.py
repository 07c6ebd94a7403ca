"""The text-image kinds on the site: a sweep that mixes them with an image kind trains all
of them in-process on a tiny release (the catalog's tiny random CLIP, its weights
made from its seed and loaded from BENCHMARK_WEIGHTS_DIR; EfficientNet-Lite0's ImageNet weights from its pip package),
the leaderboard shows CLIPScore as the zero-shot baseline, and bad input is refused before
anything is queued."""

from pathlib import Path

import pandas as pd
import pytest
from django.urls import reverse

from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services import LaunchRejected, SweepSpec, sweep_launch, sweep_plan
from benchmark.services.configs import machine_config, weights_path
from benchmark.tasks import run_benchmark
from benchmark.tests.factories import LabelReleaseFactory, tiny_form
from benchmark.training.catalog import BACKBONES, RANDOM_CLIP_BACKBONE
from benchmark.training.weights import package_weights_path

pytestmark = pytest.mark.django_db

# clip_tiny_random takes 32 px only, so the image backbone trains at 32 px too.
TINY = {"epochs": 1, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "pretrained"}
SPLIT = {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25}
LITE0 = "efficientnet_lite0"
CLIP = RANDOM_CLIP_BACKBONE  # its weights file put in place by the tiny_clip fixture


def _spec(release, **values) -> SweepSpec:
    fields = {
        "models": ("nr", "text", "clipscore"),
        "backbones": (LITE0, CLIP),
        "split": SPLIT,
        "hyper": TINY,
        "score_columns": ("mos_quality",),
    }
    fields.update(values)
    return SweepSpec(release=release, **fields)


def _prompt_per_group(release) -> None:
    """A prompt of its own per prompt group, as a text-to-image database has."""
    path = Path(release.mos_file.path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["prompt"] = [f"a picture of scene {group}" for group in frame["prompt_group"]]
    frame.to_csv(path, index=False)


def _blank_prompts(release, rows: int) -> list[str]:
    """Empty the prompt of the release's first ``rows`` rows; return their stimulus ids."""
    path = Path(release.mos_file.path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[: rows - 1, "prompt"] = ""
    frame.to_csv(path, index=False)
    return frame.loc[: rows - 1, "stimulus_id"].tolist()


def test_a_sweep_trains_nr_and_the_text_kinds_and_the_leaderboard_shows_the_baseline(
    admin_client, tiny_clip, django_capture_on_commit_callbacks
):
    release = LabelReleaseFactory()
    _prompt_per_group(release)
    with django_capture_on_commit_callbacks(execute=False):
        sweep = sweep_launch(spec=_spec(release), created_by=None)
    runs = {run.model_kind: run for run in sweep.runs.all()}
    # Each kind on the backbones that fit it: three runs, not six.
    assert {(k, r.backbone) for k, r in runs.items()} == {
        ("nr", LITE0),
        ("text", tiny_clip),
        ("clipscore", tiny_clip),
    }
    for run in runs.values():
        assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
        run.refresh_from_db()
        assert "srcc" in run.metrics["test"]["mos_quality"]
        page = admin_client.get(reverse("benchmark:run_detail", args=[run.pk]))
        assert page.status_code == 200
        assert admin_client.get(reverse("benchmark:run_status", args=[run.pk])).status_code == 200
    assert [h["epoch"] for h in BenchmarkRun.objects.get(model_kind="clipscore").history] == [1]
    page = admin_client.get(reverse("benchmark:run_detail", args=[runs["clipscore"].pk]))
    assert 'id="zero-shot"' in page.content.decode()
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED
    assert {row["model"] for row in sweep.results["rows"]} == {"nr", "text", "clipscore"}
    board = admin_client.get(reverse("benchmark:leaderboard", args=[release.pk]))
    rows = board.context["board"]["rows"]["mos_quality"]
    assert {row["model"]: row["baseline"] for row in rows} == {
        "nr": False,
        "text": False,
        "clipscore": True,
    }
    assert next(row for row in rows if row["baseline"])["epochs"] is None
    assert "CLIPSCORE <small>(zero-shot baseline)</small>" in board.content.decode()


def test_efficientnet_lite0_weights_come_from_its_pip_package_without_a_weights_dir(settings):
    packaged = package_weights_path(BACKBONES[LITE0])
    assert packaged is not None and packaged.is_file()
    assert not any(Path(settings.BENCHMARK_WEIGHTS_DIR).iterdir())
    assert weights_path(backbone=LITE0) == packaged
    spec = _spec(LabelReleaseFactory(), models=("nr",), backbones=(LITE0,))
    plan = sweep_plan(spec=spec)
    config = machine_config(base=plan[0].config, manifest=Path("m.csv"), output_dir=Path("o"))
    assert config["weights_path"] == str(packaged)
    # A copy in BENCHMARK_WEIGHTS_DIR comes first, as for every other backbone.
    local = Path(settings.BENCHMARK_WEIGHTS_DIR) / packaged.name
    local.symlink_to(packaged)
    assert weights_path(backbone=LITE0) == local


def test_rows_without_a_prompt_are_listed_in_one_error_and_nothing_is_queued(tiny_clip):
    release = LabelReleaseFactory()
    ids = _blank_prompts(release, 12)
    with pytest.raises(LaunchRejected) as refused:
        sweep_launch(spec=_spec(release), created_by=None)
    (message,) = refused.value.errors["models"]
    assert message.startswith("text and clipscore cannot train on this release: 12 row(s)")
    assert all(repr(key) in message for key in ids[:10]) and "and 2 more" in message
    assert repr(ids[10]) not in message and len(message) < 400
    assert not BenchmarkSweep.objects.exists() and not BenchmarkRun.objects.exists()


def test_the_form_names_the_rows_without_a_prompt_and_queues_nothing(admin_client, settings):
    release = LabelReleaseFactory()
    ids = _blank_prompts(release, 2)
    data = tiny_form(
        release, models=["nr", "text"], backbones=["resnet18", "clip_vit_b32"], weights="none"
    )
    data.pop("image_size")  # the CLIP backbone takes 224 px only
    response = admin_client.post(reverse("benchmark:sweep_new"), data)
    assert response.status_code == 400
    problems = response.context["form"].problems()
    assert any("2 row(s) have no text prompt" in p and repr(ids[0]) in p for p in problems)
    assert not BenchmarkRun.objects.exists()


def test_missing_clip_weights_and_kinds_without_a_fitting_backbone_are_refused():
    release = LabelReleaseFactory()
    with pytest.raises(LaunchRejected) as refused:
        hyper = {k: v for k, v in TINY.items() if k != "image_size"}  # 224 px only
        sweep_plan(spec=_spec(release, models=("text",), backbones=("clip_vit_b32",), hyper=hyper))
    (message,) = refused.value.errors["weights"]
    assert message.startswith("CLIP weights for clip_vit_b32 (vit_b_32-laion2b_e16-af8dbd0c.pth)")
    assert "BENCHMARK_WEIGHTS_DIR" in message
    with pytest.raises(LaunchRejected) as refused:
        sweep_plan(spec=_spec(release, models=("nr", "clipscore"), backbones=("resnet18",)))
    assert refused.value.errors["backbones"] == [
        "No chosen backbone fits clipscore: CLIP backbones run the text-image kinds "
        "(clipscore, text) only, the other backbones the other kinds."
    ]
    with pytest.raises(LaunchRejected) as refused:
        sweep_plan(spec=_spec(release, models=("clip",), backbones=("resnet18",)))
    assert "must be one of" in refused.value.errors["model"][0]


def test_clip_backbones_have_no_imagenet_weights_and_clipscore_needs_pretrained(tiny_clip):
    release = LabelReleaseFactory()
    hyper = {**TINY, "weights": "imagenet"}
    with pytest.raises(LaunchRejected) as refused:
        sweep_plan(spec=_spec(release, models=("text",), backbones=(tiny_clip,), hyper=hyper))
    assert refused.value.errors["weights"] == [
        f"{tiny_clip} has no ImageNet weights; use pretrained (its CLIP checkpoint)"
    ]
    hyper = {**TINY, "weights": "none"}
    with pytest.raises(LaunchRejected) as refused:
        sweep_plan(spec=_spec(release, models=("clipscore",), backbones=(tiny_clip,), hyper=hyper))
    assert refused.value.errors["weights"] == [
        "clipscore is zero-shot: it needs weights: pretrained"
    ]


def test_the_api_launches_text_kinds_and_refuses_bad_input_with_nothing_queued(
    admin_client, tiny_clip, django_capture_on_commit_callbacks
):
    release = LabelReleaseFactory()
    url = reverse("benchmark-api:sweep_list")
    body = {
        "release": release.pk,
        "models": ["nr", "text", "clipscore"],
        "backbones": [LITE0, tiny_clip],
        "score_columns": ["mos_quality"],
        "split": SPLIT,
        "hyper": TINY,
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(url, body, content_type="application/json")
    assert response.status_code == 201, response.content
    runs = response.json()["runs"]
    assert sorted((run["model_kind"], run["backbone"]) for run in runs) == [
        ("clipscore", tiny_clip),
        ("nr", LITE0),
        ("text", tiny_clip),
    ]
    assert len(callbacks) == 3
    ids = _blank_prompts(release, 1)
    refused = admin_client.post(url, body, content_type="application/json")
    assert refused.status_code == 400
    (problem,) = refused.json()["detail"]
    assert problem.startswith("models: text and clipscore cannot train") and repr(ids[0]) in problem
    unknown = admin_client.post(
        url, {**body, "models": ["clip"], "hyper": {"epoch": 1}}, content_type="application/json"
    )
    assert unknown.status_code == 400
    assert set(unknown.json()) == {"models", "hyper"}
    assert BenchmarkSweep.objects.count() == 1


def test_the_form_trains_every_kind_on_the_demo_release_and_the_leaderboard_marks_them(
    admin_client, tiny_clip, media, django_capture_on_commit_callbacks
):
    """What the demo queues, from the launch form: NR and FR (FR on the rows with a prompt
    image) on EfficientNet-Lite0, Text and CLIPScore on the random-weights tiny CLIP, each
    run by the worker's task; one leaderboard, the baseline and the random weights marked."""
    from fixtures.demo_study import load_demo_study

    release = load_demo_study().study.releases.get()
    page = admin_client.get(reverse("benchmark:sweep_new")).content.decode()
    assert f"{tiny_clip} (tiny CLIP, CLIPScore and Text only: random weights made" in page
    data = tiny_form(
        release,
        models=["nr", "fr", "text", "clipscore"],
        backbones=[LITE0, tiny_clip],
        weights="pretrained",
        fr_reference_rows_only="on",
    )
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(reverse("benchmark:sweep_new"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    sweep = BenchmarkSweep.objects.get()
    runs = list(sweep.runs.order_by("pk"))
    assert sorted((r.model_kind, r.backbone) for r in runs) == [
        ("clipscore", tiny_clip),
        ("fr", LITE0),
        ("nr", LITE0),
        ("text", tiny_clip),
    ]
    for run in runs:
        assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
    text_run = next(r for r in runs if r.model_kind == "text")
    text_page = admin_client.get(reverse("benchmark:run_detail", args=[text_run.pk]))
    assert 'id="random-weights"' in text_page.content.decode()
    board = admin_client.get(reverse("benchmark:leaderboard", args=[release.pk]))
    rows = board.context["board"]["rows"]["mos_quality"]
    assert {(r["model"], r["baseline"], r["random_weights"]) for r in rows} == {
        ("nr", False, False),
        ("fr", False, False),
        ("text", False, True),
        ("clipscore", True, True),
    }
    html = board.content.decode()
    assert 'id="random-weights"' in html and "not a quality model" in html
    assert "CLIPSCORE <small>(zero-shot baseline)</small>" in html
    fr = next(r for r in runs if r.model_kind == "fr")
    fr.refresh_from_db()
    assert fr.config["reference_rows_only"] is True


def test_missing_random_clip_weights_say_how_to_make_them(settings):
    with pytest.raises(LaunchRejected) as refused:
        sweep_plan(spec=_spec(LabelReleaseFactory(), models=("text",), backbones=(CLIP,)))
    (message,) = refused.value.errors["weights"]
    assert message.startswith(f"The random weights of {CLIP} (")
    assert f"'python -m benchmark.training fetch-weights {CLIP} --dir'" in message
