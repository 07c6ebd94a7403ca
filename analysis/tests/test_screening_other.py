"""Correlation screening, repeat consistency, gold checks and combining decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.io import load_ratings
from analysis.screening import (
    ALL_DIMENSIONS,
    BT500Options,
    CorrelationOptions,
    GoldOptions,
    RepeatConsistencyOptions,
    apply_rejections,
    screen_bt500,
    screen_correlation,
    screen_gold,
    screen_repeat_consistency,
    screening_summary,
)
from analysis.synthetic import SimulationOptions, simulate_study
from analysis.tests.helpers import ratings_from_matrix, real_ratings_raw


@pytest.mark.parametrize("name", ["nflx_public_raw", "vqeghd3_raw"])
def test_correlation_matches_leave_one_out_by_hand(name):
    raw = real_ratings_raw(name)
    matrix = raw.pivot(index="stimulus_id", columns="subject_id", values="score")
    table = screen_correlation(load_ratings(raw)).subjects.set_index("subject")
    for subject in matrix.columns:
        others = matrix.drop(columns=subject).mean(axis=1)
        row = table.loc[subject]
        assert row["pearson"] == pytest.approx(stats.pearsonr(matrix[subject], others).statistic)
        assert row["spearman"] == pytest.approx(stats.spearmanr(matrix[subject], others).statistic)
        assert row["rejected"] == (row["pearson"] < 0.75)


def test_correlation_decisions_on_real_data():
    vqeg = screen_correlation(load_ratings(real_ratings_raw("vqeghd3_raw")))
    assert vqeg.rejected_subjects == [12]  # r = 0.747 < 0.75; BT.500 rejects 12 too
    assert vqeg.subjects.set_index("subject").loc[12, "pearson"] == pytest.approx(0.7473, abs=1e-4)
    nflx = load_ratings(real_ratings_raw("nflx_public_raw"))
    assert screen_correlation(nflx).rejected_subjects == [6]
    by_rank = screen_correlation(nflx, CorrelationOptions(coefficient="spearman"))
    assert by_rank.rejected_subjects == [2, 6]  # rank r = 0.727 and 0.698
    lenient = screen_correlation(nflx, CorrelationOptions(threshold=0.7))
    assert lenient.rejected_subjects == []


def test_constant_rater_is_undefined_and_optionally_rejected():
    m = np.array([[1, 2, 3], [2, 3, 3], [3, 4, 3], [4, 5, 3], [5, 5, 3], [1, 1, 3]], float)
    data = ratings_from_matrix(m)
    kept = screen_correlation(data).subjects.set_index("subject")
    assert np.isnan(kept.loc[2, "pearson"]) and not kept.loc[2, "rejected"]
    assert "undefined" in kept.loc[2, "reason"]
    strict = screen_correlation(data, CorrelationOptions(reject_undefined=True))
    assert 2 in strict.rejected_subjects


def test_too_few_common_stimuli_is_undefined():
    data = ratings_from_matrix([[1, 2], [2, 3], [3, 5]])
    table = screen_correlation(data).subjects
    assert table["pearson"].isna().all() and (table["n_common"] == 3).all()


def test_careless_raters_caught_by_bt500_and_correlation():
    study = simulate_study(
        SimulationOptions(
            n_stimuli=150, n_subjects=24, n_careless=2, seed=0, inconsistency_range=(0.2, 0.5)
        )
    )
    careless = sorted(study.subjects.loc[study.subjects.careless, "subject"].unique())
    assert screen_correlation(study.ratings).rejected_subjects == careless
    assert set(careless) <= set(screen_bt500(study.ratings).rejected_subjects)


def test_pooled_correlation_decision():
    study = simulate_study(
        SimulationOptions(
            n_stimuli=60,
            n_subjects=10,
            n_careless=1,
            dimensions=("a", "b"),
            seed=1,
            inconsistency_range=(0.2, 0.4),
        )
    )
    result = screen_correlation(study.ratings, CorrelationOptions(pool_dimensions=True))
    assert set(result.subjects["dimension"]) == {ALL_DIMENSIONS}
    assert result.rejected_subjects == ["s009"]
    assert result.subjects.set_index("subject").loc["s009", "n_common"] == 120


def _with_repeats() -> pd.DataFrame:
    study = simulate_study(
        SimulationOptions(
            n_stimuli=40, n_subjects=6, n_repeats=10, seed=2, inconsistency_range=(0.1, 0.2)
        )
    )
    data = study.ratings.copy()
    sloppy = (data.subject == "s005") & (data.repeat == 1)
    data.loc[sloppy, "score"] += np.where(np.arange(sloppy.sum()) % 2, 2.0, -2.0)
    return load_ratings(data)


def test_repeat_consistency_flags_the_sloppy_subject():
    data = _with_repeats()
    result = screen_repeat_consistency(
        data, RepeatConsistencyOptions(threshold=1.0, relative=False)
    )
    table = result.subjects.set_index("subject")
    assert result.rejected_subjects == ["s005"]
    assert table.loc["s005", "n_pairs"] == 10
    assert table.loc["s005", "mean_abs_diff"] > 1.5
    first = data[(data.subject == "s000") & (data.repeat == 0)].set_index("stimulus")["score"]
    again = data[(data.subject == "s000") & (data.repeat == 1)].set_index("stimulus")["score"]
    assert table.loc["s000", "mean_abs_diff"] == pytest.approx(
        (again - first.loc[again.index]).abs().mean()
    )


def test_relative_threshold_uses_scale_range():
    data = _with_repeats()
    scale = screen_repeat_consistency(
        data, RepeatConsistencyOptions(threshold=0.25, scale_range=(1, 5))
    )
    assert (scale.subjects["threshold"] == 1.0).all()
    observed = screen_repeat_consistency(data)
    span = data["score"].max() - data["score"].min()
    assert observed.subjects["threshold"].iloc[0] == pytest.approx(0.25 * span)


def test_no_repeats_nobody_judged():
    result = screen_repeat_consistency(ratings_from_matrix([[1, 2], [3, 4]]))
    assert not result.subjects["rejected"].any()
    assert result.notes == ("no repeated showings: nobody judged",)


def test_gold_check():
    data = ratings_from_matrix([[1, 2, 3], [5, 5, 1], [4, 4, 4]])
    data["is_gold"] = data["stimulus"] == 1
    data["gold_score"] = np.where(data["is_gold"], 5.0, np.nan)
    result = screen_gold(data, GoldOptions(threshold=1.0, relative=False))
    table = result.subjects.set_index("subject")
    assert result.rejected_subjects == [2]
    assert table.loc[2, "mean_abs_dev"] == 4.0 and table.loc[0, "mean_abs_dev"] == 0.0


def test_summary_unites_methods_and_expands_pooled():
    study = simulate_study(
        SimulationOptions(n_stimuli=60, n_subjects=12, n_careless=1, dimensions=("a", "b"), seed=4)
    )
    bt = screen_bt500(study.ratings, BT500Options(pool_dimensions=True))
    corr = screen_correlation(study.ratings)
    summary = screening_summary([bt, corr])
    assert set(summary["dimension"]) == {"a", "b"}
    assert {"rejected_bt500", "rejected_correlation", "rejected_any"} <= set(summary.columns)
    assert (
        summary["rejected_any"] == (summary["rejected_bt500"] | summary["rejected_correlation"])
    ).all()
    kept = apply_rejections(study.ratings, [bt, corr])
    union = summary.loc[summary.rejected_any, ["subject", "dimension"]]
    merged = kept.merge(union, on=["subject", "dimension"])
    assert merged.empty
