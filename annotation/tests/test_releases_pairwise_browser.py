"""The releases page of a pairwise study in headless Chromium: freeze with the pairwise
options, then the release lists its scores and choices CSVs with their sha256; package it
and the archive is listed with its sha256."""

import os

from django.test import override_settings

from annotation.models import LabelRelease
from annotation.services.releases import release_freeze
from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices
from study_site.tests.browser import BROWSER_MARKS, browser_page

pytestmark = BROWSER_MARKS


def _releases_page_open(page, live_server, study, errors: list[str]) -> None:
    """Sign in as the study's owner and open its releases page, console errors to ``errors``."""
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", study.owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/releases/")


def test_freezing_a_pairwise_study_lists_scores_and_choices(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = pairwise_study_with_choices(groups=3, per_group=4, subjects=5)
    errors: list[str] = []
    with browser_page(timeout_ms=20_000) as page:
        _releases_page_open(page, live_server, study, errors)
        page.click("form[action$='/releases/freeze/'] button[type=submit]")
        page.wait_for_selector("a:has-text('scores CSV')")
        release = LabelRelease.objects.get(study=study)
        text = page.text_content("table.grid")
        assert release.mos_sha256 in text and release.raw_sha256 in text
        assert "raw choices CSV" in text and "scores in JOD" in text
        assert "Frozen from this study's choices" in text
        intro = page.text_content("#releases-intro")
        assert "raw choices and their scaled scores" in intro and "MOS" not in intro
        # The rated-trial target counts ratings, which a pairwise study has none of.
        assert "Frozen below target" not in page.text_content("body")
        if os.environ.get("SCREENSHOT_DIR"):
            page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "pw-releases.png"))
    assert errors == []


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_packaging_a_pairwise_release_lists_its_archive(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = pairwise_study_with_choices(groups=3, per_group=4, subjects=5)
    release_freeze(study=study, options={"bootstrap_resamples": 20})
    errors: list[str] = []
    with browser_page(timeout_ms=20_000) as page:
        _releases_page_open(page, live_server, study, errors)
        assert page.text_content("td.package").strip() == "not packaged"
        page.fill("input[name=licence]", "CC BY 4.0")
        page.click("#package ~ form button[type=submit]")
        page.wait_for_selector("td.package a")
        release = LabelRelease.objects.get(study=study)
        assert release.package_status == LabelRelease.PackageStatus.DONE, release.package_error
        cell = page.text_content("td.package")
        assert "dataset.zip" in cell and "CC BY 4.0" in cell
        assert page.get_attribute("td.package code", "title") == release.package_sha256
        assert "not available" not in page.text_content("body")
        about = page.text_content("#package ~ p")
        assert "scores.csv" in about and "raw choices" in about and "mos.csv" not in about
        if os.environ.get("SCREENSHOT_DIR"):
            page.screenshot(
                path=os.path.join(os.environ["SCREENSHOT_DIR"], "pw-package.png"), full_page=True
            )
    assert errors == []
