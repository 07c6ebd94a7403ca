"""Every page with figures, in headless Chromium at 1366x768: each figure has a title, axis
titles and a legend (or colour bar) in the DOM; no console error; no request to another host.
The analysis library's HTML report is checked the same way, and fits the window.

Screenshots go to $CHART_SCREENSHOTS when it is set (to look at them), else a temp folder.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from annotation.tests.factories import AdminFactory, rated_study_create
from benchmark.services import SweepSpec, run_execute, sweep_launch
from benchmark.tests.factories import LabelReleaseFactory
from study_site.tests.browser import BROWSER_MARKS, chromium_launch, closes_its_connection

pytestmark = BROWSER_MARKS

VIEWPORT = {"width": 1366, "height": 768}

# Per figure: its title, every axis title, and whether it has a legend or a colour bar.
FIGURES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
  id: div.id || div.dataset.section || '',
  title: (div.querySelector('.gtitle') || {}).textContent || '',
  axes: Array.from(div.querySelectorAll('.xtitle, .ytitle, [class^="x"][class$="title"],'
    + ' [class^="y"][class$="title"]')).map(e => e.textContent),
  key: div.querySelectorAll('.legend .traces, .colorbar').length,
}))"""


@pytest.fixture
def browser_context(live_server, tmp_path):
    """A signed-in admin's Chromium context that records console errors and foreign requests."""
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(AdminFactory())
    own = urlsplit(live_server.url).netloc
    shots = Path(os.environ.get("CHART_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(20_000)
        session = client.cookies["sessionid"].value
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        context.foreign = []
        context.errors = []
        context.shots = shots

        def record(route):
            if urlsplit(route.request.url).netloc not in (own, ""):
                context.foreign.append(route.request.url)
                return route.abort()
            return route.continue_()

        context.route("**/*", record)
        context.on(
            "console", lambda m: context.errors.append(m.text) if m.type == "error" else None
        )
        context.on(
            "page", lambda page: page.on("pageerror", lambda e: context.errors.append(str(e)))
        )
        yield context
        for page in context.pages:
            page.goto("about:blank")  # stop the polling scripts before the server goes
        context.close()
        browser.close()


def _figures_checked(page, expected: int, name: str, *, legends: bool = True) -> list[dict]:
    # Count drawn figures, not their SVG layers: each figure has two .main-svg, so
    # counting layers let a half-drawn page pass the wait on a loaded machine.
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
        f".filter(div => div.querySelector('.main-svg')).length >= {expected}"
    )
    page.wait_for_timeout(300)  # the last figure's titles are drawn in the same frame
    figures = page.evaluate(FIGURES_JS)
    assert len(figures) >= expected, name
    for figure in figures:
        assert figure["title"].strip(), (name, figure)
        titles = [t for t in figure["axes"] if t.strip()]
        assert len(titles) >= 2, (name, figure)  # at least an x and a y axis title
        assert figure["key"] > 0 or not legends, (name, figure)  # a legend entry or colour bar
    page.screenshot(path=str(page.context.shots / f"{name}.png"), full_page=True)
    return figures


def _finished_run():
    spec = SweepSpec(
        release=LabelReleaseFactory(),
        models=("nr",),
        backbones=("resnet18",),
        score_columns=("mos_quality",),
        split={"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25},
        hyper={"epochs": 2, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"},
    )
    sweep = sweep_launch(spec=spec, created_by=None)  # no broker here: tasks never sent
    run = sweep.runs.get()
    run_execute(run_id=run.pk, hostname="w")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


@closes_its_connection
def test_study_progress_and_analysis_pages_have_titled_charts(
    live_server, browser_context, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = rated_study_create(subjects=8, stimuli=12)
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/studies/{study.pk}/progress/")
    figures = _figures_checked(page, 3, "progress")
    titles = [f["title"] for f in figures]
    assert titles == ["Ratings per stimulus", "Completion per subject", "Images rated per hour"]
    hourly = [f for f in figures if f["title"] == "Images rated per hour"][0]
    assert any(t.startswith("hour (UTC") for t in hourly["axes"])
    # The ratings-per-hour axis is in whole hours: tick labels are clock times, not seconds.
    ticks = page.eval_on_selector_all(
        "#fig-hourly .xtick text", "nodes => nodes.map(n => n.textContent)"
    )
    assert ticks and all(":00" in t for t in ticks), ticks

    page.goto(f"{live_server.url}/studies/{study.pk}/analysis/")
    page.click("#analysis-options button[type=submit] >> nth=0")  # Analyse
    _figures_checked(page, 6, "analysis")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert browser_context.errors == [] and browser_context.foreign == []


@closes_its_connection
def test_a_pairwise_study_progress_page_charts_comparisons_and_choices(
    live_server, browser_context, settings, tmp_path
):
    from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices

    settings.MEDIA_ROOT = tmp_path / "media"
    study = pairwise_study_with_choices(subjects=6)
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/studies/{study.pk}/progress/")
    figures = _figures_checked(page, 3, "progress-pairwise")
    assert [f["title"] for f in figures] == [
        "Comparisons per image",
        "Completion per subject",
        "Choices per hour",
    ]
    axes = [title for f in figures for title in f["axes"]]
    assert "answered comparisons per image (count)" in axes and "choices (count)" in axes
    legends = page.eval_on_selector_all(".legendtext", "nodes => nodes.map(n => n.textContent)")
    assert f"target ({study.target_ratings_per_stimulus} comparisons)" in legends
    assert "choices in the hour" in legends
    shown = page.inner_text("#progress").lower()
    assert "rating" not in shown and "rated" not in shown, shown
    assert browser_context.errors == [] and browser_context.foreign == []


@closes_its_connection
def test_a_study_without_ratings_gets_titled_figures_that_say_so(live_server, browser_context):
    from annotation.tests.factories import DimensionFactory, StudyFactory

    study = StudyFactory()
    DimensionFactory(study=study, key="quality")
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/studies/{study.pk}/progress/")
    _figures_checked(page, 3, "progress-empty", legends=False)
    notes = page.eval_on_selector_all(".annotation-text", "nodes => nodes.map(n => n.textContent)")
    assert notes == ["No stimuli yet", "No subjects yet", "No ratings yet"]
    assert browser_context.errors == [] and browser_context.foreign == []


@closes_its_connection
def test_benchmark_sweep_and_run_pages_have_titled_charts(live_server, browser_context, settings):
    settings.BENCHMARK_DEVICE = "cpu"
    settings.BENCHMARK_TORCH_THREADS = 1
    run = _finished_run()
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/benchmark/sweeps/{run.sweep_id}/")
    (results,) = _figures_checked(page, 1, "sweep")
    assert results["title"].startswith("Test SRCC by model and backbone")
    page.goto(f"{live_server.url}/benchmark/runs/{run.pk}/")
    figures = _figures_checked(page, 3, "run")
    titles = sorted(f["title"] for f in figures)
    assert titles[0].startswith("Test predictions against MOS")
    assert titles[1].startswith("Training loss per epoch")
    assert titles[2].startswith("Validation SRCC per epoch")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert browser_context.errors == [] and browser_context.foreign == []


def test_the_html_report_is_titled_offline_and_fits_the_window(browser_context, tmp_path):
    from analysis.pipeline import PipelineOptions, run_pipeline
    from analysis.report import write_report
    from analysis.synthetic import SimulationOptions, simulate_study

    study = simulate_study(
        SimulationOptions(n_stimuli=40, n_subjects=10, n_careless=1, seed=2, n_generators=3)
    )
    write_report(run_pipeline(study.ratings, PipelineOptions()), tmp_path, title="report")
    page = browser_context.new_page()
    page.goto((tmp_path / "report.html").as_uri())
    _figures_checked(page, 5, "report")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert browser_context.errors == [] and browser_context.foreign == []
