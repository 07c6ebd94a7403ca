"""Only staff researchers on their own study (or admins) reach analysis, freeze and export."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import AnalysisRun, LabelRelease
from annotation.services.analysis_options import DEFAULT_OPTIONS
from annotation.services.analysis_runs import analysis_run_request
from annotation.services.releases import release_freeze
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import (
    AdminFactory,
    ResearcherFactory,
    UserFactory,
    rated_study_create,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.fixture
def world():
    study = rated_study_create(subjects=6, stimuli=5)
    release = release_freeze(study=study, options=None)
    run = analysis_run_request(study=study, options=None)
    return study, release, run


def page_urls(study, run) -> list[tuple[str, str]]:
    pk = study.pk
    urls = [
        ("get", reverse("research:analysis", args=[pk])),
        ("post", reverse("research:analysis", args=[pk])),
        ("get", reverse("research:analysis_run_json", args=[pk, run.pk])),
        ("get", reverse("research:analysis_run_result", args=[pk, run.pk])),
        ("get", reverse("research:release_list", args=[pk])),
        ("post", reverse("research:release_freeze", args=[pk])),
        ("get", reverse("research:ratings_live_csv", args=[pk])),
    ]
    urls += [
        ("get", reverse("research:release_download", args=[pk, 1, what]))
        for what in ("mos", "raw", "sidecar")
    ]
    return urls


def api_urls(study, run) -> list[tuple[str, str]]:
    pk = study.pk
    return [
        ("post", reverse("api:analysis_run_create", args=[pk])),
        ("get", reverse("api:analysis_run_detail", args=[pk, run.pk])),
        ("get", reverse("api:analysis_run_result", args=[pk, run.pk])),
        ("get", reverse("api:release_list", args=[pk])),
        ("post", reverse("api:release_freeze", args=[pk])),
        ("get", reverse("api:release_detail", args=[pk, 1])),
        ("get", reverse("api:release_mos", args=[pk, 1])),
        ("get", reverse("api:release_raw", args=[pk, 1])),
        ("get", reverse("api:release_sidecar", args=[pk, 1])),
        ("get", reverse("api:ratings_live_csv", args=[pk])),
    ]


def freeze_body() -> dict:
    return {**DEFAULT_OPTIONS}


def test_anonymous_non_staff_and_subjects_get_nothing(client, world):
    study, _, run = world
    subject, token = subject_invite_create(study=study)
    counts = (LabelRelease.objects.count(), AnalysisRun.objects.count())
    for who in ("anonymous", "user", "subject"):
        client.logout()
        if who == "user":
            client.force_login(UserFactory())
        if who == "subject":
            # A subject's only credential is the invite link: it opens their session...
            assert client.get(reverse("annotation:subject-entry", args=[token])).status_code == 302
        for method, url in page_urls(study, run):
            response = getattr(client, method)(url, freeze_body() if method == "post" else None)
            assert response.status_code == 302, (who, url)
            assert response.url.startswith(reverse("login")), (who, url)
        api = APIClient()
        if who == "user":
            api.force_login(UserFactory())
        for method, url in api_urls(study, run):
            response = (
                getattr(api, method)(url, {}, format="json") if method == "post" else api.get(url)
            )
            assert response.status_code == 403, (who, url)
        # ...and the token is no credential anywhere else.
        for method, url in api_urls(study, run):
            response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Token {token}")
            assert response.status_code == 403, (who, url)
    assert (LabelRelease.objects.count(), AnalysisRun.objects.count()) == counts


def test_another_researcher_gets_404_and_writes_nothing(client, world):
    study, _, run = world
    counts = (LabelRelease.objects.count(), AnalysisRun.objects.count())
    client.force_login(ResearcherFactory())
    for method, url in page_urls(study, run):
        response = getattr(client, method)(url, freeze_body() if method == "post" else None)
        assert response.status_code == 404, url
    api = APIClient()
    api.force_login(ResearcherFactory())
    for method, url in api_urls(study, run):
        response = (
            getattr(api, method)(url, {}, format="json") if method == "post" else api.get(url)
        )
        assert response.status_code == 404, url
    assert (LabelRelease.objects.count(), AnalysisRun.objects.count()) == counts


def test_owner_and_admin_reach_every_page_and_endpoint(client, world):
    study, _, run = world
    for user in (study.owner, AdminFactory()):
        client.force_login(user)
        for method, url in page_urls(study, run):
            if method == "get":
                assert client.get(url).status_code == 200, url
        api = APIClient()
        api.force_login(user)
        for method, url in api_urls(study, run):
            if method == "get":
                assert api.get(url).status_code == 200, url
