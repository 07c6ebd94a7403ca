"""Crowd recruitment links: arrivals from Prolific, MTurk and another panel, resume,
one session per ID and per browser, completion codes, quota and idle release."""

import csv
import io
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from annotation.models import RatingSession, Study, Subject
from annotation.selectors.allocation import pending_counts
from annotation.services.playlists import assignment_counts
from annotation.services.recruitment import (
    idle_sessions_release,
    platform_id_hash,
    recruitment_links,
    recruitment_settings_update,
)
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import display_check_pass, session_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    # The start throttle counts per address in the cache; every test's client is 127.0.0.1.
    cache.clear()
    yield
    cache.clear()


PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "st1", "SESSION_ID": "se1"}
MTURK = {
    "workerId": "A1B2C3D4E5",
    "assignmentId": "3ASSIGN0001",
    "hitId": "3HIT0001",
    "turkSubmitTo": "https://workersandbox.mturk.com",
}


@dataclass
class Crowd:
    study: Study
    link: str


def crowd_study(platform: str, **settings) -> Crowd:
    study = StudyFactory(
        status=Study.Status.OPEN, session_size=2, break_interval=0, instructions="Rate them."
    )
    DimensionFactory(study=study, key="quality", order=0)
    StimulusFactory.create_batch(4, study=study)
    recruitment_settings_update(study=study, recruitment_platform=platform, **settings)
    study.refresh_from_db()
    return Crowd(study=study, link=f"/r/{study.recruitment_key}/")


@pytest.fixture
def prolific() -> Crowd:
    return crowd_study(Study.Platform.PROLIFIC, completion_code_crowd="C0DE1234")


@pytest.fixture
def mturk() -> Crowd:
    return crowd_study(Study.Platform.MTURK, completion_code_crowd="MTURK-OK")


def token_of(response) -> str:
    return response["Location"].split("/")[2]


def finish(client: Client, token: str) -> RatingSession:
    """Consent, pass the display check and rate every trial."""
    assert client.post(f"/s/{token}/consent/", {"decision": "accept"}).status_code == 302
    display_check_pass(client, token)
    session = session_for(token)
    for index, entry in enumerate(session.playlist):
        body = {"stimulus": entry["stimulus"], "scores": {"quality": 50}, "response_time_ms": 2000}
        answer = client.post(
            f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
        )
        assert answer.status_code == 200, answer.content
    session.refresh_from_db()
    return session


# --- arrivals ------------------------------------------------------------------------------


def test_prolific_arrival_makes_a_subject_and_sends_it_to_its_own_pages(client, prolific):
    response = client.get(prolific.link, PROLIFIC)
    assert response.status_code == 302 and response["Location"].startswith("/s/")
    subject = Subject.objects.get(study=prolific.study)
    assert subject.platform == "prolific" and subject.platform_session_id == "se1"
    assert subject.platform_id_hash == platform_id_hash(
        study=prolific.study, participant_id=PROLIFIC["PROLIFIC_PID"]
    )
    assert PROLIFIC["PROLIFIC_PID"] not in subject.platform_id_hash
    assert subject.label.startswith("PRO")
    # The ordinary flow takes over: consent first.
    follow = client.get(response["Location"])
    assert follow["Location"].endswith("/consent/")


def test_the_same_id_resumes_the_same_session_with_a_fresh_link(client, prolific):
    first = client.get(prolific.link, PROLIFIC)
    old_token = token_of(first)
    client.post(f"/s/{old_token}/consent/", {"decision": "accept"})
    session = session_for(old_token)
    again = client.get(prolific.link, PROLIFIC)
    new_token = token_of(again)
    assert Subject.objects.filter(study=prolific.study).count() == 1
    assert session_for(new_token).pk == session.pk
    # One link works at a time: the old one is gone.
    assert client.get(f"/s/{old_token}/").status_code == 404


def test_a_second_id_from_the_same_browser_is_refused(client, prolific):
    client.get(prolific.link, PROLIFIC)
    other = client.get(prolific.link, {**PROLIFIC, "PROLIFIC_PID": "another0000000000000000"})
    assert other.status_code == 403
    assert b"already taken part" in other.content
    assert Subject.objects.filter(study=prolific.study).count() == 1


def test_the_same_id_from_a_second_browser_gets_the_same_subject(prolific):
    token = token_of(Client().get(prolific.link, PROLIFIC))
    second = Client().get(prolific.link, PROLIFIC)
    assert second.status_code == 302
    assert Subject.objects.filter(study=prolific.study).count() == 1
    # The subject is the same; its first link was replaced by the second browser's.
    assert Client().get(f"/s/{token}/").status_code == 404


def test_a_link_without_an_id_creates_nothing(client, prolific):
    response = client.get(prolific.link, {"PROLIFIC_PID": "<script>"})
    assert response.status_code == 400
    assert b"valid Prolific ID" in response.content
    assert not Subject.objects.filter(study=prolific.study).exists()
    assert client.get("/r/no-such-key/", PROLIFIC).status_code == 404


def test_mturk_preview_shows_the_instructions_only(client, mturk):
    response = client.get(mturk.link, {**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"})
    assert response.status_code == 200
    assert b"This is a preview" in response.content and b"Rate them." in response.content
    assert not Subject.objects.filter(study=mturk.study).exists()
    # MTurk frames the external question: its hosts (and only they) may.
    assert "frame-ancestors https://www.mturk.com" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response


def test_mturk_arrival_starts_in_a_tab_and_keeps_the_assignment(client, mturk):
    response = client.get(mturk.link, MTURK)
    assert response.status_code == 200
    subject = Subject.objects.get(study=mturk.study)
    assert subject.platform_session_id == "3ASSIGN0001"
    assert subject.platform_submit_to == "https://workersandbox.mturk.com"
    assert b'target="_blank"' in response.content and b"/s/" in response.content


def test_mturk_submit_to_must_be_mturk_itself(client, mturk):
    response = client.get(mturk.link, {**MTURK, "turkSubmitTo": "https://evil.example.org"})
    assert response.status_code == 400
    assert not Subject.objects.filter(study=mturk.study).exists()


def test_generic_panel_uses_its_own_parameter(client):
    crowd = crowd_study(Study.Platform.GENERIC, participant_param="pid")
    response = client.get(crowd.link, {"pid": "pool-77"})
    assert response.status_code == 302
    assert Subject.objects.get(study=crowd.study).platform == "generic"


def test_the_researcher_sees_the_link_to_paste(prolific, mturk):
    links = recruitment_links(study=prolific.study, link="https://rate.example.org" + prolific.link)
    assert links.study_url.endswith(
        "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    question = recruitment_links(study=mturk.study, link="https://x.org" + mturk.link)
    assert "<ExternalURL>https://x.org/r/" in question.external_question


# --- completion ----------------------------------------------------------------------------


def test_prolific_completion_redirects_with_the_study_code(client, prolific):
    token = token_of(client.get(prolific.link, PROLIFIC))
    finish(client, token)
    done = client.get(f"/s/{token}/done/")
    url = "https://app.prolific.com/submissions/complete?cc=C0DE1234"
    assert f'content="5;url={url}"'.encode() in done.content
    assert f'href="{url}"'.encode() in done.content


def test_configured_completion_url_is_used(client):
    crowd = crowd_study(
        Study.Platform.GENERIC,
        completion_url="https://panel.example.org/done?code={code}",
        completion_code_crowd="A B",
    )
    token = token_of(client.get(crowd.link, {"participant": "p1"}))
    finish(client, token)
    done = client.get(f"/s/{token}/done/")
    assert b'href="https://panel.example.org/done?code=A%20B"' in done.content


def test_mturk_completion_posts_back_the_assignment(client, mturk):
    response = client.get(mturk.link, MTURK)
    subject = Subject.objects.get(study=mturk.study)
    token = response.content.decode().split('href="/s/')[1].split("/")[0]
    finish(client, token)
    done = client.get(f"/s/{token}/done/")
    body = done.content.decode()
    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in body
    assert 'name="assignmentId" value="3ASSIGN0001"' in body
    assert subject.platform_participant_id not in body
    assert "form-action 'self' https://workersandbox.mturk.com" in done["Content-Security-Policy"]
    # Every other page keeps the site's own form-action.
    assert "mturk" not in client.get(f"/s/{token}/").get("Content-Security-Policy", "")


def test_forged_or_replayed_completion_gets_no_code(client, prolific):
    token = token_of(client.get(prolific.link, PROLIFIC))
    client.post(f"/s/{token}/consent/", {"decision": "accept"})
    # Not finished: the done page sends the subject back, without the code.
    early = client.get(f"/s/{token}/done/", follow=True)
    assert b"C0DE1234" not in early.content
    session = finish(client, token)
    code = session.completion_code
    # Replaying the last trial answers from what was stored: no new code is made.
    last = len(session.playlist) - 1
    body = {
        "stimulus": session.playlist[last]["stimulus"],
        "scores": {"quality": 50},
        "response_time_ms": 2000,
    }
    client.post(f"/s/{token}/trials/{last}/", json.dumps(body), content_type="application/json")
    session.refresh_from_db()
    assert session.completion_code == code
    # A released (timed-out) session gets no code either.
    other = Client()
    token2 = token_of(other.get(prolific.link, {**PROLIFIC, "PROLIFIC_PID": "second00000"}))
    other.post(f"/s/{token2}/consent/", {"decision": "accept"})
    RatingSession.objects.filter(pk=session_for(token2).pk).update(
        released_at=timezone.now(), playlist=[]
    )
    gone = other.get(f"/s/{token2}/done/", follow=True)
    assert gone.status_code == 410 and b"C0DE1234" not in gone.content


def test_a_declining_subject_gets_the_screened_out_code(client):
    crowd = crowd_study(Study.Platform.PROLIFIC, screened_out_code="NOCONSENT")
    token = token_of(client.get(crowd.link, PROLIFIC))
    client.post(f"/s/{token}/consent/", {"decision": "decline_confirmed"})
    page = client.get(f"/s/{token}/")
    assert b"cc=NOCONSENT" in page.content


def test_invited_subjects_see_no_platform_exit(client, prolific):
    _, token = subject_invite_create(study=prolific.study)
    finish(client, token)
    done = client.get(f"/s/{token}/done/")
    assert b"prolific.com" not in done.content and b"researcher if you were asked" in done.content


def test_researcher_switches_the_link_on_and_sees_what_to_paste(admin_client):
    study = StudyFactory(status=Study.Status.OPEN)
    page = f"/studies/{study.pk}/recruitment/"
    assert b"No recruitment link" in admin_client.get(page).content
    form = {
        "recruitment_platform": "prolific",
        "participant_param": "participant",
        "completion_url": "",
        "completion_code_crowd": "",
        "screened_out_code": "NOCONSENT",
        "quota_full_code": "",
        "quota_completed": "30",
        "idle_release_minutes": "60",
        "max_duration_minutes": "0",
        "timed_out_code": "",
        "qualification_tolerance": "0",
        "qualification_attempts": "2",
        "qualification_failed_code": "",
        "trap_every": "0",
        "gold_every": "0",
        "bonus_amount": "0",
    }
    assert admin_client.post(page, form).status_code == 302
    study.refresh_from_db()
    assert study.recruitment_key and study.completion_code_crowd and study.quota_completed == 30
    body = admin_client.get(page).content.decode()
    assert f"/r/{study.recruitment_key}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}" in body
    assert study.completion_code_crowd in body
    bad = admin_client.post(page, {**form, "completion_url": "http://x.org/{code}"})
    assert b"must start with https://" in bad.content


# --- quota and idle sessions -----------------------------------------------------------------


def test_the_link_closes_at_the_quota_with_its_own_code(client):
    crowd = crowd_study(Study.Platform.PROLIFIC, quota_completed=1, quota_full_code="FULL99")
    first = Client()
    token = token_of(first.get(crowd.link, PROLIFIC))
    # Started but not finished: the quota counts completed subjects only.
    late = Client().get(crowd.link, {**PROLIFIC, "PROLIFIC_PID": "second00000"})
    assert late.status_code == 302
    finish(first, token)
    refused = Client().get(crowd.link, {**PROLIFIC, "PROLIFIC_PID": "third000000"})
    assert refused.status_code == 200 and b"The study is full" in refused.content
    assert b"cc=FULL99" in refused.content
    assert Subject.objects.filter(study=crowd.study).count() == 2
    # Those who arrived before the quota still resume.
    again = Client().get(crowd.link, {**PROLIFIC, "PROLIFIC_PID": "second00000"})
    assert again.status_code == 302


def test_an_idle_sessions_trials_are_served_to_someone_else(client):
    crowd = crowd_study(Study.Platform.PROLIFIC, idle_release_minutes=30)
    idle = Client()
    token = token_of(idle.get(crowd.link, PROLIFIC))
    idle.post(f"/s/{token}/consent/", {"decision": "accept"})
    first = session_for(token)
    held = {entry["stimulus"] for entry in first.playlist}
    # The first two stimuli of four are held by the idle session; a second one gets the rest.
    RatingSession.objects.filter(pk=first.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=31)
    )
    assert idle_sessions_release(study=crowd.study) == 1
    first.refresh_from_db()
    assert first.released_at is not None and first.playlist == []
    assert idle.get(f"/s/{token}/").status_code == 410
    # Both allocations read what playlists still hold: the idle session holds nothing now.
    playlists = RatingSession.objects.filter(subject__study=crowd.study).values_list(
        "playlist", flat=True
    )
    assert assignment_counts(playlists=playlists, kind="rating") == {}
    assert pending_counts(study=crowd.study) == {}
    other = Client()
    token2 = token_of(other.get(crowd.link, {**PROLIFIC, "PROLIFIC_PID": "second00000"}))
    other.post(f"/s/{token2}/consent/", {"decision": "accept"})
    assert len(session_for(token2).playlist) == 2 and held


def test_sessions_are_released_only_when_the_study_sets_a_limit():
    crowd = crowd_study(Study.Platform.PROLIFIC)
    assert idle_sessions_release(study=crowd.study) == 0


# --- payment and approval list -------------------------------------------------------------


def _arrive(crowd: Crowd, participant: str) -> tuple[Client, str]:
    browser = Client()
    token = token_of(browser.get(crowd.link, {**PROLIFIC, "PROLIFIC_PID": participant}))
    return browser, token


def test_payment_list_rows_for_a_mix_of_subjects(admin_client):
    crowd = crowd_study(Study.Platform.PROLIFIC)
    crowd.study.too_fast_ms = 1000
    crowd.study.save()
    browser, token = _arrive(crowd, "good0000001")
    finish(browser, token)
    browser, token = _arrive(crowd, "fast0000002")
    assert browser.post(f"/s/{token}/consent/", {"decision": "accept"}).status_code == 302
    display_check_pass(browser, token)
    for index, entry in enumerate(session_for(token).playlist):
        body = {"stimulus": entry["stimulus"], "scores": {"quality": 50}, "response_time_ms": 100}
        browser.post(
            f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
        )
    browser, token = _arrive(crowd, "decline0003")
    browser.post(f"/s/{token}/consent/", {"decision": "decline_confirmed"})
    _arrive(crowd, "started0004")
    subject_invite_create(study=crowd.study)  # an invited subject is not on the list
    response = admin_client.get(f"/studies/{crowd.study.pk}/subjects/payments.csv")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_id = {row["participant_id"]: row for row in rows}
    assert list(by_id) == ["good0000001", "fast0000002", "decline0003", "started0004"]
    good = by_id["good0000001"]
    assert (
        good["decision"] == "accept" and good["trials"] == "2" and good["too_fast_share"] == "0.0"
    )
    assert good["platform_session_id"] == "se1" and good["minutes"] and good["finished_at"]
    assert by_id["fast0000002"]["decision"] == "review"
    assert by_id["fast0000002"]["too_fast_share"] == "1.0"
    assert by_id["decline0003"]["decision"] == "screened_out"
    assert by_id["started0004"]["decision"] == "incomplete"
    assert all(row["pseudonym"].startswith("PRO") for row in rows)
    page = admin_client.get(f"/studies/{crowd.study.pk}/subjects/")
    assert b'id="payment-csv"' in page.content


def test_raw_platform_ids_stay_out_of_exports_and_the_api(admin_client, prolific):
    browser, token = _arrive(prolific, "secret00001")
    finish(browser, token)
    live = b"".join(admin_client.get(f"/studies/{prolific.study.pk}/ratings.csv").streaming_content)
    subjects = admin_client.get(f"/api/studies/{prolific.study.pk}/subjects/")
    report = admin_client.get(f"/studies/{prolific.study.pk}/subjects/report.csv")
    assert subjects.status_code == 200 and b"PRO" in subjects.content
    for body in (live, subjects.content, b"".join(report.streaming_content)):
        assert b"secret00001" not in body


def test_payment_list_from_the_command_line(tmp_path, prolific):
    browser, token = _arrive(prolific, "cli00000001")
    finish(browser, token)
    out = tmp_path / "payments.csv"
    call_command("study", "payments", prolific.study.slug, "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["participant_id"] == "cli00000001" and rows[0]["decision"] == "accept"
    stdout = io.StringIO()
    call_command("study", "release-idle", prolific.study.slug, stdout=stdout)
    assert "0 idle session(s) released" in stdout.getvalue()
