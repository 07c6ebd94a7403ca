"""A rating sent while the server is unreachable or failing: kept, retried, stored once."""

import re

import pytest

from annotation.models import PairwiseChoice, Rating
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.pairwise_support import pairwise_study_create
from annotation.tests.subject_support import ACR_FIVE_LEVELS, session_for, wait_for_trial
from study_site.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def first_trial(live_server, page) -> str:
    study = StudyFactory(**ACR_FIVE_LEVELS, session_size=2, break_interval=0, repeats_per_session=0)
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    StimulusFactory.create_batch(2, study=study)
    _, token = subject_invite_create(study=study)
    page.goto(f"{live_server.url}/s/{token}/")
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")
    wait_for_trial(page, 0)
    return token


def test_a_lost_reply_then_503s_show_connection_lost_and_the_retry_stores_one_rating(
    live_server, page, tmp_path
):
    token = first_trial(live_server, page)
    submit_url = page.evaluate("JSON.parse(document.getElementById('trial-data').textContent)")[
        "submitUrl"
    ]
    sent: list[tuple[str, str]] = []
    failing = [True]

    def flaky_server(route):
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append((route.request.url, route.request.post_data))
        if len(sent) == 1:
            route.fetch()  # the server stores the answer ...
            route.abort("connectionreset")  # ... and its reply never arrives
        elif failing[0]:
            route.fulfill(status=503, body="Service Unavailable")
        else:
            route.continue_()

    page.route(f"**{submit_url}", flaky_server)
    page.click(".dim[data-key=quality] button[data-value='4']")
    page.click("#next")
    page.wait_for_function("() => Number(document.body.dataset.submitRetries) >= 2")
    status = page.locator("#connection-lost")
    assert status.is_visible()
    assert status.inner_text().startswith("Connection lost, retrying")
    assert page.locator("#submit-error").is_hidden()
    page.screenshot(path=str(tmp_path / "connection-lost.png"))

    failing[0] = False  # the server is back: the next automatic retry goes through
    wait_for_trial(page, 1)
    assert status.is_hidden()
    assert page.evaluate("document.body.dataset.connection") == "ok"
    # Every try was the same request (the same trial address and body) ...
    assert len(sent) >= 3 and len(set(sent)) == 1
    # ... and the answer stored by the first, unacknowledged one is the only one.
    ratings = Rating.objects.filter(session=session_for(token))
    assert [(r.trial_index, r.score) for r in ratings] == [(0, 4)]


def test_a_pair_answer_is_retried_the_same_way_and_stored_once(live_server, page):
    study = pairwise_study_create(session_size=2, break_interval=0)
    _, token = subject_invite_create(study=study)
    page.goto(f"{live_server.url}/s/{token}/")
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")
    wait_for_trial(page, 0)
    data = page.evaluate("JSON.parse(document.getElementById('trial-data').textContent)")
    sent: list[str | None] = []
    failing = [True]

    def failing_then_back(route):
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.post_data)
        if failing[0]:
            route.fulfill(status=503, body="Service Unavailable")
        else:
            route.continue_()

    page.route(f"**{data['trial']['submitUrl']}", failing_then_back)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_function("() => Number(document.body.dataset.submitRetries) >= 2")
    status = page.locator("#connection-lost")
    assert status.is_visible() and status.inner_text().startswith("Connection lost, retrying")
    failing[0] = False
    wait_for_trial(page, 1)
    assert len(sent) >= 3 and len(set(sent)) == 1
    stored = PairwiseChoice.objects.filter(session=session_for(token))
    assert [(c.trial_index, c.choice) for c in stored] == [(0, "left")]
