"""The researcher API: every operation, and who may call it."""

import io
import zipfile

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import ImportJob, Stimulus, Study, Subject
from annotation.tests.factories import (
    AdminFactory,
    DimensionFactory,
    ResearcherFactory,
    StimulusFactory,
    StudyFactory,
    UserFactory,
)
from annotation.tests.research_support import write_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def study():
    study = StudyFactory()
    DimensionFactory(study=study, key="quality")
    return study


def study_endpoints(study, stimulus) -> list[tuple[str, str, dict]]:
    pk = study.pk
    return [
        ("get", reverse("api:study_detail", args=[pk]), {}),
        ("post", reverse("api:study_update", args=[pk]), {"name": "x"}),
        ("post", reverse("api:study_status", args=[pk]), {"status": "closed"}),
        ("get", reverse("api:stimulus_list", args=[pk]), {}),
        ("post", reverse("api:stimulus_role", args=[pk, stimulus.pk]), {"role": "normal"}),
        ("post", reverse("api:study_import", args=[pk]), {}),
        ("get", reverse("api:subject_list", args=[pk]), {}),
        ("post", reverse("api:invite_create", args=[pk]), {"count": 2}),
        ("get", reverse("api:study_progress", args=[pk]), {}),
    ]


def global_endpoints(job) -> list[tuple[str, str, dict]]:
    return [
        ("get", reverse("api:study_list"), {}),
        ("post", reverse("api:study_create"), {"name": "x"}),
        ("post", reverse("api:external_import"), {}),
        ("get", reverse("api:import_job", args=[job.pk]), {}),
    ]


def call(api, method, url, data):
    return getattr(api, method)(url, data, format="json" if method == "post" else None)


def test_anonymous_and_non_staff_get_403(api, study):
    stimulus = StimulusFactory(study=study)
    job = ImportJob.objects.create(study=study, created_by=study.owner)
    endpoints = study_endpoints(study, stimulus) + global_endpoints(job)
    for user in (None, UserFactory()):
        api.force_authenticate(None)
        if user:
            api.force_login(user)
        for method, url, data in endpoints:
            assert call(api, method, url, data).status_code == 403, url
    assert Study.objects.count() == 1 and Subject.objects.count() == 0


def test_another_researcher_gets_404(api, study):
    stimulus = StimulusFactory(study=study)
    job = ImportJob.objects.create(study=study, created_by=study.owner)
    api.force_login(ResearcherFactory())
    for method, url, data in study_endpoints(study, stimulus):
        assert call(api, method, url, data).status_code == 404, url
    assert api.get(reverse("api:import_job", args=[job.pk])).status_code == 404
    assert api.get(reverse("api:study_list")).json()["results"] == []
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN and Subject.objects.count() == 0


def test_admin_sees_every_study(api, study):
    api.force_login(AdminFactory())
    assert [s["id"] for s in api.get(reverse("api:study_list")).json()["results"]] == [study.pk]
    assert api.get(reverse("api:study_progress", args=[study.pk])).status_code == 200


def test_design_a_study_through_the_api(api):
    api.force_login(ResearcherFactory())
    body = {
        "name": "ACR study",
        "scale_type": "acr",
        "scale_min": 1,
        "scale_max": 5,
        "scale_step": 1,
        "scale_labels": ["Bad", "Poor", "Fair", "Good", "Excellent"],
        "target_ratings_per_stimulus": 25,
        "dimensions": [
            {"key": "quality", "label": "Quality", "question": "How good?", "anchor_text": "a"},
            {"key": "authenticity", "label": "Authenticity", "question": "How real?"},
        ],
    }
    created = api.post(reverse("api:study_create"), body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert [d["key"] for d in created.json()["dimensions"]] == ["quality", "authenticity"]
    assert created.json()["status"] == "draft"
    assert (
        api.post(
            reverse("api:study_create"), body | {"slug": created.json()["slug"]}, format="json"
        ).status_code
        == 400
    )
    bad = api.post(reverse("api:study_update", args=[pk]), {"scale_max": 0}, format="json")
    assert bad.status_code == 400 and "above its minimum" in str(bad.json())
    updated = api.post(
        reverse("api:study_update", args=[pk]),
        {"session_size": 40, "break_interval": 20},
        format="json",
    )
    assert updated.json()["session_size"] == 40
    opened = api.post(reverse("api:study_status", args=[pk]), {"status": "open"}, format="json")
    assert opened.json()["status"] == "open"


def test_mark_training_stimulus(api, study):
    stimulus = StimulusFactory(study=study)
    api.force_login(study.owner)
    url = reverse("api:stimulus_role", args=[study.pk, stimulus.pk])
    response = api.post(
        url, {"role": "training", "expected_scores": {"quality": 150}}, format="json"
    )
    assert response.status_code == 400
    response = api.post(
        url,
        {"role": "training", "explanation": "Sharp", "expected_scores": {"quality": 80}},
        format="json",
    )
    assert response.status_code == 200 and response.json()["role"] == "training"
    assert Stimulus.objects.get(pk=stimulus.pk).expected_scores == {"quality": 80}


def test_invites_return_links_once(api, study):
    api.force_login(study.owner)
    response = api.post(reverse("api:invite_create", args=[study.pk]), {"count": 2}, format="json")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["csv"].splitlines()[0] == "label,link" and len(body["invites"]) == 2
    statuses = api.get(reverse("api:subject_list", args=[study.pk])).json()["results"]
    assert [s["state"] for s in statuses] == ["not_started", "not_started"]
    assert (
        api.post(
            reverse("api:invite_create", args=[study.pk]), {"count": 0}, format="json"
        ).status_code
        == 400
    )


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_upload_import_runs_a_job(api, study, tmp_path, django_capture_on_commit_callbacks):
    api.force_login(study.owner)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.write(write_image(tmp_path / "a.jpg", colour=(9, 9, 9)), "a.jpg")
    archive.seek(0)
    archive.name = "images.zip"
    manifest = io.BytesIO(b"image,generator,prompt\na.jpg,MJ,a fox\n")
    manifest.name = "manifest.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            reverse("api:study_import", args=[study.pk]),
            {"manifest": manifest, "images": archive},
            format="multipart",
        )
    assert response.status_code == 202
    job = api.get(reverse("api:import_job", args=[response.json()["id"]])).json()
    assert job["status"] == "done" and job["result"]["created"] == 1
    assert study.stimuli.get().generator == "MJ"


@pytest.mark.parametrize("search", ["99999999999999999999999", "²³", "own id"])
def test_a_search_of_digits_finds_by_id_only_where_it_can_be_one(api, study, search):
    stimulus = StimulusFactory(study=study, original_name="x.png", prompt="p", generator="g")
    query = str(stimulus.pk) if search == "own id" else search
    api.force_authenticate(study.owner)
    response = api.get(reverse("api:stimulus_list", args=[study.pk]), {"q": query})
    assert response.status_code == 200
    found = [row["id"] for row in response.json()["results"]]
    assert found == ([stimulus.pk] if search == "own id" else [])
