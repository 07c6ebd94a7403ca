"""Schemathesis drives every API operation from the OpenAPI schema through the WSGI app,
signed in once with a browser session (cookie and CSRF token) and once with a read-write
API token, as scripts use it.

Skipped where schemathesis is not installed (it is a dev-only extra); the hypothesis
test in test_api_schema.py covers the same ground without it.
"""

import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from annotation.models import ApiToken, ImportJob, RatingSession  # noqa: E402
from annotation.services.analysis_runs import analysis_run_request  # noqa: E402
from annotation.services.api_tokens import api_token_create  # noqa: E402
from annotation.services.releases import release_freeze  # noqa: E402
from annotation.tests.factories import (  # noqa: E402
    AdminFactory,
    DimensionFactory,
    RatingFactory,
    StimulusFactory,
    StudyFactory,
)
from benchmark.models import ScoringJob  # noqa: E402
from benchmark.tests.factories import BenchmarkRunFactory  # noqa: E402
from study_site.wsgi import application  # noqa: E402

CSRF = "a" * 32  # double-submit token: the same value as cookie and header


@pytest.fixture
def web_schema(db):
    # Requests through the WSGI app would close the test's database connection at
    # request end (inside the test transaction); Django's test client avoids it the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        # The served schema is staff-only; generate the same document directly.
        document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
        schema = schemathesis.openapi.from_dict(document)
        schema.app = application
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(params=["session", "token"])
def world(request, db) -> tuple[dict, dict]:
    # An admin who owns the study reaches every operation: studies, analysis, releases
    # and the admin-only benchmark API (permissions are tested elsewhere, per endpoint).
    study = StudyFactory(owner=AdminFactory())
    dimension = DimensionFactory(study=study, key="quality")
    stimulus = StimulusFactory(study=study)
    job = ImportJob.objects.create(study=study, created_by=study.owner)
    # Ratings, an analysis run and a release, so the analysis and release operations
    # have real ids to reach.
    for _ in range(3):
        RatingFactory(stimulus=stimulus, dimension=dimension, session__subject__study=study)
    # A completion code the lookup finds (each session gets one; the lookup takes the first).
    RatingSession.objects.filter(subject__study=study).update(completion_code="WORLD-CODE")
    run = analysis_run_request(study=study, options={"screening": []})
    release = release_freeze(study=study, options={"screening": []})
    benchmark_run = BenchmarkRunFactory()
    ids = {
        "id": study.pk,
        "stimulus_pk": stimulus.pk,
        "job_pk": job.pk,
        "run_pk": run.pk,
        "version": release.version,
        "code": "WORLD-CODE",
        # Benchmark paths call their id "id" too; _checker picks these for them.
        "/api/benchmark/sweeps/": benchmark_run.sweep_id,
        "/api/benchmark/runs/": benchmark_run.pk,
        "/api/benchmark/scoring/": ScoringJob.objects.create(run=benchmark_run, source="study").pk,
    }
    return _credentials(request.param, study.owner), ids


def _credentials(kind: str, user) -> dict:
    """Cookies and headers of one way of signing in."""
    if kind == "token":
        _, token = api_token_create(user=user, name="schemathesis", scope=ApiToken.Scope.WRITE)
        return {"cookies": {}, "headers": {"Authorization": f"Bearer {token}"}}
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    return {
        "cookies": {"sessionid": session, "csrftoken": CSRF},
        "headers": {"X-CSRFToken": CSRF},
    }


def _checker(operation, world: tuple[dict, dict], seen: dict):
    credentials, ids = world

    @given(case=operation.as_strategy())
    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        # The schema's cookieAuth makes schemathesis invent a session; use the real one
        # (or none, with a token).
        case.cookies = dict(credentials["cookies"])
        # Real ids, so requests reach the views (unknown ids are tested elsewhere: 404).
        for name in case.path_parameters or {}:
            prefix = next(
                (p for p in ids if p.startswith("/") and operation.path.startswith(p)), ""
            )
            case.path_parameters[name] = ids[prefix] if prefix and name == "id" else ids[name]
        response = case.call_and_validate(
            headers=dict(credentials["headers"]),
            checks=[not_a_server_error, response_schema_conformance],
        )
        seen.setdefault(operation.label, set()).add(response.status_code)

    return check


@pytest.mark.slow
def test_api_never_answers_5xx(web_schema, world):
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 13
    seen: dict[str, set[int]] = {}
    for operation in operations:
        _checker(operation, world, seen)()
    # The session and CSRF token (or the token) work: most operations succeed at least once, and none
    # is refused only for lack of a login.
    succeeded = [label for label, codes in seen.items() if codes & {200, 201, 202}]
    assert len(succeeded) >= 11, seen
    assert not [label for label, codes in seen.items() if codes == {403}], seen
    benchmark = {label: codes for label, codes in seen.items() if "/api/benchmark/" in label}
    # Reads succeed; scoring with a run that has not succeeded is refused (400), never 5xx.
    reads = [codes for label, codes in benchmark.items() if label.startswith("GET")]
    assert len(benchmark) == 6 and all(200 in codes for codes in reads), seen
