"""Viewing conditions of the subject pages in headless Chromium: natural size at several
viewports (pixels compared with the served file), the ACR keyboard, fullscreen, the
surround grey, the display check, phones, and a whole session in Simplified Chinese.

Set SUBJECT_SHOTS=/some/dir to keep a screenshot of each page looked at.
"""

import io
import os
import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from annotation.models import Rating, RatingSession, Stimulus, Study
from annotation.services.sessions import display_check_record, subject_consent_accept
from annotation.services.subjects import subject_invite_create, token_hash
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import ACR_FIVE_LEVELS, DISPLAY_CHECK
from study_site.tests.browser import BROWSER_MARKS, chromium_open

pytestmark = BROWSER_MARKS

SHOTS = os.environ.get("SUBJECT_SHOTS", "")
# Counts requestFullscreen calls on each page, then lets the real one run.
FULLSCREEN_SPY = """
(() => {
  const real = Element.prototype.requestFullscreen;
  window.fullscreenRequests = 0;
  Element.prototype.requestFullscreen = function () {
    window.fullscreenRequests += 1;
    return real.apply(this, arguments);
  };
})();
"""


@pytest.fixture(scope="module")
def browser():
    with chromium_open() as chromium:
        yield chromium


def new_page(browser, width: int, height: int, **options):
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(10_000)
    context.add_init_script(FULLSCREEN_SPY)
    return context, context.new_page()


def shot(page, name: str) -> None:
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def noise_png(size: tuple[int, int], seed: int) -> bytes:
    """Random pixels: any resampling of them shows at once in a pixel comparison."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def acr_study(*, images: int = 3, size: int = 512, training: bool = False, **fields) -> Study:
    defaults = dict(
        **ACR_FIVE_LEVELS,
        session_size=images,
        break_interval=0,
        consent_text="Consent as the researcher wrote it.",
        instructions="Look at each image carefully.",
    )
    study = StudyFactory(**{**defaults, **fields})
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    DimensionFactory(study=study, key="correspondence", label="Correspondence", order=1)
    if training:
        StimulusFactory(
            study=study,
            role=Stimulus.Role.TRAINING,
            explanation="A clean anchor.",
            expected_scores={"quality": 5, "correspondence": 4},
        )
    for seed in range(images):
        StimulusFactory(
            study=study,
            prompt="a red fox in the snow",
            image=ContentFile(noise_png((size, size), seed), name=f"gen{seed}.png"),
            reference_image=ContentFile(noise_png((size, size), 100 + seed), name=f"ref{seed}.png"),
        )
    return study


def ready_token(study: Study) -> str:
    """A subject who consented and passed the display check, at the first trial."""
    subject, token = subject_invite_create(study=study)
    subject_consent_accept(subject=subject)
    display_check_record(subject=subject, check=DISPLAY_CHECK)
    return token


def session_for(token: str) -> RatingSession:
    return RatingSession.objects.get(subject__token_hash=token_hash(token))


def wait_for_trial(page, index: int) -> None:
    page.wait_for_url(re.compile(rf"/trials/{index}/$"))
    page.wait_for_function(f"() => document.body.dataset.trialShown === '{index}'")


RECTS = """() => {
  const box = (id) => { const r = document.getElementById(id).getBoundingClientRect();
    return {x: r.x, y: r.y, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            width: r.width, height: r.height}; };
  const img = document.getElementById('stimulus');
  return {image: box('stimulus'), reference: box('reference'), message: box('too-small'),
          panel: document.querySelector('.panel').getBoundingClientRect().top,
          warned: !document.getElementById('too-small').hidden,
          text: document.getElementById('too-small').textContent,
          scale: Number(document.body.dataset.imageScale),
          nw: img.naturalWidth, nh: img.naturalHeight, ratio: devicePixelRatio,
          rnw: document.getElementById('reference').naturalWidth,
          scrollH: document.documentElement.scrollHeight, innerH: innerHeight,
          scrollW: document.documentElement.scrollWidth, innerW: innerWidth};
}"""


def served_pixels(stimulus: Stimulus) -> np.ndarray:
    with stimulus.image.open("rb") as handle:
        return np.asarray(Image.open(handle).convert("RGB"), dtype=np.int16)


def screen_pixels(page, rect: dict) -> np.ndarray:
    # Layout snaps images to whole device pixels; the clip must start on the same one.
    clip = {key: round(rect[key]) for key in ("x", "y")}
    clip.update(width=round(rect["width"]), height=round(rect["height"]))
    png = page.screenshot(clip=clip)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [(1366, 768, 1), (1920, 1080, 1), (1366, 768, 2)],
    ids=["1366x768", "1920x1080", "1366x768-dpr2"],
)
def test_the_image_is_shown_pixel_for_pixel(live_server, browser, width, height, ratio):
    study = acr_study(images=1)
    token = ready_token(study)
    context, page = new_page(browser, width, height, device_scale_factor=ratio)
    try:
        page.goto(f"{live_server.url}/s/{token}/trials/0/")
        wait_for_trial(page, 0)
        page.wait_for_function("() => document.getElementById('reference').naturalWidth > 0")
        shot(page, f"trial-{width}x{height}-dpr{ratio}")
        sizes = page.evaluate(RECTS)
        assert not sizes["warned"] and sizes["scale"] == 1
        assert sizes["image"]["width"] * ratio == pytest.approx(sizes["nw"], abs=0.5)
        assert sizes["reference"]["width"] * ratio <= sizes["rnw"] + 0.5
        assert sizes["scrollH"] <= sizes["innerH"]
        shown = screen_pixels(page, sizes["image"])
        served = served_pixels(Stimulus.objects.get(pk=session_for(token).playlist[0]["stimulus"]))
        assert shown.shape == served.shape
        off = np.abs(shown - served).max(axis=2)
        assert (off > 8).mean() < 0.001, f"{(off > 8).mean():.2%} of pixels differ"
    finally:
        context.close()


def test_a_small_window_says_the_image_is_shrunk_and_never_covers_an_image(live_server, browser):
    study = acr_study(images=1)
    token = ready_token(study)
    context, page = new_page(browser, 1024, 600)
    try:
        page.goto(f"{live_server.url}/s/{token}/trials/0/")
        wait_for_trial(page, 0)
        page.wait_for_function("() => document.getElementById('reference').naturalWidth > 0")
        page.wait_for_function("() => !document.getElementById('too-small').hidden")
        shot(page, "trial-1024x600")
        sizes = page.evaluate(RECTS)
        assert 0 < sizes["scale"] < 1
        assert f"{int(sizes['scale'] * 100)}%" in sizes["text"]
        assert "512 × 512" in sizes["text"]
        # The message has its own row: both images start below it.
        assert sizes["message"]["bottom"] <= sizes["image"]["top"]
        assert sizes["message"]["bottom"] <= sizes["reference"]["top"]
        assert sizes["image"]["bottom"] <= sizes["innerH"]
        assert sizes["scrollH"] <= sizes["innerH"]
    finally:
        context.close()


def test_acr_by_number_keys_in_fullscreen_on_the_study_grey_through_a_break(live_server, browser):
    study = acr_study(
        training=True,
        break_interval=2,
        surround_grey=100,
        too_fast_ms=600_000,
        viewing_distance_text="Sit 60 cm from the screen.",
    )
    _, token = subject_invite_create(study=study)
    context, page = new_page(browser, 1366, 768)
    try:
        page.goto(f"{live_server.url}/s/{token}/")
        page.click("#accept")
        page.wait_for_url(re.compile("/instructions/$"))
        shot(page, "instructions-1366x768")
        start = page.locator("#start").bounding_box()
        assert start["y"] + start["height"] <= 768, "Start must be visible without scrolling"
        assert "the score of the highlighted question" in page.inner_text("#key-help")
        assert page.is_checked("#fullscreen-choice")
        page.click("#start")
        page.locator("#display-check").wait_for(state="visible")
        assert page.evaluate("window.fullscreenRequests") == 1
        assert page.evaluate("Boolean(document.fullscreenElement)")
        assert "Sit 60 cm from the screen." in page.inner_text("#display-check")
        assert "1366" in page.inner_text("#display-facts")
        shot(page, "display-check")
        assert page.locator("#display-continue").is_disabled()
        page.check("#grey-confirm")
        page.click("#display-continue")

        wait_for_trial(page, 0)
        # A page load left fullscreen: the first key press goes to restoring it.
        page.locator("#fullscreen-resume").wait_for(state="visible")
        page.keyboard.press("Space")
        page.locator("#fullscreen-resume").wait_for(state="hidden")
        assert page.evaluate("window.fullscreenRequests") == 1
        surround = page.evaluate(
            """() => ['body', '.trial-head', '.stage', '.panel'].map(
                 (s) => getComputedStyle(document.querySelector(s)).backgroundColor)"""
        )
        assert surround == ["rgb(100, 100, 100)"] * 4
        shot(page, "trial-acr-grey")
        hint = page.inner_text("#key-hint")
        assert "score" in hint and "Shift" not in hint

        active = "document.querySelector('.dim.active').dataset.key"
        page.keyboard.press("4")  # Good for quality, then on to correspondence
        assert page.evaluate(active) == "correspondence"
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(active) == "quality"
        page.keyboard.press("ArrowDown")
        assert page.evaluate(active) == "correspondence"
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Tab")
        assert page.locator("#next").is_disabled()
        page.keyboard.press("3")
        assert page.locator("#next").is_enabled()
        assert page.inner_text(".dim[data-key=quality] .dim-value") == "4 · Good"
        page.keyboard.press("Enter")
        feedback = page.locator("#feedback")
        feedback.wait_for(state="visible")
        # In the scale's own terms: value and label, for the answer and the anchor.
        assert "4 · Good" in feedback.inner_text() and "5 · Excellent" in feedback.inner_text()
        page.keyboard.press("Enter")

        chosen = {0: (4, 3), 1: (5, 1), 2: (2, 2), 3: (3, 5)}
        for index in (1, 2, 3):
            if index == 3:
                page.wait_for_url(re.compile("/break/$"))
                assert (
                    page.evaluate("getComputedStyle(document.body).backgroundColor")
                    == "rgb(100, 100, 100)"
                )
                page.click("#continue")
                wait_for_trial(page, 3)
                page.locator("#fullscreen-resume").wait_for(state="visible")
                page.click("#fullscreen-resume")
                page.locator("#fullscreen-resume").wait_for(state="hidden")
                assert page.evaluate("window.fullscreenRequests") == 1  # restored after the break
            wait_for_trial(page, index)
            quality, correspondence = chosen[index]
            page.keyboard.press(str(quality))
            page.keyboard.press(str(correspondence))
            page.keyboard.press("Enter")
        page.wait_for_url(re.compile("/done/$"))
    finally:
        context.close()

    session = session_for(token)
    check = session.display_check
    assert (check["window_width"], check["window_height"]) == (1366, 768)
    assert check["device_pixel_ratio"] == 1 and check["grey_steps_distinguishable"]
    assert check["fullscreen"] is True
    assert check["viewing_distance_text"] == "Sit 60 cm from the screen."
    ratings = Rating.objects.filter(session=session).select_related("dimension")
    scores = {(r.trial_index, r.dimension.key): r.score for r in ratings}
    for index, (quality, correspondence) in chosen.items():
        assert scores[(index, "quality")] == quality
        assert scores[(index, "correspondence")] == correspondence
    assert all(r.too_fast for r in ratings)  # every answer under the 10-minute threshold


def test_a_phone_is_asked_for_a_larger_screen_unless_the_study_allows_it(live_server, browser):
    phone = dict(device_scale_factor=3, is_mobile=True, has_touch=True)
    refused = acr_study(images=1)
    allowed = acr_study(images=2, allow_small_screens=True)
    _, refused_token = subject_invite_create(study=refused)
    _, token = subject_invite_create(study=allowed)
    context, page = new_page(browser, 390, 844, **phone)
    try:
        page.goto(f"{live_server.url}/s/{refused_token}/")
        page.locator("#small-screen").wait_for(state="visible")
        assert not page.locator("#accept").is_visible()
        shot(page, "phone-refused")

        page.goto(f"{live_server.url}/s/{token}/")
        page.tap("#accept")
        page.wait_for_url(re.compile("/instructions/$"))
        if page.locator("#fullscreen-choice").is_visible():
            page.uncheck("#fullscreen-choice")
        page.tap("#start")
        page.check("#grey-confirm")
        page.tap("#display-continue")
        for index in range(2):
            wait_for_trial(page, index)
            page.wait_for_function("() => document.getElementById('reference').naturalWidth > 0")
            sizes = page.evaluate(RECTS)
            # Stacked: image, prompt image, then the questions; nothing wider than the phone.
            assert sizes["image"]["bottom"] <= sizes["reference"]["top"]
            assert sizes["reference"]["bottom"] <= sizes["panel"]
            assert sizes["scrollW"] <= sizes["innerW"]
            # Never upscaled: one image pixel covers at most one device pixel.
            assert sizes["image"]["width"] * sizes["ratio"] <= sizes["nw"] + 0.5
            assert sizes["reference"]["width"] * sizes["ratio"] <= sizes["rnw"] + 0.5
            assert not sizes["warned"] and sizes["scale"] == 1
            if index == 0:
                shot(page, "phone-trial")
            page.tap(".dim[data-key=quality] button[data-value='4']")
            page.tap(".dim[data-key=correspondence] button[data-value='2']")
            page.tap("#next")
        page.wait_for_url(re.compile("/done/$"))
    finally:
        context.close()
    assert Rating.objects.filter(session=session_for(token)).count() == 4


def test_a_whole_session_in_simplified_chinese(live_server, browser):
    study = acr_study(
        training=True,
        break_interval=1,
        images=2,
        language=Study.Language.CHINESE_SIMPLIFIED,
        consent_text="本研究由某实验室开展。",
        scale_labels=["很差", "差", "一般", "好", "很好"],
    )
    _, token = subject_invite_create(study=study)
    context, page = new_page(browser, 1366, 768, locale="en-US")
    try:
        page.goto(f"{live_server.url}/s/{token}/")
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        assert "本研究由某实验室开展。" in page.inner_text("main")
        page.click("#decline")
        assert "您确定要退出本研究吗？" in page.inner_text("main")
        page.click("#decline-back")
        page.click("#accept")
        page.wait_for_url(re.compile("/instructions/$"))
        assert "如何评分" in page.inner_text("main")
        assert page.inner_text("#start") == "开始"
        shot(page, "zh-instructions")
        page.uncheck("#fullscreen-choice")
        page.click("#start")
        assert "显示检查" in page.inner_text("#display-check")
        page.check("#grey-confirm")
        page.click("#display-continue")
        wait_for_trial(page, 0)
        assert page.inner_text("#next") == "下一张"
        assert page.inner_text("#progress") == "练习 1 / 1"
        assert page.inner_text(".dim[data-key=quality] .dim-value") == "未作答"
        page.keyboard.press("5")
        page.keyboard.press("4")
        page.keyboard.press("Enter")
        page.locator("#feedback").wait_for(state="visible")
        assert "这张图像的参考评分" in page.inner_text("#feedback")
        assert "5 · 很好" in page.inner_text("#feedback")
        shot(page, "zh-feedback")
        page.keyboard.press("Enter")
        wait_for_trial(page, 1)
        assert page.inner_text("#progress") == "图像 1 / 2"
        page.keyboard.press("3")
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile("/break/$"))
        assert "休息一下" in page.inner_text("main")
        page.click("#continue")
        wait_for_trial(page, 2)
        page.keyboard.press("2")
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile("/done/$"))
        assert "谢谢，您已全部完成" in page.inner_text("main")
    finally:
        context.close()
    assert Rating.objects.filter(session=session_for(token), is_training=False).count() == 4
