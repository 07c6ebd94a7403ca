"""Pages, JSON polls, downloads, leaderboard and API over runs that really trained."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.tests.factories import AdminFactory, ResearcherFactory
from benchmark.models import BenchmarkRun
from benchmark.services import SweepSpec, run_execute, sweep_launch
from benchmark.tests.factories import BenchmarkRunFactory, LabelReleaseFactory

pytestmark = pytest.mark.django_db

SPEC = {
    "models": ("nr",),
    "backbones": ("resnet18",),
    "score_columns": ("mos_quality",),
    "split": {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
    "hyper": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"},
}


@pytest.fixture
def finished_run(django_capture_on_commit_callbacks) -> BenchmarkRun:
    release = LabelReleaseFactory()
    with django_capture_on_commit_callbacks(execute=False):
        sweep = sweep_launch(spec=SweepSpec(release=release, name="paper", **SPEC), created_by=None)
    run = sweep.runs.get()
    run_execute(run_id=run.pk, hostname="gpu-a@node1")
    run.refresh_from_db()
    assert run.status == "succeeded"
    return run


def test_sweep_page_shows_the_results_table_and_its_runs(admin_client, finished_run):
    page = admin_client.get(reverse("benchmark:sweep_detail", args=[finished_run.sweep_id]))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="results-table"' in text and "mos_quality" in text
    srcc = finished_run.metrics["test"]["mos_quality"]["srcc"]
    plcc = finished_run.metrics["test"]["mos_quality"]["plcc"]
    assert f"{srcc:.4f} / {plcc:.4f}" in text
    # The finished run's own row shows its test SRCC too (the page no longer polls).
    assert f'<td data-field="srcc">{srcc:.3f}' in text
    assert "gpu-a@node1" in text and "benchmark/sweep.js" in text


def test_status_json_reports_progress_history_and_metrics(admin_client, finished_run):
    data = admin_client.get(reverse("benchmark:run_status", args=[finished_run.pk])).json()
    assert data["status"] == "succeeded" and data["finished"] is True
    assert data["progress"]["epoch"] == 1 and len(data["history"]) == 1
    assert data["metrics"]["test"]["mos_quality"]["srcc"] is not None
    assert data["device"] == "cpu" and data["requeued_after_worker_loss"] is False
    sweep = admin_client.get(reverse("benchmark:sweep_status", args=[finished_run.sweep_id]))
    body = sweep.json()
    assert body["finished"] and body["counts"] == {"succeeded": 1}
    assert body["runs"][0]["url"] == reverse("benchmark:run_detail", args=[finished_run.pk])


def test_run_page_has_metrics_curves_scatter_and_downloads(admin_client, finished_run):
    page = admin_client.get(reverse("benchmark:run_detail", args=[finished_run.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and 'id="metrics-table"' in text
    assert reverse("benchmark:run_predictions", args=[finished_run.pk]) in text
    assert reverse("benchmark:run_checkpoint", args=[finished_run.pk, 0]) in text
    assert "/static/vendor/plotly-custom.min.js" in text  # served here, no CDN
    assert "Retry" not in text and "Cancel" not in text
    scatter = admin_client.get(reverse("benchmark:run_scatter", args=[finished_run.pk])).json()
    points = scatter["columns"]["mos_quality"]
    test_size = finished_run.splits[0]["metrics"]["test"]["mos_quality"]["n"]
    assert len(points["mos"]) == len(points["pred"]) == test_size > 0


def test_downloads_are_files_for_admins_only(client, finished_run):
    urls = [
        reverse("benchmark:run_predictions", args=[finished_run.pk]),
        reverse("benchmark:run_checkpoint", args=[finished_run.pk, 0]),
    ]
    client.force_login(ResearcherFactory())
    assert [client.get(url).status_code for url in urls] == [403, 403]
    client.force_login(AdminFactory())
    csv = client.get(urls[0])
    assert csv.status_code == 200 and "attachment" in csv["Content-Disposition"]
    assert b"pred_mos_quality" in b"".join(csv.streaming_content)
    checkpoint = client.get(urls[1])
    assert checkpoint.status_code == 200 and checkpoint["Content-Disposition"].endswith('.pt"')
    assert (
        client.get(reverse("benchmark:run_checkpoint", args=[finished_run.pk, 5])).status_code
        == 404
    )


def test_leaderboard_ranks_the_best_sweep_per_model_and_backbone(admin_client, finished_run):
    release = finished_run.release
    other = BenchmarkRunFactory(
        sweep__release=release,
        sweep__parameters={**finished_run.sweep.parameters},
        backbone="vgg16",
    )
    BenchmarkRun.objects.filter(pk=other.pk).update(
        status="succeeded", metrics={"test": {"mos_quality": {"srcc": 2.0, "plcc": 0.5}}}
    )
    from benchmark.services import sweep_finish_if_done

    assert sweep_finish_if_done(sweep_id=other.sweep_id)
    page = admin_client.get(reverse("benchmark:leaderboard", args=[release.pk]))
    rows = page.context["board"]["rows"]["mos_quality"]
    assert [(r["backbone"], r["sweep"]) for r in rows] == [
        ("vgg16", other.sweep_id),
        ("resnet18", finished_run.sweep_id),
    ]
    assert "paper" in page.content.decode()


def test_cancel_and_retry_buttons_post_to_the_services(admin_client, finished_run):
    queued = BenchmarkRunFactory(sweep__release=finished_run.release)
    response = admin_client.post(reverse("benchmark:run_cancel", args=[queued.pk]))
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    page = admin_client.get(reverse("benchmark:run_detail", args=[queued.pk])).content.decode()
    assert "Retry" in page
    admin_client.post(reverse("benchmark:run_retry", args=[queued.pk]))
    queued.refresh_from_db()
    assert queued.status == "queued"
    # A finished run cannot be cancelled: the page says why, nothing changes.
    response = admin_client.post(
        reverse("benchmark:run_cancel", args=[finished_run.pk]), follow=True
    )
    assert "already succeeded" in response.content.decode()


def test_a_requeued_run_says_so_on_its_page(admin_client):
    run = BenchmarkRunFactory(sweep__release=LabelReleaseFactory())
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status="running",
        attempts=2,
        events=[{"at": "2024-01-01T00:00:00", "event": "re-queued after worker loss: attempt 1"}],
    )
    page = admin_client.get(reverse("benchmark:run_detail", args=[run.pk])).content.decode()
    assert "re-queued after worker loss" in page and "Cancel" in page


def test_pages_and_json_refuse_researchers(client, finished_run):
    client.force_login(ResearcherFactory())
    for url in (
        reverse("benchmark:sweep_list"),
        reverse("benchmark:sweep_detail", args=[finished_run.sweep_id]),
        reverse("benchmark:run_status", args=[finished_run.pk]),
        reverse("benchmark:leaderboard", args=[finished_run.release_id]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("benchmark:run_retry", args=[finished_run.pk])).status_code == 403


def test_dashboard_links_to_benchmarks_for_admins_only(client):
    client.force_login(ResearcherFactory())
    assert reverse("benchmark:sweep_list") not in client.get(reverse("home")).content.decode()
    client.force_login(AdminFactory())
    assert reverse("benchmark:sweep_list") in client.get(reverse("home")).content.decode()


def test_api_reads_sweeps_and_runs_for_admins(finished_run):
    api = APIClient()
    api.force_authenticate(ResearcherFactory())
    assert api.get("/api/benchmark/sweeps/").status_code == 403
    api.force_authenticate(AdminFactory())
    sweeps = api.get("/api/benchmark/sweeps/").json()["results"]
    assert [s["id"] for s in sweeps] == [finished_run.sweep_id]
    detail = api.get(f"/api/benchmark/sweeps/{finished_run.sweep_id}/").json()
    assert detail["status"] == "finished" and detail["runs"][0]["status"] == "succeeded"
    assert detail["results"]["rows"][0]["backbone"] == "resnet18"
    run = api.get(f"/api/benchmark/runs/{finished_run.pk}/").json()
    assert run["metrics"]["test"]["mos_quality"]["srcc"] is not None
    assert api.get("/api/benchmark/runs/999999/").status_code == 404


@pytest.mark.parametrize("model", ["benchmarksweep", "benchmarkrun"])
def test_admin_changelists_render(admin_client, finished_run, model):
    response = admin_client.get(reverse(f"admin:benchmark_{model}_changelist"), {"q": "x"})
    assert response.status_code == 200
    pk = finished_run.sweep_id if model == "benchmarksweep" else finished_run.pk
    change = admin_client.get(reverse(f"admin:benchmark_{model}_change", args=[pk]))
    assert change.status_code == 200
