"""Lab conditions of the subject pages through the Django test client: display check,
too-fast flags, ACR keys, wording, small-screen setting and the Chinese catalogue."""

import gettext
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from annotation.models import Rating, Stimulus, Study
from annotation.research.forms import StudyForm
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import (
    ACR_FIVE_LEVELS,
    DISPLAY_CHECK,
    display_check_pass,
    session_for,
)

pytestmark = pytest.mark.django_db

LOCALE = Path(__file__).resolve().parents[1] / "locale" / "zh_Hans" / "LC_MESSAGES"


def acr_study(**fields) -> Study:
    study = StudyFactory(
        **ACR_FIVE_LEVELS,
        session_size=3,
        break_interval=0,
        **fields,
    )
    DimensionFactory(study=study, key="quality", label="Quality", order=0)
    StimulusFactory.create_batch(3, study=study)
    return study


def consented(client, study: Study) -> str:
    _, token = subject_invite_create(study=study)
    assert client.post(f"/s/{token}/consent/", {"decision": "accept"}).status_code == 302
    return token


def post_check(client, token: str, **changes):
    return client.post(
        f"/s/{token}/display-check/",
        json.dumps({**DISPLAY_CHECK, **changes}),
        content_type="application/json",
    )


def submit(client, token: str, index: int, rt: int, score: float = 3):
    stimulus = session_for(token).playlist[index]["stimulus"]
    body = {"stimulus": stimulus, "scores": {"quality": score}, "response_time_ms": rt}
    return client.post(
        f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
    )


# --- display check ------------------------------------------------------------------------
def test_the_display_check_is_stored_with_the_session_and_the_viewing_text(client):
    study = acr_study(viewing_distance_text="Sit 60 cm from the screen.", surround_grey=100)
    token = consented(client, study)
    page = client.get(f"/s/{token}/instructions/").content.decode()
    assert "Sit 60 cm from the screen." in page and 'id="grey-confirm"' in page
    display_check_pass(client, token, device_pixel_ratio=2, fullscreen=True)
    check = session_for(token).display_check
    assert check["window_width"] == 1366 and check["device_pixel_ratio"] == 2.0
    assert check["fullscreen"] is True and check["grey_steps_distinguishable"] is True
    assert check["viewing_distance_text"] == "Sit 60 cm from the screen."
    assert check["surround_grey"] == 100 and check["checked_at"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"grey_steps_distinguishable": False}, "grey_steps"),
        ({"device_pixel_ratio": "2"}, "bad_display_check"),
        ({"window_width": 0}, "bad_display_check"),
        ({"fullscreen": "yes"}, "bad_display_check"),
    ],
)
def test_a_bad_display_check_is_refused_and_nothing_is_stored(client, changes, code):
    token = consented(client, acr_study())
    response = post_check(client, token, **changes)
    assert response.status_code == 400 and response.json()["code"] == code
    assert session_for(token).display_check == {}
    assert client.get(f"/s/{token}/trials/0/").status_code == 302


def test_the_display_check_cannot_be_redone_once_rating_started(client):
    token = consented(client, acr_study())
    display_check_pass(client, token)
    assert submit(client, token, 0, rt=2000).status_code == 200
    # Past the first trial the page is no longer the instructions stage's: sent on.
    response = post_check(client, token, window_width=800)
    assert response.status_code in (302, 409)
    assert session_for(token).display_check["window_width"] == 1366


# --- response times -----------------------------------------------------------------------
def test_answers_under_the_threshold_are_flagged_too_fast_and_counted_per_subject(client):
    study = acr_study(too_fast_ms=1500)
    token = consented(client, study)
    display_check_pass(client, token)
    for index, rt in enumerate([400, 1499, 1500]):
        assert submit(client, token, index, rt=rt).status_code == 200
    flags = dict(
        Rating.objects.filter(session=session_for(token)).values_list("trial_index", "too_fast")
    )
    assert flags == {0: True, 1: True, 2: False}
    client.force_login(study.owner)
    page = client.get(reverse("research:subject_list", args=[study.pk])).content.decode()
    row = re.search(r"<tr><td>S0001</td>.*?</tr>", page, re.S).group(0)
    assert '<td class="too-fast num">2</td>' in row
    assert "1366×768 @1x, windowed, grey steps seen" in row


def test_a_zero_threshold_never_flags(client):
    token = consented(client, acr_study(too_fast_ms=0))
    display_check_pass(client, token)
    assert submit(client, token, 0, rt=1).status_code == 200
    assert not Rating.objects.filter(too_fast=True).exists()


# --- ACR keys and wording -----------------------------------------------------------------
def test_acr_pages_give_number_keys_for_scores_and_say_so(client):
    token = consented(client, acr_study())
    instructions = client.get(f"/s/{token}/instructions/").content.decode()
    assert "the score of the highlighted question" in instructions
    assert "choose a question" not in instructions
    # No training stimuli: no practice is promised.
    assert 'id="practice-note"' not in instructions
    display_check_pass(client, token)
    trial = client.get(f"/s/{token}/trials/0/").content.decode()
    shortcuts = re.findall(r'data-value="(\d)" data-shortcut="(\d)"', trial)
    assert shortcuts == [(str(v), str(v)) for v in range(1, 6)]
    hint = re.search(r'<p class="hint" id="key-hint">(.*?)</p>', trial).group(1)
    assert "score" in hint and "Shift" not in hint


def test_acr_keys_follow_positions_when_values_are_not_digits(client):
    study = acr_study()
    Study.objects.filter(pk=study.pk).update(scale_min=0, scale_max=100, scale_step=25)
    token = consented(client, Study.objects.get(pk=study.pk))
    display_check_pass(client, token)
    trial = client.get(f"/s/{token}/trials/0/").content.decode()
    assert re.findall(r'data-value="(\d+)" data-shortcut="(\d)"', trial) == [
        ("0", "1"),
        ("25", "2"),
        ("50", "3"),
        ("75", "4"),
        ("100", "5"),
    ]


def test_practice_is_promised_only_when_the_study_has_training_images(client):
    study = acr_study()
    StimulusFactory(
        study=study,
        role=Stimulus.Role.TRAINING,
        explanation="Anchor.",
        expected_scores={"quality": 5},
    )
    token = consented(client, study)
    page = client.get(f"/s/{token}/instructions/").content.decode()
    assert 'id="practice-note"' in page and "Continue to the practice images" in page


def test_the_study_form_offers_the_new_settings():
    fields = StudyForm().fields
    for name in (
        "language",
        "surround_grey",
        "allow_small_screens",
        "viewing_distance_text",
        "too_fast_ms",
    ):
        assert name in fields, name
    assert not StudyForm(data={"surround_grey": 300}).is_valid()


def test_the_small_screen_gate_is_in_the_consent_page_only_when_phones_are_refused(client):
    _, refused = subject_invite_create(study=acr_study())
    _, allowed = subject_invite_create(study=acr_study(allow_small_screens=True))
    assert "data-small-screen-gate" in client.get(f"/s/{refused}/consent/").content.decode()
    assert "data-small-screen-gate" not in client.get(f"/s/{allowed}/consent/").content.decode()


# --- languages ----------------------------------------------------------------------------
def _po_entries() -> dict[str, str]:
    entries, msgid = {}, None
    for line in (LOCALE / "django.po").read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            msgid = json.loads(line[6:])
        elif line.startswith("msgstr ") and msgid:
            entries[msgid] = json.loads(line[7:])
    return entries


def test_the_chinese_catalogue_is_complete_and_its_compiled_file_is_current():
    entries = _po_entries()
    assert len(entries) > 80
    assert [msgid for msgid, text in entries.items() if not text] == []
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [msgid for msgid, text in entries.items() if compiled.gettext(msgid) != text]
    assert stale == [], "run msgfmt on django.po (see docs): the .mo is out of date"


def test_a_chinese_study_speaks_chinese_but_shows_the_researchers_text_as_written(client):
    study = acr_study(
        language=Study.Language.CHINESE_SIMPLIFIED,
        consent_text="Researcher's own consent, in English on purpose.",
        instructions="请认真观看每张图像。",
    )
    _, token = subject_invite_create(study=study)
    consent = client.get(f"/s/{token}/consent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in consent
    assert "我同意，继续" in consent and "I agree" not in consent
    assert "Researcher&#x27;s own consent, in English on purpose." in consent
    asked = client.post(f"/s/{token}/consent/", {"decision": "decline"}).content.decode()
    assert "您确定要退出本研究吗？" in asked
    client.post(f"/s/{token}/consent/", {"decision": "accept"})
    instructions = client.get(f"/s/{token}/instructions/").content.decode()
    assert "请认真观看每张图像。" in instructions and "显示检查" in instructions
    broken = client.post(f"/s/{token}/display-check/", "{oops", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json() == {"ok": False, "error": "请求内容必须是 JSON。", "code": "bad_json"}
    display_check_pass(client, token)
    not_an_object = client.post(
        f"/s/{token}/trials/0/",
        "[1]",
        content_type="application/json",
        HTTP_X_STUDY_LANGUAGE="zh-hans",
    ).json()
    assert not_an_object["error"] == "请求内容必须是 JSON 对象。"
    trial = client.get(f"/s/{token}/trials/0/").content.decode()
    assert "图像 1 / 3" in trial and ">下一张</button>" in trial
    data = json.loads(
        re.search(r'id="trial-data" type="application/json">(.*?)</script>', trial, re.S).group(1)
    )
    assert data["language"] == "zh-hans" and data["strings"]["notSet"] == "未作答"
    stimulus = session_for(token).playlist[0]["stimulus"]
    answer = client.post(
        f"/s/{token}/trials/0/",
        json.dumps({"stimulus": stimulus, "scores": {"quality": 4}, "response_time_ms": 2000}),
        content_type="application/json",
        HTTP_X_STUDY_LANGUAGE="zh-hans",
    ).json()
    assert answer["next_trial"]["progressLabel"] == "图像 2 / 3"
    # An English study next to it is untouched by the Chinese one.
    _, english = subject_invite_create(study=acr_study())
    assert "I agree, continue" in client.get(f"/s/{english}/consent/").content.decode()
