"""Adaptive allocation under concurrency on PostgreSQL: no stimulus is over-assigned."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from annotation.models import RatingSession, Study
from annotation.services.playlists import KIND_RATING, PlaylistError, playlist_session_start
from annotation.tests.factories import (
    DimensionFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
)
from study_site.tests.helpers import postgres_required

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    postgres_required()


def test_many_sessions_starting_at_once_never_over_assign_a_stimulus():
    # Ten stimuli, at most three ratings each: 30 trials in all, asked for by 16 subjects
    # of 4 trials at once. Without the lock every start would see nothing promised yet.
    study = StudyFactory(
        session_size=4,
        allocation=Study.Allocation.ADAPTIVE,
        allocation_targets={"quality": 0.001},
        allocation_min_ratings=2,
        allocation_max_ratings=3,
    )
    DimensionFactory(study=study, key="quality")
    stimuli = StimulusFactory.create_batch(10, study=study)
    subjects = SubjectFactory.create_batch(16, study=study)
    barrier = threading.Barrier(len(subjects))

    def begin(subject) -> str:
        try:
            barrier.wait(timeout=30)
            playlist_session_start(subject=subject)
            return "started"
        except PlaylistError:
            return "nothing left"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(subjects)) as pool:
        outcomes = Counter(pool.map(begin, subjects))

    given = Counter(
        entry["stimulus"]
        for playlist in RatingSession.objects.filter(subject__study=study).values_list(
            "playlist", flat=True
        )
        for entry in playlist
        if entry["kind"] == KIND_RATING and not entry["repeat"]
    )
    # Every stimulus got exactly its maximum: nothing over, nothing left unused.
    assert {given[s.pk] for s in stimuli} == {3}
    assert sum(given.values()) == 30
    # 30 trials fill seven sessions of four and one of two; the rest are told so.
    assert outcomes == {"started": 8, "nothing left": 8}
