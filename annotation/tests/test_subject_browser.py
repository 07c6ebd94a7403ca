"""Whole rating sessions in headless Chromium (Debian's /usr/bin/chromium, never downloaded)."""

import re

import pytest

from annotation.models import Rating, RatingSession, Stimulus
from annotation.services.subjects import subject_invite_create, token_hash
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import ACR_FIVE_LEVELS
from fixtures.demo_study import load_demo_study
from study_site.tests.browser import BROWSER_MARKS, chromium_open

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def browser():
    with chromium_open() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def session_for(token: str) -> RatingSession:
    return RatingSession.objects.get(subject__token_hash=token_hash(token))


def answer_with_keys(page, presses: list[int]) -> None:
    """Dimension i: key i, then one arrow (to the middle), then presses[i] more steps."""
    for number, extra in enumerate(presses, start=1):
        page.keyboard.press(str(number))
        page.keyboard.press("ArrowRight")
        for _ in range(abs(extra)):
            page.keyboard.press("ArrowRight" if extra > 0 else "ArrowLeft")


def begin_after_consent(page, *, fullscreen: bool = False) -> None:
    """Instructions, then the display check, then the first trial."""
    page.wait_for_url(re.compile("/instructions/$"))
    if not fullscreen:
        page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")


def wait_for_trial(page, index: int) -> None:
    page.wait_for_url(re.compile(rf"/trials/{index}/$"))
    # Trials follow each other in place: wait until this one's image is on screen.
    page.wait_for_function(f"() => document.body.dataset.trialShown === '{index}'")


def test_demo_study_consent_training_trials_and_resume(live_server, page):
    demo = load_demo_study()
    token = demo.live_tokens[0]
    dims = [d.key for d in demo.study.dimensions.order_by("order")]
    page.goto(f"{live_server.url}/s/{token}/")
    assert "You will rate AI-generated images" in page.content()
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    assert page.locator("text=go to the next image").is_visible()
    begin_after_consent(page)
    documents: list[str] = []
    page.on(
        "request",
        lambda request: (
            documents.append(request.url) if request.resource_type == "document" else None
        ),
    )

    session = session_for(token)
    expected: dict[int, list[float]] = {}
    checked_layout = False
    index = 0
    while index < 8:
        wait_for_trial(page, index)
        entry = session.playlist[index]
        assert page.locator("#next").is_disabled()
        assert page.locator(".slider.unset").count() == len(dims)
        if entry["kind"] == "rating" and not checked_layout:
            stimulus = Stimulus.objects.get(pk=entry["stimulus"])
            if stimulus.reference_image:
                check_full_size_layout(page)
                checked_layout = True
        presses = [index % 5, -(index % 3), 7]
        answer_with_keys(page, presses[: len(dims) - 1])
        assert page.locator("#next").is_disabled()  # the last question is still unset
        page.keyboard.press(str(len(dims)))
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Shift+ArrowLeft")
        expected[index] = [50 + p for p in presses[: len(dims) - 1]] + [40.0]
        assert page.locator("#next").is_enabled()
        if index == 6:
            # Reload mid-session before answering: the same trial comes back, unset.
            page.reload()
            wait_for_trial(page, 6)
            assert page.locator(".slider.unset").count() == len(dims)
            page.goto(f"{live_server.url}/s/{token}/")
            wait_for_trial(page, 6)
            answer_with_keys(page, presses[: len(dims) - 1])
            page.keyboard.press(str(len(dims)))
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("Shift+ArrowLeft")
        page.keyboard.press("Enter")
        if entry["kind"] == "training":
            feedback = page.locator("#feedback")
            feedback.wait_for(state="visible")
            stimulus = Stimulus.objects.get(pk=entry["stimulus"])
            assert stimulus.explanation in feedback.inner_text()
            assert f"{stimulus.expected_scores['quality']:g}" in feedback.inner_text()
            page.keyboard.press("Enter")
        index += 1
    wait_for_trial(page, 8)
    assert checked_layout, "no image-to-image stimulus among the first trials"
    # One request per trial: pages load only for the first trial and the reload at 6.
    loaded = [int(m.group(1)) for url in documents if (m := re.search(r"/trials/(\d+)/$", url))]
    assert set(loaded) <= {0, 6}, documents

    ratings = list(Rating.objects.filter(session=session).select_related("dimension"))
    assert len(ratings) == 8 * len(dims)
    for rating in ratings:
        assert rating.is_training == (rating.trial_index < 3)
        assert rating.response_time_ms is not None and rating.response_time_ms > 0
        assert rating.stimulus_id == session.playlist[rating.trial_index]["stimulus"]
        position = dims.index(rating.dimension.key)
        assert rating.score == pytest.approx(expected[rating.trial_index][position])
    assert session_for(token).cursor == 8


def check_full_size_layout(page) -> None:
    """The generated image at its natural pixels, the prompt image beside it, no scrolling."""
    page.wait_for_function("() => document.getElementById('reference').naturalWidth > 0")
    sizes = page.evaluate(
        """() => {
          const img = document.getElementById('stimulus');
          const ref = document.getElementById('reference');
          const a = img.getBoundingClientRect(), b = ref.getBoundingClientRect();
          return {w: img.clientWidth, h: img.clientHeight, nw: img.naturalWidth,
                  nh: img.naturalHeight, refLeft: b.left, imgRight: a.right,
                  scroll: document.documentElement.scrollHeight, inner: innerHeight,
                  warned: !document.getElementById('too-small').hidden};
        }"""
    )
    assert (sizes["w"], sizes["h"]) == (sizes["nw"], sizes["nh"])
    assert sizes["refLeft"] >= sizes["imgRight"]
    assert sizes["scroll"] <= sizes["inner"]
    assert not sizes["warned"]
    assert page.locator("#prompt-text").inner_text().strip()


def test_small_acr_study_through_a_break_a_reload_and_completion(live_server, page):
    study = StudyFactory(
        **ACR_FIVE_LEVELS,
        session_size=4,
        break_interval=2,
        repeats_per_session=1,
        consent_text="Small study consent.",
    )
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    DimensionFactory(study=study, key="correspondence", label="Correspondence", order=1)
    StimulusFactory(
        study=study,
        role=Stimulus.Role.TRAINING,
        explanation="A clean anchor.",
        expected_scores={"quality": 5, "correspondence": 4},
    )
    StimulusFactory.create_batch(4, study=study)
    _, token = subject_invite_create(study=study)

    page.goto(f"{live_server.url}/s/{token}/")
    page.click("#accept")
    begin_after_consent(page)
    chosen = {}
    for index in range(6):
        wait_for_trial(page, index)
        if index == 4:
            page.reload()
            wait_for_trial(page, 4)
        quality = 1 + index % 5
        # Mouse for the first question, keyboard for the second (Tab to it, middle, one up).
        page.click(f".dim[data-key=quality] button[data-value='{quality}']")
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        chosen[index] = {"quality": quality, "correspondence": 4}
        page.click("#next")
        if index == 0:
            page.locator("#feedback").wait_for(state="visible")
            page.click("#feedback-continue")
        if index in (2, 4):  # a break after every two rating trials
            page.wait_for_url(re.compile("/break/$"))
            assert "Time for a short break" in page.content()
            page.click("#continue")
    page.wait_for_url(re.compile("/done/$"))
    session = session_for(token)
    assert page.locator("#completion-code").inner_text() == session.completion_code
    page.goto(f"{live_server.url}/s/{token}/")
    page.wait_for_url(re.compile("/done/$"))

    ratings = list(Rating.objects.filter(session=session).select_related("dimension"))
    assert len(ratings) == 12
    assert sum(r.is_training for r in ratings) == 2
    assert sum(r.is_repeat for r in ratings) == 2
    assert all(r.response_time_ms is not None for r in ratings)
    for rating in ratings:
        assert rating.score == chosen[rating.trial_index][rating.dimension.key]
