"""The researcher pages of the study design in headless Chromium at 1366x768: a
three-dimension study made in one form (add, reorder, remove), the preview as subject
(which sends nothing), releases, an import, the 403 page and the benchmark launch form
listing every problem. Each page is screenshotted (into $SCREENSHOT_DIR when set), and
must log no console error and ask no other host."""

import os
from pathlib import Path

import pandas as pd
import pytest
from django.db import connections

from annotation.models import ImportJob, Rating, Study, Subject
from annotation.services.releases import release_freeze
from annotation.tests.factories import (
    AdminFactory,
    ResearcherFactory,
    StimulusFactory,
    rated_study_create,
)
from study_site.tests.browser import BROWSER_MARKS, chromium_launch

pytestmark = BROWSER_MARKS


class Browser:
    """One page with a record of console errors and of every request it made."""

    def __init__(self, page, base_url: str, shots: Path) -> None:
        self.page, self.base_url, self.shots = page, base_url, shots
        self.console_errors: list[str] = []
        self.requests: list[tuple[str, str]] = []
        page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        page.on("request", lambda r: self.requests.append((r.method, r.url)))

    def sign_in(self, user) -> None:
        self.page.goto(f"{self.base_url}/accounts/login/")
        self.page.fill("input[name=username]", user.username)
        self.page.fill("input[name=password]", "pw-for-tests")
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def visit(self, path: str, shot: str, status: int = 200) -> None:
        response = self.page.goto(self.base_url + path)
        assert response.status == status, (path, response.status)
        self.shoot(shot, status)

    def shoot(self, name: str, status: int = 200) -> None:
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        # Chromium logs the page's own 4xx answer as a console error; that one is expected.
        expected = f"the server responded with a status of {status}"
        errors = [e for e in self.console_errors if status == 200 or expected not in e]
        assert errors == [], (name, errors)
        foreign = [url for _, url in self.requests if not url.startswith(self.base_url)]
        assert foreign == [], (name, foreign)


@pytest.fixture
def browser(live_server, tmp_path, settings):
    from playwright.sync_api import sync_playwright

    settings.MEDIA_ROOT = tmp_path / "media"
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = chromium_launch(playwright)
        context = chromium.new_context(viewport={"width": 1366, "height": 768})
        context.set_default_timeout(15_000)
        yield Browser(context.new_page(), live_server.url, shots)
        chromium.close()
        connections.close_all()


def test_a_three_dimension_study_is_designed_in_one_form_and_previewed_as_a_subject(browser):
    researcher = ResearcherFactory()
    page = browser.page
    browser.sign_in(researcher)
    browser.visit("/", "studies-empty")
    page.click("text=Create a study")
    page.wait_for_selector("#dimension-list")
    browser.shoot("study-new")
    rows = page.locator("#dimension-list [data-dimension]:not(.replaced)")
    assert rows.count() == 3  # PKU-I2IQA's
    page.fill("#id_name", "Fox study")
    page.click("a[data-preset=aigiqa-20k]")
    assert rows.count() == 1
    page.click("a[data-preset=pku-i2iqa]")
    assert rows.count() == 3 and page.input_value("#id_name") == "Fox study"
    page.click("#add-dimension")
    added = rows.nth(3)
    added.locator("input[name$=-key]").fill("aesthetics")
    added.locator("input[name$=-label]").fill("Aesthetics")
    added.locator("textarea[name$=-question]").fill("How beautiful is it?")
    added.locator("[data-move='-1']").click()
    rows.nth(1).locator("input[name$=-DELETE]").check()
    assert rows.locator("[data-number]").all_text_contents() == [
        "1",
        "(removed)",
        "2",
        "3",
    ]
    browser.shoot("study-new-edited")
    page.click("#study-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Fox study')")
    study = Study.objects.get(name="Fox study")
    keys = list(study.dimensions.order_by("order").values_list("key", flat=True))
    assert keys == ["quality", "aesthetics", "correspondence"]
    browser.shoot("study-detail")
    browser.visit(f"/studies/{study.pk}/edit/", "study-edit")

    first, _ = StimulusFactory.create_batch(2, study=study)
    browser.visit(f"/studies/{study.pk}/import/", "import-form")
    browser.visit("/studies/import-external/", "import-external")
    browser.visit(f"/studies/{study.pk}/stimuli/{first.pk}/role/", "stimulus-role")
    browser.visit(f"/studies/{study.pk}/preview/", "preview")
    page.wait_for_function("() => document.body.dataset.trialShown === '0'")
    for slider in page.locator(".dim input[type=range]").all():
        slider.click()
    before = len(browser.requests)
    page.click("#next")
    page.wait_for_selector("#preview-note:not([hidden])")
    assert "nothing was saved" in page.text_content("#preview-note")
    assert [m for m, _ in browser.requests[before:] if m == "POST"] == []
    browser.shoot("preview-submitted")
    page.click("#preview-next")
    page.wait_for_function("() => document.body.dataset.trialShown === '1'")
    assert not Subject.objects.exists() and not Rating.objects.exists()


def test_releases_import_and_the_403_page(browser):
    study = rated_study_create(subjects=3, stimuli=4)
    release_freeze(study=study, options={}, created_by=study.owner)
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.MANIFEST,
        study=study,
        created_by=study.owner,
        status=ImportJob.Status.DONE,
        result={"created": 4, "study": study.pk, "release": None},
    )
    browser.sign_in(study.owner)
    browser.visit("/", "studies")
    browser.visit(f"/studies/{study.pk}/releases/", "releases")
    assert browser.page.is_visible("#freeze-warning")
    assert browser.page.locator("code.sha").first.text_content() == study.releases.get().mos_sha256
    browser.visit(f"/studies/imports/{job.pk}/", "import-done")
    assert "Imported 4 images" in browser.page.text_content("#import-summary")
    browser.visit("/benchmark/", "forbidden", status=403)
    assert "are for admins" in browser.page.text_content("main")


def test_the_launch_form_lists_every_problem_of_fr_on_a_mixed_release(browser, settings, tmp_path):
    from benchmark.tests.factories import LabelReleaseFactory

    settings.BENCHMARK_WEIGHTS_DIR = tmp_path / "weights"
    settings.BENCHMARK_WEIGHTS_DIR.mkdir()
    release = LabelReleaseFactory(reference=True, groups=8)
    path = Path(release.mos_file.path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[15:, "reference"] = ""
    frame.to_csv(path, index=False)
    browser.sign_in(AdminFactory())
    page = browser.page
    browser.visit(f"/benchmark/new/?release={release.pk}", "launch-form")
    page.check("input[name=models][value=fr]")
    page.fill("input[name=score_columns]", "mos_colour")
    page.select_option("select[name=weights]", "imagenet")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#launch-problems")
    problems = page.locator("#launch-problems li").all_text_contents()
    assert len(problems) == 3, problems
    assert str(settings.MEDIA_ROOT) not in " ".join(problems)
    browser.shoot("launch-problems", status=400)
