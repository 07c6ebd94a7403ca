import pytest
from django.db import IntegrityError, transaction

from annotation.errors import RatingConflict, ScoreOutOfRange
from annotation.models import Rating
from annotation.services.ratings import rating_record
from annotation.tests.factories import (
    DimensionFactory,
    RatingFactory,
    RatingSessionFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def trial():
    study = StudyFactory(scale_min=1, scale_max=5, scale_step=1, scale_type="acr")
    session = RatingSessionFactory(subject=SubjectFactory(study=study))
    return session, StimulusFactory(study=study), DimensionFactory(study=study, key="quality")


def test_database_rejects_a_second_rating_for_the_same_trial_and_dimension(trial):
    session, stimulus, dimension = trial
    RatingFactory(session=session, stimulus=stimulus, dimension=dimension, trial_index=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(
            session=session, stimulus=stimulus, dimension=dimension, trial_index=0, score=3
        )


def test_retry_of_the_same_rating_returns_the_stored_row(trial):
    session, stimulus, dimension = trial
    first, created = rating_record(
        session=session, stimulus=stimulus, dimension=dimension, score=4, trial_index=0
    )
    again, created_again = rating_record(
        session=session, stimulus=stimulus, dimension=dimension, score=4, trial_index=0
    )
    assert created and not created_again
    assert first.pk == again.pk
    assert Rating.objects.count() == 1


def test_a_different_score_for_a_rated_trial_is_a_conflict_and_keeps_the_first(trial):
    session, stimulus, dimension = trial
    rating_record(session=session, stimulus=stimulus, dimension=dimension, score=4, trial_index=0)
    with pytest.raises(RatingConflict, match="already rated 4"):
        rating_record(
            session=session, stimulus=stimulus, dimension=dimension, score=2, trial_index=0
        )
    assert list(Rating.objects.values_list("score", flat=True)) == [4.0]


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (6, r"Score 6 is outside the study's scale \[1, 5\]"),
        (0, r"Score 0 is outside the study's scale \[1, 5\]"),
        (2.5, r"Score 2.5 is not on the scale's step of 1 from 1"),
        ("abc", r"Score 'abc' is not a number"),
        (float("nan"), r"is not a finite number"),
    ],
)
def test_out_of_range_scores_are_rejected_with_a_clear_message(trial, score, message):
    session, stimulus, dimension = trial
    with pytest.raises(ScoreOutOfRange, match=message):
        rating_record(
            session=session, stimulus=stimulus, dimension=dimension, score=score, trial_index=0
        )
    assert Rating.objects.count() == 0


def test_study_scale_must_be_increasing():
    with pytest.raises(IntegrityError), transaction.atomic():
        StudyFactory(scale_min=5, scale_max=1)
