"""The API's one exception handler: errors raised by services and selectors reach the
caller as the documented status and JSON body, never as a 500."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.models import Study
from annotation.tests.factories import AdminFactory, DimensionFactory, StudyFactory
from core.api_errors import api_exception_handler
from core.errors import NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api():
    study = StudyFactory(status=Study.Status.DRAFT)
    DimensionFactory(study=study, key="quality")
    api = APIClient()
    api.force_login(study.owner)
    return api, study


def test_service_validation_error_is_400_with_its_messages(owner_api):
    api, study = owner_api
    response = api.post(reverse("api:study_update", args=[study.pk]), {"scale_max": -5})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["detail"] and len(body["detail"]) == 1
    assert "above its minimum" in body["detail"][0]


def test_selector_not_found_is_404_with_its_message(owner_api):
    api, study = owner_api
    missing = reverse("api:study_detail", args=[study.pk + 1000])
    assert api.get(missing).json() == {"detail": "No such study."}
    assert api.get(missing).status_code == 404


def test_benchmark_unknown_run_is_404_json():
    api = APIClient()
    api.force_login(AdminFactory())
    response = api.get(reverse("benchmark-api:run_detail", args=[999_999]))
    assert response.status_code == 404
    assert response.json() == {"detail": "No BenchmarkRun matches the given query."}


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            ImportRejected([ImportProblem(row=2, image="a.png", message="not an image")]),
            400,
            {"detail": ["row 2 (a.png): not an image"]},
        ),
        (NotFound("No such release."), 404, {"detail": "No such release."}),
        (PermissionDenied(), 403, {"detail": "You do not have permission to perform this action."}),
    ],
)
def test_handler_maps_domain_errors(error, status, body):
    response = api_exception_handler(error, {})
    assert (response.status_code, response.data) == (status, body)


def test_handler_leaves_unexpected_errors_to_django():
    assert api_exception_handler(RuntimeError("bug"), {}) is None
    # A bare DoesNotExist is a bug in a service, not a missing object the caller asked for.
    assert api_exception_handler(Study.DoesNotExist(), {}) is None
