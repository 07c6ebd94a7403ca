"""Personal API tokens: created and shown once on a page, stored hashed, accepted as
``Token``/``Bearer`` with the owner's permissions, revocable; invite tokens never work."""

import hashlib
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import ApiToken
from annotation.services.api_tokens import api_token_create
from annotation.services.releases import release_freeze
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import ResearcherFactory, UserFactory, rated_study_create

pytestmark = pytest.mark.django_db


def token_from(html: str) -> str:
    return re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)


def test_page_creates_a_token_shown_once_and_stored_hashed(client):
    researcher = ResearcherFactory()
    client.force_login(researcher)
    url = reverse("api_tokens")
    response = client.post(url, {"name": "notebook on lab-pc-3"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = token_from(response.content.decode())
    record = ApiToken.objects.get(user=researcher)
    assert record.name == "notebook on lab-pc-3"
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiToken.objects.values().get())  # no column holds the token
    listed = client.get(url).content.decode()
    assert token not in listed and "notebook on lab-pc-3" in listed and "never" in listed

    blank = client.post(url, {"name": "   "}).content.decode()
    assert 'id="new-token"' not in blank and ApiToken.objects.count() == 1


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_token_acts_as_its_owner_and_records_its_use(keyword):
    mine = rated_study_create(subjects=3, stimuli=3)
    theirs = rated_study_create(subjects=3, stimuli=3)
    record, token = api_token_create(user=mine.owner, name="script")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    studies = api.get(reverse("api:study_list"))
    assert studies.status_code == 200
    assert [s["id"] for s in studies.json()["results"]] == [mine.pk]
    assert api.get(reverse("api:stimulus_list", args=[mine.pk])).status_code == 200
    assert api.get(reverse("api:study_detail", args=[theirs.pk])).status_code == 404
    assert api.get(reverse("api:stimulus_list", args=[theirs.pk])).status_code == 404
    # No CSRF token needed: the token is not a cookie a browser sends by itself.
    created = api.post(reverse("api:study_create"), {"name": "From a script"}, format="json")
    assert created.status_code == 201
    record.refresh_from_db()
    assert record.last_used_at is not None


def test_a_token_downloads_a_release(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    study = rated_study_create(subjects=6, stimuli=4)
    release = release_freeze(study=study, options=None, created_by=study.owner)
    _, token = api_token_create(user=study.owner, name="curl")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get(reverse("api:release_mos", args=[study.pk, release.version]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.mos_sha256


def test_revoked_unknown_and_malformed_tokens_are_refused(client):
    researcher = ResearcherFactory()
    record, token = api_token_create(user=researcher, name="old")
    client.force_login(researcher)
    client.post(reverse("api_token_revoke", args=[record.pk]))
    record.refresh_from_db()
    assert record.revoked_at is not None
    api = APIClient()
    for header in (f"Token {token}", "Bearer aiq_not-a-token", "Token", f"Token {token} extra"):
        api.credentials(HTTP_AUTHORIZATION=header)
        response = api.get(reverse("api:study_list"))
        # 403 like every unauthenticated API request (the session scheme comes first).
        assert response.status_code == 403, header
        assert "token" in response.json()["detail"].lower(), header


def test_another_users_token_cannot_be_revoked_and_tokens_are_private(client):
    owner, other = ResearcherFactory(), ResearcherFactory()
    record, _ = api_token_create(user=owner, name="owner's")
    client.force_login(other)
    assert client.post(reverse("api_token_revoke", args=[record.pk])).status_code == 404
    assert "owner&#x27;s" not in client.get(reverse("api_tokens")).content.decode()
    record.refresh_from_db()
    assert record.revoked_at is None


def test_subject_invite_tokens_and_non_staff_tokens_are_refused():
    study = rated_study_create(subjects=2, stimuli=2)
    _, invite = subject_invite_create(study=study)
    api = APIClient()
    for header in (f"Token {invite}", f"Bearer {invite}", f"Token aiq_{invite}"):
        api.credentials(HTTP_AUTHORIZATION=header)
        for url in (reverse("api:study_list"), reverse("api:subject_list", args=[study.pk])):
            response = api.get(url)
            assert response.status_code == 403, header
            assert response.json()["detail"].startswith("Invalid"), header
    # A user who is not (or no longer) staff keeps no API access through a token.
    _, token = api_token_create(user=UserFactory(), name="not staff")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get(reverse("api:study_list"))
    assert response.status_code == 403 and "permission" in response.json()["detail"]


def test_schema_documents_the_token_scheme(admin_client):
    schema = admin_client.get(reverse("api-schema"), {"format": "json"}).json()
    scheme = schema["components"]["securitySchemes"]["apiToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    (operation,) = [v["get"] for k, v in schema["paths"].items() if k == "/api/studies/"]
    assert {"apiToken": []} in operation["security"]


def test_page_makes_read_only_tokens_unless_asked_for_write(client):
    researcher = ResearcherFactory()
    client.force_login(researcher)
    url = reverse("api_tokens")
    client.post(url, {"name": "reader"})
    client.post(url, {"name": "writer", "scope": "write"})
    scopes = dict(ApiToken.objects.values_list("name", "scope"))
    assert scopes == {"reader": "read", "writer": "write"}
    listed = client.get(url).content.decode()
    assert "read only" in listed and "read and write" in listed
    refused = client.post(url, {"name": "odd", "scope": "admin"}).content.decode()
    assert 'id="new-token"' not in refused and not ApiToken.objects.filter(name="odd").exists()


def test_read_only_token_reads_but_every_write_is_refused_and_nothing_changes():
    study = rated_study_create(subjects=3, stimuli=3)
    _, token = api_token_create(user=study.owner, name="reader", scope=ApiToken.Scope.READ)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get(reverse("api:study_list")).status_code == 200
    assert api.get(reverse("api:study_detail", args=[study.pk])).status_code == 200
    count = type(study).objects.count()
    created = api.post(reverse("api:study_create"), {"name": "Nope"}, format="json")
    assert created.status_code == 403
    assert created.json() == {
        "detail": "This API token is read-only; create a read-write token to change data."
    }
    assert type(study).objects.count() == count
    frozen = api.post(reverse("api:release_freeze", args=[study.pk]), {}, format="json")
    assert frozen.status_code == 403 and not study.releases.exists()
    # The same owner with a read-write token may write.
    _, writer = api_token_create(user=study.owner, name="writer", scope=ApiToken.Scope.WRITE)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert api.post(reverse("api:study_create"), {"name": "Yes"}, format="json").status_code == 201


def test_unknown_scope_is_refused_by_the_service():
    with pytest.raises(ValidationError, match="Unknown token scope"):
        api_token_create(user=ResearcherFactory(), name="x", scope="admin")
