"""The releases page in headless Chromium: fill in licence and citation, click "Package",
and the page lists the archive with its sha256 once the worker has built it."""

import os

import pytest
from django.test import override_settings

from annotation.models import LabelRelease
from annotation.services.releases import release_freeze
from annotation.tests.factories import rated_study_create
from study_site.tests.browser import BROWSER_MARKS, browser_page

pytestmark = BROWSER_MARKS


@pytest.fixture
def page():
    with browser_page(timeout_ms=20_000) as page:
        yield page


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_package_button_builds_and_lists_the_archive(live_server, page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = rated_study_create(subjects=6, stimuli=5)
    release_freeze(study=study, options={"screening": ["bt500"]})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", study.owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/releases/")
    assert page.text_content("td.package").strip() == "not packaged"
    page.fill("input[name=licence]", "CC BY 4.0")
    page.fill("textarea[name=citation]", "Doe et al., Study DB, 2026")
    page.click("#package ~ form button[type=submit]")
    page.wait_for_selector("td.package a")
    release = LabelRelease.objects.get(study=study)
    assert release.package_status == LabelRelease.PackageStatus.DONE
    cell = page.text_content("td.package")
    assert "dataset.zip" in cell and "CC BY 4.0" in cell
    assert page.get_attribute("td.package code", "title") == release.package_sha256
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"the page scrolls sideways ({width} px)"
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], "releases.png"), full_page=True
        )
