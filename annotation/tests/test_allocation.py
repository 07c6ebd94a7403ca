"""Adaptive allocation on the platform: settings, playlists from real rating states, progress."""

import csv
import io
import json
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.dimensions import DimensionSpec
from annotation.models import AnalysisRun, Rating, Stimulus, Study
from annotation.selectors.allocation import allocation_snapshot
from annotation.selectors.research import study_progress
from annotation.services import release_formats
from annotation.services.allocation import allocation_config
from annotation.services.playlists import KIND_RATING, PlaylistError, playlist_session_start
from annotation.services.releases import release_freeze
from annotation.services.studies import study_create, study_update
from annotation.tests.factories import (
    DimensionFactory,
    RatingSessionFactory,
    ResearcherFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
)

pytestmark = pytest.mark.django_db

SPECS = (DimensionSpec("quality", "Quality", "How good?"),)


def adaptive_study(*, stimuli: int, session_size: int, **fields) -> tuple[Study, list[Stimulus]]:
    settings = {
        "allocation": Study.Allocation.ADAPTIVE,
        "allocation_targets": {"quality": 8.0},
        "allocation_min_ratings": 3,
        "allocation_max_ratings": 30,
        **fields,
    }
    study = StudyFactory(session_size=session_size, **settings)
    DimensionFactory(study=study, key="quality", order=0)
    return study, StimulusFactory.create_batch(stimuli, study=study)


def rated(study: Study, scores: dict[Stimulus, list[float]], *, label: str = "") -> None:
    """Finished sessions, one subject per score column: `scores[s][i]` is subject i's."""
    dimension = study.dimensions.get()
    raters = max((len(values) for values in scores.values()), default=0)
    for index in range(raters):
        subject = SubjectFactory(study=study, **({"label": f"{label}{index}"} if label else {}))
        session = RatingSessionFactory(subject=subject, completed_at=timezone.now())
        Rating.objects.bulk_create(
            Rating(
                session=session,
                stimulus=stimulus,
                dimension=dimension,
                score=values[index],
                trial_index=trial,
            )
            for trial, (stimulus, values) in enumerate(scores.items())
            if index < len(values)
        )


def start(study: Study) -> list[int]:
    """A new subject's session; the stimuli of its rating trials, in playlist order."""
    session = playlist_session_start(subject=SubjectFactory(study=study))
    return [entry["stimulus"] for entry in session.playlist if entry["kind"] == KIND_RATING]


def finish(study: Study) -> None:
    """Every session under way rates its trials (scores spread over the scale) and completes."""
    dimension = study.dimensions.get()
    rng = random.Random(study.pk)
    for session in study.subjects.filter(session__completed_at__isnull=True).exclude(session=None):
        playlist = session.session.playlist
        Rating.objects.bulk_create(
            Rating(
                session=session.session,
                stimulus_id=entry["stimulus"],
                dimension=dimension,
                score=round(rng.uniform(0, 100), 1),
                trial_index=index,
                is_repeat=bool(entry.get("repeat")),
            )
            for index, entry in enumerate(playlist)
        )
        session.session.cursor = len(playlist)
        session.session.completed_at = timezone.now()
        session.session.save()


AGREED = [50.0, 50.5, 49.5, 50.0] * 3
WIDE = [10.0, 90.0, 20.0, 80.0]
MIDDLE = [40.0, 60.0, 45.0, 55.0]


def test_a_session_gets_below_minimum_first_then_the_widest_and_never_one_at_target():
    study, (agreed, wide, once, unrated, middle) = adaptive_study(stimuli=5, session_size=3)
    rated(study, {agreed: AGREED, wide: WIDE, once: [30.0], middle: MIDDLE})
    assert sorted(start(study)) == sorted([unrated.pk, once.pk, wide.pk])


def test_a_short_session_takes_the_stimuli_below_minimum_fewest_first():
    study, (agreed, wide, once, unrated, middle) = adaptive_study(stimuli=5, session_size=2)
    rated(study, {agreed: AGREED, wide: WIDE, once: [30.0], middle: MIDDLE})
    assert sorted(start(study)) == sorted([unrated.pk, once.pk])


def test_the_session_is_shorter_when_few_stimuli_still_need_ratings():
    study, (agreed, wide, middle) = adaptive_study(stimuli=3, session_size=10)
    rated(study, {agreed: AGREED, wide: WIDE, middle: MIDDLE})
    assert sorted(start(study)) == sorted([wide.pk, middle.pk])


def test_trials_promised_to_a_session_under_way_count_and_expire_when_it_goes_quiet():
    study, items = adaptive_study(stimuli=4, session_size=2, allocation_min_ratings=2)
    first = start(study)
    # The second subject gets the two the first did not: promised trials count.
    second = start(study)
    assert set(first).isdisjoint(second)
    snapshot = allocation_snapshot(study=study)
    assert snapshot.tallies.pending.tolist() == [1, 1, 1, 1]
    quiet = timezone.now() - timedelta(days=2)
    for subject in study.subjects.all():
        subject.session.last_activity_at = quiet
        subject.session.save()
    assert allocation_snapshot(study=study).tallies.pending.tolist() == [0, 0, 0, 0]


def test_minimum_and_maximum_hold_over_a_whole_study():
    # A target no stimulus can reach: allocation runs until every stimulus is at the maximum.
    study, items = adaptive_study(
        stimuli=6,
        session_size=4,
        allocation_targets={"quality": 0.001},
        allocation_min_ratings=2,
        allocation_max_ratings=5,
    )
    given: Counter = Counter()
    while True:
        try:
            chosen = start(study)
        except PlaylistError as error:
            assert "all the ratings it needs" in str(error)
            break
        given.update(chosen)
        # Until all six have their minimum of two, counts never differ by more than one.
        if min(given[s.pk] for s in items) < 2:
            assert max(given.values()) - min(given[s.pk] for s in items) <= 1
        finish(study)
    assert {given[s.pk] for s in items} == {5}


def analysis_rejecting(study: Study, subject: str) -> AnalysisRun:
    """A finished analysis whose screening rejected `subject` on quality."""
    return AnalysisRun.objects.create(
        study=study,
        status=AnalysisRun.Status.DONE,
        options_hash="x",
        finished_at=timezone.now(),
        summary={"rejections": [{"subject": subject, "dimension": "quality", "reasons": "bt500"}]},
    )


def test_screening_of_the_latest_analysis_is_applied_to_the_live_ratings():
    study, (stimulus,) = adaptive_study(stimuli=1, session_size=1)
    rated(study, {stimulus: [50.0, 52.0, 0.0]}, label="S")
    snapshot = allocation_snapshot(study=study)
    assert snapshot.tallies.kept_n[0, 0] == 3
    analysis_rejecting(study, "S2")
    tallies = allocation_snapshot(study=study).tallies
    assert tallies.kept_n[0, 0] == 2 and tallies.kept_sum[0, 0] == 102.0
    assert tallies.given[0] == 3  # the maximum counts every rating given


def test_repeats_gold_and_training_keep_their_configuration():
    study, items = adaptive_study(stimuli=6, session_size=4, repeats_per_session=1)
    StimulusFactory(study=study, role=Stimulus.Role.TRAINING)
    gold = StimulusFactory(study=study, role=Stimulus.Role.GOLD)
    study.gold_per_session = 1
    study.save()
    session = playlist_session_start(subject=SubjectFactory(study=study))
    kinds = Counter((entry["kind"], entry["repeat"]) for entry in session.playlist)
    assert kinds == {
        ("training", False): 1,
        ("rating", False): 4,
        ("rating", True): 1,
        ("gold", False): 1,
    }
    assert gold.pk in {entry["stimulus"] for entry in session.playlist}


def test_settings_are_checked_with_a_readable_message():
    fields = {"allocation": "adaptive", "allocation_min_ratings": 3, "allocation_max_ratings": 9}
    with pytest.raises(ValidationError, match="precision target for every dimension"):
        study_create(name="A", dimensions=SPECS, **fields)
    with pytest.raises(ValidationError, match="unknown dimension"):
        study_create(name="A", dimensions=SPECS, allocation_targets={"sharpness": 5}, **fields)
    with pytest.raises(ValidationError, match="below the scale's range"):
        study_create(name="A", dimensions=SPECS, allocation_targets={"quality": 500}, **fields)
    with pytest.raises(ValidationError, match="at most the maximum"):
        study_create(
            name="A",
            dimensions=SPECS,
            allocation_targets={"quality": 5},
            **{**fields, "allocation_min_ratings": 10},
        )
    with pytest.raises(ValidationError, match="confidence"):
        study_create(
            name="A",
            dimensions=SPECS,
            allocation_targets={"quality": 5},
            allocation_confidence=1.5,
            **fields,
        )
    study = study_create(name="A", dimensions=SPECS, allocation_targets={"quality": 5}, **fields)
    assert study.allocation_targets == {"quality": 5.0}
    # Renaming the dimension away from its target is refused, and nothing changes.
    with pytest.raises(ValidationError, match="unknown dimension"):
        study_update(study=study, dimensions=(DimensionSpec("overall", "Overall", "?"),))
    assert list(Study.objects.get(pk=study.pk).dimensions.values_list("key", flat=True)) == [
        "quality"
    ]


def test_the_api_sets_and_refuses_allocation_settings():
    api = APIClient()
    study = study_create(name="A", dimensions=SPECS, owner=ResearcherFactory())
    api.force_login(study.owner)
    url = reverse("api:study_update", args=[study.pk])
    bad = api.post(url, {"allocation": "adaptive"}, format="json")
    assert bad.status_code == 400 and "precision target" in str(bad.json())
    good = api.post(
        url,
        {"allocation": "adaptive", "allocation_targets": {"quality": 4.5}},
        format="json",
    )
    assert good.status_code == 200, good.json()
    assert good.json()["allocation"] == "adaptive"
    assert good.json()["allocation_targets"] == {"quality": 4.5}


def test_progress_reports_stimuli_at_target_and_sessions_still_needed():
    study, (agreed, wide, middle) = adaptive_study(stimuli=3, session_size=10)
    rated(study, {agreed: AGREED, wide: WIDE, middle: MIDDLE})
    progress = study_progress(study=study)["allocation"]
    (quality,) = progress["dimensions"]
    assert quality["key"] == "quality" and quality["target"] == 8.0
    assert quality["at_target"] == 1 and len(quality["half_widths"]) == 3
    assert progress["stimuli_at_every_target"] == 1
    # wide and middle need more; each session rates each stimulus at most once.
    assert progress["sessions_needed"] >= 1
    assert progress["ratings_still_needed"] >= 2
    balanced = StudyFactory()
    assert study_progress(study=balanced)["allocation"] is None


def test_a_release_records_the_allocation_settings():
    study, _ = adaptive_study(stimuli=1, session_size=1)
    config = allocation_config(study=study)
    assert config["mode"] == "adaptive"
    assert config["targets_ci_half_width"] == {"quality": 8.0}
    assert config["min_ratings"] == 3 and config["max_ratings"] == 30
    assert allocation_config(study=StudyFactory()) == {
        "mode": "balanced",
        "target_ratings_per_stimulus": 15,
    }


def test_a_release_of_an_adaptive_study_records_its_settings_and_the_unequal_counts(
    settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    study, (few, many) = adaptive_study(stimuli=2, session_size=2)
    rated(study, {few: [40.0, 45.0, 50.0], many: [10.0, 90.0, 20.0, 80.0, 30.0, 70.0]})
    release = release_freeze(study=study, options={"screening": []})
    sidecar = json.loads(
        (settings.MEDIA_ROOT / release_formats.sidecar_name(release=release)).read_bytes()
    )
    allocation = sidecar["method_config"]["allocation"]
    assert allocation["mode"] == "adaptive"
    assert allocation["targets_ci_half_width"] == {"quality": 8.0}
    assert allocation["confidence"] == 0.95
    mos = list(csv.DictReader(io.StringIO(release.mos_file.read().decode())))
    assert {row["stimulus_id"]: row["n_quality"] for row in mos} == {
        str(few.pk): "3",
        str(many.pk): "6",
    }


def test_the_study_form_switches_a_study_to_adaptive_and_explains_a_refusal(client):
    study = study_create(name="Fox", dimensions=SPECS, owner=ResearcherFactory())
    client.force_login(study.owner)
    data = {
        "name": "Fox",
        "scale_type": "continuous",
        "scale_min": 0,
        "scale_max": 100,
        "scale_step": 0,
        "target_ratings_per_stimulus": 15,
        "session_size": 60,
        "break_interval": 30,
        "repeats_per_session": 0,
        "gold_per_session": 0,
        "language": "en",
        "surround_grey": 128,
        "too_fast_ms": 1000,
        "allocation": "adaptive",
        "allocation_targets": "",
        "allocation_min_ratings": 4,
        "allocation_max_ratings": 25,
        "allocation_confidence": 0.95,
        "dim-TOTAL_FORMS": 1,
        "dim-INITIAL_FORMS": 1,
        "dim-0-key": "quality",
        "dim-0-label": "Quality",
        "dim-0-question": "How good?",
    }
    url = reverse("research:study_edit", args=[study.pk])
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "needs a precision target for every dimension" in refused.content.decode()
    saved = client.post(url, data | {"allocation_targets": '{"quality": 5}'})
    assert saved.status_code == 302
    study.refresh_from_db()
    assert study.allocation == "adaptive" and study.allocation_targets == {"quality": 5.0}
    assert (study.allocation_min_ratings, study.allocation_max_ratings) == (4, 25)


def test_settled_sums_are_reused_and_newer_ratings_and_new_screening_still_count():
    cache.clear()
    study, (stimulus,) = adaptive_study(stimuli=1, session_size=1)
    rated(study, {stimulus: [50.0, 52.0, 0.0]}, label="S")
    Rating.objects.filter(stimulus=stimulus).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    assert allocation_snapshot(study=study).tallies.kept_n[0, 0] == 3  # now cached
    rated(study, {stimulus: [70.0]}, label="T")  # arrives after the settled sums were kept
    tallies = allocation_snapshot(study=study).tallies
    assert (tallies.kept_n[0, 0], tallies.kept_sum[0, 0], tallies.given[0]) == (4, 172.0, 4)
    analysis_rejecting(study, "S2")
    tallies = allocation_snapshot(study=study).tallies
    assert (tallies.kept_n[0, 0], tallies.kept_sum[0, 0], tallies.given[0]) == (3, 172.0, 4)
