"""Reliability: ICC against Shrout & Fleiss, Krippendorff against his worked example, split-half."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.io import load_ratings
from analysis.reliability import (
    ReliabilityOptions,
    icc,
    krippendorff_alpha_interval,
    reliability,
    spearman_brown,
    split_half,
)
from analysis.tests.helpers import ratings_from_matrix, real_ratings_raw

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", reliability data with
# missing values: 4 observers (rows) x 12 units (columns).
KRIPPENDORFF = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _krippendorff_frame() -> pd.DataFrame:
    m = np.array([[np.nan if v is None else v for v in row] for row in KRIPPENDORFF], float)
    return ratings_from_matrix(m.T)


def test_icc_matches_shrout_fleiss_table():
    table = icc(ratings_from_matrix(SHROUT_FLEISS)).set_index("form")["icc"]
    # Published to two decimals: ICC(1,1)=.17, ICC(2,1)=.29, ICC(1,4)=.44, ICC(2,4)=.62.
    assert table["ICC(1,1)"] == pytest.approx(0.17, abs=0.005)
    assert table["ICC(2,1)"] == pytest.approx(0.29, abs=0.005)
    assert table["ICC(1,k)"] == pytest.approx(0.44, abs=0.005)
    assert table["ICC(2,k)"] == pytest.approx(0.62, abs=0.005)


def test_icc_confidence_intervals_match_r_psych():
    """Bounds, F and p as printed by R ``psych::ICC(sf)`` for the Shrout & Fleiss table."""
    table = icc(ratings_from_matrix(SHROUT_FLEISS)).set_index("form")
    expected = {
        "ICC(1,1)": (-0.133, 0.72, 1.8, 0.16477),
        "ICC(1,k)": (-0.884, 0.91, 1.8, 0.16477),
        "ICC(2,1)": (0.019, 0.76, 11.0, 0.00013),
        "ICC(2,k)": (0.071, 0.93, 11.0, 0.00013),
    }
    for form, (low, high, f, p) in expected.items():
        row = table.loc[form]
        assert row["ci_low"] == pytest.approx(low, abs=0.001)
        assert row["ci_high"] == pytest.approx(high, abs=0.005)
        assert row["F"] == pytest.approx(f, abs=0.05)
        assert row["p"] == pytest.approx(p, abs=5e-6)


def test_icc_partial_design_reports_one_way_forms_only():
    m = np.array(SHROUT_FLEISS, float)
    m[0, 0] = np.nan
    table = icc(ratings_from_matrix(m))
    assert set(table["form"]) == {"ICC(1,1)", "ICC(1,k)"}
    assert table["ci_low"].isna().all()  # F-based CI assumes balance
    assert table.loc[0, "k"] == pytest.approx((23 - (5 * 16 + 9) / 23) / 5)


def test_krippendorff_interval_worked_example():
    alpha = krippendorff_alpha_interval(_krippendorff_frame()).loc[0, "alpha"]
    assert alpha == pytest.approx(0.849, abs=5e-4)


def brute_force_alpha(frame: pd.DataFrame) -> float:
    """Pairwise definition: every ordered pair of values within / across pairable units."""
    units = [g["score"].to_numpy() for _, g in frame.groupby("stimulus") if len(g) >= 2]
    values = np.concatenate(units)
    n = len(values)
    d_o = (
        sum(
            sum((a - b) ** 2 for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in units
        )
        / n
    )
    d_e = sum((a - b) ** 2 for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - d_o / d_e


def test_krippendorff_matches_brute_force_on_random_partial_design():
    rng = np.random.default_rng(4)
    m = rng.integers(1, 6, (15, 5)).astype(float)
    m[rng.random(m.shape) < 0.3] = np.nan
    frame = ratings_from_matrix(m)
    assert krippendorff_alpha_interval(frame).loc[0, "alpha"] == pytest.approx(
        brute_force_alpha(frame)
    )


def test_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.8, factor=3) == pytest.approx(2.4 / 2.6)


def test_split_half_single_split_by_hand():
    raw = real_ratings_raw("vqeghd3_raw")
    ratings = load_ratings(raw)
    options = ReliabilityOptions(n_splits=3, seed=7)
    _, splits = split_half(ratings, options)
    matrix = raw.pivot(index="stimulus_id", columns="subject_id", values="score")
    rng = np.random.default_rng(7)
    k = matrix.shape[1]
    for split in range(3):
        half = rng.permutation(k)[: k // 2]
        in_a = np.zeros(k, bool)
        in_a[half] = True
        a, b = matrix.iloc[:, in_a].mean(axis=1), matrix.iloc[:, ~in_a].mean(axis=1)
        row = splits.iloc[split]
        assert row["plcc"] == pytest.approx(stats.pearsonr(a, b).statistic)
        assert row["srcc"] == pytest.approx(stats.spearmanr(a, b).statistic)
        assert row["srcc_sb"] == pytest.approx(spearman_brown(row["srcc"]))


def test_split_half_is_seeded_and_reports_spread():
    ratings = load_ratings(real_ratings_raw("nflx_public_raw"))
    one, _ = split_half(ratings, ReliabilityOptions(n_splits=50, seed=1))
    two, _ = split_half(ratings, ReliabilityOptions(n_splits=50, seed=1))
    pd.testing.assert_frame_equal(one, two)
    row = one.iloc[0]
    assert 0.95 < row["srcc_sb_mean"] < 1 and row["srcc_sb_std"] > 0
    assert row["srcc_sb_p2.5"] <= row["srcc_sb_mean"] <= row["srcc_sb_p97.5"]


def test_split_half_partial_design_uses_common_stimuli():
    rng = np.random.default_rng(0)
    m = np.linspace(1, 5, 40)[:, None] + rng.normal(0, 0.5, (40, 10))
    m[rng.random(m.shape) < 0.5] = np.nan
    summary, splits = split_half(ratings_from_matrix(m), ReliabilityOptions(n_splits=20))
    assert (splits["n_stimuli"] < 40).any()
    assert summary.loc[0, "plcc_sb_mean"] > 0.8


def test_reliability_result_summary():
    result = reliability(ratings_from_matrix(SHROUT_FLEISS), ReliabilityOptions(n_splits=5))
    summary = result.to_summary()
    assert summary["method"] == "reliability" and summary["version"]
    assert {r["form"] for r in summary["icc"]} >= {"ICC(2,1)", "ICC(2,k)"}
