"""A subject's invite token opens their own session and nothing else."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory
from annotation.tests.subject_support import display_check_pass

pytestmark = pytest.mark.django_db

# Reachable without an account on purpose: signing in, health checks, the API schema
# document (no data) and static assets.
PUBLIC = {"login", "logout", "healthz", "favicon", "api-schema", "api-docs"}


def _routes(patterns, prefix=""):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route, entry


def _concrete(route: str, *, token: str, number: int) -> str | None:
    if "(?P" in route:
        return None  # a regex route with groups (admin's app index); covered by /admin/
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")

    def fill(match: re.Match) -> str:
        return str(number) if match.group(1) == "int" else token

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


@pytest.fixture
def subject_client(client):
    study = StudyFactory(session_size=2)
    DimensionFactory(study=study, key="quality")
    StimulusFactory.create_batch(2, study=study)
    _, token = subject_invite_create(study=study)
    client.post(f"/s/{token}/consent/", {"decision": "accept"})
    display_check_pass(client, token)
    assert client.get(f"/s/{token}/trials/0/").status_code == 200
    return client, token, study


def test_no_staff_page_admin_or_api_answers_a_subject(subject_client):
    client, token, study = subject_client
    checked = []
    for route, pattern in _routes(get_resolver().url_patterns):
        if pattern.name in PUBLIC or route.startswith("s/<"):
            continue
        url = _concrete(route, token=token, number=study.pk)
        if url is None:
            continue
        for target in (url, f"{url}?token={token}"):
            response = client.get(target)
            assert response.status_code in (301, 302, 401, 403, 404, 405), (
                f"{target} answered {response.status_code} to a subject"
            )
            if response.status_code == 302:
                assert "/login/" in response["Location"], target
        checked.append(url)
    for must in ("/", "/admin/", "/admin/annotation/rating/"):
        assert must in checked or must.rstrip("/") + "/" in checked, must


def test_a_token_reaches_only_its_own_session(subject_client):
    client, token, study = subject_client
    other_study = StudyFactory()
    DimensionFactory(study=other_study, key="quality")
    other = StimulusFactory(study=other_study)
    _, other_token = subject_invite_create(study=other_study)
    # My client, their token: the token alone decides, and theirs has not consented.
    assert client.get(f"/s/{other_token}/trials/0/").headers["Location"].endswith("/consent/")
    assert client.get(f"/s/{token}/images/{other.pk}/").status_code == 404
