"""The OpenAPI schema is complete and valid, and random requests never cause a 5xx."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotation.tests.factories import DimensionFactory, StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/studies/create/",
        "/api/studies/{id}/progress/",
        "/api/studies/{id}/subjects/invite/",
    ):
        assert path in text


def test_schema_and_docs_need_no_cdn_login(client):
    assert client.get(reverse("api-schema")).status_code in (200, 403)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "name", "slug", "scale_type", "scale_min", "scale_max", "scale_step", "scale_labels",
    "target_ratings_per_stimulus", "session_size", "break_interval", "repeats_per_session",
    "dimensions", "status", "role", "explanation", "expected_scores", "count", "layout",
]  # fmt: skip
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


@pytest.fixture
def world(django_user_model):
    study = StudyFactory()
    DimensionFactory(study=study, key="quality")
    stimulus = StimulusFactory(study=study)
    client = APIClient()
    client.force_login(study.owner)
    pk = study.pk
    posts = [
        reverse("api:study_create"),
        reverse("api:study_update", args=[pk]),
        reverse("api:study_status", args=[pk]),
        reverse("api:stimulus_role", args=[pk, stimulus.pk]),
        reverse("api:invite_create", args=[pk]),
        reverse("api:study_import", args=[pk]),
        reverse("api:external_import"),
    ]
    gets = [
        reverse("api:study_list"),
        reverse("api:study_detail", args=[pk]),
        reverse("api:stimulus_list", args=[pk]),
        reverse("api:subject_list", args=[pk]),
        reverse("api:study_progress", args=[pk]),
        "/api/studies/999999/",
        "/api/studies/imports/999999/",
    ]
    return client, posts, gets


def test_random_bodies_never_cause_5xx(world):
    client, posts, gets = world

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(index=st.integers(0, len(posts) - 1), body=bodies)
    def post(index, body):
        response = client.post(posts[index], body, format="json")
        assert response.status_code < 500, (posts[index], body, response.content[:300])

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        index=st.integers(0, len(gets) - 1),
        query=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    )
    def get(index, query):
        assert client.get(gets[index], query).status_code < 500

    post()
    get()


def test_studies_with_the_same_name_get_distinct_slugs(world):
    client = world[0]
    first = client.post(reverse("api:study_create"), {"name": "!!"}, format="json").json()
    second = client.post(reverse("api:study_create"), {"name": "!!"}, format="json").json()
    assert (first["slug"], second["slug"]) == ("study", "study-2")
