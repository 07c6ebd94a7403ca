"""The analysis and release API: runs, freeze, errors, schema, and no 5xx on random input."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotation.models import AnalysisRun, LabelRelease
from annotation.tests.factories import (
    DimensionFactory,
    StudyFactory,
    rated_study_create,
    rating_add,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.fixture
def study():
    return rated_study_create(subjects=6, stimuli=5)


@pytest.fixture
def api(study):
    client = APIClient()
    client.force_login(study.owner)
    return client


def test_analysis_run_then_cached_then_stale(api, study):
    url = reverse("api:analysis_run_create", args=[study.pk])
    first = api.post(url, {"screening": ["bt500", "correlation"]}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["status"] == "done" and body["stale"] is False and body["ratings_count"] == 60
    assert body["options"]["screening"] == ["bt500", "correlation"]
    assert body["summary"]["n_stimuli"] == 5
    again = api.post(url, {"screening": ["correlation", "bt500"]}, format="json").json()
    assert again["id"] == body["id"]
    forced = api.post(url, {"screening": ["bt500", "correlation"], "force": True}, format="json")
    assert forced.json()["id"] != body["id"]
    result = api.get(reverse("api:analysis_run_result", args=[study.pk, forced.json()["id"]]))
    assert result.status_code == 200 and len(result.json()["mos"]["rows"]) == 5
    rating_add(study=study)
    detail = api.get(reverse("api:analysis_run_detail", args=[study.pk, forced.json()["id"]]))
    assert detail.json()["stale"] is True


def test_freeze_returns_the_release_with_download_links(api, study):
    response = api.post(
        reverse("api:release_freeze", args=[study.pk]), {"normalisation": "zscore"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["source"] == "study"
    assert body["method_config"]["options"]["normalisation"] == "zscore"
    assert set(body["files"]) == {"mos", "raw", "sidecar"}
    assert body["files"]["mos"].endswith(f"/api/studies/{study.pk}/releases/1/mos.csv")
    second = api.post(reverse("api:release_freeze", args=[study.pk]), {}, format="json")
    assert second.json()["version"] == 2


@pytest.mark.parametrize(
    "body, message",
    [
        ({"screenig": ["bt500"]}, "Unknown option"),
        ({"screening": ["kurtosis"]}, "is not a valid choice"),
        ({"confidence": 3}, "less than or equal"),
        ({"normalisation": "minmax"}, "is not a valid choice"),
        ({"preset": "sureal", "confidence": 0.9}, '"confidence":["Option confidence: '),
        ({"too_fast_max_fraction": 1}, '"too_fast_max_fraction":["Option too_fast_max_fraction'),
    ],
)
def test_bad_options_are_400_and_nothing_is_written(api, study, body, message):
    for name in ("api:release_freeze", "api:analysis_run_create"):
        response = api.post(reverse(name, args=[study.pk]), body, format="json")
        assert response.status_code == 400 and message in response.content.decode(), name
    assert LabelRelease.objects.count() == 0 and AnalysisRun.objects.count() == 0


def test_a_study_without_ratings_is_a_clear_400(api):
    empty = StudyFactory()
    DimensionFactory(study=empty)
    api.force_login(empty.owner)
    for name in ("api:release_freeze", "api:analysis_run_create"):
        response = api.post(reverse(name, args=[empty.pk]), {}, format="json")
        assert response.status_code == 400 and "has no ratings" in response.json()["detail"][0]
    assert LabelRelease.objects.count() == 0 and AnalysisRun.objects.count() == 0
    assert api.get(reverse("api:release_mos", args=[empty.pk, 1])).status_code == 404


def test_schema_lists_every_analysis_and_release_operation(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/studies/{id}/analysis/:",
        "/api/studies/{id}/analysis/{run_pk}/:",
        "/api/studies/{id}/analysis/{run_pk}/result/:",
        "/api/studies/{id}/releases/:",
        "/api/studies/{id}/releases/freeze/:",
        "/api/studies/{id}/releases/{version}/:",
        "/api/studies/{id}/releases/{version}/mos.csv:",
        "/api/studies/{id}/releases/{version}/raw.csv:",
        "/api/studies/{id}/releases/{version}/release.json:",
        "/api/studies/{id}/ratings.csv:",
    ):
        assert path in text, path
    assert "text/csv" in text


option_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.sampled_from(["bt500", "correlation", "gold", "x", ""]), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
OPTION_KEYS = [
    "screening", "repeat_policy", "normalisation", "bt500_ddof", "correlation_threshold",
    "repeat_threshold", "gold_threshold", "confidence", "force", "bogus",
]  # fmt: skip


def test_random_option_bodies_never_cause_5xx(api, study):
    urls = [
        reverse("api:analysis_run_create", args=[study.pk]),
        reverse("api:release_freeze", args=[study.pk]),
    ]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        index=st.integers(0, 1),
        body=st.dictionaries(st.sampled_from(OPTION_KEYS), option_values, max_size=4),
    )
    def post(index, body):
        response = api.post(urls[index], body, format="json")
        assert response.status_code < 500, (urls[index], body, response.content[:300])

    post()
