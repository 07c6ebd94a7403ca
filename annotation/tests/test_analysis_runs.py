"""Analysis runs: options, caching until new ratings arrive, the Celery path, the page."""

import gzip
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import AnalysisRun, LabelRelease
from annotation.services.analysis_options import (
    DEFAULT_OPTIONS,
    analysis_options_clean,
    analysis_options_hash,
)
from annotation.services.analysis_runs import analysis_run_request
from annotation.tasks import analysis_run_task
from annotation.tests.factories import (
    DimensionFactory,
    StudyFactory,
    rated_study_create,
    rating_add,
)
from study_site.celery import app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


@pytest.fixture
def eager_celery(settings):
    """.delay() runs the task in this process, as a worker would (no broker in unit tests).

    Set through Django's settings, which Celery reads: assigning app.conf directly would
    shadow the setting for every later test.
    """
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert app.conf.task_always_eager


@pytest.fixture
def study():
    return rated_study_create(subjects=8, stimuli=6)


def test_options_are_cleaned_and_unknown_ones_refused():
    assert analysis_options_clean(data=None) == DEFAULT_OPTIONS
    clean = analysis_options_clean(data={"screening": "correlation, bt500", "bt500_ddof": "0"})
    assert clean["screening"] == ["bt500", "correlation"] and clean["bt500_ddof"] == 0
    same = analysis_options_clean(data={"screening": ["correlation", "bt500"], "bt500_ddof": 0})
    assert analysis_options_hash(options=clean) == analysis_options_hash(options=same)
    for bad, message in (
        ({"screenig": ["bt500"]}, "Unknown analysis option"),
        ({"screening": ["kurtosis"]}, "Unknown screening method"),
        ({"normalisation": "minmax"}, "normalisation must be one of"),
        ({"correlation_threshold": 2}, "correlation_threshold must be a number in 0..1"),
        ({"bt500_ddof": 0.5}, "must be an integer"),
        ({"confidence": True}, "must be a number"),
    ):
        with pytest.raises(ValidationError, match=message):
            analysis_options_clean(data=bad)


def test_small_study_is_analysed_inline_and_cached_until_a_new_rating(study):
    run = analysis_run_request(study=study, options={"screening": ["bt500", "correlation"]})
    assert run.status == AnalysisRun.Status.DONE, run.error
    assert run.ratings_count == 8 * 6 * 2 and run.progress == 1.0
    summary = run.summary
    assert summary["n_input_ratings"] == 96 and summary["n_stimuli"] == 6
    assert summary["dimensions"] == ["quality", "authenticity"]
    assert [m["method"] for m in summary["screening"]] == ["bt500", "correlation"]
    assert {m["method"] for m in summary["methods"]} >= {"bt500", "correlation", "mos"}
    mos = run.payload["mos"]
    assert mos["columns"][:3] == ["stimulus", "name", "generator"]
    assert len(mos["rows"]) == 6
    sections = {f["section"] for f in run.payload["figures"]}
    assert {"Distributions", "Subjects", "Confidence", "Dimensions", "Screening"} <= sections
    # Same options, same ratings: the cached run, nothing recomputed.
    again = analysis_run_request(study=study, options={"screening": ["correlation", "bt500"]})
    assert again.pk == run.pk
    # A different choice is a different cache entry.
    other = analysis_run_request(study=study, options={"screening": []})
    assert other.pk != run.pk and other.summary["rejections"] == []
    rating_add(study=study)
    fresh = analysis_run_request(study=study, options={"screening": ["bt500", "correlation"]})
    assert fresh.pk != run.pk and fresh.ratings_count == 97
    # The superseded run with the same options is pruned; the other options' run stays.
    assert not AnalysisRun.objects.filter(pk=run.pk).exists()
    assert AnalysisRun.objects.filter(pk=other.pk).exists()


def test_bad_input_is_refused_and_nothing_is_written(study):
    with pytest.raises(ValidationError, match="Unknown analysis option"):
        analysis_run_request(study=study, options={"normalise": True})
    empty = StudyFactory()
    DimensionFactory(study=empty)
    with pytest.raises(ValidationError, match="has no ratings"):
        analysis_run_request(study=empty, options=None)
    assert AnalysisRun.objects.count() == 0


def test_large_study_goes_to_the_worker_with_progress_and_cache_invalidation(
    study, settings, client, django_capture_on_commit_callbacks, eager_celery
):
    settings.ANALYSIS_INLINE_MAX_RATINGS = 10  # this study's 96 ratings are "large"
    client.force_login(study.owner)
    with django_capture_on_commit_callbacks() as callbacks:
        run = analysis_run_request(study=study, options=None, created_by=study.owner)
    assert run.status == AnalysisRun.Status.PENDING and len(callbacks) == 1
    status_url = reverse("research:analysis_run_json", args=[study.pk, run.pk])
    assert client.get(status_url).json()["status"] == "pending"
    page = client.get(reverse("research:analysis", args=[study.pk])).content.decode()
    assert "Waiting for a worker" in page and "<progress" in page
    result_url = reverse("research:analysis_run_result", args=[study.pk, run.pk])
    assert client.get(result_url).status_code == 409
    # While queued, asking again does not queue a second run.
    with django_capture_on_commit_callbacks() as more:
        assert analysis_run_request(study=study, options=None).pk == run.pk
    assert more == []

    callbacks[0]()  # the commit happens: .delay() runs the task (eagerly here)
    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE and run.progress == 1.0, run.error
    steps = [entry["step"] for entry in run.log]
    assert steps[0] == "loading ratings" and steps[-1] == "done"
    assert {"screening", "mos", "subject_model", "figures"} <= set(steps)
    status = client.get(status_url).json()
    assert status["finished"] and status["stale"] is False
    assert len(client.get(result_url).json()["mos"]["rows"]) == 6
    # A redelivered task (acks_late) finds the work done and changes nothing.
    finished_at = run.finished_at
    assert analysis_run_task.apply(args=[run.pk]).get() == "done"
    run.refresh_from_db()
    assert run.finished_at == finished_at

    rating_add(study=study)
    assert client.get(status_url).json()["stale"] is True
    page = client.get(reverse("research:analysis", args=[study.pk])).content.decode()
    assert "it is out of date" in page and "Recompute" in page
    with django_capture_on_commit_callbacks(execute=True):
        new = analysis_run_request(study=study, options=None)
    new.refresh_from_db()
    assert new.pk != run.pk and new.status == AnalysisRun.Status.DONE
    assert new.ratings_count == 97


def test_a_run_that_fails_is_recorded_not_raised(study, monkeypatch):
    import analysis.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(analysis.pipeline, "run_pipeline", broken)
    run = analysis_run_request(study=study, options=None)
    assert run.status == AnalysisRun.Status.FAILED and "disk on fire" in run.error
    monkeypatch.undo()
    # A failed run is never served from the cache.
    retry = analysis_run_request(study=study, options=None)
    assert retry.pk != run.pk and retry.status == AnalysisRun.Status.DONE


def test_analysis_page_shows_screening_table_figures_and_mos_table(client, study):
    client.force_login(study.owner)
    url = reverse("research:analysis", args=[study.pk])
    page = client.get(url).content.decode()
    assert "No analysis with these options yet" in page
    response = client.post(
        url,
        {
            "screening": ["bt500", "correlation"],
            "normalisation": "zscore",
            "repeat_policy": "first",
            "bt500_ddof": 1,
            "correlation_threshold": 0.9,
            "repeat_threshold": 0.25,
            "gold_threshold": 0.25,
            "confidence": 0.95,
        },
    )
    assert response.status_code == 302 and "screening=correlation" in response.url
    run = AnalysisRun.objects.get()
    assert run.options["normalisation"] == "zscore" and run.options["correlation_threshold"] == 0.9
    page = client.get(response.url).content.decode()
    assert "Screened-out subjects" in page and "every decision" in page
    assert "mos-table" in page and "analysis.js" in page and "plotly-custom" in page
    assert "cdn" not in page.lower()
    assert any(m["method"] == "zscore" for m in run.summary["methods"])
    result_url = reverse("research:analysis_run_result", args=[study.pk, run.pk])
    result = client.get(result_url).json()
    assert result["mos"]["columns"][3:6] == ["mos_quality", "ci95_quality", "n_quality"]
    assert all(f["figure"]["data"] for f in result["figures"])
    _assert_result_travels_gzipped(client, result_url, stored=run.payload)
    from django.contrib.staticfiles import finders

    assert finders.find("annotation/research/analysis.js")


def _assert_result_travels_gzipped(client, url: str, *, stored: dict) -> None:
    """A browser gets the stored payload gzipped, and it decodes to exactly that payload."""
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    assert json.loads(gzip.decompress(response.content)) == stored
    plain = client.get(url)
    assert not plain.has_header("Content-Encoding") and json.loads(plain.content) == stored


def test_analysis_page_refuses_a_study_without_ratings_clearly(client):
    study = StudyFactory()
    DimensionFactory(study=study)
    client.force_login(study.owner)
    url = reverse("research:analysis", args=[study.pk])
    data = {**DEFAULT_OPTIONS, "screening": ["bt500"]}
    page = client.post(url, data, follow=True).content.decode()
    assert "has no ratings yet" in page
    assert AnalysisRun.objects.count() == 0 and LabelRelease.objects.count() == 0


def test_warnings_are_listed_on_the_analysis_page_and_stored_in_the_summary(client):
    from django.utils.html import escape

    from annotation.models import Rating

    study = rated_study_create(subjects=8, stimuli=6)
    hasty = Rating.objects.filter(session__subject__study=study).order_by("id").first()
    hasty_subject = hasty.session.subject
    Rating.objects.filter(session__subject=hasty_subject).update(response_time_ms=300)
    client.force_login(study.owner)
    url = reverse("research:analysis", args=[study.pk])
    response = client.post(url, {**DEFAULT_OPTIONS, "screening": ["response_time"]})
    assert response.status_code == 302
    run = AnalysisRun.objects.get()
    assert run.status == AnalysisRun.Status.DONE, run.error
    rejected = [w for w in run.summary["warnings"] if w["code"] == "subject_rejected"]
    assert rejected and all(w["message"] for w in rejected)
    assert "12 of 12 rating(s) under 1 s" in " ".join(w["message"] for w in rejected)
    page = client.get(response.url).content.decode()
    assert "Warnings: data left out" in page
    for warning in run.summary["warnings"]:
        assert f"<code>{warning['code']}</code> {escape(warning['message'])}" in page


def test_screening_that_rejects_everyone_is_a_run_error_unless_kept_unscreened(study):
    from annotation.models import Rating

    Rating.objects.filter(session__subject__study=study).update(response_time_ms=300)
    options = {"screening": ["response_time"]}
    failed = analysis_run_request(study=study, options=options)
    assert failed.status == AnalysisRun.Status.FAILED
    assert "Screening leaves nothing to analyse" in failed.error
    assert "Keep unscreened if all rejected" in failed.error
    kept = analysis_run_request(study=study, options={**options, "keep_unscreened": True})
    assert kept.status == AnalysisRun.Status.DONE, kept.error
    codes = {w["code"] for w in kept.summary["warnings"]}
    assert codes == {"all_subjects_rejected_kept_unscreened"}
