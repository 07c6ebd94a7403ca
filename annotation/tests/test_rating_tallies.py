"""Rating tallies (stimulus, session, session-hour) kept by the rating table's triggers.

They must equal a recount of the ratings after every kind of write: the submit path
under concurrency (PostgreSQL), bulk loads, updates and deletes; the pages read them.
"""

import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Max, ProtectedError
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotation.models import Rating, RatingSession, SessionHourTally, Stimulus, Study, Subject
from annotation.selectors.analysis import ratings_fingerprint, ratings_snapshot
from annotation.selectors.research import study_progress
from annotation.selectors.stimuli import StimulusQuery, stimulus_list_filtered, stimulus_page
from annotation.services.sessions import subject_consent_accept, trial_submit
from annotation.services.subjects import subject_invite_create
from annotation.services.tallies import tallies_verify
from annotation.tests.factories import (
    DimensionFactory,
    RatingSessionFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
    rated_study_create,
    rating_add,
)
from study_site.tests.helpers import postgres_required

pytestmark = pytest.mark.django_db(transaction=True)


def recount(study: Study) -> dict:
    """The tallies as the pages computed them before: straight from the rating rows."""
    rated = Rating.objects.filter(stimulus__study=study, is_training=False)
    first = study.dimensions.order_by("order", "id").values_list("id", flat=True).first()
    hours = (
        rated.filter(dimension_id=first)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(n=Count("*"))
        .order_by("hour")
    )
    sessions = rated.values("session").annotate(n=Count("*"), last=Max("id"))
    return {
        "stimuli": dict(
            rated.values("stimulus").annotate(n=Count("*")).values_list("stimulus", "n")
        ),
        "sessions": {row["session"]: (row["n"], row["last"]) for row in sessions},
        "hours": [(row["hour"], row["n"]) for row in hours],
    }


def tallies(study: Study) -> dict:
    hours = Counter()
    for hour, trials in SessionHourTally.objects.filter(session__subject__study=study).values_list(
        "hour", "trials"
    ):
        hours[hour] += trials
    return {
        "stimuli": {
            pk: n
            for pk, n in Stimulus.objects.filter(study=study).values_list("pk", "rating_tally")
            if n
        },
        "sessions": {
            pk: (n, last)
            for pk, n, last in RatingSession.objects.filter(subject__study=study).values_list(
                "pk", "rating_tally", "rating_last_id"
            )
            if n
        },
        "hours": sorted((hour, n) for hour, n in hours.items() if n),
    }


def _study(*, stimuli: int, session_size: int) -> Study:
    study = StudyFactory(session_size=session_size, repeats_per_session=2, break_interval=0)
    for order, key in enumerate(("quality", "authenticity", "correspondence")):
        DimensionFactory(study=study, key=key, order=order)
    StimulusFactory.create_batch(stimuli, study=study)
    return study


def _scores(index: int) -> dict[str, float]:
    return {"quality": index % 90, "authenticity": 50.5, "correspondence": 100 - index % 90}


def _walk(token: str, playlist: list[dict]) -> int:
    for index, entry in enumerate(playlist):
        trial_submit(
            token=token,
            trial_index=index,
            stimulus_id=entry["stimulus"],
            scores=_scores(index),
            response_time_ms=900 + index,
        )
    return len(playlist)


def test_tallies_equal_a_recount_after_concurrent_submissions_on_postgres():
    postgres_required()
    study = _study(stimuli=6, session_size=6)
    walks = []
    for _ in range(8):
        subject, token = subject_invite_create(study=study)
        walks.append((token, subject_consent_accept(subject=subject).playlist))

    def walk(job):
        try:
            return _walk(*job)
        finally:
            connection.close()

    # Each subject twice at once (a double-clicked Next): retries must not count twice.
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(walk, walks + walks))

    expected = recount(study)
    assert tallies(study) == expected
    assert sum(expected["stimuli"].values()) == 8 * 8 * 3  # 6 stimuli + 2 repeats, 3 dims
    assert ratings_fingerprint(study=study).count == 8 * 8 * 3


def test_fingerprint_changes_with_each_new_rating_and_matches_the_snapshot():
    study = _study(stimuli=4, session_size=4)
    subject, token = subject_invite_create(study=study)
    playlist = subject_consent_accept(subject=subject).playlist
    seen = [ratings_fingerprint(study=study)]
    for index, entry in enumerate(playlist):
        trial_submit(
            token=token,
            trial_index=index,
            stimulus_id=entry["stimulus"],
            scores=_scores(index),
            response_time_ms=1200,
        )
        seen.append(ratings_fingerprint(study=study))
    rating_add(study=study)
    seen.append(ratings_fingerprint(study=study))
    assert len(set(seen)) == len(seen)
    assert seen[-1] == ratings_snapshot(study=study).fingerprint


def test_tallies_follow_bulk_loads_updates_and_deletes():
    study = rated_study_create(stimuli=5, subjects=3)
    assert tallies(study) == recount(study)
    before = ratings_fingerprint(study=study)

    # A rating turned into training leaves the counts; a moved one changes stimulus.
    some = Rating.objects.filter(stimulus__study=study).order_by("id")
    Rating.objects.filter(pk=some[0].pk).update(is_training=True)
    other = study.stimuli.order_by("-id").first()
    Rating.objects.filter(pk=some[1].pk).update(stimulus=other)
    Rating.objects.filter(stimulus__study=study).update(response_time_ms=700)
    assert tallies(study) == recount(study)
    assert ratings_fingerprint(study=study) != before

    # Deleting the newest rating lowers both the count and the largest id.
    newest = some.last()
    newest.delete()
    assert tallies(study) == recount(study)
    assert ratings_fingerprint(study=study) == ratings_snapshot(study=study).fingerprint

    # A subject deleted with their session and ratings (cascade) leaves no trace.
    RatingSession.objects.filter(subject__study=study).first().subject.delete()
    assert tallies(study) == recount(study)
    assert ratings_fingerprint(study=study) == ratings_snapshot(study=study).fingerprint


def test_pages_numbers_equal_those_counted_from_the_ratings():
    study = rated_study_create(stimuli=6, subjects=4)
    study.target_ratings_per_stimulus = 4
    study.save()
    first = study.stimuli.order_by("id").first()
    # One stimulus lacks a trial: below target, first in the ratings order.
    Rating.objects.filter(stimulus=first, session=RatingSession.objects.first()).delete()
    counted = recount(study)
    dimensions = study.dimensions.count()

    progress = study_progress(study=study)
    normal = study.stimuli.filter(role=Stimulus.Role.NORMAL).order_by("id")
    assert progress["ratings_per_stimulus"] == [
        counted["stimuli"].get(pk, 0) // dimensions for pk in normal.values_list("pk", flat=True)
    ]
    assert progress["ratings_per_stimulus"][0] == 3
    assert [(row["hour"], row["count"]) for row in progress["ratings_per_hour"]] == [
        (hour.isoformat(), n) for hour, n in counted["hours"]
    ]

    below = stimulus_list_filtered(
        study=study, query=StimulusQuery(below_target=True, sort="ratings")
    )
    assert [(s.pk, s.rating_trials) for s in below] == [(first.pk, 3)]
    page = stimulus_page(study=study, query=StimulusQuery(), page=1, page_size=25)
    assert {s.pk: s.rating_trials for s in page.object_list} == {
        pk: counted["stimuli"].get(pk, 0) // dimensions
        for pk in study.stimuli.values_list("pk", flat=True)
    }


# --- verify / repair, and every way ratings arrive or leave -------------------------------


def _assert_exact(study: Study) -> None:
    assert tallies(study) == recount(study)
    report = tallies_verify()
    assert report.ok, report.examples


def test_verify_reports_drift_and_repair_sets_every_tally_to_its_recount():
    study = rated_study_create(stimuli=4, subjects=3)
    expected = recount(study)
    stimulus = study.stimuli.order_by("id").first()
    session = RatingSession.objects.filter(subject__study=study).order_by("id").first()
    # What a write with triggers disabled leaves: tallies that no longer match the rows.
    Stimulus.objects.filter(pk=stimulus.pk).update(rating_tally=99)
    RatingSession.objects.filter(pk=session.pk).update(rating_tally=1, rating_last_id=0)
    SessionHourTally.objects.filter(session=session).delete()

    report = tallies_verify()
    assert report.drift == {"stimuli": 1, "sessions": 1, "session hours": 1}
    assert f"stimulus {stimulus.pk}: tally 99, counted 6" in report.examples
    with pytest.raises(
        CommandError, match="in stimuli: 1, sessions: 1, session hours: 1 .run with --repair"
    ):
        call_command("verify_tallies", stdout=io.StringIO())
    assert tallies(study) != expected  # verifying alone changes nothing

    out = io.StringIO()
    call_command("verify_tallies", "--repair", stdout=out)
    assert "(repaired)" in out.getvalue()
    assert tallies(study) == expected
    out = io.StringIO()
    call_command("verify_tallies", stdout=out)
    assert "equal a recount of the 24 ratings" in out.getvalue()


def test_tallies_are_exact_after_submissions_one_by_one():
    study = _study(stimuli=3, session_size=3)
    subject, token = subject_invite_create(study=study)
    playlist = subject_consent_accept(subject=subject).playlist
    _walk(token, playlist[:4])  # mid-session: some trials rated, some not
    _assert_exact(study)
    assert sum(recount(study)["stimuli"].values()) == 4 * 3


def test_tallies_are_exact_after_a_copy_bulk_load_on_postgres():
    postgres_required()
    study = rated_study_create(stimuli=3, subjects=2)
    session = RatingSessionFactory(subject=SubjectFactory(study=study))
    stimuli = list(study.stimuli.order_by("id"))
    dimension = study.dimensions.order_by("order", "id").first()
    columns = "session_id, stimulus_id, dimension_id, score, trial_index, is_repeat, "
    columns += "is_training, too_fast, created_at"
    copying = f"COPY annotation_rating ({columns}) FROM STDIN"  # as the perf scripts load
    with connection.cursor() as cursor, cursor.copy(copying) as copy:
        for index, stimulus in enumerate(stimuli):
            copy.write_row(
                (
                    session.pk,
                    stimulus.pk,
                    dimension.pk,
                    50.0,
                    index,
                    False,
                    False,
                    False,
                    timezone.now(),
                )
            )
    _assert_exact(study)
    assert RatingSession.objects.get(pk=session.pk).rating_tally == 3


def test_tallies_are_exact_after_loaddata_of_a_dumpdata_with_tallies(tmp_path):
    study = rated_study_create(stimuli=3, subjects=2)
    expected = recount(study)
    dump = tmp_path / "dump.json"
    call_command("dumpdata", "auth.user", "annotation", output=str(dump), verbosity=0)
    assert '"rating_tally": 6' in dump.read_text()  # the fixture carries the tallies
    call_command("flush", interactive=False, verbosity=0)
    assert not Rating.objects.exists()

    call_command("loaddata", str(dump), verbosity=0)
    study = Study.objects.get(pk=study.pk)
    assert tallies(study) == expected
    _assert_exact(study)


def test_tallies_are_zero_after_truncate_on_postgres():
    postgres_required()
    study = rated_study_create(stimuli=3, subjects=2)
    assert tallies(study)["stimuli"]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotation_rating")
    assert tallies(study) == recount(study) == {"stimuli": {}, "sessions": {}, "hours": []}
    _assert_exact(study)


def test_tallies_are_exact_after_deleting_a_subject_or_a_study():
    kept = rated_study_create(stimuli=3, subjects=2)
    gone = rated_study_create(stimuli=3, subjects=2)
    Subject.objects.filter(study=kept).first().delete()
    _assert_exact(kept)
    assert RatingSession.objects.filter(subject__study=kept).count() == 1

    # A study's ratings protect its stimuli: the study goes after its subjects (whose
    # deletion takes their sessions and ratings), never with ratings left behind.
    with pytest.raises(ProtectedError):
        gone.delete()
    _assert_exact(gone)
    Subject.objects.filter(study=gone).delete()
    gone.delete()
    _assert_exact(kept)
    assert not SessionHourTally.objects.filter(session__subject__study_id=gone.pk).exists()
