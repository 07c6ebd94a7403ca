"""Concurrency on PostgreSQL: nothing lost, nothing duplicated, playlists still balanced."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from annotation.models import Rating, RatingSession, Study
from annotation.services.playlists import KIND_RATING, assignment_counts
from annotation.services.sessions import (
    TrialAck,
    subject_consent_accept,
    trial_submit,
)
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from study_site.tests.helpers import postgres_required

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    postgres_required()


def in_thread(function):
    """Run `function` with its own database connection, closed when it ends."""

    def run(*args):
        try:
            return function(*args)
        finally:
            connection.close()

    return run


def _study(*, stimuli: int, session_size: int, repeats: int = 0) -> Study:
    study = StudyFactory(session_size=session_size, repeats_per_session=repeats, break_interval=3)
    for order, key in enumerate(("quality", "authenticity", "correspondence")):
        DimensionFactory(study=study, key=key, order=order)
    StimulusFactory.create_batch(stimuli, study=study)
    return study


def _scores(token: str, index: int) -> dict[str, float]:
    base = (sum(map(ord, token)) + 7 * index) % 90
    return {"quality": base, "authenticity": base + 5.5, "correspondence": 100 - base}


def test_concurrent_submissions_lose_nothing_and_duplicate_nothing():
    study = _study(stimuli=12, session_size=10, repeats=2)
    sessions = {}
    for _ in range(8):
        subject, token = subject_invite_create(study=study)
        sessions[token] = subject_consent_accept(subject=subject)
    tokens = list(sessions)

    @in_thread
    def walk(token: str) -> list[TrialAck]:
        # Two of these per subject race through the same trials with the same answers,
        # like a double-clicked Next on every trial.
        playlist = sessions[token].playlist
        acks = []
        for index, entry in enumerate(playlist):
            # Never out of order: a twin moves on only once the cursor has passed `index`.
            acks.append(
                trial_submit(
                    token=token,
                    trial_index=index,
                    stimulus_id=entry["stimulus"],
                    scores=_scores(token, index),
                    response_time_ms=500 + index,
                )
            )
        return acks

    jobs = [token for token in tokens for _ in range(2)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(walk, jobs))

    trials = len(sessions[tokens[0]].playlist)
    assert all(len(acks) == trials for acks in results)
    # Twins got identical acknowledgements for every trial.
    for first, second in zip(results[::2], results[1::2], strict=True):
        assert first == second
    acknowledged = sum(ack.ratings for acks in results[::2] for ack in acks)
    assert Rating.objects.count() == acknowledged == 8 * trials * 3
    per_trial = Counter(Rating.objects.values_list("session_id", "trial_index", "dimension_id"))
    assert set(per_trial.values()) == {1}
    for token, session in sessions.items():
        session.refresh_from_db()
        assert session.cursor == trials and session.completed_at is not None
        for index in range(trials):
            stored = dict(
                Rating.objects.filter(session=session, trial_index=index).values_list(
                    "dimension__key", "score"
                )
            )
            assert stored == _scores(token, index)


def test_the_same_trial_submitted_twice_at_the_same_instant_is_stored_once():
    study = _study(stimuli=4, session_size=4)
    subject, token = subject_invite_create(study=study)
    session = subject_consent_accept(subject=subject)
    barrier = threading.Barrier(6)

    @in_thread
    def submit(_):
        barrier.wait()
        return trial_submit(
            token=token,
            trial_index=0,
            stimulus_id=session.playlist[0]["stimulus"],
            scores=_scores(token, 0),
            response_time_ms=321,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        acks = list(pool.map(submit, range(6)))
    assert len(set(acks)) == 1
    assert Rating.objects.filter(session=session).count() == 3
    session.refresh_from_db()
    assert session.cursor == 1


def test_concurrent_session_starts_keep_playlists_balanced():
    study = _study(stimuli=10, session_size=5)
    subjects = [subject_invite_create(study=study)[0] for _ in range(12)]
    barrier = threading.Barrier(len(subjects))

    @in_thread
    def start(subject):
        barrier.wait()
        return subject_consent_accept(subject=subject)

    with ThreadPoolExecutor(max_workers=len(subjects)) as pool:
        list(pool.map(start, subjects))
    playlists = RatingSession.objects.filter(subject__study=study).values_list(
        "playlist", flat=True
    )
    counts = assignment_counts(playlists=playlists, kind=KIND_RATING)
    # 12 sessions x 5 = 60 assignments over 10 stimuli: exactly 6 each.
    assert sorted(counts.values()) == [6] * 10
