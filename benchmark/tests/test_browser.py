"""The pages' scripts in headless Chromium: live status updates and plotly figures."""

import pytest
from django.test import Client

from annotation.tests.factories import AdminFactory
from benchmark.models import BenchmarkRun
from benchmark.services import SweepSpec, run_execute, sweep_launch
from benchmark.tests.factories import LabelReleaseFactory
from study_site.tests.browser import BROWSER_MARKS, chromium_launch, closes_its_connection

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(AdminFactory())
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        yield page
        # Stop the polling scripts before the server and the test database go away.
        page.goto("about:blank")
        context.close()
        browser.close()


def _sweep(repeats: int = 1):
    spec = SweepSpec(
        release=LabelReleaseFactory(),
        models=("nr",),
        backbones=("resnet18",),
        score_columns=("mos_quality",),
        repeats=repeats,
        split={"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
        hyper={"epochs": 2, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"},
    )
    return sweep_launch(spec=spec, created_by=None)  # no broker here: tasks never sent


@closes_its_connection
def test_the_sweep_page_follows_a_run_and_shows_the_table_when_it_ends(live_server, page):
    sweep = _sweep()
    run = sweep.runs.get()
    page.goto(f"{live_server.url}/benchmark/sweeps/{sweep.pk}/")
    row = page.locator(f'tr[data-run="{run.pk}"]')
    assert "Queued" in row.inner_text()
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status="running",
        worker_host="gpu1@node7",
        progress={"split": 1, "splits": 1, "epoch": 1, "epochs": 2, "train_loss": 0.5},
    )
    page.wait_for_function(
        f"() => document.querySelector('tr[data-run=\"{run.pk}\"]').textContent.includes('epoch 1 of 2')"
    )
    assert "gpu1@node7" in row.inner_text()
    BenchmarkRun.objects.filter(pk=run.pk).update(status="queued")
    run_execute(run_id=run.pk, hostname="gpu1@node7")
    page.wait_for_selector("#results-table")  # the script reloads once the sweep ends
    assert "(n=1)" in page.inner_text("#results-table")
    assert page.errors == []


@closes_its_connection
def test_the_run_page_draws_learning_curves_and_the_scatter(live_server, page):
    sweep = _sweep()
    run = sweep.runs.get()
    run_execute(run_id=run.pk, hostname="w")
    run.refresh_from_db()
    page.goto(f"{live_server.url}/benchmark/runs/{run.pk}/")
    page.wait_for_selector("#fig-loss .main-svg")
    page.wait_for_selector("#fig-val .main-svg")
    page.wait_for_selector("#fig-scatter .main-svg")
    points = page.locator("#fig-scatter .scatterlayer .point").count()
    assert points == run.splits[0]["metrics"]["test"]["mos_quality"]["n"]
    assert page.errors == []


@closes_its_connection
def test_the_scoring_page_follows_the_job_then_sorts_the_table(live_server, page, settings):
    from annotation.tests.factories import StimulusFactory, StudyFactory
    from benchmark.models import ScoringJob
    from benchmark.services.scoring import scoring_execute, scoring_start

    sweep = _sweep()
    run = sweep.runs.get()
    run_execute(run_id=run.pk, hostname="w")
    run.refresh_from_db()
    study = StudyFactory(name="To pre-screen")
    for index in range(4):
        StimulusFactory(study=study, original_name=f"img{index}.jpg")
    job = scoring_start(run=run, by=None, study=study)  # no broker: run the body below
    page.goto(f"{live_server.url}/benchmark/runs/{run.pk}/")
    page.click("#score-images")
    page.wait_for_selector("select[name=study]")
    page.goto(f"{live_server.url}/benchmark/scoring/{job.pk}/")
    ScoringJob.objects.filter(pk=job.pk).update(
        status="running", progress={"phase": "decode", "done": 2, "total": 4, "fraction": 0.5}
    )
    page.wait_for_function(
        "() => document.querySelector('[data-field=progress]').textContent.includes('decode 2 of 4')"
    )
    ScoringJob.objects.filter(pk=job.pk).update(status="queued")
    scoring_execute(job_id=job.pk)
    page.wait_for_selector("#scores-table")  # reloaded once the job ended
    page.click("#scores-table th:nth-child(3)")  # the score column, ascending
    cells = page.locator("#scores-table tbody td:nth-child(3)").all_inner_texts()
    values = [float(text) for text in cells]
    assert values == sorted(values) and len(values) == 4
    page.click("#scores-table th:nth-child(3)")
    values = [
        float(t) for t in page.locator("#scores-table tbody td:nth-child(3)").all_inner_texts()
    ]
    assert values == sorted(values, reverse=True)
    images = page.locator("#scores-table img")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#scores-table img')).every(i => i.naturalWidth > 0)"
    )
    assert images.count() == 4
    assert page.errors == []


@closes_its_connection
def test_a_default_typed_under_a_protocol_is_used_and_untouched_fields_take_the_presets(
    live_server, page
):
    """The launch form's script names the fields the admin edits: retyping the library's
    default weight decay under pku-i2iqa keeps it (an override); the scheduler, left at the
    library's default, takes the protocol's."""
    from unittest import mock

    from benchmark.training.config import TrainConfig

    release = LabelReleaseFactory()
    page.goto(f"{live_server.url}/benchmark/new/")
    page.select_option("#id_release", str(release.pk))
    page.select_option("#id_protocol", "pku-i2iqa")
    page.check('input[name="backbones"][value="resnet18"]')
    page.select_option("#id_weights", "none")
    page.fill("#id_score_columns", "mos_quality")
    page.fill("#id_repeats", "1")
    assert page.input_value("#id_weight_decay") == "0.0001"  # the library's default
    page.fill("#id_weight_decay", "0.0001")
    with mock.patch("benchmark.tasks.run_benchmark.apply_async"):
        page.click("#sweep-form button[type=submit]")
        page.wait_for_url("**/benchmark/sweeps/*/")
    config = TrainConfig.from_dict(BenchmarkRun.objects.get().config, validate=False)
    assert config.weight_decay == 1e-4
    assert "weight_decay=0.0001 (preset 1e-05)" in config.protocol_overrides
    assert config.scheduler == "none"
    assert not any(note.startswith("scheduler=") for note in config.protocol_overrides)
    assert page.errors == []
