"""Researcher pages: design, stimuli roles, invites, progress; and who may see them."""

import csv
import io
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from annotation.models import Dimension, Stimulus, Study, Subject
from annotation.tests.factories import (
    AdminFactory,
    RatingFactory,
    RatingSessionFactory,
    ResearcherFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    study = StudyFactory()
    Dimension.objects.create(study=study, key="quality", label="Quality", question="How good?")
    return study


def study_urls(study, stimulus) -> list[tuple[str, str]]:
    """Every researcher page of one study, as (method, url)."""
    pk = study.pk
    names = ["study_detail", "study_edit", "stimulus_list", "study_import", "subject_list"]
    names += ["study_progress", "study_progress_json"]
    urls = [("get", reverse(f"research:{n}", args=[pk])) for n in names]
    urls += [
        ("post", reverse("research:study_status", args=[pk])),
        ("post", reverse("research:subject_list", args=[pk])),
        ("post", reverse("research:study_edit", args=[pk])),
        ("get", reverse("research:stimulus_role", args=[pk, stimulus.pk])),
        ("get", reverse("research:stimulus_thumbnail", args=[pk, stimulus.pk])),
        ("post", reverse("research:stimulus_role", args=[pk, stimulus.pk])),
    ]
    return urls


GLOBAL_PAGES = [
    ("get", "research:study_list"),
    ("get", "research:study_new"),
    ("get", "research:external_import"),
]


def test_anonymous_and_non_staff_are_sent_to_login(client, study):
    stimulus = StimulusFactory(study=study)
    urls = study_urls(study, stimulus) + [(m, reverse(n)) for m, n in GLOBAL_PAGES]
    for who in (None, UserFactory()):
        if who:
            client.force_login(who)
        for method, url in urls:
            response = getattr(client, method)(url)
            assert response.status_code == 302, url
            assert response.url.startswith(reverse("login")), url


def test_another_researcher_gets_404(client, study):
    stimulus = StimulusFactory(study=study)
    client.force_login(ResearcherFactory())
    for method, url in study_urls(study, stimulus):
        assert getattr(client, method)(url).status_code == 404, url
    assert study.name not in client.get(reverse("research:study_list")).content.decode()
    assert Subject.objects.count() == 0


def test_owner_and_admin_see_the_study(client, study):
    stimulus = StimulusFactory(study=study)
    for user in (study.owner, AdminFactory()):
        client.force_login(user)
        for method, url in study_urls(study, stimulus):
            if method == "get" and "thumbnail" not in url:
                assert client.get(url).status_code == 200, url


def test_create_and_edit_a_study(client):
    client.force_login(researcher := ResearcherFactory())
    data = {
        "name": "Fox study",
        "scale_type": "acr",
        "scale_min": 1,
        "scale_max": 5,
        "scale_step": 1,
        "scale_labels_text": "Bad\nPoor\nFair\nGood\nExcellent",
        "target_ratings_per_stimulus": 20,
        "session_size": 60,
        "break_interval": 30,
        "repeats_per_session": 3,
        "gold_per_session": 0,
        "language": "en",
        "surround_grey": 128,
        "too_fast_ms": 1000,
        "dim-TOTAL_FORMS": 2,
        "dim-INITIAL_FORMS": 0,
        "dim-0-key": "quality",
        "dim-0-label": "Quality",
        "dim-0-question": "How good?",
        "dim-0-anchor_text": "1 bad, 5 excellent",
        "dim-1-key": "correspondence",
        "dim-1-label": "Correspondence",
        "dim-1-question": "Does it match?",
    }
    response = client.post(reverse("research:study_new"), data)
    study = Study.objects.get(name="Fox study")
    assert response.status_code == 302 and study.owner == researcher
    assert study.scale_labels[-1] == "Excellent" and study.repeats_per_session == 3
    assert list(study.dimensions.values_list("key", flat=True)) == ["quality", "correspondence"]
    data |= {"name": "Fox study 2", "dim-1-DELETE": "on", "dim-INITIAL_FORMS": 2}
    client.post(reverse("research:study_edit", args=[study.pk]), data)
    study.refresh_from_db()
    assert study.name == "Fox study 2"
    assert list(study.dimensions.values_list("key", flat=True)) == ["quality"]
    data["scale_max"] = 0
    response = client.post(reverse("research:study_edit", args=[study.pk]), data)
    assert response.status_code == 200 and "must be above its minimum" in response.content.decode()


def test_open_close_and_training_role(client, study):
    study.status = Study.Status.DRAFT
    study.save()
    client.force_login(study.owner)
    client.post(reverse("research:study_status", args=[study.pk]), {"status": "open"})
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    stimulus = StimulusFactory(study=study)
    url = reverse("research:stimulus_role", args=[study.pk, stimulus.pk])
    response = client.post(url, {"role": "training", "explanation": ""})
    assert "needs an explanation" in response.content.decode()
    client.post(url, {"role": "training", "explanation": "Blurry face", "expected_quality": 20})
    stimulus.refresh_from_db()
    assert stimulus.role == Stimulus.Role.TRAINING and stimulus.expected_scores == {"quality": 20}


def test_invites_csv_is_returned_once_and_statuses_show(client, study):
    client.force_login(study.owner)
    response = client.post(reverse("research:subject_list", args=[study.pk]), {"count": 3})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["label"] for r in rows] == ["S0001", "S0002", "S0003"]
    assert all("/s/" in r["link"] for r in rows)
    # Its own label: the factory sequence may reach S0003 when other tests ran first.
    subject = SubjectFactory(study=study, label="R0001")
    done = RatingSessionFactory(subject=subject, playlist=[{}] * 4, cursor=2)
    page = client.get(reverse("research:subject_list", args=[study.pk])).content.decode()
    assert "Not started" in page and "In progress: 2 of 4 trials" in page
    assert "can be downloaded only now" in page
    assert done.subject.label in page


def test_thumbnail_after_import(client, study, tmp_path):
    from annotation.services.imports import stimuli_import
    from annotation.tests.research_support import image_set

    stimuli_import(study=study, manifest=image_set(tmp_path, n=1))
    client.force_login(study.owner)
    page = client.get(reverse("research:stimulus_list", args=[study.pk])).content.decode()
    url = reverse("research:stimulus_thumbnail", args=[study.pk, study.stimuli.get().pk])
    assert url in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_progress_json_and_plotly(client, study):
    stimuli = StimulusFactory.create_batch(3, study=study)
    RatingFactory(
        stimulus=stimuli[0], dimension=study.dimensions.get(), session__subject__study=study
    )
    client.force_login(study.owner)
    data = client.get(reverse("research:study_progress_json", args=[study.pk])).json()
    assert data["ratings_per_stimulus"] == [1, 0, 0]
    assert data["ratings_missing"] == 3 * study.target_ratings_per_stimulus - 1
    assert data["sessions_needed"] >= 1
    assert sum(r["count"] for r in data["ratings_per_hour"]) == 1
    page = client.get(reverse("research:study_progress", args=[study.pk])).content.decode()
    assert "progress.js" in page and "cdn" not in page.lower()
    # plotly.js is a static file (hashed and compressed in production), loaded by charts.js.
    assert 'data-plotly="/static/vendor/plotly-custom.min.js"' in page
    found = finders.find("vendor/plotly-custom.min.js")
    assert found and b"plotly.js (custom" in Path(found).read_bytes()[:300]
