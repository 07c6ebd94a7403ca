"""Playlists: balance across subjects, per-subject randomisation, repeat spacing."""

import math
import random
from collections import Counter

import pytest

from annotation.models import RatingSession, Stimulus, Study
from annotation.services.playlists import (
    KIND_GOLD,
    KIND_RATING,
    KIND_TRAINING,
    PlaylistError,
    assignment_counts,
    playlist_build,
    playlist_for_study,
    playlist_rng,
    playlist_session_start,
    repeats_insert,
)
from annotation.tests.factories import StimulusFactory, StudyFactory, SubjectFactory


def _stimuli(normal: int, training: int = 0, gold: int = 0) -> list[tuple[int, str]]:
    roles = (
        [Stimulus.Role.NORMAL] * normal
        + [Stimulus.Role.TRAINING] * training
        + [Stimulus.Role.GOLD] * gold
    )
    return [(index + 1, role) for index, role in enumerate(roles)]


def _hand_out(study: Study, stimuli, subjects: int) -> list[list[dict]]:
    playlists: list[list[dict]] = []
    for subject_id in range(1, subjects + 1):
        playlists.append(
            playlist_for_study(
                study=study,
                stimuli=stimuli,
                playlists=playlists,
                rng=playlist_rng(study_id=1, subject_id=subject_id),
            )
        )
    return playlists


def test_sixty_stimuli_target_twenty_full_sessions_give_exactly_twenty_each():
    study = Study(session_size=60, repeats_per_session=3, target_ratings_per_stimulus=20)
    playlists = _hand_out(study, _stimuli(60, training=3), subjects=20)
    counts = assignment_counts(playlists=playlists, kind=KIND_RATING)
    assert set(counts.values()) == {20}
    assert len(counts) == 60


@pytest.mark.parametrize(("stimuli", "session"), [(60, 25), (61, 25), (37, 10)])
def test_shorter_sessions_stay_balanced_and_the_surplus_is_below_one_session(stimuli, session):
    target = 20
    study = Study(session_size=session, repeats_per_session=0)
    needed = math.ceil(stimuli * target / session)
    playlists: list[list[dict]] = []
    for subject_id in range(1, needed + 1):
        playlists.append(
            playlist_for_study(
                study=study,
                stimuli=_stimuli(stimuli),
                playlists=playlists,
                rng=playlist_rng(study_id=1, subject_id=subject_id),
            )
        )
        counts = assignment_counts(playlists=playlists, kind=KIND_RATING)
        values = [counts.get(i, 0) for i in range(1, stimuli + 1)]
        # At every moment no stimulus is more than one rating ahead of another.
        assert max(values) - min(values) <= 1
    assert min(values) == target
    surplus = sum(values) - stimuli * target
    assert surplus == needed * session - stimuli * target
    assert surplus < session


def test_each_session_has_session_size_distinct_stimuli_training_first():
    study = Study(session_size=25, repeats_per_session=2, gold_per_session=2)
    rng = random.Random(1)
    playlist = playlist_for_study(
        study=study, stimuli=_stimuli(60, training=3, gold=4), playlists=[], rng=rng
    )
    assert [entry["kind"] for entry in playlist[:3]] == [KIND_TRAINING] * 3
    first_showings = [e for e in playlist[3:] if e["kind"] == KIND_RATING and not e["repeat"]]
    assert len({e["stimulus"] for e in first_showings}) == 25
    assert sum(1 for e in playlist if e["kind"] == KIND_GOLD) == 2
    assert sum(1 for e in playlist if e["repeat"]) == 2
    assert len(playlist) == 3 + 25 + 2 + 2
    assert all(set(entry) == {"stimulus", "kind", "repeat"} for entry in playlist)


def test_fewer_stimuli_than_the_session_size_gives_a_shorter_session():
    study = Study(session_size=100, repeats_per_session=0)
    playlist = playlist_for_study(
        study=study, stimuli=_stimuli(7), playlists=[], rng=random.Random()
    )
    assert sorted(entry["stimulus"] for entry in playlist) == list(range(1, 8))


def test_playlists_are_random_per_subject_and_reproducible_from_the_seed():
    study = Study(session_size=60, repeats_per_session=3)
    stimuli = _stimuli(60, training=3)

    def build(subject_id: int) -> list[dict]:
        return playlist_for_study(
            study=study,
            stimuli=stimuli,
            playlists=[],
            rng=playlist_rng(study_id=7, subject_id=subject_id),
        )

    assert build(1) == build(1)
    orders = {tuple(entry["stimulus"] for entry in build(subject_id)) for subject_id in range(20)}
    assert len(orders) == 20
    # Over many subjects, every stimulus opens a session now and then: no fixed order.
    openers = Counter(build(subject_id)[3]["stimulus"] for subject_id in range(300))
    assert len(openers) > 40


def test_repeats_come_at_least_half_a_session_after_their_first_showing():
    trials = [{"stimulus": i, "kind": KIND_RATING, "repeat": False} for i in range(60)]
    for seed in range(50):
        result = repeats_insert(trials=trials, repeats=3, rng=random.Random(seed))
        assert len(result) == 63
        repeats = [(i, e["stimulus"]) for i, e in enumerate(result) if e["repeat"]]
        assert len(repeats) == 3
        first = {e["stimulus"]: i for i, e in enumerate(result) if not e["repeat"]}
        for position, stimulus in repeats:
            assert position - first[stimulus] >= 63 // 2
        # The originals keep their order.
        assert [e for e in result if not e["repeat"]] == trials


def test_repeats_in_a_session_too_short_for_the_gap_go_to_the_very_end():
    trials = [{"stimulus": i, "kind": KIND_RATING, "repeat": False} for i in range(2)]
    result = repeats_insert(trials=trials, repeats=2, rng=random.Random(3))
    assert [e["stimulus"] for e in result[:2]] == [0, 1]
    assert sorted(e["stimulus"] for e in result[2:]) == [0, 1]
    assert all(e["repeat"] for e in result[2:])


def test_gold_is_never_repeated_and_training_never_shuffled():
    playlist = playlist_build(
        training_ids=[9, 8],
        rating_ids=[1, 2, 3, 4],
        gold_ids=[5],
        repeats=10,
        rng=random.Random(0),
    )
    assert [e["stimulus"] for e in playlist[:2]] == [9, 8]
    assert all(e["kind"] == KIND_RATING for e in playlist if e["repeat"])
    assert sum(1 for e in playlist if e["repeat"]) == 4


@pytest.mark.django_db
def test_session_start_stores_a_balanced_playlist_and_is_idempotent():
    study = StudyFactory(session_size=3, repeats_per_session=0)
    stimuli = StimulusFactory.create_batch(6, study=study)
    training = StimulusFactory(study=study, role=Stimulus.Role.TRAINING)
    first = SubjectFactory(study=study)
    second = SubjectFactory(study=study)
    one = playlist_session_start(subject=first)
    assert playlist_session_start(subject=first).pk == one.pk
    two = playlist_session_start(subject=second)
    assert one.playlist[0] == {"stimulus": training.pk, "kind": "training", "repeat": False}
    rated = [e["stimulus"] for s in (one, two) for e in s.playlist if e["kind"] == "rating"]
    assert sorted(rated) == sorted(s.pk for s in stimuli)


@pytest.mark.django_db
def test_declined_subjects_do_not_count_towards_balance():
    study = StudyFactory(session_size=2, repeats_per_session=0)
    a, b, c = StimulusFactory.create_batch(3, study=study)

    def entry(stimulus):
        return {"stimulus": stimulus.pk, "kind": "rating", "repeat": False}

    RatingSession.objects.create(subject=SubjectFactory(study=study), playlist=[entry(a)])
    gone = SubjectFactory(study=study, declined_at="2024-01-01T00:00:00Z")
    RatingSession.objects.create(subject=gone, playlist=[entry(b)] * 3)
    session = playlist_session_start(subject=SubjectFactory(study=study))
    # Counted, b would look over-rated and {a, c} would be picked.
    assert {e["stimulus"] for e in session.playlist} == {b.pk, c.pk}


@pytest.mark.django_db
def test_a_study_without_images_cannot_start_a_session():
    study = StudyFactory()
    with pytest.raises(PlaylistError, match="no images to rate"):
        playlist_session_start(subject=SubjectFactory(study=study))
