"""Quality control of crowd studies: the qualification step, traps and gold at a rate, the
accept and use gates, the payment list's figures, the start throttle and the time limit."""

import csv
import io
import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from PIL import Image

from annotation.models import QualityCheck, Rating, RatingSession, Stimulus, Study, Subject
from annotation.services.playlists import checks_insert, playlist_for_study
from annotation.services.recruitment import recruitment_settings_update
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import ACR_FIVE_LEVELS, display_check_pass, session_for
from study_site.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def crowd_study(**settings) -> Study:
    """An ACR study on Prolific: two anchors (expected 2 and 4), four images, one trap (5)."""
    study = StudyFactory(
        **ACR_FIVE_LEVELS, status=Study.Status.OPEN, session_size=4, break_interval=0
    )
    DimensionFactory(study=study, key="quality", order=0)
    for expected in (2, 4):
        StimulusFactory(
            study=study,
            role=Stimulus.Role.TRAINING,
            expected_scores={"quality": expected},
            explanation=f"Deserves {expected}.",
        )
    StimulusFactory.create_batch(4, study=study)
    StimulusFactory(study=study, role=Stimulus.Role.TRAP, expected_scores={"quality": 5})
    StimulusFactory(study=study, role=Stimulus.Role.GOLD, expected_scores={"quality": 3})
    fields = {"recruitment_platform": "prolific", "completion_code_crowd": "DONE1", **settings}
    recruitment_settings_update(study=study, **fields)
    study.refresh_from_db()
    return study


def arrive(study: Study, participant: str) -> tuple[Client, str]:
    browser = Client()
    response = browser.get(
        f"/r/{study.recruitment_key}/",
        {"PROLIFIC_PID": participant, "STUDY_ID": "st", "SESSION_ID": f"se-{participant}"},
    )
    assert response.status_code == 302, response.content
    token = response["Location"].split("/")[2]
    assert browser.post(f"/s/{token}/consent/", {"decision": "accept"}).status_code == 302
    display_check_pass(browser, token)
    return browser, token


def answer(browser: Client, token: str, index: int, score: float, ms: int = 2000) -> dict:
    entry = session_for(token).playlist[index]
    body = {"stimulus": entry["stimulus"], "scores": {"quality": score}, "response_time_ms": ms}
    response = browser.post(
        f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def expected_of(token: str, index: int) -> float:
    entry = session_for(token).playlist[index]
    return Stimulus.objects.get(pk=entry["stimulus"]).expected_scores.get("quality", 3)


def rate_all(browser: Client, token: str, *, trap_score=None, ms: int = 2000) -> RatingSession:
    """Answer every trial from the cursor on: anchors and gold as expected, traps with
    ``trap_score`` (None: as required), images with 3."""
    session = session_for(token)
    while session.cursor < len(session.playlist) and session.released_at is None:
        index = session.cursor
        kind = session.playlist[index]["kind"]
        score = 3.0
        if kind in ("training", "gold"):
            score = expected_of(token, index)
        elif kind == "trap":
            score = expected_of(token, index) if trap_score is None else trap_score
        answer(browser, token, index, score, ms)
        session.refresh_from_db()
    return session


# --- qualification ----------------------------------------------------------------------


def test_passing_the_qualification_shows_the_result_and_goes_on_to_rating():
    study = crowd_study(qualification_enabled=True, qualification_attempts=2)
    browser, token = arrive(study, "pass0000001")
    first = answer(browser, token, 0, 2)
    # 15 % of 1..5 is 0.6, less than a step: one category either side is close enough.
    assert first["feedback"]["tolerance"] == pytest.approx(1.0)
    assert first["next_trial"] is not None
    last = answer(browser, token, 1, 4)
    assert last["next_url"] == f"/s/{token}/qualification/" and last["next_trial"] is None
    page = browser.get(last["next_url"])
    assert page.status_code == 200 and b'id="qualification-passed"' in page.content
    assert f'href="/s/{token}/trials/2/"'.encode() in page.content
    checks = QualityCheck.objects.filter(session__subject__study=study).order_by("trial_index")
    assert [(c.kind, c.attempt, c.passed) for c in checks] == [("qualification", 1, True)] * 2
    assert browser.get(f"/s/{token}/trials/2/").status_code == 200


def test_a_failed_try_repeats_the_training_block_and_the_last_screens_out():
    study = crowd_study(
        qualification_enabled=True, qualification_attempts=2, qualification_failed_code="QFAIL"
    )
    browser, token = arrive(study, "fail0000001")
    answer(browser, token, 0, 5)  # expected 2: too far
    answer(browser, token, 1, 4)
    retry = browser.get(f"/s/{token}/qualification/")
    assert b'id="qualification-retry"' in retry.content and b"1 more try" in retry.content
    playlist = session_for(token).playlist
    assert [e["kind"] for e in playlist[:4]] == ["training"] * 4
    assert [e.get("attempt", 1) for e in playlist[:4]] == [1, 1, 2, 2]
    answer(browser, token, 2, 2)
    answer(browser, token, 3, 1)  # expected 4: too far again
    session = session_for(token)
    assert session.ended_reason == "qualification" and session.released_at is not None
    # The rating trials went back to the allocation: the playlist ends at the last try.
    assert len(session.playlist) == 4 and session.cursor == 4
    page = browser.get(f"/s/{token}/", follow=True)
    assert b'id="qualification-failed"' in page.content and b"cc=QFAIL" in page.content
    # Nothing more can be rated.
    assert (
        browser.get(f"/s/{token}/trials/4/", follow=True)
        .redirect_chain[-1][0]
        .endswith("/qualification/")
    )


def test_the_result_page_speaks_the_studys_language():
    study = crowd_study(qualification_enabled=True, qualification_attempts=1)
    Study.objects.filter(pk=study.pk).update(language="zh-hans")
    browser, token = arrive(study, "zh000000001")
    answer(browser, token, 0, 2)
    answer(browser, token, 1, 4)
    page = browser.get(f"/s/{token}/qualification/").content.decode()
    assert "您已通过练习" in page and "开始评分" in page


def test_without_a_qualification_training_is_practice_only():
    study = crowd_study()
    browser, token = arrive(study, "practice001")
    assert "tolerance" not in answer(browser, token, 0, 5)["feedback"]
    answer(browser, token, 1, 1)
    assert session_for(token).released_at is None
    assert not QualityCheck.objects.filter(kind="qualification").exists()


# --- traps and gold ---------------------------------------------------------------------


def test_traps_and_gold_come_one_per_block_at_the_set_rate():
    study = crowd_study(trap_every=10, gold_every=10)
    study.session_size = 20
    stimuli = [(i, "normal") for i in range(1, 41)] + [(100, "trap"), (200, "gold")]
    playlist = playlist_for_study(study=study, stimuli=stimuli, playlists=[], rng=random.Random(3))
    kinds = [entry["kind"] for entry in playlist]
    assert kinds.count("trap") == 2 and kinds.count("gold") == 1  # one gold stimulus only
    assert kinds.count("rating") == 20
    # One trap in each block: the first in the first eleven places, the other after it.
    traps = [i for i, kind in enumerate(kinds) if kind == "trap"]
    assert traps[0] <= 11 and traps[1] >= 10


def test_checks_insert_puts_one_check_in_each_block():
    trials = [{"kind": "rating", "stimulus": i} for i in range(30)]
    checks = [{"kind": "trap", "stimulus": 100 + n} for n in range(3)]
    for seed in range(20):
        result = checks_insert(trials=trials, checks=checks, every=10, rng=random.Random(seed))
        places = [i for i, entry in enumerate(result) if entry["kind"] == "trap"]
        assert [entry["stimulus"] for entry in result if entry["kind"] == "trap"] == [
            100,
            101,
            102,
        ]
        assert places[0] <= 9 and 11 <= places[1] <= 20 and 22 <= places[2] <= 31


def test_trap_and_gold_answers_are_recorded_and_traps_stay_out_of_the_data():
    study = crowd_study(trap_every=10, gold_every=10)
    browser, token = arrive(study, "trap0000001")
    session = rate_all(browser, token, trap_score=1)
    assert session.completed_at is not None
    checks = {c.kind: c.passed for c in QualityCheck.objects.filter(session=session)}
    assert checks == {"trap": False, "gold": True}
    trap_index = next(i for i, e in enumerate(session.playlist) if e["kind"] == "trap")
    trap_rating = Rating.objects.get(session=session, trial_index=trap_index)
    # Trap answers are kept for the record but never analysed or counted.
    assert trap_rating.is_training
    session.refresh_from_db()
    assert session.rating_tally == 5  # four images and the gold trial


# --- gates, bonus and the payment list ----------------------------------------------------


def _payment_rows(admin_client, study: Study) -> dict[str, dict]:
    response = admin_client.get(f"/studies/{study.pk}/subjects/payments.csv")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.content.decode()))
    return {row["participant_id"]: row for row in rows}


def _started_minutes_ago(token: str, minutes: int) -> None:
    RatingSession.objects.filter(pk=session_for(token).pk).update(
        started_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_payment_list_for_accepted_rejected_screened_out_and_timed_out(admin_client):
    study = crowd_study(
        qualification_enabled=True,
        qualification_attempts=1,
        trap_every=2,
        gold_every=10,
        max_duration_minutes=60,
        bonus_amount=Decimal("0.75"),
    )
    good_browser, good = arrive(study, "good0000001")
    rate_all(good_browser, good)
    bad_browser, bad = arrive(study, "bad00000001")
    _started_minutes_ago(bad, 10)
    rate_all(bad_browser, bad, trap_score=1)
    short_browser, short = arrive(study, "short000001")
    rate_all(short_browser, short, trap_score=1)  # two failed traps, but under five minutes
    unqualified_browser, unqualified = arrive(study, "unqual00001")
    answer(unqualified_browser, unqualified, 0, 5)
    answer(unqualified_browser, unqualified, 1, 4)
    slow_browser, slow = arrive(study, "slow0000001")
    _started_minutes_ago(slow, 61)
    rows = _payment_rows(admin_client, study)
    assert rows["good0000001"]["decision"] == "accept"
    assert rows["good0000001"]["traps_passed"] == "2" and rows["good0000001"]["traps_failed"] == "0"
    assert rows["good0000001"]["gold_passed"] == "1" and rows["good0000001"]["gold_failed"] == "0"
    assert rows["good0000001"]["qualification"] == "passed"
    assert rows["good0000001"]["suggested_bonus"] == "0.75"
    assert (
        rows["bad00000001"]["decision"] == "reject" and rows["bad00000001"]["traps_failed"] == "2"
    )
    assert rows["bad00000001"]["suggested_bonus"] == "0.00"
    assert rows["short000001"]["decision"] == "review"
    assert rows["unqual00001"]["decision"] == "screened_out"
    assert rows["unqual00001"]["qualification"] == "failed"
    assert rows["slow0000001"]["decision"] == "timed_out"
    # The use gate is the analysis's screening: blank until an analysis has run.
    assert {row["use"] for row in rows.values()} == {""}
    report = admin_client.get(f"/studies/{study.pk}/subjects/report/")
    body = report.content.decode()
    assert 'class="tag accept"' in body and 'class="tag reject"' in body and "0.75" in body
    # The checks are listed in the admin, read-only.
    listed = admin_client.get("/admin/annotation/qualitycheck/?kind=trap&passed__exact=0")
    assert listed.status_code == 200 and b"4 quality checks" in listed.content


def test_a_bot_like_pace_is_flagged_for_review():
    study = crowd_study(trap_every=10)
    study.too_fast_ms = 1000
    study.save()
    browser, token = arrive(study, "bot00000001")
    rate_all(browser, token, ms=150)
    from annotation.services.payments import payment_rows

    (row,) = payment_rows(study=study)
    assert row.decision == "review" and row.report.too_fast_share == 1.0


# --- abuse: bursts of starts, the time limit --------------------------------------------


@override_settings(RECRUIT_START_LIMIT=2, RECRUIT_START_WINDOW_S=600)
def test_a_burst_of_starts_from_one_address_is_limited_but_resuming_is_not():
    study = crowd_study()
    link = f"/r/{study.recruitment_key}/"
    for number in range(2):
        assert Client().get(link, {"PROLIFIC_PID": f"burst00000{number}"}).status_code == 302
    refused = Client().get(link, {"PROLIFIC_PID": "burst000009"})
    assert refused.status_code == 429 and b'id="too-many-starts"' in refused.content
    assert refused["Retry-After"] == "600"
    assert Subject.objects.filter(study=study).count() == 2
    assert Client().get(link, {"PROLIFIC_PID": "burst000000"}).status_code == 302


def test_past_the_maximum_duration_the_session_ends_with_the_timed_out_code():
    study = crowd_study(max_duration_minutes=30, timed_out_code="TOOLONG")
    browser, token = arrive(study, "late0000001")
    answer(browser, token, 0, 2)
    _started_minutes_ago(token, 31)
    ended = answer(browser, token, 1, 4)
    assert ended["ratings"] == 0 and ended["next_url"] == f"/s/{token}/"
    session = session_for(token)
    assert session.ended_reason == "max_duration" and len(session.playlist) == 1
    page = browser.get(f"/s/{token}/")
    assert page.status_code == 410
    assert b'id="time-limit"' in page.content and b"cc=TOOLONG" in page.content


def test_the_release_command_ends_sessions_past_the_limit():
    study = crowd_study(max_duration_minutes=30)
    _browser, token = arrive(study, "late0000003")
    _started_minutes_ago(token, 31)
    out = io.StringIO()
    call_command("study", "release-idle", study.slug, stdout=out)
    assert "1 past the maximum duration ended" in out.getvalue()
    assert session_for(token).ended_reason == "max_duration"


def test_opening_a_page_past_the_limit_ends_the_session_too():
    study = crowd_study(max_duration_minutes=30)
    browser, token = arrive(study, "late0000002")
    _started_minutes_ago(token, 45)
    assert browser.get(f"/s/{token}/trials/0/").status_code == 410
    assert session_for(token).ended_reason == "max_duration"


# --- trap stimuli made by the site ------------------------------------------------------


def test_make_traps_adds_images_that_state_their_answer(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    study = StudyFactory(**ACR_FIVE_LEVELS, language="zh-hans")
    DimensionFactory(study=study, key="quality", order=0)
    DimensionFactory(study=study, key="authenticity", order=1)
    out = io.StringIO()
    call_command("study", "make-traps", study.slug, "--count", "3", stdout=out)
    assert "3 trap stimuli added" in out.getvalue()
    traps = list(study.stimuli.filter(role=Stimulus.Role.TRAP).order_by("id"))
    assert [t.expected_scores for t in traps] == [
        {"quality": 5.0, "authenticity": 5.0},
        {"quality": 1.0, "authenticity": 1.0},
        {"quality": 3.0, "authenticity": 3.0},
    ]
    assert "注意力检查" in traps[0].prompt and "5 (Excellent)" in traps[0].prompt
    with Image.open(traps[0].image.path) as image:
        assert image.size == (768, 512)


def test_the_periodic_sweep_releases_idle_and_ends_overlong_sessions_of_every_study():
    idle_study = crowd_study(idle_release_minutes=20)
    long_study = crowd_study(max_duration_minutes=30)
    _idle, idle_token = arrive(idle_study, "sweep000001")
    _long, long_token = arrive(long_study, "sweep000002")
    _fresh, fresh_token = arrive(long_study, "sweep000003")
    RatingSession.objects.filter(pk=session_for(idle_token).pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=21)
    )
    _started_minutes_ago(long_token, 31)
    # The task beat sends, found by the name in the schedule among the tasks a worker loads.
    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["crowd-sessions-sweep"]
    counts = app.tasks[entry["task"]].apply().get()
    assert counts == {"studies": 2, "released": 1, "ended": 1}
    assert session_for(idle_token).released_at is not None
    assert session_for(long_token).ended_reason == "max_duration"
    fresh = session_for(fresh_token)
    assert fresh.released_at is None and not fresh.ended_reason
