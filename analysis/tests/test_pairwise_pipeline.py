"""The pairwise pipeline: screening then scaling per dimension, as the library's parts do."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AllSubjectsRejectedError, OptionsError, RatingsError
from analysis.pairwise import (
    BootstrapOptions,
    BradleyTerryOptions,
    PairwisePipelineOptions,
    PairwiseScreeningOptions,
    ScalingOptions,
    bootstrap_scale,
    pairwise_pipeline_run,
    scale_choices,
)
from analysis.pairwise.pipeline import SCORE_COLUMNS, STEPS, SUBJECT_COLUMNS
from analysis.pairwise.synthetic import full_design_study

FAST = BootstrapOptions(n_resamples=40, seed=3)


def _planted(**behaviour):
    # Well separated stimuli: honest subjects rarely flip a swapped repeat (see the report
    # for the default threshold at closer scores).
    return full_design_study(
        n_groups=3,
        group_size=5,
        n_subjects=12,
        repeats=2,
        behaviour=behaviour,
        spread=3.0,
        seed=12,
    )


def _scores_without_dimension(result) -> pd.DataFrame:
    return result.scores.drop(columns="dimension").reset_index(drop=True)


def test_scores_equal_bootstrap_scale_on_the_kept_rows_and_a_random_subject_is_dropped():
    study = _planted(s04="random")
    result = pairwise_pipeline_run(study.choices, PairwisePipelineOptions(bootstrap=FAST))
    assert result.excluded_subjects == ["s04"]
    subjects = result.subjects.set_index("subject")
    assert subjects.loc["s04", "rejected"] and subjects.loc["s04", "reasons"]
    assert not subjects.drop("s04")["rejected"].any()
    kept = study.choices.loc[study.choices["subject"] != "s04"]
    expected = bootstrap_scale(kept, bootstrap=FAST)[
        ["group", "stimulus", "score", "se", "ci_low", "ci_high", "comparisons", "wins"]
    ]
    pd.testing.assert_frame_equal(_scores_without_dimension(result), expected)
    assert list(result.scores.columns) == list(SCORE_COLUMNS)
    assert list(result.subjects.columns) == list(SUBJECT_COLUMNS)
    assert (result.scores["dimension"] == "").all()
    assert result.n_input_choices == len(study.choices)
    assert result.n_used_choices == len(kept)
    assert any("s04" in warning for warning in result.warnings)


def test_without_bootstrap_scores_equal_scale_choices_and_cis_are_nan():
    study = _planted()
    scaling = ScalingOptions(method="bradley_terry", bradley_terry=BradleyTerryOptions(alpha=0.5))
    options = PairwisePipelineOptions(scaling=scaling, bootstrap=None, apply_screening=False)
    result = pairwise_pipeline_run(study.choices, options)
    expected = scale_choices(study.choices, options=scaling)
    got = _scores_without_dimension(result)
    pd.testing.assert_frame_equal(got[list(expected.columns)], expected)
    assert got[["se", "ci_low", "ci_high"]].isna().all().all()


def test_screening_off_keeps_a_random_subject_but_still_reports_it():
    study = _planted(s02="random")
    result = pairwise_pipeline_run(
        study.choices, PairwisePipelineOptions(bootstrap=None, apply_screening=False)
    )
    assert result.excluded_subjects == []
    assert result.subjects.set_index("subject").loc["s02", "rejected"]
    assert result.n_used_choices == len(study.choices)


def test_dimensions_are_scaled_and_screened_separately():
    clean = _planted()
    noisy = _planted(s07="random")
    choices = pd.concat(
        [clean.choices.assign(dimension="quality"), noisy.choices.assign(dimension="realism")],
        ignore_index=True,
    )
    result = pairwise_pipeline_run(choices, PairwisePipelineOptions(bootstrap=None))
    assert result.dimensions == ["quality", "realism"]
    rejected = result.subjects.loc[result.subjects["rejected"], ["dimension", "subject"]]
    assert rejected.values.tolist() == [["realism", "s07"]]
    quality = result.scores.loc[result.scores["dimension"] == "quality"]
    alone = scale_choices(clean.choices)
    np.testing.assert_allclose(quality["score"].to_numpy(), alone["score"].to_numpy())
    assert set(result.preference) == {
        (dimension, group) for dimension in ("quality", "realism") for group in ("g0", "g1", "g2")
    }


def test_preference_matrix_counts_wins_with_ties_half():
    rows = [
        ("s1", "a", "b", "left"),
        ("s2", "a", "b", "left"),
        ("s3", "b", "a", "none"),
        ("s1", "b", "c", "right"),
    ]
    choices = pd.DataFrame(rows, columns=["subject", "left", "right", "choice"]).assign(group="g")
    result = pairwise_pipeline_run(choices, PairwisePipelineOptions(bootstrap=None))
    matrix = result.preference[("", "g")]
    assert matrix.loc["a", "b"] == 2.5 and matrix.loc["b", "a"] == 0.5
    assert matrix.loc["c", "b"] == 1.0 and matrix.loc["b", "c"] == 0.0
    long = result.tables()["preference"]
    assert long["wins"].sum() == 4.0


def test_too_fast_answers_are_left_out_and_counted():
    study = _planted()
    choices = study.choices.assign(too_fast=0)
    choices.loc[choices.index[:30], "too_fast"] = 1
    result = pairwise_pipeline_run(choices, PairwisePipelineOptions(bootstrap=None))
    assert result.n_used_choices == len(choices) - 30
    assert result.subjects["too_fast"].sum() == 30
    assert any("30 too-fast" in warning for warning in result.warnings)
    expected = scale_choices(choices.loc[choices["too_fast"] == 0])
    np.testing.assert_allclose(result.scores["score"].to_numpy(), expected["score"].to_numpy())
    kept_all = pairwise_pipeline_run(
        choices, PairwisePipelineOptions(bootstrap=None, exclude_too_fast=False)
    )
    assert kept_all.n_used_choices == len(choices)


def test_progress_hears_every_step_then_done():
    heard = []
    pairwise_pipeline_run(
        _planted().choices,
        PairwisePipelineOptions(bootstrap=None),
        progress=lambda step, done, total: heard.append((step, done, total)),
    )
    assert heard == [(step, k, len(STEPS)) for k, step in enumerate(STEPS)] + [
        ("done", len(STEPS), len(STEPS))
    ]


def test_every_subject_rejected_is_an_error():
    study = _planted(**{f"s{k:02d}": "left" for k in range(12)})
    with pytest.raises(AllSubjectsRejectedError, match="every subject"):
        pairwise_pipeline_run(study.choices, PairwisePipelineOptions(bootstrap=None))
    relaxed = PairwiseScreeningOptions(max_repeat_inconsistency=1.0, min_repeats=1)
    result = pairwise_pipeline_run(
        study.choices, PairwisePipelineOptions(bootstrap=None, screening=relaxed)
    )
    assert not result.subjects["rejected"].any()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="choice"), "missing column"),
        (lambda t: t.assign(choice="maybe"), "unknown value 'maybe'"),
        (lambda t: t.assign(too_fast=2), "column 'too_fast' has invalid value '2'"),
        (lambda t: t.iloc[:0], "empty"),
        (lambda t: t.assign(too_fast=1), "every answer"),
    ],
)
def test_bad_input_is_a_one_line_error(change, message):
    with pytest.raises(RatingsError, match=message) as raised:
        pairwise_pipeline_run(change(_planted().choices), PairwisePipelineOptions(bootstrap=None))
    assert "\n" not in str(raised.value)


def test_bad_options_are_refused_where_they_enter():
    with pytest.raises(OptionsError, match="scaling.method"):
        PairwisePipelineOptions(scaling=ScalingOptions(method="elo"))  # type: ignore[arg-type]


def test_a_csv_export_round_trip_reads_the_same():
    study = _planted()
    choices = study.choices.assign(dimension="", trial=range(len(study.choices)), too_fast=0)
    choices["repeat"] = 0
    text = choices.to_csv(index=False)
    read = pd.read_csv(StringIO(text))
    direct = pairwise_pipeline_run(choices, PairwisePipelineOptions(bootstrap=None))
    again = pairwise_pipeline_run(read, PairwisePipelineOptions(bootstrap=None))
    pd.testing.assert_frame_equal(direct.scores, again.scores)
