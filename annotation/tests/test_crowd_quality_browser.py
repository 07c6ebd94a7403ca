"""Prolific- and MTurk-style arrivals in headless Chromium through the qualification (a
failed try, then a passed one), rating with a trap and a gold trial, the completion
redirect or HIT form, and resuming from the platform's link."""

import re

import pytest
from django.core.cache import cache

from annotation.models import QualityCheck, Stimulus, Study, Subject
from annotation.services.recruitment import recruitment_settings_update
from annotation.services.traps import trap_stimuli_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import ACR_FIVE_LEVELS, wait_for_trial
from study_site.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS

PROLIFIC_DONE = "https://app.prolific.com/submissions/complete?cc=QC-DONE"
MTURK_SUBMIT = "https://workersandbox.mturk.com/mturk/externalSubmit"


@pytest.fixture
def context(browser):
    cache.clear()
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    # Nothing leaves the test machine: the platforms' pages are answered here.
    context.route(
        re.compile(r"^https://(app\.prolific\.com|workersandbox\.mturk\.com)/.*"),
        lambda route: route.fulfill(status=200, body="<p id='platform'>Platform</p>"),
    )
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    context.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    yield context
    context.close()
    cache.clear()
    assert not errors


def quality_study(platform: str) -> Study:
    study = StudyFactory(
        **ACR_FIVE_LEVELS, status=Study.Status.OPEN, session_size=3, break_interval=0
    )
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    StimulusFactory(
        study=study,
        role=Stimulus.Role.TRAINING,
        expected_scores={"quality": 2},
        explanation="Blurred and noisy: poor.",
    )
    StimulusFactory.create_batch(3, study=study)
    trap_stimuli_create(study=study, count=1)  # required answer: 5, the top of the scale
    StimulusFactory(study=study, role=Stimulus.Role.GOLD, expected_scores={"quality": 3})
    recruitment_settings_update(
        study=study,
        recruitment_platform=platform,
        completion_code_crowd="QC-DONE",
        qualification_enabled=True,
        qualification_attempts=2,
        trap_every=10,
        gold_every=10,
    )
    # The browser answers faster than a person: the too-fast flag would send it to review.
    Study.objects.filter(pk=study.pk).update(too_fast_ms=1)
    study.refresh_from_db()
    return study


def display_check(page) -> None:
    page.wait_for_url(re.compile("/consent/$"))
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")


def choose(page, value: int) -> None:
    page.click(f".dim[data-key=quality] button[data-value='{value}']")
    page.click("#next")


def qualify(page, shots=None) -> None:
    """Fail the first try (5 for an anchor of 2), pass the second."""
    wait_for_trial(page, 0)
    choose(page, 5)
    page.wait_for_selector("#feedback-verdict.off")
    page.click("#feedback-continue")
    page.wait_for_url(re.compile("/qualification/$"))
    assert page.locator("#qualification-retry").is_visible()
    page.click("#qualification-continue")
    wait_for_trial(page, 1)
    choose(page, 2)
    page.wait_for_selector("#feedback-verdict:not(.off)")
    page.click("#feedback-continue")
    page.wait_for_url(re.compile("/qualification/$"))
    assert page.locator("#qualification-passed").is_visible()
    if shots is not None:
        page.screenshot(path=str(shots / "qualification.png"))
    page.click("#qualification-continue")


def rate_with_traps(page, study: Study, shots=None) -> None:
    """The five trials after the qualification: three images, a trap and a gold one."""
    session = Subject.objects.get(study=study).session
    for index in range(2, len(session.playlist)):
        wait_for_trial(page, index)
        kind = session.playlist[index]["kind"]
        if kind == "trap" and shots is not None:
            page.screenshot(path=str(shots / "trap.png"))
        choose(page, {"trap": 5, "gold": 3}.get(kind, 4))


def test_prolific_arrival_through_qualification_traps_and_the_redirect(
    live_server, context, tmp_path
):
    study = quality_study("prolific")
    page = context.new_page()
    link = (
        f"{live_server.url}/r/{study.recruitment_key}/"
        "?PROLIFIC_PID=60a1b2c3d4e5f60718293a4c&STUDY_ID=s1&SESSION_ID=x1"
    )
    page.goto(link)
    display_check(page)
    qualify(page, shots=tmp_path)
    rate_with_traps(page, study, shots=tmp_path)
    page.wait_for_url(PROLIFIC_DONE)
    session = Subject.objects.get(study=study).session
    kinds = [entry["kind"] for entry in session.playlist]
    assert kinds.count("trap") == 1 and kinds.count("gold") == 1
    checks = {(c.kind, c.passed) for c in QualityCheck.objects.filter(session=session)}
    assert checks == {
        ("qualification", False),
        ("qualification", True),
        ("trap", True),
        ("gold", True),
    }
    # Back from Prolific with the same ID: the done page, no second subject.
    page.goto(link)
    page.wait_for_url(re.compile("/done/$"))
    assert Subject.objects.filter(study=study).count() == 1
    # The researcher's report shows the checks and the accept decision.
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", study.owner.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/{study.pk}/subjects/report/")
    assert page.locator("table.grid .tag.accept").inner_text() == "accept"
    page.eval_on_selector(".table-scroll", "box => { box.scrollLeft = box.scrollWidth; }")
    page.screenshot(path=str(tmp_path / "report.png"))


def test_mturk_arrival_resumes_mid_session_and_posts_the_hit(live_server, context):
    study = quality_study("mturk")
    page = context.new_page()
    link = (
        f"{live_server.url}/r/{study.recruitment_key}/?workerId=A1WORKER&assignmentId=3ASSIGN"
        "&hitId=3HIT&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com"
    )
    page.goto(link)
    with context.expect_page() as opened:
        page.click("#start-study")
    tab = opened.value
    display_check(tab)
    qualify(tab)
    wait_for_trial(tab, 2)
    # The worker closes the tab and comes back through the HIT: the same session goes on.
    tab.close()
    page.goto(link)
    with context.expect_page() as reopened:
        page.click("#start-study")
    tab = reopened.value
    rate_with_traps(tab, study)
    tab.wait_for_url(re.compile("/done/$"))
    assert tab.locator("#platform-code").inner_text() == "QC-DONE"
    tab.click("#platform-form button")
    tab.wait_for_url(re.compile(re.escape(MTURK_SUBMIT)))
    assert Subject.objects.filter(study=study).count() == 1
    assert Subject.objects.get(study=study).session.completed_at is not None
