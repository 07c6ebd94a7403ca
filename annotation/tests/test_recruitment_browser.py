"""A Prolific-style arrival in headless Chromium: the recruitment link, consent, the
display check, the trials and the redirect back to Prolific with the completion code."""

import re

import pytest

from annotation.models import Study, Subject
from annotation.services.recruitment import recruitment_settings_update
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import ACR_FIVE_LEVELS, wait_for_trial
from study_site.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PROLIFIC_DONE = "https://app.prolific.com/submissions/complete?cc=BROWSER1"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    # Nothing leaves the test machine: Prolific's completion page is answered here.
    context.route(
        re.compile(r"^https://app\.prolific\.com/.*"),
        lambda route: route.fulfill(status=200, body="<p id='prolific'>Prolific</p>"),
    )
    yield context.new_page()
    context.close()


def test_prolific_arrival_through_consent_to_the_completion_redirect(live_server, page):
    study = StudyFactory(
        **ACR_FIVE_LEVELS, status=Study.Status.OPEN, session_size=2, break_interval=0
    )
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    StimulusFactory.create_batch(2, study=study)
    recruitment_settings_update(
        study=study, recruitment_platform="prolific", completion_code_crowd="BROWSER1"
    )
    study.refresh_from_db()
    link = (
        f"{live_server.url}/r/{study.recruitment_key}/"
        "?PROLIFIC_PID=60a1b2c3d4e5f60718293a4b&STUDY_ID=s1&SESSION_ID=x1"
    )
    page.goto(link)
    page.wait_for_url(re.compile("/consent/$"))
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")
    for index in range(2):
        wait_for_trial(page, index)
        page.click(f".dim[data-key=quality] button[data-value='{index + 3}']")
        page.click("#next")
    page.wait_for_url(re.compile("/done/$"))
    assert page.locator("#platform-code").inner_text() == "BROWSER1"
    # The done page sends the participant back to Prolific by itself.
    page.wait_for_url(PROLIFIC_DONE)
    assert Subject.objects.get(study=study).session.completed_at is not None
    # The same participant opening the link again is back on their done page.
    page.goto(link)
    page.wait_for_url(re.compile("/done/$"))
    assert Subject.objects.filter(study=study).count() == 1
