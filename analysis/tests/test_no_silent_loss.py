"""Every rating the pipeline leaves out is a structured warning in the result and summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import notices
from analysis.errors import AllSubjectsRejectedError, RatingsError
from analysis.normalisation import NormalisationOptions
from analysis.pipeline import PipelineOptions, ScreeningOptions, run_pipeline
from analysis.report import write_report
from analysis.screening import BT500Options
from analysis.synthetic import SimulationOptions, simulate_study
from analysis.tests.helpers import ratings_from_matrix

LEAN = {"reliability": None, "distribution": None}


def _panel_with_outlier() -> tuple[pd.DataFrame, object]:
    """A simulated panel with one careless subject, who alone also rated stimulus "lonely",
    so rejecting that subject empties the stimulus."""
    study = simulate_study(
        SimulationOptions(
            n_stimuli=60, n_subjects=20, n_careless=1, seed=0, inconsistency_range=(0.2, 0.5)
        )
    )
    careless = study.subjects.loc[study.subjects["careless"], "subject"].item()
    ratings = study.ratings
    alone = ratings.loc[ratings["subject"] == careless].head(1).assign(stimulus="lonely")
    return pd.concat([ratings, alone], ignore_index=True), careless


def _codes(result) -> list[str]:
    return [w.code for w in result.warnings]


def test_rejected_subject_and_emptied_stimulus_are_warnings():
    ratings, careless = _panel_with_outlier()
    both = ScreeningOptions(methods=("bt500", "correlation"))
    result = run_pipeline(ratings, PipelineOptions(**LEAN, screening=both))
    table = result.rejections()
    assert careless in set(table["subject"])
    rejected = [w for w in result.warnings if w.code == notices.SUBJECT_REJECTED]
    pairs = list(zip(table["subject"], table["dimension"], strict=True))
    assert [(w.subject, w.dimension) for w in rejected] == pairs
    assert "correlation: " in rejected[0].message
    emptied = [w for w in result.warnings if w.code == notices.STIMULUS_EMPTIED]
    dimension = ratings["dimension"].iloc[0]
    assert [(w.stimulus, w.dimension) for w in emptied] == [("lonely", dimension)]
    assert "lonely" not in set(result.mos.table["stimulus"])
    summary = json.loads(json.dumps(result.to_summary(), allow_nan=False))
    assert {w["code"] for w in summary["warnings"]} == {
        notices.SUBJECT_REJECTED,
        notices.STIMULUS_EMPTIED,
    }
    assert summary["warnings"][-1] == {
        "code": "stimulus_emptied",
        "message": f"stimulus lonely lost every rating on dimension {dimension} to screening; "
        "it has no MOS",
        "dimension": dimension,
        "stimulus": "lonely",
    }


def test_subject_left_out_of_the_model_is_a_warning():
    data = ratings_from_matrix(np.linspace(1, 5, 12)[:, None] + np.zeros((12, 25)))
    data["score"] += np.random.default_rng(1).normal(0, 0.3, len(data))
    one = pd.DataFrame([{"stimulus": 0, "subject": 99, "dimension": "q", "repeat": 0, "score": 3}])
    result = run_pipeline(
        pd.concat([data, one], ignore_index=True),
        PipelineOptions(**LEAN, screening=ScreeningOptions(methods=())),
    )
    excluded = [w for w in result.warnings if w.code == notices.SUBJECT_EXCLUDED_FROM_MODEL]
    assert [(w.subject, w.dimension) for w in excluded] == [(99, "q")]
    assert "fewer than 2 ratings" in excluded[0].message


def test_normalisation_dropping_a_subject_is_a_warning():
    data = ratings_from_matrix(np.linspace(1, 5, 12)[:, None] + np.zeros((12, 6)))
    data["score"] += np.random.default_rng(2).normal(0, 0.3, len(data))
    data.loc[data["subject"] == 5, "score"] = 3.0  # no spread: z-scoring cannot divide by it
    result = run_pipeline(
        data,
        PipelineOptions(
            **LEAN,
            screening=ScreeningOptions(methods=()),
            normalisation=NormalisationOptions(),
        ),
    )
    dropped = [w for w in result.warnings if w.code == notices.NORMALISATION_GROUP_DROPPED]
    assert [(w.subject, w.dimension) for w in dropped] == [(5, "q")]
    assert "12 rating(s)" in dropped[0].message


def _everyone_agrees() -> pd.DataFrame:
    matrix = np.repeat(np.arange(1, 6, dtype=float)[:, None], 6, axis=1)
    return ratings_from_matrix(matrix)


def test_rejecting_every_subject_is_an_error_by_default():
    literal = ScreeningOptions(bt500=BT500Options(ddof=0, zero_variance="literal"))
    with pytest.raises(AllSubjectsRejectedError, match="every subject of dimension.* q"):
        run_pipeline(_everyone_agrees(), PipelineOptions(**LEAN, screening=literal))
    assert issubclass(AllSubjectsRejectedError, RatingsError)  # the CLI's exit-2 path


def test_rejecting_every_subject_can_keep_the_data_unscreened():
    keep = ScreeningOptions(
        bt500=BT500Options(ddof=0, zero_variance="literal"), if_all_rejected="keep_unscreened"
    )
    result = run_pipeline(_everyone_agrees(), PipelineOptions(**LEAN, screening=keep))
    assert _codes(result) == [notices.ALL_SUBJECTS_REJECTED_KEPT]
    assert result.n_used_ratings == 30
    assert result.screening[0].subjects["rejected"].all()  # the method's own decisions
    table = result.screening_table
    assert not table["rejected_any"].any()
    assert table["reasons"].str.startswith("not applied").all()
    assert result.to_summary()["rejected"] == []


def test_only_the_emptied_dimension_is_kept_unscreened():
    agree = _everyone_agrees()
    rng = np.random.default_rng(3)
    other = ratings_from_matrix(
        np.linspace(1, 5, 10)[:, None] + rng.normal(0, 0.3, (10, 6)), dimension="r"
    )
    other.loc[other["subject"] == 0, "score"] = rng.choice([1.0, 5.0], 10)
    keep = ScreeningOptions(
        bt500=BT500Options(ddof=0, zero_variance="literal"), if_all_rejected="keep_unscreened"
    )
    result = run_pipeline(
        pd.concat([agree, other], ignore_index=True), PipelineOptions(**LEAN, screening=keep)
    )
    kept_dims = [
        w.dimension for w in result.warnings if w.code == notices.ALL_SUBJECTS_REJECTED_KEPT
    ]
    assert kept_dims == ["q"]
    assert set(result.ratings_used.loc[result.ratings_used["dimension"] == "q", "subject"]) == set(
        range(6)
    )


def test_report_lists_the_warnings_in_html_and_summary_json(tmp_path):
    ratings, careless = _panel_with_outlier()
    both = ScreeningOptions(methods=("bt500", "correlation"))
    result = run_pipeline(ratings, PipelineOptions(**LEAN, screening=both))
    summary = write_report(result, tmp_path, title="loss")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Warnings: data left out" in page
    assert f"subject {careless} rejected on dimension" in page
    assert "stimulus lonely lost every rating" in page
    on_disk = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["warnings"] == summary["warnings"] == result.to_summary()["warnings"]
    assert len(on_disk["warnings"]) == len(result.warnings) >= 2
