"""A pairwise study's analysis: the pairwise pipeline through AnalysisRun, cached as ratings
analysis is, its payload, downloads and API, and SUREAL-compatible scores on the site path."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from analysis.pairwise import JOD_SIGMA, sureal_thurstone
from annotation.models import AnalysisRun, PairwiseChoice
from annotation.selectors.analysis import pairwise_choices_frame
from annotation.services.analysis_runs import analysis_run_request
from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices
from annotation.tests.test_analysis_runs import eager_celery  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

FAST = {"bootstrap_resamples": 40}


def test_a_pairwise_run_scales_the_choices_and_screens_out_a_random_subject():
    study = pairwise_study_with_choices(subjects=10, repeats=2, behaviour={"s04": "random"}, seed=2)
    run = analysis_run_request(study=study, options=FAST, inline=True)
    assert run.status == AnalysisRun.Status.DONE, run.error
    summary, payload = run.summary, run.payload
    assert summary["kind"] == "pairwise" and summary["excluded_subjects"] == ["s04"]
    assert summary["n_input_choices"] == PairwiseChoice.objects.count()
    scores = pd.DataFrame(payload["scores"]["rows"], columns=payload["scores"]["columns"])
    assert len(scores) == 8 and set(scores["group"]) == {"p0", "p1"}
    assert (scores["ci_low"] <= scores["score"]).all() and "name" in scores.columns
    assert set(payload["groups"]["match"]) == {"p0", "p1"}
    assert {f["section"] for f in payload["figures"]} == {"Scale", "Subjects"}
    assert set(payload["group_figures"]["match"]) == {"scale", "preference"}
    assert run.ratings_count == PairwiseChoice.objects.count()


def test_the_same_options_return_the_cached_run_until_a_choice_arrives():
    study = pairwise_study_with_choices(subjects=6)
    first = analysis_run_request(study=study, options=FAST, inline=True)
    assert analysis_run_request(study=study, options=FAST, inline=True).pk == first.pk
    choice = PairwiseChoice.objects.first()
    choice.pk, choice.trial_index = None, 999
    choice.save()
    again = analysis_run_request(study=study, options=FAST, inline=True)
    assert again.pk != first.pk and again.ratings_count == first.ratings_count + 1


def test_ratings_options_are_refused_on_a_pairwise_study_with_one_line():
    study = pairwise_study_with_choices(subjects=6)
    with pytest.raises(ValidationError, match="Unknown analysis option.*repeat_policy"):
        analysis_run_request(study=study, options={"repeat_policy": "mean"}, inline=True)
    with pytest.raises(ValidationError, match="bootstrap_resamples"):
        analysis_run_request(study=study, options={"bootstrap_resamples": 1}, inline=True)


def test_site_scores_match_sureal_thurstone_where_the_options_match():
    """One comparison group, one answer per subject and pair, no prior, no screening: the
    site's Thurstone scores in standard-normal units are SUREAL 0.9.0's (sureal_compat is
    matched to SUREAL itself to 1e-6 in analysis/tests/test_pairwise_sureal.py)."""
    study = pairwise_study_with_choices(groups=1, per_group=6, subjects=12, spread=0.8, seed=5)
    options = {"prior": "none", "keep_rejected": True, "bootstrap_resamples": 0}
    run = analysis_run_request(study=study, options=options, inline=True)
    assert run.status == AnalysisRun.Status.DONE, run.error
    scores = pd.DataFrame(run.payload["scores"]["rows"], columns=run.payload["scores"]["columns"])
    reference = sureal_thurstone(pairwise_choices_frame(study=study)).set_index("stimulus")
    site = scores.set_index("stimulus")["score"].loc[reference.index] / JOD_SIGMA
    np.testing.assert_allclose(site, reference["score"] - reference["score"].mean(), atol=1e-5)


def test_downloads_hold_the_page_numbers(client):
    study = pairwise_study_with_choices(subjects=6)
    run = analysis_run_request(study=study, options=FAST, inline=True)
    client.force_login(study.owner)
    base = f"/studies/{study.pk}/analysis/runs/{run.pk}/pairwise/"
    scores = pd.read_csv(io.BytesIO(client.get(base + "scores.csv").content))
    page = pd.DataFrame(run.payload["scores"]["rows"], columns=run.payload["scores"]["columns"])
    np.testing.assert_allclose(scores["score"], page["score"], atol=1e-4)
    report = client.get(base + "report.html")
    assert report.status_code == 200 and b"Preference matrix" in report.content
    assert client.get(base + "nope.csv").status_code == 404


def test_the_api_runs_and_returns_the_pairwise_result(client):
    study = pairwise_study_with_choices(subjects=6)
    client.force_login(study.owner)
    response = client.post(
        f"/api/studies/{study.pk}/analysis/",
        {"method": "bradley_terry", "bt_alpha": 0.5, **FAST},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"]["kind"] == "pairwise" and body["summary"]["method"] == "bradley_terry"
    assert body["stale"] is False
    result = client.get(f"/api/studies/{study.pk}/analysis/{body['id']}/result/")
    assert result.status_code == 200 and result.json()["kind"] == "pairwise"
    refused = client.post(
        f"/api/studies/{study.pk}/analysis/",
        {"screening": ["bt500"]},
        content_type="application/json",
    )
    assert refused.status_code == 400


def test_a_larger_pairwise_study_goes_to_the_worker(
    settings,
    django_capture_on_commit_callbacks,
    eager_celery,  # noqa: F811
):
    settings.ANALYSIS_INLINE_MAX_CHOICES = 10
    study = pairwise_study_with_choices(subjects=6)
    with django_capture_on_commit_callbacks() as callbacks:
        run = analysis_run_request(study=study, options=FAST)
    assert run.status == AnalysisRun.Status.PENDING and len(callbacks) == 1
    callbacks[0]()
    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE and run.progress == 1.0, run.error
    steps = [entry["step"] for entry in run.log]
    assert steps[0] == "loading choices" and steps[-1] == "done"
    assert {"screening", "scaling", "figures"} <= set(steps)
