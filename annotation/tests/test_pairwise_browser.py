"""A pairwise session in headless Chromium: keys and clicks, resume, the sides stored."""

import os
import re

import pytest

from annotation.models import PairwiseChoice, Stimulus
from annotation.services.subjects import subject_invite_create
from annotation.tests.pairwise_support import pairwise_study_create, reference_pairs_add
from annotation.tests.subject_support import session_for, wait_for_trial
from study_site.tests.browser import BROWSER_MARKS

pytestmark = BROWSER_MARKS
# Set to a folder to keep the pages' screenshots (docs and review); unset, none are taken.
SHOTS = os.environ.get("PAIRWISE_SCREENSHOTS", "")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name))


@pytest.fixture
def pages(browser):
    contexts = []

    def open_page(width: int, height: int):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        return page

    yield open_page
    for context in contexts:
        context.close()


def begin(page, url: str) -> None:
    page.goto(url)
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    assert page.locator("#pair-help").is_visible()
    page.uncheck("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")


def test_a_subject_completes_a_pairwise_session_by_keys_and_clicks_and_resumes(live_server, pages):
    study = pairwise_study_create(session_size=4, break_interval=2, pairwise_no_preference=True)
    _, token = subject_invite_create(study=study)
    page = pages(1366, 768)
    url = f"{live_server.url}/s/{token}/"
    begin(page, url)
    playlist = session_for(token).playlist
    answered = {}
    # Trial 0 by keys, trial 1 by clicking the right image; then the break.
    wait_for_trial(page, 0)
    assert page.evaluate("document.body.dataset.pairView") == "side-by-side"
    assert "prompt 0" in page.content() or "prompt 1" in page.content()
    shot(page, "pair-1366x768.png")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    answered[0] = "left"
    wait_for_trial(page, 1)
    page.click("#figure-right")
    page.click("#next")
    answered[1] = "right"
    page.wait_for_url(re.compile("/break/$"))
    # Resume: a fresh visit of the invite link lands on the next open pair.
    page.goto(url)
    page.wait_for_load_state()
    if "/break/" in page.url:
        page.click("a.button, button[type=submit]")
    wait_for_trial(page, 2)
    page.click(".pair-dim [data-choice='none']")
    page.keyboard.press("Enter")
    answered[2] = "none"
    wait_for_trial(page, 3)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    answered[3] = "right"
    page.wait_for_url(re.compile("/done/$"))
    assert page.errors == []
    stored = {c.trial_index: c for c in PairwiseChoice.objects.all()}
    assert {index: c.choice for index, c in stored.items()} == answered
    for index, choice in stored.items():
        entry = playlist[index]
        assert (choice.left_id, choice.right_id) == (entry["stimulus"], entry["right"])
        assert choice.side == entry["side"] and choice.group == entry["group"]
        assert choice.response_time_ms is not None


def test_a_small_window_shows_one_image_at_a_time_with_the_warning_never_scaled(live_server, pages):
    study = pairwise_study_create(session_size=2, image_size=(300, 300))
    _, token = subject_invite_create(study=study)
    page = pages(800, 600)
    begin(page, f"{live_server.url}/s/{token}/")
    wait_for_trial(page, 0)
    assert page.evaluate("document.body.dataset.pairView") == "toggle"
    warning = page.locator("#pair-warning")
    assert warning.is_visible() and "one at a time" in warning.inner_text()
    assert (
        page.locator("#image-left").is_visible() and not page.locator("#image-right").is_visible()
    )
    box = page.locator("#image-left").bounding_box()
    assert (box["width"], box["height"]) == (300, 300)
    shot(page, "pair-800x600.png")
    page.keyboard.press("Space")
    assert (
        page.locator("#image-right").is_visible() and not page.locator("#image-left").is_visible()
    )
    assert page.locator("#image-right").bounding_box()["width"] == 300
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    wait_for_trial(page, 1)
    assert PairwiseChoice.objects.get().choice == "right"
    assert page.errors == []


def test_the_design_form_creates_a_pairwise_study_in_the_browser(live_server, pages):
    from annotation.models import Study
    from annotation.tests.factories import ResearcherFactory

    researcher = ResearcherFactory()
    page = pages(1366, 768)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", researcher.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/studies/new/?preset=pairwise")
    page.fill("input[name=name]", "Which matches better")
    page.select_option("select[name=scale_type]", "pairwise")
    design = page.locator("select[name=pairwise_design]")
    assert design.input_value() == "variance"  # the default for new studies
    assert "Least variance" in design.inner_text()
    design.scroll_into_view_if_needed()
    shot(page, "pair-design-default.png")
    page.select_option("select[name=pairwise_design]", "full")
    page.check("input[name=pairwise_no_preference]")
    page.locator("select[name=pairwise_grouping]").scroll_into_view_if_needed()
    shot(page, "pair-design-form.png")
    page.click("text=Create the study")
    page.wait_for_load_state()
    study = Study.objects.get(name="Which matches better")
    assert (study.scale_type, study.pairwise_design) == ("pairwise", "full")
    assert study.pairwise_no_preference and study.pairwise_grouping == "prompt"
    assert study.dimensions.first().question == "Which image matches the prompt better?"
    assert page.errors == []


def test_a_training_pair_shows_the_expected_side_and_full_screen_stays_across_pairs(
    live_server, pages
):
    study = pairwise_study_create(session_size=2, gold_per_session=1, image_size=(300, 300))
    reference_pairs_add(study, role=Stimulus.Role.TRAINING, image_size=(300, 300))
    reference_pairs_add(study, role=Stimulus.Role.GOLD, image_size=(300, 300))
    _, token = subject_invite_create(study=study)
    page = pages(1366, 768)
    page.goto(f"{live_server.url}/s/{token}/")
    page.click("#accept")
    page.wait_for_url(re.compile("/instructions/$"))
    page.check("#fullscreen-choice")
    page.click("#start")
    page.check("#grey-confirm")
    page.click("#display-continue")
    wait_for_trial(page, 0)
    # The page load left full screen: the first key press goes back to it.
    assert page.locator("#fullscreen-resume").is_visible()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.evaluate("window.samePage = true")
    assert page.locator("#practice-badge").is_visible()
    expected = session_for(token).playlist[0]["expected"]["match"]
    wrong = "right" if expected == "left" else "left"
    page.click(f".pair-dim [data-choice='{wrong}']")
    page.click("#next")
    feedback = page.locator("#feedback")
    feedback.wait_for(state="visible")
    assert f"The expected answer was the {expected} image." in feedback.inner_text()
    assert "not the expected one" in feedback.inner_text()
    shot(page, "pair-training-feedback-1366x768.png")
    page.keyboard.press("Enter")
    wait_for_trial(page, 1)
    assert not page.locator("#practice-badge").is_visible()
    for index in (1, 2):
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Enter")
        wait_for_trial(page, index + 1)
    # Three pairs later: the same page (no load), still in full screen.
    assert page.evaluate("window.samePage === true && document.fullscreenElement !== null")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/done/$"))
    assert page.errors == []
    stages = dict(PairwiseChoice.objects.values_list("trial_index", "stage"))
    assert stages[0] == "training" and sorted(stages.values()).count("gold") == 1
    assert PairwiseChoice.objects.get(trial_index=0).choice == wrong


def test_on_a_phone_the_pair_is_answered_by_touch_with_thumb_sized_targets(live_server, browser):
    study = pairwise_study_create(
        session_size=2,
        image_size=(1024, 1024),
        pairwise_no_preference=True,
        language="zh-hans",
        allow_small_screens=True,
    )
    _, token = subject_invite_create(study=study)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=1,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    try:
        page.goto(f"{live_server.url}/s/{token}/")
        page.tap("#accept")
        page.wait_for_url(re.compile("/instructions/$"))
        if page.locator("#fullscreen-choice").is_visible():
            page.uncheck("#fullscreen-choice")
        page.tap("#start")
        page.check("#grey-confirm")
        page.tap("#display-continue")
        wait_for_trial(page, 0)
        assert page.evaluate("document.body.dataset.pairView") == "toggle"
        # Never scaled: one image pixel per device pixel, one image at a time.
        shown = page.evaluate(
            "[devicePixelRatio, document.getElementById('image-left').getBoundingClientRect()"
            ".width, document.getElementById('image-left').naturalWidth]"
        )
        assert abs(shown[0] * shown[1] - shown[2]) < 0.5 and shown[2] == 1024
        assert not page.locator("#image-right").is_visible()
        # The page speaks the study's language, the pair page's own strings included.
        assert "一次只显示一张" in page.locator("#pair-warning").inner_text()
        for selector in ("#view-toggle", ".pair-dim [data-choice='left']", "#next"):
            box = page.locator(selector).bounding_box()
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "pair-phone-390x844.png")
        page.tap("#view-toggle")
        assert page.locator("#image-right").is_visible()
        page.tap(".pair-dim [data-choice='none']")
        page.tap("#next")
        wait_for_trial(page, 1)
        page.tap(".pair-dim [data-choice='right']")
        page.tap("#next")
        page.wait_for_url(re.compile("/done/$"))
        assert page.errors == []
        assert list(PairwiseChoice.objects.values_list("choice", flat=True)) == ["none", "right"]
    finally:
        context.close()
