"""A pairwise study's analysis page in headless Chromium: scale, group picker, charts."""

import os

import pytest

from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices
from study_site.tests.browser import BROWSER_MARKS, browser_page

pytestmark = BROWSER_MARKS
# Set to a folder to keep the page's screenshots (review); unset, none are taken.
SHOTS = os.environ.get("PAIRWISE_ANALYSIS_SCREENSHOTS", "")


@pytest.fixture
def page():
    with browser_page() as page:
        yield page


def test_pairwise_analysis_page_shows_the_scale_groups_and_charts(live_server, page):
    study = pairwise_study_with_choices(
        groups=3, per_group=5, subjects=8, repeats=2, behaviour={"s04": "random"}, seed=2
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", study.owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/analysis/")
    assert page.locator("select[name=method]").count() == 1
    assert page.locator("select[name=repeat_policy]").count() == 0
    page.fill("input[name=bootstrap_resamples]", "50")
    page.click("#analysis-options button[type=submit] >> nth=0")  # Analyse
    page.wait_for_selector("#pw-scale .main-svg")
    page.wait_for_selector("#pw-preference .main-svg")
    page.wait_for_function(
        "() => document.querySelectorAll('#figures .figure .main-svg').length >= 3"
    )
    assert "Scale: match, group p0" in page.text_content("#pw-scale")
    assert "15 of 15 stimuli" in page.text_content("#mos-count")
    assert "s04" in page.text_content("#warnings + ul")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "pairwise-analysis.png"))
        page.screenshot(path=os.path.join(SHOTS, "pairwise-analysis-full.png"), full_page=True)
    page.fill("#pw-group", "p2")
    page.dispatch_event("#pw-group", "change")
    page.wait_for_function(
        "() => document.querySelector('#pw-preference').textContent.includes('group p2')"
    )
    assert "group p2" in page.text_content("#pw-scale")
    assert "3 groups" in page.text_content("#pw-group-note")
    with page.expect_download() as download:
        page.click("text=offline report (HTML)")
    assert download.value.suggested_filename.endswith("report.html")
    assert errors == []
