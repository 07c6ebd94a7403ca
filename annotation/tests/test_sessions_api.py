"""The subject flow and the submission endpoint through the Django test client."""

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from annotation.models import Rating, RatingSession, Stimulus, Study, Subject
from annotation.services.ratings import rating_record
from annotation.services.subjects import subject_invite_create, token_hash
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import display_check_pass

pytestmark = pytest.mark.django_db


@dataclass
class Setup:
    study: Study
    token: str
    subject: Subject
    training: Stimulus


@pytest.fixture
def setup() -> Setup:
    study = StudyFactory(
        consent_text="Please agree to the terms of this tiny study.",
        instructions="Rate each image.",
        session_size=4,
        break_interval=2,
        repeats_per_session=1,
        scale_labels=["Bad", "Excellent"],
    )
    DimensionFactory(study=study, key="quality", order=0)
    DimensionFactory(study=study, key="authenticity", order=1)
    training = StimulusFactory(
        study=study,
        role=Stimulus.Role.TRAINING,
        explanation="Sharp and faithful: near the top.",
        expected_scores={"quality": 90, "authenticity": 85},
    )
    StimulusFactory.create_batch(4, study=study)
    subject, token = subject_invite_create(study=study)
    return Setup(study=study, token=token, subject=subject, training=training)


def consent(client: Client, token: str) -> RatingSession:
    response = client.post(f"/s/{token}/consent/", {"decision": "accept"})
    assert response.status_code == 302, response.content
    display_check_pass(client, token)
    return RatingSession.objects.get(subject__token_hash=token_hash(token))


def session_of(setup: Setup) -> RatingSession:
    return RatingSession.objects.get(subject=setup.subject)


def submit(client, token, index, *, stimulus, scores=None, rt=1200, raw=None):
    body = (
        raw
        if raw is not None
        else {
            "stimulus": stimulus,
            "scores": scores if scores is not None else {"quality": 60, "authenticity": 40.5},
            "response_time_ms": rt,
        }
    )
    return client.post(
        f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
    )


def run_trials(client, setup: Setup, count: int) -> list[dict]:
    answers = []
    for _ in range(count):
        session = session_of(setup)
        index = session.cursor
        response = submit(client, setup.token, index, stimulus=session.playlist[index]["stimulus"])
        assert response.status_code == 200, response.json()
        answers.append(response.json())
    return answers


# --- pages and consent ------------------------------------------------------------------


def test_unknown_invite_gives_a_clear_404_page(client):
    response = client.get("/s/not-a-real-token/")
    assert response.status_code == 404
    assert b"This invite link is not valid" in response.content
    api = submit(client, "not-a-real-token", 0, stimulus=1)
    assert api.status_code == 404
    assert api.json()["code"] == "unknown_invite"


def test_consent_then_instructions_then_first_trial(client, setup):
    response = client.get(f"/s/{setup.token}/", follow=True)
    assert response.redirect_chain[-1][0] == f"/s/{setup.token}/consent/"
    assert b"Please agree to the terms" in response.content
    response = client.post(f"/s/{setup.token}/consent/", {"decision": "accept"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/s/{setup.token}/instructions/"
    setup.subject.refresh_from_db()
    assert setup.subject.consented_at is not None
    session = session_of(setup)
    assert session.playlist[0]["stimulus"] == setup.training.pk
    assert len(session.playlist) == 1 + 4 + 1
    # The display check comes first: the first trial sends the subject back to it.
    early = client.get(f"/s/{setup.token}/trials/0/")
    assert early.headers["Location"] == f"/s/{setup.token}/instructions/#display-check"
    answer = display_check_pass(client, setup.token)
    assert answer["next_url"] == f"/s/{setup.token}/trials/0/"
    page = client.get(f"/s/{setup.token}/trials/0/")
    assert page.status_code == 200
    assert b'id="trial-data"' in page.content
    assert b"Practice 1 of 1" in page.content


def test_declining_ends_cleanly_and_the_link_cannot_be_used_again(client, setup):
    # "I do not agree" asks once more; going back leaves the invite as it was.
    asked = client.post(f"/s/{setup.token}/consent/", {"decision": "decline"})
    assert asked.status_code == 200 and b'id="decline-confirm"' in asked.content
    setup.subject.refresh_from_db()
    assert setup.subject.declined_at is None
    response = client.post(
        f"/s/{setup.token}/consent/", {"decision": "decline_confirmed"}, follow=True
    )
    assert b"You chose not to take part" in response.content
    setup.subject.refresh_from_db()
    assert setup.subject.declined_at is not None
    assert setup.subject.consented_at is None
    again = client.post(f"/s/{setup.token}/consent/", {"decision": "accept"}, follow=True)
    assert b"You chose not to take part" in again.content
    assert not RatingSession.objects.filter(subject=setup.subject).exists()
    for path in ("", "instructions/", "trials/0/", "break/", "done/"):
        page = client.get(f"/s/{setup.token}/{path}", follow=True)
        assert b"You chose not to take part" in page.content, path
    api = submit(client, setup.token, 0, stimulus=setup.training.pk)
    assert api.status_code == 403
    assert api.json()["code"] == "declined"


def test_a_study_that_is_not_open_says_so(client, setup):
    Study.objects.filter(pk=setup.study.pk).update(status=Study.Status.DRAFT)
    response = client.get(f"/s/{setup.token}/", follow=True)
    assert response.status_code == 403
    assert b"This study is not open" in response.content
    response = client.post(f"/s/{setup.token}/consent/", {"decision": "accept"})
    assert b"This study is not open" in response.content
    assert not RatingSession.objects.exists()


def test_submitting_before_consent_is_refused(client, setup):
    api = submit(client, setup.token, 0, stimulus=setup.training.pk)
    assert api.status_code == 403
    assert api.json()["code"] == "not_consented"


# --- submissions ------------------------------------------------------------------------


def test_a_trial_stores_every_dimension_with_flags_and_response_time(client, setup):
    session = consent(client, setup.token)
    response = submit(
        client,
        setup.token,
        0,
        stimulus=setup.training.pk,
        scores={"quality": 70, "authenticity": 33.3},
        rt=2345,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["feedback"] == {
        "explanation": "Sharp and faithful: near the top.",
        "expected": {"quality": 90, "authenticity": 85},
    }
    assert body["next_url"] == f"/s/{setup.token}/trials/1/"
    rows = list(Rating.objects.filter(session=session).order_by("dimension__order"))
    assert [(r.dimension.key, r.score) for r in rows] == [("quality", 70), ("authenticity", 33.3)]
    assert all(r.is_training and r.response_time_ms == 2345 and r.trial_index == 0 for r in rows)
    session.refresh_from_db()
    assert session.cursor == 1
    second = submit(client, setup.token, 1, stimulus=session.playlist[1]["stimulus"])
    assert second.json()["feedback"] is None
    assert not Rating.objects.filter(trial_index=1, is_training=True).exists()


def test_a_retried_submit_stores_nothing_new_and_answers_the_same(client, setup):
    consent(client, setup.token)
    first = submit(client, setup.token, 0, stimulus=setup.training.pk)
    again = submit(client, setup.token, 0, stimulus=setup.training.pk, rt=9999)
    assert again.status_code == 200
    assert again.content == first.content
    assert Rating.objects.count() == 2
    assert set(Rating.objects.values_list("response_time_ms", flat=True)) == {1200}
    assert session_of(setup).cursor == 1


def test_a_replay_with_other_scores_is_rejected_and_keeps_the_first(client, setup):
    consent(client, setup.token)
    submit(client, setup.token, 0, stimulus=setup.training.pk)
    replay = submit(
        client, setup.token, 0, stimulus=setup.training.pk, scores={"quality": 1, "authenticity": 2}
    )
    assert replay.status_code == 409
    assert replay.json()["code"] == "rating_conflict"
    assert "already rated" in replay.json()["error"]
    assert sorted(Rating.objects.values_list("score", flat=True)) == [40.5, 60]


def test_a_trial_ahead_of_the_cursor_is_rejected(client, setup):
    session = consent(client, setup.token)
    response = submit(client, setup.token, 2, stimulus=session.playlist[2]["stimulus"])
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_order"
    assert response.json()["current_trial"] == 0
    assert not Rating.objects.exists()
    missing = submit(client, setup.token, 99, stimulus=1)
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_such_trial"


def test_an_answer_for_another_sessions_image_is_rejected(client, setup):
    mine = consent(client, setup.token)
    other_subject, other_token = subject_invite_create(study=setup.study)
    other_client = Client()
    other_client.post(f"/s/{other_token}/consent/", {"decision": "accept"})
    theirs = RatingSession.objects.get(subject=other_subject)
    index = next(
        i
        for i, entry in enumerate(theirs.playlist)
        if entry["stimulus"] != mine.playlist[i]["stimulus"]
    )
    # Walk to that trial so the index is current, then send their image with my token.
    run_trials(client, setup, index)
    response = submit(client, setup.token, index, stimulus=theirs.playlist[index]["stimulus"])
    assert response.status_code == 403
    assert response.json()["code"] == "foreign_trial"
    assert Rating.objects.filter(session=theirs).count() == 0


@pytest.mark.parametrize(
    ("scores", "code", "message"),
    [
        ({"quality": 101, "authenticity": 5}, "score_out_of_range", "outside the study's scale"),
        ({"quality": -1, "authenticity": 5}, "score_out_of_range", "outside the study's scale"),
        ({"quality": "abc", "authenticity": 5}, "score_nan", "is not a number"),
        ({"quality": 5}, "dimension_keys", "missing authenticity"),
        ({"quality": 5, "authenticity": 5, "colour": 5}, "dimension_keys", "unknown colour"),
    ],
)
def test_bad_scores_are_rejected_with_a_clear_message(client, setup, scores, code, message):
    consent(client, setup.token)
    response = submit(client, setup.token, 0, stimulus=setup.training.pk, scores=scores)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert message in response.json()["error"]
    assert not Rating.objects.exists()
    assert session_of(setup).cursor == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"scores": {"quality": 1, "authenticity": 1}, "response_time_ms": 5}, "bad_stimulus"),
        ({"stimulus": 1, "scores": [1, 2], "response_time_ms": 5}, "dimension_keys"),
        ({"stimulus": 1, "scores": {"quality": 1, "authenticity": 1}}, "bad_response_time"),
        ([1, 2, 3], "bad_json"),
    ],
)
def test_malformed_bodies_are_rejected(client, setup, raw, code):
    session = consent(client, setup.token)
    if isinstance(raw, dict) and "stimulus" in raw:
        raw["stimulus"] = session.playlist[0]["stimulus"]
    response = submit(client, setup.token, 0, stimulus=None, raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == code
    not_json = client.post(f"/s/{setup.token}/trials/0/", "{oops", content_type="application/json")
    assert not_json.json()["code"] == "bad_json"


def trial_data_of_page(client, token: str, index: int) -> dict:
    page = client.get(f"/s/{token}/trials/{index}/")
    assert page.status_code == 200
    html = page.content.decode()
    start = html.index('<script id="trial-data" type="application/json">') + 48
    return json.loads(html[start : html.index("</script>", start)])


def test_the_answer_describes_the_next_trial_as_its_page_would(client, setup):
    """One request per trial: the browser shows the next trial from the answer alone."""
    session = consent(client, setup.token)
    answers = []
    for following in (1, 2):
        answer = run_trials(client, setup, 1)[0]
        answers.append(answer)
        from_page = trial_data_of_page(client, setup.token, following)
        assert answer["next_trial"] == {
            key: value
            for key, value in from_page.items()
            if key not in ("scale", "dimensions", "language", "strings")  # per session
        }
        assert answer["next_trial"]["stimulus"] == session.playlist[following]["stimulus"]
        assert answer["next_trial"]["trialIndex"] == following
    image = client.get(answers[0]["next_trial"]["image"])
    assert image.status_code == 200
    assert answers[0]["next_trial"]["training"] is False
    assert answers[0]["next_trial"]["progressLabel"] == "Image 1 of 5"
    # A replay is answered with the same next trial.
    replay = submit(
        client, setup.token, 1, stimulus=session.playlist[1]["stimulus"], scores=None
    ).json()
    assert replay["next_trial"] == answers[1]["next_trial"]


def test_no_next_trial_is_sent_before_a_break_or_at_the_end(client, setup):
    consent(client, setup.token)
    answers = run_trials(client, setup, 6)
    assert answers[2]["next_url"].endswith("/break/")
    assert answers[2]["next_trial"] is None
    assert answers[-1]["complete"] and answers[-1]["next_trial"] is None


def test_break_after_every_n_rating_trials_and_resume_at_the_next_unrated(client, setup):
    consent(client, setup.token)
    answers = run_trials(client, setup, 3)  # training, then two rating trials
    assert answers[1]["next_url"] == f"/s/{setup.token}/trials/2/"
    assert answers[2]["next_url"] == f"/s/{setup.token}/break/"
    page = client.get(f"/s/{setup.token}/break/")
    assert b"Time for a short break" in page.content
    assert b"rated 2 of 5" in page.content
    # Closing the tab and opening the link again continues at trial 3.
    resumed = client.get(f"/s/{setup.token}/", follow=True)
    assert resumed.redirect_chain[-1][0] == f"/s/{setup.token}/trials/3/"
    # A stale trial URL goes to the current trial too.
    stale = client.get(f"/s/{setup.token}/trials/1/")
    assert stale.headers["Location"] == f"/s/{setup.token}/trials/3/"
    run_trials(client, setup, 1)
    not_a_break = client.get(f"/s/{setup.token}/break/")
    assert not_a_break.headers["Location"] == f"/s/{setup.token}/trials/4/"


def test_a_completed_session_shows_its_code_and_cannot_be_rated_again(client, setup):
    consent(client, setup.token)
    answers = run_trials(client, setup, 6)
    assert answers[-1]["complete"] is True
    assert answers[-1]["next_url"] == f"/s/{setup.token}/done/"
    session = session_of(setup)
    assert session.completed_at is not None
    assert session.completion_code
    assert Rating.objects.filter(session=session).count() == 12
    assert Rating.objects.filter(session=session, is_repeat=True).count() == 2
    done = client.get(f"/s/{setup.token}/", follow=True)
    assert session.completion_code.encode() in done.content
    trial_page = client.get(f"/s/{setup.token}/trials/5/")
    assert trial_page.headers["Location"] == f"/s/{setup.token}/done/"
    last = session.playlist[5]["stimulus"]
    replay = submit(client, setup.token, 5, stimulus=last)
    assert replay.status_code == 200
    assert replay.json() == answers[-1]
    changed = submit(
        client, setup.token, 5, stimulus=last, scores={"quality": 0, "authenticity": 0}
    )
    assert changed.status_code == 409
    beyond = submit(client, setup.token, 6, stimulus=last)
    assert beyond.status_code == 404
    assert Rating.objects.filter(session=session).count() == 12


def test_csrf_protection_stays_on_for_the_json_endpoint(setup):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/s/{setup.token}/consent/")
    token = page.cookies["csrftoken"].value
    browser.post(f"/s/{setup.token}/consent/", {"decision": "accept", "csrfmiddlewaretoken": token})
    body = json.dumps(
        {
            "stimulus": setup.training.pk,
            "scores": {"quality": 5, "authenticity": 5},
            "response_time_ms": 10,
        }
    )
    url = f"/s/{setup.token}/trials/0/"
    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    accepted = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200


def test_a_submit_takes_a_handful_of_queries(client, setup, django_assert_max_num_queries):
    session = consent(client, setup.token)
    submit(client, setup.token, 0, stimulus=setup.training.pk)
    # Lock + dimensions + one INSERT for all dimensions + cursor update (+ savepoints).
    with django_assert_max_num_queries(6):
        response = submit(client, setup.token, 1, stimulus=session.playlist[1]["stimulus"])
    assert response.status_code == 200


# --- images -------------------------------------------------------------------------------


def test_images_are_served_only_to_a_session_that_holds_them(client, setup):
    assert client.get(f"/s/{setup.token}/images/{setup.training.pk}/").status_code == 404
    session = consent(client, setup.token)
    mine = session.playlist[1]["stimulus"]
    response = client.get(f"/s/{setup.token}/images/{mine}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"].startswith("private")
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    # A stimulus of another study, and a reference image that does not exist.
    elsewhere = StimulusFactory(study=StudyFactory())
    assert client.get(f"/s/{setup.token}/images/{elsewhere.pk}/").status_code == 404
    assert client.get(f"/s/{setup.token}/images/{mine}/reference/").status_code == 404
    assert client.get(f"/s/not-a-token/images/{mine}/").status_code == 404


def test_rows_written_outside_the_endpoint_are_accepted_only_if_they_match(client, setup):
    session = consent(client, setup.token)
    for dimension in setup.study.dimensions.all():
        rating_record(
            session=session,
            stimulus=setup.training,
            dimension=dimension,
            score=60 if dimension.key == "quality" else 40.5,
            trial_index=0,
            is_training=True,
        )
    same = submit(client, setup.token, 0, stimulus=setup.training.pk)
    assert same.status_code == 200
    assert session_of(setup).cursor == 1
    second = session.playlist[1]["stimulus"]
    for dimension in setup.study.dimensions.all():
        rating_record(
            session=session,
            stimulus=Stimulus.objects.get(pk=second),
            dimension=dimension,
            score=1,
            trial_index=1,
        )
    different = submit(client, setup.token, 1, stimulus=second)
    assert different.status_code == 409
    assert different.json()["code"] == "rating_conflict"
    assert session_of(setup).cursor == 1
