"""The per-subject report API of a pairwise study: the CSV's pairwise columns
(repeat_agreement, gold pass share) and the pairwise screening decisions, as in the CSV."""

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.downloads import SUBJECT_REPORT_COLUMNS
from annotation.models import AnalysisRun, Stimulus
from annotation.services.analysis_runs import analysis_run_request
from annotation.tests.pairwise_analysis_support import pairwise_study_with_choices
from annotation.tests.pairwise_support import (
    pairwise_study_create,
    pairwise_subject_start,
    playlist_answer_all,
    reference_pairs_add,
)

pytestmark = pytest.mark.django_db

# The CSV's names for two API fields; every other CSV column is an API field of its name.
CSV_NAMES = {"subject": "label", "median_ms_per_trial": "median_ms"}


def report_api(study) -> list[dict]:
    api = APIClient()
    api.force_login(study.owner)
    response = api.get(reverse("api:subject_report", args=[study.pk]))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def report_csv(client, study) -> list[dict]:
    client.force_login(study.owner)
    response = client.get(reverse("research:subject_report_csv", args=[study.pk]))
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_api_has_every_csv_column_with_the_pairwise_repeats_and_gold(client):
    study = pairwise_study_create(session_size=2, gold_per_session=1, repeats_per_session=1)
    reference_pairs_add(study, role=Stimulus.Role.GOLD)
    _, token, session = pairwise_subject_start(client, study)
    playlist_answer_all(client, token, session.playlist, correct=True)
    (line,) = report_api(study)
    (row,) = report_csv(client, study)
    assert {CSV_NAMES.get(name, name) for name in SUBJECT_REPORT_COLUMNS} <= set(line)
    # Every answer was "left": the repeat shows the pair swapped, so the other image won.
    assert (line["repeat_pairs"], line["repeat_agreement"]) == (1, 0.0)
    assert (line["trials"], line["gold_answers"], line["gold_accuracy"]) == (3, 1, 1.0)
    assert line["repeat_mean_abs_diff"] is None and line["gold_mean_abs_error"] is None
    assert (row["repeat_pairs"], row["repeat_agreement"]) == ("1", "0.0")


def test_a_ratings_study_reports_no_repeat_agreement(client):
    from annotation.tests.factories import rated_study_create

    study = rated_study_create(subjects=2, stimuli=2)
    assert [line["repeat_agreement"] for line in report_api(study)] == [None, None]


def test_the_report_shows_the_pairwise_screening_of_the_latest_run(client):
    study = pairwise_study_with_choices(subjects=6, repeats=2, behaviour={"s04": "random"}, seed=2)
    run = analysis_run_request(study=study, options={"bootstrap_resamples": 0}, inline=True)
    assert run.status == AnalysisRun.Status.DONE and run.summary["excluded_subjects"] == ["s04"]
    lines = {line["label"]: line for line in report_api(study)}
    assert lines["s04"]["screening"] == "rejected"
    assert lines["s04"]["screening_reason"].startswith("match: changed preference on ")
    assert {line["screening"] for label, line in lines.items() if label != "s04"} == {"kept"}
    rows = {row["subject"]: row for row in report_csv(client, study)}
    assert rows["s04"]["screening_reason"] == lines["s04"]["screening_reason"]
    # Flagged but scaled all the same (keep_rejected): the latest run kept s04.
    options = {"bootstrap_resamples": 0, "keep_rejected": True}
    assert analysis_run_request(study=study, options=options, inline=True).status == "done"
    assert {line["screening"] for line in report_api(study)} == {"kept"}
